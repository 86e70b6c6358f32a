"""AltFreezing's clip preprocessing as released: the ONE definition that ``score``, finetune's
data loader and the benchmark all use.

Layouts: frames and crops are ``(H, W, 3)`` uint8 RGB; an aligned clip is ``(T, S, S, 3)``
uint8 (what ``--dump-clips`` writes); a normalised clip is a ``(C, T, H, W)`` float tensor and a
batch ``(N, C, T, H, W)``.

What the release does, step by step (shared reference/altfreezing.md):

1. per frame, the detector box is rounded, grown by half its size on every side, clipped to
   ``[0, width - 1] x [0, height - 1]`` and rounded again (:func:`crop_box`); the crop is cut;
2. per clip, all crops share ONE coordinate frame whose origin is the clip's smallest crop
   top-left; each frame's 5 points are moved into it;
3. ONE non-reflective similarity is fitted by least squares from the template (repeated T
   times) to the T x 5 points, i.e. template -> image, and inverted (:func:`clip_transform`);
4. each crop is warped with that transform plus its own offset, bilinear, black border,
   straight to S x S (:func:`align_clip`);
5. windows of T frames slide along a track; a track shorter than T is mirror-padded by T - 1
   frames on each side and every window of the padded sequence is scored (:func:`track_windows`).
"""
from __future__ import annotations

import typing
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from ..config import DEFAULT_SPARSE_CLIPS, Aggregate

#: the release's ``std_points_256`` (x-ray template at 317 px, +30 padding, shifted by (-30, -60))
STD_POINTS_256 = ((85.82991, 85.7792), (169.0532, 84.3381), (127.574, 137.0006), (90.6964, 174.7014),
                  (167.3069, 173.3733))
#: the same template at 224 px (``std_points_256 * 224 / 256``), in a 224 px frame
TEMPLATE_224 = tuple((x * 224 / 256, y * 224 / 256) for x, y in STD_POINTS_256)


#: what a network takes: ``clip`` = (C, T, H, W) windows along a face track; ``frames`` = single
#: frames, ``frames`` of them sampled evenly over the video (a (C, 1, H, W) clip each)
INPUTS = ("clip", "frames")
#: how the face is cut: ``align5`` = the release's one 5-point similarity per clip (see module doc;
#: for a frame detector, per frame); ``box`` = the detector box grown by ``box_scale`` around its
#: centre, clipped to the frame and resized to S x S without keeping its aspect (SBI's crop)
CROPS = ("align5", "box")
#: how window scores become the video's: ``mean`` over every window of every track (AltFreezing's),
#: ``max-track`` = the highest track mean, ``max-face-mean-frame`` = per sampled frame the most
#: fake face, then the mean over frames (SBI's)
AGGREGATES = typing.get_args(Aggregate)
#: which faces of a sampled frame a frame detector scores: ``all``; ``half-largest`` = those at
#: least half the largest one's area (SBI's); ``largest`` = one per frame (DeepfakeBench's crops)
FACES = ("all", "half-largest", "largest")


