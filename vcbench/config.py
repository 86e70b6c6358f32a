"""TOML configuration -> validated frozen dataclasses.

Precedence everywhere is defaults < file < flags. Errors name the file, the table and the key.
"""
from __future__ import annotations

import os
import sys
import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Mapping

from .errors import ConfigError
from .registry import suggest
from .runtime import datasets_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def loads_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: malformed TOML: {e}") from None


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML: {e}") from None
    except UnicodeDecodeError as e:
        from .fileio import not_utf8

        raise ConfigError(not_utf8(path, e)) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None


def resolve_path(value: str, base: Path) -> Path:
    """Expand ``~`` and resolve relative paths against the directory of the TOML file."""
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p)


def check_keys(where: str, table: Mapping[str, Any], allowed: set[str], required: set[str] = frozenset()) -> None:
    for key in table:
        if key not in allowed:
            hint = suggest(key, sorted(allowed))
            extra = f"; did you mean {hint[0]!r}?" if hint else f"; allowed: {', '.join(sorted(allowed))}"
            raise ConfigError(f"{where}: unknown key {key!r}{extra}")
    for key in sorted(required):
        if key not in table:
            raise ConfigError(f"{where}: missing required key {key!r}")


# --- fields that are also command-line options ---------------------------------------------------

def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | tuple[str, ...] | None = None,
           short: str | None = None,
           min: float | None = None, max: float | None = None, min_open: bool = False, multiple: bool = False,
           file_okay: bool = True, dir_okay: bool = True, cli: bool = True, show_default: bool = True) -> Any:
    """A config field that is also a command-line option: its default and help live here, once;
    the CLI generates the option from the field (``vcbench.commandline.config_options``): the name
    ``--field-name`` (or ``flag``), the type from the annotation (``Literal`` a choice, ``bool`` a
    flag, ``tuple[...]`` repeatable when ``multiple`` else comma-separated), ``min``/``max`` bounds.
    ``cli=False``: a key of config files only."""
    meta = {"help": help, "flag": flag, "short": short, "min": min, "max": max, "min_open": min_open,
            "multiple": multiple, "file_okay": file_okay, "dir_okay": dir_okay, "cli": cli,
            "show_default": show_default}
    return field(default=default, metadata={"option": meta})


#: the options several stages share: each declared once, here (a stage's field is ``= DEVICE()``)
def DEVICE() -> Any:  # noqa: N802 - a field declaration, named like the constant it stands for
    return option("auto", "auto, cpu or cuda[:N].")


def FACE_BACKEND(default: str = "mediapipe") -> Any:  # noqa: N802
    auto = " (auto: the insightface pack where inswapper runs and it is present, else mediapipe)" if default == "auto" \
        else ""
    return option(default, f"Face backend: mediapipe (offline) or insightface{auto}.",
                  flag=("--face-backend", "--backend"))


def CACHE_DIR() -> Any:  # noqa: N802
    return option(None, "Face-track cache (default: $VCBENCH_CACHE/faces or ~/.cache/vcbench/faces).",
                  file_okay=False)


def MAX_FRAMES(default: int | None = 400) -> Any:  # noqa: N802
    return option(default, "Read at most this many frames of each video (AltFreezing's release reads the first 400).",
                  min=1)


def DATASETS() -> Any:  # noqa: N802
    return option(None, "datasets.toml to read (default: $VCBENCH_DATASETS or ./datasets.toml).", dir_okay=False)


def PRESETS() -> Any:  # noqa: N802
    return option(None, "Extra presets TOML (added to / overriding the built-in ladder).", dir_okay=False)


def FFMPEG() -> Any:  # noqa: N802
    return option(None, "ffmpeg binary (default: $VCBENCH_FFMPEG or imageio-ffmpeg's).")


def SHARD() -> Any:  # noqa: N802
    return option("0/1", "Process shard i of n (job arrays).")


def ENGINE(what: str = "the presets") -> Any:  # noqa: N802
    return option("ffmpeg", f"Who applies {what}: ffmpeg (the modelled call: fast, bit-identical) or webrtc (a real "
                            "libwebrtc call in headless Chromium through a packet relay: real time, not bit-identical; "
                            "needs chromium; renditions are cached per engine).")


