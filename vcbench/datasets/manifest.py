"""A folder holding manifest.csv: what ``vcbench generate`` writes, or a user's own table."""
from __future__ import annotations

from ..config import DatasetConfig
from ..errors import DatasetError
from .base import Dataset, read_manifest


def load(cfg: DatasetConfig) -> Dataset:
    path = cfg.root / cfg.opt("manifest")
    if not path.is_file():
        raise DatasetError(f"{cfg.source}: manifest {path} not found")
    return Dataset(cfg.name, "manifest", cfg.root, read_manifest(path), note=generated_note(cfg.root))


def generated_note(root) -> str | None:
    """The ``note`` a dataset's generate.json carries (``vcbench generate --note``), if any."""
    import json

    g = root / "generate.json"
    try:
        doc = json.loads(g.read_text(encoding="utf-8")) if g.is_file() else None
    except (ValueError, UnicodeDecodeError, OSError):
        return None
    note = doc.get("note") if isinstance(doc, dict) else None
    return note if isinstance(note, str) and note else None
