"""Pass a video through a simulated call: camera -> frame rate -> encoder -> network -> display.

The output is what the receiver gets: the encoded bitstream itself, or, for presets with loss or
a receiver-side upscale, what the receiver DISPLAYS (the decoded stream, every frame of a freeze
an exact copy of the frame shown before it, stored losslessly so storing it adds nothing).

With loss, the sender encodes every live frame (a call's encoder never stops for the network);
:func:`.network.plan_call` runs the packets of that stream, sized by their encoded bytes, through
the preset's path with NACK retransmission and keyframe requests, and says which frame each
display slot shows and which frames a keyframe request made keyframes (the stream is then encoded
again with those keyframes). ``<output>.stats.json`` says what the call did (and describes the
sent stream).
"""
from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contracts import call_event_rows, call_event_text, call_events_path
from ..errors import ConfigError, EncoderError, VcbenchError, VideoError
from ..fileio import atomic_path, make_folder, temp_folder, write_json
from ..video import (VideoWriter, ffmpeg_exe, iter_frames, iter_raw, lossless_args, probe, require_encoder,
                     run_ffmpeg)
from .codec import encoder_args
from .link import link_models
from .network import FramePlan, plan_call
from .presets import CONTAINER_OF, Preset, get_preset

CONTAINERS = {"vp8": {".webm", ".mkv"}, "vp9": {".webm", ".mkv", ".mp4"}, "av1": {".mp4", ".mkv", ".webm"},
              "x264": {".mp4", ".mkv"}, "x264-crf": {".mp4", ".mkv"}, "openh264": {".mp4", ".mkv"}}


def _even(x: int) -> int:
    return max(2, x - (x % 2))


def fit_size(in_w: int, in_h: int, height: int) -> tuple[int, int]:
    """The encoded size for a preset of ``height`` lines: the input's aspect ratio is kept (a
    4:3 camera in a "640x360" call sends 480x360), both sides even. Like WebRTC's encoder, a call
    scales a camera down, never up: a smaller input keeps its size. 0 keeps the input size."""
    if not height or height >= in_h:
        return _even(in_w), _even(in_h)
    return _even(int(round(height * in_w / in_h))), _even(height)


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    if img.shape[1] == w and img.shape[0] == h:
        return img
    interp = cv2.INTER_AREA if img.shape[1] > w else cv2.INTER_LINEAR
    return cv2.resize(img, (w, h), interpolation=interp)


@dataclass
class SimPlan:
    """What a preset does to a video's frames: sent frame ``j`` is input frame ``capture[j]``,
    encoded in the segment (first, end, width, height, kbps) holding ``j``; output slot ``j``
    shows input frame ``input_frame(j)`` (``plan``: the network's, once the call has run)."""

    fps: float
    capture: list[int]           # per sent frame, the input frame the camera captured
    plan: FramePlan
    segments: list[tuple[int, int, int, int, int]]
    display: tuple[int, int] | None = None   # the receiver's size when the preset upscales

    @property
    def n(self) -> int:
        return len(self.capture)

    def input_frame(self, j: int) -> int:
        return self.capture[self.plan.source[j]]

    def size_at(self, j: int) -> tuple[int, int]:
        """The size of output frame ``j`` in the file (the display size when upscaled)."""
        if self.display:
            return self.display
        for a, b, w, h, _ in self.segments:
            if a <= j < b:
                return w, h
        raise IndexError(j)


def plan_simulation(info, p: Preset) -> SimPlan:
    """Frame-rate reduction and the bandwidth-step segments for one input."""
    fps_in = info.fps
    fps = min(p.fps or fps_in, fps_in)
    n = int(math.floor(info.frames * fps / fps_in + 1e-9))
    capture = [min(info.frames - 1, int(math.floor(j * fps_in / fps + 1e-9))) for j in range(n)]
    plan = FramePlan(list(range(n)), [0])      # the network's plan needs the encoded sizes: run_network
    cw, ch = captured_size(info.width, info.height, p)
    w, h = fit_size(cw, ch, p.height)
    segments = [(0, n, w, h, p.bitrate_kbps)]
    step = int(round(p.bwe_step_s * fps)) if p.bwe_step_s else 0
    if 0 < step < n:
        segments = [(0, step, w, h, p.bitrate_kbps), (step, n, *fit_size(cw, ch, p.bwe_height), p.bwe_kbps)]
    shown = fit_size(cw, ch, 0) if p.upscale else None
    if p.tile_height:                 # a tile scales whatever arrives to its height, up or down
        tw, th = shown or (w, h)
        shown = (_even(int(round(p.tile_height * tw / th))), _even(p.tile_height))
    return SimPlan(fps, capture, plan, segments, shown)


