"""The annotated score video: every frame of the input, each face's box coloured by its running
score (mean of the last ``smooth`` windows ending by that frame), the map of that frame laid
over the face (from the window centred nearest to it, warped back through the crop's transform),
and along the bottom the score timeline with the threshold and the call's events (freezes,
keyframes, resolution switches) where the simulator wrote them (``<video>.events.jsonl``).
H.264, the input's frame count and rate."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np


def running_curves(ex, smooth: int) -> dict[str, np.ndarray]:
    """Per track ``#id``: the running score at every frame, as ``vcbench watch`` keeps it
    (``alarms.running``: the mean of the last ``smooth`` windows ended by then; NaN before there
    are ``smooth`` of them and after its face leaves)."""
    from ..alarms import running

    curves = {}
    for tid in sorted(set(ex.track)):
        idx = sorted((i for i, t in enumerate(ex.track) if t == tid), key=lambda i: int(ex.frames[i].max()))
        ends = [int(ex.frames[i].max()) for i in idx]
        run = running([ex.score[i] for i in idx], smooth)
        curve = np.full(max(ex.n_frames, ends[-1] + 1), np.nan)
        for e, r in zip(ends, run):
            curve[e:ends[-1] + 1] = r
        curves[f"#{tid}"] = curve
    return curves


def frame_maps(ex) -> dict[int, list[tuple[int, int, int]]]:
    """frame -> [(track, window index, position in the window)], the window centred nearest."""
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    for i, fr in enumerate(ex.frames):
        centre = (len(fr) - 1) / 2
        for p, f in enumerate(fr):
            key, d = (ex.track[i], int(f)), abs(p - centre)
            if key not in best or d < best[key][0]:
                best[key] = (d, i, p)
    out: dict[int, list] = defaultdict(list)
    for (tid, f), (_, i, p) in sorted(best.items()):
        out[f].append((tid, i, p))
    return out


def render_video(ex, path: Path, threshold: float, smooth: int, still: int | None = None) -> tuple[Path, Path | None]:
    """Write the annotated video; with ``still``, also that frame as ``<path stem>.frame<N>.png``."""
    import cv2

    from ..contracts import call_event_marks, read_call_events
    from ..overlay import blend_heat, draw_face, draw_text, score_colour, timeline
    from ..video import VideoWriter, iter_frames

    w, h = ex.size
    curves = running_curves(ex, smooth)
    where = frame_maps(ex)
    events = read_call_events(ex.video)
    marks = call_event_marks(events, ex.fps) if events else {}
    strip_h = max(48, (h // 5) // 2 * 2)
    writer = VideoWriter(path, ex.fps)
    ok, png = False, None
    try:
        for f, rgb in iter_frames(ex.video):
            if rgb.shape[:2] != (h, w):
                rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
            heat = np.zeros((h, w), np.float32)
            for _, i, p in where.get(f, ()):
                m = ex.maps[i][p].astype(np.float32)
                heat = np.maximum(heat, cv2.warpAffine(m, ex.to_map[i][p].astype(np.float64), (w, h),
                                                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0))
            img = blend_heat(rgb, heat, 0.5) if heat.max() > 0 else rgb.copy()
            for tid, i, p in where.get(f, ()):
                c = curves[f"#{tid}"]
                r = float(c[f]) if f < len(c) and np.isfinite(c[f]) else None
                alarm = r is not None and r >= threshold
                draw_face(img, ex.boxes[i][p], f"#{tid} " + ("..." if r is None else f"{r:.2f}"), score_colour(r, alarm))
            draw_text(img, f"frame {f}  t {f / ex.fps:.2f} s  thr {threshold:.2f}")
            tl = timeline(w, strip_h, ex.n_frames, curves, threshold, marks, now=f)
            shot = np.concatenate([img, tl], axis=0)
            writer.write(shot)
            if still is not None and f == still:
                from ..models.explain import write_png

                png = write_png(shot, Path(path).with_name(f"{Path(path).stem}.frame{f}.png"))
        ok = True
    finally:
        if ok:
            writer.close()
        else:
            writer.abort()
    return Path(path), png
