"""Deep-Live-Cam's mouth mask: the target's real mouth put back over the swapped face.

Its construction (``create_lower_mouth_mask`` + ``apply_mouth_area``), run after the paste-back
and before the Poisson step:

1. the lip outline, insightface 106-point indices 52-63 in index order (a simple polygon; the
   older 52-71 adds the inner lip and self-intersects, so an even-odd fill drops the mouth);
   on mediapipe's mesh the outer-lip contour plays that part;
2. scaled about its centroid by ``1 + 2s`` (``s`` = mouth-mask size / 100, its 0-100 slider),
   points below the centroid stretched a further ``1 + 2s`` towards the chin, truncated to int;
3. its bounding box padded by 10 % of the box's width (x) and height (y), clamped to the frame;
4. the polygon filled in that box, blurred by a Gaussian of kernel ``2f + 1``,
   ``f = max(1, min(30, min(box w, box h) // 8))``, normalised to a peak of 1;
5. original and swapped frame mixed by that mask inside the box (float, truncated to uint8).
"""
from __future__ import annotations

import numpy as np

from ...faces.base import Face
from .base import MESH_OUTER_LIPS

#: insightface 2d106: the outer lip outline Deep-Live-Cam fills
LMK106_LIP_OUTLINE = tuple(range(52, 64))


def lip_outline(face: Face) -> np.ndarray | None:
    """The outer lip outline (float ``(N, 2)``) from 106 or 478 landmarks, or None."""
    lm = face.landmarks
    if lm is None:
        return None
    if len(lm) == 106:
        pts = lm[list(LMK106_LIP_OUTLINE)]
    elif len(lm) >= 468:
        pts = lm[list(MESH_OUTER_LIPS)]
    else:
        return None
    pts = np.asarray(pts, np.float32)[:, :2]
    return pts if np.all(np.isfinite(pts)) else None


def mouth_region(outline: np.ndarray, size: float, shape: tuple[int, int]):
    """Step 2-3: the expanded int polygon and its padded box ``(x0, y0, x1, y1)``, or None."""
    s = min(max(float(size) / 100.0, 0.0), 1.0)
    grow = np.float32(1.0 + 2.0 * s)
    centre = outline.mean(0)
    off = outline - centre
    sy = np.where(off[:, 1] > 0, grow * np.float32(1.0 + 2.0 * s), grow)
    poly = np.stack([centre[0] + off[:, 0] * grow, centre[1] + off[:, 1] * sy], 1).astype(np.int32)
    (x0, y0), (x1, y1) = poly.min(0), poly.max(0)
    px, py = int((x1 - x0) * 0.1), int((y1 - y0) * 0.1)
    h, w = shape
    x0, y0, x1, y1 = max(0, x0 - px), max(0, y0 - py), min(w, x1 + px), min(h, y1 + py)
    if x1 <= x0 or y1 <= y0:
        return None
    return poly, (int(x0), int(y0), int(x1), int(y1))


def keep_mouth(swapped: np.ndarray, original: np.ndarray, face: Face, size: float = 0.0) -> np.ndarray:
    """``swapped`` with the target's mouth from ``original`` (same frame before the swap)."""
    import cv2

    outline = lip_outline(face)
    if outline is None:
        return swapped
    region = mouth_region(outline, size, swapped.shape[:2])
    if region is None:
        return swapped
    poly, (x0, y0, x1, y1) = region
    bw, bh = x1 - x0, y1 - y0
    m = np.zeros((bh, bw), np.uint8)
    cv2.fillPoly(m, [poly - [x0, y0]], 255)
    f = max(1, min(30, min(bw, bh) // 8))
    m = cv2.GaussianBlur(m.astype(np.float32), (2 * f + 1, 2 * f + 1), 0)
    peak = float(m.max())
    if peak <= 1e-6:
        return swapped
    m = (m / peak)[..., None]
    out = swapped.copy()
    mixed = original[y0:y1, x0:x1].astype(np.float32) * m + swapped[y0:y1, x0:x1].astype(np.float32) * (1.0 - m)
    out[y0:y1, x0:x1] = np.clip(mixed, 0, 255).astype(np.uint8)
    return out
