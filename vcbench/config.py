"""TOML configuration -> validated frozen dataclasses.

Precedence everywhere is defaults < file < flags. Errors name the file, the table and the key.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .registry import suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML: {e}") from None
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


def check_type(where: str, key: str, value: Any, default: Any) -> None:
    """``value`` must have the TOML type of ``default`` (ints count as floats; lists hold strings)."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{where}: key {key!r} must be {type(default).__name__}, got {value!r}")


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
            check_type(where, k, v, DATASET_KEYS[kind][k])
        for k in PATH_KEYS & set(options):
            if options[k]:
                options[k] = str(resolve_path(options[k], base))
        if options.get("split", "") not in ("", "train", "val", "test"):
            raise ConfigError(f"{where}: key 'split' must be train, val or test, got {options['split']!r}")
        out[name] = DatasetConfig(
            name=name, kind=kind, root=resolve_path(table["root"], base), options=options,
            description=str(table.get("description", "")), source=where,
        )
    return out


def default_datasets_file() -> Path:
    """VCBENCH_DATASETS, else ./datasets.toml."""
    return Path(os.environ.get("VCBENCH_DATASETS", "datasets.toml"))


def load_datasets(path: str | os.PathLike | None = None) -> dict[str, DatasetConfig]:
    path = Path(path) if path else default_datasets_file()
    return parse_datasets(load_toml(path), path)
