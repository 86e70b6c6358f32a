"""The inference loop: face tracks + decoded frames -> clip probabilities -> video scores.

Preprocessing is ``models.preprocess`` (the release's alignment, one definition); this module
only schedules it. A background thread tracks, decodes and aligns while the model runs; if the
model fails, the thread is stopped and the error reaches the caller (never a hang).

Defaults follow the AltFreezing release: tracks that start in the first frame and span the
video (else the longest track), video score = the mean sigmoid over every clip of every track
(``aggregate="mean"``), fp32. ``aggregate="max-track"`` takes the highest track mean instead
(multi-face videos). ``mode="sparse"`` scores ``clips`` evenly spaced windows per track instead
of every window (``dense``, the release's demo).
"""
from __future__ import annotations

import dataclasses
import json
import math
import queue
import threading
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .batch import BatchResult
from .config import Precision, ScoreSettings, Tracking
from .errors import FaceError, VcbenchError
from .fileio import atomic_path, error_line, write_npz
from .models.preprocess import (Preprocess, memory_format, normalise,
                                window_plan)
from .runtime import resolve_device, resolve_precision

TRACKINGS = typing.get_args(Tracking)
PRECISIONS = typing.get_args(Precision)


@dataclass
class TrackScore:
    track_id: int
    first_frame: int
    last_frame: int
    n_clips: int
    padded: bool
    score: float                                  # mean clip probability of this track
    clip_scores: list[float] = field(default_factory=list)
    frame_scores: dict[int, float] = field(default_factory=dict)
    #: (start frame, probability) of each unpadded window of consecutive frames, in start order:
    #: what a stream scores (``benchmark --streaming``'s window file)
    windows: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class VideoScore:
    video: str
    tracks: list[TrackScore]
    mode: str
    aggregate: str = "mean"
    n_frames: int = 0               # frames the tracks were searched in (max_frames applied)

    @property
    def n_clips(self) -> int:
        return sum(t.n_clips for t in self.tracks)

    @property
    def score(self) -> float:
        """Probability of fake: mean over every clip of every track (AltFreezing), the best track,
        or per frame the most fake face then the mean over frames (SBI)."""
        if self.aggregate == "max-track":
            return max(t.score for t in self.tracks)
        if self.aggregate == "max-face-mean-frame":
            per_frame: dict[int, float] = {}
            for t in self.tracks:
                for f, v in t.frame_scores.items():
                    per_frame[f] = max(per_frame.get(f, -1.0), v)
            return float(np.mean(list(per_frame.values())))
        return float(np.mean([c for t in self.tracks for c in t.clip_scores]))

    def line(self) -> str:
        parts = [f"track {t.track_id}: {t.score:.4f} (frames {t.first_frame}-{t.last_frame}, {t.n_clips} clip(s)"
                 + (", padded" if t.padded else "") + ")" for t in self.tracks]
        return f"{self.video}: {self.score:.4f}  [" + "; ".join(parts) + "]"


def resolve_settings(settings: ScoreSettings | None = None, device: str = "auto", **overrides) -> ScoreSettings:
    """``settings`` with ``overrides`` applied and ``precision="auto"`` resolved for ``device``:
    the settings as they will run, which is what gets recorded."""
    st = settings or ScoreSettings()
    if overrides:
        st = dataclasses.replace(st, **overrides)
    if st.precision == "auto":
        st = dataclasses.replace(st, precision=resolve_precision(st.precision, resolve_device(device)))
    return st


def select_tracks(vt, tracking: str):
    """``release``: the tracks that start at frame 0 and span every frame, else the longest one
    (AltFreezing's demo); ``all``: every track."""
    if tracking == "all":
        return list(vt.tracks)
    full = [t for t in vt.tracks if int(t.frames[0]) == 0 and len(t) == vt.n_frames]
    if full:
        return full
    longest = vt.longest()
    return [longest] if longest is not None else []


class _Stopped(Exception):
    pass


# --- what the producer thread hands the model loop, in order, per video ----------------------

@dataclass
class _VideoCut:
    """A video's tracks are cut; ``clips`` windows follow in :class:`_ClipBatch` records."""
    index: int
    crops: list                     # TrackCrops of the scored tracks
    clips: int
    n_frames: int = 0


@dataclass
class _ClipBatch:
    index: int
    clips: np.ndarray               # (N, T, S, S, 3) uint8: normalised on the device
    windows: list                   # per clip: (track id, the source frame of each of its T rows)


