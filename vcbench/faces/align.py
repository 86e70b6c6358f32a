"""5-point similarity alignment (Umeyama), and AltFreezing's crop-then-warp of a clip."""
from __future__ import annotations

import numpy as np


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection)
    mapping ``src`` (N, 2) onto ``dst`` (N, 2); returns the 2x3 matrix."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    r = u @ e @ vt
    var = (s ** 2).sum() / len(src)
    scale = (sig * np.diag(e)).sum() / var if var > 0 else 1.0
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def enlarge_box(box: np.ndarray, scale: float, w: int, h: int) -> tuple[int, int, int, int]:
    """Box grown to ``scale`` x its size around its centre, clipped to the frame (ints)."""
    x1, y1, x2, y2 = box
    cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * scale, (y2 - y1) * scale
    return (max(0, int(round(cx - bw / 2))), max(0, int(round(cy - bh / 2))),
            min(w, int(round(cx + bw / 2))), min(h, int(round(cy + bh / 2))))


def align_clip(crops: list[np.ndarray], kps: np.ndarray, template: list[tuple[float, float]], size: int) -> np.ndarray:
    """Warp every crop of a clip with ONE similarity fitted from all its landmarks.

    crops: T crops (RGB uint8), kps: (T, 5, 2) in crop coordinates. Returns (T, size, size, 3)
    uint8, bilinear, black border (as released).
    """
    import cv2

    t = len(crops)
    m = umeyama(kps.reshape(-1, 2), np.tile(np.asarray(template, np.float64), (t, 1)))
    out = np.empty((t, size, size, 3), np.uint8)
    for i, c in enumerate(crops):
        out[i] = cv2.warpAffine(c, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0)
    return out
