"""Runs model x dataset x preset and appends predictions as they are made (resumable, shardable).

Files in the run folder: ``benchmark.json`` (what must match for a re-run to reuse predictions),
``predictions.csv`` (one row per model, dataset, preset, video; appended), ``features.csv`` (the
trivial file features of every evaluated video, for the shortcut check) and ``results.json``
(written by ``results.py`` from those files only).
"""
from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

from ..batch import BatchResult
from ..errors import ConfigError, DatasetError, VcbenchError
from ..contracts import FEATURE_COLUMNS, PRED_COLUMNS, PRED_KEY, read_json_object, read_rows, torn_tail
from ..fileio import write_json
from ..runtime import parse_shard


class Appender:
    """Append rows to a CSV, header first; each batch is flushed to disk before the next starts.

    A row a killed run left half-written (no newline after it) is cut off first, so it can never
    be read as a whole row beside the retried one."""

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = path, columns
        new = not path.is_file() or path.stat().st_size == 0
        if not new:
            torn = torn_tail(path)
            if torn:
                with open(path, "r+b") as f:
                    f.truncate(path.stat().st_size - torn)
            new = path.stat().st_size == 0
        self.f = open(path, "a", newline="", encoding="utf-8", errors="vcbench-escape")
        self.w = csv.DictWriter(self.f, fieldnames=columns, extrasaction="ignore")
        if new:
            self.w.writeheader()

    def add(self, rows: list[dict]) -> None:
        self.w.writerows(rows)
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


def compact(path: Path, columns: list[str], key: tuple[str, ...], keep) -> list[dict]:
    """Rewrite an appended CSV (atomically) with one row per key, the last, and only the rows
    ``keep(row)`` accepts: a re-run drops the failed rows it is about to retry, so a key appears
    once whatever happens to the retry. Returns the rows kept."""
    from ..fileio import write_csv

    rows = read_rows(path, columns)
    last: dict[tuple, dict] = {}
    for r in rows:
        last[tuple(r[k] for k in key)] = r
    kept = [r for r in last.values() if keep(r)]
    if path.is_file() and (len(kept) != len(rows) or torn_tail(path)):
        write_csv(path, kept, columns)
    return kept


def model_files(detectors) -> dict[str, dict]:
    """name -> the file each model's predictions come from (checkpoint, best.pth, detector .py) and
    its sha256: a model whose file changed is another model, even under the same name."""
    from ..fileio import sha256_file
    from .detectors import parse_model

    out = {}
    for det in detectors:
        _, value = parse_model(det.spec)
        p = Path(value) if value else None
        if p is not None and p.is_dir() and (p / "best.pth").is_file():
            p = p / "best.pth"
        out[det.name] = ({"file": str(p), "sha256": sha256_file(p)} if p is not None and p.is_file()
                         else {"file": None, "sha256": None, "spec": det.spec})
    return out


def run_folder(cfg, models: dict | None = None, log=None):
    """The benchmark's RunFolder: predictions made with another configuration, or by a model whose
    file changed, never mix into one folder (a model new to the folder is welcome). The identity
    file keeps its name, ``benchmark.json``, so older run folders still resume."""
    from ..config import to_json
    from ..runs import RunFolder

    folder = RunFolder(cfg.out, "benchmark", identity_file="benchmark.json", shard=parse_shard(cfg.shard), log=log)
    folder.open()
    folder.claim(cfg.identity(), record=to_json(cfg), members=models or {}, member_kind="model")
    return folder


def write_context(out: Path, cfg, datasets, presets: dict) -> None:
    """context.json: the datasets and call conditions as this run saw them (see contracts). A re-run
    adds what is new (another dataset) and keeps what was recorded: the report of a run is fixed
    when its predictions are made."""
    from ..conference.presets import preset_to_json
    from ..conference.renditions import preset_digest
    from ..contracts import CONTEXT_FILE, CONTEXT_SCHEMA
    from ..datasets.base import describe

    f = out / CONTEXT_FILE
    doc = read_json_object(f, "benchmark context file", {"datasets": dict, "presets": dict}) if f.is_file() else {
        "schema": CONTEXT_SCHEMA, "datasets": {}, "presets": {}}
    new = False
    for ds in datasets:
        if ds.name not in doc["datasets"]:
            doc["datasets"][ds.name] = describe(ds, cfg.split)
            new = True
    for name, p in presets.items():
        if p is not None and name not in doc["presets"]:
            doc["presets"][name] = {"settings": preset_to_json(p), "digest": preset_digest(p)}
            new = True
    if new or not f.is_file():
        write_json(f, doc)


def plan_items(cfg, ds, presets: dict) -> dict[str, list]:
    """preset name -> [(record, path or None (to render))], evaluated split + val (thresholds)."""
    from ..runtime import shard_items

    splits = {cfg.split, "val"}
    recs = sorted((r for r in ds.records if r.split in splits), key=lambda r: r.video_id)
    if not any(r.split == cfg.split for r in recs):
        have = sorted({r.split for r in ds.records})
        raise DatasetError(f"dataset {ds.name!r}: no videos in split {cfg.split!r} (it has: {', '.join(have) or 'none'})")
    by_preset: dict[str, list] = {}
    base = [r for r in recs if r.preset in ("clean", "")]
    for name in presets:
        own = [r for r in recs if r.preset == name]
        if own:                                   # a generated dataset already holds this condition
            items = [(r, ds.abspath(r)) for r in own]
        elif name == "clean":
            items = [(r, ds.abspath(r)) for r in base]
        else:
            items = [(r, None) for r in base]
        by_preset[name] = shard_items(items, cfg.shard)
    return by_preset


