"""The one detector contract: every ``--model`` form builds a Detector subclass from its spec, the
registry holds only Detector subclasses, plug-ins join it from their entry points, any detector's
non-probability fails its video, and the scorer feeds a network what its weights declare."""
from __future__ import annotations

import dataclasses
import sys
import textwrap

import pytest

from vcbench.detectors import DETECTORS, Detector, DetectorSettings, Prediction, load_detectors
from vcbench.errors import CheckpointError, ConfigError
from vcbench.registry import Registry


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """An installed distribution (a dist-info on sys.path) with three ``vcbench.detectors`` entry
    points: a Detector subclass, a legacy object with predict_batch, and one that is neither."""
    import vcbench.detectors.base as base

    site = tmp_path / "site"
    (site / "vcb_plug-1.0.dist-info").mkdir(parents=True)
    (site / "vcb_plug-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: vcb-plug\nVersion: 1.0\n")
    (site / "vcb_plug-1.0.dist-info" / "entry_points.txt").write_text(
        "[vcbench.detectors]\nlengthy = vcb_plug:Lengthy\nlegacy = vcb_plug:Legacy\nbroken = vcb_plug:NOT_ONE\n")
    (site / "vcb_plug.py").write_text(textwrap.dedent('''
        from vcbench.detectors import Detector, Prediction

        class Lengthy(Detector):
            kind = "plugin"

            @classmethod
            def build(cls, name, value, spec, settings, **meta):
                det = cls(name, spec, settings)
                det.scale = float(value or 100)
                return det

            def predict_batch(self, paths, ids):
                return [Prediction(len(str(p)) / self.scale, 1) for p in paths]

        class Legacy:
            def predict_batch(self, paths):
                return [float("nan") if p.endswith("b2.mp4") else 0.25 for p in paths]

        NOT_ONE = 42
    '''))
    monkeypatch.syspath_prepend(str(site))
    saved = dict(DETECTORS._entries)
    monkeypatch.setattr(base, "_plugins_loaded", False)
    yield
    DETECTORS._entries.clear()
    DETECTORS._entries.update(saved)
    sys.modules.pop("vcb_plug", None)


def test_every_spec_form_builds_a_detector_subclass(tmp_path):
    (tmp_path / "mine.py").write_text("def predict(p):\n    return 0.5\n")
    dets = load_detectors(["chance", "altfreezing-tiny=untrained", f"mine={tmp_path / 'mine.py'}"],
                          DetectorSettings(device="cpu"))
    try:
        assert [type(d).__name__ for d in dets] == ["ChanceDetector", "NetworkDetector", "FileDetector"]
        assert all(isinstance(d, Detector) for d in dets)
        assert [d.kind for d in dets] == ["chance", "vcbench", "byo"]
        assert dets[2].fingerprint()["sha256"] and dets[1].fingerprint() == {"file": None, "sha256": None,
                                                                           "spec": "altfreezing-tiny=untrained"}
        assert dets[2].predict([tmp_path / "x.mp4"], ["d/p/x"]) == [Prediction(0.5, 1)]
    finally:
        for d in dets:
            d.close()
    with pytest.raises(ConfigError, match="did you mean 'chance'"):
        Detector.from_spec("chanse")
    with pytest.raises(ConfigError, match="no built-in weights"):
        Detector.from_spec("altfreezing")
    with pytest.raises(ConfigError, match="used twice"):
        load_detectors(["chance", "chance"])
    with pytest.raises(ConfigError, match="chance takes no VALUE"):
        Detector.from_spec("chance=3")


def test_the_registry_holds_only_subclasses_of_its_base():
    reg = Registry("thing", base_cls=Detector)
    with pytest.raises(TypeError, match="not a subclass of vcbench.detectors.base.Detector"):
        reg.register("bad", dict)
    reg.register("lazy", "collections:OrderedDict")          # lazy: checked when first loaded
    with pytest.raises(TypeError, match="'lazy'"):
        reg.get("lazy")
    assert all(issubclass(DETECTORS.get(n), Detector) for n in DETECTORS.names())


def test_plugins_join_the_registry_and_are_checked_like_the_rest(plugins):
    det = Detector.from_spec("lengthy=10", DetectorSettings())
    assert type(det).__name__ == "Lengthy" and det.provenance["entry_point"] == "vcb_plug:Lengthy"
    assert "lengthy" in DETECTORS and "legacy" in DETECTORS
    # the Detector subclass's own arithmetic, then the contract's check: 13/10 is no probability
    assert det.predict(["abcd", "abcdefghijklm"], ["1", "2"]) == [
        Prediction(0.4, 1), Prediction.failed("lengthy returned 1.3, not a probability in [0, 1]")]
    legacy = Detector.from_spec("legacy")
    assert legacy.kind == "plugin"
    got = legacy.predict(["a1.mp4", "b2.mp4"], ["1", "2"])
    assert got[0] == Prediction(0.25, 1) and got[1].score is None and "not a probability" in got[1].status
    with pytest.raises(ConfigError, match="neither a vcbench Detector subclass nor"):
        Detector.from_spec("broken")
    with pytest.raises(ConfigError, match="did you mean 'lengthy'"):
        Detector.from_spec("lenghty")


