"""Each kind of hostile-but-realistic input from the hardening sweep, built here, with what must
happen: one line naming the file, key or item (never a traceback), a bad item skipped and named
while the rest continue, nothing half-written left under a final name."""
from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from vcbench.cli import cli

from conftest import ffmpeg, has_mediapipe, write_toml

BAD_NAME = os.fsdecode(b"b\xffad.mp4")          # a file name that is not UTF-8


def _cut(src: Path, out: Path, frames: int = 16, vf: str = "null") -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-frames:v", str(frames),
                    "-vf", vf, "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def _one_line(r) -> str:
    assert r.exit_code != 0, r.output
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit), r.output
    return r.output.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, carphone):
    """A folder dataset: 3 real and 3 fake test videos, 1 + 1 val, all short carphone cuts."""
    root = tmp_path_factory.mktemp("hard") / "ds"
    split = {"train": [], "val": [], "test": []}
    for label in ("real", "fake"):
        for k in range(4):
            vf = "hflip" if k % 2 else "null"
            _cut(carphone, root / label / f"{label}{k}.mp4", vf=vf + (",hue=h=20" if label == "fake" else ""))
            split["val" if k == 3 else "test"].append(f"{label}{k}")
    (root / "split.json").write_text(json.dumps(split))
    toml = write_toml(root.parent / "d.toml", f'[datasets.ds]\nkind = "folder"\nroot = "{root}"\n'
                                              f'split_file = "{root / "split.json"}"\n')
    return {"root": root, "toml": toml}


def _bench(cli_runner, folder, out, *models, extra=()):
    args = ["benchmark", "--dataset", "ds", "--datasets", str(folder["toml"]), "--out", str(out), "--bootstrap", "20",
            "--device", "cpu"]
    for m in models:
        args += ["--model", m]
    return cli_runner.invoke(cli, [*args, *extra])


# --- 1. file names that are not UTF-8 -------------------------------------------------------

def test_non_utf8_file_names_are_named_escaped_and_skipped(folder, cli_runner, tmp_path, carphone):
    root = tmp_path / "nu"
    for sub in ("real", "fake"):
        _cut(carphone, root / sub / "ok.mp4", frames=8)
    _cut(carphone, root / "real" / BAD_NAME, frames=8)
    toml = write_toml(tmp_path / "nu.toml", f'[datasets.nu]\nkind = "folder"\nroot = "{root}"\n')
    r = cli_runner.invoke(cli, ["datasets", "list", "--datasets", str(toml)])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "(1 left out)" in r.output
    r = cli_runner.invoke(cli, ["datasets", "manifest", "nu", "--datasets", str(toml), "-o", str(tmp_path / "m.csv")])
    assert r.exit_code == 0, r.output
    assert "b\\xffad" not in (tmp_path / "m.csv").read_text(encoding="utf-8")      # left out, not mangled in

    # score handles it: scored, and named with its byte escaped in the output file
    out = tmp_path / "s.csv"
    r = cli_runner.invoke(cli, ["score", str(root / "real" / BAD_NAME), str(root / "real" / "ok.mp4"), "--model",
                                "altfreezing-tiny", "--untrained", "--device", "cpu", "-o", str(out)])
    assert "Traceback" not in r.output and not isinstance(r.exception, UnicodeError), r.output
    text = out.read_text(encoding="utf-8")
    assert "b\\xffad.mp4" in text and "ok.mp4" in text


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_generate_names_a_non_utf8_target_and_makes_the_rest(cli_runner, tmp_path, carphone):
    from vcbench.samples import astronaut_png

    astronaut_png(tmp_path / "src" / "astro.png")
    _cut(carphone, tmp_path / "tgt" / "a.mp4", frames=8)
    _cut(carphone, tmp_path / "tgt" / BAD_NAME, frames=8)
    r = cli_runner.invoke(cli, ["generate", "--source", str(tmp_path / "src"), "--target", str(tmp_path / "tgt"),
                                "--out", str(tmp_path / "out"), "--split", "train", "--cache-dir", str(tmp_path / "f")])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "failed: target video" in r.output and "b\\xffad.mp4: file name is not UTF-8" in r.output
    rows = list(csv.DictReader(open(tmp_path / "out" / "manifest.csv", encoding="utf-8")))
    assert {x["label"] for x in rows} == {"0", "1"} and all("\\x" not in x["path"] for x in rows)


