"""The training loop: one function, ``run_finetune(cfg)``, and the files of a run folder.

``last.pth`` holds everything a resume needs (model, optimiser, step, the torch RNG, best val AUC,
counters); the data side needs nothing saved because every micro-batch is a pure function of
``(seed, rank, block)`` (``data.ClipDataset``). So on CPU a run killed at any point and resumed ends
with the same weights as one that never stopped. ``best.pth`` is a plain vcbench checkpoint
(no optimiser) that ``score``, ``benchmark`` and ``load_network`` read without extra flags.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError, ConfigError, NotAvailableError
from ..fileio import atomic_path, write_json
from ..runtime import fault_point

RUN_FORMAT = "vcbench-finetune/1"


@dataclass
class FinetuneResult:
    out: Path
    steps: int
    best_step: int | None
    best_auc: float | None
    last_auc: float | None
    skipped: list = field(default_factory=list)        # (video, why) left out before training
    decode_failures: dict = field(default_factory=dict)  # video -> why, during training
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> list[tuple[str, str]]:
        """Every video the run did not learn from, as (name, why) records: left out before
        training (unreadable, no face) or failing to decode during it."""
        return ([(str(a), str(b)) for a, b in self.skipped]
                + [(str(k), f"during training: {v}") for k, v in self.decode_failures.items()])

    def lines(self) -> list[str]:
        """What ``vcbench finetune`` prints when the run is over."""
        auc = "n/a" if self.best_auc is None else f"{self.best_auc:.4f}"
        return [f"{self.steps} steps in {self.seconds:.0f} s; best val AUC {auc} at step {self.best_step}"
                + (" (stopped early)" if self.stopped_early else ""),
                f"wrote {self.out / 'best.pth'}, {self.out / 'last.pth'}, {self.out / 'metrics.jsonl'}, "
                f"{self.out / 'run.json'}"]

    def failure_note(self) -> str:
        """The line after the named failures: the run is whole, but not over all its data."""
        return (f"{len(self.skipped)} video(s) left out before training, {len(self.decode_failures)} failed to "
                f"decode during training (named in {self.out / 'run.json'})")


def lr_at(step: int, cfg) -> float:
    """Linear warm-up from lr/10 over ``warmup_steps``, then cosine decay to 0 at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (0.1 + 0.9 * step / cfg.warmup_steps)
    span = max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg.warmup_steps) / span)))


def build_optimizer(model, cfg):
    """One optimiser (decay on weights of 2+ dimensions), or the release's two (``AltOptimizers``)."""
    import torch

    if getattr(cfg, "alt_optimizers", "one") == "two":
        return AltOptimizers(model, cfg)

    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim > 1]
    flat = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim <= 1]   # BN and biases
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": flat, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)
    return torch.optim.AdamW(groups, lr=cfg.lr)


