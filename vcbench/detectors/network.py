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


def _training(file, record) -> dict | None:
    """What the weights were trained on: a vcbench checkpoint's own record, a ``.training.json``
    beside the file, or the weight tag its SHA-256 pins; None when nobody says."""
    from ..contracts import checked_training
    from .base import declared_training

    if record is not None:
        return checked_training(record, f"{file.path} (its training record)")
    side = declared_training(file.path)
    if side is not None:
        return side
    from ..models.archs import tag_of_sha256

    tag = tag_of_sha256(file.sha256)
    return {"tag": tag} if tag else None


def _stream(r, clip_len: int) -> dict:
    """A scored video's stream windows (``Prediction.stream``)."""
    return {"clip_len": clip_len, "frames": r.n_frames,
            "tracks": {str(t.track_id): [[int(f), round(float(v), 6)] for f, v in t.windows] for t in r.tracks}}


def run_checkpoint(path) -> Path:
    """A checkpoint file as given, or a fine-tuning run folder's ``best.pth``."""
    p = Path(path)
    return p / "best.pth" if p.is_dir() and (p / "best.pth").is_file() else p


def checkpoint_detector(model: str | None, checkpoint, settings: DetectorSettings) -> Detector:
    """The detector ``--model`` or ``--checkpoint`` names (watch, explain): ``model`` as a spec, else
    the checkpoint file (or run folder) as the network it holds: the architecture a vcbench
    checkpoint names, AltFreezing for a release's file. The file is read once, here."""
    if model is not None:
        return Detector.from_spec(model, settings)
    from ..models.checkpoint import CheckpointFile

    ckpt = run_checkpoint(checkpoint)
    if not ckpt.is_file():
        raise ConfigError(f"--checkpoint {checkpoint}: no such file (nor a run folder with best.pth)")
    file = CheckpointFile(ckpt)
    arch = file.arch or "altfreezing"
    return NetworkDetector.from_file(arch, file, f"{arch}={ckpt}", settings, arch=arch)


class NetworkDetector(Detector):
    kind = "vcbench"
    explainable = True

    def __init__(self, name: str, spec: str, settings: DetectorSettings, arch: str, file, provenance: dict):
        super().__init__(name, spec, settings)
        #: the weights' :class:`~vcbench.models.checkpoint.CheckpointFile` (None: untrained)
        self.arch, self.file = arch, file
        self.provenance = {"arch": arch, "checkpoint": str(file.path) if file else None, **provenance}
        train = provenance.get("provenance") if isinstance(provenance.get("provenance"), dict) else {}
        self.seen_presets = tuple(train["presets_seen"]) if "presets_seen" in train else None
        self.seen_methods = tuple(train["methods_seen"]) if "methods_seen" in train else None
        self._net = None

    @classmethod
    def build(cls, name, value, spec, settings, arch: str | None = None, **meta) -> "NetworkDetector":
        from ..models import NETWORKS
        from ..models.checkpoint import CheckpointFile

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
        return cls.from_file(name, CheckpointFile(ckpt), spec, settings, arch=arch)

    @classmethod
    def from_file(cls, name, file, spec, settings, arch: str | None = None) -> "NetworkDetector":
        """The detector of the checkpoint ``file`` (a :class:`~vcbench.models.checkpoint.CheckpointFile`,
        read here once; the network is built from the same contents on first use)."""
        prov: dict = {}
        record = None
        if file.ours:
            obj = file.contents
            if arch is not None and obj.get("arch") not in (None, arch):   # a registered name promises its network
                value = spec.partition("=")[2]
                raise CheckpointError(f"--model {spec}: {file.path} is a {obj.get('arch')!r} checkpoint, not "
                                      f"{arch!r} (pass --model {obj.get('arch')}={value}, or a name of your own)")
            arch = obj.get("arch", arch or name)
            inner = obj.get("provenance") if isinstance(obj.get("provenance"), dict) else {}
            record = inner.get("training")
            prov = {"provenance": {k: v for k, v in inner.items() if k != "training"}}   # the record: det.training
        elif arch is None:
            raise CheckpointError(f"--model {spec}: {file.path} is not a vcbench checkpoint, so NAME must be the "
                                  f"registered architecture it fits (e.g. altfreezing={file.path})")
        det = cls(name, spec, settings, arch, file, prov)
        det.training = _training(file, record)
        return det

    @property
    def checkpoint(self) -> Path | None:
        """The weights' file (None: untrained)."""
        return self.file.path if self.file is not None else None

    def network(self):
        """The loaded network (strictly, ``weights_only``), built on first use."""
        if self._net is None:
            from ..models import load_network
            from ..runtime import resolve_device

            self._net = load_network(self.arch, self.file, resolve_device(self.settings.device))
            if self.file is not None:
                self.file.release()                 # the network holds the weights now
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
        if self.file is None:
            return super().fingerprint()
        return {"file": str(self.file.path), "sha256": self.file.sha256}

    def close(self) -> None:
        self._net = None
