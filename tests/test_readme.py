"""The README's no-asset commands run as written (the demo first), with vcbench's output only."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import has_mediapipe

README = Path(__file__).resolve().parents[1] / "README.md"


def runnable_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- runnable: no assets -->\s*```bash\n(.*?)```", text, re.S)
    assert m, "README lost its runnable block"
    return [line.strip() for line in m.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_the_block_starts_with_the_demo():
    cmds = runnable_block()
    assert cmds[0].startswith("vcbench demo") and len(cmds) >= 6


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_readme_commands_run_as_written(tmp_path):
    from vcbench.runtime import NATIVE_LOG

    vcbench = Path(sys.executable).with_name("vcbench")
    assert vcbench.is_file(), "the vcbench console script is not installed beside this python"
    env = {**os.environ, "VCBENCH_CACHE": str(tmp_path / "cache"), "VCBENCH_DATASETS": str(tmp_path / "none.toml")}
    for cmd in runnable_block():
        args = shlex.split(cmd)
        assert args[0] == "vcbench"
        r = subprocess.run([str(vcbench), *args[1:]], cwd=tmp_path, capture_output=True, text=True, env=env,
                           timeout=900)
        assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
        native = [line for line in (r.stdout + r.stderr).splitlines() if NATIVE_LOG.match(line)]
        assert native == [], f"{cmd}: native log lines reached the console: {native[:3]}"
        if args[1] == "demo":
            assert "SMOKE-SCALE RUN" in r.stdout and "stage times:" in r.stdout
            report = tmp_path / "runs" / "demo" / "report.html"
            assert f"report: {report.resolve()}" in r.stdout and report.is_file()
            html = report.read_text()
            assert "finetuned" in html and "altfreezing-tiny" in html and "unseen" in html
            assert "sbi-tiny" in html                        # a frame detector's row beside AltFreezing's
            assert "pipeline check" in html
    assert (tmp_path / "runs" / "sim" / "carphone-zoom.mp4").is_file()
    assert (tmp_path / "runs" / "demo" / "report-again.html").is_file()
    import json

    summary = json.loads((tmp_path / "runs" / "demo" / "demo.json").read_text())
    assert summary["failures"] == [] and set(summary["timings"]) >= {"generate", "finetune", "report"}
    # run again: every stage finds its work done (nothing generated, trained or scored twice)
    r = subprocess.run([str(vcbench), "demo", "--out", "runs/demo"], cwd=tmp_path, capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "already trained" in r.stdout and "(0 made," in r.stdout
