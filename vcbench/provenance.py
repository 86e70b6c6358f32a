"""What produced an output: package versions, ffmpeg build, git commit, date.

Written beside every generated dataset (and later every run record) so a number can be
traced back to the exact software that made it.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import platform
import subprocess
from pathlib import Path

PACKAGES = ("vcbench", "numpy", "torch", "opencv-contrib-python", "mediapipe", "onnxruntime", "onnxruntime-gpu",
            "insightface", "av", "imageio-ffmpeg", "scikit-image", "scipy")


def package_versions(packages=PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            continue
    return out


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the vcbench checkout (None for an installed wheel)."""
    here = Path(path or __file__).resolve().parent
    try:
        r = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def provenance(ffmpeg: str | None = None) -> dict:
    from .video import ffmpeg_exe, ffmpeg_version

    info = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": package_versions(), "git": git_commit(), "platform": platform.platform()}
    try:
        info["ffmpeg"] = ffmpeg_version(ffmpeg_exe(ffmpeg))
    except Exception:  # noqa: BLE001 - provenance must never be what fails a run
        info["ffmpeg"] = None
    return info
