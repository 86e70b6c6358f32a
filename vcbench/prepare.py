"""``vcbench datasets prepare``: fill the face-track cache for a dataset (resumable, shardable).

An entry module: it joins two domain packages (datasets and faces), which may not import each other.
"""
from __future__ import annotations

from pathlib import Path

from .batch import BatchResult
from .errors import VcbenchError


def prepare_dataset(name: str, datasets_file=None, backend: str = "mediapipe", shard: str = "0/1",
                    cache_dir: Path | None = None, log=print) -> BatchResult:
    """Track every video of shard i/n; videos already cached are skipped (so re-runs resume)."""
    from .datasets import get_dataset
    from .faces.tracking import backend_key, cache_file, default_cache_dir, get_backend, track_video
    from .runtime import shard_items

    ds = get_dataset(name, datasets_file)
    recs = shard_items(sorted(ds.records, key=lambda r: r.video_id), shard)
    key = backend_key(backend)
    cdir = Path(cache_dir) if cache_dir else default_cache_dir()
    result = BatchResult("videos")
    be = None
    try:
        for r in recs:
            path = ds.abspath(r)
            try:
                if cache_file(path, key, cache_dir=cdir).is_file():
                    result.skipped += 1
                    continue
                be = be or get_backend(backend)
                vt = track_video(path, backend=be, cache_dir=cdir)
                result.done += 1
                log(f"{r.video_id}: {len(vt.tracks)} track(s), {vt.n_frames} frames")
            except (VcbenchError, OSError) as e:
                result.fail(r.video_id, e)
    finally:
        if be is not None:
            be.close()
    return result
