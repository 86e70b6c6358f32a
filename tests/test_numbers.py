"""Numbers a reviewer cannot break: test videos a model trained on are left out (or flagged) and
counted, comparisons resample whole identities and are Holm-adjusted, failures are counted by
label, and every cell has its operating points (the model's own threshold and the target-val one)."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from vcbench import metrics as M
from vcbench.cli import cli

from conftest import write_toml

PEOPLE = [f"p{i}" for i in range(8)]


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_video):
    """A manifest dataset: per person a real and a fake in test (p0-p5) or val (p6, p7); p3's real
    carries FF++ clip 071; two .py detectors (scores from the file name, no model needed) and one
    with a .training.json declaring what it trained on."""
    root = tmp_path_factory.mktemp("numbers")
    ds = root / "ds"
    rows = []
    for k, person in enumerate(PEOPLE):
        split = "val" if k >= 6 else "test"
        for label, method in ((0, "original"), (1, "mesh")):
            vid = f"{method}/{person}" if label == 0 else f"{method}/{person}__x{k}"
            path = f"videos/{vid.replace('/', '_')}.mp4"
            (ds / "videos").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tiny_video, ds / path)
            rows.append({"video_id": vid, "path": path, "label": label, "split": split, "method": method,
                         "source_id": f"s{k}" if label else "", "target_id": person, "preset": "clean",
                         "pair_id": f"original/{person}", "clip_id": "ffpp/071" if (person, label) == ("p3", 0) else ""})
    with open(ds / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    toml = write_toml(root / "d.toml", f'[datasets.d]\nkind = "manifest"\nroot = "{ds}"\n')
    # "good": fakes high, reals low, by the person's number; "coin": the reverse half the time
    (root / "good.py").write_text(
        "import re\n"
        "def predict(path):\n"
        "    k = int(re.search(r'_p(\\d)', path).group(1))\n"
        "    if 'mesh' in path and k == 5:\n"
        "        raise ValueError('this fake does not decode')\n"
        "    return (0.6 + 0.04 * k) if 'mesh' in path else (0.1 + 0.05 * k)\n")
    (root / "coin.py").write_text(
        "import re\n"
        "def predict(path):\n"
        "    k = int(re.search(r'_p(\\d)', path).group(1))\n"
        "    return 0.3 + 0.05 * k + (0.2 if 'mesh' in path and k % 2 else 0.0)\n")
    shutil.copyfile(root / "good.py", root / "trained.py")
    (root / "trained.py.training.json").write_text(json.dumps({"from": "a test declaration", "threshold": 0.5, "sets": [
        {"dataset": "d", "kind": "manifest", "root": str(ds), "splits": ["train"],
         "videos": ["original/p1"], "identities": ["p2"], "canonical": ["clip ffpp/071"]}]}))
    return {"root": root, "toml": toml, "ds": ds}


def _bench(cli_runner, world, out, *extra):
    r = root = world["root"]
    args = ["benchmark", "--dataset", "d", "--datasets", str(world["toml"]), "--out", str(out), "--bootstrap", "200",
            "--model", f"good={root / 'good.py'}", "--model", f"coin={root / 'coin.py'}",
            "--model", f"trained={root / 'trained.py'}", *extra]
    r = cli_runner.invoke(cli, args)
    return r, json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else None


def test_training_overlap_is_left_out_by_default_counted_and_said(world, cli_runner, tmp_path):
    r, res = _bench(cli_runner, world, tmp_path / "b")
    assert res is not None, r.output
    cell = {c["model"]: c for c in res["cells"]}
    t = cell["trained"]
    # p1's real is a training video, p2 a training identity (both its videos), p3's real shows FF++ clip 071
    assert t["overlap"]["checked"] and t["overlap"]["mode"] == "exclude" and t["overlap"]["excluded"] == 4
    assert t["overlap"]["by_reason"] == {"test: clip": 1, "test: identity": 2, "test: video": 1}
    assert t["metrics"]["n"] == cell["good"]["metrics"]["n"] - 4
    assert not cell["good"]["overlap"]["checked"] and "unknown" in cell["good"]["overlap"]["why"]
    assert "-4" in "\n".join(line for line in r.output.splitlines() if line.startswith("trained"))
    # the report says it, and that the others' training data is unknown
    rep = tmp_path / "r.html"
    assert cli_runner.invoke(cli, ["report", str(tmp_path / "b"), "-o", str(rep), "--no-thumbnails"]).exit_code == 0
    html = rep.read_text()
    assert "4 video(s) left out because the model trained or validated on them" in html
    assert "Training data unknown for coin, good" in html
    # flag instead: the same predictions, nothing re-scored, the videos kept and counted
    from vcbench.benchmark.results import compute_results

    flagged = compute_results(tmp_path / "b", bootstrap=0, overlap="flag")
    ft = {c["model"]: c for c in flagged["cells"]}["trained"]
    assert ft["overlap"]["flagged"] == 4 and ft["metrics"]["n"] == cell["good"]["metrics"]["n"]


def test_failures_by_label_operating_points_and_clustered_holm_comparisons(world, cli_runner, tmp_path):
    r, res = _bench(cli_runner, world, tmp_path / "b", "--compare", "good:coin", "--compare", "trained:coin")
    assert r.exit_code == 1 and "failed: good d/clean/mesh/p5__x5" in r.output      # one fake fails, named
    cell = {c["model"]: c for c in res["cells"]}
    g = cell["good"]
    assert g["failures"]["fake"] == 1 and g["failures"]["real"] == 0
    assert g["failures"]["flag"] is True                                   # 1/6 fakes vs 0/6 reals: > 5 points
    y = [0] * 6 + [1] * 6
    s = [0.1 + 0.05 * k for k in range(6)] + [0.6 + 0.04 * k for k in range(5)] + [0.5]
    assert g["failures"]["auc_if_scored_05"] == pytest.approx(M.auc(y, s), abs=1e-6)
    # operating points: the model's own declared threshold, the target-val one, 0.5; confusion adds up
    ops = cell["trained"]["operating_points"]
    assert ops["model"]["threshold"] == 0.5 and "declared with a test declaration" in ops["model"]["from"]
    assert ops["target_val"]["from"].startswith("tuned on target val")
    op = g["operating_points"]["0.5"]
    assert op["tp"] + op["fn"] == 5 and op["tn"] + op["fp"] == 6 and op["f1"] == pytest.approx(1.0)
    assert g["operating_points"]["model"]["from"] == "the model declares no threshold"
    assert g["pr_curve"][-1][0] == 1.0
    # comparisons: the pairs asked for, resampling identities, Holm over both
    comps = {(c["model"], c["baseline"]): c for c in res["comparisons"]}
    assert set(comps) == {("good", "coin"), ("trained", "coin")}
    c = comps[("good", "coin")]
    assert c["clusters"] == 6 and c["videos"] == 11 and c["ci95"][0] <= c["delta_auc"] <= c["ci95"][1]
    ps = sorted(x["p"] for x in comps.values())
    assert sorted(x["p_holm"] for x in comps.values()) == pytest.approx(M.holm(ps)) and c["p_holm"] >= c["p"]
    assert c["delong_note"] == "assumes independent videos"
    bad = cli_runner.invoke(cli, ["benchmark", "--dataset", "d", "--datasets", str(world["toml"]), "--out",
                                  str(tmp_path / "b"), "--model", f"good={world['root'] / 'good.py'}",
                                  "--compare", "good:nobody"])
    assert bad.exit_code == 1 and "--compare 'good:nobody'" in bad.output and "Traceback" not in bad.output


def test_operating_point_pr_curve_and_holm_match_their_definitions():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.3 + rng.normal(0.4, 0.2, 200), 0, 1)
    op = M.operating_point(y, s, 0.55)
    pred = (s >= 0.55).astype(int)
    tn, fp, fn, tp = sk.confusion_matrix(y, pred).ravel()
    assert (op["tp"], op["fp"], op["tn"], op["fn"]) == (tp, fp, tn, fn)
    assert op["precision"] == pytest.approx(sk.precision_score(y, pred))
    assert op["recall"] == pytest.approx(sk.recall_score(y, pred)) and op["f1"] == pytest.approx(sk.f1_score(y, pred))
    p, r, _ = sk.precision_recall_curve(y, s)
    curve = {tuple(x) for x in M.pr_curve(y, s, points=10_000)}
    assert all((round(float(ri), 4), round(float(pi), 4)) in curve for pi, ri in zip(p[:-1], r[:-1]))
    # Holm by hand: 0.01*3, max(0.03*2, 0.03), max(0.04*1, 0.06)
    assert M.holm([0.04, 0.01, None, 0.03]) == pytest.approx([0.06, 0.03, None, 0.06], nan_ok=True)


def test_clustered_bootstrap_is_wider_than_independent_when_videos_of_a_person_move_together():
    rng = np.random.default_rng(1)
    n_people, per = 12, 6
    person = np.repeat(np.arange(n_people), per)
    y = np.tile([0, 1] * (per // 2), n_people)
    a = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.15, len(y)), 0, 1)
    b = np.clip(a - y * rng.normal(0, 0.25, n_people)[person], 0, 1)  # b errs on some people's fakes, all of them
    d, lo, hi, p = M.paired_bootstrap_delta(y, a, b, person, n=400, seed=0)
    d2, lo2, hi2, _ = M.paired_bootstrap_delta(y, a, b, np.arange(len(y)), n=400, seed=0)
    assert d == d2 and lo <= d <= hi and 0 < p <= 1
    assert (hi - lo) > 1.3 * (hi2 - lo2)                  # 72 videos are 12 people, not 72 draws
    same = M.paired_bootstrap_delta(y, a, a, person, n=100)
    assert same[0] == 0 and same[3] == 1.0
