"""Freezing schedules: which parameters a training step may change. They live here, in the
trainer, never in the model's ``forward()``.

- ``none``: everything trains.
- ``alternate`` (AltFreezing): the spatial (1 x k x k) and temporal (t x 1 x 1, t > 1) conv kernels
  take turns (``temporal_steps`` steps of one, ``spatial_steps`` of the other, ``first`` leading);
  everything else (stem, 1x1x1 convs, BatchNorm, head) always trains. The paper uses two
  optimisers stepped in turn; SGD and AdamW keep their state per parameter and skip a parameter
  whose gradient is None (no momentum, no weight decay, no step count), so one optimiser whose
  inactive gradients are set to None before each step does exactly the same.
- ``head``: only the classifier trains; the backbone's BatchNorm layers run in eval mode so
  their running statistics stay as loaded.
- ``gradual``: the head first, then one more stage (s5, s4, ... the stem last) every ``every``
  steps; a stage still frozen keeps its BatchNorm statistics (eval mode), as ``head`` does.
"""
from __future__ import annotations

from dataclasses import dataclass

#: stages from the head down (the order ``gradual`` unfreezes them)
STAGES = ("head", "s5", "s4", "s3", "s2", "s1")


def stage_of(param_name: str) -> str:
    """``resnet.s3.pathway0_res0...`` -> ``s3``; ``resnet.head...`` -> ``head``."""
    parts = param_name.split(".")
    return parts[1] if parts[0] == "resnet" and len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class Schedule:
    strategy: str
    groups: dict            # parameter_groups(model): spatial / temporal / always -> names
    names: tuple[str, ...]  # every parameter name, in model order
    temporal_steps: int = 20
    spatial_steps: int = 1
    first: str = "temporal"
    every: int = 100
    stage: object = stage_of   # parameter name -> stage ("head", "s5", ... "s1"): the network's own

    @classmethod
    def for_model(cls, model, strategy: str, **kw) -> "Schedule":
        from ..models.altfreezing import parameter_groups

        return cls(strategy, parameter_groups(model), tuple(n for n, _ in model.named_parameters()), **kw,
                   stage=getattr(model, "stage_of", stage_of))

    def phase(self, step: int) -> str:
        """A short label of what trains at ``step`` (logged with every line of metrics.jsonl)."""
        if self.strategy == "alternate":
            cycle = self.temporal_steps + self.spatial_steps
            lead, lead_len = (("temporal", self.temporal_steps) if self.first == "temporal"
                              else ("spatial", self.spatial_steps))
            other = "spatial" if lead == "temporal" else "temporal"
            return lead if step % cycle < lead_len else other
        if self.strategy == "gradual":
            return "+".join(self.open_stages(step))
        return {"none": "all", "head": "head"}[self.strategy]

    def open_stages(self, step: int) -> tuple[str, ...]:
        if self.strategy == "gradual":
            return STAGES[:min(len(STAGES), 1 + step // self.every)]
        if self.strategy == "head":
            return ("head",)
        return STAGES

    def trainable(self, step: int) -> frozenset[str]:
        """Names of the parameters updated at ``step``."""
        if self.strategy == "alternate":
            return frozenset(self.groups["always"]) | frozenset(self.groups[self.phase(step)])
        if self.strategy == "none":
            return frozenset(self.names)
        stages = set(self.open_stages(step))
        return frozenset(n for n in self.names if self.stage(n) in stages)

    def never_trained(self) -> frozenset[str]:
        """Parameters no step of this schedule updates (``head``'s backbone): they get
        ``requires_grad=False`` up front, which also saves their backward pass."""
        if self.strategy == "head":
            return frozenset(self.names) - self.trainable(0)
        return frozenset()

    def frozen_stages(self, step: int) -> tuple[str, ...]:
        """Stages whose modules run in eval mode at ``step`` (BatchNorm statistics kept)."""
        if self.strategy in ("head", "gradual"):
            open_ = set(self.open_stages(step))
            return tuple(s for s in STAGES if s not in open_)
        return ()


def apply_modes(model, schedule: Schedule, step: int) -> None:
    """Train mode for the model, eval mode for the modules of the stages frozen at ``step``."""
    model.train()
    frozen = set(schedule.frozen_stages(step))
    if not frozen:
        return
    for name, module in model.named_modules():
        if name.count(".") >= 1 and schedule.stage(name + ".x") in frozen:
            module.eval()


def mask_gradients(model, schedule: Schedule, step: int) -> None:
    """Drop the gradients of the parameters that must not change at ``step``."""
    keep = schedule.trainable(step)
    for name, p in model.named_parameters():
        if name not in keep:
            p.grad = None
