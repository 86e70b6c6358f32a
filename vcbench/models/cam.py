"""Class activation maps of a detector's "fake" logit: spatio-temporal Grad-CAM and Grad-CAM++.

Every registered network splits into ``forward_features`` (the last convolutional map,
``(N, C, T', H', W')`` for clips, ``(N, C, H', W')`` for frames) and ``forward_head``; the default
layer is that map ("features": res5 for AltFreezing, s4 for FTCN, the last conv of the frame
networks). ``layer`` may name any submodule instead (``resnet.s4``), read through a forward hook.

Grad-CAM (Selvaraju et al. 2017), in 3D: channel weights are the gradient's mean over time and
space, the map is ``ReLU(sum_c w_c A_c)`` over ``(T', H', W')``. Grad-CAM++ (Chattopadhay et al.
2018) weighs each position's positive gradient by ``g^2 / (2 g^2 + sum(A) g^3)``. Maps are
upsampled (trilinear) to the clip, ``(N, T, S, S)``, each clip scaled to [0, 1] by its maximum.

Always fp32, gradients only from the explained layer on (the trunk below it runs without a
graph), the network's own mode and weights untouched: explaining never changes a score.
"""
from __future__ import annotations

import difflib
import typing

import numpy as np

from ..config import CamMethod
from ..errors import ConfigError

CAM_METHODS = typing.get_args(CamMethod)
FEATURES = "features"


def check_layer(net, name: str | None) -> None:
    """Refuse a ``--layer`` the network lacks before any video is decoded ("did you mean")."""
    if name not in (None, FEATURES):
        _layer(net, name)


def _layer(net, name: str):
    mods = dict(net.named_modules())
    if name in mods and name:
        return mods[name]
    near = difflib.get_close_matches(name, [m for m in mods if m], n=3)
    raise ConfigError(f"--layer {name!r}: {type(net).__name__} has no such module"
                      + (f"; did you mean {', '.join(near)}?" if near else f" (use {FEATURES!r} or a module name)"))


def _weights(a, g, method: str):
    """Channel-and-position weights ``(N, C, ...)`` for activations ``a`` and gradients ``g``."""
    import torch

    dims = tuple(range(2, a.ndim))
    if method == "gradcam":
        return g.mean(dim=dims, keepdim=True)
    g2, g3 = g * g, g * g * g
    denom = 2 * g2 + a.sum(dim=dims, keepdim=True) * g3
    alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
    return (alpha * torch.relu(g)).sum(dim=dims, keepdim=True)


def cam(net, x, method: str = "gradcam", layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(maps, logits)`` for normalised clips ``x`` ``(N, 3, T, S, S)`` (the layout every network
    takes; frame networks T = 1): maps ``(N, T, S, S)`` float32 in [0, 1] (a clip whose map is zero
    everywhere stays zero), logits ``(N,)`` of the pass the map was taken from."""
    import torch
    import torch.nn.functional as F

    if method not in CAM_METHODS:
        raise ConfigError(f"--method {method!r}: one of {', '.join(CAM_METHODS)}")
    x = x.float()
    n, _, t, h, w = x.shape
    with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
        if layer in (None, FEATURES):
            feats = net.forward_features(x)
            a = feats.detach().requires_grad_()
            with torch.enable_grad():
                logits = net.forward_head(a * 1.0)[:, 0]      # * 1.0: in-place ops in the head leave `a` intact
        else:
            box: dict = {}

            def hook(_mod, _inp, out):
                box["a"] = out.detach().requires_grad_()
                return box["a"] * 1.0

            handle = _layer(net, layer).register_forward_hook(hook)
            try:
                with torch.enable_grad():
                    logits = net(x)[:, 0]
            finally:
                handle.remove()
            if "a" not in box:
                raise ConfigError(f"--layer {layer!r}: the module took no part in the forward pass")
            a = box["a"]
        with torch.enable_grad():
            if not logits.requires_grad:
                raise ConfigError(f"--layer {layer or FEATURES!r}: the logit does not depend on it")
            (g,) = torch.autograd.grad(logits.sum(), a)
    a, g = a.detach(), g.detach()
    if a.ndim == 4:                                  # a frame network's (N, C, H', W')
        a, g = a[:, :, None], g[:, :, None]
    if a.ndim != 5:
        raise ConfigError(f"--layer {layer or FEATURES!r}: a map of shape {tuple(a.shape)} is not a "
                          "(N, C, T, H, W) or (N, C, H, W) activation")
    m = torch.relu((_weights(a, g, method) * a).sum(dim=1))                   # (N, T', H', W')
    m = F.interpolate(m[:, None], size=(t, h, w), mode="trilinear", align_corners=False)[:, 0]
    top = m.flatten(1).amax(1).clamp_min(1e-12).view(n, 1, 1, 1)
    m = torch.where(top > 1e-12, m / top, torch.zeros_like(m)).clamp(0, 1)
    return m.cpu().numpy().astype(np.float32), logits.detach().float().cpu().numpy()


def frame_importance(maps: np.ndarray) -> np.ndarray:
    """Each clip frame's share of its clip's map mass, ``(N, T)``, rows summing to 1 (uniform for
    an all-zero map)."""
    mass = maps.reshape(maps.shape[0], maps.shape[1], -1).sum(-1).astype(np.float64)
    tot = mass.sum(1, keepdims=True)
    return np.where(tot > 0, mass / np.where(tot > 0, tot, 1), 1.0 / maps.shape[1])