def test_benchmark_lists_and_runs_a_plugin(plugins, cli_runner, tmp_path, tiny_video):
    import csv
    import json
    import shutil

    from vcbench.cli import cli

    r = cli_runner.invoke(cli, ["benchmark", "--list", "--datasets", "/nonexistent.toml"])
    assert r.exit_code == 0 and "legacy" in r.output and "plug-in (vcb_plug:Legacy)" in r.output, r.output
    root = tmp_path / "ds"
    split = {"train": [], "val": [], "test": []}
    for label in ("real", "fake"):
        for k, name in enumerate(("a1", "b2", "a3")):
            (root / label).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tiny_video, root / label / f"{label}{name}.mp4")
            split["val" if k == 2 else "test"].append(f"{label}{name}")
    (root / "split.json").write_text(json.dumps(split))
    toml = tmp_path / "d.toml"
    toml.write_text(f'[datasets.ds]\nkind = "folder"\nroot = "{root}"\nsplit_file = "{root / "split.json"}"\n')
    r = cli_runner.invoke(cli, ["benchmark", "--model", "legacy", "--model", "chance", "--dataset", "ds", "--datasets",
                                str(toml), "--out", str(tmp_path / "b"), "--bootstrap", "10"])
    rows = list(csv.DictReader(open(tmp_path / "b" / "predictions.csv")))
    legacy = {r["video_id"]: r for r in rows if r["model"] == "legacy"}
    assert len(legacy) == 6 and sum(r["model"] == "chance" for r in rows) == 6
    # the b2 videos' NaN fails them, named; the others score; the run exits non-zero
    assert all(legacy[v]["score"] == "0.250000" for v in legacy if not v.endswith("b2"))
    assert all("not a probability" in legacy[v]["status"] for v in legacy if v.endswith("b2"))
    assert r.exit_code == 1 and "failed: legacy ds/clean/" in r.output, r.output
    models = json.loads((tmp_path / "b" / "models.json").read_text())
    assert models["legacy"]["kind"] == "plugin" and models["legacy"]["provenance"]["entry_point"] == "vcb_plug:Legacy"


def _tiny_with(tmp_path, **declared):
    """A tiny network saved with its declared input changed."""
    import torch

    from vcbench.models.altfreezing import build_altfreezing
    from vcbench.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = build_altfreezing("altfreezing-tiny")
    net.preprocess = dataclasses.replace(net.preprocess, **declared)
    return save_checkpoint(net, tmp_path / "tiny.pth")


def test_the_scorer_feeds_what_the_weights_declare(tmp_path, carphone):
    from vcbench.detectors.files import score_files
    from vcbench.scoring import ScoreSettings

    pytest.importorskip("mediapipe")
    ck = _tiny_with(tmp_path, aggregate="max-track", clip_len=4)
    run = score_files([carphone], ck, settings=ScoreSettings(mode="dense", max_frames=20), device="cpu",
                      cache_dir=tmp_path / "cache", dump_clips=tmp_path / "clips")
    (res,) = run.results
    assert run.settings.aggregate == "max-track" and res.aggregate == "max-track"
    assert res.n_clips == 20 - 4 + 1                          # 4-frame windows, as declared, not the arch's 8
    import numpy as np

    clip = np.load(next((tmp_path / "clips").rglob("*.npz")))["clip"]
    assert clip.shape == (4, 64, 64, 3)
    # the user's choice still wins over the declaration
    run = score_files([carphone], ck, settings=ScoreSettings(mode="dense", max_frames=20, aggregate="mean"),
                      device="cpu", cache_dir=tmp_path / "cache")
    assert run.settings.aggregate == "mean"


def test_an_unusable_declaration_is_one_line_naming_the_file(tmp_path):
    import torch

    from vcbench.models import load_network

    ck = _tiny_with(tmp_path)
    obj = torch.load(ck, weights_only=True)
    obj["preprocess"]["crop"] = "box-1.3"
    torch.save(obj, ck)
    with pytest.raises(CheckpointError, match=r"tiny.pth: its declared input .*crop must be one of align5"):
        load_network("altfreezing-tiny", ck)
