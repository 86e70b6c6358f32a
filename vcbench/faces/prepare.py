"""``vcbench datasets prepare``: fill the face-track cache for a dataset (resumable, shardable)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import ConfigError, VcbenchError


def parse_shard(shard: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like i/n, got {shard!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ConfigError(f"--shard {shard}: need 0 <= i < n")
    return i, n


def prepare_dataset(name: str, datasets_file=None, backend: str = "mediapipe", shard: str = "0/1",
                    cache_dir: Path | None = None, echo: Callable[[str], None] = print):
    """Track every video of shard i/n; videos already cached are skipped (so re-runs resume)."""
    from ..datasets import get_dataset
    from .tracking import cache_file, default_cache_dir, get_backend, track_video

    i, n = parse_shard(shard)
    ds = get_dataset(name, datasets_file)
    recs = [r for k, r in enumerate(sorted(ds.records, key=lambda r: r.video_id)) if k % n == i]
    be = get_backend(backend)
    cdir = Path(cache_dir) if cache_dir else default_cache_dir()
    done = skipped = 0
    failures: list[tuple[str, str]] = []
    for r in recs:
        path = ds.abspath(r)
        try:
            if cache_file(path, be.key, cache_dir=cdir).is_file():
                skipped += 1
                continue
            vt = track_video(path, backend=be, cache_dir=cdir)
            done += 1
            echo(f"{r.video_id}: {len(vt.tracks)} track(s), {vt.n_frames} frames")
        except (VcbenchError, OSError) as e:
            failures.append((r.video_id, str(e)))
    return done, skipped, failures, len(recs)
