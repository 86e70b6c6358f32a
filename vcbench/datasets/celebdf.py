"""Celeb-DF v2: official test list, identity-disjoint train/val from the rest.

List_of_testing_videos.txt lines read ``<label> <folder>/<file>.mp4`` where 1 = REAL and
0 = FAKE, the opposite of the usual convention; vcbench labels are always 0 real, 1 fake.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..config import DatasetConfig
from ..errors import DatasetError
from ..contracts import VideoRecord
from .base import Dataset, hash_split, hash_unit, list_videos, unique_ids

REAL_DIRS = ("Celeb-real", "YouTube-real")
FAKE_DIR = "Celeb-synthesis"
TEST_LIST = "List_of_testing_videos.txt"
_REAL_RE = re.compile(r"^(id\d+)_(\d+)$")
_FAKE_RE = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")


def read_test_list(path: Path, root: Path) -> dict[str, int]:
    """{relative path: vcbench label} from the official list; errors name file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: test list not found") from None
    out: dict[str, int] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DatasetError(f"{path}:{n}: expected '<label> <folder>/<file>', got {line!r}")
        lab, rel = parts
        if lab not in ("0", "1"):
            raise DatasetError(f"{path}:{n}: label must be 1 (real) or 0 (fake), got {lab!r}")
        label = 0 if lab == "1" else 1
        folder = rel.split("/")[0]
        expect = 1 if folder == FAKE_DIR else 0 if folder in REAL_DIRS else None
        if expect is None:
            raise DatasetError(f"{path}:{n}: unknown folder {folder!r} in {rel!r}")
        if expect != label:
            raise DatasetError(f"{path}:{n}: {rel} is labelled {lab} ({'real' if lab == '1' else 'fake'}) "
                               f"but lies in {folder}/")
        if not (root / rel).is_file():
            raise DatasetError(f"{path}:{n}: listed video {root / rel} not found")
        if rel in out:
            raise DatasetError(f"{path}:{n}: {rel} listed twice")
        out[rel] = label
    return out


def identity_splits(ids: set[str], val_fraction: float, seed: int) -> dict[str, str]:
    """Seeded choice of round(val_fraction * n) identities (at least one when n >= 2) for val."""
    order = sorted(ids, key=lambda i: hash_unit(i, seed))
    n_val = max(1 if len(ids) >= 2 and val_fraction > 0 else 0, round(val_fraction * len(ids)))
    return {i: ("val" if k < n_val else "train") for k, i in enumerate(order)}


def load(cfg: DatasetConfig) -> Dataset:
    root = cfg.root
    for d in ("Celeb-real", FAKE_DIR):
        if not (root / d).is_dir():
            raise DatasetError(f"{cfg.source}: {root / d} not found (expected the Celeb-DF v2 layout)")
    test = read_test_list(root / TEST_LIST, root)
    include_yt = cfg.opt("include_youtube")
    seed = int(cfg.opt("seed"))

    folders = ["Celeb-real", FAKE_DIR] + (["YouTube-real"] if include_yt and (root / "YouTube-real").is_dir() else [])
    excluded: list[tuple[str, str]] = []
    files = {f: list_videos(root / f, excluded) for f in folders}
    ids: set[str] = set()
    for p in files["Celeb-real"]:
        m = _REAL_RE.match(p.stem)
        if m and f"Celeb-real/{p.name}" not in test:
            ids.add(m.group(1))
    for p in files[FAKE_DIR]:
        m = _FAKE_RE.match(p.stem)
        if m and f"{FAKE_DIR}/{p.name}" not in test:
            ids.update(m.group(1, 2))
    id_split = identity_splits(ids, float(cfg.opt("val_fraction")), seed)

    records: list[VideoRecord] = []
    for folder in folders:
        for p in files[folder]:
            rel = f"{folder}/{p.name}"
            vid = f"{folder}/{p.stem}"
            in_test = rel in test
            if folder == "YouTube-real":
                split = "test" if in_test else hash_split(p.stem, seed, float(cfg.opt("val_fraction")))
                records.append(VideoRecord(vid, rel, 0, split, "original", "", "", "clean", vid))
                continue
            if folder == "Celeb-real":
                m = _REAL_RE.match(p.stem)
                if not m:
                    excluded.append((vid, "name is not id<k>_<nnnn>"))
                    continue
                split = "test" if in_test else id_split[m.group(1)]
                records.append(VideoRecord(vid, rel, 0, split, "original", "", m.group(1), "clean", vid))
                continue
            m = _FAKE_RE.match(p.stem)
            if not m:
                excluded.append((vid, "name is not id<t>_id<s>_<nnnn>"))
                continue
            target, source, clip = m.group(1, 2, 3)
            if in_test:
                split = "test"
            else:
                sides = {id_split[target], id_split[source]}
                if len(sides) != 1:
                    excluded.append((vid, f"{target} and {source} fall in different splits"))
                    continue
                split = sides.pop()
            records.append(VideoRecord(vid, rel, 1, split, "Celeb-synthesis", source, target, "clean",
                                       f"Celeb-real/{target}_{clip}"))
    unique_ids(records, cfg.source)
    return Dataset(cfg.name, "celebdf", root, records, excluded)
