"""The registered detector architectures and named weights, in one table (no torch import:
``vcbench --help`` and the registry read it).

Each entry: the network's shape (ArchConfig), the preprocessing its weights expect, a line of
help. Named weight tags let results cite which weights a number came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .preprocess import Preprocess


@dataclass(frozen=True)
class ArchConfig:
    """Depth/width/kernels of an I3D-R50-shaped network."""

    blocks: tuple[int, int, int, int] = (3, 4, 6, 3)
    temporal_kernels: tuple[tuple[int, ...], ...] = ((3, 3, 3), (3, 1, 3, 1), (3, 1, 3, 1, 3, 1), (1, 3, 1))
    width: int = 64               # channels of the stem; stage s has width*2**(s-2) inner, 4x that out
    stem_kernel_t: int = 5
    dropout: float = 0.5
    preprocess: Preprocess = field(default_factory=Preprocess)


@dataclass(frozen=True)
class Arch:
    arch: ArchConfig
    help: str


ARCHS: dict[str, Arch] = {
    # the released network: 27,225,921 parameters, 320 tensors
    "altfreezing": Arch(ArchConfig(), "AltFreezing I3D-R50 as released (32 x 224 px clips)"),
    # small variants for CPU tests and the demo; never substituted for the official one
    "altfreezing-small": Arch(ArchConfig(blocks=(1, 1, 1, 1), temporal_kernels=((3,), (3,), (3,), (3,)), width=16,
                                         preprocess=Preprocess(clip_len=16, size=112)),
                              "small I3D variant for CPU (16 x 112 px); not the official network"),
    "altfreezing-tiny": Arch(ArchConfig(blocks=(1, 1, 1, 1), temporal_kernels=((3,), (1,), (3,), (1,)), width=8,
                                        stem_kernel_t=3, preprocess=Preprocess(clip_len=8, size=64)),
                             "tiny I3D variant for tests (8 x 64 px); not the official network"),
}


@dataclass(frozen=True)
class WeightTag:
    """Named weights a result can cite. ``sha256`` pins the file; None where it could not be
    checked here (the release's file cannot be downloaded on this project's machines)."""

    name: str
    arch: str
    source: str
    sha256: str | None = None
    #: the public data the weights were trained on, by name (the benchmark's overlap check builds
    #: the record: ``benchmark.overlap.TRAINING_SETS``); "" when not known
    trained_on: str = ""


WEIGHT_TAGS: dict[str, WeightTag] = {
    "altfreezing.official": WeightTag(
        "altfreezing.official", "altfreezing",
        "AltFreezing release (CVPR 2023), checkpoints/model.pth, trained on FF++ c23 (4 methods)",
        trained_on="ffpp-c23-train"),
}


def tag_of_sha256(digest: str) -> str | None:
    """The tag whose pinned SHA-256 matches, if any."""
    return next((t.name for t in WEIGHT_TAGS.values() if t.sha256 and t.sha256 == digest), None)
