"""The steps that make one target's videos, in order: detect (and write the real master), swap
each source on (the fake masters), measure quality, simulate every preset on the real and its
fakes. Each step returns what it made or raises for what it could not; the job
(``pipeline.GenerateJob``) counts and names.

Fairness: a real and its fakes share every step except the swap. Both masters are written by
the same encoder with the same settings from the same decoded frames, and each preset is applied
to both with the same seed (same losses, same camera noise).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..batch import BatchResult
from ..errors import FaceError, NotAvailableError, VcbenchError, VideoError
from ..fileio import display_name, write_json
from .config import MASTERS, GenerateConfig
from .plan import Item, preset_seed, rel_path, video_id
from .quality import face_quality, quality_path


def master_codec_args(crf: int = 18, master: str = "vcbench") -> list[str]:
    """The master encode shared by reals and fakes (two threads and bitexact muxing keep it
    reproducible). ``vcbench``: x264 medium CRF ``crf``, yuv420p. ``dlc``: Deep-Live-Cam's
    ``create_video`` as well: ``-tune film`` and its bt601 -> bt709 ``colorspace`` conversion
    (the file is tagged bt709)."""
    if master not in MASTERS:
        raise ValueError(f"master must be one of {', '.join(MASTERS)}, got {master!r}")
    dlc = ["-tune", "film", "-vf", "colorspace=bt709:iall=bt601-6-625:fast=1"] if master == "dlc" else []
    return ["-c:v", "libx264", "-preset", "medium", "-crf", str(crf), *dlc, "-pix_fmt", "yuv420p",
            "-threads", "2", "-fflags", "+bitexact"]


@dataclass
class Context:
    """What every target's steps share: the config, the built tools, the presets, where the
    face-track cache is, the progress bar."""

    cfg: GenerateConfig
    tools: object                 # tools.Tools
    presets: list
    exe: str
    cache_dir: Path
    progress: object              # runtime.Progress

    def codec_args(self) -> list[str]:
        return master_codec_args(self.cfg.crf, self.cfg.master)

    def cache_path(self, video: Path) -> Path:
        """Where ``video``'s face tracks from this run's backend live in the face-track cache."""
        from ..faces.tracking import cache_file

        return cache_file(video, self.tools.backend.key, cache_dir=self.cache_dir)


@dataclass
class Target:
    """One target being made: the input, its sources, its master paths, and what detection found."""

    item: Item
    info: object                  # video.VideoInfo
    sources: list[Item]
    real: Path
    fakes: dict[str, Path]
    per_frame: list | None = None
    tracks: object = None         # faces.tracking.VideoTracks of the target
    identities: object = None     # mapping.FaceIdentities under --map
    made: BatchResult = field(default_factory=lambda: BatchResult("videos"))

    @property
    def masters(self) -> list[Path]:
        return [self.real, *self.fakes.values()]


class Selection:
    """The faces of a frame the swapper acts on (with the landmarks it needs): ``--select``, or
    under ``--map`` the faces of a mapped identity, each with its own source."""

    def __init__(self, ctx: Context, identities=None):
        from .mapping import parse_map

        self.ctx, self.identities = ctx, identities
        self.mapped = {fid for _, fid in parse_map(ctx.cfg.map)}

    def faces(self, faces: list) -> list:
        from .swap.base import select_faces

        if self.identities is None:
            chosen = select_faces(faces, self.ctx.tools.select)
        else:
            chosen = [f for f in faces if self.identities.of(f) in self.mapped]
        return [f for f in chosen if self.ctx.tools.swapper.can_swap(f)]

    def pairs(self, faces: list, by_face: dict) -> list:
        """(face, swapper) of one frame: one source for every selected face, or each face's identity's."""
        if None in by_face:
            return [(f, by_face[None]) for f in self.faces(faces)]
        return [(f, by_face[self.identities.of(f)]) for f in self.faces(faces)]

    def swappable(self, per_frame: list) -> np.ndarray:
        """Per frame, whether the swapper acts on it."""
        return np.array([bool(self.faces(faces)) for faces in per_frame], bool)

    def swappable_fraction(self, per_frame: list, fps: float) -> float:
        """What :func:`swap` counts (under ``--timing``), recomputed when resuming after its master was written."""
        from .timing import timed_faces

        pasted = timed_faces(per_frame, self.ctx.cfg.timing, fps, self.ctx.tools.select)
        return round(float(self.swappable(pasted).mean()) if per_frame else 0.0, 4)


def outputs(ctx: Context, t: Item, sources: list[Item], split: str) -> list[tuple]:
    """Every (VideoRecord, path) this target should end up with (records have no frame info yet)."""
    from ..conference.engines import output_extension
    from ..contracts import VideoRecord

    from ..datasets.keys import canonical_clip

    out, swapper = [], ctx.tools.swapper.name
    clip = canonical_clip(t.path.resolve())              # an FF++ or Celeb-DF file as target: its public clip
    for p in ctx.presets:
        ext = ".mp4" if p.codec == "none" else output_extension(p, ctx.cfg.engine)
        rel = rel_path(p.name, ext, "original", t.name)
        real_id = video_id(p.name, "original", t.name)   # the pair_id of the real and its fakes
        out.append((VideoRecord(real_id, rel, 0, split, "original", "", t.identity, p.name, real_id, clip_id=clip),
                    ctx.cfg.out / rel))
        for s in sources:
            rel = rel_path(p.name, ext, swapper, t.name, s.name)
            out.append((VideoRecord(video_id(p.name, swapper, t.name, s.name), rel, 1, split, swapper, s.identity,
                                    t.identity, p.name, real_id, clip_id=clip), ctx.cfg.out / rel))
    return out


def masters(ctx: Context, t: Item, sources: list[Item]) -> tuple[Path, dict[str, Path]]:
    out, swapper = ctx.cfg.out, ctx.tools.swapper.name
    return (out / rel_path("clean", ".mp4", "original", t.name),
            {s.name: out / rel_path("clean", ".mp4", swapper, t.name, s.name) for s in sources})


def needs_quality(ctx: Context, t: Item, sources: list[Item]) -> bool:
    _, fakes = masters(ctx, t, sources)
    return any(not quality_path(p).exists() for p in fakes.values())


# --- the steps ---------------------------------------------------------------------------------

def detect(ctx: Context, w: Target, write_real: bool) -> None:
    """Faces of every frame (causal: the backend only sees the past) into ``w.per_frame`` and
    ``w.tracks``, writing the real master from the same decoded frames when ``write_real``."""
    from ..faces.tracking import VideoTracks, build_tracks
    from ..video import VideoWriter, iter_frames

    cfg, backend = ctx.cfg, ctx.tools.backend
    backend.reset()
    per_frame: list = []
    arc, step = None, max(1, int(round(w.info.fps / 4)))
    if cfg.map:   # identities come from ArcFace embeddings, four frames a second suffice
        arc = ctx.tools.arcface()
        if arc is None:
            raise NotAvailableError(f"--map matches faces by ArcFace embedding: {cfg.arcface!r} is neither "
                                    "an .onnx file nor an insightface pack holding one (pass --arcface)")
    writer = VideoWriter(w.real, w.info.fps, exe=ctx.exe, codec_args=ctx.codec_args()) if write_real else None
    try:
        for i, rgb in iter_frames(w.item.path, stop=cfg.max_frames):
            run = cfg.every <= 1 or i % cfg.every == 0
            per_frame.append(backend.detect(rgb, run_detector=run))
            if arc is not None and i % step == 0:
                for f in per_frame[-1]:
                    if f.embedding is None:
                        f.embedding = arc.embed(rgb, f)
            if writer:
                writer.write(rgb)
            ctx.progress.advance(1)
        if not per_frame:
            raise VideoError(f"{w.item.path}: no frames decoded")
        check_coverage(ctx, w.item, per_frame, w.info.fps)
        if writer:
            writer.close()
    except BaseException:
        if writer:
            writer.abort()
        raise
    w.per_frame = per_frame
    w.tracks = VideoTracks(str(w.item.path), len(per_frame), backend.key, build_tracks(per_frame))
    w.made.done += write_real
    if cfg.map:
        from .mapping import FaceIdentities

        w.identities = FaceIdentities(per_frame, w.tracks.tracks, w.info.width)
        ctx.progress.log(f"{w.item.name}: face identities " + ", ".join(
            f"{d['id']} ({d['frames']} frames, centre x {d['centre_x']:.2f})" for d in w.identities.describe()))


def check_coverage(ctx: Context, t: Item, per_frame: list, fps: float) -> None:
    """A fake is only a fake where the face was swapped: a target whose face is missing in too
    many frames, or for one long stretch, would make a "fake" that is largely real."""
    cfg = ctx.cfg
    ok = Selection(ctx).swappable(per_frame)
    n = len(ok)
    if ok.sum() < cfg.min_face_fraction * n:
        raise FaceError(f"{t.path}: a face in only {int(ok.sum())}/{n} frames "
                        f"(min_face_fraction {cfg.min_face_fraction:g})")
    run, worst = 0, (0, 0)
    for i, good in enumerate(ok):
        run = 0 if good else run + 1
        if run > worst[0]:
            worst = (run, i - run + 1)
    if fps and worst[0] / fps > cfg.max_gap:
        length, first = worst
        raise FaceError(f"{t.path}: no face for {length / fps:.1f} s (frames {first}-{first + length - 1}; "
                        f"max_gap {cfg.max_gap:g})")


def source_swappers(ctx: Context, s: Item, source) -> dict:
    """Face identity -> the swapper holding its source (``None`` -> every selected face, one source).
    A ``--map`` source gives each part a shallow copy of the swapper (the model is shared)."""
    swapper = ctx.tools.swapper
    if not s.parts:
        img, faces = source
        swapper.set_source(img, str(s.path), faces=faces)
        return {None: swapper}
    out = {}
    for part, face_id, (img, faces) in zip(s.parts, s.faces, source):
        sw = copy.copy(swapper)
        sw.set_source(img, str(part.path), faces=faces)
        out[face_id] = sw
    return out


def swap(ctx: Context, w: Target, s: Item, source, out: Path) -> dict:
    """Write the fake master of source ``s`` on this target; its frame count, timing and swapped fraction."""
    from ..video import VideoWriter, iter_frames
    from .timing import timed_faces

    by_face = source_swappers(ctx, s, source)
    select = Selection(ctx, w.identities)
    enhancer = ctx.tools.enhancer
    swapped = 0
    pasted = timed_faces(w.per_frame, ctx.cfg.timing, w.info.fps, ctx.tools.select)
    if enhancer is not None:
        enhancer.reset()
    with VideoWriter(out, w.info.fps, exe=ctx.exe, codec_args=ctx.codec_args()) as vw:
        for i, rgb in iter_frames(w.item.path, stop=len(w.per_frame)):
            fake, todo = rgb, select.pairs(pasted[i], by_face)
            for face, swapper in todo:
                fake = swapper.swap_face(fake, face)
            if todo and enhancer is not None:   # after the swap, on the faces it pasted
                fake = enhancer.enhance(fake, [f for f, _ in todo])
            swapped += bool(todo)
            vw.write(fake)
            ctx.progress.advance(1)
    return {"frames": len(w.per_frame), "timing": ctx.cfg.timing,
            "swapped_fraction": round(swapped / max(len(w.per_frame), 1), 4)}


def check_swapped(ctx: Context, t: Item, fake: Path, q: dict) -> None:
    """A "fake" in which the face was swapped in too few frames (a one-frame target, live timing's
    first frames) would be a label-1 video showing a real face: it is removed and fails instead."""
    if q["swapped_fraction"] >= ctx.cfg.min_swapped:
        return
    for p in (fake, ctx.cache_path(fake)):
        p.unlink(missing_ok=True)
    raise FaceError(f"{display_name(t.path)}: the face was swapped in {q['swapped_fraction']:.0%} of its "
                    f"{q['frames']} frame(s), below min_swapped {ctx.cfg.min_swapped:g}; no fake written")


def check_mapped(ctx: Context, w: Target, s: Item) -> None:
    """A ``--map`` fake needs at least one of its face numbers in the target; absent ones are logged."""
    have = {d["id"] for d in w.identities.describe()}
    missing = [fid for fid in s.faces if fid not in have]
    if len(missing) == len(s.faces):
        raise FaceError(f"{w.item.path}: --map names face(s) {', '.join(map(str, missing))}; this video has "
                        f"{len(have)} face identit{'y' if len(have) == 1 else 'ies'} "
                        f"({', '.join(map(str, sorted(have))) or 'none'})")
    if missing:
        ctx.progress.log(f"{w.item.name}: no face {', '.join(map(str, missing))} here; swapping the others")


def quality_subject(w: Target, s: Item, source) -> tuple:
    """The source and the track the quality figures compare: the longest track, or under ``--map``
    the longest track of a mapped identity with that identity's source."""
    if not s.parts:
        return source, w.tracks.longest()
    of_track = w.identities.of_track
    best = None
    for k, tr in enumerate(w.tracks.tracks):
        if of_track.get(k) in s.faces and (best is None or len(tr) > len(best[1])):
            best = (k, tr)
    if best is None:
        return source[0], w.tracks.longest()
    return source[s.faces.index(of_track[best[0]])], best[1]


