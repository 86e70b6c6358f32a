"""A registered network with its weights, scored by ``vcbench.scoring`` from its declared input.

``NAME=VALUE``: VALUE is a checkpoint in any format the network's ``checkpoint_filter_fn`` reads
(``altfreezing=model.pth``), a vcbench checkpoint such as a fine-tuning run's ``best.pth`` or the
run folder holding it (the architecture is read from the file, so NAME is free), or ``untrained``
(the registered network initialised from seed 0: a labelled pipeline check, never a result).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError, ConfigError
from .base import Detector, DetectorSettings, Prediction


class NetworkDetector(Detector):
    kind = "vcbench"

    def __init__(self, name: str, spec: str, settings: DetectorSettings, arch: str, checkpoint: Path | None,
                 provenance: dict):
        super().__init__(name, spec, settings)
        self.arch, self.checkpoint = arch, checkpoint
        self.provenance = {"arch": arch, "checkpoint": str(checkpoint) if checkpoint else None, **provenance}
        train = provenance.get("provenance") if isinstance(provenance.get("provenance"), dict) else {}
        self.seen_presets = tuple(train["presets_seen"]) if "presets_seen" in train else None
        self.seen_methods = tuple(train["methods_seen"]) if "methods_seen" in train else None
        self._net = None

    @classmethod
    def build(cls, name, value, spec, settings, arch: str | None = None, **meta) -> "NetworkDetector":
        from ..models import NETWORKS

        if value is None:
            raise ConfigError(f"--model {name}: no built-in weights ship with vcbench; pass {name}=CHECKPOINT "
                              f"(or {name}=untrained for a pipeline check)")
        if value == "untrained":
            NETWORKS.entry(arch or name)            # an unknown architecture answers "did you mean"
            return cls(name, spec, settings, arch or name, None,
                       {"weights": "untrained (seed 0): a pipeline check, not a result"})
        ckpt = Path(value)
        if ckpt.is_dir() and (ckpt / "best.pth").is_file():     # a fine-tuning run folder
            ckpt = ckpt / "best.pth"
        if not ckpt.is_file():
            raise ConfigError(f"--model {spec}: {ckpt} is neither a checkpoint file, a run folder with best.pth, "
                              "'untrained' nor a .py detector")
        from ..models.checkpoint import FORMAT, read_checkpoint

        obj = read_checkpoint(ckpt)
        prov: dict = {}
        if isinstance(obj, dict) and obj.get("format") == FORMAT:
            arch = obj.get("arch", arch or name)
            prov = {"provenance": obj.get("provenance", {})}
        elif arch is None:
            raise CheckpointError(f"--model {spec}: {ckpt} is not a vcbench checkpoint, so NAME must be the "
                                  f"registered architecture it fits (e.g. altfreezing={ckpt})")
        return cls(name, spec, settings, arch, ckpt, prov)

    def network(self):
        """The loaded network (strictly, ``weights_only``), built on first use."""
        if self._net is None:
            from ..models import load_network
            from ..runtime import resolve_device

            self._net = load_network(self.arch, self.checkpoint, resolve_device(self.settings.device))
            if self._net.weights is not None:
                self.provenance["weights"] = self._net.weights.to_json()
        return self._net

    @property
    def input(self):
        """The declared input (``models.preprocess.Preprocess``) the scorer feeds this network."""
        return self.network().preprocess

    def predict_batch(self, paths, ids):
        from ..scoring import score_videos

        s = self.settings
        results, batch = score_videos(list(paths), network=self.network(), settings=s.score, device=s.device,
                                      backend=s.face_backend, cache_dir=s.cache_dir)
        by_path = {r.video: r for r in results}
        why = {str(item): reason for item, reason in batch.failed}
        return [Prediction(by_path[str(p)].score, by_path[str(p)].n_clips) if str(p) in by_path
                else Prediction.failed(why.get(str(p), "not scored")) for p in paths]

    def fingerprint(self) -> dict:
        from ..fileio import sha256_file

        if self.checkpoint is None:
            return super().fingerprint()
        return {"file": str(self.checkpoint), "sha256": sha256_file(self.checkpoint)}

    def close(self) -> None:
        self._net = None