# --- 13. a "fake" in which nothing was swapped ---------------------------------------------

@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_a_fake_with_too_few_swapped_frames_fails_instead_of_being_label_1(cli_runner, tmp_path, carphone):
    from vcbench.samples import astronaut_png

    astronaut_png(tmp_path / "src" / "astro.png")
    _cut(carphone, tmp_path / "tgt" / "a.mp4", frames=8)
    _cut(carphone, tmp_path / "tgt" / "one.mp4", frames=1)                  # decodes to one frame
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(carphone), "-frames:v", "1",
                    "-f", "image2", "-c:v", "png", str(tmp_path / "tgt" / "png.mp4")], check=True)   # a PNG named .mp4
    args = ["generate", "--source", str(tmp_path / "src"), "--target", str(tmp_path / "tgt"), "--out",
            str(tmp_path / "out"), "--split", "train", "--cache-dir", str(tmp_path / "f")]
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    for stem in ("one", "png"):
        assert f"failed: clean/mesh/{stem}__astro: {tmp_path / 'tgt' / stem}.mp4: the face was swapped in 0%" in r.output
    rows = list(csv.DictReader(open(tmp_path / "out" / "manifest.csv", encoding="utf-8")))
    assert [x["video_id"] for x in rows if x["label"] == "1"] == ["clean/mesh/a__astro"]
    assert not list((tmp_path / "out").rglob("one__astro*")) and not list((tmp_path / "out").rglob("png__astro*"))
    # the floor is an option: at 0 the one-frame fakes are kept (and named as such by their quality file)
    r = cli_runner.invoke(cli, [*args, "--min-swapped", "0"])
    rows = list(csv.DictReader(open(tmp_path / "out" / "manifest.csv", encoding="utf-8")))
    assert r.exit_code == 0 and len([x for x in rows if x["label"] == "1"]) == 3, r.output
    r = cli_runner.invoke(cli, [*args, "--min-swapped", "1.5"])
    assert r.exit_code == 2 and "--min-swapped" in r.output


# --- 2-4, 17. configuration and manifest files ----------------------------------------------

def test_bad_bytes_types_and_ranges_in_config_files_are_one_line(cli_runner, tmp_path):
    cases = {
        "utf8.toml": (b'[datasets.x]\nkind = "manifest"\nroot = "\xff\xfe"\n', "not UTF-8 text (byte 0xff at offset 39)"),
        "kind.toml": (b'[datasets.x]\nkind = ["manifest"]\nroot = "."\n', "key 'kind' must be a string"),
        "vf.toml": (b'[datasets.x]\nkind = "folder"\nroot = "."\nval_fraction = 1.5\n', "'val_fraction' must be in [0, 1)"),
        "neg.toml": (b'[datasets.x]\nkind = "celebdf"\nroot = "."\nval_fraction = -0.1\n', "'val_fraction' must be in"),
    }
    for name, (data, want) in cases.items():
        (tmp_path / name).write_bytes(data)
        line = _one_line(cli_runner.invoke(cli, ["datasets", "list", "--datasets", str(tmp_path / name)]))
        assert str(tmp_path / name) in line and want in line, (name, line)


