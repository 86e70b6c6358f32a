"""Every preset, probed: codec, profile, size, rate, no B-frames, bitrate within 15 %."""
import json
import stat
from pathlib import Path

import numpy as np
import pytest

from vcbench.cli import cli
from vcbench.errors import ConfigError, EncoderError
from vcbench.conference.presets import builtin_presets, get_preset
from vcbench.conference.simulate import simulate_file, stats_path
from vcbench.video import iter_frames, probe, read_frames

from conftest import builtin_ladder, has_mediapipe

CODEC = {"x264": "h264", "x264-crf": "h264", "openh264": "h264", "vp8": "vp8", "vp9": "vp9", "av1": "av1"}
LADDER = builtin_ladder()


@pytest.fixture(scope="session")
def face_clip_10s(tmp_path_factory):
    """10 s of a real face at 640x360@30 (carphone forward and back, upscaled, sensor grain)."""
    from vcbench.samples import talking_head

    return talking_head(tmp_path_factory.mktemp("clip") / "face10s.mp4", (640, 360), 300)


def test_ladder_has_every_named_preset_with_sources():
    presets = builtin_presets()
    assert len(LADDER) >= 29 and LADDER[0] == "clean"
    for name in LADDER[1:]:
        assert presets[name].sources, f"{name} cites no source"
    assert "burst_len" in presets["burst-loss"].estimates and "rtt_ms" in presets["lossy-180p"].estimates
    assert any("Teams" in s and "200 ms" in s for s in presets["burst-loss"].sources)   # a packet-loss ceiling
    assert presets["burst-loss"].loss <= 0.01 and presets["loss-stress"].loss == 0.10


@pytest.fixture(scope="session")
def face_clip_3s(tmp_path_factory):
    """3 s of the same face: camera presets run their per-frame Python stages on this one."""
    from vcbench.samples import talking_head

    return talking_head(tmp_path_factory.mktemp("clip") / "face3s.mp4", (640, 360), 90)


