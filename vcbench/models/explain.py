"""A detector's Grad-CAM maps over a video, window by window, cut exactly as the scorer cuts
(the same tracks, windows, crop policy and alignment the network declares): what ``vcbench
explain`` and ``benchmark --explain`` write.

``<stem>.npz``: ``maps`` (N, T, M, M) float16 in [0, 1] (M = ``map_size``), ``to_map`` (N, T, 2, 3)
frame pixels -> map pixels (``cv2.warpAffine(map, to_map, (W, H), flags=WARP_INVERSE_MAP)`` lays
a map on its frame), ``frames`` (N, T) source frame indices, ``boxes`` (N, T, 4), ``track`` (N,),
``score`` (N,) probability of fake, ``importance`` (N, T), ``meta`` (JSON). The PNG strips: a
window's crops above, their heatmap overlays below.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FaceError, VcbenchError


@dataclass
class Explained:
    """One video's maps (what the npz holds), in the order the windows were scored."""

    video: Path
    fps: float
    n_frames: int
    size: tuple[int, int]                    # (W, H) of the video
    track: list[int] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)      # (T,) source frame indices
    boxes: list[np.ndarray] = field(default_factory=list)       # (T, 4)
    to_map: list[np.ndarray] = field(default_factory=list)      # (T, 2, 3)
    maps: list[np.ndarray] = field(default_factory=list)        # (T, M, M) float16
    score: list[float] = field(default_factory=list)
    importance: list[np.ndarray] = field(default_factory=list)  # (T,)
    extremes: dict = field(default_factory=dict)                # "most"/"least" -> (index, clip uint8, maps)

    def keep_extremes(self, i: int, clip: np.ndarray, maps: np.ndarray) -> None:
        s = self.score[i]
        for kind, better in (("most", lambda a, b: a > b), ("least", lambda a, b: a < b)):
            have = self.extremes.get(kind)
            if have is None or better(s, self.score[have[0]]):
                self.extremes[kind] = (i, clip, maps)


def _map_matrix(m: np.ndarray, size: int, map_size: int) -> np.ndarray:
    """Frame -> clip (S px) matrices composed with clip -> map (M px, pixel centres kept)."""
    r = map_size / size
    a = np.array([[r, 0.0, 0.5 * r - 0.5], [0.0, r, 0.5 * r - 0.5], [0.0, 0.0, 1.0]])
    full = np.concatenate([m, np.broadcast_to([[[0.0, 0.0, 1.0]]], (len(m), 1, 3))], axis=1)
    return (a @ full)[:, :2]


def explain_video(video: Path, net, device: str, backend, method: str = "gradcam", layer: str | None = None,
                  mode: str = "dense", clips: int | None = None, map_size: int = 56, batch_size: int = 4,
                  max_frames: int = 400, cache_dir=None) -> Explained:
    """Track the faces, cut every window the detector would score (``mode``/``clips`` as
    ``score``'s), take each one's map (:func:`vcbench.models.cam.cam`)."""
    import cv2
    import torch

    from ..faces.tracking import track_video
    from .cam import cam, frame_importance
    from ..video import probe
    from .preprocess import frame_to_clip, normalise, window_plan

    pp = net.preprocess
    info = probe(video)
    vt = track_video(video, backend=backend, max_frames=max_frames, cache_dir=cache_dir)
    tracks = [t for t in vt.tracks if len(t)]
    if not tracks:
        raise FaceError(f"{video}: no face found; nothing explained")
    _, plan = window_plan(video, tracks, vt.n_frames, pp, mode, clips, every_frame=mode == "dense")
    if not plan:
        raise FaceError(f"{video}: the face tracks could not be cut from the decoded frames")
    ex = Explained(video, info.fps, info.frames, (info.width, info.height))
    for j in range(0, len(plan), batch_size):
        part = plan[j:j + batch_size]
        clips = np.stack([tc.clip(rows, pp) for tc, rows in part])             # (B, T, S, S, 3) uint8
        x = normalise(torch.from_numpy(clips).to(device), pp)
        maps, logits = cam(net, x, method, layer)                      # (B, T, S, S), (B,)
        probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        imp = frame_importance(maps)
        for k, (tc, rows) in enumerate(part):
            small = np.stack([cv2.resize(f, (map_size, map_size), interpolation=cv2.INTER_AREA)
                              for f in maps[k]]).astype(np.float16)
            ex.track.append(int(tc.track_id))
            ex.frames.append(tc.frames[rows].astype(np.int64))
            ex.boxes.append(tc.boxes[rows].astype(np.float32))
            ex.to_map.append(_map_matrix(frame_to_clip(tc.crop_boxes[rows], tc.kps[rows], pp), pp.size, map_size))
            ex.maps.append(small)
            ex.score.append(float(probs[k]))
            ex.importance.append(imp[k].astype(np.float32))
            ex.keep_extremes(len(ex.score) - 1, clips[k], maps[k])
    return ex


def write_npz(ex: Explained, path: Path, meta: dict) -> Path:
    from ..fileio import write_npz as write

    return write(path, maps=np.stack(ex.maps), to_map=np.stack(ex.to_map).astype(np.float32),
                 frames=np.stack(ex.frames), boxes=np.stack(ex.boxes), track=np.asarray(ex.track, np.int64),
                 score=np.asarray(ex.score, np.float32), importance=np.stack(ex.importance),
                 meta=np.array(json.dumps(meta)))


def strip(clip: np.ndarray, maps: np.ndarray, columns: int = 8) -> np.ndarray:
    """Crops above, heatmap overlays below, for up to ``columns`` evenly spaced clip frames."""
    from ..overlay import blend_heat

    pick = sorted({int(i) for i in np.linspace(0, len(clip) - 1, min(columns, len(clip)))})
    top = np.concatenate([clip[i] for i in pick], axis=1)
    bottom = np.concatenate([blend_heat(clip[i], maps[i], 0.6) for i in pick], axis=1)
    return np.concatenate([top, bottom], axis=0)


def write_png(img: np.ndarray, path: Path) -> Path:
    import cv2

    from ..fileio import atomic_path

    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[..., ::-1]))
        if not ok:
            raise VcbenchError(f"{path}: the PNG could not be encoded")
        Path(tmp).write_bytes(buf.tobytes())
    return path
