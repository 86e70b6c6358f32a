"""Reading run folders: a benchmark run (results.json, predictions.csv, features.csv) and a
fine-tuning run (run.json, metrics.jsonl). Only files; never a model."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

from ..contracts import (BENCH_SCHEMA, CONTEXT_FILE, FINETUNE_FORMAT, PRED_COLUMNS, RunFileError, check_types,  # noqa: F401
                         checked_predictions, read_json_object, read_metrics_lines, read_rows)


@dataclass
class BenchRun:
    path: Path
    results: dict
    predictions: list[dict]
    features: list[dict]
    context: dict | None = None          # context.json: datasets and presets as the run saw them


@dataclass
class FinetuneRun:
    path: Path
    run: dict
    metrics: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def read_csv_rows(path: Path) -> list[dict]:
    """Rows of a CSV file as dicts ([] when the file is absent; a torn last row dropped)."""
    return read_rows(path, [])


def load_bench(path: str | Path) -> BenchRun:
    p = Path(path)
    if p.is_dir() and (p / "run.json").is_file() and not (p / "results.json").is_file():
        raise ConfigError(f"{p}: a fine-tuning run folder; pass it with --finetune")
    f = p / "results.json"
    if not f.is_file():
        raise ConfigError(f"{p}: not a benchmark run (no results.json; run 'vcbench benchmark --out {p}' first)")
    res = read_json_object(f, "benchmark results file")
    schema = res.get("schema")
    if schema != BENCH_SCHEMA:
        raise ConfigError(f"{f}: results schema {schema!r}, this vcbench reads {BENCH_SCHEMA!r}; re-run "
                          "'vcbench benchmark' on the same --out to recompute it from predictions.csv")
    check_types(str(f), res, {"cells": list, "models": dict, "comparisons": list, "config": dict})
    for k, c in enumerate(res.get("cells") or []):
        if not isinstance(c, dict) or not isinstance(c.get("metrics", {}), dict):
            raise RunFileError(f"{f}: cells[{k}] is not an object with a 'metrics' object")
    preds = checked_predictions(read_rows(p / "predictions.csv", PRED_COLUMNS), p / "predictions.csv")
    ctx = (read_json_object(p / CONTEXT_FILE, "benchmark context file", {"datasets": dict, "presets": dict})
           if (p / CONTEXT_FILE).is_file() else None)
    return BenchRun(p, res, preds, read_csv_rows(p / "features.csv"), ctx)


def load_finetune(path: str | Path) -> FinetuneRun:
    p = Path(path)
    f = p / "run.json"
    if not f.is_file():
        raise ConfigError(f"{p}: not a fine-tuning run (no run.json)")
    run = read_json_object(f, "fine-tuning run record")
    if run.get("format") != FINETUNE_FORMAT:
        raise ConfigError(f"{f}: run format {run.get('format')!r}, this vcbench reads {FINETUNE_FORMAT!r}")
    check_types(str(f), run, {"config": dict, "evaluations": list, "datasets": (dict, list), "videos": dict,
                              "steps_done": int, "best_step": int, "best_val_auc": (int, float),
                              "last_val_auc": (int, float), "decode_failures": list, "presets_seen": list})
    return FinetuneRun(p, run, read_metrics_lines(p / "metrics.jsonl"))


def check_model_names(runs: list[BenchRun]) -> None:
    """Two runs may share a model name only if it is the same model (same spec)."""
    seen: dict[str, tuple[str, Path]] = {}
    for r in runs:
        for name, info in r.results.get("models", {}).items():
            spec = info.get("spec", name)
            if name in seen and seen[name][0] != spec:
                raise ConfigError(f"model name {name!r} means {seen[name][0]!r} in {seen[name][1]} but {spec!r} in "
                                  f"{r.path}; rename one (--model OTHER=...) and re-run its benchmark")
            seen.setdefault(name, (spec, r.path))
