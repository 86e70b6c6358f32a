"""Face tracks as AltFreezing's tools build them, and their on-disk cache.

A track starts at a face scoring >= 0.8 and continues while the next frame has a face whose
box overlaps the previous one with IoU > 0.5. With ``detect_every = N`` the detector runs on
every N-th frame and the landmark model carries the boxes in between.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import VideoError
from ..fileio import content_id, write_npz
from .base import Face, FaceBackend, iou

START_SCORE = 0.8
CONTINUE_IOU = 0.5
CACHE_FORMAT = 2


@dataclass
class Track:
    track_id: int
    frames: np.ndarray          # (n,) int frame indices, consecutive
    boxes: np.ndarray           # (n, 4) float32
    kps: np.ndarray             # (n, 5, 2) float32
    scores: np.ndarray          # (n,) float32
    landmarks: np.ndarray | None = None   # (n, L, 2) float16 dense landmarks, when the backend has them

    def __len__(self) -> int:
        return len(self.frames)

    def at(self, frame: int) -> int | None:
        """Row of ``frame`` in this track, or None."""
        i = frame - int(self.frames[0])
        return i if 0 <= i < len(self.frames) and self.frames[i] == frame else None


@dataclass
class VideoTracks:
    path: str
    n_frames: int
    detector: str
    tracks: list[Track] = field(default_factory=list)
    detect_every: int = 1          # detector interval the tracks were made with (metadata)
    complete: bool = True          # the tracks cover the whole video, not just its first n_frames

    def longest(self) -> Track | None:
        return max(self.tracks, key=len) if self.tracks else None

    def summary(self) -> dict:
        """``vcbench faces --json``: per track its frames, mean detector score and mean box."""
        return {"video": str(self.path), "frames": self.n_frames, "detector": self.detector, "tracks": [
            {"track": t.track_id, "first_frame": int(t.frames[0]), "last_frame": int(t.frames[-1]), "frames": len(t),
             "mean_score": round(float(t.scores.mean()), 3),
             "mean_box_x1_y1_x2_y2": [round(float(v), 1) for v in t.boxes.mean(0)]} for t in self.tracks]}

    def lines(self, video) -> list[str]:
        """``vcbench faces``: a line for the video, one per track."""
        out = [f"{video}: {len(self.tracks)} track(s) over {self.n_frames} frames ({self.detector})"]
        for t in self.summary()["tracks"]:
            x1, y1, x2, y2 = t["mean_box_x1_y1_x2_y2"]
            out.append(f"  track {t['track']}: frames {t['first_frame']}-{t['last_frame']} ({t['frames']}), "
                       f"mean score {t['mean_score']:.2f}, mean box x1 {x1:g} y1 {y1:g} x2 {x2:g} y2 {y2:g}")
        return out


class OnlineTracker:
    """The track rule applied one frame at a time (causal: a frame's assignments depend only on the
    frames before it). ``step(faces)`` returns ``(track id, face, score)`` for every face on a track
    in this frame; a track ends at the first frame with no face overlapping its last box and never
    resumes. Ids count tracks in order of their first frame, left to right within a frame: the ids
    :func:`build_tracks` gives the same video, so a live track and a file's track have one name."""

    def __init__(self):
        self.active: list[dict] = []      # matched in this order (continued tracks first, then new ones)
        self.ended: list[int] = []        # ids that ended on the last step
        self._next = 0

    def step(self, faces: list[Face]) -> list[tuple[int, Face, float]]:
        taken: set[int] = set()
        still: list[dict] = []
        out: list[tuple[int, Face, float]] = []
        self.ended = []
        for tr in self.active:
            best, best_iou = None, CONTINUE_IOU
            for j, f in enumerate(faces):
                if j in taken:
                    continue
                o = iou(tr["box"], f.box)
                if o > best_iou:
                    best, best_iou = j, o
            if best is None:
                self.ended.append(tr["id"])
                continue
            taken.add(best)
            f = faces[best]
            tr["box"] = f.box
            if not np.isnan(f.score):
                tr["score"] = f.score
            still.append(tr)
            out.append((tr["id"], f, tr["score"]))
        new = [j for j, f in enumerate(faces) if j not in taken and not np.isnan(f.score) and f.score >= START_SCORE]
        ids = {j: self._next + k for k, j in enumerate(sorted(new, key=lambda j: float(faces[j].box[0])))}
        self._next += len(new)
        for j in new:                     # matched next frame in face order, as build_tracks does
            tr = {"id": ids[j], "box": faces[j].box, "score": faces[j].score}
            still.append(tr)
            out.append((tr["id"], faces[j], tr["score"]))
        self.active = still
        return out


