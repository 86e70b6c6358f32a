"""``vcbench generate``'s configuration: a frozen dataclass; defaults < TOML file < flags."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError


#: master encodes (``target.master_codec_args``): vcbench's plain x264, or Deep-Live-Cam's
MASTERS = ("vcbench", "dlc")


@dataclass(frozen=True)
class GenerateConfig:
    SECTION = "generate"

    source: Path                          # image/video file, or a folder of them (a subfolder = one identity)
    target: Path                          # video file, or a folder of videos (a subfolder = one identity)
    out: Path                             # dataset folder
    swapper: str = "mesh"                 # mesh (offline) | inswapper
    swapper_model: Path | None = None     # inswapper_128.onnx (default: searched)
    arcface: str = "buffalo_l"            # insightface pack or .onnx for identity embeddings
    face_backend: str = "auto"            # auto: insightface pack for inswapper when present, else mediapipe
    select: str = "leftmost"              # leftmost | largest | all (Deep-Live-Cam's --many-faces)
    map: tuple[str, ...] = ()             # SOURCE=TARGET_ID: a source per face identity (Deep-Live-Cam's map-faces)
    timing: str = "live"                  # live | video | exact: which frame's detection is pasted (timing.py)
    mouth_mask: bool = False              # inswapper: keep the target's mouth (Deep-Live-Cam's mouth mask)
    mouth_mask_size: float = 0.0          # its 0-100 slider (0: lip outline; 100: mouth to chin)
    enhancer: str | None = None           # gfpgan | gpen256 | gpen512 (Deep-Live-Cam's face enhancers)
    enhancer_model: Path | None = None    # the enhancer's .onnx (default: searched by its file name)
    color: bool = False                   # inswapper: LAB colour transfer (mesh always does it)
    poisson: bool = False                 # inswapper: Poisson blend (mesh: blend="poisson" by default)
    preset: tuple[str, ...] = ("clean",)   # call conditions, in order
    presets: Path | None = None           # extra presets TOML
    engine: str = "ffmpeg"                # ffmpeg (modelled call) | webrtc (real libwebrtc call) for the presets
    pairs: int | None = None              # draw N (source, target) pairs instead of all
    pairs_file: Path | None = None        # an explicit source,target list (checked against the splits)
    match: str | None = None              # "gender": a source only onto a target of its predicted gender
    genderage: str | None = None          # --match gender's model: a .onnx, or a pack (default: --arcface's)
    seed: int = 0
    self_swap: bool = False
    split: str | None = None              # put every identity in this split instead of drawing
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    max_frames: int | None = None
    every: int = 1                        # face detector every N frames, tracking between
    min_face_fraction: float = 0.5        # a target whose face is found in fewer frames is skipped
    max_gap: float = 2.0                  # ... or whose face is missing for longer at a stretch
    min_swapped: float = 0.5              # a fake with fewer swapped frames is a failure, never a label-1 row
    crf: int = 18                         # master encode (x264 CRF, Deep-Live-Cam's output setting)
    master: str = "vcbench"               # vcbench | dlc (+ -tune film, bt601 -> bt709: Deep-Live-Cam's encode)
    shard: str = "0/1"
    ffmpeg: str | None = None
    cache_dir: Path | None = None         # face-track cache (default ~/.cache/vcbench/faces)
    note: str | None = None               # a line every later stage repeats where this dataset's numbers appear
    plan: bool = False                    # write OUT/plan.csv (pairs, identities, splits) and stop

    def load_presets(self) -> list:
        """The chosen presets, in order (unknown names answer with "did you mean")."""
        from ..registry import lookup
        from ..conference.presets import load_presets

        if not self.preset:
            raise ConfigError("no preset given (use --preset clean for unprocessed videos)")
        available = load_presets(self.presets)
        return [lookup("preset", name, available) for name in self.preset]

    #: the options that decide the bytes of a video, quality file or split already in ``--out``: a
    #: re-run with another value would mix two datasets in one, so it is refused naming the key.
    #: Not here: what only adds or leaves out items (sources, targets, pairs, self_swap, the
    #: skip thresholds), where files go (cache_dir), and how the work is spread (shard, ffmpeg).
    #: Presets are compared per name, by their settings' digest (a new preset is welcome).
    IDENTITY = ("swapper", "swapper_model", "arcface", "face_backend", "select", "map", "timing", "mouth_mask",
                "mouth_mask_size", "enhancer", "enhancer_model", "color", "poisson", "engine", "seed", "split",
                "val_fraction", "test_fraction", "max_frames", "every", "crf", "master")

    def identity(self) -> dict[str, Any]:
        js = self.to_json()
        return {k: js[k] for k in self.IDENTITY}

    def to_json(self) -> dict[str, Any]:
        from ..config import to_json

        return to_json(self)

    def __post_init__(self):
        if self.split is not None and self.split not in ("train", "val", "test"):
            raise ConfigError(f"split must be train, val or test, got {self.split!r}")
        if not (0 <= self.val_fraction and 0 <= self.test_fraction and self.val_fraction + self.test_fraction < 1):
            raise ConfigError("val_fraction and test_fraction must be >= 0 and sum to less than 1")
        if self.pairs is not None and self.pairs < 1:
            raise ConfigError(f"pairs must be >= 1, got {self.pairs}")
        if self.match not in (None, "gender"):
            raise ConfigError(f"match must be 'gender' (or left out), got {self.match!r}")
        if not 0 <= self.mouth_mask_size <= 100:
            raise ConfigError(f"mouth_mask_size must be within 0-100, got {self.mouth_mask_size:g}")
        if not 0 <= self.min_swapped <= 1:
            raise ConfigError(f"min_swapped must be within 0-1, got {self.min_swapped:g}")
        if self.every < 1:
            raise ConfigError(f"every must be >= 1, got {self.every}")
        # names are checked before any file is read, so a typo fails at once with "did you mean"
        from ..faces import BACKENDS
        from ..runtime import parse_shard
        from .swap import SWAPPERS
        from .swap.base import SELECTIONS

        SWAPPERS.entry(self.swapper)
        if self.enhancer is not None:
            from .enhance import ENHANCERS

            ENHANCERS.entry(self.enhancer)
        if self.face_backend != "auto":
            BACKENDS.entry(self.face_backend)
        self.load_presets()
        if self.select not in SELECTIONS:
            raise ConfigError(f"select must be one of {', '.join(SELECTIONS)}, got {self.select!r}")
        from .timing import TIMINGS

        from .mapping import parse_map

        parse_map(self.map)
        from ..conference.engines import ENGINES

        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.master not in MASTERS:
            raise ConfigError(f"master must be one of {', '.join(MASTERS)}, got {self.master!r}")

        if self.timing not in TIMINGS:
            raise ConfigError(f"timing must be one of {', '.join(TIMINGS)}, got {self.timing!r}")
        parse_shard(self.shard)


def resolve_config(file: Path | None = None, **flags: Any) -> GenerateConfig:
    """Defaults < ``file`` (TOML with the same keys, paths relative to it) < ``flags``
    (pass only flags the user actually gave)."""
    from ..config import resolve

    return resolve(GenerateConfig, file, **flags)
