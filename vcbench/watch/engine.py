"""The live loop: frames in, faces tracked online, a window per track every ``stride`` frames
scored on a worker thread, running scores and alarms out (``vcbench.alarms`` holds the rules).

Three threads, each with one job:

- the **reader** takes frames from the source into a bounded queue (a live source's frames are
  dropped, counted, when the queue is full: the call never waits for vcbench);
- the **main** thread detects and tracks faces (``faces.tracking.OnlineTracker``: a frame's tracks
  depend only on earlier frames), cuts each face's crop as the detector declares
  (``models.preprocess.cut_crop``) into the track's ring buffer of ``clip_len`` frames and, when a
  window is due, hands it to the scorer (a live source's window is skipped, counted, when the
  scorer is behind);
- the **scorer** aligns each window's clip (``models.preprocess.window_clip``: for AltFreezing
  the one similarity fitted over that window's landmarks, as released), runs the network, updates
  the track's running score and writes the event.

Nothing at stream time t depends on a frame after t. A file watched as fast as possible is
scored window by window, in order: its events are reproducible, and a stream cut at T gives the
same events before T.
"""
from __future__ import annotations

import collections
import math
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..alarms import Running, StreamPolicy
from ..errors import StreamStalled, VcbenchError, interruption
from ..fileio import error_line


class NonFiniteScore(VcbenchError):
    """The detector gave NaN or inf for a window: the watch ends, as ``score`` fails such a video."""

#: frames waiting between the reader and the face tracker
FRAME_QUEUE = 8


@dataclass
class _Row:
    """One frame of a track: what its window needs (the crop, not the frame)."""
    index: int
    t: float
    arrived: float
    crop_box: np.ndarray
    crop: np.ndarray
    kps: np.ndarray


@dataclass
class TrackState:
    track: int
    first_frame: int
    first_t: float
    ring: collections.deque
    running: Running
    rows: int = 0
    last_frame: int = 0
    last_t: float = 0.0
    box: np.ndarray | None = None
    windows: int = 0
    skipped: int = 0
    alarms: int = 0
    first_alarm_t: float | None = None
    last_running: float | None = None
    last_score: float | None = None
    max_running: float | None = None
    ended: bool = False

    def to_json(self) -> dict:
        return {"track": self.track, "first_frame": self.first_frame, "last_frame": self.last_frame,
                "first_t": round(self.first_t, 4), "last_t": round(self.last_t, 4), "windows": self.windows,
                "skipped": self.skipped, "alarms": self.alarms,
                "first_alarm_t": None if self.first_alarm_t is None else round(self.first_alarm_t, 4),
                "time_to_alarm_s": None if self.first_alarm_t is None else round(self.first_alarm_t - self.first_t, 4),
                "max_running": None if self.max_running is None else round(self.max_running, 6)}


@dataclass
class _Window:
    track: int
    rows: list


class _End:
    def __init__(self, why: str, error: BaseException | None = None):
        self.why, self.error = why, error


@dataclass
class Stats:
    frames: int = 0
    dropped_frames: int = 0
    windows: int = 0
    skipped: int = 0
    nonfinite: int = 0
    latencies_ms: list = field(default_factory=list)
    first_t: float | None = None
    last_t: float = 0.0
    started: float = 0.0           # the watch began (the source opening, a call's set-up, come after)
    first_arrival: float | None = None   # the first frame arrived: the stream's wall clock starts here
    taken: float = 0.0             # the last frame taken in (the windows still queued are scored after)
    silent_since: float | None = None    # a stalled source went silent then: the stream had ended
    ended: float = 0.0


