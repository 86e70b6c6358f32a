"""`vcbench simulate` as a user runs it from the shell vs the same encode as one plain ffmpeg command.

    python -m bench.simulate [--presets zoom-360p,webrtc-vp8-720p,...] [--seconds 10] [--camera]

Both sides are timed as processes on a 1280x720 talking head: `vcbench simulate IN --preset P
-o OUT` (interpreter start-up, imports, probing, the frame plan applied in Python, the encoder,
the stats, and for presets with loss the receiver's view rendered losslessly) against `ffmpeg -i
IN -vf fps,scale <the same encoder options> OUT`. The ratio is vcbench's overhead; target <= 15 %
for presets without a camera stage. ``--camera`` adds the camera presets, whose per-frame Python
stages (noise, MJPEG, segmentation, smoothing) have no plain-ffmpeg equivalent: their row shows
what the camera costs over the bare encode. Results go to bench/results/simulate.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from vcbench.samples import talking_head


def plain_ffmpeg(exe: str, src: Path, out: Path, p) -> list[str]:
    from vcbench.conference.codec import encoder_options

    opts = encoder_options(p.codec, p.bitrate_kbps, p.fps, p.crf, p.temporal_layers, p.content == "screen")
    args = [exe, "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-vf",
            f"fps={p.fps},scale={p.width}:{p.height}:flags=area"]
    for k, v in opts.items():
        args += [f"-{k}", str(v)]
    return args + [str(out)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="zoom-360p,teams-540p,zoom-720p,webrtc-vp8-360p,meet-av1-360p")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--camera", action="store_true", help="also time the camera presets")
    a = ap.parse_args()
    import sys

    from vcbench.conference.presets import get_preset
    from vcbench.video import ffmpeg_exe

    names = a.presets.split(",") + (["webcam-lowlight", "vbg-blur", "touchup"] if a.camera else [])

    exe = ffmpeg_exe()
    rows = []
    with tempfile.TemporaryDirectory() as td:
        src = talking_head(Path(td) / "in.mp4", (1280, 720), a.seconds * 30)
        for name in names:
            p = get_preset(name)
            out = Path(td) / f"o{p.extension}"
            plain_out = Path(td) / f"plain{'.webm' if p.codec == 'vp8' else '.mp4'}"
            t_ff, t_vc = [], []
            for _ in range(a.repeats):   # interleaved so machine noise hits both alike
                t = time.perf_counter()
                subprocess.run(plain_ffmpeg(exe, src, plain_out, p), check=True)
                t_ff.append(time.perf_counter() - t)
                t = time.perf_counter()
                subprocess.run([sys.executable, "-m", "vcbench", "simulate", str(src), "--preset", name, "-o", str(out)],
                               check=True, stdout=subprocess.DEVNULL)
                t_vc.append(time.perf_counter() - t)
            frames = a.seconds * min(p.fps, 30)
            row = {"preset": name, "camera": p.has_camera, "receiver_view": p.shows_receiver_view,
                   "frames": frames, "ffmpeg_fps": round(frames / min(t_ff), 1),
                   "vcbench_fps": round(frames / min(t_vc), 1), "overhead": round(min(t_vc) / min(t_ff) - 1, 3)}
            rows.append(row)
            print(f"{name:<17} ffmpeg {row['ffmpeg_fps']:>7} fps   vcbench {row['vcbench_fps']:>7} fps   "
                  f"overhead {row['overhead']:+.1%}")
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/simulate.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite/OpenCV lines off the figures (as the CLI does)
    main()
