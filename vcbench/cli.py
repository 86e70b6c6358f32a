"""Thin command line: parse, call one library function, print.

Heavy libraries are imported inside commands so that ``vcbench --help`` stays instant and
works without torch, cv2 or mediapipe.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from . import __version__
from .errors import VcbenchError, interruption
from .distributed import current as current_world
from .fileio import os_error_line


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
    from .fileio import display_name

    for item, why in batch.failed:          # a file name's undecodable bytes shown escaped, never a crash
        click.echo(display_name(f"failed: {item}: {why}"), err=True)
    click.echo(batch.summary())
    if batch.failed:
        raise click.exceptions.Exit(1)


def default_of(cls, name: str):
    """A config dataclass's default, so click options never repeat it."""
    import dataclasses

    v = {f.name: f.default for f in dataclasses.fields(cls)}[name]
    return ",".join(v) if isinstance(v, tuple) else v


# --- options shared by several commands (defined once) -----------------------------------
datasets_option = click.option(
    "--datasets", "datasets", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="datasets.toml to read (default: $VCBENCH_DATASETS or ./datasets.toml).")
ffmpeg_option = click.option("--ffmpeg", "ffmpeg", default=None,
                             help="ffmpeg binary (default: $VCBENCH_FFMPEG or imageio-ffmpeg's).")
cache_dir_option = click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                                help="Face-track cache (default: $VCBENCH_CACHE/faces or ~/.cache/vcbench/faces).")
device_option = click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
shard_option = click.option("--shard", default="0/1", show_default=True, help="Process shard i of n (job arrays).")
#: ffmpeg (the modelled call) or webrtc (a real one); the names are conference.engines.ENGINES
ENGINE_NAMES = ("ffmpeg", "webrtc")


def engine_option(default: str = "ffmpeg", what: str = "the presets"):
    return click.option("--engine", type=click.Choice(ENGINE_NAMES), default=default, show_default=True,
                        help=f"Who applies {what}: ffmpeg (the modelled call: fast, bit-identical) or webrtc (a real "
                             "libwebrtc call in headless Chromium through a packet relay: real time, not "
                             "bit-identical; needs chromium; renditions are cached per engine).")


