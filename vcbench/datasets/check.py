"""``vcbench datasets check``: every problem a run would trip over later, found up front."""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import VideoError
from .base import Dataset


def probe_all(ds: Dataset, decode_all: bool = False, workers: int | None = None) -> dict:
    """{video_id: VideoInfo or error string}; PyAV releases the GIL, so threads overlap."""
    from ..video import iter_frames, probe

    def one(rec):
        path = ds.abspath(rec)
        try:
            if not os.access(path, os.R_OK) and path.exists():
                return rec.video_id, f"{path}: not readable"
            info = probe(path)
            if decode_all:
                n = sum(1 for _ in iter_frames(path))
                if n != info.frames:
                    return rec.video_id, f"{path}: decoded {n} of {info.frames} frames"
            return rec.video_id, info
        except VideoError as e:
            return rec.video_id, str(e)

    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        return dict(pool.map(one, ds.records))


@dataclass
class CheckReport:
    dataset: str
    total: int
    counts: dict
    problems: list[tuple[str, str]] = field(default_factory=list)   # (video_id, message): errors
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """What ``vcbench datasets check`` prints: counts, each warning, each problem."""
        return ([f"{self.dataset}: {self.total} videos; " +
                 ", ".join(f"{s}: {c['real']} real / {c['fake']} fake" for s, c in self.counts.items())]
                + [f"warning: {w}" for w in self.warnings] + [f"problem: {vid}: {msg}" for vid, msg in self.problems])


def check_dataset(ds: Dataset, decode_all: bool = False) -> CheckReport:
    """Missing/unreadable/undecodable files, duplicate paths, balance, pairing and identity leaks."""
    rep = CheckReport(ds.name, len(ds.records), ds.counts())
    for vid, info in probe_all(ds, decode_all).items():
        if isinstance(info, str):
            rep.problems.append((vid, info))
    paths = Counter(r.path for r in ds.records)
    for p, n in paths.items():
        if n > 1:
            rep.problems.append((p, f"path used by {n} video_ids"))
    for split, c in rep.counts.items():
        if c["real"] == 0 or c["fake"] == 0:
            rep.warnings.append(f"split {split!r} has {c['real']} real and {c['fake']} fake videos: AUC is undefined")
        else:
            ratio = max(c["real"], c["fake"]) / min(c["real"], c["fake"])
            if ratio > 10:
                rep.warnings.append(f"split {split!r} is imbalanced: {c['real']} real vs {c['fake']} fake")
    ids = {r.video_id for r in ds.records}
    orphans = [r.video_id for r in ds.records if r.label == 1 and r.pair_id and r.pair_id not in ids]
    if orphans:
        rep.warnings.append(f"{len(orphans)} fake(s) whose pair_id names no video here, e.g. {orphans[0]}")
    splits_of: dict[str, set[str]] = defaultdict(set)
    for r in ds.records:
        for ident in (r.source_id, r.target_id):
            if ident:
                splits_of[ident].add(r.split)
    leaks = sorted(i for i, s in splits_of.items() if "train" in s and s & {"val", "test"})
    if leaks and ds.kind == "celebdf":   # by design of its official test list: said as a count, not hidden
        rep.warnings.append(f"{len(leaks)} identities appear in train and in val/test, e.g. {leaks[0]} (Celeb-DF's "
                            "official test list shares identities with training; clips it shares are left out)")
    elif leaks:
        rep.warnings.append(f"{len(leaks)} identities appear in train and in val/test, e.g. {leaks[0]}")
    if ds.excluded:
        shared = sum(reason.startswith("shares clip") for _, reason in ds.excluded)
        rep.warnings.append(f"{len(ds.excluded)} video(s) left out by the loader, e.g. "
                            f"{ds.excluded[0][0]} ({ds.excluded[0][1]})"
                            + (f"; {shared} of them share a clip with a test video" if shared else ""))
    return rep
