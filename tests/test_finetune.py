"""vcbench finetune on a dataset made by ``vcbench generate`` from the sample media.

The targets are carphone variants (one real person) and the sources five real people: the AUCs
here are a pipeline check that the trainer learns and that score reads what it writes.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vcbench.cli import cli

from conftest import ft_args, has_mediapipe, write_toml

pytestmark = pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")

TINY = ["--model", "altfreezing-tiny", "--device", "cpu"]



# --- freezing: which tensors change, exactly ---------------------------------------------

def _kind(name: str, p) -> str:
    if p.ndim == 5 and tuple(p.shape[2:]) == (1, 3, 3):
        return "spatial"
    if p.ndim == 5 and p.shape[2] > 1 and tuple(p.shape[3:]) == (1, 1):
        return "temporal"
    return "always"


def _stage(name: str) -> str:
    return name.split(".")[1]


@pytest.mark.parametrize("strategy", ["alternate", "none", "head", "gradual"])
def test_freezing_changes_exactly_the_scheduled_tensors(strategy, tmp_path):
    """Expected sets are derived here from names and kernel shapes, not from the schedule code."""
    from vcbench.finetune.config import FinetuneConfig
    from vcbench.finetune.freezing import Schedule
    from vcbench.finetune.trainer import build_optimizer, train_step
    from vcbench.models import build_network

    torch.manual_seed(0)
    model = build_network("altfreezing-tiny")
    cfg = FinetuneConfig(train=("x",), out=tmp_path, model="altfreezing-tiny", freezing=strategy, lr=0.05,
                         alt_temporal_steps=2, alt_spatial_steps=1, gradual_every=1, warmup_steps=0, clip_grad=0,
                         augment="none", optimizer="sgd")
    sched = Schedule.for_model(model, strategy, temporal_steps=2, spatial_steps=1, every=1)
    for n, p in model.named_parameters():
        p.requires_grad_(n not in sched.never_trained())
    opt = build_optimizer(model, cfg)
    params = dict(model.named_parameters())
    kinds = {n: _kind(n, p) for n, p in params.items()}
    assert {k for k in kinds.values()} == {"spatial", "temporal", "always"}
    g = torch.Generator().manual_seed(1)
    for step in range(4):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        x = torch.randn(4, 3, 8, 64, 64, generator=g)
        y = torch.tensor([0.0, 1.0, 0.0, 1.0])
        train_step(model, model, sched, opt, [(x, y)], step, cfg)
        after = model.state_dict()
        changed = {k for k in after if not torch.equal(before[k], after[k])}
        buffers = {k for k in after if k not in params}
        if strategy == "alternate":            # temporal, temporal, spatial, temporal
            frozen_kind = "spatial" if step % 3 < 2 else "temporal"
            want = {n for n in params if kinds[n] != frozen_kind} | buffers
        elif strategy == "none":
            want = set(params) | buffers
        elif strategy == "head":
            want = {"resnet.head.projection.weight", "resnet.head.projection.bias"}
        else:                                  # gradual: head, +s5, +s4, +s3
            open_ = ["head", "s5", "s4", "s3"][:step + 1]
            want = {k for k in after if _stage(k) in open_ and (k in params or _stage(k) != "head")}
        assert changed == want, (strategy, step, sorted(changed ^ want)[:6])
        if strategy == "alternate":            # the frozen group really exists and stayed bit-identical
            assert any(kinds[n] == frozen_kind for n in params)


# --- end to end ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(calls, tmp_path_factory):
    """300 steps of altfreezing-tiny with alternate freezing and call-condition augmentation. AdamW
    at 1e-3: SGD at 0.01 learned this toy task to val AUC 0.94 here (AMX) and 0.78 under AVX2 kernels
    (the same recipe, another rounding): a bar of 0.9 then passes or fails by machine. AdamW reaches
    1.0 by step 150 on both."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("trained") / "run"
    r = CliRunner().invoke(cli, ft_args(calls, out, "--steps", "300", "--batch-size", "8", "--eval-every", "50",
                                        "--save-every", "100", "--optimizer", "adamw", "--lr", "0.001"))
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    return out


