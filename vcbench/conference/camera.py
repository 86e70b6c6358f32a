"""Camera stage, applied to captured frames before the encoder. Pure functions on (H, W, 3)
uint8 RGB, with a thin stateful :class:`Camera` that drifts exposure/white balance over time."""
from __future__ import annotations

import functools

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


def portrait_crop(img: np.ndarray) -> np.ndarray:
    """A phone held upright: the centre 9:16 of the picture (a landscape clip loses its sides)."""
    h, w = img.shape[:2]
    cw = min(w, int(round(h * 9 / 16)) // 2 * 2)
    x = (w - cw) // 2
    return np.ascontiguousarray(img[:, x:x + cw])


def glare_at(img: np.ndarray, strength: float, cx: float, cy: float, r: float) -> np.ndarray:
    """A specular highlight centred at (cx, cy), Gaussian falloff of radius ``r``, added to every
    channel and clipped to white (a reflection saturates the sensor: it is not tinted).
    ``strength``: the peak, a share of white."""
    if strength <= 0:
        return img
    h, w = img.shape[:2]
    ys, xs = np.ogrid[:h, :w]
    blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r)).astype(np.float32)
    return np.clip(img.astype(np.float32) + (255.0 * strength) * blob[..., None], 0, 255).astype(np.uint8)


class Glare:
    """Specular glare on the face (a window or ring light reflected on skin or glasses): the face
    is found with OpenCV's bundled frontal-face cascade every ``EVERY`` frames (on a 320 px wide
    grey copy; its box smoothed), and the highlight, a fifth of the face wide, drifts over the
    forehead and cheeks on a slow two-period path. Before any face is found it sits in the upper
    middle of the picture. Deterministic: no randomness, the same frames give the same glare."""

    EVERY = 6

    def __init__(self, strength: float):
        self.strength = strength
        self.cascade = None
        self.face: np.ndarray | None = None        # (x, y, w, h), frame pixels
        self.k = 0

    def _detect(self, img: np.ndarray) -> np.ndarray | None:
        import cv2

        if self.cascade is None:
            self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        h, w = img.shape[:2]
        f = 320.0 / w if w > 320 else 1.0
        grey = cv2.cvtColor(cv2.resize(img, (int(w * f), int(h * f))) if f < 1 else img, cv2.COLOR_RGB2GRAY)
        found = self.cascade.detectMultiScale(grey, 1.1, 5, minSize=(16, 16))
        if len(found) == 0:
            return None
        return np.asarray(max(found, key=lambda b: b[2] * b[3]), np.float64) / f

    def __call__(self, img: np.ndarray, t: float) -> np.ndarray:
        h, w = img.shape[:2]
        if self.k % self.EVERY == 0:
            box = self._detect(img)
            if box is not None:
                self.face = box if self.face is None else 0.5 * self.face + 0.5 * box
        self.k += 1
        if self.face is None:
            cx0, cy0, fw = 0.5 * w, 0.36 * h, 0.25 * h
        else:
            x, y, bw, bh = self.face
            cx0, cy0, fw = x + bw / 2, y + 0.42 * bh, bw
        cx = cx0 + 0.22 * fw * np.sin(2 * np.pi * t / 7.0)
        cy = cy0 + 0.14 * fw * np.sin(2 * np.pi * t / 4.3 + 1.0)
        return glare_at(img, self.strength, cx, cy, 0.2 * fw)


