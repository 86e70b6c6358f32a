import csv

import numpy as np
import pytest
import torch

from vcbench.cli import cli
from vcbench.faces.align import umeyama
from vcbench.models.preprocess import (Preprocess, crop_box, cut_crops, padded_rows, track_windows,
                                       window_starts)

from conftest import has_mediapipe

needs_mediapipe = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    a = np.deg2rad(17)
    m = np.array([[1.7 * np.cos(a), -1.7 * np.sin(a), 12.0], [1.7 * np.sin(a), 1.7 * np.cos(a), -4.0]])
    dst = src @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(umeyama(src, dst), m, atol=1e-9)


# --- an independent implementation of the release's clip alignment (reference/altfreezing.md) -------

STD_256 = np.array([[85.82991, 115.7792], [169.0532, 114.3381], [127.574, 167.0006], [90.6964, 204.7014],
                    [167.3069, 203.3733]]) + 30 - np.array([30, 60])     # x-ray template, padded, shifted


def release_crop_box(box, w, h):
    x1, y1, x2, y2 = (int(v) for v in np.rint(box))
    bw, bh = x2 - x1, y2 - y1
    out = [min(max(x1 - 0.5 * bw, 0), w - 1), min(max(y1 - 0.5 * bh, 0), h - 1),
           min(max(x2 + 0.5 * bw, 0), w - 1), min(max(y2 + 0.5 * bh, 0), h - 1)]
    return [int(v) for v in np.rint(out)]


def release_clip(frames, boxes, kps, size=224):
    """Crops pasted into one canvas per frame at their offset from the clip's minimum top-left;
    one non-reflective similarity fitted template -> image by complex least squares, inverted."""
    import cv2

    h, w = frames[0].shape[:2]
    cbs = np.array([release_crop_box(b, w, h) for b in boxes])
    origin = cbs[:, :2].min(0)
    cw, ch = cbs[:, 2:].max(0) - origin
    pts = (np.asarray(kps, np.float64) - origin).reshape(-1, 2)
    tpl = np.tile(STD_256 * size / 256.0, (len(frames), 1))
    zp, zt = pts[:, 0] + 1j * pts[:, 1], tpl[:, 0] + 1j * tpl[:, 1]
    (a, b), *_ = np.linalg.lstsq(np.stack([zt, np.ones_like(zt)], 1), zp, rcond=None)   # zp ~ a zt + b
    inv = 1 / a                                                                           # zt = (zp - b) / a
    m = np.array([[inv.real, -inv.imag, 0.0], [inv.imag, inv.real, 0.0]])
    m[:, 2] = -m[:, :2] @ np.array([b.real, b.imag])
    out = []
    for f, cb in zip(frames, cbs):
        canvas = np.zeros((ch, cw, 3), np.uint8)
        crop = f[cb[1]:cb[3], cb[0]:cb[2]]
        dx, dy = cb[:2] - origin
        canvas[dy:dy + crop.shape[0], dx:dx + crop.shape[1]] = crop
        out.append(cv2.warpAffine(canvas, m, (size, size)))
    return np.stack(out)


