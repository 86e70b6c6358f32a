import csv
import json
from pathlib import Path

import pytest

from vcbench.cli import cli
from vcbench.config import load_datasets
from vcbench.datasets import get_dataset
from vcbench.errors import ConfigError, DatasetError

from conftest import place, write_toml


def read_csv(p: Path) -> list[dict]:
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def test_ffpp_manifest_distinct_ids_and_official_splits(tmp_path, ffpp_tree, cli_runner):
    toml = write_toml(tmp_path / "d.toml", f'[datasets.ff]\nkind = "ffpp"\nroot = "{ffpp_tree}"\n'
                                          'methods = ["Deepfakes", "FaceSwap"]\n')
    out = tmp_path / "m.csv"
    r = cli_runner.invoke(cli, ["datasets", "manifest", "ff", "-o", str(out), "--datasets", str(toml)])
    assert r.exit_code == 0, r.output
    rows = {row["video_id"]: row for row in read_csv(out)}
    assert rows["Deepfakes/c23/071_054"]["split"] == "train"
    assert rows["FaceSwap/c23/071_054"]["split"] == "train"
    assert rows["Deepfakes/c23/054_071"]["split"] == "train"      # b_a belongs to its pair's split
    assert rows["FaceSwap/c23/720_672"]["split"] == "val"
    assert rows["Deepfakes/c23/953_974"]["split"] == "test"
    assert rows["original/c23/953"]["split"] == "test"
    fake = rows["Deepfakes/c23/071_054"]
    assert (fake["label"], fake["method"], fake["target_id"], fake["source_id"]) == ("1", "Deepfakes", "071", "054")
    assert fake["pair_id"] == "original/c23/071" and rows["original/c23/071"]["pair_id"] == "original/c23/071"
    assert fake["frames"] == "8" and fake["width"] == "64" and fake["height"] == "48"
    assert len(rows) == 6 + 8


def test_ffpp_raw_is_c0(tmp_path, ffpp_tree):
    toml = write_toml(tmp_path / "d.toml", f'[datasets.ff]\nkind = "ffpp"\nroot = "{ffpp_tree}"\ncompression = "c0"\n'
                                          'methods = ["Deepfakes"]\n')
    ds = get_dataset("ff", toml)
    assert {r.video_id.split("/")[1] for r in ds.records} == {"raw"}


def test_ffpp_missing_method_and_bad_split_file(tmp_path, ffpp_tree):
    toml = write_toml(tmp_path / "d.toml", f'[datasets.ff]\nkind = "ffpp"\nroot = "{ffpp_tree}"\n'
                                          'methods = ["Face2Face"]\n')
    with pytest.raises(DatasetError, match="methods.*Face2Face"):
        get_dataset("ff", toml)
    sd = tmp_path / "splits"
    sd.mkdir()
    (sd / "train.json").write_text(json.dumps([["071", "054"]]))
    (sd / "val.json").write_text(json.dumps([["071", "720"]]))
    (sd / "test.json").write_text("[]")
    toml = write_toml(tmp_path / "e.toml", f'[datasets.ff]\nkind = "ffpp"\nroot = "{ffpp_tree}"\nsplits = "splits"\n'
                                          'methods = ["Deepfakes"]\n')
    with pytest.raises(DatasetError, match="'071' is in both 'train' and 'val'"):
        get_dataset("ff", toml)


def test_ffpp_unknown_method_suggests(tmp_path, ffpp_tree):
    toml = write_toml(tmp_path / "d.toml", f'[datasets.ff]\nkind = "ffpp"\nroot = "{ffpp_tree}"\nmethods = ["DeepFakes"]\n')
    with pytest.raises(DatasetError, match="did you mean 'Deepfakes'"):
        get_dataset("ff", toml)


