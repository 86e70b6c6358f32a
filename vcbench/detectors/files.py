"""``vcbench score``'s library function: any detector spec through the Detector contract, a
network's per-track scores, timelines and clips, or a file detector's one score per video."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..batch import BatchResult
from ..errors import ConfigError
from ..models.preprocess import Preprocess
from ..scoring import ScoreSettings, resolve_settings, score_videos, write_scores
from .base import DETECTORS, Detector, DetectorSettings, load_plugins
from .network import checkpoint_detector


@dataclass
class FileScore:
    """A score from a detector that scores whole files (``chance``, a ``.py`` file, a plug-in): no
    face tracks, so the same fields as :class:`VideoScore` with none of them filled."""

    video: str
    score: float
    n_clips: int = 0
    tracks: list = field(default_factory=list)
    mode: str = "file"
    aggregate: str = "the detector's own"
    n_frames: int = 0

    def line(self) -> str:
        return f"{self.video}: {self.score:.4f}"


@dataclass
class ScoredFiles:
    """What ``vcbench score`` did: the detector and settings as they ran, the scores, the failures."""

    model: str
    checkpoint: Path | None
    settings: ScoreSettings
    results: list
    batch: BatchResult
    preprocess: Preprocess | None = None
    kind: str = "vcbench"

    def header(self) -> str:
        st, pp = self.settings, self.preprocess
        if pp is None:
            return f"{self.model} ({self.kind} detector): probability of fake per file"
        if pp.input == "frames":
            how = (f"{pp.frames} frames per video, faces {pp.faces}, {pp.crop} crops {pp.size} px, aggregate "
                   f"{st.aggregate}")
        else:
            per = f"{st.to_json()['clips_per_track']} clips per track" if st.mode == "sparse" else "every window"
            how = f"{st.mode} ({per}), tracking {st.tracking}, aggregate {st.aggregate}"
        return f"{self.model} ({self.checkpoint or 'untrained'}): probability of fake; {how}, {st.precision}"


_NO_WEIGHTS = ("no --checkpoint: {name!r} would score with random weights. Pass --checkpoint FILE (the official "
               "AltFreezing model.pth, or a vcbench run's best.pth; 'vcbench doctor' lists the checkpoints it finds), "
               "or --untrained for a pipeline check")


def score_detector(model: str | None, checkpoint, untrained: bool, settings):
    """The detector ``vcbench score`` runs: ``--model`` is a detector spec as everywhere (``chance``,
    ``NAME=FILE``, a plug-in); a bare network name takes ``--checkpoint`` (or ``--untrained``) as
    its weights; ``--checkpoint`` alone is the network the file holds. Random weights only when
    ``untrained`` says so."""
    if model is not None and "=" in model:
        if checkpoint is not None or untrained:
            raise ConfigError(f"--model {model} names its weights; leave out --checkpoint and --untrained")
        return Detector.from_spec(model, settings)
    if model is None:
        if checkpoint is not None:
            return checkpoint_detector(None, checkpoint, settings)
        if not untrained:
            raise ConfigError(_NO_WEIGHTS.format(name="altfreezing"))
        return Detector.from_spec("altfreezing=untrained", settings)
    load_plugins()
    network = model in DETECTORS and "arch" in DETECTORS.entry(model).meta
    if checkpoint is not None or untrained:
        if not network:
            raise ConfigError(f"--model {model}: not a network, so it takes no --checkpoint or --untrained")
        return Detector.from_spec(f"{model}={checkpoint if checkpoint is not None else 'untrained'}", settings)
    if network:
        raise ConfigError(_NO_WEIGHTS.format(name=model))
    return Detector.from_spec(model, settings)


def score_files(videos: list[Path], checkpoint: Path | None = None, model: str | None = None, untrained: bool = False,
                settings: ScoreSettings | None = None, device: str = "auto", backend: str = "mediapipe",
                cache_dir=None, timeline: Path | None = None, dump_clips: Path | None = None,
                output: Path | None = None) -> ScoredFiles:
    """``vcbench score``: the detector ``model``/``checkpoint`` name (:func:`score_detector`), the
    settings resolved (auto precision for the device, aggregation as the weights declare);
    ``output`` written when given. A network gives per-track scores, timelines and clips; any other
    detector one score per file."""
    from ..fileio import check_writable, refuse_overwrites

    refuse_overwrites({f"the video {v}": v for v in videos}, {"-o": output, "--timeline": timeline})
    for path in (output, timeline):               # before any video is scored, not after all of them
        if path is not None:
            check_writable(path)
    st = resolve_settings(settings, device)
    det = score_detector(model, checkpoint, untrained,
                         DetectorSettings(device=device, score=st, face_backend=backend, cache_dir=cache_dir))
    try:
        if not hasattr(det, "network"):
            return _score_by_file(det, videos, st, timeline, dump_clips, output)
        net = det.network()
        if st.aggregate is None:
            st = dataclasses.replace(st, aggregate=net.preprocess.aggregate)
        results, batch = score_videos(list(videos), settings=st, device=device, timeline=timeline, backend=backend,
                                      cache_dir=cache_dir, network=net, dump_clips=dump_clips)
    finally:
        det.close()
    fp = det.fingerprint()
    if output is not None:
        write_scores(results, output, model=det.name, checkpoint=det.checkpoint, settings=st.to_json(),
                     sha256=fp.get("sha256"))
    return ScoredFiles(det.name, det.checkpoint, st, results, batch, net.preprocess)


def _score_by_file(det, videos, st: ScoreSettings, timeline, dump_clips, output) -> ScoredFiles:
    """A detector without a network: one :class:`FileScore` per video through the Detector contract."""
    for flag, given in (("--timeline", timeline), ("--dump-clips", dump_clips)):
        if given is not None:
            raise ConfigError(f"{flag}: {det.name} is a {det.kind} detector; it scores whole files, with no frames "
                              "or clips to write")
    batch = BatchResult("videos")
    results = []
    for path in videos:                  # a file detector may not open it (chance): a missing file is named here
        if not Path(path).is_file():
            batch.fail(str(path), "no such file")
    there = [Path(v) for v in videos if Path(v).is_file()]
    for path, pred in zip(there, det.predict(there, [p.stem for p in there]) if there else []):
        if pred.score is None:
            batch.fail(str(path), pred.status)
        else:
            results.append(FileScore(str(path), pred.score, pred.clips))
            batch.done += 1
    fp = det.fingerprint()
    if output is not None:
        write_scores(results, output, model=det.name, checkpoint=fp.get("file"), settings=st.to_json(),
                     sha256=fp.get("sha256"))
    return ScoredFiles(det.name, None, st, results, batch, None, kind=det.kind)
