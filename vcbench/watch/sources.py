"""Where ``vcbench watch`` gets its frames: a file (as fast as possible, or paced at its frame rate
with ``--realtime``), a capture device or stream URL (through FFmpeg), or the receiving end of a
real WebRTC call (``webrtc:FILE --preset P``).

A source yields ``(index, seconds, rgb)``: ``seconds`` is the frame's place in the stream (its
timestamp, from the stream's first frame), which is what every time in the events means. A
**live** source cannot wait for vcbench: frames it delivers while vcbench is busy are dropped
(counted), never queued without bound.
"""
from __future__ import annotations

import contextlib
import queue
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import ConfigError, StreamStalled, VideoError


class Source:
    """``frames()`` yields ``(index, seconds, rgb)``; ``live``: frames arrive on their own clock."""

    name = "source"
    live = False
    fps: float | None = None

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Stop delivering: from the thread that reads when it ends, and from the watch's main thread
        when the watch ends (a source that runs on its own, a call, stops then); twice is harmless."""

    def describe(self) -> dict:
        return {"source": self.name, "kind": type(self).__name__, "live": self.live, "fps": self.fps}


class FileSource(Source):
    """A video file: decoded as fast as the watch consumes it, or with ``realtime`` delivered at its
    frame rate from the moment the first frame is read (a call played back: late frames drop)."""

    def __init__(self, path: Path, realtime: bool = False):
        from ..video import probe

        self.path = Path(path)
        info = probe(self.path)               # a missing or unreadable file says so here, in one line
        self.name, self.fps, self.live = str(self.path), info.fps or 30.0, realtime
        self.n_frames = info.frames

    def frames(self):
        from ..video import iter_frames

        start = None
        for i, rgb in iter_frames(self.path):
            t = i / self.fps
            if self.live:
                start = time.monotonic() if start is None else start
                wait = start + t - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            yield i, t, rgb


class StreamSource(Source):
    """A stream URL or capture device, opened by FFmpeg (PyAV); ``stall_s`` without a frame ends
    it, the wait for the first one included (a sender that never starts is a stall too)."""

    live = True

    def __init__(self, url: str, stall_s: float = 5.0):
        self.name, self.stall_s = url, stall_s

    def frames(self):
        from ..video import iter_stream

        yield from iter_stream(self.name, stall_s=self.stall_s, open_s=self.stall_s)


class WebrtcSource(Source):
    """The receiving end of a real libwebrtc call (``conference.webrtc.live_call``) of FILE under a
    preset: the frames its decoder outputs, as they arrive, timed by their RTP capture clock.

    Until the first frame the call is setting up (spooling, the browser, ICE): the wait is the
    call's own, and a call that never connects ends with its reason (the page's or the relay's),
    not as a stall; after it, ``stall_s`` without a frame is a stall. ``close()`` hangs up."""

    live = True
    close_s = 15.0          # how long close() waits for the browser to go

    def __init__(self, path: Path, preset: str, presets_file=None, seed: int = 0, stall_s: float = 5.0,
                 workdir: Path | None = None, connect_s: float | None = None):
        from ..conference.presets import get_preset
        from ..conference.webrtc.engine import CONNECT_S, CallState
        from ..video import probe

        self.path = Path(path)
        probe(self.path)
        self.preset = get_preset(preset, presets_file)
        self.name, self.seed, self.stall_s, self.workdir = f"webrtc:{self.path}", seed, stall_s, workdir
        self.connect_s = CONNECT_S if connect_s is None else connect_s
        self.fps = None
        self.call: dict | None = None
        self.state = CallState()
        self._q: queue.Queue = queue.Queue(maxsize=64)
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self):
        from ..conference.webrtc.engine import live_call

        try:
            self.call = live_call(self.path, self.preset, self._put, seed=self.seed, connect_s=self.connect_s,
                                  workdir=self.workdir, state=self.state)
        except BaseException as e:  # noqa: BLE001 - handed to the reading thread, said in one line
            self._error = e
        finally:
            self._done.set()

    def _put(self, rgb, t) -> None:
        with contextlib.suppress(queue.Full):      # a reader that stopped reading never blocks the call
            self._q.put_nowait((t, rgb))

    def frames(self):
        self._thread = threading.Thread(target=self._run, daemon=True, name="vcbench-webrtc-call")
        self._thread.start()
        i, waiting = -1, time.monotonic()
        # the call's own deadlines (browser start, ICE gathering, connecting) end it first, with its reason
        setup_limit = 60.0 + 3 * self.connect_s
        while not self.state.hangup.is_set():
            try:
                t, rgb = self._q.get(timeout=0.1)
            except queue.Empty:
                if self._done.is_set() and self._q.empty():
                    break
                limit = self.stall_s if i >= 0 else setup_limit
                if time.monotonic() - waiting > limit:
                    if i >= 0:
                        raise StreamStalled(f"{self.name}: no frame for {limit:g} s (the call stalled)", limit)
                    raise VideoError(f"{self.name}: the call set-up did not finish within {limit:g} s (stuck at: "
                                     f"{self.state.stage})")
                continue
            waiting = time.monotonic()
            i += 1
            yield i, float(t), rgb
        if self._error is not None:
            e = self._error
            if isinstance(e, (VideoError, ConfigError)) or type(e).__module__.startswith("vcbench"):
                raise e
            raise VideoError(f"{self.name}: the call failed ({type(e).__name__}: {e})")
        if i < 0 and not self.state.hangup.is_set():
            raise VideoError(f"{self.name}: the call delivered no frame (it ended at: {self.state.stage})")

    def close(self) -> None:
        """Hang up and wait (``close_s`` at most) for the browser, relay and spool to go."""
        self.state.hangup.set()
        th = self._thread
        if th is not None and th is not threading.current_thread():
            th.join(self.close_s)

    def describe(self) -> dict:
        return {**super().describe(), "preset": self.preset.name, "call": self.call}


def open_source(spec: str, realtime: bool = False, preset: str | None = None, presets_file=None, seed: int = 0,
                stall_s: float = 5.0, workdir: Path | None = None) -> Source:
    """The source SPEC names: ``webrtc:FILE``, a stream URL, ``/dev/videoN``, else a video file."""
    from ..video import is_stream_url

    if spec.startswith("webrtc:"):
        return WebrtcSource(Path(spec[len("webrtc:"):]), preset, presets_file, seed, stall_s, workdir)
    if is_stream_url(spec) or spec.startswith("/dev/"):
        if realtime:
            raise ConfigError(f"{spec}: --realtime paces a file; a live source keeps its own time")
        return StreamSource(spec, stall_s)
    if "://" in spec:
        raise ConfigError(f"{spec}: not a stream URL vcbench opens (udp://, rtp://, rtsp://, rtmp://, srt://, tcp://, "
                          "http(s)://), a device (/dev/videoN), webrtc:FILE or a video file")
    return FileSource(Path(spec), realtime)
