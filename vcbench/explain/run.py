"""Explain videos: per face and window, the detector's probability and its Grad-CAM map, cut and
aligned exactly as the detector scores them (the same tracks, windows and crops as ``score``).

Per video, under its output name ``<stem>`` in ``out/`` (its file stem; where two files share a stem,
the stem and 8 hex digits of its resolved path; a file keeps the name its record gives it,
whatever the order or company it is explained in: :func:`output_names`):
- ``<stem>.npz``: the maps (format: :mod:`vcbench.models.explain`);
- ``<stem>.most-fake.png`` / ``<stem>.least-fake.png``: the clips with the highest and lowest
  probability, crops above, heatmap overlays below;
- with ``video``: ``<stem>.explained.mp4``, the annotated score video (``render.py``).
- ``<stem>.explain.json``: the video's record, written last (what a re-run checks to skip it).
``out/explain.json``: the resolved config, the threshold, the record of every video explained in
the folder (this run's and earlier ones') and this run's failures;
``explain.identity.json`` / ``explain.status.json``: the run folder (``runs.RunFolder``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..batch import BatchResult
from ..errors import ConfigError, VcbenchError
from ..fileio import content_id, write_json
from ..runs import BatchJob, RunFolder, run_job
from .config import ExplainConfig

EXPLAIN_SCHEMA = "vcbench-explain/1"


def resolve_threshold(cfg: ExplainConfig, det) -> tuple[float, str]:
    if cfg.threshold is not None:
        return float(cfg.threshold), "given (--threshold)"
    t, why = det.threshold()
    return (t, why) if t is not None else (0.5, f"{why}: 0.5 drawn")


class ExplainJob(BatchJob):
    """An item per video. A video is done when its record ``<stem>.explain.json`` (written last,
    after its npz, strips and video) names the same input content and every file this
    configuration asks for is there: a re-run after a kill explains only what is missing; another
    input under the same name is explained again."""

    what = "videos"

    def __init__(self, cfg: ExplainConfig, det, net, device, threshold: float, backend, out: Path, echo):
        self.cfg, self.det, self.net, self.device, self.threshold = cfg, det, net, device, threshold
        self.backend, self.out, self.echo = backend, out, echo

    def items(self):
        return output_names(self.cfg.videos, self.out)

    def key(self, item):
        return str(item[1])

    def _wanted(self, stem: str) -> list[Path]:
        out = self.out
        files = [out / f"{stem}.npz", out / f"{stem}.most-fake.png", out / f"{stem}.least-fake.png"]
        return files + ([out / f"{stem}.explained.mp4"] if self.cfg.video else [])

    def is_done(self, item):
        stem, video = item
        rec_path = self.out / f"{stem}{RECORD}"
        if not (rec_path.is_file() and video.is_file()):
            return False
        try:
            rec = json.loads(rec_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return (isinstance(rec, dict) and rec.get("content_id") == content_id(video)
                and all(f.is_file() for f in self._wanted(stem))
                and (self.cfg.still is None or "still_png" in rec.get("files", {})))

    def done_record(self, item):
        self.echo(f"{item[1]}: already explained in {self.out} (skipped)")
        return json.loads((self.out / f"{item[0]}{RECORD}").read_text(encoding="utf-8"))

    def run(self, item):
        from ..models.explain import explain_video

        stem, video = item
        cfg, out = self.cfg, self.out
        if not video.is_file():
            raise ConfigError("no such file")
        ex = explain_video(video, self.net, self.device, self.backend, cfg.method, cfg.layer, cfg.mode, cfg.clips,
                           cfg.map_size, cfg.batch_size, cfg.max_frames, cfg.cache_dir)
        bad = ~np.isfinite(np.asarray(ex.score, np.float64))
        if bad.any():                           # broken weights: no map or score is worth keeping
            raise VcbenchError(f"the model gave non-finite scores for {int(bad.sum())} of {len(bad)} "
                               "window(s): its weights or its input are broken")
        row = self._row(stem, video, ex, self._write(stem, video, ex))
        write_json(out / f"{stem}{RECORD}", row)          # last: the video's outputs are complete
        self.echo(f"{video}: {row['clips']} window(s), mean p(fake) {row['score']:.3f}; most fake "
                  f"{row['most_fake']['score']:.3f} (frames {row['most_fake']['frames'][0]}-"
                  f"{row['most_fake']['frames'][1]}) -> {out}/{stem}.*")
        return row

    def _write(self, stem: str, video: Path, ex) -> dict[str, str]:
        """The video's maps (npz), its two strips and, when asked, the annotated video and still."""
        from ..models.explain import strip, write_npz, write_png

        cfg, out, net = self.cfg, self.out, self.net
        meta = {"schema": EXPLAIN_SCHEMA, "video": str(video), "model": self.det.name, "spec": self.det.spec,
                "method": cfg.method, "layer": cfg.layer or "features", "fps": ex.fps,
                "n_frames": ex.n_frames, "size": list(ex.size), "clip_len": net.preprocess.clip_len,
                "input": net.preprocess.input, "threshold": self.threshold}
        files = {"npz": str(write_npz(ex, out / f"{stem}.npz", meta))}
        for kind in ("most", "least"):
            _, clip, maps = ex.extremes[kind]
            files[f"{kind}_fake_png"] = str(write_png(strip(clip, maps), out / f"{stem}.{kind}-fake.png"))
        if cfg.video:
            from .render import render_video

            made, png = render_video(ex, out / f"{stem}.explained.mp4", self.threshold, cfg.smooth, cfg.still)
            files["video"] = str(made)
            if png is not None:
                files["still_png"] = str(png)
            elif cfg.still is not None:
                self.echo(f"note: {video}: --still {cfg.still} is past its last frame ({ex.n_frames - 1}); no still")
        return files

    @staticmethod
    def _row(stem: str, video: Path, ex, files: dict) -> dict:
        """The video's record (``<stem>.explain.json``, a row of explain.json)."""
        sc = np.asarray(ex.score)

        def window(i):
            return {"track": ex.track[i], "score": round(ex.score[i], 6),
                    "frames": [int(ex.frames[i][0]), int(ex.frames[i][-1])]}

        return {"video": str(video), "resolved": str(video.resolve()), "name": stem,
                "content_id": content_id(video), "clips": len(sc),
                "tracks": sorted(set(ex.track)), "score": round(float(sc.mean()), 6),
                "most_fake": window(ex.extremes["most"][0]), "least_fake": window(ex.extremes["least"][0]),
                "files": files}


