"""``vcbench explain``'s configuration: defaults < TOML file < flags (config.resolve)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import CACHE_DIR, DEVICE, FACE_BACKEND, MAX_FRAMES, CamMethod, Mode, check_choices, option
from ..errors import ConfigError


@dataclass(frozen=True)
class ExplainConfig:
    SECTION = "explain"

    videos: tuple[Path, ...] = option(help="The videos to explain.", cli=False)     # the arguments
    out: Path = option(Path("explain"), "Folder for <video>.npz, the PNG strips, the videos and explain.json.",
                       short="-o", file_okay=False)
    checkpoint: Path | None = option(None, "A vcbench best.pth (or its run folder), or a release's weights file.")
    model: str | None = option(None, "Instead of --checkpoint: NAME=VALUE as benchmark's --model (a network).")
    method: CamMethod = option("gradcam", "Spatio-temporal Grad-CAM or Grad-CAM++ of the fake logit.")
    layer: str | None = option(None, "The activation to explain: 'features' (default: the network's last "
                                     "convolutional map, res5 for AltFreezing) or a module name (resnet.s4).")
    mode: Mode = option("dense", "dense: every window of every face (every frame for frame detectors); sparse: "
                                 "--clips per face (frame detectors: the frames they sample).")
    clips: int | None = option(None, "Windows per face in sparse mode (default 4).", min=1)
    video: bool = option(False, "Also write <video>.explained.mp4: boxes coloured by the running score, the heatmap, "
                                "the score timeline with the call's events.")
    still: int | None = option(None, "With --video: also write frame N of the annotated video as "
                                     "<video>.explained.frameN.png.", min=0)
    threshold: float | None = option(None, "The timeline's threshold line (default: the checkpoint's own val threshold, "
                                           "else 0.5).", min=0, max=1)
    smooth: int = option(3, "Running score on the video: the mean of the last SMOOTH windows.", min=1)
    map_size: int = 56                       # maps are stored at this many pixels a side
    batch_size: int = 4
    device: str = DEVICE()
    face_backend: str = FACE_BACKEND()
    max_frames: int = MAX_FRAMES()
    cache_dir: Path | None = CACHE_DIR()

    def __post_init__(self):
        if (self.checkpoint is None) == (self.model is None):
            raise ConfigError("explain needs exactly one of --checkpoint FILE or --model NAME=VALUE")
        check_choices(self)
        for key in ("smooth", "map_size", "batch_size", "max_frames"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold must be a probability in [0, 1], got {self.threshold}")
        if self.still is not None and (self.still < 0 or not self.video):
            raise ConfigError("still names a frame (>= 0) of the annotated video: it needs --video")
        if not self.videos:
            raise ConfigError("explain needs at least one video")
