"""Face records shared by every backend.

Points are image pixels ``(x, y)``; the 5 points are, in image order: left eye, right eye,
nose tip, left mouth corner, right mouth corner ("left" = smaller x in an upright face),
the order of the ArcFace and AltFreezing templates.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Face:
    box: np.ndarray                       # (4,) x1, y1, x2, y2
    kps: np.ndarray                       # (5, 2)
    score: float
    landmarks: np.ndarray | None = None   # (N, 2) dense landmarks (478 for mediapipe, 106 for insightface)
    embedding: np.ndarray | None = None   # (512,) L2-normalised ArcFace embedding when available
    extra: dict = field(default_factory=dict)

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / ua) if ua > 0 else 0.0


def dist_version(dist: str) -> str:
    """An installed distribution's version without importing it ("missing" when absent)."""
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "missing"


class FaceBackend:
    """Interface: ``detect(rgb) -> list[Face]``; ``video=True`` lets a backend track between calls."""

    name = "base"
    version = "0"

    def detect(self, rgb: np.ndarray, run_detector: bool = True) -> list[Face]:  # pragma: no cover
        raise NotImplementedError

    def reset(self) -> None:
        """Forget temporal state (call between videos)."""

    def close(self) -> None:
        """Release native resources (model graphs); the backend is unusable afterwards."""

    @classmethod
    def cache_key(cls, **settings) -> str:
        """Name, version and the settings that change boxes, without building the backend
        (the face-track cache is looked up with it before any model is loaded)."""
        return f"{cls.name}-{cls.version}"

    @property
    def key(self) -> str:
        return self.cache_key()