RECORD = ".explain.json"


def _records(out: Path) -> dict[str, dict]:
    """Output name -> the video record of every video explained in ``out`` (by any run)."""
    found = {}
    for path in sorted(out.glob(f"*{RECORD}")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue                            # a record that cannot be read: its video is redone
        if isinstance(rec, dict) and isinstance(rec.get("video"), str):
            found[path.name[:-len(RECORD)]] = rec
    return found


def output_names(videos, out: Path) -> list[tuple[str, Path]]:
    """Each video's output name in ``out``, whatever else is listed and in whatever order: the name
    a record in ``out`` already gives this file; else its stem, unless another file claims that
    stem (another video of this run, or a record in ``out``): then the stem and 8 hex digits of
    its resolved path. A video listed twice is explained once."""
    import hashlib

    owner = {name: Path(rec.get("resolved") or rec["video"]).resolve() for name, rec in _records(out).items()}
    named = {path: name for name, path in owner.items()}
    unique = list(dict.fromkeys(Path(v).resolve() for v in videos))
    given = {Path(v).resolve(): Path(v) for v in videos}
    stems: dict[str, set] = {}
    for r in unique:
        stems.setdefault(r.stem, set()).add(r)
    items = []
    for r in unique:
        if r in named:
            name = named[r]
        elif r.stem in owner or len(stems[r.stem]) > 1:
            name = f"{r.stem}-{hashlib.sha1(str(r).encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"
        else:
            name = r.stem
        items.append((name, given[r]))
    return items


def explain(cfg: ExplainConfig, echo=print) -> tuple[dict, BatchResult]:
    """Explain every video of ``cfg`` on the one loop, in the run folder ``cfg.out``: a video that
    fails is named and the rest go on; a re-run skips the videos already explained (same input,
    same files); a re-run with another configuration into the same folder is refused, naming what
    differs. Returns the run's record (also ``out/explain.json``) and the batch."""
    from ..config import to_json
    from ..detectors import DetectorSettings
    from ..detectors.network import checkpoint_detector
    from ..faces.tracking import LazyBackend
    from ..models.cam import check_layer
    from ..provenance import provenance
    from ..runtime import resolve_device

    det = checkpoint_detector(cfg.model, cfg.checkpoint,
                               DetectorSettings(device=cfg.device, face_backend=cfg.face_backend))
    net = det.explain_network().eval()
    check_layer(net, cfg.layer)
    device = resolve_device(cfg.device)
    threshold, thr_from = resolve_threshold(cfg, det)
    folder = RunFolder(cfg.out, "explain").open()
    folder.claim({"model_file": det.fingerprint(), "method": cfg.method, "layer": cfg.layer or "features",
                  "mode": cfg.mode, "clips": cfg.clips, "map_size": cfg.map_size, "max_frames": cfg.max_frames,
                  "face_backend": cfg.face_backend, "threshold": threshold, "smooth": cfg.smooth},
                 record=to_json(cfg), has_outputs=lambda: bool(_records(cfg.out)))
    out = folder.path
    backend = LazyBackend(cfg.face_backend)
    try:
        with folder.running(videos=len(cfg.videos)) as status:
            outcome = run_job(ExplainJob(cfg, det, net, device, threshold, backend, out, echo))
            status.result = outcome.result
    finally:
        backend.close()
        det.close()
    batch = outcome.result
    # every video explained in the folder, this run's and earlier runs' (the records are the truth)
    record = {"schema": EXPLAIN_SCHEMA, "model": det.name, "spec": det.spec, "model_file": det.fingerprint(),
              "threshold": threshold, "threshold_from": thr_from, "videos": list(_records(out).values()),
              "failed": [{"item": k, "why": v} for k, v in batch.failed], "summary": batch.summary(),
              "config": to_json(cfg), "provenance": provenance()}
    write_json(out / "explain.json", record)
    return record, batch
