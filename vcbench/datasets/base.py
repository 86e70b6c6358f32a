"""The manifest row every dataset kind produces, and helpers shared by the loaders."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from ..contracts import MANIFEST_COLUMNS, VideoRecord
from ..errors import DatasetError
from ..fileio import write_csv
from .keys import file_content

SPLITS = ("train", "val", "test")

@dataclass
class Dataset:
    """A named collection of VideoRecords rooted at ``root``.

    ``excluded`` lists (video_id, reason) pairs a loader left out on purpose (e.g. a
    Celeb-DF fake whose two identities fall on both sides of the train/val split), so a
    user sees what the split cost instead of silently losing videos.
    """

    name: str
    kind: str
    root: Path
    records: list[VideoRecord]
    excluded: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None        # what its maker says every result on it must carry (generate --note)
    #: how videos were put in splits: "identity" (no person on two sides), "split file" (the user's
    #: word), or "file name" (a folder without identities: one person may land in train and val)
    split_by: str = "identity"

    def abspath(self, rec: VideoRecord) -> Path:
        return self.root / rec.path

    def videos(self) -> list[tuple[str, Path]]:
        """(video_id, absolute path) of every video."""
        return [(r.video_id, self.abspath(r)) for r in self.records]

    def counts(self) -> dict[str, dict[str, int]]:
        """{split: {"real": n, "fake": n}} for the splits present."""
        out: dict[str, dict[str, int]] = {}
        for r in self.records:
            c = out.setdefault(r.split, {"real": 0, "fake": 0})
            c["fake" if r.label else "real"] += 1
        return {s: out[s] for s in SPLITS if s in out} | {s: v for s, v in out.items() if s not in SPLITS}

    def manifest_sha256(self) -> str:
        """SHA-256 of the dataset's manifest rows (sorted by video_id, every manifest column): what a
        run records so a later reader can tell whether the dataset changed under it."""
        h = hashlib.sha256()
        for r in sorted(self.records, key=lambda r: r.video_id):
            h.update(("|".join(str(getattr(r, c)) for c in MANIFEST_COLUMNS) + "\n").encode())
        return h.hexdigest()

    def filter_split(self, split: str) -> "Dataset":
        if not split:
            return self
        return Dataset(self.name, self.kind, self.root, [r for r in self.records if r.split == split], self.excluded)


def gallery_pair(records, split: str):
    """The real/fake pair a report shows under each condition (and ``benchmark --explain``
    explains under each): the first fake of ``split`` (by video id, its clean version) and the
    real it was made from; None when the split has no such pair."""
    recs = [r for r in records if r.split == split and r.preset in ("clean", "")]
    fake = next((r for r in sorted(recs, key=lambda r: r.video_id) if r.label == 1), None)
    real = next((r for r in recs if fake is not None and r.label == 0 and (r.video_id == fake.pair_id
                                                                           or r.pair_id == fake.pair_id)), None)
    return None if fake is None or real is None else (real, fake)


def held_condition(records, rec, preset: str):
    """The record of the same video (target, source, method) under ``preset`` when the dataset
    holds that condition itself (a generated dataset), else None (it is rendered)."""
    return next((r for r in records if r.preset == preset and r.label == rec.label and r.method == rec.method
                 and r.source_id == rec.source_id and r.target_id == rec.target_id and r.target_id), None)


def unique_ids(records: Iterable[VideoRecord], where: str) -> None:
    seen: dict[str, str] = {}
    for r in records:
        if r.video_id in seen:
            raise DatasetError(f"{where}: duplicate video_id {r.video_id!r} ({seen[r.video_id]} and {r.path})")
        seen[r.video_id] = r.path


def hash_unit(key: str, seed: int) -> float:
    """Deterministic value in [0, 1) from a string and a seed (stable across runs and machines)."""
    h = hashlib.sha256(f"{seed}:{key}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(h[:8], "big") / 2 ** 64


def hash_split(key: str, seed: int, val_fraction: float, test_fraction: float = 0.0) -> str:
    u = hash_unit(key, seed)
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def read_split_file(path: Path, normalise=lambda s: s) -> dict[str, str]:
    """JSON {"train": [...], "val": [...], "test": [...]} -> {normalise(item): split}; an item
    in two splits is an error naming both."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: split file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or set(doc) - set(SPLITS):
        raise DatasetError(f"{path}: expected an object with keys train/val/test")
    out: dict[str, str] = {}
    for split, items in doc.items():
        if not isinstance(items, list):
            raise DatasetError(f"{path}: {split!r} must be a list")
        for it in items:
            it = normalise(str(it))
            if it in out and out[it] != split:
                raise DatasetError(f"{path}: {it!r} is in both {out[it]!r} and {split!r}")
            out[it] = split
    return out


def list_videos(folder: Path, excluded: list | None = None) -> list[Path]:
    """The files named like videos in ``folder``. A name that is not UTF-8 cannot be a video id in a
    manifest (a UTF-8 text file): it is left out and added to ``excluded`` with its bytes escaped."""
    from ..fileio import display_name
    from ..video import VIDEO_EXTENSIONS

    if not folder.is_dir():
        return []
    # anything NAMED like a video is listed, even a dangling link or a folder: it then fails by
    # name where it is read, instead of vanishing from the counts
    out = []
    for p in sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")):
        if display_name(p.name) != p.name:
            if excluded is not None:
                excluded.append((display_name(p), "file name is not UTF-8; rename it to include it"))
            continue
        out.append(p)
    return out


