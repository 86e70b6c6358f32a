"""What the watch tests share (a pytest plugin of conftest's): a stand-in detector that fires on a
green marker (``marker-standin``, registered by the ``marker_detector`` fixture), and ``marked``,
6 s of a talking head that shows the marker from 3 s on."""
from __future__ import annotations

import numpy as np
import pytest

from vcbench.detectors import DETECTORS, Detector
from vcbench.models.preprocess import Preprocess

FPS, MARK_AT, CLIP, STRIDE = 30, 90, 8, 8          # the marker appears at frame 90 = 3.0 s


class MarkerScorer:
    """Probability of fake = the share of a window's frames showing the green marker."""

    preprocess = Preprocess(clip_len=CLIP, size=64, crop="box", box_scale=1.2, mean=(0, 0, 0), std=(1, 1, 1))

    def __call__(self, clips):
        c = clips.astype(np.int16)
        green = (c[..., 1] > 150) & (c[..., 0] < 110) & (c[..., 2] < 110)       # (N, T, S, S)
        return (green.mean(axis=(2, 3)) > 0.01).mean(axis=1)


class MarkerDetector(Detector):
    kind = "stand-in"

    @classmethod
    def build(cls, name, value, spec, settings, **meta):
        return cls(name, spec, settings)

    def predict_batch(self, paths, ids, tracks=None):
        raise AssertionError("watch scores windows, never files")

    def window_scorer(self):
        return MarkerScorer()


@pytest.fixture(scope="module")
def marker_detector():
    DETECTORS.register("marker-standin", MarkerDetector, help="test stand-in")
    yield
    DETECTORS._entries.pop("marker-standin", None)


@pytest.fixture(scope="module")
def marked(tmp_path_factory, carphone):
    """6 s of a talking head (carphone forward, then backward: one unbroken face track) with a green
    square on the forehead from frame 90 on."""
    from vcbench.faces.tracking import track_video
    from vcbench.video import read_frames, write_video

    root = tmp_path_factory.mktemp("watch")
    frames = read_frames(carphone)
    seq = np.concatenate([frames, frames[::-1]])[:6 * FPS]
    plain = root / "plain.mp4"
    write_video(plain, seq, FPS)
    vt = track_video(plain, cache_dir=False)
    tr = vt.longest()
    assert tr is not None and len(tr) >= 6 * FPS - 2
    out = seq.copy()
    for row, f in enumerate(tr.frames):
        if f < MARK_AT:
            continue
        x1, y1, x2, y2 = tr.boxes[row]
        s = max(4, int((x2 - x1) * 0.22))
        cx, cy = int((x1 + x2) / 2), int(y1 + (y2 - y1) * 0.18)
        out[f, cy - s // 2:cy + s // 2, cx - s // 2:cx + s // 2] = (30, 230, 40)
    path = root / "marked.mp4"
    write_video(path, out, FPS)
    return path