def captured_size(w: int, h: int, p: Preset) -> tuple[int, int]:
    """The picture's size once the camera stage has framed it: a phone's upright crop, or the
    whole shared screen."""
    from .camera import portrait_size

    if p.content == "screen":
        return p.width, p.height
    return portrait_size(w, h) if p.portrait else (w, h)


def sender_args(p: Preset, kbps: int, fps: float, keyframes: list[int], fmt: str | None = None) -> list[str]:
    """The call encoder's ffmpeg options for preset ``p`` (its codec, rate factor, temporal layers
    and screen-content mode)."""
    return encoder_args(p.codec, kbps, fps, keyframes, p.crf, fmt, layers=p.temporal_layers,
                        screen=p.content == "screen")


def stats_path(out: Path) -> Path:
    return out.with_name(out.name + ".stats.json")


def simulate_file(input: str | os.PathLike, output: str | os.PathLike, preset: str | Preset, seed: int = 0,
                  presets_file=None, ffmpeg: str | None = None, fidelity: bool = False) -> dict:
    """Simulate one call; write ``output`` and its stats atomically; return the stats.

    ``fidelity`` adds PSNR/SSIM of the output against the input on 24 frames (it decodes both
    files, which costs more than the encode of a short clip: opt-in)."""
    src, out = Path(input), Path(output)
    p = preset if isinstance(preset, Preset) else get_preset(preset, presets_file)
    check_output(src, out)
    allowed, holds = output_containers(p)
    if p.codec == "none" and out.suffix.lower() != src.suffix.lower():
        raise VideoError(f"{out}: preset {p.name!r} copies the input as it is; give the output the input's "
                         f"suffix ({src.suffix or 'none'})")
    if p.codec != "none" and out.suffix.lower() not in allowed:
        raise VideoError(f"{out}: preset {p.name!r} writes {holds}, which a {out.suffix or 'suffix-less'} file "
                         f"cannot hold; use {' or '.join(sorted(allowed))}")
    info = probe(src)
    make_folder(out.parent)
    # the video and its stats appear together or not at all: both are made under temporary names in
    # a private folder beside the output, then renamed (errors name the input, not the temporaries)
    with temp_folder("sim", out.parent) as td:
        made = Path(td) / f"out{out.suffix}"
        try:
            stats = _simulate(src, made, p, info, seed, ffmpeg, fidelity, Path(td))
        except VcbenchError as e:
            msg = str(e).replace(str(made), str(out)).replace(str(td) + os.sep, "")
            raise type(e)(msg if msg.startswith(str(src)) else f"{src}: {msg}") from None
        except OSError as e:              # a full disk: the output's name, not the private folder's
            raise OSError(e.errno, e.strerror, str(out)) from None
        events = stats.pop("_events")
        try:
            write_json(Path(td) / "stats.json", stats)
            (Path(td) / "events.jsonl").write_text(call_event_text(events), encoding="utf-8")
        except OSError as e:             # a full disk: the output's name, not the private folder's
            raise OSError(e.errno, e.strerror, str(out)) from None
        os.replace(made, out)
        os.replace(Path(td) / "events.jsonl", call_events_path(out))
        os.replace(Path(td) / "stats.json", stats_path(out))
    return stats


def check_output(src: Path, out: Path) -> None:
    """Refuse an output that would overwrite its own input (its stats and event track included), or
    whose stats or event track could not be named (a legal name plus their suffix past 255 bytes)."""
    from ..fileio import refuse_overwrites

    refuse_overwrites({"the input video": src}, {"-o": out, "its stats file": stats_path(out),
                                                 "its event track": call_events_path(out)})
    for what, path in (("stats file", stats_path(out)), ("event track", call_events_path(out))):
        if len(os.fsencode(path.name)) > 255:
            raise ConfigError(f"{out}: name too long for its {what} {path.name[:40]}... ({len(os.fsencode(path.name))} "
                              f"bytes, the limit is 255); use a name {len(os.fsencode(path.name)) - 255} bytes shorter")