def test_bad_manifests_name_file_row_and_column(cli_runner, tmp_path):
    manifests = {
        "fps": (b"video_id,path,label,split,fps\na,a.mp4,0,test,abc\n", "manifest.csv:2: column 'fps'"),
        "frames": (b"video_id,path,label,split,frames\na,a.mp4,0,test,12x\n", "manifest.csv:2: column 'frames'"),
        "width": (b"video_id,path,label,split,width\na,a.mp4,0,test,wide\n", "manifest.csv:2: column 'width'"),
        "bytes": (b"video_id,path,label,split\na,\xff.mp4,0,test\n", "not UTF-8 text (byte 0xff at offset 28)"),
        "escape": (b"video_id,path,label,split\na,../../etc/passwd,0,test\n", "leaves the dataset root"),
        "absolute": (b"video_id,path,label,split\na,/etc/passwd,0,test\n", "leaves the dataset root"),
    }
    text = ""
    for name, (data, _) in manifests.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.csv").write_bytes(data)
        text += f'[datasets.{name}]\nkind = "manifest"\nroot = "{tmp_path / name}"\n'
    toml = write_toml(tmp_path / "m.toml", text)
    for name, (_, want) in manifests.items():
        line = _one_line(cli_runner.invoke(cli, ["datasets", "manifest", name, "--datasets", str(toml), "-o",
                                                 str(tmp_path / f"{name}.csv")]))
        assert want in line and str(tmp_path / name) in line, (name, line)
        assert not (tmp_path / f"{name}.csv").exists()


def test_inside_paths_with_dots_are_still_fine():
    from vcbench.datasets.base import escapes_root

    assert not escapes_root("a/../b.mp4") and not escapes_root("./x/y.mp4")
    assert escapes_root("a/../../b.mp4") and escapes_root("/abs.mp4") and escapes_root("..\\x.mp4")


# --- 5, 6, 12c, 15. output paths -------------------------------------------------------------

