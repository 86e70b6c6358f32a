"""``vcbench benchmark``'s configuration: defaults < TOML file < flags (config.resolve)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError


@dataclass(frozen=True)
class BenchmarkConfig:
    SECTION = "benchmark"

    model: tuple[str, ...] = ()            # NAME[=checkpoint|run/best.pth|detector.py], or a registered name
    dataset: tuple[str, ...] = ()          # names in datasets.toml
    out: Path | None = None                # run folder: predictions.csv, results.json
    preset: tuple[str, ...] = ("clean",)   # call conditions, applied to reals and fakes alike
    presets: Path | None = None            # extra presets TOML
    engine: str = "ffmpeg"                 # ffmpeg (modelled call) | webrtc (real libwebrtc call) for the presets
    split: str = "test"                    # evaluated split; thresholds come from "val"
    mode: str = "sparse"                   # dense | sparse (clip windows per track)
    clips: int | None = None               # windows per track in sparse mode (default 4)
    precision: str = "auto"                # auto | fp32 | bf16; resolved per device before anything runs
    device: str = "auto"
    shard: str = "0/1"
    seed: int = 0                          # renditions, bootstrap, the chance detector
    bootstrap: int = 1000                  # resamples for the 95 % intervals
    max_frames: int = 400
    face_backend: str = "mediapipe"
    cache_dir: Path | None = None
    datasets: Path | None = None           # datasets.toml
    ffmpeg: str | None = None
    detector_timeout: float = 600.0        # seconds per video a .py detector may take before it is stopped
    overlap: str = "exclude"               # exclude | flag: test videos a model trained on (decided in results)
    compare: tuple[str, ...] = ()          # A:B model pairs to compare (default: each against the first)
    streaming: bool = False                # keep every window's score (dense, every face): time to alarm
    stride: int = 8                        # streaming: a window every `stride` frames of a track
    smooth: int = 3                        # streaming: running score = mean of the last `smooth` windows
    false_alarms_per_hour: float = 1.0     # streaming: the val reals' false-alarm budget that picks the threshold
    explain: int = 0                       # after scoring: Grad-CAM of the N most confident hits and misses per cell
    merge: tuple[Path, ...] = ()           # instead of scoring: merge these shard run folders into `out`

    def __post_init__(self):
        from ..runtime import parse_shard

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
        if self.split not in ("train", "val", "test"):
            raise ConfigError(f"split must be train, val or test, got {self.split!r}")
        if self.mode not in ("dense", "sparse"):
            raise ConfigError(f"mode must be dense or sparse, got {self.mode!r}")
        from ..conference.engines import ENGINES

        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.bootstrap < 0:
            raise ConfigError("bootstrap must be >= 0")
        from .overlap import check_mode

        check_mode(self.overlap)
        parse_shard(self.shard)

    def identity(self) -> dict:
        """What must match for a re-run to reuse predictions in the same --out."""
        extra = {"engine": self.engine} if self.engine != "ffmpeg" else {}   # older runs name no engine
        if self.streaming:                     # another scoring pass: every window of every face
            extra["streaming"] = True
        return {"preset": list(self.preset), **extra, "split": self.split, "mode": self.mode, "clips": self.clips,
                "precision": self.precision, "seed": self.seed, "max_frames": self.max_frames,
                "face_backend": self.face_backend}
