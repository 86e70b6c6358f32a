"""Codec stage: ffmpeg output options that make each encoder behave like a call's.

Low delay everywhere: no B-frames, no look-ahead, one keyframe at the start and then only
where the network stage forces one. Encoder speed and thread counts are fixed so the same
input, preset and seed give bit-identical output: every call encoder runs ONE thread, because
multi-threaded rate control depends on thread scheduling. Measured on a 1280x720, 10 s clip with
the zoom options (3 runs each): x264 with 2 sliced threads (zerolatency's default), with 2 frame
threads, or with 2 fixed slices gave 3 different files; with 1 thread, 3 identical ones. The CRF
masters (no VBV) stay deterministic with 2 threads. Throughput comes from running videos in
parallel processes (``generate --shard``), not from threads inside one encode.
"""
from __future__ import annotations


def keyframe_cap(fps: float) -> float:
    """libwebrtc's cap on a keyframe's size, in frame budgets: ``MaxIntraTarget`` in
    ``libvpx_vp8_encoder.cc`` (and VP9's) is 0.5 x the 600 ms optimal buffer x fps / 10 percent,
    at least 300 %: 900 % at 30 fps. After a keyframe request the keyframe is therefore blurrier
    than the frames before it, not sharper."""
    return max(3.0, 0.5 * 600 * fps / 10 / 100)


def temporal_layers(n: int, kbps: int) -> str:
    """libvpx ``ts-parameters`` for libwebrtc's temporal layers: 2 layers (0-1, 60/40 % of the
    rate) or 3 (0-2-1-2, 40/20/40 %: ``kLayerRateAllocation`` in ``simulcast_rate_allocator.cc``);
    each target is cumulative, as libvpx wants it."""
    if n == 2:
        return (f"ts_number_layers=2:ts_target_bitrate={round(kbps * 0.6)},{kbps}:ts_rate_decimator=2,1:"
                "ts_periodicity=2:ts_layer_id=0,1:ts_layering_mode=2")
    return (f"ts_number_layers=3:ts_target_bitrate={round(kbps * 0.4)},{round(kbps * 0.6)},{kbps}:"
            "ts_rate_decimator=4,2,1:ts_periodicity=4:ts_layer_id=0,2,1,2:ts_layering_mode=3")


def encoder_options(codec: str, kbps: int, fps: float, crf: int = 23, layers: int = 1,
                    screen: bool = False) -> dict[str, object]:
    """ffmpeg-python output kwargs for one codec at ``kbps``. ``layers``: temporal layers (vp8,
    vp9); ``screen``: libwebrtc's screen-share mode (VP8: qmin 12, screen content mode 2, static
    threshold 100, no denoiser: ``libvpx_vp8_encoder.cc``)."""
    r = f"{kbps}k"
    cap = keyframe_cap(fps)
    intra = int(round(cap * 100))        # the cap as libvpx's max-intra-rate, percent of a frame's budget
    gop = 3000  # libwebrtc's keyframe interval: effectively only on request
    if codec == "x264-crf":
        return {"c:v": "libx264", "preset": "medium", "crf": crf, "pix_fmt": "yuv420p", "threads": 2}  # no VBV
    if codec == "x264":
        return {"c:v": "libx264", "preset": "veryfast", "tune": "zerolatency", "profile:v": "baseline",
                "b:v": r, "maxrate": r, "g": gop,
                # no frame, a keyframe included, above libwebrtc's cap: the VBV buffer holds that much
                "bufsize": f"{max(1, int(round(kbps * cap / fps)))}k", "sc_threshold": 0, "bf": 0,
                "x264-params": "nal-hrd=cbr:slice-max-size=1200:force-cfr=1", "pix_fmt": "yuv420p", "threads": 1}
    if codec == "openh264":
        return {"c:v": "libopenh264", "b:v": r, "maxrate": r, "g": gop, "profile:v": "constrained_baseline",
                "rc_mode": "bitrate", "allow_skip_frames": 0, "pix_fmt": "yuv420p", "threads": 1}
    if codec == "vp8":
        opts = {"c:v": "libvpx", "deadline": "realtime", "cpu-used": -6, "b:v": r, "minrate": r, "maxrate": r,
                "bufsize": r, "undershoot-pct": 100, "overshoot-pct": 15, "qmin": 2, "qmax": 56,
                "lag-in-frames": 0, "error-resilient": 1, "drop-threshold": 30, "auto-alt-ref": 0, "g": gop,
                "max-intra-rate": intra,
                # libwebrtc turns VP8's temporal denoiser on for cameras (adaptive mode, 4, on desktop;
                # Y-only, 1, on mobile ARM): libvpx_vp8_encoder.cc, InitAndSetControlSettings
                "noise-sensitivity": 4, "pix_fmt": "yuv420p", "threads": 1}
        if screen:
            opts.update({"qmin": 12, "screen-content-mode": 2, "static-thresh": 100, "noise-sensitivity": 0})
        if layers > 1:
            opts["ts-parameters"] = temporal_layers(layers, kbps)
        return opts
    if codec == "vp9":
        opts = {"c:v": "libvpx-vp9", "deadline": "realtime", "cpu-used": 7, "row-mt": 0, "aq-mode": 3, "b:v": r,
                "minrate": r, "maxrate": r, "bufsize": r, "qmin": 2, "qmax": 52, "lag-in-frames": 0,
                "error-resilient": 1, "g": gop, "max-intra-rate": intra, "pix_fmt": "yuv420p",
                "threads": 1}
        if layers > 1:
            opts["ts-parameters"] = temporal_layers(layers, kbps)
        return opts
    if codec == "av1":
        return {"c:v": "libaom-av1", "usage": "realtime", "cpu-used": 8, "aq-mode": 3, "b:v": r, "minrate": r,
                "maxrate": r, "bufsize": r, "lag-in-frames": 0, "g": gop, "pix_fmt": "yuv420p", "threads": 1,
                "row-mt": 0}
    raise ValueError(codec)


def encoder_args(codec: str, kbps: int, fps: float, keyframes: list[int], crf: int = 23,
                 fmt: str | None = None, layers: int = 1, screen: bool = False) -> list[str]:
    """ffmpeg output options (for :class:`vcbench.video.VideoWriter`), rendered by ffmpeg-python.

    ``keyframes`` are frame indices of the encoded stream. They are forced by index (an ``expr:``
    on the frame number), not by time: times written as decimals rounded up to the next frame
    about a third of the time, and the keyframe landed one frame late."""
    import ffmpeg

    opts = encoder_options(codec, kbps, fps, crf, layers, screen)
    if keyframes and len(keyframes) > 1:
        opts["force_key_frames"] = "expr:" + "+".join(f"eq(n,{int(k)})" for k in sorted(set(keyframes)))
    if fmt:
        opts["f"] = fmt
    opts["fflags"] = "+bitexact"         # no random segment UIDs or dates in the container
    opts["flags:v"] = "+bitexact"
    args = ffmpeg.output(ffmpeg.input("pipe:0"), "OUT", **opts).get_args()
    return args[2:-1]                    # drop "-i pipe:0" and the output name
