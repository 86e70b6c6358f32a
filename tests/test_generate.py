"""generate: swappers, planning, the dataset writer, resuming, bad items."""
from __future__ import annotations

import csv
import re
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import has_mediapipe, make_video, write_toml
from standins import make_arcface, make_enhancer, make_inswapper
from vcbench.cli import cli
from vcbench.errors import ConfigError, FaceError, NotAvailableError
from vcbench.generate.config import GenerateConfig
from vcbench.video import probe, read_frames

needs_mediapipe = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe 0.10.21")


def _quiet(text: str) -> str:
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith(("W0000", "I0000", "INFO:", "WARNING:")))


@pytest.fixture(scope="module")
def media(tmp_path_factory, carphone, astronaut_rgb) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gen-media")
    src, tgt = root / "faces", root / "videos"
    src.mkdir()
    tgt.mkdir()
    cv2.imwrite(str(src / "astronaut.png"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    shutil.copyfile(carphone, tgt / "carphone.mp4")
    return {"source": src, "target": tgt, "root": root}


@pytest.fixture(scope="module")
def standin_models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {"inswapper": make_inswapper(d / "inswapper_128.onnx"), "arcface": make_arcface(d / "pack" / "w600k_r50.onnx")}


@pytest.fixture(scope="module")
def generated(tmp_path_factory, media):
    """The Done-when run: astronaut onto carphone, clean and one call condition, via the CLI."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("gen") / "ds"
    cache = out.parent / "cache"
    r = CliRunner().invoke(cli, ["generate", "--source", str(media["source"]), "--target", str(media["target"]),
                                 "--out", str(out), "--preset", "clean,zoom-360p", "--cache-dir", str(cache)])
    assert r.exit_code == 0, r.output
    return out, cache, r


# --- the dataset the CLI writes ------------------------------------------------------

@needs_mediapipe
def test_generate_writes_a_dataset_that_passes_check(generated, cli_runner, tmp_path):
    out, _, r = generated
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert sorted((x["preset"], x["label"], x["method"]) for x in rows) == [
        ("clean", "0", "original"), ("clean", "1", "mesh"), ("zoom-360p", "0", "original"), ("zoom-360p", "1", "mesh")]
    fake = next(x for x in rows if x["label"] == "1" and x["preset"] == "clean")
    assert (fake["source_id"], fake["target_id"], fake["pair_id"]) == ("astronaut", "carphone", "clean/original/carphone")
    assert len({x["split"] for x in rows}) == 1            # two identities: one split, so the pair exists
    toml = write_toml(tmp_path / "datasets.toml", f'[datasets.gen]\nkind = "manifest"\nroot = "{out}"\n')
    c = cli_runner.invoke(cli, ["datasets", "check", "gen", "--datasets", str(toml), "--full"])
    assert c.exit_code == 0, c.output
    assert c.output.rstrip().endswith("ok") and "problem" not in c.output.lower()
    meta = json.loads((out / "generate.json").read_text())
    assert meta["config"]["preset"] == ["clean", "zoom-360p"] and meta["provenance"]["versions"]["numpy"]
    assert meta["swapper"]["name"] == "mesh" and meta["failures"] == []


@needs_mediapipe
def test_real_and_fake_go_through_the_same_encode(generated):
    out, _, _ = generated
    for preset, ext in (("clean", ".mp4"), ("zoom-360p", ".mp4")):
        real = probe(out / f"videos/{preset}/original/carphone{ext}")
        fake = probe(out / f"videos/{preset}/mesh/carphone__astronaut{ext}")
        for attr in ("codec", "profile", "width", "height", "fps", "frames", "has_b_frames"):
            assert getattr(real, attr) == getattr(fake, attr), (preset, attr)
    s_real = json.loads((out / "videos/zoom-360p/original/carphone.mp4.stats.json").read_text())
    s_fake = json.loads((out / "videos/zoom-360p/mesh/carphone__astronaut.mp4.stats.json").read_text())
    assert s_real["seed"] == s_fake["seed"] and s_real["resolution"] == "176x144"   # a call never upscales


@needs_mediapipe
def test_fake_shows_the_source_face_and_leaves_the_rest(generated, astronaut_rgb):
    """Warp each output face back onto the astronaut's geometry (landmarks detected afresh on
    the output): the fake's face texture matches the astronaut's far better than the real's."""
    from vcbench.faces.mediapipe_backend import MediapipeBackend
    from vcbench.generate.swap.mesh import MeshSwapper

    out, _, _ = generated
    still = MediapipeBackend(video=False)
    astro_face = still.detect(astronaut_rgb)[0]
    m = np.zeros(astronaut_rgb.shape[:2], np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(astro_face.landmarks[:468].astype(np.int32)), 1)
    m = cv2.erode(m, np.ones((15, 15), np.uint8)).astype(bool)
    ref = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)[m].astype(float)

    def corr_with_source(img):
        s = MeshSwapper(blend="feather", color=False, keep_mouth=False)
        s.set_source(img, "frame", faces=still.detect(img))
        back = s.swap_face(astronaut_rgb, astro_face)
        return np.corrcoef(cv2.cvtColor(back, cv2.COLOR_RGB2GRAY)[m].astype(float), ref)[0, 1]

    idx = [1, 30, 60, 90, 119]          # frame 0 is before --timing live's first detection (test below)
    real = read_frames(out / "videos/clean/original/carphone.mp4", idx)
    fake = read_frames(out / "videos/clean/mesh/carphone__astronaut.mp4", idx)
    c_real = np.mean([corr_with_source(f) for f in real])
    c_fake = np.mean([corr_with_source(f) for f in fake])
    assert c_fake > c_real + 0.1, (c_real, c_fake)
    # the face changed; away from it the fake is the real frame (up to the shared encoder)
    from vcbench.faces.align import enlarge_box

    for r, f in zip(real, fake):
        h, w = r.shape[:2]
        diff = np.abs(f.astype(int) - r.astype(int)).mean(-1)
        box = max(still.detect(r), key=lambda x: x.area).box
        x0, y0, x1, y1 = enlarge_box(box, 0.8, w, h)
        away = np.ones((h, w), bool)
        a0, b0, a1, b1 = enlarge_box(box, 1.8, w, h)
        away[b0:b1, a0:a1] = False
        assert diff[y0:y1, x0:x1].mean() > 8 and diff[away].mean() < 2.5
    q = list(csv.DictReader(open(out / "quality.csv")))[0]
    assert q["timing"] == "live" and float(q["swapped_fraction"]) > 0.9 and 10 < float(q["face_psnr"]) < 35 and q["id_sim_fake"] == ""


@needs_mediapipe
def test_generated_tracks_are_in_the_face_cache(generated):
    """Every output's tracks are cached, mapped through the preset's scaling; they agree with
    a fresh detection on the output to a few pixels."""
    from vcbench.faces import track_video

    out, cache, _ = generated
    p = out / "videos/zoom-360p/original/carphone.mp4"
    cached = track_video(p, cache_dir=cache)       # from the cache (generate wrote it)
    fresh = track_video(p, cache_dir=False)
    a, b = cached.longest(), fresh.longest()
    assert len(a) == probe(p).frames
    common = np.intersect1d(a.frames, b.frames)
    err = np.median([np.abs(a.kps[a.at(f)] - b.kps[b.at(f)]).max() for f in common])
    width = float(np.median(a.boxes[:, 2] - a.boxes[:, 0]))
    assert err < 0.05 * width, (err, width)


# --- resuming and interruption ----------------------------------------------------------

