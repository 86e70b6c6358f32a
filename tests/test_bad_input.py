"""A sweep of broken and awkward files over every command that reads videos.

For each command: no traceback, every bad item named exactly once, the good items processed,
and a non-zero exit status because something was skipped.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vcbench.cli import cli

from conftest import ffmpeg, has_mediapipe, write_toml

needs_mediapipe = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")

BAD = ["png.mp4", "empty.mp4", "text.mp4", "random.mp4", "truncated.mp4", "dangling.mp4", "folder.mp4",
       "audio.mp4"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, carphone):
    """good.mp4 (a real face), annexb.mp4 (the same as a raw H.264 stream: awkward but good), and
    the bad files: a 72-byte PNG signature, empty, text, random bytes, a truncated mp4, a dangling
    symlink, a folder and an audio-only file, each named .mp4."""
    root = tmp_path_factory.mktemp("sweep")
    d = root / "videos"
    d.mkdir()
    shutil.copyfile(carphone, d / "good.mp4")
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(carphone), "-c:v", "copy",
                    "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(d / "annexb.mp4")], check=True)
    (d / "png.mp4").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video\n")
    (d / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (d / "truncated.mp4").write_bytes(carphone.read_bytes()[:3000])
    os.symlink(root / "nowhere.mp4", d / "dangling.mp4")
    (d / "folder.mp4").mkdir()
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1",
                    "-c:a", "aac", str(d / "audio.mp4")], check=True)
    (d / ".good.123-abc.part.mp4").write_bytes(b"leftover")          # hidden: never an item
    return d


def _failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("failed: ", "problem: "))]


def _each_bad_named_once(output: str, names=BAD):
    lines = _failed_lines(output)
    for name in names:
        hits = [line for line in lines if re.search(rf"\b{re.escape(name)}\b", line)]
        assert len(hits) == 1, (name, hits, output)
    assert "Traceback" not in output


def test_simulate_and_faces_name_the_file_in_one_line(corpus, cli_runner, tmp_path):
    for name in BAD:
        for args in (["simulate", str(corpus / name), "--preset", "zoom-360p", "-o", str(tmp_path / "o.mp4")],
                     ["faces", str(corpus / name), "--cache-dir", str(tmp_path / "c")]):
            r = cli_runner.invoke(cli, args)
            assert r.exit_code == 1, (args, r.output)
            lines = [x for x in r.output.splitlines() if x.strip()]
            assert len(lines) == 1 and name in lines[0] and "Traceback" not in r.output, (args, r.output)
    # the raw H.264 stream decodes the same way for every command
    r = cli_runner.invoke(cli, ["simulate", str(corpus / "annexb.mp4"), "--preset", "zoom-360p",
                                "-o", str(tmp_path / "a.mp4")])
    assert r.exit_code == 0 and re.search(r"frames\s+120\b", r.output), r.output
    from vcbench.video import probe

    assert probe(corpus / "annexb.mp4").frames == probe(corpus / "good.mp4").frames == 120


@needs_mediapipe
def test_score_skips_and_names_bad_videos(corpus, cli_runner, tmp_path):
    files = sorted(str(p) for p in corpus.iterdir() if not p.name.startswith("."))
    r = cli_runner.invoke(cli, ["score", *files, "--model", "altfreezing-tiny", "--untrained", "--device", "cpu",
                                "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 1
    _each_bad_named_once(r.output)
    scored = [line for line in r.output.splitlines() if line.startswith(str(corpus))]
    assert {Path(line.split(":")[0]).name for line in scored} == {"good.mp4", "annexb.mp4"}
    assert f"{len(files)} videos: 2 done, {len(BAD)} failed" in r.output


@needs_mediapipe
def test_generate_skips_and_names_bad_targets(corpus, cli_runner, tmp_path, astronaut_rgb):
    import cv2

    src = tmp_path / "faces"
    src.mkdir()
    cv2.imwrite(str(src / "astronaut.png"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    # a tight, mirrored 112 px face crop (insightface's aligned sample style) is a usable source
    tight = cv2.resize(astronaut_rgb[60:230, 150:320], (112, 112))[:, ::-1]
    cv2.imwrite(str(src / "tight.png"), cv2.cvtColor(np.ascontiguousarray(tight), cv2.COLOR_RGB2BGR))
    out = tmp_path / "ds"
    out.mkdir()
    stale = out / ".x.999999-abc.part.mp4"
    stale.write_bytes(b"left by a killed run")
    r = cli_runner.invoke(cli, ["generate", "--source", str(src), "--target", str(corpus), "--out", str(out),
                                "--split", "test", "--max-frames", "30", "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 1, r.output
    _each_bad_named_once(r.output)
    assert not stale.exists() and "interrupted run" in r.output
    import csv

    rows = list(csv.DictReader(open(out / "manifest.csv")))
    targets = {x["target_id"] for x in rows}
    assert targets == {"good", "annexb"}, targets
    assert {x["source_id"] for x in rows if x["label"] == "1"} == {"astronaut", "tight"}


def test_dataset_commands_skip_and_name_bad_videos(corpus, cli_runner, tmp_path):
    root = tmp_path / "calls"
    (root / "real").mkdir(parents=True)
    (root / "fake").mkdir()
    for p in corpus.iterdir():
        dst = root / "real" / p.name
        if p.is_symlink():
            os.symlink(os.readlink(p), dst)
        elif p.is_dir():
            dst.mkdir()
        else:
            shutil.copyfile(p, dst)
    shutil.copyfile(corpus / "good.mp4", root / "fake" / "swapped.mp4")
    toml = write_toml(tmp_path / "d.toml", f'[datasets.calls]\nkind = "folder"\nroot = "{root}"\n')
    for cmd in (["datasets", "check", "calls"], ["datasets", "manifest", "calls", "-o", str(tmp_path / "m.csv")]):
        r = cli_runner.invoke(cli, cmd + ["--datasets", str(toml)])
        assert r.exit_code == 1, (cmd, r.output)
        _each_bad_named_once(r.output)
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert len(rows) == 1 + len(BAD) + 3                           # every video listed, probe columns empty if bad
    if has_mediapipe:
        r = cli_runner.invoke(cli, ["datasets", "prepare", "calls", "--datasets", str(toml),
                                    "--cache-dir", str(tmp_path / "c")])
        assert r.exit_code == 1
        _each_bad_named_once(r.output)
        assert f"{len(BAD) + 3} videos: " in r.output


def test_checkpoint_that_is_not_one_says_what_it_is(tmp_path, corpus):
    import torch

    from vcbench.errors import CheckpointError
    from vcbench.models import load_network

    (tmp_path / "notes.pth").write_text("weights are on the other disk\n")
    for path, what in ((tmp_path / "notes.pth", "looks like text"), (corpus / "good.mp4", "an MP4/MOV video"),
                       (corpus / "png.mp4", "a PNG image")):
        with pytest.raises(CheckpointError, match=re.escape(what)):
            load_network("altfreezing-tiny", path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"state_dict": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="would run code"):
        load_network("altfreezing-tiny", tmp_path / "evil.pth")


def test_presets_refuse_out_of_range_numbers(tmp_path):
    from vcbench.conference.presets import load_presets
    from vcbench.errors import ConfigError

    for key, value in (("bitrate_kbps", -300), ("fps", -1.0), ("loss", 1.5), ("height", -2), ("crf", 70)):
        f = write_toml(tmp_path / f"{key}.toml", f'[presets.mine]\nextends = "zoom-360p"\n{key} = {value}\n')
        with pytest.raises(ConfigError, match=rf"\[presets.mine\]: key '{key}' must be in"):
            load_presets(f)


def test_outputs_honour_the_umask(tmp_path):
    from vcbench.fileio import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "r.json", {"a": 1})
        assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_json(tmp_path / "s.json", {"a": 1})
        assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_no_native_log_lines_unless_verbose(carphone, tmp_path):
    import sys

    base = [sys.executable, "-m", "vcbench"]
    quiet = subprocess.run(base + ["faces", str(carphone), "--cache-dir", str(tmp_path / "a")],
                           capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    lines = (quiet.stdout + quiet.stderr).splitlines()
    assert lines and all(line.startswith((str(carphone), "  track")) for line in lines), lines
    if has_mediapipe:
        loud = subprocess.run(base + ["--verbose", "faces", str(carphone), "--cache-dir", str(tmp_path / "b")],
                              capture_output=True, text=True)
        assert "inference_feedback_manager" in loud.stderr or "TensorFlow Lite" in loud.stderr
