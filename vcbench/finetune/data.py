"""Training data, streamed: manifests -> usable videos (tracked, rendered) -> clips on demand.

``plan_data`` reads the train and val splits of the chosen datasets (the test split is filtered
out before any file is touched), refuses identities on both sides, tracks every video (cache)
and renders the call-condition variants of the train videos (renditions cache, tracks mapped).
``ClipDataset`` is map-style and stateless: sample ``idx`` is fully determined by
``(seed, idx)`` -- class (alternating, so every batch is balanced), video, variant, track,
window, augmentation -- so any worker can make any sample and a resumed run draws exactly the
samples the killed one would have. Clips are cut through ``models.preprocess`` (``cut_crops``,
``TrackCrops.clip``, ``normalise``): the code path ``score`` uses.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DatasetError, VcbenchError


@dataclass
class TrackRows:
    """One face track, as the sampler needs it (arrays only: cheap to send to workers)."""

    track_id: int
    frames: np.ndarray
    boxes: np.ndarray
    kps: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class Variant:
    """A decodable file showing the video: the clean file or a rendition under a preset."""

    path: str
    preset: str
    tracks: list[TrackRows]


@dataclass
class TrainVideo:
    dataset: str
    video_id: str
    label: int
    method: str
    preset: str
    source_id: str
    target_id: str
    pair_id: str
    path: str
    variants: dict[str, Variant] = field(default_factory=dict)   # "clean", "<preset>/s<j>"


@dataclass
class DataPlan:
    train: list[TrainVideo]
    val: list[TrainVideo]
    datasets: dict                      # name -> {manifest_sha256, counts, kind, root}
    failed: list[tuple[str, str]]       # (dataset/video_id, why): left out before training


def _identities(recs) -> dict[str, str]:
    out = {}
    for r in recs:
        for ident in (r.source_id, r.target_id):
            if ident:
                out.setdefault(ident, r.video_id)
    return out


def select_records(cfg) -> tuple[dict, list, list]:
    """(datasets info, train records, val records) as ``(dataset, record)``; the test split
    never leaves this function."""
    from ..datasets import get_dataset

    info, train, val = {}, [], []
    names = list(dict.fromkeys(list(cfg.train) + ([cfg.val] if cfg.val else [])))
    loaded = {n: get_dataset(n, cfg.datasets) for n in names}
    for n, ds in loaded.items():
        rows = sorted((r for r in ds.records if r.split != "test"), key=lambda r: r.video_id)
        info[n] = {"kind": ds.kind, "root": str(ds.root), "manifest_sha256": ds.manifest_sha256(),
                   "counts": {s: c for s, c in ds.counts().items() if s != "test"},
                   "test_videos_not_opened": sum(r.split == "test" for r in ds.records)}
        if n in cfg.train:
            train += [(ds, r) for r in rows if r.split == "train"]
    val_sources = [cfg.val] if cfg.val else list(cfg.train)
    for n in val_sources:
        val += [(loaded[n], r) for r in sorted(loaded[n].records, key=lambda r: r.video_id) if r.split == "val"]
    _check_split("train", train, cfg.train)
    if not val:
        where = f"dataset {cfg.val!r}" if cfg.val else "the --train dataset(s) " + ", ".join(map(repr, cfg.train))
        raise DatasetError(f"{where} has no val split; pass --val NAME with a dataset that has one")
    _check_split("val", val, val_sources)
    tr_ids, va_ids = _identities(r for _, r in train), _identities(r for _, r in val)
    both = sorted(set(tr_ids) & set(va_ids))
    if both:
        i = both[0]
        raise DatasetError(f"identity {i!r} is in both train ({tr_ids[i]}) and val ({va_ids[i]})"
                           + (f" (+{len(both) - 1} more: {', '.join(both[1:4])})" if len(both) > 1 else "")
                           + "; splits must be identity-disjoint")
    return info, train, val


def _check_split(split: str, items: list, names) -> None:
    where = ", ".join(repr(n) for n in names)
    if not items:
        raise DatasetError(f"{split} split of {where}: no videos")
    labels = {r.label for _, r in items}
    if len(labels) < 2:
        have = "real" if labels == {0} else "fake"
        raise DatasetError(f"{split} split of {where}: only {have} videos ({len(items)}); "
                           "training needs both real and fake")


def _to_video(ds, rec) -> TrainVideo:
    return TrainVideo(ds.name, rec.video_id, int(rec.label), rec.method, rec.preset or "clean", rec.source_id,
                      rec.target_id, rec.pair_id or rec.video_id, str(ds.abspath(rec)))


def _rows(vt, tracking: str = "release") -> list[TrackRows]:
    from ..scoring import select_tracks

    return [TrackRows(t.track_id, np.asarray(t.frames), np.asarray(t.boxes, np.float32),
                      np.asarray(t.kps, np.float32)) for t in select_tracks(vt, tracking)]


def plan_data(cfg, policy, progress=None, log=print) -> DataPlan:
    """Track every train/val video (cached), render the train videos' call-condition variants;
    a video that fails is left out, named, and counted."""
    from ..conference.presets import load_presets
    from ..conference.renditions import pair_seed, rendition
    from ..faces.tracking import backend_key, get_backend, track_video
    from ..scoring import LazyBackend

    info, train_recs, val_recs = select_records(cfg)
    presets = load_presets(cfg.presets)
    aug = [presets[n] for n in policy.presets]
    key = backend_key(cfg.face_backend)
    backend = LazyBackend(cfg.face_backend, get_backend)
    failed: list[tuple[str, str]] = []
    jobs = len(train_recs) * (1 + len(aug) * policy.rendition_seeds) + len(val_recs)
    if progress is not None:
        progress.start(jobs, "preparing (tracks, renditions)")

    def advance(n=1):
        if progress is not None:
            progress.advance(n)

    def track(path: str) -> list[TrackRows]:
        vt = track_video(path, backend=backend, max_frames=cfg.max_frames, cache_dir=cfg.cache_dir)
        rows = _rows(vt)
        if not rows:
            raise VcbenchError(f"{path}: no face found")
        return rows

    out_train, out_val = [], []
    try:
        for items, out, render in ((train_recs, out_train, True), (val_recs, out_val, False)):
            for ds, rec in items:
                v = _to_video(ds, rec)
                try:
                    v.variants["clean"] = Variant(v.path, "clean", track(v.path))
                except (VcbenchError, OSError) as e:
                    failed.append((f"{ds.name}/{rec.video_id}", str(e)))
                    advance(1 + (len(aug) * policy.rendition_seeds if render else 0))
                    continue
                advance()
                out.append(v)
                if not render:
                    continue
                for p in aug:
                    for j in range(policy.rendition_seeds):
                        try:
                            r = rendition(Path(v.path), p, pair_seed(cfg.seed + j, v.pair_id, p.name), cfg.ffmpeg,
                                          tracks_key=key, tracks_dir=cfg.cache_dir)
                            v.variants[f"{p.name}/s{j}"] = Variant(str(r), p.name, track(str(r)))
                        except (VcbenchError, OSError) as e:   # the clean video still trains
                            failed.append((f"{ds.name}/{rec.video_id} under {p.name}", str(e)))
                        advance()
    finally:
        backend.close()
    _check_split("train", [(None, v) for v in out_train], cfg.train)
    _check_split("val", [(None, v) for v in out_val], [cfg.val] if cfg.val else cfg.train)
    return DataPlan(out_train, out_val, info, failed)


# --- the clip sampler -------------------------------------------------------------------

class CropCache:
    """Decoded face crops of whole tracks, least recently used out, bounded in bytes (per worker)."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes = max_bytes, 0
        self._d: collections.OrderedDict = collections.OrderedDict()

    def get(self, key):
        if key in self._d:
            self._d.move_to_end(key)
            return self._d[key]
        return None

    def put(self, key, tc, size: int) -> None:
        if size > self.max_bytes:
            return
        self._d[key] = (tc, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, s) = self._d.popitem(last=False)
            self.bytes -= s