class _StopAfter:
    """A Progress that presses Ctrl-C after ``n`` frames."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def start(self, total):
        pass

    def log(self, msg):
        pass

    def advance(self, k):
        self.seen += k
        if self.seen >= self.n:
            raise KeyboardInterrupt


@needs_mediapipe
def test_interrupt_then_rerun_completes_without_redoing(tmp_path, media):
    from vcbench.generate.config import resolve_config
    from vcbench.generate.pipeline import generate

    src = tmp_path / "faces"
    src.mkdir()
    shutil.copyfile(media["source"] / "astronaut.png", src / "astronaut.png")
    shutil.copyfile(media["source"] / "astronaut.png", src / "astronaut2.png")
    cfg = resolve_config(None, source=src, target=media["target"], out=tmp_path / "ds", max_frames=40,
                         preset="clean,teams-360p", cache_dir=tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        generate(cfg, _StopAfter(40 + 40 + 20))       # real master, one fake, half of the second
    done = {p: p.stat().st_mtime_ns for p in (tmp_path / "ds").rglob("*.mp4")}
    assert len(done) == 2                               # real + first fake, both whole
    assert not [p for p in (tmp_path / "ds").rglob(".*")], "a temporary file was left behind"
    rep = generate(cfg)
    assert {p: p.stat().st_mtime_ns for p in done} == done   # nothing finished was redone
    assert len(rep.records) == 6 and rep.skipped >= 2
    assert not [p for p in (tmp_path / "ds").rglob(".*")]
    again = generate(cfg)                               # a third run has nothing to do
    assert again.made == 0 and len(again.records) == 6


# --- bad items ---------------------------------------------------------------------

@needs_mediapipe
def test_bad_items_are_named_skipped_and_counted(tmp_path, media, astronaut_rgb, cli_runner):
    src, tgt = tmp_path / "faces", tmp_path / "videos"
    src.mkdir()
    tgt.mkdir()
    shutil.copyfile(media["source"] / "astronaut.png", src / "astronaut.png")
    cv2.imwrite(str(src / "blank.png"), np.full((200, 200, 3), 128, np.uint8))
    cv2.imwrite(str(src / "crowd.png"), cv2.cvtColor(np.hstack([astronaut_rgb, astronaut_rgb]), cv2.COLOR_RGB2BGR))
    (src / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    shutil.copyfile(media["target"] / "carphone.mp4", tgt / "carphone.mp4")
    make_video(tgt / "pattern.mp4", frames=30, size="160x120")              # no face at all
    (tgt / "truncated.mp4").write_bytes((media["target"] / "carphone.mp4").read_bytes()[:3000])
    r = cli_runner.invoke(cli, ["generate", "--source", str(src), "--target", str(tgt), "--out", str(tmp_path / "ds"),
                                "--split", "test", "--max-frames", "30", "--cache-dir", str(tmp_path / "c")])
    out = _quiet(r.output)
    assert r.exit_code == 1, out
    assert "blank.png: no face found" in out
    assert "crowd.png: 2 faces" in out
    assert "broken.jpg: not a readable image" in out
    assert "pattern.mp4: a face in only 0/30 frames" in out
    assert "truncated.mp4" in out
    assert "Traceback" not in out
    assert re.search(r"^\d+ videos: \d+ done, 5 failed$", out, re.M), out
    rows = list(csv.DictReader(open(tmp_path / "ds" / "manifest.csv")))
    assert sorted(x["video_id"] for x in rows) == ["clean/mesh/carphone__astronaut", "clean/original/carphone"]


def test_config_errors_are_one_line(tmp_path, cli_runner):
    r = cli_runner.invoke(cli, ["generate", "--source", str(tmp_path / "nope"), "--target", str(tmp_path),
                                "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "nope: source folder not found" in r.output and "Traceback" not in r.output
    toml = write_toml(tmp_path / "g.toml", 'source = "a"\ntarget = "b"\nout = "c"\nswaper = "mesh"\n')
    r = cli_runner.invoke(cli, ["generate", "--config", str(toml)])
    assert r.exit_code == 1 and "unknown key 'swaper'; did you mean 'swapper'?" in r.output
    common = ["generate", "--source", str(tmp_path), "--target", str(tmp_path), "--out", str(tmp_path / "o")]
    r = cli_runner.invoke(cli, common + ["--select", "rightmost"])          # a choice: click names the option
    assert r.exit_code == 2 and "'rightmost' is not one of 'leftmost', 'largest', 'all'" in r.output
    toml = write_toml(tmp_path / "s.toml", f'source = "{tmp_path}"\ntarget = "{tmp_path}"\nout = "o"\n'
                                           'select = "rightmost"\n')
    r = cli_runner.invoke(cli, ["generate", "--config", str(toml)])          # in a file: the key and the choices
    assert r.exit_code == 1 and "select must be one of leftmost, largest, all, got 'rightmost'" in r.output
    r = cli_runner.invoke(cli, common + ["--swapper", "meshh"])
    assert r.exit_code == 1 and "did you mean 'mesh'" in r.output


# --- planning ------------------------------------------------------------------------

def _files(folder: Path, names: list[str]) -> Path:
    for n in names:
        (folder / n).parent.mkdir(parents=True, exist_ok=True)
        (folder / n).write_bytes(b"")
    return folder


def test_pairs_never_cross_splits_and_never_self_swap(tmp_path):
    from vcbench.generate.config import resolve_config
    from vcbench.generate.plan import make_plan

    ids = [f"id{i:02d}" for i in range(20)]
    src = _files(tmp_path / "s", [f"{i}.png" for i in ids] + ["id00/second.jpg"])
    tgt = _files(tmp_path / "t", [f"{i}.mp4" for i in ids])
    plan = make_plan(resolve_config(None, source=src, target=tgt, out=tmp_path / "o", val_fraction=0.3,
                                    test_fraction=0.3))
    assert {s.name for s in plan.sources} >= {"id00", "id00-second"}
    assert {s.identity for s in plan.sources if s.name.startswith("id00")} == {"id00"}
    assert set(plan.split_of.values()) == {"train", "val", "test"}
    for s, t in plan.pairs:
        assert plan.split_of[s.identity] == plan.split_of[t.identity]
        assert s.identity != t.identity
    with_self = make_plan(resolve_config(None, source=src, target=tgt, out=tmp_path / "o", self_swap=True))
    assert len(with_self.pairs) > len(plan.pairs)
    a = make_plan(resolve_config(None, source=src, target=tgt, out=tmp_path / "o", pairs=7, seed=3))
    b = make_plan(resolve_config(None, source=src, target=tgt, out=tmp_path / "o", pairs=7, seed=3))
    c = make_plan(resolve_config(None, source=src, target=tgt, out=tmp_path / "o", pairs=7, seed=4))
    key = lambda p: [(s.name, t.name) for s, t in p.pairs]     # noqa: E731
    assert len(a.pairs) == 7 and len(set(key(a))) == 7 and key(a) == key(b) != key(c)
    with pytest.raises(ConfigError, match="no \\(source, target\\) pair"):
        only = _files(tmp_path / "one", ["id05.png"])
        make_plan(resolve_config(None, source=only, target=_files(tmp_path / "t1", ["id05.mp4"]), out=tmp_path))


def test_config_precedence_defaults_file_flags(tmp_path):
    from vcbench.generate.config import resolve_config

    toml = write_toml(tmp_path / "g.toml", '[generate]\nsource = "faces"\ntarget = "videos"\nout = "ds"\n'
                                            'preset = ["clean", "zoom-360p"]\nseed = 5\nval_fraction = 0.2\n')
    cfg = resolve_config(toml, seed=9)
    assert cfg.source == tmp_path / "faces"                        # relative to the file
    assert cfg.preset == ("clean", "zoom-360p") and cfg.seed == 9 and cfg.val_fraction == 0.2
    assert cfg.swapper == "mesh"                                   # default
    with pytest.raises(ConfigError, match="'seed' must be int"):
        resolve_config(write_toml(tmp_path / "bad.toml", 'source="a"\ntarget="b"\nout="c"\nseed="x"\n'))


def test_tracks_follow_frame_drops_freezes_and_resolution_switches():
    from vcbench.faces.tracking import Track, VideoTracks
    from vcbench.conference.network import FramePlan
    from vcbench.conference.simulate import SimPlan
    from vcbench.conference.simulate import map_tracks

    n_in = 10
    boxes = np.array([[10 * i, 0, 10 * i + 40, 40] for i in range(n_in)], np.float32)
    tr = Track(0, np.arange(2, n_in, dtype=np.int32), boxes[2:], np.zeros((8, 5, 2), np.float32),
               np.ones(8, np.float32))
    # 5 sent frames (half rate), frame 3 frozen on 2, second segment at half size
    sp = SimPlan(fps=5, capture=[0, 2, 4, 6, 8], plan=FramePlan([0, 1, 2, 2, 4], [0, 4], [(3, 1)]),
                 segments=[(0, 3, 200, 100, 0), (3, 5, 100, 50, 0)])
    out = map_tracks(VideoTracks("in", n_in, "d", [tr]), sp, (200, 100), "out")
    t = out.tracks[0]
    assert t.frames.tolist() == [1, 2, 3, 4]          # output frame 0 shows input 0, before the track
    assert t.boxes[0].tolist() == boxes[2].tolist()   # full size: unchanged
    assert t.boxes[2].tolist() == (boxes[4] / 2).tolist()   # frozen on input 4, at half size
    assert t.boxes[3].tolist() == (boxes[8] / 2).tolist()


# --- swappers ------------------------------------------------------------------------

@needs_mediapipe
def test_inswapper_runs_through_insightfaces_loader(standin_models, astronaut_rgb, carphone):
    from vcbench.faces.mediapipe_backend import MediapipeBackend
    from vcbench.generate.swap.inswapper import InswapperSwapper

    s = InswapperSwapper(model=standin_models["inswapper"], arcface=standin_models["arcface"])
    import onnx
    from onnx import numpy_helper

    emap = numpy_helper.to_array(onnx.load(str(standin_models["inswapper"])).graph.initializer[-1])
    assert np.array_equal(s.model.emap, emap) and emap.shape == (512, 512)
    s.set_source(astronaut_rgb, "astronaut")
    assert s.source_embedding.shape == (512,) and abs(np.linalg.norm(s.source_embedding) - 1) < 1e-5
    frame = cv2.resize(read_frames(carphone, [10])[0], (352, 288))
    faces = MediapipeBackend(video=False).detect(frame)
    out, n = s.swap(frame, faces)
    assert n == 1
    x0, y0, x1, y1 = faces[0].box.astype(int)
    changed = np.abs(out.astype(int) - frame.astype(int)).sum(-1) > 0
    assert changed[y0:y1, x0:x1].mean() > 0.5          # the patch landed on the face
    assert not changed[:, : max(0, x0 - 40)].any()     # and nowhere near the left edge
    # the identity reaches the model: another source gives another face
    s.set_source(astronaut_rgb[:, :, ::-1].copy(), "blue astronaut")
    out2, _ = s.swap(frame, faces)
    assert np.abs(out2.astype(int) - out.astype(int))[y0:y1, x0:x1].mean() > 1


def test_inswapper_missing_or_wrong_file_is_one_clear_error(tmp_path, standin_models, monkeypatch):
    from vcbench.generate.swap.inswapper import InswapperSwapper

    monkeypatch.setenv("INSIGHTFACE_ROOT", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotAvailableError, match="inswapper_128.onnx"):
        InswapperSwapper()
    with pytest.raises(FaceError, match="not an inswapper model"):
        InswapperSwapper(model=standin_models["arcface"])
    bad = tmp_path / "inswapper_128.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(FaceError, match="cannot load as an ONNX model"):
        InswapperSwapper(model=bad)


@needs_mediapipe
def test_generate_with_inswapper_end_to_end(tmp_path, media, standin_models, cli_runner):
    r = cli_runner.invoke(cli, ["generate", "--source", str(media["source"]), "--target", str(media["target"]),
                                "--out", str(tmp_path / "ds"), "--swapper", "inswapper",
                                "--swapper-model", str(standin_models["inswapper"]),
                                "--arcface", str(standin_models["arcface"]), "--max-frames", "30",
                                "--mouth-mask", "--mouth-mask-size", "40", "--color", "--cache-dir", str(tmp_path / "c"),
                                "--enhancer", "gpen256",
                                "--enhancer-model", str(make_enhancer(tmp_path / "GPEN-BFR-256.onnx", 256))])
    assert r.exit_code == 0, _quiet(r.output)
    rows = list(csv.DictReader(open(tmp_path / "ds" / "manifest.csv")))
    assert {x["method"] for x in rows} == {"original", "inswapper"}
    q = list(csv.DictReader(open(tmp_path / "ds" / "quality.csv")))[0]
    assert q["video_id"] == "clean/inswapper/carphone__astronaut"
    # the stand-in ArcFace measures identity: the fake moved away from the real face's embedding
    assert q["id_sim_fake"] != "" and float(q["id_sim_fake"]) != float(q["id_sim_real"])
    meta = json.loads((tmp_path / "ds" / "generate.json").read_text())
    assert meta["swapper"]["mouth_mask"] is True and meta["face_backend"].startswith("mediapipe")
    assert meta["swapper"]["mouth_mask_size"] == 40 and meta["enhancer"]["name"] == "gpen256"


def test_face_selection():
    from vcbench.faces.base import Face
    from vcbench.generate.swap.base import select_faces

    def f(x, size):
        return Face(box=np.array([x, 0, x + size, size], np.float32), kps=np.zeros((5, 2), np.float32), score=0.9)

    faces = [f(100, 50), f(10, 20), f(300, 80)]
    assert select_faces(faces, "leftmost")[0].box[0] == 10
    assert select_faces(faces, "largest")[0].box[0] == 300
    assert len(select_faces(faces, "all")) == 3 and select_faces([], "leftmost") == []
    with pytest.raises(ConfigError):
        select_faces(faces, "rightmost")


@needs_mediapipe
def test_video_sources_and_shards(tmp_path, media, astronaut_rgb, cli_runner):
    """A source identity can be a video (its best frame is used); --shard i/n splits the
    targets, and each shard's manifest covers everything finished so far."""
    from vcbench.video import VideoWriter

    src, tgt = tmp_path / "faces", tmp_path / "videos"
    src.mkdir()
    tgt.mkdir()
    shutil.copyfile(media["source"] / "astronaut.png", src / "astronaut.png")
    shutil.copyfile(media["target"] / "carphone.mp4", src / "carphone.mp4")      # a video source
    shutil.copyfile(media["target"] / "carphone.mp4", tgt / "carphone.mp4")
    with VideoWriter(tgt / "astro.mp4", 25) as w:                                  # a second target
        for k in range(25):
            w.write(np.ascontiguousarray(astronaut_rgb[k:k + 320, 100 + k:420 + k]))
    common = ["generate", "--source", str(src), "--target", str(tgt), "--out", str(tmp_path / "ds"),
              "--split", "val", "--max-frames", "25", "--cache-dir", str(tmp_path / "c")]
    r0 = cli_runner.invoke(cli, common + ["--shard", "0/2"])
    assert r0.exit_code == 0, _quiet(r0.output)
    first = {x["video_id"] for x in csv.DictReader(open(tmp_path / "ds" / "manifest.csv"))}
    r1 = cli_runner.invoke(cli, common + ["--shard", "1/2"])
    assert r1.exit_code == 0, _quiet(r1.output)
    rows = list(csv.DictReader(open(tmp_path / "ds" / "manifest.csv")))
    ids = {x["video_id"] for x in rows}
    # carphone (target) never receives carphone (source): same identity
    assert ids == {"clean/original/astro", "clean/mesh/astro__carphone", "clean/mesh/astro__astronaut",
                   "clean/original/carphone", "clean/mesh/carphone__astronaut"}
    assert first and first < ids and {x.split("/")[-1].split("__")[0] for x in first} in ({"astro"}, {"carphone"})
    assert {x["split"] for x in rows} == {"val"}