# --- choices shared by several stages: each named once, checked by coerce / check_choices ------------

#: who applies a call condition: the modelled call (ffmpeg) or a real libwebrtc call
Engine = Literal["ffmpeg", "webrtc"]
Split = Literal["train", "val", "test"]
#: dense: every window of every face track; sparse: a few evenly spaced windows per track
Mode = Literal["dense", "sparse"]
#: auto: bf16 autocast where the device runs it natively, else fp32 (runtime.resolve_precision)
Precision = Literal["auto", "fp32", "bf16"]
#: a test video a model trained on: left out of its metrics, or kept and flagged
Overlap = Literal["exclude", "flag"]
#: the class-activation map explain draws (explain, benchmark --explain)
CamMethod = Literal["gradcam", "gradcam++"]
#: which faces of a frame generate swaps (Deep-Live-Cam's --many-faces is "all")
Selection = Literal["leftmost", "largest", "all"]
#: release: the tracks spanning the video from frame 0 (else the longest); all: every track
Tracking = Literal["release", "all"]
#: a video's score from its windows: the mean of every clip of every track (AltFreezing), the most
#: fake track, or per frame the most fake face then the mean over frames (SBI)
Aggregate = Literal["mean", "max-track", "max-face-mean-frame"]
ENGINES: tuple[str, ...] = typing.get_args(Engine)
#: windows per face track in sparse mode when ``clips`` is not given
DEFAULT_SPARSE_CLIPS = 4


@dataclass(frozen=True)
class ScoreSettings:
    """The Scoring section: how clips are chosen, run and aggregated (recorded wherever scores are
    written). ``vcbench score``'s options are generated from it."""

    mode: Mode = option("sparse", "dense: every window (the release's demo); sparse: --clips evenly spaced windows "
                                  "per track.")
    clips: int | None = option(None, "Clips per track in sparse mode (default 4).", min=1)
    max_frames: int | None = MAX_FRAMES()
    tracking: Tracking = option("release", "release: tracks spanning the video from frame 0, else the longest; all: "
                                           "every track.")
    aggregate: Aggregate | None = option(None, "Video score: mean of every clip of every track, the highest track, or "
                                               "per frame the most fake face (default: what the weights declare; mean "
                                               "for AltFreezing, as released).")
    precision: Precision = option("auto", "Arithmetic of the forward pass: auto is bf16 autocast where the device runs "
                                          "bf16 natively (CUDA, AMX/AVX512-bf16 CPUs), else fp32 (the release's "
                                          "numbers).")
    batch_size: int = 8
    #: a stream's windows: every window of every track (dense, tracking all), and for a frame
    #: detector every frame of every track instead of its sampled frames
    stream: bool = False

    def __post_init__(self):
        check_choices(self)

    def to_json(self) -> dict:
        return {"mode": self.mode, "clips": self.clips if self.mode == "sparse" else None,
                "clips_per_track": (self.clips or DEFAULT_SPARSE_CLIPS) if self.mode == "sparse" else "all",
                "max_frames": self.max_frames, "tracking": self.tracking, "aggregate": self.aggregate,
                "precision": self.precision, **({"stream": True} if self.stream else {})}


# --- datasets.toml ---------------------------------------------------------------

#: keys each dataset kind accepts besides ``kind``, ``root`` and ``description``
DATASET_KEYS: dict[str, dict[str, Any]] = {
    "ffpp": {
        "compression": "c23",                 # c23 | c40 | raw (alias c0)
        "methods": ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"],
        "originals": ["youtube"],             # add "actors" for DeepFakeDetection reals
        "splits": "",                         # dir with train/val/test.json; default: the official ones
        "split": "",                          # restrict to one split ("" = all)
    },
    "celebdf": {
        "include_youtube": True,
        "val_fraction": 0.15,                 # of identities (not videos) held out for validation
        "seed": 0,
        "split": "",
    },
    "manifest": {
        "manifest": "manifest.csv",
        "split": "",
    },
    "folder": {
        "split_file": "",                     # JSON {"train": [names], "val": [...], "test": [...]}
        "identity": "",                       # regex on the file stem: group target (or group 1), group source
        "val_fraction": 0.15,
        "test_fraction": 0.15,
        "seed": 0,
        "split": "",
    },
}
COMMON_KEYS = {"kind", "root", "description"}
#: option keys holding paths: resolved like ``root`` (``~``, relative to the TOML file)
PATH_KEYS = {"splits", "split_file"}


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    kind: str
    root: Path
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = ""  # "<file>: [datasets.<name>]" for error messages

    def opt(self, key: str) -> Any:
        return self.options.get(key, DATASET_KEYS[self.kind][key])


