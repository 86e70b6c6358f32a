"""``vcbench generate``: swap source identities onto target videos and write a dataset.

Layout of ``OUT`` (paths in manifest.csv are relative to it)::

    videos/clean/original/<target>.mp4            the real: the target re-encoded ("master")
    videos/clean/<swapper>/<target>__<source>.mp4 the fake: the same frames swapped, same encode
    videos/<preset>/...                           both masters through each call condition
    manifest.csv  quality.csv  generate.json      rows, per-fake quality, config + provenance

Fairness: a real and its fakes share every step except the swap. Both masters are written by
the same encoder with the same settings from the same decoded frames, and each preset is
applied to both with the same seed (same losses, same camera noise). Who is swapped onto
whom, and the identity-disjoint splits, are decided in ``plan.py``. Face tracks of every
output go into the face-track cache, mapped through the preset's frame timing and scaling, so
later stages do not detect faces again.

Resumable: every file is written under a temporary name and renamed; a re-run skips what
exists. Bad items (unreadable file, no face, several faces in a source, a target whose face is
missing for long stretches) are reported by name and skipped; the rest continue.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.base import Dataset, VideoRecord, write_manifest
from ..batch import BatchResult
from ..errors import ConfigError, FaceError, NotAvailableError, VcbenchError, VideoError
from ..fileio import display_name, write_csv, write_json
from ..runtime import Progress
from .config import MASTERS, GenerateConfig
from .mapping import FaceIdentities, parse_map
from .plan import Item, Plan, make_plan, preset_seed, rel_path, video_id

QUALITY_COLUMNS = ["video_id", "source_id", "target_id", "frames", "timing", "swapped_fraction", "face_psnr", "face_ssim",
                   "id_sim_fake", "id_sim_real"]
SOURCE_CROWD = 0.25   # a second face at least this fraction of the largest one's area makes a source ambiguous


@dataclass
class Report:
    records: list[VideoRecord]
    failures: list[tuple[str, str]]
    made: int = 0
    skipped: int = 0
    counts: dict = field(default_factory=dict)

    @property
    def batch(self) -> BatchResult:
        return BatchResult("videos", self.made, self.skipped, list(self.failures))


def quality_path(fake: Path) -> Path:
    """The per-fake quality record beside its master (gathered into quality.csv)."""
    return fake.with_name(fake.name + ".quality.json")


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


# --- running -------------------------------------------------------------------------

class Generator:
    """Runs a plan. Heavy objects (face backend, swapper, presets) are built once."""

    def __init__(self, cfg: GenerateConfig, progress: Progress | None = None):
        from ..faces.tracking import default_cache_dir
        from ..video import ffmpeg_exe

        self.cfg = cfg
        self.select = "all" if cfg.map else cfg.select   # --map swaps every face whose identity it maps
        self.progress = progress or Progress("generate")
        self.presets = cfg.load_presets()
        self.exe = ffmpeg_exe(cfg.ffmpeg)
        self.cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
        self.swapper = self._build_swapper()
        self.enhancer = self._build_enhancer()
        self.backend = self._build_backend()
        self._still = None
        self._arcface = False   # False = not looked up yet; None = not available
        self.failures: list[tuple[str, str]] = []
        self.made = self.skipped = 0
        self._split_of: dict[str, str] = {}
        self._identities = None                 # FaceIdentities of the target being swapped (--map)
        self._mapped_faces = [fid for _, fid in parse_map(cfg.map)]

    # -- components
    def _build_swapper(self):
        from .swap import SWAPPERS

        kw: dict = {}
        if self.cfg.swapper == "inswapper":
            kw = dict(model=self.cfg.swapper_model, arcface=self.cfg.arcface, mouth_mask=self.cfg.mouth_mask,
                      color=self.cfg.color, poisson=self.cfg.poisson, mouth_mask_size=self.cfg.mouth_mask_size)
        return SWAPPERS.get(self.cfg.swapper)(**kw)

    def _build_enhancer(self):
        """Deep-Live-Cam's enhancer, or None. GFPGAN's every-second-frame cache is its live loop's
        (one face, webcam timing)."""
        if self.cfg.enhancer is None:
            return None
        from .enhance import FaceEnhancer

        live = self.cfg.timing == "live" and self.select != "all"
        return FaceEnhancer(self.cfg.enhancer, self.cfg.enhancer_model, live=live)

    def _build_backend(self):
        from ..faces.tracking import get_backend

        name = self.cfg.face_backend
        if name == "auto":
            name = "mediapipe"
            if self.cfg.swapper == "inswapper" and not str(self.cfg.arcface).endswith(".onnx"):
                try:
                    return get_backend("insightface", pack=self.cfg.arcface)
                except (VcbenchError, AssertionError) as e:   # FaceAnalysis asserts a detector
                    self.progress.log(f"face backend: insightface pack {self.cfg.arcface!r} unusable ({e}); "
                                      "using mediapipe")
        if self.swapper.needs_landmarks and name != "mediapipe":
            raise ConfigError(f"swapper {self.swapper.name!r} needs mediapipe's 478-point mesh; "
                              f"use --face-backend mediapipe")
        return get_backend(name)

    def still_backend(self):
        """Faces in a single image (the source): mediapipe in still-image mode."""
        if self._still is None:
            if self.backend.name == "mediapipe":
                from ..faces.mediapipe_backend import MediapipeBackend

                self._still = MediapipeBackend(video=False, max_faces=4)
            else:
                self._still = self.backend
        return self._still

    def arcface(self):
        """The ArcFace model for identity similarity, or None when no model is around."""
        if self._arcface is False:
            if hasattr(self.swapper, "arcface"):
                try:
                    self._arcface = self.swapper.arcface
                except VcbenchError:
                    self._arcface = None
            else:
                from .swap.inswapper import ArcFace, find_arcface

                try:
                    p = find_arcface(self.cfg.arcface)
                    self._arcface = ArcFace(p) if p else None
                except (VcbenchError, ImportError):
                    self._arcface = None
        return self._arcface

    # -- sources
    def load_source(self, s: Item) -> tuple[np.ndarray, list]:
        """The source's image (the best frame of a video) and its one face."""
        import cv2

        from ..video import VIDEO_EXTENSIONS, iter_frames, probe, sample_indices

        if s.path.suffix.lower() in VIDEO_EXTENSIONS:
            info = probe(s.path)
            frames = [img for _, img in iter_frames(s.path, indices=sample_indices(info.frames, 8))]
        else:
            bgr = cv2.imread(str(s.path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise VideoError(f"{s.path}: not a readable image")
            frames = [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)]
        best = None
        for img in frames:
            faces = [f for f in self.still_backend().detect(img) if np.isnan(f.score) or f.score >= 0.5]
            if not faces:   # a tight face crop (an aligned 112 px face) gives the detector no context:
                pad = max(img.shape[:2]) // 2          # pad it and use the padded picture as the source
                img = cv2.copyMakeBorder(np.ascontiguousarray(img), pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                         value=(0, 0, 0))
                faces = [f for f in self.still_backend().detect(img) if np.isnan(f.score) or f.score >= 0.5]
            if faces:
                top = max(faces, key=lambda f: f.area)
                crowd = [f for f in faces if f.area >= SOURCE_CROWD * top.area]
                if len(crowd) > 1:
                    raise FaceError(f"{s.path}: {len(crowd)} faces; a source must show one person (crop it)")
                if best is None or top.area * top.score > best[1][0].area * best[1][0].score:
                    best = (img, [top])
        if best is None:
            raise FaceError(f"{s.path}: no face found in the source")
        return best

    # -- one target
    def masters(self, t: Item, sources: list[Item]) -> tuple[Path, dict[str, Path]]:
        out = self.cfg.out
        real = out / rel_path("clean", ".mp4", "original", t.name)
        fakes = {s.name: out / rel_path("clean", ".mp4", self.swapper.name, t.name, s.name) for s in sources}
        return real, fakes

    def outputs(self, t: Item, sources: list[Item]) -> list[tuple[VideoRecord, Path]]:
        """Every video this target should end up with (records have no frame info yet)."""
        out = []
        split = self._split_of[t.identity]
        from ..conference.engines import output_extension

        for p in self.presets:
            ext = ".mp4" if p.codec == "none" else output_extension(p, self.cfg.engine)
            rel = rel_path(p.name, ext, "original", t.name)
            real_id = video_id(p.name, "original", t.name)   # the pair_id of the real and its fakes
            out.append((VideoRecord(real_id, rel, 0, split, "original", "", t.identity, p.name, real_id),
                        self.cfg.out / rel))
            for s in sources:
                rel = rel_path(p.name, ext, self.swapper.name, t.name, s.name)
                out.append((VideoRecord(video_id(p.name, self.swapper.name, t.name, s.name), rel, 1, split,
                                        self.swapper.name, s.identity, t.identity, p.name, real_id),
                            self.cfg.out / rel))
        return out

    def cache_path(self, video: Path) -> Path:
        """Where ``video``'s face tracks from this run's backend live in the face-track cache."""
        from ..faces.tracking import cache_file

        return cache_file(video, self.backend.key, cache_dir=self.cache_dir)

    def detect_target(self, t: Item, info, real_out: Path | None) -> list:
        """Faces of every frame (causal: the backend only sees the past), writing the real
        master from the same decoded frames when ``real_out`` is given."""
        from ..video import VideoWriter, iter_frames

        self.backend.reset()
        per_frame: list = []
        arc, step = None, max(1, int(round(info.fps / 4)))
        if self.cfg.map:   # identities come from ArcFace embeddings, four frames a second suffice
            arc = self.arcface()
            if arc is None:
                raise NotAvailableError(f"--map matches faces by ArcFace embedding: {self.cfg.arcface!r} is neither "
                                        "an .onnx file nor an insightface pack holding one (pass --arcface)")
        writer = VideoWriter(real_out, info.fps, exe=self.exe, codec_args=self.codec_args()) if real_out else None
        try:
            for i, rgb in iter_frames(t.path, stop=self.cfg.max_frames):
                run = self.cfg.every <= 1 or i % self.cfg.every == 0
                per_frame.append(self.backend.detect(rgb, run_detector=run))
                if arc is not None and i % step == 0:
                    for f in per_frame[-1]:
                        if f.embedding is None:
                            f.embedding = arc.embed(rgb, f)
                if writer:
                    writer.write(rgb)
                self.progress.advance(1)
            if not per_frame:
                raise VideoError(f"{t.path}: no frames decoded")
            self.check_coverage(t, per_frame, info.fps)
            if writer:
                writer.close()
        except BaseException:
            if writer:
                writer.abort()
            raise
        return per_frame

    def codec_args(self) -> list[str]:
        return master_codec_args(self.cfg.crf, self.cfg.master)

    def swap_target(self, t: Item, fps: float, source, s: Item, per_frame: list, out: Path) -> dict:
        from ..video import VideoWriter, iter_frames

        from .timing import timed_faces

        by_face = self.source_swappers(s, source)
        swapped = 0
        pasted = timed_faces(per_frame, self.cfg.timing, fps, self.select)
        if self.enhancer is not None:
            self.enhancer.reset()
        with VideoWriter(out, fps, exe=self.exe, codec_args=self.codec_args()) as w:
            for i, rgb in iter_frames(t.path, stop=len(per_frame)):
                fake, todo = rgb, self.to_swap(pasted[i], by_face)
                for face, swapper in todo:
                    fake = swapper.swap_face(fake, face)
                if todo and self.enhancer is not None:   # after the swap, on the faces it pasted
                    fake = self.enhancer.enhance(fake, [f for f, _ in todo])
                swapped += bool(todo)
                w.write(fake)
                self.progress.advance(1)
        return {"frames": len(per_frame), "timing": self.cfg.timing,
                "swapped_fraction": round(swapped / max(len(per_frame), 1), 4)}

    def source_swappers(self, s: Item, source) -> dict:
        """Face identity -> the swapper holding its source (``None`` -> every selected face, one source).
        A ``--map`` source gives each part a shallow copy of the swapper (the model is shared)."""
        import copy

        if not s.parts:
            img, faces = source
            self.swapper.set_source(img, str(s.path), faces=faces)
            return {None: self.swapper}
        out = {}
        for part, face_id, (img, faces) in zip(s.parts, s.faces, source):
            sw = copy.copy(self.swapper)
            sw.set_source(img, str(part.path), faces=faces)
            out[face_id] = sw
        return out

    def selected_faces(self, faces: list) -> list:
        """The faces the swapper acts on in one frame (with the landmarks it needs): its selection,
        or under ``--map`` the faces of a mapped identity."""
        from .swap.base import select_faces

        if self._identities is None:
            chosen = select_faces(faces, self.select)
        else:
            mapped = set(self._mapped_faces)
            chosen = [f for f in faces if self._identities.of(f) in mapped]
        return [f for f in chosen if self.swapper.can_swap(f)]

    def to_swap(self, faces: list, by_face: dict) -> list:
        """The (face, swapper) pairs of one frame: one source for every selected face, or under
        ``--map`` the source of each face's identity."""
        if None in by_face:
            return [(f, by_face[None]) for f in self.selected_faces(faces)]
        return [(f, by_face[self._identities.of(f)]) for f in self.selected_faces(faces)]

    def swappable(self, per_frame: list) -> np.ndarray:
        """Per frame, whether the swapper acts on it (its selection, with the landmarks it needs)."""
        return np.array([bool(self.selected_faces(faces)) for faces in per_frame], bool)

    def swappable_fraction(self, per_frame: list, fps: float) -> float:
        """What swap_target counts (under ``--timing``), recomputed when resuming after its master
        was written."""
        from .timing import timed_faces

        pasted = timed_faces(per_frame, self.cfg.timing, fps, self.select)
        return round(float(self.swappable(pasted).mean()) if per_frame else 0.0, 4)

    def check_coverage(self, t: Item, per_frame: list, fps: float) -> None:
        """A fake is only a fake where the face was swapped: a target whose face is missing in
        too many frames, or for one long stretch, would make a "fake" that is largely real."""
        ok = self.swappable(per_frame)
        n = len(ok)
        if ok.sum() < self.cfg.min_face_fraction * n:
            raise FaceError(f"{t.path}: a face in only {int(ok.sum())}/{n} frames "
                            f"(min_face_fraction {self.cfg.min_face_fraction:g})")
        run, worst = 0, (0, 0)
        for i, good in enumerate(ok):
            run = 0 if good else run + 1
            if run > worst[0]:
                worst = (run, i - run + 1)
        if fps and worst[0] / fps > self.cfg.max_gap:
            length, first = worst
            raise FaceError(f"{t.path}: no face for {length / fps:.1f} s (frames {first}-{first + length - 1}; "
                            f"max_gap {self.cfg.max_gap:g})")

    def run_target(self, t: Item, info, sources: list[Item], prepared: dict) -> None:
        from ..faces.tracking import VideoTracks, build_tracks, save_tracks

        real, fakes = self.masters(t, sources)
        key = self.backend.key
        masters = [real, *fakes.values()]

        def save_cache(p: Path) -> None:   # a master's tracks are the target's: same frames, same place
            if p.exists() and not self.cache_path(p).is_file():
                save_tracks(VideoTracks(str(p), len(per_frame), key, tracks.tracks, self.cfg.every),
                            self.cache_path(p))

        self._identities = None
        self.skipped += sum(p.exists() for p in masters)
        need_detect = (any(not p.exists() or not self.cache_path(p).is_file() for p in masters)
                       or self._needs_quality(t, sources))
        if need_detect:
            write_real = not real.exists()
            per_frame = self.detect_target(t, info, real if write_real else None)
            self.made += write_real
            tracks = VideoTracks(str(t.path), len(per_frame), key, build_tracks(per_frame))
            save_cache(real)
            if self.cfg.map:
                self._identities = FaceIdentities(per_frame, tracks.tracks, info.width)
                self.progress.log(f"{t.name}: face identities " + ", ".join(
                    f"{d['id']} ({d['frames']} frames, centre x {d['centre_x']:.2f})" for d in self._identities.describe()))
            for s in sources:
                path = fakes[s.name]
                vid = video_id("clean", self.swapper.name, t.name, s.name)
                try:
                    q = None
                    if s.parts:
                        self.check_mapped(t, s)
                    if not path.exists():
                        q = self.swap_target(t, info.fps, prepared[s.name], s, per_frame, path)
                        self.check_swapped(t, path, q)
                        self.made += 1
                        self.progress.log(f"{vid}: swapped {q['swapped_fraction']:.0%} of {q['frames']} frames")
                    save_cache(path)
                    if not quality_path(path).exists():
                        q = q or {"frames": len(per_frame), "timing": self.cfg.timing,
                                  "swapped_fraction": self.swappable_fraction(per_frame, info.fps)}
                        self.check_swapped(t, path, q)
                        q.update(self.quality(real, path, tracks, *self.quality_subject(s, prepared[s.name], tracks)))
                        if s.parts:
                            q["face_identities"] = self._identities.describe()
                        write_json(quality_path(path), {"video_id": vid, "source_id": s.identity,
                                                        "target_id": t.identity, **q})
                except (VcbenchError, OSError) as e:
                    self.failures.append((vid, str(e)))
        self.simulate_target(t, sources, real, fakes)

    def check_swapped(self, t: Item, fake: Path, q: dict) -> None:
        """A "fake" in which the face was swapped in too few frames (a one-frame target, live timing's
        first frames) would be a label-1 video showing a real face: it is removed and fails instead."""
        if q["swapped_fraction"] >= self.cfg.min_swapped:
            return
        for p in (fake, self.cache_path(fake)):
            p.unlink(missing_ok=True)
        raise FaceError(f"{display_name(t.path)}: the face was swapped in {q['swapped_fraction']:.0%} of its "
                        f"{q['frames']} frame(s), below min_swapped {self.cfg.min_swapped:g}; no fake written")

    def check_mapped(self, t: Item, s: Item) -> None:
        """A ``--map`` fake needs at least one of its face numbers in the target; absent ones are logged."""
        have = {d["id"] for d in self._identities.describe()}
        missing = [fid for fid in s.faces if fid not in have]
        if len(missing) == len(s.faces):
            raise FaceError(f"{t.path}: --map names face(s) {', '.join(map(str, missing))}; this video has "
                            f"{len(have)} face identit{'y' if len(have) == 1 else 'ies'} "
                            f"({', '.join(map(str, sorted(have))) or 'none'})")
        if missing:
            self.progress.log(f"{t.name}: no face {', '.join(map(str, missing))} here; swapping the others")

    def quality_subject(self, s: Item, source, tracks) -> tuple:
        """The source and the track the quality figures compare: the longest track, or under
        ``--map`` the longest track of a mapped identity with that identity's source."""
        if not s.parts:
            return source, None
        of_track = self._identities.of_track
        best = None
        for k, tr in enumerate(tracks.tracks):
            if of_track.get(k) in s.faces and (best is None or len(tr) > len(best[1])):
                best = (k, tr)
        if best is None:
            return source[0], None
        return source[s.faces.index(of_track[best[0]])], best[1]

    def simulate_target(self, t: Item, sources: list[Item], real: Path, fakes: dict[str, Path]) -> None:
        from ..video import probe
        from ..conference.engines import output_extension, simulate_with
        from ..conference.simulate import carry_tracks

        presets = [p for p in self.presets if p.name != "clean"]   # the masters are the clean videos
        jobs = [(real, "original", None)] + [(fakes[s.name], self.swapper.name, s.name) for s in sources]
        for master, method, sname in jobs:
            master_info = None
            for p in presets:
                vid = video_id(p.name, method, t.name, sname)
                out = self.cfg.out / rel_path(p.name, output_extension(p, self.cfg.engine), method, t.name, sname)
                if out.exists():
                    self.skipped += 1
                    continue
                if not master.exists():
                    continue   # its master failed; already reported
                seed = preset_seed(self.cfg.seed, p.name, t.name)   # the same for the real and its fakes
                try:
                    stats = simulate_with(self.cfg.engine, master, out, p, seed=seed, ffmpeg=self.exe, fidelity=False)
                    self.made += 1
                    if self.cache_path(master).is_file():
                        master_info = master_info or probe(master)
                        carry_tracks(self.cache_path(master), self.cache_path(out), master_info, p, seed, stats, out)
                    self.progress.advance(stats.get("frames_sent", stats["frames"]))
                except (VcbenchError, OSError) as e:
                    self.failures.append((vid, str(e)))

    # -- quality
    def quality(self, real: Path, fake: Path, tracks, source, track=None, samples: int = 16) -> dict:
        """Face-region PSNR/SSIM of the fake against its real (both decoded masters), and
        ArcFace identity similarity of the fake's and the real's face to the source."""
        from ..faces.align import enlarge_box
        from ..faces.base import Face
        from ..video import iter_frames, sample_indices
        from ..conference.fidelity import psnr, ssim

        tr = track or tracks.longest()
        if tr is None:
            return {"face_psnr": None, "face_ssim": None, "id_sim_fake": None, "id_sim_real": None}
        rows = [tr.frames[k] for k in sample_indices(len(tr), samples)]
        fk = dict(iter_frames(fake, indices=rows))
        rl = dict(iter_frames(real, indices=rows))
        arc = self.arcface()
        src_emb = None
        if arc is not None:
            img, faces = source
            src_emb = faces[0].embedding if faces[0].embedding is not None else arc.embed(img, faces[0])
        psnrs, ssims, sim_f, sim_r = [], [], [], []
        for fi in rows:
            if fi not in fk or fi not in rl:
                continue
            r = tr.at(int(fi))
            x0, y0, x1, y1 = enlarge_box(tr.boxes[r], 1.0, fk[fi].shape[1], fk[fi].shape[0])
            a = fk[fi][y0:y1, x0:x1].astype(np.float64)
            b = rl[fi][y0:y1, x0:x1].astype(np.float64)
            if min(a.shape[:2]) < 7:
                continue
            psnrs.append(psnr(a, b))
            ssims.append(ssim(a.mean(2), b.mean(2)))
            if src_emb is not None:
                face = Face(box=tr.boxes[r], kps=tr.kps[r], score=1.0)
                sim_f.append(float(arc.embed(fk[fi], face) @ src_emb))
                sim_r.append(float(arc.embed(rl[fi], face) @ src_emb))

        def mean(x, nd):
            return round(float(np.mean(x)), nd) if x else None

        return {"face_psnr": mean(psnrs, 2), "face_ssim": mean(ssims, 4), "id_sim_fake": mean(sim_f, 4),
                "id_sim_real": mean(sim_r, 4)}

    # -- the whole run
    def run(self, plan: Plan, shard: tuple[int, int] = (0, 1)) -> Report:
        from ..video import probe

        from ..conference.renditions import preset_digest
        from ..runs import RunFolder

        self._split_of = plan.split_of
        # another --crf (or swapper, seed, ...) into the same --out is refused, naming the option
        self.folder = RunFolder(self.cfg.out, "generate", shard=shard, log=self.progress.log).open()
        self.folder.claim(self.cfg.identity(), record=self.cfg.to_json(),
                          members={p.name: preset_digest(p) for p in self.presets if p.name != "clean"},
                          member_kind="preset")
        self.folder.begin(targets=len(plan.targets), pairs=len(plan.pairs))
        if self.cfg.pairs is not None and self.cfg.pairs > plan.possible_pairs:
            self.progress.log(f"--pairs {self.cfg.pairs}: only {plan.possible_pairs} pair(s) possible (a source and a "
                              f"target of the same split, never a target's own identity); making "
                              f"{plan.possible_pairs}")
        by_target: dict[str, list[Item]] = {}
        for s, t in plan.pairs:
            by_target.setdefault(t.name, []).append(s)
        i, n = shard
        todo: list[Item] = []
        for t in (t for k, t in enumerate(plan.targets) if k % n == i):
            outputs = self.outputs(t, by_target[t.name])
            if any(not p.exists() for _, p in outputs) or self._needs_quality(t, by_target[t.name]):
                todo.append(t)
            else:
                self.skipped += len(outputs)
        prepared: dict[str, tuple] = {}
        for s in sorted({s.name: s for t in todo for s in by_target[t.name]}.values(), key=lambda x: x.name):
            try:
                prepared[s.name] = tuple(self.load_source(p) for p in s.parts) if s.parts else self.load_source(s)
            except (VcbenchError, OSError) as e:
                self.failures.append((f"source {s.name}", str(e)))
        infos = {}
        for t in todo:
            try:
                infos[t.name] = probe(t.path)
            except VcbenchError as e:
                self.failures.append((f"target {t.name}", str(e)))
        todo = [t for t in todo if t.name in infos]
        total = 0
        for t in todo:
            info = infos[t.name]
            nt = min(info.frames, self.cfg.max_frames or info.frames)
            k = sum(s.name in prepared for s in by_target[t.name])
            # a preset at a lower frame rate sends (and the bar counts) fewer frames than the master has
            per_master = nt + sum(self._frames_sent(info, nt, p) for p in self.presets if p.codec != "none")
            total += per_master * (1 + k)
        self.progress.start(total)
        for t in todo:
            sources = [s for s in by_target[t.name] if s.name in prepared]
            try:
                self.run_target(t, infos[t.name], sources, prepared)
            except (VcbenchError, OSError) as e:
                self.failures.append((f"target {t.name}", str(e)))
        return self.finish(plan, by_target)

    @staticmethod
    def _frames_sent(info, n_master: int, p) -> int:
        """Frames a preset sends from a master of ``n_master`` frames (what the bar counts)."""
        from dataclasses import replace

        from ..conference.simulate import plan_simulation

        try:
            return plan_simulation(replace(info, frames=n_master), p).n
        except VcbenchError:            # too short for the loss model: it will fail and say so
            return 0

    def _needs_quality(self, t: Item, sources: list[Item]) -> bool:
        _, fakes = self.masters(t, sources)
        return any(not quality_path(p).exists() for p in fakes.values())

    def finish(self, plan: Plan, by_target: dict[str, list[Item]]) -> Report:
        """manifest.csv, quality.csv and generate.json from what exists on disk (all shards)."""
        import json

        from ..provenance import provenance
        from ..video import probe

        records: list[VideoRecord] = []
        quality: list[dict] = []
        for t in plan.targets:
            for rec, path in self.outputs(t, by_target[t.name]):
                if not path.exists():
                    continue
                try:
                    info = probe(path)
                except VcbenchError as e:
                    self.failures.append((rec.video_id, str(e)))
                    continue
                records.append(VideoRecord(**{**rec.row(), "frames": info.frames, "fps": round(info.fps, 3),
                                              "width": info.width, "height": info.height}))
            _, fakes = self.masters(t, by_target[t.name])
            for p in fakes.values():
                if quality_path(p).exists():
                    quality.append(json.loads(quality_path(p).read_text(encoding="utf-8")))
        out = self.cfg.out
        write_manifest(records, out / "manifest.csv")
        if quality:
            write_csv(out / "quality.csv", quality, QUALITY_COLUMNS)
        counts = Dataset(out.name, "manifest", out, records).counts()
        write_json(out / "generate.json", {
            "config": self.cfg.to_json(), "swapper": self.swapper.describe(),
            "enhancer": self.enhancer.describe() if self.enhancer else None, "face_backend": self.backend.key,
            "presets": [p.name for p in self.presets], "splits": plan.split_of,
            "pairs": [[s.name, t.name] for s, t in plan.pairs], "pairs_requested": self.cfg.pairs,
            "pairs_possible": plan.possible_pairs, "unpaired_targets": plan.unpaired_targets,
            "face_identities": {q["video_id"]: q["face_identities"] for q in quality if "face_identities" in q} or None,
            "counts": counts, "failures": [{"item": a, "reason": b} for a, b in self.failures],
            "provenance": provenance(self.exe)})
        return Report(records, list(self.failures), self.made, self.skipped, counts)


def generate(cfg: GenerateConfig, progress: Progress | None = None) -> Report:
    """Plan, run this shard, write the manifest. Failed items are in ``report.batch`` (named,
    skipped; the rest are made), so callers exit non-zero with the count."""
    from ..runtime import parse_shard

    shard = parse_shard(cfg.shard)
    plan = make_plan(cfg)
    gen = Generator(cfg, progress)
    gen.failures += plan.refused
    try:
        report = gen.run(plan, shard)
    except BaseException as e:
        if getattr(gen, "folder", None) is not None:
            gen.folder.end(None, state="interrupted" if isinstance(e, KeyboardInterrupt) else "failed",
                           error=str(e)[:300])
        raise
    gen.folder.end(report.batch)
    return report
