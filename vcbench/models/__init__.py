"""Detectors: registry, builders, and checkpoint loading in every format seen in the wild.

Importing this package does not import torch (the registry is read by ``--help``);
``load_detector`` and ``save_checkpoint`` load ``models.checkpoint`` on first use.
"""
from __future__ import annotations

from .archs import ARCHS, WEIGHT_TAGS
from .detectors import DETECTORS, build_detector


def __getattr__(name: str):
    if name in ("load_detector", "save_checkpoint", "read_checkpoint"):
        from . import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(name)


__all__ = ["ARCHS", "DETECTORS", "WEIGHT_TAGS", "build_detector", "load_detector", "save_checkpoint"]
