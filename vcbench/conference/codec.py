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


def encoder_options(codec: str, kbps: int, fps: float, crf: int = 23) -> dict[str, object]:
    """ffmpeg-python output kwargs for one codec at ``kbps``."""
    r = f"{kbps}k"
    gop = 3000  # libwebrtc's keyframe interval: effectively only on request
    if codec == "x264-crf":
        return {"c:v": "libx264", "preset": "medium", "crf": crf, "pix_fmt": "yuv420p", "threads": 2}  # no VBV
    if codec == "x264":
        return {"c:v": "libx264", "preset": "veryfast", "tune": "zerolatency", "profile:v": "baseline",
                "b:v": r, "maxrate": r, "bufsize": f"{kbps // 2}k", "g": gop, "sc_threshold": 0, "bf": 0,
                "x264-params": "nal-hrd=cbr:slice-max-size=1200:force-cfr=1", "pix_fmt": "yuv420p", "threads": 1}
    if codec == "openh264":
        return {"c:v": "libopenh264", "b:v": r, "maxrate": r, "g": gop, "profile:v": "constrained_baseline",
                "rc_mode": "bitrate", "allow_skip_frames": 0, "pix_fmt": "yuv420p", "threads": 1}
    if codec == "vp8":
        return {"c:v": "libvpx", "deadline": "realtime", "cpu-used": -6, "b:v": r, "minrate": r, "maxrate": r,
                "bufsize": r, "undershoot-pct": 100, "overshoot-pct": 15, "qmin": 2, "qmax": 56,
                "lag-in-frames": 0, "error-resilient": 1, "drop-threshold": 30, "auto-alt-ref": 0, "g": gop,
                # libwebrtc turns VP8's temporal denoiser on for cameras (adaptive mode, 4, on desktop;
                # Y-only, 1, on mobile ARM): libvpx_vp8_encoder.cc, InitAndSetControlSettings
                "noise-sensitivity": 4, "pix_fmt": "yuv420p", "threads": 1}
    if codec == "vp9":
        return {"c:v": "libvpx-vp9", "deadline": "realtime", "cpu-used": 7, "row-mt": 0, "aq-mode": 3, "b:v": r,
                "minrate": r, "maxrate": r, "bufsize": r, "qmin": 2, "qmax": 52, "lag-in-frames": 0,
                "error-resilient": 1, "g": gop, "pix_fmt": "yuv420p", "threads": 1}
    if codec == "av1":
        return {"c:v": "libaom-av1", "usage": "realtime", "cpu-used": 8, "aq-mode": 3, "b:v": r, "minrate": r,
                "maxrate": r, "bufsize": r, "lag-in-frames": 0, "g": gop, "pix_fmt": "yuv420p", "threads": 1,
                "row-mt": 0}
    raise ValueError(codec)


def encoder_args(codec: str, kbps: int, fps: float, keyframes: list[int], crf: int = 23,
                 fmt: str | None = None) -> list[str]:
    """ffmpeg output options (for :class:`vcbench.video.VideoWriter`), rendered by ffmpeg-python.

    ``keyframes`` are frame indices of the encoded stream. They are forced by index (an ``expr:``
    on the frame number), not by time: times written as decimals rounded up to the next frame
    about a third of the time, and the keyframe landed one frame late."""
    import ffmpeg

    opts = encoder_options(codec, kbps, fps, crf)
    if keyframes and len(keyframes) > 1:
        opts["force_key_frames"] = "expr:" + "+".join(f"eq(n,{int(k)})" for k in sorted(set(keyframes)))
    if fmt:
        opts["f"] = fmt
    opts["fflags"] = "+bitexact"         # no random segment UIDs or dates in the container
    opts["flags:v"] = "+bitexact"
    args = ffmpeg.output(ffmpeg.input("pipe:0"), "OUT", **opts).get_args()
    return args[2:-1]                    # drop "-i pipe:0" and the output name