@needs_mediapipe
def test_many_faces_swaps_every_face_only_when_asked(carphone, astronaut_rgb):
    from vcbench.faces.mediapipe_backend import MediapipeBackend
    from vcbench.generate.swap.mesh import MeshSwapper

    f = cv2.resize(read_frames(carphone, [20])[0], (352, 288))
    frame = np.ascontiguousarray(np.hstack([f, f[:, ::-1]]))            # two people side by side
    faces = MediapipeBackend(video=False, max_faces=4).detect(frame)
    assert len(faces) == 2
    s = MeshSwapper()
    s.set_source(astronaut_rgb, "astronaut")
    changed = {}
    for how in ("leftmost", "all"):
        out, n = s.swap(frame, faces, how)
        d = np.abs(out.astype(int) - frame.astype(int)).sum(-1) > 0
        changed[how] = (n, d[:, :352].mean(), d[:, 352:].mean())
    assert changed["leftmost"][0] == 1 and changed["leftmost"][1] > 0.05 and changed["leftmost"][2] == 0
    assert changed["all"][0] == 2 and min(changed["all"][1:]) > 0.05


@needs_mediapipe
def test_map_swaps_each_mapped_identity_and_leaves_the_others(tmp_path, carphone, astronaut_rgb, standin_models,
                                                              cli_runner):
    """--map astronaut=1 on a two-person call: identities found by (stand-in) ArcFace embedding and
    numbered left to right; only the right person is swapped, the left stays as in the real; a
    face number the video lacks, a malformed entry and an unknown source are one line each."""
    from vcbench.video import VideoWriter

    src, tgt = tmp_path / "faces", tmp_path / "videos"
    src.mkdir()
    tgt.mkdir()
    cv2.imwrite(str(src / "astronaut.png"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    with VideoWriter(tgt / "pair.mp4", 15) as w:
        for f in read_frames(carphone, list(range(0, 60, 2))):
            f = cv2.resize(f, (352, 288))
            other = np.clip(f[:, ::-1] * 0.5 + [20, 60, 120], 0, 255).astype(np.uint8)   # another "person"
            w.write(np.ascontiguousarray(np.hstack([f, other])))
    base = ["generate", "--source", str(src), "--target", str(tgt), "--split", "test", "--self-swap",
            "--arcface", str(standin_models["arcface"]), "--cache-dir", str(tmp_path / "c")]
    r = cli_runner.invoke(cli, base + ["--out", str(tmp_path / "ds"), "--map", "astronaut=1"])
    assert r.exit_code == 0, _quiet(r.output)
    meta = json.loads((tmp_path / "ds" / "generate.json").read_text())
    ids = meta["face_identities"]["clean/mesh/pair__astronaut"]
    assert [d["id"] for d in ids] == [0, 1] and ids[0]["centre_x"] < 0.5 < ids[1]["centre_x"], ids
    real = read_frames(tmp_path / "ds" / "videos/clean/original/pair.mp4")
    fake = read_frames(tmp_path / "ds" / "videos/clean/mesh/pair__astronaut.mp4")
    big = np.abs(np.stack(fake).astype(int) - np.stack(real).astype(int)).max(-1) > 16   # beyond x264's noise
    assert big[:, :, :352].mean() < 0.001 and big[:, :, 352:].mean() > 0.02, (big[:, :, :352].mean(), big[:, :, 352:].mean())

    # per-face labels: the fake is fake on the right person's track only; its real on every track
    rows = {x["video_id"]: x for x in csv.DictReader(open(tmp_path / "ds" / "manifest.csv"))}
    from vcbench.faces.tracking import track_video

    vt = track_video(tmp_path / "ds" / "videos/clean/mesh/pair__astronaut.mp4", cache_dir=tmp_path / "c")
    right = [t.track_id for t in vt.tracks if t.boxes[:, 0].mean() > 352]
    assert rows["clean/mesh/pair__astronaut"]["label_tracks"] == ";".join(map(str, right)) and right
    assert rows["clean/original/pair"]["label_tracks"] == "all"
    from vcbench.models import build_network
    from vcbench.scoring import score_videos

    torch_net = build_network("altfreezing-tiny")
    fake = tmp_path / "ds" / "videos/clean/mesh/pair__astronaut.mp4"
    (one,), _ = score_videos([fake], network=torch_net, device="cpu", cache_dir=tmp_path / "c", mode="sparse",
                             clips=1, label_tracks={fake: right}, tracking="all")
    (both,), _ = score_videos([fake], network=torch_net, device="cpu", cache_dir=tmp_path / "c", mode="sparse",
                              clips=1, tracking="all")
    assert [t.track_id for t in one.tracks] == right and len(both.tracks) == len(vt.tracks) > len(right)
    _, failed = score_videos([fake], network=torch_net, device="cpu", cache_dir=tmp_path / "c",
                             label_tracks={fake: [7]})
    assert "face track(s) its label is true of (7) are not among the tracks found" in failed.failed[0][1]

    r = cli_runner.invoke(cli, base + ["--out", str(tmp_path / "ds2"), "--map", "astronaut=3"])
    assert r.exit_code != 0 and "--map names face(s) 3; this video has 2 face identities (0, 1)" in r.output
    for bad, say in (("astronaut", "expected SOURCE=TARGET_ID"), ("astronot=0", "astronaut")):
        r = cli_runner.invoke(cli, base + ["--out", str(tmp_path / "ds3"), "--map", bad])
        assert r.exit_code != 0 and say in r.output and "Traceback" not in r.output, r.output


# --- an insightface pack (Deep-Live-Cam's analysis) ----------------------------------------

@pytest.fixture(scope="module")
def standin_pack(tmp_path_factory) -> Path:
    from standins import make_scrfd

    root = tmp_path_factory.mktemp("insightface")
    pack = root / "models" / "standin_l"
    make_scrfd(pack / "det_10g.onnx")
    make_arcface(pack / "w600k_r50.onnx")
    return pack


def _no_network(monkeypatch):
    import socket

    def refuse(*a, **k):
        raise AssertionError("vcbench tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_insightface_pack_loads_by_name_or_path_without_network(standin_pack, monkeypatch, tmp_path):
    from vcbench.faces.insightface_backend import InsightfaceBackend

    _no_network(monkeypatch)
    monkeypatch.setenv("INSIGHTFACE_ROOT", str(standin_pack.parent.parent))
    elsewhere = tmp_path / "packs" / "mine"                  # a pack outside <root>/models/
    shutil.copytree(standin_pack, elsewhere)
    for pack in ("standin_l", str(elsewhere)):
        be = InsightfaceBackend(pack=pack)
        faces = be.detect(np.zeros((640, 1280, 3), np.uint8))    # letterboxed at scale 1/2 into 640x640
        assert len(faces) == 1
        f = faces[0]
        assert np.allclose(f.box, [480, 400, 800, 800], atol=1) and f.score == pytest.approx(0.9)
        assert np.allclose(f.kps[0], [480 + 0.3 * 320, 400 + 0.4 * 400], atol=1)
        assert f.embedding.shape == (512,) and np.linalg.norm(f.embedding) == pytest.approx(1, abs=1e-5)
    assert "-mine-" in be.key and be.key == InsightfaceBackend.cache_key(pack=str(elsewhere))


@needs_mediapipe
def test_generate_inswapper_uses_the_pack_like_deep_live_cam(tmp_path, media, standin_models, standin_pack,
                                                               cli_runner, monkeypatch):
    """--face-backend auto + --arcface <pack>: the pack's detector finds the faces and its
    ArcFace gives the source embedding, as Deep-Live-Cam's FaceAnalysis('buffalo_l') does."""
    _no_network(monkeypatch)
    r = cli_runner.invoke(cli, ["generate", "--source", str(media["source"]), "--target", str(media["target"]),
                                "--out", str(tmp_path / "ds"), "--swapper", "inswapper", "--arcface", str(standin_pack),
                                "--swapper-model", str(standin_models["inswapper"]), "--max-frames", "20",
                                "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 0, _quiet(r.output)
    meta = json.loads((tmp_path / "ds" / "generate.json").read_text())
    assert meta["face_backend"].startswith("insightface-") and "-standin_l-" in meta["face_backend"]
    q = list(csv.DictReader(open(tmp_path / "ds" / "quality.csv")))[0]
    # --timing live at 29.97 fps: the first detection is on frame 1, so frame 0 goes out unswapped
    assert q["timing"] == "live" and float(q["swapped_fraction"]) == 19 / 20 and q["id_sim_fake"] != ""


@needs_mediapipe
def test_target_whose_face_leaves_for_a_long_stretch_is_skipped(tmp_path, media, carphone, cli_runner):
    from vcbench.video import VideoWriter

    tgt = tmp_path / "videos"
    frames = read_frames(carphone, list(range(20)))
    with VideoWriter(tgt / "gappy.mp4", 8) as w:                 # 10 frames of face, 2.5 s without, 5 with
        for f in [*frames[:10], *[np.zeros_like(frames[0])] * 20, *frames[10:15]]:
            w.write(f)
    r = cli_runner.invoke(cli, ["generate", "--source", str(media["source"]), "--target", str(tgt),
                                "--out", str(tmp_path / "ds"), "--min-face-fraction", "0.2", "--split", "test",
                                "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 1
    assert "gappy.mp4: no face for 2.5 s (frames 10-29; max_gap 2)" in _quiet(r.output)
    r = cli_runner.invoke(cli, ["generate", "--source", str(media["source"]), "--target", str(tgt),
                                "--out", str(tmp_path / "ds"), "--min-face-fraction", "0.2", "--max-gap", "3",
                                "--min-swapped", "0.4", "--split", "test",
                                "--cache-dir", str(tmp_path / "c")])   # 15 of 35 frames
    assert r.exit_code == 0, _quiet(r.output)
    q = list(csv.DictReader(open(tmp_path / "ds" / "quality.csv")))[0]
    assert float(q["swapped_fraction"]) == pytest.approx(15 / 35, abs=0.03)


@needs_mediapipe
def test_pairs_shortfall_is_reported(generated, media, cli_runner):
    out, cache, _ = generated
    r = cli_runner.invoke(cli, ["generate", "--source", str(media["source"]), "--target", str(media["target"]),
                                "--out", str(out), "--preset", "clean,zoom-360p", "--cache-dir", str(cache),
                                "--pairs", "200"])
    assert r.exit_code == 0, r.output
    assert "--pairs 200: only 1 pair(s) possible" in r.output and "making 1" in r.output
    meta = json.loads((out / "generate.json").read_text())
    assert meta["pairs_requested"] == 200 and meta["pairs_possible"] == 1 and len(meta["pairs"]) == 1


def test_every_generate_flag_is_a_config_key(tmp_path):
    """Each option of `vcbench generate` (read from click) has a config key of the same name, and
    a value given only in the config file arrives in the resolved config."""
    import click

    from vcbench.generate.config import GenerateConfig, resolve_config

    presets = write_toml(tmp_path / "mine.toml", '[presets.mine]\nextends = "zoom-360p"\nbitrate_kbps = 300\n')
    values = {"source": "faces", "target": "videos", "out": "ds", "swapper": "inswapper", "swapper_model": "m.onnx",
              "arcface": "antelopev2", "face_backend": "mediapipe", "select": "largest", "map": ["alice=0", "bob=1"], "timing": "video", "mouth_mask": True,
              "mouth_mask_size": 25.0, "enhancer": "gpen512", "enhancer_model": "GPEN-BFR-512.onnx", "color": True, "poisson": True, "preset": ["clean", "mine"], "presets": str(presets), "engine": "webrtc", "pairs": 3,
              "pairs_file": "pairs.csv", "match": "gender", "genderage": "genderage.onnx", "seed": 4, "self_swap": True, "split": "val", "val_fraction": 0.1, "test_fraction": 0.3,
              "max_frames": 50, "every": 5, "min_face_fraction": 0.7, "min_swapped": 0.25, "max_gap": 1.5, "crf": 20, "master": "dlc",
              "shard": "1/2",
              "ffmpeg": "ffmpeg", "cache_dir": "cache", "note": "pilot data", "plan": True}
    flags = {p.opts[0][2:].replace("-", "_") for p in cli.commands["generate"].params
             if isinstance(p, click.Option) and p.opts[0] not in ("--config", "--help")}
    fields = {f for f in GenerateConfig.__dataclass_fields__}
    assert flags == fields == set(values), (flags ^ fields, fields ^ set(values))
    for p in cli.commands["generate"].params:
        if isinstance(p, click.Option) and p.name != "config_file":
            assert p.name == p.opts[0][2:].replace("-", "_"), f"{p.opts[0]} is stored as {p.name!r}"
    lines = []
    for k, v in values.items():
        lines.append(f"{k} = " + ("true" if v is True else json.dumps(v)))
    cfg = resolve_config(write_toml(tmp_path / "g.toml", "\n".join(lines) + "\n"))
    written = cfg.to_json()
    for k, v in values.items():
        got = written[k]
        if k in ("source", "target", "out", "swapper_model", "cache_dir", "enhancer_model", "pairs_file"):
            assert got == str(tmp_path / v), k
        else:
            assert got == v, k


# --- detection timing (Deep-Live-Cam's lag) ---------------------------------------------------

def test_detection_timing_follows_deep_live_cam():
    from vcbench.generate.timing import detection_frame, live_interval, timed_faces

    assert [detection_frame(i, "live", 29.97) for i in range(7)] == [-1, 1, 1, 3, 3, 5, 5]   # every 2nd frame
    assert [detection_frame(i, "live", 60) for i in range(12)] == [-1] * 4 + [4] * 5 + [9] * 3
    assert [detection_frame(i, "live", 15) for i in range(4)] == [0, 1, 2, 3]          # round(1.2) = 1
    assert [detection_frame(i, "video", 30) for i in range(4)] == [0, 0, 1, 2]
    assert [detection_frame(i, "video", 30, "all") for i in range(4)] == [0, 1, 2, 3]   # no pipelining there
    assert [detection_frame(i, "exact", 30) for i in range(4)] == [0, 1, 2, 3]
    assert live_interval(25) == 2 and live_interval(10) == 1
    assert timed_faces([["a"], ["b"], ["c"]], "live", 30) == [[], ["b"], ["b"]]
    with pytest.raises(ConfigError, match="timing must be one of live, video, exact"):
        GenerateConfig(source=Path("s"), target=Path("t"), out=Path("o"), timing="late")


@needs_mediapipe
def test_live_timing_pastes_a_lagged_face_that_shows_under_motion(carphone, astronaut_rgb):
    """Swap carphone under `exact` and `live` (29.97 fps: a detection every 2nd frame): frames
    whose own detection is used are bit-identical; the others differ in the face region, more
    where the head moved since the reused detection; the first frame goes out unswapped."""
    from vcbench.faces.mediapipe_backend import MediapipeBackend
    from vcbench.generate.swap.mesh import MeshSwapper
    from vcbench.generate.timing import detection_frame, timed_faces

    frames = read_frames(carphone)
    be = MediapipeBackend(video=True)
    per_frame = [be.detect(f) for f in frames]
    s = MeshSwapper()
    s.set_source(astronaut_rgb, "astronaut")
    out = {}
    for timing in ("exact", "live"):
        pasted = timed_faces(per_frame, timing, 29.97)
        out[timing] = [s.swap(f, faces, "leftmost")[0] for f, faces in zip(frames, pasted)]
    assert np.array_equal(out["live"][0], frames[0])                      # nothing detected yet
    diffs, motion = [], []
    for i in range(1, len(frames)):
        j = detection_frame(i, "live", 29.97)
        if not per_frame[i] or not per_frame[j]:
            continue
        if j == i:
            assert np.array_equal(out["live"][i], out["exact"][i])
            continue
        x0, y0, x1, y1 = per_frame[i][0].box.astype(int)
        d = np.abs(out["live"][i].astype(int) - out["exact"][i].astype(int))[max(y0, 0):y1, max(x0, 0):x1]
        diffs.append(d.mean())
        motion.append(np.linalg.norm(per_frame[i][0].kps - per_frame[j][0].kps, axis=1).mean())
    diffs, motion = np.array(diffs), np.array(motion)
    assert len(diffs) > 40 and diffs.mean() > 0.5
    rank = lambda a: np.argsort(np.argsort(a))                                    # noqa: E731
    spearman = np.corrcoef(rank(diffs), rank(motion))[0, 1]
    third = len(motion) // 3
    order = np.argsort(motion)
    slow, fast = diffs[order[:third]].mean(), diffs[order[-third:]].mean()
    assert spearman > 0.4 and fast > 1.5 * slow, (spearman, slow, fast)


def _synthetic_face(size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A face-like picture (skin ellipse, eyes, mouth on a gradient) and its 5 points."""
    yy, xx = np.mgrid[:size, :size]
    img = np.stack([60 + xx * 0.5, 90 + yy * 0.4, 140 - xx * 0.2], -1).clip(0, 255).astype(np.uint8)
    cv2.ellipse(img, (128, 138), (62, 80), 0, 0, 360, (200, 160, 130), -1)
    for x in (100, 156):
        cv2.circle(img, (x, 118), 8, (40, 30, 30), -1)
    cv2.ellipse(img, (128, 178), (22, 7), 0, 0, 360, (150, 60, 60), -1)
    kps = np.array([[100, 118], [156, 118], [128, 148], [108, 178], [148, 178]], np.float32)
    return img, kps


def test_inswapper_poisson_is_deep_live_cams_construction(standin_models, astronaut_rgb):
    """Deep-Live-Cam's Poisson, written out here from its description: the feathered paste-back
    (whole frame) cloned into the original where the warped ellipse is > 0.5, eroded by an
    elliptical max(3, min(w, h) // 20 | 1) kernel, only the mask written back. vcbench's result
    matches it within 2 grey levels (mean over the face box) and keeps the feather ring."""
    from types import SimpleNamespace

    from vcbench.faces.base import Face
    from vcbench.generate.swap.inswapper import InswapperSwapper

    frame, kps = _synthetic_face()
    face = Face(box=np.array([60, 50, 196, 226], np.float32), kps=kps, score=0.9)
    s = InswapperSwapper(model=standin_models["inswapper"], arcface=standin_models["arcface"], poisson=True)
    s.set_source(astronaut_rgb, "astronaut")
    ours = s.swap_face(frame, face)
    plain = InswapperSwapper(model=standin_models["inswapper"], arcface=standin_models["arcface"])
    plain.set_source(astronaut_rgb, "astronaut")
    feathered = plain.swap_face(frame, face)

    bgr = np.ascontiguousarray(frame[:, :, ::-1])
    patch, m = s.model.get(bgr, SimpleNamespace(kps=kps), SimpleNamespace(normed_embedding=s.source_embedding),
                           paste_back=False)
    h, w = frame.shape[:2]
    im = cv2.invertAffineTransform(m)
    ell = np.zeros((128, 128), np.float32)
    cv2.ellipse(ell, (64, 64), (int(128 * 0.44), int(128 * 0.44)), 0, 0, 360, 1, -1)
    ell = cv2.GaussianBlur(ell, (31, 31), 12)
    a = cv2.warpAffine(ell, im, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    fake = cv2.warpAffine(patch, im, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    pasted = np.clip(fake * a + bgr * (1 - a), 0, 255).round().astype(np.uint8)
    corners = np.array([[0, 0, 1], [128, 0, 1], [128, 128, 1], [0, 128, 1]], np.float32) @ im.T
    rw = int(np.ceil(corners[:, 0].max())) - int(np.floor(corners[:, 0].min()))
    rh = int(np.ceil(corners[:, 1].max())) - int(np.floor(corners[:, 1].min()))
    k = max(3, (min(rw, rh) // 20) | 1)
    mask = cv2.erode(np.where(a[..., 0] > 0.5, 255, 0).astype(np.uint8),
                     cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    x, y, bw, bh = cv2.boundingRect(mask)
    clone = cv2.seamlessClone(pasted, bgr, mask.copy(), (x + bw // 2, y + bh // 2), cv2.NORMAL_CLONE)
    want = pasted.copy()
    want[mask > 0] = clone[mask > 0]
    want = want[:, :, ::-1]

    x0, y0, x1, y1 = face.box.astype(int)
    diff = np.abs(ours.astype(int) - want.astype(int))[y0:y1, x0:x1]
    assert diff.mean() <= 2.0, diff.mean()
    ring = (a[..., 0] > 0.02) & (mask == 0)                        # feathered, outside the cloned mask
    assert ring.sum() > 500 and np.abs(ours.astype(int) - feathered.astype(int))[ring].max() <= 1
    inside = mask > 0
    assert np.abs(ours.astype(int) - feathered.astype(int))[inside].mean() > 0.5     # the clone did something


def _lips_106(centre=(128, 178), axes=(22, 7)) -> np.ndarray:
    """106 insightface-style points: 52-63 the outer lip outline (in order round the mouth), the
    rest (unused by the mouth mask) scattered over the face; 64-71 an inner lip a 52-71 fill
    would cross."""
    rng = np.random.default_rng(0)
    lm = rng.uniform(80, 200, (106, 2)).astype(np.float32)
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    lm[52:64] = np.stack([centre[0] + axes[0] * np.cos(t), centre[1] + axes[1] * np.sin(t)], 1)
    t = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    lm[64:72] = np.stack([centre[0] + 12 * np.cos(t), centre[1] + 2 * np.sin(t)], 1)
    return lm


def _dlc_mouth(swapped, original, lm, size):
    """Deep-Live-Cam's create_lower_mouth_mask + apply_mouth_area, from their description."""
    pts = lm[52:64].astype(np.float32)
    c = pts.mean(0)
    f = 1 + 2 * size / 100
    off = pts - c
    exp = np.stack([c[0] + off[:, 0] * f, c[1] + off[:, 1] * np.where(off[:, 1] > 0, f * f, f)], 1).astype(np.int32)
    (x0, y0), (x1, y1) = exp.min(0), exp.max(0)
    px, py = int((x1 - x0) * 0.1), int((y1 - y0) * 0.1)
    x0, y0, x1, y1 = max(0, x0 - px), max(0, y0 - py), x1 + px, y1 + py
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [exp - [x0, y0]], 255)
    fe = max(1, min(30, min(x1 - x0, y1 - y0) // 8))
    m = cv2.GaussianBlur(m.astype(np.float32), (2 * fe + 1, 2 * fe + 1), 0)
    m = (m / m.max())[..., None]
    out = swapped.copy()
    out[y0:y1, x0:x1] = np.clip(original[y0:y1, x0:x1] * m + swapped[y0:y1, x0:x1] * (1 - m), 0, 255).astype(np.uint8)
    return out, (x0, y0, x1, y1)


def test_inswapper_mouth_mask_is_deep_live_cams_construction(standin_models, astronaut_rgb):
    """The mouth mask is applied after the paste-back and matches Deep-Live-Cam's construction
    within 2 grey levels mean: the lip outline 52-63 only, its size slider growing the mask
    towards the chin; the target's mouth is back inside, the swap untouched outside the box."""
    from vcbench.faces.base import Face
    from vcbench.generate.swap.inswapper import InswapperSwapper

    frame, kps = _synthetic_face()
    lm = _lips_106()
    face = Face(box=np.array([60, 50, 196, 226], np.float32), kps=kps, score=0.9, landmarks=lm)
    plain = InswapperSwapper(model=standin_models["inswapper"], arcface=standin_models["arcface"])
    plain.set_source(astronaut_rgb, "astronaut")
    swapped = plain.swap_face(frame, face)
    boxes = {}
    for size in (0.0, 40.0):
        s = InswapperSwapper(model=standin_models["inswapper"], arcface=standin_models["arcface"],
                             mouth_mask=True, mouth_mask_size=size)
        s.set_source(astronaut_rgb, "astronaut")
        ours = s.swap_face(frame, face)
        want, box = _dlc_mouth(swapped, frame, lm, size)
        x0, y0, x1, y1 = box
        boxes[size] = box
        assert np.abs(ours.astype(int) - want.astype(int))[y0:y1, x0:x1].mean() <= 2.0
        outside = np.ones(frame.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(ours[outside], swapped[outside])
        assert np.abs(ours[178, 128].astype(int) - frame[178, 128].astype(int)).max() <= 2     # the real mouth
        assert np.abs(swapped[178, 128].astype(int) - frame[178, 128].astype(int)).max() > 20  # was swapped
    assert boxes[40.0][3] - 178 > 1.5 * (boxes[0.0][3] - 178)        # a bigger slider reaches the chin


def test_enhancers_load_standins_and_refuse_wrong_ones(tmp_path, monkeypatch, media, cli_runner):
    from vcbench.errors import UnknownNameError
    from vcbench.generate.enhance import FaceEnhancer

    monkeypatch.setenv("INSIGHTFACE_ROOT", str(tmp_path / "if"))
    monkeypatch.chdir(tmp_path)
    make_enhancer(tmp_path / "models" / "GPEN-BFR-256.onnx", 256)
    make_enhancer(tmp_path / "if" / "models" / "gfpgan" / "gfpgan-1024.onnx", 512, 1024)
    assert FaceEnhancer("gpen256").path == Path("models/GPEN-BFR-256.onnx")
    assert FaceEnhancer("gfpgan").path.name == "gfpgan-1024.onnx"
    with pytest.raises(NotAvailableError, match="GPEN-BFR-512.onnx.*never downloads"):
        FaceEnhancer("gpen512")
    with pytest.raises(FaceError, match=r"not a gpen512 enhancer .*expected \[1, 3, 512, 512\]") as e:
        FaceEnhancer("gpen512", tmp_path / "models" / "GPEN-BFR-256.onnx")
    assert "\n" not in str(e.value)
    with pytest.raises(FaceError, match="not a gfpgan enhancer"):        # an inswapper is no enhancer
        FaceEnhancer("gfpgan", make_inswapper(tmp_path / "x.onnx"))
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(FaceError, match="bad.onnx: cannot load"):
        FaceEnhancer("gpen256", tmp_path / "bad.onnx")
    with pytest.raises(UnknownNameError, match="gpen256"):
        GenerateConfig(source=Path("s"), target=Path("t"), out=Path("o"), enhancer="gpen265")
    with pytest.raises(ConfigError, match="mouth_mask_size"):
        GenerateConfig(source=Path("s"), target=Path("t"), out=Path("o"), mouth_mask_size=120)
    r = cli_runner.invoke(cli, ["generate", "--source", str(media["source"]), "--target", str(media["target"]),
                                "--out", str(tmp_path / "ds"), "--enhancer", "gpen512", "--enhancer-model",
                                str(tmp_path / "models" / "GPEN-BFR-256.onnx")])
    assert r.exit_code != 0 and "not a gpen512 enhancer" in r.output and "Traceback" not in r.output


def test_enhancers_follow_deep_live_cams_construction(tmp_path):
    """GPEN: the face region becomes the stand-in's output (x / 2 + 63.75 for a gain of 0.5) and
    matches Deep-Live-Cam's whole-frame construction within 1 grey level; GFPGAN with a 2x output
    likewise; nothing changes far from the face; GFPGAN's live cache pastes the previous frame's
    enhanced face on every other frame."""
    from vcbench.faces.base import Face
    from vcbench.generate.enhance import GPEN_TEMPLATE, FaceEnhancer

    frame, kps = _synthetic_face()
    frame = cv2.copyMakeBorder(frame, 0, 64, 0, 128, cv2.BORDER_REFLECT)
    face = Face(box=np.array([60, 50, 196, 226], np.float32), kps=kps, score=0.9)
    nose = frame[148, 128].astype(float)

    gpen = FaceEnhancer("gpen256", make_enhancer(tmp_path / "g.onnx", 256))
    out = gpen.enhance(frame, [face])
    assert np.abs(out[148, 128] - (nose / 2 + 63.75)).max() <= 2
    assert np.array_equal(out[:, 300:], frame[:, 300:])
    m = cv2.estimateAffinePartial2D(kps, GPEN_TEMPLATE * 256, method=cv2.LMEDS)[0]
    crop = cv2.warpAffine(frame, m, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    enh = np.clip(((crop / 255 * 2 - 1) * 0.5 + 1) / 2 * 255, 0, 255).astype(np.uint8)
    mask = np.ones((256, 256), np.float32)
    b = 16
    mask[:b], mask[-b:] = np.linspace(0, 1, b)[:, None], np.linspace(1, 0, b)[:, None]
    mask[:, :b] = np.minimum(mask[:, :b], np.linspace(0, 1, b)[None])
    mask[:, -b:] = np.minimum(mask[:, -b:], np.linspace(1, 0, b)[None])
    inv = cv2.invertAffineTransform(m)
    h, w = frame.shape[:2]
    a = cv2.warpAffine(mask, inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    want = np.clip(cv2.warpAffine(enh, inv, (w, h), flags=cv2.INTER_LINEAR) * a + frame * (1 - a), 0, 255).astype(np.uint8)
    assert np.abs(out.astype(int) - want.astype(int)).max() <= 1

    gfp = FaceEnhancer("gfpgan", make_enhancer(tmp_path / "f.onnx", 512, 1024))
    out = gfp.enhance(frame, [face])
    assert np.abs(out[148, 128] - (nose / 2 + 63.75)).max() <= 3
    assert np.array_equal(out[:, 300:], frame[:, 300:])

    frames = [np.clip(frame.astype(int) + d, 0, 255).astype(np.uint8) for d in (0, 30, 60, 90)]
    live = FaceEnhancer("gfpgan", tmp_path / "f.onnx", live=True)
    outs = [live.enhance(f, [face]) for f in frames]
    fresh = [gfp.enhance(f, [face]) for f in frames]
    assert np.array_equal(outs[1], fresh[1]) and np.array_equal(outs[3], fresh[3])     # inferred
    assert np.array_equal(outs[2][140:160, 110:150], fresh[1][140:160, 110:150])       # the cached face
    assert not np.array_equal(outs[2][140:160, 110:150], fresh[2][140:160, 110:150])


def _x264_options(path: Path) -> str:
    data = path.read_bytes()
    i = data.find(b"x264 - core")
    return data[i:i + 1200].split(b"options: ")[1].split(b"\x00")[0].decode()


@needs_mediapipe
def test_master_dlc_encodes_reals_and_fakes_as_deep_live_cam(generated, tmp_path, media, cli_runner):
    """--master dlc: -tune film (x264's deblock -1:-1 and psy-rd 1.00:0.15 in its SEI) and the
    bt601 -> bt709 conversion (the stream is tagged bt709), for the real and the fake alike and
    recorded in generate.json; the default master has neither. An odd frame size still pads."""
    import av

    out = tmp_path / "dlc"
    r = cli_runner.invoke(cli, ["generate", "--source", str(media["source"]), "--target", str(media["target"]),
                                "--out", str(out), "--master", "dlc", "--max-frames", "12",
                                "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 0, _quiet(r.output)
    assert json.loads((out / "generate.json").read_text())["config"]["master"] == "dlc"
    default, _, _ = generated
    for name in ("original/carphone.mp4", "mesh/carphone__astronaut.mp4"):
        opts = _x264_options(out / "videos/clean" / name)
        assert "deblock=1:-1:-1" in opts and "psy_rd=1.00:0.15" in opts and "crf=18.0" in opts
        with av.open(str(out / "videos/clean" / name)) as c:
            assert int(c.streams.video[0].codec_context.colorspace) == 1          # bt709
        plain = _x264_options(default / "videos/clean" / name)
        assert "deblock=1:0:0" in plain and "psy_rd=1.00:0.00" in plain
        with av.open(str(default / "videos/clean" / name)) as c:
            assert int(c.streams.video[0].codec_context.colorspace) != 1
    from vcbench.generate.target import master_codec_args
    from vcbench.video import VideoWriter

    with VideoWriter(tmp_path / "odd.mp4", 25, codec_args=master_codec_args(18, "dlc")) as w:
        for _ in range(3):
            w.write(np.full((63, 65, 3), 128, np.uint8))
    info = probe(tmp_path / "odd.mp4")
    assert (info.width, info.height, info.frames) == (66, 64, 3)


@needs_mediapipe
def test_bench_timing_gallery_shows_the_lag(tmp_path):
    """``python -m bench.generate --gallery``: real / exact / video / live / difference crops of the
    frames with the most lag motion; the lagged timings differ from exact in the face region."""
    from bench.generate import timing_gallery
    from vcbench.samples import talking_head

    clip = talking_head(tmp_path / "clip.mp4", (320, 180), 24)
    got = timing_gallery(clip, tmp_path / "g.png", rows=3, cell=64)
    img = cv2.imread(str(tmp_path / "g.png"))
    assert img.shape == (28 + 3 * 64, 5 * 64, 3) and len(got["frames"]) == 3
    d = got["face_mean_diff_vs_exact"]
    assert d["exact"] == 0 and d["video"] > 0.5 and d["live"] > 0.5


def test_splits_never_move_when_identities_are_added_and_a_rerun_keeps_recorded_ones(tmp_path, cli_runner):
    """An identity's split is a hash of the identity alone: 40 -> 50 targets moves none of the 40
    (the old rank cut moved three); a dataset already in --out keeps the splits it recorded."""
    import csv

    from vcbench.generate.config import resolve_config
    from vcbench.generate.plan import make_plan

    ids = [f"p{i:03d}" for i in range(50)]
    src = _files(tmp_path / "s", [f"{i}.png" for i in ids])
    forty = make_plan(resolve_config(None, source=src, target=_files(tmp_path / "t40", [f"{i}.mp4" for i in ids[:40]]),
                                     out=tmp_path / "o40"))
    fifty = make_plan(resolve_config(None, source=src, target=_files(tmp_path / "t50", [f"{i}.mp4" for i in ids]),
                                     out=tmp_path / "o50"))
    assert all(fifty.split_of[i] == forty.split_of[i] for i in forty.split_of)
    counts = {k: sum(v == k for v in fifty.split_of.values()) for k in ("train", "val", "test")}
    assert counts["train"] > counts["val"] > 0 and counts["test"] > 0       # about 70/15/15 of 50

    # --plan: the pairs and splits, nothing swapped
    out = tmp_path / "planned"
    r = cli_runner.invoke(cli, ["generate", "--source", str(src), "--target", str(tmp_path / "t40"), "--out",
                                str(out), "--plan"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "plan.csv")))
    assert len(rows) == len(forty.pairs) and all(r["split"] == forty.split_of[r["target_id"]] for r in rows)
    assert "nothing swapped" in r.output and "train: " in r.output and "test : " in r.output
    assert not (out / "videos").exists() and not (out / "manifest.csv").exists()

    # an existing dataset's recorded splits win over the rule (one made by an older vcbench)
    moved = {i: ("test" if s == "train" else "train") for i, s in forty.split_of.items()}
    (out / "generate.json").write_text(json.dumps({"splits": moved}))
    again = make_plan(resolve_config(None, source=src, target=tmp_path / "t40", out=out))
    assert all(again.split_of[i] == moved[i] for i in moved)


def _tinted(img: np.ndarray, red: bool) -> np.ndarray:
    x = img.astype(np.float32)
    warm, cool = (0, 2) if red else (2, 0)
    x[..., warm] = np.minimum(255, x[..., warm] * 0.8 + 70)
    x[..., cool] *= 0.55
    return x.astype(np.uint8)


@needs_mediapipe
def test_match_gender_pairs_same_predicted_gender_and_pairs_file_is_checked(tmp_path, carphone, astronaut_rgb,
                                                                            cli_runner):
    """A stand-in genderage model (the real signature, routed by insightface to its Attribute class)
    that calls a red face female and a blue one male: --match gender keeps exactly the same-gender
    pairs (plan.csv says each side's gender); --pairs-file keeps exactly its rows, and a bad row is
    one line naming why."""
    from standins import make_genderage

    from vcbench.video import read_frames, write_video

    src, tgt = tmp_path / "faces", tmp_path / "videos"
    src.mkdir()
    tgt.mkdir()
    for name, red in (("ann", True), ("bob", False)):
        cv2.imwrite(str(src / f"{name}.png"), cv2.cvtColor(_tinted(astronaut_rgb, red), cv2.COLOR_RGB2BGR))
    frames = read_frames(carphone)[:30]
    for name, red in (("cara", True), ("dave", False), ("eve", True)):
        write_video(tgt / f"{name}.mp4", np.stack([_tinted(f, red) for f in frames]), 30)
    pack = tmp_path / "packs" / "standin_l"
    make_arcface(pack / "w600k_r50.onnx")
    base = ["generate", "--source", str(src), "--target", str(tgt), "--split", "train", "--plan"]

    r = cli_runner.invoke(cli, base + ["--out", str(tmp_path / "g"), "--match", "gender", "--genderage", str(pack)])
    assert r.exit_code == 1 and "genderage.onnx" in r.output and "Traceback" not in r.output   # the pack has none
    make_genderage(pack / "genderage.onnx")
    r = cli_runner.invoke(cli, base + ["--out", str(tmp_path / "g"), "--match", "gender", "--genderage", str(pack)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "g" / "plan.csv")))
    got = sorted((x["source"], x["target"], x["source_gender"], x["target_gender"]) for x in rows)
    assert got == [("ann", "cara", "F", "F"), ("ann", "eve", "F", "F"), ("bob", "dave", "M", "M")]

    listing = tmp_path / "pairs.csv"
    listing.write_text("source,target\nbob.png,cara\nann,dave.mp4\n")
    r = cli_runner.invoke(cli, base + ["--out", str(tmp_path / "p"), "--pairs-file", str(listing)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "p" / "plan.csv")))
    assert sorted((x["source"], x["target"]) for x in rows) == [("ann", "dave"), ("bob", "cara")]
    listing.write_text("source,target\nbobb,cara\n")
    r = cli_runner.invoke(cli, base + ["--out", str(tmp_path / "q"), "--pairs-file", str(listing)])
    assert r.exit_code == 1 and "did you mean" in r.output and "bob" in r.output
    listing.write_text("source,target\nann,cara\nbob,bob\n")
    (tgt / "bob.mp4").write_bytes((tgt / "dave.mp4").read_bytes())     # bob as a target: his own identity
    r = cli_runner.invoke(cli, base + ["--out", str(tmp_path / "s"), "--pairs-file", str(listing)])
    assert r.exit_code == 1 and "line 3" in r.output and "same identity" in r.output
