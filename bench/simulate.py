"""Simulation throughput per preset vs the same encode as one plain ffmpeg command.

    python -m bench.simulate [--presets zoom-360p,webrtc-vp8-720p,...] [--seconds 10]

Both sides read the same input, scale to the preset's size and rate, and run the same encoder
options; the ratio (vcbench time / ffmpeg time) is vcbench's overhead: probing the input and
output, a separate decoder process piping raw yuv420p frames through Python (where the
frame-rate, loss and keyframe plan is applied) into the encoder, and the stats. Presets with
a camera stage (or a bandwidth step) take the RGB path instead and have no plain-ffmpeg
equivalent, so they are not listed by default. Target: overhead <= 10 %. Results go to
bench/results/simulate.json.
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

    opts = encoder_options(p.codec, p.bitrate_kbps, p.fps, p.crf)
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
    a = ap.parse_args()
    from vcbench.conference.presets import get_preset
    from vcbench.conference.simulate import simulate_file
    from vcbench.video import ffmpeg_exe

    exe = ffmpeg_exe()
    rows = []
    with tempfile.TemporaryDirectory() as td:
        src = talking_head(Path(td) / "in.mp4", (1280, 720), a.seconds * 30)
        for name in a.presets.split(","):
            p = get_preset(name)
            out = Path(td) / f"o{p.extension}"
            t_ff, t_vc = [], []
            for _ in range(a.repeats):   # interleaved so machine noise hits both alike
                t = time.perf_counter()
                subprocess.run(plain_ffmpeg(exe, src, out, p), check=True)
                t_ff.append(time.perf_counter() - t)
                t = time.perf_counter()
                simulate_file(src, out, p, fidelity=False)
                t_vc.append(time.perf_counter() - t)
            frames = a.seconds * min(p.fps, 30)
            row = {"preset": name, "frames": frames, "ffmpeg_fps": round(frames / min(t_ff), 1),
                   "vcbench_fps": round(frames / min(t_vc), 1), "overhead": round(min(t_vc) / min(t_ff) - 1, 3)}
            rows.append(row)
            print(f"{name:<17} ffmpeg {row['ffmpeg_fps']:>7} fps   vcbench {row['vcbench_fps']:>7} fps   "
                  f"overhead {row['overhead']:+.1%}")
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/simulate.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
