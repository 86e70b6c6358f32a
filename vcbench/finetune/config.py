"""``vcbench finetune``'s configuration: a frozen dataclass; defaults < TOML file < flags.

Field names are the flag names (``--batch-size`` is ``batch_size``), so a run.toml, the
command line and run.json all speak one vocabulary.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import CACHE_DIR, DATASETS, DEVICE, FACE_BACKEND, FFMPEG, MAX_FRAMES, check_choices, option
from ..errors import ConfigError

Freezing = Literal["alternate", "none", "head", "gradual"]
Optimizer = Literal["sgd", "adamw"]
FREEZINGS = typing.get_args(Freezing)
OPTIMIZERS = typing.get_args(Optimizer)


@dataclass(frozen=True)
class FinetuneConfig:
    SECTION = "finetune"

    train: tuple[str, ...] = option(help="Dataset name (datasets.toml); repeatable, their train splits mix.",
                                    multiple=True)
    out: Path = option(help="Run folder: last.pth, best.pth, metrics.jsonl, run.json.", file_okay=False)
    val: str | None = option(None, "Dataset whose val split validates (default: the --train datasets').")
    model: str = option("altfreezing", "The architecture to fine-tune: altfreezing | altfreezing-small | "
                                       "altfreezing-tiny | any registered network.", flag=("--model", "--arch"))
    checkpoint: Path | None = option(None, "Initial weights (official AltFreezing, CS229 or vcbench format); default: "
                                           "seeded init.", dir_okay=False)
    freezing: Freezing = option("alternate", "alternate | none | head | gradual.")
    # alternate freezing (reference/altfreezing.md: switch frequency 20; DeepfakeBench gives the 20
    # iterations to the temporal group and 1 to the spatial group)
    alt_temporal_steps: int = option(20, "alternate: steps training the temporal kernels per cycle.", min=1)
    alt_spatial_steps: int = option(1, "alternate: steps training the spatial kernels per cycle.", min=1)
    alt_first: Literal["temporal", "spatial"] = "temporal"      # which group the run starts with
    alt_optimizers: Literal["one", "two"] = option(
        "one", "alternate: one optimiser with masked gradients (an approximation: shared parameters keep one momentum), "
               "or two as released (temporal and spatial, each with its own momentum).")
    gradual_every: int = option(100, "gradual: unfreeze one more stage (head down) every N steps.", min=1)
    steps: int = option(1000, "Optimiser steps.", min=1)
    batch_size: int = option(8, "Clips per step and process (before accumulation).", min=1)
    accumulate: int = option(1, "Micro-batches per optimiser step.", min=1)
    optimizer: Optimizer = option("sgd", "sgd (the paper's, momentum 0.9) | adamw.")
    lr: float = option(0.01, "Peak learning rate (warm-up, then cosine).", min=0, min_open=True)
    weight_decay: float = 1e-4
    warmup_steps: int = 50                 # linear warm-up from lr/10, then cosine to 0
    clip_grad: float = 5.0                 # max gradient norm (0: off)
    precision: Literal["fp32", "bf16"] = option("fp32", "bf16: autocast (the default on CUDA is still fp32).")
    save_every: int = option(100, "Write last.pth every N steps.", min=1)
    eval_every: int = option(100, "Validate (video-level AUC) every N steps; best.pth keeps the best.", min=1)
    patience: int = option(0, "Stop after N evaluations without a better val AUC (0: never).", min=0)
    seed: int = option(0, "Initialisation, data order, augmentation.")
    augment: Literal["call", "online", "none"] = option("call", "call (call-condition renditions + online) | online | "
                                                                "none.")
    aug_preset: tuple[str, ...] = option(("zoom-360p", "teams-540p", "webrtc-vp8-360p", "lossy-180p"),
                                         "Comma-separated presets clips may be drawn under (--augment call).")
    aug_preset_p: float = 0.5              # probability a clip comes from a call-condition rendition
    aug_seeds: int = 1                     # renditions per (video, preset): more seeds, more variety, more disk
    presets: Path | None = option(None, cli=False)  # extra presets TOML
    val_clips: int = 4                     # windows per track when validating (sparse, as the benchmark)
    max_frames: int = MAX_FRAMES()
    workers: int = option(1, "DataLoader worker processes (0: decode in the training process).", min=0)
    clips_per_track: int = option(16, "Windows cut from one decode of a face track (1: every clip decoded on its own).",
                                  min=1)
    resume: bool = option(False, "Continue the run in --out from its last.pth (exactly).")
    device: str = DEVICE()
    face_backend: str = FACE_BACKEND()
    cache_dir: Path | None = CACHE_DIR()
    datasets: Path | None = DATASETS()
    ffmpeg: str | None = FFMPEG()
    tensorboard: bool = option(False, "Also log to --out/tensorboard.")
    log_every: int = 10

    def __post_init__(self):
        if not self.train:
            raise ConfigError("finetune needs at least one --train dataset")
        check_choices(self)
        if self.alt_optimizers == "two" and self.freezing != "alternate":
            raise ConfigError(f"alt_optimizers 'two' steps a temporal and a spatial optimiser in turn: it needs "
                              f"freezing 'alternate', not {self.freezing!r}")
        for key in ("steps", "batch_size", "accumulate", "save_every", "eval_every", "alt_temporal_steps",
                    "alt_spatial_steps", "gradual_every", "aug_seeds", "val_clips", "log_every", "max_frames",
                    "clips_per_track"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("warmup_steps", "patience", "workers"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.aug_preset_p <= 1:
            raise ConfigError(f"aug_preset_p must be in [0, 1], got {self.aug_preset_p}")
        from ..models import NETWORKS

        NETWORKS.entry(self.model)            # unknown model: "did you mean"
        from ..models.archs import ARCHS

        if self.freezing not in ARCHS[self.model].freezings:
            raise ConfigError(f"freezing {self.freezing!r} needs a network with split spatial and temporal kernels; "
                              f"{self.model!r} takes {', '.join(ARCHS[self.model].freezings)}")
        if self.augment == "call":
            self.load_aug_presets()

    def load_aug_presets(self) -> list:
        from ..conference.presets import load_presets
        from ..registry import lookup

        available = load_presets(self.presets)
        return [lookup("preset", name, available) for name in self.aug_preset if name != "clean"]

    def policy(self):
        """The augmentation policy this config asks for (``augment``, its presets and probability)."""
        from .augment import make_policy

        presets = tuple(p.name for p in self.load_aug_presets()) if self.augment == "call" else ()
        return make_policy(self.augment, presets, self.aug_preset_p, self.aug_seeds)

    #: what may change between a run and its --resume (everything else must match)
    RESUMABLE = frozenset({"steps", "resume", "device", "workers", "save_every", "eval_every",
                           "patience", "tensorboard", "log_every", "cache_dir", "datasets", "ffmpeg", "out"})

    def to_json(self) -> dict:
        from ..config import to_json

        return to_json(self)
