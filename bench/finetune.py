"""Fine-tuning throughput: what training consumes vs what the data pipeline delivers (goal: the
pipeline >= 1.5x the training rate, so the model never waits on decoding), and the whole
`vcbench finetune` command beside both.

All three in one run on the same data (a dataset generated from the sample media, the
call-condition policy with renditions), altfreezing-small (16 x 112) on CPU:
- training alone: train_step on clips already in memory (the model's forward + backward);
- pipeline alone: the DataLoader with N decode workers, no model, at ``--clips-per-track`` K
  windows per decode and at 1 (every clip decoded on its own: the baseline K is measured against);
- the command: `vcbench finetune` end to end (clips/s from its metrics.jsonl).
With a GPU: the official network (32 x 224) under bf16 autocast + channels_last_3d, clips/s and
the GPU's busy fraction (CUDA-event time inside steps / wall time; goal >= 80 %).

    python -m bench.finetune [--steps 30] [--workers 1] [--model altfreezing-small]
    python -m bench.finetune --realistic 6      # 720p, 10 s videos instead of the 176x144 samples
    python -m bench.finetune --ablation [--steps 200]

``--ablation``: alternate freezing at temporal:spatial 20:1, 1:20 and 20:20, each with one optimiser
(masked gradients, the default) and with the release's two (``--alt-optimizers two``), on the same
data and seed; prints the best and last val AUC of each side by side (bench/results/finetune-ablation.json).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_dataset(td: Path) -> Path:
    from vcbench.samples import sample_identities

    targets, sources = sample_identities(td / "media", frames=48)
    subprocess.run([sys.executable, "-m", "vcbench", "generate", "--source", str(sources), "--target", str(targets),
                    "--out", str(td / "ds"), "--val-fraction", "0.3", "--test-fraction", "0.2", "--seed", "3",
                    "--cache-dir", str(td / "faces")], check=True, capture_output=True)
    toml = td / "d.toml"
    toml.write_text(f'[datasets.calls]\nkind = "manifest"\nroot = "{td / "ds"}"\n')
    return toml


def make_realistic(td: Path, n: int) -> Path:
    """``n`` distinct 1280x720, 10 s talking heads (carphone upscaled with sensor grain, each
    mirrored and/or brightness-shifted) as a folder dataset: one of each class in val, the rest
    train. Labels are arbitrary: only the data pipeline's rate is measured on it."""
    from vcbench.samples import talking_head
    from vcbench.video import ffmpeg_exe

    base = talking_head(td / "base.mp4", (1280, 720), 300)
    root = td / "hd"
    names: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for k in range(n):
        label = ("real", "fake")[k % 2]
        (root / label).mkdir(parents=True, exist_ok=True)
        vf = ("hflip," if k % 4 >= 2 else "") + f"eq=brightness={0.02 * k:.2f}"
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(base), "-vf", vf,
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
                        str(root / label / f"{label}_{k}.mp4")], check=True)
        names["val" if k < 2 else "train"].append(f"{label}_{k}")
    (root / "split.json").write_text(json.dumps(names))
    toml = td / "d.toml"
    toml.write_text(f'[datasets.calls]\nkind = "folder"\nroot = "{root}"\nsplit_file = "{root / "split.json"}"\n')
    return toml


