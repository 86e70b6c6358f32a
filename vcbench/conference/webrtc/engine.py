"""``vcbench simulate --engine webrtc``: a real libwebrtc call (headless Chromium) through the relay.

The input's captured frames (the preset's frame rate and camera stage, as the ffmpeg engine
takes them) are written to a spool at the input size in I420; the page (``call.html``) fetches
them one by one at the preset's rate into a ``MediaStreamTrackGenerator`` that an
RTCPeerConnection sends, with the preset's codec (``setCodecPreferences``), size
(``scaleResolutionDownBy``), rate cap (``maxBitrate``) and frame rate. A second
RTCPeerConnection in the same page receives it through :class:`~.relay.Relay`, and every frame
its decoder outputs comes back to Python as I420 (never re-encoded: no MediaRecorder).

Which source frame a received frame shows comes from timestamps: libwebrtc stamps each frame's
RTP timestamp from the time it was captured (written to the generator), the sender's encoded-frame
transform sees those RTP timestamps next to the write times, and their median difference maps
each received RTP timestamp back to a write time, hence a frame index. The output has one frame
per captured frame: a frame the receiver never got is shown by repeating the last one it did, bit
for bit (what a renderer shows through a freeze); frames before the first decoded one show it.
Outputs are not bit-identical from run to run (the browser's timing decides which packets a loss
pattern hits); the relay's seed and the call's stats are recorded instead.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import mmap
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ...contracts import call_event_rows, call_event_text, call_events_path
from ...errors import EncoderError, NotAvailableError, VideoError
from ...fileio import atomic_path, temp_folder, write_json
from ..link import link_models
from ..network import call_freezes
from .relay import Relay

#: vcbench codec -> the WebRTC codec a call negotiates for it
WEBRTC_CODEC = {"vp8": "VP8", "vp9": "VP9", "av1": "AV1", "x264": "H264", "x264-crf": "H264", "openh264": "H264"}
CONNECT_S = 15.0
INSTALL = ("the webrtc engine needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver) "
           "and selenium (pip install selenium)")


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths; NotAvailableError says how to get them."""
    from ...runtime import browser_overrides

    chromium, driver = browser_overrides()
    chromium = chromium or next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                                             shutil.which("google-chrome")) if p), None)
    driver = driver or shutil.which("chromedriver")
    if not chromium or not driver:
        raise NotAvailableError(f"no {'chromium' if not chromium else 'chromedriver'} found: {INSTALL}")
    import importlib.util

    if importlib.util.find_spec("selenium") is None:
        raise NotAvailableError(f"selenium is not installed: {INSTALL}") from None
    return chromium, driver


def chromium_version(chromium: str) -> str:
    import subprocess

    try:
        return subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def guarded(cmd: list[str]) -> list[str]:
    """``cmd`` run so that the kernel kills it when the thread that started it ends, vcbench killed
    by SIGKILL included: util-linux's ``setpriv --pdeathsig KILL`` where it has the option (Linux),
    else ``cmd`` as it is (the ``finally`` of :func:`browser` still stops it on every other way out).

    Never a ``preexec_fn``: Python code between fork and exec in a process with threads can
    deadlock. With PyAV 18 it does: the child frees the other threads' per-thread swscale
    contexts, whose ``pthread_cond_destroy`` waits forever for slice threads that exist only in
    the parent; the parent then waits forever for the exec (a call that never starts), and the
    orphaned child, a copy of vcbench, holds its output pipes open (a test run that never ends)."""
    guard = _setpriv()
    return [guard, "--pdeathsig", "KILL", "--", *cmd] if guard else list(cmd)


