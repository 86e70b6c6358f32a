"""Training data, streamed: manifests -> usable videos (tracked, rendered) -> clips on demand.

``plan_data`` reads the train and val splits of the chosen datasets (the test split is filtered
out before any file is touched), refuses identities on both sides, tracks every video (cache)
and renders the call-condition variants of the train videos (renditions cache, tracks mapped).
``ClipDataset`` is map-style and stateless over blocks of micro-batches: a block is fully
determined by ``(seed, rank, block)`` -- classes (alternating, so every micro-batch is balanced),
episodes (video, variant, track and ``clips_per_track`` windows, decoded together), the shuffle
of episodes over micro-batches, each clip's augmentation -- so any worker can make any block and a
resumed run draws exactly the clips the killed one would have. Clips are cut through
``models.preprocess`` (``cut_crop``, ``TrackCrops.clip``, ``normalise``): the code path ``score``
uses.
"""
from __future__ import annotations

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
    label_tracks: object = None         # the face tracks its label is true of (ids, "all"), None: unknown


@dataclass
class DataPlan:
    train: list[TrainVideo]
    val: list[TrainVideo]
    datasets: dict                      # name -> {manifest_sha256, counts, kind, root}
    failed: list[tuple[str, str]]       # (dataset/video_id, why): left out before training
    training: dict | None = None        # the training record (contracts.TRAINING_SCHEMA) best.pth carries


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
        if ds.split_by == "file name":
            raise DatasetError(f"dataset {n!r} ({ds.kind}) has no identities: its split by file name can put one "
                               "person in train and in val; give it identity = \"REGEX\" (a search on the file "
                               "stem whose group 'target' or first group is the person) or a split_file in "
                               "datasets.toml (the benchmark may still score it)")
    for n, ds in loaded.items():
        rows = sorted((r for r in ds.records if r.split != "test"), key=lambda r: r.video_id)
        labelled = sum(bool(r.label_tracks) for r in rows)
        info[n] = {"kind": ds.kind, "root": str(ds.root), "manifest_sha256": ds.manifest_sha256(), "note": ds.note,
                   "face_labels": ("per face: a fake trains on its swapped face tracks, a real on all"
                                   if rows and labelled == len(rows) else
                                   f"per face for {labelled} of {len(rows)} videos, the rest per video"
                                   if labelled else "per video: every face of a fake trains as fake"),
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
    from ..contracts import parse_label_tracks

    return TrainVideo(ds.name, rec.video_id, int(rec.label), rec.method, rec.preset or "clean", rec.source_id,
                      rec.target_id, rec.pair_id or rec.video_id, str(ds.abspath(rec)),
                      label_tracks=parse_label_tracks(rec.label_tracks, f"{ds.name}/{rec.video_id}"))


def _rows(vt, tracking: str = "release", label_tracks=None) -> list[TrackRows]:
    """The tracks a video trains on: those its label is true of when the dataset says (a fake's
    swapped faces, every face of a real), else the scorer's own choice."""
    from ..scoring import label_tracks_of

    return [TrackRows(t.track_id, np.asarray(t.frames), np.asarray(t.boxes, np.float32),
                      np.asarray(t.kps, np.float32)) for t in label_tracks_of(vt, label_tracks, tracking)]


def plan_data(cfg, policy, progress=None, log=print) -> DataPlan:
    """Track every train/val video (cached), render the train videos' call-condition variants;
    a video that fails is left out, named, and counted."""
    from ..conference.presets import load_presets
    from ..conference.renditions import pair_seed, rendition
    from ..faces.tracking import LazyBackend, backend_key, track_video

    info, train_recs, val_recs = select_records(cfg)
    presets = load_presets(cfg.presets)
    aug = [presets[n] for n in policy.presets]
    key = backend_key(cfg.face_backend)
    backend = LazyBackend(cfg.face_backend)
    failed: list[tuple[str, str]] = []
    jobs = len(train_recs) * (1 + len(aug) * policy.rendition_seeds) + len(val_recs)
    if progress is not None:
        progress.start(jobs, "preparing (tracks, renditions)")

    def advance(n=1):
        if progress is not None:
            progress.advance(n)

    def track(path: str, label_tracks=None) -> list[TrackRows]:
        vt = track_video(path, backend=backend, max_frames=cfg.max_frames, cache_dir=cfg.cache_dir)
        rows = _rows(vt, label_tracks=label_tracks)
        if not rows:
            raise VcbenchError(f"{path}: no face found")
        return rows

    out_train, out_val = [], []
    try:
        for items, out, render in ((train_recs, out_train, True), (val_recs, out_val, False)):
            for ds, rec in items:
                v = _to_video(ds, rec)
                try:
                    v.variants["clean"] = Variant(v.path, "clean", track(v.path, v.label_tracks))
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
                            v.variants[f"{p.name}/s{j}"] = Variant(str(r), p.name, track(str(r), v.label_tracks))
                        except (VcbenchError, OSError) as e:   # the clean video still trains
                            failed.append((f"{ds.name}/{rec.video_id} under {p.name}", str(e)))
                        advance()
    finally:
        backend.close()
    _check_split("train", [(None, v) for v in out_train], cfg.train)
    _check_split("val", [(None, v) for v in out_val], [cfg.val] if cfg.val else cfg.train)
    return DataPlan(out_train, out_val, info, failed, training_record(train_recs, val_recs, info))


def training_record(train_recs: list, val_recs: list, info: dict) -> dict:
    """What the run trained and validated on, per dataset (``datasets.keys.training_set``): every
    train and val video it was given (a video that failed to decode counts: it was meant to be
    seen), their people and public clips. The benchmark checks test videos against it."""
    from ..contracts import TRAINING_SCHEMA
    from ..datasets.keys import training_set

    by: dict[str, tuple] = {}
    for split, items in (("train", train_recs), ("val", val_recs)):
        for ds, rec in items:
            entry = by.setdefault(ds.name, (ds, [], set()))
            entry[1].append(rec)
            entry[2].add(split)
    return {"schema": TRAINING_SCHEMA, "from": "vcbench finetune",
            "sets": [training_set(n, ds.kind, ds.root, info[n]["manifest_sha256"], recs, splits)
                     for n, (ds, recs, splits) in by.items()]}


# --- the clip sampler -------------------------------------------------------------------

def episode_clips(path: str, tr: TrackRows, windows, pp) -> list[np.ndarray]:
    """The aligned uint8 ``(T, S, S, 3)`` clips of several windows of one track, decoding the
    video once, up to the last window, and holding only the crops a pending window still needs.

    Random access into a long-GOP video costs a decode from its start (a 10 s x264 file has one
    or two keyframes), so a window drawn alone costs half a video's decode; K windows drawn
    together share one decode. Crops go through ``cut_crop`` and ``TrackCrops.clip``: the path
    ``score`` uses.
    """
    from ..models.preprocess import TrackCrops, cut_crop
    from ..video import iter_frames

    windows = [list(w) for w in windows]
    at_frame: dict[int, list[int]] = {}
    for r in sorted({r for w in windows for r in w}):
        at_frame.setdefault(int(tr.frames[r]), []).append(r)
    tc = TrackCrops(tr.track_id, tr.frames, tr.boxes, tr.kps, np.zeros((len(tr), 4), np.int64), {})
    out: list = [None] * len(windows)
    pending = list(range(len(windows)))
    for i, rgb in iter_frames(path, indices=sorted(at_frame)):
        for r in at_frame[i]:
            tc.crop_boxes[r], tc.crops[r] = cut_crop(rgb, tc.boxes[r], pp)
        for k in [k for k in pending if all(r in tc.crops for r in windows[k])]:
            out[k] = tc.clip(windows[k], pp)
            pending.remove(k)
        if not pending:
            break
        keep = min(min(windows[k]) for k in pending)
        for r in [r for r in tc.crops if r < keep]:
            del tc.crops[r]
    if pending:
        raise VcbenchError(f"{path}: the track's frames could not be decoded")
    return out


@dataclass(frozen=True)
class Episode:
    """K windows of one track of one variant of one video: one decode."""

    video: int
    variant: str
    track: int
    windows: tuple[tuple[int, ...], ...]
    label: int


class ClipDataset:
    """Map-style dataset over *blocks* of micro-batches (see the module docstring).

    A block is ``block_batches`` micro-batches of ``batch_size`` clips for one rank. Its clips come
    from episodes of ``clips_per_track`` windows each (one decode per episode), at least four
    episodes per class per block, shuffled across the block's micro-batches, each micro-batch
    alternating real and fake. Everything -- episode draws, window draws, the shuffle, each
    clip's augmentation -- is a function of ``(seed, rank, block)``, so any worker can make any
    block and a resumed run sees the very micro-batches the killed one would have.

    ``__getitem__(block)`` -> a list of micro-batches ``(clips uint8 (B, T, S, S, 3), labels,
    video indices, applied, failures)``; normalisation happens where the model is (``normalise``).
    An episode whose video fails to decode is replaced by another draw of the same class; the
    failure comes back with the block's first micro-batch so the trainer can count it in run.json.
    """

    def __init__(self, videos: list[TrainVideo], pp, policy, seed: int, clips_per_track: int = 16,
                 batch_size: int = 8, rank: int = 0, world: int = 1):
        if clips_per_track < 1 or batch_size < 1:
            raise VcbenchError("clips_per_track and batch_size must be >= 1")
        self.videos, self.pp, self.policy, self.seed = videos, pp, policy, seed
        self.k, self.batch, self.rank, self.world = clips_per_track, batch_size, rank, world
        self.block_batches = max(1, -(-8 * clips_per_track // batch_size))
        self.by_label = {c: [i for i, v in enumerate(videos) if v.label == c] for c in (0, 1)}
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return 1 << 62

    @property
    def block_clips(self) -> int:
        return self.block_batches * self.batch

    def sample_id(self, block: int, pos: int) -> int:
        """A clip's global index: unique over blocks, ranks and positions (its augmentation seed)."""
        return (block * self.world + self.rank) * self.block_clips + pos

    def episode(self, block: int, label: int, e: int, attempt: int = 0) -> Episode:
        """Episode ``e`` of class ``label`` in ``block`` (attempt k > 0: a replacement draw)."""
        from ..models.preprocess import track_windows

        rng = np.random.default_rng([self.seed, self.rank, block, label, e, attempt])
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
        picks = rng.integers(len(wins), size=self.k)
        return Episode(vi, variant, ti, tuple(tuple(wins[int(j)]) for j in picks), label)

    def clips(self, ep: Episode) -> list[np.ndarray]:
        """The episode's aligned uint8 clips, before augmentation."""
        var = self.videos[ep.video].variants[ep.variant]
        return episode_clips(var.path, var.tracks[ep.track], ep.windows, self.pp)

    def layout(self, block: int) -> dict[int, tuple[int, int]]:
        """Block position -> (episode, window slot) of its class: classes alternate by position,
        and each class's positions are shuffled over its episodes."""
        n = self.block_clips
        where: dict[int, tuple[int, int]] = {}
        for c in (0, 1):
            pos = np.array([p for p in range(n) if p % 2 == c])
            np.random.default_rng([self.seed, self.rank, block, c, 1 << 21]).shuffle(pos)
            for j, p in enumerate(pos):
                where[int(p)] = (j // self.k, j % self.k)
        return where

    def _episode_clips(self, block: int, label: int, e: int, failures: list[str]):
        for attempt in range(8):
            ep = self.episode(block, label, e, attempt)
            if ep.video in self._bad and attempt < 7:
                continue
            try:
                return ep, self.clips(ep)
            except (VcbenchError, OSError) as err:
                self._bad.add(ep.video)
                v = self.videos[ep.video]
                failures.append(f"{v.dataset}/{v.video_id}\t{err}")
        raise DatasetError(f"block {block}: 8 draws in a row failed to decode ({failures[-1]})")

    def __getitem__(self, block: int):
        import torch

        from .augment import augment_clip

        where, failures, made = self.layout(block), [], {}
        for pos in range(self.block_clips):           # decode first: failures go out with micro-batch 0
            key = (pos % 2, where[pos][0])
            if key not in made:
                made[key] = self._episode_clips(block, *key, failures)
        out = []
        for b in range(self.block_batches):
            xs, ys, vids, applied = [], [], [], []
            for pos in range(b * self.batch, (b + 1) * self.batch):
                label = pos % 2
                e, slot = where[pos]
                ep, clips = made[(label, e)]
                rng = np.random.default_rng([self.seed, self.sample_id(block, pos), 1 << 20])
                clip, y, names = augment_clip(clips[slot], label, self.policy, rng)
                xs.append(clip)
                ys.append(float(y))
                vids.append(ep.video)
                applied.append(",".join([ep.variant] + names))
            out.append((torch.from_numpy(np.stack(xs)), torch.tensor(ys, dtype=torch.float32),
                        torch.tensor(vids), applied, "\n".join(failures) if b == 0 else ""))
        return out


def micro_batches(dataset: ClipDataset, start: int, stop: int, workers: int, pin: bool = False):
    """Micro-batches ``start .. stop - 1`` (per-rank indices), each worker making whole blocks."""
    import torch

    if stop <= start:
        return
    first, last = start // dataset.block_batches, (stop - 1) // dataset.block_batches
    gen = torch.Generator()
    gen.manual_seed(dataset.seed)    # the loader's own seed draw must not touch the global RNG (resume)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=range(first, last + 1), num_workers=workers, generator=gen,
        worker_init_fn=worker_init, pin_memory=pin, prefetch_factor=2 if workers else None,
        # spawned, not forked: a fork of a process whose OpenMP pool is running (torch, after the
        # first step or an evaluation) can deadlock
        multiprocessing_context="spawn" if workers else None, persistent_workers=False)
    m = first * dataset.block_batches
    for block in loader:
        for mb in block:
            if start <= m < stop:
                yield mb
            m += 1


def worker_init(_worker_id: int) -> None:
    """One thread per decode worker: the training process owns the cores."""
    import torch

    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
