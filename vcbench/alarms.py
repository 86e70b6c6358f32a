"""Alarms on a stream of window scores: the ONE definition ``vcbench watch`` raises them by and
``benchmark --streaming`` measures them with.

A face track yields a window score every ``stride`` frames once its first window (``clip_len``
frames) is full. Its **running score** is the mean of its last ``smooth`` window scores, defined
once ``smooth`` windows exist (a lone first window never alarms). The track is **in alarm** while
its running score is ``>= threshold``; an alarm is **raised** when it enters that state (a
running score that stays above raises one alarm, not one per window).

- **time to alarm** (a fake): seconds from the start of the video to the end frame of the first
  window that raises an alarm on any of its scored tracks; none = missed within the video;
- **false alarms per hour** (reals): alarms raised on real videos / their scored hours;
- **the budget threshold**: the lowest threshold whose false alarms on the calibration reals stay
  within ``per_hour`` x their hours, for it and for every threshold above it (false alarms are not
  monotone in the threshold: a running score that wavers across a low threshold raises many).

Times are a window's last frame's timestamp, ``frame / fps``: when the alarm could first be
raised in a call, before any processing delay (``watch`` reports that delay as latency).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

#: share of fakes caught within these many seconds (the summary's ``caught_within``)
CAUGHT_WITHIN = (2.0, 5.0, 10.0)


@dataclass(frozen=True)
class StreamPolicy:
    """How a stream of windows becomes alarms: a window every ``stride`` frames of a track, the
    running score over the last ``smooth`` of them."""

    stride: int = 8
    smooth: int = 3

    def __post_init__(self):
        for key in ("stride", "smooth"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ValueError(f"{key} must be an integer >= 1, got {getattr(self, key)!r}")

    def due(self, rows: int, clip_len: int) -> bool:
        """Whether a track holding ``rows`` frames (its newest last) scores a window now."""
        return rows >= clip_len and (rows - clip_len) % self.stride == 0


class Running:
    """One track's running score, fed window by window (what ``watch`` keeps per track)."""

    def __init__(self, smooth: int):
        self.smooth = smooth
        self._last: list[float] = []
        self.in_alarm = False

    def add(self, score: float, threshold: float) -> tuple[float | None, bool]:
        """(running score or None before ``smooth`` windows, whether this window raises an alarm)."""
        self._last = (self._last + [float(score)])[-self.smooth:]
        if len(self._last) < self.smooth:
            return None, False
        r = float(np.mean(self._last))
        now = r >= threshold
        raised = now and not self.in_alarm
        self.in_alarm = now
        return r, raised


def running(scores: Sequence[float], smooth: int) -> np.ndarray:
    """Running scores of one track's windows in order: mean of the last ``smooth``, NaN before."""
    s = np.asarray(scores, np.float64)
    out = np.full(len(s), np.nan)
    if len(s) >= smooth:        # the same sums, in the same order, as Running's (bit-equal scores)
        out[smooth - 1:] = np.lib.stride_tricks.sliding_window_view(s, smooth).mean(axis=1)
    return out


def strided(starts: Sequence[int], first: int, stride: int) -> np.ndarray:
    """Which of a track's dense windows (by start frame) a stream with ``stride`` scores: those
    starting ``k * stride`` frames after the track's first frame."""
    return (np.asarray(starts, np.int64) - int(first)) % stride == 0


@dataclass
class TrackSeries:
    """One track's scored windows: end times (seconds) and running scores, in order."""

    ends_s: np.ndarray
    running: np.ndarray


@dataclass
class VideoSeries:
    """One video as a stream: its tracks' series and its scored duration (seconds)."""

    video_id: str
    label: int
    duration_s: float
    tracks: list[TrackSeries] = field(default_factory=list)
    cluster: str = ""


def series(video_id: str, label: int, fps: float, frames: int, tracks: dict, clip_len: int,
           policy: StreamPolicy, cluster: str = "") -> VideoSeries:
    """A video's stream from its dense window scores: ``tracks`` = track id -> [(start frame,
    score), ...] of unpadded windows of ``clip_len`` consecutive frames."""
    out = VideoSeries(video_id, int(label), frames / fps if fps > 0 else 0.0, [], cluster)
    for wins in tracks.values():
        if not wins:
            continue
        w = sorted(wins)
        starts = np.array([s for s, _ in w], np.int64)
        keep = strided(starts, starts[0], policy.stride)
        sc = np.array([v for _, v in w], np.float64)[keep]
        ends = (starts[keep] + clip_len - 1) / fps
        out.tracks.append(TrackSeries(ends, running(sc, policy.smooth)))
    return out