@dataclass
class _VideoFailed:
    index: int
    why: str


class _End:
    """Every video has been handed over."""


@dataclass
class _Broken:
    """The producer itself failed (not one video): the loop stops with this reason."""
    why: str


@dataclass
class _VideoState:
    """What the model loop gathers for one video until its last clip is scored."""
    left: int
    clips: dict[int, list[tuple[float, list[int]]]]          # track id -> (probability, source frames)
    spans: dict[int, tuple[int, int, int]]                   # track id -> (first frame, last frame, length)
    n_frames: int = 0

    @classmethod
    def of(cls, cut: _VideoCut) -> "_VideoState":
        return cls(cut.clips, {tc.track_id: [] for tc in cut.crops},
                   {tc.track_id: (int(tc.frames[0]), int(tc.frames[-1]), len(tc)) for tc in cut.crops}, cut.n_frames)


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    """Put without ever blocking forever: give up once the consumer has stopped."""
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def label_tracks_of(vt, want, tracking: str) -> list:
    """The tracks to score: ``want`` = a video's ``label_tracks`` (the faces its label is true of:
    track ids, ``"all"``, or None for the settings' own ``tracking``)."""
    if want is None:
        return select_tracks(vt, tracking)
    if want == "all":
        return list(vt.tracks)
    chosen = [t for t in vt.tracks if t.track_id in want]
    if not chosen:
        raise FaceError(f"{vt.path}: the face track(s) its label is true of ({';'.join(map(str, want))}) are not "
                        f"among the tracks found ({', '.join(str(t.track_id) for t in vt.tracks) or 'none'})")
    return chosen


def _producer(videos, pp: Preprocess, st: ScoreSettings, backend_name, cache_dir, dump_dir, q, stop, labels):
    from .faces.tracking import LazyBackend, track_video

    backend = None
    try:
        for vi, video in enumerate(videos):
            if stop.is_set():
                return
            try:
                if backend is None:      # one backend per run, built only when a video needs detecting
                    backend = LazyBackend(backend_name)
                vt = track_video(video, backend=backend, max_frames=st.max_frames, cache_dir=cache_dir)
                # a frame detector sees every face its declaration keeps (frames sampled over the video)
                tracking = "all" if st.stream or pp.input == "frames" else st.tracking
                tracks = label_tracks_of(vt, labels.get(str(video)), tracking)
                if not tracks:
                    raise FaceError(f"{video}: no face found; nothing scored")
                # a stream scores every window (a frame detector every frame it sees)
                crops, plan = window_plan(video, tracks, vt.n_frames, pp, "dense" if st.stream else st.mode,
                                          st.clips, every_frame=st.stream)
                if not plan:
                    raise FaceError(f"{video}: the face tracks could not be cut from the decoded frames")
                _put(q, _VideoCut(vi, crops, len(plan), vt.n_frames), stop)
                for j in range(0, len(plan), st.batch_size):
                    arrs, meta = [], []
                    for tc, rows in plan[j:j + st.batch_size]:
                        a = tc.clip(rows, pp)
                        arrs.append(a)
                        meta.append((tc.track_id, [int(tc.frames[r]) for r in rows]))
                        if dump_dir is not None:
                            dump_clip(Path(dump_dir), Path(video), tc, rows, a)
                    _put(q, _ClipBatch(vi, np.stack(arrs), meta), stop)
            except _Stopped:
                return
            except (VcbenchError, OSError) as e:
                _put(q, _VideoFailed(vi, error_line(e)), stop)
            except Exception as e:  # noqa: BLE001 - one bad video must not stop the batch
                _put(q, _VideoFailed(vi, f"{video}: {type(e).__name__}: {e}"), stop)
        _put(q, _End(), stop)
    except _Stopped:
        return
    except BaseException as e:  # noqa: BLE001 - the model loop must hear of it, never wait forever
        try:
            _put(q, _Broken(f"{type(e).__name__}: {e}"), stop)
        except _Stopped:
            pass
    finally:
        if backend is not None:
            backend.close()


