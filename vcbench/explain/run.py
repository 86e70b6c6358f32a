"""Explain videos: per face and window, the detector's probability and its Grad-CAM map, cut and
aligned exactly as the detector scores them (the same tracks, windows and crops as ``score``).

Per video ``<stem>`` in ``out/``:
- ``<stem>.npz``: ``maps`` (N, T, M, M) float16 in [0, 1] (the map over each clip frame, M =
  ``map_size``), ``to_map`` (N, T, 2, 3) frame pixels -> map pixels (``cv2.warpAffine(map,
  to_map, (W, H), flags=WARP_INVERSE_MAP)`` lays it on the frame), ``frames`` (N, T) source frame
  indices, ``boxes`` (N, T, 4) detector boxes, ``track`` (N,), ``score`` (N,) probability of fake,
  ``importance`` (N, T) each frame's share of its clip's map, ``meta`` (JSON);
- ``<stem>.most-fake.png`` / ``<stem>.least-fake.png``: the clips with the highest and lowest
  probability, crops above, heatmap overlays below;
- with ``video``: ``<stem>.explained.mp4``, the annotated score video (``render.py``).
``out/explain.json``: the resolved config, the threshold, each video's summary and each failure.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..batch import BatchResult
from ..errors import ConfigError, FaceError, VcbenchError
from .config import ExplainConfig

EXPLAIN_SCHEMA = "vcbench-explain/1"


@dataclass
class Explained:
    """One video's maps (what the npz holds), in the order the windows were scored."""

    video: Path
    fps: float
    n_frames: int
    size: tuple[int, int]                    # (W, H) of the video
    track: list[int] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)      # (T,) source frame indices
    boxes: list[np.ndarray] = field(default_factory=list)       # (T, 4)
    to_map: list[np.ndarray] = field(default_factory=list)      # (T, 2, 3)
    maps: list[np.ndarray] = field(default_factory=list)        # (T, M, M) float16
    score: list[float] = field(default_factory=list)
    importance: list[np.ndarray] = field(default_factory=list)  # (T,)
    extremes: dict = field(default_factory=dict)                # "most"/"least" -> (index, clip uint8, maps)

    def keep_extremes(self, i: int, clip: np.ndarray, maps: np.ndarray) -> None:
        s = self.score[i]
        for kind, better in (("most", lambda a, b: a > b), ("least", lambda a, b: a < b)):
            have = self.extremes.get(kind)
            if have is None or better(s, self.score[have[0]]):
                self.extremes[kind] = (i, clip, maps)


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


def _map_matrix(m: np.ndarray, size: int, map_size: int) -> np.ndarray:
    """Frame -> clip (S px) matrices composed with clip -> map (M px, pixel centres kept)."""
    r = map_size / size
    a = np.array([[r, 0.0, 0.5 * r - 0.5], [0.0, r, 0.5 * r - 0.5], [0.0, 0.0, 1.0]])
    full = np.concatenate([m, np.broadcast_to([[[0.0, 0.0, 1.0]]], (len(m), 1, 3))], axis=1)
    return (a @ full)[:, :2]


def explain_video(video: Path, net, device: str, cfg: ExplainConfig, backend) -> Explained:
    """Track the faces, cut every window the detector would score, take each one's map."""
    import cv2
    import torch

    from ..faces.tracking import track_video
    from ..models.cam import cam, frame_importance
    from ..models.preprocess import cut_crops, frame_to_clip, frame_windows, normalise, track_windows
    from ..video import iter_frames, probe

    pp = net.preprocess
    info = probe(video)
    vt = track_video(video, backend=backend, max_frames=cfg.max_frames, cache_dir=cfg.cache_dir)
    tracks = [t for t in vt.tracks if len(t)]
    if not tracks:
        raise FaceError(f"{video}: no face found; nothing explained")
    if pp.input == "frames":
        windows = ({t.track_id: [[r] for r in range(len(t))] for t in tracks} if cfg.mode == "dense"
                   else frame_windows(tracks, vt.n_frames, pp))
    else:
        windows = {t.track_id: track_windows(len(t), pp.clip_len, cfg.mode, cfg.clips) for t in tracks}
    need = {tid: {r for w in ws for r in w} for tid, ws in windows.items()}
    wanted = sorted({int(t.frames[r]) for t in tracks for r in need.get(t.track_id, ())})
    crops = {tc.track_id: tc for tc in cut_crops(iter_frames(video, indices=wanted), tracks, pp, need)}
    plan = [(crops[tid], w) for tid, ws in windows.items() for w in ws if tid in crops and max(w) < len(crops[tid])]
    if not plan:
        raise FaceError(f"{video}: the face tracks could not be cut from the decoded frames")
    ex = Explained(video, info.fps, info.frames, (info.width, info.height))
    for j in range(0, len(plan), cfg.batch_size):
        part = plan[j:j + cfg.batch_size]
        clips = np.stack([tc.clip(rows, pp) for tc, rows in part])             # (B, T, S, S, 3) uint8
        x = normalise(torch.from_numpy(clips).to(device), pp)
        maps, logits = cam(net, x, cfg.method, cfg.layer)                      # (B, T, S, S), (B,)
        probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        imp = frame_importance(maps)
        for k, (tc, rows) in enumerate(part):
            small = np.stack([cv2.resize(f, (cfg.map_size, cfg.map_size), interpolation=cv2.INTER_AREA)
                              for f in maps[k]]).astype(np.float16)
            ex.track.append(int(tc.track_id))
            ex.frames.append(tc.frames[rows].astype(np.int64))
            ex.boxes.append(tc.boxes[rows].astype(np.float32))
            ex.to_map.append(_map_matrix(frame_to_clip(tc.crop_boxes[rows], tc.kps[rows], pp), pp.size, cfg.map_size))
            ex.maps.append(small)
            ex.score.append(float(probs[k]))
            ex.importance.append(imp[k].astype(np.float32))
            ex.keep_extremes(len(ex.score) - 1, clips[k], maps[k])
    return ex


def write_npz(ex: Explained, path: Path, meta: dict) -> Path:
    from ..fileio import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, maps=np.stack(ex.maps), to_map=np.stack(ex.to_map).astype(np.float32),
                                frames=np.stack(ex.frames), boxes=np.stack(ex.boxes),
                                track=np.asarray(ex.track, np.int64), score=np.asarray(ex.score, np.float32),
                                importance=np.stack(ex.importance), meta=np.array(json.dumps(meta)))
    return path


def strip(clip: np.ndarray, maps: np.ndarray, columns: int = 8) -> np.ndarray:
    """Crops above, heatmap overlays below, for up to ``columns`` evenly spaced clip frames."""
    from ..overlay import blend_heat

    pick = sorted({int(i) for i in np.linspace(0, len(clip) - 1, min(columns, len(clip)))})
    top = np.concatenate([clip[i] for i in pick], axis=1)
    bottom = np.concatenate([blend_heat(clip[i], maps[i], 0.6) for i in pick], axis=1)
    return np.concatenate([top, bottom], axis=0)


def write_png(img: np.ndarray, path: Path) -> Path:
    import cv2

    from ..fileio import atomic_path

    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[..., ::-1]))
        if not ok:
            raise VcbenchError(f"{path}: the PNG could not be encoded")
        Path(tmp).write_bytes(buf.tobytes())
    return path


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
                ex = explain_video(video, net, device, cfg, backend)
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
