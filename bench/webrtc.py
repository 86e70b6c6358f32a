"""A real call on the kind of clip users bring: 10 s of a 1280x720 talking head through
``vcbench simulate --engine webrtc`` under a lossy preset, as the command runs it.

    python -m bench.webrtc [--preset loss-stress] [--seconds 10]

Prints the wall time against the clip's duration (a call runs in real time: the ratio is the
start-up and hand-back overhead), the receiver view's frame count against the input's, and what
the call did: NACKs, PLIs, WebRTC's freeze counter beside the held frames in the file, the lag.
Results: bench/results/webrtc.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="loss-stress")
    ap.add_argument("--seconds", type=int, default=10)
    a = ap.parse_args()
    from vcbench.samples import talking_head
    from vcbench.video import probe

    with tempfile.TemporaryDirectory() as td:
        clip = talking_head(Path(td) / "clip.mp4", (1280, 720), 30 * a.seconds)
        out = Path(td) / "call.mp4"
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "vcbench", "simulate", str(clip), "--preset", a.preset,
                            "-o", str(out), "--engine", "webrtc"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        if r.returncode:
            raise SystemExit(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "the call failed")
        s = json.loads(out.with_name(out.name + ".stats.json").read_text())
        inb = s["webrtc"]["inbound"]
        res = {"preset": a.preset, "clip_s": a.seconds, "wall_s": round(wall, 2),
               "wall_vs_clip": round(wall / a.seconds, 2), "frames_in": probe(clip).frames,
               "frames_out": probe(out).frames, "nack": inb.get("nackCount"), "pli": inb.get("pliCount"),
               "webrtc_freezes": inb.get("freezeCount"), "webrtc_freeze_s": inb.get("totalFreezesDuration"),
               "file_freezes": s["freezes"], "file_freeze_s": s["freeze_s"], "lag_ms": s["lag_ms"],
               "kbps": s["kbps"], "received_resolutions": s["received_resolutions"]}
    print(json.dumps(res))
    dst = Path("bench/results/webrtc.json")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {dst}")


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite/OpenCV lines off the figures (as the CLI does)
    main()