def dump_clip(root: Path, video: Path, tc, rows: list[int], clip: np.ndarray) -> Path:
    """``root/<video stem>/t<track>_s<first frame>.npz``: the uint8 clip exactly as normalised and fed,
    its source frame indices, detector boxes and 5 points (frame pixels)."""
    rows_a = np.asarray(rows)
    path = root / video.stem / f"t{tc.track_id}_s{int(tc.frames[rows_a[0]])}.npz"
    return write_npz(path, clip=clip, frames=tc.frames[rows_a].astype(np.int64),
                     boxes=tc.boxes[rows_a].astype(np.float32), kps=tc.kps[rows_a].astype(np.float32))


def _next(q: queue.Queue, th: threading.Thread):
    """The producer's next record; if its thread has died without a word (it never should), the
    loop ends with an error instead of waiting forever."""
    while True:
        try:
            return q.get(timeout=1.0)
        except queue.Empty:
            if not th.is_alive() and q.empty():
                return _Broken("the decoding thread ended without finishing")


class ClipScorer:
    """A network's probabilities for aligned uint8 clips ``(N, T, S, S, 3)``: normalised with its
    declared mean/std, channels-last, bf16 autocast when ``precision`` says so. The one forward of
    ``score_videos`` and ``vcbench watch``."""

    def __init__(self, net, device: str = "cpu", precision: str = "fp32"):
        self.net, self.device, self.preprocess = net, device, net.preprocess
        self.net = net.to(memory_format=memory_format(self.preprocess))
        self.bf16 = precision == "bf16"
        self.dev_type = "cuda" if device.startswith("cuda") else "cpu"

    def __call__(self, clips) -> np.ndarray:
        import torch

        x = normalise(torch.from_numpy(np.ascontiguousarray(clips)).to(self.device, non_blocking=True),
                      self.preprocess)
        if self.preprocess.input == "clip":
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.inference_mode(), torch.autocast(self.dev_type, dtype=torch.bfloat16, enabled=self.bf16):
            return torch.sigmoid(self.net(x).float()).squeeze(1).cpu().numpy()


def score_videos(videos: list[Path], model: str = "altfreezing", checkpoint=None, settings: ScoreSettings | None = None,
                 device: str = "auto", timeline: Path | None = None, backend: str = "mediapipe", cache_dir=None,
                 network=None, dump_clips: Path | None = None, label_tracks: dict | None = None,
                 **overrides) -> tuple[list[VideoScore], BatchResult]:
    """Score each video; returns (scores, batch). A video with no face is a failure, named.

    ``label_tracks``: path -> the face tracks its label is true of (track ids or ``"all"``;
    ``contracts.parse_label_tracks``); a video not in it is scored by ``settings.tracking``.

    ``network``: a loaded network (else ``model`` + ``checkpoint`` are loaded). What it is fed
    comes from its declared input (``network.preprocess``); ``settings.aggregate`` None takes the
    declared aggregation. ``overrides`` are ScoreSettings fields (``mode=``, ``clips=``, ...).
    """
    from .models import load_network

    st = resolve_settings(settings, device, **overrides)
    dev = resolve_device(device)
    net = network if network is not None else load_network(model, checkpoint, dev)
    pp = net.preprocess
    if st.aggregate is None:
        st = dataclasses.replace(st, aggregate=pp.aggregate)
    forward = ClipScorer(net, dev, st.precision)
    q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    th = threading.Thread(target=_producer, daemon=True,
                          args=([Path(v) for v in videos], pp, st, backend, cache_dir, dump_clips, q, stop,
                                {str(Path(k)): v for k, v in (label_tracks or {}).items()}))
    th.start()
    state: dict[int, _VideoState] = {}
    results: dict[int, VideoScore] = {}
    batch = BatchResult("videos")
    try:
        while not isinstance(rec := _next(q, th), _End):
            if isinstance(rec, _Broken):
                raise VcbenchError(f"scoring stopped: {rec.why}")
            if isinstance(rec, _VideoFailed):
                batch.fail(videos[rec.index], rec.why)
                continue
            if isinstance(rec, _VideoCut):
                state[rec.index] = _VideoState.of(rec)
                continue
            p = forward(rec.clips)
            vs = state[rec.index]
            for prob, (tid, frames) in zip(p, rec.windows):
                vs.clips[tid].append((float(prob), frames))
            vs.left -= len(rec.windows)
            if vs.left == 0:
                res = _finish(videos[rec.index], vs, pp, st)
                bad = sum(not math.isfinite(c) for t in res.tracks for c in t.clip_scores)
                if bad:          # NaN/inf weights or input: a failed video, never a score
                    batch.fail(videos[rec.index], f"the model gave a non-finite score (NaN or inf) for {bad} of "
                                                  f"{res.n_clips} clip(s); its weights may hold NaN")
                else:
                    results[rec.index] = res
                    batch.done += 1
                del state[rec.index]
    finally:
        stop.set()
        th.join(timeout=30)
    out = [results[i] for i in sorted(results)]
    if timeline is not None:
        write_timeline(out, Path(timeline))
    return out, batch