def build_tracks(per_frame: list[list[Face]], min_len: int = 1) -> list[Track]:
    """Link per-frame faces into tracks (greedy by IoU, no gaps): :class:`OnlineTracker` over the
    whole video; tracks shorter than ``min_len`` dropped and the rest numbered again."""
    tracker = OnlineTracker()
    rows: dict[int, dict] = {}
    for t, faces in enumerate(per_frame):
        for tid, f, score in tracker.step(faces):
            tr = rows.setdefault(tid, {"frames": [], "boxes": [], "kps": [], "scores": [], "lms": []})
            tr["frames"].append(t)
            tr["boxes"].append(f.box)
            tr["kps"].append(f.kps)
            tr["scores"].append(score)
            tr["lms"].append(f.landmarks)
    out = []
    for tid in sorted(rows):
        tr = rows[tid]
        if len(tr["frames"]) < min_len:
            continue
        lms = tr["lms"]
        lm = np.stack(lms).astype(np.float16) if all(x is not None for x in lms) else None
        out.append(Track(len(out), np.array(tr["frames"], np.int32), np.stack(tr["boxes"]).astype(np.float32),
                         np.stack(tr["kps"]).astype(np.float32), np.array(tr["scores"], np.float32), lm))
    return out


def detect_video(path: str | os.PathLike, backend: FaceBackend, detect_every: int = 1,
                 max_frames: int | None = None) -> tuple[list[list[Face]], int]:
    from ..video import iter_frames

    backend.reset()
    per_frame: list[list[Face]] = []
    for i, rgb in iter_frames(path, stop=max_frames):
        run = detect_every <= 1 or i % detect_every == 0
        per_frame.append(backend.detect(rgb, run_detector=run))
    return per_frame, len(per_frame)


# --- cache ---------------------------------------------------------------------------

def default_cache_dir() -> Path:
    from ..runtime import cache_root

    return cache_root() / "faces"


def backend_key(backend: str | FaceBackend, **settings) -> str:
    """The cache key of a face backend (name, version, box-changing settings), without building it."""
    if not isinstance(backend, str):
        return backend.key
    from .backends import BACKENDS

    return BACKENDS.get(backend).cache_key(**settings)


def cache_file(path: Path, detector: str, cache_dir: Path | None = None) -> Path:
    """Where the tracks of ``path`` by ``detector`` (a backend key) live: keyed by the video's content,
    so a moved or renamed dataset keeps its tracks and every consumer finds what another wrote."""
    key = hashlib.sha1(f"{CACHE_FORMAT}|{content_id(Path(path))}|{detector}".encode()).hexdigest()
    return (Path(cache_dir) if cache_dir else default_cache_dir()) / key[:2] / f"{key}.npz"


def save_tracks(vt: VideoTracks, file: Path) -> None:
    """Write ``vt`` (with its detect interval and whether it covers the whole video) atomically."""
    arrays: dict[str, np.ndarray] = {"meta": np.array([vt.path, str(vt.n_frames), vt.detector,
                                                       str(vt.detect_every), str(int(vt.complete))])}
    for t in vt.tracks:
        p = f"t{t.track_id}_"
        arrays.update({p + "frames": t.frames, p + "boxes": t.boxes, p + "kps": t.kps, p + "scores": t.scores})
        if t.landmarks is not None:
            arrays[p + "landmarks"] = t.landmarks
    write_npz(file, **arrays)


