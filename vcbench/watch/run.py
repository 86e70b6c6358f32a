"""``vcbench watch``: a detector on a live source, from its config to its summary."""
from __future__ import annotations

from pathlib import Path

from ..alarms import StreamPolicy
from ..contracts import PRED_COLUMNS, WINDOWS_FILE, read_json_object, read_rows, read_windows
from ..errors import ConfigError, VcbenchError
from ..fileio import error_line, os_error_line, write_json
from .config import WatchConfig

WATCH_SCHEMA = "vcbench-watch/1"


def calibrated_threshold(spec: str, per_hour: float, policy: StreamPolicy, model: str) -> tuple[float, str]:
    """The lowest threshold whose val reals in a ``benchmark --streaming`` run (``RUN`` or
    ``RUN:MODEL``) raise at most ``per_hour`` false alarms per hour, at this watch's stride and
    smoothing. The val reals are those the run's own cells used: a video left out as the model's
    training overlap (results.json) is left out here too, and a windows.jsonl that lacks a video
    predictions.csv scored (torn, cut) is refused, never calibrated on in part."""
    from .. import alarms as A

    run, _, name = spec.rpartition(":") if ":" in spec and not Path(spec).exists() else (spec, "", "")
    rows = read_windows(Path(run) / WINDOWS_FILE)
    if not rows:
        raise ConfigError(f"--calibration {run}: no {WINDOWS_FILE}; calibrate on a 'vcbench benchmark --streaming' "
                          "run folder")
    models = sorted({r["model"] for r in rows})
    pick = name or (models[0] if len(models) == 1 else model if model in models else None)
    if pick not in models:
        raise ConfigError(f"--calibration {spec}: the run scored {', '.join(models)}; name one as RUN:MODEL")
    left_out = _overlap_left_out(Path(run), pick)
    val = [r for r in rows if r["model"] == pick and r["label"] == 0 and r["split"] == "val"]
    scored = {(r["dataset"], r["preset"], r["video_id"]) for r in read_rows(Path(run) / "predictions.csv", PRED_COLUMNS)
              if r["model"] == pick and r["label"] == "0" and r["split"] == "val" and r["status"] == "ok"}
    missing = scored - {(r["dataset"], r["preset"], r["video_id"]) for r in val}
    if missing:
        raise ConfigError(f"--calibration {run}: {Path(run) / WINDOWS_FILE} has no windows for {len(missing)} of the "
                          f"{len(scored)} val real video(s) predictions.csv scored for {pick} (a torn or cut file); "
                          "re-run the benchmark into the same folder to complete it")
    reals = [A.series(r["video_id"], r["label"], r["fps"], r["frames"], r["tracks"], r["clip_len"], policy)
             for r in val if (r["dataset"], r["video_id"]) not in left_out]
    t, info = A.budget_threshold(reals, per_hour)
    if t is None:
        raise ConfigError(f"--calibration {spec}: {info['why']} (the run's val split of {pick})")
    dropped = len(val) - len(reals)
    return t, (f"calibrated on {run} ({pick}, {info['reals']} val real video(s), {info['hours'] * 3600:.0f} s"
               + (f"; {dropped} left out as its training overlap" if dropped else "")
               + f"): at most {per_hour:g} false alarm(s) per hour")


def _overlap_left_out(run: Path, model: str) -> set[tuple[str, str]]:
    """(dataset, video id) of the videos the run's cells left out of ``model``'s numbers as its
    training overlap (results.json, written when the benchmark finished)."""
    if not (run / "results.json").is_file():
        raise ConfigError(f"--calibration {run}: no results.json (the benchmark did not finish); re-run it into "
                          "the same folder, then calibrate")
    res = read_json_object(run / "results.json", "benchmark results", {"cells": list})
    out = set()
    for c in res["cells"]:
        ov = c.get("overlap") if isinstance(c, dict) else None
        if c.get("model") == model and isinstance(ov, dict) and ov.get("mode") == "exclude" and ov.get("excluded"):
            if not isinstance(ov.get("videos"), list):
                raise ConfigError(f"--calibration {run}: results.json counts {ov['excluded']} video(s) left out of "
                                  f"{model} but does not name them (an older run): re-run 'vcbench benchmark' "
                                  "into it to refresh results.json")
            out |= {(c.get("dataset"), v) for v in ov["videos"]}
    return out


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


def check_outputs(cfg: WatchConfig) -> None:
    """Before anything runs: no output overwrites the source or another output, and each can be
    written (folder, name length, permissions, space); a watch never learns at its end that its
    summary has nowhere to go."""
    from ..fileio import check_writable, refuse_overwrites

    src = cfg.source_file
    refuse_overwrites({"the source video" if not cfg.source.startswith("webrtc:") else "webrtc:'s video": src},
                      {"--events": cfg.events, "--summary" if cfg.summary else "the summary (beside --events)":
                       cfg.summary_path, "--video": cfg.video})
    for path in (cfg.events, cfg.summary_path, cfg.video):
        if path is not None:
            check_writable(path)