def parse_datasets(doc: Mapping[str, Any], path: Path) -> dict[str, DatasetConfig]:
    top = doc.get("datasets")
    extra = sorted(set(doc) - {"datasets"})
    if extra:
        raise ConfigError(f"{path}: unknown top-level table {extra[0]!r}; expected [datasets.<name>]")
    if top is None:
        return {}
    if not isinstance(top, dict):
        raise ConfigError(f"{path}: 'datasets' must be a table of [datasets.<name>] tables")
    out: dict[str, DatasetConfig] = {}
    base = path.parent
    for name, table in top.items():
        where = f"{path}: [datasets.{name}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        kind = table.get("kind")
        if kind is None:
            raise ConfigError(f"{where}: missing required key 'kind'")
        if not isinstance(kind, str):
            raise ConfigError(f"{where}: key 'kind' must be a string, got {type(kind).__name__} {kind!r}")
        if kind not in DATASET_KEYS:
            hint = suggest(str(kind), sorted(DATASET_KEYS))
            raise ConfigError(
                f"{where}: unknown kind {kind!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else f"; choose from {', '.join(sorted(DATASET_KEYS))}")
            )
        allowed = COMMON_KEYS | set(DATASET_KEYS[kind])
        check_keys(where, table, allowed, required={"kind", "root"})
        if not isinstance(table["root"], str):
            raise ConfigError(f"{where}: key 'root' must be a path string")
        options = {k: v for k, v in table.items() if k not in COMMON_KEYS}
        for k, v in options.items():
            options[k] = coerce(where, k, v, type_of(DATASET_KEYS[kind][k]))
        for k in PATH_KEYS & set(options):
            if options[k]:
                options[k] = str(resolve_path(options[k], base))
        for k in ("val_fraction", "test_fraction"):
            if k in options and not 0 <= options[k] < 1:
                raise ConfigError(f"{where}: key {k!r} must be in [0, 1), got {options[k]!r}")
        if options.get("val_fraction", 0) + options.get("test_fraction", 0) >= 1:
            raise ConfigError(f"{where}: val_fraction + test_fraction must be below 1 (nothing left to train on)")
        if options.get("split", "") not in ("", "train", "val", "test"):
            raise ConfigError(f"{where}: key 'split' must be train, val or test, got {options['split']!r}")
        out[name] = DatasetConfig(
            name=name, kind=kind, root=resolve_path(table["root"], base), options=options,
            description=str(table.get("description", "")), source=where,
        )
    return out


def load_datasets(path: str | os.PathLike | None = None) -> dict[str, DatasetConfig]:
    if not path and not datasets_file().is_file():
        raise ConfigError(f"{datasets_file()}: file not found; run from a folder with datasets.toml, pass "
                          "--datasets FILE or set VCBENCH_DATASETS")
    path = Path(path) if path else datasets_file()
    return parse_datasets(load_toml(path), path)


# --- one type checker, one resolver -----------------------------------------------------

def type_of(default: Any) -> Any:
    """The type a TOML value must have to replace ``default`` (lists/tuples hold strings)."""
    if isinstance(default, (list, tuple)):
        return tuple[str, ...]
    return type(default)


def unoptional(tp) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); any other hint -> (hint, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None)), type(None) in typing.get_args(tp)
    return tp, False


