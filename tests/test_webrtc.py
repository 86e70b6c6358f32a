"""The real-WebRTC engine: the relay's network model, the frame mapping, and short calls in
headless Chromium (skipped, with the reason, where Chromium or chromedriver is missing)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import write_toml
from vcbench.cli import cli
from vcbench.conference.network import freezes_of
from vcbench.conference.webrtc.engine import Received, _receiver_view, rtp_to_frames
from vcbench.conference.link import Link, LinkModel
from vcbench.conference.webrtc.relay import Relay
from vcbench.errors import EncoderError


def _browser_missing() -> str | None:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return "Debian's chromium and chromium-driver are not installed (scripts/test.sh installs them as root)"
    import importlib.util

    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed"
    return None


needs_browser = pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))


# --- the relay -------------------------------------------------------------------------------

def test_relay_tells_streams_apart_by_ssrc_rtcp_and_stun():
    from vcbench.conference.webrtc.relay import stream_of

    rtp = bytes([0x90, 108, 0, 1]) + (123).to_bytes(4, "big") + (0xDEADBEEF).to_bytes(4, "big") + b"x" * 20
    rtcp = bytes([0x81, 201, 0, 7]) + b"\0" * 28                   # a receiver report
    stun = bytes([0x00, 0x01, 0, 0]) + b"\x21\x12\xa4\x42" + b"\0" * 12
    dtls = bytes([22, 254, 253]) + b"\0" * 20
    assert [stream_of(x) for x in (rtp, rtcp, stun, dtls, b"\x90")] == [0xDEADBEEF, "rtcp", "stun", "other", "other"]


def _encoded(kbps: float, seconds: float = 10, fps: int = 30, key: int = 0) -> list:
    per = int(kbps * 1000 / 8 / fps)
    return [[i * 3000, i * 33.3, int(i < key), per] for i in range(int(seconds * fps))]


@pytest.mark.parametrize("case", ["padding", "overshoot", "resend", "quiet"])
def test_rate_breakdown_names_what_made_the_wire_exceed_the_target(case):
    """The burst-loss call of the hardening sweep (1.9 Mbit/s on the wire for a 1.2 Mbit/s target)
    was libwebrtc's RTX probe padding: the encoder was on target. Each cause is told apart."""
    from vcbench.conference.webrtc.engine import rate_breakdown

    enc_kbps = {"overshoot": 1900}.get(case, 1170)
    encoded = _encoded(enc_kbps)
    media = sum(e[3] for e in encoded)
    extra = {"padding": 880_000, "resend": 300_000}.get(case, 0)
    out = {"bytesSent": media + extra, "retransmittedBytesSent": extra if case == "resend" else 15_000,
           "headerBytesSent": 56_000, "targetBitrate": 1_200_000, "ssrc": 1, "rtxSsrc": 2}
    wire = {1: media + 40_000, 2: extra + 16_000, "rtcp": 4000, "stun": 4000}
    r = rate_breakdown(out, encoded, wire, 10.0, 1200)
    assert r["encoded_kbps"] == pytest.approx(enc_kbps, abs=1)
    assert r["wire_kbps"] == pytest.approx(sum(wire.values()) * 8 / 10_000, abs=0.1)
    if case == "overshoot":
        assert "rate was not applied" in r["verdict"]
    else:
        assert r["verdict"].startswith("the encoder kept its target")
        want = {"padding": "probe padding", "resend": "retransmissions", "quiet": "RTP headers"}[case]
        assert f"mostly {want}" in r["verdict"]
        assert ("not the encoder's" in r["verdict"]) == (case != "quiet")
    if case == "padding":
        assert r["probe_padding_kbps"] == pytest.approx((880_000 - 15_000) * 8 / 10_000, abs=1)

