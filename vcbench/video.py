"""The only module that probes, decodes and encodes video.

Decoding uses PyAV (libav* in-process: no per-frame subprocess cost); encoding pipes raw RGB
frames into the ffmpeg binary (the imageio-ffmpeg wheel's by default, ``VCBENCH_FFMPEG`` or an
explicit path for another) because that binary carries libx264, libopenh264, libvpx and libaom
with their full option sets. Frames are ``(H, W, 3)`` uint8 RGB, rotation metadata applied.
Every error names the file.
"""
from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .errors import EncoderError, VideoError
from .fileio import atomic_path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".ivf")


@dataclass(frozen=True)
class VideoInfo:
    path: str
    frames: int
    fps: float           # average frame rate (frames / duration for variable-rate files)
    width: int           # display size, after rotation
    height: int
    codec: str
    profile: str
    pix_fmt: str
    rotation: int        # degrees clockwise applied to decoded frames for display
    duration: float      # seconds
    vfr: bool            # frame intervals vary by more than 10 % from their median
    bit_rate: int        # bits/s of the video stream (estimated from packet sizes)
    has_b_frames: bool   # any packet decoded out of order (pts != dts order)
    keyframes: int
    keyframe_times: tuple[float, ...] = ()   # seconds, 3 decimals

    def as_dict(self) -> dict:
        return asdict(self)


def _open(path: Path):
    import av

    if not path.exists():
        raise VideoError(f"{path}: file not found")
    if path.is_dir():
        raise VideoError(f"{path}: is a directory, not a video")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as e:
        raise VideoError(f"{path}: not a readable video ({_short(e)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream")
    return container


