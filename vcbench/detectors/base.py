"""The detector contract: what ``--model`` names, how it is built from its spec, what it returns.

A :class:`Detector` turns video paths into :class:`Prediction`\\ s (probability of fake, or the
reason it failed). Every kind is a subclass, built by :meth:`Detector.from_spec` from
``NAME[=VALUE]``:

- a registered network with weights (``altfreezing=model.pth``, ``altfreezing-tiny=untrained``, a
  vcbench run's ``best.pth`` or its folder): :class:`~.network.NetworkDetector`;
- a ``.py`` file (``mine=detector.py``), run in a child process: :class:`~.byo.FileDetector`;
- an installed plug-in (entry-point group ``vcbench.detectors``): its own subclass, or an object
  with ``predict``/``predict_batch`` wrapped in :class:`~.byo.PluginDetector`;
- ``chance``: :class:`~.chance.ChanceDetector`.

All of them live in one registry, :data:`DETECTORS`, which holds only Detector subclasses
(``Registry(base_cls=Detector)``); plug-ins are registered into it when first asked for. A score
that is not a finite probability fails its video whatever kind made it (:meth:`Detector.predict`).
"""
from __future__ import annotations

import abc
import dataclasses
import importlib.metadata as md
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConfigError
from ..registry import Registry, suggest

ENTRY_POINT_GROUP = "vcbench.detectors"


@dataclass(frozen=True)
class Prediction:
    """One video's result: ``score`` (probability of fake) or None with ``status`` saying why."""

    score: float | None
    clips: int = 0
    status: str = "ok"
    #: a stream's window scores when the settings ask for them (``ScoreSettings.stream``):
    #: ``{"clip_len": T, "frames": n, "tracks": {track id: [[start frame, probability], ...]}}``
    stream: Any = None

    @classmethod
    def failed(cls, why: str) -> "Prediction":
        return cls(None, 0, why)


