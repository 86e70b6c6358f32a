"""The library API: the functions the CLI calls, for notebooks and scripts (as timm's
``create_model`` and lm-eval's ``simple_evaluate`` are). ``import vcbench`` stays cheap: each
function imports torch, cv2 and the stages it needs when it is called.

    >>> import vcbench
    >>> det = vcbench.load_detector("ft=runs/ft/best.pth")
    >>> run = vcbench.score(["a.mp4"], checkpoint="runs/ft/best.pth")
    >>> res = vcbench.benchmark(model=("ft=runs/ft/best.pth", "chance"), dataset=("demo",), out="runs/b")
    >>> stats = vcbench.simulate("a.mp4", "a-zoom.mp4", "zoom-360p")
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from .batch import BatchResult
    from .detectors.base import Detector
    from .detectors.files import ScoredFiles

__all__ = ["load_detector", "score", "benchmark", "simulate", "BenchmarkRun"]


def load_detector(spec: str, *, device: str = "auto", face_backend: str = "mediapipe",
                  cache_dir: str | os.PathLike | None = None, **score_settings: Any) -> "Detector":
    """The detector ``--model SPEC`` names (``chance``, ``NAME=CHECKPOINT``, ``NAME=untrained``,
    ``NAME=detector.py``, a plug-in); ``score_settings`` are :class:`vcbench.scoring.ScoreSettings`
    fields (``mode``, ``clips``, ``max_frames``, ``precision``, ...)."""
    from .detectors import Detector, DetectorSettings
    from .scoring import ScoreSettings

    settings = DetectorSettings(device=device, face_backend=face_backend,
                                cache_dir=Path(cache_dir) if cache_dir is not None else None,
                                score=ScoreSettings(**score_settings) if score_settings else None)
    return Detector.from_spec(spec, settings)


def score(videos: Sequence[str | os.PathLike], *, model: str | None = None,
          checkpoint: str | os.PathLike | None = None, untrained: bool = False, device: str = "auto",
          face_backend: str = "mediapipe", cache_dir: str | os.PathLike | None = None,
          timeline: str | os.PathLike | None = None, dump_clips: str | os.PathLike | None = None,
          output: str | os.PathLike | None = None, **score_settings: Any) -> "ScoredFiles":
    """``vcbench score``: each video's probability of fake from the detector ``model`` /
    ``checkpoint`` name (see :func:`vcbench.detectors.files.score_detector`); failures are in ``.batch``."""
    from .detectors.files import score_files
    from .scoring import ScoreSettings

    def path(p):
        return Path(p) if p is not None else None

    return score_files([Path(v) for v in videos], path(checkpoint), model, untrained, ScoreSettings(**score_settings),
                       device=device, backend=face_backend, cache_dir=path(cache_dir), timeline=path(timeline),
                       dump_clips=path(dump_clips), output=path(output))


@dataclass
class BenchmarkRun:
    """What :func:`benchmark` did: ``results`` (results.json's content; None on a rank other than
    0 of a torchrun job), ``batch`` (scored and failed items; None for a merge), ``merged`` (rows
    merged from shards) and the resolved ``config``."""

    config: Any
    results: dict | None
    batch: "BatchResult | None" = None
    merged: int | None = None


def benchmark(config_file: str | os.PathLike | None = None, *, progress=None,
              warn: Callable[[str], None] | None = None, echo: Callable[[str], None] | None = None,
              **options: Any) -> BenchmarkRun:
    """``vcbench benchmark``: detectors x datasets x call conditions into ``out``, then its
    results.json; or, with ``merge``, the shards' predictions merged and scored. ``options`` are
    :class:`vcbench.benchmark.config.BenchmarkConfig` fields (precedence: defaults < ``config_file``
    < ``options``); ``warn`` and ``echo`` receive the merge's warnings and ``explain``'s lines."""
    from .benchmark.config import BenchmarkConfig
    from .benchmark.ranks import run_ranked
    from .benchmark.results import compute_results
    from .config import file_values, resolve
    from .distributed import current as current_world
    from .runtime import Progress

    cfg = resolve(BenchmarkConfig, config_file, **options)
    if cfg.merge:
        from .benchmark.merge import merge_runs

        n = merge_runs(list(cfg.merge), cfg.out, warn=warn or (lambda m: None))
        chosen = {**(file_values(BenchmarkConfig, config_file) if config_file else {}), **options}
        stream = {k: chosen[k] for k in ("stride", "smooth", "false_alarms_per_hour") if k in chosen}
        res = compute_results(cfg.out, cfg.split, cfg.bootstrap, cfg.seed, overlap=cfg.overlap, compare=cfg.compare,
                              stream=stream)
        return BenchmarkRun(cfg, res, merged=n)
    t0 = time.perf_counter()
    progress = progress or Progress("benchmark", unit="videos/s")
    batch = run_ranked(cfg, progress)
    progress.end_bar()                        # the scoring is over: results and explain's lines print plainly
    if not current_world().main:              # rank 0 reports for the whole run
        return BenchmarkRun(cfg, None, batch)
    res = compute_results(cfg.out, cfg.split, cfg.bootstrap, cfg.seed,
                          timings={"seconds": round(time.perf_counter() - t0, 2)}, overlap=cfg.overlap,
                          compare=cfg.compare, stream={"stride": cfg.stride, "smooth": cfg.smooth,
                                                       "false_alarms_per_hour": cfg.false_alarms_per_hour})
    if cfg.explain:
        from .benchmark.explain import explain_run

        explain_run(cfg, res, cfg.explain, echo=echo or (lambda m: None))
    return BenchmarkRun(cfg, res, batch)


def simulate(input: str | os.PathLike, output: str | os.PathLike, preset, *, engine: str = "ffmpeg", seed: int = 0,
             presets_file: str | os.PathLike | None = None, ffmpeg: str | None = None,
             fidelity: bool = False) -> dict:
    """``vcbench simulate``: one video through a call condition (``preset``: a name or a
    :class:`vcbench.conference.presets.Preset`), by the modelled call (``ffmpeg``) or a real one
    (``webrtc``); returns what the call did to it (also ``<output>.stats.json``)."""
    from .conference.engines import simulate_with

    return simulate_with(engine, Path(input), Path(output), preset, seed=seed, presets_file=presets_file,
                         ffmpeg=ffmpeg, fidelity=fidelity)