def output_containers(p: Preset) -> tuple[set[str], str]:
    """The suffixes an output of preset ``p`` may have, and what the file holds."""
    if p.codec == "none":
        return set(), "the input as it is"
    if p.shows_receiver_view:
        if p.record_codec:
            return CONTAINERS[p.record_codec], f"the receiver's view recorded as {p.record_codec}"
        # the receiver's view is stored losslessly: H.264 (qp 0) in .mp4/.mkv, VP9 lossless in .webm
        return {".mp4", ".mkv", ".webm"}, "the receiver's view, losslessly"
    return CONTAINERS[p.codec], p.codec


def _simulate(src: Path, out: Path, p: Preset, info, seed: int, ffmpeg: str | None, fidelity: bool, td: Path) -> dict:
    if p.codec == "none":
        return _copied(src, out, p, info, seed)
    exe = ffmpeg_exe(ffmpeg)
    require_encoder(exe, p.encoder, needed_by=f"preset {p.name!r}")
    sp = plan_simulation(info, p)
    sender = _Sender(src, out, p, info, sp, seed, exe, td)
    # the transmitted stream: the output itself, unless the output is the receiver's view
    sent = td / f"sent{CONTAINER_OF.get(p.codec, '.mp4')}" if p.shows_receiver_view else out
    sender.send(sent, [0])
    if p.has_network:
        sp.plan = run_network(sent, p, sp, seed)
        if sp.plan.keyframes != [0]:             # the keyframes the receiver asked for
            sender.send(sent, sp.plan.keyframes)
    oi = probe(sent)
    if p.shows_receiver_view:
        display(exe, sent, out, sp.display or sp.segments[0][2:4], sp.fps, sp.plan.source, p)
    return _call_stats(src, out, p, info, sp, oi, seed, fidelity)


def _copied(src: Path, out: Path, p: Preset, info, seed: int) -> dict:
    """A preset without a codec: the input as it is (identical: PSNR undefined)."""
    shutil.copyfile(src, out)
    n = info.frames
    return {"_events": call_event_rows(info.fps, list(range(n)), list(range(n)), [None] * n,
                                       [f"{info.width}x{info.height}"] * n, None),
            "preset": p.name, "codec": info.codec, "kbps": round(info.bit_rate / 1000, 1),
            "resolution": f"{info.width}x{info.height}", "fps": info.fps, "effective_fps": info.fps,
            "frames": info.frames, "freezes": 0, "freeze_s": 0.0, "keyframes": info.keyframes,
            "resolution_switches": 0, "psnr_y": None, "ssim": 1.0, "seed": seed}


class _Captured:
    """One pass over the captured frames, in order (the camera's drift and noise are seeded, so a
    second pass, for the keyframes a receiver asked for, sees the same frames)."""

    def __init__(self, src: Path, p: Preset, info, sp: SimPlan, seed: int, exe: str, raw: bool):
        from .camera import Camera

        self.capture = sp.capture
        self.cam = Camera(p, seed, sp.fps) if p.has_camera else None
        seg = sp.segments[0]
        self.gen = (iter_raw(src, seg[2:4], exe=exe, downscale=seg[2] < info.width) if raw else iter_frames(src))
        self.it = enumerate(self.gen) if raw else self.gen       # (index, frame) either way
        self.idx, self.cur = -1, None

    def __call__(self, j: int):
        while self.idx < self.capture[j]:
            self.idx, self.cur = next(self.it)
        return self.cur if self.cam is None else self.cam(self.cur)

    def close(self):
        getattr(self.gen, "close", lambda: None)()


