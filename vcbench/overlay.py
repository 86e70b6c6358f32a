"""Drawing on frames (boxes coloured by a score, heatmaps, a score timeline with the call's
events): what ``vcbench watch --video`` and ``vcbench explain --video`` both draw with. RGB uint8
in, RGB uint8 out; cv2 only."""
from __future__ import annotations

import numpy as np

GREY, GREEN, RED, WHITE = (160, 160, 160), (40, 200, 60), (230, 40, 40), (255, 255, 255)
#: event kind -> colour of its tick on the timeline
EVENT_COLOURS = {"freeze": (80, 160, 255), "keyframe": (255, 210, 0), "resolution": (220, 90, 255),
                 "loss": (255, 90, 90)}


def score_colour(running: float | None, alarm: bool) -> tuple[int, int, int]:
    """Grey before a face's first running score, green below the threshold, red in alarm."""
    return GREY if running is None else RED if alarm else GREEN


def _scale(img: np.ndarray) -> float:
    return max(0.35, img.shape[0] / 720)


def draw_face(img: np.ndarray, box, label: str, colour) -> None:
    """A face's box and its label above it, in place."""
    import cv2

    s = _scale(img)
    x1, y1, x2, y2 = (int(round(float(v))) for v in list(box)[:4])
    cv2.rectangle(img, (x1, y1), (x2, y2), colour, max(1, int(2 * s)))
    cv2.putText(img, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * s, colour, max(1, int(s * 1.5)),
                cv2.LINE_AA)


def draw_text(img: np.ndarray, text: str, org=(6, None), colour=WHITE) -> None:
    import cv2

    s = _scale(img)
    y = org[1] if org[1] is not None else int(18 * s) + 4
    cv2.putText(img, text, (org[0], y), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * s, colour, max(1, int(s * 1.5)), cv2.LINE_AA)


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """[0, 1] map (H, W) -> RGB (H, W, 3) uint8 (the jet colour map)."""
    import cv2

    u8 = np.clip(np.asarray(heat, np.float32) * 255.0, 0, 255).astype(np.uint8)
    return cv2.applyColorMap(u8, cv2.COLORMAP_JET)[..., ::-1]


def blend_heat(img: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image with the heatmap laid over it, opaque in proportion to the map (a cold pixel leaves
    the picture as it is)."""
    a = (alpha * np.clip(np.asarray(heat, np.float32), 0, 1))[..., None]
    return (img.astype(np.float32) * (1 - a) + heat_colours(heat).astype(np.float32) * a).round().astype(np.uint8)


def timeline(width: int, height: int, n_frames: int, curves: dict, threshold: float | None, marks: dict,
             now: int | None = None) -> np.ndarray:
    """A strip (height, width, 3): each curve (name -> per-frame values in [0, 1] or NaN) as a line,
    the threshold dashed, each event (kind -> frames) a tick in its colour along the bottom, the
    current frame a white cursor."""
    import cv2

    img = np.full((height, width, 3), 24, np.uint8)
    top, bottom = 4, height - 10

    def x_of(f):
        return int(round(f * (width - 1) / max(n_frames - 1, 1)))

    def y_of(v):
        return int(round(bottom - v * (bottom - top)))

    if threshold is not None:
        y = y_of(threshold)
        for x in range(0, width, 8):
            cv2.line(img, (x, y), (min(x + 4, width - 1), y), (200, 200, 200), 1)
    for kind, frames in marks.items():
        c = EVENT_COLOURS.get(kind, WHITE)
        for f in frames:
            x = x_of(f)
            cv2.line(img, (x, height - 8), (x, height - 1), c, 1)
    palette = [RED, (255, 140, 0), (0, 200, 255), (180, 255, 80)]
    for k, (_, values) in enumerate(sorted(curves.items())):
        v = np.asarray(values, np.float64)
        pts = [(x_of(f), y_of(float(v[f]))) for f in range(len(v)) if np.isfinite(v[f])]
        for a, b in zip(pts, pts[1:]):
            cv2.line(img, a, b, palette[k % len(palette)], 1, cv2.LINE_AA)
    if now is not None:
        x = x_of(now)
        cv2.line(img, (x, 0), (x, height - 1), WHITE, 1)
    return img
