"""FTCN (Fully Temporal Convolution Network) with its Temporal Transformer, as released
(yinglinzheng/FTCN, ``ftcn_tt.yaml``; ICCV 2021): the clip detector AltFreezing grew out of.

Its network is the same PySlowFast I3D ResNet-50 with every spatial kernel made 1 (``spatial_count
0``): a t x k x k conv becomes t x 1 x 1, and a conv with spatial stride 2 keeps stride 1 while a
1 x 2 x 2 max pool follows its BatchNorm (``keep_stride_count 0``), so that BatchNorm becomes
``Sequential(bn, pool)`` and its keys gain ``.0``. Stage s5 is removed (``stop_point 5``); the head
is a Temporal Transformer over the 16 time steps of s4's 1024 channels, each averaged over its
14 x 14 positions (``patch_type time``): a class token, learned position embeddings, ``depth 1``
pre-norm block (16 heads of 64, MLP 2048, GELU), LayerNorm + Linear(1024, 1). The release applies a
sigmoid in the head; here ``forward`` returns the logit before it, as every vcbench network does.

Order as in timm: modules -> ``checkpoint_filter_fn`` -> builder. Keys reproduce the release's
``I3D8x8`` state dict (``resnet.s1.pathway0_stem.conv.weight`` (64, 3, 5, 1, 1),
``resnet.s1.pathway0_stem.bn.0.weight``, ``resnet.s3.pathway0_res0.branch2.b_bn.0.running_mean``,
``resnet.head.time_T.transformer.layers.0.0.fn.fn.to_qkv.weight`` ...). Clips are ``(N, 3, T, H, W)``
normalised as AltFreezing's (same pipeline family: the release's ``test_on_raw_video.py`` crops,
aligns and normalises exactly as AltFreezing's demo does).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .archs import FTCNConfig


def _bn(c: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(c, eps=1e-5, momentum=0.1)


def _bn_pool(c: int, pool: bool) -> nn.Module:
    """A BatchNorm, followed by the 1 x 2 x 2 max pool that stands in for a removed spatial stride."""
    return nn.Sequential(_bn(c), nn.MaxPool3d((1, 2, 2))) if pool else _bn(c)


class Stem(nn.Module):
    def __init__(self, cin: int, cout: int, kt: int):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, (kt, 1, 1), stride=1, padding=(kt // 2, 0, 0), bias=False)
        self.bn = _bn_pool(cout, True)                  # the stem's stride 2, moved after its norm
        self.pool_layer = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x):
        return self.pool_layer(F.relu(self.bn(self.conv(x))))


class Bottleneck(nn.Module):
    """a: t x 1 x 1; b: 1 x 1 x 1 (its spatial stride a pool after b_bn); c: 1 x 1 x 1."""

    def __init__(self, cin: int, cinner: int, cout: int, kt: int, stride: int):
        super().__init__()
        self.a = nn.Conv3d(cin, cinner, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.a_bn = _bn(cinner)
        self.b = nn.Conv3d(cinner, cinner, 1, bias=False)
        self.b_bn = _bn_pool(cinner, stride == 2)
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
            self.branch1 = nn.Conv3d(cin, cout, 1, bias=False)
            self.branch1_bn = _bn_pool(cout, stride == 2)
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


# --- the Temporal Transformer head -----------------------------------------------------

class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float):
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        inner = heads * dim_head
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.to_qkv(x).chunk(3, dim=-1))
        attn = (q @ k.transpose(-1, -2) * self.scale).softmax(dim=-1)
        return self.to_out((attn @ v).transpose(1, 2).reshape(b, n, -1))


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class Residual(nn.Module):
    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                                 nn.Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class Transformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList([nn.ModuleList([
            Residual(PreNorm(dim, Attention(dim, heads, dim_head, dropout))),
            Residual(PreNorm(dim, FeedForward(dim, mlp_dim, dropout)))]) for _ in range(depth)])

    def forward(self, x):
        for attn, ff in self.layers:
            x = ff(attn(x))
        return x


class TimeTransformer(nn.Module):
    def __init__(self, num_patches: int, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int,
                 dropout: float = 0.1, emb_dropout: float = 0.1):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.dropout = nn.Dropout(emb_dropout)
        self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim, dropout)
        self.mlp_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 1))

    def forward(self, x, pre_logits: bool = False):
        b, n, _ = x.shape
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1) + self.pos_embedding[:, :n + 1]
        x = self.transformer(self.dropout(x))[:, 0]
        return x if pre_logits else self.mlp_head(x)


class TransformerHead(nn.Module):
    """Average each time step over its positions, then the Temporal Transformer (``patch_type time``)."""

    def __init__(self, channels: int, time_size: int, cfg: FTCNConfig):
        super().__init__()
        self.time_T = TimeTransformer(time_size, channels, cfg.tt_depth, cfg.tt_heads, cfg.tt_dim_head, cfg.tt_mlp)

    def forward(self, x, pre_logits: bool = False):
        x = x.mean(dim=(3, 4)).transpose(1, 2)            # (N, C, T, H, W) -> (N, T, C)
        return self.time_T(x, pre_logits)


class ResNet3D(nn.Module):
    def __init__(self, cfg: FTCNConfig):
        super().__init__()
        w = cfg.width
        self.s1 = nn.Module()
        self.s1.add_module("pathway0_stem", Stem(3, w, cfg.stem_kernel_t))
        cin = w
        for s, kts in enumerate(cfg.temporal_kernels, start=2):
            inner = w * 2 ** (s - 2)
            self.add_module(f"s{s}", Stage(cin, inner, inner * 4, kts, 1 if s == 2 else 2))
            cin = inner * 4
        self.pathway0_pool = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))
        self.head = TransformerHead(cin, cfg.preprocess.clip_len // 2, cfg)
        self.n_stages = len(cfg.temporal_kernels)             # s2..s4: s5 is removed (stop_point 5)

    def forward_features(self, x):
        x = self.pathway0_pool(self.s2(self.s1.pathway0_stem(x)))
        for s in range(3, 2 + self.n_stages):
            x = getattr(self, f"s{s}")(x)
        return x


class FTCNDetector(nn.Module):
    """The release's ``I3D8x8``: one submodule ``resnet`` (hence the ``resnet.`` key prefix)."""

    def __init__(self, cfg: FTCNConfig = FTCNConfig(), name: str = "ftcn"):
        super().__init__()
        self.arch, self.arch_name = cfg, name
        self.preprocess = cfg.preprocess
        self.weights = None
        self.resnet = ResNet3D(cfg)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, H, W) normalised clips -> s4's map (N, C, T/2, H', W')."""
        if clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"expected clips of shape (N, 3, T, H, W), got {tuple(clips.shape)}")
        return self.resnet.forward_features(clips)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The Temporal Transformer: (N, 1) logits (the release's output before its sigmoid)."""
        return self.resnet.head(x, pre_logits)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(clips))

    def reset_classifier(self, num_classes: int = 1) -> None:
        old = self.resnet.head.time_T.mlp_head[1]
        new = nn.Linear(old.in_features, 1).to(old.weight.device)
        nn.init.zeros_(new.bias)
        nn.init.normal_(new.weight, 0.0, 0.01)
        self.resnet.head.time_T.mlp_head[1] = new


# --- checkpoint_filter_fn -------------------------------------------------------------

def checkpoint_filter_fn(obj, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Map FTCN's released ``ftcn_tt.pth`` (the ``I3D8x8`` state dict, keys ``resnet.*``, possibly
    with ``module.``, or inside ``{"state_dict": ...}``) to this module's keys; with ``model``,
    strict: every missing, unexpected or mis-shaped key is named (the release's own loader warns
    and keeps random weights)."""
    from .altfreezing import checkpoint_filter_fn as af_filter

    sd = af_filter(obj, None)                          # same wrappers and prefixes as AltFreezing's
    if model is None:
        return sd
    from .keys import strict_check

    return strict_check(sd, model.state_dict(), getattr(model, "arch_name", type(model).__name__))


# --- builder ----------------------------------------------------------------------------

def build_ftcn(name: str = "ftcn") -> FTCNDetector:
    """A freshly initialised network of a registered FTCN architecture (see ``models.archs``)."""
    from .archs import ARCHS

    return FTCNDetector(ARCHS[name].arch, name)

