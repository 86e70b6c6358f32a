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


def _training(ckpt: Path, record) -> dict | None:
    """What the weights were trained on: a vcbench checkpoint's own record, a ``.training.json``
    beside the file, or the weight tag its SHA-256 pins; None when nobody says."""
    from ..contracts import checked_training
    from .base import declared_training

    if record is not None:
        return checked_training(record, f"{ckpt} (its training record)")
    side = declared_training(ckpt)
    if side is not None:
        return side
    from ..fileio import sha256_file
    from ..models.archs import tag_of_sha256

    tag = tag_of_sha256(sha256_file(ckpt))
    return {"tag": tag} if tag else None


def _stream(r, clip_len: int) -> dict:
    """A scored video's stream windows (``Prediction.stream``)."""
    return {"clip_len": clip_len, "frames": r.n_frames,
            "tracks": {str(t.track_id): [[int(f), round(float(v), 6)] for f, v in t.windows] for t in r.tracks}}


def run_checkpoint(path) -> Path:
    """A checkpoint file as given, or a fine-tuning run folder's ``best.pth``."""
    p = Path(path)
    return p / "best.pth" if p.is_dir() and (p / "best.pth").is_file() else p


def checkpoint_spec(model: str | None, checkpoint) -> str:
    """What ``--model`` / ``--checkpoint`` name, as a ``--model`` spec: ``model`` as given, else
    ``ARCH=FILE`` for the checkpoint (or run folder): the architecture a vcbench checkpoint names,
    AltFreezing for a release's file."""
    if model is not None:
        return model
    from ..models.checkpoint import checkpoint_arch

    ckpt = run_checkpoint(checkpoint)
    if not ckpt.is_file():
        raise ConfigError(f"--checkpoint {checkpoint}: no such file (nor a run folder with best.pth)")
    return f"{checkpoint_arch(ckpt) or 'altfreezing'}={ckpt}"


class NetworkDetector(Detector):
    kind = "vcbench"
    explainable = True

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
        ckpt = run_checkpoint(value)
        if not ckpt.is_file():
            raise ConfigError(f"--model {spec}: {ckpt} is neither a checkpoint file, a run folder with best.pth, "
                              "'untrained' nor a .py detector")
        from ..models.checkpoint import FORMAT, read_checkpoint

        obj = read_checkpoint(ckpt)
        prov: dict = {}
        record = None
        if isinstance(obj, dict) and obj.get("format") == FORMAT:
            if arch is not None and obj.get("arch") not in (None, arch):   # a registered name promises its network
                raise CheckpointError(f"--model {spec}: {ckpt} is a {obj.get('arch')!r} checkpoint, not {arch!r} "
                                      f"(pass --model {obj.get('arch')}={value}, or a name of your own)")
            arch = obj.get("arch", arch or name)
            inner = obj.get("provenance") if isinstance(obj.get("provenance"), dict) else {}
            record = inner.get("training")
            prov = {"provenance": {k: v for k, v in inner.items() if k != "training"}}   # the record: det.training
        elif arch is None:
            raise CheckpointError(f"--model {spec}: {ckpt} is not a vcbench checkpoint, so NAME must be the "
                                  f"registered architecture it fits (e.g. altfreezing={ckpt})")
        det = cls(name, spec, settings, arch, ckpt, prov)
        det.training = _training(ckpt, record)
        return det

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

    def predict_batch(self, paths, ids, tracks=None):
        from ..scoring import score_videos

        s = self.settings
        labels = {str(p): t for p, t in zip(paths, tracks or []) if t is not None}
        results, batch = score_videos(list(paths), network=self.network(), settings=s.score, device=s.device,
                                      backend=s.face_backend, cache_dir=s.cache_dir, label_tracks=labels)
        by_path = {r.video: r for r in results}
        why = {str(item): reason for item, reason in batch.failed}
        clip_len = self.network().preprocess.clip_len
        return [Prediction(by_path[str(p)].score, by_path[str(p)].n_clips,
                           stream=_stream(by_path[str(p)], clip_len) if s.score is not None and s.score.stream else None)
                if str(p) in by_path else Prediction.failed(why.get(str(p), "not scored")) for p in paths]

    def window_scorer(self):
        from ..runtime import resolve_device
        from ..scoring import ClipScorer, resolve_settings

        dev = resolve_device(self.settings.device)
        st = resolve_settings(self.settings.score, self.settings.device)
        return ClipScorer(self.network(), dev, st.precision)

    def explain_network(self):
        return self.network()

    def fingerprint(self) -> dict:
        from ..fileio import sha256_file

        if self.checkpoint is None:
            return super().fingerprint()
        return {"file": str(self.checkpoint), "sha256": sha256_file(self.checkpoint)}

    def close(self) -> None:
        self._net = None
