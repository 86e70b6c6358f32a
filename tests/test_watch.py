"""vcbench watch: a stand-in detector that fires on a visual marker appearing at 3 s raises the
alarm within (window + stride) frames, from a file, from a UDP stream a local ffmpeg sends, and
through a real WebRTC call; the events are causal; a network's live windows are the windows the
benchmark scores."""
from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

import pytest

from vcbench.cli import cli

from conftest import ffmpeg, has_mediapipe
from live import CLIP, FPS, MARK_AT, STRIDE, MarkerScorer

pytestmark = [pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models"),
              pytest.mark.usefixtures("marker_detector")]

def _watch(cli_runner, source, tmp_path, *extra, name="ev"):
    ev = tmp_path / f"{name}.jsonl"
    r = cli_runner.invoke(cli, ["watch", str(source), "--model", "marker-standin", "--threshold", "0.5", "--smooth",
                                "1", "--stride", str(STRIDE), "--events", str(ev), *extra])
    assert r.exit_code == 0, r.output
    events = [json.loads(x) for x in ev.read_text().splitlines()]
    summary = json.loads(ev.with_suffix(".summary.json").read_text())
    return r, events, summary


def _first_alarm(events):
    return next(e for e in events if e.get("raised"))


def test_marker_raises_the_alarm_within_a_window_and_a_stride_from_a_file(marked, cli_runner, tmp_path):
    r, events, s = _watch(cli_runner, marked, tmp_path, "--video", str(tmp_path / "seen.mp4"))
    a = _first_alarm(events)
    assert MARK_AT <= a["frame"] <= MARK_AT + CLIP + STRIDE                    # the bound the issue sets
    assert a["t"] == pytest.approx(a["frame"] / FPS, abs=1e-3)
    assert all(not e["alarm"] for e in events if e["type"] == "window" and e["frame"] < MARK_AT)
    assert [e["window"][1] - e["window"][0] for e in events if e["type"] == "window"] == [CLIP - 1] * len(
        [e for e in events if e["type"] == "window"])
    assert s["end"] == "the source ended" and s["frames"] == 6 * FPS and s["windows_skipped"] == 0
    assert s["first_alarm_t"] == a["t"] and s["tracks"][0]["alarms"] >= 1
    assert s["realtime_factor"] > 0 and s["latency_ms"]["p95"] >= s["latency_ms"]["p50"] > 0
    assert "ALARM track 0" in r.output and "real-time x" in r.output and "latency p50" in r.output
    from vcbench.video import probe

    assert probe(tmp_path / "seen.mp4").frames == 6 * FPS                    # the annotated stream, every frame


def test_events_before_a_cut_are_the_events_of_the_whole_stream(marked, cli_runner, tmp_path):
    _, whole, _ = _watch(cli_runner, marked, tmp_path, name="whole")
    _, cut, s = _watch(cli_runner, marked, tmp_path, "--max-seconds", "3.2", name="cut")

    def strip(evs, before):
        return [{k: v for k, v in e.items() if k != "latency_ms"} for e in evs if e["t"] < before]

    assert "cut at 3.2 s" in s["end"] and s["frames"] == 96
    assert strip(cut, 3.2) == strip(whole, 3.2) and len(strip(cut, 3.2)) >= 11
    assert max(e["t"] for e in cut) < 3.2                                      # nothing from after the cut


def test_realtime_file_keeps_its_clock(marked, cli_runner, tmp_path):
    _, events, s = _watch(cli_runner, marked, tmp_path, "--realtime", "--max-seconds", "4")
    assert s["live"] is True and 3.5 <= s["wall_s"] <= 8                       # ~4 s of stream take ~4 s
    assert 0.5 <= s["realtime_factor"] <= 1.1
    a = _first_alarm(events)
    assert MARK_AT <= a["frame"] <= MARK_AT + CLIP + STRIDE + s["dropped_frames"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def test_marker_alarm_from_a_udp_stream_a_local_ffmpeg_sends(marked, cli_runner, tmp_path):
    port = _free_port()
    sender: list = []

    def send():
        time.sleep(2.0)                    # the watch is listening by then (and waits --stall for a first frame)
        sender.append(subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-re", "-i", str(marked),
                                      "-c:v", "mpeg2video", "-g", "10", "-q:v", "3", "-f", "mpegts",
                                      f"udp://127.0.0.1:{port}?pkt_size=1316"], capture_output=True))

    th = threading.Thread(target=send, daemon=True)
    th.start()
    r, events, s = _watch(cli_runner, f"udp://127.0.0.1:{port}", tmp_path, "--stall", "4")
    th.join(timeout=30)
    assert sender and sender[0].returncode == 0, sender
    assert s["live"] is True and s["end"].startswith("stalled") and "no frame for 4 s" in s["end"]
    assert s["frames"] >= 5 * FPS                                            # a few may be lost to UDP
    a = _first_alarm(events)
    assert 3.0 <= a["t"] <= 3.0 + (CLIP + STRIDE + 2) / FPS                    # stream time of the window's end
    assert s["latency_ms"]["p95"] < 2000 and s["realtime_factor"] > 0.5
    assert "stalled" in r.output