def raised(r: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the windows that raise an alarm (enter ``running >= threshold``)."""
    on = np.nan_to_num(r, nan=-np.inf) >= threshold
    prev = np.r_[False, on[:-1]]
    return np.flatnonzero(on & ~prev)


def time_to_alarm(v: VideoSeries, threshold: float) -> float | None:
    """Seconds to the first alarm on any track; None when none is raised within the video."""
    times = [t.ends_s[i[0]] for t in v.tracks if len(i := raised(t.running, threshold))]
    return float(min(times)) if times else None


def alarms(v: VideoSeries, threshold: float) -> int:
    """Alarms raised on this video, every track counted."""
    return int(sum(len(raised(t.running, threshold)) for t in v.tracks))


def _crossings(videos: Iterable[VideoSeries]) -> tuple[np.ndarray, np.ndarray]:
    """Each window's (previous running, running) with NaN as -inf: a window raises an alarm at
    threshold t exactly when ``prev < t <= cur``."""
    prev, cur = [], []
    for v in videos:
        for t in v.tracks:
            r = np.nan_to_num(t.running, nan=-np.inf)
            cur.append(r)
            prev.append(np.r_[-np.inf, r[:-1]])
    if not cur:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(prev), np.concatenate(cur)


def alarm_counts(videos: Sequence[VideoSeries], thresholds: np.ndarray) -> np.ndarray:
    """Alarms raised on ``videos`` at each threshold, all at once (a window counts for the
    thresholds in ``(prev, cur]``)."""
    prev, cur = _crossings(videos)
    live = prev < cur
    p, c = np.sort(prev[live]), np.sort(cur[live])
    t = np.asarray(thresholds, np.float64)
    return np.searchsorted(p, t, side="left") - np.searchsorted(c, t, side="left")


def budget_threshold(reals: Sequence[VideoSeries], per_hour: float) -> tuple[float | None, dict]:
    """The lowest threshold at which ``reals`` raise at most ``per_hour`` alarms per scored hour,
    at it and every threshold above; (None, why) without real hours to calibrate on."""
    hours = sum(v.duration_s for v in reals) / 3600.0
    info = {"reals": len(reals), "hours": round(hours, 6), "per_hour": per_hour}
    if hours <= 0:
        return None, {**info, "why": "no real video with scored time to calibrate on"}
    allowed = per_hour * hours
    _, cur = _crossings(reals)
    values = np.unique(cur[np.isfinite(cur)])[::-1]          # candidates, highest first
    if len(values) == 0:
        return None, {**info, "why": "no real video had a full running score (tracks shorter than the window)"}
    counts = alarm_counts(reals, values)
    over = np.flatnonzero(counts > allowed)
    if len(over) == 0:
        t = float(values[-1])                     # every value passes: the lowest one
    else:
        t = float(np.nextafter(values[over[0]], np.inf))   # just above the first value that breaks it
    n = int(alarm_counts(reals, np.array([t]))[0])
    return t, {**info, "false_alarms": n, "false_alarms_per_hour": round(n / hours, 6)}


def quantile(values: Sequence[float], q: float) -> float:
    """The empirical q-quantile (the smallest value with at least q of the sample at or below it);
    ``inf`` counts as a missed fake, so a quantile past the caught share is ``inf``."""
    v = np.sort(np.asarray(values, np.float64))
    if len(v) == 0:
        return math.nan
    return float(v[max(int(math.ceil(q * len(v))) - 1, 0)])


def _cluster_ci(values: np.ndarray, clusters: list[str], stat, n: int, seed: int, level: float = 0.95):
    uniq, inv = np.unique(np.asarray(clusters), return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(uniq), len(uniq))])
        vals.append(stat(values[idx]))
    vals = np.asarray(vals, np.float64)
    lo, hi = np.percentile(vals, [(1 - level) / 2 * 100, (1 + level) / 2 * 100], method="inverted_cdf")
    return float(lo), float(hi)


def _t(v: float) -> float | None:
    return None if not math.isfinite(v) else round(float(v), 4)


def summarise(fakes: Sequence[VideoSeries], reals: Sequence[VideoSeries], threshold: float, bootstrap: int = 1000,
              seed: int = 0) -> dict:
    """Time to alarm of ``fakes`` and false alarms of ``reals`` at ``threshold``: median and p90
    (missed = never, so a p90 beyond the caught share is null), their cluster-bootstrap 95 %
    intervals (bounds of null = beyond the video), the share caught within 2/5/10 s, the curve
    (share caught by each second a fake was caught), alarms per scored real hour."""
    tta = np.array([math.inf if (x := time_to_alarm(v, threshold)) is None else x for v in fakes])
    caught = np.isfinite(tta)
    out: dict = {"threshold": float(threshold), "fakes": len(fakes), "caught": int(caught.sum()),
                 "missed": int((~caught).sum())}
    if len(fakes):
        out["tta_median_s"] = _t(quantile(tta, 0.5))
        out["tta_p90_s"] = _t(quantile(tta, 0.9))
        if bootstrap:
            cl = [v.cluster or v.video_id for v in fakes]
            for key, q in (("tta_median_ci95", 0.5), ("tta_p90_ci95", 0.9)):
                lo, hi = _cluster_ci(tta, cl, lambda a, q=q: quantile(a, q), bootstrap, seed)
                out[key] = [_t(lo), _t(hi)]
        out["caught_within"] = {f"{s:g}": round(float(np.mean(tta <= s)), 4) for s in CAUGHT_WITHIN}
        times = np.sort(tta[caught])
        out["curve"] = [[0.0, 0.0]] + [[round(float(t), 4), round((i + 1) / len(fakes), 4)]
                                       for i, t in enumerate(times)]
    hours = sum(v.duration_s for v in reals) / 3600.0
    n = sum(alarms(v, threshold) for v in reals)
    out.update({"reals": len(reals), "real_hours": round(hours, 6), "false_alarms": int(n),
                "false_alarms_per_hour": round(n / hours, 4) if hours > 0 else None})
    return out
