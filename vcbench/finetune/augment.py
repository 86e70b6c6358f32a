"""Online clip augmentation: pure functions on uint8 ``(T, H, W, 3)`` clips, before normalisation.

Every function draws its parameters once per clip from the generator it is given, so a clip's
frames change together (a per-frame colour jitter would itself be a temporal artefact). The
call-condition half of augmentation happens earlier, on full frames: the sampler draws clips
from cached renditions (``conference.renditions``) instead of the clean video.

AltFreezing names three video-level augmentations without releasing code; our reading:
- temporal dropout: frames dropped and the previous one shown again (a call's frame drops);
- temporal repeat: one frame held for a stretch (a call's freeze);
- clip-level blending: a real clip blended into a warped, colour-shifted copy of itself inside a
  face-shaped mask, the same mask and shift on every frame; the result is a pseudo-fake (label 1).
Drops and freezes hit real and fake calls alike, so here they keep the label: a detector that
learned "a freeze means fake" would be keying on the network, not the face.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..conference.camera import mjpeg, sensor_noise


@dataclass(frozen=True)
class AugmentPolicy:
    """Probabilities and strengths of each augmentation (reference/altfreezing.md's config hints).

    ``presets`` / ``preset_p``: call-condition renditions the sampler may draw a clip from."""

    name: str = "call"
    presets: tuple[str, ...] = ()
    preset_p: float = 0.0
    rendition_seeds: int = 1
    jitter_p: float = 0.8
    jitter: float = 0.4
    blur_p: float = 0.05
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    noise_p: float = 0.1
    noise_sigma: tuple[float, float] = (2.0, 8.0)
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 100)
    dropout_p: float = 0.1
    repeat_p: float = 0.1
    blend_p: float = 0.1              # per real clip: becomes a pseudo-fake

    def to_json(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @property
    def online(self) -> bool:
        return self.name != "none"


def make_policy(name: str, presets: tuple[str, ...] = (), preset_p: float = 0.5, seeds: int = 1) -> AugmentPolicy:
    """``call``: renditions under ``presets`` with probability ``preset_p`` plus online augmentation;
    ``online``: online only; ``none``: clips exactly as ``score`` sees them."""
    if name == "none":
        return AugmentPolicy("none", jitter_p=0, blur_p=0, noise_p=0, jpeg_p=0, dropout_p=0, repeat_p=0, blend_p=0)
    if name == "online":
        return AugmentPolicy("online")
    return AugmentPolicy("call", tuple(presets), preset_p if presets else 0.0, seeds)


# --- pure functions (T, H, W, 3) uint8 -> same ------------------------------------------
# Sensor noise and JPEG are the camera stage's own per-frame operations (conference/camera.py):
# one definition serves the simulated call and the augmentation that imitates it.

def color_jitter(clip: np.ndarray, brightness: float, contrast: float, saturation: float) -> np.ndarray:
    """Scale brightness, contrast (about the clip's mean grey) and saturation by the given factors."""
    x = clip.astype(np.float32) * brightness
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - grey.mean()) * contrast + grey.mean()
    grey = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    x = grey + (x - grey) * saturation
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def gaussian_blur(clip: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in clip])


def jpeg(clip: np.ndarray, quality: int) -> np.ndarray:
    """Every frame through the camera's JPEG round trip (``camera.mjpeg``) at one quality."""
    return np.ascontiguousarray(np.stack([mjpeg(f, quality) for f in clip]))


def temporal_dropout(clip: np.ndarray, dropped: np.ndarray) -> np.ndarray:
    """Frames flagged in ``dropped`` (never the first) show the previous shown frame."""
    idx = np.arange(len(clip))
    for t in range(1, len(clip)):
        if dropped[t]:
            idx[t] = idx[t - 1]
    return clip[idx]


def temporal_repeat(clip: np.ndarray, start: int, length: int) -> np.ndarray:
    """Frame ``start`` held for ``length`` frames (a freeze), the clip's length unchanged."""
    idx = np.arange(len(clip))
    idx[start:start + length] = start
    return clip[idx]