def test_finetune_learns_and_score_reads_best(calls, trained, cli_runner, tmp_path):
    from vcbench.samples import SAMPLE_NOTE

    out = trained
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["steps_done"] == 300
    assert run["skipped_before_training"] == [] and run["decode_failures"] == []
    ds = run["datasets"]["calls"]
    assert ds["test_videos_not_opened"] == len(calls["tests"]) and "test" not in ds["counts"]
    assert len(ds["manifest_sha256"]) == 64
    assert ds["face_labels"].startswith("per face: a fake trains on its swapped face tracks")
    assert run["methods_seen"] == ["mesh"]
    assert {"clean", "zoom-360p", "lossy-180p"} <= set(run["presets_seen"])
    assert run["augment"]["name"] == "call" and run["augment"]["preset_p"] == 0.5
    assert run["note"] == f"calls: {SAMPLE_NOTE}"           # the dataset's note, repeated by the run
    # best.pth records what it trained and validated on: every train/val video, person and no test one
    rec = torch.load(out / "best.pth", weights_only=True)["provenance"]["training"]
    (s,) = rec["sets"]
    seen = [x for x in calls["rows"] if x["split"] in ("train", "val")]
    assert s["dataset"] == "calls" and s["splits"] == ["train", "val"] and rec["from"].endswith(str(out.resolve()))
    assert set(s["videos"]) == {x["video_id"] for x in seen}
    assert set(s["identities"]) == {i for x in seen for i in (x["source_id"], x["target_id"]) if i}
    assert not set(s["videos"]) & {x["video_id"] for x in calls["tests"]}
    assert run["software"]["versions"]["torch"] and run["hardware"]["world_size"] == 1
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == list(range(10, 301, 10))
    assert [x["step"] for x in lines if "val_auc" in x] == [50, 100, 150, 200, 250, 300]
    assert all(x["clips_per_s"] > 0 for x in lines if "loss" in x)

    # the test split was never opened: no face tracks were ever computed for it
    from vcbench.faces.tracking import backend_key, cache_file

    key = backend_key("mediapipe")
    for x in calls["tests"]:
        assert not cache_file(calls["root"] / "ds" / x["path"], key, calls["faces"]).exists()

    # best.pth: a plain vcbench checkpoint, read by score and load_network with no extra flags
    from vcbench.models import load_network

    best = torch.load(out / "best.pth", weights_only=True)
    assert "trainer" not in best and best["arch"] == "altfreezing-tiny"
    prov = best["provenance"]
    assert prov["val_auc"] == run["best_val_auc"] and prov["step"] == run["best_step"]
    assert 0 < prov["threshold"] < 1 and prov["presets_seen"] == run["presets_seen"]
    assert load_network(None, out / "best.pth").arch_name == "altfreezing-tiny"

    val = [calls["root"] / "ds" / x["path"] for x in calls["rows"] if x["split"] == "val"]
    labels = {str(p): int(x["label"]) for p, x in zip(val, [x for x in calls["rows"] if x["split"] == "val"])}
    aucs = {}
    for name, args in (("best", ["--checkpoint", str(out / "best.pth")]),
                       ("untrained", ["--untrained", "--model", "altfreezing-tiny"])):
        res = cli_runner.invoke(cli, ["score", *map(str, val), *args, "--cache-dir", str(calls["faces"]),
                                      "-o", str(tmp_path / f"{name}.csv")])
        assert res.exit_code == 0, res.output
        rows = list(csv.DictReader(open(tmp_path / f"{name}.csv")))
        from sklearn.metrics import roc_auc_score

        aucs[name] = roc_auc_score([labels[x["video"]] for x in rows], [float(x["score"]) for x in rows])
    print("val AUC through vcbench score:", aucs)
    assert aucs["best"] > 0.9
    assert aucs["untrained"] < 0.8                 # 9 videos: far from the trained network, near chance


BYO = """
def predict(video_path):
    return 0.9 if "/mesh/" in str(video_path) else 0.2
"""


