"""``vcbench generate``'s configuration: a frozen dataclass; defaults < TOML file < flags."""
from __future__ import annotations

import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..config import check_keys, load_toml, resolve_path
from ..errors import ConfigError

PATH_FIELDS = {"source", "target", "out", "swapper_model", "presets_file", "cache_dir"}


@dataclass(frozen=True)
class GenerateConfig:
    source: Path                          # image/video file, or a folder of them (a subfolder = one identity)
    target: Path                          # video file, or a folder of videos (a subfolder = one identity)
    out: Path                             # dataset folder
    swapper: str = "mesh"                 # mesh (offline) | inswapper
    swapper_model: Path | None = None     # inswapper_128.onnx (default: searched)
    arcface: str = "buffalo_l"            # insightface pack or .onnx for identity embeddings
    face_backend: str = "auto"            # auto: insightface pack for inswapper when present, else mediapipe
    select: str = "leftmost"              # leftmost | largest | all (Deep-Live-Cam's --many-faces)
    mouth_mask: bool = False              # inswapper: keep the target's mouth
    color: bool = False                   # inswapper: LAB colour transfer (mesh always does it)
    poisson: bool = False                 # inswapper: Poisson blend (mesh: blend="poisson" by default)
    presets: tuple[str, ...] = ("clean",)
    presets_file: Path | None = None
    pairs: int | None = None              # draw N (source, target) pairs instead of all
    seed: int = 0
    self_swap: bool = False
    split: str | None = None              # put every identity in this split instead of drawing
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    max_frames: int | None = None
    detect_every: int = 1
    min_face_fraction: float = 0.5        # a target whose face is found in fewer frames is skipped
    max_gap_s: float = 2.0                # ... or whose face is missing for longer at a stretch
    crf: int = 18                         # master encode (x264 CRF, Deep-Live-Cam's output setting)
    shard: str = "0/1"
    ffmpeg: str | None = None
    cache_dir: Path | None = None         # face-track cache (default ~/.cache/vcbench/faces)

    def load_presets(self) -> list:
        """The chosen presets, in order (unknown names answer with "did you mean")."""
        from ..registry import lookup
        from .conference.presets import load_presets

        if not self.presets:
            raise ConfigError("no preset given (use --preset clean for unprocessed videos)")
        available = load_presets(self.presets_file)
        return [lookup("preset", name, available) for name in self.presets]

    def to_json(self) -> dict[str, Any]:
        return {f.name: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for f in fields(self) for v in [getattr(self, f.name)]}


def _base_type(tp) -> type:
    """``int | None`` -> int; ``tuple[str, ...]`` -> tuple."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    return origin or tp


def _coerce(where: str, key: str, value: Any, tp) -> Any:
    base = _base_type(tp)
    if value is None:
        return None
    if base is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key!r} must be a list of names or a comma-separated string")
        return tuple(value)
    if base is bool:
        ok = isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (str, Path))
    if not ok:
        raise ConfigError(f"{where}: {key!r} must be {base.__name__}, got {value!r}")
    return value


def resolve_config(file: Path | None = None, **flags: Any) -> GenerateConfig:
    """Defaults < ``file`` (TOML with the same keys, paths relative to it) < ``flags``
    (pass only flags the user actually gave)."""
    hints = typing.get_type_hints(GenerateConfig)
    values: dict[str, Any] = {}
    if file is not None:
        file = Path(file)
        table = load_toml(file)
        table = table.get("generate", table)
        check_keys(f"{file}", table, set(hints))
        for k, v in table.items():
            v = _coerce(str(file), k, v, hints[k])
            values[k] = resolve_path(str(v), file.parent) if k in PATH_FIELDS and v is not None else v
    for k, v in flags.items():
        if k not in hints:
            raise ConfigError(f"unknown generate option {k!r}")
        values[k] = _coerce("command line", k, v, hints[k])
    for k in ("source", "target", "out"):
        if values.get(k) is None:
            raise ConfigError(f"generate needs --{k} (or '{k}' in the config file)")
    for k in PATH_FIELDS:
        if values.get(k) is not None:
            values[k] = Path(values[k])
    cfg = GenerateConfig(**values)
    if cfg.split is not None and cfg.split not in ("train", "val", "test"):
        raise ConfigError(f"split must be train, val or test, got {cfg.split!r}")
    if not (0 <= cfg.val_fraction and 0 <= cfg.test_fraction and cfg.val_fraction + cfg.test_fraction < 1):
        raise ConfigError("val_fraction and test_fraction must be >= 0 and sum to less than 1")
    if cfg.pairs is not None and cfg.pairs < 1:
        raise ConfigError(f"pairs must be >= 1, got {cfg.pairs}")
    # names are checked before any file is read, so a typo fails at once with "did you mean"
    from ..faces import BACKENDS
    from .swap import SWAPPERS
    from .swap.base import SELECTIONS

    SWAPPERS.entry(cfg.swapper)
    if cfg.face_backend != "auto":
        BACKENDS.entry(cfg.face_backend)
    cfg.load_presets()
    if cfg.select not in SELECTIONS:
        raise ConfigError(f"select must be one of {', '.join(SELECTIONS)}, got {cfg.select!r}")
    if cfg.detect_every < 1:
        raise ConfigError(f"detect_every must be >= 1, got {cfg.detect_every}")
    return cfg
