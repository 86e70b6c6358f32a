"""Picture-fidelity measures shared by the call simulator's stats and generate's quality table."""
from __future__ import annotations

import math

import numpy as np

PSNR_IDENTICAL = 99.0   # reported for identical pictures, where PSNR is infinite


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two same-shape arrays on a 0..``peak`` scale."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return PSNR_IDENTICAL if mse == 0 else 10 * math.log10(peak ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, win: int = 7) -> float:
    """SSIM of two single-channel pictures on a 0..255 scale: scikit-image's default definition
    (a uniform ``win`` x ``win`` window, sample covariance, the border of half a window left out),
    computed in float32 with box filters (about 10x faster than skimage's float64)."""
    import cv2

    x, y = np.asarray(a, np.float32), np.asarray(b, np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    box = lambda z: cv2.blur(z, (win, win), borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mx, my = box(x), box(y)
    norm = win * win / (win * win - 1.0)
    vx = norm * (box(x * x) - mx * mx)
    vy = norm * (box(y * y) - my * my)
    cxy = norm * (box(x * y) - mx * my)
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    p = win // 2
    return float(s[p:-p, p:-p].astype(np.float64).mean())


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB picture, float32."""
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
