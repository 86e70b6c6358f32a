"""``vcbench benchmark`` under torchrun: a shard per rank, merged by rank 0."""
from __future__ import annotations

from pathlib import Path

from ..batch import BatchResult
from ..errors import ConfigError
from .merge import merge_runs
from .runner import run_benchmark


def run_ranked(cfg, progress=None) -> BatchResult:
    """Under torchrun: rank r benchmarks shard r/N into ``out/ranks/rank<r>`` (resumable like any
    run), then rank 0 merges every rank's predictions into ``out``. Alone: ``run_benchmark``."""
    from dataclasses import replace

    from .. import distributed as D

    world = D.setup("cpu", backend="gloo")          # only for the barrier: scoring stays per rank
    if not world.distributed:
        return run_benchmark(cfg, progress)
    if cfg.shard != "0/1":
        raise ConfigError("--shard and torchrun both split the videos; use one (torchrun gives rank r shard r/N)")
    device = cfg.device
    if device in ("auto", "cuda"):
        from ..runtime import resolve_device

        device = D.device_for(resolve_device(device), world)
    ranks = [Path(cfg.out) / "ranks" / f"rank{r}" for r in range(world.size)]
    mine = replace(cfg, shard=f"{world.rank}/{world.size}", out=ranks[world.rank], device=device)
    from ..runtime import Progress

    batch = run_benchmark(mine, progress if world.main else Progress("benchmark", bar=False, echo=lambda m: None))
    D.barrier(world)
    if world.main:
        merge_runs(ranks, Path(cfg.out))
    D.barrier(world)
    D.teardown(world)
    return batch