def test_gilbert_elliott_loss_has_its_rate_and_burst_length_and_is_seeded():
    runs = []
    for seed in (3, 3, 4):
        link = Link(LinkModel(loss=0.1, burst_len=5), seed)
        runs.append([link.admit(100, 0.0) is None for _ in range(200_000)])
    lost = np.array(runs[0])
    assert abs(lost.mean() - 0.1) < 0.01
    starts = np.flatnonzero(lost & ~np.r_[False, lost[:-1]])
    assert abs(lost.sum() / len(starts) - 5) < 0.5                 # mean burst length, in packets
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_cap_queues_drops_and_delays_in_order():
    """800 kbps cap, 100 ms queue, 20 +- 5 ms delay: 2 Mbps offered for a second leaves at the cap,
    the rest is dropped at the tail; departures never reorder and never beat the delay; a step
    moves the cap."""
    link = Link(LinkModel(cap_kbps=800, queue_ms=100, delay_ms=20, jitter_ms=5, steps=((1.0, 400),)), 0)
    link.t0 = 0.0
    deps, arrivals = [], []
    for i in range(250):                                         # 1000 B every 4 ms = 2 Mbps
        t = i * 0.004
        d = link.admit(1000, t)
        if d is not None:
            deps.append(d)
            arrivals.append(t)
    deps, arrivals = np.array(deps), np.array(arrivals)
    assert link.counts.queue_drops > 100 and np.all(np.diff(deps) >= 0) and np.all(deps - arrivals >= 0.015)
    sent_in_first_s = np.sum(deps <= 1.0 + 0.025)
    assert 85 <= sent_in_first_s <= 115                           # 800 kbps = 100 packets of 1000 B a second
    before = len(deps)
    for i in range(250):                                          # after the step: 400 kbps
        link.admit(1000, 2.0 + i * 0.004)
    assert 40 <= link.counts.forwarded - before <= 65


def test_relay_forwards_both_ways_on_loopback():
    relay = Relay(LinkModel(delay_ms=20), LinkModel(delay_ms=20), seed=1)
    p1, p2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (p1, p2):
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
    try:
        relay.start(p1.getsockname()[1], p2.getsockname()[1])
        t = time.monotonic()
        for i in range(20):
            p1.sendto(f"up{i}".encode(), ("127.0.0.1", relay.port_a))
        got = [p2.recvfrom(100) for _ in range(20)]
        assert [g[0] for g in got] == [f"up{i}".encode() for i in range(20)]
        assert {g[1][1] for g in got} == {relay.port_b} and time.monotonic() - t >= 0.02
        p2.sendto(b"down", ("127.0.0.1", relay.port_b))
        data, addr = p1.recvfrom(100)
        assert data == b"down" and addr[1] == relay.port_a
        assert relay.counts()["up"]["forwarded"] == 20 and relay.counts()["down"]["forwarded"] == 1
    finally:
        relay.close()
        p1.close()
        p2.close()


# --- timestamps to frames, and the renderer ---------------------------------------------------

def _rx(seq, rtp, t):
    return Received(seq, rtp, t, 8, 8, 0, 0, [])


def test_rtp_timestamps_map_to_source_frames_across_the_wrap():
    rng = np.random.default_rng(0)
    fps, offset = 30.0, (1 << 32) - 50_000                          # the RTP clock wraps mid-call
    writes = [[0, 0.0], [0, 33.3]] + [[k, 100.0 + k * 1000 / fps + rng.uniform(-4, 4)] for k in range(60)]
    rtp = lambda t: int(round(offset + 90 * t + rng.uniform(-90, 90))) % (1 << 32)   # noqa: E731
    encoded = [[rtp(t), t, 0, 100] for k, t in writes[2:] if k % 7]               # the encoder skipped some
    frames = [k for k in range(60) if k % 7 and k % 5]                             # the network lost some
    received = [_rx(i, rtp(writes[k + 2][1]), 0.0) for i, k in enumerate(frames)]
    assert rtp_to_frames(writes, encoded, received) == frames


def test_a_capture_stamped_late_still_maps_to_its_own_frame():
    """The browser stamps a frame's capture time when it gets to it: a busy renderer stamps one 25 ms
    after its write, nearer the next write than its own. Matched in order (one write per encoded
    frame, none after the write before its encoding), it keeps its own frame; the nearest write
    alone (how this mapped before) gave two received frames the same source and lost one."""
    fps = 30.0
    writes = [[k, 100.0 + k * 1000 / fps] for k in range(30)]
    late = {11: 25.0, 20: 24.0}
    stamp = {k: t + late.get(k, 0.0) for k, t in writes}
    encoded = [[int(90 * stamp[k]), t + 1.0 if k not in late else writes[k + 1][1] + 1.0, 0, 100]
               for k, t in writes]                       # encoded after its write (a late one after the next)
    received = [_rx(i, e[0], 0.0) for i, e in enumerate(encoded)]
    assert rtp_to_frames(writes, encoded, received) == list(range(30))


