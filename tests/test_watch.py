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

import numpy as np
import pytest

from vcbench.cli import cli
from vcbench.detectors import DETECTORS, Detector
from vcbench.models.preprocess import Preprocess

from conftest import ffmpeg, has_mediapipe

pytestmark = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")

FPS, MARK_AT, CLIP, STRIDE = 30, 90, 8, 8          # the marker appears at frame 90 = 3.0 s


class MarkerScorer:
    """Probability of fake = the share of a window's frames showing the green marker."""

    preprocess = Preprocess(clip_len=CLIP, size=64, crop="box", box_scale=1.2, mean=(0, 0, 0), std=(1, 1, 1))

    def __call__(self, clips):
        c = clips.astype(np.int16)
        green = (c[..., 1] > 150) & (c[..., 0] < 110) & (c[..., 2] < 110)       # (N, T, S, S)
        return (green.mean(axis=(2, 3)) > 0.01).mean(axis=1)


class MarkerDetector(Detector):
    kind = "stand-in"

    @classmethod
    def build(cls, name, value, spec, settings, **meta):
        return cls(name, spec, settings)

    def predict_batch(self, paths, ids, tracks=None):
        raise AssertionError("watch scores windows, never files")

    def window_scorer(self):
        return MarkerScorer()


@pytest.fixture(scope="module", autouse=True)
def marker_detector():
    DETECTORS.register("marker-standin", MarkerDetector, help="test stand-in")
    yield
    DETECTORS._entries.pop("marker-standin", None)


@pytest.fixture(scope="module")
def marked(tmp_path_factory, carphone):
    """6 s of a talking head (carphone forward, then backward: one unbroken face track) with a green
    square on the forehead from frame 90 on."""
    from vcbench.faces.tracking import track_video
    from vcbench.video import read_frames, write_video

    root = tmp_path_factory.mktemp("watch")
    frames = read_frames(carphone)
    seq = np.concatenate([frames, frames[::-1]])[:6 * FPS]
    plain = root / "plain.mp4"
    write_video(plain, seq, FPS)
    vt = track_video(plain, cache_dir=False)
    tr = vt.longest()
    assert tr is not None and len(tr) >= 6 * FPS - 2
    out = seq.copy()
    for row, f in enumerate(tr.frames):
        if f < MARK_AT:
            continue
        x1, y1, x2, y2 = tr.boxes[row]
        s = max(4, int((x2 - x1) * 0.22))
        cx, cy = int((x1 + x2) / 2), int(y1 + (y2 - y1) * 0.18)
        out[f, cy - s // 2:cy + s // 2, cx - s // 2:cx + s // 2] = (30, 230, 40)
    path = root / "marked.mp4"
    write_video(path, out, FPS)
    return path


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
        time.sleep(3.0)                    # the watch is listening by then
        sender.append(subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-re", "-i", str(marked),
                                      "-c:v", "mpeg2video", "-g", "10", "-q:v", "3", "-f", "mpegts",
                                      f"udp://127.0.0.1:{port}?pkt_size=1316"], capture_output=True))

    th = threading.Thread(target=send, daemon=True)
    th.start()
    r, events, s = _watch(cli_runner, f"udp://127.0.0.1:{port}", tmp_path, "--stall", "2")
    th.join(timeout=30)
    assert sender and sender[0].returncode == 0, sender
    assert s["live"] is True and s["end"].startswith("stalled") and "no frame for 2 s" in s["end"]
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
    # nothing listens on this port: the open times out as a stall, said in one line
    port = _free_port()
    r = cli_runner.invoke(cli, ["watch", f"udp://127.0.0.1:{port}", "--model", "marker-standin", "--threshold", "0.5",
                                "--stall", "1"])
    assert r.exit_code == 0 and "stalled" in r.output and "Traceback" not in r.output


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