def training_rate(model_name: str, batch: int, steps: int, device: str = "cpu", bf16: bool = False) -> dict:
    import torch

    from vcbench.finetune.config import FinetuneConfig
    from vcbench.finetune.freezing import Schedule
    from vcbench.finetune.trainer import build_optimizer, train_step
    from vcbench.models import build_network

    model = build_network(model_name).to(device)
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)
    pp = model.preprocess
    cfg = FinetuneConfig(train=("x",), out=Path("."), model=model_name, augment="none",
                         precision="bf16" if bf16 else "fp32")
    sched = Schedule.for_model(model, "alternate")
    opt = build_optimizer(model, cfg)
    x = torch.randint(0, 256, (batch, pp.clip_len, pp.size, pp.size, 3), dtype=torch.uint8)  # as the loader gives
    y = torch.tensor([float(i % 2) for i in range(batch)])
    for s in range(3):
        train_step(model, model, sched, opt, [(x, y)], s, cfg, device)
    if device == "cuda":
        torch.cuda.synchronize()
    busy = 0.0
    t = time.perf_counter()
    for s in range(steps):
        if device == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
        train_step(model, model, sched, opt, [(x, y)], s, cfg, device)
        if device == "cuda":
            b.record()
            torch.cuda.synchronize()
            busy += a.elapsed_time(b) / 1000
    dt = time.perf_counter() - t
    out = {"clips_per_s": round(steps * batch / dt, 2)}
    if device == "cuda":
        out["gpu_busy_fraction"] = round(busy / dt, 3)
    return out


def pipeline_rate(toml: Path, faces: Path, model_name: str, batch: int, batches: int, workers: int,
                  clips_per_track: int) -> dict:
    from vcbench.finetune.config import FinetuneConfig
    from vcbench.finetune.data import ClipDataset, micro_batches, plan_data
    from vcbench.models import build_network

    cfg = FinetuneConfig(train=("calls",), out=Path("."), model=model_name, datasets=toml, cache_dir=faces)
    policy = cfg.policy()
    plan = plan_data(cfg, policy)
    ds = ClipDataset(plan.train, build_network(model_name).preprocess, policy, 0, clips_per_track, batch)
    warm = ds.block_batches                          # the first block: workers up
    total = warm + max(batches, 2 * ds.block_batches)
    it = micro_batches(ds, 0, total, workers)
    for _ in range(warm):
        next(it)
    t = time.perf_counter()
    n = 0
    for x, *_ in it:
        n += len(x)
    return {"clips_per_s": round(n / (time.perf_counter() - t), 2), "clips": n}


def command_rate(toml: Path, faces: Path, model_name: str, batch: int, steps: int, workers: int,
                 clips_per_track: int, env) -> dict:
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "run"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vcbench", "finetune", "--train", "calls", "--datasets", str(toml),
                        "--out", str(out), "--model", model_name, "--steps", str(steps), "--batch-size", str(batch),
                        "--eval-every", str(steps), "--save-every", str(steps), "--workers", str(workers),
                        "--clips-per-track", str(clips_per_track),
                        "--cache-dir", str(faces), "--device", "cpu"], check=True, capture_output=True, env=env)
        wall = time.perf_counter() - t
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        rates = [r["clips_per_s"] for r in rows if "clips_per_s" in r][1:]   # the first includes warm-up
    return {"clips_per_s": round(sum(rates) / len(rates), 2) if rates else None, "wall_s": round(wall, 1)}