def test_receiver_view_holds_late_frames_and_counts_freezes():
    fps, n = 30.0, 60
    writes = [[k, k * 1000 / fps] for k in range(n)]
    lat = {k: 50.0 for k in range(n)}
    for k in range(20, 30):                 # frames 20-29 wait ~300 ms for a retransmission
        lat[k] = 50.0 + (30 - k) * 33.3
    del lat[40]                             # frame 40 never arrives
    index = sorted(lat)
    received = [_rx(i, 0, writes[k][1] + lat[k]) for i, k in enumerate(index)]
    received.sort(key=lambda r: r.t_ms)
    index = [index[r.seq] for r in received]
    shown, startup, delay = _receiver_view(index, received, writes, n, fps)
    src = [index[s] for s in shown]
    assert startup == 0 and 50 <= delay < 120
    assert src[:20] == list(range(20)) and src[30:40] == list(range(30, 40)) and src[40] == 39
    assert src[20] == 19 and set(src[20:29]) <= {19, 20, 21, 22, 23, 24, 25, 26, 27, 28}
    frozen = freezes_of(src, fps)
    assert len(frozen) == 1 and 20 <= frozen[0][0] <= 21 and frozen[0][1] >= 5     # 40 alone is no freeze


# --- real calls --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def counter_clip(tmp_path_factory) -> Path:
    """2 s, 320x240 at 30 fps: a moving face-like blob and a binary frame counter in the bottom band."""
    import cv2

    from vcbench.video import VideoWriter

    path = tmp_path_factory.mktemp("webrtc") / "counter.mp4"
    with VideoWriter(path, 30, codec_args=["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p"]) as w:
        for k in range(60):
            img = np.full((240, 320, 3), 90, np.uint8)
            cv2.circle(img, (100 + 2 * k, 100), 40, (200, 160, 130), -1)
            for b in range(6):
                if k >> b & 1:
                    img[200:240, b * 48 + 8:(b + 1) * 48] = 255
            w.write(img)
    return path


def _counter(img: np.ndarray) -> int:
    band = img[205:235, :, :].mean(axis=(0, 2))
    return sum(1 << b for b in range(6) if band[b * 48 + 16:(b + 1) * 48 - 8].mean() > 170)


@needs_browser
def test_webrtc_call_maps_every_frame_and_shows_freezes_as_repeats(counter_clip, tmp_path, cli_runner):
    """A 2 s call with 8 % bursty packet loss: the receiver's view has the input's frame count,
    each output frame shows the source frame the stats say (read from the counter band), held
    frames are exact repeats, and the stats carry WebRTC's counters and the relay's."""
    from vcbench.video import probe, read_frames

    presets = write_toml(tmp_path / "p.toml", '[presets.lossy]\ncodec = "vp8"\nwidth = 320\nheight = 240\nfps = 30\n'
                                              'bitrate_kbps = 600\nloss = 0.08\nburst_len = 3\nrtt_ms = 60\n')
    out = tmp_path / "call.webm"              # the receiver's view, losslessly: VP9 in .webm (x264 qp 0 in .mp4)
    r = cli_runner.invoke(cli, ["simulate", str(counter_clip), "--preset", "lossy", "--presets", str(presets),
                                "-o", str(out), "--engine", "webrtc", "--seed", "5"])
    assert r.exit_code == 0, r.output
    assert "webrtc.inbound" in r.output and "source_frames" in r.output
    stats = json.loads((tmp_path / "call.webm.stats.json").read_text())
    assert probe(out).codec == "vp9" and probe(out).frames == 60 == stats["frames"] and len(stats["source_frames"]) == 60
    frames = read_frames(out)
    got = [_counter(f) for f in frames]
    assert got == stats["source_frames"], (got, stats["source_frames"])
    for i in range(1, 60):
        if stats["source_frames"][i] == stats["source_frames"][i - 1]:
            assert np.array_equal(frames[i], frames[i - 1])
    inbound, relay = stats["webrtc"]["inbound"], stats["relay"]
    assert relay["up"]["lost"] > 0 and relay["up"]["forwarded"] > 50 and relay["down"]["forwarded"] > 0
    assert {"nackCount", "pliCount", "freezeCount", "framesDecoded"} <= set(inbound)
    assert stats["engine"] == "webrtc" and stats["seed"] == 5 and stats["deterministic"] is False
    assert stats["webrtc"]["chromium"].startswith("Chromium")
    # the rate breakdown: the wire's bytes are the relay's, split by stream without a remainder
    rate = stats["rate"]
    assert rate["wire_kbps"] == pytest.approx(relay["up"]["bytes"] * 8 / 1000 / 2.0, rel=0.01)
    assert sum(rate["wire"].values()) == pytest.approx(rate["wire_kbps"], abs=0.5) and rate["wire"]["media"] > 0
    assert stats["kbps"] == rate["encoded_kbps"] > 0 and rate["verdict"].startswith("the encoder")
    # the event track: a row per output frame, the stats' source frames, repeats where pictures repeat,
    # freezes where the stats count them, the first frame a keyframe, the encoder's rate over a second
    from vcbench.contracts import call_event_marks, read_call_events

    ev = read_call_events(out)
    assert [e["source"] for e in ev] == stats["source_frames"] and [e["frame"] for e in ev] == list(range(60))
    assert all(e["resolution"] == "320x240" for e in ev) and ev[0]["keyframe"] is True
    for i in range(1, 60):
        if ev[i]["repeat"]:
            assert np.array_equal(frames[i], frames[i - 1])
    assert set(call_event_marks(ev, 30.0)["freeze"]) >= {a for a, _ in stats["freeze_frames"]}
    # the relay's drops of media packets, by the frame they belonged to (its RTP timestamp). Which
    # packets a loss burst hits depends on the browser's timing: in a 2 s call the few bursts can
    # all fall on RTX probe padding, so the count is checked against what the relay dropped
    lost, media_lost = sum(e["lost"] for e in ev), stats["media_packets_lost"]
    assert lost <= media_lost <= relay["up"]["lost"] and (lost > 0) == (media_lost > 0), (lost, media_lost)
    kb = [e["kbps"] for e in ev[35:] if e["kbps"] is not None]
    assert kb and 0.3 * stats["kbps"] < float(np.median(kb)) < 3 * stats["kbps"]


