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

from ..errors import ConfigError, VcbenchError
from ..fileio import write_json

ENGINES = ("ffmpeg", "webrtc")
COLUMNS = ("kbps", "effective_fps", "freezes", "freeze_s", "keyframes", "psnr_y", "ssim")


@dataclass
class Calibration:
    rows: list[dict]
    runs: list[dict]
    failures: list[tuple[str, str]] = field(default_factory=list)

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


def calibrate(presets: list[str], clips: Path, out: Path, seed: int = 0, presets_file: Path | None = None,
              ffmpeg: str | None = None, progress=None, seeds: int = 1, ffmpeg_seeds: int | None = None) -> Calibration:
    """Every preset x clip x seed (``seed`` .. ``seed + seeds - 1``: each seed is another draw of
    the loss pattern, which one 10 s clip samples thinly) through both engines; the ffmpeg engine,
    which costs a fraction of a real-time call, on ``ffmpeg_seeds`` seeds (at least ``seeds``), so
    its column is the model's mean rather than another small sample."""
    seeds = max(1, seeds)
    model_seeds = max(seeds, ffmpeg_seeds or seeds)
    from ..provenance import provenance
    from .presets import get_preset
    from .simulate import simulate_file, stats_path
    from .webrtc.engine import find_browser, simulate_webrtc

    chosen = [get_preset(name, presets_file) for name in presets]   # names fail first, with "did you mean"
    for p in chosen:
        if p.codec == "none":
            raise ConfigError(f"preset {p.name!r} makes no call (codec none): nothing to calibrate")
    find_browser()
    files = _clips(Path(clips))
    runs, failures = [], []
    todo = [(p, clip, s) for p in chosen for clip in files for s in range(seed, seed + model_seeds)]
    for p, clip, s in todo:
        for engine in ENGINES if s < seed + seeds else ("ffmpeg",):
            ext = ".mp4" if engine == "webrtc" else p.extension
            name = clip.stem if model_seeds <= 1 else f"{clip.stem}-s{s}"
            dst = out / engine / p.name / f"{name}{ext}"
            item = f"{p.name}/{clip.name} seed {s} ({engine})"
            try:
                if dst.exists() and stats_path(dst).is_file():
                    stats = json.loads(stats_path(dst).read_text(encoding="utf-8"))
                else:
                    run = simulate_webrtc if engine == "webrtc" else simulate_file
                    stats = run(clip, dst, p, seed=s, ffmpeg=ffmpeg, fidelity=True)
            except (VcbenchError, OSError) as e:
                failures.append((item, str(e)))
                if progress:
                    progress.log(f"{item}: {e}")
                continue
            runs.append({"preset": p.name, "clip": clip.name, "seed": s, "engine": engine,
                         **{k: stats.get(k) for k in COLUMNS}, "output": str(dst.relative_to(out))})
            if progress:
                progress.log(f"{item}: {stats.get('kbps')} kbps, {stats.get('freezes')} freezes, "
                             f"PSNR {stats.get('psnr_y')}")
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
    cal = Calibration(rows, runs, failures)
    write_json(out / "calibrate.json", {"presets": [p.name for p in chosen], "clips": [c.name for c in files],
                                        "seed": seed, "seeds": seeds, "ffmpeg_seeds": model_seeds, "rows": rows, "runs": runs,
                                        "failures": [{"item": a, "reason": b} for a, b in failures],
                                        "provenance": provenance(ffmpeg)})
    return cal
