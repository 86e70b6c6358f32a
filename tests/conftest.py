"""Fixtures are generated on the fly from real encodes; nothing is downloaded."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


def ffmpeg() -> str:
    from vcbench.video import ffmpeg_exe

    return ffmpeg_exe()


def make_video(path: Path, frames: int = 8, size: str = "64x48", rate: int = 10, extra: list[str] = (),
               codec: list[str] = ("-c:v", "libx264", "-pix_fmt", "yuv420p")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size={size}:rate={rate}", "-frames:v", str(frames), *extra,
                    *codec, str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory) -> Path:
    """A real 8-frame 64x48 H.264 mp4."""
    return make_video(tmp_path_factory.mktemp("media") / "tiny.mp4")


def place(src: Path, root: Path, rels: list[str]) -> None:
    for rel in rels:
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


@pytest.fixture
def ffpp_tree(tmp_path, tiny_video) -> Path:
    """FF++ layout: train pair 071/054, val pair 720/672, test pair 953/974; the same fake
    name under two methods; c23 and raw compressions."""
    root = tmp_path / "FaceForensics++"
    rels = []
    for comp in ("c23", "raw"):
        rels += [f"original_sequences/youtube/{comp}/videos/{i}.mp4" for i in ("071", "054", "720", "672", "953", "974")]
        for m in ("Deepfakes", "FaceSwap"):
            rels += [f"manipulated_sequences/{m}/{comp}/videos/{n}.mp4" for n in ("071_054", "054_071", "720_672", "953_974")]
    place(tiny_video, root, rels)
    return root


@pytest.fixture
def celebdf_tree(tmp_path, tiny_video) -> Path:
    root = tmp_path / "Celeb-DF-v2"
    reals = [f"Celeb-real/id{i}_{c:04d}.mp4" for i in range(6) for c in range(2)]
    fakes = [f"Celeb-synthesis/id{t}_id{s}_{c:04d}.mp4" for t in range(6) for s in range(6) if t != s for c in range(1)]
    yt = [f"YouTube-real/{n:05d}.mp4" for n in range(4)]
    place(tiny_video, root, reals + fakes + yt)
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0001.mp4\n1 YouTube-real/00003.mp4\n0 Celeb-synthesis/id1_id0_0000.mp4\n")
    return root


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def cli_runner():
    from click.testing import CliRunner

    return CliRunner()


def sample_media(name: str) -> Path:
    from vcbench.samples import sample_path

    return sample_path(name)


@pytest.fixture(scope="session")
def carphone() -> Path:
    return sample_media("carphone")


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    from skimage import data

    return data.astronaut()


has_mediapipe = importlib.util.find_spec("mediapipe") is not None
