"""The child process a ``.py`` detector runs in (see ``byo.FileDetector``).

A user's file is code vcbench does not control: it may call ``sys.exit`` or ``os._exit``, crash the
interpreter, or hang. In the benchmark's own process any of those ended the whole run (with the
detector's exit code and nothing printed, or rc 0 and an empty predictions.csv). Here the file is
imported and called in a spawned child; the parent waits at most ``timeout`` seconds per video. A
child that exits or hangs fails the videos of that call, with the reason, and a fresh child serves
the next call; the rest of the run goes on.
"""
from __future__ import annotations

import hashlib
import importlib.util
import multiprocessing as mp
from pathlib import Path

from ..errors import ConfigError


def _child(path: str, conn) -> None:
    """The child: import the detector, say what it offers, then answer each list of paths with
    ``[(score or None, reason or None), ...]``."""
    try:
        obj = load_py(Path(path))
    except ConfigError as e:
        conn.send(("error", str(e)))
        return
    except SystemExit as e:
        conn.send(("error", f"{path}: importing the detector called sys.exit({e.code!r})"))
        return
    batch = callable(getattr(obj, "predict_batch", None))
    conn.send(("ready", "batch" if batch else "single"))
    while True:
        try:
            paths = conn.recv()
        except EOFError:
            return
        if paths is None:
            return
        try:
            if batch:
                scores = list(obj.predict_batch(paths))
                conn.send(("batch", scores))
            else:
                out = []
                for p in paths:
                    try:
                        out.append((obj.predict(p), None))
                    except Exception as e:  # noqa: BLE001 - one video's failure, named
                        out.append((None, f"predict raised {type(e).__name__}: {e}"))
                conn.send(("single", out))
        except SystemExit as e:
            conn.send(("exit", f"called sys.exit({e.code!r})"))
            return
        except Exception as e:  # noqa: BLE001
            conn.send(("raised", f"predict_batch raised {type(e).__name__}: {e}"))


def load_py(path: Path):
    """Import a detector file from its path only (never via sys.path), under a private name."""
    mod_name = "vcbench_byo_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - a broken user file is named, not a traceback
        raise ConfigError(f"{path}: importing the detector failed: {type(e).__name__}: {e}") from None
    if callable(getattr(module, "predict", None)):
        return module
    for obj in vars(module).values():
        if isinstance(obj, type) and callable(getattr(obj, "predict_batch", None)):
            return obj()
    raise ConfigError(f"{path}: defines neither predict(video_path) -> float nor a class with predict_batch(paths)")


class IsolatedDetector:
    """A ``.py`` detector behind a process boundary: ``call(paths)`` -> list of (score, reason)."""

    def __init__(self, path: Path, name: str, timeout: float):
        self.path, self.name, self.timeout = Path(path), name, float(timeout)
        self.proc = self.conn = None
        self.kind = "single"                    # "batch" for a class with predict_batch
        self._start(first=True)

    def _start(self, first: bool = False) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(str(self.path), child), daemon=True,
                                name=f"vcbench-detector-{self.name}")
        self.proc.start()
        child.close()
        self.conn = parent
        msg = self._recv(self.timeout)
        if msg is None or msg[0] != "ready":
            why = msg[1] if msg is not None and msg[0] == "error" else self._death("importing it")
            self.close()
            if first:
                raise ConfigError(why if why.startswith(str(self.path)) else f"{self.path}: {why}")
            raise RuntimeError(why)
        self.kind = msg[1]

    def _recv(self, timeout: float):
        """The child's next message, or None if it died or said nothing within ``timeout``."""
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
        except (EOFError, OSError):
            pass
        return None

    def _death(self, doing: str) -> str:
        self.proc.join(timeout=1)
        if self.proc.exitcode is None:
            return f"the detector did not answer within {self.timeout:g} s while {doing} (--detector-timeout)"
        return f"the detector's process exited with code {self.proc.exitcode} while {doing}"

    def call(self, paths: list[str]) -> tuple[str, object]:
        """("batch", scores) | ("single", [(score, reason)]) | ("failed", reason for every path)."""
        if self.proc is None or not self.proc.is_alive():
            try:
                self._start()
            except RuntimeError as e:
                return "failed", str(e)
        try:
            self.conn.send(list(paths))
        except (BrokenPipeError, OSError):
            pass
        msg = self._recv(self.timeout * max(1, len(paths)))
        if msg is None:
            why = self._death(f"scoring {len(paths)} video(s)")
            self.close()                        # a hung child is killed; the next call starts another
            return "failed", why
        kind, value = msg
        if kind in ("exit", "raised"):
            if kind == "exit":
                self.close()
            return "failed", value
        return kind, value

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.conn.close()
        if self.proc is not None:
            self.proc.join(timeout=2)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(timeout=5)
        self.proc = self.conn = None

    def __del__(self):  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