class _Sender:
    """The sender's encoder: every captured frame through the camera stage, scaled to each
    bandwidth step's resolution, keyframes where asked."""

    def __init__(self, src: Path, out: Path, p: Preset, info, sp: SimPlan, seed: int, exe: str, td: Path):
        self.src, self.out, self.p, self.info, self.sp, self.seed, self.exe, self.td = src, out, p, info, sp, seed, exe, td
        # Without a camera stage frames are only selected, never touched: ffmpeg decodes and scales
        # straight to yuv420p and Python passes the bytes on (no RGB round trip).
        self.raw = not p.has_camera and len(sp.segments) == 1

    def encode(self, frames: _Captured, target: Path, a: int, b: int, sw: int, sh: int, kbps: int, fmt: str | None,
               keyframes: list[int]) -> None:
        p, fps = self.p, self.sp.fps
        kf = [f - a for f in keyframes if a <= f < b]
        if a not in keyframes:
            kf = [0] + kf
        try:
            with VideoWriter(target, fps, (sw, sh), sender_args(p, kbps, fps, kf, fmt), self.exe,
                             pix_fmt="yuv420p" if self.raw else "rgb24") as w:
                for j in range(a, b):
                    if self.raw:
                        w.write_raw(frames(j))
                    else:
                        w.write(_resize(frames(j), sw, sh))
        except EncoderError as e:
            raise EncoderError(f"{p.encoder} failed for preset {p.name!r}: {e}") from None

    def send(self, target: Path, keyframes: list[int]) -> None:
        """Encode the sent stream: every captured frame, keyframes where asked."""
        sp, info, segments = self.sp, self.info, self.sp.segments
        if self.raw and keyframes == [0] and captures_exactly(sp.capture, info.fps / sp.fps, info.frames):
            encode_direct(self.exe, self.src, target, self.p, info, sp)   # one ffmpeg process, no frames through Python
            return
        frames = _Captured(self.src, self.p, info, sp, self.seed, self.exe, self.raw)
        try:
            if len(segments) == 1:
                self.encode(frames, target, *segments[0], fmt=None, keyframes=keyframes)
                return
            with atomic_path(target) as tmp_out:
                seg_files = [Path(self.td) / f"seg{k}.ivf" for k in range(len(segments))]
                for f, seg in zip(seg_files, segments):
                    self.encode(frames, f, *seg, fmt="ivf", keyframes=keyframes)
                lst = Path(self.td) / "list.txt"
                lst.write_text("".join(f"file '{f}'\n" for f in seg_files))
                run_ffmpeg(self.exe, ["-f", "concat", "-safe", "0", "-i", lst, "-c", "copy", "-fflags", "+bitexact",
                                      tmp_out], f"{self.out}: joining the bandwidth-step segments failed")
        finally:
            frames.close()


def _call_stats(src: Path, out: Path, p: Preset, info, sp: SimPlan, oi, seed: int, fidelity: bool) -> dict:
    """What the call did (``<output>.stats.json``) and its event track (``_events``)."""
    plan, fps, n, segments = sp.plan, sp.fps, sp.n, sp.segments
    held = sum(length for _, length in plan.freezes)
    shown = [sp.input_frame(j) for j in range(n)]
    stats = {
        "preset": p.name, "codec": oi.codec, "profile": oi.profile, "kbps": round(oi.bit_rate / 1000, 1),
        "target_kbps": p.bitrate_kbps or None, "resolution": f"{oi.width}x{oi.height}",
        "sent_resolutions": ["{}x{}".format(w, h) for _, _, w, h, _ in segments],
        "input_resolution": f"{info.width}x{info.height}", "fps": oi.fps,
        "effective_fps": round(min(plan.distinct, oi.frames) / oi.duration, 3) if oi.duration else 0.0,
        "frames": oi.frames, "frames_sent": n, "encoder_dropped": max(0, n - oi.frames),
        "freezes": len(plan.freezes), "freeze_s": round(held / fps, 3),
        "freeze_times_s": [round(a / fps, 3) for a, _ in plan.freezes],
        "freeze_frames": [[a, length] for a, length in plan.freezes],   # (first output frame, frames held)
        "keyframes": oi.keyframes, "keyframe_times_s": list(oi.keyframe_times),
        "forced_keyframes_s": [round(k / fps, 3) for k in plan.keyframes],
        "keyframe_frames": [int(round(t * fps)) for t in oi.keyframe_times],
        "forced_keyframe_frames": list(plan.keyframes),
        "resolution_switches": len(segments) - 1, "b_frames": oi.has_b_frames, "seed": seed,
    }
    if p.has_network:
        stats["transport"] = plan.transport
        stats["source_frames"] = shown
    if p.shows_receiver_view:
        stats["display_resolution"] = "{}x{}".format(*(sp.display or segments[0][2:4]))
    if fidelity:
        stats.update(fidelity_stats(src, out, shown, n if p.shows_receiver_view else oi.frames, preset=p))
    stats["_events"] = _events(sp, stats, n if p.shows_receiver_view else min(oi.frames, n), shown)
    return stats