def _finish(video, vs: _VideoState, pp: Preprocess, st: ScoreSettings) -> VideoScore:
    tracks = []
    for tid, clips in vs.clips.items():
        if not clips:
            continue
        first, last, n = vs.spans[tid]
        per_frame: dict[int, list[float]] = {}
        for prob, frames in clips:
            for f in frames:              # as released: a frame repeated by padding counts each time
                per_frame.setdefault(f, []).append(prob)
        probs = [c[0] for c in clips]
        stream = sorted((frames[0], prob) for prob, frames in clips
                        if all(b == a + 1 for a, b in zip(frames, frames[1:])))   # padded windows repeat frames
        tracks.append(TrackScore(tid, first, last, len(clips), n < pp.clip_len, float(np.mean(probs)), probs,
                                 {f: float(np.mean(v)) for f, v in sorted(per_frame.items())}, stream))
    return VideoScore(str(video), tracks, "dense" if st.stream else st.mode, st.aggregate, vs.n_frames)


SCORE_COLUMNS = ["video", "score", "aggregate", "tracks", "track_scores", "clips", "model", "checkpoint",
                 "checkpoint_sha256", "mode", "clips_per_track", "tracking", "precision", "max_frames"]


def write_scores(results: list, path: Path, model: str, checkpoint=None, settings: dict | None = None,
                 sha256: str | None = None) -> Path:
    """One row per video: the score (probability of fake), how it was aggregated, per-track
    scores, clips, the model and the SHA-256 of its checkpoint, preprocessing choices and precision.
    ``.json`` writes a list of objects with per-track scores as a mapping; anything else CSV."""
    from .fileio import write_csv, write_json

    from .models.checkpoint import CheckpointFile

    sha = sha256 or (CheckpointFile(checkpoint).sha256 if checkpoint is not None else None)
    st = settings or {}
    rows = []
    for r in results:
        rows.append({"video": r.video, "score": round(r.score, 6), "aggregate": r.aggregate, "tracks": len(r.tracks),
                     "track_scores": {str(t.track_id): round(t.score, 6) for t in r.tracks}, "clips": r.n_clips,
                     "model": model, "checkpoint": str(checkpoint) if checkpoint else "untrained (seed 0)",
                     "checkpoint_sha256": sha, "mode": r.mode, "clips_per_track": st.get("clips_per_track"),
                     "tracking": st.get("tracking"), "precision": st.get("precision"),
                     "max_frames": st.get("max_frames")})
    path = Path(path)
    if path.suffix.lower() == ".json":
        return write_json(path, rows)
    for row in rows:
        row["track_scores"] = ";".join(f"{k}:{v}" for k, v in row["track_scores"].items())
    return write_csv(path, rows, SCORE_COLUMNS)


TIMELINE_COLUMNS = ["video", "track_id", "frame", "score", "source", "repeat", "keyframe", "resolution", "kbps"]


def write_timeline(results: list[VideoScore], path: Path) -> None:
    """Per-frame scores: CSV (``TIMELINE_COLUMNS``) or JSON, by the file's suffix. Where the video
    has the simulator's event track (``<video>.events.jsonl``), each frame carries what the call
    did to it (the input frame shown, a repeat, a keyframe, the resolution, the rate); else those
    columns are empty."""
    from .contracts import read_call_events

    rows = []
    for r in results:
        events = {e["frame"]: e for e in (read_call_events(r.video) or [])}
        for t in r.tracks:
            for f, s in t.frame_scores.items():
                e = events.get(int(f), {})
                rows.append({"video": r.video, "track_id": t.track_id, "frame": f, "score": round(s, 6),
                             **{k: e.get(k) for k in ("source", "repeat", "keyframe", "resolution", "kbps")}})
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps(rows, indent=1))
        else:
            import csv

            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=TIMELINE_COLUMNS)
                w.writeheader()
                w.writerows(rows)
