"""Names become objects once, at the boundary: a checkpoint is read and hashed once per run, every
command that scores goes through the Detector contract, and the library API is what the CLI calls."""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vcbench.cli import cli

from conftest import make_video, write_toml


@pytest.fixture(scope="module")
def twenty(tmp_path_factory):
    """20 small real encodes (10 real, 10 fake) in a folder dataset, all in test, and two
    altfreezing-tiny checkpoints: vcbench's format and a bare state dict (a release's file)."""
    from vcbench.models import build_network
    from vcbench.models.checkpoint import checkpoint_dict

    root = tmp_path_factory.mktemp("twenty") / "calls"
    names = []
    for label in ("real", "fake"):
        for k in range(10):
            make_video(root / label / f"{label}_{k}.mp4", frames=8, size="64x48")
            names.append(f"{label}_{k}")
    (root / "split.json").write_text(json.dumps({"train": [], "val": [], "test": names}))
    toml = write_toml(root.parent / "d.toml", f'[datasets.calls]\nkind = "folder"\nroot = "{root}"\n'
                                               f'split_file = "{root / "split.json"}"\n')
    torch.manual_seed(1)
    ours = root.parent / "ours.pth"
    torch.save(checkpoint_dict(build_network("altfreezing-tiny")), ours)
    torch.manual_seed(2)
    bare = root.parent / "bare.pth"
    torch.save(build_network("altfreezing-tiny").state_dict(), bare)
    return toml, ours, bare, root


def _count_reads_and_hashes(monkeypatch, files):
    """Counters of ``torch.load`` and ``sha256_file`` calls per file in ``files``."""
    import vcbench.fileio

    reads = {f: 0 for f in files}
    hashes = {f: 0 for f in files}
    real_load, real_hash = torch.load, vcbench.fileio.sha256_file

    def load(f, *a, **kw):
        if isinstance(f, (str, Path)) and Path(f) in reads:
            reads[Path(f)] += 1
        return real_load(f, *a, **kw)

    def sha(path):
        if Path(path) in hashes:
            hashes[Path(path)] += 1
        return real_hash(path)

    monkeypatch.setattr(torch, "load", load)
    monkeypatch.setattr(vcbench.fileio, "sha256_file", sha)
    return reads, hashes


def test_a_benchmark_reads_and_hashes_each_checkpoint_once(twenty, cli_runner, tmp_path, monkeypatch):
    toml, ours, bare, _ = twenty
    reads, hashes = _count_reads_and_hashes(monkeypatch, [ours, bare])
    r = cli_runner.invoke(cli, ["benchmark", "--model", f"a={ours}", "--model", f"altfreezing-tiny={bare}",
                                "--dataset", "calls", "--preset", "clean", "--out", str(tmp_path / "b"),
                                "--datasets", str(toml), "--device", "cpu", "--bootstrap", "20",
                                "--cache-dir", str(tmp_path / "faces")])
    rows = list(csv.DictReader(open(tmp_path / "b" / "predictions.csv")))
    assert len(rows) == 40, r.output                   # 2 models x 20 videos, each a row (scored or failed)
    assert reads == {ours: 1, bare: 1} and hashes == {ours: 1, bare: 1}, (reads, hashes)
    sha = json.loads((tmp_path / "b" / "benchmark.json").read_text())["models"]     # the run's identity
    assert {k: v["sha256"] for k, v in sha.items()} == {
        "a": hashlib.sha256(ours.read_bytes()).hexdigest(), "altfreezing-tiny": hashlib.sha256(bare.read_bytes()).hexdigest()}


