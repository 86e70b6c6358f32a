"""vcbench watch under hostile conditions: a disk that fills, SIGTERM and Ctrl-C on a file and on a
real call, outputs that collide with the input or each other, outputs that cannot be written,
broken weights, no face, a source that never sends, a calibration run that lies by omission."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vcbench.cli import cli

from conftest import fill, has_mediapipe
from live import CLIP, FPS

pytestmark = [pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models"),
              pytest.mark.usefixtures("marker_detector")]

MARKER = ["--model", "marker-standin", "--threshold", "0.5", "--smooth", "1"]
#: what a separate process can load (the stand-in is registered in this one only)
UNTRAINED = ["--model", "altfreezing-tiny=untrained", "--threshold", "0.5", "--device", "cpu"]


def _summary(r) -> dict:
    line = next(x for x in r.output.splitlines() if x.startswith("wrote ") and "summary" in x)
    return json.loads(Path(line.split()[1]).read_text())


def test_a_disk_that_fills_under_the_events_ends_the_watch_with_the_path_and_the_summary(
        marked, cli_runner, tmp_path, small_disk):
    """The event sink's OSError used to kill the scorer outside its try: the submitter then waited
    forever. Now the watch ends, failed, naming the events file; the summary is written elsewhere."""
    disk = small_disk(8)
    for extra in ([], ["--realtime"]):
        ev, summ = disk / f"ev{len(extra)}.jsonl", tmp_path / f"s{len(extra)}.json"
        t0 = time.monotonic()
        r = cli_runner.invoke(cli, ["watch", str(marked), *MARKER, "--stride", "1", "--events", str(ev),
                                    "--summary", str(summ), *extra])
        assert time.monotonic() - t0 < 60
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
        s = json.loads(summ.read_text())
        assert s["end"] == f"failed: {ev}: No space left on device" and 0 < s["windows_scored"] < 6 * FPS
        assert f"failed: {ev}: No space left on device" in r.output
        assert s["frames"] < 6 * FPS                      # the rest of the stream was not read with a dead scorer
        for f in disk.iterdir():
            f.unlink()


def test_outputs_that_collide_with_the_source_or_each_other_are_refused_before_anything_runs(
        marked, cli_runner, tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(marked.read_bytes())
    before = src.read_bytes()
    ev = tmp_path / "ev.jsonl"
    cases = [(["--events", str(ev), "--summary", str(ev)], "--summary"),
             (["--events", str(ev), "--summary", str(src)], "the source video"),
             (["--video", str(src)], "the source video"),
             (["--events", str(tmp_path / "in.summary.jsonl"), "--summary", str(tmp_path / "." / "in.mp4")],
              "the source video")]
    for extra, named in cases:
        r = cli_runner.invoke(cli, ["watch", str(src), *MARKER, *extra])
        assert r.exit_code == 1 and named in r.output, r.output
        assert "the output is the input" in r.output or "two outputs cannot share a file" in r.output
        assert src.read_bytes() == before and not ev.exists()
    link = tmp_path / "link.mp4"                       # another name for the same file
    os.link(src, link)
    r = cli_runner.invoke(cli, ["watch", str(src), *MARKER, "--video", str(link)])
    assert r.exit_code == 1 and "the source video" in r.output and src.read_bytes() == before
    r = cli_runner.invoke(cli, ["watch", f"webrtc:{src}", "--preset", "webrtc-vp8-360p", *MARKER, "--video", str(src)])
    assert r.exit_code == 1 and "webrtc:'s video" in r.output


def test_outputs_that_cannot_be_written_are_refused_before_the_stream(marked, cli_runner, tmp_path, small_disk):
    ro, full = small_disk(8, readonly=True), small_disk(8)
    fill(full)
    long_events = tmp_path / ("e" * 245 + ".jsonl")        # legal; its summary's name is not
    cases = [(["--events", str(tmp_path / "ev.jsonl"), "--summary", str(ro / "s.json")], str(ro / "s.json")),
             (["--video", str(full / "seen.mp4")], str(full / "seen.mp4")),
             (["--events", str(long_events)], "File name too long"),
             (["--events", str(tmp_path / "ev.jsonl")], "ev.summary.json: is a folder")]
    (tmp_path / "ev.summary.json").mkdir()                 # a folder where the derived summary goes
    for extra, said in cases:
        t0 = time.monotonic()
        r = cli_runner.invoke(cli, ["watch", str(marked), *MARKER, *extra])
        assert r.exit_code == 1 and said in r.output and "Traceback" not in r.output, r.output
        assert time.monotonic() - t0 < 10                  # refused up front, not after the stream
    assert not (tmp_path / "ev.jsonl").exists() and not long_events.exists()


def test_nan_weights_end_the_watch_as_a_failure_naming_why(marked, cli_runner, tmp_path):
    import torch

    from vcbench.models import load_network
    from vcbench.models.checkpoint import save_checkpoint

    net = load_network("altfreezing-tiny", None, "cpu")
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    ckpt = save_checkpoint(net, tmp_path / "nan.pth", {"threshold": 0.5, "threshold_from": "val (Youden's J)"})
    ev = tmp_path / "ev.jsonl"
    r = cli_runner.invoke(cli, ["watch", str(marked), "--checkpoint", str(ckpt), "--events", str(ev), "--device", "cpu",
                                "--max-seconds", "2"])
    assert r.exit_code == 1 and "non-finite score" in r.output and "weights or its input are broken" in r.output
    s = json.loads(ev.with_suffix(".summary.json").read_text())
    assert s["end"].startswith("failed: the model gave a non-finite score") and s["nonfinite_scores"] == 1


def test_a_video_without_a_face_says_nothing_was_scored(cli_runner, tmp_path):
    from conftest import make_video

    blank = make_video(tmp_path / "noface.mp4", frames=30, size="160x120", rate=30)
    ev = tmp_path / "ev.jsonl"
    r = cli_runner.invoke(cli, ["watch", str(blank), *MARKER, "--events", str(ev)])
    assert r.exit_code == 0, r.output
    assert "warning: no face was found in 30 frame(s): nothing was scored" in r.output
    s = json.loads(ev.with_suffix(".summary.json").read_text())
    assert s["warnings"] == ["no face was found in 30 frame(s): nothing was scored"] and s["faces"] == 0


def test_options_that_would_be_ignored_are_refused_or_warned(marked, cli_runner, tmp_path):
    r = cli_runner.invoke(cli, ["watch", str(marked), *MARKER, "--preset", "zoom-360p"])
    assert r.exit_code == 1 and "--preset zoom-360p" in r.output and "webrtc:FILE" in r.output
    r = cli_runner.invoke(cli, ["watch", str(marked), "--model", "marker-standin", "--calibration", str(tmp_path)])
    assert r.exit_code == 1 and "--false-alarms-per-hour" in r.output
    r = cli_runner.invoke(cli, ["watch", str(marked), "--model", "marker-standin", "--calibration", str(tmp_path),
                                "--false-alarms-per-hour", "inf"])
    assert r.exit_code != 0 and "finite" in r.output
    ev = tmp_path / "ev.jsonl"
    r = cli_runner.invoke(cli, ["watch", str(marked), *MARKER[:-2], "--smooth", "1000", "--events", str(ev)])
    assert r.exit_code == 0 and "--smooth 1000" in r.output and "no alarm can be raised" in r.output
    assert "no alarm can be raised" in json.loads(ev.with_suffix(".summary.json").read_text())["warnings"][0]


def test_a_registered_name_with_another_networks_checkpoint_is_refused(cli_runner, tmp_path, marked):
    import torch

    from vcbench.models import load_network
    from vcbench.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(load_network("altfreezing-tiny", None, "cpu"), tmp_path / "best.pth",
                           {"threshold": 0.5, "threshold_from": "val"})
    for cmd in (["watch", str(marked), "--threshold", "0.5", "--model", f"sbi-tiny={ckpt}"],
                ["explain", str(marked), "-o", str(tmp_path / "x"), "--model", f"sbi-tiny={ckpt}"],
                ["score", str(marked), "--model", "sbi-tiny", "--checkpoint", str(ckpt)]):   # score's --model: a network
        r = cli_runner.invoke(cli, [*cmd, "--device", "cpu"])
        assert r.exit_code == 1 and "'altfreezing-tiny' checkpoint, not 'sbi-tiny'" in r.output, (cmd, r.output)
    r = cli_runner.invoke(cli, ["watch", str(marked), "--model", f"mine={ckpt}", "--device", "cpu", "--max-seconds",
                                "0.5"])
    assert r.exit_code == 0, r.output                   # a name of one's own takes the file's network


def test_calibration_leaves_out_training_overlap_and_refuses_a_torn_file(marked, cli_runner, tmp_path):
    from vcbench import alarms as A

    from test_watch import _streaming_run

    def row(vid, scores):
        return {"model": "marker-standin", "dataset": "d", "preset": "clean", "video_id": vid, "label": 0,
                "split": "val", "fps": 30.0, "frames": 100, "clip_len": CLIP,
                "tracks": {"0": [[k, v] for k, v in enumerate(scores)]}}

    quiet, trained_on = row("r", [0.2, 0.3, 0.25] * 20), row("t", [0.9] * 60)
    run = tmp_path / "cal"
    _streaming_run(run, [quiet, trained_on], left_out=["t"])
    ev = tmp_path / "ev.jsonl"
    args = ["watch", str(marked), "--model", "marker-standin", "--false-alarms-per-hour", "1", "--calibration",
            str(run), "--stride", "4", "--smooth", "2", "--events", str(ev), "--max-seconds", "0.5"]
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    s = json.loads(ev.with_suffix(".summary.json").read_text())
    want, _ = A.budget_threshold([A.series("r", 0, 30.0, 100, quiet["tracks"], CLIP, A.StreamPolicy(4, 2))], 1.0)
    assert s["threshold"] == want and "1 left out as its training overlap" in s["threshold_from"]
    # a windows.jsonl cut after its first line: predictions.csv scored two val reals, it holds one
    text = (run / "windows.jsonl").read_text()
    (run / "windows.jsonl").write_text(text.splitlines()[0] + "\n" + text.splitlines()[1][:40])
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 1 and "has no windows for 1 of the 2 val real video(s)" in r.output
    # the threshold's origin reads once: not "val (val (...))"
    import torch

    from vcbench.models import load_network
    from vcbench.models.checkpoint import save_checkpoint

    ckpt = save_checkpoint(load_network("altfreezing-tiny", None, "cpu"), tmp_path / "best.pth",
                           {"threshold": 0.61, "threshold_from": "val (Youden's J, video level)"})
    r = cli_runner.invoke(cli, ["watch", str(marked), "--checkpoint", str(ckpt), "--device", "cpu", "--max-seconds",
                                "0.3"])
    assert "the checkpoint's own val threshold (Youden's J, video level)" in r.output and "val (val" not in r.output
    del torch


def test_an_interrupt_before_the_watch_began_says_so(marked, cli_runner, monkeypatch):
    import vcbench.watch.run as run

    def interrupted(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "check_outputs", interrupted)
    r = cli_runner.invoke(cli, ["watch", str(marked), *MARKER])
    assert r.exit_code == 1 and "before the watch began: nothing was written" in r.output
    assert "re-run to complete the rest" not in r.output


def _wait_for(path: Path, lines: int, proc, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (path.is_file() and path.read_text().count("\n") >= lines):
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_ends_a_watch_as_ctrl_c_does_and_leaves_no_temporaries(marked, tmp_path, sig):
    ev, seen = tmp_path / "ev.jsonl", tmp_path / "seen.mp4"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "vcbench", "watch", str(marked), *UNTRAINED, "--realtime",
                          "--events", str(ev), "--video", str(seen)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        _wait_for(ev, 3, p)
        p.send_signal(sig)
        out, _ = p.communicate(timeout=60)
    finally:
        p.kill()
    how = "terminated (SIGTERM)" if sig == signal.SIGTERM else "interrupted (Ctrl-C)"
    assert p.returncode == 0 and how in out and "Traceback" not in out, out
    s = json.loads(ev.with_suffix(".summary.json").read_text())
    assert s["end"] == how and 0 < s["frames"] < 6 * FPS
    assert sorted(x.name for x in tmp_path.iterdir()) == ["ev.jsonl", "ev.summary.json", "seen.mp4"]


needs_browser = pytest.mark.skipif(subprocess.run(["which", "chromium"], capture_output=True).returncode != 0 or
                                   subprocess.run(["which", "chromedriver"], capture_output=True).returncode != 0,
                                   reason="Debian's chromium and chromium-driver are not installed")


@needs_browser
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_watched_call_stopped_by_a_signal_hangs_up_and_leaves_nothing_behind(marked, tmp_path, sig):
    """The call's spool beside the events and the browser's profile in the temp folder go with it."""
    import shutil
    import tempfile

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # a temp folder of its own, with a short path: Chromium's singleton socket must fit a UNIX socket name
    temp = Path(tempfile.mkdtemp(prefix="vcbt-", dir="/tmp"))
    request_cleanup = shutil.rmtree
    ev = out_dir / "ev.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(temp)}
    p = subprocess.Popen([sys.executable, "-m", "vcbench", "watch", f"webrtc:{marked}", "--preset", "webrtc-vp8-360p",
                          *UNTRAINED, "--events", str(ev)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         text=True, start_new_session=True)
    try:
        _wait_for(ev, 2, p)
        p.send_signal(sig)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        left = list(temp.iterdir())
        request_cleanup(temp, ignore_errors=True)
    assert p.returncode == 0 and "Traceback" not in out, out
    assert sorted(x.name for x in out_dir.iterdir()) == ["ev.jsonl", "ev.summary.json"]
    assert left == []
    s = json.loads(ev.with_suffix(".summary.json").read_text())
    assert s["call"]["hung_up"] is True and s["frames"] > 0


@needs_browser
def test_a_call_that_never_connects_ends_with_the_calls_own_reason(marked, tmp_path, monkeypatch):
    """A relay that forwards nothing (a firewall between the peers): ICE never completes, and the
    source ends with the page's reason and stage, not as a stall after an arbitrary wait."""
    from vcbench.conference.webrtc.relay import Relay
    from vcbench.errors import VcbenchError
    from vcbench.watch.sources import WebrtcSource

    monkeypatch.setattr(Relay, "start", lambda self, peer1, peer2: None)
    src = WebrtcSource(marked, "webrtc-vp8-360p", connect_s=3, workdir=tmp_path)
    t0 = time.monotonic()
    with pytest.raises(VcbenchError) as e:
        for _ in src.frames():
            pass
    assert time.monotonic() - t0 < 60
    assert "never connected" in str(e.value) and "connecting" in str(e.value), str(e.value)
    src.close()
    assert [x for x in tmp_path.iterdir() if x.name.startswith(".vcb-live-")] == []


