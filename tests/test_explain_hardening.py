"""vcbench explain under hostile conditions: two files with one stem, another order, a second run
into the folder, a bad --layer, broken weights, a full disk."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vcbench.cli import cli

from conftest import fill, has_mediapipe

pytestmark = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")


@pytest.fixture(scope="module")
def media(tmp_path_factory, carphone) -> dict:
    """media/a.mp4 and media/sub/a.mp4 (different pictures, one stem), and a tiny network."""
    from conftest import ffmpeg
    from vcbench.models import load_network
    from vcbench.models.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("exh")
    vids = {"a": root / "media" / "a.mp4", "sub": root / "media" / "sub" / "a.mp4"}
    for k, (name, path) in enumerate(vids.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(carphone), "-frames:v", "16",
                        "-vf", "hflip" if k else "null", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p",
                        str(path)], check=True)
    torch.manual_seed(0)
    ckpt = save_checkpoint(load_network("altfreezing-tiny", None, "cpu"), root / "best.pth",
                           {"threshold": 0.5, "threshold_from": "val"})
    return {**vids, "ckpt": ckpt, "root": root}


def _explain(cli_runner, media, out, *videos, extra=()):
    return cli_runner.invoke(cli, ["explain", *map(str, videos), "--checkpoint", str(media["ckpt"]), "-o", str(out),
                                   "--device", "cpu", "--max-frames", "16", *extra])


def test_one_stem_two_files_never_overwrite_and_order_does_not_rename(media, cli_runner, tmp_path):
    out = tmp_path / "ex"
    r = _explain(cli_runner, media, out, media["sub"])
    assert r.exit_code == 0, r.output
    made = {f.name: f.stat().st_mtime_ns for f in out.iterdir() if f.name.startswith("a.")}
    assert "a.npz" in made
    r = _explain(cli_runner, media, out, media["a"])                 # another file with the stem "a"
    assert r.exit_code == 0, r.output
    assert {f: out.joinpath(f).stat().st_mtime_ns for f in made} == made        # sub/a's outputs untouched
    rec = json.loads((out / "explain.json").read_text())
    assert sorted(Path(v["video"]).resolve() for v in rec["videos"]) == sorted(
        [media["a"].resolve(), media["sub"].resolve()])            # explain.json: every video in the folder
    names = {Path(v["video"]).resolve(): v["name"] for v in rec["videos"]}
    assert names[media["sub"].resolve()] == "a" and names[media["a"].resolve()].startswith("a-")
    before = {f.name: f.stat().st_mtime_ns for f in out.iterdir() if f.name.startswith("a")}
    for order in ([media["a"], media["sub"]], [media["sub"], media["a"]]):
        r = _explain(cli_runner, media, out, *order)
        assert r.exit_code == 0 and r.output.count("already explained") == 2, r.output
    assert {f.name: f.stat().st_mtime_ns for f in out.iterdir() if f.name.startswith("a")} == before
    # both new to a folder: each gets a name of its own, the same whichever comes first
    got = []
    for k, order in enumerate(([media["a"], media["sub"]], [media["sub"], media["a"]])):
        r = _explain(cli_runner, media, tmp_path / f"fresh{k}", *order)
        assert r.exit_code == 0, r.output
        got.append(sorted(v["name"] for v in json.loads((tmp_path / f"fresh{k}" / "explain.json").read_text())["videos"]))
    assert got[0] == got[1] and len(set(got[0])) == 2


def test_a_bad_layer_is_refused_before_any_video_and_the_corrected_run_is_welcome(media, cli_runner, tmp_path):
    out = tmp_path / "ex"
    r = _explain(cli_runner, media, out, media["a"], extra=["--layer", "resnet.s44"])
    assert r.exit_code == 1 and "--layer 'resnet.s44'" in r.output and "did you mean" in r.output
    assert "1 videos" not in r.output                                # refused before the loop
    r = _explain(cli_runner, media, out, media["a"], extra=["--layer", "resnet.s4"])
    assert r.exit_code == 0, r.output


def test_a_failed_run_that_wrote_nothing_does_not_lock_the_folder(media, cli_runner, tmp_path):
    out = tmp_path / "ex"
    r = _explain(cli_runner, media, out, tmp_path / "missing.mp4")
    assert r.exit_code == 1 and (out / "explain.identity.json").is_file()
    r = _explain(cli_runner, media, out, media["a"], extra=["--method", "gradcam++"])
    assert r.exit_code == 0, r.output


def test_nan_weights_fail_the_video_and_write_no_nan(media, cli_runner, tmp_path):
    from vcbench.models import load_network
    from vcbench.models.checkpoint import save_checkpoint

    net = load_network("altfreezing-tiny", None, "cpu")
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    ckpt = save_checkpoint(net, tmp_path / "nan.pth", {"threshold": 0.5, "threshold_from": "val"})
    out = tmp_path / "ex"
    r = cli_runner.invoke(cli, ["explain", str(media["a"]), "--checkpoint", str(ckpt), "-o", str(out), "--device",
                                "cpu", "--max-frames", "16"])
    assert r.exit_code == 1 and "non-finite scores" in r.output and "1 done" not in r.output, r.output
    text = (out / "explain.json").read_text()
    assert "NaN" not in text and json.loads(text)["videos"] == [] and not list(out.glob("a.*"))


def test_a_full_disk_is_one_line_naming_the_file(media, tmp_path, small_disk):
    disk = small_disk(24)
    out = disk / "ex"
    r = subprocess.run([sys.executable, "-m", "vcbench", "explain", str(media["a"]), "--checkpoint",
                        str(media["ckpt"]), "-o", str(out), "--device", "cpu", "--max-frames", "16", "--video"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    said = r.stdout + r.stderr
    assert r.returncode == 1 and "No space left on device" in said, said
    assert "Traceback" not in said and "Exception ignored" not in said and ".part" not in said, said
    assert f"{out}/a." in said or f"{out}/explain" in said, said          # the file, not a temporary
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    fill(disk)                                     # and on a disk full from the start: the same
    r = subprocess.run([sys.executable, "-m", "vcbench", "explain", str(media["sub"]), "--checkpoint",
                        str(media["ckpt"]), "-o", str(out), "--device", "cpu", "--max-frames", "16"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    said = r.stdout + r.stderr
    assert r.returncode == 1 and "No space left on device" in said and "Traceback" not in said, said
