"""Detectors vcbench does not control: a user's ``.py`` file and installed plug-ins.

A ``.py`` file (``NAME=detector.py``) defines ``predict(video_path) -> float`` (probability of
fake) or a class with ``predict_batch(paths) -> list[float]``; it runs in a child process of its
own (``isolate.py``), so its ``sys.exit``, crash or hang fails the videos of that call, with the
reason, and the run goes on. A plug-in (entry-point group ``vcbench.detectors``) is imported in
process: a :class:`~.base.Detector` subclass is built as itself; any other object (or class,
instantiated) with ``predict_batch``/``predict`` is adapted here. Whatever they raise fails the
videos of that call, named.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .base import Detector, DetectorSettings, Prediction, checked


class FileDetector(Detector):
    kind = "byo"

    def __init__(self, name: str, spec: str, settings: DetectorSettings, path: Path):
        from ..fileio import sha256_file
        from .isolate import IsolatedDetector

        from .base import declared_training

        super().__init__(name, spec, settings)
        self.path = path
        self.provenance = {"file": str(path), "sha256": sha256_file(path)}
        self.training = declared_training(path)
        self._iso = IsolatedDetector(path, name, settings.timeout)

    @classmethod
    def build(cls, name, value, spec, settings, **meta) -> "FileDetector":
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"--model {spec}: {path} not found")
        return cls(name, spec, settings, path)

    def predict_batch(self, paths, ids, tracks=None):
        if self._iso.kind == "single" and len(paths) > 1:     # one call per video: its exit fails it alone
            return [q for p, i in zip(paths, ids) for q in self.predict_batch([p], [i])]
        kind, value = self._iso.call([str(p) for p in paths])
        if kind == "failed":
            return [Prediction.failed(f"{self.name}: {value}")] * len(paths)
        if kind == "batch":
            if len(value) != len(paths):
                return [Prediction.failed(f"{self.name}.predict_batch returned {len(value)} scores for "
                                          f"{len(paths)} videos")] * len(paths)
            return [checked(v, f"{self.name}.predict_batch") for v in value]
        return [Prediction.failed(f"{self.name}.{why}") if why else checked(v, f"{self.name}.predict")
                for v, why in value]

    def fingerprint(self) -> dict:
        return {"file": self.provenance["file"], "sha256": self.provenance["sha256"]}

    def close(self) -> None:
        self._iso.close()


class PluginDetector(Detector):
    """An installed plug-in that is not a Detector subclass, adapted (see the module docstring)."""

    kind = "plugin"

    def __init__(self, name: str, spec: str, settings: DetectorSettings, obj, entry_point: str):
        super().__init__(name, spec, settings)
        self.obj = obj
        self.provenance = {"entry_point": entry_point}

    @classmethod
    def build(cls, name, value, spec, settings, entry_point=None, **meta) -> Detector:
        try:
            obj = entry_point.load()
        except Exception as e:  # noqa: BLE001 - a broken plug-in is named, not a traceback
            raise ConfigError(f"plug-in {name!r} ({entry_point.value}): importing it failed: "
                              f"{type(e).__name__}: {e}") from None
        if isinstance(obj, type) and issubclass(obj, Detector):
            det = obj.build(name, value, spec, settings)
            det.provenance.setdefault("entry_point", entry_point.value)
            return det
        if value is not None:
            raise ConfigError(f"--model {spec}: plug-in {name!r} takes no VALUE (pass --model {name})")
        obj = obj() if isinstance(obj, type) else obj
        if not (callable(getattr(obj, "predict_batch", None)) or callable(getattr(obj, "predict", None))):
            raise ConfigError(f"plug-in {name!r} ({entry_point.value}): neither a vcbench Detector subclass nor "
                              "an object with predict_batch(paths) or predict(path)")
        det = cls(name, spec, settings, obj, entry_point.value)
        declared = getattr(obj, "training_data", None)
        if declared is not None:
            from ..contracts import checked_training

            det.training = checked_training(declared, f"plug-in {name!r}'s training_data")
        return det

    def predict_batch(self, paths, ids, tracks=None):
        name = self.name
        if callable(getattr(self.obj, "predict_batch", None)):
            try:
                scores = list(self.obj.predict_batch([str(p) for p in paths]))
            except Exception as e:  # noqa: BLE001 - the detector's failure fails these videos, not the run
                return [Prediction.failed(f"{name}.predict_batch raised {type(e).__name__}: {e}")] * len(paths)
            if len(scores) != len(paths):
                return [Prediction.failed(f"{name}.predict_batch returned {len(scores)} scores for "
                                          f"{len(paths)} videos")] * len(paths)
            return [checked(s, f"{name}.predict_batch") for s in scores]
        out = []
        for p in paths:
            try:
                out.append(checked(self.obj.predict(str(p)), f"{name}.predict"))
            except Exception as e:  # noqa: BLE001
                out.append(Prediction.failed(f"{name}.predict raised {type(e).__name__}: {e}"))
        return out