def _moving_head(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Strong head motion from real frames: up to +-20 degrees of roll and 30 px of sway."""
    import cv2

    out = []
    h, w = frames[0].shape[:2]
    for i, f in enumerate(frames):
        big = cv2.resize(f, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
        ang = 20 * np.sin(i / 6.0)
        m = cv2.getRotationMatrix2D((w, h), ang, 1.0 + 0.15 * np.sin(i / 9.0))
        m[0, 2] += 30 * np.sin(i / 5.0)
        out.append(cv2.warpAffine(big, m, (w * 2, h * 2), borderMode=cv2.BORDER_REFLECT))
    return out


def _tracks_of(frames):
    from vcbench.faces.mediapipe_backend import MediapipeBackend
    from vcbench.faces.tracking import build_tracks

    be = MediapipeBackend()
    per_frame = [be.detect(f) for f in frames]
    be.close()
    return build_tracks(per_frame)


@needs_mediapipe
@pytest.mark.parametrize("motion", [False, True], ids=["carphone", "strong-head-motion"])
def test_clip_alignment_equals_the_release(carphone, motion):
    from vcbench.video import iter_frames

    frames = [f for _, f in iter_frames(carphone)]
    if motion:
        frames = _moving_head(frames[:64])
    track = max(_tracks_of(frames), key=len)
    assert len(track) >= 40
    pp = Preprocess()
    tc = {t.track_id: t for t in cut_crops(enumerate(frames), [track], pp)}[track.track_id]
    windows = track_windows(len(track), 32, "dense")
    assert len(windows) == len(track) - 31
    diffs = []
    for rows in windows:
        ours = tc.clip(rows, pp)
        ref = release_clip([frames[int(track.frames[r])] for r in rows], track.boxes[rows], track.kps[rows])
        diffs.append(np.abs(ours.astype(np.int16) - ref.astype(np.int16)).mean())
    assert max(diffs) <= 0.5, f"worst window differs by {max(diffs):.3f}/255"
    # and the old construction (per-frame crop coordinates, image -> template) really is far off
    if motion:
        from vcbench.faces.align import enlarge_box
        import cv2

        rows = windows[len(windows) // 2]
        crops, pts = [], []
        for r in rows:
            f = frames[int(track.frames[r])]
            x1, y1, x2, y2 = enlarge_box(track.boxes[r], 2.0, f.shape[1], f.shape[0])
            crops.append(f[y1:y2, x1:x2])
            pts.append(track.kps[r] - [x1, y1])
        m = umeyama(np.concatenate(pts), np.tile(pp.template_px(), (32, 1)))
        old = np.stack([cv2.warpAffine(c, m, (224, 224)) for c in crops])
        ref = release_clip([frames[int(track.frames[r])] for r in rows], track.boxes[rows], track.kps[rows])
        assert np.abs(old.astype(np.int16) - ref.astype(np.int16)).mean() > 5


def test_crop_box_rounds_clips_to_the_last_pixel_and_rounds_again():
    for box in ([40, 40, 60, 80], [3.4, 5.6, 90.5, 99.5], [0, 0, 10, 10], [150.2, 100.7, 175.9, 143.9]):
        assert crop_box(np.array(box), 176, 144).tolist() == release_crop_box(box, 176, 144)
    assert crop_box(np.array([40, 40, 60, 80]), 100, 100).tolist() == [30, 20, 70, 99]


def test_short_tracks_are_mirror_padded_by_clip_len_minus_one_on_each_side():
    def reference(n, length):   # a stretch of the bounce 0..n-1..1 0..n-1.. with row 0 at position length-1
        cycle = list(range(n)) + list(range(n - 2, 0, -1))
        return [cycle[(k - (length - 1)) % len(cycle)] for k in range(n + 2 * (length - 1))]

    assert padded_rows(40, 32) == list(range(40))
    assert padded_rows(3, 4) == [1, 2, 1, 0, 1, 2, 1, 0, 1]     # worked by hand from the release's demo
    for n in (1, 2, 3, 5, 17, 31):
        assert padded_rows(n, 32) == reference(n, 32), n
    assert padded_rows(1, 8) == [0] * 15
    assert len(track_windows(5, 32, "dense")) == 5 + 62 - 31     # every window of the padded sequence
    assert len(track_windows(5, 32, "sparse", 4)) == 4


def test_window_starts():
    assert window_starts(40, 32, "dense") == list(range(9))
    assert window_starts(100, 32, "sparse", 3) == [0, 34, 68]
    assert window_starts(32, 32, "sparse", 4) == [0]
    assert window_starts(10, 32, "dense") == []


def test_release_tracking_and_aggregation():
    from vcbench.faces.tracking import Track, VideoTracks
    from vcbench.scoring import TrackScore, VideoScore, select_tracks

    def tr(i, first, n):
        return Track(i, np.arange(first, first + n), np.zeros((n, 4), np.float32), np.zeros((n, 5, 2), np.float32),
                     np.ones(n, np.float32))

    full = VideoTracks("v", 100, "d", [tr(0, 0, 100), tr(1, 0, 100), tr(2, 10, 50)])
    assert [t.track_id for t in select_tracks(full, "release")] == [0, 1]
    broken = VideoTracks("v", 100, "d", [tr(0, 0, 30), tr(1, 35, 60), tr(2, 20, 10)])
    assert [t.track_id for t in select_tracks(broken, "release")] == [1]     # the longest consistent segment
    assert len(select_tracks(broken, "all")) == 3
    v = VideoScore("v", [TrackScore(0, 0, 9, 3, False, 0.2, [0.1, 0.2, 0.3]), TrackScore(1, 0, 9, 1, False, 0.9, [0.9])],
                   "dense")
    assert v.score == pytest.approx(np.mean([0.1, 0.2, 0.3, 0.9]))            # every clip of every track
    v.aggregate = "max-track"
    assert v.score == pytest.approx(0.9)


def _tiny_checkpoint(tmp_path):
    from vcbench.models.altfreezing import build_altfreezing
    from vcbench.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(build_altfreezing("altfreezing-tiny"), tmp_path / "tiny.pth")


@needs_mediapipe
def test_score_cli_on_a_real_face_video(tmp_path, carphone, tiny_video, cli_runner):
    ck = _tiny_checkpoint(tmp_path)
    tl = tmp_path / "timeline.csv"
    dump = tmp_path / "clips"
    r = cli_runner.invoke(cli, ["score", str(carphone), str(tiny_video), "--model", "altfreezing-tiny",
                                "--checkpoint", str(ck), "--mode", "dense", "--timeline", str(tl), "--device", "cpu",
                                "--dump-clips", str(dump), "--cache-dir", str(tmp_path / "cache"),
                                "-o", str(tmp_path / "scores.csv")])
    assert r.exit_code == 1, r.output                       # the face-less clip fails, by name
    assert f"{tiny_video}: no face found" in r.output and "Traceback" not in r.output
    assert "2 videos: 1 done, 1 failed" in r.output
    line = next(l for l in r.output.splitlines() if l.startswith(str(carphone)))
    assert "track 0" in line and "113 clip(s)" in line       # 120 frames, 8-frame windows at stride 1
    score = float(line.split(": ")[1].split()[0])
    assert 0.0 < score < 1.0
    rows = list(csv.DictReader(open(tl)))
    assert len(rows) == 120 and {r["video"] for r in rows} == {str(carphone)}
    (row,) = list(csv.DictReader(open(tmp_path / "scores.csv")))
    assert row["video"] == str(carphone) and float(row["score"]) == pytest.approx(score, abs=1e-4)
    from vcbench.runtime import resolve_precision

    assert (row["aggregate"], row["clips"], row["mode"], row["precision"], row["tracking"]) == (
        "mean", "113", "dense", resolve_precision("auto", "cpu"), "release")     # written resolved, never "auto"
    import hashlib

    assert row["checkpoint_sha256"] == hashlib.sha256(ck.read_bytes()).hexdigest() and row["track_scores"].startswith("0:")
    # what the network saw: one file per clip, the uint8 clip, its frames, boxes and points
    files = sorted((dump / carphone.stem).glob("t0_s*.npz"), key=lambda p: int(p.stem.split("_s")[1]))
    assert len(files) == 113 and files[0].name == "t0_s0.npz" and files[-1].name == "t0_s112.npz"
    from vcbench.faces.tracking import track_video

    track = track_video(carphone, cache_dir=tmp_path / "cache").tracks[0]
    with np.load(files[5]) as z:
        assert z["clip"].shape == (8, 64, 64, 3) and z["clip"].dtype == np.uint8
        np.testing.assert_array_equal(z["frames"], np.arange(5, 13))
        np.testing.assert_allclose(z["boxes"], track.boxes[5:13])
        np.testing.assert_allclose(z["kps"], track.kps[5:13])
        assert z["clip"].mean() > 20                          # a face, not a black border


@needs_mediapipe
def test_sparse_scores_four_windows_and_precision_is_a_choice(tmp_path, carphone):
    from vcbench.models import load_network
    from vcbench.scoring import score_videos

    net = load_network("altfreezing-tiny", _tiny_checkpoint(tmp_path))
    cache = tmp_path / "cache"
    (a,), ok = score_videos([carphone], network=net, mode="sparse", device="cpu", cache_dir=cache)
    assert ok.ok and a.n_clips == 4
    (b,), _ = score_videos([carphone], network=net, mode="sparse", device="cpu", cache_dir=cache, precision="bf16")
    assert b.score == pytest.approx(a.score, abs=0.02)


@needs_mediapipe
def test_a_model_failing_mid_run_returns_its_error_and_stops_the_decoder(tmp_path, carphone):
    import threading

    from vcbench.models import load_network
    from vcbench.scoring import score_videos

    net = load_network("altfreezing-tiny", _tiny_checkpoint(tmp_path))
    calls = []

    def boom(x):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("device lost")
        return torch.zeros(x.shape[0], 1)

    net.forward = boom
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="device lost"):
        score_videos([carphone] * 6, network=net, mode="dense", device="cpu", batch_size=2,
                     cache_dir=tmp_path / "cache")
    assert threading.active_count() <= before, "the producer thread must end, not block on a full queue"


@needs_mediapipe
def test_whole_video_cache_serves_a_frame_limit_and_any_detect_interval(tmp_path, carphone, monkeypatch):
    import shutil

    from vcbench.faces import tracking

    full = tracking.track_video(carphone, cache_dir=tmp_path, detect_every=5)
    moved = tmp_path / "elsewhere" / "renamed.mp4"
    moved.parent.mkdir()
    shutil.copyfile(carphone, moved)
    calls = []
    monkeypatch.setattr(tracking, "detect_video", lambda *a, **k: calls.append(a) or ([], 0))
    cut = tracking.track_video(moved, max_frames=50, cache_dir=tmp_path, min_len=10)
    assert not calls, "the cached whole-video tracks must serve a moved copy and any interval"
    assert cut.n_frames == 50 and [len(t) for t in cut.tracks] == [min(len(t), 50) for t in full.tracks]
    np.testing.assert_array_equal(cut.tracks[0].boxes, full.tracks[0].boxes[:50])
    assert cut.detect_every == 5
    tracking.track_video(moved, cache_dir=tmp_path, detect_every=1)       # an explicit other interval: redo
    assert len(calls) == 1


@needs_mediapipe
def test_score_refuses_random_weights_unless_asked(tmp_path, carphone, cli_runner):
    args = ["score", str(carphone), "--model", "altfreezing-tiny", "--cache-dir", str(tmp_path / "c"), "--device", "cpu"]
    r = cli_runner.invoke(cli, args)
    assert r.exit_code != 0 and "no --checkpoint" in r.output and "vcbench doctor" in r.output
    assert "--untrained" in r.output and "Traceback" not in r.output
    a = cli_runner.invoke(cli, args + ["--untrained", "-o", str(tmp_path / "a.json")])
    b = cli_runner.invoke(cli, args + ["--untrained", "-o", str(tmp_path / "b.json")])
    assert a.exit_code == 0 and b.exit_code == 0 and "pipeline check" in a.output, a.output
    import json

    sa, sb = (json.loads((tmp_path / f).read_text())[0]["score"] for f in ("a.json", "b.json"))
    assert sa == sb, "an untrained network starts from a fixed seed: the same command, the same number"
