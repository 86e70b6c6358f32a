"""Fine-tuning resumes exactly: a run killed with kill -9 (after a save, in the middle of one,
after an evaluation past the last save, mid-block under each freezing) and resumed ends with the
weights of the run that was never killed; the same command twice gives the same weights, with the
renditions cache built by the first and read by the second; DDP under torchrun."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ft_args, has_mediapipe

pytestmark = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")

# --- exact resume after kill -9, and torchrun ---------------------------------------------------

def _cli(calls, out, *extra, env=None, timeout=300):
    args = [sys.executable, "-m", "vcbench", *ft_args(calls, out, "--steps", "12", "--batch-size", "4",
                                                       "--eval-every", "6", "--save-every", "4", "--workers", "0",
                                                       *extra)]
    e = {**os.environ, "VCBENCH_CACHE": str(calls["root"] / "vcache"), **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=e, timeout=timeout)


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def test_killed_run_resumes_to_the_same_weights(calls, tmp_path):
    ref = _cli(calls, tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr[-2000:]
    want = _weights(tmp_path / "ref" / "last.pth")

    # kill -9 right after the step-4 save, then resume
    a = tmp_path / "a"
    killed = _cli(calls, a, env={"VCBENCH_FAULT": "after-save:last.pth:4"})
    assert killed.returncode == -signal.SIGKILL
    assert torch.load(a / "last.pth", weights_only=True)["trainer"]["step"] == 4
    resumed = _cli(calls, a, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    said = " ".join(resumed.stderr.split())            # the console may wrap the line
    assert "resuming" in said and "at step 4 of 12" in said
    assert _max_diff(_weights(a / "last.pth"), want) <= 1e-6

    # kill -9 in the middle of the step-8 save: the step-4 last.pth is intact, and resuming still lands exactly
    b = tmp_path / "b"
    killed = _cli(calls, b, env={"VCBENCH_FAULT": "mid-save:last.pth:8"})
    assert killed.returncode == -signal.SIGKILL
    assert any(p.name.startswith(".last.") for p in b.iterdir())       # the half-written temporary
    assert torch.load(b / "last.pth", weights_only=True)["trainer"]["step"] == 4
    resumed = _cli(calls, b, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _max_diff(_weights(b / "last.pth"), want) <= 1e-6
    assert not any(p.name.startswith(".last.") for p in b.iterdir())
    steps = [json.loads(x)["step"] for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert steps == [json.loads(x)["step"] for x in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]


# the configuration a real run uses (hardening issue, point 1): alternate freezing from a --checkpoint,
# saves every 10, evaluations every 20, default augmentation (call-condition renditions) and workers
REALISTIC = ["--freezing", "alternate", "--steps", "40", "--save-every", "10", "--eval-every", "20", "--seed", "1"]


def _real_cli(calls, out, init, *extra, env=None):
    args = [sys.executable, "-m", "vcbench", *ft_args(calls, out, "--checkpoint", str(init), *extra)]
    e = {**os.environ, "VCBENCH_CACHE": str(calls["root"] / "vcache"), **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=e, timeout=600)


@pytest.fixture(scope="module")
def init_weights(tmp_path_factory):
    """A --checkpoint to start from: loading one draws nothing from the torch RNG (the old bug)."""
    from vcbench.models import build_network
    from vcbench.models.checkpoint import checkpoint_dict

    torch.manual_seed(123)
    path = tmp_path_factory.mktemp("init") / "init.pth"
    torch.save(checkpoint_dict(build_network("altfreezing-tiny"), {}), path)
    return path


def test_realistic_run_is_deterministic_and_resumes_exactly(calls, init_weights, tmp_path):
    # the first run builds its renditions into a fresh cache, the second reads them: same weights
    fresh = {"VCBENCH_CACHE": str(tmp_path / "fresh-cache")}
    one = _real_cli(calls, tmp_path / "one", init_weights, *REALISTIC, env=fresh)
    assert one.returncode == 0, one.stderr[-2000:]
    assert list((tmp_path / "fresh-cache").rglob("*.mp4")) or list((tmp_path / "fresh-cache").rglob("*.mkv"))
    two = _real_cli(calls, tmp_path / "two", init_weights, *REALISTIC, env=fresh)
    assert two.returncode == 0, two.stderr[-2000:]
    want = _weights(tmp_path / "one" / "last.pth")
    assert _max_diff(_weights(tmp_path / "two" / "last.pth"), want) == 0
    assert _max_diff(_weights(tmp_path / "two" / "best.pth"), _weights(tmp_path / "one" / "best.pth")) == 0

    # killed after its first last.pth (step 10: the middle of the first 16-micro-batch block), resumed
    k = tmp_path / "killed"
    r = _real_cli(calls, k, init_weights, *REALISTIC, env={**fresh, "VCBENCH_FAULT": "after-save:last.pth:10"})
    assert r.returncode == -signal.SIGKILL
    r = _real_cli(calls, k, init_weights, *REALISTIC, "--resume", env=fresh)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _max_diff(_weights(k / "last.pth"), want) == 0
    assert _max_diff(_weights(k / "best.pth"), _weights(tmp_path / "one" / "best.pth")) == 0
    assert (k / "metrics.jsonl").read_text() .count("val_auc") == 2


def test_resume_after_an_evaluation_past_the_last_save(calls, init_weights, tmp_path):
    """An evaluation ran (and wrote best.pth) after the last save; the kill comes after it."""
    cfg = ["--steps", "20", "--save-every", "8", "--eval-every", "12", "--seed", "2", "--workers", "0"]
    ref = _real_cli(calls, tmp_path / "ref", init_weights, *cfg)
    assert ref.returncode == 0, ref.stderr[-2000:]
    k = tmp_path / "k"
    r = _real_cli(calls, k, init_weights, *cfg, env={"VCBENCH_FAULT": "after-eval:12"})
    assert r.returncode == -signal.SIGKILL
    assert torch.load(k / "last.pth", weights_only=True)["trainer"]["step"] == 8
    r = _real_cli(calls, k, init_weights, *cfg, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert _max_diff(_weights(k / "last.pth"), _weights(tmp_path / "ref" / "last.pth")) == 0
    assert _max_diff(_weights(k / "best.pth"), _weights(tmp_path / "ref" / "best.pth")) == 0
    evals = [json.loads(x)["step"] for x in (k / "metrics.jsonl").read_text().splitlines() if "val_auc" in x]
    assert evals == [12, 20]                     # the evaluation redone after the resume is logged once


@pytest.mark.parametrize("strategy", ["none", "head", "gradual"])
def test_killed_mid_block_resumes_exactly_under_each_freezing(strategy, calls, init_weights, tmp_path):
    cfg = ["--freezing", strategy, "--gradual-every", "3", "--steps", "12", "--save-every", "5",
           "--eval-every", "12", "--seed", "3", "--workers", "0"]     # decode workers: the realistic test's
    ref = _real_cli(calls, tmp_path / "ref", init_weights, *cfg)
    assert ref.returncode == 0, ref.stderr[-2000:]
    k = tmp_path / "k"
    r = _real_cli(calls, k, init_weights, *cfg, env={"VCBENCH_FAULT": "step:7"})   # between saves, mid-block
    assert r.returncode == -signal.SIGKILL
    r = _real_cli(calls, k, init_weights, *cfg, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert _max_diff(_weights(k / "last.pth"), _weights(tmp_path / "ref" / "last.pth")) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes(calls, tmp_path):
    out = tmp_path / "ddp"
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(_free_port()), "-m", "vcbench",
            *ft_args(calls, out, "--steps", "6", "--batch-size", "2", "--eval-every", "3", "--save-every", "3",
                     "--workers", "0")]
    env = {**os.environ, "VCBENCH_CACHE": str(calls["root"] / "vcache"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("wrote ") == 1                  # rank 0 alone reports and writes
    run = json.loads((out / "run.json").read_text())
    assert run["hardware"]["world_size"] == 2 and run["status"] == "finished"
    assert sorted(p.name for p in out.iterdir()) == ["best.pth", "finetune.status.json", "last.pth", "metrics.jsonl",
                                                     "run.json"]       # one of each: rank 1 writes none
    assert json.loads((out / "finetune.status.json").read_text())["state"] == "finished"
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "val_auc" in x] == [3, 6]
    assert torch.load(out / "last.pth", weights_only=True)["trainer"]["step"] == 6


