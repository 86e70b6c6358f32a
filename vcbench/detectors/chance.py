"""``chance``: seeded uniform scores, a reference row every table can be read against."""
from __future__ import annotations

import hashlib

from ..errors import ConfigError
from .base import Detector, Prediction


class ChanceDetector(Detector):
    """A score per video id from a hash of (seed, id): the same video gets the same score in
    every run and shard, and no video's score depends on which others are scored with it."""

    kind = "chance"

    @classmethod
    def build(cls, name, value, spec, settings, **meta) -> "ChanceDetector":
        if value is not None:
            raise ConfigError(f"--model {spec}: chance takes no VALUE (pass --model chance)")
        det = cls(name, spec, settings)
        det.provenance = {"seed": settings.seed}
        return det

    def predict_batch(self, paths, ids, tracks=None):
        seed = self.settings.seed
        return [Prediction(int(hashlib.sha1(f"{seed}|{vid}".encode()).hexdigest()[:12], 16) / float(1 << 48), 0)
                for vid in ids]