def test_output_path_errors_are_one_line_naming_the_path(folder, cli_runner, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("a file where a folder must be")
    video = folder["root"] / "real" / "real0.mp4"
    runs = {
        "simulate": ["simulate", str(video), "--preset", "zoom-360p", "-o", str(blocker / "x.mp4")],
        "score": ["score", str(video), "--model", "altfreezing-tiny", "--untrained", "--device", "cpu", "-o",
                  str(blocker / "s.csv")],
        "manifest": ["datasets", "manifest", "ds", "--datasets", str(folder["toml"]), "-o", str(blocker / "m.csv")],
        "benchmark": ["benchmark", "--model", "chance", "--dataset", "ds", "--datasets", str(folder["toml"]),
                      "--out", str(blocker / "run")],
    }
    for name, args in runs.items():
        line = _one_line(cli_runner.invoke(cli, args))
        assert str(blocker) in line and "is a file, not a folder" in line, (name, line)


def test_simulate_writes_video_and_stats_together_or_not_at_all(folder, cli_runner, tmp_path, monkeypatch):
    import errno

    import vcbench.conference.simulate as S

    video = folder["root"] / "real" / "real0.mp4"
    out = tmp_path / "o.mp4"

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(S, "write_json", full)
    line = _one_line(cli_runner.invoke(cli, ["simulate", str(video), "--preset", "zoom-360p", "-o", str(out)]))
    assert "No space left on device" in line
    assert list(tmp_path.iterdir()) == []                  # no video without its stats, no temporary
    monkeypatch.undo()

    # the input itself as output is refused; a name whose stats file cannot exist is refused up front
    line = _one_line(cli_runner.invoke(cli, ["simulate", str(video), "--preset", "zoom-360p", "-o", str(video)]))
    assert "the output is the input" in line
    long = tmp_path / ("a" * 248 + ".mp4")
    line = _one_line(cli_runner.invoke(cli, ["simulate", str(video), "--preset", "zoom-360p", "-o", str(long)]))
    assert "name too long for its stats file" in line and not long.exists()


def test_vp8_receiver_view_goes_into_webm(folder, cli_runner, tmp_path):
    from vcbench.video import probe

    video = folder["root"] / "real" / "real0.mp4"
    r = cli_runner.invoke(cli, ["simulate", str(video), "--preset", "lossy-180p", "-o", str(tmp_path / "o.webm")])
    assert r.exit_code == 0, r.output
    info = probe(tmp_path / "o.webm")
    assert info.codec == "vp9" and info.frames > 0                  # the receiver's view, VP9 lossless
    stats = json.loads((tmp_path / "o.webm.stats.json").read_text())
    assert stats["codec"] == "vp8"                                  # what the call sent
    line = _one_line(cli_runner.invoke(cli, ["simulate", str(video), "--preset", "zoom-360p", "-o",
                                             str(tmp_path / "z.webm")]))
    assert "x264" in line and ".mp4" in line


def test_long_output_names_fit_their_temporaries(folder, cli_runner, tmp_path):
    out = tmp_path / ("s" * 251 + ".csv")                       # 255 bytes: legal
    r = cli_runner.invoke(cli, ["score", str(folder["root"] / "real" / "real0.mp4"), "--model", "altfreezing-tiny",
                                "--untrained", "--device", "cpu", "-o", str(out)])
    assert "File name too long" not in r.output and out.is_file(), r.output


def test_simulate_errors_name_the_input_not_a_temporary(cli_runner, tmp_path, carphone):
    half = tmp_path / "half.mp4"
    data = _cut(carphone, tmp_path / "whole.mp4", frames=30).read_bytes()
    half.write_bytes(data[: len(data) // 2])                    # a download cut short
    r = cli_runner.invoke(cli, ["simulate", str(half), "--preset", "lossy-180p", "-o", str(tmp_path / "o.mp4")])
    if r.exit_code:
        line = _one_line(r)
        assert str(half) in line and ".vcb-sim-" not in line and "sent." not in line, line
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- 7. corrupt or foreign run files ---------------------------------------------------------

def test_corrupt_run_files_are_named_in_one_line(folder, cli_runner, tmp_path):
    run = tmp_path / "run"
    r = _bench(cli_runner, folder, run, "chance")
    assert r.exit_code == 0, r.output
    good = {n: (run / n).read_bytes() for n in ("results.json", "benchmark.json", "predictions.csv")}

    def restore():
        for n, b in good.items():
            (run / n).write_bytes(b)

    cases = [("results.json", good["results.json"][:40], ["report", str(run), "-o", str(tmp_path / "r.html")]),
             ("results.json", b"[1, 2]", ["report", str(run), "-o", str(tmp_path / "r.html")]),
             ("results.json", b'{"schema": "vcbench-benchmark/1", "cells": "x"}',
              ["report", str(run), "-o", str(tmp_path / "r.html")]),
             ("benchmark.json", b'"a string"', ["benchmark", "--model", "chance", "--dataset", "ds", "--datasets",
                                                str(folder["toml"]), "--out", str(run)]),
             ("benchmark.json", b'{"identity": [1]}', ["benchmark", "--merge", str(run), "--out", str(tmp_path / "m")])]
    for name, data, args in cases:
        (run / name).write_bytes(data)
        line = _one_line(cli_runner.invoke(cli, args))
        assert str(run / name) in line, (name, data, line)
        restore()
    assert not (tmp_path / "r.html").exists()


def _fake_finetune_run(path: Path, run: dict, metrics: str) -> Path:
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"format": "vcbench-finetune/1", **run}))
    (path / "metrics.jsonl").write_text(metrics)
    return path


def test_corrupt_finetune_run_files_are_named(cli_runner, tmp_path):
    cases = [({"evaluations": "none"}, "", "run.json"),
             ({"config": [1]}, "", "run.json"),
             ({}, '{"step": "ten", "loss": 1}\n{"step": 2}\n', "metrics.jsonl:1"),
             ({}, '{"step": 1, "loss": "high"}\n', "metrics.jsonl:1"),
             ({}, 'garbage\n{"step": 1}\n', "metrics.jsonl:1")]
    for k, (run, metrics, where) in enumerate(cases):
        ft = _fake_finetune_run(tmp_path / f"ft{k}", run, metrics)
        line = _one_line(cli_runner.invoke(cli, ["report", "--finetune", str(ft), "-o", str(tmp_path / "r.html")]))
        assert f"ft{k}/{where}" in line, (run, metrics, line)
    # a line a killed run half-wrote (the last) is not an error
    from vcbench.contracts import read_metrics_lines

    ft = _fake_finetune_run(tmp_path / "torn", {}, '{"step": 1, "loss": 0.5}\n{"step": 2, "lo')
    assert read_metrics_lines(ft / "metrics.jsonl") == [{"step": 1, "loss": 0.5}]


