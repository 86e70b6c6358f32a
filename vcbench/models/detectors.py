"""The detector registry, filled from the architecture table (no torch import)."""
from __future__ import annotations

from ..registry import Registry
from .archs import ARCHS

DETECTORS: Registry = Registry("detector")
for _name, _arch in ARCHS.items():
    DETECTORS.register(_name, "vcbench.models.altfreezing:build_altfreezing", help=_arch.help, arch=_name)


def build_detector(name: str):
    """A freshly initialised detector of a registered name."""
    entry = DETECTORS.entry(name)
    return entry.load()(entry.meta.get("arch", name))
