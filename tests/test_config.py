"""One resolver and one type checker for every config; runtime helpers; the batch summary."""
from dataclasses import dataclass
from pathlib import Path

import pytest

from vcbench.batch import BatchResult
from vcbench.config import coerce, resolve
from vcbench.errors import ConfigError
from vcbench.runtime import parse_shard, shard_items


@dataclass(frozen=True)
class Cfg:
    SECTION = "run"
    out: Path
    steps: int = 10
    lr: float = 0.1
    presets: tuple[str, ...] = ("clean",)
    checkpoint: Path | None = None
    resume: bool = False


def test_defaults_then_file_then_flags(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[run]\nout = "runs/a"\nsteps = 5\nlr = 1\npresets = ["zoom-360p", "clean"]\n')
    cfg = resolve(Cfg, f, steps=7)
    assert cfg.steps == 7 and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.out == tmp_path / "runs" / "a"                      # relative to the file
    assert cfg.presets == ("zoom-360p", "clean") and cfg.resume is False
    assert resolve(Cfg, None, out="x", presets="a,b").presets == ("a", "b")


def test_bad_keys_and_types_name_the_file_and_key(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('out = "o"\nstesp = 3\n')
    with pytest.raises(ConfigError, match=r"c.toml: unknown key 'stesp'; did you mean 'steps'"):
        resolve(Cfg, f)
    f.write_text('out = "o"\nsteps = "many"\n')
    with pytest.raises(ConfigError, match=r"c.toml: key 'steps' must be int, got 'many'"):
        resolve(Cfg, f)
    with pytest.raises(ConfigError, match="missing required option --out"):
        resolve(Cfg, None, steps=1)
    with pytest.raises(ConfigError, match="must be bool"):
        coerce("x", "resume", 1, bool)


def test_shards_are_disjoint_and_cover():
    items = list(range(10))
    parts = [shard_items(items, f"{i}/3") for i in range(3)]
    assert sorted(sum(parts, [])) == items and parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "a/b", "1"):
        with pytest.raises(ConfigError, match="shard"):
            parse_shard(bad)


def test_one_summary_line_for_every_batch():
    b = BatchResult("videos", done=9, skipped=2)
    b.fail("x.mp4", "no face")
    assert b.summary() == "12 videos: 9 done, 2 already done, 1 failed" and not b.ok
    assert BatchResult("videos", done=3).summary() == "3 videos: 3 done, 0 failed"


def test_auto_precision_is_bf16_only_where_the_device_runs_it_natively(monkeypatch):
    import torch

    from vcbench.runtime import resolve_precision

    caps = {"avx2": True, "amx_bf16": False, "avx512_bf16": False}
    monkeypatch.setattr(torch._C._cpu, "_get_cpu_capability", lambda: dict(caps))
    assert resolve_precision("auto", "cpu") == "fp32"                 # AVX2 only: autocast would emulate bf16
    caps["avx512_bf16"] = True
    assert resolve_precision("auto", "cpu") == "bf16"
    caps.update(avx512_bf16=False, amx_bf16=True)
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda") == "fp32"                # a pre-Ampere GPU
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda:0") == "bf16"
    with pytest.raises(ConfigError, match="fp16"):
        resolve_precision("fp16", "cpu")
