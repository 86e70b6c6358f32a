"""Picture-fidelity measures shared by the call simulator's stats and generate's quality table."""
from __future__ import annotations

import math

import numpy as np

PSNR_IDENTICAL = 99.0   # reported for identical pictures, where PSNR is infinite


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two same-shape arrays on a 0..``peak`` scale."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return PSNR_IDENTICAL if mse == 0 else 10 * math.log10(peak ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two single-channel pictures on a 0..255 scale."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(a, np.float64), np.asarray(b, np.float64), data_range=255.0))


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB picture, float64."""
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