class Watcher:
    """One watch: a source, a window scorer (``Detector.window_scorer()``), a face backend, the
    stream policy and the threshold. ``sink(event)`` hears every event (on the scorer thread);
    ``frame_hook(index, rgb, tracks)`` sees every processed frame (the annotated video)."""

    def __init__(self, source, scorer, backend, policy: StreamPolicy, threshold: float, batch_size: int = 8,
                 queue_size: int | None = None, detect_every: int = 1, max_seconds: float | None = None, sink=None,
                 frame_hook=None):
        self.source, self.scorer, self.backend, self.policy = source, scorer, backend, policy
        self.pp = scorer.preprocess
        self.threshold, self.batch_size, self.detect_every = threshold, batch_size, detect_every
        self.max_seconds, self.sink, self.frame_hook = max_seconds, sink, frame_hook
        self.live = bool(source.live)
        self.frames_q: queue.Queue = queue.Queue(maxsize=FRAME_QUEUE)
        # live: two waiting windows at most (a newer one replaces the oldest), so a window's score
        # comes at most ~two forwards after it was due; a file read as fast as it goes: four
        self.windows_q: queue.Queue = queue.Queue(maxsize=queue_size or (2 if self.live else 4))
        self.tracks: dict[int, TrackState] = {}
        self.stats = Stats()
        self.stop = threading.Event()
        self.scorer_error: BaseException | None = None
        self.end = "the source ended"
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    # -- reader thread ------------------------------------------------------------------
    def _read(self) -> None:
        it = None
        try:
            it = self.source.frames()
            for i, t, rgb in it:
                if self.stop.is_set():
                    break
                item = (i, t, rgb, time.monotonic())
                if self.live:
                    try:
                        self.frames_q.put_nowait(item)
                    except queue.Full:
                        self.stats.dropped_frames += 1
                else:
                    while not self.stop.is_set():
                        try:
                            self.frames_q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
            end = _End("the source ended")
        except StreamStalled as e:
            end = _End(f"stalled: {e}")
            self.stats.silent_since = time.monotonic() - e.silent_s
        except (VcbenchError, OSError) as e:
            end = _End(f"failed: {error_line(e)}", e)
        except Exception as e:  # noqa: BLE001 - said in one line by the main thread
            end = _End(f"failed: {type(e).__name__}: {e}", e)
        finally:
            if it is not None and hasattr(it, "close"):
                it.close()
            self.source.close()
        while not self.stop.is_set():
            try:
                self.frames_q.put(end, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- scorer thread ------------------------------------------------------------------
    def _score_loop(self) -> None:
        from ..models.preprocess import window_clip

        done = False
        while not done:
            job = self.windows_q.get()
            if job is None:
                break
            jobs = [job]
            while self.live and len(jobs) < self.batch_size:     # a file: one window at a time (reproducible)
                try:
                    nxt = self.windows_q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    done = True
                    break
                jobs.append(nxt)
            if self.live and len(jobs) > 1:    # a track's newest window supersedes its older ones: a batch
                newest = {j.track: j for j in jobs}    # the size of the faces keeps latency ~two forwards
                for j in jobs:
                    if newest[j.track] is not j:
                        self._skip(j)
                jobs = list(newest.values())
            try:
                clips = np.stack([window_clip([r.crop for r in j.rows], np.stack([r.crop_box for r in j.rows]),
                                              np.stack([r.kps for r in j.rows]), self.pp) for j in jobs])
                probs = self.scorer(clips)
                now = time.monotonic()
                for j, p in zip(jobs, np.asarray(probs, np.float64).reshape(-1)):
                    self._emit(j, float(p), now)
            except BaseException as e:  # noqa: BLE001 - the main thread ends the watch with it (a full
                self.scorer_error = e   # disk under --events included: never a scorer dead in silence)
                return

    def _emit(self, job: _Window, p: float, now: float) -> None:
        last, first = job.rows[-1], job.rows[0]
        st = self.tracks[job.track]
        latency = (now - last.arrived) * 1000.0
        if not math.isfinite(p):        # broken weights or input: a watch that can never alarm ends here
            self.stats.nonfinite += 1
            why = (f"the model gave a non-finite score ({p}) for track {job.track}'s window at frames "
                   f"{first.index}-{last.index}: its weights or its input are broken")
            self._send({"type": "error", "t": round(last.t, 4), "frame": last.index, "track": job.track, "why": why})
            raise NonFiniteScore(why)
        r, raised = st.running.add(p, self.threshold)
        with self._lock:
            st.windows += 1
            st.last_score, st.last_running = p, r
            if r is not None:
                st.max_running = r if st.max_running is None else max(st.max_running, r)
            if raised:
                st.alarms += 1
                if st.first_alarm_t is None:
                    st.first_alarm_t = last.t
            self.stats.windows += 1
            self.stats.latencies_ms.append(latency)
        self._send({"type": "window", "t": round(last.t, 4), "frame": last.index, "track": job.track,
                    "window": [first.index, last.index], "score": round(p, 6),
                    "running": None if r is None else round(r, 6), "alarm": st.running.in_alarm, "raised": raised,
                    "latency_ms": round(latency, 1)})

    def _send(self, ev: dict) -> None:
        if self.sink is not None:
            self.sink(ev)

    # -- main thread --------------------------------------------------------------------
    def _submit(self, job: _Window) -> None:
        if self.live:
            while True:
                try:
                    self.windows_q.put_nowait(job)
                    return
                except queue.Full:           # the scorer is behind: the oldest waiting window gives way, so
                    try:                     # what is scored stays fresh and latency stays bounded
                        old = self.windows_q.get_nowait()
                    except queue.Empty:
                        continue
                    if old is not None:
                        self._skip(old)
        while self.scorer_error is None:
            try:
                self.windows_q.put(job, timeout=0.1)
                return
            except queue.Full:
                continue

    def _skip(self, job: _Window) -> None:
        st = self.tracks[job.track]
        with self._lock:
            st.skipped += 1
            self.stats.skipped += 1
        last = job.rows[-1]
        self._send({"type": "skip", "t": round(last.t, 4), "frame": last.index, "track": job.track,
                    "window": [job.rows[0].index, last.index], "why": "the scorer was behind: a newer window replaced it"})

    def _frame(self, i: int, t: float, rgb: np.ndarray, arrived: float) -> None:
        from ..models.preprocess import cut_crop

        faces = self.backend.detect(rgb, run_detector=self.detect_every <= 1 or i % self.detect_every == 0)
        L = self.pp.clip_len
        for tid, face, _score in self.tracker.step(faces):
            st = self.tracks.get(tid)
            if st is None:
                st = self.tracks[tid] = TrackState(tid, i, t, collections.deque(maxlen=L), Running(self.policy.smooth))
            cb, crop = cut_crop(rgb, face.box, self.pp)
            st.ring.append(_Row(i, t, arrived, cb, crop, np.asarray(face.kps, np.float32)))
            st.rows += 1
            st.last_frame, st.last_t, st.box = i, t, np.asarray(face.box, np.float32)
            if self.policy.due(st.rows, L):
                self._submit(_Window(tid, list(st.ring)))
        for tid in self.tracker.ended:
            st = self.tracks[tid]
            st.ended, st.box = True, None
            st.ring.clear()
        if self.frame_hook is not None:
            self.frame_hook(i, t, rgb, self)

    def run(self) -> Stats:
        """Take the stream in until it ends, stalls, fails, is cut or interrupted (Ctrl-C, SIGTERM);
        score what was handed over; stop the source (a call hangs up, its browser and spool go)."""
        from ..faces.tracking import OnlineTracker

        self.tracker = OnlineTracker()
        self.backend.reset()
        s = self.stats
        s.started = time.monotonic()
        reader = threading.Thread(target=self._read, daemon=True, name="vcbench-watch-reader")
        scorer = threading.Thread(target=self._score_loop, daemon=True, name="vcbench-watch-scorer")
        reader.start()
        scorer.start()
        try:
            self._take()
        except KeyboardInterrupt as e:
            self.end = interruption(e)
        except (VcbenchError, OSError) as e:      # the event log on a full disk, a face backend's error
            self.end, self.error = f"failed: {error_line(e)}", e
        finally:
            s.taken = s.taken or time.monotonic()
            self.stop.set()
            self._drain(scorer)
            try:
                self.source.close()           # a call hangs up now, not when the process exits
                reader.join(timeout=getattr(self.source, "close_s", 2.0))
            except KeyboardInterrupt as e:    # impatience while it hangs up: the summary still comes
                self.end = interruption(e)
            s.ended = time.monotonic()
        return s

    def _take(self) -> None:
        s = self.stats
        while True:
            if self.scorer_error is not None:
                e = self.scorer_error
                self.end, self.error = (f"failed: {error_line(e)}" if isinstance(e, (VcbenchError, OSError)) else
                                        f"failed: the scorer stopped ({type(e).__name__}: {e})"), e
                return
            try:
                item = self.frames_q.get(timeout=0.2)
            except queue.Empty:
                continue
            if isinstance(item, _End):
                self.end, self.error = item.why, item.error
                return
            i, t, rgb, arrived = item
            if self.max_seconds is not None and t >= self.max_seconds:
                self.end = f"cut at {self.max_seconds:g} s (--max-seconds)"
                return
            if s.first_t is None:
                s.first_t, s.first_arrival = t, arrived
            s.frames += 1
            s.last_t = t
            self._frame(i, t, rgb, arrived)
            s.taken = time.monotonic()        # the last frame taken in: waits after it (a stall) are not work

    def _drain(self, scorer: threading.Thread) -> None:
        """The windows already handed over are scored (a second Ctrl-C stops that)."""
        try:
            while scorer.is_alive():
                try:
                    self.windows_q.put(None, timeout=0.1)
                    break
                except queue.Full:
                    if self.scorer_error is not None:
                        break
            scorer.join()
        except KeyboardInterrupt as e:         # the summary still comes
            self.end = interruption(e)

    def snapshot(self) -> list[TrackState]:
        with self._lock:
            return [st for st in self.tracks.values() if not st.ended]


def summarise(w: Watcher, fps: float | None) -> dict:
    """What the watch did: how it ended, per track its windows and first alarm, windows scored and
    skipped, frames dropped, the real-time factor (stream seconds / wall seconds from the first
    frame's arrival to the last frame taken in: the source's set-up, ``setup_s``, and a final stall
    are not the watch's work) and latency from a window's last frame arriving to its score."""
    s = w.stats
    frame_s = 1.0 / fps if fps else 0.0
    stream_s = (s.last_t - (s.first_t or 0.0) + frame_s) if s.frames else 0.0
    # a stalled source ended when it went silent: frames it let go only when the stall was called (a
    # transport stream holds its last frame until the next packet or the end) were late, not work
    end = min(s.taken, s.silent_since) if s.silent_since is not None else s.taken
    wall = max(end - s.first_arrival, frame_s, 1e-9) if s.first_arrival is not None else 0.0
    lat = np.asarray(s.latencies_ms, np.float64)
    alarms = [st.first_alarm_t for st in w.tracks.values() if st.first_alarm_t is not None]
    return {"end": w.end, "frames": s.frames, "dropped_frames": s.dropped_frames, "stream_s": round(stream_s, 4),
            "wall_s": round(wall, 4), "realtime_factor": round(stream_s / wall, 4) if s.frames else None,
            "setup_s": round((s.first_arrival if s.first_arrival is not None else s.taken) - s.started, 4),
            "drain_s": round(max(s.ended - s.taken, 0.0), 4),
            "windows_scored": s.windows, "windows_skipped": s.skipped, "nonfinite_scores": s.nonfinite,
            "faces": len(w.tracks),
            "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1), "p95": round(float(np.percentile(lat, 95)), 1),
                           "max": round(float(lat.max()), 1)} if len(lat) else None,
            "alarm": bool(alarms), "first_alarm_t": round(min(alarms), 4) if alarms else None,
            "tracks": [st.to_json() for st in sorted(w.tracks.values(), key=lambda st: st.track)],
            "warnings": watch_warnings(w)}


def watch_warnings(w: Watcher) -> list[str]:
    """What a reader of the summary must not miss: nothing arrived, no face, nothing scored, a
    smoothing that can never alarm in the stream it saw."""
    s, out = w.stats, []
    if not s.frames:
        out.append("no frame arrived: nothing was watched")
    elif not w.tracks:
        out.append(f"no face was found in {s.frames} frame(s): nothing was scored")
    elif not s.windows and not s.skipped and not s.nonfinite and not w.end.startswith("failed"):
        out.append(f"no face stayed for a whole window ({w.pp.clip_len} frames): nothing was scored")
    return out
