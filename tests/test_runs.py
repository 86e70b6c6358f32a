"""The stage runtime (vcbench/runs.py): the run folder's identity and status, the one batch loop,
and each stage refusing a re-run into its folder that would mix two configurations."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from vcbench.cli import cli
from vcbench.errors import ConfigError, VideoError
from vcbench.runs import BatchJob, RunFolder, run_job

from conftest import ffmpeg, has_mediapipe, write_toml


def test_identity_is_written_once_then_compared_key_by_key(tmp_path):
    f = RunFolder(tmp_path / "out", "stage").open()
    f.claim({"crf": 18, "seed": 0}, record={"crf": 18, "seed": 0, "out": "x"}, members={"a": "d1"}, member_kind="preset")
    f.claim({"crf": 18, "seed": 0}, members={"a": "d1", "b": "d2"}, member_kind="preset")     # a new member joins
    doc = json.loads((tmp_path / "out" / "stage.identity.json").read_text())
    assert doc["presets"] == {"a": "d1", "b": "d2"} and doc["config"]["out"] == "x"
    with pytest.raises(ConfigError, match=r"crf, seed differ: crf 18 there, 20 now; seed 0 there, 1 now\); use another --out"):
        f.claim({"crf": 20, "seed": 1})
    with pytest.raises(ConfigError, match=r"preset 'b' changed since its outputs were made here \('d2' there, 'd3' now\)"):
        f.claim({"crf": 18, "seed": 0}, members={"b": "d3"}, member_kind="preset")
    (tmp_path / "out" / "stage.identity.json").write_text("{not json")
    with pytest.raises(Exception, match="stage identity file"):
        f.claim({"crf": 18, "seed": 0})


def test_opening_removes_a_dead_writers_temporaries_and_keeps_a_live_ones(tmp_path):
    from vcbench.fileio import atomic_path

    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = out / f".video.{dead.pid}-abcd1234.part.mp4"           # as atomic_path names its temporaries
    stale.write_bytes(b"half")
    with atomic_path(out / "live.mp4") as tmp:          # this process is writing it right now
        tmp.write_bytes(b"x")
        logged = []
        RunFolder(out, "s", log=logged.append).open()
        assert tmp.exists() and not stale.exists() and logged and "interrupted run" in logged[0]
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        RunFolder(tmp_path / "file", "s").open()


class Squares(BatchJob):
    what = "numbers"

    def __init__(self, done=()):
        self.done, self.made, self.finished = set(done), [], None

    def items(self):
        return list(range(10))

    def key(self, item):
        return f"n{item}"

    def is_done(self, item):
        if item == 7:
            raise FileNotFoundError(2, "No such file or directory", "/x/n7.mp4")   # a dangling link
        return item in self.done

    def run(self, item):
        if item == 3:
            raise VideoError("n3.mp4: not a video")
        if item == 5:
            raise PermissionError(13, "Permission denied", "/x/n5.mp4")
        self.made.append(item)
        return item * item

    def finish(self, result, records):
        self.finished = (result.summary(), records)


def test_the_one_loop_shards_skips_names_failures_and_finishes_on_the_writing_rank():
    events = []
    job = Squares(done={0})
    out = run_job(job, "0/2", progress=lambda e, x: events.append(e))
    assert job.made == [2, 4, 6, 8] and out.records == [4, 16, 36, 64]          # 0 done before; odd ones: shard 1
    assert out.result.skipped == 1 and out.result.done == 4 and out.result.failed == []
    assert events[0] == "start" and events.count("done") == 4 and events.count("skipped") == 1
    other = run_job(Squares(), "1/2")
    assert [f for f, _ in other.result.failed] == ["n3", "n5", "n7"]
    assert other.result.failed[1][1] == "/x/n5.mp4: Permission denied"         # an OSError is one line too
    assert other.result.done == 2 and job.finished[0] == "5 numbers: 4 done, 1 already done, 0 failed"
    quiet = Squares()
    run_job(quiet, writes=False)                                              # a rank that does not write
    assert quiet.finished is None and quiet.made


def test_the_status_record_says_how_a_run_ended(tmp_path):
    from vcbench.batch import BatchResult

    f = RunFolder(tmp_path / "out", "stage", shard=(1, 3)).open()
    with f.running(items=10) as run:
        st = json.loads(f.status_path.read_text())
        assert f.status_path.name == "stage.status-1of3.json" and st["state"] == "running" and st["pid"] == os.getpid()
        run.result = BatchResult("x", 9, 0, [("a", "b")])
    st = json.loads(f.status_path.read_text())
    assert st["state"] == "failed" and st["exit"] == 1 and st["counts"] == {"done": 9, "skipped": 0, "failed": 1}
    with pytest.raises(KeyboardInterrupt):
        with f.running():
            raise KeyboardInterrupt
    assert json.loads(f.status_path.read_text())["state"] == "interrupted"


def _target(path, frames=8):
    from conftest import sample_media

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(sample_media("carphone")),
                    "-frames:v", str(frames), "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(path)], check=True)


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_generate_refuses_a_rerun_that_would_mix_two_datasets(tmp_path, cli_runner):
    from vcbench.samples import astronaut_png

    astronaut_png(tmp_path / "src" / "astro.png")
    _target(tmp_path / "tgt" / "a.mp4")
    out = tmp_path / "out"
    base = ["generate", "--source", str(tmp_path / "src"), "--target", str(tmp_path / "tgt"), "--out", str(out),
            "--split", "train", "--cache-dir", str(tmp_path / "c")]
    r = cli_runner.invoke(cli, base)
    assert r.exit_code == 0, r.output
    st = json.loads((out / "generate.status.json").read_text())
    assert st["state"] == "finished" and st["counts"]["done"] == 2 and st["exit"] == 0
    before = {p: p.read_bytes() for p in out.rglob("*.mp4")}
    r = cli_runner.invoke(cli, [*base, "--crf", "30"])                  # today's silent mix: refused, by name
    assert r.exit_code == 1 and "crf 18 there, 30 now" in r.output and "use another --out" in r.output
    assert {p: p.read_bytes() for p in out.rglob("*.mp4")} == before
    presets = write_toml(tmp_path / "p.toml", '[presets.mine]\nextends = "zoom-360p"\nbitrate_kbps = 300\n')
    r = cli_runner.invoke(cli, [*base, "--preset", "clean,mine", "--presets", str(presets)])   # a new preset joins
    assert r.exit_code == 0 and "already done" in r.output, r.output
    write_toml(presets, '[presets.mine]\nextends = "zoom-360p"\nbitrate_kbps = 200\n')         # the same name, edited
    r = cli_runner.invoke(cli, [*base, "--preset", "clean,mine", "--presets", str(presets)])
    assert r.exit_code == 1 and "preset 'mine' changed since its outputs were made here" in r.output
    r = cli_runner.invoke(cli, [*base, "--max-gap", "3", "--min-swapped", "0.2"])   # inclusion thresholds may change
    assert r.exit_code == 0, r.output
