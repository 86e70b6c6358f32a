"""Every preset, probed: codec, profile, size, rate, no B-frames, bitrate within 15 %."""
import json
import math
import stat

import numpy as np
import pytest

from vcbench.cli import cli
from vcbench.errors import ConfigError, EncoderError
from vcbench.conference.network import gilbert_elliott, plan_frames
from vcbench.conference.presets import builtin_presets, get_preset
from vcbench.conference.simulate import simulate_file, stats_path
from vcbench.video import iter_frames, probe

from conftest import has_mediapipe

CODEC = {"x264": "h264", "x264-crf": "h264", "openh264": "h264", "vp8": "vp8", "vp9": "vp9", "av1": "av1"}
LADDER = ["clean", "ffpp-c23", "ffpp-c40", "webrtc-vp8-720p", "webrtc-vp8-360p", "zoom-720p", "zoom-360p",
          "zoom-cpu-720p15", "teams-540p", "teams-360p", "meet-vp9-720p", "meet-av1-360p", "lossy-180p",
          "bwe-step", "burst-loss", "webcam-lowlight", "vbg-blur", "touchup", "webrtc-vp8-1080p", "zoom-1080p",
          "teams-1080p", "meet-av1-720p", "gallery-270p", "gallery-180p"]


@pytest.fixture(scope="session")
def face_clip_10s(tmp_path_factory):
    """10 s of a real face at 640x360@30 (carphone forward and back, upscaled, sensor grain)."""
    from vcbench.samples import talking_head

    return talking_head(tmp_path_factory.mktemp("clip") / "face10s.mp4", (640, 360), 300)


def test_ladder_has_every_named_preset_with_sources():
    presets = builtin_presets()
    assert set(LADDER) <= set(presets)
    for name in LADDER[1:]:
        assert presets[name].sources, f"{name} cites no source"
    assert "burst_len" in presets["burst-loss"].estimates and "rtt_ms" in presets["lossy-180p"].estimates


@pytest.fixture(scope="session")
def face_clip_3s(tmp_path_factory):
    """3 s of the same face: camera presets run their per-frame Python stages on this one."""
    from vcbench.samples import talking_head

    return talking_head(tmp_path_factory.mktemp("clip") / "face3s.mp4", (640, 360), 90)


@pytest.mark.parametrize("name", LADDER)
def test_every_preset_output_matches_its_definition(tmp_path, face_clip_10s, face_clip_3s, name):
    if name == "vbg-blur" and not has_mediapipe:
        pytest.skip("background blur needs mediapipe's selfie segmentation")
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
    # a call scales the 640x360 camera down to the preset's height, never up
    assert (info.width, info.height) == ((p.width, p.height) if 0 < p.height < 360 else (640, 360))
    if p.bwe_step_s:   # from a keyframe at the step on, frames arrive at the lower resolution
        last = next(f for i, f in iter_frames(out, indices=[info.frames - 1]))
        assert last.shape[:2] == (p.bwe_height, p.bwe_width)
        assert stats["resolution_switches"] == 1 and info.keyframes == 2
    assert info.fps == pytest.approx(p.fps or 30, rel=0.02)
    if p.bitrate_kbps:
        target = p.bitrate_kbps
        if p.bwe_step_s:
            target = (p.bitrate_kbps * p.bwe_step_s + p.bwe_kbps * (seconds - p.bwe_step_s)) / seconds
        assert sent_kbps == pytest.approx(target, rel=0.15), stats
    if not p.loss and not p.bwe_step_s and p.codec != "x264-crf":
        assert info.keyframes == 1          # a call sends one keyframe unless the receiver asks


def keyframe_times(path):
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [round(float(pk.pts * s.time_base), 3) for pk in c.demux(s) if pk.is_keyframe and pk.size]


def test_burst_loss_freezes_then_keyframes(tmp_path, face_clip_10s):
    out = tmp_path / "loss.mp4"
    stats = simulate_file(face_clip_10s, out, "burst-loss", seed=3)
    assert stats["freezes"] >= 2 and stats["freeze_s"] > 0
    assert stats["effective_fps"] < stats["fps"]
    kts = stats["keyframe_times_s"]                     # measured on the transmitted stream
    assert len(kts) == len(stats["forced_keyframes_s"]) >= 3
    assert stats["keyframe_frames"] == stats["forced_keyframe_frames"]
    frames = dict(iter_frames(out))
    assert len(frames) == stats["frames"] == 300
    # what the receiver displays: every frame of a freeze is the last good frame, exactly
    for a, n in stats["freeze_frames"]:
        for i in range(a, a + n):
            assert np.array_equal(frames[i], frames[a - 1]), (a, n, i)
        if a + n < len(frames):                          # the recovery keyframe: the picture jumps
            assert np.abs(frames[a + n].astype(int) - frames[a - 1].astype(int)).mean() > 0.5
    plan_frozen = {f for a, n in stats["freeze_frames"] for f in range(a, a + n)}
    moving = [i for i in range(1, len(frames)) if i not in plan_frozen]
    assert sum(np.array_equal(frames[i], frames[i - 1]) for i in moving) < len(moving) // 10


def test_same_seed_is_bit_identical_other_seed_differs(tmp_path, face_clip_10s):
    a, b, c = (tmp_path / f"{k}.mp4" for k in "abc")
    simulate_file(face_clip_10s, a, "lossy-180p", seed=5, fidelity=False)
    simulate_file(face_clip_10s, b, "lossy-180p", seed=5, fidelity=False)
    simulate_file(face_clip_10s, c, "lossy-180p", seed=6, fidelity=False)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_gilbert_elliott_rate_and_bursts():
    m = gilbert_elliott(200_000, 0.05, 4.0, np.random.default_rng(0))
    assert m.mean() == pytest.approx(0.05, rel=0.1)
    starts = np.flatnonzero(np.diff(m.astype(int)) == 1)
    assert m.sum() / len(starts) == pytest.approx(4.0, rel=0.1)
    plan = plan_frames(300, 30, 0.1, 5, 200, seed=1)
    assert plan.keyframes[0] == 0 and all(plan.frozen[k] is False for k in plan.keyframes)
    assert all(length >= math.ceil(0.4 * 30) or a + length == 300 for a, length in plan.freezes)


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
    assert r.exit_code == 1 and "shorter than the loss model's window" in r.output
    r = cli_runner.invoke(cli, ["simulate", str(face_clip_10s), "--preset", "webrtc-vp8-360p", "-o", str(tmp_path / "s.mp4")])
    assert r.exit_code == 1 and "use .mkv or .webm" in r.output
    r = cli_runner.invoke(cli, ["simulate", str(face_clip_10s), "--preset", "lossy-180p", "-o", str(tmp_path / "s.webm")])
    assert r.exit_code == 1 and "use .mkv or .mp4" in r.output
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


@pytest.mark.parametrize("name,seed", [("burst-loss", 11), ("lossy-180p", 2), ("lossy-180p", 9)])
def test_every_planned_keyframe_lands_on_its_frame(tmp_path, face_clip_10s, name, seed):
    """Keyframes are forced by frame index: times written as decimals used to round up to the
    next frame about a third of the time (VP8 keyframe at 186 for 185, x264 at 189 for 188)."""
    stats = simulate_file(face_clip_10s, tmp_path / "o.mp4", name, seed=seed)
    assert len(stats["forced_keyframe_frames"]) >= 2
    assert stats["keyframe_frames"] == stats["forced_keyframe_frames"]


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
