"""The benchmark's run files under hostile conditions: a comparison of a model that is not there,
shards that lost rows without a torn line, an output that is an input, a config file that
--list and --merge must read, a copy of the training data under another name, a damaged
windows.jsonl under the report."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from vcbench.cli import cli

from conftest import has_mediapipe, write_toml

pytestmark = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")

DETECTOR = "def predict(path):\n    return 0.9 if 'fake' in path else 0.2\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory, carphone) -> dict:
    """A folder dataset: train, val and test reals and fakes (carphone cuts, 12 frames)."""
    from conftest import ffmpeg

    root = tmp_path_factory.mktemp("bh") / "ds"
    split = {"train": [], "val": [], "test": []}
    for label in ("real", "fake"):
        for k, sp in enumerate(["train", "train", "val", "test", "test"]):
            out = root / label / f"{label}{k}.mp4"
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(carphone), "-frames:v", "12",
                            "-vf", ("hflip," if k % 2 else "") + f"eq=brightness={0.02 * k}"
                            + (",hue=h=20" if label == "fake" else ""), "-c:v", "libx264", "-crf", "20", "-pix_fmt",
                            "yuv420p", str(out)], check=True)
            split[sp].append(f"{label}{k}")
    (root / "split.json").write_text(json.dumps(split))
    toml = write_toml(root.parent / "d.toml", f'[datasets.ds]\nkind = "folder"\nroot = "{root}"\n'
                                              f'split_file = "{root / "split.json"}"\n')
    det = root.parent / "mine.py"
    det.write_text(DETECTOR)
    return {"root": root, "toml": toml, "det": det}


def _bench(cli_runner, folder, out, *extra, model=None):
    return cli_runner.invoke(cli, ["benchmark", "--dataset", "ds", "--datasets", str(folder["toml"]), "--out", str(out),
                                   "--bootstrap", "20", "--model", model or f"mine={folder['det']}", *extra])


def test_a_comparison_of_a_model_that_is_not_there_is_refused_before_scoring(folder, cli_runner, tmp_path):
    t0 = time.monotonic()
    r = _bench(cli_runner, folder, tmp_path / "b", "--model", "chance", "--compare", "mine:chanse")
    assert r.exit_code == 1 and "--compare 'mine:chanse'" in r.output and "did you mean 'chance'" in r.output
    assert not (tmp_path / "b" / "predictions.csv").exists() and time.monotonic() - t0 < 10


def test_merge_refuses_an_out_that_is_a_shard_and_shards_that_lost_rows(folder, cli_runner, tmp_path):
    shards = [tmp_path / "s0", tmp_path / "s1"]
    for i, s in enumerate(shards):
        assert _bench(cli_runner, folder, s, "--shard", f"{i}/2", "--streaming", "--model",
                      "altfreezing-tiny=untrained", "--device", "cpu").exit_code == 0
    before = (shards[0] / "predictions.csv").read_bytes()
    merge = ["benchmark", "--merge", str(shards[0]), "--merge", str(shards[1])]
    r = cli_runner.invoke(cli, [*merge, "--out", str(shards[0])])
    assert r.exit_code == 1 and "the output is the input" in r.output
    assert (shards[0] / "predictions.csv").read_bytes() == before
    r = cli_runner.invoke(cli, [*merge, "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    # a predictions.csv cut at a row boundary: no torn line, but its status record counts more rows
    good = (shards[1] / "predictions.csv").read_text()
    lines = good.splitlines(keepends=True)
    (shards[1] / "predictions.csv").write_text("".join(lines[:-2]))
    r = cli_runner.invoke(cli, [*merge, "--out", str(tmp_path / "m2")])
    assert r.exit_code == 1 and f"holds {len(lines) - 3} prediction(s) where" in r.output and "counts" in r.output
    (shards[1] / "predictions.csv").write_text(good)
    # windows.jsonl torn, cut at a line, or missing
    win = shards[1] / "windows.jsonl"
    whole = win.read_text()
    for damaged, said in ((whole[:-9], "cut short"), ("".join(whole.splitlines(keepends=True)[:-1]), "no windows for 1"),
                          (None, "missing")):
        if damaged is None:
            win.unlink()
        else:
            win.write_text(damaged)
        r = cli_runner.invoke(cli, [*merge, "--out", str(tmp_path / "m3")])
        assert r.exit_code == 1 and str(win) in r.output and said in r.output, (said, r.output)
    win.write_text(whole)
    # the merged run's report, with a damaged windows.jsonl, says so and exits 1
    m = tmp_path / "m"
    (m / "windows.jsonl").write_text((m / "windows.jsonl").read_text()[:-9])
    r = cli_runner.invoke(cli, ["report", str(m), "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 1 and "windows.jsonl" in r.output and "cut short" in r.output, r.output
    assert "cut short" in (tmp_path / "r.html").read_text()


def test_list_and_merge_read_the_config_file(folder, cli_runner, tmp_path):
    other = write_toml(tmp_path / "other.toml", f'[datasets.only-in-config]\nkind = "folder"\nroot = "{folder["root"]}"\n'
                                                f'split_file = "{folder["root"] / "split.json"}"\n')
    cfg = write_toml(tmp_path / "c.toml", f'[benchmark]\ndatasets = "{other}"\n')
    r = cli_runner.invoke(cli, ["benchmark", "--list", "--config", str(cfg)])
    assert r.exit_code == 0 and "only-in-config" in r.output, r.output
    for bad, said in ((tmp_path / "none.toml", "file not found"), (write_toml(tmp_path / "b.toml", "x = ["), "malformed"),
                      (write_toml(tmp_path / "k.toml", "mergee = []\n"), "did you mean 'merge'")):
        r = cli_runner.invoke(cli, ["benchmark", "--list", "--config", str(bad)])
        assert r.exit_code == 1 and said in r.output, r.output
    shards = [tmp_path / "s0", tmp_path / "s1"]
    for i, s in enumerate(shards):
        assert _bench(cli_runner, folder, s, "--shard", f"{i}/2", "--model", "chance").exit_code == 0
    merged = tmp_path / "merged"
    cfg = write_toml(tmp_path / "m.toml", f'merge = ["{shards[0]}", "{shards[1]}"]\nout = "{merged}"\n'
                                          'compare = ["mine:chance"]\noverlap = "flag"\n')
    r = cli_runner.invoke(cli, ["benchmark", "--config", str(cfg)])
    assert r.exit_code == 0 and "merged" in r.output, r.output
    res = json.loads((merged / "results.json").read_text())
    assert res["overlap_mode"] == "flag" and [(c["model"], c["baseline"]) for c in res["comparisons"]][:1] == [("mine", "chance")]
    r = cli_runner.invoke(cli, ["watch", "x.mp4", "--config", str(write_toml(tmp_path / "w.toml", "stall_s = 2\n"))])
    assert r.exit_code == 1 and "did you mean 'stall'" in r.output


def test_a_copy_of_the_training_data_under_another_name_is_still_training_data(folder, cli_runner, tmp_path):
    """The training record keeps each file's content: a train video copied into another dataset and
    relabelled test is left out as the video it is; a new video of a training person in that copy
    is left out for its person (the copy is the training data, whatever it is called); the same
    person's name in unrelated data means nothing."""
    from conftest import ffmpeg
    from vcbench.datasets import get_dataset
    from vcbench.finetune.data import training_record

    ident = "identity = '(?:real|fake)(?P<target>[0-9])'\n"
    orig = write_toml(tmp_path / "o.toml", f'[datasets.ds]\nkind = "folder"\nroot = "{folder["root"]}"\n'
                                           f'split_file = "{folder["root"] / "split.json"}"\n{ident}')
    ds = get_dataset("ds", orig)
    det = tmp_path / "trained.py"
    det.write_text(DETECTOR)
    rec = training_record([(ds, r) for r in ds.records if r.split == "train"], [], {"ds": {"manifest_sha256": None}})
    Path(str(det) + ".training.json").write_text(json.dumps(rec))

    def dataset(name: str, root: Path, moved: list[str], new: str) -> Path:
        split = json.loads((root / "split.json").read_text())
        for v in moved:                               # a training video, now called test data
            split["train"].remove(v)
            split["test"].append(v)
        subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(folder["root"] / "real" / "real1.mp4"),
                        "-vf", "eq=contrast=1.3", "-c:v", "libx264", "-crf", "30", str(root / "real" / f"{new}.mp4")],
                       check=True)                     # new content, a training person (identity 1)
        split["test"].append(new)
        (root / "split.json").write_text(json.dumps(split))
        return write_toml(tmp_path / f"{name}.toml", f'[datasets.{name}]\nkind = "folder"\nroot = "{root}"\n'
                                                      f'split_file = "{root / "split.json"}"\n{ident}')

    copy = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(folder["root"], copy)
    other = tmp_path / "unrelated"                     # none of the training files: its "1" is someone else
    shutil.copytree(folder["root"], other)
    for k in (0, 1):
        for label in ("real", "fake"):
            (other / label / f"{label}{k}.mp4").unlink()
            split = json.loads((other / "split.json").read_text())
            split["train"].remove(f"{label}{k}")
            (other / "split.json").write_text(json.dumps(split))
    cells = {}
    for name, toml in (("renamed", dataset("renamed", copy, ["fake0"], "real1b")),
                       ("unrelated", dataset("unrelated", other, [], "real1b"))):
        r = cli_runner.invoke(cli, ["benchmark", "--dataset", name, "--datasets", str(toml), "--model",
                                    f"trained={det}", "--out", str(tmp_path / name), "--bootstrap", "20"])
        assert r.exit_code == 0, r.output
        cells[name] = json.loads((tmp_path / name / "results.json").read_text())["cells"][0]
    ov = cells["renamed"]["overlap"]
    assert ov["checked"] and {"fake/fake0", "real/real1b"} <= set(ov["videos"]), ov
    assert ov["by_reason"]["test: video"] == 1 and ov["by_reason"]["test: identity"] >= 1, ov
    assert cells["unrelated"]["overlap"]["excluded"] == 0, cells["unrelated"]["overlap"]


