"""``vcbench generate``: swap source identities onto target videos and write a dataset.

Layout of ``OUT`` (paths in manifest.csv are relative to it)::

    videos/clean/original/<target>.mp4            the real: the target re-encoded ("master")
    videos/clean/<swapper>/<target>__<source>.mp4 the fake: the same frames swapped, same encode
    videos/<preset>/...                           both masters through each call condition
    manifest.csv  quality.csv  generate.json      rows, per-fake quality, config + provenance
    generate.identity.json  generate.status.json  what decides the bytes here; how the last run ended

Who is swapped onto whom, and the identity-disjoint splits, are decided in ``plan.py``; the steps
that make one target's videos in ``target.py``; the heavy objects in ``tools.py``. This module is
the job on the stage runtime's one loop (``runs.run_job``): one item per target, sharded, each
target's failed videos named, the manifest written from what exists on disk (all shards).

Resumable: every file is written under a temporary name and renamed; a re-run skips what exists.
Bad items (unreadable file, no face, several faces in a source, a target whose face is missing
for long stretches) are reported by name and skipped; the rest continue.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..batch import BatchResult
from ..contracts import QUALITY_COLUMNS, VideoRecord
from ..errors import VcbenchError
from ..runs import BatchJob
from ..runtime import Progress
from .config import GenerateConfig
from .plan import Item, Plan, make_plan
from .quality import quality_path
from .target import Context, Target, masters, needs_quality, outputs, run_target


@dataclass
class Report:
    records: list[VideoRecord]
    batch: BatchResult
    counts: dict = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)      # generate --plan: the summary it printed

    @property
    def failures(self) -> list[tuple[str, str]]:
        return self.batch.failed

    @property
    def made(self) -> int:
        return self.batch.done

    @property
    def skipped(self) -> int:
        return self.batch.skipped


class GenerateJob(BatchJob):
    """One item per target (every n-th for shard i/n). Sources are loaded once, before the first
    target that needs them; a source or target that cannot be read is named once."""

    what = "videos"

    def __init__(self, cfg: GenerateConfig, plan: Plan, progress: Progress):
        from ..faces.tracking import default_cache_dir
        from ..video import ffmpeg_exe
        from .tools import Tools

        self.cfg, self.plan, self.progress = cfg, plan, progress
        self.ctx = Context(cfg, Tools(cfg, log=progress.log), cfg.load_presets(), ffmpeg_exe(cfg.ffmpeg),
                           Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir(), progress)
        self.by_target: dict[str, list[Item]] = {}
        for s, t in plan.pairs:
            self.by_target.setdefault(t.name, []).append(s)
        self.early = BatchResult(self.what, failed=list(plan.refused))    # named before any target runs
        self.prepared: dict[str, tuple] = {}
        self.infos: dict[str, object] = {}

    # -- the loop's interface
    def items(self) -> list[Item]:
        return list(self.plan.targets)

    def key(self, t: Item) -> str:
        return f"target {t.name}"

    def outputs(self, t: Item) -> list[tuple[VideoRecord, Path]]:
        return outputs(self.ctx, t, self.by_target[t.name], self.plan.split_of[t.identity])

    def is_done(self, t: Item) -> bool:
        return (all(p.exists() for _, p in self.outputs(t))
                and not needs_quality(self.ctx, t, self.by_target[t.name]))

    def size(self, t: Item) -> int:
        return len(self.outputs(t))

    def run(self, t: Item) -> BatchResult:
        if t.name not in self.infos:
            return BatchResult(self.what)              # unreadable: named when it was probed
        sources = [s for s in self.by_target[t.name] if s.name in self.prepared]
        real, fakes = masters(self.ctx, t, sources)
        return run_target(self.ctx, Target(t, self.infos[t.name], sources, real, fakes), self.prepared)

    # -- before the loop: sources, probes, the progress total
    def prepare(self, todo: list[Item]) -> None:
        """Load the sources the unfinished targets need, probe those targets, start the bar."""
        from ..video import probe

        for s in sorted({s.name: s for t in todo for s in self.by_target[t.name]}.values(), key=lambda x: x.name):
            try:
                load = self.ctx.tools.load_source
                self.prepared[s.name] = tuple(load(p.path) for p in s.parts) if s.parts else load(s.path)
            except (VcbenchError, OSError) as e:
                self.early.fail(f"source {s.name}", str(e))
        for t in todo:
            try:
                self.infos[t.name] = probe(t.path)
            except VcbenchError as e:
                self.early.fail(f"target {t.name}", str(e))
        total = 0
        for t in todo:
            if t.name not in self.infos:
                continue
            info = self.infos[t.name]
            nt = min(info.frames, self.cfg.max_frames or info.frames)
            k = sum(s.name in self.prepared for s in self.by_target[t.name])
            # a preset at a lower frame rate sends (and the bar counts) fewer frames than the master has
            per_master = nt + sum(_frames_sent(info, nt, p) for p in self.ctx.presets if p.codec != "none")
            total += per_master * (1 + k)
        self.progress.start(total)

    # -- after the loop
    def finish(self, result: BatchResult, records: list) -> None:
        """manifest.csv, quality.csv and generate.json from what exists on disk (all shards)."""
        import json

        from ..datasets.base import Dataset, write_manifest
        from ..fileio import write_csv, write_json
        from ..provenance import provenance
        from ..video import probe

        result.failed[:0] = self.early.failed
        made: list[VideoRecord] = []
        quality: list[dict] = []
        for t in self.plan.targets:
            _, fakes = masters(self.ctx, t, self.by_target[t.name])
            mine = {}
            for p in fakes.values():
                if quality_path(p).exists():
                    q = json.loads(quality_path(p).read_text(encoding="utf-8"))
                    quality.append(q)
                    mine[q["video_id"]] = q
            labelled = all("swapped_tracks" in q for q in mine.values()) and mine
            for rec, path in self.outputs(t):
                if not path.exists():
                    continue
                try:
                    info = probe(path)
                except VcbenchError as e:
                    result.fail(rec.video_id, str(e))
                    continue
                tracks = ""
                if labelled:            # a real: every face is real; a fake: the faces it swapped
                    q = mine.get("clean/" + rec.video_id.split("/", 1)[1]) if rec.label else None
                    tracks = "all" if not rec.label else ";".join(map(str, q["swapped_tracks"])) if q else ""
                made.append(VideoRecord(**{**rec.row(), "frames": info.frames, "fps": round(info.fps, 3),
                                           "width": info.width, "height": info.height, "label_tracks": tracks}))
        out, plan = self.cfg.out, self.plan
        write_manifest(made, out / "manifest.csv")
        if quality:
            write_csv(out / "quality.csv", quality, QUALITY_COLUMNS)
        self.counts = Dataset(out.name, "manifest", out, made).counts()
        self.records = made
        write_json(out / "generate.json", {
            "config": self.cfg.to_json(), "note": self.cfg.note, **self.ctx.tools.describe(),
            "presets": [p.name for p in self.ctx.presets], "splits": plan.split_of, "plan_notes": plan.notes,
            "pairs": [[s.name, t.name] for s, t in plan.pairs], "pairs_requested": self.cfg.pairs,
            "pairs_possible": plan.possible_pairs, "unpaired_targets": plan.unpaired_targets,
            "match": {"by": self.cfg.match, "predicted": plan.genders} if self.cfg.match else None,
            "face_identities": {q["video_id"]: q["face_identities"] for q in quality if "face_identities" in q} or None,
            "counts": self.counts, "failures": [{"item": a, "reason": b} for a, b in result.failed],
            "provenance": provenance(self.ctx.exe)})


def _frames_sent(info, n_master: int, p) -> int:
    """Frames a preset sends from a master of ``n_master`` frames (what the bar counts)."""
    from dataclasses import replace

    from ..conference.simulate import plan_simulation

    try:
        return plan_simulation(replace(info, frames=n_master), p).n
    except VcbenchError:            # too short for the loss model: it will fail and say so
        return 0


def generate(cfg: GenerateConfig, progress: Progress | None = None) -> Report:
    """Plan, run this shard's targets on the one loop, write the manifest. Failed items are in
    ``report.batch`` (named, skipped; the rest are made), so callers exit non-zero with the count.
    Another output-affecting option (``--crf``, swapper, seed, ...) into the same ``--out`` is refused,
    naming the option; an edited preset under a known name too."""
    from ..conference.renditions import preset_digest
    from ..runs import RunFolder, run_job
    from ..runtime import parse_shard

    from ..fileio import make_folder
    from .plan import plan_summary, write_plan

    progress = progress or Progress("generate")
    shard = parse_shard(cfg.shard)
    plan = make_plan(cfg)
    if cfg.plan:                                   # a preview: who goes onto whom, in which split
        make_folder(cfg.out)
        write_plan(plan, cfg.out)
        return Report([], BatchResult("pairs", done=len(plan.pairs), failed=list(plan.refused)),
                      plan=plan_summary(plan))
    for note in plan.notes:
        progress.log(f"note: {note}")
    job = GenerateJob(cfg, plan, progress)
    folder = RunFolder(cfg.out, "generate", shard=shard, log=progress.log).open()
    folder.claim(cfg.identity(), record=cfg.to_json(),
                 members={p.name: preset_digest(p) for p in job.ctx.presets if p.name != "clean"},
                 member_kind="preset")
    with folder.running(targets=len(plan.targets), pairs=len(plan.pairs)) as status:
        if cfg.pairs is not None and cfg.pairs > plan.possible_pairs:
            progress.log(f"--pairs {cfg.pairs}: only {plan.possible_pairs} pair(s) possible (a source and a target "
                         f"of the same split, never a target's own identity); making {plan.possible_pairs}")
        write_plan(plan, cfg.out)
        job.prepare([t for t in job.shard(job.items(), shard) if not job.is_done(t)])
        status.result = run_job(job, shard).result
    return Report(job.records, status.result, job.counts)
