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
from dataclasses import dataclass
from pathlib import Path

from ..batch import BatchResult
from ..errors import DatasetError, VcbenchError
from ..contracts import (FEATURE_COLUMNS, PRED_COLUMNS, PRED_KEY, WINDOWS_FILE, parse_label_tracks, read_json_object,
                         read_rows, torn_tail, window_line, JsonLinesWriter)
from ..fileio import write_json
from ..runs import BatchJob
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
    """preset name -> [(record, path or None (to render))], evaluated split + val (thresholds),
    every video (the job shards them)."""
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
            by_preset[name] = [(r, ds.abspath(r)) for r in own]
        elif name == "clean":
            by_preset[name] = [(r, ds.abspath(r)) for r in base]
        else:
            by_preset[name] = [(r, None) for r in base]
    return by_preset


def rendered(cfg, ds, rec, pname: str, preset) -> Path:
    """A dataset video under a condition it does not hold itself: rendered once with the seed of its
    pair (a fake and its real get the same losses and noise) and cached by content."""
    from ..conference.renditions import pair_seed, rendition

    return Path(rendition(ds.abspath(rec), preset, pair_seed(cfg.seed, rec.pair_id or rec.video_id, pname), cfg.ffmpeg,
                          engine=cfg.engine))


@dataclass
class Chunk:
    """Up to CHUNK videos of one cell (dataset x preset): what each detector scores in one call."""
    dataset: object
    preset: str
    items: list                    # (record, path or None)


class BenchmarkJob(BatchJob):
    """model x dataset x preset on the one loop. Items are chunks of a cell's videos (this shard's
    share of each cell, so shards stay balanced); each chunk renders what it needs, then every
    detector scores its unscored videos in one call and the rows are appended at once."""

    what = "predictions"

    def __init__(self, cfg, datasets, presets: dict, detectors, folder, progress):
        self.cfg, self.datasets, self.presets, self.detectors = cfg, datasets, presets, detectors
        self.progress = progress
        out = folder.path
        # failed rows are retried now: dropped first, so a key has one row whatever the retry gives
        self.done = {tuple(r[k] for k in PRED_KEY)
                     for r in compact(out / "predictions.csv", PRED_COLUMNS, PRED_KEY, lambda r: r["status"] == "ok")}
        self.have_features = {(r["dataset"], r["preset"], r["video_id"])
                              for r in read_rows(out / "features.csv", FEATURE_COLUMNS)}
        self.preds = Appender(out / "predictions.csv", PRED_COLUMNS)
        self.feats = Appender(out / "features.csv", FEATURE_COLUMNS)
        self.windows = JsonLinesWriter(out / WINDOWS_FILE) if cfg.streaming else None

    def items(self) -> list:
        return [(ds, pname, items) for ds in self.datasets for pname, items in plan_items(self.cfg, ds, self.presets).items()]

    def shard(self, cells, shard) -> list:
        from ..runtime import shard_items

        out = []
        for ds, pname, items in cells:
            mine = shard_items(items, shard)
            out += [Chunk(ds, pname, mine[k:k + CHUNK]) for k in range(0, len(mine), CHUNK)]
        return out

    def key(self, c: Chunk) -> str:
        return f"{c.dataset.name}/{c.preset} ({len(c.items)} videos from {c.items[0][0].video_id})"

    def run(self, c: Chunk) -> BatchResult:
        cfg, ds, pname = self.cfg, c.dataset, c.preset
        part = BatchResult(self.what)
        paths: list[tuple] = []
        for rec, path in c.items:                     # the videos of this condition (rendered once, cached)
            if all((d.name, ds.name, pname, rec.video_id) in self.done for d in self.detectors):
                paths.append((rec, path, None))       # nothing to score: never rendered for nothing
                continue
            try:
                if path is None:
                    path = rendered(cfg, ds, rec, pname, self.presets[pname])
                paths.append((rec, Path(path), None))
            except (VcbenchError, OSError) as e:
                paths.append((rec, None, str(e)))
        self.feats.add([f for f in (_features(ds.name, pname, rec, path) for rec, path, err in paths
                                    if err is None and path is not None
                                    and (ds.name, pname, rec.video_id) not in self.have_features) if f])
        for det in self.detectors:
            todo = [(r, p, e) for r, p, e in paths if (det.name, ds.name, pname, r.video_id) not in self.done]
            part.skipped += len(paths) - len(todo)
            self.progress.advance(len(paths) - len(todo))
            ok = [(r, p) for r, p, e in todo if e is None]
            rows = [_row(det.name, ds.name, pname, r, None, 0, f"rendition failed: {e}") for r, p, e in todo
                    if e is not None]
            if ok:
                got = det.predict([p for _, p in ok], [f"{ds.name}/{pname}/{r.video_id}" for r, _ in ok],
                                  [parse_label_tracks(r.label_tracks, f"{ds.name}/{r.video_id}") for r, _ in ok])
                scored = [(_row(det.name, ds.name, pname, r, g.score, g.clips, g.status), p, g)
                          for (r, p), g in zip(ok, got)]
                if self.windows is not None:          # before the rows: a video marked done has its windows
                    self.windows.add([window_line(row, _fps(p), g.stream) for row, p, g in scored
                                      if g.score is not None and g.stream is not None])
                rows += [row for row, _, _ in scored]
            self.progress.advance(len(todo))
            self.preds.add(rows)
            for row in rows:
                if row["status"] == "ok":
                    part.done += 1
                else:
                    part.fail(f"{det.name} {ds.name}/{pname}/{row['video_id']}", row["status"])
        return part

    def close(self) -> None:
        self.preds.close()
        self.feats.close()
        if self.windows is not None:
            self.windows.close()
        for det in self.detectors:
            det.close()


