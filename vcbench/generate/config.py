"""``vcbench generate``'s configuration: a frozen dataclass; defaults < TOML file < flags."""
from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config import (CACHE_DIR, ENGINE, FACE_BACKEND, FFMPEG, MAX_FRAMES, PRESETS, SHARD, Engine, Selection, Split,
                      check_choices, option)
from ..errors import ConfigError
from .timing import Timing


#: master encodes (``target.master_codec_args``): vcbench's plain x264, or Deep-Live-Cam's
Master = Literal["vcbench", "dlc"]
MASTERS = typing.get_args(Master)


@dataclass(frozen=True)
class GenerateConfig:
    SECTION = "generate"

    source: Path = option(help="Source identity image/video, or a folder of them (a subfolder = one identity).")
    target: Path = option(help="Target video, or a folder of videos (a subfolder = one identity).")
    out: Path = option(help="Dataset folder to write.", file_okay=False)
    swapper: str = option("mesh", "mesh (offline) or inswapper.")
    swapper_model: Path | None = option(None, "inswapper_128.onnx (default: searched in ~/.insightface/models and "
                                              "./models).", dir_okay=False)
    arcface: str = option("buffalo_l", "insightface pack (or ArcFace .onnx) for identity embeddings.")
    face_backend: str = FACE_BACKEND("auto")
    select: Selection = option("leftmost", "Faces to swap: leftmost, largest or all (Deep-Live-Cam's --many-faces).")
    map: tuple[str, ...] = option(
        (), "SOURCE=TARGET_ID,...: a source per face identity of each target (Deep-Live-Cam's map-faces). Identities "
            "are found by ArcFace embedding and numbered left to right from 0; each target gets one fake with every "
            "mapped source; other faces stay real. Replaces --select.")
    timing: Timing = option("live", "Which frame's detection is pasted: live = Deep-Live-Cam's webcam loop (detects "
                                    "every round(0.08 x fps) frames, reuses it between), video = its file pipeline "
                                    "(the previous frame's), exact = each frame's own.")
    mouth_mask: bool = option(False, "inswapper: put the target's mouth back after the paste (Deep-Live-Cam's mouth "
                                     "mask).")
    mouth_mask_size: float = option(0.0, "Its 0-100 size slider: 0 = the lip outline, 100 = from the mouth down to the "
                                         "chin.", min=0, max=100)
    enhancer: str | None = option(None, "Deep-Live-Cam's face enhancer on the swapped face: gfpgan, gpen256 or gpen512 "
                                        "(its ONNX file: gfpgan-1024.onnx, GPEN-BFR-256.onnx or GPEN-BFR-512.onnx, in "
                                        "~/.insightface/models or ./models; never downloaded).")
    enhancer_model: Path | None = option(None, "The enhancer's .onnx file (default: searched by its name).",
                                         dir_okay=False)
    color: bool = option(False, "inswapper: LAB colour transfer onto the patch. A vcbench extra with no Deep-Live-Cam "
                                "counterpart (its 'Fix Blueish Cam' only swaps BGR/RGB on capture); off by default.")
    poisson: bool = option(False, "inswapper: Poisson blend.")
    preset: tuple[str, ...] = option(("clean",), "Comma-separated call conditions, in order.")
    presets: Path | None = PRESETS()
    engine: Engine = ENGINE("the presets to reals and fakes")
    pairs: int | None = option(None, "Draw N (source, target) pairs instead of all.", min=1)
    pairs_file: Path | None = option(None, "CSV with a 'source,target' header: exactly these pairs (names as --plan "
                                           "prints them, or file names), each checked against the splits.",
                                     dir_okay=False)
    match: Literal["gender"] | None = option(None, "gender: a source only onto targets of its predicted gender "
                                                   "(insightface's genderage model, from the --arcface pack or "
                                                   "--genderage).")
    genderage: str | None = option(None, "--match gender's model: genderage.onnx or a pack (default: --arcface).")
    seed: int = option(0, "Seeds the splits, the pairs drawn and the call conditions.")
    self_swap: bool = option(False, "Allow a target to receive its own identity.")
    split: Split | None = option(None, "Put every identity in this split instead of drawing splits.")
    val_fraction: float = option(0.15, "Share of identities drawn into val.")
    test_fraction: float = option(0.15, "Share of identities drawn into test.")
    max_frames: int | None = MAX_FRAMES(None)
    every: int = option(1, "Run the face detector every N frames, track between.", min=1)
    min_face_fraction: float = option(0.5, "Skip a target whose face is found in fewer of its frames.")
    max_gap: float = option(2.0, "Skip a target whose face is missing for longer than this many seconds at a stretch.")
    min_swapped: float = option(0.5, "A fake in which fewer of the frames were swapped is a failed item, not a label-1 "
                                     "video.", min=0, max=1)
    crf: int = option(18, "x264 CRF of the clean real/fake masters.")
    master: Master = option("vcbench", "Encode of the clean masters, reals and fakes alike: vcbench = x264 medium at "
                                       "--crf; dlc = Deep-Live-Cam's (also -tune film and its bt601 -> bt709 colour "
                                       "conversion).")
    shard: str = SHARD()
    ffmpeg: str | None = FFMPEG()
    cache_dir: Path | None = CACHE_DIR()
    note: str | None = option(None, "A line every later stage repeats where this dataset's numbers appear (finetune's "
                                    "run.json, the report), e.g. 'pilot data, 3 identities'.")
    plan: bool = option(False, "Write OUT/plan.csv (each pair: source, target, identities, split) and print a summary "
                               "per split, without swapping anything.")

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
        if not (0 <= self.val_fraction and 0 <= self.test_fraction and self.val_fraction + self.test_fraction < 1):
            raise ConfigError("val_fraction and test_fraction must be >= 0 and sum to less than 1")
        if self.pairs is not None and self.pairs < 1:
            raise ConfigError(f"pairs must be >= 1, got {self.pairs}")
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

        check_choices(self)
        SWAPPERS.entry(self.swapper)
        if self.enhancer is not None:
            from .enhance import ENHANCERS

            ENHANCERS.entry(self.enhancer)
        if self.face_backend != "auto":
            BACKENDS.entry(self.face_backend)
        self.load_presets()
        from .mapping import parse_map

        parse_map(self.map)
        parse_shard(self.shard)


def resolve_config(file: Path | None = None, **flags: Any) -> GenerateConfig:
    """Defaults < ``file`` (TOML with the same keys, paths relative to it) < ``flags``
    (pass only flags the user actually gave)."""
    from ..config import resolve

    return resolve(GenerateConfig, file, **flags)
