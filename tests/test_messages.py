"""The lines a user reads when something goes wrong: the path they gave (never a hidden temporary),
the path at all on a full disk, each name once, and what a streaming run could not do."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from vcbench.cli import cli

from conftest import fill, has_mediapipe

pytestmark = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")


def test_a_full_disk_names_the_output_not_a_temporary(carphone, small_disk):
    disk = small_disk(64)
    out = disk / "call.mp4"
    r = subprocess.run([sys.executable, "-m", "vcbench", "simulate", str(carphone), "--preset", "zoom-360p", "-o",
                        str(out)], capture_output=True, text=True, timeout=120)
    said = r.stdout + r.stderr
    assert r.returncode == 1 and "No space left on device" in said and str(out) in said, said
    assert ".part" not in said and ".vcb-" not in said and "Traceback" not in said, said
    assert [p.name for p in disk.iterdir()] == []                  # nothing half-written is left


def test_an_atomic_write_on_a_full_disk_names_the_final_path(small_disk):
    from vcbench.fileio import write_json

    disk = small_disk(8)
    fill(disk)
    with pytest.raises(OSError) as e:
        write_json(disk / "results.json", {"x": "y" * 100_000})
    assert e.value.filename == str(disk / "results.json") and "No space left" in str(e.value)
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_failed_video_is_named_once_with_the_path_at_fault(carphone, cli_runner, tmp_path, small_disk):
    """A face cache on a read-only disk: the video, once, then the cache file and the OS's reason
    (it read 'failed: a.mp4: a.mp4: OSError: [Errno 30] ...')."""
    video = tmp_path / "a.mp4"
    shutil.copyfile(carphone, video)
    ro = small_disk(8, readonly=True)
    r = cli_runner.invoke(cli, ["score", str(video), "--untrained", "--device", "cpu", "--cache-dir", str(ro)])
    line = next(x for x in r.output.splitlines() if x.startswith("failed:"))
    assert r.exit_code == 1 and line.count(str(video)) == 1 and str(ro) in line, line
    assert "Read-only file system" in line and "OSError" not in line and "Errno" not in line, line


def test_batch_failures_name_their_item_once():
    from vcbench.batch import BatchResult

    b = BatchResult("videos")
    b.fail("/x/a.mp4", "/x/a.mp4: cannot decode")
    b.fail("/x/b.mp4", "/x/bb.mp4: a sibling named")
    assert b.failed == [("/x/a.mp4", "cannot decode"), ("/x/b.mp4", "/x/bb.mp4: a sibling named")]


def test_a_streaming_budget_that_could_not_be_met_is_said():
    from vcbench.benchmark.results import streaming_lines

    cell = {"model": "m", "dataset": "d", "preset": "p", "streaming": {
        "thresholds": {"val_budget": {"value": None, "why": "no real video with scored time to calibrate on"},
                       "model": {"value": 0.5, "from": "the model's own val threshold"}},
        "at": {"model": {"tta_median_s": 2.0, "tta_p90_s": 3.0, "caught": 1, "fakes": 1, "caught_within": {},
                         "false_alarms_per_hour": 0.0, "real_hours": 0.01, "threshold": 0.5}}}}
    lines = streaming_lines({"cells": [cell]})
    assert "val-budget threshold n/a (no real video with scored time to calibrate on)" in lines[0]
    assert "model own" in lines[1]


def test_native_log_lines_stay_off_the_console_after_an_error(carphone, tmp_path):
    """A watch that fails on broken weights after mediapipe ran: its lines, no W0000 ones."""
    import torch

    from vcbench.models import load_network
    from vcbench.models.checkpoint import save_checkpoint
    from vcbench.runtime import NATIVE_LOG

    net = load_network("altfreezing-tiny", None, "cpu")
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    ckpt = save_checkpoint(net, tmp_path / "nan.pth", {"threshold": 0.5, "threshold_from": "val"})
    for args in (["watch", str(carphone), "--checkpoint", str(ckpt), "--max-seconds", "2"],
                 ["explain", str(carphone), "--checkpoint", str(ckpt), "-o", str(tmp_path / "ex")]):
        r = subprocess.run([sys.executable, "-m", "vcbench", *args, "--device", "cpu"], capture_output=True, text=True,
                           timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert r.returncode == 1 and "non-finite" in r.stdout + r.stderr, r.stdout + r.stderr
        native = [x for x in (r.stdout + r.stderr).splitlines() if NATIVE_LOG.match(x)]
        assert native == [], native[:3]