def _model_entry(det) -> dict:
    """models.json's entry: the detector as it ran, its training declaration resolved into the
    record the overlap check reads (a weight tag becomes the data it names)."""
    from .overlap import resolve

    entry = det.to_json()
    entry["training_declared"] = det.training if det.training is not None and "tag" in det.training else None
    entry["training"] = resolve(det.training)
    return entry


def detector_settings(cfg):
    """The detectors' shared settings from a benchmark config."""
    from ..detectors import DetectorSettings
    from ..scoring import ScoreSettings

    return DetectorSettings(device=cfg.device, face_backend=cfg.face_backend, cache_dir=cfg.cache_dir, seed=cfg.seed,
                            timeout=cfg.detector_timeout, datasets=cfg.datasets,
                            score=ScoreSettings(mode=cfg.mode, clips=cfg.clips, precision=cfg.precision,
                                                max_frames=cfg.max_frames, stream=cfg.streaming))


def run_benchmark(cfg, progress=None) -> BatchResult:
    from ..conference.presets import load_presets
    from ..datasets import get_dataset
    from ..detectors import load_detectors
    from ..registry import lookup
    from ..runtime import Progress, resolve_device, resolve_precision
    from ..runs import run_job

    progress = progress or Progress("benchmark", unit="videos/s")
    if cfg.precision == "auto":            # recorded resolved: a run's numbers say how they were computed
        cfg = dataclasses.replace(cfg, precision=resolve_precision(cfg.precision, resolve_device(cfg.device)))
    available = load_presets(cfg.presets)
    presets = {name: (None if name == "clean" else lookup("preset", name, available)) for name in cfg.preset}
    datasets = [get_dataset(name, cfg.datasets) for name in cfg.dataset]
    detectors = load_detectors(cfg.model, detector_settings(cfg))
    folder = run_folder(cfg, {d.name: d.fingerprint() for d in detectors}, log=progress.log)
    write_json(folder.path / "models.json", {d.name: _model_entry(d) for d in detectors})
    write_context(folder.path, cfg, datasets, presets)
    job = BenchmarkJob(cfg, datasets, presets, detectors, folder, progress)
    try:
        with folder.running(models=[d.name for d in detectors], datasets=list(cfg.dataset),
                            presets=list(cfg.preset)) as status:
            chunks = job.shard(job.items(), cfg.shard)
            progress.start(sum(len(c.items) for c in chunks) * len(detectors), "benchmark")
            status.result = run_job(job, cfg.shard).result
    finally:
        job.close()
    return status.result


#: videos per detector call: its predictions are appended (and survive a kill) together; each call
#: restarts the scorer's decode-ahead, which idles the model for about one video's decode
CHUNK = 64


def _row(model, dataset, preset, rec, score, clips, status) -> dict:
    return {"model": model, "dataset": dataset, "preset": preset, "video_id": rec.video_id, "label": rec.label,
            "score": "" if score is None else f"{score:.6f}", "clips": clips, "split": rec.split,
            "method": rec.method, "pair_id": rec.pair_id or rec.video_id, "status": status}


def _fps(path: Path) -> float:
    """The scored file's frame rate (a call preset may change it): window frames become seconds."""
    from ..video import probe

    return probe(path).fps


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