def test_outputs_that_are_inputs_are_refused_in_every_command(folder, cli_runner, tmp_path):
    video = tmp_path / "v.mp4"
    shutil.copyfile(folder["root"] / "real" / "real0.mp4", video)
    before = video.read_bytes()
    tl = tmp_path / "tl.csv"
    r = cli_runner.invoke(cli, ["score", str(video), "--untrained", "--timeline", str(tl), "-o", str(tl)])
    assert r.exit_code == 1 and "two outputs cannot share a file" in r.output and not tl.exists()
    r = cli_runner.invoke(cli, ["score", str(video), "--untrained", "-o", str(video)])
    assert r.exit_code == 1 and "the output is the input" in r.output
    r = cli_runner.invoke(cli, ["simulate", str(tmp_path / "v.mp4.stats.json"), "--preset", "zoom-360p", "-o", str(video)])
    assert r.exit_code == 1 and "the output is the input" in r.output and "its stats file" in r.output
    assert video.read_bytes() == before
    run = tmp_path / "run_tables"             # a run folder whose name is what "-o run.html" puts tables in
    assert _bench(cli_runner, folder, run).exit_code == 0
    results = (run / "results.json").read_bytes()
    for out in (run / "results.json", tmp_path / "run.html"):
        r = cli_runner.invoke(cli, ["report", str(run), "-o", str(out)])
        assert r.exit_code == 1 and "the output is the input" in r.output, r.output
    assert (run / "results.json").read_bytes() == results and (run / "predictions.csv").is_file()
    r = cli_runner.invoke(cli, ["datasets", "manifest", "ds", "--datasets", str(folder["toml"]), "-o",
                                str(folder["root"] / "split.json")])
    assert r.exit_code == 1 and "the output is the input" in r.output
