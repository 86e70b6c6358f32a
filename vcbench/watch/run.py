"""``vcbench watch``: a detector on a live source, from its config to its summary."""
from __future__ import annotations

from pathlib import Path

from ..alarms import StreamPolicy
from ..errors import ConfigError
from .config import WatchConfig

WATCH_SCHEMA = "vcbench-watch/1"


def calibrated_threshold(spec: str, per_hour: float, policy: StreamPolicy, model: str) -> tuple[float, str]:
    """The lowest threshold whose val reals in a ``benchmark --streaming`` run (``RUN`` or
    ``RUN:MODEL``) raise at most ``per_hour`` false alarms per hour, at this watch's stride and
    smoothing."""
    from .. import alarms as A
    from ..contracts import WINDOWS_FILE, read_windows

    run, _, name = spec.rpartition(":") if ":" in spec and not Path(spec).exists() else (spec, "", "")
    rows = read_windows(Path(run) / WINDOWS_FILE)
    if not rows:
        raise ConfigError(f"--calibration {run}: no {WINDOWS_FILE}; calibrate on a 'vcbench benchmark --streaming' "
                          "run folder")
    models = sorted({r["model"] for r in rows})
    pick = name or (models[0] if len(models) == 1 else model if model in models else None)
    if pick not in models:
        raise ConfigError(f"--calibration {spec}: the run scored {', '.join(models)}; name one as RUN:MODEL")
    reals = [A.series(r["video_id"], r["label"], r["fps"], r["frames"], r["tracks"], r["clip_len"], policy)
             for r in rows if r["model"] == pick and r["label"] == 0 and r["split"] == "val"]
    t, info = A.budget_threshold(reals, per_hour)
    if t is None:
        raise ConfigError(f"--calibration {spec}: {info['why']} (the run's val split of {pick})")
    return t, (f"calibrated on {run} ({pick}, {info['reals']} val real video(s), {info['hours'] * 3600:.0f} s): at most "
               f"{per_hour:g} false alarm(s) per hour")


def resolve_threshold(cfg: WatchConfig, det, policy: StreamPolicy) -> tuple[float, str]:
    if cfg.threshold is not None:
        return float(cfg.threshold), "given (--threshold)"
    if cfg.false_alarms_per_hour is not None:
        return calibrated_threshold(cfg.calibration, cfg.false_alarms_per_hour, policy, det.name)
    t, why = det.threshold()
    if t is None:
        raise ConfigError(f"{why}: pass --threshold T, or --false-alarms-per-hour F --calibration RUN (a "
                          "'benchmark --streaming' run) to choose one")
    return t, why


def run_watch(cfg: WatchConfig, echo=print, live_panel: bool | None = None) -> dict:
    """Watch ``cfg.source`` until it ends, stalls, fails, is cut (``max_seconds``) or Ctrl-C; write
    the events, the annotated stream and the summary; return the summary."""
    from ..config import to_json
    from ..detectors import Detector, DetectorSettings
    from ..detectors.network import checkpoint_spec
    from ..faces.tracking import get_backend
    from ..fileio import write_json
    from ..provenance import provenance
    from ..scoring import ScoreSettings
    from .engine import Watcher, summarise
    from .output import Annotator, Console, EventLog
    from .sources import open_source

    policy = StreamPolicy(cfg.stride, cfg.smooth)
    det = Detector.from_spec(checkpoint_spec(cfg.model, cfg.checkpoint), DetectorSettings(device=cfg.device, face_backend=cfg.face_backend,
                                                                  score=ScoreSettings(precision=cfg.precision)))
    scorer = det.window_scorer()
    threshold, thr_from = resolve_threshold(cfg, det, policy)
    source = open_source(cfg.source, cfg.realtime, cfg.preset, cfg.presets, cfg.seed, cfg.stall_s,
                         workdir=Path(cfg.events).parent if cfg.events else None)
    summary_path = cfg.summary or (Path(cfg.events).with_suffix(".summary.json") if cfg.events else None)
    backend = get_backend(cfg.face_backend)
    events = EventLog(cfg.events)
    console = Console(echo, threshold, live_panel)
    annot = Annotator(cfg.video, source.fps or 30.0, threshold) if cfg.video else None

    def sink(ev):
        events.write(ev)
        console.event(ev)

    def hook(i, t, rgb, w):
        if annot is not None:
            annot(i, t, rgb, w)
        console.frame()

    w = Watcher(source, scorer, backend, policy, threshold, cfg.batch_size, cfg.queue, cfg.detect_every,
                cfg.max_seconds, sink, hook)
    console.start(w)
    ok = False
    try:
        w.run()
        ok = True
    finally:
        console.close()
        events.close()
        backend.close()
        video = annot.close(ok) if annot is not None else None
        det.close()
    pp = scorer.preprocess
    summary = {"schema": WATCH_SCHEMA, **source.describe(), "model": det.name, "spec": det.spec,
               "model_file": det.fingerprint(), "threshold": threshold, "threshold_from": thr_from,
               "stride": policy.stride, "smooth": policy.smooth, "clip_len": pp.clip_len,
               "window_s": round(pp.clip_len / source.fps, 4) if source.fps else None,
               **summarise(w, source.fps), "events": str(cfg.events) if cfg.events else None,
               "video": str(video) if video else None, "config": to_json(cfg), "provenance": provenance()}
    if summary_path is not None:
        write_json(Path(summary_path), summary)
        summary["summary_file"] = str(summary_path)
    return summary


def summary_lines(s: dict) -> list[str]:
    """The summary as a few console lines."""
    lat = s.get("latency_ms") or {}
    out = [f"{s['source']}: {s['end']}; {s['frames']} frames ({s['stream_s']:.1f} s of stream) in {s['wall_s']:.1f} s: "
           f"real-time x{s['realtime_factor'] or 0:.2f}; {s['windows_scored']} window(s) scored, "
           f"{s['windows_skipped']} skipped, {s['dropped_frames']} frame(s) dropped"
           + (f"; latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms" if lat else ""),
           f"threshold {s['threshold']:.4f} ({s['threshold_from']}); stride {s['stride']}, smooth {s['smooth']}, "
           f"window {s['clip_len']} frames"]
    for t in s["tracks"]:
        when = ("no alarm" if t["first_alarm_t"] is None else
                f"ALARM at {t['first_alarm_t']:.2f} s ({t['time_to_alarm_s']:.2f} s after the face appeared)")
        best = "n/a" if t["max_running"] is None else f"{t['max_running']:.3f}"
        out.append(f"  track {t['track']}: {t['first_t']:.2f}-{t['last_t']:.2f} s, {t['windows']} window(s), "
                   f"max running {best}: {when}")
    if s.get("summary_file"):
        out.append(f"wrote {s['summary_file']}" + (f" and {s['events']}" if s.get("events") else "")
                   + (f" and {s['video']}" if s.get("video") else ""))
    return out