def _events(sp: SimPlan, stats: dict, n_out: int, shown: list[int]) -> list[dict]:
    """The event track (``contracts.call_event_rows``): output slot j shows sent frame
    ``plan.source[j]``; a keyframe is the sent stream's, marked where the view reaches it; resolution and rate are those
    of the bandwidth segment the sent frame was encoded in (the preset's target rate)."""
    slots = sp.plan.source if len(sp.plan.source) >= n_out else list(range(sp.n))
    slots = slots[:n_out]
    keys = set(stats.get("keyframe_frames") or [0])
    seg = [next(sg for sg in sp.segments if sg[0] <= k < sg[1] or sg is sp.segments[-1]) for k in slots]
    res = ["{}x{}".format(*(sp.display or sg[2:4])) for sg in seg]
    # a keyframe shows with the first slot at or past it (a frame the freeze skipped is never shown)
    key = [j == 0 or any(slots[j - 1] < kf <= k for kf in keys) for j, k in enumerate(slots)]
    # a sent frame's dropped packets where the view reaches or passes it (a frame the freeze
    # skipped is never shown); only where a network ran
    lost = ([sum(n for f, n in sp.plan.lost.items() if (slots[j - 1] if j else -1) < f <= k)
             for j, k in enumerate(slots)] if sp.plan.transport else None)
    return call_event_rows(sp.fps, slots, shown[:n_out], key, res, [sg[4] or None for sg in seg], lost)


def run_network(sent: Path, p: Preset, sp: SimPlan, seed: int) -> FramePlan:
    """The call's transport over the sent stream (:func:`.network.plan_call`), its packets sized
    by each frame's encoded bytes."""
    from ..video import frame_sizes

    up, down = link_models(p)
    kbps = sum((b - a) * k for a, b, _, _, k in sp.segments) / max(1, sp.n)
    return plan_call(frame_sizes(sent, sp.fps, sp.n), sp.fps, kbps, up, down, seed,
                     seq_only=p.codec in ("x264", "openh264"))


def capture_expression(ratio: float) -> str:
    """ffmpeg ``select`` expression keeping input frame n iff n = floor(j * ratio) for some j:
    exactly the frames :func:`plan_simulation` captures (checked by :func:`captures_exactly`)."""
    return f"eq(floor(ceil(n/{ratio!r}-1e-9)*{ratio!r}+1e-9)\\,n)"


def captures_exactly(capture: list[int], ratio: float, n_in: int) -> bool:
    """Whether :func:`capture_expression` selects the frames of ``capture`` (same floating point)."""
    sel = [i for i in range(n_in) if math.floor(math.ceil(i / ratio - 1e-9) * ratio + 1e-9) == i]
    return sel[:len(capture)] == capture


def encode_direct(exe: str, src: Path, out: Path, p: Preset, info, sp: SimPlan) -> None:
    """One ffmpeg command: the captured frames (``sp.capture``, selected by index), at a constant
    rate, scaled as :func:`vcbench.video.iter_raw` would, through the preset's encoder."""
    a, b, w, h, kbps = sp.segments[0]
    chain = []
    if sp.capture != list(range(sp.n)):
        chain.append(f"select='{capture_expression(info.fps / sp.fps)}'")
    chain.append(f"setpts=N/({sp.fps:.6f}*TB)")
    flags = "area" if w * h < info.width * info.height else "bilinear"
    chain.append(f"scale={w}:{h}:flags={flags}")
    args = sender_args(p, kbps, sp.fps, [0])
    with atomic_path(out) as tmp:
        run_ffmpeg(exe, ["-i", src, "-map", "0:v:0", "-vf", ",".join(chain), "-r", f"{sp.fps:.6f}",
                         "-frames:v", str(sp.n), *args, tmp], f"{p.encoder} failed for preset {p.name!r}")


def display(exe: str, sent: Path, out: Path, size: tuple[int, int], fps: float, source: list[int],
            p: Preset | None = None) -> None:
    """What the receiver shows: slot ``j`` is sent frame ``source[j]`` decoded at a constant rate
    (a frame the encoder dropped shows the one before), scaled to the display ``size`` (bicubic),
    held frames repeated bit for bit; stored as lossless H.264 so that storing it adds nothing to
    what the call did, or, when the preset records the call, as its recorder encodes it."""
    if p is not None and p.record_codec:
        args = encoder_args(p.record_codec, p.record_kbps, fps, [0], p.record_crf)
    else:                                        # x264 qp 0, or VP9 lossless in .webm (no H.264 there)
        args = lossless_args(out.suffix)
    frames = iter_raw(sent, size, exe=exe, rate=fps, flags="bicubic")
    try:
        with VideoWriter(out, fps, size, args, exe, pix_fmt="yuv420p") as w:
            k, cur = -1, None
            for s in source:
                while k < s:
                    nxt = next(frames, None)
                    if nxt is None:          # the stream ended early: the last frame stays up
                        break
                    k, cur = k + 1, nxt
                if cur is None:
                    raise EncoderError(f"{out}: the sent stream {sent.name} decoded to no frames")
                w.write_raw(cur)
    finally:
        frames.close()