def test_realtime_factor_is_the_streams_not_the_set_up_or_the_final_stall(marked, cli_runner, tmp_path):
    """A UDP stream that starts 2 s after the watch and ends with a 3 s stall, sent in real time,
    is watched at about x1.0 (it was x0.5 when the waits counted as work)."""
    import socket
    import threading

    from conftest import ffmpeg

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]

    def send():
        time.sleep(2.0)
        subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-re", "-i", str(marked), "-c:v", "mpeg2video",
                        "-g", "10", "-q:v", "3", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"],
                       capture_output=True)

    th = threading.Thread(target=send, daemon=True)
    th.start()
    ev = tmp_path / "ev.jsonl"
    r = cli_runner.invoke(cli, ["watch", f"udp://127.0.0.1:{port}", *MARKER, "--stall", "3", "--events", str(ev)])
    th.join(30)
    assert r.exit_code == 0, r.output
    s = json.loads(ev.with_suffix(".summary.json").read_text())
    assert s["setup_s"] >= 1.0 and s["end"].startswith("stalled")
    assert 0.8 <= s["realtime_factor"] <= 1.5, s            # the first frames wait for the probe: a little > 1
    assert np.isclose(s["wall_s"], s["stream_s"] / s["realtime_factor"], rtol=1e-3)
