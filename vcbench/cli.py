"""Thin command line: parse, call one library function, print.

Heavy libraries are imported inside commands so that ``vcbench --help`` stays instant and
works without torch, cv2 or mediapipe.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

import click

from . import __version__
from .errors import VcbenchError, interruption
from .distributed import current as current_world
from .benchmark.config import BenchmarkConfig
from .commandline import CONFIG_OPTION, config_options, given_options, shared_option
from .config import (CACHE_DIR, DATASETS, DEVICE, ENGINE, ENGINES, FACE_BACKEND, FFMPEG, PRESETS, SHARD, Engine,
                     ScoreSettings, resolve)
from .explain.config import ExplainConfig
from .finetune.config import FinetuneConfig
from .generate.config import GenerateConfig
from .watch.config import WatchConfig
from .fileio import display_name, os_error_line


def library_errors(fn=None, *, interrupted: str = "finished items are kept, re-run to complete the rest"):
    """Turn the library's typed errors into one-line ClickExceptions (exit 1), never tracebacks;
    Ctrl-C and SIGTERM say what ``interrupted`` says (``@library_errors(interrupted=...)``)."""
    if fn is None:
        return functools.partial(library_errors, interrupted=interrupted)

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except VcbenchError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:                    # disk full, unwritable folder, unreadable file
            raise click.ClickException(os_error_line(e)) from None
        except KeyboardInterrupt as e:
            raise click.ClickException(f"{interruption(e)}; {interrupted}") from None
    return wrapper


def finish_batch(batch) -> None:
    """Every batch command ends the same way: each failure named on stderr, one summary line,
    exit status 1 when anything failed."""
    for item, why in batch.failed:          # a file name's undecodable bytes shown escaped, never a crash
        click.echo(display_name(f"failed: {item}: {why}"), err=True)
    click.echo(batch.summary())
    if batch.failed:
        raise click.exceptions.Exit(1)


# --- options shared by several commands: generated from their one declaration (config.DEVICE, ...) ---
datasets_option = shared_option("datasets", DATASETS, Optional[Path])
ffmpeg_option = shared_option("ffmpeg", FFMPEG, Optional[str])
cache_dir_option = shared_option("cache_dir", CACHE_DIR, Optional[Path])
device_option = shared_option("device", DEVICE, str)
shard_option = shared_option("shard", SHARD, str)
face_backend_option = shared_option("face_backend", FACE_BACKEND, str)
presets_option = shared_option("presets", PRESETS, Optional[Path])
#: ffmpeg (the modelled call) or webrtc (a real one): config.Engine
ENGINE_NAMES = ENGINES


def engine_option(what: str = "the presets"):
    return shared_option("engine", ENGINE, Engine, what)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vcbench")
@click.option("--verbose", is_flag=True, help="Let the native libraries' log lines (mediapipe, TFLite) through.")
def cli(verbose):
    """Deepfake detection under video-call conditions: generate, finetune, benchmark, report.

    \b
    Example:
    vcbench demo                       # the whole pipeline on bundled media
    vcbench COMMAND --help             # every command's options and an example
    """


def main():  # console-script entry point
    from .runtime import end_on_sigterm, quiet_native_logs

    if "--verbose" not in sys.argv[1:2]:
        quiet_native_logs()
    end_on_sigterm()
    cli(prog_name="vcbench")


# --- datasets ----------------------------------------------------------------------

@cli.group()
def datasets():
    """List, check and export the datasets named in datasets.toml.

    \b
    Example:
    vcbench datasets list --datasets datasets.toml
    """


@datasets.command("list")
@datasets_option
@library_errors
def datasets_list(datasets):
    """Name, kind, whether the root exists, and counts by split and label.

    \b
    Example:
    vcbench datasets list --datasets datasets.toml
    """
    from .datasets import listing

    for line in listing(datasets):
        click.echo(line)


@datasets.command("check")
@click.argument("name")
@datasets_option
@click.option("--full", is_flag=True, help="Decode every frame of every video (slow), not just probe.")
@library_errors
def datasets_check(name, datasets, full):
    """Missing or undecodable videos, duplicate ids, label balance, identity leaks.

    \b
    Example:
    vcbench datasets check ffpp --datasets datasets.toml --full
    """
    from .datasets import get_dataset
    from .datasets.check import check_dataset

    rep = check_dataset(get_dataset(name, datasets), decode_all=full)
    for line in rep.lines():
        click.echo(line)
    if not rep.ok:
        raise click.ClickException(f"{len(rep.problems)} problem(s) in {name}")
    click.echo("ok")


@datasets.command("manifest")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--no-probe", is_flag=True, help="Leave frames/fps/width/height empty (no video is opened).")
@datasets_option
@library_errors
def datasets_manifest(name, output, no_probe, datasets):
    """Write the dataset as manifest.csv (the schema in docs/architecture.md), for any kind.

    \b
    Example:
    vcbench datasets manifest celebdf --datasets datasets.toml -o celebdf.csv
    """
    from .datasets import dataset_manifest

    ds, batch = dataset_manifest(name, output, datasets, probe=not no_probe)
    click.echo(f"wrote {output}: {len(ds.records)} videos")
    finish_batch(batch)


@datasets.command("prepare")
@click.argument("name")
@datasets_option
@face_backend_option
@shard_option
@cache_dir_option
@library_errors
def datasets_prepare(name, datasets, face_backend, shard, cache_dir):
    """Fill the face-track cache for a whole dataset (resumable, shardable).

    \b
    Example:
    vcbench datasets prepare ffpp --datasets datasets.toml --shard 0/4
    """
    from .datasets import get_dataset
    from .faces.prepare import track_all

    finish_batch(track_all(get_dataset(name, datasets).videos(), face_backend, shard, cache_dir, log=click.echo))


# --- presets / simulate ------------------------------------------------------------



@cli.group()
def presets():
    """The conference-condition ladder (codec, network, camera).

    \b
    Example:
    vcbench presets list
    """


@presets.command("list")
@presets_option
@library_errors
def presets_list(presets):
    """One line per preset: codec, resolution@fps, bitrate, extras.

    \b
    Example:
    vcbench presets list --presets my-presets.toml
    """
    from .conference.presets import Preset, load_presets

    click.echo(Preset.HEADER)
    for p in load_presets(presets).values():
        click.echo(p.summary())


@presets.command("show")
@click.argument("name")
@presets_option
@library_errors
def presets_show(name, presets):
    """Every setting of a preset and the sources of its numbers.

    \b
    Example:
    vcbench presets show zoom-360p
    """
    from .conference.presets import get_preset

    click.echo(get_preset(name, presets).describe())


@cli.command()
@click.argument("input", type=click.Path(path_type=Path))
@click.option("--preset", required=True, help="Preset name (see 'vcbench presets list').")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the loss model.")
@presets_option
@ffmpeg_option
@click.option("--fidelity", is_flag=True,
              help="Also measure PSNR/SSIM of the output against the input (decodes both: slower).")
@engine_option("the preset")
@library_errors
def simulate(input, preset, output, seed, presets, ffmpeg, fidelity, engine):
    """Pass one video through a simulated call; print what the call did to it.

    \b
    Example:
    vcbench simulate talk.mp4 --preset lossy-180p -o talk-lossy.mp4 --fidelity
    vcbench simulate talk.mp4 --preset loss-stress -o talk-call.webm --engine webrtc
    """
    from .api import simulate as run
    from .conference.engines import stats_lines

    stats = run(input, output, preset, engine=engine, seed=seed, presets_file=presets, ffmpeg=ffmpeg, fidelity=fidelity)
    for line in [f"wrote {output}", *stats_lines(stats, output)]:
        click.echo(line)


@cli.command()
@click.option("--preset", required=True, help="Comma-separated presets to compare.")
@click.option("--clips", type=click.Path(path_type=Path), required=True, help="A video, or a folder of videos.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for both engines' outputs and calibrate.json.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--seeds", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Loss patterns per clip: seeds SEED .. SEED+N-1 (the table shows means over all).")
@click.option("--ffmpeg-seeds", type=click.IntRange(1, 10_000), default=None,
              help="Run the ffmpeg engine (cheap) on this many seeds instead: its column becomes the model's mean.")
@presets_option
@ffmpeg_option
@library_errors
def calibrate(preset, clips, out, seed, seeds, ffmpeg_seeds, presets, ffmpeg):
    """Each preset through both engines (ffmpeg model, real WebRTC call) on the same clips, side by side.

    A WebRTC call runs in real time: budget the clips' total duration per preset, plus start-up.

    \b
    Example:
    vcbench calibrate --preset burst-loss,loss-stress --clips clips/ --out cal/ --seeds 6
    """
    from .conference.calibrate import calibrate as run
    from .runtime import Progress

    names = [x.strip() for x in preset.split(",") if x.strip()]
    with Progress("calibrate", echo=lambda m: click.echo(m, err=True)) as progress:
        cal = run(names, clips, out, seed=seed, presets_file=presets, ffmpeg=ffmpeg, progress=progress,
                  seeds=seeds, ffmpeg_seeds=ffmpeg_seeds)
    click.echo(cal.table())
    click.echo(f"wrote {out / 'calibrate.json'}")
    finish_batch(cal.batch)


# --- generate ------------------------------------------------------------------------

@cli.command()
@config_options(GenerateConfig)
@CONFIG_OPTION
@click.pass_context
@library_errors
def generate(ctx, config_file, **kw):
    """Swap source identities onto target videos; encode reals and fakes identically.

    Re-running the same command skips finished videos and completes the rest. Each identity's
    split is a seeded hash of the identity alone: adding targets never moves an existing one.

    \b
    Example:
    vcbench generate --source faces/ --target videos/ --out ds/ --plan
    vcbench generate --source faces/ --target videos/ --out ds/ --preset clean,zoom-360p
    """
    from .generate.config import resolve_config
    from .generate.pipeline import generate as run
    from .runtime import Progress

    cfg = resolve_config(config_file, **given_options(ctx, kw))
    with Progress("generate", echo=lambda m: click.echo(m, err=True)) as progress:
        report = run(cfg, progress)
    if cfg.plan:
        click.echo(f"wrote {cfg.out / 'plan.csv'}: {report.batch.done} pair(s); nothing swapped (--plan)")
        for line in report.plan:
            click.echo(f"  {line}")
        finish_batch(report.batch)
        return
    click.echo(f"wrote {cfg.out / 'manifest.csv'}: {len(report.records)} videos")
    for split, c in report.counts.items():
        click.echo(f"  {split:<5} real {c['real']:>4}  fake {c['fake']:>4}")
    finish_batch(report.batch)


# --- models --------------------------------------------------------------------------

@cli.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Checkpoint (official AltFreezing, CS229 or vcbench format).")
@click.option("--model", default=None,
              help="Detector spec as benchmark's --model: chance, a plug-in, NAME=CHECKPOINT, NAME=detector.py, or a "
                   "network name whose weights --checkpoint (or --untrained) gives (default: the network the "
                   "checkpoint holds).")
@config_options(ScoreSettings)
@click.option("--timeline", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write per-frame scores (.csv or .json).")
@click.option("--dump-clips", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write every scored clip as DIR/<video>/t<track>_s<start>.npz (what the network sees).")
@device_option
@face_backend_option
@cache_dir_option
@click.option("--untrained", is_flag=True,
              help="Score without --checkpoint, with weights initialised from seed 0 (a pipeline check, not a result).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write one row per video to this .csv or .json file.")
@library_errors
def score(videos, checkpoint, model, timeline, dump_clips, device, face_backend, cache_dir, untrained, output,
          **section):
    """Score videos with a detector: probability of fake per video (and per face track).

    \b
    Example:
    vcbench score a.mp4 b.mp4 --checkpoint runs/ft/best.pth -o scores.csv
    vcbench score a.mp4 --model chance
    """
    from .detectors.files import score_files

    if checkpoint is None and untrained:
        click.echo(f"note: {model or 'altfreezing'!r} untrained (weights from seed 0): these scores are a pipeline "
                   "check, not a result", err=True)
    settings = ScoreSettings(**section)
    run = score_files(list(videos), checkpoint, model, untrained, settings, device=device, backend=face_backend,
                      cache_dir=cache_dir, timeline=timeline, dump_clips=dump_clips, output=output)
    click.echo(run.header())
    for r in run.results:
        click.echo(display_name(r.line()))
    if output is not None:
        click.echo(f"wrote {output}")
    finish_batch(run.batch)


@cli.command()
@click.argument("source")
@config_options(WatchConfig)
@CONFIG_OPTION
@click.pass_context
@library_errors(interrupted="before the watch began: nothing was written")
def watch(ctx, config_file, **kw):
    """Watch a live source for face-swaps: a window per face every --stride frames, an alarm when the
    running score reaches the threshold. SOURCE is a video file (--realtime paces it), a capture device
    (/dev/video0), a stream URL ffmpeg opens (udp://, rtsp://, srt://, http://...) or webrtc:FILE (a real
    call of FILE under --preset, scored on the receiving end). Ctrl-C ends it with the summary.

    \b
    Example:
    vcbench watch webrtc:call.mp4 --preset zoom-360p --checkpoint runs/ft/best.pth --events ev.jsonl --video seen.mp4
    """
    from .watch.run import run_watch, summary_lines, watch_failed

    given = given_options(ctx, kw)
    given["source"] = kw["source"]
    cfg = resolve(WatchConfig, config_file, **given)
    s = run_watch(cfg, echo=lambda m: click.echo(m, err=True))
    for line in summary_lines(s):
        click.echo(line)
    if watch_failed(s):
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@config_options(ExplainConfig)
@CONFIG_OPTION
@click.pass_context
@library_errors
def explain(ctx, config_file, **kw):
    """See where a detector looks: a Grad-CAM map for every face window it scores (computed in fp32,
    scores untouched), strips of its most and least fake clips, and with --video the annotated score
    video, the call's freezes, keyframes and resolution switches on its timeline.

    \b
    Example:
    vcbench explain call.mp4 --checkpoint runs/ft/best.pth -o explain/ --video
    """
    from .explain import explain as run_explain

    given = given_options(ctx, kw)
    given["videos"] = [str(v) for v in kw["videos"]]
    cfg = resolve(ExplainConfig, config_file, **given)
    rec, batch = run_explain(cfg, echo=click.echo)
    click.echo(f"threshold {rec['threshold']:.3f} ({rec['threshold_from']}); wrote {cfg.out}/explain.json")
    finish_batch(batch)


@cli.command()
@config_options(FinetuneConfig)
@CONFIG_OPTION
@click.pass_context
@library_errors
def finetune(ctx, config_file, **kw):
    """Fine-tune a detector on call-condition data with a freezing schedule.

    Works the same under torchrun --nproc_per_node N (DDP; rank 0 writes).

    \b
    Example:
    vcbench finetune --train ds --val ds --model altfreezing-tiny --freezing alternate --out runs/ft
    """
    from .finetune.trainer import run_finetune
    from .runtime import Progress

    given = given_options(ctx, kw)
    cfg = resolve(FinetuneConfig, config_file, **given)
    with Progress("finetune", unit="steps/s", echo=lambda m: click.echo(m, err=True)) as progress:
        res = run_finetune(cfg, progress, log=progress.log)
    if not current_world().main:              # rank 0 reports for the whole run
        return
    for line in res.lines():
        click.echo(line)
    if res.failed:              # named and non-zero, as every other batch command
        for item, why in res.failed:
            click.echo(display_name(f"failed: {item}: {why}"), err=True)
        click.echo(res.failure_note(), err=True)
        raise click.exceptions.Exit(1)


@cli.command()
@config_options(BenchmarkConfig, first=("model", "dataset", "preset", "out"))
@CONFIG_OPTION
@click.option("--list", "list_only", is_flag=True, help="Show detectors, datasets and presets, then exit.")
@click.pass_context
@library_errors
def benchmark(ctx, config_file, list_only, **kw):
    """Score model x dataset x preset; write predictions.csv and results.json.

    \b
    Example:
    vcbench benchmark --model altfreezing=runs/ft/best.pth --model chance --dataset ds --preset clean,zoom-360p --out runs/bench

    \b
    Time to alarm (seconds until a live fake is caught, false alarms per hour):
    vcbench benchmark --model altfreezing=runs/ft/best.pth --dataset ds --preset zoom-360p --streaming --out runs/live
    """
    from .api import benchmark as run
    from .benchmark.listing import listing
    from .runtime import Progress

    given = given_options(ctx, kw)
    if list_only:
        for line in listing(config_file, given.get("datasets")):
            click.echo(line)
        return
    with Progress("benchmark", unit="videos/s", echo=lambda m: click.echo(m, err=True)) as progress:
        done = run(config_file, progress=progress, warn=lambda m: click.echo(f"warning: {m}", err=True),
                   echo=click.echo, **given)
    if done.results is None:              # a rank other than 0: rank 0 reports for the whole run
        if done.batch.failed:
            raise click.exceptions.Exit(1)
        return
    if done.merged is not None:
        click.echo(f"merged {done.merged} predictions from {len(done.config.merge)} run(s) into {done.config.out}")
    _print_cells(done.results)
    if done.merged is None:
        click.echo(f"wrote {done.config.out / 'results.json'}")
        finish_batch(done.batch)


def _print_cells(res: dict) -> None:
    from .benchmark.results import cell_lines, comparison_lines, streaming_lines

    for line in cell_lines(res) + streaming_lines(res) + comparison_lines(res):
        click.echo(line)


@cli.command()
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--finetune", "finetunes", multiple=True, type=click.Path(path_type=Path),
              help="A fine-tuning run folder (its curves and record); repeatable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The HTML file; its tables also go to <name>_tables/ as CSV, Markdown and LaTeX.")
@click.option("--title", default=None, help="Report title.")
@click.option("--no-thumbnails", is_flag=True, help="Skip the gallery (it decodes one frame per video shown).")
@library_errors
def report(runs, finetunes, output, title, no_thumbnails):
    """Render benchmark runs (and fine-tuning runs) as one self-contained HTML report.

    \b
    Example:
    vcbench report runs/bench --finetune runs/ft -o report.html
    """
    from .reports.render import write_report

    damaged: list[str] = []
    out = write_report(list(runs), list(finetunes), output, title, thumbs=not no_thumbnails, damaged=damaged)
    click.echo(f"wrote {out} and {out.parent / (out.stem + '_tables')}/")
    for line in damaged:
        click.echo(f"warning: {line}", err=True)
    if damaged:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"), show_default=True)
@click.option("--steps", type=int, default=300, show_default=True, help="Fine-tuning steps.")
@click.option("--full", is_flag=True, help="The research configuration on your assets (names any that are missing).")
@click.option("--source", type=click.Path(path_type=Path), default=None, help="--full: your source faces.")
@click.option("--target", type=click.Path(path_type=Path), default=None, help="--full: your target videos.")
@library_errors
def demo(out, steps, full, source, target):
    """The whole pipeline (generate, benchmark, finetune, benchmark, report) on media that ships
    inside pip packages, offline: a smoke-scale check that everything works.

    \b
    Example:
    vcbench demo --out runs/demo
    """
    from .demo import run_demo, run_full

    if full:
        run_full(out, source, target, echo=click.echo)
        return
    summary = run_demo(out, echo=click.echo, steps=steps)
    if summary["failures"]:
        for item, why in summary["failures"]:
            click.echo(f"failed: {item}: {why}", err=True)
        raise click.ClickException(f"{len(summary['failures'])} demo item(s) failed (named above)")


@cli.command()
@library_errors
def doctor():
    """What this machine has: torch/CUDA, onnxruntime, ffmpeg encoders, face backends, checkpoints.

    \b
    Example:
    vcbench doctor
    """
    from .doctor import run_checks

    for c in run_checks():
        click.echo(f"[{'ok' if c.ok else '--'}] {c.name:<26} {c.detail}")


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@face_backend_option
@click.option("--every", type=int, default=1, show_default=True, help="Detect every N frames, track between.")
@cache_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@library_errors
def faces(video, face_backend, every, cache_dir, as_json):
    """Face-track summary of one video (for debugging): frames, score, mean box per track.

    \b
    Example:
    vcbench faces talk.mp4 --every 5 --json
    """
    import json

    from .faces import track_video

    tracks = track_video(video, backend=face_backend, detect_every=every, cache_dir=cache_dir)
    for line in [json.dumps(dict(tracks.summary(), video=str(video)), indent=2)] if as_json else tracks.lines(video):
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
