"""``vcbench watch``'s configuration: defaults < TOML file < flags (config.resolve)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError


@dataclass(frozen=True)
class WatchConfig:
    SECTION = "watch"

    source: str                              # a file, /dev/videoN, a stream URL, or webrtc:FILE
    checkpoint: Path | None = None           # a vcbench best.pth (or run folder), or the official model.pth
    model: str | None = None                 # NAME=VALUE as benchmark's --model (instead of --checkpoint)
    threshold: float | None = None           # default: the checkpoint's own val threshold
    false_alarms_per_hour: float | None = None   # pick the threshold from --calibration for this budget
    calibration: str | None = None           # a benchmark --streaming run folder (RUN or RUN:MODEL)
    stride: int = 8                          # a window every `stride` frames of a face track
    smooth: int = 3                          # running score = mean of the last `smooth` windows
    events: Path | None = None               # JSONL, one line per window (and skip, alarm)
    summary: Path | None = None              # JSON summary (default: beside --events)
    video: Path | None = None                # the annotated stream
    realtime: bool = False                   # a file played at its frame rate (else as fast as possible)
    preset: str | None = None                # webrtc:FILE's call condition
    presets: Path | None = None
    seed: int = 0                            # webrtc:FILE's relay
    device: str = "auto"
    precision: str = "auto"
    face_backend: str = "mediapipe"
    detect_every: int = 1                    # run the face detector every N frames (landmarks carry between)
    max_seconds: float | None = None         # stop after this much of the stream
    stall: float = 5.0                       # seconds a live source may be silent (its first frame too)
    batch_size: int = 8                      # windows per forward pass when several are waiting
    queue: int | None = None                 # windows waiting to be scored (default 2 live, 4 from a file);
                                             # live, a newer window replaces the oldest

    @property
    def summary_path(self) -> Path | None:
        """Where the summary goes: --summary, else beside --events."""
        return self.summary or (Path(self.events).with_suffix(".summary.json") if self.events else None)

    @property
    def source_file(self) -> Path | None:
        """The file the source reads, if it is one (a video, webrtc:FILE's video)."""
        if self.source.startswith("webrtc:"):
            return Path(self.source[len("webrtc:"):])
        return None if "://" in self.source or self.source.startswith("/dev/") else Path(self.source)

    def __post_init__(self):
        if (self.checkpoint is None) == (self.model is None):
            raise ConfigError("watch needs exactly one of --checkpoint FILE or --model NAME=VALUE")
        for key in ("stride", "smooth", "detect_every", "batch_size", "queue"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold must be a probability in [0, 1], got {self.threshold}")
        if self.false_alarms_per_hour is not None:
            if self.threshold is not None:
                raise ConfigError("give --threshold or --false-alarms-per-hour, not both")
            if self.calibration is None:
                raise ConfigError("--false-alarms-per-hour picks the threshold from a calibration run: add "
                                  "--calibration RUN (a 'benchmark --streaming' run folder)")
            if not 0 <= self.false_alarms_per_hour < math.inf:
                raise ConfigError(f"false_alarms_per_hour must be a finite number >= 0, got {self.false_alarms_per_hour}")
        elif self.calibration is not None:
            raise ConfigError("--calibration RUN picks the threshold for a false-alarm budget: add "
                              "--false-alarms-per-hour F (or drop --calibration)")
        if self.source.startswith("webrtc:") and not self.preset:
            raise ConfigError("webrtc:FILE needs --preset P (the call condition the call runs under)")
        if self.preset and not self.source.startswith("webrtc:"):
            raise ConfigError(f"--preset {self.preset}: a call condition applies to webrtc:FILE (a real call of "
                              f"the file); {self.source} is watched as it arrives (run 'vcbench simulate' first to "
                              "watch a modelled call)")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"max_seconds must be > 0, got {self.max_seconds}")
        if not 0 < self.stall < math.inf:
            raise ConfigError(f"stall must be a finite number of seconds > 0, got {self.stall}")
        if self.video is not None and Path(self.video).suffix.lower() not in (".mp4", ".mkv", ".webm"):
            raise ConfigError(f"{self.video}: the annotated stream is written as .mp4, .mkv or .webm")