class AltOptimizers:
    """AltFreezing's own optimisers (its ``optimizer.py``, ``construct_optimizer_altertraining``): two,
    stepped in turn by the schedule's phase. The temporal one holds the t x1x1 kernels (t > 1), the
    spatial one the 1 x k x k kernels (k > 1); both hold everything else (the stem, 1x1x1 convs,
    BatchNorm, the head), each with its own momentum. Weight decay as the release applies it:
    ``weight_decay`` on every parameter whose module name lacks "norm", which in this network's
    names (``a_bn``, ``bn``) is all of them, BatchNorm included; 0 for a "norm" module.

    ``--alt-optimizers one`` (the default) approximates this with one optimiser whose inactive
    gradients are dropped: the shared parameters then carry one momentum across phases, and
    BatchNorm weights and biases are not decayed."""

    def __init__(self, model, cfg):
        import torch
        import torch.nn as nn

        params = dict(model.named_parameters())
        groups = {"temporal": ([], []), "spatial": ([], [])}      # (no decay, decay) per optimiser
        placed = set()
        for name, m in model.named_modules():
            own = [(f"{name}.{k}" if name else k, p) for k, p in m.named_parameters(recurse=False)]
            if not own:
                continue
            decay = 0 if "norm" in name else 1
            if isinstance(m, nn.Conv3d) and m.kernel_size[0] == 1 and m.kernel_size[1] > 1:
                sides = ("spatial",)
            elif isinstance(m, nn.Conv3d) and m.kernel_size[0] > 1 and m.kernel_size[1] == 1:
                sides = ("temporal",)
            else:                                  # the stem, 1x1x1 convs, BatchNorm, the head
                sides = ("temporal", "spatial")
            for n, p in own:
                if p.requires_grad:
                    for side in sides:
                        groups[side][decay].append(p)
                placed.add(n)
        missing = sorted(set(params) - placed)
        if missing:
            raise ValueError(f"parameters in no optimiser: {missing[:3]}")
        make = (lambda g: torch.optim.SGD(g, lr=cfg.lr, momentum=0.9)) if cfg.optimizer == "sgd" else \
            (lambda g: torch.optim.AdamW(g, lr=cfg.lr))
        self.opts = {side: make([{"params": nodecay, "weight_decay": 0.0},
                                 {"params": dec, "weight_decay": cfg.weight_decay}])
                     for side, (nodecay, dec) in groups.items()}

    @property
    def param_groups(self) -> list:
        return [g for o in self.opts.values() for g in o.param_groups]

    def step(self, phase: str) -> None:
        self.opts[phase].step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.opts.values():
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"alt_optimizers": {k: o.state_dict() for k, o in self.opts.items()}}

    def load_state_dict(self, state: dict) -> None:
        if "alt_optimizers" not in state:
            raise ValueError("the saved optimiser state is one optimiser's; this run uses two (alt_optimizers)")
        for k, o in self.opts.items():
            o.load_state_dict(state["alt_optimizers"][k])


def check_trainer_state(path: Path, state) -> None:
    """A last.pth must carry every piece of trainer state a resume restores, with its type."""
    import torch

    if not isinstance(state, dict) or not isinstance(state.get("trainer"), dict):
        raise CheckpointError(f"{path}: not a finetune run's last.pth (no trainer state)")
    tr = state["trainer"]
    expect = {"step": int, "optimizer": dict, "config": dict, "rng": dict, "bad_evals": int,
              "best_auc": (float, int, type(None)), "best_step": (int, type(None))}
    for key, tp in expect.items():
        if key not in tr:
            raise CheckpointError(f"{path}: the trainer state has no {key!r}; it cannot be resumed")
        if not isinstance(tr[key], tp) or isinstance(tr[key], bool):
            raise CheckpointError(f"{path}: the trainer state's {key!r} is {type(tr[key]).__name__}")
    if not isinstance(tr["rng"].get("torch"), torch.Tensor) or tr["rng"]["torch"].dtype != torch.uint8:
        raise CheckpointError(f"{path}: the trainer state's RNG state is not a torch uint8 tensor")
    if not isinstance(state.get("state_dict"), dict):
        raise CheckpointError(f"{path}: no model state_dict")
    if tr["step"] < 0:
        raise CheckpointError(f"{path}: the trainer state's step is negative")


def initial_model(cfg):
    """The network to fine-tune: ``cfg.checkpoint`` (any AltFreezing format, architecture checked)
    or a fresh one seeded with ``cfg.seed``."""
    import torch

    from ..models import build_network, load_network

    if cfg.checkpoint is not None:
        return load_network(cfg.model, cfg.checkpoint)
    torch.manual_seed(cfg.seed)
    return build_network(cfg.model)


