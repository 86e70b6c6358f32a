import re
import subprocess
from pathlib import Path
import sys

from vcbench.cli import cli


def test_help_does_not_import_heavy_libraries():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom vcbench.cli import cli\n"
            "for args in (['--help'], ['score', '--help'], ['generate', '--help'], ['datasets', 'list', '--help']):\n"
            "    r = CliRunner().invoke(cli, args)\n    assert r.exit_code == 0, r.output\n"
            "bad = [m for m in ('torch', 'cv2', 'mediapipe', 'av') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_stage_command_has_help(cli_runner):
    for cmd in ("generate", "finetune", "benchmark", "report", "demo", "score", "simulate", "datasets",
                "presets", "doctor", "faces"):
        r = cli_runner.invoke(cli, [cmd, "--help"])
        assert r.exit_code == 0 and "Usage:" in r.output, cmd


def test_doctor_tells_the_truth(cli_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHTFACE_ROOT", str(tmp_path / "if"))
    monkeypatch.setenv("VCBENCH_CHECKPOINTS", str(tmp_path / "ck"))
    r = cli_runner.invoke(cli, ["doctor"])
    assert r.exit_code == 0, r.output
    import torch

    assert f"torch {torch.__version__}" in r.output
    assert ("CUDA not available" in r.output) != torch.cuda.is_available()
    assert "libx264" in r.output and "[--] face backend insightface" in r.output
    pack = tmp_path / "if" / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    (pack / "det_10g.onnx").write_bytes(b"x")
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "af.pth").write_bytes(b"x")
    r = cli_runner.invoke(cli, ["doctor"])
    assert "buffalo_l (1 models)" in r.output and "af.pth" in r.output


def test_registry_did_you_mean():
    from vcbench.errors import UnknownNameError
    from vcbench.registry import Registry

    reg = Registry("detector")
    reg.register("altfreezing", object())
    reg.register("altfreezing-tiny", object())
    try:
        reg.get("altfreezng")
    except UnknownNameError as e:
        assert "did you mean 'altfreezing'" in str(e)
    else:
        raise AssertionError("lookup of an unknown name must fail")