def track_crops(variant: Variant, tr: TrackRows, rows: list[int], pp, cache: CropCache | None):
    """A TrackCrops holding at least ``rows``: the whole track cached when it fits the budget,
    else just the window's rows decoded."""
    from ..models.preprocess import cut_crops
    from ..video import iter_frames

    key = (variant.path, tr.track_id)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit[0]
        wh = (tr.boxes[:, 2:] - tr.boxes[:, :2]).clip(1) * pp.box_scale
        size = int((wh[:, 0] * wh[:, 1]).sum() * 3)
        whole = size <= cache.max_bytes // 4
    else:
        whole, size = False, 0
    need = set(range(len(tr.frames))) if whole else set(rows)
    frames = [int(tr.frames[r]) for r in sorted(need)]
    crops = cut_crops(iter_frames(variant.path, indices=frames), [tr], pp, {tr.track_id: need})
    if not crops or any(r not in crops[0].crops for r in rows):
        raise VcbenchError(f"{variant.path}: the track's frames could not be decoded")
    if whole and cache is not None:
        cache.put(key, crops[0], size)
    return crops[0]


@dataclass(frozen=True)
class Sample:
    video: int
    variant: str
    track: int
    rows: tuple[int, ...]
    label: int


class ClipDataset:
    """Map-style dataset over global sample indices (see the module docstring).

    ``__getitem__(idx)`` -> ``(clip (3, T, S, S) float32, label, video index, applied, failures)``.
    A video that fails to decode is replaced by another draw of the same class; the failure is
    reported with the sample so the trainer can count it in run.json.
    """

    def __init__(self, videos: list[TrainVideo], pp, policy, seed: int, cache_mb: int = 512):
        self.videos, self.pp, self.policy, self.seed = videos, pp, policy, seed
        self.by_label = {c: [i for i, v in enumerate(videos) if v.label == c] for c in (0, 1)}
        self.cache_bytes = cache_mb << 20
        self._cache: CropCache | None = None
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return 1 << 62

    def __getstate__(self):          # workers build their own crop cache
        d = dict(self.__dict__)
        d["_cache"] = None
        return d

    def draw(self, idx: int, attempt: int = 0) -> Sample:
        """Sample ``idx``'s video, variant, track and window (attempt k > 0: a replacement draw)."""
        from ..models.preprocess import track_windows

        rng = np.random.default_rng([self.seed, idx, attempt])
        label = idx % 2
        pool = self.by_label[label]
        vi = pool[int(rng.integers(len(pool)))]
        v = self.videos[vi]
        variant = "clean"
        if self.policy.presets and rng.random() < self.policy.preset_p:
            p = self.policy.presets[int(rng.integers(len(self.policy.presets)))]
            key = f"{p}/s{int(rng.integers(self.policy.rendition_seeds))}"
            variant = key if key in v.variants else "clean"
        var = v.variants[variant]
        ti = int(rng.integers(len(var.tracks)))
        wins = track_windows(len(var.tracks[ti].frames), self.pp.clip_len, "dense")
        rows = wins[int(rng.integers(len(wins)))]
        return Sample(vi, variant, ti, tuple(rows), label)

    def clip(self, s: Sample) -> np.ndarray:
        """The aligned uint8 ``(T, S, S, 3)`` clip of a sample, before augmentation."""
        if self._cache is None:
            self._cache = CropCache(self.cache_bytes)
        var = self.videos[s.video].variants[s.variant]
        tr = var.tracks[s.track]
        return track_crops(var, tr, list(s.rows), self.pp, self._cache).clip(list(s.rows), self.pp)

    def __getitem__(self, idx: int):
        from ..models.preprocess import normalise
        from .augment import augment_clip

        failures = []
        for attempt in range(8):
            s = self.draw(idx, attempt)
            if s.video in self._bad and attempt < 7:
                continue
            try:
                clip = self.clip(s)
                break
            except (VcbenchError, OSError) as e:
                self._bad.add(s.video)
                v = self.videos[s.video]
                failures.append(f"{v.dataset}/{v.video_id}\t{e}")
        else:
            raise DatasetError(f"sample {idx}: 8 draws in a row failed to decode ({failures[-1]})")
        rng = np.random.default_rng([self.seed, idx, 1 << 20])
        clip, label, applied = augment_clip(clip, s.label, self.policy, rng)
        return normalise(clip, self.pp), float(label), s.video, ",".join([s.variant] + applied), "\n".join(failures)


class StepSampler:
    """Global sample indices for steps ``start..steps-1``: step, micro-batch, rank, then item, so
    every rank draws its own samples and a resumed run continues the same sequence."""

    def __init__(self, start: int, steps: int, batch: int, accumulate: int, rank: int, world: int):
        self.start, self.steps, self.batch, self.acc, self.rank, self.world = start, steps, batch, accumulate, rank, world

    def __iter__(self):
        for step in range(self.start, self.steps):
            for a in range(self.acc):
                base = ((step * self.acc + a) * self.world + self.rank) * self.batch
                yield from range(base, base + self.batch)

    def __len__(self) -> int:
        return (self.steps - self.start) * self.acc * self.batch


def worker_init(_worker_id: int) -> None:
    """One thread per decode worker: the training process owns the cores."""
    import torch

    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
