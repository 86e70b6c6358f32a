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
from .keys import celebdf_clip
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
    clip_of: dict[str, tuple[str, str]] = {}          # video_id -> (target identity, clip number)
    for folder in folders:
        for p in files[folder]:
            rel = f"{folder}/{p.name}"
            vid = f"{folder}/{p.stem}"
            in_test = rel in test
            if folder == "YouTube-real":
                split = "test" if in_test else hash_split(p.stem, seed, float(cfg.opt("val_fraction")))
                records.append(VideoRecord(vid, rel, 0, split, "original", "", "", "clean", vid,
                                           clip_id=celebdf_clip(folder, p.stem)))
                continue
            if folder == "Celeb-real":
                m = _REAL_RE.match(p.stem)
                if not m:
                    excluded.append((vid, "name is not id<k>_<nnnn>"))
                    continue
                split = "test" if in_test else id_split[m.group(1)]
                records.append(VideoRecord(vid, rel, 0, split, "original", "", m.group(1), "clean", vid,
                                           clip_id=celebdf_clip(folder, p.stem)))
                clip_of[vid] = (m.group(1), m.group(2))
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
                                       f"Celeb-real/{target}_{clip}", clip_id=celebdf_clip(folder, p.stem)))
            clip_of[vid] = (target, clip)
    records = drop_test_clips(records, clip_of, excluded)
    unique_ids(records, cfg.source)
    return Dataset(cfg.name, "celebdf", root, records, excluded)


def drop_test_clips(records: list[VideoRecord], clip_of: dict[str, tuple[str, str]],
                    excluded: list[tuple[str, str]]) -> list[VideoRecord]:
    """A train/val video that shows a test video's clip (the same target identity and clip number:
    the real a test fake was made from, or a fake made from a test real) would put test pixels in
    training: it is left out, named in ``excluded`` with the test video it shares the clip with."""
    test_clip = {}
    for r in records:
        if r.split == "test" and r.video_id in clip_of:
            test_clip.setdefault(clip_of[r.video_id], r.video_id)
    kept = []
    for r in records:
        key = clip_of.get(r.video_id)
        if r.split != "test" and key in test_clip:
            excluded.append((r.video_id, f"shares clip {key[0]}_{key[1]} with test video {test_clip[key]}"))
            continue
        kept.append(r)
    return kept