def smoothing_warning(cfg: WatchConfig, clip_len: int, source) -> str | None:
    """Said up front when a file is too short for the first running score: no alarm can be raised."""
    frames = getattr(source, "n_frames", None)
    need = clip_len + (cfg.smooth - 1) * cfg.stride
    if frames and need > frames:
        return (f"warning: --smooth {cfg.smooth} at --stride {cfg.stride} needs {need} frames of a face before its "
                f"first running score; {source.name} has {frames}: no alarm can be raised")
    return None


def run_watch(cfg: WatchConfig, echo=print, live_panel: bool | None = None) -> dict:
    """Watch ``cfg.source`` until it ends, stalls, fails, is cut (``max_seconds``) or interrupted
    (Ctrl-C, SIGTERM); write the events, the annotated stream and the summary; return the summary
    (with ``summary_error`` when it could not be written: it is printed all the same)."""
    from ..detectors import DetectorSettings
    from ..detectors.network import checkpoint_detector
    from ..faces.tracking import get_backend
    from ..scoring import ScoreSettings
    from .engine import Watcher
    from .output import Annotator, Console, EventLog
    from .sources import open_source

    check_outputs(cfg)
    policy = StreamPolicy(cfg.stride, cfg.smooth)
    det = checkpoint_detector(cfg.model, cfg.checkpoint,
                              DetectorSettings(device=cfg.device, face_backend=cfg.face_backend,
                                               score=ScoreSettings(precision=cfg.precision)))
    scorer = det.window_scorer()
    threshold, thr_from = resolve_threshold(cfg, det, policy)
    source = open_source(cfg.source, cfg.realtime, cfg.preset, cfg.presets, cfg.seed, cfg.stall,
                         workdir=Path(cfg.events).parent if cfg.events else None)
    warn = smoothing_warning(cfg, scorer.preprocess.clip_len, source)
    if warn:
        echo(warn)
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
    closing: list[str] = []
    try:
        w.run()
    finally:
        video = _close_all(w, console, events, backend, annot, det, closing)
    summary = _summary(cfg, w, det, scorer.preprocess, source, policy, threshold, thr_from, video, closing)
    if warn:
        summary["warnings"].insert(0, warn[len("warning: "):])
    if cfg.summary_path is not None:
        try:
            write_json(Path(cfg.summary_path), summary)
            summary["summary_file"] = str(cfg.summary_path)
        except OSError as e:
            summary["summary_error"] = f"the summary was not written: {os_error_line(e)}"
    return summary


def _close_all(w, console, events, backend, annot, det, errors: list[str]) -> str | None:
    """Close what the watch opened, each on its own: one that fails (the annotated stream on a full
    disk) is named in ``errors``, the others still close. Returns the annotated stream's path."""
    def attempt(what: str, close):
        try:
            return close()
        except (VcbenchError, OSError) as e:
            errors.append(f"{what}: {error_line(e)}")
            return None

    attempt("the console", console.close)
    attempt("--events", events.close)
    attempt("the face backend", backend.close)
    video = attempt("--video", lambda: annot.close(not w.end.startswith("failed"))) if annot is not None else None
    attempt("the detector", det.close)
    return video


def _summary(cfg, w, det, pp, source, policy, threshold, thr_from, video, closing: list[str]) -> dict:
    from ..config import to_json
    from ..provenance import provenance
    from .engine import summarise

    s = {"schema": WATCH_SCHEMA, **source.describe(), "model": det.name, "spec": det.spec,
         "model_file": det.fingerprint(), "threshold": threshold, "threshold_from": thr_from,
         "stride": policy.stride, "smooth": policy.smooth, "clip_len": pp.clip_len,
         "window_s": round(pp.clip_len / source.fps, 4) if source.fps else None,
         **summarise(w, source.fps), "events": str(cfg.events) if cfg.events else None,
         "video": str(video) if video else None, "config": to_json(cfg), "provenance": provenance()}
    if closing:
        s["warnings"] += [f"not written whole: {c}" for c in closing]
        if not s["end"].startswith("failed"):
            s["end"] = f"failed: {closing[0]}"
    return s


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
    out += [f"warning: {w}" for w in s.get("warnings", [])]
    if s.get("summary_file"):
        out.append(f"wrote {s['summary_file']}" + (f" and {s['events']}" if s.get("events") else "")
                   + (f" and {s['video']}" if s.get("video") else ""))
    if s.get("summary_error"):
        out.append(s["summary_error"])
    return out


def watch_failed(s: dict) -> bool:
    """Exit 1: the watch failed, watched nothing (no frame arrived), or its summary was not written."""
    return s["end"].startswith("failed") or s["frames"] == 0 or bool(s.get("summary_error"))
