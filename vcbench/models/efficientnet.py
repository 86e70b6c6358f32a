"""EfficientNet frame detectors: SBI's (Self-Blended Images, CVPR 2022) and DeepfakeBench's
``efficientnetb4``, on efficientnet-pytorch, the package both releases build on (its module and
parameter names and its "same" padding are therefore theirs).

Order as in timm: modules -> ``checkpoint_filter_fn`` -> builder. Layout: frames arrive as
``(N, 3, 1, S, S)`` clips of one frame (the scorer's one tensor layout), normalised as the weights
declare (``Preprocess``); ``forward`` returns one raw logit per frame, ``(N, 1)``: the two-class
head's ``logit_fake - logit_real``, whose sigmoid is exactly the release's ``softmax(1)[:, 1]``.

- ``sbi``: SBI's ``Detector``: ``net = EfficientNet.from_pretrained("efficientnet-b4", advprop=True,
  num_classes=2)`` (keys ``net._conv_stem.weight`` ... ``net._fc.weight`` (2, 1792)); released as a
  ``.tar`` holding ``{"model": state_dict}``.
- ``dfb``: DeepfakeBench's ``EfficientDetector``: ``backbone.efficientnet`` is EfficientNet-B4 whose
  ``_conv_stem`` is replaced by an unpadded ``Conv2d(3, 48, 3, stride=2, bias=False)`` and whose
  ``_fc`` is an ``Identity``; ``backbone.last_layer = Linear(1792, 2)`` after global average pooling.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import NotAvailableError
from .archs import EffNetConfig


def _efficientnet(cfg: EffNetConfig, num_classes: int):
    try:
        from efficientnet_pytorch import EfficientNet
    except ImportError:
        raise NotAvailableError("the EfficientNet detectors need efficientnet-pytorch (pip install efficientnet-pytorch)") from None
    over = {k: v for k, v in (("width_coefficient", cfg.width), ("depth_coefficient", cfg.depth),
                              ("image_size", cfg.image_size)) if v is not None}
    return EfficientNet.from_name(cfg.variant, num_classes=num_classes, **over)


# --- modules --------------------------------------------------------------------------

class _DFBBackbone(nn.Module):
    """DeepfakeBench's ``EfficientNetB4`` backbone (mode ``Original``, no dropout)."""

    def __init__(self, cfg: EffNetConfig):
        super().__init__()
        self.efficientnet = _efficientnet(cfg, 1000)
        stem_out = self.efficientnet._conv_stem.out_channels
        self.efficientnet._conv_stem = nn.Conv2d(3, stem_out, kernel_size=3, stride=2, bias=False)
        features = self.efficientnet._fc.in_features
        self.efficientnet._fc = nn.Identity()
        self.last_layer = nn.Linear(features, 2)


class EfficientNetDetector(nn.Module):
    """One of the two releases' detectors (``cfg.layout``), a frame detector of vcbench."""

    def __init__(self, cfg: EffNetConfig = EffNetConfig(), name: str = "sbi"):
        super().__init__()
        self.arch, self.arch_name = cfg, name
        self.preprocess = cfg.preprocess
        self.weights = None
        if cfg.layout == "sbi":
            self.net = _efficientnet(cfg, 2)
        elif cfg.layout == "dfb":
            self.backbone = _DFBBackbone(cfg)
        else:
            raise ValueError(f"EfficientNet layout must be sbi or dfb, got {cfg.layout!r}")

    @property
    def _effnet(self):
        return self.net if self.arch.layout == "sbi" else self.backbone.efficientnet

    @property
    def classifier(self) -> nn.Linear:
        return self.net._fc if self.arch.layout == "sbi" else self.backbone.last_layer

    def forward_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, 3, 1, S, S) normalised frames -> the last conv's map (N, C, H', W')."""
        if clips.ndim != 5 or clips.shape[1] != 3 or clips.shape[2] != 1:
            raise ValueError(f"expected frames of shape (N, 3, 1, S, S), got {tuple(clips.shape)}")
        return self._effnet.extract_features(clips[:, :, 0])

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool -> (dropout) -> the two-class layer -> ``logit_fake - logit_real`` (N, 1)."""
        if self.arch.layout == "sbi":
            x = self.net._avg_pooling(x).flatten(start_dim=1)
            x = self.net._dropout(x)
        else:
            x = F.adaptive_avg_pool2d(x, (1, 1)).flatten(start_dim=1)
        if pre_logits:
            return x
        two = self.classifier(x)
        return two[:, 1:2] - two[:, 0:1]

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(clips))

    def reset_classifier(self, num_classes: int = 1) -> None:
        """A fresh two-class layer (the released head's shape) for fine-tuning."""
        old = self.classifier
        new = nn.Linear(old.in_features, 2).to(old.weight.device)
        if self.arch.layout == "sbi":
            self.net._fc = new
        else:
            self.backbone.last_layer = new

    def stage_of(self, name: str) -> str:
        """The stage a parameter belongs to, head first (``gradual`` freezing opens them in order):
        ``head`` (the classifier and the final 1x1 conv), ``blocks-k`` by the block's quarter, ``stem``."""
        eff = "net." if self.arch.layout == "sbi" else "backbone.efficientnet."
        rest = name[len(eff):] if name.startswith(eff) else name
        if rest.startswith(("_fc", "_conv_head", "_bn1")) or name.startswith("backbone.last_layer"):
            return "head"
        if rest.startswith("_blocks"):
            parts = rest.split(".")
            if len(parts) < 2 or not parts[1].isdigit():
                return "head"          # the blocks' container: open whenever any block is (its own go to eval)
            n = len(self._effnet._blocks)
            return f"s{5 - min(3, 4 * int(parts[1]) // max(n, 1))}"   # s5 (last quarter) .. s2 (first)
        return "s1"


# --- checkpoint_filter_fn -------------------------------------------------------------

_PREFIXES = ("module.",)


def checkpoint_filter_fn(obj, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Map a published EfficientNet detector checkpoint to this module's keys.

    Handles: SBI's ``.tar`` (``{"model": state_dict}``, keys ``net.*``), a plain state dict,
    ``{"state_dict": ...}``, DeepfakeBench's saved detector (keys ``backbone.*``), any of them with
    ``module.`` (DataParallel). A state dict of the bare backbone (DeepfakeBench keys without
    ``backbone.``, or SBI's without ``net.``) gets the prefix the model's layout needs. With
    ``model``, strict: every missing, unexpected or mis-shaped key is named."""
    from .keys import tensor_state_dict

    sd = tensor_state_dict(obj, ("model", "state_dict", "model_state_dict"))
    for p in _PREFIXES:
        if sd and all(k.startswith(p) for k in sd):
            sd = {k[len(p):]: v for k, v in sd.items()}
    if model is None:
        return sd
    want = model.state_dict()
    need = "net." if model.arch.layout == "sbi" else "backbone."
    if sd and not any(k.startswith(need) for k in sd):
        sd = {need + k: v for k, v in sd.items()}
    from .keys import strict_check

    return strict_check(sd, want, getattr(model, "arch_name", type(model).__name__))


# --- builder ----------------------------------------------------------------------------

def build_efficientnet(name: str = "sbi") -> EfficientNetDetector:
    """A freshly initialised network of a registered EfficientNet architecture (see ``models.archs``)."""
    from .archs import ARCHS

    return EfficientNetDetector(ARCHS[name].arch, name)
