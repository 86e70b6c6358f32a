"""What a watch writes while it runs: the JSONL event log, the annotated stream, the console."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


class EventLog:
    """One JSON object per line, flushed as it is written (``tail -f`` shows the call live): the
    one JSON-lines writer (``contracts.JsonLinesWriter``), started over, compact. The log is a
    live record, written under its own name from the start; the summary is written atomically."""

    def __init__(self, path: Path | None):
        from ..contracts import JsonLinesWriter

        self.path = Path(path) if path is not None else None
        self._w = JsonLinesWriter(self.path, fresh=True, sync=False, compact=True) if self.path is not None else None

    def write(self, ev: dict) -> None:
        if self._w is not None:
            self._w.write(ev)

    def close(self) -> None:
        if self._w is not None:
            self._w.close()


def annotate(rgb: np.ndarray, t: float, tracks, threshold: float) -> np.ndarray:
    """A copy of the frame with each live track's box (grey until its first running score, green
    below the threshold, red in alarm), its running score, and the stream time."""
    from ..overlay import draw_face, draw_text, score_colour

    img = np.ascontiguousarray(rgb).copy()
    for st in tracks:
        if st.box is None:
            continue
        r, alarm = st.last_running, st.running.in_alarm
        draw_face(img, st.box, f"#{st.track} " + ("..." if r is None else f"{r:.2f}") + (" ALARM" if alarm else ""),
                  score_colour(r, alarm))
    draw_text(img, f"t {t:6.2f} s  thr {threshold:.2f}")
    return img


class Annotator:
    """Writes the annotated stream (``--video``): every processed frame at the source's rate, each
    frame scaled to the first one's size (a call may change resolution); the file appears under its
    name when the watch ends."""

    def __init__(self, path: Path, fps: float, threshold: float):
        from ..video import VideoWriter

        args = (["-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-pix_fmt", "yuv420p"]
                if Path(path).suffix.lower() == ".webm" else None)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.writer = VideoWriter(path, fps, codec_args=args)
        self.threshold, self.size = threshold, None

    def __call__(self, i, t, rgb, watcher) -> None:
        import cv2

        img = annotate(rgb, t, watcher.snapshot(), self.threshold)
        if self.size is None:
            self.size = (img.shape[1], img.shape[0])
        elif (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(img)

    def close(self, ok: bool = True):
        if self.writer.frames == 0:
            self.writer.abort()
            return None
        return self.writer.close() if ok else self.writer.abort()


class Console:
    """The console while a watch runs: on a terminal a live panel (tracks, running score, alarm,
    real-time factor, latency, skipped windows), refreshed a few times a second; elsewhere only
    the alarm lines. Either way ``echo`` prints each alarm as it is raised."""

    def __init__(self, echo, threshold: float, live_panel: bool | None = None):
        self.echo, self.threshold = echo, threshold
        self.panel = sys.stderr.isatty() if live_panel is None else live_panel
        self._live = None
        self._last = 0.0

    def start(self, watcher):
        self.watcher = watcher
        if self.panel:
            from rich.console import Console as RichConsole
            from rich.live import Live

            self._live = Live(self._render(), console=RichConsole(stderr=True), refresh_per_second=4, transient=True)
            self._live.__enter__()

    def event(self, ev: dict) -> None:
        if ev.get("raised"):
            self.echo(f"ALARM track {ev['track']} at {ev['t']:.2f} s: running score {ev['running']:.3f} >= "
                      f"{self.threshold:.3f} (window frames {ev['window'][0]}-{ev['window'][1]}, latency "
                      f"{ev['latency_ms']:.0f} ms)")

    def frame(self, *_):
        if self._live is not None and time.monotonic() - self._last > 0.25:
            self._last = time.monotonic()
            self._live.update(self._render())

    def _render(self):
        from rich.table import Table

        w = getattr(self, "watcher", None)
        t = Table(title="vcbench watch", show_edge=False)
        for c in ("track", "running", "state", "windows", "skipped"):
            t.add_column(c)
        if w is None:
            return t
        for st in w.snapshot():
            r = st.last_running
            t.add_row(f"#{st.track}", "..." if r is None else f"{r:.3f}",
                      "[bold red]ALARM[/]" if st.running.in_alarm else "ok", str(st.windows), str(st.skipped))
        s = w.stats
        wall = max(time.monotonic() - s.started, 1e-9)
        lat = np.percentile(s.latencies_ms[-200:], 95) if s.latencies_ms else float("nan")
        t.caption = (f"t {s.last_t:.1f} s  real-time x{(s.last_t - (s.first_t or 0)) / wall:.2f}  latency p95 "
                     f"{lat:.0f} ms  skipped {s.skipped}  dropped frames {s.dropped_frames}")
        return t

    def close(self):
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