@functools.lru_cache(maxsize=1)
def _setpriv() -> str | None:
    import subprocess

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    try:
        ok = subprocess.run([setpriv, "--pdeathsig", "KILL", "--", "true"], capture_output=True,
                            timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return setpriv if ok else None


CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream",
                  "--use-fake-device-for-media-stream", "--allow-loopback-in-peer-connection",
                  "--disable-features=WebRtcHideLocalIpsWithMdns", "--autoplay-policy=no-user-gesture-required",
                  "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--no-first-run",
                  "--no-default-browser-check", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")


def _driver_service(driver: str):
    """selenium's chromedriver Service started under :func:`guarded`: selenium runs
    ``[path, *command_line_args()]``, so the guard is the path and the driver its first argument."""
    from selenium.webdriver.chrome.service import Service

    cmd = guarded([driver])

    class GuardedService(Service):
        def command_line_args(self) -> list[str]:
            return [*cmd[1:], *super().command_line_args()]

    return GuardedService(cmd[0])


@contextlib.contextmanager
def browser():
    """Headless Chromium (started here, so that it dies with vcbench even on SIGKILL) driven by
    chromedriver (likewise). Both are stopped, and the profile removed, on every way out."""
    import subprocess

    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException

    chromium, driver = find_browser()
    profile = Path(tempfile.mkdtemp(prefix="vcb-chromium-"))
    (profile / "tmp").mkdir()                 # Chromium's own temporaries go with the profile
    proc, d = None, None
    try:
        proc = subprocess.Popen(guarded([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "TMPDIR": str(profile / "tmp")})
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise NotAvailableError(f"{chromium} did not start (exit status {proc.poll()}): {INSTALL}")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        opts = webdriver.ChromeOptions()
        opts.debugger_address = f"127.0.0.1:{port}"
        try:
            d = webdriver.Chrome(service=_driver_service(driver), options=opts)
        except WebDriverException as e:
            raise NotAvailableError(f"{driver} could not drive {chromium}: {str(e.msg or e).splitlines()[0]}") from None
        yield d
    finally:
        if d is not None:
            with contextlib.suppress(Exception):
                d.quit()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for _ in range(20):        # its helpers may still be writing the profile for a moment
            shutil.rmtree(profile, ignore_errors=True)
            if not profile.exists():
                break
            time.sleep(0.1)


def webrtc_codecs() -> tuple[str, list[str]]:
    """(Chromium's version, the video codecs its WebRTC offers), from a running browser."""
    chromium, _ = find_browser()
    with browser() as d:
        d.get("about:blank")
        names = d.execute_script("return [...new Set(RTCRtpSender.getCapabilities('video').codecs"
                                 ".map(c => c.mimeType.split('/')[1]))]")
    return chromium_version(chromium), [c for c in names if c not in ("rtx", "red", "ulpfec", "flexfec-03")]


@dataclass
class Received:
    seq: int
    rtp: int
    t_ms: float
    width: int
    height: int
    offset: int
    size: int
    layout: list


def tight_i420(buf: np.ndarray, r: Received) -> np.ndarray:
    """A received frame's bytes (``VideoFrame.copyTo``'s planes and strides) as tight I420
    ``(h * 3 // 2, w)``. An odd side (a 16:9 camera scaled to 240 lines is 427 wide) loses its last
    pixel: tight I420 is even."""
    w, h = r.width, r.height
    cw, ch = (w + 1) // 2, (h + 1) // 2     # chroma planes as VideoFrame.copyTo lays them out
    we, he = w - w % 2, h - h % 2
    planes = []
    for (pw, ph), lay in zip(((w, h), (cw, ch), (cw, ch)), r.layout):
        off, stride = int(lay["offset"]), int(lay["stride"])
        planes.append(buf[off:off + stride * ph].reshape(ph, stride)[:, :pw])
    y, u, v = planes[0][:he, :we], planes[1][:he // 2, :we // 2], planes[2][:he // 2, :we // 2]
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(he * 3 // 2, we)


class CallServer:
    """The page, the sender's frames, the relay hand-off and the receiver's frames, on 127.0.0.1."""

    def __init__(self, frames: Path, frame_bytes: int, relay: Relay, spool: Path | None, on_frame=None):
        self.frames, self.frame_bytes, self.relay = frames, frame_bytes, relay
        self.on_frame = on_frame          # live_call: each received frame as it arrives
        self._f = open(frames, "rb")
        self._mm = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
        # simulate keeps every received frame to lay out the view afterwards; a live call hands each
        # on and keeps none (an hour's call would fill the disk)
        self.spool = open(spool, "wb") if spool is not None else None
        self.received: list[Received] = []
        self.error: str | None = None
        self._lock = threading.Lock()
        page = resources.files("vcbench.conference.webrtc").joinpath("call.html").read_bytes()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _reply(self, code: int, body: bytes, kind: str = "application/octet-stream"):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/":
                    return self._reply(200, page, "text/html")
                m = re.fullmatch(r"/frame/(\d+)", self.path)
                if m:
                    k = int(m.group(1))
                    a = k * server.frame_bytes
                    return self._reply(200, server._mm[a:a + server.frame_bytes])
                self._reply(404, b"")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/relay":
                    try:
                        reply = server.hand_off(json.loads(body))
                    except ValueError as e:
                        server.error = str(e)
                        return self._reply(400, str(e).encode(), "text/plain")
                    return self._reply(200, json.dumps(reply).encode(), "application/json")
                if self.path == "/recv":
                    h = self.headers
                    with server._lock:
                        off = server.spool.tell() if server.spool is not None else 0
                        if server.spool is not None:
                            server.spool.write(body)
                        rec = Received(int(h["X-Seq"]), int(h["X-Rtp"]), float(h["X-T"]), int(h["X-W"]),
                                       int(h["X-H"]), off, len(body), json.loads(h["X-Layout"]))
                        server.received.append(rec)
                    if server.on_frame is not None:
                        try:
                            server.on_frame(rec, body)
                        except Exception as e:  # noqa: BLE001 - the call goes on; the error is reported
                            server.error = server.error or f"{type(e).__name__}: {e}"
                    return self._reply(200, b"")
                self._reply(404, b"")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/"

    def hand_off(self, cands: dict) -> dict:
        """Start the relay between the peers' 127.0.0.1 UDP candidates; give each the other's
        candidate with the relay's port in it."""
        def loopback(lines: list[str], who: str) -> tuple[str, int]:
            for c in lines:
                parts = c.split()
                if len(parts) > 7 and parts[2].lower() == "udp" and parts[4] == "127.0.0.1":
                    return c, int(parts[5])
            raise ValueError(f"peer {who} offered no 127.0.0.1 UDP candidate (Chromium needs "
                             "--allow-loopback-in-peer-connection)")

        c1, p1 = loopback(cands["c1"], "1")
        c2, p2 = loopback(cands["c2"], "2")
        self.relay.start(p1, p2)
        port = re.compile(r" 127\.0\.0\.1 \d+ ")
        return {"to2": port.sub(f" 127.0.0.1 {self.relay.port_b} ", c1, count=1),
                "to1": port.sub(f" 127.0.0.1 {self.relay.port_a} ", c2, count=1)}

    def read(self, r: Received) -> np.ndarray:
        """A received frame as tight I420 bytes ``(h * 3 // 2, w)``."""
        self.spool.flush()
        with open(self.spool.name, "rb") as f:
            f.seek(r.offset)
            return tight_i420(np.frombuffer(f.read(r.size), np.uint8), r)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._mm.close()
        self._f.close()
        if self.spool is not None:
            self.spool.close()


def rtp_to_frames(writes: list, encoded: list, received: list[Received]) -> list[int]:
    """Each received frame's source index, from RTP timestamps (90 kHz, from capture time).

    ``writes``: (frame index, write time ms) per frame given to the sender (the pre-roll repeats
    frame 0); ``encoded``: (RTP timestamp, write time ms of the last frame written when it was
    encoded, ...) per encoded frame. The median of ``rtp / 90 - write time`` is the clock offset;
    each encoded frame is then matched to a write near ``rtp / 90 - offset`` (:func:`match_writes`:
    in order, one write each, never a write after the one before its encoding), and a received
    frame shows the frame its encoding was matched to. Matching in order, not to the nearest write
    alone, is what keeps a capture stamped late (the browser busy: 25 ms happen) on its own frame."""
    if not encoded or not writes:
        return [-1] * len(received)
    base = int(encoded[0][0])

    def unwrap(rtp: int) -> float:
        d = (int(rtp) - base) % (1 << 32)
        return float(d - (1 << 32) if d >= 1 << 31 else d)

    offset = float(np.median([unwrap(e[0]) / 90.0 - float(e[1]) for e in encoded]))
    wt = np.array([w[1] for w in writes], np.float64)
    wk = np.array([w[0] for w in writes], np.int64)
    t = np.array([unwrap(e[0]) / 90.0 - offset for e in encoded])
    upper = np.searchsorted(wt, [float(e[1]) for e in encoded], side="right") - 1
    pos = match_writes(t, wt, upper)
    by_rtp = {int(e[0]) % (1 << 32): int(wk[p]) for e, p in zip(encoded, pos)}
    out = []
    for r in received:
        if r.rtp < 0:
            out.append(-1)
        elif int(r.rtp) % (1 << 32) in by_rtp:
            out.append(by_rtp[int(r.rtp) % (1 << 32)])
        else:                                  # not among the encoded frames the page saw: the nearest write
            out.append(int(wk[int(np.argmin(np.abs(wt - (unwrap(r.rtp) / 90.0 - offset))))]))
    return out


def match_writes(t: np.ndarray, wt: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Write positions for encoded frames at times ``t`` (in encoding order): strictly increasing,
    position ``i``'s at most ``upper[i]`` (a frame is encoded after it is written), the total
    distance ``|t - wt[p]|`` least (dynamic programming over prefix minima). Where no such
    assignment exists (more encoded frames than writes), the nearest write each."""
    n, m = len(t), len(wt)
    if n > m:
        return np.abs(wt[None, :] - t[:, None]).argmin(1)
    cost = np.abs(wt[None, :] - t[:, None])
    cost[np.arange(m)[None, :] > np.maximum(upper, 0)[:, None]] = np.inf
    back = np.zeros((n, m), np.int64)
    best = cost[0].copy()
    for i in range(1, n):
        prev = np.concatenate([[np.inf], best[:-1]])          # the previous frame takes an earlier write
        run_min = np.minimum.accumulate(prev)
        at = np.maximum.accumulate(np.where(prev <= run_min, np.arange(m), 0))   # where that minimum is
        back[i] = np.maximum(at - 1, 0)
        best = cost[i] + run_min
    if not np.isfinite(best).any():
        return np.abs(wt[None, :] - t[:, None]).argmin(1)
    pos = np.zeros(n, np.int64)
    pos[-1] = int(np.argmin(best))
    for i in range(n - 1, 0, -1):
        pos[i - 1] = back[i, pos[i]]
    return pos


def simulate_webrtc(input: str | os.PathLike, output: str | os.PathLike, preset, seed: int = 0,
                    presets_file=None, ffmpeg: str | None = None, fidelity: bool = False,
                    connect_s: float = CONNECT_S) -> dict:
    """One call through real libwebrtc; write the receiver's view losslessly and its stats."""
    from ...video import VideoWriter, ffmpeg_exe, lossless_args
    from ..presets import Preset, get_preset
    from ..simulate import check_output, display, fidelity_stats, stats_path

    src, out = Path(input), Path(output)
    check_output(src, out)
    p = preset if isinstance(preset, Preset) else get_preset(preset, presets_file)
    if p.codec == "none":
        raise VideoError(f"preset {p.name!r} makes no call (codec none): the webrtc engine has nothing to do")
    if out.suffix.lower() not in (".mp4", ".mkv", ".webm"):
        raise VideoError(f"{out}: the webrtc engine writes the receiver's view losslessly (H.264 in .mp4/.mkv, "
                         f"VP9 in .webm): use .mp4, .mkv or .webm")
    codec = WEBRTC_CODEC[p.codec]
    chromium, _ = find_browser()
    exe = ffmpeg_exe(ffmpeg)
    out.parent.mkdir(parents=True, exist_ok=True)
    with temp_folder("webrtc", out.parent) as td:
        plan = _spool_sender(src, p, seed, Path(td) / "frames.i420")
        info, sp, fps, n, (out_w, out_h) = plan["info"], plan["sp"], plan["fps"], plan["n"], plan["out"]
        up, down = link_models(p)
        relay = Relay(up, down, seed)
        server = CallServer(plan["frames"], plan["frame_bytes"], relay, Path(td) / "received.i420")
        started = time.monotonic()
        try:
            result = _call(server, _page_cfg(plan, p, codec, connect_s), n / fps)
            received = sorted(server.received, key=lambda r: r.seq)
            index = rtp_to_frames(result["writes"], result["encoded"], received)
            shown, startup, delay = _receiver_view(index, received, result["writes"], n, fps)
            if not shown:
                raise EncoderError(f"{src}: the call delivered no decodable frame (preset {p.name!r})")
            tile = (sp.display or (out_w, out_h)) if (p.tile_height or p.record_codec) else None
            view = Path(td) / "view.mp4" if tile else out
            with atomic_path(view) as tmp:
                with VideoWriter(tmp, fps, (out_w, out_h), lossless_args(view.suffix), exe, pix_fmt="yuv420p") as w:
                    cache: dict[int, bytes] = {}
                    for slot in shown:
                        if slot not in cache:
                            cache.clear()
                            cache[slot] = _fit_i420(server.read(received[slot]), out_w, out_h)
                        w.write_raw(cache[slot])
            if tile:                  # the receiver's tile, and its recorder, on what the call showed
                display(exe, view, out, tile, fps, list(range(n)), p)
        finally:
            server.close()
            relay.close()
        call_s = time.monotonic() - started

    stats = _stats(p, info, sp, result, received, index, shown, relay.counts(), seed, call_s, chromium,
                   (out_w, out_h), codec, relay.wire["up"])
    stats.update(startup_frames=startup, display_delay_ms=round(delay, 1))
    if fidelity:   # the picture's quality, against the frame each slot shows (its lag is reported apart)
        stats.update(fidelity_stats(src, out, [max(f, 0) for f in stats["source_frames"]], n, preset=p))
    media = stats["webrtc"]["outbound"].get("ssrc")
    lost_ts: dict[int, int] = {}
    for ssrc, ts in relay.dropped["up"]:          # first transmissions only: RTX also carries probe padding
        if ssrc == media:
            lost_ts[ts] = lost_ts.get(ts, 0) + 1
    with atomic_path(call_events_path(out)) as tmp:
        tmp.write_text(call_event_text(_events(fps, shown, received, result["encoded"], stats["source_frames"],
                                               lost_ts if media is not None else None)), encoding="utf-8")
    stats["media_packets_lost"] = sum(lost_ts.values()) if media is not None else None   # first transmissions
    write_json(stats_path(out), stats)
    return stats


def _events(fps: float, shown: list[int], received: list, encoded: list, source: list[int],
            lost_ts: dict[int, int] | None = None) -> list[dict]:
    """The event track (``contracts.call_event_rows``) of a call: slot j shows received frame
    ``shown[j]``; its keyframe flag and the encoder's output over the second before it come from
    the sender's encoded frames with the same RTP timestamp; ``lost_ts``: RTP timestamp -> media
    packets of that frame the relay dropped (counted where the view reaches or passes the frame)."""
    enc = {int(e[0]) % (1 << 32): e for e in encoded}
    times = np.array(sorted(int(e[0]) for e in encoded), np.int64)
    sizes = {int(e[0]): float(e[3]) if len(e) > 3 else 0.0 for e in encoded}
    cum = np.cumsum([sizes[int(t)] for t in times]) if len(times) else np.zeros(0)

    def kbps(rtp: int):
        if not len(times):
            return None
        hi = int(np.searchsorted(times, rtp, side="right"))
        lo = int(np.searchsorted(times, rtp - 90000, side="right"))    # RTP's 90 kHz clock: one second
        total = (cum[hi - 1] if hi else 0.0) - (cum[lo - 1] if lo else 0.0)
        return total * 8 / 1000.0

    base = int(encoded[0][0]) if encoded else 0

    def unwrap(rtp: int) -> int:
        d = (int(rtp) - base) % (1 << 32)
        return d - (1 << 32) if d >= 1 << 31 else d

    drops = sorted((unwrap(t), n) for t, n in (lost_ts or {}).items())
    keys = sorted(unwrap(int(e[0])) for e in encoded if e[2])
    key, res, rate, lost = [], [], [], []
    prev, k, kk = None, 0, 0
    for j, slot in enumerate(shown):
        r = received[slot]
        e = enc.get(int(r.rtp) % (1 << 32))
        first = j == 0 or shown[j - 1] != slot
        res.append(f"{r.width}x{r.height}")
        rate.append(kbps(int(r.rtp)) if e is not None else None)
        # a frame overtaken before its slot is never shown (one that lost packets arrives late; the
        # pre-roll writes frame 0 several times): its losses and its being a keyframe are marked
        # where the view reaches or passes it
        n, hit, now = 0, False, unwrap(int(r.rtp))
        if first and (prev is None or now > prev):
            while k < len(drops) and drops[k][0] <= now:
                n += drops[k][1]
                k += 1
            while kk < len(keys) and keys[kk] <= now:
                hit, kk = True, kk + 1
            prev = now
        key.append(None if e is None else hit)
        lost.append(n)
    return call_event_rows(fps, shown, source, key, res, rate, lost if lost_ts is not None else None)


def _spool_sender(src: Path, p, seed: int, frames: Path, hangup: threading.Event | None = None) -> dict:
    """The sender's captured frames (the preset's frame rate and camera stage) as I420 in ``frames``;
    returns the plan: probe info, simulation plan, rate, count, input and output sizes. ``hangup``
    set stops it (:class:`HungUp`)."""
    import cv2

    from ...video import iter_frames, probe
    from ..camera import Camera
    from ..simulate import captured_size, fit_size, plan_simulation

    info = probe(src)
    sp = plan_simulation(info, p)         # frame rate and sizes; the relay does the losing
    fps = sp.fps
    cw, ch = captured_size(info.width, info.height, p)      # what the camera stage delivers
    in_w, in_h = cw - cw % 2, ch - ch % 2
    cam = Camera(p, seed, fps) if p.has_camera else None
    want = iter(enumerate(sp.capture))
    j, k = next(want, (None, None))
    with open(frames, "wb") as f:
        for i, rgb in iter_frames(src):
            if hangup is not None and hangup.is_set():
                raise HungUp()
            while k is not None and i == k:
                img = cam(rgb) if cam is not None else rgb
                f.write(cv2.cvtColor(np.ascontiguousarray(img[:in_h, :in_w]), cv2.COLOR_RGB2YUV_I420).tobytes())
                j, k = next(want, (None, None))
            if k is None:
                break
    return {"info": info, "sp": sp, "fps": fps, "n": sp.n, "in": (in_w, in_h), "out": fit_size(cw, ch, p.height),
            "frames": frames, "frame_bytes": in_w * in_h * 3 // 2}


def _page_cfg(plan: dict, p, codec: str, connect_s: float) -> dict:
    """What call.html's ``vcbStart`` takes: the sender's size and rate, the codec and its caps."""
    (in_w, in_h), (_, out_h) = plan["in"], plan["out"]
    return {"w": in_w, "h": in_h, "fps": plan["fps"], "n": plan["n"], "codec": codec, "maxKbps": p.bitrate_kbps or 0,
            "startKbps": p.bitrate_kbps or 0, "scale": max(1.0, in_h / out_h), "degradation": p.degradation,
            "preroll": 3, "tailMs": int(max(800, 3 * p.rtt_ms)), "connectMs": int(connect_s * 1000)}


class CallState:
    """What a live call's thread and its reader share: the stage the call has reached (a call that
    never connects ends naming it) and the request to hang up (the watch ended: the browser, the
    relay and the spool go now, not when the process exits)."""

    def __init__(self):
        self.stage = "starting"
        self.hangup = threading.Event()


class HungUp(Exception):
    """The reader asked the call to stop (:attr:`CallState.hangup`)."""


def live_call(input: str | os.PathLike, preset, on_frame, seed: int = 0, presets_file=None,
              connect_s: float = CONNECT_S, workdir: str | os.PathLike | None = None,
              state: CallState | None = None) -> dict:
    """A real call of ``input`` under ``preset`` whose receiver hands every decoded frame to
    ``on_frame(rgb, media_s)`` as it arrives (``media_s``: its RTP capture time, seconds after
    the first received frame's): what a detector on the receiving end sees, live. Returns the
    call's frame counts. ``on_frame`` runs on the call's HTTP thread: it must return quickly.
    ``state`` tells the stage reached and hangs up on request (the result then says ``hung_up``)."""
    import cv2

    from ..presets import Preset, get_preset

    src = Path(input)
    state = state or CallState()
    p = preset if isinstance(preset, Preset) else get_preset(preset, presets_file)
    if p.codec == "none":
        raise VideoError(f"preset {p.name!r} makes no call (codec none): pick a preset with a codec for webrtc:")
    codec = WEBRTC_CODEC[p.codec]
    find_browser()
    first: list[int] = []

    def hand(r: Received, body: bytes) -> None:
        yuv = tight_i420(np.frombuffer(body, np.uint8), r)
        if r.rtp >= 0 and not first:
            first.append(r.rtp)
        media = ((r.rtp - first[0]) % (1 << 32)) / 90000.0 if r.rtp >= 0 and first else r.t_ms / 1000.0
        on_frame(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420), media)

    out = {"preset": p.name, "codec": codec, "hung_up": False}
    with temp_folder("live", workdir) as td:
        state.stage = "preparing the sender's frames"
        try:
            plan = _spool_sender(src, p, seed, Path(td) / "frames.i420", state.hangup)
        except HungUp:
            return {**out, "hung_up": True, "sent": 0, "received": 0}
        up, down = link_models(p)
        relay = Relay(up, down, seed)
        server = CallServer(plan["frames"], plan["frame_bytes"], relay, None, on_frame=hand)
        try:
            result = _call(server, _page_cfg(plan, p, codec, connect_s), plan["n"] / plan["fps"], state)
        finally:
            server.close()
            relay.close()
    return {**out, "hung_up": bool(result.get("hung_up")), "sent": plan["n"], "received": len(server.received),
            "fps": plan["fps"], "error": server.error, "result_frames": len(result.get("writes", []))}


def _render(index: list[int], received: list[Received], written: dict[int, float], n: int, fps: float,
            delay: float) -> list:
    """Per slot, the received position on screen (None before the first frame) for one ``delay``."""
    import heapq

    order = sorted(range(len(received)), key=lambda p: received[p].t_ms)
    last = max(written)
    shown, cur, q, pending = [], None, 0, []
    for i in range(n):
        due = written.get(i, written[last] + (i - last) * 1000.0 / fps) + delay
        while q < len(order) and received[order[q]].t_ms <= due:
            if 0 <= index[order[q]] < n:
                heapq.heappush(pending, (index[order[q]], order[q]))
            q += 1
        while pending and pending[0][0] <= i:       # decoded and due: rendered in capture order
            k, pos = heapq.heappop(pending)
            if cur is None or k >= index[cur]:
                cur = pos
        shown.append(cur)
    return shown


def _receiver_view(index: list[int], received: list[Received], writes: list, n: int, fps: float):
    """What the receiver's screen shows in each output slot: slot ``i`` comes ``delay`` after source
    frame ``i`` was captured and shows the last frame that reached the track by then (a late frame
    holds the one before: a freeze, repeated bit for bit; a frame overtaken before its slot is never
    shown). Frames reach the track when libwebrtc's jitter buffer releases them for rendering, so
    their arrival times are its render times: after a freeze it plays the backlog a little fast
    and its delay grows with the retransmissions it expects. ``delay`` removes only the call's
    smallest latency (5th percentile, plus half a frame for the page's timer jitter); what the
    call adds beyond that stays: freezes as held frames, and the lag behind the sender
    (``source_frames`` records which frame each slot shows). Slots before the first frame show it
    (``startup``).

    Returns (received position per slot, startup slots, delay ms), or ([], 0, 0) without frames."""
    written: dict[int, float] = {}
    for k, t in writes:
        written[int(k)] = float(t)          # the last write of a frame (the pre-roll repeats frame 0)
    # frames 0 and n - 1 are written several times (pre- and post-roll): their latency is ambiguous
    lat = [r.t_ms - written[k] for r, k in zip(received, index) if 0 < k < n - 1 and k in written]
    if not lat:
        return [], 0, 0.0
    delay = float(np.percentile(lat, 5)) + 500.0 / fps
    shown = _render(index, received, written, n, fps, delay)
    startup = sum(1 for c in shown if c is None)
    first = next((c for c in shown if c is not None), None)
    if first is None:
        first = min(range(len(received)), key=lambda p: received[p].t_ms if 0 <= index[p] < n else float("inf"))
    return [first if c is None else c for c in shown], startup, delay


def _fit_i420(yuv: np.ndarray, w: int, h: int) -> bytes:
    """Tight I420 ``(h0 * 3 // 2, w0)`` scaled to ``w x h`` (bicubic, per plane), as bytes."""
    import cv2

    h0, w0 = yuv.shape[0] * 2 // 3, yuv.shape[1]
    if (w0, h0) == (w, h):
        return yuv.tobytes()
    y = yuv[:h0]
    uv = yuv[h0:].reshape(2, h0 // 2, w0 // 2)
    planes = [cv2.resize(y, (w, h), interpolation=cv2.INTER_CUBIC)]
    planes += [cv2.resize(np.ascontiguousarray(c), (w // 2, h // 2), interpolation=cv2.INTER_CUBIC) for c in uv]
    return b"".join(p.tobytes() for p in planes)


def _call(server: CallServer, cfg: dict, seconds: float, state: CallState | None = None) -> dict:
    """Run the page's call; return its result, or raise with what went wrong in one line (the
    page's own reason: ICE never completed, the call never connected, a codec not offered...).
    With ``state``: its stage follows the page's, and a hang-up ends the call (``hung_up``)."""
    state = state or CallState()
    state.stage = "starting the browser"
    with browser() as d:
        if state.hangup.is_set():
            return {"hung_up": True}
        d.get(server.url)
        d.execute_script("window.vcbStart(arguments[0])", cfg)
        deadline = time.monotonic() + 2 * cfg["connectMs"] / 1000 + seconds * 3 + 20
        while time.monotonic() < deadline:
            r, state.stage = d.execute_script("return [window.vcbResult, window.vcbStage]")
            if r:
                break
            if state.hangup.is_set():
                return {"hung_up": True}
            time.sleep(0.25)
        else:
            raise EncoderError(f"the WebRTC call did not finish (stuck at: {state.stage})")
        if r.get("error"):
            raise EncoderError(f"the WebRTC call failed at '{state.stage}': {server.error or r['error']}")
        if r.get("failed"):
            raise EncoderError(f"the receiver's frames did not reach vcbench: {r['failed']}")
        return r


def _lag(shown: list[int], index: list[int], fps: float) -> dict:
    """How far behind the sender the screen is, slot by slot (beyond the call's smallest latency)."""
    behind = np.array([i - index[s] for i, s in enumerate(shown) if index[s] >= 0], np.float64) * 1000.0 / fps
    if not len(behind):
        return {}
    return {"mean": round(float(behind.mean()), 1), "p95": round(float(np.percentile(behind, 95)), 1),
            "max": round(float(behind.max()), 1)}


def _pick(stats: list[dict], keys: tuple[str, ...]) -> dict:
    s = max(stats, key=lambda x: x.get("bytesSent", x.get("bytesReceived", 0)), default={})
    return {k: s.get(k) for k in keys if k in s}


def rate_breakdown(outbound: dict, encoded: list, wire: dict, duration: float, target_kbps: float | None) -> dict:
    """Where the sender's bits went, each as kbps over the media's duration, and which part made the
    wire rate exceed the target.

    ``outbound``: the sender's outbound-rtp stats (``bytesSent`` counts every RTP payload byte of the
    stream and its RTX stream: media, retransmissions, and libwebrtc's *payload padding*, old packets
    re-sent on RTX as bandwidth probes; ``retransmittedBytesSent`` the retransmissions alone;
    ``headerBytesSent`` RTP headers and padding-only packets); ``encoded``: per encoded frame (RTP
    timestamp, write time, keyframe flag, bytes) from the page's insertable stream: the encoder's
    real output; ``wire``: the relay's bytes per stream (SSRC, "rtcp", "stun", "other")."""
    def kbps(b: float) -> float:
        return round(b * 8 / 1000 / duration, 1) if duration else 0.0

    enc = sum(e[3] for e in encoded if len(e) > 3)
    key = sum(e[3] for e in encoded if len(e) > 3 and e[2])
    sent = outbound.get("bytesSent", 0)
    resent = outbound.get("retransmittedBytesSent", 0)
    ssrc, rtx = outbound.get("ssrc"), outbound.get("rtxSsrc")
    out = {"encoded_kbps": kbps(enc), "keyframe_kbps": kbps(key), "target_kbps": target_kbps or None,
           "encoder_target_kbps": round(outbound["targetBitrate"] / 1000, 1) if outbound.get("targetBitrate") else None,
           "rtp_payload_kbps": kbps(sent), "retransmitted_kbps": kbps(resent),
           "probe_padding_kbps": kbps(max(0, sent - resent - enc)), "rtp_header_kbps": kbps(outbound.get("headerBytesSent", 0))}
    total = sum(wire.values())
    out["wire_kbps"] = kbps(total)
    out["wire"] = {"media": kbps(wire.get(ssrc, 0)), "rtx": kbps(wire.get(rtx, 0)),
                   "rtcp": kbps(wire.get("rtcp", 0)), "stun_dtls": kbps(wire.get("stun", 0) + wire.get("other", 0)),
                   "other_rtp": kbps(total - sum(wire.get(k, 0) for k in (ssrc, rtx, "rtcp", "stun", "other")))}
    target = target_kbps or out["encoder_target_kbps"]
    if not target:
        out["verdict"] = "no target rate to compare with"
        return out
    if out["encoded_kbps"] > 1.1 * target:
        out["verdict"] = (f"the encoder made {out['encoded_kbps']:g} kbps for a {target:g} kbps target: "
                          f"the rate was not applied")
        return out
    parts = {"probe padding (RTX)": out["probe_padding_kbps"], "retransmissions": out["retransmitted_kbps"],
             "RTP headers": out["rtp_header_kbps"],
             "SRTP/RTCP/STUN": max(0.0, out["wire_kbps"] - out["rtp_payload_kbps"] - out["rtp_header_kbps"])}
    extra = out["wire_kbps"] - out["encoded_kbps"]
    top = max(parts, key=parts.get)
    out["verdict"] = (f"the encoder kept its target ({out['encoded_kbps']:g} of {target:g} kbps); the wire's "
                      f"{out['wire_kbps']:g} kbps adds {extra:.0f} kbps, mostly {top} ({parts[top]:g} kbps)"
                      + ("" if out["wire_kbps"] <= 1.1 * target else
                         ": above the target by libwebrtc's own behaviour, not the encoder's"))
    return out


def _stats(p, info, sp, result, received, index, shown, relay_counts, seed, call_s, chromium, size, codec,
           wire: dict | None = None) -> dict:
    fps, n = sp.fps, sp.n
    st = result["stats"]
    inbound = _pick(st["inbound"], ("decoderImplementation", "framesReceived", "framesDecoded", "framesDropped",
                                    "keyFramesDecoded", "nackCount", "pliCount", "firCount", "freezeCount",
                                    "totalFreezesDuration", "pauseCount", "packetsReceived", "packetsLost",
                                    "retransmittedPacketsReceived", "jitter", "frameWidth", "frameHeight",
                                    "bytesReceived"))
    outbound = _pick(st["outbound"], ("encoderImplementation", "framesEncoded", "keyFramesEncoded", "framesSent",
                                      "retransmittedPacketsSent", "nackCount", "pliCount", "firCount",
                                      "qualityLimitationReason", "qualityLimitationDurations",
                                      "qualityLimitationResolutionChanges", "targetBitrate", "bytesSent",
                                      "frameWidth", "frameHeight", "scalabilityMode", "retransmittedBytesSent",
                                      "headerBytesSent", "packetsSent", "ssrc", "rtxSsrc"))
    rtt = [s.get("roundTripTime") for s in st["remoteInbound"] if s.get("roundTripTime") is not None]
    freezes = call_freezes(shown, fps)
    sizes = [(r.width, r.height) for r in received]
    switches = sum(1 for a, b in zip(sizes, sizes[1:]) if a != b)
    distinct = len(set(shown))
    keyframes = sum(e[2] for e in result["encoded"])
    duration = n / fps
    rate = rate_breakdown(outbound, result["encoded"], wire or {}, duration, p.bitrate_kbps)
    return {
        "preset": p.name, "engine": "webrtc", "codec": codec.lower(), "webrtc_codec": codec,
        "kbps": rate["encoded_kbps"],          # the encoder's output, as the ffmpeg engine's kbps
        "target_kbps": p.bitrate_kbps or None, "resolution": "{}x{}".format(*size),
        "received_resolutions": sorted({f"{w}x{h}" for w, h in sizes}), "input_resolution": f"{info.width}x{info.height}",
        "fps": fps, "effective_fps": round(distinct / duration, 3) if duration else 0.0,
        "frames": n, "frames_sent": n, "frames_received": len(received),
        "freezes": len(freezes), "freeze_s": round(sum(length for _, length in freezes) / fps, 3),
        "freeze_frames": [[a, length] for a, length in freezes],
        "keyframes": keyframes, "resolution_switches": switches,
        "source_frames": [int(sp.capture[index[s]]) if 0 <= index[s] < n else -1 for s in shown],
        "unmapped_received": sum(1 for k in index if k < 0),
        "lag_ms": _lag(shown, index, fps),
        "webrtc": {"inbound": inbound, "outbound": outbound, "rtt_s": round(float(np.median(rtt)), 4) if rtt else None,
                   "ice": result.get("ice"), "chromium": chromium_version(chromium),
                   "codecs_offered": result.get("offered")},
        "rate": rate, "relay": relay_counts, "call_s": round(call_s, 2), "seed": seed,
        "deterministic": False,
    }
