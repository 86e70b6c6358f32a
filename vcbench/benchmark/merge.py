"""Merge the run folders of ``--shard i/n`` jobs into one (their predictions and features)."""
from __future__ import annotations

import shutil
from pathlib import Path

from ..contracts import (CONTEXT_FILE, FEATURE_COLUMNS, FEATURE_KEY, PRED_COLUMNS, PRED_KEY, WINDOWS_FILE, WINDOWS_KEY,
                         read_json_object, read_rows, read_windows, torn_tail)
from ..errors import ConfigError
from ..fileio import write_csv


def merge_runs(runs: list[Path], out: Path, warn=None) -> int:
    """Rows of every shard (one per key; a later run's row wins); refuses shards made with
    different configurations, and any shard whose rows would not all arrive: a torn or short
    row, a missing column, an empty predictions.csv. The merged count equals the shards' keys.
    ``warn`` hears of a merge that covers fewer shards than the runs were split into."""
    from ..fileio import refuse_overwrites

    refuse_overwrites({f"--merge {r}": r for r in runs}, {"--out": out})
    idents = []
    for r in runs:
        f = Path(r) / "benchmark.json"
        if not f.is_file():
            raise ConfigError(f"{r}: not a benchmark run folder (no benchmark.json)")
        idents.append(read_json_object(f, "benchmark identity file", {"identity": dict})["identity"])
    if any(i != idents[0] for i in idents[1:]):
        raise ConfigError("the runs to merge were made with different configurations; merge like with like")
    declared = _declared_shards(runs)
    if declared and len(runs) < declared and warn is not None:
        warn(f"merging {len(runs)} of {declared} shards: the results cover only part of the data")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("benchmark.json", "models.json", CONTEXT_FILE):
        if (Path(runs[0]) / name).is_file() and Path(runs[0]).resolve() != out.resolve():
            shutil.copyfile(Path(runs[0]) / name, out / name)
    preds: dict[tuple, dict] = {}
    feats: dict[tuple, dict] = {}
    for r in runs:
        f = Path(r) / "predictions.csv"
        if not f.is_file() or f.stat().st_size == 0:
            raise ConfigError(f"{f}: missing or empty; that shard has not run (or was cut short): re-run it first")
        if torn_tail(f):
            raise ConfigError(f"{f}: its last row is cut short (the shard was killed mid-write); re-run the "
                              "shard to finish it, then merge")
        rows = read_rows(f, PRED_COLUMNS, strict=True)
        if not rows:
            raise ConfigError(f"{f}: holds no predictions; re-run that shard first")
        mine = {tuple(row[k] for k in PRED_KEY): row for row in rows}
        _check_complete(Path(r), f, len(mine))
        twice = [k for k in mine if k in preds]
        if twice:
            raise ConfigError(f"{f}: {len(twice)} prediction(s) also in an earlier shard (e.g. {'/'.join(twice[0])}); "
                              "merge each shard once")
        preds.update(mine)
        for row in read_rows(Path(r) / "features.csv", FEATURE_COLUMNS):
            feats[tuple(row[k] for k in FEATURE_KEY)] = row
    windows: dict[tuple, dict] = {}
    if idents[0].get("streaming"):       # benchmark --streaming: every shard's window scores
        for r in runs:
            if torn_tail(f := Path(r) / WINDOWS_FILE) if (Path(r) / WINDOWS_FILE).is_file() else False:
                raise ConfigError(f"{f}: its last line is cut short (the shard was killed mid-write); re-run the "
                                  "shard to finish it, then merge")
        per_run = {r: read_windows(Path(r) / WINDOWS_FILE) for r in runs}
        streamers = {row["model"] for rows in per_run.values() for row in rows} | _networks(runs[0])
        for r in runs:
            _check_windows(Path(r), per_run[r], streamers)
            windows.update({tuple(row[k] for k in WINDOWS_KEY): row for row in per_run[r]})
    write_csv(out / "predictions.csv", list(preds.values()), PRED_COLUMNS)
    write_csv(out / "features.csv", list(feats.values()), FEATURE_COLUMNS)
    if windows:
        import json

        from ..fileio import atomic_path

        with atomic_path(out / WINDOWS_FILE) as tmp:
            tmp.write_text("".join(json.dumps(w, separators=(",", ":")) + "\n" for w in windows.values()),
                           encoding="utf-8")
    return len(preds)


def _check_complete(run: Path, preds: Path, have: int) -> None:
    """A shard's predictions.csv holds every row its status record counts: a file cut at a row
    boundary (no torn tail to see) is caught by the count; a shard that did not finish is named."""
    for status in sorted(run.glob("benchmark.status*.json")):
        doc = read_json_object(status, "benchmark status record")
        if doc.get("state") in ("running", "interrupted"):
            raise ConfigError(f"{run}: its run is {doc['state']} ({status.name}); let it finish (re-run it) first")
        counts = doc.get("counts") if isinstance(doc.get("counts"), dict) else None
        if counts is None:
            continue
        want = sum(int(counts.get(k) or 0) for k in ("done", "skipped", "failed"))
        if have < want:
            raise ConfigError(f"{preds}: holds {have} prediction(s) where {status.name} counts {want}: the file was "
                              "cut short; re-run that shard to restore it, then merge")


def _networks(run: Path) -> set[str]:
    """The run's network detectors (models.json): under --streaming each keeps every window."""
    f = Path(run) / "models.json"
    models = read_json_object(f, "models file") if f.is_file() else {}
    return {m for m, e in models.items() if isinstance(e, dict) and e.get("kind") == "vcbench"}


def _check_windows(run: Path, rows: list[dict], streamers: set[str]) -> None:
    """A --streaming shard's windows.jsonl has a line for each video it scored with a model that
    keeps windows (a file cut at a line boundary, or gone, is caught here)."""
    f = run / WINDOWS_FILE
    have = {tuple(row[k] for k in WINDOWS_KEY) for row in rows}
    mine = {tuple(row[k] for k in PRED_KEY) for row in read_rows(run / "predictions.csv", PRED_COLUMNS)
            if row["status"] == "ok" and row["model"] in streamers}
    missing = mine - have
    if missing and not f.is_file():
        raise ConfigError(f"{f}: missing, but the shard scored {len(mine)} video(s) with --streaming; re-run that "
                          "shard, then merge")
    if missing:
        raise ConfigError(f"{f}: no windows for {len(missing)} of the {len(mine)} video(s) its predictions.csv scored "
                          f"(e.g. {'/'.join(sorted(missing)[0])}); re-run that shard, then merge")


def _declared_shards(runs: list[Path]) -> int:
    """n of ``--shard i/n`` as the runs' configurations recorded it (0 when unknown)."""
    import json

    for r in runs:
        try:
            cfg = json.loads((Path(r) / "benchmark.json").read_text(encoding="utf-8")).get("config", {})
            i, n = str(cfg.get("shard", "0/1")).split("/")
            return int(n)
        except (OSError, ValueError, AttributeError):
            continue
    return 0