def fidelity_stats(src: Path, out: Path, capture: list[int], n_out: int, samples: int = 24,
                   preset: Preset | None = None) -> dict:
    """PSNR of luma and SSIM (luma) of the output against the input, on evenly spaced frames
    (against the input as ``preset`` frames it, for a phone's crop or a screen share)."""
    from ..video import sample_indices
    from .fidelity import luma, psnr, ssim

    idx = sample_indices(min(n_out, len(capture)), samples)
    got = dict(iter_frames(out, indices=idx))
    ref = dict(iter_frames(src, indices=sorted({capture[i] for i in idx})))
    if preset is not None and preset.reframes:
        from .camera import reframe

        ref = {k: reframe(v, preset) for k, v in ref.items()}
    psnrs, ssims = [], []
    for i in idx:
        if i not in got:
            continue
        o = got[i]
        yo, yr = luma(o), luma(_resize(ref[capture[i]], o.shape[1], o.shape[0]))
        psnrs.append(psnr(yo, yr))
        ssims.append(ssim(yo, yr))
    return {"psnr_y": round(float(np.mean(psnrs)), 2) if psnrs else None,
            "ssim": round(float(np.mean(ssims)), 4) if ssims else None}


def map_tracks(vt, sp: SimPlan, size: tuple[int, int], path: str):
    """Face tracks of a master carried through a simulation: output frame ``j`` shows input
    frame ``sp.input_frame(j)``, scaled to the segment's size."""
    return map_tracks_to(vt, [sp.input_frame(j) for j in range(sp.n)], [sp.size_at(j) for j in range(sp.n)],
                         size, path)


def map_tracks_to(vt, inputs: list[int], sizes: list[tuple[int, int]], size: tuple[int, int], path: str):
    """``vt`` (tracks of a video of ``size``) on an output whose frame ``j`` shows input frame
    ``inputs[j]`` at ``sizes[j]``. ``inputs`` never decreases (a renderer only holds or moves
    on), so each track stays one contiguous run of output frames."""
    from ..faces.tracking import Track, VideoTracks

    out_tracks = []
    inputs = np.asarray(inputs)
    for t in vt.tracks:
        first, last = int(t.frames[0]), int(t.frames[-1])
        js = np.nonzero((inputs >= first) & (inputs <= last))[0]
        if len(js) == 0:
            continue
        rows = inputs[js] - first                  # a track's frames are consecutive
        scale = np.array([sizes[int(j)] for j in js], np.float32)
        sx, sy = scale[:, 0] / size[0], scale[:, 1] / size[1]
        boxes = t.boxes[rows] * np.stack([sx, sy, sx, sy], 1)
        kps = t.kps[rows] * np.stack([sx, sy], 1)[:, None, :]
        lms = None if t.landmarks is None else (t.landmarks[rows].astype(np.float32)
                                                * np.stack([sx, sy], 1)[:, None, :]).astype(np.float16)
        out_tracks.append(Track(len(out_tracks), js.astype(np.int32), boxes.astype(np.float32),
                                kps.astype(np.float32), t.scores[rows], lms))
    return VideoTracks(path, len(inputs), vt.detector, out_tracks, detect_every=vt.detect_every, complete=vt.complete)


def carry_tracks(src_tracks: Path, dst_tracks: Path, info, p: Preset, seed: int, stats: dict, out: Path) -> bool:
    """Write the face tracks of a simulation's output (``dst_tracks``) from those of its input
    (``src_tracks``, probed as ``info``), when the timing maps exactly: the encoder kept every
    planned frame, or the output is the receiver's view (one frame per planned frame, drops shown
    as repeats). Returns whether it wrote them; otherwise the output is tracked on its own."""
    from ..faces.tracking import load_tracks, save_tracks

    if p.reframes:                    # a crop or a window moves faces: track the output itself
        return False
    if "source_frames" in stats:      # the call says which source frame each output frame shows
        w, h = (int(x) for x in (stats.get("display_resolution") or stats["resolution"]).split("x"))
        inputs = stats["source_frames"]
        save_tracks(map_tracks_to(load_tracks(src_tracks), inputs, [(w, h)] * len(inputs),
                                  (info.width, info.height), str(out)), dst_tracks)
        return True
    sp = plan_simulation(info, p)
    if stats.get("frames") != sp.n and not p.shows_receiver_view:
        return False
    save_tracks(map_tracks(load_tracks(src_tracks), sp, (info.width, info.height), str(out)), dst_tracks)
    return True
