"""Where things live and how a run is laid out on this machine: every environment variable
vcbench reads, ``--shard i/n``, device choice, and progress reporting.

One module owns these so that a stage never reads ``os.environ`` itself (the README's table of
environment variables is this module's list).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from .errors import ConfigError

T = TypeVar("T")

#: environment variable -> what it sets (the README's table)
ENVIRONMENT = {
    "VCBENCH_DATASETS": "datasets.toml to use (default ./datasets.toml)",
    "VCBENCH_FFMPEG": "ffmpeg binary (default: the one in the imageio-ffmpeg wheel)",
    "VCBENCH_CACHE": "cache root (face tracks under faces/; default ~/.cache/vcbench)",
    "VCBENCH_CHECKPOINTS": "folder of detector checkpoints that doctor lists (default ./checkpoints)",
    "VCBENCH_PRESETS": "extra presets TOML (same as --presets)",
    "VCBENCH_CHROMIUM": "the webrtc engine's browser (default: chromium on PATH)",
    "VCBENCH_CHROMEDRIVER": "the webrtc engine's driver (default: chromedriver on PATH)",
    "VCBENCH_FAULT": "tests only: SIGKILL the process at the named fault point (runtime.fault_point)",
    "INSIGHTFACE_ROOT": "insightface root (default ~/.insightface; packs under models/<pack>)",
}

# mediapipe/absl/TFLite read these before their first import: quiet unless the user chose otherwise
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _env_path(var: str, default: str) -> Path:
    return Path(os.path.expanduser(os.environ.get(var) or default))


def datasets_file() -> Path:
    return _env_path("VCBENCH_DATASETS", "datasets.toml")


def ffmpeg_override() -> str | None:
    return os.environ.get("VCBENCH_FFMPEG") or None


def browser_overrides() -> tuple[str | None, str | None]:
    """The webrtc engine's Chromium and chromedriver, when not the ones on PATH."""
    return os.environ.get("VCBENCH_CHROMIUM") or None, os.environ.get("VCBENCH_CHROMEDRIVER") or None


def cache_root() -> Path:
    return _env_path("VCBENCH_CACHE", "~/.cache/vcbench")


def checkpoints_dir() -> Path:
    return _env_path("VCBENCH_CHECKPOINTS", "checkpoints")


def presets_file() -> Path | None:
    v = os.environ.get("VCBENCH_PRESETS")
    return Path(os.path.expanduser(v)) if v else None


def insightface_root() -> Path:
    """Where insightface keeps its packs: ``$INSIGHTFACE_ROOT/models`` (default ~/.insightface/models)."""
    return _env_path("INSIGHTFACE_ROOT", "~/.insightface") / "models"


# --- sharding ------------------------------------------------------------------------------