def far_away(img: np.ndarray, scale: float) -> np.ndarray:
    """The subject far from the camera: the picture scaled to ``scale`` of its size and centred;
    around it the room continues (the picture's edges carried outwards, blurred more with the
    distance from it, as a shallow depth of field and a webcam's soft corners would: colour and
    light, no second face), the seam feathered. Same size out as in.

    The room's blurs (sigma h/60 and h/25: 12 and 29 px at 720p) are made at a fraction of the size
    and scaled back: what is that blurred has nothing finer to lose, and at 720p a frame costs
    10 ms instead of 340 (the preset was 20x slower than any other)."""
    import cv2

    if not 0 < scale < 1:
        return img
    h, w = img.shape[:2]
    sw, sh = max(2, int(round(w * scale)) // 2 * 2), max(2, int(round(h * scale)) // 2 * 2)
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    x0, y0 = (w - sw) // 2, (h - sh) // 2
    room = cv2.copyMakeBorder(small, y0, h - sh - y0, x0, w - sw - x0, cv2.BORDER_REPLICATE)
    near_sigma, far_sigma = max(2.0, h / 60), max(4.0, h / 25)
    k = max(1, int(near_sigma // 2))                            # the blurs' scale-down: sigma stays >= 2 px
    lo = cv2.resize(room, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA).astype(np.float32)
    near_lo = cv2.GaussianBlur(lo, (0, 0), near_sigma / k)
    far_lo = cv2.GaussianBlur(near_lo, (0, 0), far_sigma / k)
    room = cv2.resize(near_lo, (w, h), interpolation=cv2.INTER_LINEAR)
    far = cv2.resize(far_lo, (w, h), interpolation=cv2.INTER_LINEAR)
    mix, a = _far_masks(h, w, sw, sh, x0, y0)
    out = room * (1 - mix) + far * mix
    inner = cv2.copyMakeBorder(small, y0, h - sh - y0, x0, w - sw - x0, cv2.BORDER_CONSTANT).astype(np.float32)
    return np.clip(np.round(out * (1 - a) + inner * a), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _far_masks(h: int, w: int, sw: int, sh: int, x0: int, y0: int) -> tuple[np.ndarray, np.ndarray]:
    """far_away's per-pixel weights for one frame size (the same for every frame): how far out a
    pixel is (the further, the softer its room), and the feather that blends the picture into it."""
    ys, xs = np.ogrid[:h, :w]
    dx = np.maximum(np.maximum(x0 - xs, xs - (x0 + sw - 1)), 0).astype(np.float32)
    dy = np.maximum(np.maximum(y0 - ys, ys - (y0 + sh - 1)), 0).astype(np.float32)
    d = np.sqrt(dx * dx + dy * dy) / max(h, 1)
    mix = np.clip(d * 6, 0, 1)[..., None]                       # the further out, the softer
    f = max(2, min(sw, sh) // 24)                               # feather the picture into its room
    a = np.clip(np.minimum(np.minimum(xs - x0 + 1, x0 + sw - xs), np.minimum(ys - y0 + 1, y0 + sh - ys)) / f, 0, 1)
    return mix, a.astype(np.float32)[..., None]


def portrait_size(w: int, h: int) -> tuple[int, int]:
    return min(w, int(round(h * 9 / 16)) // 2 * 2), h


def screen_share(img: np.ndarray, size: tuple[int, int], window: float) -> np.ndarray:
    """The clip playing in a player window on a shared screen of ``size``: a dark desktop with a
    taskbar, the window ``window`` of the screen's width wide with a title bar, centred. What a
    screen-share sends when someone plays a video (a fake among them) into a call."""
    import cv2

    sw, sh = size
    canvas = np.empty((sh, sw, 3), np.uint8)
    canvas[:] = (38, 44, 56)
    bar = max(24, sh // 27)
    canvas[sh - bar:] = (22, 24, 30)                                  # taskbar
    ih, iw = img.shape[:2]
    vw = max(16, int(round(sw * window)) // 2 * 2)
    vh = max(16, int(round(vw * ih / iw)) // 2 * 2)
    title = max(16, sh // 36)
    if vh + title > sh - bar:                                         # a tall clip: fit the height
        vh = (sh - bar - title) // 2 * 2
        vw = max(16, int(round(vh * iw / ih)) // 2 * 2)
    x = (sw - vw) // 2
    y = max(0, (sh - bar - vh - title) // 2)
    canvas[y:y + title, x:x + vw] = (228, 228, 232)                   # title bar
    canvas[y + title // 3:y + 2 * title // 3, x + 8:x + min(vw - 8, 8 + vw // 4)] = (120, 120, 128)
    interp = cv2.INTER_AREA if vw < iw else cv2.INTER_LINEAR
    canvas[y + title:y + title + vh, x:x + vw] = cv2.resize(img, (vw, vh), interpolation=interp)
    return canvas


def reframe(img: np.ndarray, p) -> np.ndarray:
    """Only the camera stage's geometry (the upright crop, the window on a screen): the picture
    a reframing preset's output is compared against."""
    if p.portrait:
        img = portrait_crop(img)
    if p.far_scale:
        img = far_away(img, p.far_scale)
    if p.content == "screen":
        img = screen_share(img, (p.width, p.height), p.share_window)
    return img


def virtual_background(w: int, h: int) -> np.ndarray:
    """A fixed synthetic 'office' backdrop (wall gradient, a shelf, a window): deterministic, no
    image files."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    wall = np.array([196, 188, 172], np.float32) * (0.85 + 0.15 * (1 - y)) * (0.92 + 0.08 * x)
    img = np.broadcast_to(wall, (h, w, 3)).copy()
    img[int(0.12 * h):int(0.55 * h), int(0.62 * w):int(0.9 * w)] = (170, 200, 226)       # window
    img[int(0.12 * h):int(0.55 * h), int(0.755 * w):int(0.765 * w)] = (240, 240, 236)    # its frame
    img[int(0.62 * h):int(0.65 * h), int(0.05 * w):int(0.4 * w)] = (110, 80, 56)          # shelf
    img[int(0.5 * h):int(0.62 * h), int(0.08 * w):int(0.14 * w)] = (60, 90, 140)          # books
    img[int(0.53 * h):int(0.62 * h), int(0.15 * w):int(0.2 * w)] = (150, 60, 50)
    img[int(0.8 * h):, :] = (120, 104, 90)                                                  # desk
    return img.astype(np.uint8)


class _Segmenter:
    """Person mask from mediapipe's selfie segmentation at 256x144 (as Meet runs it), upsampled
    bilinearly to the frame: the low resolution is what makes real calls' halos and clipped hair."""

    def __init__(self):
        import mediapipe as mp

        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)

    def mask(self, img: np.ndarray) -> np.ndarray:
        import cv2

        h, w = img.shape[:2]
        small = cv2.resize(img, (256, 144), interpolation=cv2.INTER_AREA)
        return cv2.resize(self._seg.process(small).segmentation_mask, (w, h), interpolation=cv2.INTER_LINEAR)


class BackgroundBlur(_Segmenter):
    """Blend a blurred frame outside the soft person mask."""

    def __call__(self, img: np.ndarray) -> np.ndarray:
        import cv2

        h, w = img.shape[:2]
        mask = self.mask(img)[:, :, None]
        blurred = cv2.GaussianBlur(img, (0, 0), sigmaX=max(w, h) / 80)
        return (img * mask + blurred * (1 - mask)).astype(np.uint8)


class BackgroundReplace(_Segmenter):
    """Virtual background: the mask thresholded at 0.5, a hard matte with no feathering, so hair
    and the jaw line are cut along the low-resolution mask's steps."""

    def __init__(self):
        super().__init__()
        self._bg: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        bg = self._bg.get((w, h))
        if bg is None:
            bg = self._bg[(w, h)] = virtual_background(w, h)
        person = self.mask(img) >= 0.5
        return np.where(person[:, :, None], img, bg)


class Camera:
    """Applies a preset's camera effects frame by frame (seeded, deterministic)."""

    def __init__(self, preset, seed: int, fps: float):
        self.p = preset
        self.rng = np.random.default_rng(seed + 7919)
        self.fps = fps or 30
        self.gain, self.wb = 1.0, np.ones(3, np.float32)
        self.k = 0                                   # frames taken (the glare's clock)
        self.glare = Glare(preset.glare) if preset.glare else None
        self.blur = BackgroundBlur() if preset.background_blur else None
        self.replace = BackgroundReplace() if preset.background_replace else None

    def __call__(self, img: np.ndarray) -> np.ndarray:
        """The scene first (the subject far from the camera, glare on the face), the camera next (a
        phone's upright crop, auto exposure / white balance, low light,
        sensor noise, its MJPEG), then the call app on what the camera delivered (background blur
        or replacement, touch-up), as on a real laptop: the app's filters smooth the sensor's noise
        and blocking, not the other way round. A screen share captures the screen instead: the
        clip in a player window (after the camera effects a recorded clip already carries)."""
        p = self.p
        if p.portrait:
            img = portrait_crop(img)
        if p.far_scale:                                # the scene: where the subject sits, its light
            img = far_away(img, p.far_scale)
        if self.glare is not None:
            img = self.glare(img, self.k / self.fps)
        self.k += 1
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
        if p.background_replace:
            img = self.replace(img)
        if p.touchup:
            img = touch_up(img, p.touchup)
        if p.content == "screen":
            img = screen_share(img, (p.width, p.height), p.share_window)
        return img
