"""The layer rules of docs/architecture.md, enforced on every import (also those inside functions)."""
from __future__ import annotations

import ast
from pathlib import Path

import vcbench

ROOT = Path(vcbench.__file__).parent

BASE = {"__init__", "errors", "fileio", "config", "runtime", "registry", "video", "samples", "provenance", "batch",
        "metrics", "distributed", "contracts", "runs", "alarms", "overlay"}
DOMAIN = {"faces", "datasets", "conference", "models", "scoring", "detectors"}
STAGES = {"generate", "finetune", "benchmark", "watch", "explain"}
OUTPUT = {"reports"}
ENTRY = {"cli", "commandline", "doctor", "demo", "__main__", "api"}
#: domain packages that may use another domain package
DOMAIN_USES = {"models": {"faces"}, "scoring": {"models", "faces"}, "conference": {"faces"},
               "detectors": {"models", "scoring", "faces", "datasets"}}
#: the package's face: ``vcbench.score`` and the rest of the library API (vcbench/api.py, an entry
#: like the CLI) are looked up on first use, from inside ``__getattr__``, so ``import vcbench``
#: costs nothing and nothing below the API imports it
FACE = {("__init__", "api")}


def top(module: str) -> str:
    """``vcbench.faces.tracking`` -> ``faces``; ``vcbench`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer(name: str) -> str:
    for label, group in (("base", BASE), ("domain", DOMAIN), ("stage", STAGES), ("output", OUTPUT),
                         ("entry", ENTRY)):
        if name in group:
            return label
    raise AssertionError(f"vcbench/{name}: a module in no layer; add it to docs/architecture.md and this test")


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every vcbench module ``path`` imports, resolved to a module (or package) name."""
    mod = module_of(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "vcbench"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "vcbench":
                continue
            for a in node.names:   # "from pkg import sub" imports the submodule when it is one
                sub = f"{target}.{a.name}"
                out.add(sub if _exists(sub) else target)
    return out


def _exists(module: str) -> bool:
    p = ROOT.parent.joinpath(*module.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    g = {}
    for path in sorted(ROOT.rglob("*.py")):
        g[module_of(path)] = {m for m in imports(path) if m != module_of(path)}
    return g


def test_every_import_follows_the_layers():
    bad = []
    for mod, deps in graph().items():
        a = top(mod)
        la = layer(a)
        for dep in deps:
            b = top(dep)
            if a == b or (a, b) in FACE:
                continue
            lb = layer(b)
            if lb == "entry":
                ok = la == "entry"
            elif la == "base":
                ok = lb == "base"
            elif la == "domain":
                ok = lb == "base" or (lb == "domain" and b in DOMAIN_USES.get(a, set()))
            elif la == "stage":
                ok = lb in ("base", "domain")
            elif la == "output":            # reads files (manifests, presets, caches), never a model
                ok = lb == "base" or (lb == "domain" and b not in ("models", "scoring"))
            else:
                ok = True
            if not ok:
                bad.append(f"{mod} ({la}) imports {dep} ({lb})")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_files():
    g = graph()
    # a package's __init__ re-exporting its own submodules is not a cycle between files
    def edges(m):
        return {d for d in g.get(m, ()) if d in g}

    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(edges(m)):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    deps = imports(ROOT / "faces" / "prepare.py")
    assert "vcbench.runs" in deps and "vcbench.faces.tracking" in deps      # the second only inside functions


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            yield node


def test_ffmpeg_runs_only_through_video_py():
    """Every ffmpeg process is started by vcbench/video.py (run_ffmpeg, the writer and reader pipes):
    one place decides its flags, its errors and its logging. Elsewhere a subprocess may start a
    browser or git, never ffmpeg (its executable comes from ffmpeg_exe)."""
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == ROOT / "video.py":
            continue
        text = path.read_text(encoding="utf-8")
        for node in _calls(path):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            if owner == "subprocess" and name in ("run", "Popen", "call", "check_call", "check_output"):
                src = ast.get_source_segment(text, node) or ""
                if "ffmpeg" in src or "exe" in src.split(",")[0]:
                    bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
            if name in ("system", "popen") and owner == "os":
                bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} (os.{name})")
    assert not bad, "ffmpeg started outside video.py: " + ", ".join(bad)


def test_no_module_imports_another_modules_private_name():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("vcbench")):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} imports {a.name}")
    assert not bad, "\n".join(bad)


def test_no_function_is_longer_than_80_lines():
    """A function reads at once (nested functions count toward the one they sit in)."""
    long = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name} "
                            f"({node.end_lineno - node.lineno + 1} lines)")
    assert not long, "\n".join(long)