def load_tracks(file: Path) -> VideoTracks:
    with np.load(file, allow_pickle=False) as z:
        path, n, det, every, complete = (str(x) for x in z["meta"])
        ids = sorted({int(k[1:].split("_")[0]) for k in z.files if k.startswith("t")})
        tracks = [Track(i, z[f"t{i}_frames"], z[f"t{i}_boxes"], z[f"t{i}_kps"], z[f"t{i}_scores"],
                        z[f"t{i}_landmarks"] if f"t{i}_landmarks" in z.files else None) for i in ids]
    return VideoTracks(path, int(n), det, tracks, detect_every=int(every), complete=complete == "1")


def get_backend(name: str, **kw) -> FaceBackend:
    from .backends import BACKENDS

    return BACKENDS.get(name)(**kw)


class LazyBackend:
    """A face backend built on its first detection, never for a cache hit: a run whose videos are
    all in the face-track cache loads no face model. ``backend`` is a name or a built backend."""

    def __init__(self, backend: str | FaceBackend, factory=None):
        self._spec, self._factory, self._be = backend, factory or get_backend, None
        self.key = backend_key(backend)

    def _get(self) -> FaceBackend:
        if self._be is None:
            self._be = self._factory(self._spec) if isinstance(self._spec, str) else self._spec
        return self._be

    def detect(self, rgb, run_detector=True):
        return self._get().detect(rgb, run_detector=run_detector)

    def reset(self):
        if self._be is not None:
            self._be.reset()

    def close(self):
        if self._be is not None and hasattr(self._be, "close"):
            self._be.close()


def track_video(path: str | os.PathLike, backend: str | FaceBackend = "mediapipe", detect_every: int | None = None,
                max_frames: int | None = None, cache_dir: Path | None | bool = None,
                min_len: int = 1) -> VideoTracks:
    """Face tracks of one video (its first ``max_frames`` frames), from the cache when an entry of
    the same content and detector covers those frames. ``detect_every=None`` accepts an entry made
    at any detect interval (and detects every frame when there is none); an explicit interval
    must match. A fresh result replaces the entry. ``cache_dir=False`` disables the cache.
    Raises VideoError naming the file if it does not decode.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: file not found")
    cfile = None
    if cache_dir is not False:
        cfile = cache_file(path, backend_key(backend), cache_dir or None)
        if cfile.is_file():
            try:
                vt = load_tracks(cfile)
            except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed, never trusted
                cfile.unlink(missing_ok=True)
            else:
                covers = vt.complete or (max_frames is not None and vt.n_frames >= max_frames)
                if covers and detect_every in (None, vt.detect_every):
                    return _cut(vt, max_frames, min_len)
    be = get_backend(backend) if isinstance(backend, str) else backend
    every = detect_every or 1
    per_frame, n = detect_video(path, be, every, max_frames)
    complete = max_frames is None or n < max_frames
    vt = VideoTracks(str(path), n, be.key, build_tracks(per_frame), detect_every=every, complete=complete)
    if cfile is not None:
        save_tracks(vt, cfile)
    return _cut(vt, max_frames, min_len)


def _cut(vt: VideoTracks, max_frames: int | None, min_len: int) -> VideoTracks:
    """Tracks restricted to the first ``max_frames`` frames and at least ``min_len`` long."""
    if (max_frames is None or max_frames >= vt.n_frames) and min_len <= 1:
        return vt
    tracks = []
    for t in vt.tracks:
        k = len(t) if max_frames is None else int(np.searchsorted(t.frames, max_frames))
        if k >= max(min_len, 1):
            tracks.append(Track(t.track_id, t.frames[:k], t.boxes[:k], t.kps[:k], t.scores[:k],
                                None if t.landmarks is None else t.landmarks[:k]))
    n = vt.n_frames if max_frames is None else min(vt.n_frames, max_frames)
    return VideoTracks(vt.path, n, vt.detector, tracks, vt.detect_every, vt.complete and n == vt.n_frames)