def test_benchmark_reads_a_finetune_run(calls, trained, cli_runner, tmp_path):
    """The fine-tuned best.pth and a bring-your-own detector x three presets on the generated
    dataset's test split (restored first: the fixture made it garbage), seen/unseen marks from
    the run, and a re-run that recomputes nothing."""
    root = calls["root"] / "ds"
    for x in calls["tests"]:
        (root / x["path"]).unlink()
    media = calls["root"] / "media"
    r = cli_runner.invoke(cli, ["generate", "--source", str(media / "sources"), "--target", str(media / "targets"),
                                "--out", str(root), "--val-fraction", "0.3", "--test-fraction", "0.2", "--seed", "3",
                                "--cache-dir", str(calls["faces"])])
    assert r.exit_code == 0, r.output            # generate resumes: only the missing test videos are made
    det = tmp_path / "mine.py"
    det.write_text(BYO)
    args = ["benchmark", "--model", f"ft={trained / 'best.pth'}", "--model", f"mine={det}", "--dataset", "calls",
            "--datasets", str(calls["toml"]), "--preset", "clean,zoom-360p,burst-loss", "--out", str(tmp_path / "b"),
            "--cache-dir", str(calls["faces"]), "--device", "cpu", "--bootstrap", "100"]
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    cells = {(c["model"], c["preset"]): c for c in res["cells"]}
    assert len(cells) == 6
    assert cells[("ft", "clean")]["seen"] is True and cells[("ft", "zoom-360p")]["seen"] is True
    assert cells[("ft", "burst-loss")]["seen"] is False and cells[("mine", "clean")]["seen"] is None
    assert all(c["metrics"]["n"] == len(calls["tests"]) for c in cells.values())
    assert any(cmp["model"] == "mine" and cmp["baseline"] == "ft" for cmp in res["comparisons"])
    # its training record is checked: the test split is identity-disjoint, the val split is its own val
    ov = cells[("ft", "clean")]["overlap"]
    assert ov["checked"] and set(ov["by_reason"]) == {"val: video"} and ov["by_reason"]["val: video"] > 0
    assert cells[("ft", "clean")]["val_videos"] == 0 and not cells[("mine", "clean")]["overlap"]["checked"]
    assert cells[("ft", "clean")]["operating_points"]["model"]["from"].startswith("the model's own val")
    preds = (tmp_path / "b" / "predictions.csv").read_text()
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b" / "predictions.csv").read_text() == preds        # nothing recomputed


def test_training_clips_are_the_clips_score_feeds(calls, cli_runner, tmp_path):
    """One code path: the clips one decode of a track gives the sampler (several windows at once,
    crops dropped as windows complete) equal the clips score dumps for the same windows."""
    from vcbench.finetune.augment import make_policy
    from vcbench.finetune.config import FinetuneConfig
    from vcbench.finetune.data import ClipDataset, episode_clips, plan_data
    from vcbench.models import build_network
    from vcbench.models.preprocess import normalise

    cfg = FinetuneConfig(train=("calls",), out=tmp_path / "x", model="altfreezing-tiny", augment="none",
                         datasets=calls["toml"], cache_dir=calls["faces"])
    policy = make_policy("none")
    plan = plan_data(cfg, policy)
    pp = build_network("altfreezing-tiny").preprocess
    vi = next(i for i, v in enumerate(plan.val) if v.label == 1)
    video = Path(plan.val[vi].path)
    dump = tmp_path / "dump"
    r = cli_runner.invoke(cli, ["score", str(video), "--untrained", "--model", "altfreezing-tiny", "--cache-dir",
                                str(calls["faces"]), "--dump-clips", str(dump)])
    assert r.exit_code == 0, r.output
    files = sorted((dump / video.stem).glob("*.npz"))
    assert len(files) == 4
    tr = plan.val[vi].variants["clean"].tracks[0]
    dumps = [np.load(f) for f in files]
    windows = [[int(np.searchsorted(tr.frames, fr)) for fr in z["frames"]] for z in dumps]
    assert len({w[0] for w in windows}) == 4                       # four different windows, one decode
    clips = episode_clips(str(video), tr, windows[::-1] + windows[:1], pp)   # any order, repeats allowed
    for clip, z in zip(clips, dumps[::-1] + dumps[:1]):
        assert np.array_equal(clip, z["clip"])
        assert torch.equal(normalise(clip, pp), normalise(z["clip"], pp))
        assert torch.equal(normalise(torch.from_numpy(clip), pp), normalise(z["clip"], pp))
    ds = ClipDataset(plan.val, pp, policy, seed=0, clips_per_track=4, batch_size=4)
    block = ds[0]
    assert len(block) == ds.block_batches == 8
    x, y, vids, applied, fails = block[0]
    assert x.shape == (4, pp.clip_len, pp.size, pp.size, 3) and x.dtype == torch.uint8
    assert y.tolist() == [0.0, 1.0, 0.0, 1.0] and fails == ""
    # every clip in a block is its episode's window, cut from that episode's track
    where = ds.layout(0)
    for pos in range(ds.block_clips):
        label, (e, slot) = pos % 2, where[pos]
        ep = ds.episode(0, label, e)
        if pos < 4:
            assert np.array_equal(x[pos].numpy(), ds.clips(ep)[slot]) and int(vids[pos]) == ep.video


