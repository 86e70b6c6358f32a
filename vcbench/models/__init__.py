"""Networks: their registry, builders, and checkpoint loading in every format seen in the wild (the
detectors that score with them are in ``vcbench.detectors``).

Importing this package does not import torch (the registry is read by ``--help``);
``load_network`` and ``save_checkpoint`` load ``models.checkpoint`` on first use.
"""
from __future__ import annotations

from .archs import ARCHS, WEIGHT_TAGS
from .networks import NETWORKS, build_network


def __getattr__(name: str):
    if name in ("load_network", "save_checkpoint", "read_checkpoint"):
        from . import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(name)


__all__ = ["ARCHS", "NETWORKS", "WEIGHT_TAGS", "build_network", "load_network", "save_checkpoint"]