def swapped_tracks(ctx: Context, w: Target) -> list[int]:
    """The target's face tracks the swap acts on (its selection, or under ``--map`` the mapped
    identities) in at least half of their frames: the faces a fake's label 1 is true of."""
    select = Selection(ctx, w.identities)
    out = []
    for tr in w.tracks.tracks:
        hit = 0
        for r, t in enumerate(tr.frames):
            chosen = select.faces(w.per_frame[int(t)])
            hit += any(np.allclose(np.asarray(f.box, np.float32), tr.boxes[r], atol=1e-3) for f in chosen)
        if hit >= 0.5 * len(tr):
            out.append(tr.track_id)
    return out


def make_fake(ctx: Context, w: Target, s: Item, source) -> None:
    """Source ``s`` on this target: its fake master (unless there), its tracks in the cache, its
    quality record (unless there)."""
    path = w.fakes[s.name]
    vid = video_id("clean", ctx.tools.swapper.name, w.item.name, s.name)
    q = None
    if s.parts:
        check_mapped(ctx, w, s)
    if not path.exists():
        q = swap(ctx, w, s, source, path)
        check_swapped(ctx, w.item, path, q)
        w.made.done += 1
        ctx.progress.log(f"{vid}: swapped {q['swapped_fraction']:.0%} of {q['frames']} frames")
    save_master_tracks(ctx, w, path)
    if not quality_path(path).exists():
        q = q or {"frames": len(w.per_frame), "timing": ctx.cfg.timing,
                  "swapped_fraction": Selection(ctx, w.identities).swappable_fraction(w.per_frame, w.info.fps)}
        check_swapped(ctx, w.item, path, q)
        src, track = quality_subject(w, s, source)
        q.update(face_quality(w.real, path, track, src, ctx.tools.arcface()))
        if s.parts:
            q["face_identities"] = w.identities.describe()
        q["swapped_tracks"] = swapped_tracks(ctx, w)
        write_json(quality_path(path), {"video_id": vid, "source_id": s.identity, "target_id": w.item.identity, **q})


