"""Merge the run folders of ``--shard i/n`` jobs into one (their predictions and features)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import ConfigError
from ..fileio import write_csv
from .runner import FEATURE_COLUMNS, PRED_COLUMNS, read_rows


def merge_runs(runs: list[Path], out: Path) -> int:
    """Rows of every shard (one per key; a later run's row wins); refuses shards made with
    different configurations. Returns the number of predictions."""
    idents = []
    for r in runs:
        f = Path(r) / "benchmark.json"
        if not f.is_file():
            raise ConfigError(f"{r}: not a benchmark run folder (no benchmark.json)")
        idents.append(json.loads(f.read_text(encoding="utf-8"))["identity"])
    if any(i != idents[0] for i in idents[1:]):
        raise ConfigError("the runs to merge were made with different configurations; merge like with like")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("benchmark.json", "models.json"):
        if (Path(runs[0]) / name).is_file() and Path(runs[0]).resolve() != out.resolve():
            shutil.copyfile(Path(runs[0]) / name, out / name)
    preds: dict[tuple, dict] = {}
    feats: dict[tuple, dict] = {}
    for r in runs:
        for row in read_rows(Path(r) / "predictions.csv", PRED_COLUMNS):
            preds[(row["model"], row["dataset"], row["preset"], row["video_id"])] = row
        for row in read_rows(Path(r) / "features.csv", FEATURE_COLUMNS):
            feats[(row["dataset"], row["preset"], row["video_id"])] = row
    write_csv(out / "predictions.csv", list(preds.values()), PRED_COLUMNS)
    write_csv(out / "features.csv", list(feats.values()), FEATURE_COLUMNS)
    return len(preds)
