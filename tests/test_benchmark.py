"""vcbench benchmark on a small real-video dataset: three kinds of model x two call conditions."""
from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from vcbench.cli import cli

from conftest import ffmpeg, has_mediapipe, write_toml

pytestmark = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")

BYO = '''
import math
from pathlib import Path

def predict(video_path):
    name = Path(video_path).name
    if name.startswith("real_2"):
        return float("nan")            # a broken detector output: that row fails, the run goes on
    return 0.8 if "fake" in Path(video_path).parent.name or name.startswith("fake") else 0.25
'''


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory, carphone):
    root = tmp_path_factory.mktemp("bench") / "calls"
    variants = ["null", "hflip", "crop=160:128:8:8,scale=176:144", "eq=brightness=0.06", "eq=contrast=1.2",
                "hflip,eq=saturation=1.3"]
    split = {"test": [], "val": []}
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for k, vf in enumerate(variants):
            name = f"{label}_{k}.mp4"
            extra = ["-vf", vf + (",hue=h=25" if label == "fake" else "")]
            subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(carphone), "-frames:v", "40",
                            *extra, "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(root / label / name)],
                           check=True)
            split["test" if k < 4 else "val"].append(f"{label}_{k}")
    (root / "split.json").write_text(json.dumps({**split, "train": []}))
    toml = write_toml(root.parent / "d.toml", f'[datasets.calls]\nkind = "folder"\nroot = "{root}"\n'
                                               f'split_file = "{root / "split.json"}"\n')
    det = root.parent / "mydet.py"
    det.write_text(BYO)
    return toml, det


def _run(cli_runner, toml, det, out, cache, *extra):
    return cli_runner.invoke(cli, ["benchmark", "--model", "altfreezing-tiny=untrained", "--model", f"mine={det}",
                                   "--model", "chance", "--dataset", "calls", "--preset", "clean,zoom-360p",
                                   "--out", str(out), "--datasets", str(toml), "--device", "cpu", "--bootstrap", "200",
                                   "--cache-dir", str(cache), *extra])


