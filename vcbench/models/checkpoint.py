"""Loading and saving detector checkpoints, always with ``torch.load(weights_only=True)``.

vcbench's own format also records the architecture name, the preprocessing the weights
expect, and how they were trained:
``{"format": "vcbench-detector/1", "arch": name, "state_dict": ..., "preprocess": {...}, "provenance": {...}}``.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..fileio import atomic_path
from .networks import build_network


FORMAT = "vcbench-detector/1"
UNTRAINED_SEED = 0


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw object, refusing anything that is not plain tensors and containers."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(16)
    kind = _not_a_checkpoint(head)
    if kind:
        raise CheckpointError(f"{path}: not a checkpoint: the file looks like {kind} (a PyTorch checkpoint is a zip "
                              "archive or a pickle)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e).splitlines()[0] if str(e) else ""
        if "weights_only" in str(e) or "Unsupported global" in str(e) or "GLOBAL" in str(e):
            raise CheckpointError(f"{path}: refused: the file holds pickled Python objects that would run code "
                                  f"on loading, not plain tensors ({msg[:120]})") from None
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({msg[:120]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, TypeError, IndexError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({msg[:160]})") from None


#: leading bytes of files people pass as checkpoints by mistake
_SIGNATURES = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"\x1aE\xdf\xa3", "a WebM/MKV video"),
               (b"GIF8", "a GIF image"), (b"\x7fELF", "a program (ELF)"), (b"\x1f\x8b", "a gzip archive"),
               (b"\x00\x00\x00\x01", "a raw video stream"), (b"ONNX", "an ONNX model"))


def _not_a_checkpoint(head: bytes) -> str | None:
    """What the file is when it is plainly not a torch checkpoint (zip archive or pickle), else None."""
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":      # torch's zip format, or a pickle
        return None
    if head[4:8] == b"ftyp":
        return "an MP4/MOV video"
    for sig, what in _SIGNATURES:
        if head.startswith(sig):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown binary data (first bytes " + head[:8].hex(" ") + ")"
    return "text" if text.isprintable() or text.strip() else "unknown data"


class CheckpointFile:
    """One checkpoint file, read and hashed at most once however many parts of a run ask about it:
    what it holds (``contents``, strictly ``weights_only``), its SHA-256, and the architecture a
    vcbench checkpoint names. Names become this object once, at the boundary; the detector, the
    loader, the overlap check and the run's records all ask it. ``release()`` drops the contents
    once the network holds the weights (a second network from the same object reads it again)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._contents = None
        self._sha256: str | None = None

    @property
    def contents(self):
        if self._contents is None:
            self._contents = read_checkpoint(self.path)
        return self._contents

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            from ..fileio import sha256_file

            self._sha256 = sha256_file(self.path)
        return self._sha256

    @property
    def ours(self) -> bool:
        """Whether the file is in vcbench's own format (it names its architecture)."""
        return isinstance(self.contents, dict) and self.contents.get("format") == FORMAT

    @property
    def arch(self) -> str | None:
        """The architecture a vcbench checkpoint names; None for a release's file."""
        return self.contents.get("arch") if self.ours else None

    def release(self) -> None:
        self._contents = None

    def __repr__(self) -> str:
        return f"CheckpointFile({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)


def load_network(name: str | None = "altfreezing", checkpoint: str | os.PathLike | CheckpointFile | None = None,
                 device: str = "cpu"):
    """Build ``name``, load ``checkpoint`` strictly (see checkpoint_filter_fn), eval mode.

    A vcbench checkpoint names its architecture: ``name=None`` takes it from the file, and
    loading it as another name is an error, so a small variant is never mistaken for the
    official network. Without a checkpoint the network is initialised from a fixed seed.
    """
    from .archs import ARCHS
    from .keys import Weights
    from .preprocess import Preprocess
    from ..registry import resolve_target

    file = checkpoint if isinstance(checkpoint, CheckpointFile) or checkpoint is None else CheckpointFile(checkpoint)
    obj = file.contents if file is not None else None
    ours = file is not None and file.ours
    if name is None:
        name = obj.get("arch") if ours and obj.get("arch") else "altfreezing"
    if obj is None:   # untrained: initialised from a fixed seed, so the same command gives the same number
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(UNTRAINED_SEED)
            return build_network(name).to(device).eval()
    model = build_network(name)
    provenance = {}
    if ours:
        if obj.get("arch") != name:
            raise CheckpointError(f"{checkpoint}: a {obj.get('arch')!r} checkpoint, not {name!r} "
                                  f"(pass --model {obj.get('arch')})")
        if obj.get("preprocess"):
            try:
                model.preprocess = Preprocess.from_dict(obj["preprocess"])
            except (TypeError, ValueError) as e:
                raise CheckpointError(f"{checkpoint}: its declared input (preprocess) is not usable: {e}") from None
        provenance = obj.get("provenance", {})
    checkpoint_filter_fn = resolve_target(ARCHS[name].filter)      # the network's own, from its module
    try:
        sd = checkpoint_filter_fn(obj, model)
    except CheckpointError as e:
        raise CheckpointError(f"{checkpoint}: {e}") from None
    model.load_state_dict(sd, strict=True)
    model.weights = Weights.of_file(file, provenance)
    return model.to(device).eval()


def checkpoint_arch(path: str | os.PathLike) -> str | None:
    """The architecture a vcbench checkpoint names (None for other formats); the file is mapped,
    not read whole."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - the real load reports what is wrong with the file
        return None
    return obj.get("arch") if isinstance(obj, dict) and obj.get("format") == FORMAT else None


def checkpoint_dict(model, provenance: dict | None = None) -> dict:
    """vcbench's checkpoint format as an object: weights (CPU, contiguous) + arch + preprocessing +
    provenance. A fine-tuning run adds its ``trainer`` state to it for ``last.pth``."""
    return {
        "format": FORMAT,
        "arch": model.arch_name,
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "preprocess": model.preprocess.to_dict(),
        "provenance": provenance or {},
    }


def save_checkpoint(model, path: str | os.PathLike, provenance: dict | None = None) -> Path:
    """Write vcbench's format atomically: weights + arch + preprocessing + provenance."""
    obj = checkpoint_dict(model, provenance)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)
