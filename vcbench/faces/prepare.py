"""Fill the face-track cache for a list of videos (``vcbench datasets prepare``): resumable (a
video whose tracks are cached is done), shardable, a video that fails is named and the rest go on.
Takes (name, path) pairs, so it serves any dataset kind without knowing datasets."""
from __future__ import annotations

from pathlib import Path

from ..batch import BatchResult
from ..runs import BatchJob, run_job


class TrackJob(BatchJob):
    """One item per video: its face tracks, computed once into the cache (a cached one is done)."""

    what = "videos"

    def __init__(self, videos: list[tuple[str, Path]], backend: str, cache_dir: Path, log):
        from .tracking import backend_key

        self.videos, self.backend, self.cache_dir, self.log = videos, backend, cache_dir, log
        self.key_ = backend_key(backend)
        self.be = None

    def items(self) -> list:
        return sorted(self.videos)

    def key(self, item) -> str:
        return item[0]

    def is_done(self, item) -> bool:
        from .tracking import cache_file

        return cache_file(item[1], self.key_, cache_dir=self.cache_dir).is_file()

    def run(self, item) -> None:
        from .tracking import get_backend, track_video

        name, path = item
        self.be = self.be or get_backend(self.backend)
        vt = track_video(path, backend=self.be, cache_dir=self.cache_dir)
        self.log(f"{name}: {len(vt.tracks)} track(s), {vt.n_frames} frames")


def track_all(videos: list[tuple[str, Path]], backend: str = "mediapipe", shard: str = "0/1",
              cache_dir: Path | None = None, log=print) -> BatchResult:
    """Track every video of shard i/n (in name order); videos already cached are skipped."""
    from .tracking import default_cache_dir

    job = TrackJob(videos, backend, Path(cache_dir) if cache_dir else default_cache_dir(), log)
    try:
        return run_job(job, shard).result
    finally:
        if job.be is not None:
            job.be.close()