def test_a_damaged_last_pth_is_refused_by_name(tmp_path):
    from vcbench.errors import CheckpointError
    from vcbench.finetune.trainer import check_trainer_state

    good = {"state_dict": {}, "trainer": {"step": 4, "optimizer": {}, "config": {}, "bad_evals": 0, "best_auc": None,
                                          "best_step": None, "rng": {"torch": torch.get_rng_state()}}}
    check_trainer_state(tmp_path / "last.pth", good)
    broken = [lambda t: t.pop("optimizer"), lambda t: t.update(rng={"torch": torch.zeros(3)}),
              lambda t: t.update(step="4"), lambda t: t.update(rng=None)]
    for k, damage in enumerate(broken):
        state = {"state_dict": {}, "trainer": dict(good["trainer"])}
        damage(state["trainer"])
        with pytest.raises(CheckpointError, match="last.pth"):
            check_trainer_state(tmp_path / "last.pth", state)


# --- 8. non-finite scores --------------------------------------------------------------------

@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_nan_weights_fail_videos_instead_of_scoring_them(folder, cli_runner, tmp_path):
    from vcbench.models import build_network
    from vcbench.models.checkpoint import checkpoint_dict

    net = build_network("altfreezing-tiny")
    with torch.no_grad():
        net.resnet.head.projection.weight.fill_(float("nan"))
    ckpt = tmp_path / "nan.pth"
    torch.save(checkpoint_dict(net, {}), ckpt)
    r = cli_runner.invoke(cli, ["score", str(folder["root"] / "real" / "real0.mp4"), "--checkpoint", str(ckpt),
                                "--device", "cpu"])
    assert r.exit_code == 1 and "non-finite score" in r.output and "1 failed" in r.output, r.output
    r = _bench(cli_runner, folder, tmp_path / "b", f"bad={ckpt}")
    assert r.exit_code == 1 and "non-finite score" in r.output, r.output
    rows = list(csv.DictReader(open(tmp_path / "b" / "predictions.csv")))
    assert rows and all(x["status"] != "ok" and x["score"] == "" for x in rows)


