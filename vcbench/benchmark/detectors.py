"""What can be benchmarked: registered detectors with a checkpoint, vcbench fine-tuning runs,
bring-your-own detector files, installed plug-ins, and a chance reference.

``--model NAME=VALUE``: VALUE is a checkpoint for a registered detector (``altfreezing=model.pth``),
a vcbench checkpoint such as a run's ``best.pth`` (its architecture is read from the file),
``untrained`` (the registered network initialised from seed 0: a labelled pipeline check), or a
``.py`` file defining ``predict(video_path) -> float`` (probability of fake) or a class with
``predict_batch(paths) -> list[float]``. A bare NAME is ``chance`` (seeded uniform scores) or a
detector an installed package registers under the entry-point group ``vcbench.detectors``.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError, ConfigError, VcbenchError
from ..fileio import sha256_file
from ..runtime import resolve_device

ENTRY_POINT_GROUP = "vcbench.detectors"


@dataclass
class Prediction:
    score: float | None
    clips: int = 0
    status: str = "ok"          # ok, or the reason it failed


@dataclass
class Detector:
    """One benchmarked model: a name, how it was specified, where its weights came from."""

    name: str
    spec: str
    kind: str                                     # vcbench | byo | plugin | chance
    provenance: dict = field(default_factory=dict)
    seen_presets: tuple[str, ...] | None = None   # from a fine-tuning run's checkpoint, when known
    seen_methods: tuple[str, ...] | None = None
    _impl: object = None

    def predict(self, paths: list[Path], ids: list[str], ctx) -> list[Prediction]:
        """One Prediction per path; a score that is not a finite probability fails its video, whatever
        kind of detector made it."""
        return [p if p.score is None else _valid(p.score, self.name, p.clips)
                for p in self._impl(paths, ids, ctx)]

    def to_json(self) -> dict:
        return {"name": self.name, "spec": self.spec, "kind": self.kind, "provenance": self.provenance,
                "seen_presets": list(self.seen_presets) if self.seen_presets is not None else None,
                "seen_methods": list(self.seen_methods) if self.seen_methods is not None else None}


def parse_model(spec: str) -> tuple[str, str | None]:
    name, sep, value = spec.partition("=")
    if not name or (sep and not value):
        raise ConfigError(f"--model {spec!r}: expected NAME or NAME=VALUE (checkpoint, run's best.pth, "
                          "'untrained' or detector.py)")
    return name, value or None


def load_detectors(specs: tuple[str, ...], cfg) -> list[Detector]:
    out, seen = [], set()
    for spec in specs:
        name, value = parse_model(spec)
        if name in seen:
            raise ConfigError(f"--model {spec!r}: the name {name!r} is used twice; give each model its own name")
        seen.add(name)
        out.append(_load(name, value, spec, cfg))
    return out


def _load(name: str, value: str | None, spec: str, cfg) -> Detector:
    from ..models import DETECTORS

    if value is None:
        if name == "chance":
            return Detector(name, spec, "chance", {"seed": cfg.seed}, _impl=_chance(cfg.seed))
        plugins = {ep.name: ep for ep in md.entry_points(group=ENTRY_POINT_GROUP)}
        if name in plugins:
            obj = plugins[name].load()
            obj = obj() if isinstance(obj, type) else obj
            return Detector(name, spec, "plugin", {"entry_point": plugins[name].value}, _impl=_byo(obj, name))
        if name in DETECTORS:
            raise ConfigError(f"--model {name}: no built-in weights ship with vcbench; pass {name}=CHECKPOINT "
                              f"(or {name}=untrained for a pipeline check)")
        from ..registry import suggest

        hint = suggest(name, sorted(DETECTORS.names() + ["chance", *plugins]))
        raise ConfigError(f"--model {name}: not a registered detector, 'chance' or an installed plug-in"
                          + (f"; did you mean {hint[0]!r}?" if hint else "") + " (or pass NAME=VALUE)")
    if value.endswith(".py"):
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"--model {spec}: {path} not found")
        from .isolate import IsolatedDetector

        iso = IsolatedDetector(path, name, getattr(cfg, "detector_timeout", 600.0))
        return Detector(name, spec, "byo", {"file": str(path), "sha256": sha256_file(path)},
                        _impl=_isolated(iso, name))
    return _load_vcbench(name, value, spec, cfg)


def _load_vcbench(name: str, value: str, spec: str, cfg) -> Detector:
    from ..models import DETECTORS

    arch, ckpt, prov = name, None, {}
    if value == "untrained":
        DETECTORS.entry(name)
        prov = {"weights": "untrained (seed 0): a pipeline check, not a result"}
    else:
        ckpt = Path(value)
        if not ckpt.is_file():
            raise ConfigError(f"--model {spec}: {ckpt} is neither a checkpoint file, 'untrained' nor a .py detector")
        from ..models.checkpoint import FORMAT, read_checkpoint

        obj = read_checkpoint(ckpt)
        if isinstance(obj, dict) and obj.get("format") == FORMAT:
            arch = obj.get("arch", name)
            prov = {"provenance": obj.get("provenance", {})}
        elif name not in DETECTORS:
            raise CheckpointError(f"--model {spec}: {ckpt} is not a vcbench checkpoint, so NAME must be the "
                                  f"registered architecture it fits (e.g. altfreezing={ckpt})")
    train = prov.get("provenance", {}) if isinstance(prov.get("provenance"), dict) else {}
    seen_p = tuple(train["presets_seen"]) if "presets_seen" in train else None
    seen_m = tuple(train["methods_seen"]) if "methods_seen" in train else None
    state: dict = {}

    def run(paths, ids, ctx):
        from ..models import load_detector
        from ..scoring import score_videos

        if "net" not in state:
            state["net"] = load_detector(arch, ckpt, resolve_device(cfg.device))
            if state["net"].weights is not None:
                prov["weights"] = state["net"].weights.to_json()
        results, batch = score_videos(paths, detector=state["net"], device=cfg.device, backend=cfg.face_backend,
                                      cache_dir=cfg.cache_dir, mode=cfg.mode, clips=cfg.clips,
                                      precision=cfg.precision, max_frames=cfg.max_frames)
        by_path = {r.video: r for r in results}
        why = {item: reason for item, reason in batch.failed}
        out = []
        for p in paths:
            r = by_path.get(str(p))
            out.append(Prediction(r.score, r.n_clips) if r is not None
                       else Prediction(None, 0, why.get(str(p), "not scored")))
        return out

    det = Detector(name, spec, "vcbench", {"arch": arch, "checkpoint": str(ckpt) if ckpt else None, **prov},
                   seen_p, seen_m, _impl=run)
    return det


def _valid(score, where: str, clips: int = 1) -> Prediction:
    try:
        v = float(score)
    except (TypeError, ValueError):
        return Prediction(None, 0, f"{where} returned {score!r}, not a number")
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        return Prediction(None, 0, f"{where} returned {v!r}, not a probability in [0, 1]")
    return Prediction(v, clips)


def _byo(obj, name: str):
    def run(paths, ids, ctx):
        if callable(getattr(obj, "predict_batch", None)):
            try:
                scores = list(obj.predict_batch([str(p) for p in paths]))
            except Exception as e:  # noqa: BLE001 - the detector's failure fails these videos, not the run
                return [Prediction(None, 0, f"{name}.predict_batch raised {type(e).__name__}: {e}")] * len(paths)
            if len(scores) != len(paths):
                return [Prediction(None, 0, f"{name}.predict_batch returned {len(scores)} scores for "
                                            f"{len(paths)} videos")] * len(paths)
            return [_valid(s, f"{name}.predict_batch") for s in scores]
        out = []
        for p in paths:
            try:
                out.append(_valid(obj.predict(str(p)), f"{name}.predict"))
            except Exception as e:  # noqa: BLE001
                out.append(Prediction(None, 0, f"{name}.predict raised {type(e).__name__}: {e}"))
        return out
    return run


def _isolated(iso, name: str):
    """A ``.py`` detector in its own process (``isolate.py``): its exit, crash or hang fails the
    videos of that call with the reason; the run goes on."""
    def run(paths, ids, ctx):
        if iso.kind == "single" and len(paths) > 1:      # one call per video: its exit fails it alone
            return [q for p in paths for q in run([p], None, ctx)]
        kind, value = iso.call([str(p) for p in paths])
        if kind == "failed":
            return [Prediction(None, 0, f"{name}: {value}")] * len(paths)
        if kind == "batch":
            if len(value) != len(paths):
                return [Prediction(None, 0, f"{name}.predict_batch returned {len(value)} scores for "
                                            f"{len(paths)} videos")] * len(paths)
            return [_valid(v, f"{name}.predict_batch") for v in value]
        return [Prediction(None, 0, f"{name}.{why}") if why else _valid(v, f"{name}.predict") for v, why in value]
    return run


def _chance(seed: int):
    def run(paths, ids, ctx):
        out = []
        for vid in ids:
            h = int(hashlib.sha1(f"{seed}|{vid}".encode()).hexdigest()[:12], 16)
            out.append(Prediction(h / float(1 << 48), 0))
        return out
    return run


__all__ = ["Detector", "Prediction", "load_detectors", "VcbenchError"]