def test_celebdf_labels_and_identity_disjoint_splits(tmp_path, celebdf_tree):
    toml = write_toml(tmp_path / "d.toml", f'[datasets.c]\nkind = "celebdf"\nroot = "{celebdf_tree}"\nval_fraction = 0.34\n')
    ds = get_dataset("c", toml)
    rec = {r.video_id: r for r in ds.records}
    # list says "1 Celeb-real/id0_0001.mp4": 1 = REAL in Celeb-DF, so vcbench label 0
    assert rec["Celeb-real/id0_0001"].label == 0 and rec["Celeb-real/id0_0001"].split == "test"
    assert rec["Celeb-synthesis/id1_id0_0000"].label == 1 and rec["Celeb-synthesis/id1_id0_0000"].split == "test"
    assert rec["YouTube-real/00003"].split == "test"
    kept = [r for r in ds.records if r.label == 1 and r.split != "test"]
    assert kept and all(r.pair_id == f"Celeb-real/{r.target_id}_{r.video_id[-4:]}" for r in kept)
    train_ids = {i for r in ds.records if r.split == "train" for i in (r.source_id, r.target_id) if i}
    val_ids = {i for r in ds.records if r.split == "val" for i in (r.source_id, r.target_id) if i}
    assert train_ids and val_ids and not (train_ids & val_ids)
    assert ds.excluded, "fakes mixing a train and a val identity are left out, and said so"
    assert all(r.label == (1 if r.video_id.startswith("Celeb-synthesis") else 0) for r in ds.records)
    # the test fake id1_id0_0000 shows clip id1_0000: that real and every other fake of that clip leave
    # train/val (test pixels would be trained on), each named with the test video it shares the clip with
    why = dict(ds.excluded)
    assert "Celeb-real/id1_0000" not in rec and why["Celeb-real/id1_0000"] == (
        "shares clip id1_0000 with test video Celeb-synthesis/id1_id0_0000")
    assert not [r for r in ds.records if r.split != "test" and r.target_id == "id1" and r.video_id.endswith("_0000")]
    shared = [v for v, w in ds.excluded if w.startswith("shares clip")]
    assert len(shared) >= 3 and "Celeb-synthesis/id1_id3_0000" in shared    # (a fake across splits goes first)
    from vcbench.datasets.check import check_dataset

    rep = check_dataset(ds)
    assert any(f"{len(shared)} of them share a clip with a test video" in w for w in rep.warnings), rep.warnings
    assert any("identities appear in train and in val/test" in w and "official test list" in w for w in rep.warnings)


@pytest.mark.parametrize("line,msg", [
    ("2 Celeb-real/id0_0001.mp4", "label must be 1 \\(real\\) or 0 \\(fake\\), got '2'"),
    ("1 Celeb-real/id9_0001.mp4", "listed video .*id9_0001.mp4 not found"),
    ("0 Celeb-real/id0_0001.mp4", "labelled 0 \\(fake\\) but lies in Celeb-real"),
])
def test_celebdf_bad_test_list(tmp_path, celebdf_tree, cli_runner, line, msg):
    (celebdf_tree / "List_of_testing_videos.txt").write_text(line + "\n")
    toml = write_toml(tmp_path / "d.toml", f'[datasets.c]\nkind = "celebdf"\nroot = "{celebdf_tree}"\n')
    with pytest.raises(DatasetError, match=msg):
        get_dataset("c", toml)
    r = cli_runner.invoke(cli, ["datasets", "check", "c", "--datasets", str(toml)])
    assert r.exit_code == 1 and "List_of_testing_videos.txt:1" in r.output and "Traceback" not in r.output


def test_folder_split_hash_and_split_file(tmp_path, tiny_video):
    from conftest import place

    root = tmp_path / "calls"
    place(tiny_video, root, [f"real/r{i}.mp4" for i in range(20)] + [f"fake/f{i}.mp4" for i in range(20)])
    toml = write_toml(tmp_path / "d.toml", f'[datasets.f]\nkind = "folder"\nroot = "{root}"\n')
    a = get_dataset("f", toml)
    b = get_dataset("f", toml)
    assert [r.split for r in a.records] == [r.split for r in b.records]
    assert {r.split for r in a.records} == {"train", "val", "test"}
    (tmp_path / "s.json").write_text(json.dumps({"train": ["r1.mp4"], "test": ["r1"]}))
    toml = write_toml(tmp_path / "e.toml", f'[datasets.f]\nkind = "folder"\nroot = "{root}"\nsplit_file = "s.json"\n')
    with pytest.raises(DatasetError, match="s.json: 'r1' is in both 'train' and 'test'"):
        get_dataset("f", toml)


