"""``vcbench calibrate``: each preset through both engines on the same clips, side by side.

The webrtc engine (a real libwebrtc call) is the ground truth the ffmpeg engine's model of a call
is tuned against: for every preset and clip both write their output and stats (with PSNR/SSIM
against the input), and the table compares the means per preset: bitrate, effective frame rate,
freeze count and duration, keyframes, PSNR and SSIM, and the gap (webrtc - ffmpeg).
``calibrate.json`` holds the table, every run's stats and the provenance. Outputs already made are
reused, so an interrupted calibration resumes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..batch import BatchResult
from ..config import ENGINES
from ..errors import ConfigError
from ..fileio import write_json
from ..runs import BatchJob
COLUMNS = ("kbps", "effective_fps", "freezes", "freeze_s", "keyframes", "psnr_y", "ssim")


@dataclass
class Calibration:
    rows: list[dict]
    runs: list[dict]
    failures: list[tuple[str, str]] = field(default_factory=list)
    batch: BatchResult | None = None           # done / already done / failed runs, for the CLI's summary

    def table(self) -> str:
        head = f"{'preset':<18} {'measure':<14} {'ffmpeg':>9} {'webrtc':>9} {'gap':>9}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            for i, k in enumerate(COLUMNS):
                f, w = r["ffmpeg"].get(k), r["webrtc"].get(k)
                gap = None if f is None or w is None else w - f

                def cell(v):
                    return f"{v:>9.2f}" if isinstance(v, (int, float)) else f"{'-':>9}"

                lines.append(f"{r['preset'] if i == 0 else '':<18} {k:<14} {cell(f)} {cell(w)} {cell(gap)}")
            lines.append(f"{'':<18} {'runs':<14} {r['ffmpeg']['clips']:>9} {r['webrtc']['clips']:>9}")
        return "\n".join(lines)


def _clips(path: Path) -> list[Path]:
    from ..video import VIDEO_EXTENSIONS

    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"{path}: clips folder not found")
    clips = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."))
    if not clips:
        raise ConfigError(f"{path}: no video files ({', '.join(VIDEO_EXTENSIONS)})")
    return clips


class CalibrationJob(BatchJob):
    """One item per (preset, clip, seed, engine): its output and stats, or the ones already there."""

    what = "runs"

    def __init__(self, chosen, files, out: Path, seed: int, seeds: int, model_seeds: int, ffmpeg, progress):
        self.chosen, self.files, self.out, self.ffmpeg, self.progress = chosen, files, out, ffmpeg, progress
        self.seed, self.seeds, self.model_seeds = seed, seeds, model_seeds

    def items(self) -> list:
        return [(p, clip, s, engine) for p in self.chosen for clip in self.files
                for s in range(self.seed, self.seed + self.model_seeds)
                for engine in (ENGINES if s < self.seed + self.seeds else ("ffmpeg",))]

    def key(self, item) -> str:
        p, clip, s, engine = item
        return f"{p.name}/{clip.name} seed {s} ({engine})"

    def dst(self, item) -> Path:
        p, clip, s, engine = item
        ext = ".mp4" if engine == "webrtc" else p.extension
        name = clip.stem if self.model_seeds <= 1 else f"{clip.stem}-s{s}"
        return self.out / engine / p.name / f"{name}{ext}"

    def is_done(self, item) -> bool:
        from .simulate import stats_path

        d = self.dst(item)
        return d.exists() and stats_path(d).is_file()

    def done_record(self, item) -> dict:
        from .simulate import stats_path

        return self.record(item, json.loads(stats_path(self.dst(item)).read_text(encoding="utf-8")))

    def run(self, item) -> dict:
        from .engines import simulate_with

        p, clip, s, engine = item
        return self.record(item, simulate_with(engine, clip, self.dst(item), p, seed=s, ffmpeg=self.ffmpeg,
                                               fidelity=True))

    def record(self, item, stats: dict) -> dict:
        p, clip, s, engine = item
        if self.progress:
            self.progress.log(f"{self.key(item)}: {stats.get('kbps')} kbps, {stats.get('freezes')} freezes, "
                              f"PSNR {stats.get('psnr_y')}")
        return {"preset": p.name, "clip": clip.name, "seed": s, "engine": engine,
                **{k: stats.get(k) for k in COLUMNS}, "output": str(self.dst(item).relative_to(self.out))}

    def finish(self, result, runs: list) -> None:
        pass                      # calibrate() writes calibrate.json from the records (it returns the table too)


def calibrate(presets: list[str], clips: Path, out: Path, seed: int = 0, presets_file: Path | None = None,
              ffmpeg: str | None = None, progress=None, seeds: int = 1, ffmpeg_seeds: int | None = None) -> Calibration:
    """Every preset x clip x seed (``seed`` .. ``seed + seeds - 1``: each seed is another draw of
    the loss pattern, which one 10 s clip samples thinly) through both engines; the ffmpeg engine,
    which costs a fraction of a real-time call, on ``ffmpeg_seeds`` seeds (at least ``seeds``), so
    its column is the model's mean rather than another small sample. Runs through the stage
    runtime: a preset whose settings changed since its outputs were made in ``out`` is refused by
    name (its old outputs would be averaged with new ones), failures are named and the rest run."""
    seeds = max(1, seeds)
    model_seeds = max(seeds, ffmpeg_seeds or seeds)
    from ..provenance import provenance
    from ..runs import RunFolder, run_job
    from .presets import get_preset
    from .renditions import preset_digest
    from .webrtc.engine import find_browser

    chosen = [get_preset(name, presets_file) for name in presets]   # names fail first, with "did you mean"
    for p in chosen:
        if p.codec == "none":
            raise ConfigError(f"preset {p.name!r} makes no call (codec none): nothing to calibrate")
    find_browser()
    files = _clips(Path(clips))
    folder = RunFolder(out, "calibrate", log=progress.log if progress else None).open()
    folder.claim({"seed": seed}, members={p.name: preset_digest(p) for p in chosen}, member_kind="preset")
    job = CalibrationJob(chosen, files, Path(out), seed, seeds, model_seeds, ffmpeg, progress)

    def told(event, x):
        if event == "failed" and progress:
            progress.log(f"{job.key(x[0])}: {x[1]}")

    with folder.running(presets=[p.name for p in chosen], clips=len(files)) as status:
        done = run_job(job, progress=told)
        status.result = done.result
    runs, failures = done.records, done.result.failed
    rows = []
    for p in chosen:
        row = {"preset": p.name}
        for engine in ENGINES:
            mine = [r for r in runs if r["preset"] == p.name and r["engine"] == engine]
            row[engine] = {k: (round(float(np.mean(v)), 3) if (v := [r[k] for r in mine if r[k] is not None]) else None)
                           for k in COLUMNS}
            row[engine]["clips"] = len(mine)         # runs: clips x seeds
        row["gap"] = {k: (round(row["webrtc"][k] - row["ffmpeg"][k], 3)
                          if row["webrtc"][k] is not None and row["ffmpeg"][k] is not None else None) for k in COLUMNS}
        rows.append(row)
    cal = Calibration(rows, runs, failures, done.result)
    write_json(out / "calibrate.json", {"presets": [p.name for p in chosen], "clips": [c.name for c in files],
                                        "seed": seed, "seeds": seeds, "ffmpeg_seeds": model_seeds, "rows": rows, "runs": runs,
                                        "failures": [{"item": a, "reason": b} for a, b in failures],
                                        "provenance": provenance(ffmpeg)})
    return cal
