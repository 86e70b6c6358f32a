"""AltFreezing's detector: the released PySlowFast-style I3D ResNet-50 (``i3d_ori``).

Order as in timm: modules -> ``checkpoint_filter_fn`` -> builder -> registered names.
Module and parameter names reproduce the release's state-dict keys exactly
(``resnet.s1.pathway0_stem.conv.weight`` ... ``resnet.head.projection.weight``), so official
weights load without renaming. Layout: clips are ``(N, C, T, H, W)`` float tensors, already
normalised; ``forward`` returns one raw logit per clip, ``(N, 1)``; sigmoid is applied outside.
``forward`` is pure: freezing schedules live in the trainer (see :func:`parameter_groups`).
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CheckpointError

from .archs import ArchConfig

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

    def forward(self, x, pre_logits: bool = False):
        """(N, C, T', H', W') map -> (N, 1) logits, or the pooled (N, C) with ``pre_logits``."""
        x = self.dropout(x.mean(dim=(2, 3, 4)))
        return x if pre_logits else self.projection(x)


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

    def forward_features(self, x):
        """The trunk: stem, s2, the temporal pool, s3-s5 (the head is applied by the wrapper)."""
        x = self.pathway0_pool(self.s2(self.s1.pathway0_stem(x)))
        return self.s5(self.s4(self.s3(x)))


class AltFreezingDetector(nn.Module):
    """The release's wrapper: one submodule ``resnet`` (hence the ``resnet.`` key prefix)."""

    def __init__(self, arch: ArchConfig = ArchConfig(), name: str = "altfreezing", zero_init_residual: bool = False):
        super().__init__()
        self.arch = arch
        self.arch_name = name
        self.preprocess = arch.preprocess
        self.weights = None                      # checkpoint.Weights: where loaded weights came from
        self.resnet = ResNet3D(arch)
        self.init_weights(zero_init_residual)

    @property
    def num_features(self) -> int:
        return self.resnet.head.projection.in_features

    def init_weights(self, zero_init_residual: bool = False) -> None:
        """torchvision's video-ResNet initialisation: Kaiming-normal (fan_out, ReLU) convs,
        BatchNorm gamma 1 / beta 0, the classifier N(0, 0.01) with bias 0; optionally the last
        BatchNorm of every residual branch zeroed so each block starts as the identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.c_bn.weight)

    def forward_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, H, W) normalised clips -> the last stage's map (N, C, T', H', W')."""
        if clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"expected clips of shape (N, 3, T, H, W), got {tuple(clips.shape)}")
        return self.resnet.forward_features(clips)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool -> dropout -> projection: (N, 1) logits, or the pooled (N, C) with ``pre_logits``."""
        return self.resnet.head(x, pre_logits=pre_logits)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips: (N, 3, T, H, W), normalised -> logits (N, 1)."""
        return self.forward_head(self.forward_features(clips))

    def reset_classifier(self, num_classes: int = 1) -> None:
        """A fresh classifier (N(0, 0.01), bias 0) on the same features, for fine-tuning."""
        proj = nn.Linear(self.num_features, num_classes)
        nn.init.normal_(proj.weight, 0.0, 0.01)
        nn.init.zeros_(proj.bias)
        self.resnet.head.projection = proj.to(self.resnet.head.projection.weight.device)


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
    from .keys import strict_check

    return strict_check(sd, model.state_dict(), getattr(model, "arch_name", type(model).__name__))


# --- builder ----------------------------------------------------------------------------

def build_altfreezing(name: str = "altfreezing", **overrides) -> AltFreezingDetector:
    """A freshly initialised network of a registered architecture (see ``models.archs``)."""
    from dataclasses import replace

    from .archs import ARCHS

    arch = ARCHS[name].arch
    if overrides:
        arch = replace(arch, **overrides)
    return AltFreezingDetector(arch, name)
