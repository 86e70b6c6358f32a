"""CUDA smoke test and GPU benchmarks of the official network (run by bench/gpu.sh on a GPU machine).

Needs only torch and vcbench's own modules (no decoding, no face models): a GPU machine whose image has
PyTorch runs it with the repository on PYTHONPATH. In one run, on the same device:
- smoke: the official AltFreezing network (seeded weights) on CUDA gives the CPU's fp32 logits
  (fp32: max |diff| <= 1e-3; bf16 autocast: probabilities within 0.05 on random clips), and a vcbench
  checkpoint saved on CUDA loads back bit for bit;
- forward: clips/s of the release's way (fp32, contiguous) vs the scorer's (bf16 autocast,
  channels_last_3d), batch 8 of 32 x 224 clips; the ratio is what the layout and precision buy;
- training: clips/s of train_step (alternate freezing) in fp32 vs bf16, and the GPU's busy fraction;
- the zoo: each registered full-size network's forward clips/s on its declared input, fp32 vs bf16;
- watch: one window's latency through ``scoring.ClipScorer`` (the forward ``vcbench watch`` runs: a
  uint8 clip to the device, normalised, the network, the probability back), p50/p95 in ms, fp32 vs
  bf16, and the stride at 30 fps one face can be watched with at that p95 (face tracking and decoding
  run on the CPU beside it: bench/watch.py measures those).

    python -m bench.gpu [--device cuda] [--seconds 20]   # figures to bench/results/gpu.json (and $OUT)
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch


def _forward_rate(net, x, seconds: float, bf16: bool, channels_last: bool) -> float:
    dev_type = "cuda" if x.is_cuda else "cpu"
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    with torch.inference_mode(), torch.autocast(dev_type, dtype=torch.bfloat16, enabled=bf16):
        for _ in range(3):
            net(x)
        if x.is_cuda:
            torch.cuda.synchronize()
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            net(x)
            n += len(x)
            if x.is_cuda and n % (4 * len(x)) == 0:
                torch.cuda.synchronize()
        if x.is_cuda:
            torch.cuda.synchronize()
    return round(n / (time.perf_counter() - t), 2)


def smoke(dev: str) -> dict:
    import tempfile

    from vcbench.models import build_network, load_network
    from vcbench.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = build_network("altfreezing").eval()
    x = torch.randn(2, 3, 32, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = net(x).float()
        gpu = net.to(dev)
        got = gpu(x.to(dev)).float().cpu()
        with torch.autocast("cuda" if dev.startswith("cuda") else "cpu", dtype=torch.bfloat16):
            got_bf16 = gpu(x.to(dev)).float().cpu()
    out = {"fp32_max_abs_diff": float((got - ref).abs().max()), "bf16_max_abs_diff": float((got_bf16 - ref).abs().max()),
           "bf16_max_prob_diff": float((torch.sigmoid(got_bf16) - torch.sigmoid(ref)).abs().max())}
    with tempfile.TemporaryDirectory() as td:
        p = save_checkpoint(gpu, Path(td) / "m.pth")
        back = load_network("altfreezing", p, dev)
        out["checkpoint_round_trip"] = all(torch.equal(a.cpu(), b.cpu()) for a, b in
                                           zip(gpu.state_dict().values(), back.state_dict().values()))
    out["ok"] = out["fp32_max_abs_diff"] <= 1e-3 and out["bf16_max_prob_diff"] <= 0.05 and out["checkpoint_round_trip"]
    return out


def training(dev: str, seconds: float, bf16: bool) -> dict:
    from vcbench.finetune.config import FinetuneConfig
    from vcbench.finetune.freezing import Schedule
    from vcbench.finetune.trainer import build_optimizer, train_step
    from vcbench.models import build_network

    torch.manual_seed(0)
    model = build_network("altfreezing").to(dev)
    if dev.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last_3d)
    pp = model.preprocess
    cfg = FinetuneConfig(train=("x",), out=Path("."), model="altfreezing", augment="none",
                         precision="bf16" if bf16 else "fp32")
    sched = Schedule.for_model(model, "alternate")
    opt = build_optimizer(model, cfg)
    x = torch.randint(0, 256, (8, pp.clip_len, pp.size, pp.size, 3), dtype=torch.uint8)   # as the loader gives
    y = torch.tensor([float(i % 2) for i in range(8)])
    for s in range(2):
        train_step(model, model, sched, opt, [(x, y)], s, cfg, dev)
    cuda = dev.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    busy, n, s, t = 0.0, 0, 2, time.perf_counter()
    while time.perf_counter() - t < seconds:
        if cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
        train_step(model, model, sched, opt, [(x, y)], s, cfg, dev)
        if cuda:
            b.record()
            torch.cuda.synchronize()
            busy += a.elapsed_time(b) / 1000
        n, s = n + len(x), s + 1
    dt = time.perf_counter() - t
    return {"clips_per_s": round(n / dt, 2), **({"gpu_busy_fraction": round(busy / dt, 3)} if cuda else {})}


def window_latency(dev: str, seconds: float, name: str = "altfreezing") -> dict:
    import numpy as np

    from vcbench.models import build_network
    from vcbench.scoring import ClipScorer

    torch.manual_seed(0)
    net = build_network(name).to(dev).eval()
    pp = net.preprocess
    clip = np.random.default_rng(0).integers(0, 256, (1, pp.clip_len, pp.size, pp.size, 3), dtype=np.uint8)
    out = {}
    for prec in ("fp32", "bf16"):
        score = ClipScorer(net, dev, prec)
        for _ in range(3):
            score(clip)
        ms, t = [], time.perf_counter()
        while time.perf_counter() - t < seconds or len(ms) < 5:
            a = time.perf_counter()
            score(clip)                                  # returns numpy: the device has finished
            ms.append((time.perf_counter() - a) * 1000)
        p50, p95 = float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
        # a window every `stride` frames at 30 fps must score within stride / 30 s
        stride = next((k for k in (1, 2, 4, 8, 16, 32) if k / 30 * 1000 >= p95), None)
        out[prec] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "windows": len(ms),
                     "min_stride_at_30fps": stride}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seconds", type=float, default=20.0, help="timing per measurement")
    a = ap.parse_args()
    dev = a.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("bench.gpu: no CUDA device visible (torch.cuda.is_available() is False)")
    from vcbench.models import build_network

    res: dict = {"device": torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu", "torch": torch.__version__}
    res["smoke"] = smoke(dev)
    print("smoke", res["smoke"], flush=True)
    torch.manual_seed(0)
    net = build_network("altfreezing").to(dev).eval()
    x = torch.randn(8, 3, 32, 224, 224, device=dev)
    res["forward_release_fp32"] = _forward_rate(net, x, a.seconds, bf16=False, channels_last=False)
    res["forward_bf16_channels_last"] = _forward_rate(net, x, a.seconds, bf16=True, channels_last=True)
    res["forward_ratio"] = round(res["forward_bf16_channels_last"] / res["forward_release_fp32"], 2)
    print("forward clips/s", res["forward_release_fp32"], "->", res["forward_bf16_channels_last"], flush=True)
    res["zoo"] = {}
    for name in ("ftcn", "sbi", "dfb-xception", "dfb-effnb4"):
        torch.manual_seed(0)
        m = build_network(name).to(dev).eval()
        pp = m.preprocess
        xz = torch.randn(8, 3, pp.clip_len, pp.size, pp.size, device=dev)
        cl = pp.input == "clip"
        fp32 = _forward_rate(m, xz, a.seconds / 4, bf16=False, channels_last=False)
        bf16 = _forward_rate(m, xz, a.seconds / 4, bf16=True, channels_last=cl)
        res["zoo"][name] = {"fp32": fp32, "bf16": bf16, "ratio": round(bf16 / fp32, 2)}
        print("zoo", name, res["zoo"][name], flush=True)
    res["watch_window"] = window_latency(dev, a.seconds / 2)
    print("watch window latency", res["watch_window"], flush=True)
    res["train_fp32"] = training(dev, a.seconds, bf16=False)
    res["train_bf16"] = training(dev, a.seconds, bf16=True)
    print("train", res["train_fp32"], res["train_bf16"], flush=True)
    text = json.dumps(res, indent=2)
    print(text)
    for folder in (Path("bench/results"), Path(os.environ["OUT"]) if os.environ.get("OUT") else None):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "gpu.json").write_text(text)
    if not res["smoke"]["ok"]:
        raise SystemExit("bench.gpu: the CUDA smoke test failed (see smoke above)")


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite/OpenCV lines off the figures (as the CLI does)
    main()
