"""generate as a newcomer meets it: one face and one video must still make a dataset (saying which
split and why); a file under two names is one person; a loose file and a folder of one name are
refused alike, as two files of one name are."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from vcbench.cli import cli

from conftest import has_mediapipe

pytestmark = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    from vcbench.samples import sample_identities

    root = tmp_path_factory.mktemp("gh")
    sample_identities(root, frames=12, targets=1)
    return root


def _names_in_two_splits(n: int = 2) -> list[str]:
    """Identity names whose hash splits (seed 0, the default fractions) are not all one."""
    from vcbench.datasets.base import hash_split
    from vcbench.generate.config import GenerateConfig

    d = {f.name: f.default for f in __import__("dataclasses").fields(GenerateConfig)}
    names = [f"person{k}" for k in range(40)]
    split = {x: hash_split(x, 0, d["val_fraction"], d["test_fraction"]) for x in names}
    a = names[0]
    b = next(x for x in names if split[x] != split[a])
    return [a, b]


def test_one_face_and_one_video_make_a_dataset_and_say_where_it_went(media, cli_runner, tmp_path):
    face, video = _names_in_two_splits()
    src, tgt = tmp_path / "sources", tmp_path / "targets"
    src.mkdir()
    tgt.mkdir()
    shutil.copyfile(media / "sources" / "astronaut.png", src / f"{face}.png")
    shutil.copyfile(next((media / "targets").glob("*.mp4")), tgt / f"{video}.mp4")
    out = tmp_path / "out"
    r = cli_runner.invoke(cli, ["generate", "--source", str(src), "--target", str(tgt), "--out", str(out),
                                "--cache-dir", str(tmp_path / "faces")])
    assert r.exit_code == 0, r.output
    assert "too few for identity-disjoint train/val/test splits" in r.output and "went to 'test'" in r.output
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert {x["split"] for x in rows} == {"test"} and {x["label"] for x in rows} == {"0", "1"}
    assert "too few" in json.loads((out / "generate.json").read_text())["plan_notes"][0]


def test_one_picture_under_two_names_is_one_person(media, cli_runner, tmp_path):
    src, tgt = tmp_path / "sources", tmp_path / "targets"
    src.mkdir()
    tgt.mkdir()
    for name in ("alice", "alice-copy"):                     # the same bytes
        shutil.copyfile(media / "sources" / "astronaut.png", src / f"{name}.png")
    shutil.copyfile(media / "sources" / "tom.jpg" if (media / "sources" / "tom.jpg").exists() else
                    next(p for p in (media / "sources").iterdir() if p.stem != "astronaut"), src / "bob.png")
    for k in range(3):
        shutil.copyfile(next((media / "targets").glob("*.mp4")), tgt / f"t{k}.mp4")
    for seed in range(6):                                   # whatever the seed, never in two splits
        out = tmp_path / f"plan{seed}"
        r = cli_runner.invoke(cli, ["generate", "--source", str(src), "--target", str(tgt), "--out", str(out),
                                    "--plan", "--seed", str(seed), "--self-swap"])
        assert r.exit_code == 0, r.output
        rows = list(csv.DictReader(open(out / "plan.csv")))
        ids = {x["source"]: x["source_id"] for x in rows}
        assert ids.get("alice-copy", "alice") == ids.get("alice", "alice") == "alice", ids
        assert len({x["split"] for x in rows if x["source_id"] == "alice"}) <= 1


def test_a_loose_file_and_a_folder_of_one_name_are_one_identity_and_said(media, cli_runner, tmp_path):
    src, tgt = tmp_path / "sources", tmp_path / "targets"
    (src / "astronaut").mkdir(parents=True)
    tgt.mkdir()
    shutil.copyfile(media / "sources" / "astronaut.png", src / "astronaut.png")
    other = next(p for p in (media / "sources").iterdir() if p.stem != "astronaut")
    shutil.copyfile(other, src / "astronaut" / f"b{other.suffix}")
    shutil.copyfile(next((media / "targets").glob("*.mp4")), tgt / "t.mp4")
    r = cli_runner.invoke(cli, ["generate", "--source", str(src), "--target", str(tgt), "--out", str(tmp_path / "o"),
                                "--plan"])
    assert r.exit_code == 0 and "are one identity, 'astronaut'" in r.output, r.output
    assert {x["source_id"] for x in csv.DictReader(open(tmp_path / "o" / "plan.csv"))} == {"astronaut"}