def _short(e: Exception) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return re.sub(r"^\[Errno -?\d+\] ", "", s)[:160]


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame count, rate, display size, codec and GOP facts of the first video stream.

    Counts frames by demuxing packets (exact, no decoding); decodes one frame to read the
    display rotation. Raises VideoError naming the file if it is empty, truncated or no video.
    """
    import av

    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        cc = stream.codec_context
        tb = float(stream.time_base) if stream.time_base else 0.0
        pts: list[int] = []   # in demux (decode) order: out of order means B-frames
        total_bytes = 0
        keyframes = 0
        packets = 0
        key_pts = []
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0:
                    continue
                packets += 1
                total_bytes += pkt.size
                keyframes += int(pkt.is_keyframe)
                if pkt.pts is not None:
                    pts.append(pkt.pts)
                    if pkt.is_keyframe:
                        key_pts.append(pkt.pts)
        except (av.error.FFmpegError, OSError) as e:
            raise VideoError(f"{path}: truncated or corrupt stream ({_short(e)})") from None
        if not packets:
            raise VideoError(f"{path}: video stream has no frames")
        raw = not pts             # an elementary stream (e.g. raw H.264) carries no timestamps: the
        if raw:                   # decoder still gives one frame per packet, at the stream's rate
            pts = list(range(packets))
            tb = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
        rotation = 0
        first = _open(path)      # a fresh demuxer, not a seek: elementary streams cannot seek
        try:
            for frame in first.decode(first.streams.video[0]):
                rotation = _frame_rotation(frame)
                break
            else:
                raise VideoError(f"{path}: no frame could be decoded")
        except (av.error.FFmpegError, OSError) as e:
            raise VideoError(f"{path}: cannot decode ({_short(e)})") from None
        finally:
            first.close()
        spts = sorted(pts)
        n = len(spts)
        deltas = np.diff(spts) * tb if n > 1 else np.array([])
        if n > 1 and deltas.sum() > 0:
            duration = float((spts[-1] - spts[0]) * tb + np.median(deltas))
            med = float(np.median(deltas))
            vfr = bool(med > 0 and np.any(np.abs(deltas - med) > 0.1 * med))
        else:
            rate = float(stream.average_rate or stream.guessed_rate or 25)
            duration, vfr = n / rate, False
        fps = n / duration if duration > 0 else float(stream.average_rate or 0)
        w, h = cc.width, cc.height
        if rotation in (90, 270):
            w, h = h, w
        has_b = any(a > b for a, b in zip(pts, pts[1:]))
        return VideoInfo(
            path=str(path), frames=n, fps=round(fps, 4), width=w, height=h,
            codec=getattr(cc.codec, "canonical_name", None) or cc.name,   # "av1", not the decoder "libdav1d"
            profile=str(cc.profile or ""), pix_fmt=str(cc.pix_fmt or cc.format.name if cc.format else ""),
            rotation=rotation, duration=round(duration, 4), vfr=vfr,
            bit_rate=int(total_bytes * 8 / duration) if duration > 0 else 0,
            has_b_frames=has_b, keyframes=keyframes,
            keyframe_times=tuple(round(float(k * tb), 3) for k in sorted(key_pts)) if not raw else (),
        )
    finally:
        container.close()


def _frame_rotation(frame) -> int:
    """Clockwise degrees to rotate a decoded frame for display.

    PyAV's ``frame.rotation`` is the display matrix angle, counter-clockwise positive (as
    ffmpeg's av_display_rotation_get); ffmpeg's autorotate turns the picture by its negation.
    """
    rot = getattr(frame, "rotation", 0) or 0
    return int(round(-rot)) % 360


def _apply_rotation(img: np.ndarray, rotation: int) -> np.ndarray:
    if rotation == 90:
        return np.ascontiguousarray(np.rot90(img, k=-1))
    if rotation == 180:
        return np.ascontiguousarray(img[::-1, ::-1])
    if rotation == 270:
        return np.ascontiguousarray(np.rot90(img, k=1))
    return img


def iter_frames(path: str | os.PathLike, indices: Iterable[int] | None = None,
                start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, rgb)`` for frames in decode-presentation order.

    ``indices`` (sorted or not) selects frames; otherwise the range ``[start, stop)``. Frame
    index = position in presentation order, so variable-frame-rate files index the frames
    that exist rather than a resampled timeline.
    """
    import av

    path = Path(path)
    wanted = sorted(set(int(i) for i in indices)) if indices is not None else None
    last = (wanted[-1] if wanted else -1) if wanted is not None else (None if stop is None else stop - 1)
    if wanted is not None and not wanted:
        return
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        want = set(wanted) if wanted is not None else None
        i = -1
        try:
            for frame in container.decode(stream):
                i += 1
                if last is not None and i > last:
                    break
                if want is not None and i not in want:
                    continue
                if want is None and i < start:
                    continue
                img = frame.to_ndarray(format="rgb24")
                yield i, _apply_rotation(img, _frame_rotation(frame))
        except av.error.FFmpegError as e:
            raise VideoError(f"{path}: decode failed at frame {i + 1} ({_short(e)})") from None
    finally:
        container.close()


#: URL schemes ``iter_stream`` hands to FFmpeg's own protocols (PyAV's build)
STREAM_SCHEMES = ("udp", "rtp", "rtsp", "rtmp", "srt", "tcp", "http", "https")


def is_stream_url(source: str) -> bool:
    return re.match(r"^([a-z][a-z0-9+.-]*)://", source or "") is not None and \
        source.split("://", 1)[0].lower() in STREAM_SCHEMES


