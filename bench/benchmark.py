"""A whole `vcbench benchmark` run vs the scorer alone on the same videos (goal >= 0.9), and its
peak memory at 1x and 4x the videos (goal: flat).

Videos: carphone re-encoded into distinct variants (a folder dataset, test split), the untrained
tiny network, the clean condition. Face tracks are computed in a warm-up so both sides time
scoring, not detection. Each side runs in its own process.

    python -m bench.benchmark [--videos 8]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = ("import resource, sys\nfrom vcbench.cli import cli\n"
       "try:\n    cli(sys.argv[1:], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
       "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")


def timed(args: list[str], env: dict) -> tuple[float, float]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    kb = int(next(line.split()[1] for line in r.stderr.splitlines() if line.startswith("PEAK_RSS_KB")))
    return dt, kb / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=8)
    a = ap.parse_args()
    import os

    from bench.memory import make_videos

    res = {}
    with tempfile.TemporaryDirectory() as td:
        root = Path(td) / "ds"
        for label in ("real", "fake"):
            (root / label).mkdir(parents=True)
        vids = make_videos(Path(td), 4 * a.videos)
        names = {"test": [], "val": [], "train": []}
        for k, v in enumerate(vids):
            label = "fake" if k % 2 else "real"
            v.rename(root / label / v.name)
            names["test"].append(v.stem)
        (root / "split.json").write_text(json.dumps(names))
        toml = Path(td) / "d.toml"
        toml.write_text(f'[datasets.b]\nkind = "folder"\nroot = "{root}"\nsplit_file = "{root / "split.json"}"\n')
        env = {**os.environ, "VCBENCH_CACHE": str(Path(td) / "cache")}
        all_paths = sorted(str(p) for p in root.rglob("*.mp4"))
        common = ["--device", "cpu", "--cache-dir", str(Path(td) / "faces")]
        timed(["score", *all_paths, "--model", "altfreezing-tiny", "--untrained", *common], env)   # tracks
        for n in (a.videos, 4 * a.videos):
            paths = all_paths[:n]
            names["test"] = [Path(p).stem for p in paths]
            (root / "split.json").write_text(json.dumps(names))
            t_score, rss_score = timed(["score", *paths, "--model", "altfreezing-tiny", "--untrained", *common], env)
            t_bench, rss_bench = timed(["benchmark", "--model", "altfreezing-tiny=untrained", "--dataset", "b",
                                        "--datasets", str(toml), "--out", str(Path(td) / f"run{n}"),
                                        "--bootstrap", "200", *common], env)
            res[n] = {"score_videos_per_s": round(n / t_score, 2), "benchmark_videos_per_s": round(n / t_bench, 2),
                      "benchmark_vs_score": round(t_score / t_bench, 3), "peak_rss_mb": round(rss_bench, 1)}
            print(n, res[n], flush=True)
    ns = sorted(res)
    res["rss_4x_vs_1x"] = round(res[ns[-1]]["peak_rss_mb"] / res[ns[0]]["peak_rss_mb"], 3)
    print(json.dumps(res, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/benchmark.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite/OpenCV lines off the figures (as the CLI does)
    main()