def save_master_tracks(ctx: Context, w: Target, master: Path) -> None:
    """A master's tracks are the target's (same frames, same place): cached under the master's content."""
    from ..faces.tracking import VideoTracks, save_tracks

    if master.exists() and not ctx.cache_path(master).is_file():
        save_tracks(VideoTracks(str(master), len(w.per_frame), ctx.tools.backend.key, w.tracks.tracks, ctx.cfg.every),
                    ctx.cache_path(master))


def simulate(ctx: Context, w: Target, sources: list[Item]) -> BatchResult:
    """Every preset (but clean: the masters are the clean videos) on the real and each fake, the
    same seed for a real and its fakes; face tracks carried through the call into the cache."""
    from ..conference.engines import output_extension, simulate_with
    from ..conference.simulate import carry_tracks
    from ..video import probe

    part = BatchResult("videos")
    presets = [p for p in ctx.presets if p.name != "clean"]
    swapper = ctx.tools.swapper.name
    jobs = [(w.real, "original", None)] + [(w.fakes[s.name], swapper, s.name) for s in sources]
    for master, method, sname in jobs:
        master_info = None
        for p in presets:
            vid = video_id(p.name, method, w.item.name, sname)
            out = ctx.cfg.out / rel_path(p.name, output_extension(p, ctx.cfg.engine), method, w.item.name, sname)
            if out.exists():
                part.skipped += 1
                continue
            if not master.exists():
                continue   # its master failed; already reported
            seed = preset_seed(ctx.cfg.seed, p.name, w.item.name)   # the same for the real and its fakes
            try:
                stats = simulate_with(ctx.cfg.engine, master, out, p, seed=seed, ffmpeg=ctx.exe, fidelity=False)
                part.done += 1
                if ctx.cache_path(master).is_file():
                    master_info = master_info or probe(master)
                    carry_tracks(ctx.cache_path(master), ctx.cache_path(out), master_info, p, seed, stats, out)
                ctx.progress.advance(stats.get("frames_sent", stats["frames"]))
            except (VcbenchError, OSError) as e:
                part.fail(vid, str(e))
    return part


def run_target(ctx: Context, w: Target, prepared: dict) -> BatchResult:
    """All of one target's videos: what exists is skipped, each fake that fails is named, the rest made."""
    part = w.made
    part.skipped += sum(p.exists() for p in w.masters)
    need_detect = (any(not p.exists() or not ctx.cache_path(p).is_file() for p in w.masters)
                   or needs_quality(ctx, w.item, w.sources))
    if need_detect:
        detect(ctx, w, write_real=not w.real.exists())
        save_master_tracks(ctx, w, w.real)
        for s in w.sources:
            try:
                make_fake(ctx, w, s, prepared[s.name])
            except (VcbenchError, OSError) as e:
                part.fail(video_id("clean", ctx.tools.swapper.name, w.item.name, s.name), str(e))
    return part.merge(simulate(ctx, w, w.sources))