# --- bad input: one line each, nothing damaged ---------------------------------------------------

def _manifest_variant(calls, tmp_path, name, edit) -> Path:
    rows = [dict(x) for x in calls["rows"]]
    rows = edit(rows)
    path = tmp_path / f"{name}.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(calls["rows"][0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_bad_input_one_line_each(calls, cli_runner, tmp_path):
    root = calls["root"] / "ds"
    one_class = _manifest_variant(calls, tmp_path, "oneclass",
                                  lambda rs: [r for r in rs if not (r["split"] == "train" and r["label"] == "1")])
    no_val = _manifest_variant(calls, tmp_path, "noval", lambda rs: [r for r in rs if r["split"] != "val"])
    val_ids = {r["target_id"] for r in calls["rows"] if r["split"] == "val"}
    leak_id = sorted(val_ids)[0]

    def leak(rs):
        for r in rs:
            if r["split"] == "train" and r["label"] == "0":
                r["target_id"] = leak_id
                break
        return rs

    leaky = _manifest_variant(calls, tmp_path, "leak", leak)
    toml = write_toml(tmp_path / "d.toml", "".join(
        f'[datasets.{n}]\nkind = "manifest"\nroot = "{root}"\nmanifest = "{m}"\n'
        for n, m in (("calls", root / "manifest.csv"), ("oneclass", one_class), ("noval", no_val), ("leak", leaky))))
    cfg_bad = write_toml(tmp_path / "run.toml", "[finetune]\nstpes = 3\n")

    def run(*args):
        r = cli_runner.invoke(cli, ["finetune", "--datasets", str(toml), "--cache-dir", str(calls["faces"]), *TINY,
                                    "--steps", "2", *args])
        assert r.exit_code != 0 and "Traceback" not in r.output, r.output
        return r.output

    out = str(tmp_path / "o")
    assert "only real videos" in run("--train", "oneclass", "--out", out)
    assert "no val split" in run("--train", "noval", "--out", out) and "--val" in run("--train", "noval", "--out", out)
    msg = run("--train", "leak", "--out", out)
    assert f"identity {leak_id!r} is in both train" in msg
    assert "did you mean 'calls'" in run("--train", "call", "--out", out)
    msg = run("--train", "calls", "--out", out, "--model", "altfreezing-tnyi")
    assert "did you mean" in msg and "'altfreezing-tiny'" in msg
    assert "did you mean 'zoom-360p'" in run("--train", "calls", "--out", out, "--aug-preset", "zoom-306p")
    assert "did you mean 'steps'" in run("--train", "calls", "--out", out, "--config", str(cfg_bad))
    assert "'alternating' is not one of 'alternate'" in run("--train", "calls", "--out", out, "--freezing", "alternating")
    cfg_freezing = tmp_path / "freezing.toml"
    cfg_freezing.write_text('freezing = "alternating"\n')             # in a file: the key, the choices, a suggestion
    assert "freezing must be one of alternate, none, head, gradual, got 'alternating'; did you mean 'alternate'?" in \
        run("--train", "calls", "--out", out, "--config", str(cfg_freezing))
    assert "not found" in run("--train", "calls", "--out", out, "--resume")

    # a checkpoint of another architecture
    from vcbench.models import build_network, save_checkpoint

    small = save_checkpoint(build_network("altfreezing-small"), tmp_path / "small.pth")
    assert "pass --model altfreezing-small" in run("--train", "calls", "--out", out, "--checkpoint", str(small))
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").glob("*.pth"))

    # a finished run: refused without --resume, and --resume with another config names the keys
    done = tmp_path / "done"
    r = cli_runner.invoke(cli, ft_args(calls, done, "--steps", "2", "--eval-every", "2", "--save-every", "2",
                                       "--batch-size", "2", "--augment", "none"))
    assert r.exit_code == 0, r.output
    before = (done / "last.pth").read_bytes()
    assert "already holds a run" in run("--train", "calls", "--out", str(done))
    msg = run("--train", "calls", "--out", str(done), "--resume", "--augment", "none", "--lr", "0.5",
              "--batch-size", "2")
    assert "lr 0.01 in last.pth, 0.5 now" in msg
    assert (done / "last.pth").read_bytes() == before


