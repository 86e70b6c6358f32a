"""``vcbench doctor``: what this machine actually has, each line from a real probe."""
from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass
from pathlib import Path

from .runtime import checkpoints_dir, insightface_root

RELEVANT_ENCODERS = ("libx264", "libopenh264", "libvpx", "libvpx-vp9", "libaom-av1", "libsvtav1", "mjpeg",
                     "h264_nvenc")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def find_insightface_packs(root: Path | None = None) -> dict[str, list[str]]:
    root = root or insightface_root()
    if not root.is_dir():
        return {}
    return {d.name: sorted(p.name for p in d.glob("*.onnx")) for d in sorted(root.iterdir())
            if d.is_dir() and any(d.glob("*.onnx"))}


def run_checks() -> list[Check]:
    out: list[Check] = []
    try:
        import torch

        cuda = torch.cuda.is_available()
        detail = f"torch {torch.__version__}; CUDA {'available: ' + torch.cuda.get_device_name(0) if cuda else 'not available'}"
        out.append(Check("torch", True, detail))
    except Exception as e:  # noqa: BLE001 - doctor reports, never crashes
        out.append(Check("torch", False, f"import failed: {e}"))
    try:
        import onnxruntime as ort

        dists = [d for d in ("onnxruntime", "onnxruntime-gpu") if _version(d)]
        detail = f"{'+'.join(dists)} {ort.__version__}; providers: {', '.join(ort.get_available_providers())}"
        ok = len(dists) == 1
        if not ok:
            detail += " (onnxruntime and onnxruntime-gpu are both installed: uninstall one)"
        out.append(Check("onnxruntime", ok, detail))
    except Exception as e:  # noqa: BLE001
        out.append(Check("onnxruntime", False, f"import failed: {e}"))
    try:
        from .video import ffmpeg_encoders, ffmpeg_exe, ffmpeg_version

        exe = ffmpeg_exe()
        enc = ffmpeg_encoders(exe)
        have = [e for e in RELEVANT_ENCODERS if e in enc]
        miss = [e for e in RELEVANT_ENCODERS if e not in enc]
        out.append(Check("ffmpeg", bool(have), f"{exe} (version {ffmpeg_version(exe)}); encoders: {', '.join(have)}"
                         + (f"; missing: {', '.join(miss)}" if miss else "")))
    except Exception as e:  # noqa: BLE001
        out.append(Check("ffmpeg", False, str(e)))
    try:
        import av

        out.append(Check("pyav", True, f"av {av.__version__} (decoding)"))
    except Exception as e:  # noqa: BLE001
        out.append(Check("pyav", False, f"import failed: {e}"))
    cv = [d for d in ("opencv-python", "opencv-contrib-python", "opencv-python-headless",
                      "opencv-contrib-python-headless") if _version(d)]
    try:
        import cv2

        out.append(Check("opencv", len(cv) == 1, f"cv2 {cv2.__version__} from {', '.join(cv) or '?'}"
                         + ("" if len(cv) == 1 else " (several OpenCV distributions share the cv2 folder: keep one)")))
    except Exception as e:  # noqa: BLE001
        out.append(Check("opencv", False, f"import failed: {e}"))
    try:
        from .faces.mediapipe_backend import self_test

        out.append(Check("face backend mediapipe", True, self_test()))
    except Exception as e:  # noqa: BLE001
        out.append(Check("face backend mediapipe", False, f"{type(e).__name__}: {e}"))
    packs = find_insightface_packs()
    iv = _version("insightface")
    out.append(Check("face backend insightface", bool(iv and packs),
                     f"insightface {iv or 'not installed'}; packs under {insightface_root()}: "
                     + (", ".join(f"{k} ({len(v)} models)" for k, v in packs.items()) or "none")))
    from .generate.swap.inswapper import find_inswapper

    sw = find_inswapper()
    out.append(Check("inswapper_128.onnx", sw is not None, str(sw) if sw else
                     "not found (looked in ~/.insightface/models and ./models); the 'mesh' swapper runs without it"))
    try:
        from .conference.webrtc.engine import webrtc_codecs

        version, codecs = webrtc_codecs()
        out.append(Check("webrtc engine", True, f"{version}; WebRTC video codecs: {', '.join(codecs)}"))
    except Exception as e:  # noqa: BLE001 - doctor reports, never crashes
        out.append(Check("webrtc engine", False, str(e).splitlines()[0] if str(e) else type(e).__name__))
    cdir = checkpoints_dir()
    cks = sorted(p for p in cdir.glob("*") if p.suffix in (".pth", ".pt", ".ckpt")) if cdir.is_dir() else []
    out.append(Check("checkpoints", bool(cks), f"{cdir}: " + (", ".join(p.name for p in cks) if cks else
                     "none (set VCBENCH_CHECKPOINTS to the folder holding AltFreezing checkpoints)")))
    return out
