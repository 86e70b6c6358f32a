"""The renditions cache: a video under a call condition and seed, made once and shared.

The benchmark (presets on evaluation data) and finetune (call-condition augmentation) both ask
for ``rendition(src, preset, seed)``; the file lives under ``$VCBENCH_CACHE/renditions``, keyed by
the source's content (so a moved dataset keeps its renditions) and named by preset and seed.
When the source's face tracks are cached, they are carried through the preset's timing and
scaling (``simulate.map_tracks``) into the rendition's cache entry, so the rendition needs no
face detection of its own.
"""
from __future__ import annotations

import hashlib
from pathlib import Path


def pair_seed(seed: int, key: str, preset: str) -> int:
    """The loss/noise seed of a video under a preset: the same for a fake and the real it was made
    from (keyed by pair), the same for every model, run and stage."""
    return int(hashlib.sha1(f"{seed}|{key}|{preset}".encode()).hexdigest()[:8], 16)


#: bumped whenever the simulator renders the same preset differently, so no cached rendition of
#: an older model is served (2: the packet-level network model, keyframe caps)
SIMULATOR_VERSION = 2


def preset_digest(preset) -> str:
    """8 hex digits over every setting of ``preset`` that changes its output, and the simulator's
    version: a preset edited in a user's file, or redefined in a release, gets new renditions."""
    import dataclasses
    import json

    settings = {k: v for k, v in dataclasses.asdict(preset).items()
                if k not in ("name", "description", "sources", "estimates")}
    if settings.get("far_scale"):          # far's room is blurred at a fraction of the size since
        settings["far_room"] = 2           # this: its renditions are new, no other preset's
    text = json.dumps([SIMULATOR_VERSION, settings], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def rendition_path(src: Path, preset, seed: int, engine: str = "ffmpeg") -> Path:
    """Keyed by the source's content, the preset and its settings, the seed and the engine (a real
    WebRTC call's rendition is never mistaken for the modelled one)."""
    from ..fileio import content_id
    from ..runtime import cache_root
    from .engines import output_extension

    cid = content_id(Path(src))
    tag = "" if engine == "ffmpeg" else f"-{engine}"
    name = f"{preset.name}-{preset_digest(preset)}{tag}-s{seed}{output_extension(preset, engine)}"
    return cache_root() / "renditions" / cid[:2] / cid / name


def rendition(src: Path, preset, seed: int, ffmpeg: str | None = None, tracks_key: str | None = None,
              tracks_dir: Path | None = None, engine: str = "ffmpeg") -> Path:
    """``src`` under ``preset`` with ``seed``, made once by ``engine`` and cached by content.

    With ``tracks_key`` (a face backend's cache key), the source's cached tracks, when present,
    are mapped into the rendition's cache entry in ``tracks_dir`` (where the timing maps exactly).
    """
    from ..fileio import remove_stale_temporaries
    from .engines import simulate_with

    out = rendition_path(src, preset, seed, engine)
    if not out.is_file():
        if out.parent.is_dir():            # what a killed run left while making it (its writer is gone)
            remove_stale_temporaries(out.parent)
        stats = simulate_with(engine, src, out, preset, seed=seed, ffmpeg=ffmpeg)
    else:
        stats = None
    if tracks_key is not None:
        _map_cached_tracks(Path(src), out, preset, seed, tracks_key, tracks_dir, stats)
    return out


def _map_cached_tracks(src: Path, out: Path, preset, seed: int, key: str, tracks_dir, stats) -> None:
    import json

    from ..faces.tracking import cache_file
    from ..video import probe
    from .simulate import carry_tracks, stats_path

    dst = cache_file(out, key, tracks_dir)
    src_file = cache_file(src, key, tracks_dir)
    # a byte-for-byte copy (codec "none") has the source's content, hence the source's cache entry
    if dst.is_file() or not src_file.is_file():
        return
    if stats is None:
        try:
            stats = json.loads(stats_path(out).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
    carry_tracks(src_file, dst, probe(src), preset, seed, stats, out)