@dataclass(frozen=True)
class DetectorSettings:
    """What the detectors of one run share: where they run and how torch detectors pick clips.

    ``score`` is a :class:`vcbench.scoring.ScoreSettings` (mode, clips, max frames, precision);
    ``timeout`` bounds a ``.py`` detector per video; ``seed`` seeds ``chance``."""

    device: str = "auto"
    score: Any = None
    face_backend: str = "mediapipe"
    cache_dir: Path | None = None
    seed: int = 0
    timeout: float = 600.0
    datasets: Path | None = None       # datasets.toml: where a detector fitted on a dataset finds it


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME=VALUE`` -> (name, value or None)."""
    name, sep, value = spec.partition("=")
    if not name or (sep and not value):
        raise ConfigError(f"--model {spec!r}: expected NAME or NAME=VALUE (checkpoint, run's best.pth, "
                          "'untrained' or detector.py)")
    return name, value or None


class Detector(abc.ABC):
    """One model a run scores with. Subclasses set ``kind`` and implement :meth:`build` and
    :meth:`predict_batch`; :meth:`fingerprint` names the file their scores come from."""

    kind: ClassVar[str] = "detector"
    #: whether :meth:`explain_network` gives a network (``vcbench explain``, ``benchmark --explain``)
    explainable: ClassVar[bool] = False

    def __init__(self, name: str, spec: str, settings: DetectorSettings):
        self.name, self.spec, self.settings = name, spec, settings
        self.provenance: dict = {}
        self.seen_presets: tuple[str, ...] | None = None    # from a fine-tuning run's checkpoint, when known
        self.seen_methods: tuple[str, ...] | None = None
        #: what it was trained on, as declared: a training record (contracts.checked_training), a weight
        #: tag (``{"tag": NAME}``), or None (unknown: the benchmark says overlap was not checked)
        self.training: dict | None = None

    # -- building
    @classmethod
    @abc.abstractmethod
    def build(cls, name: str, value: str | None, spec: str, settings: DetectorSettings, **meta) -> "Detector":
        """The detector ``NAME=VALUE`` names (``meta``: what its registry entry carries)."""

    @staticmethod
    def from_spec(spec: str, settings: DetectorSettings | None = None) -> "Detector":
        """Build what ``--model SPEC`` names (see the module docstring for the forms)."""
        settings = settings or DetectorSettings()
        name, value = parse_spec(spec)
        if value is not None and value.endswith(".py"):
            return KINDS.get("file").build(name, value, spec, settings)
        load_plugins()
        if name not in DETECTORS:
            if value is not None:       # any name may carry a vcbench checkpoint (its arch is in the file)
                return KINDS.get("network").build(name, value, spec, settings)
            hint = suggest(name, DETECTORS.names())
            raise ConfigError(f"--model {name}: not a registered detector, 'chance' or an installed plug-in"
                              + (f"; did you mean {hint[0]!r}?" if hint else "") + " (or pass NAME=VALUE)")
        entry = DETECTORS.entry(name)
        return DETECTORS.get(name).build(name, value, spec, settings, **entry.meta)

    # -- scoring
    @abc.abstractmethod
    def predict_batch(self, paths: list[Path], ids: list[str], tracks: list | None = None) -> list[Prediction]:
        """One Prediction per path (``ids``: the videos' qualified ids, ``dataset/preset/video``;
        ``tracks``: per video the face tracks its label is true of, track ids or ``"all"`` or None,
        for detectors that score face tracks; others may ignore it)."""

    def predict(self, paths: list[Path], ids: list[str], tracks: list | None = None) -> list[Prediction]:
        """:meth:`predict_batch`, with every score checked: not a finite probability fails the video."""
        labelled = tracks is not None and any(t is not None for t in tracks)
        got = list(self.predict_batch(paths, ids, tracks) if labelled else self.predict_batch(paths, ids))
        if len(got) != len(paths):
            return [Prediction.failed(f"{self.name} returned {len(got)} predictions for {len(paths)} videos")] * len(paths)
        return [p if p.score is None else dataclasses.replace(c, stream=p.stream) if (c := checked(
            p.score, self.name, p.clips)).score is not None else c for p in got]

    def window_scorer(self):
        """What ``vcbench watch`` scores live windows with: an object with ``preprocess`` (the
        declared input, :class:`vcbench.models.preprocess.Preprocess`) that maps aligned uint8 clips
        ``(N, T, S, S, 3)`` to N probabilities of fake. A detector that scores whole files has none."""
        raise ConfigError(f"--model {self.spec}: a {self.kind} detector scores whole files; vcbench watch needs "
                          "one that scores windows as they arrive (a network: NAME=CHECKPOINT)")

    def explain_network(self):
        """The ``nn.Module`` ``vcbench explain`` takes gradients through (with ``preprocess``,
        ``forward_features`` and ``forward_head``). A detector without one cannot be explained."""
        raise ConfigError(f"--model {self.spec}: a {self.kind} detector has no network to take gradients through; "
                          "vcbench explain needs one (a registered network: NAME=CHECKPOINT)")

    def threshold(self) -> tuple[float | None, str]:
        """The operating threshold the weights come with: chosen on their validation data (a
        fine-tuning run's best.pth) or declared with their training record; (None, why) if none."""
        from ..contracts import own_threshold

        inner = self.provenance.get("provenance") if isinstance(self.provenance.get("provenance"), dict) else {}
        return own_threshold(inner, self.training if isinstance(self.training, dict) else {}, "the checkpoint",
                             self.name)

    def close(self) -> None:
        """Release what scoring holds (a child process, a network)."""

    # -- recording
    def fingerprint(self) -> dict:
        """The file this detector's scores come from and its SHA-256 (a changed file is another
        model, even under the same name); ``{"spec": ...}`` where there is no file."""
        return {"file": None, "sha256": None, "spec": self.spec}

    def to_json(self) -> dict:
        return {"name": self.name, "spec": self.spec, "kind": self.kind, "provenance": self.provenance,
                "seen_presets": list(self.seen_presets) if self.seen_presets is not None else None,
                "seen_methods": list(self.seen_methods) if self.seen_methods is not None else None,
                "training": self.training}


def declared_training(path: Path) -> dict | None:
    """The training declaration in ``<path>.training.json`` beside a checkpoint or detector file
    (a record, or ``{"tag": NAME}``), or None when there is none."""
    import json

    from ..contracts import checked_training, read_text

    side = Path(str(path) + ".training.json")
    if not side.is_file():
        return None
    try:
        doc = json.loads(read_text(side))
    except ValueError as e:
        raise ConfigError(f"{side}: not valid JSON ({e})") from None
    return checked_training(doc, str(side))


def checked(score, where: str, clips: int = 1) -> Prediction:
    """A Prediction of ``score`` if it is a finite probability, else a failure saying what it was."""
    try:
        v = float(score)
    except (TypeError, ValueError):
        return Prediction.failed(f"{where} returned {score!r}, not a number")
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        return Prediction.failed(f"{where} returned {v!r}, not a probability in [0, 1]")
    return Prediction(v, clips)


#: the kinds of detector (lazy: a kind's module is imported when one is built)
KINDS: Registry = Registry("detector kind", base_cls=Detector)
KINDS.register("network", "vcbench.detectors.network:NetworkDetector", help="a registered network with weights")
KINDS.register("file", "vcbench.detectors.byo:FileDetector", help="a .py file, in a child process")
KINDS.register("plugin", "vcbench.detectors.byo:PluginDetector", help="an installed plug-in")
KINDS.register("chance", "vcbench.detectors.chance:ChanceDetector", help="seeded uniform scores")
KINDS.register("handcrafted", "vcbench.detectors.handcrafted:HandcraftedDetector",
               help="colour histograms + Sobel energy, logistic regression fitted on a train split")

#: every detector by name: the registered networks, ``chance``, and plug-ins once looked up
DETECTORS: Registry = Registry("detector", base_cls=Detector)
_plugins_loaded = False


def _register_builtins() -> None:
    from ..models.archs import ARCHS

    for name, arch in ARCHS.items():
        DETECTORS.register(name, KINDS.entry("network").target, help=arch.help, arch=name)
    DETECTORS.register("chance", KINDS.entry("chance").target, help="seeded uniform scores (a reference row)")
    DETECTORS.register("handcrafted", KINDS.entry("handcrafted").target,
                       help="=DATASET: colour histograms + Sobel energy of the face, logistic regression fitted on "
                            "DATASET's train split (a shortcut warning)")


def load_plugins() -> list[str]:
    """Register every installed plug-in (entry-point group ``vcbench.detectors``) once; returns their
    names. A plug-in is a Detector subclass, or an object/class with ``predict_batch(paths)`` or
    ``predict(path)``, which :class:`~.byo.PluginDetector` adapts."""
    global _plugins_loaded
    names = [ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP)]
    if _plugins_loaded:
        return names
    _plugins_loaded = True
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in DETECTORS:
            raise ConfigError(f"plug-in {ep.name!r} ({ep.value}): the name is taken by a built-in detector")
        DETECTORS.register(ep.name, KINDS.entry("plugin").target, help=f"plug-in ({ep.value})", entry_point=ep)
    return names


def load_detectors(specs: tuple[str, ...] | list[str], settings: DetectorSettings | None = None) -> list[Detector]:
    """One detector per ``--model``; a name used twice is refused."""
    out, seen = [], set()
    for spec in specs:
        name, _ = parse_spec(spec)
        if name in seen:
            raise ConfigError(f"--model {spec!r}: the name {name!r} is used twice; give each model its own name")
        seen.add(name)
        out.append(Detector.from_spec(spec, settings))
    return out


_register_builtins()
