"""Every detector of the zoo: the whole scorer vs its network's forward alone, in one run.

    python -m bench.detectors [--models ftcn-tiny,sbi-tiny,...] [--videos 4] [--official]

For each detector: clips/s of ``score_videos`` end to end on copies of the carphone sample (face
tracks cached first, as `vcbench datasets prepare` leaves them: decoding, cropping, aligning and
the forward pass) against clips/s of the forward pass alone on clips of the network's input shape,
the same precision and layout (goal: >= 0.9 for clip detectors, >= 0.8 for frame detectors), and,
where the CPU runs bf16 natively (AMX or AVX512-bf16), bf16 against fp32 forward. ``--official``
adds the full-size networks (slow on a CPU). Results: bench/results/detectors.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

TINY = ("altfreezing-tiny", "ftcn-tiny", "sbi-tiny", "dfb-xception-tiny", "dfb-effnb4-tiny")
OFFICIAL = ("altfreezing", "ftcn", "sbi", "dfb-xception", "dfb-effnb4")


def forward_rate(net, pp, n_clips: int, batch: int, bf16: bool) -> float:
    """Clips/s of normalise + forward on uint8 clips of the network's input shape."""
    from vcbench.models.preprocess import memory_format, normalise

    net = net.to(memory_format=memory_format(pp))
    x8 = torch.randint(0, 256, (batch, pp.clip_len, pp.size, pp.size, 3), dtype=torch.uint8)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        net(normalise(x8, pp))
        n, t = 0, time.perf_counter()
        while n < n_clips:
            net(normalise(x8, pp))
            n += batch
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(TINY))
    ap.add_argument("--official", action="store_true", help="also the full-size networks")
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()
    from vcbench.models import load_network
    from vcbench.runtime import resolve_precision
    from vcbench.samples import sample_path
    from vcbench.scoring import score_videos

    names = [m for m in a.models.split(",") if m] + (list(OFFICIAL) if a.official else [])
    precision = resolve_precision("auto", "cpu")
    res: dict = {"precision": precision, "cpu_threads": torch.get_num_threads(), "videos": a.videos, "detectors": {}}
    with tempfile.TemporaryDirectory() as td:
        vids = []
        for k in range(a.videos):
            vids.append(Path(td) / f"v{k}.mp4")
            shutil.copyfile(sample_path("carphone"), vids[-1])
        cache = Path(td) / "cache"
        for name in names:
            torch.manual_seed(0)
            net = load_network(name, None, "cpu")
            pp = net.preprocess
            for v in vids:                                  # tracks cached first
                score_videos([v], network=net, mode="sparse", clips=1, device="cpu", cache_dir=cache)
            t = time.perf_counter()
            out, batch = score_videos(vids, network=net, mode="sparse", device="cpu", cache_dir=cache,
                                      batch_size=a.batch, precision=precision)
            dt = time.perf_counter() - t
            clips = sum(tr.n_clips for r in out for tr in r.tracks)
            fwd = forward_rate(net, pp, clips, a.batch, precision == "bf16")
            row = {"input": pp.input, "clips": clips, "end_to_end_clips_per_s": round(clips / dt, 2),
                   "forward_clips_per_s": round(fwd, 2), "end_to_end_vs_forward": round(clips / dt / fwd, 3),
                   "goal": 0.9 if pp.input == "clip" else 0.8, "failed": len(batch.failed)}
            if precision == "bf16":
                fp32 = forward_rate(net, pp, clips, a.batch, False)
                row["forward_bf16_vs_fp32"] = round(fwd / fp32, 3)
            res["detectors"][name] = row
            print(f"{name:<20} {pp.input:<6} end to end {row['end_to_end_clips_per_s']:>8} clips/s, forward "
                  f"{row['forward_clips_per_s']:>8}: {row['end_to_end_vs_forward']:.2f} (goal >= {row['goal']})",
                  flush=True)
    print(json.dumps(res, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/detectors.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()
    main()
