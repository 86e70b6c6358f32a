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


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """No test reads or writes the user's ~/.cache/vcbench (renditions, face tracks, weights): the
    whole session, and the processes it starts, use one fresh cache; a test that checks the cache's
    contents sets its own ``VCBENCH_CACHE``."""
    import os

    old = os.environ.get("VCBENCH_CACHE")
    os.environ["VCBENCH_CACHE"] = str(tmp_path_factory.mktemp("vcbench-cache"))
    yield
    if old is None:
        os.environ.pop("VCBENCH_CACHE", None)
    else:
        os.environ["VCBENCH_CACHE"] = old


def builtin_ladder() -> list[str]:
    """Every built-in preset, in presets.toml's order: the one list the tests use."""
    from vcbench.conference.presets import builtin_presets

    return list(builtin_presets())


def preset_kind(p) -> tuple:
    """What decides which code path a preset runs: codec, network, bandwidth step, camera stages,
    receiver display and recorder. Two presets of one kind differ only in numbers."""
    camera = bool(p.noise_sigma or p.exposure_drift or p.wb_drift or p.lowlight or p.mjpeg_quality)
    return (p.codec, p.has_network, bool(p.bwe_step_s), camera, p.background_blur, p.background_replace,
            bool(p.touchup), p.upscale, p.portrait, p.content, p.temporal_layers > 1, bool(p.tile_height),
            p.record_codec)


def one_preset_per_kind(near_height: int = 720) -> list[str]:
    """A representative of each kind of built-in preset: the one whose height is nearest ``near_height``."""
    from vcbench.conference.presets import builtin_presets

    groups: dict[tuple, list] = {}
    for p in builtin_presets().values():
        groups.setdefault(preset_kind(p), []).append(p)
    return [min(g, key=lambda p: (abs((p.height or near_height) - near_height), p.name)).name for g in groups.values()]
