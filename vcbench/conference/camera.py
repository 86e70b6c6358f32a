"""Camera stage, applied to captured frames before the encoder. Pure functions on (H, W, 3)
uint8 RGB, with a thin stateful :class:`Camera` that drifts exposure/white balance over time."""
from __future__ import annotations

import numpy as np


def sensor_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    if sigma <= 0:
        return img
    return np.clip(img + rng.normal(0, sigma, img.shape).astype(np.float32), 0, 255).astype(np.uint8)


def low_light(img: np.ndarray, level: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Scene at (1 - level) of the light; the sensor's gain brings it back, amplifying noise."""
    if level <= 0:
        return img
    light = max(1.0 - level, 0.05)
    dark = img.astype(np.float32) * light
    dark = np.round(dark + rng.normal(0, max(sigma, 1.0) * 0.5, img.shape))   # read noise, quantised
    return np.clip(dark / light, 0, 255).astype(np.uint8)


def exposure_wb(img: np.ndarray, gain: float, wb: np.ndarray) -> np.ndarray:
    return np.clip(img.astype(np.float32) * (gain * wb)[None, None, :], 0, 255).astype(np.uint8)


def mjpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def touch_up(img: np.ndarray, strength: float) -> np.ndarray:
    """Soft-focus smoothing: an edge-preserving (bilateral) filter blended in."""
    import cv2

    if strength <= 0:
        return img
    smooth = cv2.bilateralFilter(img, 9, 40, 7)
    return cv2.addWeighted(smooth, strength, img, 1 - strength, 0)


class BackgroundBlur:
    """Segment at 256x144 (as Meet does), upsample the mask bilinearly, blend a blurred frame:
    the low-resolution mask produces the halos and clipped hair of real calls."""

    def __init__(self):
        import mediapipe as mp

        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        import cv2

        h, w = img.shape[:2]
        small = cv2.resize(img, (256, 144), interpolation=cv2.INTER_AREA)
        mask = self._seg.process(small).segmentation_mask
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)[:, :, None]
        blurred = cv2.GaussianBlur(img, (0, 0), sigmaX=max(w, h) / 80)
        return (img * mask + blurred * (1 - mask)).astype(np.uint8)


class Camera:
    """Applies a preset's camera effects frame by frame (seeded, deterministic)."""

    def __init__(self, preset, seed: int, fps: float):
        self.p = preset
        self.rng = np.random.default_rng(seed + 7919)
        self.fps = fps or 30
        self.gain, self.wb = 1.0, np.ones(3, np.float32)
        self.blur = BackgroundBlur() if preset.background_blur else None

    def __call__(self, img: np.ndarray) -> np.ndarray:
        """The camera first (auto exposure / white balance, low light, sensor noise, its MJPEG),
        then the call app on what the camera delivered (background blur, touch-up), as on a real
        laptop: the app's filters smooth the sensor's noise and blocking, not the other way round."""
        p = self.p
        if p.exposure_drift or p.wb_drift:
            # bounded random walks with a time constant of a few seconds
            k = 1.0 / (2.0 * self.fps)
            self.gain += -k * (self.gain - 1) + p.exposure_drift * np.sqrt(k) * self.rng.normal()
            self.wb += -k * (self.wb - 1) + p.wb_drift * np.sqrt(k) * self.rng.normal(size=3).astype(np.float32)
            img = exposure_wb(img, float(self.gain), self.wb)
        if p.lowlight:
            img = low_light(img, p.lowlight, p.noise_sigma, self.rng)
        if p.noise_sigma:
            img = sensor_noise(img, p.noise_sigma, self.rng)
        if p.mjpeg_quality:
            img = mjpeg(img, p.mjpeg_quality)
        if p.background_blur:
            img = self.blur(img)
        if p.touchup:
            img = touch_up(img, p.touchup)
        return img