def test_benchmark_end_to_end(bench_data, cli_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("VCBENCH_CACHE", str(tmp_path / "vcache"))
    toml, det = bench_data
    out, cache = tmp_path / "run", tmp_path / "faces"
    r = _run(cli_runner, toml, det, out, cache)
    assert r.exit_code == 1, r.output                     # mine's NaN rows are failures, named; the rest ran
    assert "returned nan" in r.output and "Traceback" not in r.output
    rows = list(csv.DictReader(open(out / "predictions.csv")))
    assert len(rows) == 3 * 2 * 12
    assert {x["status"] for x in rows if x["model"] == "mine" and "real_2" in x["video_id"]} != {"ok"}
    res = json.loads((out / "results.json").read_text())
    assert res["schema"] == "vcbench-benchmark/1" and len(res["cells"]) == 6
    from vcbench.runtime import resolve_precision

    assert res["config"]["precision"] == resolve_precision("auto", "cpu")     # the default, resolved
    for cell in res["cells"]:
        sel = [x for x in rows if (x["model"], x["preset"]) == (cell["model"], cell["preset"])
               and x["split"] == "test" and x["status"] == "ok"]
        y = [int(x["label"]) for x in sel]
        s = [float(x["score"]) for x in sel]
        assert cell["metrics"]["n"] == len(sel)
        assert cell["metrics"]["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)
        assert cell["metrics"]["ap"] == pytest.approx(average_precision_score(y, s), abs=1e-6)
        lo, hi = cell["ci95"]["auc"]
        assert lo <= cell["metrics"]["auc"] <= hi
        assert cell["threshold_from"] == "val" and cell["metrics"]["threshold"] is not None
    mine = next(c for c in res["cells"] if (c["model"], c["preset"]) == ("mine", "clean"))
    assert mine["metrics"]["auc"] == 1.0 and mine["failed"] == 1
    assert {c["model"] for c in res["comparisons"]} == {"mine", "chance"}
    assert all(0 <= c["delong_p"] <= 1 for c in res["comparisons"] if c["delong_p"] is not None)
    assert set(res["shortcut"]) == {"calls/clean", "calls/zoom-360p"}
    assert all(set(v["auc"]) >= {"file_size", "bitrate", "codec"} for v in res["shortcut"].values())
    assert "delta AUC" in r.output and "Holm" in r.output and "altfreezing-tiny" in r.output
    # the call condition was applied to reals and fakes alike, once, and cached
    assert len(list((tmp_path / "vcache" / "renditions").rglob("zoom-360p-*.mp4"))) == 12

    # a re-run recomputes nothing it has (only the failed rows are tried again)
    before = (out / "predictions.csv").read_text().splitlines()
    r2 = _run(cli_runner, toml, det, out, cache)
    after = (out / "predictions.csv").read_text().splitlines()
    failed = [x for x in before if x.endswith('"') or x.split(",")[-1] not in ("ok", "status")]
    assert len(failed) == 1 and "mine,calls,clean,real/real_2" in failed[0]   # mine's NaN video (clean)
    kept = [x for x in before if x not in failed]
    assert after[:len(kept)] == kept and len(after) == len(before)            # ok rows untouched, failed one retried
    assert after[-1].startswith("mine,calls,clean,real/real_2,") and "returned nan" in after[-1]
    assert "already done" in r2.output

    # another configuration in the same folder is refused, naming what differs
    r3 = _run(cli_runner, toml, det, out, cache, "--mode", "dense")
    assert r3.exit_code == 1 and "mode" in r3.output and "use another --out" in r3.output


def test_benchmark_bad_models_and_names(bench_data, cli_runner, tmp_path):
    toml, _ = bench_data
    bad = tmp_path / "nothing.py"
    bad.write_text("x = 1\n")
    base = ["benchmark", "--dataset", "calls", "--out", str(tmp_path / "o"), "--datasets", str(toml)]
    for model, msg in ((f"m={bad}", "defines neither predict"), ("altfreezin=untrained", "did you mean 'altfreezing'"),
                       ("m=missing.pth", "neither a checkpoint file"), ("altfreezing", "no built-in weights"),
                       ("chancy", "did you mean 'chance'")):
        r = cli_runner.invoke(cli, base + ["--model", model])
        assert r.exit_code == 1 and msg in r.output and "Traceback" not in r.output, (model, r.output)
    r = cli_runner.invoke(cli, base + ["--model", "chance", "--preset", "zoom-306p"])
    assert r.exit_code == 1 and "did you mean 'zoom-360p'" in r.output
    r = cli_runner.invoke(cli, base + ["--model", "chance", "--split", "train"])
    assert r.exit_code == 1 and "no videos in split 'train'" in r.output


def test_shards_merge_into_the_whole(bench_data, cli_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("VCBENCH_CACHE", str(tmp_path / "vcache"))
    toml, det = bench_data
    args = ["benchmark", "--model", "chance", "--model", f"mine={det}", "--dataset", "calls", "--datasets", str(toml),
            "--bootstrap", "50"]
    for i in range(2):
        cli_runner.invoke(cli, args + ["--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}")])
    whole = cli_runner.invoke(cli, args + ["--out", str(tmp_path / "whole")])
    assert "24 predictions: 23 done, 1 failed" in whole.output, whole.output
    m = cli_runner.invoke(cli, ["benchmark", "--merge", str(tmp_path / "s0"), "--merge", str(tmp_path / "s1"),
                                "--out", str(tmp_path / "merged")])
    assert m.exit_code == 0 and "merged 24 predictions" in m.output, m.output
    a = json.loads((tmp_path / "merged" / "results.json").read_text())["cells"]
    b = json.loads((tmp_path / "whole" / "results.json").read_text())["cells"]
    assert [c["metrics"] for c in a] == [c["metrics"] for c in b]
    assert np.isfinite(a[0]["metrics"]["auc"])


def test_benchmark_under_torchrun_shards_by_rank_and_merges(bench_data, tmp_path):
    """Two ranks each take a shard; rank 0 merges them and writes results.json for all videos."""
    import os
    import socket
    import sys

    toml, det = bench_data
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp"
    env = {**os.environ, "VCBENCH_CACHE": str(tmp_path / "vcache"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                        "127.0.0.1", "--master_port", str(port), "-m", "vcbench", "benchmark", "--model", f"mine={det}",
                        "--model", "chance", "--dataset", "calls", "--datasets", str(toml), "--out", str(out),
                        "--bootstrap", "50", "--device", "cpu"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1, r.stderr[-3000:]            # mine's NaN rows fail, as in the single-process run
    assert r.stdout.count("wrote ") == 1
    ranks = [list(csv.DictReader(open(out / "ranks" / f"rank{k}" / "predictions.csv"))) for k in (0, 1)]
    assert ranks[0] and ranks[1]
    ids = [{x["video_id"] for x in rows} for rows in ranks]
    assert not ids[0] & ids[1]                             # disjoint shards
    merged = list(csv.DictReader(open(out / "predictions.csv")))
    assert len(merged) == len(ranks[0]) + len(ranks[1]) == 2 * 12
    res = json.loads((out / "results.json").read_text())
    assert {c["model"] for c in res["cells"]} == {"mine", "chance"}
