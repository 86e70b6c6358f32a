"""The simplest custom dataset: ``real/`` and ``fake/`` folders of videos.

Split by a split file ``{"train": [names], "val": [...], "test": [...]}`` whose names are file names
or stems, or by a seeded hash (stable when files are added) of each video's identity when
``identity = "regex"`` names it (a search on the file stem: group ``target`` or the first group is
the person shown, group ``source`` the face swapped in), else of its file name. A folder split by
file name may put one person in train and val: finetune refuses it as training data.
"""
from __future__ import annotations

import re
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
    pattern = _pattern(cfg)
    records: list[VideoRecord] = []
    excluded: list[tuple[str, str]] = []
    for label, sub in ((0, "real"), (1, "fake")):
        for p in list_videos(root / sub, excluded):
            vid = f"{sub}/{p.stem}"
            target = source = ""
            if pattern is not None:
                m = pattern.search(p.stem)
                if not m:
                    excluded.append((vid, f"identity pattern {pattern.pattern!r} does not match its name"))
                    continue
                groups = m.groupdict()
                target = groups.get("target") or (m.group(1) if m.re.groups else m.group(0))
                source = groups.get("source") or ""
            if assigned is not None:
                split = assigned.get(p.stem)
                if split is None:
                    excluded.append((vid, f"not in split file {split_file}"))
                    continue
            else:
                split = hash_split(target or p.name, int(cfg.opt("seed")), float(cfg.opt("val_fraction")),
                                   float(cfg.opt("test_fraction")))
            records.append(VideoRecord(vid, f"{sub}/{p.name}", label, split,
                                       "original" if label == 0 else "unknown", source if label else "", target))
    unique_ids(records, cfg.source)
    split_by = "split file" if assigned is not None else "identity" if pattern is not None else "file name"
    return Dataset(cfg.name, "folder", root, records, excluded, split_by=split_by)


def _pattern(cfg: DatasetConfig):
    text = cfg.opt("identity")
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as e:
        raise DatasetError(f"{cfg.source}: key 'identity': not a regular expression ({e})") from None
