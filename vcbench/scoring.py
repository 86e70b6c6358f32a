"""Video scoring with a clip detector, preprocessed as AltFreezing released it.

Per face track: crop each frame's box enlarged 2x (clipped to the frame), fit ONE similarity
per clip from all its 5-point landmarks to the template, warp to ``size`` px, normalise.
``dense``: windows at stride 1 (the official demo); ``sparse``: K evenly spaced windows.
Tracks shorter than a clip are padded by bouncing back and forth, and recorded as padded.
Video score = mean clip sigmoid per track; the video's score is its highest-scoring track.
A background thread decodes, tracks and aligns while the model runs.
"""
from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FaceError, VcbenchError
from .fileio import atomic_path

DEFAULT_SPARSE_CLIPS = 4


def bounce(n: int, length: int) -> list[int]:
    """0..n-1, n-2..0, 1..: the release's padding of short tracks to ``length``."""
    if n <= 0:
        return []
    if n == 1:
        return [0] * length
    cycle = list(range(n)) + list(range(n - 2, 0, -1))
    return [cycle[i % len(cycle)] for i in range(length)]


def clip_starts(n: int, length: int, mode: str, k: int | None = None) -> list[int]:
    if n <= length:
        return [0]
    last = n - length
    if mode == "dense":
        return list(range(last + 1))
    k = k or DEFAULT_SPARSE_CLIPS
    if k == 1:
        return [last // 2]
    return sorted({int(round(i * last / (k - 1))) for i in range(k)})


@dataclass
class TrackCrops:
    track_id: int
    frames: np.ndarray            # (n,) frame indices
    crops: list[np.ndarray]       # n RGB crops of the enlarged boxes
    kps: np.ndarray               # (n, 5, 2) in crop coordinates


@dataclass
class TrackScore:
    track_id: int
    first_frame: int
    last_frame: int
    n_clips: int
    padded: bool
    score: float
    frame_scores: dict[int, float] = field(default_factory=dict)


@dataclass
class VideoScore:
    video: str
    tracks: list[TrackScore]
    mode: str

    @property
    def score(self) -> float:
        return max(t.score for t in self.tracks)

    def line(self) -> str:
        parts = [f"track {t.track_id}: {t.score:.4f} (frames {t.first_frame}-{t.last_frame}, {t.n_clips} clip(s)"
                 + (", padded" if t.padded else "") + ")" for t in self.tracks]
        return f"{self.video}: {self.score:.4f}  [" + "; ".join(parts) + "]"


def collect_crops(video: Path, tracks, box_scale: float, max_frames: int | None) -> list[TrackCrops]:
    """Decode the video once, cutting every track's enlarged-box crop per frame."""
    from .faces.align import enlarge_box
    from .video import iter_frames

    out = {t.track_id: TrackCrops(t.track_id, t.frames, [], np.zeros((len(t), 5, 2), np.float32)) for t in tracks}
    by_frame: dict[int, list] = {}
    for t in tracks:
        for row, f in enumerate(t.frames):
            by_frame.setdefault(int(f), []).append((t, row))
    last = max(by_frame) if by_frame else -1
    for i, rgb in iter_frames(video, stop=min(last + 1, max_frames or last + 1)):
        h, w = rgb.shape[:2]
        for t, row in by_frame.get(i, []):
            x1, y1, x2, y2 = enlarge_box(t.boxes[row], box_scale, w, h)
            tc = out[t.track_id]
            tc.crops.append(rgb[y1:y2, x1:x2].copy())
            tc.kps[row] = t.kps[row] - np.array([x1, y1], np.float32)
    result = []
    for tc in out.values():
        n = len(tc.crops)
        result.append(TrackCrops(tc.track_id, tc.frames[:n], tc.crops, tc.kps[:n]))
    return [tc for tc in result if len(tc.crops)]


def clip_array(tc: TrackCrops, start: int, pp) -> tuple[np.ndarray, list[int]]:
    """(T, S, S, 3) uint8 aligned clip and the track rows it used."""
    from .faces.align import align_clip

    n = len(tc.crops)
    rows = [start + i for i in range(pp.clip_len)] if n >= pp.clip_len else bounce(n, pp.clip_len)
    arr = align_clip([tc.crops[r] for r in rows], tc.kps[rows], pp.template_px(), pp.size)
    return arr, rows


def to_tensor(clips: np.ndarray, pp):
    """(N, T, S, S, 3) uint8 -> (N, 3, T, S, S) float normalised with the weights' mean/std."""
    import torch

    x = torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float()
    mean = torch.tensor(pp.mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(pp.std).view(1, 3, 1, 1, 1)
    return (x - mean) / std


def _producer(videos, pp, mode, k, max_frames, backend, cache_dir, batch, q, stop):
    from .faces.tracking import track_video

    for vi, video in enumerate(videos):
        if stop.is_set():
            return
        try:
            vt = track_video(video, backend=backend, max_frames=max_frames, cache_dir=cache_dir)
            if not vt.tracks:
                raise FaceError(f"{video}: no face found; nothing scored")
            crops = collect_crops(Path(video), vt.tracks, pp.box_scale, max_frames)
            plan = [(tc, s) for tc in crops for s in clip_starts(len(tc.crops), pp.clip_len, mode, k)]
            q.put(("video", vi, crops, len(plan)))
            for j in range(0, len(plan), batch):
                chunk = plan[j:j + batch]
                arrs, meta = [], []
                for tc, s in chunk:
                    a, rows = clip_array(tc, s, pp)
                    arrs.append(a)
                    meta.append((tc.track_id, [int(tc.frames[r]) for r in rows]))
                q.put(("batch", vi, to_tensor(np.stack(arrs), pp), meta))
        except VcbenchError as e:
            q.put(("error", vi, str(e), None))
        except Exception as e:  # noqa: BLE001 - one bad video must not stop the batch
            q.put(("error", vi, f"{video}: {type(e).__name__}: {e}", None))
    q.put(("done", None, None, None))


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def score_videos(videos: list[Path], model: str = "altfreezing", checkpoint=None, mode: str = "sparse",
                 clips: int | None = None, device: str = "auto", max_frames: int | None = 400,
                 timeline: Path | None = None, batch_size: int = 8, backend: str = "mediapipe",
                 cache_dir=None, detector=None) -> tuple[list[VideoScore], list[tuple[str, str]]]:
    """Score each video; returns (scores, failures). A video with no face is a failure, named."""
    import torch

    from .models import load_detector

    dev = resolve_device(device)
    net = detector if detector is not None else load_detector(model, checkpoint, dev)
    pp = net.preprocess
    cuda = dev.startswith("cuda")
    if cuda:
        net = net.to(memory_format=torch.channels_last_3d)
    q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    th = threading.Thread(target=_producer, daemon=True,
                          args=([Path(v) for v in videos], pp, mode, clips, max_frames, backend, cache_dir,
                                batch_size, q, stop))
    th.start()
    acc: dict[int, dict] = {}
    results: dict[int, VideoScore] = {}
    failures: list[tuple[str, str]] = []
    try:
        while True:
            kind, vi, a, b = q.get()
            if kind == "done":
                break
            if kind == "error":
                failures.append((str(videos[vi]), a))
                continue
            if kind == "video":
                acc[vi] = {"left": b, "clips": {tc.track_id: [] for tc in a},
                           "frames": {tc.track_id: (int(tc.frames[0]), int(tc.frames[-1]), len(tc.crops)) for tc in a}}
                continue
            x = a.to(dev, non_blocking=True)
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last_3d)
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                p = torch.sigmoid(net(x).float()).squeeze(1).cpu().numpy()
            st = acc[vi]
            for prob, (tid, frames) in zip(p, b):
                st["clips"][tid].append((float(prob), frames))
            st["left"] -= len(b)
            if st["left"] == 0:
                results[vi] = _finish(videos[vi], st, pp, mode)
    finally:
        stop.set()
    out = [results[i] for i in sorted(results)]
    if timeline is not None:
        write_timeline(out, Path(timeline))
    return out, failures


def _finish(video, st, pp, mode) -> VideoScore:
    tracks = []
    for tid, clips in st["clips"].items():
        first, last, n = st["frames"][tid]
        per_frame: dict[int, list[float]] = {}
        for prob, frames in clips:
            for f in set(frames):
                per_frame.setdefault(f, []).append(prob)
        tracks.append(TrackScore(tid, first, last, len(clips), n < pp.clip_len,
                                 float(np.mean([c[0] for c in clips])),
                                 {f: float(np.mean(v)) for f, v in sorted(per_frame.items())}))
    return VideoScore(str(video), tracks, mode)


def write_timeline(results: list[VideoScore], path: Path) -> None:
    """Per-frame scores: CSV (video, track_id, frame, score) or JSON, by the file's suffix."""
    rows = [{"video": r.video, "track_id": t.track_id, "frame": f, "score": round(s, 6)}
            for r in results for t in r.tracks for f, s in t.frame_scores.items()]
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps(rows, indent=1))
        else:
            import csv

            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["video", "track_id", "frame", "score"])
                w.writeheader()
                w.writerows(rows)
