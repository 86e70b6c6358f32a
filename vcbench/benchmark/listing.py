"""``benchmark --list``: what a benchmark can name, the datasets the config file gives unless
``--datasets`` says otherwise."""
from __future__ import annotations

import os

from ..errors import VcbenchError


def listing(config_file: str | os.PathLike | None = None, datasets: str | os.PathLike | None = None) -> list[str]:
    """:func:`available` for ``datasets``, else the datasets.toml ``config_file`` names."""
    from ..config import file_values
    from .config import BenchmarkConfig

    if datasets is None and config_file is not None:
        datasets = file_values(BenchmarkConfig, config_file).get("datasets")
    return available(datasets)


def available(datasets) -> list[str]:
    """The detectors, weight tags, datasets (of ``datasets``, a datasets.toml) and presets a
    benchmark can name."""
    from ..conference.presets import load_presets
    from ..detectors import DETECTORS, load_plugins

    load_plugins()
    lines = ["detectors (NAME=CHECKPOINT | NAME=untrained for a network; chance; plug-ins):"]
    lines += [f"  {e.name:<20} {e.help}" for e in DETECTORS]
    lines.append("  NAME=path/to/detector.py  your own: predict(video_path) -> float, or a class with predict_batch")
    from ..models.archs import WEIGHT_TAGS

    lines.append("weight tags (a checkpoint's .training.json {\"tag\": NAME}, or its pinned sha256):")
    lines += [f"  {t.name:<24} {t.source}" for t in WEIGHT_TAGS.values()]
    lines.append("datasets:")
    try:
        from ..config import load_datasets

        lines += [f"  {n:<20} {c.kind:<9} {c.root}" for n, c in load_datasets(datasets).items()]
    except VcbenchError as e:
        lines.append(f"  ({e})")
    lines.append("presets:")
    lines += [f"  {p.summary()}" for p in load_presets().values()]
    return lines