def iter_stream(source: str, stall_s: float = 5.0, open_s: float | None = None,
                fmt: str | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, seconds since the first frame, rgb)`` from a live source FFmpeg opens: a
    stream URL (``udp://``, ``rtsp://``, ``srt://``, ``http://``...) or a capture device
    (``/dev/video0``: ``fmt`` ``v4l2``, the default for ``/dev/`` paths). Times come from the
    stream's timestamps (else frame count / rate). No frame for ``stall_s`` seconds raises
    :class:`~vcbench.errors.StreamStalled`; a source that cannot be opened, VideoError."""
    import av

    from .errors import StreamStalled

    if fmt is None and source.startswith("/dev/"):
        fmt = "v4l2"
    open_s = 3 * stall_s + 2 if open_s is None else open_s      # a stream may start a little after the watch
    url = source
    if source.startswith("udp://") and "?" not in source:
        url = source + "?overrun_nonfatal=1&fifo_size=1000000"     # a slow reader drops, never blocks the sender
    try:
        container = av.open(url, format=fmt, timeout=(open_s, stall_s))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        if isinstance(e, av.error.ExitError) or "Immediate exit" in str(e):
            raise StreamStalled(f"{source}: no stream arrived within {open_s:g} s", open_s) from None
        raise VideoError(f"{source}: cannot open the stream ({_short(e)})") from None
    try:
        if not container.streams.video:
            raise VideoError(f"{source}: has no video stream")
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
        first, i = None, -1
        try:
            for frame in container.decode(stream):
                i += 1
                t = frame.time
                if t is None:
                    t = i / rate
                if first is None:
                    first = t
                yield i, max(0.0, float(t - first)), _apply_rotation(frame.to_ndarray(format="rgb24"),
                                                                      _frame_rotation(frame))
        except av.error.ExitError:
            raise StreamStalled(f"{source}: no frame for {stall_s:g} s (the stream stalled or ended)", stall_s) from None
        except av.error.FFmpegError as e:
            raise VideoError(f"{source}: the stream failed after frame {i + 1} ({_short(e)})") from None
    finally:
        container.close()


def read_frames(path: str | os.PathLike, indices: Sequence[int] | None = None,
                start: int = 0, stop: int | None = None) -> np.ndarray:
    """Decode frames into one ``(T, H, W, 3)`` uint8 array (see :func:`iter_frames`)."""
    frames = [img for _, img in iter_frames(path, indices, start, stop)]
    if not frames:
        raise VideoError(f"{path}: no frames in the requested range")
    return np.stack(frames)


def sample_indices(n_frames: int, k: int) -> list[int]:
    """``k`` evenly spaced frame indices across the whole video (centres of k equal bins),
    not the first k frames."""
    if n_frames <= 0 or k <= 0:
        return []
    if k >= n_frames:
        return list(range(n_frames))
    return [int((j + 0.5) * n_frames / k) for j in range(k)]


# --- ffmpeg binary -----------------------------------------------------------------

def ffmpeg_exe(explicit: str | os.PathLike | None = None) -> str:
    """The ffmpeg binary: explicit path > VCBENCH_FFMPEG > imageio-ffmpeg's wheel > PATH."""
    from .runtime import ffmpeg_override

    cand = explicit or ffmpeg_override()
    if cand:
        found = shutil.which(str(cand)) or (str(cand) if Path(cand).is_file() else None)
        if not found:
            raise EncoderError(f"{cand}: ffmpeg binary not found")
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        found = shutil.which("ffmpeg")
        if not found:
            raise EncoderError("no ffmpeg binary: install imageio-ffmpeg or set VCBENCH_FFMPEG") from None
        return found


@functools.lru_cache(maxsize=8)
def ffmpeg_encoders(exe: str) -> frozenset[str]:
    """Names of the video encoders the binary was built with."""
    out = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False).stdout
    names = set()
    for line in out.splitlines():
        m = re.match(r"\s*V[\w.]{5}\s+(\S+)", line)
        if m:
            names.add(m.group(1))
    return frozenset(names)


@functools.lru_cache(maxsize=8)
def ffmpeg_version(exe: str) -> str:
    out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True, check=False).stdout
    m = re.match(r"ffmpeg version (\S+)", out)
    return m.group(1) if m else "unknown"


def require_encoder(exe: str, encoder: str, needed_by: str = "") -> None:
    if encoder not in ffmpeg_encoders(exe):
        who = f" (needed by {needed_by})" if needed_by else ""
        raise EncoderError(f"{exe}: ffmpeg binary has no encoder {encoder!r}{who}")