face_backend_option = click.option("--face-backend", "--backend", "face_backend", default="mediapipe", show_default=True,
                                   help="Face backend: mediapipe (offline) or insightface.")


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
    from .config import load_datasets
    from .runtime import datasets_file as default_datasets_file
    from .datasets import load_dataset

    cfgs = load_datasets(datasets)
    click.echo(f"{'name':<20} {'kind':<9} {'root':<6} counts (real/fake per split)")
    for name, cfg in cfgs.items():
        if not cfg.root.is_dir():
            click.echo(f"{name:<20} {cfg.kind:<9} {'no':<6} {cfg.root} not found")
            continue
        try:
            ds = load_dataset(cfg)
        except VcbenchError as e:
            click.echo(f"{name:<20} {cfg.kind:<9} {'yes':<6} error: {e}")
            continue
        counts = "  ".join(f"{s} {c['real']}/{c['fake']}" for s, c in ds.counts().items()) or "empty"
        if ds.excluded:
            counts += f"  ({len(ds.excluded)} left out)"
        click.echo(f"{name:<20} {cfg.kind:<9} {'yes':<6} {counts}")
    if not cfgs:
        click.echo(f"(no datasets in {datasets or default_datasets_file()})")


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
    click.echo(f"{rep.dataset}: {rep.total} videos; " +
               ", ".join(f"{s}: {c['real']} real / {c['fake']} fake" for s, c in rep.counts.items()))
    for w in rep.warnings:
        click.echo(f"warning: {w}")
    for vid, msg in rep.problems:
        click.echo(f"problem: {vid}: {msg}")
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
    """Write the dataset as manifest.csv (DESIGN.md schema), for any kind.

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

presets_option = click.option("--presets", "presets", type=click.Path(dir_okay=False, path_type=Path),
                              default=None, help="Extra presets TOML (added to / overriding the built-in ladder).")


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
@engine_option(what="the preset")
@library_errors
def simulate(input, preset, output, seed, presets, ffmpeg, fidelity, engine):
    """Pass one video through a simulated call; print what the call did to it.

    \b
    Example:
    vcbench simulate talk.mp4 --preset lossy-180p -o talk-lossy.mp4 --fidelity
    vcbench simulate talk.mp4 --preset loss-stress -o talk-call.webm --engine webrtc
    """
    from .conference.engines import simulate_with

    stats = simulate_with(engine, input, output, preset, seed=seed, presets_file=presets, ffmpeg=ffmpeg,
                          fidelity=fidelity)
    click.echo(f"wrote {output}")
    for k, v in stats.items():
        if isinstance(v, dict):        # the webrtc engine's getStats and relay counts, one line each
            for sub, val in v.items():
                click.echo(f"  {k + '.' + sub:<18} {val}")
        elif isinstance(v, list) and len(v) > 8:
            click.echo(f"  {k:<18} {len(v)} values (in {output}.stats.json)")
        else:
            click.echo(f"  {k:<18} {v}")


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

def generate_default(name):
    from .generate.config import GenerateConfig

    return default_of(GenerateConfig, name)


@cli.command()
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="Source identity image/video, or a folder of them (a subfolder = one identity).")
@click.option("--target", type=click.Path(path_type=Path), default=None,
              help="Target video, or a folder of videos (a subfolder = one identity).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Dataset folder to write.")
@click.option("--swapper", default=generate_default("swapper"), show_default=True, help="mesh (offline) or inswapper.")
@click.option("--swapper-model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="inswapper_128.onnx (default: searched in ~/.insightface/models and ./models).")
@click.option("--arcface", default=generate_default("arcface"), show_default=True,
              help="insightface pack (or ArcFace .onnx) for identity embeddings.")
@click.option("--face-backend", default=generate_default("face_backend"), show_default=True,
              help="auto, mediapipe or insightface (auto: the pack for inswapper when present).")
@click.option("--select", default=generate_default("select"), show_default=True, help="Faces to swap: leftmost, largest or all.")
@click.option("--map", "map", default=None,
              help="SOURCE=TARGET_ID,...: a source per face identity of each target (Deep-Live-Cam's map-faces). "
                   "Identities are found by ArcFace embedding and numbered left to right from 0; each target "
                   "gets one fake with every mapped source; other faces stay real. Replaces --select.")
@click.option("--timing", type=click.Choice(["live", "video", "exact"]), default=generate_default("timing"), show_default=True,
              help="Which frame's detection is pasted: live = Deep-Live-Cam's webcam loop (detects every "
                   "round(0.08 x fps) frames, reuses it between), video = its file pipeline (the previous "
                   "frame's), exact = each frame's own.")
@click.option("--mouth-mask", is_flag=True,
              help="inswapper: put the target's mouth back after the paste (Deep-Live-Cam's mouth mask).")
@click.option("--mouth-mask-size", type=float, default=generate_default("mouth_mask_size"), show_default=True,
              help="Its 0-100 size slider: 0 = the lip outline, 100 = from the mouth down to the chin.")
@click.option("--enhancer", type=click.Choice(["gfpgan", "gpen256", "gpen512"]), default=None,
              help="Deep-Live-Cam's face enhancer on the swapped face (its ONNX file: gfpgan-1024.onnx, "
                   "GPEN-BFR-256.onnx or GPEN-BFR-512.onnx, in ~/.insightface/models or ./models; never downloaded).")
@click.option("--enhancer-model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The enhancer's .onnx file (default: searched by its name).")
@click.option("--color", is_flag=True,
              help="inswapper: LAB colour transfer onto the patch. A vcbench extra with no Deep-Live-Cam "
                   "counterpart (its 'Fix Blueish Cam' only swaps BGR/RGB on capture); off by default.")
@click.option("--poisson", is_flag=True, help="inswapper: Poisson blend.")
@click.option("--preset", "preset", default=generate_default("preset"), show_default=True, help="Comma-separated call conditions.")
@click.option("--presets", "presets", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Extra presets TOML.")
@engine_option(generate_default("engine"), "the presets to reals and fakes")
@click.option("--pairs", type=click.IntRange(min=1), default=None, help="Draw N (source, target) pairs instead of all.")
@click.option("--pairs-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV with a 'source,target' header: exactly these pairs (names as --plan prints them, or file "
                   "names), each checked against the splits.")
@click.option("--match", type=click.Choice(["gender"]), default=None,
              help="gender: a source only onto targets of its predicted gender (insightface's genderage model, from "
                   "the --arcface pack or --genderage).")
@click.option("--genderage", default=None, help="--match gender's model: genderage.onnx or a pack (default: --arcface).")
@click.option("--seed", type=int, default=generate_default("seed"), show_default=True)
@click.option("--self-swap", is_flag=True, help="Allow a target to receive its own identity.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="Put every identity in this split instead of drawing splits.")
@click.option("--val-fraction", type=float, default=generate_default("val_fraction"), show_default=True)
@click.option("--test-fraction", type=float, default=generate_default("test_fraction"), show_default=True)
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Use at most this many frames per target.")
@click.option("--every", "every", type=click.IntRange(min=1), default=generate_default("every"), show_default=True,
              help="Run the face detector every N frames, track between.")
@click.option("--min-face-fraction", type=float, default=generate_default("min_face_fraction"), show_default=True,
              help="Skip a target whose face is found in fewer of its frames.")
@click.option("--min-swapped", "min_swapped", type=click.FloatRange(0, 1), default=generate_default("min_swapped"), show_default=True,
              help="A fake in which fewer of the frames were swapped is a failed item, not a label-1 video.")
@click.option("--max-gap", "max_gap", type=float, default=generate_default("max_gap"), show_default=True,
              help="Skip a target whose face is missing for longer than this many seconds at a stretch.")
@click.option("--crf", type=int, default=generate_default("crf"), show_default=True, help="x264 CRF of the clean real/fake masters.")
@click.option("--master", type=click.Choice(["vcbench", "dlc"]), default=generate_default("master"), show_default=True,
              help="Encode of the clean masters, reals and fakes alike: vcbench = x264 medium at --crf; dlc = "
                   "Deep-Live-Cam's (also -tune film and its bt601 -> bt709 colour conversion).")
@click.option("--plan", "plan", is_flag=True,
              help="Write OUT/plan.csv (each pair: source, target, identities, split) and print a summary per "
                   "split, without swapping anything.")
@click.option("--note", default=None,
              help="A line every later stage repeats where this dataset's numbers appear (finetune's run.json, the "
                   "report), e.g. 'pilot data, 3 identities'.")
@shard_option
@ffmpeg_option
@cache_dir_option
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML with the same keys as these options (flags win).")
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


def given_options(ctx, kw: dict) -> dict:
    """Only the options the user set on the command line (so a config file's values survive)."""
    return {k: v for k, v in kw.items()
            if ctx.get_parameter_source(k) not in (click.core.ParameterSource.DEFAULT, None)}


# --- models --------------------------------------------------------------------------

@cli.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Checkpoint (official AltFreezing, CS229 or vcbench format).")
@click.option("--model", default=None,
              help="Registered detector name (default: the one a vcbench checkpoint names, else altfreezing).")
@click.option("--mode", type=click.Choice(["dense", "sparse"]), default="sparse", show_default=True,
              help="dense: every window (the release's demo); sparse: --clips evenly spaced windows per track.")
@click.option("--clips", type=click.IntRange(min=1), default=None, help="Clips per track in sparse mode (default 4).")
@click.option("--aggregate", type=click.Choice(["mean", "max-track"]), default=None,
              help="Video score: mean of every clip of every track, or the highest track (default: what the weights "
                   "declare; mean for AltFreezing, as released).")
@click.option("--tracking", type=click.Choice(["release", "all"]), default="release", show_default=True,
              help="release: tracks spanning the video from frame 0, else the longest; all: every track.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="Arithmetic of the forward pass: auto is bf16 autocast where the device runs bf16 natively "
                   "(CUDA, AMX/AVX512-bf16 CPUs), else fp32 (the release's numbers).")
@click.option("--timeline", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write per-frame scores (.csv or .json).")
@click.option("--dump-clips", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write every scored clip as DIR/<video>/t<track>_s<start>.npz (what the network sees).")
@device_option
@click.option("--max-frames", type=click.IntRange(min=1), default=400, show_default=True)
@face_backend_option
@cache_dir_option
@click.option("--untrained", is_flag=True,
              help="Score without --checkpoint, with weights initialised from seed 0 (a pipeline check, not a result).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write one row per video to this .csv or .json file.")
@library_errors
def score(videos, checkpoint, model, mode, clips, aggregate, tracking, precision, timeline, dump_clips, device,
          max_frames, face_backend, cache_dir, untrained, output):
    """Score videos with a detector: probability of fake per video (and per face track).

    \b
    Example:
    vcbench score a.mp4 b.mp4 --checkpoint runs/ft/best.pth -o scores.csv
    """
    from .fileio import display_name
    from .scoring import ScoreSettings, score_files

    if checkpoint is None and untrained:
        click.echo(f"note: {model or 'altfreezing'!r} untrained (weights from seed 0): these scores are a pipeline "
                   "check, not a result", err=True)
    settings = ScoreSettings(mode=mode, clips=clips, aggregate=aggregate, tracking=tracking, precision=precision,
                             max_frames=max_frames)
    run = score_files(list(videos), checkpoint, model, untrained, settings, device=device, backend=face_backend,
                      cache_dir=cache_dir, timeline=timeline, dump_clips=dump_clips, output=output)
    click.echo(run.header())
    for r in run.results:
        click.echo(display_name(r.line()))
    if output is not None:
        click.echo(f"wrote {output}")
    finish_batch(run.batch)


def watch_default(name):
    from .watch.config import WatchConfig

    return default_of(WatchConfig, name)


@cli.command()
@click.argument("source")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="A vcbench best.pth (or its run folder), or the official AltFreezing model.pth.")
@click.option("--model", default=None, help="Instead of --checkpoint: NAME=VALUE as benchmark's --model (a network "
                                             "with weights, or a plug-in detector that scores windows).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="Alarm when the running score reaches this (default: the checkpoint's own val threshold).")
@click.option("--false-alarms-per-hour", type=click.FloatRange(min=0), default=None,
              help="Instead: the lowest threshold whose val reals in --calibration raise at most this many alarms "
                   "per hour.")
@click.option("--calibration", default=None, help="A 'benchmark --streaming' run folder (RUN or RUN:MODEL).")
@click.option("--stride", type=click.IntRange(min=1), default=watch_default("stride"), show_default=True,
              help="Score a window every STRIDE frames of each face track.")
@click.option("--smooth", type=click.IntRange(min=1), default=watch_default("smooth"), show_default=True,
              help="Running score: the mean of the last SMOOTH windows.")
@click.option("--events", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSONL: one line per scored (or skipped) window; the summary goes beside it.")
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Summary JSON (default: EVENTS with .summary.json).")
@click.option("--video", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the annotated stream (.mp4, .mkv or .webm): boxes, running scores, alarms.")
@click.option("--realtime", is_flag=True, help="Play a file at its frame rate, as a call delivers it (frames the "
                                               "watch cannot keep up with are dropped); default: as fast as possible.")
@click.option("--preset", default=None, help="webrtc:FILE's call condition.")
@presets_option
@click.option("--seed", type=int, default=0, show_default=True, help="webrtc:FILE's relay (losses, jitter).")
@device_option
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True)
@face_backend_option
@click.option("--detect-every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run the face detector every N frames (the landmark tracker carries the boxes between).")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this many seconds of the stream.")
@click.option("--stall", "stall", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="A live source that sends no frame for this many seconds ends the watch.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML with the same keys as these options (flags win).")
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
    from .config import resolve
    from .watch.config import WatchConfig
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
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="A vcbench best.pth (or its run folder), or a release's weights file.")
@click.option("--model", default=None, help="Instead of --checkpoint: NAME=VALUE as benchmark's --model (a network).")
@click.option("--method", type=click.Choice(["gradcam", "gradcam++"]), default="gradcam", show_default=True,
              help="Spatio-temporal Grad-CAM or Grad-CAM++ of the fake logit.")
@click.option("--layer", default=None,
              help="The activation to explain: 'features' (default: the network's last convolutional map, res5 for "
                   "AltFreezing) or a module name (resnet.s4).")
@click.option("--mode", type=click.Choice(["dense", "sparse"]), default="dense", show_default=True,
              help="dense: every window of every face (every frame for frame detectors); sparse: --clips per face "
                   "(frame detectors: the frames they sample).")
@click.option("--clips", type=click.IntRange(min=1), default=None, help="Windows per face in sparse mode (default 4).")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("explain"),
              show_default=True, help="Folder for <video>.npz, the PNG strips, the videos and explain.json.")
@click.option("--video", is_flag=True, help="Also write <video>.explained.mp4: boxes coloured by the running score, "
                                            "the heatmap, the score timeline with the call's events.")
@click.option("--still", type=click.IntRange(min=0), default=None,
              help="With --video: also write frame N of the annotated video as <video>.explained.frameN.png.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="The timeline's threshold line (default: the checkpoint's own val threshold, else 0.5).")
@click.option("--smooth", type=click.IntRange(min=1), default=3, show_default=True,
              help="Running score on the video: the mean of the last SMOOTH windows.")
@device_option
@click.option("--max-frames", type=click.IntRange(min=1), default=400, show_default=True)
@face_backend_option
@cache_dir_option
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML with the same keys as these options (flags win).")
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
    from .config import resolve
    from .explain import ExplainConfig, explain as run_explain

    given = given_options(ctx, kw)
    given["videos"] = [str(v) for v in kw["videos"]]
    cfg = resolve(ExplainConfig, config_file, **given)
    rec, batch = run_explain(cfg, echo=click.echo)
    click.echo(f"threshold {rec['threshold']:.3f} ({rec['threshold_from']}); wrote {cfg.out}/explain.json")
    finish_batch(batch)


def finetune_default(name):
    from .finetune.config import FinetuneConfig

    return default_of(FinetuneConfig, name)


@cli.command()
@click.option("--train", "train", multiple=True, help="Dataset name (datasets.toml); repeatable, their train splits mix.")
@click.option("--val", "val", default=None, help="Dataset whose val split validates (default: the --train datasets').")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder: last.pth, best.pth, metrics.jsonl, run.json.")
@click.option("--model", default=finetune_default("model"), show_default=True, help="altfreezing | altfreezing-small | altfreezing-tiny")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Initial weights (official AltFreezing, CS229 or vcbench format); default: seeded init.")
@click.option("--freezing", default=finetune_default("freezing"), show_default=True, help="alternate | none | head | gradual")
@click.option("--alt-temporal-steps", type=int, default=finetune_default("alt_temporal_steps"), show_default=True,
              help="alternate: steps training the temporal kernels per cycle.")
@click.option("--alt-spatial-steps", type=int, default=finetune_default("alt_spatial_steps"), show_default=True,
              help="alternate: steps training the spatial kernels per cycle.")
@click.option("--alt-optimizers", type=click.Choice(["one", "two"]), default=finetune_default("alt_optimizers"),
              show_default=True,
              help="alternate: one optimiser with masked gradients (an approximation: shared parameters keep one "
                   "momentum), or two as released (temporal and spatial, each with its own momentum).")
@click.option("--gradual-every", type=int, default=finetune_default("gradual_every"), show_default=True,
              help="gradual: unfreeze one more stage (head down) every N steps.")
@click.option("--steps", type=int, default=finetune_default("steps"), show_default=True)
@click.option("--batch-size", type=int, default=finetune_default("batch_size"), show_default=True, help="Clips per step and process.")
@click.option("--accumulate", type=int, default=finetune_default("accumulate"), show_default=True, help="Micro-batches per step.")
@click.option("--optimizer", default=finetune_default("optimizer"), show_default=True, help="sgd (momentum 0.9) | adamw")
@click.option("--lr", type=float, default=finetune_default("lr"), show_default=True, help="Peak learning rate (warm-up, then cosine).")
@click.option("--save-every", type=int, default=finetune_default("save_every"), show_default=True)
@click.option("--eval-every", type=int, default=finetune_default("eval_every"), show_default=True)
@click.option("--patience", type=int, default=finetune_default("patience"), show_default=True,
              help="Stop after N evaluations without a better val AUC (0: never).")
@click.option("--seed", type=int, default=finetune_default("seed"), show_default=True)
@click.option("--augment", default=finetune_default("augment"), show_default=True,
              help="call (call-condition renditions + online) | online | none")
@click.option("--aug-preset", default=finetune_default("aug_preset"), show_default=True,
              help="Comma-separated presets clips may be drawn under (--augment call).")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default=finetune_default("precision"), show_default=True)
@click.option("--workers", type=int, default=finetune_default("workers"), show_default=True, help="Decode worker processes.")
@click.option("--clips-per-track", type=int, default=finetune_default("clips_per_track"), show_default=True,
              help="Windows cut from one decode of a face track (1: every clip decoded on its own).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pth (exactly).")
@click.option("--tensorboard", is_flag=True, help="Also log to --out/tensorboard.")
@click.option("--face-backend", default=finetune_default("face_backend"), show_default=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML with the same keys as these options (flags win).")
@device_option
@cache_dir_option
@ffmpeg_option
@datasets_option
@click.pass_context
@library_errors
def finetune(ctx, config_file, **kw):
    """Fine-tune a detector on call-condition data with a freezing schedule.

    Works the same under torchrun --nproc_per_node N (DDP; rank 0 writes).

    \b
    Example:
    vcbench finetune --train ds --val ds --model altfreezing-tiny --freezing alternate --out runs/ft
    """
    from .config import resolve
    from .finetune.config import FinetuneConfig
    from .finetune.trainer import run_finetune
    from .runtime import Progress

    given = given_options(ctx, kw)
    cfg = resolve(FinetuneConfig, config_file, **given)
    with Progress("finetune", unit="steps/s", echo=lambda m: click.echo(m, err=True)) as progress:
        res = run_finetune(cfg, progress, log=progress.log)
    if not current_world().main:              # rank 0 reports for the whole run
        return
    auc = "n/a" if res.best_auc is None else f"{res.best_auc:.4f}"
    click.echo(f"{res.steps} steps in {res.seconds:.0f} s; best val AUC {auc} at step {res.best_step}"
               + (" (stopped early)" if res.stopped_early else ""))
    click.echo(f"wrote {res.out / 'best.pth'}, {res.out / 'last.pth'}, {res.out / 'metrics.jsonl'}, "
               f"{res.out / 'run.json'}")
    if res.failed:
        # the run is whole, but not over all its data: named and non-zero, as every other batch command
        from .fileio import display_name

        for item, why in res.failed:
            click.echo(display_name(f"failed: {item}: {why}"), err=True)
        click.echo(f"{len(res.skipped)} video(s) left out before training, {len(res.decode_failures)} failed to "
                   f"decode during training (named in {res.out / 'run.json'})", err=True)
        raise click.exceptions.Exit(1)


def benchmark_default(name):
    from .benchmark.config import BenchmarkConfig

    return default_of(BenchmarkConfig, name)


@cli.command()
@click.option("--model", "model", multiple=True,
              help="NAME=CHECKPOINT, NAME=runs/x/best.pth, NAME=untrained, NAME=detector.py, chance or a plug-in; repeatable.")
@click.option("--dataset", "dataset", multiple=True, help="Dataset name from datasets.toml; repeatable.")
@click.option("--preset", "preset", default=benchmark_default("preset"), show_default=True, help="Comma-separated call conditions.")
@click.option("--presets", "presets", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Extra presets TOML.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder: predictions.csv, results.json (re-running resumes).")
@engine_option(benchmark_default("engine"))
@click.option("--split", default=benchmark_default("split"), show_default=True, help="Evaluated split (thresholds come from val).")
@click.option("--mode", type=click.Choice(["dense", "sparse"]), default=benchmark_default("mode"), show_default=True)
@click.option("--clips", type=click.IntRange(min=1), default=None, help="Windows per track in sparse mode (default 4).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default=benchmark_default("precision"), show_default=True,
              help="auto: bf16 autocast where the device runs it natively, else fp32 (resolved in results.json).")
@click.option("--seed", type=int, default=benchmark_default("seed"), show_default=True, help="Renditions, bootstrap, chance.")
@click.option("--bootstrap", type=int, default=benchmark_default("bootstrap"), show_default=True, help="Resamples for 95 % intervals.")
@click.option("--max-frames", type=click.IntRange(min=1), default=benchmark_default("max_frames"), show_default=True)
@click.option("--detector-timeout", type=click.FloatRange(min=0, min_open=True), default=benchmark_default("detector_timeout"),
              show_default=True, help="Seconds per video a .py detector may take; one that hangs is stopped and "
                                      "its videos fail.")
@click.option("--overlap", type=click.Choice(["exclude", "flag"]), default=benchmark_default("overlap"), show_default=True,
              help="Test/val videos a model trained on, or showing a person or clip it trained on: left out of its "
                   "cells (exclude) or kept and counted (flag); each cell says how many and why.")
@click.option("--compare", "compare", multiple=True,
              help="A:B, two models to compare per cell (clustered paired bootstrap, Holm-adjusted); repeatable "
                   "(default: every model against the first).")
@click.option("--explain", type=click.IntRange(min=0), default=benchmark_default("explain"),
              help="After scoring: Grad-CAM maps and strips of the N most confident hits and misses of every cell "
                   "(network detectors) under OUT/explain/; the report shows them.")
@click.option("--streaming", is_flag=True, default=benchmark_default("streaming"),
              help="Keep every window's score (dense, every face) and report time to alarm: seconds until a "
                   "fake raises the alarm, false alarms per hour of reals (windows.jsonl; implies --mode dense).")
@click.option("--stride", type=click.IntRange(min=1), default=benchmark_default("stride"), show_default=True,
              help="Streaming: a window every STRIDE frames of a face track (as vcbench watch scores).")
@click.option("--smooth", type=click.IntRange(min=1), default=benchmark_default("smooth"), show_default=True,
              help="Streaming: the running score is the mean of the last SMOOTH windows.")
@click.option("--false-alarms-per-hour", type=click.FloatRange(min=0), default=benchmark_default("false_alarms_per_hour"),
              show_default=True, help="Streaming: the threshold is the lowest whose val reals stay within this budget.")
@click.option("--face-backend", default=benchmark_default("face_backend"), show_default=True)
@device_option
@shard_option
@cache_dir_option
@ffmpeg_option
@datasets_option
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML with the same keys as these options (flags win).")
@click.option("--list", "list_only", is_flag=True, help="Show detectors, datasets and presets, then exit.")
@click.option("--merge", "merge", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Merge the predictions of shard run folders into --out and compute the results.")
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
    import time

    from .benchmark.config import BenchmarkConfig
    from .benchmark.results import compute_results
    from .benchmark.ranks import run_ranked
    from .config import resolve
    from .runtime import Progress

    given = given_options(ctx, kw)
    if list_only:                  # the datasets the config file names, unless --datasets says otherwise
        from .config import file_values

        listed = given.get("datasets") or (file_values(BenchmarkConfig, config_file) if config_file else {}).get("datasets")
        for line in _benchmark_listing(listed):
            click.echo(line)
        return
    cfg = resolve(BenchmarkConfig, config_file, **given)
    if cfg.merge:
        from .benchmark.merge import merge_runs
        from .config import file_values

        n = merge_runs(list(cfg.merge), cfg.out, warn=lambda m: click.echo(f"warning: {m}", err=True))
        chosen = {**(file_values(BenchmarkConfig, config_file) if config_file else {}), **given}
        res = compute_results(cfg.out, cfg.split, cfg.bootstrap, cfg.seed, overlap=cfg.overlap, compare=cfg.compare,
                              stream=_stream_given(chosen))
        click.echo(f"merged {n} predictions from {len(cfg.merge)} run(s) into {cfg.out}")
        _print_cells(res)
        return
    t0 = time.perf_counter()
    with Progress("benchmark", unit="videos/s", echo=lambda m: click.echo(m, err=True)) as progress:
        batch = run_ranked(cfg, progress)          # run_benchmark, or a shard per rank under torchrun
    if not current_world().main:              # rank 0 reports for the whole run
        if batch.failed:
            raise click.exceptions.Exit(1)
        return
    res = compute_results(cfg.out, cfg.split, cfg.bootstrap, cfg.seed,
                          timings={"seconds": round(time.perf_counter() - t0, 2)}, overlap=cfg.overlap,
                          compare=cfg.compare, stream={"stride": cfg.stride, "smooth": cfg.smooth,
                                                       "false_alarms_per_hour": cfg.false_alarms_per_hour})
    _print_cells(res)
    click.echo(f"wrote {cfg.out / 'results.json'}")
    if cfg.explain:
        from .benchmark.explain import explain_run

        explain_run(cfg, res, cfg.explain, echo=click.echo)
    finish_batch(batch)


def _stream_given(given: dict) -> dict:
    """The streaming options chosen (flags, config file; the rest: as the run recorded them)."""
    return {k: given[k] for k in ("stride", "smooth", "false_alarms_per_hour") if k in given}


def _print_cells(res: dict) -> None:
    from .benchmark.results import cell_lines, comparison_lines, streaming_lines

    for line in cell_lines(res) + streaming_lines(res) + comparison_lines(res):
        click.echo(line)


def _benchmark_listing(datasets) -> list[str]:
    from .conference.presets import load_presets
    from .detectors import DETECTORS, load_plugins

    load_plugins()
    lines = ["detectors (NAME=CHECKPOINT | NAME=untrained for a network; chance; plug-ins):"]
    lines += [f"  {e.name:<20} {e.help}" for e in DETECTORS]
    lines.append("  NAME=path/to/detector.py  your own: predict(video_path) -> float, or a class with predict_batch")
    from .models.archs import WEIGHT_TAGS

    lines.append("weight tags (a checkpoint's .training.json {\"tag\": NAME}, or its pinned sha256):")
    lines += [f"  {t.name:<24} {t.source}" for t in WEIGHT_TAGS.values()]
    lines.append("datasets:")
    try:
        from .config import load_datasets

        lines += [f"  {n:<20} {c.kind:<9} {c.root}" for n, c in load_datasets(datasets).items()]
    except VcbenchError as e:
        lines.append(f"  ({e})")
    lines.append("presets:")
    lines += [f"  {p.summary()}" for p in load_presets().values()]
    return lines


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
    summary = {"video": str(video), "frames": tracks.n_frames, "detector": tracks.detector, "tracks": [
        {"track": t.track_id, "first_frame": int(t.frames[0]), "last_frame": int(t.frames[-1]), "frames": len(t),
         "mean_score": round(float(t.scores.mean()), 3),
         "mean_box_x1_y1_x2_y2": [round(float(v), 1) for v in t.boxes.mean(0)]} for t in tracks.tracks]}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{video}: {len(tracks.tracks)} track(s) over {tracks.n_frames} frames ({tracks.detector})")
    for t in summary["tracks"]:
        x1, y1, x2, y2 = t["mean_box_x1_y1_x2_y2"]
        click.echo(f"  track {t['track']}: frames {t['first_frame']}-{t['last_frame']} ({t['frames']}), "
                   f"mean score {t['mean_score']:.2f}, mean box x1 {x1:g} y1 {y1:g} x2 {x2:g} y2 {y2:g}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