def run_benchmark(cfg, progress=None) -> BatchResult:
    from ..conference.renditions import pair_seed, rendition
    from ..conference.presets import load_presets
    from ..datasets import get_dataset
    from ..registry import lookup
    from ..runtime import Progress
    from .detectors import load_detectors

    from ..runtime import resolve_device, resolve_precision

    progress = progress or Progress("benchmark", unit="videos/s")
    if cfg.precision == "auto":            # recorded resolved: a run's numbers say how they were computed
        cfg = dataclasses.replace(cfg, precision=resolve_precision(cfg.precision, resolve_device(cfg.device)))
    available = load_presets(cfg.presets)
    presets = {name: (None if name == "clean" else lookup("preset", name, available)) for name in cfg.preset}
    datasets = [get_dataset(name, cfg.datasets) for name in cfg.dataset]
    detectors = load_detectors(cfg.model, cfg)
    folder = run_folder(cfg, model_files(detectors), log=progress.log)
    out = folder.path
    write_json(out / "models.json", {d.name: d.to_json() for d in detectors})
    write_context(out, cfg, datasets, presets)
    # failed rows are retried now: dropped first, so a key has one row whatever the retry gives
    done = {tuple(r[k] for k in PRED_KEY)
            for r in compact(out / "predictions.csv", PRED_COLUMNS, PRED_KEY,
                             lambda r: r["status"] == "ok")}
    have_features = {(r["dataset"], r["preset"], r["video_id"]) for r in read_rows(out / "features.csv",
                                                                                    FEATURE_COLUMNS)}
    plans = {ds.name: plan_items(cfg, ds, presets) for ds in datasets}
    total = sum(len(items) for plan in plans.values() for items in plan.values()) * len(detectors)
    progress.start(total, "benchmark")
    batch = BatchResult("predictions")
    preds = Appender(out / "predictions.csv", PRED_COLUMNS)
    feats = Appender(out / "features.csv", FEATURE_COLUMNS)
    status = folder.running(models=[d.name for d in detectors], datasets=list(cfg.dataset), presets=list(cfg.preset))
    status.__enter__()
    try:
        for ds in datasets:
            for pname, items in plans[ds.name].items():
                paths: list[tuple] = []
                for rec, path in items:               # the videos of this condition (rendered once, cached)
                    try:
                        if path is None:
                            path = rendition(ds.abspath(rec), presets[pname],
                                             pair_seed(cfg.seed, rec.pair_id or rec.video_id, pname), cfg.ffmpeg,
                                             engine=cfg.engine)
                        paths.append((rec, Path(path), None))
                    except (VcbenchError, OSError) as e:
                        paths.append((rec, None, str(e)))
                new_feats = [_features(ds.name, pname, rec, path) for rec, path, err in paths
                             if err is None and (ds.name, pname, rec.video_id) not in have_features]
                feats.add([f for f in new_feats if f])
                for det in detectors:
                    todo = [(r, p, e) for r, p, e in paths if (det.name, ds.name, pname, r.video_id) not in done]
                    batch.skipped += len(paths) - len(todo)
                    progress.advance(len(paths) - len(todo))
                    ok = [(r, p) for r, p, e in todo if e is None]
                    rows = [_row(det.name, ds.name, pname, r, None, 0, f"rendition failed: {e}")
                            for r, p, e in todo if e is not None]
                    for k in range(0, len(ok), CHUNK):
                        chunk = ok[k:k + CHUNK]
                        got = det.predict([p for _, p in chunk], [f"{ds.name}/{pname}/{r.video_id}" for r, _ in chunk],
                                          None)
                        rows += [_row(det.name, ds.name, pname, r, g.score, g.clips, g.status)
                                 for (r, _), g in zip(chunk, got)]
                        progress.advance(len(chunk))
                    preds.add(rows)
                    for row in rows:
                        if row["status"] == "ok":
                            batch.done += 1
                        else:
                            batch.fail(f"{det.name} {ds.name}/{pname}/{row['video_id']}", row["status"])
    except BaseException as e:
        status.__exit__(type(e), e, None)
        raise
    else:
        status.result = batch
        status.__exit__(None, None, None)
    finally:
        preds.close()
        feats.close()
        progress.__exit__(None, None, None)
    return batch


#: videos per detector call: its predictions are appended (and survive a kill) together; each call
#: restarts the scorer's decode-ahead, which idles the model for about one video's decode
CHUNK = 64


def _row(model, dataset, preset, rec, score, clips, status) -> dict:
    return {"model": model, "dataset": dataset, "preset": preset, "video_id": rec.video_id, "label": rec.label,
            "score": "" if score is None else f"{score:.6f}", "clips": clips, "split": rec.split,
            "method": rec.method, "pair_id": rec.pair_id or rec.video_id, "status": status}


def _features(dataset, preset, rec, path: Path) -> dict | None:
    """File size, bitrate, resolution, frames, duration, codec: what a shortcut could key on."""
    from ..video import probe

    try:
        info = probe(path)
    except VcbenchError:
        return None
    return {"dataset": dataset, "preset": preset, "video_id": rec.video_id, "label": rec.label, "split": rec.split,
            "file_size": path.stat().st_size, "bitrate": info.bit_rate, "width": info.width, "height": info.height,
            "frames": info.frames, "duration": info.duration, "codec": info.codec}

