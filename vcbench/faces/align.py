"""5-point similarity alignment (Umeyama) and box growing, for the swappers and quality stats.

AltFreezing's clip alignment is ``models.preprocess`` (the release's exact construction)."""
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
