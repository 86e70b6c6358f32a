"""``vcbench benchmark``'s configuration: defaults < TOML file < flags (config.resolve)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import (CACHE_DIR, DATASETS, DEVICE, ENGINE, FACE_BACKEND, FFMPEG, MAX_FRAMES, PRESETS, SHARD, Engine, Mode,
                      Precision, Split, check_choices, option)
from ..errors import ConfigError


@dataclass(frozen=True)
class BenchmarkConfig:
    SECTION = "benchmark"

    model: tuple[str, ...] = option(
        (), "NAME=CHECKPOINT, NAME=runs/x/best.pth, NAME=untrained, NAME=detector.py, chance or a plug-in; repeatable.",
        multiple=True)
    dataset: tuple[str, ...] = option((), "Dataset name from datasets.toml; repeatable.", multiple=True)
    out: Path | None = option(None, "Run folder: predictions.csv, results.json (re-running resumes).", file_okay=False)
    preset: tuple[str, ...] = option(("clean",), "Comma-separated call conditions, applied to reals and fakes alike.")
    presets: Path | None = PRESETS()
    engine: Engine = ENGINE()
    split: Split = option("test", "Evaluated split (thresholds come from val).")
    mode: Mode = option("sparse", "dense: every window of every face track; sparse: --clips evenly spaced windows.")
    clips: int | None = option(None, "Windows per track in sparse mode (default 4).", min=1)
    precision: Precision = option("auto", "auto: bf16 autocast where the device runs it natively, else fp32 (resolved "
                                          "in results.json).")
    device: str = DEVICE()
    shard: str = SHARD()
    seed: int = option(0, "Renditions, bootstrap, chance.")
    bootstrap: int = option(1000, "Resamples for 95 % intervals.", min=0)
    max_frames: int = MAX_FRAMES()
    face_backend: str = FACE_BACKEND()
    cache_dir: Path | None = CACHE_DIR()
    datasets: Path | None = DATASETS()
    ffmpeg: str | None = FFMPEG()
    detector_timeout: float = option(600.0, "Seconds per video a .py detector may take; one that hangs is stopped and "
                                            "its videos fail.", min=0, min_open=True)
    overlap: Literal["exclude", "flag"] = option(
        "exclude", "Test/val videos a model trained on, or showing a person or clip it trained on: left out of its "
                   "cells (exclude) or kept and counted (flag); each cell says how many and why.")
    compare: tuple[str, ...] = option(
        (), "A:B, two models to compare per cell (clustered paired bootstrap, Holm-adjusted); repeatable (default: "
            "every model against the first).", multiple=True)
    streaming: bool = option(False, "Keep every window's score (dense, every face) and report time to alarm: seconds "
                                    "until a fake raises the alarm, false alarms per hour of reals (windows.jsonl; "
                                    "implies --mode dense).")
    stride: int = option(8, "Streaming: a window every STRIDE frames of a face track (as vcbench watch scores).", min=1)
    smooth: int = option(3, "Streaming: the running score is the mean of the last SMOOTH windows.", min=1)
    false_alarms_per_hour: float = option(1.0, "Streaming: the threshold is the lowest whose val reals stay within this "
                                               "budget.", min=0)
    explain: int = option(0, "After scoring: Grad-CAM maps and strips of the N most confident hits and misses of every "
                             "cell (network detectors) under OUT/explain/; the report shows them.", min=0,
                          show_default=False)
    merge: tuple[Path, ...] = option((), "Merge the predictions of shard run folders into --out and compute the "
                                         "results.", multiple=True, file_okay=False)

    def __post_init__(self):
        from ..runtime import parse_shard

        check_choices(self)
        if not self.detector_timeout > 0:
            raise ConfigError(f"detector_timeout must be > 0 seconds, got {self.detector_timeout}")
        if self.streaming:                     # a stream scores every window: --streaming implies dense
            object.__setattr__(self, "mode", "dense")
        if not self.false_alarms_per_hour >= 0:
            raise ConfigError(f"false_alarms_per_hour must be >= 0, got {self.false_alarms_per_hour}")
        if self.explain < 0:
            raise ConfigError(f"explain must be >= 0 (videos per cell and kind), got {self.explain}")
        for key in ("clips", "max_frames", "stride", "smooth"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")

        if self.out is None:
            raise ConfigError("benchmark needs --out (the run folder" + (", where the merged run goes)" if self.merge
                                                                          else ")"))
        if not self.model and not self.merge:
            raise ConfigError("benchmark needs at least one --model")
        if not self.dataset and not self.merge:
            raise ConfigError("benchmark needs at least one --dataset")
        if self.compare and not self.merge:          # refused now, not after every video is scored
            from ..detectors.base import parse_spec
            from .results import compare_pairs

            compare_pairs(self.compare, [parse_spec(m)[0] for m in self.model])
        if self.bootstrap < 0:
            raise ConfigError("bootstrap must be >= 0")
        parse_shard(self.shard)

    def identity(self) -> dict:
        """What must match for a re-run to reuse predictions in the same --out."""
        extra = {"engine": self.engine} if self.engine != "ffmpeg" else {}   # older runs name no engine
        if self.streaming:                     # another scoring pass: every window of every face
            extra["streaming"] = True
        return {"preset": list(self.preset), **extra, "split": self.split, "mode": self.mode, "clips": self.clips,
                "precision": self.precision, "seed": self.seed, "max_frames": self.max_frames,
                "face_backend": self.face_backend}