def _base(tp) -> tuple[Any, bool]:
    """``int | None`` -> (int, True); ``tuple[str, ...]`` -> (tuple, False)."""
    tp, optional = unoptional(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return type(typing.get_args(tp)[0]), optional
    return origin or tp, optional


def choice_error(key: str, value: Any, allowed: tuple) -> str:
    """``key must be one of a, b, c, got 'x'; did you mean 'a'?`` (the one wording of a bad choice)."""
    hint = suggest(str(value), [str(a) for a in allowed]) if isinstance(value, str) else []
    return (f"{key} must be one of {', '.join(str(a) for a in allowed)}, got {value!r}"
            + (f"; did you mean {hint[0]!r}?" if hint else ""))


def choices(tp: Any) -> tuple | None:
    """The values a ``Literal[...]`` hint (or ``Literal[...] | None``) allows; None for other hints."""
    tp, _ = unoptional(tp)
    return typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else None


def check_choices(obj) -> None:
    """Every ``Literal`` field of the dataclass instance ``obj`` holds one of its values (a config
    built in code is checked as one read from a file or the command line is)."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        allowed = choices(hints[f.name])
        value = getattr(obj, f.name)
        if allowed is not None and value not in allowed and value is not None:
            raise ConfigError(choice_error(f.name, value, allowed))


def coerce(where: str, key: str, value: Any, tp: Any) -> Any:
    """``value`` checked against the type hint ``tp`` and converted (ints to floats, lists to
    tuples, comma-separated strings to tuples, strings to Paths); a ``Literal`` hint's value must
    be one of its choices. Errors name ``where`` and ``key``."""
    base, optional = _base(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: key {key!r} must be set")
    allowed = choices(tp)
    if allowed is not None:
        if value not in allowed:
            raise ConfigError(f"{where}: " + choice_error(key, value, allowed))
        return value
    if base in (tuple, list):
        paths = Path in typing.get_args(tp if typing.get_origin(tp) in (tuple, list) else
                                        next(a for a in typing.get_args(tp) if a is not type(None)))
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, Path) if paths else str) for v in value):
            raise ConfigError(f"{where}: key {key!r} must be a list of strings or a comma-separated string, "
                              f"got {value!r}")
        value = [Path(v) for v in value] if paths else value
        return tuple(value) if base is tuple else list(value)
    if base is bool:
        ok = isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is Path:
        ok = isinstance(value, (str, Path))
        value = Path(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        name = getattr(base, "__name__", str(base))
        raise ConfigError(f"{where}: key {key!r} must be {name}, got {value!r}")
    return value


def file_values(cls, file: str | os.PathLike) -> dict[str, Any]:
    """What the TOML ``file`` sets for the dataclass ``cls`` (its keys checked, types coerced,
    relative paths resolved against the file's folder): for a command that reads a config file
    but builds no config from it (``benchmark --list``)."""
    hints = typing.get_type_hints(cls)
    file = Path(file)
    table = load_toml(file)
    section = getattr(cls, "SECTION", None)
    if section and isinstance(table.get(section), dict):
        table = table[section]
    check_keys(str(file), table, {f.name for f in fields(cls) if f.init})
    values = {}
    for k, v in table.items():
        v = coerce(str(file), k, v, hints[k])
        values[k] = resolve_path(str(v), file.parent) if isinstance(v, Path) else \
            tuple(resolve_path(str(x), file.parent) if isinstance(x, Path) else x for x in v) if isinstance(v, tuple) else v
    return values


def resolve(cls, file: str | os.PathLike | None = None, **given: Any):
    """An instance of the frozen dataclass ``cls`` from defaults < ``file`` < ``given``.

    ``file`` is TOML with the dataclass's field names as keys (at top level or under a table
    named ``cls.SECTION``); relative paths in it are resolved against the file's folder.
    ``given`` holds only what the user set on the command line. Unknown keys answer with
    "did you mean". Validation beyond types lives in the dataclass's ``__post_init__``.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls) if f.init]
    values: dict[str, Any] = file_values(cls, file) if file is not None else {}
    for k, v in given.items():
        if k not in hints:
            hint = suggest(k, names)
            raise ConfigError(f"unknown option {k!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
        values[k] = coerce("command line", k, v, hints[k])
    missing = [f.name for f in fields(cls) if f.init and f.name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"missing required option --{missing[0].replace('_', '-')} (or {missing[0]!r} in the config file)")
    return cls(**values)


def to_json(cfg) -> dict[str, Any]:
    """A resolved config as JSON-able values, keyed by field name (written next to every output)."""
    out = {}
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
    return out