def lossless_args(suffix: str = ".mp4") -> list[str]:
    """ffmpeg output options that store 4:2:0 frames without loss, for the container ``suffix``:
    x264 at qp 0 (.mp4/.mkv), or VP9's lossless mode (.webm, which holds no H.264). Bit-exact, so
    the same frames give the same bytes. The one definition of "a lossless receiver's view"."""
    if suffix.lower() == ".webm":
        return ["-c:v", "libvpx-vp9", "-lossless", "1", "-deadline", "good", "-cpu-used", "8", "-row-mt", "0",
                "-threads", "1", "-pix_fmt", "yuv420p", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
    return ["-c:v", "libx264", "-qp", "0", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-threads", "2",
            "-fflags", "+bitexact", "-flags:v", "+bitexact"]


def run_ffmpeg(exe: str, args: Sequence[str], what: str) -> None:
    """Run one ffmpeg command to completion (vcbench's only way besides the pipes below); a failure
    is an :class:`EncoderError` starting with ``what`` and ending with ffmpeg's last words."""
    r = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *map(str, args)],
                       capture_output=True, text=True)
    if r.returncode:
        for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):      # the disk, not the encoder: an OSError
            if os.strerror(code) in r.stderr:                       # naming the output (its last argument)
                raise OSError(code, os.strerror(code), str(args[-1]))
        said = " | ".join(x.strip() for x in r.stderr.strip()[-300:].splitlines() if x.strip())
        raise EncoderError(f"{what}: {said or f'ffmpeg exited with {r.returncode}'}")