def test_score_runs_any_detector_spec(twenty, carphone, cli_runner, tmp_path):
    """``--model`` is a detector spec in score as in benchmark: chance works (it answered "unknown
    network 'chance'"), a network name takes --checkpoint, contradictions are one line."""
    _, ours, _, root = twenty
    videos = [str(p) for p in sorted((root / "real").glob("*.mp4"))[:3]]
    r = cli_runner.invoke(cli, ["score", *videos, "--model", "chance", "-o", str(tmp_path / "c.csv")])
    assert r.exit_code == 0, r.output
    assert "chance (chance detector)" in r.output
    rows = list(csv.DictReader(open(tmp_path / "c.csv")))
    assert [x["video"] for x in rows] == videos and all(0 <= float(x["score"]) <= 1 for x in rows)
    assert {x["model"] for x in rows} == {"chance"}
    again = list(csv.DictReader(open(tmp_path / "c.csv")))
    assert again == rows                                   # seeded: the same scores
    r = cli_runner.invoke(cli, ["score", videos[0], str(tmp_path / "nope.mp4"), "--model", "chance"])
    assert r.exit_code == 1 and f"failed: {tmp_path / 'nope.mp4'}: no such file" in r.output   # named, the rest scored
    assert f"{videos[0]}: " in r.output and "Traceback" not in r.output
    for args, msg in ((["--model", "chance", "--checkpoint", str(ours)], "not a network, so it takes no --checkpoint"),
                      (["--model", f"x={ours}", "--untrained"], "names its weights; leave out"),
                      (["--model", "altfreezing-tiny"], "no --checkpoint: 'altfreezing-tiny' would score with random"),
                      (["--model", "chance", "--timeline", str(tmp_path / "t.csv")], "it scores whole files"),
                      (["--model", "chanse"], "did you mean 'chance'")):
        r = cli_runner.invoke(cli, ["score", videos[0], *args])
        assert r.exit_code == 1 and msg in r.output, (args, r.output)
        assert "Traceback" not in r.output
    # a network name with --checkpoint: the spec NAME=FILE, its file hashed into the rows
    r = cli_runner.invoke(cli, ["score", str(carphone), "--model", "altfreezing-tiny", "--checkpoint", str(ours),
                                "--max-frames", "24", "-o", str(tmp_path / "n.csv"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    (row,) = list(csv.DictReader(open(tmp_path / "n.csv")))
    assert row["model"] == "altfreezing-tiny" and row["checkpoint"] == str(ours)
    assert row["checkpoint_sha256"] == hashlib.sha256(ours.read_bytes()).hexdigest()


def test_the_library_api_is_lazy_and_is_what_the_cli_calls(twenty, tmp_path):
    code = ("import vcbench, sys; vcbench.score; vcbench.benchmark; vcbench.load_detector; vcbench.simulate; "
            "print('torch' in sys.modules, 'cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stdout + out.stderr
    import vcbench

    with pytest.raises(AttributeError, match="no attribute 'scroe'"):
        vcbench.scroe
    _, ours, _, root = twenty
    det = vcbench.load_detector(f"a={ours}", device="cpu")
    assert det.name == "a" and det.fingerprint()["sha256"] == hashlib.sha256(ours.read_bytes()).hexdigest()
    run = vcbench.score(sorted((root / "real").glob("*.mp4"))[:2], model="chance")
    assert len(run.results) == 2 and run.batch.done == 2


COMMANDS = {"benchmark": "vcbench.benchmark.config:BenchmarkConfig", "finetune": "vcbench.finetune.config:FinetuneConfig",
            "generate": "vcbench.generate.config:GenerateConfig", "watch": "vcbench.watch.config:WatchConfig",
            "explain": "vcbench.explain.config:ExplainConfig", "score": "vcbench.config:ScoreSettings"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_default_is_its_config_fields(command):
    """An option's default and help are its field's: the help shows the default the run uses, and
    every field that declares an option has one."""
    import dataclasses
    import importlib

    import click

    from vcbench.commandline import shown_default

    module, _, name = COMMANDS[command].partition(":")
    cls = getattr(importlib.import_module(module), name)
    params = {p.name: p for p in cli.commands[command].params if isinstance(p, click.Option)}
    declared = [f for f in dataclasses.fields(cls) if "option" in f.metadata and f.metadata["option"]["cli"]]
    assert declared
    for f in declared:
        assert f.name in params, f"{command}: the field {f.name!r} has no option"
        p, meta = params[f.name], f.metadata["option"]
        want = None if f.default is dataclasses.MISSING else f.default
        got = tuple(p.default) if p.multiple else p.default
        if p.multiple or isinstance(p.type, click.types.BoolParamType) or p.is_flag:
            assert got == (want if want is not None else ()), (command, f.name, got, want)
        else:
            assert got == shown_default(want), (command, f.name, got, want)
        assert p.help == meta["help"], (command, f.name)
    # and no option of these commands repeats a default by hand: each is a field, or takes no value
    free = {"config_file", "list_only", "checkpoint", "model", "timeline", "dump_clips", "device", "face_backend",
            "cache_dir", "untrained", "output"}
    assert set(params) <= {f.name for f in declared} | free, set(params) - {f.name for f in declared} - free
