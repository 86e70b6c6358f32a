"""torchrun support, shared by finetune (DDP) and benchmark (a shard per rank): the same command
runs distributed when launched under ``torchrun --nproc_per_node N`` (gloo on CPU, NCCL on CUDA
for training); rank 0 alone writes the run's files."""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def current() -> World:
    """This process's place in a torchrun job, from the environment (no process group needed):
    what the command line asks to decide which rank reports."""
    return World(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                 int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: str, backend: str | None = None) -> World:
    """Join the process group torchrun describes in the environment (no-op when run alone).
    Evaluation runs on rank 0 while the others wait, hence the long timeout."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if device.startswith("cuda") else "gloo"),
                                timeout=datetime.timedelta(hours=2))
    return World(rank, size, local)


def device_for(device: str, world: World) -> str:
    """Each rank gets its own GPU (``cuda:<local rank>``) under torchrun."""
    if world.distributed and device == "cuda":
        return f"cuda:{world.local_rank}"
    return device


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()


def broadcast(world: World, obj):
    """Rank 0's ``obj`` on every rank."""
    if not world.distributed:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean(world: World, value: float, device: str = "cpu") -> float:
    """The mean of ``value`` over ranks (NCCL reduces on the GPU, hence ``device``)."""
    if not world.distributed:
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / world.size


def teardown(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
