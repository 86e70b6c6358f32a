"""``vcbench datasets prepare``: fill the face-track cache for a dataset (resumable, shardable).

An entry module: it joins two domain packages (datasets and faces), which may not import each other.
"""
from __future__ import annotations

from pathlib import Path

from .batch import BatchResult
from .runs import BatchJob, run_job


class PrepareJob(BatchJob):
    """One item per video: its face tracks, computed once into the cache (a cached one is done)."""

    what = "videos"

    def __init__(self, ds, backend: str, cache_dir: Path, log):
        from .faces.tracking import backend_key

        self.ds, self.backend, self.cache_dir, self.log = ds, backend, cache_dir, log
        self.key_ = backend_key(backend)
        self.be = None

    def items(self) -> list:
        return sorted(self.ds.records, key=lambda r: r.video_id)

    def key(self, r) -> str:
        return r.video_id

    def is_done(self, r) -> bool:
        from .faces.tracking import cache_file

        return cache_file(self.ds.abspath(r), self.key_, cache_dir=self.cache_dir).is_file()

    def run(self, r) -> None:
        from .faces.tracking import get_backend, track_video

        self.be = self.be or get_backend(self.backend)
        vt = track_video(self.ds.abspath(r), backend=self.be, cache_dir=self.cache_dir)
        self.log(f"{r.video_id}: {len(vt.tracks)} track(s), {vt.n_frames} frames")


def prepare_dataset(name: str, datasets_file=None, backend: str = "mediapipe", shard: str = "0/1",
                    cache_dir: Path | None = None, log=print) -> BatchResult:
    """Track every video of shard i/n; videos already cached are skipped (so re-runs resume)."""
    from .datasets import get_dataset
    from .faces.tracking import default_cache_dir

    ds = get_dataset(name, datasets_file)
    job = PrepareJob(ds, backend, Path(cache_dir) if cache_dir else default_cache_dir(), log)
    try:
        return run_job(job, shard).result
    finally:
        if job.be is not None:
            job.be.close()