def test_disk_full_during_save_keeps_the_previous_checkpoint(calls, cli_runner, tmp_path, monkeypatch):
    import errno

    out = tmp_path / "full"
    r = cli_runner.invoke(cli, ft_args(calls, out, "--steps", "2", "--eval-every", "2", "--save-every", "2",
                                       "--batch-size", "2", "--augment", "none"))
    assert r.exit_code == 0, r.output
    before = {n: (out / n).read_bytes() for n in ("last.pth", "best.pth")}
    real_save = torch.save

    def full(obj, f, *a, **k):
        real_save(obj, f, *a, **k)              # the bytes land in the temporary, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    r = cli_runner.invoke(cli, ft_args(calls, out, "--steps", "4", "--eval-every", "2", "--save-every", "2",
                                       "--batch-size", "2", "--augment", "none", "--resume"))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "No space left on device" in r.output and "could not write the checkpoint" in r.output
    assert "is kept" in r.output
    assert {n: (out / n).read_bytes() for n in before} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_video_that_stops_decoding_is_skipped_and_counted(calls, tmp_path):
    from vcbench.finetune.augment import make_policy
    from vcbench.finetune.config import FinetuneConfig
    from vcbench.finetune.data import ClipDataset, plan_data
    from vcbench.models import build_network

    cfg = FinetuneConfig(train=("calls",), out=tmp_path / "x", model="altfreezing-tiny", augment="none",
                         datasets=calls["toml"], cache_dir=calls["faces"])
    plan = plan_data(cfg, make_policy("none"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)
    plan.train[0].variants["clean"].path = str(broken)    # tracked fine, then the file went bad
    name = f"calls/{plan.train[0].video_id}"
    ds = ClipDataset(plan.train, build_network("altfreezing-tiny").preprocess, make_policy("none"), seed=0,
                     clips_per_track=2, batch_size=4)
    failures, labels, blocks = set(), [], 0
    while not failures and blocks < 30:                    # until a draw lands on the broken video
        for x, y, vids, _, fails in ds[blocks]:
            assert (vids != 0).all() and x.dtype == torch.uint8
            labels += y.tolist()
            failures |= {f.split("\t")[0] for f in fails.split("\n") if f}
        blocks += 1
    assert failures == {name}
    assert labels.count(0.0) == labels.count(1.0) == blocks * ds.block_clips // 2     # still balanced


def test_early_stopping_after_patience_evaluations(calls, cli_runner, tmp_path):
    """Head-only training (BatchNorm statistics frozen) with a learning rate too small to change any
    score: no evaluation beats the first, so the run stops after --patience more, saves last.pth
    there and says so."""
    out = tmp_path / "es"
    r = cli_runner.invoke(cli, ft_args(calls, out, "--steps", "40", "--batch-size", "2", "--eval-every", "2",
                                       "--save-every", "100", "--patience", "2", "--lr", "1e-12",
                                       "--augment", "none", "--freezing", "head"))
    assert r.exit_code == 0, r.output
    assert "stopped early" in r.output
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "stopped early" and run["steps_done"] == 6
    evals = run["evaluations"]
    assert [e["step"] for e in evals] == [2, 4, 6] and len({e["auc"] for e in evals}) == 1
    assert run["best_step"] in (2, 4, 6) and run["best_val_auc"] == evals[0]["auc"]
    assert torch.load(out / "last.pth", weights_only=True)["trainer"]["step"] == 6


def test_two_optimisers_as_released_step_in_turn_with_their_own_momentum(tmp_path):
    """--alt-optimizers two: the release's construction (temporal kernels in one optimiser, spatial in
    the other, the rest in both, weight decay on all of it), each stepped only in its phase, each
    with its own momentum buffer for the shared parameters."""
    from vcbench.errors import ConfigError
    from vcbench.finetune.config import FinetuneConfig
    from vcbench.finetune.freezing import Schedule
    from vcbench.finetune.trainer import AltOptimizers, build_optimizer, train_step
    from vcbench.models import build_network

    torch.manual_seed(0)
    model = build_network("altfreezing-tiny")
    cfg = FinetuneConfig(train=("x",), out=tmp_path, model="altfreezing-tiny", freezing="alternate", lr=0.05,
                         alt_temporal_steps=2, alt_spatial_steps=1, warmup_steps=0, clip_grad=0, augment="none",
                         alt_optimizers="two", weight_decay=1e-3)
    opt = build_optimizer(model, cfg)
    assert isinstance(opt, AltOptimizers)
    ids = {side: {id(p) for g in o.param_groups for p in g["params"]} for side, o in opt.opts.items()}
    decayed = {side: {id(p) for g in o.param_groups if g["weight_decay"] > 0 for p in g["params"]}
               for side, o in opt.opts.items()}
    params = dict(model.named_parameters())
    for n, p in params.items():
        kind = _kind(n, p)
        where = {s for s in ids if id(p) in ids[s]}
        assert where == ({"spatial"} if kind == "spatial" else {"temporal"} if kind == "temporal"
                         else {"temporal", "spatial"}), n
        assert all(id(p) in decayed[s] for s in where), n          # BN too: its names carry no "norm"
    sched = Schedule.for_model(model, "alternate", temporal_steps=2, spatial_steps=1)
    shared = params["resnet.head.projection.weight"]
    g = torch.Generator().manual_seed(1)
    for step in range(3):                                          # temporal, temporal, spatial
        before = {k: v.clone() for k, v in params.items()}
        x = torch.randn(4, 3, 8, 64, 64, generator=g)
        train_step(model, model, sched, opt, [(x, torch.tensor([0.0, 1.0, 0.0, 1.0]))], step, cfg)
        moved = {n for n, p in params.items() if not torch.equal(before[n], p)}
        frozen = "spatial" if step < 2 else "temporal"
        assert not any(_kind(n, params[n]) == frozen for n in moved) and moved
        buf = {s: opt.opts[s].state.get(shared, {}).get("momentum_buffer") for s in opt.opts}
        if step < 2:
            assert buf["temporal"] is not None and buf["spatial"] is None
        else:                                                      # the spatial one starts its own momentum
            assert buf["spatial"] is not None and not torch.equal(buf["spatial"], buf["temporal"])
    state = opt.state_dict()
    again = AltOptimizers(model, cfg)
    again.load_state_dict(state)
    for side in ("temporal", "spatial"):                         # last.pth restores both momenta
        assert torch.equal(again.opts[side].state[shared]["momentum_buffer"], opt.opts[side].state[shared]["momentum_buffer"])
    with pytest.raises(ConfigError, match="needs freezing 'alternate'"):
        FinetuneConfig(train=("x",), out=tmp_path, freezing="none", alt_optimizers="two")


def test_a_frame_detector_fine_tunes_on_the_same_data(calls, cli_runner, tmp_path):
    """sbi-tiny (an SBI-shaped frame detector) with head freezing: one-frame box crops from the same
    sampler, the same run folder; only the head moves; alternate freezing is refused by name."""
    from vcbench.models import build_network, load_network

    out = tmp_path / "sbi"
    r = cli_runner.invoke(cli, ft_args(calls, out, "--model", "sbi-tiny", "--freezing", "head", "--steps", "8",
                                       "--batch-size", "4", "--eval-every", "8", "--save-every", "8",
                                       "--workers", "0"))
    assert r.exit_code == 0, r.output
    torch.manual_seed(0)                                       # the run's seeded initial network
    start = build_network("sbi-tiny").state_dict()
    end = load_network(None, out / "last.pth").state_dict()
    net = load_network(None, out / "best.pth")
    assert net.arch_name == "sbi-tiny" and net.preprocess.input == "frames"
    changed = {k for k in start if not torch.equal(start[k], end[k])}
    assert "net._fc.weight" in changed and all(net.stage_of(k) == "head" for k in changed), sorted(changed)[:5]
    bad = cli_runner.invoke(cli, ft_args(calls, tmp_path / "alt", "--model", "sbi-tiny"))
    assert bad.exit_code == 1 and "freezing 'alternate' needs a network with split spatial and temporal" in bad.output
