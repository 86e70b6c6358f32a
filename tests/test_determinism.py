"""Same input, preset and seed: the same bytes, on the kind of clip users run (1280x720).

Small clips hide scheduling-dependent encoders (x264's multi-threaded VBV gave 3 different files
in 3 runs at 720p); one preset of each kind (codec, network, camera, display, recorder) runs twice
here, two at a time in separate processes (how vcbench gets throughput without threads inside an
encode), and so does generate. Each preset runs on a 2 s talking head at 720p (60 frames: every
encoder's threads, lookahead and rate control at work); a preset that changes something later in
the call (bwe-step switches resolution at 5 s) runs on 6 s. Generate makes its masters and two call
conditions from the same 2 s.
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from conftest import has_mediapipe, one_preset_per_kind

#: one preset per kind (codec, network, camera stages, display, recorder), the one nearest 720p:
#: presets of one kind run the same code with other numbers
KINDS = [n for n in one_preset_per_kind(720) if n != "clean"]


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory):
    from vcbench.samples import talking_head

    return talking_head(tmp_path_factory.mktemp("clip720") / "face720.mp4", (1280, 720), 180)   # 6 s


@pytest.fixture(scope="module")
def clip_720p_2s(tmp_path_factory, clip_720p):
    """The first 2 s of the 6 s clip (its first 60 frames, the stream copied: same pixels)."""
    from vcbench.video import ffmpeg_exe, run_ffmpeg

    out = tmp_path_factory.mktemp("clip720s") / "face720s.mp4"
    run_ffmpeg(ffmpeg_exe(), ["-i", str(clip_720p), "-frames:v", "60", "-c", "copy", str(out)], "the 2 s clip")
    return out


def _simulate(args) -> str:
    src, out, preset = args
    from vcbench.conference.simulate import simulate_file

    simulate_file(src, out, preset, seed=7)
    return hashlib.sha256(Path(out).read_bytes()).hexdigest()


def test_every_preset_is_bit_identical_run_to_run_at_720p(tmp_path, clip_720p, clip_720p_2s):
    from vcbench.conference.presets import get_preset

    names = [n for n in KINDS if not get_preset(n).background_blur and not get_preset(n).background_replace
             or has_mediapipe]
    jobs = [(str(clip_720p if get_preset(n).bwe_step_s else clip_720p_2s),
             str(tmp_path / f"{n}.{k}{get_preset(n).extension}"), n) for n in names for k in (0, 1)]
    import multiprocessing

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        digests = list(pool.map(_simulate, jobs))
    differ = [n for i, n in enumerate(names) if digests[2 * i] != digests[2 * i + 1]]
    assert not differ, f"not bit-identical: {differ}"


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_generate_is_bit_identical_run_to_run_at_720p(tmp_path, clip_720p_2s, astronaut_rgb):
    import shutil

    import cv2
    from click.testing import CliRunner

    from vcbench.cli import cli

    src, tgt = tmp_path / "faces", tmp_path / "videos"
    src.mkdir()
    tgt.mkdir()
    cv2.imwrite(str(src / "astronaut.png"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    shutil.copyfile(clip_720p_2s, tgt / "talker.mp4")
    outs = []
    for k in (0, 1):
        out = tmp_path / f"ds{k}"
        r = CliRunner().invoke(cli, ["generate", "--source", str(src), "--target", str(tgt), "--out", str(out),
                                     "--preset", "clean,zoom-360p,burst-loss", "--max-frames", "60",
                                     "--cache-dir", str(tmp_path / f"c{k}")])
        assert r.exit_code == 0, r.output
        outs.append({str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in sorted(out.rglob("*")) if p.is_file()
                     and p.name not in ("generate.json", "generate.status.json", "generate.identity.json")})
        outs[-1]["identity"] = json.loads((out / "generate.identity.json").read_text())["identity"]
    # the run records (generate.json, the status and the identity's config copy) say where and when
    assert len(outs[0]) >= 8 and outs[0] == outs[1]
