"""The network registry (``nn.Module`` builders by architecture name), filled from the
architecture table without importing torch. What ``--model`` names, a *detector*, is one level
up (``vcbench.detectors``): a network with its weights and declared input, a ``.py`` file, a
plug-in or ``chance``."""
from __future__ import annotations

from ..registry import Registry
from .archs import ARCHS

NETWORKS: Registry = Registry("network")
for _name, _arch in ARCHS.items():
    NETWORKS.register(_name, _arch.builder, help=_arch.help, arch=_name)


def build_network(name: str):
    """A freshly initialised network of a registered architecture."""
    entry = NETWORKS.entry(name)
    return entry.load()(entry.meta.get("arch", name))
