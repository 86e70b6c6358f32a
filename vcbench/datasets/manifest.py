"""A folder holding manifest.csv: what ``vcbench generate`` writes, or a user's own table."""
from __future__ import annotations

from ..config import DatasetConfig
from ..errors import DatasetError
from .base import Dataset, read_manifest


def load(cfg: DatasetConfig) -> Dataset:
    path = cfg.root / cfg.opt("manifest")
    if not path.is_file():
        raise DatasetError(f"{cfg.source}: manifest {path} not found")
    return Dataset(cfg.name, "manifest", cfg.root, read_manifest(path))
