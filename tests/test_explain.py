"""vcbench explain: Grad-CAM maps that pass the sanity checks (a network that only sees one region
is explained in that region; maps depend on the learned weights, Adebayo et al.'s randomisation
test; a frame the call froze gets the map of the frame it repeats), the files it writes (npz,
strips, the annotated score video with the input's frame count), and the simulators' event track
its timeline reads."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from vcbench.cli import cli
from vcbench.models.cam import cam, frame_importance
from vcbench.models.preprocess import Preprocess

from conftest import has_mediapipe

needs_faces = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")


class RegionNet(nn.Module):
    """A 3D stand-in whose logit depends only on the clip's pixels inside ``region`` (y0, y1, x0, x1):
    the input is masked before its convolution."""

    def __init__(self, region, size=32, t=8):
        super().__init__()
        self.preprocess = Preprocess(clip_len=t, size=size, crop="box", mean=(0, 0, 0), std=(1, 1, 1))
        mask = torch.zeros(1, 1, 1, size, size)
        y0, y1, x0, x1 = region
        mask[..., y0:y1, x0:x1] = 1
        self.register_buffer("mask", mask)
        self.conv = nn.Conv3d(3, 8, 3, padding=1, bias=False)
        self.fc = nn.Linear(8, 1)

    def forward_features(self, x):
        return torch.relu(self.conv(x * self.mask))

    def forward_head(self, a):
        return self.fc(a.mean(dim=(2, 3, 4)))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class TinyNet(nn.Module):
    """A small 3D CNN trained in the test (the randomisation check needs learned weights)."""

    def __init__(self):
        super().__init__()
        self.preprocess = Preprocess(clip_len=4, size=32, crop="box", mean=(0, 0, 0), std=(1, 1, 1))
        self.body = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv3d(8, 16, 3, stride=(1, 2, 2), padding=1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(16, 1)

    def forward_features(self, x):
        return self.body(x)

    def forward_head(self, a):
        return self.fc(a.mean(dim=(2, 3, 4)))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def _marked_clips(n, rng, mark=True):
    """(n, 3, 4, 32, 32) noise; with ``mark`` a bright 6 x 6 square at a random place per clip."""
    x = torch.from_numpy(rng.uniform(0, 0.5, (n, 3, 4, 32, 32)).astype(np.float32))
    where = []
    for i in range(n):
        y, xx = (int(v) for v in rng.integers(2, 24, 2))
        if mark:
            x[i, :, :, y:y + 6, xx:xx + 6] = 1.0
        where.append((y, xx))
    return x, where


def _spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)).astype(np.float64), np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
@pytest.mark.parametrize("region", [(0, 12, 0, 12), (18, 32, 16, 32)])
def test_a_network_that_sees_one_region_is_explained_there(method, region):
    torch.manual_seed(0)
    net = RegionNet(region).eval()
    x = torch.randn(3, 3, 8, 32, 32)
    maps, logits = cam(net, x, method)
    assert maps.shape == (3, 8, 32, 32) and maps.min() >= 0 and maps.max() <= 1
    with torch.no_grad():
        assert np.allclose(logits, net(x)[:, 0].numpy(), atol=1e-5)          # the map's pass is the score's
    y0, y1, x0, x1 = region
    for m in maps:
        t, yy, xx = np.unravel_index(np.argmax(m), m.shape)
        assert y0 <= yy < y1 and x0 <= xx < x1, (region, (yy, xx))
        outside = m.copy()
        outside[:, max(y0 - 2, 0):y1 + 2, max(x0 - 2, 0):x1 + 2] = 0          # the conv's 1-pixel reach, upsampled
        assert outside.max() < 1e-6
    imp = frame_importance(maps)
    assert imp.shape == (3, 8) and np.allclose(imp.sum(1), 1)


def test_maps_depend_on_the_learned_weights_model_randomisation():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    net = TinyNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(150):
        a, _ = _marked_clips(16, rng, True)
        b, _ = _marked_clips(16, rng, False)
        x, y = torch.cat([a, b]), torch.cat([torch.ones(16), torch.zeros(16)])
        loss = nn.functional.binary_cross_entropy_with_logits(net(x)[:, 0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    test, where = _marked_clips(12, rng, True)
    maps, logits = cam(net, test)
    assert (logits > 0).mean() > 0.9                                         # it learned the marker
    hits = 0
    for m, (y, xx) in zip(maps, where):
        _, py, px = np.unravel_index(np.argmax(m), m.shape)
        hits += (y - 3 <= py < y + 9) and (xx - 3 <= px < xx + 9)
    assert hits >= 10                                                        # and the map finds it

    rand = TinyNet()
    torch.manual_seed(123)
    for mod in rand.modules():
        if hasattr(mod, "reset_parameters"):
            mod.reset_parameters()
    rmaps, _ = cam(rand.eval(), test)
    rho = [_spearman(a.reshape(-1), b.reshape(-1)) for a, b in zip(maps, rmaps)]
    assert np.mean(rho) < 0.5, rho


def test_unknown_layer_and_method_say_so():
    from vcbench.errors import ConfigError

    net = TinyNet().eval()
    x = torch.zeros(1, 3, 4, 32, 32)
    m, _ = cam(net, x, layer="body.0")                       # a named module, through a hook
    assert m.shape == (1, 4, 32, 32)
    with pytest.raises(ConfigError, match="did you mean"):
        cam(net, x, layer="body.9")
    with pytest.raises(ConfigError, match="gradcam"):
        cam(net, x, method="saliency")


class FrameNet(nn.Module):
    """A frame detector stand-in (one-frame clips, box crops): a 2D CNN."""

    def __init__(self):
        super().__init__()
        self.preprocess = Preprocess(clip_len=1, size=48, crop="box", box_scale=1.3, input="frames", frames=8,
                                     faces="largest", aggregate="max-face-mean-frame", mean=(0.5, 0.5, 0.5),
                                     std=(0.5, 0.5, 0.5))
        torch.manual_seed(3)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, 8, 3, stride=2, padding=1))
        self.fc = nn.Linear(8, 1)

    def forward_features(self, x):
        return self.body(x[:, :, 0])

    def forward_head(self, a):
        return self.fc(a.mean(dim=(2, 3)))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


@needs_faces
def test_a_frozen_frame_gets_the_map_of_the_frame_it_repeats(carphone, tmp_path):
    from vcbench.contracts import call_event_marks, read_call_events
    from vcbench.conference.simulate import simulate_file
    from vcbench.faces.tracking import LazyBackend
    from vcbench.models.explain import explain_video

    out = tmp_path / "call.mp4"
    stats = simulate_file(carphone, out, "loss-stress", seed=1)
    ev = read_call_events(out)
    assert ev is not None and len(ev) == stats["frames"]
    repeats = [r["frame"] for r in ev if r["repeat"]]
    assert len(repeats) >= 5 and stats["freezes"] >= 1
    assert call_event_marks(ev, stats["fps"])["freeze"] == [a for a, _ in stats["freeze_frames"]]
    assert ev[0]["keyframe"] and all(e["resolution"] == "176x144" and e["kbps"] == 1200 for e in ev)
    lost = [e["lost"] for e in ev]                  # packets the link dropped, per frame where first shown
    assert 0 < sum(lost) <= stats["transport"]["lost"] and call_event_marks(ev, stats["fps"])["loss"]

    ex = explain_video(out, FrameNet().eval(), "cpu", LazyBackend("mediapipe"), cache_dir=tmp_path / "cache")
    by = {(t, int(f[0])): i for i, (t, f) in enumerate(zip(ex.track, ex.frames))}
    tid = max(set(ex.track), key=ex.track.count)
    checked = 0
    for f in repeats:
        if (tid, f) in by and (tid, f - 1) in by:
            a, b = ex.maps[by[tid, f]].astype(np.float32), ex.maps[by[tid, f - 1]].astype(np.float32)
            assert np.array_equal(a, b) and ex.score[by[tid, f]] == ex.score[by[tid, f - 1]]
            checked += 1
    moving = [f for f in range(1, ex.n_frames) if f not in repeats and (tid, f) in by and (tid, f - 1) in by]
    diffs = [np.abs(ex.maps[by[tid, f]].astype(np.float32) - ex.maps[by[tid, f - 1]].astype(np.float32)).max()
             for f in moving]
    assert checked >= 5 and np.mean(diffs) > 0.01          # and a frame that moved gets a map of its own


@needs_faces
def test_explain_writes_maps_strips_and_the_annotated_video(carphone, cli_runner, tmp_path):
    from vcbench.contracts import call_events_path
    from vcbench.conference.simulate import simulate_file
    from vcbench.models import load_network
    from vcbench.models.checkpoint import save_checkpoint
    from vcbench.scoring import score_videos
    from vcbench.video import probe

    call = tmp_path / "call.mp4"
    simulate_file(carphone, call, "loss-stress", seed=1)
    assert call_events_path(call).is_file()
    torch.manual_seed(0)
    net = load_network("altfreezing-tiny", None, "cpu")
    ckpt = save_checkpoint(net, tmp_path / "best.pth", {"threshold": 0.47, "threshold_from": "val"})
    before, _ = score_videos([call], "altfreezing-tiny", ckpt, device="cpu", mode="dense", precision="fp32",
                             cache_dir=tmp_path / "cache")
    out = tmp_path / "ex"
    r = cli_runner.invoke(cli, ["explain", str(call), str(tmp_path / "missing.mp4"), "--checkpoint", str(ckpt), "-o",
                                str(out), "--video", "--still", "50", "--device", "cpu", "--cache-dir",
                                str(tmp_path / "cache")])
    assert r.exit_code == 1, r.output                       # the missing video fails, named; the other is done
    assert "missing.mp4: no such file" in r.output and "2 videos: 1 done, 1 failed" in r.output
    assert "Traceback" not in r.output
    rec = json.loads((out / "explain.json").read_text())
    assert rec["threshold"] == 0.47 and rec["config"]["method"] == "gradcam"
    status = json.loads((out / "explain.status.json").read_text())
    assert status["state"] == "failed" and status["counts"] == {"done": 1, "skipped": 0, "failed": 1}
    made = {f: f.stat().st_mtime_ns for f in out.glob("call.*")}
    again = ["explain", str(call), "--checkpoint", str(ckpt), "-o", str(out), "--video", "--still", "50", "--device",
             "cpu", "--cache-dir", str(tmp_path / "cache")]
    r = cli_runner.invoke(cli, again)                       # a re-run: nothing to do, nothing rewritten
    assert r.exit_code == 0 and "already explained" in r.output and "1 already done" in r.output, r.output
    assert {f: f.stat().st_mtime_ns for f in out.glob("call.*")} == made
    assert json.loads((out / "explain.json").read_text())["videos"][0]["score"] == rec["videos"][0]["score"]
    r = cli_runner.invoke(cli, again + ["--method", "gradcam++"])
    assert r.exit_code == 1 and "method" in r.output and "another configuration" in r.output
    z = np.load(out / "call.npz")
    n, t = z["frames"].shape
    assert z["maps"].dtype == np.float16 and z["maps"].shape == (n, t, 56, 56) and t == 8
    assert 0 <= float(z["maps"].min()) and float(z["maps"].max()) <= 1
    assert z["to_map"].shape == (n, t, 2, 3) and z["boxes"].shape == (n, t, 4)
    assert np.allclose(z["importance"].sum(1), 1, atol=1e-4)
    # explaining changes no score: the dense windows' fp32 probabilities are the scorer's
    assert abs(float(z["score"].mean()) - before[0].score) < 1e-4
    # score --timeline carries the call's events frame by frame
    import csv

    from vcbench.contracts import read_call_events
    from vcbench.scoring import write_timeline

    write_timeline(before, tmp_path / "tl.csv")
    ev = {e["frame"]: e for e in read_call_events(call)}
    rows = list(csv.DictReader(open(tmp_path / "tl.csv")))
    assert rows and all(r["repeat"] == str(ev[int(r["frame"])]["repeat"]) and
                        r["source"] == str(ev[int(r["frame"])]["source"]) for r in rows)
    assert any(r["repeat"] == "True" for r in rows)
    meta = json.loads(str(z["meta"]))
    assert meta["n_frames"] == probe(call).frames
    import cv2

    for kind in ("most", "least"):                           # crops above, overlays below, 8 frames
        assert cv2.imread(str(out / f"call.{kind}-fake.png")).shape == (2 * 64, 8 * 64, 3)
    assert rec["videos"][0]["most_fake"]["score"] == pytest.approx(float(z["score"].max()), abs=1e-6)
    video = out / "call.explained.mp4"
    info, src = probe(video), probe(call)
    assert info.frames == src.frames and abs(info.fps - src.fps) < 1e-3
    assert info.height > src.height                          # the timeline strip below the picture
    still = cv2.imread(rec["videos"][0]["files"]["still_png"])
    assert still.shape == (info.height, info.width, 3)


@pytest.fixture(scope="module")
def small_calls(tmp_path_factory, carphone):
    import subprocess

    from conftest import ffmpeg, write_toml

    root = tmp_path_factory.mktemp("explain-bench") / "calls"
    split = {"test": [], "val": [], "train": []}
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for k, vf in enumerate(["null", "hflip", "eq=contrast=1.2", "eq=brightness=0.05", "hflip,eq=contrast=0.9"]):
            name = f"{label}_{k}"
            subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(carphone), "-frames:v",
                            "24", "-vf", vf + (",hue=h=25" if label == "fake" else ""), "-c:v", "libx264", "-crf",
                            "18", "-pix_fmt", "yuv420p", str(root / label / f"{name}.mp4")], check=True)
            split["val" if k == 2 else "train" if k > 2 else "test"].append(name)
    (root / "split.json").write_text(json.dumps(split))
    folder = write_toml(root.parent / "f.toml", f'[datasets.calls]\nkind = "folder"\nroot = "{root}"\n'
                                                f'split_file = "{root / "split.json"}"\n')
    # the same videos as a manifest whose fakes name the real they were made from (fake_k <- real_k)
    import dataclasses

    from vcbench.datasets import get_dataset
    from vcbench.datasets.base import write_manifest

    recs = [dataclasses.replace(r, pair_id="real/real_" + r.video_id.rsplit("_", 1)[1]) for r in
            get_dataset("calls", folder).records]
    write_manifest(recs, root / "manifest.csv")
    return write_toml(root.parent / "d.toml", f'[datasets.calls]\nkind = "manifest"\nroot = "{root}"\n')


@needs_faces
def test_benchmark_explains_the_most_confident_hits_and_misses_and_the_report_shows_them(small_calls, cli_runner,
                                                                                        tmp_path):
    import csv

    out = tmp_path / "run"
    r = cli_runner.invoke(cli, ["benchmark", "--model", "altfreezing-tiny=untrained", "--model", "chance", "--dataset",
                                "calls", "--preset", "clean,ffpp-c23", "--out", str(out), "--datasets",
                                str(small_calls), "--device", "cpu", "--bootstrap", "20", "--explain", "1",
                                "--cache-dir", str(tmp_path / "faces")])
    assert r.exit_code == 0, r.output
    assert "explained" in r.output and "chance: not explained" in r.output
    index = json.loads((out / "explain" / "index.json").read_text())
    res = json.loads((out / "results.json").read_text())
    preds = [x for x in csv.DictReader(open(out / "predictions.csv")) if x["split"] == "test"]
    for preset in ("clean", "ffpp-c23"):
        cell = next(c for c in res["cells"] if (c["model"], c["preset"]) == ("altfreezing-tiny", preset))
        thr = cell["operating_points"]["target_val"]["threshold"]         # untrained: no threshold of its own
        rows = [x for x in preds if (x["model"], x["preset"]) == ("altfreezing-tiny", preset)]
        right = [x for x in rows if (float(x["score"]) >= thr) == (x["label"] == "1")]
        wrong = [x for x in rows if x not in right]
        got = {e["kind"]: e for e in index["entries"] if e["preset"] == preset}
        for kind, group in (("hit", right), ("miss", wrong)):
            if not group:
                assert kind not in got
                continue
            best = max(group, key=lambda x: abs(float(x["score"]) - thr))
            assert got[kind]["video_id"] == best["video_id"] and got[kind]["threshold"] == thr
            z = np.load(out / got[kind]["npz"])
            assert json.loads(str(z["meta"]))["video_id"] == best["video_id"] and z["maps"].shape[1:] == (8, 56, 56)
            assert (out / got[kind]["most"]).is_file() and (out / got[kind]["least"]).is_file()
    assert all(e["model"] == "altfreezing-tiny" for e in index["entries"]) and not index["failed"]
    # the gallery pair (the first test fake and its real) under each condition, the same window each time
    pairs = {(e["preset"], e["side"]): e for e in index["pairs"]}
    assert set(pairs) == {(p, s) for p in ("clean", "ffpp-c23") for s in ("real", "fake")}
    assert pairs["clean", "fake"]["video_id"] == "fake/fake_0" and pairs["clean", "real"]["video_id"] == "real/real_0"
    assert pairs["clean", "fake"]["frames"] == pairs["ffpp-c23", "fake"]["frames"] == list(range(8, 16))

    report = tmp_path / "r.html"
    r = cli_runner.invoke(cli, ["report", str(out), "-o", str(report), "--no-thumbnails"])
    assert r.exit_code == 0, r.output
    html = report.read_text()
    section = html[html.index('id="heatmaps"'):]
    section = section[:section.index("</section>")]
    assert section.count("data:image/jpeg;base64,") == len(index["entries"]) + len(index["pairs"])
    assert "the gallery pair (real real/real_0 / fake fake/fake_0)" in section


@needs_faces
def test_handcrafted_baseline_is_fitted_on_the_train_split_and_recorded(small_calls, cli_runner, tmp_path):
    import csv

    from vcbench.detectors.handcrafted import FEATURE_NAMES, video_features
    from vcbench.faces.tracking import LazyBackend

    out = tmp_path / "run"
    args = ["benchmark", "--dataset", "calls", "--out", str(out), "--datasets", str(small_calls), "--device", "cpu",
            "--bootstrap", "20", "--cache-dir", str(tmp_path / "faces")]
    r = cli_runner.invoke(cli, args + ["--model", "handcrafted"])
    assert r.exit_code == 1 and "handcrafted=DATASET" in r.output and "Traceback" not in r.output
    r = cli_runner.invoke(cli, args + ["--model", "handcrafted=calls"])
    assert r.exit_code == 0, r.output
    entry = json.loads((out / "models.json").read_text())["handcrafted"]
    prov = entry["provenance"]
    assert prov["fitted_on"] == "calls" and (prov["reals"], prov["fakes"]) == (2, 2) and prov["features"] == FEATURE_NAMES
    assert len(prov["coef"]) == len(FEATURE_NAMES) == 52
    sets = entry["training"]["sets"]
    assert sets[0]["splits"] == ["train"] and len(sets[0]["videos"]) == 4
    # the recorded fit is the one that scored: a test video's score from the coefficients by hand
    preds = {x["video_id"]: x for x in csv.DictReader(open(out / "predictions.csv"))}
    root = small_calls.parent / "calls"
    be = LazyBackend("mediapipe")
    try:
        for vid, path in (("fake_0", root / "fake" / "fake_0.mp4"), ("real_1", root / "real" / "real_1.mp4")):
            key = next(k for k in preds if k.endswith(vid))
            f = video_features(path, be, cache_dir=tmp_path / "faces")
            z = (f - np.asarray(prov["scaler_mean"])) / np.asarray(prov["scaler_scale"])
            p = 1 / (1 + np.exp(-(z @ np.asarray(prov["coef"]) + prov["intercept"])))
            assert float(preds[key]["score"]) == pytest.approx(p, abs=1e-4)
    finally:
        be.close()
    res = json.loads((out / "results.json").read_text())
    cell = next(c for c in res["cells"] if c["model"] == "handcrafted")
    assert cell["metrics"]["auc"] >= 0.75        # the fakes' hue shift is a colour shortcut: the baseline finds it
    report = tmp_path / "r.html"
    r = cli_runner.invoke(cli, ["report", str(out), "-o", str(report), "--no-thumbnails"])
    assert r.exit_code == 0, r.output
    assert "the data may have a shortcut" in report.read_text()
