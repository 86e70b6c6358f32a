"""Reading run folders: a benchmark run (results.json, predictions.csv, features.csv) and a
fine-tuning run (run.json, metrics.jsonl). Only files; never a model."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

BENCH_SCHEMA = "vcbench-benchmark/1"
FINETUNE_FORMAT = "vcbench-finetune/1"


@dataclass
class BenchRun:
    path: Path
    results: dict
    predictions: list[dict]
    features: list[dict]


@dataclass
class FinetuneRun:
    path: Path
    run: dict
    metrics: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable ({e})") from None


def read_csv_rows(path: Path) -> list[dict]:
    """Rows of a CSV file as dicts ([] when the file is absent)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_bench(path: str | Path) -> BenchRun:
    p = Path(path)
    if p.is_dir() and (p / "run.json").is_file() and not (p / "results.json").is_file():
        raise ConfigError(f"{p}: a fine-tuning run folder; pass it with --finetune")
    f = p / "results.json"
    if not f.is_file():
        raise ConfigError(f"{p}: not a benchmark run (no results.json; run 'vcbench benchmark --out {p}' first)")
    res = _json(f)
    schema = res.get("schema")
    if schema != BENCH_SCHEMA:
        raise ConfigError(f"{f}: results schema {schema!r}, this vcbench reads {BENCH_SCHEMA!r}; re-run "
                          "'vcbench benchmark' on the same --out to recompute it from predictions.csv")
    return BenchRun(p, res, read_csv_rows(p / "predictions.csv"), read_csv_rows(p / "features.csv"))


def load_finetune(path: str | Path) -> FinetuneRun:
    p = Path(path)
    f = p / "run.json"
    if not f.is_file():
        raise ConfigError(f"{p}: not a fine-tuning run (no run.json)")
    run = _json(f)
    if run.get("format") != FINETUNE_FORMAT:
        raise ConfigError(f"{f}: run format {run.get('format')!r}, this vcbench reads {FINETUNE_FORMAT!r}")
    rows = []
    m = p / "metrics.jsonl"
    if m.is_file():
        for line in m.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue                      # a line a killed run half-wrote
    return FinetuneRun(p, run, rows)


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
