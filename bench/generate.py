"""Face-swap throughput, end to end, next to its own baselines measured in the same run.

    python -m bench.generate [--frames 120] [--sizes 640x360,1280x720]

For each size, on a talking-head clip (carphone played forward and back, upscaled):
- ``transcode``: decode + encode only (the floor: what any swap pipeline pays);
- ``mesh``: decode + face tracking + mesh swap + encode in one causal pass, as a live
  swapper runs (target: >= 15 fps at 640x360 on a 2-core CPU);
- ``inswapper``: the same with inswapper_128.onnx when one is found; otherwise with the test
  stand-in, which has the real signature but a trivial graph, so its figure measures the
  crop/paste-back and I/O around the network, not the network;
- ``generate``: the dataset writer on the same clip (real and fake masters, quality stats,
  track cache), in target frames per second;
- face analysis alone: per-frame detection (Deep-Live-Cam's approach: the full detector and
  landmarks on every frame, no state) against tracking (the detector every N frames, the
  mesh tracking in between), with their landmark disagreement in inter-ocular distances.
Results: bench/results/generate.json.

    python -m bench.generate --gallery [--frames 90]

writes bench/results/gallery-timing.png instead: rows are the frames where the head moved most
between the detection Deep-Live-Cam's live loop pastes and the frame itself; columns are the
real, the fake at each ``--timing`` (exact, video, live) and |live - exact| x 4, face crops side
by side (mesh swapper, astronaut onto a talking head). It prints each timing's face-region mean
difference from ``exact``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from vcbench.samples import talking_head


def live_pass(clip: Path, out: Path, swapper=None, backend=None, every: int = 1) -> float:
    """decode -> (track -> swap) -> encode, one frame at a time; returns frames/s."""
    from vcbench.generate.target import master_codec_args
    from vcbench.video import VideoWriter, iter_frames, probe

    args = master_codec_args()
    n, t = 0, time.perf_counter()
    if backend is not None:
        backend.reset()
    with VideoWriter(out, probe(clip).fps, codec_args=args) as w:
        for i, rgb in iter_frames(clip):
            if swapper is not None:
                faces = backend.detect(rgb, run_detector=(i % every == 0))
                rgb, _ = swapper.swap(rgb, faces)
            w.write(rgb)
            n += 1
    return n / (time.perf_counter() - t)


def pipeline_fps(clip: Path, out: Path) -> float:
    """``vcbench generate`` (clean preset, mesh): target frames per second for writing the real
    and the fake (two decodes of the target, two encodes, quality stats, track cache)."""
    from skimage import data
    import cv2

    from vcbench.generate.config import resolve_config
    from vcbench.generate.pipeline import generate
    from vcbench.video import probe

    src = out / "src" / "astronaut.png"
    src.parent.mkdir(parents=True)
    cv2.imwrite(str(src), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cfg = resolve_config(None, source=src, target=clip, out=out / "ds", cache_dir=out / "cache")
    t = time.perf_counter()
    generate(cfg)
    return probe(clip).frames / (time.perf_counter() - t)


def analysis(clip: Path, every: int) -> dict:
    """Per-frame stateless detection vs detect-every-N tracking: speed and landmark agreement."""
    from vcbench.faces.mediapipe_backend import MediapipeBackend
    from vcbench.video import read_frames

    frames = read_frames(clip)
    out = {}
    per_frame = MediapipeBackend(video=False)            # no temporal state: every frame from scratch
    tracked = MediapipeBackend(video=True)
    t = time.perf_counter()
    ref = [per_frame.detect(f) for f in frames]
    out["per_frame_fps"] = round(len(frames) / (time.perf_counter() - t), 1)
    tracked.reset()
    t = time.perf_counter()
    got = [tracked.detect(f, run_detector=(i % every == 0)) for i, f in enumerate(frames)]
    out[f"track_every{every}_fps"] = round(len(frames) / (time.perf_counter() - t), 1)
    errs, missed = [], 0
    for a, b in zip(ref, got):
        if not a:
            continue
        if not b:
            missed += 1
            continue
        fa = max(a, key=lambda f: f.area)
        fb = min(b, key=lambda f: np.abs(f.box - fa.box).sum())
        iod = np.linalg.norm(fa.kps[1] - fa.kps[0])
        errs.append(float(np.abs(fa.kps - fb.kps).max(1).mean() / iod))
    out["kps_disagreement_iod"] = round(float(np.median(errs)), 4) if errs else None
    out["frames_missed_by_tracking"] = missed
    return out


def timing_gallery(clip: Path, out: Path, rows: int = 4, cell: int = 192) -> dict:
    """The real / fake-at-each-timing face crops of the ``rows`` frames with the most lag motion."""
    import cv2
    from skimage import data

    from vcbench.faces.align import enlarge_box
    from vcbench.faces.mediapipe_backend import MediapipeBackend
    from vcbench.generate.swap.mesh import MeshSwapper
    from vcbench.generate.timing import TIMINGS, detection_frame, timed_faces
    from vcbench.video import probe, read_frames

    frames = read_frames(clip)
    fps = probe(clip).fps
    backend = MediapipeBackend()
    per_frame = [backend.detect(f) for f in frames]
    swapper = MeshSwapper()
    swapper.set_source(data.astronaut(), "astronaut")
    order = ("exact", "video", "live")
    assert set(order) == set(TIMINGS)
    fakes = {t: [swapper.swap(f, faces)[0] for f, faces in zip(frames, timed_faces(per_frame, t, fps))]
             for t in order}
    motion = []
    for i in range(len(frames)):
        j = detection_frame(i, "live", fps)
        if j >= 0 and j != i and per_frame[i] and per_frame[j]:
            motion.append((float(np.linalg.norm(per_frame[i][0].kps - per_frame[j][0].kps, axis=1).mean()), i))
    picked = sorted(i for _, i in sorted(motion, reverse=True)[:rows])
    grid, stats = [], {t: [] for t in order}
    for i in picked:
        h, w = frames[i].shape[:2]
        x0, y0, x1, y1 = enlarge_box(per_frame[i][0].box, 1.6, w, h)
        crops = [frames[i]] + [fakes[t][i] for t in order]
        diff = np.clip(np.abs(fakes["live"][i].astype(int) - fakes["exact"][i].astype(int)) * 4, 0, 255).astype(np.uint8)
        row = [cv2.resize(np.ascontiguousarray(c[y0:y1, x0:x1]), (cell, cell)) for c in crops + [diff]]
        grid.append(np.hstack(row))
        for t in order:
            stats[t].append(float(np.abs(fakes[t][i].astype(int) - fakes["exact"][i].astype(int))[y0:y1, x0:x1].mean()))
    head = np.full((28, cell * 5, 3), 255, np.uint8)
    for k, label in enumerate(["real", "exact", "video", "live", "|live - exact| x 4"]):
        cv2.putText(head, label, (k * cell + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.vstack([head] + grid), cv2.COLOR_RGB2BGR))
    return {"frames": picked, "face_mean_diff_vs_exact": {t: round(float(np.mean(v)), 2) for t, v in stats.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--sizes", default="640x360,1280x720")
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--gallery", action="store_true", help="write the --timing gallery only")
    a = ap.parse_args()
    if a.gallery:
        with tempfile.TemporaryDirectory() as td:
            clip = talking_head(Path(td) / "clip.mp4", (640, 360), min(a.frames, 90))
            out = Path("bench/results/gallery-timing.png")
            print(json.dumps(timing_gallery(clip, out)))
            print(f"wrote {out}")
        return
    from skimage import data

    from vcbench.faces.mediapipe_backend import MediapipeBackend
    from vcbench.generate.swap.inswapper import InswapperSwapper, find_inswapper
    from vcbench.generate.swap.mesh import MeshSwapper

    results: dict = {"frames": a.frames, "every": a.every}
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        real = find_inswapper()
        if real is not None:
            insw, insw_label = InswapperSwapper(model=real), "inswapper_128.onnx"
        else:
            from tests.standins import make_arcface, make_inswapper

            insw = InswapperSwapper(model=make_inswapper(td / "inswapper_128.onnx"),
                                    arcface=make_arcface(td / "arcface.onnx"))
            insw_label = "stand-in ONNX (trivial graph: paste-back and I/O only)"
        mesh = MeshSwapper()
        mesh.set_source(data.astronaut(), "astronaut")
        insw.set_source(data.astronaut(), "astronaut")
        results["inswapper_model"] = insw_label
        for size in a.sizes.split(","):
            w, h = (int(x) for x in size.split("x"))
            clip = talking_head(td / f"clip{size}.mp4", (w, h), a.frames)
            be = MediapipeBackend()
            r = {"transcode_fps": round(live_pass(clip, td / "t.mp4"), 1)}
            r["mesh_fps"] = round(live_pass(clip, td / "m.mp4", mesh, be), 1)
            r[f"mesh_every{a.every}_fps"] = round(live_pass(clip, td / "m5.mp4", mesh, be, a.every), 1)
            r["inswapper_fps"] = round(live_pass(clip, td / "i.mp4", insw, be), 1)
            r["generate_fps"] = round(pipeline_fps(clip, td / f"gen{size}"), 1)
            r.update(analysis(clip, a.every))
            r["mesh_vs_transcode"] = round(r["mesh_fps"] / r["transcode_fps"], 3)
            r["tracking_speedup"] = round(r[f"track_every{a.every}_fps"] / r["per_frame_fps"], 2)
            results[size] = r
            print(size, json.dumps(r))
    out = Path("bench/results/generate.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"inswapper: {insw_label}")
    print(f"wrote {out}")


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite/OpenCV lines off the figures (as the CLI does)
    main()
