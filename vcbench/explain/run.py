"""Explain videos: per face and window, the detector's probability and its Grad-CAM map, cut and
aligned exactly as the detector scores them (the same tracks, windows and crops as ``score``).

Per video ``<stem>`` in ``out/``:
- ``<stem>.npz``: the maps (format: :mod:`vcbench.models.explain`);
- ``<stem>.most-fake.png`` / ``<stem>.least-fake.png``: the clips with the highest and lowest
  probability, crops above, heatmap overlays below;
- with ``video``: ``<stem>.explained.mp4``, the annotated score video (``render.py``).
``out/explain.json``: the resolved config, the threshold, each video's summary and each failure.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..batch import BatchResult
from ..errors import ConfigError, VcbenchError
from .config import ExplainConfig

EXPLAIN_SCHEMA = "vcbench-explain/1"


def detector_spec(cfg: ExplainConfig) -> str:
    """``--model`` as given, or ``--checkpoint FILE`` as ``ARCH=FILE``."""
    if cfg.model is not None:
        return cfg.model
    from ..models.checkpoint import checkpoint_arch

    ckpt = Path(cfg.checkpoint)
    if ckpt.is_dir() and (ckpt / "best.pth").is_file():
        ckpt = ckpt / "best.pth"
    if not ckpt.is_file():
        raise ConfigError(f"--checkpoint {cfg.checkpoint}: no such file (nor a run folder with best.pth)")
    return f"{checkpoint_arch(ckpt) or 'altfreezing'}={ckpt}"


def resolve_threshold(cfg: ExplainConfig, det) -> tuple[float, str]:
    if cfg.threshold is not None:
        return float(cfg.threshold), "given (--threshold)"
    t, why = det.threshold()
    return (t, why) if t is not None else (0.5, f"{why}: 0.5 drawn")


def explain(cfg: ExplainConfig, echo=print) -> tuple[dict, BatchResult]:
    """Explain every video of ``cfg``; a video that fails is skipped and reported, the rest go on.
    Returns the run's record (also written to ``out/explain.json``) and the batch."""
    from ..config import to_json
    from ..detectors import Detector, DetectorSettings
    from ..faces.tracking import LazyBackend
    from ..fileio import make_folder, write_json
    from ..provenance import provenance
    from ..models.explain import explain_video, strip, write_npz, write_png
    from ..runtime import resolve_device

    det = Detector.from_spec(detector_spec(cfg), DetectorSettings(device=cfg.device, face_backend=cfg.face_backend))
    net = det.explain_network().eval()
    device = resolve_device(cfg.device)
    threshold, thr_from = resolve_threshold(cfg, det)
    out = make_folder(Path(cfg.out))
    backend = LazyBackend(cfg.face_backend)
    batch = BatchResult("videos")
    rows = []
    stems: dict[str, int] = {}
    try:
        for video in cfg.videos:
            video = Path(video)
            stem = video.stem if video.stem not in stems else f"{video.stem}-{stems[video.stem]}"
            stems[video.stem] = stems.get(video.stem, 0) + 1
            try:
                if not video.is_file():
                    raise ConfigError(f"{video}: no such file")
                ex = explain_video(video, net, device, backend, cfg.method, cfg.layer, cfg.mode, cfg.clips,
                                   cfg.map_size, cfg.batch_size, cfg.max_frames, cfg.cache_dir)
                meta = {"schema": EXPLAIN_SCHEMA, "video": str(video), "model": det.name, "spec": det.spec,
                        "method": cfg.method, "layer": cfg.layer or "features", "fps": ex.fps,
                        "n_frames": ex.n_frames, "size": list(ex.size), "clip_len": net.preprocess.clip_len,
                        "input": net.preprocess.input, "threshold": threshold}
                files = {"npz": str(write_npz(ex, out / f"{stem}.npz", meta))}
                for kind in ("most", "least"):
                    i, clip, maps = ex.extremes[kind]
                    files[f"{kind}_fake_png"] = str(write_png(strip(clip, maps), out / f"{stem}.{kind}-fake.png"))
                if cfg.video:
                    from .render import render_video

                    made, png = render_video(ex, out / f"{stem}.explained.mp4", threshold, cfg.smooth, cfg.still)
                    files["video"] = str(made)
                    if png is not None:
                        files["still_png"] = str(png)
                    elif cfg.still is not None:
                        echo(f"note: {video}: --still {cfg.still} is past its last frame ({ex.n_frames - 1}); no still")
                sc = np.asarray(ex.score)
                row = {"video": str(video), "clips": len(sc), "tracks": sorted(set(ex.track)),
                       "score": round(float(sc.mean()), 6),
                       **{f"{k}_fake": {"track": ex.track[ex.extremes[k][0]], "score": round(ex.score[ex.extremes[k][0]], 6),
                                        "frames": [int(ex.frames[ex.extremes[k][0]][0]), int(ex.frames[ex.extremes[k][0]][-1])]}
                          for k in ("most", "least")}, "files": files}
                rows.append(row)
                batch.done += 1
                echo(f"{video}: {len(sc)} window(s), mean p(fake) {row['score']:.3f}; most fake {row['most_fake']['score']:.3f} "
                     f"(frames {row['most_fake']['frames'][0]}-{row['most_fake']['frames'][1]}) -> {out}/{stem}.*")
            except VcbenchError as e:
                msg = str(e)
                batch.fail(video, msg[len(str(video)) + 2:] if msg.startswith(f"{video}: ") else msg)
    finally:
        backend.close()
        det.close()
    record = {"schema": EXPLAIN_SCHEMA, "model": det.name, "spec": det.spec, "model_file": det.fingerprint(),
              "threshold": threshold, "threshold_from": thr_from, "videos": rows,
              "failed": [{"item": k, "why": v} for k, v in batch.failed], "summary": batch.summary(),
              "config": to_json(cfg), "provenance": provenance()}
    write_json(out / "explain.json", record)
    return record, batch
