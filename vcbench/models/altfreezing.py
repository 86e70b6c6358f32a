"""AltFreezing's detector: the released PySlowFast-style I3D ResNet-50 (``i3d_ori``).

Order as in timm: modules -> ``checkpoint_filter_fn`` -> builder -> registered names.
Module and parameter names reproduce the release's state-dict keys exactly
(``resnet.s1.pathway0_stem.conv.weight`` ... ``resnet.head.projection.weight``), so official
weights load without renaming. Layout: clips are ``(N, C, T, H, W)`` float tensors, already
normalised; ``forward`` returns one raw logit per clip, ``(N, 1)``; sigmoid is applied outside.
``forward`` is pure: freezing schedules live in the trainer (see :func:`parameter_groups`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CheckpointError

# --- preprocessing carried by the weights -------------------------------------------

#: AltFreezing's 5-point template at 224 px: left eye, right eye, nose, left/right mouth corner
TEMPLATE_224 = ((75.101, 75.057), (147.922, 73.796), (111.627, 119.876), (79.359, 152.864), (146.394, 151.702))


@dataclass(frozen=True)
class Preprocess:
    """What a clip must look like for these weights (stored in vcbench checkpoints)."""

    clip_len: int = 32
    size: int = 224
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)   # RGB, 0-255 scale
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    box_scale: float = 2.0        # box enlarged by half its size on every side
    template: tuple = TEMPLATE_224  # in a 224 px frame; scaled to ``size``

    def template_px(self):
        s = self.size / 224.0
        return [(x * s, y * s) for x, y in self.template]


@dataclass(frozen=True)
class ArchConfig:
    """Depth/width/kernels of an I3D-R50-shaped network."""

    blocks: tuple[int, int, int, int] = (3, 4, 6, 3)
    temporal_kernels: tuple[tuple[int, ...], ...] = ((3, 3, 3), (3, 1, 3, 1), (3, 1, 3, 1, 3, 1), (1, 3, 1))
    width: int = 64               # channels of the stem; stage s has width*2**(s-2) inner, 4x that out
    stem_kernel_t: int = 5
    dropout: float = 0.5
    preprocess: Preprocess = field(default_factory=Preprocess)


# --- modules --------------------------------------------------------------------------

def _bn(c: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(c, eps=1e-5, momentum=0.1)


class Stem(nn.Module):
    def __init__(self, cin: int, cout: int, kt: int):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, (kt, 7, 7), stride=(1, 2, 2), padding=(kt // 2, 3, 3), bias=False)
        self.bn = _bn(cout)
        self.pool_layer = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x):
        return self.pool_layer(F.relu(self.bn(self.conv(x))))


class Bottleneck(nn.Module):
    """a: t x1x1 conv; b: 1x3x3 conv (carries the spatial stride); c: 1x1x1 conv."""

    def __init__(self, cin: int, cinner: int, cout: int, kt: int, stride: int):
        super().__init__()
        self.a = nn.Conv3d(cin, cinner, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.a_bn = _bn(cinner)
        self.b = nn.Conv3d(cinner, cinner, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.b_bn = _bn(cinner)
        self.c = nn.Conv3d(cinner, cout, 1, bias=False)
        self.c_bn = _bn(cout)

    def forward(self, x):
        x = F.relu(self.a_bn(self.a(x)))
        x = F.relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class ResBlock(nn.Module):
    def __init__(self, cin: int, cinner: int, cout: int, kt: int, stride: int):
        super().__init__()
        if cin != cout or stride != 1:
            self.branch1 = nn.Conv3d(cin, cout, 1, stride=(1, stride, stride), bias=False)
            self.branch1_bn = _bn(cout)
        else:
            self.branch1 = None
        self.branch2 = Bottleneck(cin, cinner, cout, kt, stride)

    def forward(self, x):
        short = self.branch1_bn(self.branch1(x)) if self.branch1 is not None else x
        return F.relu(short + self.branch2(x))


class Stage(nn.Module):
    def __init__(self, cin: int, cinner: int, cout: int, kernels: tuple[int, ...], stride: int):
        super().__init__()
        for i, kt in enumerate(kernels):
            self.add_module(f"pathway0_res{i}", ResBlock(cin if i == 0 else cout, cinner, cout, kt,
                                                         stride if i == 0 else 1))

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x


class Head(nn.Module):
    """Global average pool -> dropout -> Linear(C, 1).

    The release pools with a fixed (16, 7, 7) kernel, i.e. the whole map for 32 x 224 px
    clips; pooling globally is identical there and lets other clip sizes run.
    """

    def __init__(self, cin: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(cin, 1)

    def forward(self, x):
        x = x.mean(dim=(2, 3, 4))
        return self.projection(self.dropout(x))


class ResNet3D(nn.Module):
    def __init__(self, arch: ArchConfig):
        super().__init__()
        w = arch.width
        self.s1 = nn.Module()
        self.s1.add_module("pathway0_stem", Stem(3, w, arch.stem_kernel_t))
        cin = w
        for s, (n, kts) in enumerate(zip(arch.blocks, arch.temporal_kernels), start=2):
            if len(kts) != n:
                raise ValueError(f"stage s{s}: {n} blocks but {len(kts)} temporal kernels")
            inner = w * 2 ** (s - 2)
            self.add_module(f"s{s}", Stage(cin, inner, inner * 4, kts, 1 if s == 2 else 2))
            cin = inner * 4
        self.pathway0_pool = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))
        self.head = Head(cin, arch.dropout)

    def forward(self, x):
        x = self.s1.pathway0_stem(x)
        x = self.s2(x)
        x = self.pathway0_pool(x)
        return self.head(self.s5(self.s4(self.s3(x))))


class AltFreezingDetector(nn.Module):
    """The release's wrapper: one submodule ``resnet`` (hence the ``resnet.`` key prefix)."""

    def __init__(self, arch: ArchConfig = ArchConfig(), name: str = "altfreezing"):
        super().__init__()
        self.arch = arch
        self.arch_name = name
        self.preprocess = arch.preprocess
        self.resnet = ResNet3D(arch)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips: (N, 3, T, H, W), normalised -> logits (N, 1)."""
        if clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"expected clips of shape (N, 3, T, H, W), got {tuple(clips.shape)}")
        return self.resnet(clips)


def parameter_groups(model: AltFreezingDetector) -> dict[str, list[str]]:
    """AltFreezing's partition by kernel shape, for the trainer's freezing schedules.

    spatial = every 1x3x3 conv weight; temporal = every t x1x1 conv weight with t > 1;
    always = the rest (stem, 1x1x1 convs incl. shortcuts, BN, head).
    """
    out: dict[str, list[str]] = {"spatial": [], "temporal": [], "always": []}
    for name, p in model.named_parameters():
        if p.ndim == 5 and tuple(p.shape[2:]) == (1, 3, 3):
            out["spatial"].append(name)
        elif p.ndim == 5 and p.shape[2] > 1 and tuple(p.shape[3:]) == (1, 1):
            out["temporal"].append(name)
        else:
            out["always"].append(name)
    return out


# --- checkpoint_filter_fn -------------------------------------------------------------

_PREFIXES = ("module.", "network.", "model.")


def _unwrap(obj) -> Mapping[str, torch.Tensor]:
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a dict of tensors, got {type(obj).__name__}")
    for key in ("model_state_dict", "state_dict", "model"):
        if key in obj and isinstance(obj[key], Mapping):
            return _unwrap(obj[key])
    return obj


def checkpoint_filter_fn(obj, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Map any AltFreezing checkpoint seen in the wild to this module's keys.

    Handles: a plain ``resnet.*`` state dict; ``{"state_dict": ...}`` with ``module.`` /
    ``network.`` prefixes; the 640-key wrapper dump holding every tensor under both
    ``network.`` and ``_warped_network.`` (also inside CS229's ``{"model_state_dict": ...,
    "epoch": ..., "optimizer_state_dict": ...}``); vcbench's own ``{"state_dict": ...}``.
    The twin copies must be identical; the ``_warped_network.`` one is dropped.
    With ``model``, the result is checked strictly: any missing, unexpected or mis-shaped key
    raises CheckpointError listing them (the official loader silently keeps random weights).
    Only ``num_batches_tracked`` (no effect at inference) may be absent; it is filled with 0.
    """
    sd = {k: v for k, v in _unwrap(obj).items()}
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"non-tensor entries in the state dict: {', '.join(bad[:5])}")
    warped = {k for k in sd if k.startswith("_warped_network.")}
    if warped:
        for k in warped:
            twin = "network." + k[len("_warped_network."):]
            if twin in sd and not torch.equal(sd[twin], sd[k]):
                raise CheckpointError(f"{k} differs from {twin}: the wrapper's two copies disagree")
        sd = {k: v for k, v in sd.items() if k not in warped}
    changed = True
    while changed:
        changed = False
        for p in _PREFIXES:
            if sd and all(k.startswith(p) for k in sd):
                sd = {k[len(p):]: v for k, v in sd.items()}
                changed = True
    if model is None:
        return sd
    want = model.state_dict()
    matched = sum(k in sd for k in want)
    for k, v in want.items():
        if k not in sd and k.endswith("num_batches_tracked"):
            sd[k] = torch.zeros_like(v)
    missing = [k for k in want if k not in sd]
    unexpected = [k for k in sd if k not in want]
    shaped = [f"{k} {tuple(sd[k].shape)} != {tuple(want[k].shape)}" for k in want
              if k in sd and sd[k].shape != want[k].shape]
    if missing or unexpected or shaped:
        name = getattr(model, "arch_name", type(model).__name__)
        parts = [f"checkpoint does not fit {name!r} ({matched} of {len(want)} keys present)"]
        for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shaped)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:5])}{more}")
        raise CheckpointError("; ".join(parts))
    return sd


# --- builders and registered names ------------------------------------------------------

ARCHS: dict[str, ArchConfig] = {
    # the released network: 27,225,921 parameters, 320 tensors
    "altfreezing": ArchConfig(),
    # small variants for CPU tests and the demo; never substituted for the official one
    "altfreezing-small": ArchConfig(blocks=(1, 1, 1, 1), temporal_kernels=((3,), (3,), (3,), (3,)), width=16,
                                    preprocess=Preprocess(clip_len=16, size=112)),
    "altfreezing-tiny": ArchConfig(blocks=(1, 1, 1, 1), temporal_kernels=((3,), (1,), (3,), (1,)), width=8,
                                   stem_kernel_t=3, preprocess=Preprocess(clip_len=8, size=64)),
}


def build_altfreezing(name: str = "altfreezing", **overrides) -> AltFreezingDetector:
    from dataclasses import replace

    arch = ARCHS[name]
    if overrides:
        arch = replace(arch, **overrides)
    return AltFreezingDetector(arch, name)
