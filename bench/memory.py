"""Peak memory of `vcbench score` as the number of videos grows (goal: flat, within 10 %).

Scores 2, 12 and 48 distinct talking-head videos (carphone re-encoded at different qualities and
mirrored, so no two files share content or cached tracks) with the untrained tiny network, each
count in a fresh process, and prints each run's peak RSS and the ratio to the 2-video run.
Tracks are computed in the run (the cache starts empty), as a first benchmark run would.

    python -m bench.memory [--counts 2,12,48]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = ("import resource, sys\nfrom vcbench.cli import cli\n"
       "try:\n    cli(sys.argv[1:], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
       "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")


def make_videos(folder: Path, n: int) -> list[Path]:
    from vcbench.samples import sample_path
    from vcbench.video import ffmpeg_exe

    exe, src, out = ffmpeg_exe(), sample_path("carphone"), []
    for k in range(n):
        p = folder / f"v{k:03d}.mp4"
        vf = ["-vf", "hflip"] if k % 2 else []
        subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), *vf, "-c:v", "libx264",
                        "-crf", str(12 + k // 2), "-pix_fmt", "yuv420p", str(p)], check=True)
        out.append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="2,12,48")
    a = ap.parse_args()
    counts = [int(c) for c in a.counts.split(",")]
    res = {}
    with tempfile.TemporaryDirectory() as td:
        vids = make_videos(Path(td), max(counts))
        for n in counts:
            cmd = [sys.executable, "-c", RUN, "score", *map(str, vids[:n]), "--model", "altfreezing-tiny",
                   "--untrained", "--device", "cpu", "--cache-dir", str(Path(td) / f"cache{n}")]
            r = subprocess.run(cmd, capture_output=True, text=True)
            kb = int(next(l.split()[1] for l in r.stderr.splitlines() if l.startswith("PEAK_RSS_KB")))
            scored = sum(1 for l in r.stdout.splitlines() if l.startswith(str(Path(td))))
            res[n] = {"videos_scored": scored, "peak_rss_mb": round(kb / 1024, 1)}
            print(n, res[n], flush=True)
    base = res[counts[0]]["peak_rss_mb"]
    for n in counts:
        res[n]["vs_first"] = round(res[n]["peak_rss_mb"] / base, 3)
    print(json.dumps(res, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/memory.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite/OpenCV lines off the figures (as the CLI does)
    main()