def test_manifest_kind_roundtrip_and_bad_label(tmp_path, ffpp_tree):
    from vcbench.datasets import read_manifest, write_manifest

    toml = write_toml(tmp_path / "d.toml", f'[datasets.ff]\nkind = "ffpp"\nroot = "{ffpp_tree}"\nmethods = ["Deepfakes"]\n')
    ds = get_dataset("ff", toml)
    write_manifest(ds.records, ffpp_tree / "manifest.csv")
    assert read_manifest(ffpp_tree / "manifest.csv") == ds.records
    toml2 = write_toml(tmp_path / "m.toml", f'[datasets.m]\nkind = "manifest"\nroot = "{ffpp_tree}"\n')
    assert len(get_dataset("m", toml2).records) == len(ds.records)
    text = (ffpp_tree / "manifest.csv").read_text().splitlines()
    text[3] = text[3].replace(",0,", ",real,", 1)
    (ffpp_tree / "manifest.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DatasetError, match="manifest.csv:4: label must be 0 \\(real\\) or 1 \\(fake\\)"):
        get_dataset("m", toml2)


@pytest.mark.parametrize("text,msg", [
    ("[datasets.a\nkind=", "malformed TOML"),
    ('[datasets.a]\nkind = "ffpq"\nroot = "."\n', "unknown kind 'ffpq'; did you mean 'ffpp'"),
    ('[datasets.a]\nkind = "ffpp"\nroot = "."\ncompresion = "c23"\n', r"\[datasets.a\]: unknown key 'compresion'; did you mean 'compression'"),
    ('[datasets.a]\nkind = "ffpp"\n', "missing required key 'root'"),
    ('[datasets.a]\nkind = "celebdf"\nroot = "."\nseed = "x"\n', "key 'seed' must be int"),
])
def test_config_errors_name_file_table_key(tmp_path, text, msg):
    p = write_toml(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError, match=msg) as e:
        load_datasets(p)
    assert str(p) in str(e.value)


def test_missing_root_and_unknown_name_via_cli(tmp_path, cli_runner):
    toml = write_toml(tmp_path / "d.toml", '[datasets.ffpp-c23]\nkind = "ffpp"\nroot = "nowhere"\n')
    r = cli_runner.invoke(cli, ["datasets", "check", "ffpp-c23", "--datasets", str(toml)])
    assert r.exit_code == 1 and "key 'root'" in r.output and "nowhere not found" in r.output
    r = cli_runner.invoke(cli, ["datasets", "check", "ffpp-c32", "--datasets", str(toml)])
    assert r.exit_code == 1 and "did you mean 'ffpp-c23'" in r.output
    r = cli_runner.invoke(cli, ["datasets", "list", "--datasets", str(toml)])
    assert r.exit_code == 0 and "ffpp-c23" in r.output and "not found" in r.output


def test_check_reports_bad_videos_and_continues(tmp_path, ffpp_tree, cli_runner):
    vids = ffpp_tree / "original_sequences/youtube/c23/videos"
    (vids / "054.mp4").write_bytes(b"")                                   # zero bytes
    (vids / "720.mp4").write_text("this is a text file, not a video\n")   # text named .mp4
    data = (vids / "672.mp4").read_bytes()
    (vids / "672.mp4").write_bytes(data[: len(data) // 2])                # truncated
    toml = write_toml(tmp_path / "d.toml", f'[datasets.ff]\nkind = "ffpp"\nroot = "{ffpp_tree}"\nmethods = ["Deepfakes"]\n')
    r = cli_runner.invoke(cli, ["datasets", "check", "ff", "--datasets", str(toml)])
    assert r.exit_code == 1, r.output
    assert "original/c23/054:" in r.output and "empty file" in r.output
    assert "original/c23/720:" in r.output and "not a readable video" in r.output
    assert "original/c23/672:" in r.output
    assert "3 problem(s) in ff" in r.output
    assert "Traceback" not in r.output


def test_datasets_list_counts(tmp_path, ffpp_tree, cli_runner):
    toml = write_toml(tmp_path / "d.toml", f'[datasets.ff]\nkind = "ffpp"\nroot = "{ffpp_tree}"\nmethods = ["Deepfakes"]\n')
    r = cli_runner.invoke(cli, ["datasets", "list", "--datasets", str(toml)])
    assert r.exit_code == 0
    assert "train 2/2" in r.output and "val 2/1" in r.output and "test 2/1" in r.output


def test_prepare_is_resumable_and_sharded(tmp_path, carphone, tiny_video, cli_runner):
    from conftest import place

    root = tmp_path / "calls"
    place(carphone, root, ["real/a.mp4", "real/b.mp4"])
    place(tiny_video, root, ["fake/noface.mp4"])
    (root / "fake" / "broken.mp4").write_bytes(b"")
    toml = write_toml(tmp_path / "d.toml", f'[datasets.f]\nkind = "folder"\nroot = "{root}"\n')
    args = ["datasets", "prepare", "f", "--datasets", str(toml), "--cache-dir", str(tmp_path / "c")]
    r = cli_runner.invoke(cli, args + ["--shard", "0/2"])      # sorted ids: fake/broken, real/a
    first = r.output
    assert r.exit_code == 1 and "real/a: 1 track(s), 120 frames" in first
    assert "2 videos: 1 done, 1 failed" in first
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 1 and "fake/broken: " in r.output and "empty file" in r.output
    # real/b is a copy of real/a: the cache is keyed by content, so its tracks are already there
    assert "real/a" not in r.output and "real/b" not in r.output
    assert "4 videos: 1 done, 2 already done, 1 failed" in r.output


def test_folder_identities_from_a_pattern_and_finetune_refuses_a_folder_without(tmp_path, tiny_video, cli_runner):
    """A folder dataset split by file name can put one person on both sides: finetune refuses it
    (the benchmark may still score it); an identity pattern makes the split identity-disjoint."""
    names = {"real": [f"p{i}_take{k}" for i in range(6) for k in range(3)],
             "fake": [f"p{i}_from_p{(i + 1) % 6}_take{k}" for i in range(6) for k in range(2)]}
    root = tmp_path / "f"
    place(tiny_video, root, [f"{sub}/{n}.mp4" for sub, ns in names.items() for n in ns])
    toml = write_toml(tmp_path / "d.toml", f'[datasets.plain]\nkind = "folder"\nroot = "{root}"\n'
                                           f'[datasets.people]\nkind = "folder"\nroot = "{root}"\n'
                                           f'identity = "^(?P<target>p\\\\d+)(?:_from_(?P<source>p\\\\d+))?"\n'
                                           'val_fraction = 0.3\ntest_fraction = 0.3\n')
    plain = get_dataset("plain", toml)
    assert plain.split_by == "file name" and all(not r.target_id for r in plain.records)
    people = get_dataset("people", toml)
    assert people.split_by == "identity"
    rec = {r.video_id: r for r in people.records}
    assert rec["fake/p2_from_p3_take1"].target_id == "p2" and rec["fake/p2_from_p3_take1"].source_id == "p3"
    assert rec["real/p4_take0"].target_id == "p4" and rec["real/p4_take0"].source_id == ""
    split_of = {}
    for r in people.records:                              # every video of a person in one split
        assert split_of.setdefault(r.target_id, r.split) == r.split
    r = cli_runner.invoke(cli, ["finetune", "--train", "plain", "--datasets", str(toml), "--out", str(tmp_path / "ft"),
                                "--model", "altfreezing-tiny", "--device", "cpu"])
    assert r.exit_code == 1 and "dataset 'plain' (folder) has no identities" in r.output, r.output
    assert "Traceback" not in r.output and not (tmp_path / "ft" / "last.pth").exists()
    bad = write_toml(tmp_path / "bad.toml", f'[datasets.b]\nkind = "folder"\nroot = "{root}"\nidentity = "p(\\\\d"\n')
    with pytest.raises(DatasetError, match="key 'identity': not a regular expression"):
        get_dataset("b", bad)