def test_demo_full_names_every_missing_asset(tmp_path, cli_runner, monkeypatch):
    """The whole demo runs in tests/test_readme.py (the README's block, as written)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INSIGHTFACE_ROOT", str(tmp_path / "if"))
    monkeypatch.setenv("VCBENCH_CHECKPOINTS", str(tmp_path / "ck"))
    monkeypatch.delenv("VCBENCH_DATASETS", raising=False)
    r = cli_runner.invoke(cli, ["demo", "--full", "--out", str(tmp_path / "full")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    for missing in ("inswapper_128.onnx", "insightface pack buffalo_l", "official AltFreezing checkpoint",
                    "FaceForensics++", "Celeb-DF v2", "--source FACES and --target VIDEOS"):
        assert missing in r.output, r.output
    assert not (tmp_path / "full").exists()


def test_faces_cli_and_missing_insightface_pack(tmp_path, carphone, cli_runner, monkeypatch):
    monkeypatch.setenv("VCBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("INSIGHTFACE_ROOT", str(tmp_path / "if"))
    r = cli_runner.invoke(cli, ["faces", str(carphone), "--every", "5"])
    assert r.exit_code == 0, r.output
    assert "1 track(s) over 120 frames" in r.output and "frames 0-119 (120)" in r.output
    assert re.search(r"mean box x1 [\d.]+ y1 [\d.]+ x2 [\d.]+ y2 [\d.]+$", r.output, re.M), r.output
    import json

    j = json.loads(cli_runner.invoke(cli, ["faces", str(carphone), "--every", "5", "--json"]).output)
    assert j["frames"] == 120 and j["tracks"][0]["frames"] == 120 and len(j["tracks"][0]["mean_box_x1_y1_x2_y2"]) == 4
    r = cli_runner.invoke(cli, ["faces", str(carphone), "--backend", "insightface"])
    assert r.exit_code == 1 and "insightface pack 'buffalo_l' not found" in r.output
    r = cli_runner.invoke(cli, ["faces", str(carphone), "--backend", "mediapip"])
    assert r.exit_code == 1 and "did you mean 'mediapipe'" in r.output


def test_newcomer_output_is_labelled(cli_runner, tmp_path, monkeypatch):
    r = cli_runner.invoke(cli, ["presets", "list"])
    assert r.exit_code == 0 and r.output.splitlines()[0].split()[:3] == ["name", "codec", "size@fps"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VCBENCH_DATASETS", raising=False)
    r = cli_runner.invoke(cli, ["datasets", "list"])
    assert r.exit_code != 0 and "--datasets" in r.output and "VCBENCH_DATASETS" in r.output
    for mod in ("bench.simulate", "bench.score", "bench.generate"):
        out = subprocess.run([sys.executable, "-m", mod, "--help"], capture_output=True, text=True,
                             cwd=Path(__file__).parent.parent)
        assert out.returncode == 0 and len(out.stdout.split("options:")[0].splitlines()) > 3, mod


def _commands(group=None, path=("vcbench",)):
    import click

    group = group or cli
    yield path, group
    if isinstance(group, click.Group):
        for name, cmd in group.commands.items():
            yield from _commands(cmd, (*path, name))


def test_every_help_ends_with_an_example_that_parses():
    """Each command's --help shows an Example: block, and every example line is a valid command
    line for it (its options exist, its arguments fit): parsed by click, not run."""
    import shlex

    import click

    for path, cmd in _commands():
        from click.testing import CliRunner

        r = CliRunner().invoke(cli, [*path[1:], "--help"])
        assert r.exit_code == 0, path
        text = r.output
        assert "Example:" in text, f"{' '.join(path)} --help has no example"
        lines = [ln.strip() for ln in text.split("Example:", 1)[1].split("Options:", 1)[0].splitlines() if ln.strip().startswith("vcbench")]
        assert lines, f"{' '.join(path)}: the example shows no command"
        for line in lines:
            args = shlex.split(line, comments=True)[1:]
            if "COMMAND" in args:
                continue
            target, rest = cli, args
            while isinstance(target, click.Group) and rest and rest[0] in target.commands:
                target, rest = target.commands[rest[0]], rest[1:]
            assert target is cmd or isinstance(cmd, click.Group), (path, line)      # a group may show a subcommand
            target.make_context(target.name, list(rest), resilient_parsing=False)   # raises on a bad option


def test_every_environment_variable_read_is_listed_and_documented():
    """runtime.ENVIRONMENT is the list: every VCBENCH_* the code reads is in it, and each of its
    user-facing variables is in docs/troubleshooting.md's table."""
    from vcbench.runtime import ENVIRONMENT

    root = Path(__file__).resolve().parent.parent
    read = set()
    for path in (root / "vcbench").rglob("*.py"):
        read |= set(re.findall(r"""environ(?:\.get)?\(?\[?["'](VCBENCH_[A-Z_]+|INSIGHTFACE_ROOT)["']""",
                                path.read_text(encoding="utf-8")))
        read |= set(re.findall(r"""_env_path\(["'](VCBENCH_[A-Z_]+)["']""", path.read_text(encoding="utf-8")))
    assert read and read <= set(ENVIRONMENT), read - set(ENVIRONMENT)
    docs = (root / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    missing = [v for v in ENVIRONMENT if v != "VCBENCH_FAULT" and f"`{v}`" not in docs]
    assert not missing, f"not in docs/troubleshooting.md: {missing}"


def test_the_cli_engine_names_are_the_engines():
    from vcbench.cli import ENGINE_NAMES
    from vcbench.conference.engines import ENGINES

    assert tuple(ENGINE_NAMES) == tuple(ENGINES)