def parse_shard(shard: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    try:
        i, n = (int(x) for x in str(shard).split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like i/n, got {shard!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ConfigError(f"--shard {shard}: need 0 <= i < n")
    return i, n


def shard_items(items: Sequence[T], shard: str | tuple[int, int]) -> list[T]:
    """Every n-th item starting at i (items in a stable order give disjoint, covering shards)."""
    i, n = parse_shard(shard) if isinstance(shard, str) else shard
    return [x for k, x in enumerate(items) if k % n == i]


# --- signals -------------------------------------------------------------------------------

def end_on_sigterm() -> None:
    """Make SIGTERM (``kill``, a job scheduler, ``docker stop``) end a command as Ctrl-C does: it
    raises :class:`~vcbench.errors.Terminated` (a KeyboardInterrupt) in the main thread, so every
    ``finally`` and interrupt path runs; a second SIGTERM, sent while that wind-down runs, ends the
    process at once. The CLI calls it; a library user keeps Python's default.

    An exception raised by a signal handler that lands inside a finalizer or weakref callback (an
    import's module-lock callback, a ``__del__``) is "ignored" by Python and the command would run
    on as if never told. Such a swallowed interrupt is delivered again, to the code that runs next
    (``sys.unraisablehook``): a SIGTERM or Ctrl-C is never lost."""
    import signal
    import sys
    import threading
    import time

    from .errors import Terminated

    delivered = {"term": False}

    def on_term(signum, frame):
        if delivered["term"]:                 # a second SIGTERM while the first winds down: now
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        delivered["term"] = True
        raise Terminated()

    previous = sys.unraisablehook

    def later(sig: int) -> None:              # from outside the callback that swallowed it
        time.sleep(0.05)
        os.kill(os.getpid(), sig)

    def redeliver(unraisable):
        exc = unraisable.exc_value
        if isinstance(exc, KeyboardInterrupt):
            if isinstance(exc, Terminated):
                delivered["term"] = False
            threading.Thread(target=later, args=(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT,),
                             daemon=True, name="vcbench-redeliver").start()
        else:
            previous(unraisable)

    signal.signal(signal.SIGTERM, on_term)
    sys.unraisablehook = redeliver


# --- fault injection ---------------------------------------------------------------------

def fault_point(name: str) -> None:
    """Kill this process with SIGKILL when ``$VCBENCH_FAULT`` names this point: how the tests
    prove that a run killed at the worst moment (mid-save, just after a save) loses nothing."""
    if os.environ.get("VCBENCH_FAULT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


# --- devices -------------------------------------------------------------------------------

def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; anything else is checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: torch sees no CUDA device (see 'vcbench doctor')")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ConfigError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def bf16_capable(device: str) -> bool:
    """Whether ``device`` runs bf16 matmuls/convolutions natively: a CUDA GPU that supports bf16,
    or a CPU with AMX-bf16 or AVX512-bf16 (elsewhere autocast emulates bf16 and is slower)."""
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        caps = torch._C._cpu._get_cpu_capability()
    except (AttributeError, RuntimeError):
        return False
    return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` -> ``bf16`` where :func:`bf16_capable`, else ``fp32``; ``fp32``/``bf16`` as given."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if bf16_capable(device) else "fp32"


# --- progress ------------------------------------------------------------------------------

class Progress:
    """Items or frames done / total, rate and ETA on stderr, log lines printed above the bar.

    ``start(total)`` is called once the work is known, so configuration errors print without a
    bar; without it, ``log`` just prints.
    """

    def __init__(self, description: str = "", unit: str = "fps", echo: Callable[[str], None] | None = None,
                 bar: bool = True):
        self.description, self.unit, self._echo, self.bar = description, unit, echo, bar
        self._p = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.end_bar(*exc)

    def end_bar(self, *exc) -> None:
        """Take the current bar off the screen (a stage whose counted work is over); the Progress
        stays usable (log lines print plainly) and is closed by whoever opened it."""
        if self._p is not None:
            self._p.__exit__(*(exc or (None, None, None)))
            self._p = None

    def start(self, total: int, description: str | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, \
            TimeRemainingColumn

        self.end_bar()
        if not self.bar:                    # another process (a torchrun rank) owns the terminal's bar
            return
        self._p = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[rate]} " + self.unit), TimeRemainingColumn(),
                               console=Console(stderr=True))
        self._p.__enter__()
        self._task = self._p.add_task(description or self.description, total=total, rate="-")

    def advance(self, n: int = 1) -> None:
        if self._p is None:
            return
        self._p.advance(self._task, n)
        speed = self._p.tasks[0].speed
        self._p.update(self._task, rate=f"{speed:.1f}" if speed else "-")

    def describe(self, text: str) -> None:
        """Replace the bar's description (a trainer shows its loss and val AUC there)."""
        if self._p is not None:
            self._p.update(self._task, description=text)

    def log(self, msg: str) -> None:
        if self._p is not None:
            self._p.console.print(msg, markup=False, highlight=False)
        elif self._echo is not None:
            self._echo(msg)
        else:
            import sys

            print(msg, file=sys.stderr)


# --- native log lines ----------------------------------------------------------------------

#: lines that mediapipe, absl, glog and TFLite write straight to file descriptor 2
NATIVE_LOG = re.compile(r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]]+\] |"
                        r"WARNING: All log messages before absl::InitializeLog\(\) is called|"
                        r"INFO: (?:Created|Initialized) TensorFlow Lite|"
                        r"\[ ?(?:WARN|INFO|ERROR|DEBUG|VERBOSE):\d+(?:@\d+\.\d+)?\] )")   # OpenCV's own logger
_filter_installed = False


def quiet_native_logs() -> None:
    """Keep the native libraries' log lines off the terminal, and everything else on it.

    Their C++ loggers write to file descriptor 2 from worker threads, whatever Python does, so
    fd 2 becomes a pipe read by a thread that drops lines matching :data:`NATIVE_LOG` and passes
    every other line on (ffmpeg's messages, a crash). Python's own ``sys.stderr`` (progress bars,
    warnings) writes to the original terminal directly, unfiltered. Installed once per process
    by the command-line entry point (not in library use); ``vcbench --verbose`` skips it.
    """
    global _filter_installed
    if _filter_installed:
        return
    import atexit
    import sys
    import threading

    try:
        sys.stderr.flush()
        real = os.dup(2)
        r, w = os.pipe()
        os.dup2(w, 2)
        os.close(w)
    except OSError:
        return
    sys.stderr = os.fdopen(os.dup(real), "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                           errors="replace")
    _filter_installed = True

    def pump():
        with os.fdopen(r, "rb") as src:
            for line in src:
                if not NATIVE_LOG.match(line.decode("utf-8", "replace")):
                    os.write(real, line)

    t = threading.Thread(target=pump, name="vcbench-stderr-filter", daemon=True)
    t.start()

    def restore():
        try:
            os.dup2(real, 2)      # closes the pipe's last write end: the pump drains and stops
        except OSError:
            return
        t.join(timeout=2)

    atexit.register(restore)
