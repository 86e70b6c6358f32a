"""Strict state-dict matching, shared by every network's ``checkpoint_filter_fn``: the official
loaders of these releases silently skip keys that do not fit and carry on with random weights;
vcbench refuses, naming every missing, unexpected or mis-shaped key."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..errors import CheckpointError


def tensor_state_dict(obj, wrappers: tuple[str, ...]) -> dict:
    """The state dict inside a published checkpoint: ``obj`` itself, or the value of the first of
    ``wrappers`` (``"model"``, ``"state_dict"``, ...) it holds; every entry must be a tensor."""
    import torch

    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a dict of tensors, got {type(obj).__name__}")
    for key in wrappers:
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    sd = dict(obj)
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"non-tensor entries in the state dict: {', '.join(bad[:5])}")
    return sd


def strict_check(sd: dict, want: Mapping, name: str) -> dict:
    """``sd`` if it fits ``want`` (a module's state dict) key for key and shape for shape; only
    ``num_batches_tracked`` (no effect at inference) may be absent, filled with 0."""
    import torch

    matched = sum(k in sd for k in want)
    for k, v in want.items():
        if k not in sd and k.endswith("num_batches_tracked"):
            sd[k] = torch.zeros_like(v)
    missing = [k for k in want if k not in sd]
    unexpected = [k for k in sd if k not in want]
    shaped = [f"{k} {tuple(sd[k].shape)} != {tuple(want[k].shape)}" for k in want
              if k in sd and sd[k].shape != want[k].shape]
    if missing or unexpected or shaped:
        parts = [f"checkpoint does not fit {name!r} ({matched} of {len(want)} keys present)"]
        for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shaped)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:5])}{more}")
        raise CheckpointError("; ".join(parts))
    return sd


@dataclass(frozen=True)
class Weights:
    """Where a detector's weights came from: the file, its SHA-256, the named tag it matches
    (e.g. ``altfreezing.official``) and the provenance a vcbench checkpoint carries."""

    checkpoint: str
    sha256: str
    tag: str | None = None
    provenance: Mapping = None

    @classmethod
    def of_file(cls, file, provenance: Mapping | None = None) -> "Weights":
        """``file``: a :class:`~.checkpoint.CheckpointFile` (its hash, computed once) or a path."""
        from ..fileio import sha256_file
        from .archs import tag_of_sha256

        path, digest = (file.path, file.sha256) if hasattr(file, "sha256") else (file, sha256_file(file))
        return cls(str(path), digest, tag_of_sha256(digest), dict(provenance or {}))

    def to_json(self) -> dict:
        return {"checkpoint": self.checkpoint, "sha256": self.sha256, "tag": self.tag,
                "provenance": dict(self.provenance or {})}
