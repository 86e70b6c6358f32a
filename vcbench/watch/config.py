"""``vcbench watch``'s configuration: defaults < TOML file < flags (config.resolve)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..config import DEVICE, FACE_BACKEND, PRESETS, Precision, check_choices, option
from ..errors import ConfigError


@dataclass(frozen=True)
class WatchConfig:
    SECTION = "watch"

    source: str = option(help="A file, /dev/videoN, a stream URL or webrtc:FILE.", cli=False)   # the argument
    checkpoint: Path | None = option(None, "A vcbench best.pth (or its run folder), or the official AltFreezing "
                                           "model.pth.")
    model: str | None = option(None, "Instead of --checkpoint: NAME=VALUE as benchmark's --model (a network with "
                                     "weights, or a plug-in detector that scores windows).")
    threshold: float | None = option(None, "Alarm when the running score reaches this (default: the checkpoint's own "
                                           "val threshold).", min=0, max=1)
    false_alarms_per_hour: float | None = option(None, "Instead: the lowest threshold whose val reals in "
                                                       "--calibration raise at most this many alarms per hour.", min=0)
    calibration: str | None = option(None, "A 'benchmark --streaming' run folder (RUN or RUN:MODEL).")
    stride: int = option(8, "Score a window every STRIDE frames of each face track.", min=1)
    smooth: int = option(3, "Running score: the mean of the last SMOOTH windows.", min=1)
    events: Path | None = option(None, "JSONL: one line per scored (or skipped) window; the summary goes beside it.",
                                 dir_okay=False)
    summary: Path | None = option(None, "Summary JSON (default: EVENTS with .summary.json).", dir_okay=False)
    video: Path | None = option(None, "Write the annotated stream (.mp4, .mkv or .webm): boxes, running scores, "
                                      "alarms.", dir_okay=False)
    realtime: bool = option(False, "Play a file at its frame rate, as a call delivers it (frames the watch cannot keep "
                                   "up with are dropped); default: as fast as possible.")
    preset: str | None = option(None, "webrtc:FILE's call condition.")
    presets: Path | None = PRESETS()
    seed: int = option(0, "webrtc:FILE's relay (losses, jitter).")
    device: str = DEVICE()
    precision: Precision = option("auto", "auto: bf16 autocast where the device runs it natively, else fp32.")
    face_backend: str = FACE_BACKEND()
    detect_every: int = option(1, "Run the face detector every N frames (the landmark tracker carries the boxes "
                                  "between).", min=1)
    max_seconds: float | None = option(None, "Stop after this many seconds of the stream.", min=0, min_open=True)
    stall: float = option(5.0, "A live source that sends no frame for this many seconds ends the watch.", min=0,
                          min_open=True)
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
        check_choices(self)
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