@pytest.mark.parametrize("name", LADDER)
def test_every_preset_output_matches_its_definition(tmp_path, face_clip_10s, face_clip_3s, name):
    if name in ("vbg-blur", "vbg-replace") and not has_mediapipe:
        pytest.skip("background effects need mediapipe's selfie segmentation")
    p = get_preset(name)
    clip, seconds = (face_clip_3s, 3) if p.has_camera else (face_clip_10s, 10)
    out = tmp_path / f"out{p.extension}"
    stats = simulate_file(clip, out, p, seed=1)
    info = probe(out)
    assert json.loads(stats_path(out).read_text())["preset"] == name
    if p.codec == "none":
        assert out.read_bytes() == clip.read_bytes()
        return
    if p.shows_receiver_view:   # the file is the receiver's view, lossless; the stats describe what was sent
        assert info.codec == "h264" and info.frames == stats["frames_sent"]
        sent_codec, sent_b, sent_profile, sent_kbps = stats["codec"], stats["b_frames"], stats["profile"], stats["kbps"]
    else:
        sent_codec, sent_b, sent_profile, sent_kbps = info.codec, info.has_b_frames, info.profile, info.bit_rate / 1000
    assert sent_codec == CODEC[p.codec]
    if p.codec != "x264-crf":               # FF++'s c23/c40 are plain x264 encodes, B-frames and all
        assert not sent_b
    if p.codec == "x264":
        assert sent_profile == "Constrained Baseline"
    # a call scales the 640x360 camera down to the preset's height, never up; a phone sends the
    # upright 9:16 middle of it, a screen share the whole screen; a tile shows it at its height
    if p.content == "screen":
        size = (p.width, p.height)
    elif p.portrait:
        size = (202, 360) if p.height >= 360 else (round(p.height * 202 / 360) // 2 * 2, p.height)
    else:
        size = (p.width, p.height) if 0 < p.height < 360 else (640, 360)
    if p.tile_height:
        size = (round(p.tile_height * size[0] / size[1]) // 2 * 2, p.tile_height)
    assert (info.width, info.height) == size
    if p.bwe_step_s:   # from a keyframe at the step on, frames arrive at the lower resolution
        last = next(f for i, f in iter_frames(out, indices=[info.frames - 1]))
        assert last.shape[:2] == (p.bwe_height, p.bwe_width)
        assert stats["resolution_switches"] == 1 and info.keyframes == 2
    assert info.fps == pytest.approx(p.fps or 30, rel=0.02)
    if p.bitrate_kbps:
        target = p.bitrate_kbps
        if p.bwe_step_s:
            target = (p.bitrate_kbps * p.bwe_step_s + p.bwe_kbps * (seconds - p.bwe_step_s)) / seconds
        if p.content == "screen":           # a mostly still desktop: screen-content mode spends less
            assert 0.1 * target < sent_kbps <= 1.15 * target, stats
        else:
            assert sent_kbps == pytest.approx(target, rel=0.15), stats
    if not p.loss and not p.bwe_step_s and p.codec != "x264-crf":
        assert stats["keyframes"] == 1      # a call sends one keyframe unless the receiver asks
    if p.has_network:                       # the packets went through the transport model
        assert stats["transport"]["packets"] > 0 and len(stats["source_frames"]) == stats["frames_sent"]


def keyframe_times(path):
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [round(float(pk.pts * s.time_base), 3) for pk in c.demux(s) if pk.is_keyframe and pk.size]


def test_heavy_loss_freezes_the_display_and_recovers_without_keyframes(tmp_path, face_clip_10s):
    out = tmp_path / "loss.mp4"
    stats = simulate_file(face_clip_10s, out, "loss-stress", seed=3)
    assert stats["freezes"] >= 2 and stats["freeze_s"] > 0
    assert stats["effective_fps"] < stats["fps"]
    t = stats["transport"]
    assert t["lost"] > 0 and t["retransmissions"] >= t["lost"] // 2 and t["nacks"] > 0
    # NACK recovers the losses: keyframes only where the receiver asked (here at most the start-up one)
    assert stats["keyframe_frames"] == stats["forced_keyframe_frames"] and len(stats["keyframe_frames"]) <= 3
    assert t["plis"] <= 2
    frames = dict(iter_frames(out))
    assert len(frames) == stats["frames_sent"] == 300
    src = stats["source_frames"]
    assert len(src) == 300 and all(a <= b for a, b in zip(src, src[1:]))     # a renderer holds or moves on
    # what the receiver displays: every frame of a freeze is the frame shown before it, exactly
    for a, n in stats["freeze_frames"]:
        for i in range(a, a + n):
            assert np.array_equal(frames[i], frames[a - 1]), (a, n, i)
        if a + n < len(frames):                          # then the picture moves on
            assert np.abs(frames[a + n].astype(int) - frames[a - 1].astype(int)).mean() > 0.5
    held = {f for a, n in stats["freeze_frames"] for f in range(a, a + n)}
    moving = [i for i in range(1, len(frames)) if i not in held and src[i] != src[i - 1]]
    assert sum(np.array_equal(frames[i], frames[i - 1]) for i in moving) < len(moving) // 10


def test_same_seed_is_bit_identical_other_seed_differs(tmp_path, face_clip_10s):
    a, b, c = (tmp_path / f"{k}.mp4" for k in "abc")
    sa = simulate_file(face_clip_10s, a, "loss-stress", seed=5, fidelity=False)
    simulate_file(face_clip_10s, b, "loss-stress", seed=5, fidelity=False)
    sc = simulate_file(face_clip_10s, c, "loss-stress", seed=6, fidelity=False)
    assert a.read_bytes() == b.read_bytes()
    assert sa["source_frames"] != sc["source_frames"] and a.read_bytes() != c.read_bytes()


class _Path:
    """A media path that loses exactly the transmissions ``drop(send time, k)`` picks (k: the
    transmission's number) and delays the rest by ``owd``."""

    def __init__(self, owd, drop):
        self.owd, self.drop, self.k = owd, drop, 0

    def admit(self, size, t):
        self.k += 1
        return None if self.drop(t, self.k) else t + self.owd


def _call(n, fps, rtt_ms, drop, size=3000, kbps=800, seq_only=False):
    from vcbench.conference.link import LinkModel
    from vcbench.conference.network import _Call

    c = _Call([size * 8] + [size] * (n - 1), fps, kbps, LinkModel(delay_ms=rtt_ms / 2), LinkModel(delay_ms=rtt_ms / 2),
              0, seq_only)
    c.up = _Path(rtt_ms / 2000, drop)
    return c.run()


def test_a_lost_packet_costs_about_one_rtt_and_no_keyframe():
    from vcbench.conference.link import LinkModel
    from vcbench.conference.network import plan_call

    clean = plan_call([20000] + [3000] * 89, 30, 800, LinkModel(delay_ms=50), LinkModel(delay_ms=50), 0)
    # the first keyframe takes ~90 ms to pace out, so the frames queued behind it start late
    assert clean.source[5:] == list(range(5, 90)) and clean.freezes == [] and clean.keyframes == [0]
    # one packet of frame 30 lost once: the NACK brings it back one RTT (300 ms) later
    plan = _call(90, 30, 300, lambda t, k: 1.0 <= t < 1.0 + 1e-4)
    assert plan.keyframes == [0] and plan.transport["retransmissions"] == 1 and plan.transport["plis"] == 0
    assert len(plan.freezes) == 1
    first, length = plan.freezes[0]
    assert 29 <= first <= 31 and 8 <= length <= 11, plan.freezes    # ~300 ms + detection, at 30 fps
    assert plan.source[-1] == 89                                     # then it plays on, nothing skipped for good
    # the same loss with a 30 ms RTT stays under the freeze threshold (max(3 frames, +150 ms))
    assert _call(90, 30, 30, lambda t, k: 1.0 <= t < 1.0 + 1e-4).freezes == []


def test_unrecoverable_loss_asks_for_a_keyframe_after_3_s():
    # everything sent between 1 s and 5 s is lost, retransmissions too: the sender's history ages
    # out, nothing is decodable for 3 s, the receiver sends PLIs, and a keyframe restarts the picture
    plan = _call(240, 30, 100, lambda t, k: 1.0 <= t < 5.0)
    assert len(plan.keyframes) >= 2 and plan.transport["plis"] >= 1
    k = plan.keyframes[1]
    assert 150 <= k <= 160, plan.keyframes                  # the first frame sent after the PLI got through
    first, length = plan.freezes[-1]
    assert first <= 31 and first + length >= k
    assert plan.source[-1] >= 230 and all(s >= k for s in plan.source[first + length:])


def test_a_lost_first_keyframe_packet_asks_for_another_keyframe_at_once():
    # the first keyframe's first packet is lost: a delta frame is whole before the keyframe is
    plan = _call(90, 30, 300, lambda t, k: k == 1)
    assert plan.transport["plis"] == 1 and len(plan.keyframes) == 2 and plan.keyframes[1] <= 15, plan


def test_retransmissions_raise_the_jitter_buffer_delay_by_one_rtt():
    """After 3 frames needed a retransmission the jitter buffer plays one RTT later, so the next
    single losses no longer freeze the picture (jitter_estimator.cc's kNackLimit)."""
    losses = [1.0, 1.5, 2.0, 2.5, 5.0, 6.0, 7.0]
    plan = _call(300, 30, 300, lambda t, k: any(a <= t < a + 1e-4 for a in losses))
    starts = [a / 30 for a, _ in plan.freezes]
    assert any(s < 2.8 for s in starts) and not any(s > 4.5 for s in starts), plan.freezes
    lag = [(j - s) / 30 for j, s in enumerate(plan.source)]
    assert lag[-1] >= 0.25                                  # about one RTT behind the sender at the end


def test_h264_frames_wait_for_earlier_packets_and_grow_the_jitter_buffer():
    """Without picture ids (H.264) libwebrtc hands a frame on only once every earlier packet is in,
    so the frames behind a retransmission arrive late in a burst: the jitter estimate's noise term
    grows and the picture plays further behind than VP8's under the same losses."""
    losses = [(15 + 11 * k) / 30 for k in range(20)]                # one packet every 11 frames
    drop = (lambda t, k: any(a <= t < a + 1e-4 for a in losses))
    vp8, h264 = _call(300, 30, 200, drop), _call(300, 30, 200, drop, seq_only=True)
    assert vp8.transport["retransmissions"] == h264.transport["retransmissions"] > 0
    lag = [sum(j - s for j, s in enumerate(pl.source[200:], 200)) / 100 for pl in (vp8, h264)]
    assert lag[1] > lag[0], lag
    jb = [pl.transport["jitter_delay_ms"] for pl in (vp8, h264)]
    assert jb[0] >= 200 + 10 and jb[1] > jb[0] + 20, jb     # an RTT (+ OS jitter) for both, noise for H.264


def test_plan_call_is_seeded():
    from vcbench.conference.link import LinkModel
    from vcbench.conference.network import plan_call

    up, down = LinkModel(loss=0.1, burst_len=5, delay_ms=100), LinkModel(loss=0.1, burst_len=5, delay_ms=100)
    sizes = [40000] + [5000] * 299
    a, b, c = (plan_call(sizes, 30, 1200, up, down, s) for s in (1, 1, 2))
    assert a == b and a.source != c.source and a.transport["lost"] > 0


def test_simulate_cli_prints_stats_and_bad_inputs(tmp_path, tiny_video, face_clip_10s, cli_runner):
    r = cli_runner.invoke(cli, ["simulate", str(tiny_video), "--preset", "zoom-360p", "-o", str(tmp_path / "o.mp4")])
    assert r.exit_code == 0, r.output
    assert "kbps" in r.output and "psnr_y" not in r.output          # fidelity stats are opt-in
    r = cli_runner.invoke(cli, ["simulate", str(tiny_video), "--preset", "zoom-360p", "-o", str(tmp_path / "o.mp4"),
                                "--fidelity"])
    assert r.exit_code == 0 and "psnr_y" in r.output and "ssim" in r.output
    r = cli_runner.invoke(cli, ["simulate", str(tiny_video), "--preset", "zoom-306p", "-o", str(tmp_path / "x.mp4")])
    assert r.exit_code == 1 and "did you mean 'zoom-360p'" in r.output
    r = cli_runner.invoke(cli, ["simulate", str(tiny_video), "--preset", "lossy-180p", "-o", str(tmp_path / "s.mp4")])
    assert r.exit_code == 0, r.output                   # the packet model needs no minimum length
    r = cli_runner.invoke(cli, ["simulate", str(face_clip_10s), "--preset", "webrtc-vp8-360p", "-o", str(tmp_path / "s.mp4")])
    assert r.exit_code == 1 and "use .mkv or .webm" in r.output
    r = cli_runner.invoke(cli, ["simulate", str(face_clip_10s), "--preset", "lossy-180p", "-o", str(tmp_path / "s.webm")])
    assert r.exit_code == 0, r.output                   # the receiver's view goes into .webm as lossless VP9
    assert probe(tmp_path / "s.webm").codec == "vp9"
    assert "Traceback" not in r.output


def test_odd_input_size_is_made_even(tmp_path):
    from conftest import make_video

    odd = make_video(tmp_path / "odd.mkv", frames=10, size="65x49", codec=["-c:v", "ffv1"])
    assert (probe(odd).width, probe(odd).height) == (65, 49)
    stats = simulate_file(odd, tmp_path / "o.mp4", "ffpp-c23")
    assert stats["resolution"] == "64x48"


def test_audio_only_input_is_one_line(tmp_path, cli_runner):
    import subprocess
    from conftest import ffmpeg

    a = tmp_path / "a.mp4"
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=1", str(a)], check=True)
    r = cli_runner.invoke(cli, ["simulate", str(a), "--preset", "zoom-360p", "-o", str(tmp_path / "o.mp4")])
    assert r.exit_code == 1 and f"{a}: has no video stream" in r.output


def test_missing_encoder_names_encoder_and_preset(tmp_path, face_clip_10s, monkeypatch):
    from conftest import ffmpeg

    fake = tmp_path / "ffmpeg"
    fake.write_text(f"#!/bin/sh\nif [ \"$2\" = \"-encoders\" ]; then echo ' V....D libx264   x264'; exit 0; fi\n"
                    f"exec {ffmpeg()} \"$@\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(EncoderError, match="no encoder 'libvpx' \\(needed by preset 'webrtc-vp8-360p'\\)"):
        simulate_file(face_clip_10s, tmp_path / "o.webm", "webrtc-vp8-360p", ffmpeg=str(fake))


def test_user_presets_extend_the_ladder(tmp_path, cli_runner):
    f = tmp_path / "mine.toml"
    f.write_text('[presets.zoom-lowlight]\nextends = "zoom-360p"\nlowlight = 0.5\nestimates = ["lowlight"]\n')
    r = cli_runner.invoke(cli, ["presets", "show", "zoom-lowlight", "--presets", str(f)])
    assert r.exit_code == 0 and "lowlight         0.5   (estimate)" in r.output and "bitrate_kbps     600" in r.output
    f.write_text('[presets.x]\ncodec = "h265"\n')
    r = cli_runner.invoke(cli, ["presets", "list", "--presets", str(f)])
    assert r.exit_code == 1 and "[presets.x]: unknown codec 'h265'" in r.output


def test_receiver_upscale_shows_the_stream_at_camera_size(tmp_path, face_clip_10s):
    """upscale = true: the file is what the receiver displays (decoded stream scaled back to the
    camera's size, stored losslessly); the stats describe the transmitted VP8 stream."""
    from vcbench.conference.presets import parse_presets, builtin_presets

    presets = parse_presets({"presets": {"shown": {"extends": "webrtc-vp8-360p", "width": 320, "height": 180,
                                                   "bitrate_kbps": 200, "upscale": True}}},
                            "user.toml", builtin_presets())
    p = presets["shown"]
    assert p.extension == ".mp4"
    out = tmp_path / "shown.mp4"
    stats = simulate_file(face_clip_10s, out, p, seed=0, fidelity=True)
    info = probe(out)
    assert (info.width, info.height) == (640, 360) and info.codec == "h264"
    assert stats["codec"] == "vp8" and stats["resolution"] == "320x180" and stats["display_resolution"] == "640x360"
    assert stats["kbps"] == pytest.approx(200, rel=0.15) and stats["frames"] == info.frames
    # the display is a blurred version of the camera picture, not a re-scaled copy of it
    plain = simulate_file(face_clip_10s, tmp_path / "plain.webm", "webrtc-vp8-360p", seed=0, fidelity=True)
    assert stats["psnr_y"] < plain["psnr_y"]
    with pytest.raises(ConfigError, match="upscale"):
        parse_presets({"presets": {"bad": {"extends": "ffpp-c23", "upscale": True}}}, "u.toml", builtin_presets())


def test_a_call_never_upscales_the_camera(tmp_path, carphone):
    """carphone is 176x144: a 360p or 720p call sends it at its own size, never bigger."""
    for name in ("zoom-360p", "burst-loss"):
        out = tmp_path / f"{name}.mp4"
        stats = simulate_file(carphone, out, name, seed=0, fidelity=False)
        info = probe(out)
        assert (info.width, info.height) == (176, 144), name
        assert stats["sent_resolutions"] == ["176x144"] and stats["input_resolution"] == "176x144"


def test_ssim_is_scikit_images_definition():
    from skimage.metrics import structural_similarity

    from vcbench.conference.fidelity import ssim

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (90, 130)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255)
    assert ssim(a, b) == pytest.approx(structural_similarity(a, b, data_range=255.0), abs=1e-5)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", ["zoom-360p", "zoom-cpu-720p15"])
def test_one_process_encode_equals_the_frame_by_frame_path(tmp_path, face_clip_3s, name, monkeypatch):
    """Presets that only select and scale frames run as one ffmpeg process; it must send exactly
    the frames the Python frame plan sends (the same bytes out of the same encoder)."""
    from vcbench.conference import simulate as sim

    direct = simulate_file(face_clip_3s, tmp_path / "direct.mp4", name, seed=0)
    monkeypatch.setattr(sim, "captures_exactly", lambda *a: False)
    piped = simulate_file(face_clip_3s, tmp_path / "piped.mp4", name, seed=0)
    assert direct["frames"] == piped["frames"] == (90 if name == "zoom-360p" else 45)
    assert (tmp_path / "direct.mp4").read_bytes() == (tmp_path / "piped.mp4").read_bytes()


@pytest.mark.parametrize("codec", ["x264", "vp8", "vp9"])
def test_every_planned_keyframe_lands_on_its_frame(tmp_path, face_clip_3s, codec):
    """Keyframes are forced by frame index: times written as decimals used to round up to the
    next frame about a third of the time (VP8 keyframe at 186 for 185, x264 at 189 for 188)."""
    from vcbench.conference.codec import encoder_args
    from vcbench.video import VideoWriter

    planned = [0, 7, 23, 40, 41, 58, 76, 89]
    out = tmp_path / ("o.mp4" if codec == "x264" else "o.webm")
    with VideoWriter(out, 30, (640, 360), encoder_args(codec, 600, 30, planned)) as w:
        for _, f in iter_frames(face_clip_3s):
            w.write(f)
    assert [int(round(t * 30)) for t in probe(out).keyframe_times] == planned


def test_a_recovery_keyframe_is_capped_not_sharper(tmp_path, face_clip_10s):
    """libwebrtc caps a keyframe at 900 % of a frame's budget at 30 fps (MaxIntraTarget): the
    keyframe a PLI asks for mid-call is no sharper than the frames before it. VP8/VP9 get the cap
    itself; x264 a VBV buffer of that size (with the 0.5 s buffer it had, the mid-call keyframe
    took 6.5 budgets and came out sharper than the frames before it)."""
    from vcbench.conference.codec import encoder_args, encoder_options, keyframe_cap
    from vcbench.conference.fidelity import luma, psnr
    from vcbench.video import VideoWriter, frame_sizes

    assert keyframe_cap(30) == 9.0 and keyframe_cap(15) == 4.5 and keyframe_cap(5) == 3.0
    assert encoder_options("vp8", 500, 30)["max-intra-rate"] == 900 == encoder_options("vp9", 500, 30)["max-intra-rate"]
    src = dict(iter_frames(face_clip_10s))
    budget = 500_000 / 8 / 30
    jump, size = {}, {}
    for old in (False, True):
        args = encoder_args("x264", 500, 30, [0, 150])
        if old:
            args[args.index("-bufsize") + 1] = "250k"
        out = tmp_path / f"o{int(old)}.mp4"
        with VideoWriter(out, 30, (640, 360), args) as w:
            for i in range(300):
                w.write(src[i])
        size[old] = frame_sizes(out, 30, 300)[150] / budget
        got = dict(iter_frames(out, indices=list(range(140, 151))))
        q = [psnr(luma(got[i]), luma(src[i])) for i in range(140, 151)]
        jump[old] = q[-1] - float(np.mean(q[:-1]))
    assert size[False] <= 9.0 and size[False] < 0.75 * size[True], size
    assert jump[False] < jump[True] and jump[False] < 1.0, jump


def test_a_phone_sends_the_upright_middle_and_a_screen_share_the_whole_screen():
    from vcbench.conference.camera import portrait_crop, screen_share
    from vcbench.conference.codec import encoder_options

    img = np.zeros((360, 640, 3), np.uint8)
    img[:, 219:421] = 200                                   # the middle 202 columns
    crop = portrait_crop(img)
    assert crop.shape == (360, 202, 3) and crop.min() == 200
    screen = screen_share(np.full((360, 640, 3), 200, np.uint8), (1920, 1080), 0.5)
    assert screen.shape == (1080, 1920, 3)
    inside = np.argwhere((screen == 200).all(-1))
    (y0, x0), (y1, x1) = inside.min(0), inside.max(0)
    assert (x1 - x0 + 1, y1 - y0 + 1) == (960, 540) and abs((x0 + x1) / 2 - 960) <= 1   # a centred window
    assert (screen[:y0 - 40] != 200).any(-1).all()          # the desktop around it is not the clip
    vp8 = encoder_options("vp8", 1000, 5, screen=True)
    assert vp8["qmin"] == 12 and vp8["screen-content-mode"] == 2 and vp8["noise-sensitivity"] == 0
    vp9 = encoder_options("vp9", 1000, 30, layers=3)
    assert "ts_layer_id=0,2,1,2" in vp9["ts-parameters"] and "ts_target_bitrate=400,600,1000" in vp9["ts-parameters"]


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's selfie segmentation")
def test_virtual_background_is_a_hard_matte(face_clip_3s):
    from dataclasses import replace

    from vcbench.conference.camera import Camera, virtual_background
    from vcbench.conference.presets import get_preset

    img = next(f for _, f in iter_frames(face_clip_3s, indices=[30]))
    out = Camera(replace(get_preset("vbg-replace")), 0, 30)(img)
    bg = virtual_background(img.shape[1], img.shape[0])
    person, backdrop = (out == img).all(-1), (out == bg).all(-1)
    assert (person | backdrop).all()                        # every pixel is one or the other: no feathering
    assert 0.1 < person.mean() < 0.9 and backdrop[:, :40].mean() > 0.8     # the face kept, the edges replaced


def test_camera_runs_before_the_apps_filters(monkeypatch):
    """Sensor and capture first (exposure/white balance, low light, noise, MJPEG), then the call
    app's background blur and touch-up: the app smooths the sensor's noise (on a flat grey frame
    the touch-up takes most of sigma 6 away; the old order left it all)."""
    from dataclasses import replace

    from vcbench.conference import camera as cam
    from vcbench.conference.presets import get_preset

    p = replace(get_preset("touchup"), noise_sigma=6.0, touchup=1.0, mjpeg_quality=0, exposure_drift=0.0,
                wb_drift=0.0, lowlight=0.0, background_blur=False)
    out = cam.Camera(p, 0, 30)(np.full((96, 128, 3), 128, np.uint8))
    assert out.astype(float).std() < 3.0, out.std()

    calls = []
    for name in ("exposure_wb", "low_light", "sensor_noise", "mjpeg", "touch_up"):
        monkeypatch.setattr(cam, name, lambda img, *a, _n=name: calls.append(_n) or img)

    class Blur:
        def __call__(self, img):
            calls.append("background_blur")
            return img

    monkeypatch.setattr(cam, "BackgroundBlur", Blur)
    full = replace(p, exposure_drift=0.1, wb_drift=0.1, lowlight=0.3, mjpeg_quality=80, background_blur=True)
    cam.Camera(full, 0, 30)(np.zeros((8, 8, 3), np.uint8))
    assert calls == ["exposure_wb", "low_light", "sensor_noise", "mjpeg", "background_blur", "touch_up"]


def test_renditions_are_keyed_by_every_setting_of_the_preset():
    """A preset redefined (in a user's file or a release) must not be served a stale rendition."""
    from dataclasses import replace

    from vcbench.conference.renditions import preset_digest, rendition_path

    p = get_preset("burst-loss")
    assert preset_digest(p) == preset_digest(replace(p, description="other words", sources=("x",)))
    assert preset_digest(p) != preset_digest(replace(p, loss=0.1))
    assert preset_digest(p) != preset_digest(replace(p, rtt_ms=101))
    src = Path(__file__)
    assert rendition_path(src, p, 1) != rendition_path(src, replace(p, burst_len=5), 1)


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_glare_lands_on_the_face_and_distance_shrinks_it_in_both_engines_camera(tmp_path, face_clip_3s):
    """glare-720p: a highlight clipped to white inside the face box the tracker finds, moving from
    frame to frame, the same on a second run; far-360p: one face, its height the preset's scale of
    the plain call's (the webrtc engine runs the same Camera on what it sends)."""
    from vcbench.faces.tracking import track_video

    plain, glared, far = tmp_path / "plain.mp4", tmp_path / "glare.mp4", tmp_path / "far.mp4"
    simulate_file(face_clip_3s, plain, "zoom-360p", seed=1)
    simulate_file(face_clip_3s, glared, "glare-720p", seed=1)
    a, b = read_frames(plain).astype(np.int16), read_frames(glared).astype(np.int16)
    tr = track_video(plain, cache_dir=False).longest()
    peaks = []
    for k in (10, 40, 70):
        d = (b[k] - a[k]).mean(-1)
        y, x = np.unravel_index(np.argmax(d), d.shape)
        row = int(np.searchsorted(tr.frames, k))
        x1, y1, x2, y2 = tr.boxes[row]
        assert x1 <= x <= x2 and y1 <= y <= y2, (k, (x, y), tr.boxes[row])       # on the face
        white = (b[k] >= 250).all(-1) & (d > 40)                                   # clipped to white by it
        wy, wx = np.nonzero(white)
        assert d.max() > 80 and white.sum() >= 20
        assert x1 <= wx.mean() <= x2 and y1 <= wy.mean() <= y2
        peaks.append((x, y))
    assert len(set(peaks)) == 3                                                  # it moves
    again = tmp_path / "again.mp4"
    simulate_file(face_clip_3s, again, "glare-720p", seed=1)
    assert again.read_bytes() == glared.read_bytes()

    simulate_file(face_clip_3s, far, "far-360p", seed=1)
    vt = track_video(far, cache_dir=False)
    assert len(vt.tracks) == 1
    small = np.median(vt.tracks[0].boxes[:, 3] - vt.tracks[0].boxes[:, 1])
    big = np.median(tr.boxes[:, 3] - tr.boxes[:, 1])
    assert small / big == pytest.approx(get_preset("far-360p").far_scale, rel=0.2)
    assert get_preset("far-360p").reframes and get_preset("glare-720p").has_camera
