"""What a Grad-CAM map costs against the score it explains, in one run on this machine's cores.

    python -m bench.explain [--model altfreezing] [--batch 2] [--repeat 2]

For seeded weights of the network and random uint8 clips of its declared input, the same batch:
the scorer's forward in fp32 (the release's arithmetic) and in bf16 (what ``--precision auto``
picks where the CPU or GPU runs bf16), and ``models.cam.cam`` (always fp32: the trunk without a
graph, the head with one, its gradient). Prints seconds per batch and the ratios; explaining at the
default layer should cost about one fp32 forward.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="altfreezing")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    import numpy as np
    import torch

    from bench.watch import cpu_kind
    from vcbench.models import build_network
    from vcbench.models.cam import cam
    from vcbench.models.preprocess import normalise
    from vcbench.scoring import ClipScorer

    torch.manual_seed(0)
    net = build_network(a.model).eval()
    pp = net.preprocess
    clips = np.random.default_rng(0).integers(0, 256, (a.batch, pp.clip_len, pp.size, pp.size, 3), dtype=np.uint8)

    def timed(fn) -> float:
        fn()                                         # warm-up
        t = time.perf_counter()
        for _ in range(a.repeat):
            fn()
        return (time.perf_counter() - t) / a.repeat

    fp32, bf16 = ClipScorer(net, "cpu", "fp32"), ClipScorer(net, "cpu", "bf16")
    x = normalise(torch.from_numpy(clips), pp)
    res = {"model": a.model, "batch": a.batch, "cpu": cpu_kind(), "threads": torch.get_num_threads(),
           "forward_fp32_s": timed(lambda: fp32(clips)), "forward_bf16_s": timed(lambda: bf16(clips)),
           "gradcam_s": timed(lambda: cam(net, x))}
    res["gradcam_vs_fp32"] = round(res["gradcam_s"] / res["forward_fp32_s"], 2)
    res["gradcam_vs_bf16"] = round(res["gradcam_s"] / res["forward_bf16_s"], 2)
    print(f"{a.model}, batch {a.batch}, CPU {res['cpu']}, {res['threads']} threads: forward fp32 "
          f"{res['forward_fp32_s']:.2f} s, bf16 {res['forward_bf16_s']:.2f} s, Grad-CAM {res['gradcam_s']:.2f} s "
          f"(x{res['gradcam_vs_fp32']} of fp32, x{res['gradcam_vs_bf16']} of bf16)")
    out = Path(__file__).parent / "results" / f"explain-{a.model}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # native library lines off the figures (as the CLI does)
    main()