def escapes_root(rel: str) -> bool:
    """Whether a manifest path is absolute or climbs out of the dataset root (``../../etc/passwd``)."""
    p = rel.replace("\\", "/")
    if p.startswith("/") or (len(p) > 1 and p[1] == ":"):
        return True
    depth = 0
    for part in p.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def write_manifest(records: Iterable[VideoRecord], path: str | os.PathLike) -> Path:
    return write_csv(path, [r.row() for r in records], MANIFEST_COLUMNS)


def read_manifest(path: Path) -> list[VideoRecord]:
    """Parse a manifest.csv, validating columns, labels and splits (errors name file and line)."""
    import io
    import math

    from ..fileio import read_utf8

    try:
        text = read_utf8(path, DatasetError)
    except FileNotFoundError:
        raise DatasetError(f"{path}: manifest not found") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read the manifest ({e.strerror or e})") from None
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        required = {"video_id", "path", "label", "split"}
        missing = sorted(required - set(cols))
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
        unknown = sorted(set(cols) - set(MANIFEST_COLUMNS))
        if unknown:
            raise DatasetError(f"{path}: unknown column(s) {', '.join(unknown)}")
        out = []
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            if row["label"] not in ("0", "1"):
                raise DatasetError(f"{where}: label must be 0 (real) or 1 (fake), got {row['label']!r}")
            if row["split"] not in SPLITS:
                raise DatasetError(f"{where}: split must be train, val or test, got {row['split']!r}")
            if not row["video_id"] or not row["path"]:
                raise DatasetError(f"{where}: empty video_id or path")
            if escapes_root(row["path"]):
                raise DatasetError(f"{where}: path {row['path']!r} leaves the dataset root (paths are relative to "
                                   "the folder holding the manifest); refused, not opened")
            kw: dict[str, Any] = {}
            for fld in fields(VideoRecord):
                v = row.get(fld.name)
                if v is None or v == "":
                    continue
                if fld.name in ("label", "frames", "width", "height"):
                    try:
                        v = int(v)
                    except ValueError:
                        raise DatasetError(f"{where}: column {fld.name!r} must be an integer, got {v!r}") from None
                elif fld.name == "fps":
                    try:
                        v = float(v)
                    except ValueError:
                        v = math.nan
                    if not math.isfinite(v) or v <= 0:
                        raise DatasetError(f"{where}: column 'fps' must be a positive number, got {row['fps']!r}")
                kw[fld.name] = v
            kw.setdefault("method", "original" if kw["label"] == 0 else "unknown")
            if kw.get("label_tracks"):
                from ..contracts import parse_label_tracks

                parse_label_tracks(kw["label_tracks"], f"{where}: column 'label_tracks'")
            out.append(VideoRecord(**kw))
    unique_ids(out, str(path))
    return out


def describe(ds: Dataset, split: str) -> dict[str, Any]:
    """What a report says about a dataset, as it is now: kind, root, videos by split and method
    (real, fake, identities), generation quality and settings when vcbench made it, and the
    ``split`` records with absolute paths (the gallery's real/fake pair). The benchmark records it
    in its run's context.json, so the report of an old run does not depend on today's files."""
    groups: dict = {}
    for r in ds.records:
        g = groups.setdefault((r.split, r.method), {"real": 0, "fake": 0, "ids": set()})
        g["fake" if r.label else "real"] += 1
        g["ids"] |= {i for i in (r.source_id, r.target_id) if i}
    out: dict[str, Any] = {
        "name": ds.name, "kind": ds.kind, "root": str(ds.root), "videos": len(ds.records),
        "groups": [[split_, meth, g["real"], g["fake"], len(g["ids"])] for (split_, meth), g in sorted(groups.items())],
        "records": [{**r.row(), "path": str(ds.abspath(r)), "content": file_content(ds.abspath(r))}
                    for r in ds.records if r.split in (split, "val")],
        "quality": None, "generated": None, "note": ds.note}
    q = Path(ds.root) / "quality.csv"
    if q.is_file():
        with open(q, newline="", encoding="utf-8", errors="replace") as f:
            rows = list(csv.DictReader(f))

        def mean(k):
            v = [float(r[k]) for r in rows if r.get(k) not in (None, "")]
            return round(sum(v) / len(v), 4) if v else None
        out["quality"] = {"fakes": len(rows), **{k: mean(k) for k in ("swapped_fraction", "face_psnr", "face_ssim",
                                                                       "id_sim_fake")}}
    g = Path(ds.root) / "generate.json"
    if g.is_file():
        try:
            doc = json.loads(g.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            doc = None
        if isinstance(doc, dict):
            sw = doc.get("swapper")
            out["generated"] = {"swapper": sw.get("name") if isinstance(sw, dict) else sw,
                                "face_backend": doc.get("face_backend"), "presets": list(doc.get("presets") or [])}
    return out