def ablation(toml: Path, faces: Path, model_name: str, steps: int, env) -> dict:
    """The alternate-freezing ratios x one or two optimisers, same data, same seed: val AUCs."""
    out = {}
    for t_steps, s_steps in ((20, 1), (1, 20), (20, 20)):
        for opts in ("one", "two"):
            with tempfile.TemporaryDirectory() as td:
                run = Path(td) / "run"
                t = time.perf_counter()
                subprocess.run([sys.executable, "-m", "vcbench", "finetune", "--train", "calls", "--datasets",
                                str(toml), "--out", str(run), "--model", model_name, "--steps", str(steps),
                                "--eval-every", str(max(1, steps // 4)), "--save-every", str(steps), "--seed", "0",
                                "--freezing", "alternate", "--alt-temporal-steps", str(t_steps),
                                "--alt-spatial-steps", str(s_steps), "--alt-optimizers", opts, "--cache-dir",
                                str(faces), "--device", "cpu"], check=True, capture_output=True, env=env)
                aucs = [json.loads(x)["val_auc"] for x in (run / "metrics.jsonl").read_text().splitlines()
                        if "val_auc" in x]
            key = f"{t_steps}:{s_steps} {opts}"
            out[key] = {"val_auc_best": max((a for a in aucs if a is not None), default=None),
                        "val_auc_last": aucs[-1] if aucs else None, "wall_s": round(time.perf_counter() - t, 1)}
            print(f"{key:<12} best val AUC {out[key]['val_auc_best']}, last {out[key]['val_auc_last']}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--model", default="altfreezing-small")
    ap.add_argument("--clips-per-track", type=int, default=16)
    ap.add_argument("--realistic", type=int, default=0, metavar="N",
                    help="use N 720p, 10 s videos (a folder dataset) instead of the generated sample dataset")
    ap.add_argument("--ablation", action="store_true",
                    help="val AUCs of alternate freezing 20:1, 1:20, 20:20 with one and with two optimisers")
    a = ap.parse_args()
    if a.ablation:
        with tempfile.TemporaryDirectory() as td:
            td = Path(td)
            env = {**os.environ, "VCBENCH_CACHE": str(td / "cache")}
            os.environ["VCBENCH_CACHE"] = env["VCBENCH_CACHE"]
            toml = make_realistic(td, a.realistic) if a.realistic else make_dataset(td)
            res = {"model": a.model, "steps": a.steps, "data": f"{a.realistic} videos 1280x720 10 s" if a.realistic
                   else "generated from sample media (a pipeline check: one real person)",
                   "runs": ablation(toml, td / "faces", a.model, a.steps, env)}
        print(json.dumps(res, indent=2))
        Path("bench/results").mkdir(parents=True, exist_ok=True)
        Path("bench/results", "finetune-ablation.json").write_text(json.dumps(res, indent=2))
        return
    import torch

    res: dict = {"model": a.model, "batch": a.batch, "workers": a.workers, "clips_per_track": a.clips_per_track,
                 "cpu_count": os.cpu_count(),
                 "torch_threads": torch.get_num_threads(),
                 "data": f"{a.realistic} videos 1280x720 10 s" if a.realistic else "generated from sample media"}
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        env = {**os.environ, "VCBENCH_CACHE": str(td / "cache")}
        os.environ["VCBENCH_CACHE"] = env["VCBENCH_CACHE"]
        toml = make_realistic(td, a.realistic) if a.realistic else make_dataset(td)
        res["training_only"] = training_rate(a.model, a.batch, a.steps)
        print("training alone", res["training_only"], flush=True)
        res["pipeline_only"] = pipeline_rate(toml, td / "faces", a.model, a.batch, a.steps, a.workers,
                                             a.clips_per_track)
        print("pipeline alone", res["pipeline_only"], flush=True)
        res["pipeline_one_clip_per_decode"] = pipeline_rate(toml, td / "faces", a.model, a.batch, 6, a.workers, 1)
        print("pipeline alone, one clip per decode", res["pipeline_one_clip_per_decode"], flush=True)
        res["command"] = command_rate(toml, td / "faces", a.model, a.batch, 2 * a.steps, a.workers,
                                      a.clips_per_track, env)
        print("vcbench finetune", res["command"], flush=True)
    res["pipeline_vs_training"] = round(res["pipeline_only"]["clips_per_s"] / res["training_only"]["clips_per_s"], 2)
    res["clips_per_track_speedup"] = round(res["pipeline_only"]["clips_per_s"]
                                           / res["pipeline_one_clip_per_decode"]["clips_per_s"], 2)
    if res["command"]["clips_per_s"]:
        res["command_vs_training"] = round(res["command"]["clips_per_s"] / res["training_only"]["clips_per_s"], 2)
    if torch.cuda.is_available():
        res["gpu"] = {"device": torch.cuda.get_device_name(0),
                      "official_fp32": training_rate("altfreezing", 8, 20, "cuda"),
                      "official_bf16_channels_last": training_rate("altfreezing", 8, 20, "cuda", bf16=True)}
    print(json.dumps(res, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    name = f"finetune-hd{a.realistic}.json" if a.realistic else "finetune.json"
    Path("bench/results", name).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite/OpenCV lines off the figures (as the CLI does)
    main()