class VideoWriter:
    """Pipe RGB frames into ffmpeg; the file appears under its final name only on close().

    ``codec_args`` are ffmpeg output options (default: lossless-looking x264 CRF 18 yuv420p,
    Deep-Live-Cam's output setting). Odd sizes are padded to even, as 4:2:0 requires.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int] | None = None,
                 codec_args: Sequence[str] | None = None, exe: str | None = None,
                 input_args: Sequence[str] = (), pix_fmt: str = "rgb24"):
        self.path = Path(path)
        self.pix_fmt = pix_fmt
        self.fps = fps
        self.size = size
        self.codec_args = list(codec_args) if codec_args is not None else [
            "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p"]
        self.exe = ffmpeg_exe(exe)
        self.input_args = list(input_args)
        self._ctx = None
        self._tmp: Path | None = None
        self._proc: subprocess.Popen | None = None
        self.frames = 0

    def _start(self, w: int, h: int) -> None:
        self._ctx = atomic_path(self.path)
        tmp = self._tmp = self._ctx.__enter__()
        args, filters = list(self.codec_args), ["pad=ceil(iw/2)*2:ceil(ih/2)*2"] if w % 2 or h % 2 else []
        if "-vf" in args:                     # one filter chain: the pad first, then the caller's
            k = args.index("-vf")
            filters.append(args[k + 1])
            del args[k:k + 2]
        cmd = [self.exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", self.pix_fmt,
               "-s", f"{w}x{h}", "-framerate", f"{self.fps}", *self.input_args, "-i", "pipe:0",
               *(["-vf", ",".join(filters)] if filters else []), *args, str(tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise VideoError(f"{self.path}: frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if self._proc is None:
            h, w = frame.shape[:2]
            self.size = self.size or (w, h)
            self._start(*self.size)
        if (frame.shape[1], frame.shape[0]) != tuple(self.size):
            raise VideoError(f"{self.path}: frame size {frame.shape[1]}x{frame.shape[0]} != {self.size}")
        self._send(np.ascontiguousarray(frame).tobytes())

    def write_raw(self, data: bytes) -> None:
        """One frame already in ``pix_fmt`` at ``size`` (e.g. yuv420p from :func:`iter_raw`)."""
        if self._proc is None:
            if self.size is None:
                raise VideoError(f"{self.path}: write_raw needs the frame size up front")
            self._start(*self.size)
        self._send(data)

    def _send(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
        except BrokenPipeError:
            err = self._said(self._proc.stderr.read(), "no message")
            self.abort()
            raise EncoderError(f"{self.path}: ffmpeg exited early ({err})") from None
        self.frames += 1

    def close(self) -> Path:
        if self._proc is None:
            raise VideoError(f"{self.path}: no frames written")
        self._proc.stdin.close()
        err = self._proc.stderr.read()
        rc = self._proc.wait()
        if rc != 0:
            self.abort()
            raise EncoderError(f"{self.path}: ffmpeg failed ({self._said(err, rc)})")
        self._ctx.__exit__(None, None, None)
        self._proc = None
        return self.path

    def _said(self, stderr: bytes, default) -> str:
        """ffmpeg's last line, the temporary's name in it replaced by the path the caller gave."""
        return _last_line(stderr, default).replace(str(self._tmp), str(self.path))

    def abort(self) -> None:
        if self._proc is not None:
            try:
                self._proc.kill()
            finally:
                self._proc.wait()
        if self._ctx is not None:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
        self._proc, self._ctx = None, None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, et, ev, tb) -> None:
        if et is None:
            self.close()
        else:
            self.abort()


def _last_line(stderr: bytes, default) -> str:
    """The last line ffmpeg wrote to stderr (its error), or ``default`` when it wrote none."""
    text = stderr.decode(errors="replace").strip()
    return text.splitlines()[-1] if text else str(default)


def frame_sizes(path: str | os.PathLike, fps: float, n: int) -> list[int]:
    """Encoded bytes of each of ``n`` frames at ``fps`` (frame ``k`` at ``k / fps`` from the first
    packet), read by demuxing; a frame with no packet (the encoder dropped it) is 0."""
    import av

    path = Path(path)
    container = _open(path)
    sizes = [0] * n
    try:
        stream = container.streams.video[0]
        tb = float(stream.time_base)
        first = None
        for pkt in container.demux(stream):
            if not pkt.size or pkt.pts is None:
                continue
            first = pkt.pts if first is None else first
            k = int(round((pkt.pts - first) * tb * fps))
            if 0 <= k < n:
                sizes[k] += pkt.size
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(f"{path}: truncated or corrupt stream ({_short(e)})") from None
    finally:
        container.close()
    return sizes


def iter_raw(path: str | os.PathLike, size: tuple[int, int], pix_fmt: str = "yuv420p",
             exe: str | None = None, downscale: bool | None = None, rate: float | None = None,
             flags: str | None = None) -> Iterator[bytes]:
    """Every frame of ``path`` in presentation order (display-rotated, as :func:`iter_frames`),
    decoded and scaled by ffmpeg itself to ``size`` in ``pix_fmt``, as raw bytes. The fast
    path when frames only need selecting, not touching: no RGB round trip through Python.
    ``rate`` resamples to a constant frame rate (a missing frame repeats the one before);
    ``flags`` overrides the scaler (default: area down, bilinear up)."""
    w, h = size
    if pix_fmt != "yuv420p" or w % 2 or h % 2:
        raise ValueError("iter_raw supports yuv420p at even sizes")
    if flags is None:
        if downscale is None:
            info = probe(path)
            downscale = w * h < info.width * info.height
        flags = "area" if downscale else "bilinear"     # as cv2's INTER_AREA / INTER_LINEAR choice
    timing = ["-vf", f"fps={rate:.6f},scale={w}:{h}:flags={flags}"] if rate else \
        ["-fps_mode", "passthrough", "-vf", f"scale={w}:{h}:flags={flags}"]
    cmd = [ffmpeg_exe(exe), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           *timing, "-pix_fmt", pix_fmt, "-f", "rawvideo", "pipe:1"]
    frame_bytes = w * h * 3 // 2
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=frame_bytes * 2)
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            yield buf
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise VideoError(f"{path}: ffmpeg decode failed ({_last_line(err, proc.returncode)})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float,
                codec_args: Sequence[str] | None = None, exe: str | None = None) -> Path:
    with VideoWriter(path, fps, codec_args=codec_args, exe=exe) as w:
        for f in frames:
            w.write(f)
    return Path(path)
