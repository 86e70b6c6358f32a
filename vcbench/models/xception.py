"""DeepfakeBench's Xception detector (``xception``, mode ``original``; FaceForensics++'s Xception
as DeepfakeBench keeps it), a frame detector of vcbench.

Order as in timm: modules -> ``checkpoint_filter_fn`` -> builder. Module and parameter names
reproduce DeepfakeBench's (``backbone.conv1.weight``, ``backbone.block1.rep.0.conv1.weight``,
``backbone.block1.skipbn.running_mean``, ``backbone.last_linear.weight`` (2, 2048), and the unused
``backbone.adjust_channel.*`` its backbone always builds), so its released weights load without
renaming. The layout of a block's ``rep`` (ReLUs included: they hold the indices of what follows)
is the one its constructor makes: ``[ReLU, SepConv, BN] * reps`` (the grow-first conv first, or last
when not grow-first), the leading ReLU dropped when not ``start_with_relu``, a MaxPool appended on a
strided block. Frames arrive as ``(N, 3, 1, S, S)``; ``forward`` returns ``logit_fake - logit_real``
(N, 1): its sigmoid is the release's ``softmax(1)[:, 1]``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .archs import XceptionConfig

# --- modules --------------------------------------------------------------------------


class SeparableConv2d(nn.Module):
    """Depthwise ``conv1`` then pointwise 1x1, both without bias."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 1, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, kernel_size, stride, padding, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, 1, 0, 1, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.conv1(x))


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, reps: int, stride: int = 1, start_with_relu: bool = True,
                 grow_first: bool = True):
        super().__init__()
        if cout != cin or stride != 1:
            self.skip = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
            self.skipbn = nn.BatchNorm2d(cout)
        else:
            self.skip = None
        rep: list[nn.Module] = []
        width = cin
        if grow_first:
            rep += [nn.ReLU(inplace=True), SeparableConv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout)]
            width = cout
        for _ in range(reps - 1):
            rep += [nn.ReLU(inplace=True), SeparableConv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width)]
        if not grow_first:
            rep += [nn.ReLU(inplace=True), SeparableConv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout)]
        if start_with_relu:
            rep[0] = nn.ReLU(inplace=False)       # the block's input is also its skip: not overwritten
        else:
            rep = rep[1:]
        if stride != 1:
            rep.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*rep)

    def forward(self, inp):
        x = self.rep(inp)
        skip = self.skipbn(self.skip(inp)) if self.skip is not None else inp
        return x + skip


class XceptionBackbone(nn.Module):
    def __init__(self, cfg: XceptionConfig):
        super().__init__()
        c1, c2, b1, b2, b3, b12, c3, c4 = cfg.widths
        self.conv1 = nn.Conv2d(3, c1, 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c1, c2, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.block1 = Block(c2, b1, 2, 2, start_with_relu=False, grow_first=True)
        self.block2 = Block(b1, b2, 2, 2)
        self.block3 = Block(b2, b3, 2, 2)
        for k in range(4, 4 + cfg.middle):                      # the middle flow
            self.add_module(f"block{k}", Block(b3, b3, 3, 1))
        self.exit_name = f"block{4 + cfg.middle}"               # block12 as released
        self.add_module(self.exit_name, Block(b3, b12, 2, 2, grow_first=False))
        self.conv3 = SeparableConv2d(b12, c3, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(c3)
        self.conv4 = SeparableConv2d(c3, c4, 3, 1, 1)
        self.bn4 = nn.BatchNorm2d(c4)
        self.last_linear = nn.Linear(c4, 2)
        self.adjust_channel = nn.Sequential(nn.Conv2d(c4, 512, 1, 1), nn.BatchNorm2d(512), nn.ReLU(inplace=True))
        self.middle = cfg.middle

    def features(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        for k in range(1, 5 + self.middle):
            x = getattr(self, f"block{k}")(x)
        x = self.relu(self.bn3(self.conv3(x)))
        return self.bn4(self.conv4(x))

    def pooled(self, features):
        return F.adaptive_avg_pool2d(self.relu(features), (1, 1)).flatten(1)


class XceptionDetector(nn.Module):
    """DeepfakeBench's ``XceptionDetector``: one submodule ``backbone`` (hence the key prefix)."""

    def __init__(self, cfg: XceptionConfig = XceptionConfig(), name: str = "dfb-xception"):
        super().__init__()
        self.arch, self.arch_name = cfg, name
        self.preprocess = cfg.preprocess
        self.weights = None
        self.backbone = XceptionBackbone(cfg)

    @property
    def classifier(self) -> nn.Linear:
        return self.backbone.last_linear

    def forward_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, 3, 1, S, S) normalised frames -> bn4's map (N, 2048, H', W')."""
        if clips.ndim != 5 or clips.shape[1] != 3 or clips.shape[2] != 1:
            raise ValueError(f"expected frames of shape (N, 3, 1, S, S), got {tuple(clips.shape)}")
        return self.backbone.features(clips[:, :, 0])

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """ReLU -> global average pool -> ``last_linear`` -> ``logit_fake - logit_real`` (N, 1)."""
        x = self.backbone.pooled(x)
        if pre_logits:
            return x
        two = self.backbone.last_linear(x)
        return two[:, 1:2] - two[:, 0:1]

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(clips))

    def reset_classifier(self, num_classes: int = 1) -> None:
        old = self.backbone.last_linear
        self.backbone.last_linear = nn.Linear(old.in_features, 2).to(old.weight.device)

    def stage_of(self, name: str) -> str:
        """Head first (``gradual``): ``head`` (last_linear, conv3/4 and their BNs), ``s5`` the exit
        block, ``s4`` the middle flow, ``s3`` the entry blocks, ``s2`` conv1/conv2 (and the unused
        adjust_channel)."""
        part = name.split(".")[1] if name.startswith("backbone.") else name.split(".")[0]
        if part in ("last_linear", "conv3", "bn3", "conv4", "bn4"):
            return "head"
        if part == self.backbone.exit_name:
            return "s5"
        if part.startswith("block"):
            k = int(part[len("block"):])
            return "s3" if k <= 3 else "s4"
        return "s2"


# --- checkpoint_filter_fn -------------------------------------------------------------

def checkpoint_filter_fn(obj, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Map a published DeepfakeBench Xception checkpoint to this module's keys.

    Handles: the detector's saved state dict (``backbone.*``), with ``module.`` (DataParallel),
    inside ``{"state_dict": ...}`` / ``{"model": ...}``; a bare backbone state dict (FaceForensics++'s
    keys without ``backbone.``) gets the prefix; a 1-layer ``last_linear`` saved as
    ``last_linear.1.*`` (a dropout head) is renamed to ``last_linear.*``. With ``model``, strict."""
    from .keys import tensor_state_dict

    sd = tensor_state_dict(obj, ("state_dict", "model", "model_state_dict"))
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    if sd and not any(k.startswith("backbone.") for k in sd):
        sd = {"backbone." + k: v for k, v in sd.items()}
    sd = {k.replace("backbone.last_linear.1.", "backbone.last_linear."): v for k, v in sd.items()}
    if model is None:
        return sd
    from .keys import strict_check

    return strict_check(sd, model.state_dict(), getattr(model, "arch_name", type(model).__name__))


# --- builder ----------------------------------------------------------------------------

def build_xception(name: str = "dfb-xception") -> XceptionDetector:
    """A freshly initialised network of a registered Xception architecture (see ``models.archs``)."""
    from .archs import ARCHS

    return XceptionDetector(ARCHS[name].arch, name)