def face_mask(h: int, w: int, cx: float, cy: float, rx: float, ry: float, feather: float) -> np.ndarray:
    """A soft ellipse in [0, 1], ``feather`` pixels of fall-off."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    return np.clip((1 - d) * min(rx, ry) / max(feather, 1e-3), 0, 1)


def clip_blend(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Self-blend: the clip's centre face region replaced by a slightly scaled, shifted and
    colour-shifted copy of itself (same on every frame): a blending boundary without a second face."""
    import cv2

    t, h, w, _ = clip.shape
    s = float(rng.uniform(0.95, 1.05))
    dx, dy = rng.uniform(-0.02, 0.02, 2) * w
    m = np.float32([[s, 0, (1 - s) * w / 2 + dx], [0, s, (1 - s) * h / 2 + dy]])
    shift = rng.uniform(-12, 12, 3).astype(np.float32)
    mask = face_mask(h, w, w / 2, h * 0.55, w * rng.uniform(0.25, 0.33), h * rng.uniform(0.3, 0.38),
                     feather=w * rng.uniform(0.03, 0.1))[..., None]
    out = np.empty_like(clip)
    for k in range(t):
        src = cv2.warpAffine(clip[k], m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        src = np.clip(src.astype(np.float32) + shift, 0, 255)
        out[k] = np.clip(mask * src + (1 - mask) * clip[k] + 0.5, 0, 255).astype(np.uint8)
    return out


# --- Random* wrappers: a probability, parameters drawn once per clip ------------------------

@dataclass(frozen=True)
class RandomOp:
    """Apply ``fn(clip, label, rng) -> (clip, label)`` with probability ``p`` (to reals only when
    ``reals_only``: the self-blend turns a real into a pseudo-fake)."""

    name: str
    p: float
    fn: Callable
    reals_only: bool = False

    def __call__(self, clip: np.ndarray, label: int, rng: np.random.Generator) -> tuple[np.ndarray, int, bool]:
        if (self.reals_only and label != 0) or not rng.random() < self.p:
            return clip, label, False
        clip, label = self.fn(clip, label, rng)
        return clip, label, True


def transforms(policy: AugmentPolicy, temporal: bool = True) -> list[RandomOp]:
    """The policy as the ordered list of random operations :func:`augment_clip` samples from
    (without the frame drops and freezes for a frame detector's one-frame clips: ``temporal`` False)."""
    if not policy.online:
        return []
    ops = [
        RandomOp("blend", policy.blend_p, lambda c, y, r: (clip_blend(c, r), 1), reals_only=True),
        RandomOp("dropout", policy.dropout_p, lambda c, y, r: (temporal_dropout(c, r.random(len(c)) < 0.15), y)),
        RandomOp("repeat", policy.repeat_p, lambda c, y, r: (_repeat(c, r), y)),
        RandomOp("jitter", policy.jitter_p, lambda c, y, r: (
            color_jitter(c, *r.uniform(1 - policy.jitter, 1 + policy.jitter, 3)), y)),
        RandomOp("blur", policy.blur_p, lambda c, y, r: (gaussian_blur(c, float(r.uniform(*policy.blur_sigma))), y)),
        RandomOp("noise", policy.noise_p, lambda c, y, r: (sensor_noise(c, float(r.uniform(*policy.noise_sigma)), r), y)),
        RandomOp("jpeg", policy.jpeg_p, lambda c, y, r: (
            jpeg(c, int(r.integers(policy.jpeg_quality[0], policy.jpeg_quality[1] + 1))), y)),
    ]
    return ops if temporal else [op for op in ops if op.name not in ("dropout", "repeat")]


def _repeat(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    length = int(rng.integers(2, max(3, len(clip) // 3)))
    return temporal_repeat(clip, int(rng.integers(0, len(clip) - 1)), length)


def augment_clip(clip: np.ndarray, label: int, policy: AugmentPolicy, rng: np.random.Generator,
                 ops: list[RandomOp] | None = None) -> tuple[np.ndarray, int, list[str]]:
    """Apply ``policy`` (its :func:`transforms`, or ``ops`` already built) to one clip; returns
    (clip, label, names of what was applied)."""
    applied: list[str] = []
    for op in (transforms(policy, temporal=len(clip) > 1) if ops is None else ops):
        clip, label, done = op(clip, label, rng)
        if done:
            applied.append(op.name)
    return clip, label, applied
