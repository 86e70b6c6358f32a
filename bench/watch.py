"""``vcbench watch`` speed: real-time factor and latency on a 360p, 30 fps call, in one run.

    python -m bench.watch [--seconds 20] [--stride 8] [--official]

On a talking head at 640x360, 30 fps (the carphone sample, forward then backward, scaled and
padded), each row watches the file:

- ``pipeline`` (the baseline): decoding, face tracking, crops, the window alignment, with a
  network that costs nothing: the ceiling the detector's cost comes off;
- ``altfreezing-small``: the whole watch, as fast as possible (real-time factor = stream seconds /
  wall seconds: capacity) and ``--realtime`` (the file played at 30 fps as a call delivers it:
  latency from a window's last frame arriving to its score, windows skipped, frames dropped);
- ``--official`` adds the full AltFreezing network (32 x 224 px) the same two ways.

Goal (the issue): altfreezing-small >= 1.0 real time at stride 8 with latency p95 <= 1.5 s on 2 CPU
cores. Weights are untrained (seed 0): speed only. Results: bench/results/watch.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np


def cpu_kind() -> str:
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return "unknown"
    return "AMX-bf16" if "amx_bf16" in flags else "AVX512-bf16 (no AMX)" if "avx512_bf16" in flags else "AVX2"


def make_call(path: Path, seconds: int) -> None:
    from vcbench.samples import sample_path
    from vcbench.video import ffmpeg_exe, read_frames, write_video

    f = read_frames(sample_path("carphone"))
    loop = np.concatenate([f, f[::-1]])
    seq = np.concatenate([loop] * (seconds * 30 // len(loop) + 1))[:seconds * 30]
    raw = path.with_name("raw.mp4")
    write_video(raw, seq, 30)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(raw), "-vf",
                    "scale=-2:360,pad=640:360:(ow-iw)/2:0", "-c:v", "libx264", "-crf", "20", "-pix_fmt", "yuv420p",
                    str(path)], check=True)


class FreeScorer:
    """The network's declared input, no network: what the pipeline costs alone."""

    def __init__(self, preprocess):
        self.preprocess = preprocess

    def __call__(self, clips):
        return np.full(len(clips), 0.1)


def watch(video: Path, model: str, stride: int, realtime: bool, free: bool = False) -> dict:
    from vcbench.alarms import StreamPolicy
    from vcbench.faces.tracking import get_backend
    from vcbench.watch.config import WatchConfig
    from vcbench.watch.engine import Watcher, summarise
    from vcbench.watch.run import run_watch
    from vcbench.watch.sources import FileSource

    if not free:
        s = run_watch(WatchConfig(str(video), model=f"{model}=untrained", threshold=0.99, stride=stride,
                                  realtime=realtime, device="cpu"), echo=lambda m: None, live_panel=False)
    else:
        from vcbench.models.archs import ARCHS

        pp = ARCHS[model].arch.preprocess
        src = FileSource(video, realtime)
        w = Watcher(src, FreeScorer(pp), get_backend("mediapipe"), StreamPolicy(stride, 3), 0.99)
        w.run()
        s = summarise(w, src.fps)
    lat = s.get("latency_ms") or {}
    return {"realtime_factor": s["realtime_factor"], "latency_p50_ms": lat.get("p50"), "latency_p95_ms": lat.get("p95"),
            "windows": s["windows_scored"], "skipped": s["windows_skipped"], "dropped_frames": s["dropped_frames"],
            "frames": s["frames"], "wall_s": s["wall_s"], "precision": (s.get("config") or {}).get("precision")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--official", action="store_true", help="also the full AltFreezing network")
    a = ap.parse_args()
    import torch

    from vcbench.runtime import resolve_precision

    res = {"cpu": cpu_kind(), "cpu_threads": torch.get_num_threads(), "precision_auto": resolve_precision("auto", "cpu"),
           "seconds": a.seconds, "stride": a.stride, "size": "640x360", "fps": 30, "rows": {}}
    with tempfile.TemporaryDirectory() as td:
        video = Path(td) / "call360p.mp4"
        make_call(video, a.seconds)
        rows = [("pipeline (no network)", "altfreezing-small", False, True),
                ("altfreezing-small", "altfreezing-small", False, False),
                ("altfreezing-small --realtime", "altfreezing-small", True, False)]
        if a.official:
            rows += [("altfreezing (official size)", "altfreezing", False, False),
                     ("altfreezing (official size) --realtime", "altfreezing", True, False)]
        for label, model, realtime, free in rows:
            res["rows"][label] = r = watch(video, model, a.stride, realtime, free)
            print(f"{label:<40} real-time x{r['realtime_factor']:.2f}  latency p50 {r['latency_p50_ms']} ms, "
                  f"p95 {r['latency_p95_ms']} ms  windows {r['windows']} (skipped {r['skipped']}), dropped frames "
                  f"{r['dropped_frames']}", flush=True)
    base = res["rows"]["pipeline (no network)"]["realtime_factor"]
    for label, r in res["rows"].items():
        r["vs_pipeline"] = round(r["realtime_factor"] / base, 3) if base else None
    small, live = res["rows"]["altfreezing-small"], res["rows"]["altfreezing-small --realtime"]
    res["goal"] = {"realtime_factor>=1": small["realtime_factor"] >= 1.0,
                   "latency_p95<=1500ms": (live["latency_p95_ms"] or 1e9) <= 1500, "skipped_realtime": live["skipped"]}
    print(f"altfreezing-small: x{small['realtime_factor']:.2f} real time ({small['vs_pipeline']:.2f} of the pipeline "
          f"alone, x{base:.2f}); played live: latency p95 {live['latency_p95_ms']} ms, {live['skipped']} window(s) "
          f"skipped; CPU {res['cpu']}, {res['cpu_threads']} threads")
    out = Path(__file__).parent / "results" / "watch.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite lines off the figures (as the CLI does)
    main()
