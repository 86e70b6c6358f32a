"""``vcbench finetune``: AltFreezing fine-tuning on call-condition data.

config (FinetuneConfig) -> data (manifests -> tracked videos and renditions -> clips on demand,
through models.preprocess) -> trainer (freezing schedule, exact resume, DDP under torchrun) ->
a run folder: last.pth, best.pth, metrics.jsonl, run.json.
"""
