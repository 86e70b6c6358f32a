"""``vcbench finetune``'s configuration: a frozen dataclass; defaults < TOML file < flags.

Field names are the flag names (``--batch-size`` is ``batch_size``), so a run.toml, the
command line and run.json all speak one vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

FREEZINGS = ("alternate", "none", "head", "gradual")
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class FinetuneConfig:
    SECTION = "finetune"

    train: tuple[str, ...]                 # dataset names in datasets.toml (their train splits mix)
    out: Path                              # run folder: last.pth, best.pth, metrics.jsonl, run.json
    val: str | None = None                 # dataset whose val split validates (default: the train datasets')
    model: str = "altfreezing"
    checkpoint: Path | None = None         # initial weights (any AltFreezing format); none = seeded init
    freezing: str = "alternate"            # alternate | none | head | gradual
    # alternate freezing (reference/altfreezing.md: switch frequency 20; DeepfakeBench gives the 20
    # iterations to the temporal group and 1 to the spatial group)
    alt_temporal_steps: int = 20
    alt_spatial_steps: int = 1
    alt_first: str = "temporal"            # which group the run starts with
    alt_optimizers: str = "one"            # one (masked gradients, one momentum) | two (the release's optimizer.py)
    gradual_every: int = 100               # gradual: unfreeze one more stage (head down) every N steps
    steps: int = 1000
    batch_size: int = 8                    # clips per step and process (before accumulation)
    accumulate: int = 1                    # micro-batches per optimiser step
    optimizer: str = "sgd"                 # sgd (the paper's, momentum 0.9) | adamw
    lr: float = 0.01
    weight_decay: float = 1e-4
    warmup_steps: int = 50                 # linear warm-up from lr/10, then cosine to 0
    clip_grad: float = 5.0                 # max gradient norm (0: off)
    precision: str = "fp32"                # fp32 | bf16 (autocast; default on CUDA is still fp32)
    save_every: int = 100
    eval_every: int = 100
    patience: int = 0                      # early stopping: evaluations without a better val AUC (0: off)
    seed: int = 0
    augment: str = "call"                  # call (presets + online) | online | none
    aug_preset: tuple[str, ...] = ("zoom-360p", "teams-540p", "webrtc-vp8-360p", "lossy-180p")
    aug_preset_p: float = 0.5              # probability a clip comes from a call-condition rendition
    aug_seeds: int = 1                     # renditions per (video, preset): more seeds, more variety, more disk
    presets: Path | None = None            # extra presets TOML
    val_clips: int = 4                     # windows per track when validating (sparse, as the benchmark)
    max_frames: int = 400                  # the release reads the first 400 frames
    workers: int = 1                       # DataLoader worker processes (0: decode in the training process)
    clips_per_track: int = 16              # windows cut from one decode of a track (1: every clip on its own)
    resume: bool = False
    device: str = "auto"
    face_backend: str = "mediapipe"
    cache_dir: Path | None = None          # face-track cache
    datasets: Path | None = None           # datasets.toml
    ffmpeg: str | None = None
    tensorboard: bool = False
    log_every: int = 10

    def __post_init__(self):
        if not self.train:
            raise ConfigError("finetune needs at least one --train dataset")
        checks = [("freezing", self.freezing, FREEZINGS), ("optimizer", self.optimizer, OPTIMIZERS),
                  ("precision", self.precision, ("fp32", "bf16")), ("augment", self.augment, ("call", "online", "none")),
                  ("alt_first", self.alt_first, ("temporal", "spatial")),
                  ("alt_optimizers", self.alt_optimizers, ("one", "two"))]
        for key, value, allowed in checks:
            if value not in allowed:
                from ..registry import suggest

                hint = suggest(value, list(allowed))
                raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {value!r}"
                                  + (f"; did you mean {hint[0]!r}?" if hint else ""))
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