@needs_browser
def test_webrtc_bad_input_is_one_line(counter_clip, tmp_path, cli_runner, monkeypatch):
    from vcbench.conference.webrtc import engine
    from vcbench.conference.webrtc.engine import simulate_webrtc

    r = cli_runner.invoke(cli, ["simulate", str(counter_clip), "--preset", "lossy-180p", "-o", str(tmp_path / "o.avi"),
                                "--engine", "webrtc"])
    assert r.exit_code != 0 and "use .mp4, .mkv or .webm" in r.output and "Traceback" not in r.output
    r = cli_runner.invoke(cli, ["simulate", str(counter_clip), "--preset", "clean", "-o", str(tmp_path / "o.mp4"),
                                "--engine", "webrtc"])
    assert r.exit_code != 0 and "makes no call" in r.output
    presets = write_toml(tmp_path / "p.toml", '[presets.dead]\nextends = "lossy-180p"\nloss = 0.999\nburst_len = 1000\nrtt_ms = 20\n')
    with pytest.raises(EncoderError, match=r"never connected \(ICE"):
        simulate_webrtc(counter_clip, tmp_path / "dead.mp4", "dead", presets_file=presets, connect_s=3)
    assert not (tmp_path / "dead.mp4").exists() and not list(tmp_path.glob(".vcb-webrtc-*"))
    monkeypatch.setitem(engine.WEBRTC_CODEC, "vp8", "H265")
    with pytest.raises(EncoderError, match=r"codec H265 is not offered by this Chromium \(it offers VP8, .*AV1"):
        simulate_webrtc(counter_clip, tmp_path / "h265.mp4", "lossy-180p")
    monkeypatch.undo()
    bad = write_toml(tmp_path / "b.toml", '[presets.bad]\nextends = "lossy-180p"\ndegradation = "fastest"\n')
    r = cli_runner.invoke(cli, ["simulate", str(counter_clip), "--preset", "bad", "--presets", str(bad),
                                "-o", str(tmp_path / "o.mp4"), "--engine", "webrtc"])
    assert r.exit_code != 0 and "degradation must be one of balanced" in r.output
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    monkeypatch.delenv("VCBENCH_CHROMIUM", raising=False)
    r = cli_runner.invoke(cli, ["simulate", str(counter_clip), "--preset", "lossy-180p", "-o", str(tmp_path / "o.mp4"),
                                "--engine", "webrtc"])
    assert r.exit_code != 0 and "apt-get install chromium chromium-driver" in r.output
    assert len(r.output.strip().splitlines()) == 1


