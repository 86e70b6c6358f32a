"""Deep-Live-Cam's swapper: insightface analysis + inswapper_128.onnx."""
from __future__ import annotations

import os
from pathlib import Path

INSWAPPER_NAME = "inswapper_128.onnx"


def find_inswapper(explicit: str | os.PathLike | None = None) -> Path | None:
    """An explicit path, else ~/.insightface/models/**/inswapper_128*.onnx, else ./models/."""
    if explicit:
        p = Path(explicit).expanduser()
        return p if p.is_file() else None
    from ...doctor import insightface_root

    for d in (insightface_root(), Path("models")):
        if d.is_dir():
            hits = sorted(d.rglob("inswapper_128*.onnx"))
            if hits:
                return hits[0]
    return None
