"""``vcbench explain``'s configuration: defaults < TOML file < flags (config.resolve)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError


@dataclass(frozen=True)
class ExplainConfig:
    SECTION = "explain"

    videos: tuple[Path, ...]
    out: Path = Path("explain")
    checkpoint: Path | None = None           # a vcbench best.pth (or run folder), or a release's file
    model: str | None = None                 # NAME=VALUE as benchmark's --model (instead of --checkpoint)
    method: str = "gradcam"                  # gradcam | gradcam++
    layer: str | None = None                 # default: the network's last convolutional map ("features")
    mode: str = "dense"                      # dense: every window of every face; sparse: --clips per face
    clips: int | None = None
    video: bool = False                      # also the annotated score video
    still: int | None = None                 # with video: also this frame of it as a PNG
    threshold: float | None = None           # the line on the timeline (default: the checkpoint's own, else 0.5)
    smooth: int = 3                          # running score on the video: mean of the last N windows
    map_size: int = 56                       # maps are stored at this many pixels a side
    batch_size: int = 4
    device: str = "auto"
    face_backend: str = "mediapipe"
    max_frames: int = 400
    cache_dir: Path | None = None

    def __post_init__(self):
        from ..models.cam import CAM_METHODS

        if (self.checkpoint is None) == (self.model is None):
            raise ConfigError("explain needs exactly one of --checkpoint FILE or --model NAME=VALUE")
        if self.method not in CAM_METHODS:
            raise ConfigError(f"method must be one of {', '.join(CAM_METHODS)}, got {self.method!r}")
        if self.mode not in ("dense", "sparse"):
            raise ConfigError(f"mode must be dense or sparse, got {self.mode!r}")
        for key in ("smooth", "map_size", "batch_size", "max_frames"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold must be a probability in [0, 1], got {self.threshold}")
        if self.still is not None and (self.still < 0 or not self.video):
            raise ConfigError("still names a frame (>= 0) of the annotated video: it needs --video")
        if not self.videos:
            raise ConfigError("explain needs at least one video")