def test_a_nan_already_in_predictions_is_a_failure_not_a_score(folder, cli_runner, tmp_path):
    run = tmp_path / "run"
    assert _bench(cli_runner, folder, run, "chance").exit_code == 0
    rows = list(csv.DictReader(open(run / "predictions.csv")))
    rows[0]["score"] = "nan"
    with open(run / "predictions.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    from vcbench.benchmark.results import compute_results

    res = compute_results(run, bootstrap=0)
    cell = res["cells"][0]
    n_test = sum(x["split"] == "test" for x in rows)
    assert cell["metrics"]["n"] == n_test - (rows[0]["split"] == "test")


# --- 9, 10. bring-your-own detectors that exit, hang or change -------------------------------

NETWORKS = {
    "sysexit": "import sys\ndef predict(p):\n    if p.endswith('real1.mp4'):\n        sys.exit(3)\n    return 0.4\n",
    "osexit": "import os\ndef predict(p):\n    if p.endswith('real1.mp4'):\n        os._exit(7)\n    return 0.4\n",
    "hang": "import time\ndef predict(p):\n    if p.endswith('real1.mp4'):\n        time.sleep(60)\n    return 0.4\n",
}


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_a_detector_that_exits_or_hangs_fails_only_its_video(kind, folder, cli_runner, tmp_path):
    det = tmp_path / f"{kind}.py"
    det.write_text(NETWORKS[kind])
    r = _bench(cli_runner, folder, tmp_path / "run", f"d={det}", extra=["--detector-timeout", "2"])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    failed = [x for x in r.output.splitlines() if x.startswith("failed:")]
    assert len(failed) == 1 and "real1" in failed[0], r.output
    want = {"sysexit": "sys.exit(3)", "osexit": "exited with code 7", "hang": "did not answer within 2 s"}[kind]
    assert want in failed[0]
    assert "8 predictions: 7 done, 1 failed" in r.output
    rows = list(csv.DictReader(open(tmp_path / "run" / "predictions.csv")))
    assert sum(x["status"] == "ok" for x in rows) == 7


def test_a_detector_exiting_on_import_is_one_line(folder, cli_runner, tmp_path):
    det = tmp_path / "imp.py"
    det.write_text("import os\nos._exit(4)\n")
    line = _one_line(_bench(cli_runner, folder, tmp_path / "run", f"d={det}"))
    assert str(det) in line and "exited with code 4" in line


def test_a_changed_detector_file_is_refused_in_the_same_out(folder, cli_runner, tmp_path):
    det = tmp_path / "mine.py"
    det.write_text("def predict(p):\n    return 0.3\n")
    run = tmp_path / "run"
    assert _bench(cli_runner, folder, run, f"mine={det}").exit_code == 0
    assert _bench(cli_runner, folder, run, f"mine={det}").exit_code == 0          # unchanged: resumes
    assert _bench(cli_runner, folder, run, f"mine={det}", "chance").exit_code == 0   # a new model joins
    det.write_text("def predict(p):\n    return 0.9\n")
    line = _one_line(_bench(cli_runner, folder, run, f"mine={det}"))
    assert "model 'mine' changed" in line and str(det) in line


# --- 11, 16. merges and appended CSVs ---------------------------------------------------------

def test_merge_refuses_shards_that_would_lose_rows(folder, cli_runner, tmp_path):
    shards = []
    for i in range(2):
        s = tmp_path / f"s{i}"
        assert _bench(cli_runner, folder, s, "chance", extra=["--shard", f"{i}/2"]).exit_code == 0
        shards.append(s)
    n = [len(list(csv.DictReader(open(s / "predictions.csv")))) for s in shards]
    m = cli_runner.invoke(cli, ["benchmark", "--merge", str(shards[0]), "--merge", str(shards[1]), "--out",
                                str(tmp_path / "m")])
    assert m.exit_code == 0 and f"merged {sum(n)} predictions" in m.output, m.output

    one = cli_runner.invoke(cli, ["benchmark", "--merge", str(shards[0]), "--out", str(tmp_path / "m1")])
    assert "merging 1 of 2 shards" in one.output, one.output

    good = (shards[1] / "predictions.csv").read_bytes()
    lines = good.decode().splitlines(keepends=True)
    damages = {"torn": good[:-7], "no label": "".join(x.replace("label,", "", 1) if k == 0 else x
                                                        for k, x in enumerate(lines)).encode(),
               "empty": b"", "header only": lines[0].encode()}
    for what, data in damages.items():
        (shards[1] / "predictions.csv").write_bytes(data)
        line = _one_line(cli_runner.invoke(cli, ["benchmark", "--merge", str(shards[0]), "--merge", str(shards[1]),
                                                 "--out", str(tmp_path / f"x-{what}")]))
        assert str(shards[1] / "predictions.csv") in line, (what, line)


def test_a_torn_row_and_retried_failures_appear_once(folder, cli_runner, tmp_path):
    det = tmp_path / "flaky.py"
    det.write_text("def predict(p):\n    return float('nan') if p.endswith('fake2.mp4') else 0.6\n")
    run = tmp_path / "run"
    for _ in range(3):                       # the failure is retried on every re-run, recorded once
        _bench(cli_runner, folder, run, f"f={det}")
    rows = list(csv.DictReader(open(run / "predictions.csv")))
    keys = [x["video_id"] for x in rows]
    assert len(keys) == len(set(keys)) == 8
    # a kill mid-write: the last row torn inside its last column ('ok' cut to 'o', no newline)
    run = tmp_path / "chance"
    assert _bench(cli_runner, folder, run, "chance").exit_code == 0
    data = (run / "predictions.csv").read_bytes()
    (run / "predictions.csv").write_bytes(data.rstrip(b"\r\n")[:-1])
    torn = data.rstrip(b"\r\n").splitlines()[-1].decode().split(",")[3]
    r = _bench(cli_runner, folder, run, "chance")
    assert r.exit_code == 0 and "1 done, 7 already done" in r.output, r.output
    rows = list(csv.DictReader(open(run / "predictions.csv")))
    assert [x["video_id"] for x in rows].count(torn) == 1 and {x["status"] for x in rows} == {"ok"}
    assert len(rows) == 8


# --- 12. names that would leave their folder -------------------------------------------------

def test_report_tables_stay_in_their_folder(folder, cli_runner, tmp_path):
    evil = "a/../../../X"
    toml = write_toml(tmp_path / "e.toml", f'[datasets."{evil}"]\nkind = "folder"\nroot = "{folder["root"]}"\n'
                                           f'split_file = "{folder["root"] / "split.json"}"\n')
    run = tmp_path / "deep" / "er" / "run"
    r = cli_runner.invoke(cli, ["benchmark", "--model", "chance", "--dataset", evil, "--datasets", str(toml),
                                "--out", str(run), "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "deep" / "er" / "rep.html"
    r = cli_runner.invoke(cli, ["report", str(run), "-o", str(out)])
    assert r.exit_code == 0, r.output
    tables = out.parent / "rep_tables"
    made = sorted(p for p in tmp_path.rglob("*") if p.suffix in (".csv", ".md", ".tex") and "rep_tables" in str(p)
                  or p.name.startswith("X"))
    assert made and all(p.parent == tables for p in made), made


# --- 18, 19. exit codes and option values ----------------------------------------------------

def test_option_values_are_refused_as_option_values(folder, cli_runner):
    video = str(folder["root"] / "real" / "real0.mp4")
    for args in (["score", video, "--untrained", "--model", "altfreezing-tiny", "--clips", "-3"],
                 ["score", video, "--untrained", "--model", "altfreezing-tiny", "--max-frames", "0"],
                 ["benchmark", "--model", "chance", "--dataset", "ds", "--out", "x", "--clips", "0"]):
        r = cli_runner.invoke(cli, args)
        assert r.exit_code == 2 and "Invalid value for '--" in r.output and video not in r.output.split("Invalid")[-1]


# --- 14. native log lines --------------------------------------------------------------------

def test_opencv_and_mediapipe_log_lines_stay_off_the_console_and_the_rest_passes(tmp_path):
    import sys

    code = ("import os, sys\n"
            "from vcbench.runtime import quiet_native_logs\n"
            "quiet_native_logs()\n"
            "import cv2\n"
            "cv2.imread('/nonexistent/x.png')\n"                        # OpenCV's own [ WARN:0@...] line
            "os.write(2, b'W0000 00:00:1796248724.848083   15272 inference_feedback_manager.cc:114] x\\n')\n"
            "os.write(2, b'ffmpeg: a real message\\n')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "WARN:0" not in r.stderr and "inference_feedback" not in r.stderr, r.stderr
    assert "ffmpeg: a real message" in r.stderr


def test_every_bench_script_quiets_native_logs():
    bench = Path(__file__).resolve().parent.parent / "bench"
    for script in sorted(bench.glob("*.py")):
        if script.name == "__init__.py":
            continue
        text = script.read_text()
        main = text.split('if __name__ == "__main__":', 1)
        assert len(main) == 2 and "quiet_native_logs()" in main[1], f"{script.name} prints native log lines"
