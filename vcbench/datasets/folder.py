"""The simplest custom dataset: ``real/`` and ``fake/`` folders of videos.

Split by a seeded hash of the file name (stable when files are added), or by a split file
``{"train": [names], "val": [...], "test": [...]}`` whose names are file names or stems.
"""
from __future__ import annotations

from pathlib import Path

from ..config import DatasetConfig
from ..errors import DatasetError
from ..contracts import VideoRecord
from .base import Dataset, hash_split, list_videos, read_split_file, unique_ids


def load(cfg: DatasetConfig) -> Dataset:
    root = cfg.root
    if not (root / "real").is_dir() and not (root / "fake").is_dir():
        raise DatasetError(f"{cfg.source}: {root} has neither real/ nor fake/")
    split_file = cfg.opt("split_file")
    # entries may be file names, stems or real/<stem>: all name the same video
    norm = lambda s: Path(s).stem  # noqa: E731
    assigned = read_split_file(Path(split_file), norm) if split_file else None
    records: list[VideoRecord] = []
    excluded: list[tuple[str, str]] = []
    for label, sub in ((0, "real"), (1, "fake")):
        for p in list_videos(root / sub, excluded):
            vid = f"{sub}/{p.stem}"
            if assigned is not None:
                split = assigned.get(p.stem)
                if split is None:
                    excluded.append((vid, f"not in split file {split_file}"))
                    continue
            else:
                split = hash_split(p.name, int(cfg.opt("seed")), float(cfg.opt("val_fraction")),
                                   float(cfg.opt("test_fraction")))
            records.append(VideoRecord(vid, f"{sub}/{p.name}", label, split,
                                       "original" if label == 0 else "unknown"))
    unique_ids(records, cfg.source)
    return Dataset(cfg.name, "folder", root, records, excluded)