class RunFiles:
    """The run folder; rank 0 writes, every write atomic."""

    def __init__(self, out: Path, main: bool):
        self.out, self.main = Path(out), main
        self.last, self.best = self.out / "last.pth", self.out / "best.pth"
        self.metrics, self.run = self.out / "metrics.jsonl", self.out / "run.json"
        self._metrics = None               # opened on the first line: a resume rewrites the file before

    def log(self, row: dict) -> None:
        """A metrics.jsonl line (the one JSON-lines writer, contracts.JsonLinesWriter)."""
        if self.main:
            if self._metrics is None:
                from ..contracts import JsonLinesWriter

                self._metrics = JsonLinesWriter(self.metrics, sync=False)
            self._metrics.write(row)

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def truncate_metrics(self, step: int) -> None:
        """A resumed run redoes the steps after its last save: drop their lines first."""
        if not self.main or not self.metrics.is_file():
            return
        keep = []
        for line in self.metrics.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue                    # a line half-written by a killed run
        with atomic_path(self.metrics) as tmp:
            tmp.write_text("".join(x + "\n" for x in keep), encoding="utf-8")

    def save(self, path: Path, obj: dict, step: int) -> None:
        import torch

        if not self.main:
            return
        try:
            with atomic_path(path) as tmp:
                torch.save(obj, tmp)
                fault_point(f"mid-save:{path.name}:{step}")
        except (OSError, RuntimeError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CheckpointError(f"{path}: could not write the checkpoint ({msg[:160]}); the previous "
                                  f"{path.name} is kept") from None
        fault_point(f"after-save:{path.name}:{step}")


def checkpoint_object(model, provenance: dict, trainer: dict | None = None) -> dict:
    """``models.checkpoint``'s format, plus the trainer state that ``--resume`` needs (last.pth)."""
    from ..models.checkpoint import checkpoint_dict

    obj = checkpoint_dict(model, provenance)
    if trainer is not None:
        obj["trainer"] = trainer
    return obj


def run_finetune(cfg, progress=None, log=print) -> FinetuneResult:
    """Train per ``cfg`` into ``cfg.out`` (see the module docstring); the run folder's status record
    (finetune.status.json, rank 0) says running, then finished / failed (videos left out) / interrupted."""
    from ..batch import BatchResult

    trainer = Trainer(cfg, progress, log)
    try:
        res = trainer.run()
    except BaseException as e:
        if trainer.folder is not None:
            trainer.folder.end(None, state="interrupted" if isinstance(e, KeyboardInterrupt) else "failed",
                               error=str(e)[:300])
        raise
    if trainer.folder is not None:
        trainer.folder.end(BatchResult("videos", 0, 0, res.failed), steps=res.steps, best_step=res.best_step)
    return res


class Trainer:
    """One fine-tuning run as named steps, in the order :meth:`run` takes them: check the run folder
    (:meth:`open`), plan the data (:meth:`plan_data`), build the network and optimiser and restore a
    resumed state (:meth:`build`), describe the run (:meth:`describe`), then train (:meth:`train`),
    evaluating and saving on schedule. Its counters (step, best, history) live on the object, so
    last.pth holds exactly what a resume needs (:meth:`trainer_state`)."""

    def __init__(self, cfg, progress=None, log=print):
        self.cfg, self.progress, self.log = cfg, progress, log
        self.out = Path(cfg.out)
        self.folder = None                  # the RunFolder whose status record rank 0 keeps
        self.step = self.start = 0
        self.best_auc = self.best_step = self.best_loss = self.last_auc = None
        self.bad_evals, self.decode_failures, self.history, self.stopped = 0, {}, [], False

    def run(self) -> FinetuneResult:
        from .. import distributed as D

        self.t_start = time.perf_counter()
        state = self.open()
        self.plan_data()
        self.build(state)
        self.describe()
        self.train()
        self.write_run("stopped early" if self.stopped else "finished", self.step)
        D.teardown(self.world)
        return FinetuneResult(self.out, self.step, self.best_step, self.best_auc, self.last_auc,
                              list(self.plan.failed), self.decode_failures, self.stopped,
                              round(time.perf_counter() - self.t_start, 1))

    @property
    def main(self) -> bool:
        return self.world.main

    def open(self) -> dict | None:
        """Device and process group; the run folder: a fresh run never overwrites one, a resume
        needs one written with the same configuration (its last.pth state is returned)."""
        from .. import distributed as D
        from ..runtime import resolve_device

        cfg = self.cfg
        device = resolve_device(cfg.device)
        self.world = D.setup(device)
        self.device = D.device_for(device, self.world)
        self.files = RunFiles(cfg.out, self.world.main)
        if not cfg.resume:
            if self.files.last.is_file():
                raise ConfigError(f"{self.out} already holds a run (last.pth); pass --resume to continue it or use "
                                  "another --out")
            return None
        if not self.files.last.is_file():
            raise ConfigError(f"--resume: {self.files.last} not found (nothing to resume in {self.out})")
        from ..models.checkpoint import read_checkpoint
        from ..runs import differences

        state = read_checkpoint(self.files.last)
        check_trainer_state(self.files.last, state)
        diff = differences(state["trainer"]["config"], cfg.to_json(), cfg.RESUMABLE, there="in last.pth")
        if diff:
            raise ConfigError(f"--resume: {self.files.last} was written with another configuration: " + "; ".join(diff))
        return state

    def plan_data(self) -> None:
        """Rank 0 tracks and renders (cached) and claims the run folder; the other ranks then read
        the caches."""
        from .. import distributed as D
        from ..runs import RunFolder
        from .data import plan_data

        cfg = self.cfg
        self.policy = cfg.policy()
        if self.main:
            self.folder = RunFolder(self.out, "finetune").open()   # removes a killed save's half-written temporary
            self.folder.begin(steps=cfg.steps, resume=bool(cfg.resume))
            self.plan = plan_data(cfg, self.policy, self.progress, self.log)
        D.barrier(self.world)
        if not self.main:
            self.plan = plan_data(cfg, self.policy, None, lambda *_: None)
        for item, why in self.plan.failed:
            if self.main:
                self.log(f"skipped: {item}: {why}")

    def build(self, state: dict | None) -> None:
        """The network (laid out for the device), its freezing schedule and optimiser; the global
        RNG seeded (the head's dropout draws from it: loading a --checkpoint draws nothing, so
        without this two runs of one command trained apart), then a resumed state restored."""
        import torch

        from .freezing import Schedule

        cfg, device = self.cfg, self.device
        model = initial_model(cfg)
        self.pp = model.preprocess
        self.model = model.to(device).to(memory_format=_layout(device, self.pp))
        self.schedule = Schedule.for_model(self.model, cfg.freezing, temporal_steps=cfg.alt_temporal_steps,
                                           spatial_steps=cfg.alt_spatial_steps, first=cfg.alt_first,
                                           every=cfg.gradual_every)
        never = self.schedule.never_trained()
        for n, p in self.model.named_parameters():
            p.requires_grad_(n not in never)
        self.opt = build_optimizer(self.model, cfg)
        torch.manual_seed(cfg.seed)
        if state is not None:
            self.restore(state)
        self.net = self.model
        if self.world.distributed:
            import warnings

            from torch.nn.parallel import DistributedDataParallel as DDP

            # 1x1x1 kernels have two valid channels_last stride layouts; DDP's notice about it is not an error
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            self.net = DDP(self.model, device_ids=[device] if device.startswith("cuda") else None)

    def restore(self, state: dict) -> None:
        """Weights, optimiser, RNG and counters from last.pth; metrics after its step dropped."""
        import torch

        tr, device = state["trainer"], self.device
        try:
            self.model.load_state_dict(state["state_dict"])
            self.opt.load_state_dict(tr["optimizer"])
            torch.set_rng_state(tr["rng"]["torch"])
            if device.startswith("cuda") and tr["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(tr["rng"]["cuda"], device)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{self.files.last}: its weights, optimiser or RNG state do not fit this run "
                                  f"({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})") from None
        self.start, self.best_auc, self.best_step, self.bad_evals = tr["step"], tr["best_auc"], tr["best_step"], \
            tr["bad_evals"]
        self.best_loss, self.history = tr.get("best_loss"), list(tr.get("history", []))
        self.decode_failures = dict(tr.get("decode_failures", {}))
        self.files.truncate_metrics(self.start)
        if self.main:
            self.log(f"resuming {self.out} at step {self.start} of {self.cfg.steps}")

    def describe(self) -> None:
        """run.json's record of the run and the provenance every checkpoint carries."""
        import torch

        from ..provenance import provenance as software

        cfg, plan, device, world, out = self.cfg, self.plan, self.device, self.world, self.out
        train, val = plan.train, plan.val
        presets_seen = sorted({v.preset for v in train} | {var.preset for v in train for var in v.variants.values()})
        methods_seen = sorted({v.method for v in train if v.label == 1})
        self.run_info = {
            "format": RUN_FORMAT, "config": cfg.to_json(), "model": cfg.model, "preprocess": self.pp.to_dict(),
            "initial_weights": str(cfg.checkpoint) if cfg.checkpoint else f"untrained (seed {cfg.seed})",
            "datasets": plan.datasets, "augment": self.policy.to_json(), "freezing": cfg.freezing,
            "parameter_groups": {k: len(v) for k, v in self.schedule.groups.items()},
            "presets_seen": presets_seen, "methods_seen": methods_seen,
            "videos": {"train": len(train), "val": len(val), "train_real": sum(v.label == 0 for v in train),
                       "train_fake": sum(v.label == 1 for v in train), "val_real": sum(v.label == 0 for v in val),
                       "val_fake": sum(v.label == 1 for v in val)},
            "skipped_before_training": [{"video": a, "why": b} for a, b in plan.failed],
            "hardware": {"device": device, "world_size": world.size, "cpu_count": os.cpu_count(),
                         "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
                         "gpu": torch.cuda.get_device_name(device) if device.startswith("cuda") else None},
            "software": software(cfg.ffmpeg),
            "note": "; ".join(f"{n}: {d['note']}" for n, d in plan.datasets.items() if d.get("note")) or None,
        }
        self.provenance = {"run": str(out.resolve()), "model": cfg.model, "freezing": cfg.freezing,
                           "train_datasets": list(cfg.train), "val_dataset": cfg.val or list(cfg.train),
                           "presets_seen": presets_seen, "methods_seen": methods_seen,
                           "augment": self.policy.to_json(),
                           "training": {**plan.training, "from": f"vcbench finetune run {out.resolve()}"}}

    def train(self) -> None:
        """Steps from the start (0, or the resumed one) to ``cfg.steps`` or an early stop: each a
        train step, then a log line, an evaluation and a save when they are due."""
        from .data import ClipDataset, micro_batches

        cfg, device = self.cfg, self.device
        dataset = ClipDataset(self.plan.train, self.pp, self.policy, cfg.seed, cfg.clips_per_track, cfg.batch_size,
                              self.world.rank, self.world.size)
        self.tb = _tensorboard(self.out) if cfg.tensorboard and self.main else None
        if self.progress is not None and self.main:
            self.progress.start(cfg.steps - self.start, f"finetune {cfg.model}")
        self.write_run("running", self.start)
        self.step = self.start
        batches = micro_batches(dataset, self.start * cfg.accumulate, cfg.steps * cfg.accumulate, cfg.workers,
                                pin=device.startswith("cuda"))
        self.t_log, self.clips_log = time.perf_counter(), 0
        try:
            while self.step < cfg.steps:
                lr = lr_at(self.step, cfg)
                loss_sum = train_step(self.net, self.model, self.schedule, self.opt, self.take(batches), self.step,
                                      cfg, device)
                self.step += 1
                fault_point(f"step:{self.step}")
                if self.progress is not None and self.main:
                    self.progress.advance(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    self.log_loss(loss_sum, lr)
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                    self.evaluate_and_keep_best()
                if self.step % cfg.save_every == 0 or self.step == cfg.steps or self.stopped:
                    self.save_last()
                if self.stopped:
                    if self.main:
                        self.log(f"early stop at step {self.step}: no better val AUC in {cfg.patience} evaluations")
                    break
        finally:
            if self.progress is not None and self.main:
                self.progress.end_bar()
            if self.tb is not None:
                self.tb.close()
            self.files.close()

    def take(self, batches) -> list:
        """The next ``cfg.accumulate`` micro-batches; videos that failed to decode are logged once."""
        out = []
        for _ in range(self.cfg.accumulate):
            x, y, _vid, _applied, fails = next(batches)
            for f in fails:
                for line in filter(None, f.split("\n")):
                    name, _, why = line.partition("\t")
                    if name not in self.decode_failures and self.main:
                        self.log(f"skipped during training: {name}: {why}")
                    self.decode_failures.setdefault(name, why)
            out.append((x, y))
            self.clips_log += len(y) * self.world.size
        return out

    def log_loss(self, loss_sum: float, lr: float) -> None:
        """metrics.jsonl's loss line (averaged over ranks), TensorBoard, the progress bar."""
        from .. import distributed as D

        loss_avg = D.mean(self.world, loss_sum, self.device)
        dt = time.perf_counter() - self.t_log
        row = {"step": self.step, "loss": round(loss_avg, 6), "lr": lr, "phase": self.schedule.phase(self.step - 1),
               "clips_per_s": round(self.clips_log / dt, 2) if dt > 0 else None}
        self.files.log(row)
        if self.tb is not None:
            self.tb.add_scalar("train/loss", loss_avg, self.step)
            self.tb.add_scalar("train/lr", lr, self.step)
        if self.progress is not None and self.main:
            auc_s = "-" if self.last_auc is None else f"{self.last_auc:.3f}"
            self.progress.describe(f"finetune loss {loss_avg:.4f} val AUC {auc_s} {row['clips_per_s']} clips/s")
        self.t_log, self.clips_log = time.perf_counter(), 0

    def evaluate(self) -> dict:
        """Video-level val AUC through the scorer (rank 0), shared with every rank."""
        from .. import distributed as D
        from .freezing import apply_modes

        res = None
        if self.main:
            res = validate(self.model, self.plan.val, self.cfg, self.device)
            # the scorer runs channels_last_3d; training keeps its own layout, so a run computes the
            # same way before and after an evaluation (and after a resume)
            self.model.to(memory_format=_layout(self.device, self.pp))
            apply_modes(self.model, self.schedule, self.step)
        return D.broadcast(self.world, res)

    def evaluate_and_keep_best(self) -> None:
        """An evaluation, logged; best.pth on a better val AUC, or the same AUC with a lower val
        loss (small val sets tie often); early stopping watches the AUC alone."""
        res, step = self.evaluate(), self.step
        self.last_auc = res["auc"]
        self.history.append({"step": step, **res})
        self.files.log({"step": step, "val_auc": res["auc"], "val_loss": res["loss"], "val_videos": res["n"],
                        "val_failed": res["failed"]})
        if self.tb is not None and res["auc"] is not None:
            self.tb.add_scalar("val/auc", res["auc"], step)
            self.tb.add_scalar("val/loss", res["loss"], step)
        if self.main:
            self.log(f"step {step}: val AUC {_fmt(res['auc'])}, loss {_fmt(res['loss'])} "
                     f"({res['n']} videos{', ' + str(res['failed']) + ' failed' if res['failed'] else ''})")
        better_auc = res["auc"] is not None and (self.best_auc is None or res["auc"] > self.best_auc)
        lower_loss_tie = (res["auc"] is not None and res["auc"] == self.best_auc and res["loss"] is not None
                          and res["loss"] < (self.best_loss or math.inf))
        if better_auc or lower_loss_tie:
            self.best_auc, self.best_step, self.best_loss = res["auc"], step, res["loss"]
            self.files.save(self.files.best, checkpoint_object(self.model, {
                **self.provenance, "step": step, "val_auc": res["auc"], "val_loss": res["loss"],
                "threshold": res["threshold"], "threshold_from": "val (Youden's J, video level)"}), step)
        self.bad_evals = 0 if better_auc else self.bad_evals + 1
        if self.cfg.patience and self.bad_evals >= self.cfg.patience:
            self.stopped = True
        fault_point(f"after-eval:{step}")

    def save_last(self) -> None:
        self.files.save(self.files.last, checkpoint_object(self.model, {
            **self.provenance, "step": self.step, "val_auc": self.last_auc, "best_val_auc": self.best_auc},
            self.trainer_state()), self.step)
        self.write_run("running", self.step)

    def trainer_state(self) -> dict:
        """What ``--resume`` restores (last.pth's ``trainer``)."""
        import torch

        cuda = self.device.startswith("cuda")
        return {"step": self.step, "optimizer": self.opt.state_dict(), "best_auc": self.best_auc,
                "best_step": self.best_step, "best_loss": self.best_loss, "history": self.history,
                "bad_evals": self.bad_evals, "decode_failures": dict(self.decode_failures),
                "config": self.cfg.to_json(),
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state(self.device) if cuda else None}}

    def write_run(self, status: str, step: int) -> None:
        if self.main:
            write_json(self.files.run, {
                **self.run_info, "status": status, "steps_done": step, "best_step": self.best_step,
                "best_val_auc": self.best_auc, "last_val_auc": self.last_auc,
                "decode_failures": [{"video": k, "why": v} for k, v in self.decode_failures.items()],
                "evaluations": self.history, "seconds": round(time.perf_counter() - self.t_start, 1)})


def train_step(net, model, schedule, opt, batches, step: int, cfg, device: str = "cpu") -> float:
    """One optimiser step over ``batches`` (gradient accumulation) under the freezing schedule:
    ``batches`` hold uint8 clips ``(N, T, S, S, 3)`` (normalised here, on the device) or float
    ``(N, C, T, H, W)`` already normalised, with their labels;
    stage modes for ``step``, forward/backward (DDP syncs on the last micro-batch), gradients of
    the parameters frozen at ``step`` dropped, clipping, the learning rate for ``step``. Returns the loss."""
    import torch
    import torch.nn.functional as F

    from ..models.preprocess import normalise
    from .freezing import apply_modes, mask_gradients

    apply_modes(model, schedule, step)
    for g in opt.param_groups:
        g["lr"] = lr_at(step, cfg)
    dev_type = "cuda" if device.startswith("cuda") else "cpu"
    total = 0.0
    for a, (x, y) in enumerate(batches):
        x = x.to(device, non_blocking=True)
        if x.dtype == torch.uint8:                 # (N, T, S, S, 3) clips: normalised where the model is
            x = normalise(x, model.preprocess)
        if model.preprocess.input == "clip":
            x = x.contiguous(memory_format=_layout(device, model.preprocess))
        y = y.to(device=device, dtype=torch.float32)
        last = a == len(batches) - 1
        ctx = net.no_sync() if (not last and hasattr(net, "no_sync")) else contextlib.nullcontext()
        with ctx:
            with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                logits = net(x).float().squeeze(1)
            loss = F.binary_cross_entropy_with_logits(logits, y) / len(batches)
            loss.backward()
        total += float(loss.detach())
    mask_gradients(model, schedule, step)
    if cfg.clip_grad > 0:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], cfg.clip_grad)
    if isinstance(opt, AltOptimizers):
        opt.step(schedule.phase(step))             # the optimiser of the group this step trains
    else:
        opt.step()
    opt.zero_grad(set_to_none=True)
    return total


