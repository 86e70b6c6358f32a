import csv

import numpy as np
import pytest
import torch

from vcbench.cli import cli
from vcbench.faces.align import align_clip, enlarge_box, umeyama
from vcbench.scoring import bounce, clip_starts

from conftest import has_mediapipe


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    a = np.deg2rad(17)
    m = np.array([[1.7 * np.cos(a), -1.7 * np.sin(a), 12.0], [1.7 * np.sin(a), 1.7 * np.cos(a), -4.0]])
    dst = src @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(umeyama(src, dst), m, atol=1e-9)


def test_one_transform_per_clip_from_all_landmarks():
    # a face drifting across a clip: per-frame fits would each be exact; one fit per clip averages
    tmpl = [(75.101, 75.057), (147.922, 73.796), (111.627, 119.876), (79.359, 152.864), (146.394, 151.702)]
    base = np.array(tmpl) / 2 - 10   # the output corner maps outside the crop
    kps = np.stack([base + [i, 0] for i in range(4)])
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    out = align_clip([crop] * 4, kps, tmpl, 224)
    assert out.shape == (4, 224, 224, 3)
    assert all(np.array_equal(out[0], out[i]) for i in range(4)), "the same warp for every frame of the clip"
    m = umeyama(kps.reshape(-1, 2), np.tile(tmpl, (4, 1)))
    assert m[0, 0] == pytest.approx(2.0, rel=1e-2)
    assert out[:, 0, 0].max() == 0                             # black border outside the crop


def test_box_enlarged_by_half_each_side_and_clipped():
    assert enlarge_box(np.array([40, 40, 60, 80]), 2.0, 100, 100) == (30, 20, 70, 100)


def test_bounce_and_clip_starts():
    assert bounce(3, 8) == [0, 1, 2, 1, 0, 1, 2, 1]
    assert clip_starts(40, 32, "dense") == list(range(9))
    assert clip_starts(100, 32, "sparse", 3) == [0, 34, 68]
    assert clip_starts(10, 32, "sparse", 4) == [0]


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_score_cli_on_a_real_face_video(tmp_path, carphone, tiny_video, cli_runner, monkeypatch):
    from vcbench.models.altfreezing import build_altfreezing
    from vcbench.models.checkpoint import save_checkpoint

    monkeypatch.setenv("VCBENCH_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    ck = save_checkpoint(build_altfreezing("altfreezing-tiny"), tmp_path / "tiny.pth")
    tl = tmp_path / "timeline.csv"
    r = cli_runner.invoke(cli, ["score", str(carphone), str(tiny_video), "--model", "altfreezing-tiny",
                                "--checkpoint", str(ck), "--mode", "dense", "--timeline", str(tl), "--device", "cpu"])
    assert r.exit_code == 1, r.output                       # the face-less clip fails, by name
    assert f"{tiny_video}: no face found" in r.output and "Traceback" not in r.output
    line = next(l for l in r.output.splitlines() if l.startswith(str(carphone)))
    assert "track 0" in line and "113 clip(s)" in line       # 120 frames, 8-frame windows at stride 1
    score = float(line.split(": ")[1].split()[0])
    assert 0.0 < score < 1.0
    rows = list(csv.DictReader(open(tl)))
    assert len(rows) == 120 and {r["video"] for r in rows} == {str(carphone)}
    frame_scores = np.array([float(r["score"]) for r in rows])
    assert np.mean(frame_scores) == pytest.approx(score, abs=0.05)


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_whole_video_cache_serves_a_frame_limit(tmp_path, carphone, monkeypatch):
    from vcbench.faces import tracking

    full = tracking.track_video(carphone, cache_dir=tmp_path)
    calls = []
    monkeypatch.setattr(tracking, "detect_video", lambda *a, **k: calls.append(a) or ([], 0))
    cut = tracking.track_video(carphone, max_frames=50, cache_dir=tmp_path, min_len=10)
    assert not calls, "the cached whole-video tracks must be reused, not recomputed"
    assert cut.n_frames == 50 and [len(t) for t in cut.tracks] == [min(len(t), 50) for t in full.tracks]
    np.testing.assert_array_equal(cut.tracks[0].boxes, full.tracks[0].boxes[:50])
