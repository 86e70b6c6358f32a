"""Fixtures are generated on the fly from real encodes; nothing is downloaded."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest_plugins = ["live"]          # the watch tests' marker stand-in and marked video

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two test processes share the machine's cores: one compute thread each (and in the processes they
    # start), instead of each oversubscribing every core; numbers never depend on it (each test
    # compares runs made under the same setting)
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")


def shared_dir(tmp_path_factory, name: str, build) -> Path:
    """A folder made once per test session by ``build(folder)``, whichever pytest-xdist worker asks
    first (the others wait on a lock, then reuse it): expensive fixtures (a generated dataset, a
    trained model) are built once however the tests are spread over processes."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base     # the session's shared folder
    folder = root / f"shared-{name}"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").is_file():
            if folder.exists():
                shutil.rmtree(folder)                 # a build that died half-way
            folder.mkdir(parents=True)
            build(folder)
            (folder / ".built").write_text("")
    return folder


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
            p.record_codec, bool(p.glare), bool(p.far_scale))


def one_preset_per_kind(near_height: int = 720) -> list[str]:
    """A representative of each kind of built-in preset: the one whose height is nearest ``near_height``."""
    from vcbench.conference.presets import builtin_presets

    groups: dict[tuple, list] = {}
    for p in builtin_presets().values():
        groups.setdefault(preset_kind(p), []).append(p)
    return [min(g, key=lambda p: (abs((p.height or near_height) - near_height), p.name)).name for g in groups.values()]


def _make_calls(folder: Path) -> None:
    """A generated dataset (train/val/test by identity) whose TEST videos are then replaced by
    garbage: any training step that opened one would fail or be counted."""
    import csv
    import os

    from click.testing import CliRunner

    from vcbench.cli import cli
    from vcbench.samples import SAMPLE_NOTE, sample_identities

    old = os.environ.get("VCBENCH_CACHE")
    os.environ["VCBENCH_CACHE"] = str(folder / "vcache")
    try:
        targets, sources = sample_identities(folder / "media", frames=48)
        r = CliRunner().invoke(cli, ["generate", "--source", str(sources), "--target", str(targets), "--out",
                                     str(folder / "ds"), "--val-fraction", "0.3", "--test-fraction", "0.2",
                                     "--seed", "3", "--note", SAMPLE_NOTE, "--cache-dir", str(folder / "faces")])
    finally:
        if old is None:
            os.environ.pop("VCBENCH_CACHE", None)
        else:
            os.environ["VCBENCH_CACHE"] = old
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(folder / "ds" / "manifest.csv")))
    assert {x["split"] for x in rows} == {"train", "val", "test"}
    for x in rows:
        if x["split"] == "test":
            (folder / "ds" / x["path"]).write_bytes(b"not a video: the test split must never be opened\n" * 50)
    write_toml(folder / "d.toml", f'[datasets.calls]\nkind = "manifest"\nroot = "{folder / "ds"}"\n')


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    """The fine-tuning tests' dataset (``_make_calls``), built once per session; the module runs with
    ``VCBENCH_CACHE`` in it (its renditions are shared by every fine-tuning run)."""
    import csv

    if not has_mediapipe:
        pytest.skip("needs mediapipe's bundled face models")
    root = shared_dir(tmp_path_factory, "calls", _make_calls)
    mp = pytest.MonkeyPatch()
    mp.setenv("VCBENCH_CACHE", str(root / "vcache"))
    rows = list(csv.DictReader(open(root / "ds" / "manifest.csv")))
    yield {"root": root, "toml": root / "d.toml", "faces": root / "faces", "rows": rows,
           "tests": [x for x in rows if x["split"] == "test"]}
    mp.undo()


def ft_args(calls, out, *extra) -> list[str]:
    return ["finetune", "--train", "calls", "--datasets", str(calls["toml"]), "--out", str(out), "--cache-dir",
            str(calls["faces"]), "--model", "altfreezing-tiny", "--device", "cpu", *extra]


#: the longest test files first (their seconds on a 2-core AMX Xeon, --durations): two processes then
#: finish together instead of one waiting on the other's last long file (pytest-xdist hands out whole
#: files in collection order; test_resume and test_readme first: they share no fixture, so neither
#: waits on the other's build)
LONGEST_FIRST = ("test_resume.py",             # 155 s
                 "test_readme.py",             # 99
                 "test_finetune.py",           # 107 (the shared `calls` dataset and the trained fixture)
                 "test_conference.py",         # 117
                 "test_determinism.py",        # 100
                 "test_zoo.py",                # 57
                 "test_webrtc.py",             # 48
                 "test_watch.py",              # 50
                 "test_watch_hardening.py",    # 48
                 "test_generate.py",           # 50
                 "test_explain.py", "test_benchmark.py", "test_hardening.py", "test_signals.py")


def pytest_collection_modifyitems(config, items):
    order = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: order.get(item.path.name, len(order)))      # stable: keeps each file's order


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(kib, readonly=False)``: a folder on a filesystem of its own (tmpfs, ``kib`` KiB):
    a disk that really fills up, or a read-only one (which root, who passes every permission check,
    cannot write either). Skipped where this process may not mount (not root)."""
    mounted = []

    def make(kib: int = 16, readonly: bool = False, name: str | None = None) -> Path:
        d = tmp_path / (name or f"disk{len(mounted)}")
        d.mkdir()
        opts = f"size={kib}k,mode=0777" + (",ro" if readonly else "")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip() or r.returncode})")
        mounted.append(d)
        return d

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def fill(folder: Path) -> Path:
    """Fill ``folder``'s filesystem to the last byte (a full disk)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (4096, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    return filler
