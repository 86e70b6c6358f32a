"""Model forward alone vs the end-to-end scorer on the same videos; dense vs sparse.

    python -m bench.score [--model altfreezing-small] [--videos 3]

Forward-only feeds pre-built random clips of the model's size; end-to-end decodes, tracks
(cache warmed first, as `vcbench datasets prepare` would), aligns and scores. Target:
end-to-end >= 90 % of forward-only clips/s. Results go to bench/results/score.json.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="altfreezing-small")
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()
    from vcbench.models import load_detector
    from vcbench.samples import sample_path
    from vcbench.runtime import resolve_device
    from vcbench.scoring import score_videos

    dev = resolve_device(a.device)
    torch.manual_seed(0)
    net = load_detector(a.model, None, dev)
    pp = net.preprocess
    with tempfile.TemporaryDirectory() as td:
        vids = []
        for k in range(a.videos):
            vids.append(Path(td) / f"v{k}.mp4")
            shutil.copyfile(sample_path("carphone"), vids[-1])
        cache = Path(td) / "cache"
        score_videos(vids[:1], detector=net, mode="sparse", device=dev, cache_dir=cache)  # warm-up
        for v in vids:
            score_videos([v], detector=net, mode="sparse", clips=1, device=dev, cache_dir=cache)
        res = {}
        for mode in ("dense", "sparse"):
            t = time.perf_counter()
            out, _ = score_videos(vids, detector=net, mode=mode, device=dev, cache_dir=cache, batch_size=a.batch)
            dt = time.perf_counter() - t
            n_clips = sum(tr.n_clips for r in out for tr in r.tracks)
            res[mode] = {"clips": n_clips, "seconds": round(dt, 3), "clips_per_s": round(n_clips / dt, 2),
                         "scores": [round(r.score, 4) for r in out]}
        x = torch.randn(a.batch, 3, pp.clip_len, pp.size, pp.size, device=dev)
        with torch.inference_mode():
            net(x)
            n, t = 0, time.perf_counter()
            while n < res["dense"]["clips"]:
                net(x)
                n += a.batch
            fwd = n / (time.perf_counter() - t)
    res["forward_only_clips_per_s"] = round(fwd, 2)
    res["end_to_end_vs_forward"] = round(res["dense"]["clips_per_s"] / fwd, 3)
    res["dense_vs_sparse_score_diff"] = float(np.max(np.abs(np.array(res["dense"]["scores"]) -
                                                            np.array(res["sparse"]["scores"]))))
    res.update(model=a.model, device=dev, torch=torch.__version__)
    print(json.dumps(res, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/score.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
