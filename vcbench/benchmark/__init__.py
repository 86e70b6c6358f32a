"""``vcbench benchmark``: detectors x datasets x call conditions -> predictions.csv + results.json."""
