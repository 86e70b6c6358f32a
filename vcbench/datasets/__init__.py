"""Dataset registry: every kind loads into the same list of manifest rows.

    >>> ds = get_dataset("ffpp-c23")          # from ./datasets.toml or $VCBENCH_DATASETS
    >>> ds.records[0].video_id
    'original/c23/000'
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..batch import BatchResult
from ..config import DatasetConfig, load_datasets
from ..errors import DatasetError
from ..registry import Registry, lookup
from ..contracts import MANIFEST_COLUMNS, VideoRecord
from .base import SPLITS, Dataset, read_manifest, write_manifest

KINDS: Registry = Registry("dataset kind")
KINDS.register("ffpp", "vcbench.datasets.ffpp:load", help="FaceForensics++ official layout and splits")
KINDS.register("celebdf", "vcbench.datasets.celebdf:load", help="Celeb-DF v2 with its official test list")
KINDS.register("manifest", "vcbench.datasets.manifest:load", help="a folder with manifest.csv")
KINDS.register("folder", "vcbench.datasets.folder:load", help="real/ and fake/ subfolders")


def load_dataset(cfg: DatasetConfig) -> Dataset:
    if not cfg.root.is_dir():
        raise DatasetError(f"{cfg.source}: key 'root': {cfg.root} not found")
    ds = KINDS.get(cfg.kind)(cfg)
    return ds.filter_split(cfg.opt("split"))


def get_dataset(name: str, datasets_file: str | os.PathLike | None = None) -> Dataset:
    return load_dataset(lookup("dataset", name, load_datasets(datasets_file)))


def dataset_manifest(name: str, out: str | os.PathLike, datasets_file=None,
                     probe: bool = True) -> tuple[Dataset, BatchResult]:
    """Write manifest.csv (docs/architecture.md) for any dataset; probing fills frames/fps/size.

    Videos that fail to probe keep empty probe columns and are counted failed, by video_id.
    """
    from ..fileio import refuse_overwrites

    ds = get_dataset(name, datasets_file)
    refuse_overwrites({f"dataset {name}'s {p.name}": p for p in Path(ds.root).glob("*") if p.suffix in (".csv", ".json",
                                                                                                     ".txt")},
                      {"-o": out})
    result = BatchResult("videos")
    if probe:
        from .check import probe_all

        infos = probe_all(ds)
        recs = []
        for r in ds.records:
            info = infos[r.video_id]
            if isinstance(info, str):
                result.fail(r.video_id, info)
                recs.append(r)
            else:
                result.done += 1
                recs.append(replace(r, frames=info.frames, fps=info.fps, width=info.width, height=info.height))
        ds.records = recs
    else:
        result.done = len(ds.records)
    write_manifest(ds.records, out)
    return ds, result


__all__ = ["Dataset", "VideoRecord", "MANIFEST_COLUMNS", "SPLITS", "KINDS", "get_dataset", "load_dataset",
           "dataset_manifest", "read_manifest", "write_manifest"]


def listing(datasets_file: str | os.PathLike | None = None) -> list[str]:
    """``vcbench datasets list``: per dataset its kind, whether its root exists and its counts
    (real/fake per split), or the error that stops it loading."""
    from ..errors import VcbenchError
    from ..runtime import datasets_file as default_datasets_file

    cfgs = load_datasets(datasets_file)
    lines = [f"{'name':<20} {'kind':<9} {'root':<6} counts (real/fake per split)"]
    for name, cfg in cfgs.items():
        if not cfg.root.is_dir():
            lines.append(f"{name:<20} {cfg.kind:<9} {'no':<6} {cfg.root} not found")
            continue
        try:
            ds = load_dataset(cfg)
        except VcbenchError as e:
            lines.append(f"{name:<20} {cfg.kind:<9} {'yes':<6} error: {e}")
            continue
        counts = "  ".join(f"{s} {c['real']}/{c['fake']}" for s, c in ds.counts().items()) or "empty"
        if ds.excluded:
            counts += f"  ({len(ds.excluded)} left out)"
        lines.append(f"{name:<20} {cfg.kind:<9} {'yes':<6} {counts}")
    if not cfgs:
        lines.append(f"(no datasets in {datasets_file or default_datasets_file()})")
    return lines