def test_bad_sources_say_so_in_one_line(cli_runner, tmp_path):
    r = cli_runner.invoke(cli, ["watch", str(tmp_path / "nope.mp4"), "--model", "marker-standin", "--threshold", "0.5"])
    assert r.exit_code == 1 and "nope.mp4" in r.output and "Traceback" not in r.output
    r = cli_runner.invoke(cli, ["watch", "gopher://x", "--model", "marker-standin", "--threshold", "0.5"])
    assert r.exit_code == 1 and "not a stream URL" in r.output
    r = cli_runner.invoke(cli, ["watch", "x.mp4", "--model", "chance"])
    assert r.exit_code == 1 and "scores whole files" in r.output
    r = cli_runner.invoke(cli, ["watch", "x.mp4", "--model", "altfreezing-tiny=untrained"])
    assert r.exit_code == 1 and "declares no threshold" in r.output and "--threshold" in r.output
    r = cli_runner.invoke(cli, ["watch", "webrtc:x.mp4", "--model", "marker-standin", "--threshold", "0.5"])
    assert r.exit_code == 1 and "--preset" in r.output
    # nothing sends to this port: the open times out as a stall within --stall, said in one line, and a
    # watch that saw no frame watched nothing: exit 1, and the summary says so
    port = _free_port()
    t0 = time.monotonic()
    r = cli_runner.invoke(cli, ["watch", f"udp://127.0.0.1:{port}", "--model", "marker-standin", "--threshold", "0.5",
                                "--stall", "1"])
    assert r.exit_code == 1 and "stalled" in r.output and "Traceback" not in r.output
    assert "no frame arrived: nothing was watched" in r.output and time.monotonic() - t0 < 1 + 4


def test_live_windows_are_the_windows_the_benchmark_scores(marked, cli_runner, tmp_path):
    """The network's live windows (online tracking, the ring buffer's crops, the release's
    alignment per window) score what the file scorer scores for the same windows."""
    from vcbench.scoring import ScoreSettings, score_videos

    ev = tmp_path / "net.jsonl"
    r = cli_runner.invoke(cli, ["watch", str(marked), "--model", "altfreezing-tiny=untrained", "--threshold", "0.9",
                                "--stride", "1", "--smooth", "1", "--events", str(ev), "--device", "cpu",
                                "--precision", "fp32", "--max-seconds", "2"])
    assert r.exit_code == 0, r.output
    live = {(e["track"], e["window"][0]): e["score"] for e in map(json.loads, ev.read_text().splitlines())
            if e["type"] == "window"}
    res, batch = score_videos([marked], model="altfreezing-tiny", settings=ScoreSettings(stream=True, max_frames=60,
                                                                                         precision="fp32"),
                              device="cpu", cache_dir=tmp_path / "faces")
    files = {(t.track_id, f): v for t in res[0].tracks for f, v in t.windows}
    assert len(live) == 60 - CLIP + 1 and set(live) == set(files)
    assert max(abs(live[k] - files[k]) for k in live) < 2e-5


needs_browser = pytest.mark.skipif(subprocess.run(["which", "chromium"], capture_output=True).returncode != 0 or
                                   subprocess.run(["which", "chromedriver"], capture_output=True).returncode != 0,
                                   reason="Debian's chromium and chromium-driver are not installed")


@needs_browser
def test_marker_alarm_through_a_real_webrtc_call(marked, cli_runner, tmp_path):
    r, events, s = _watch(cli_runner, f"webrtc:{marked}", tmp_path, "--preset", "webrtc-vp8-360p")
    assert s["kind"] == "WebrtcSource" and s["live"] is True and s["call"]["received"] > 0
    assert s["frames"] >= 0.8 * 6 * FPS
    a = _first_alarm(events)
    # media time from the RTP capture clock; the sender's 3 pre-roll frames come first
    assert 3.0 <= a["t"] <= 3.0 + (CLIP + STRIDE + 3) / FPS + 0.3
    assert s["latency_ms"]["p50"] > 0 and s["realtime_factor"] > 0.5


def _streaming_run(run, rows, left_out=()):
    """A finished ``benchmark --streaming`` folder: windows.jsonl, predictions.csv and results.json
    (whose cell names the videos it left out as training overlap)."""
    from vcbench.contracts import PRED_COLUMNS

    run.mkdir(exist_ok=True)
    (run / "windows.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    pred = [",".join(PRED_COLUMNS)] + [f"{r['model']},{r['dataset']},{r['preset']},{r['video_id']},{r['label']},0.3,4,"
                                        f"{r['split']},original,,ok" for r in rows]
    (run / "predictions.csv").write_text("\n".join(pred) + "\n")
    cells = [{"model": m, "dataset": "d", "preset": "clean", "overlap": {
        "mode": "exclude", "checked": True, "excluded": len(left_out), "videos": sorted(left_out)}}
        for m in sorted({r["model"] for r in rows})]
    (run / "results.json").write_text(json.dumps({"cells": cells}))


