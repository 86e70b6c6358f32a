"""Detectors: registry, builders, and checkpoint loading in every format seen in the wild."""
from __future__ import annotations

from ..registry import Registry

DETECTORS: Registry = Registry("detector")
for _name, _help in (("altfreezing", "AltFreezing I3D-R50 as released (32 x 224 px clips)"),
                     ("altfreezing-small", "small I3D variant for CPU (16 x 112 px); not the official network"),
                     ("altfreezing-tiny", "tiny I3D variant for tests (8 x 64 px); not the official network")):
    DETECTORS.register(_name, "vcbench.models.altfreezing:build_altfreezing", help=_help, arch=_name)


def build_detector(name: str):
    entry = DETECTORS.entry(name)
    return entry.load()(entry.meta.get("arch", name))


def load_detector(name: str = "altfreezing", checkpoint=None, device: str = "cpu"):
    """An eval-mode detector; with ``checkpoint`` its weights, loaded strictly and safely."""
    from .checkpoint import load_detector as _load

    return _load(name, checkpoint, device)


__all__ = ["DETECTORS", "build_detector", "load_detector"]
