"""Model forward alone vs the end-to-end scorer on the same videos; dense vs sparse.

    python -m bench.score [--model altfreezing-small] [--videos 3] [--modes dense,sparse]

Forward-only feeds pre-built random clips of the model's size, the way the scorer runs the
network (channels_last_3d, ``--precision`` resolved per device); beside it the release's way
(fp32, contiguous), so ``forward_vs_release`` is what the layout and precision buy. End-to-end
decodes, tracks (cache warmed first, as `vcbench datasets prepare` would), aligns and scores.
Targets: end-to-end >= 90 % of forward-only clips/s in both modes; where the precision resolves
to bf16, the largest video-score difference from fp32 (goal <= 0.01). Results go to
bench/results/score.json (score-<model>.json for another model).

    python -m bench.score --model altfreezing --videos 2 --modes sparse     # the official network
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def forward_rate(net, x, n_clips: int, bf16: bool, channels_last: bool) -> float:
    """Clips/s of the bare forward on ``x`` (at least ``n_clips`` clips after one warm-up)."""
    dev_type = "cuda" if x.is_cuda else "cpu"
    if channels_last:
        net = net.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    else:
        net = net.to(memory_format=torch.contiguous_format)
    with torch.inference_mode(), torch.autocast(dev_type, dtype=torch.bfloat16, enabled=bf16):
        net(x)
        n, t = 0, time.perf_counter()
        while n < n_clips:
            net(x)
            n += len(x)
        if x.is_cuda:
            torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="altfreezing-small")
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--modes", default="dense,sparse", help="dense,sparse (dense is long for the official network)")
    ap.add_argument("--precision", default="auto", help="what the scorer runs (auto: per device)")
    a = ap.parse_args()
    from vcbench.models import load_network
    from vcbench.runtime import resolve_device, resolve_precision
    from vcbench.samples import sample_path
    from vcbench.scoring import score_videos

    dev = resolve_device(a.device)
    precision = resolve_precision(a.precision, dev)
    modes = [m for m in a.modes.split(",") if m]
    torch.manual_seed(0)
    net = load_network(a.model, None, dev)
    pp = net.preprocess
    res: dict = {"model": a.model, "device": dev, "precision": precision, "torch": torch.__version__,
                 "cpu_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as td:
        vids = []
        for k in range(a.videos):
            vids.append(Path(td) / f"v{k}.mp4")
            shutil.copyfile(sample_path("carphone"), vids[-1])
        cache = Path(td) / "cache"
        for v in vids:                                  # tracks cached, as `vcbench datasets prepare` leaves them
            score_videos([v], network=net, mode="sparse", clips=1, device=dev, cache_dir=cache)
        fp32_scores = None
        for mode in modes:
            t = time.perf_counter()
            out, _ = score_videos(vids, network=net, mode=mode, device=dev, cache_dir=cache, batch_size=a.batch,
                                  precision=precision)
            dt = time.perf_counter() - t
            n_clips = sum(tr.n_clips for r in out for tr in r.tracks)
            res[mode] = {"clips": n_clips, "seconds": round(dt, 3), "clips_per_s": round(n_clips / dt, 2),
                         "scores": [round(r.score, 6) for r in out]}
            if precision != "fp32" and fp32_scores is None:
                ref, _ = score_videos(vids, network=net, mode=mode, device=dev, cache_dir=cache,
                                      batch_size=a.batch, precision="fp32")
                res["largest_video_score_diff_vs_fp32"] = float(max(abs(r.score - f.score) for r, f in zip(out, ref)))
                fp32_scores = True
        n = max(res[m]["clips"] for m in modes)
        x = torch.randn(a.batch, 3, pp.clip_len, pp.size, pp.size, device=dev)
        release = forward_rate(net, x, n, bf16=False, channels_last=False)     # the release's way: fp32, NCDHW
        ours = forward_rate(net, x, n, bf16=precision == "bf16", channels_last=True)
    res["forward_release_fp32_clips_per_s"] = round(release, 3)
    res["forward_only_clips_per_s"] = round(ours, 3)
    res["forward_vs_release"] = round(ours / release, 3)
    for mode in modes:
        res[f"{mode}_end_to_end_vs_forward"] = round(res[mode]["clips_per_s"] / ours, 3)
    if set(modes) == {"dense", "sparse"}:
        res["dense_vs_sparse_score_diff"] = float(np.max(np.abs(np.array(res["dense"]["scores"]) -
                                                                np.array(res["sparse"]["scores"]))))
    print(json.dumps(res, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    name = "score.json" if a.model == "altfreezing-small" else f"score-{a.model}.json"
    Path("bench/results", name).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite/OpenCV lines off the figures (as the CLI does)
    main()