def test_threshold_from_the_checkpoint_or_a_calibration_run(marked, cli_runner, tmp_path):
    import torch

    from vcbench import alarms as A
    from vcbench.models import load_network
    from vcbench.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(load_network("altfreezing-tiny", None, "cpu"), tmp_path / "best.pth",
                           {"threshold": 0.61, "threshold_from": "val (Youden's J, video level)"})
    ev = tmp_path / "own.jsonl"
    r = cli_runner.invoke(cli, ["watch", str(marked), "--checkpoint", str(ckpt), "--events", str(ev), "--device", "cpu",
                                "--max-seconds", "1"])
    assert r.exit_code == 0, r.output
    s = json.loads(ev.with_suffix(".summary.json").read_text())
    assert s["threshold"] == 0.61 and "checkpoint's own val" in s["threshold_from"]
    assert s["model_file"]["sha256"] and s["clip_len"] == 8

    # a benchmark --streaming run's val reals pick the threshold for a false-alarm budget
    run = tmp_path / "cal"
    run.mkdir()
    real = {"0": [[k, v] for k, v in enumerate([0.2, 0.3, 0.25] * 20)]}
    rows = [{"model": "marker-standin", "dataset": "d", "preset": "clean", "video_id": "r", "label": 0,
             "split": "val", "fps": 30.0, "frames": 100, "clip_len": CLIP, "tracks": real},
            {"model": "marker-standin", "dataset": "d", "preset": "clean", "video_id": "t", "label": 0,
             "split": "test", "fps": 30.0, "frames": 100, "clip_len": CLIP, "tracks": {"0": [[0, 0.99]] * 3}}]
    _streaming_run(run, rows)
    ev2 = tmp_path / "cal.jsonl"
    r = cli_runner.invoke(cli, ["watch", str(marked), "--model", "marker-standin", "--false-alarms-per-hour", "1",
                                "--calibration", str(run), "--stride", "4", "--smooth", "2", "--events", str(ev2),
                                "--max-seconds", "1"])
    assert r.exit_code == 0, r.output
    s2 = json.loads(ev2.with_suffix(".summary.json").read_text())
    want, _ = A.budget_threshold([A.series("r", 0, 30.0, 100, real, CLIP, A.StreamPolicy(4, 2))], 1.0)
    assert s2["threshold"] == want and 0.275 < want < 0.2751 and "calibrated on" in s2["threshold_from"]
    r = cli_runner.invoke(cli, ["watch", str(marked), "--model", "marker-standin", "--false-alarms-per-hour", "1"])
    assert r.exit_code == 1 and "--calibration" in r.output


def test_ctrl_c_ends_the_watch_with_its_summary(marked, tmp_path):
    import os
    import signal
    import sys

    ev = tmp_path / "int.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "vcbench", "watch", str(marked), "--model", "altfreezing-tiny=untrained",
                          "--threshold", "0.5", "--realtime", "--events", str(ev), "--device", "cpu"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (ev.is_file() and ev.read_text().count("\n") >= 3):
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out
    assert "interrupted (Ctrl-C)" in out and "Traceback" not in out
    s = json.loads(ev.with_suffix(".summary.json").read_text())
    assert s["end"] == "interrupted (Ctrl-C)" and 0 < s["frames"] < 6 * FPS and s["windows_scored"] >= 3


def test_a_scorer_that_falls_behind_skips_old_windows_and_keeps_latency_bounded(marked):
    from vcbench.alarms import StreamPolicy
    from vcbench.faces.tracking import get_backend
    from vcbench.watch.engine import Watcher, summarise
    from vcbench.watch.sources import FileSource

    class Slow(MarkerScorer):
        def __call__(self, clips):
            time.sleep(0.25 * len(clips))            # as on a CPU: each window of a batch costs its forward
            return super().__call__(clips)

    events = []
    src = FileSource(marked, realtime=True)
    w = Watcher(src, Slow(), get_backend("mediapipe"), StreamPolicy(2, 1), 0.5, max_seconds=4, sink=events.append)
    w.run()
    s = summarise(w, src.fps)
    scored = [e for e in events if e["type"] == "window"]
    skipped = [e for e in events if e["type"] == "skip"]
    # a window every 2 frames at 30 fps is 15 a second; 4 a second can be scored: the rest give way
    assert s["windows_skipped"] == len(skipped) > len(scored) > 4
    assert len(scored) + len(skipped) >= (4 * FPS - CLIP) // 2 - s["dropped_frames"] // 2 - 2
    frames = [e["frame"] for e in scored]
    assert frames == sorted(frames)                              # what is scored only moves forward
    assert s["latency_ms"]["max"] < 2 * 250 + 400                # ~two forwards, not a batch of the backlog