def _descendants(pid: int) -> set[int]:
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p and c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@needs_browser
def test_the_browser_starts_from_a_thread_after_the_main_thread_decoded_video(counter_clip):
    """What made every in-process live call stall: PyAV 18 keeps a swscale context per thread, and
    a ``preexec_fn`` made the forked child free the main thread's, which waits forever for slice
    threads that exist only in the parent; the call's thread then waited forever for the exec."""
    import threading

    from vcbench.conference.webrtc.engine import browser
    from vcbench.video import read_frames

    read_frames(counter_clip)                  # the main thread's per-thread reformatter
    got: dict = {}

    def start():
        with browser() as d:
            got["agent"] = d.execute_script("return navigator.userAgent")

    th = threading.Thread(target=start, daemon=True)
    th.start()
    th.join(60)
    assert "Headless" in got.get("agent", ""), "the browser never started from the call's thread"


@needs_browser
def test_killing_the_command_mid_call_leaves_no_browser_behind(counter_clip, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "vcbench", "simulate", str(counter_clip), "--preset",
                             "webrtc-vp8-360p", "-o", str(tmp_path / "k.mp4"), "--engine", "webrtc"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    kids: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(kids) < 4:     # chromedriver, chromium and its helpers
            time.sleep(0.3)
            kids = _descendants(proc.pid)
        assert len(kids) >= 2, "the call never started its browser"
        time.sleep(1.0)
        kids |= _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        assert not [k for k in kids if _alive(k)]
    finally:                               # never leave a browser to the next test, pass or fail
        for k in kids | {proc.pid}:
            if _alive(k):
                os.kill(k, signal.SIGKILL)


@needs_browser
def test_calibrate_prints_both_engines_side_by_side_and_resumes(counter_clip, tmp_path, cli_runner):
    out = tmp_path / "cal"
    args = ["calibrate", "--preset", "webrtc-vp8-360p,lossy-180p", "--clips", str(counter_clip), "--out", str(out)]
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "ffmpeg    webrtc       gap" in r.output and "lossy-180p" in r.output and "psnr_y" in r.output
    cal = json.loads((out / "calibrate.json").read_text())
    assert [row["preset"] for row in cal["rows"]] == ["webrtc-vp8-360p", "lossy-180p"]
    for row in cal["rows"]:
        assert row["ffmpeg"]["clips"] == row["webrtc"]["clips"] == 1
        assert row["ffmpeg"]["psnr_y"] > 20 and row["webrtc"]["psnr_y"] > 20
        assert row["gap"]["kbps"] == pytest.approx(row["webrtc"]["kbps"] - row["ffmpeg"]["kbps"], abs=1e-6)
    made = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")} | {p: p.stat().st_mtime_ns for p in out.rglob("*.webm")}
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 0 and all(p.stat().st_mtime_ns == t for p, t in made.items())
    assert "4 runs: 0 done, 4 already done, 0 failed" in r.output
    assert json.loads((out / "calibrate.status.json").read_text())["state"] == "finished"
    edited = write_toml(tmp_path / "p.toml", '[presets.lossy-180p]\nextends = "webrtc-vp8-360p"\nbitrate_kbps = 99\n')
    r = cli_runner.invoke(cli, [*args, "--presets", str(edited)])       # same name, other settings: not averaged in
    assert r.exit_code == 1 and "preset 'lossy-180p' changed since its outputs were made here" in r.output
    r = cli_runner.invoke(cli, ["calibrate", "--preset", "lossy-108p", "--clips", str(counter_clip), "--out", str(out)])
    assert r.exit_code != 0 and "lossy-180p" in r.output


def test_webrtc_stats_carry_face_tracks_frame_by_frame(tmp_path):
    """A call's output frame j shows source frame ``source_frames[j]`` at the call's size: the
    source's tracks follow it there (held frames repeat their box, skipped frames drop out)."""
    from types import SimpleNamespace

    from vcbench.conference.presets import get_preset
    from vcbench.conference.simulate import carry_tracks
    from vcbench.faces.tracking import Track, VideoTracks, load_tracks, save_tracks

    boxes = np.array([[10 + 2 * f, 20, 60 + 2 * f, 90] for f in range(10)], np.float32)
    kps = np.repeat(boxes[:, None, :2], 5, 1)
    vt = VideoTracks("src.mp4", 10, "mediapipe-x", [Track(0, np.arange(10), boxes, kps, np.ones(10, np.float32))])
    return_dir = tmp_path
    save_tracks(vt, return_dir / "src.npz")
    stats = {"engine": "webrtc", "resolution": "88x72", "source_frames": [0, 0, 1, 2, 2, 2, 5, 6, 7, 9]}
    info = SimpleNamespace(width=176, height=144)
    assert carry_tracks(return_dir / "src.npz", return_dir / "out.npz", info, get_preset("lossy-180p"), 0, stats,
                        Path("out.mp4"))
    t = load_tracks(return_dir / "out.npz").tracks[0]
    assert list(t.frames) == list(range(10))
    assert np.allclose(t.boxes[6], boxes[5] * 0.5) and np.allclose(t.boxes[4], boxes[2] * 0.5)


@needs_browser
def test_renditions_are_cached_per_engine(counter_clip, tmp_path, monkeypatch):
    from vcbench.conference.presets import get_preset
    from vcbench.conference.renditions import preset_digest, rendition, rendition_path

    monkeypatch.setenv("VCBENCH_CACHE", str(tmp_path / "cache"))
    p = get_preset("lossy-180p")
    got = rendition(counter_clip, p, 7, engine="webrtc")
    assert got == rendition_path(counter_clip, p, 7, "webrtc") != rendition_path(counter_clip, p, 7)
    assert got.name == f"lossy-180p-{preset_digest(p)}-webrtc-s7.mp4" and got.is_file()
    stats = json.loads(got.with_name(got.name + ".stats.json").read_text())
    assert stats["engine"] == "webrtc" and stats["seed"] == 7
    mtime = got.stat().st_mtime_ns
    assert rendition(counter_clip, p, 7, engine="webrtc") == got and got.stat().st_mtime_ns == mtime


@needs_browser
def test_generate_puts_reals_and_fakes_through_real_calls(tmp_path, carphone, astronaut_rgb, cli_runner):
    import cv2

    from conftest import has_mediapipe
    from vcbench.faces import track_video
    from vcbench.faces.tracking import backend_key, cache_file

    if not has_mediapipe:
        pytest.skip("needs mediapipe 0.10.21")
    src, tgt = tmp_path / "faces", tmp_path / "videos"
    src.mkdir()
    tgt.mkdir()
    cv2.imwrite(str(src / "astronaut.png"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    shutil.copyfile(carphone, tgt / "carphone.mp4")
    out, cache = tmp_path / "ds", tmp_path / "cache"
    r = cli_runner.invoke(cli, ["generate", "--source", str(src), "--target", str(tgt), "--out", str(out),
                                "--preset", "clean,lossy-180p", "--engine", "webrtc", "--max-frames", "45",
                                "--cache-dir", str(cache)])
    assert r.exit_code == 0, r.output
    made = sorted(p.relative_to(out).as_posix() for p in (out / "videos" / "lossy-180p").rglob("*.mp4"))
    assert made == ["videos/lossy-180p/mesh/carphone__astronaut.mp4", "videos/lossy-180p/original/carphone.mp4"]
    for rel in made:
        stats = json.loads((out / (rel + ".stats.json")).read_text())
        assert stats["engine"] == "webrtc" and stats["frames"] == len(stats["source_frames"])
        assert cache_file(out / rel, backend_key("mediapipe"), cache).is_file()     # carried, not detected
        tracks = track_video(out / rel, cache_dir=cache, detect_every=None)
        assert tracks.longest() is not None and tracks.n_frames == stats["frames"]
    meta = json.loads((out / "generate.json").read_text())
    assert meta["config"]["engine"] == "webrtc"


@needs_browser
def test_a_wide_camera_scaled_to_an_odd_width_arrives_whole(counter_clip, tmp_path):
    """A 16:9 camera in a 240-line call: libwebrtc scales 640x360 to 427x240 (odd), whose chroma
    planes are 214 wide; the receiver's view is the even 426x240 picture, every frame there."""
    from vcbench.conference.webrtc.engine import simulate_webrtc
    from vcbench.video import VideoWriter, probe, read_frames

    wide = tmp_path / "wide.mp4"
    frames = read_frames(counter_clip)[:30]
    with VideoWriter(wide, 30, codec_args=["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p"]) as w:
        for f in frames:
            w.write(np.ascontiguousarray(np.repeat(np.repeat(f, 3, 0), 4, 1)[::2, ::2][:360, :640]))
    presets = write_toml(tmp_path / "p.toml", '[presets.p240]\ncodec = "vp8"\nwidth = 320\nheight = 240\nfps = 30\n'
                                              'bitrate_kbps = 600\nloss = 0.01\n')
    out = tmp_path / "out.webm"
    stats = simulate_webrtc(wide, out, "p240", seed=1, presets_file=presets)
    info = probe(out)
    assert (info.width, info.height) == (426, 240) and info.frames == 30 == stats["frames"]
    got = read_frames(out)
    assert got[:, :, :, :].mean() > 20                          # a picture, not a blank from a torn frame