@dataclass(frozen=True)
class Preprocess:
    """A network's input, declared with its weights (timm's pretrained cfg): what the scorer must
    feed it, stored in vcbench checkpoints. The scorer reads this and nothing else about the
    network, so a detector with another declaration needs no change in ``scoring``.

    ``input``/``crop``/``aggregate``/``faces``: see INPUTS, CROPS, AGGREGATES, FACES; ``clip_len``:
    frames per window (1 for a frame detector); ``frames``: frames sampled per video by a frame
    detector; ``size``: S of the S x S crop; ``mean``/``std``: per RGB channel on the 0-255 scale."""

    clip_len: int = 32
    size: int = 224
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)   # RGB, 0-255 scale
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    box_scale: float = 2.0        # box enlarged by half its size on every side
    template: tuple = TEMPLATE_224  # in a 224 px frame; scaled to ``size``
    input: str = "clip"
    crop: str = "align5"
    aggregate: str = "mean"
    frames: int = 32
    faces: str = "all"

    def __post_init__(self):
        for key, allowed in (("input", INPUTS), ("crop", CROPS), ("aggregate", AGGREGATES), ("faces", FACES)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"preprocess {key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        if self.input == "frames" and self.clip_len != 1:
            raise ValueError(f"preprocess: a frame detector's clip_len is 1, got {self.clip_len}")

    def template_px(self) -> np.ndarray:
        return np.asarray(self.template, np.float64) * (self.size / 224.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Preprocess":
        """Inverse of :meth:`to_dict` (checkpoints store lists where the dataclass has tuples)."""
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        for k in ("mean", "std"):
            if k in known:
                known[k] = tuple(float(v) for v in known[k])
        if "template" in known:
            known["template"] = tuple(tuple(float(c) for c in p) for p in known["template"])
        return cls(**known)


# --- 1. crop boxes ---------------------------------------------------------------------

def crop_box(box: np.ndarray, width: int, height: int, box_scale: float = 2.0) -> np.ndarray:
    """The release's crop box (x1, y1, x2, y2) as ints: the rounded detector box grown by
    ``(box_scale - 1) / 2`` of its size on each side, clipped to the frame's last pixel, rounded."""
    b = np.rint(np.asarray(box, np.float64)).astype(np.int64).reshape(2, 2)
    grow = (box_scale - 1.0) / 2.0 * (b[1] - b[0])
    nb = b + np.array([-1.0, 1.0])[:, None] * grow[None, :]
    nb[:, 0] = np.clip(nb[:, 0], 0, width - 1)
    nb[:, 1] = np.clip(nb[:, 1], 0, height - 1)
    return np.rint(nb).astype(np.int64).reshape(-1)


# --- 2-4. one transform per clip --------------------------------------------------------

def clip_transform(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """2x3 image -> template similarity for all of a clip's points (cp2tform's non-reflective
    similarity: least squares template -> image, then inverted).

    points: (T, 5, 2) or (N, 2) in the clip's shared frame; template: (5, 2).
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    tpl = np.tile(np.asarray(template, np.float64), (len(pts) // len(template), 1))
    x, y = tpl[:, :1], tpl[:, 1:]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    a = np.vstack([np.hstack([x, y, ones, zeros]), np.hstack([y, -x, zeros, ones])])
    b = np.concatenate([pts[:, 0], pts[:, 1]])
    sc, ss, tx, ty = np.linalg.lstsq(a, b, rcond=None)[0]
    # template -> image: u = sc x + ss y + tx, v = -ss x + sc y + ty
    fwd = np.array([[sc, ss, tx], [-ss, sc, ty], [0.0, 0.0, 1.0]])
    return np.linalg.inv(fwd)[:2]


def align_clip(crops: list[np.ndarray], boxes: np.ndarray, kps: np.ndarray, template: np.ndarray,
               size: int) -> np.ndarray:
    """Warp a clip's crops with ONE transform in the clip's shared frame.

    crops: T RGB crops (crop i is ``frame[y1:y2, x1:x2]`` of ``boxes[i]``); boxes: (T, 4) int crop
    boxes in frame pixels; kps: (T, 5, 2) 5 points in frame pixels. Returns (T, size, size, 3)
    uint8, bilinear, black outside each crop.
    """
    import cv2

    boxes = np.asarray(boxes, np.int64)
    origin = boxes[:, :2].min(0)
    m = clip_transform(np.asarray(kps, np.float64) - origin, template)
    out = np.empty((len(crops), size, size, 3), np.uint8)
    for i, crop in enumerate(crops):
        mi = m.copy()
        mi[:, 2] += m[:, :2] @ (boxes[i, :2] - origin)   # the crop sits at its own offset in the frame
        out[i] = cv2.warpAffine(crop, mi, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


# --- 5. windows along a track ----------------------------------------------------------

def padded_rows(n: int, length: int) -> list[int]:
    """Track rows in scoring order: ``range(n)``, or for ``n < length`` the release's mirror
    padding with ``length - 1`` rows on each side (0..n-1 reflected without repeating the ends)."""
    inner = list(range(n))
    if n >= length or n == 0:
        return inner
    pad = length - 1
    back = inner[1:-1][::-1]
    post = (back + inner) * (pad // max(len(back + inner), 1) + 1)
    pre = (inner + back) * (pad // max(len(inner + back), 1) + 1)
    return pre[-pad:] + inner + post[:pad]


def window_starts(n: int, length: int, mode: str, k: int | None = None) -> list[int]:
    """Start positions of the scored windows in a sequence of ``n`` rows (``n >= length``).
    dense: every start (the release's demo); sparse: ``k`` evenly spaced starts (default 4)."""
    last = n - length
    if last < 0:
        return []
    if mode == "dense":
        return list(range(last + 1))
    k = k or DEFAULT_SPARSE_CLIPS
    if k == 1:
        return [last // 2]
    return sorted({int(round(i * last / (k - 1))) for i in range(k)})




def track_windows(n: int, length: int, mode: str = "dense", k: int | None = None) -> list[list[int]]:
    """The windows scored on a track of ``n`` frames: lists of ``length`` track rows."""
    seq = padded_rows(n, length)
    return [seq[s:s + length] for s in window_starts(len(seq), length, mode, k)]


# --- normalisation ----------------------------------------------------------------------

def memory_format(pp: Preprocess):
    """The channels-last layout of the network this input feeds: 3D convs for clips, 2D for frames
    (the model's weights; a frame detector's (N, 3, 1, S, S) input stays contiguous)."""
    import torch

    return torch.channels_last_3d if pp.input == "clip" else torch.channels_last


def normalise(clips, pp: Preprocess):
    """(N, T, S, S, 3) or (T, S, S, 3) uint8 (array, or tensor on any device) -> (N, 3, T, S, S)
    or (3, T, S, S) float32 tensor on the same device, normalised with the weights' mean/std on
    the 0-255 scale."""
    import torch

    x = clips if isinstance(clips, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(clips))
    single = x.ndim == 4
    if single:
        x = x[None]
    x = x.permute(0, 4, 1, 2, 3).float()
    mean = torch.tensor(pp.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(pp.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1, 1)
    x = (x - mean) / std
    return x[0] if single else x


# --- cutting crops from a decoded video -------------------------------------------------

@dataclass
class TrackCrops:
    """A face track's crops, cut once from the decoded video.

    ``crops`` holds only the rows some window needs (all rows for dense scoring).
    """

    track_id: int
    frames: np.ndarray        # (n,) frame index of each track row
    boxes: np.ndarray         # (n, 4) detector boxes, frame pixels
    kps: np.ndarray           # (n, 5, 2) 5 points, frame pixels
    crop_boxes: np.ndarray    # (n, 4) int crop boxes, frame pixels
    crops: dict[int, np.ndarray]

    def __len__(self) -> int:
        return len(self.frames)

    def clip(self, rows: list[int], pp: Preprocess) -> np.ndarray:
        """The (T, S, S, 3) uint8 clip of these track rows, cut as ``pp.crop`` declares."""
        return window_clip([self.crops[r] for r in rows], self.crop_boxes[rows], self.kps[rows], pp)


def window_clip(crops: list[np.ndarray], crop_boxes: np.ndarray, kps: np.ndarray, pp: Preprocess) -> np.ndarray:
    """A window's (T, S, S, 3) uint8 clip from its T crops (:func:`cut_crop`), their crop boxes
    and 5 points (frame pixels), cut as ``pp.crop`` declares: a file's tracks and a live stream's
    ring buffers both come here."""
    if pp.crop == "box":
        return box_clip(crops, pp.size)
    return align_clip(crops, np.asarray(crop_boxes), np.asarray(kps), pp.template_px(), pp.size)


def frame_to_clip(crop_boxes: np.ndarray, kps: np.ndarray, pp: Preprocess) -> np.ndarray:
    """``(T, 2, 3)``: for each frame of a window, the affine map from frame pixels to clip pixels
    that :func:`window_clip` applied (the clip's one similarity for aligned crops; the crop box's
    resize for ``box`` crops). ``cv2.warpAffine(map, M, (W, H), flags=WARP_INVERSE_MAP)`` puts a
    clip-space map back into the frame."""
    boxes = np.asarray(crop_boxes, np.float64).reshape(-1, 4)
    out = np.zeros((len(boxes), 2, 3))
    if pp.crop == "box":
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            sx, sy = pp.size / max(x2 - x1, 1.0), pp.size / max(y2 - y1, 1.0)     # cv2.resize's pixel centres
            out[i] = [[sx, 0.0, (0.5 - x1) * sx - 0.5], [0.0, sy, (0.5 - y1) * sy - 0.5]]
        return out
    origin = boxes[:, :2].min(0)
    m = clip_transform(np.asarray(kps, np.float64) - origin, pp.template_px())
    m = m.copy()
    m[:, 2] -= m[:, :2] @ origin
    out[:] = m
    return out


def cut_crop(rgb: np.ndarray, box: np.ndarray, pp: Preprocess) -> tuple[np.ndarray, np.ndarray]:
    """``(crop box, crop)`` of one detector box in one frame: the release's step 1 (a copy, so
    the frame can go); for ``box`` crops, SBI's margin box."""
    h, w = rgb.shape[:2]
    b = margin_box(box, w, h, pp.box_scale) if pp.crop == "box" else crop_box(box, w, h, pp.box_scale)
    return b, rgb[b[1]:b[3], b[0]:b[2]].copy()


def margin_box(box: np.ndarray, width: int, height: int, scale: float) -> np.ndarray:
    """SBI's test-time crop box: ``(scale - 1) / 2`` of the box's width and height added on each
    side, truncated to int, the far edge one pixel past (``int(x1 + m) + 1``), clipped to the
    frame (``[0, W]``, end exclusive)."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, np.float64).reshape(-1)[:4])
    mw, mh = (x1 - x0) * (scale - 1) / 2, (y1 - y0) * (scale - 1) / 2
    return np.array([max(0, int(x0 - mw)), max(0, int(y0 - mh)), min(width, int(x1 + mw) + 1),
                     min(height, int(y1 + mh) + 1)], np.int64)


def box_clip(crops: list[np.ndarray], size: int) -> np.ndarray:
    """``box`` crops resized to S x S (bilinear, the aspect not kept: SBI's ``cv2.resize``)."""
    import cv2

    return np.stack([cv2.resize(c, (size, size)) for c in crops])


def frame_windows(tracks, n_frames: int, pp: Preprocess) -> dict[int, list[list[int]]]:
    """A frame detector's windows: ``pp.frames`` frame indices spread evenly over ``n_frames``
    (``linspace(0, n - 1, k)`` truncated, duplicates once: SBI's sampling), and at each the faces
    ``pp.faces`` keeps; returns track id -> one-row windows (track rows)."""
    picks = sorted({int(i) for i in np.linspace(0, max(n_frames - 1, 0), pp.frames).astype(int)})
    out: dict[int, list[list[int]]] = {}
    for f in picks:
        here = []
        for t in tracks:
            r = int(np.searchsorted(t.frames, f))
            if r < len(t.frames) and int(t.frames[r]) == f:
                b = np.asarray(t.boxes[r], np.float64)
                here.append((float((b[2] - b[0]) * (b[3] - b[1])), t.track_id, r))
        if not here:
            continue
        top = max(a for a, _, _ in here)
        if pp.faces == "largest":
            here = [max(here)]
        elif pp.faces == "half-largest":
            here = [h for h in here if h[0] >= top / 2]
        for _, tid, r in here:
            out.setdefault(tid, []).append([r])
    return out


def cut_crops(frames, tracks, pp: Preprocess, rows_needed: Mapping[int, set[int]] | None = None) -> list[TrackCrops]:
    """Cut every track's crops from an iterable of ``(frame_index, rgb)``, decoding once.

    ``rows_needed[track_id]`` limits the crops kept (memory: sparse scoring keeps a few frames,
    not the whole track). Tracks end early where the frames run out.
    """
    out: dict[int, TrackCrops] = {}
    by_frame: dict[int, list[tuple[Any, int]]] = {}
    for t in tracks:
        want = None if rows_needed is None else rows_needed.get(t.track_id, set())
        out[t.track_id] = TrackCrops(t.track_id, np.asarray(t.frames), np.asarray(t.boxes, np.float32),
                                     np.asarray(t.kps, np.float32), np.zeros((len(t), 4), np.int64), {})
        for row, f in enumerate(t.frames):
            by_frame.setdefault(int(f), []).append((t.track_id, row, want is None or row in want))
    last = max(by_frame) if by_frame else -1
    seen = -1
    for i, rgb in frames:
        if i > last:
            break
        seen = i
        for tid, row, keep in by_frame.get(i, ()):
            tc = out[tid]
            tc.crop_boxes[row], crop = cut_crop(rgb, tc.boxes[row], pp)
            if keep:
                tc.crops[row] = crop
    result = []
    for tc in out.values():
        n = int(np.searchsorted(tc.frames, seen, side="right"))
        if n:
            result.append(TrackCrops(tc.track_id, tc.frames[:n], tc.boxes[:n], tc.kps[:n], tc.crop_boxes[:n],
                                     {r: c for r, c in tc.crops.items() if r < n}))
    return result


def window_plan(video, tracks, n_frames: int, pp: Preprocess, mode: str = "dense", clips: int | None = None,
                every_frame: bool = False) -> tuple[list[TrackCrops], list[tuple[TrackCrops, list[int]]]]:
    """What a detector sees of a video: the windows of its face ``tracks`` as ``pp`` declares
    (clips: ``mode``/``clips`` windows per track; frames: the declared frame sampling and faces, or
    with ``every_frame`` every frame of every track), their crops cut in one decode. Only the
    frames some window needs keep RGB (every frame up to the last is still decoded: long-GOP files
    do not seek); sparse windows end on each track's last row, so the tracks keep their length.
    Returns (the tracks' crops, [(track crops, window rows)]): the scorer and explain share it."""
    from ..video import iter_frames

    if pp.input == "frames":
        windows = ({t.track_id: [[r] for r in range(len(t))] for t in tracks} if every_frame
                   else frame_windows(tracks, n_frames, pp))
        tracks = [t for t in tracks if t.track_id in windows]
    else:
        windows = {t.track_id: track_windows(len(t), pp.clip_len, mode, clips) for t in tracks}
    need = {tid: {r for w in ws for r in w} for tid, ws in windows.items()}
    frames = sorted({int(t.frames[r]) for t in tracks for r in need.get(t.track_id, ())})
    crops = {tc.track_id: tc for tc in cut_crops(iter_frames(video, indices=frames), tracks, pp, need)}
    plan = [(crops[tid], w) for tid, ws in windows.items() for w in ws if tid in crops and max(w) < len(crops[tid])]
    return list(crops.values()), plan