def validate(model, videos, cfg, device: str) -> dict:
    """Score the val videos the way ``score`` does (sparse windows, release tracking or the faces a
    video's label is true of, mean aggregation): video AUC, mean clip BCE and the Youden threshold
    on video scores."""
    import numpy as np

    from .. import metrics as M
    from ..scoring import ScoreSettings, score_videos

    model.eval()
    settings = ScoreSettings(mode="sparse", clips=cfg.val_clips, max_frames=cfg.max_frames, precision=cfg.precision)
    by_path = {v.path: v for v in videos}
    results, batch = score_videos(list(by_path), network=model, settings=settings, device=device,
                                  backend=cfg.face_backend, cache_dir=cfg.cache_dir,
                                  label_tracks={v.path: v.label_tracks for v in videos if v.label_tracks is not None})
    y = np.array([by_path[str(r.video)].label for r in results])
    s = np.array([r.score for r in results])
    clip_y = [by_path[str(r.video)].label for r in results for t in r.tracks for _ in t.clip_scores]
    clip_p = [c for r in results for t in r.tracks for c in t.clip_scores]
    two = len(set(y.tolist())) == 2
    return {"auc": round(M.auc(y, s), 6) if two else None,
            "loss": round(M.log_loss(clip_y, clip_p, eps=1e-7), 6) if clip_p else None,
            "threshold": M.youden_threshold(y, s) if two else None, "n": len(results), "failed": len(batch.failed)}


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _layout(device: str, pp):
    """Channels-last on CUDA (cuDNN's fast path: 3D for clip networks, 2D for frame ones),
    contiguous on CPU."""
    import torch

    from ..models.preprocess import memory_format

    return memory_format(pp) if device.startswith("cuda") else torch.contiguous_format


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise NotAvailableError("--tensorboard needs the tensorboard package (pip install tensorboard)") from None
    return SummaryWriter(str(out / "tensorboard"))
