"""The stage runtime: one run folder and one batch loop, so every stage resumes, refuses a mixed
re-run, reports failures and progress the same way.

:class:`RunFolder` is the folder a stage writes into. Its *identity file* holds what decides the
bytes of its outputs (the resolved options that change them, and per *member* (a model, a preset)
a fingerprint); a re-run with another identity is refused naming every key that differs (outputs
made under two configurations would be read as one), a new member is welcome (a model or preset
added to a run), a changed one is refused by name. Opening it removes the temporaries a killed run
left. Its *status record* says whether the run is running, finished, failed or was interrupted,
with its counts and exit state, written atomically at start and end.

:class:`BatchJob` is what a stage does per item: ``items()``, ``key(item)``, ``is_done(item)``,
``run(item)`` and ``finish(result)``. :func:`run_job` is the one loop: it shards the items
(``runtime.shard_items``), skips those done, turns an item's :class:`VcbenchError` or
:class:`OSError` into a named failure (the rest continue), reports progress through one callback,
and lets only the writing rank call ``finish``.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .batch import BatchResult
from .errors import ConfigError, VcbenchError
from .fileio import error_line


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def differences(have: dict, want: dict, ignore=(), there: str = "there") -> list[str]:
    """``key 'old' there, 'new' now`` for each key whose value differs (missing counts as None),
    leaving out the keys in ``ignore`` (what a re-run may change)."""
    keys = sorted(k for k in set(want) | set(have) if k not in ignore and want.get(k) != have.get(k))
    return [f"{k} {have.get(k)!r} {there}, {want.get(k)!r} now" for k in keys]


class RunFolder:
    """A stage's output folder: identity file, status record, atomic writes, no stale temporaries.

    ``identity_file`` defaults to ``<stage>.identity.json``; the benchmark keeps ``benchmark.json``
    (the name its run folders always had). ``shard`` = (i, n) names the status record of a shard
    when n > 1 (shards of one run write in the same folder at once)."""

    def __init__(self, path: str | os.PathLike, stage: str, identity_file: str | None = None,
                 shard: tuple[int, int] = (0, 1), log: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.stage = stage
        self.identity_path = self.path / (identity_file or f"{stage}.identity.json")
        i, n = shard
        self.status_path = self.path / (f"{stage}.status.json" if n == 1 else f"{stage}.status-{i}of{n}.json")
        self.shard = shard
        self.log = log
        self.started: str | None = None

    # -- opening
    def open(self) -> "RunFolder":
        """Create the folder (a file in the way is one clear error) and remove what killed runs left."""
        from .fileio import make_folder, remove_stale_temporaries

        make_folder(self.path)
        for stale in remove_stale_temporaries(self.path):
            if self.log:
                self.log(f"removed {stale} (left by an interrupted run)")
        return self

    def claim(self, identity: dict, record: dict | None = None, members: dict[str, Any] | None = None,
              member_kind: str = "model", hint: str = "use another --out",
              has_outputs: Callable[[], bool] | None = None) -> dict:
        """Make this folder's outputs belong to ``identity``: the first run writes it (with
        ``record``, e.g. the full resolved config, for reading only), a re-run must match it.
        ``members``: name -> fingerprint; a known name must keep its fingerprint, a new one is added.
        ``has_outputs()`` False (a run that failed before writing anything) lets another identity
        take the folder over: there is nothing of the old configuration to mix with.
        Returns the identity document as it now stands."""
        from .contracts import read_json_object
        from .fileio import write_json

        members = members or {}
        if self.identity_path.is_file() and has_outputs is not None and not has_outputs():
            self.identity_path.unlink()
        if not self.identity_path.is_file():
            doc = {"stage": self.stage, "identity": identity, **({"config": record} if record is not None else {}),
                   f"{member_kind}s": members}
            write_json(self.identity_path, doc)
            return doc
        doc = read_json_object(self.identity_path, f"{self.stage} identity file", {"identity": dict})
        diff = differences(doc["identity"], identity)
        if diff:
            raise ConfigError(f"{self.path}: holds {self.stage} outputs of another configuration ("
                              f"{', '.join(d.split(' ', 1)[0] for d in diff)} differ: " + "; ".join(diff)
                              + f"); {hint}")
        known = doc.get(f"{member_kind}s") if isinstance(doc.get(f"{member_kind}s"), dict) else {}
        for name, fp in members.items():
            if name in known and known[name] != fp:
                raise ConfigError(f"{self.path}: {member_kind} {name!r} changed since its outputs were made here "
                                  f"({_short(known[name])} there, {_short(fp)} now); "
                                  f"give it another name or {hint}")
        if any(name not in known for name in members):
            doc = {**doc, f"{member_kind}s": {**known, **members}}
            write_json(self.identity_path, doc)
        return doc

    # -- the status record
    def begin(self, **info: Any) -> None:
        self.started = _now()
        self._status("running", info=info)

    def end(self, result: BatchResult | None, state: str | None = None, **info: Any) -> None:
        """``finished`` (exit 0) or ``failed`` (exit 1: items failed) from ``result``, or ``state``."""
        counts = ({"done": result.done, "skipped": result.skipped, "failed": len(result.failed)}
                  if result is not None else None)
        state = state or ("finished" if result is None or result.ok else "failed")
        self._status(state, counts=counts, exit=0 if state == "finished" else 1, finished=_now(), info=info)

    def _status(self, state: str, **fields: Any) -> None:
        from .fileio import write_json

        if not self.path.is_dir():
            return
        doc = {"stage": self.stage, "state": state, "started": self.started, "pid": os.getpid(),
               "shard": f"{self.shard[0]}/{self.shard[1]}", **{k: v for k, v in fields.items() if v not in (None, {})}}
        write_json(self.status_path, doc)

    def running(self, **info: Any) -> "_Running":
        """``with folder.running() as run: ...; run.result = batch``: the status record says
        running, then finished/failed from ``run.result``, or interrupted (Ctrl-C, an error)."""
        return _Running(self, info)


class _Running:
    def __init__(self, folder: RunFolder, info: dict):
        self.folder, self.info, self.result = folder, info, None

    def __enter__(self) -> "_Running":
        self.folder.begin(**self.info)
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.folder.end(self.result)
        else:
            self.folder.end(self.result, state="interrupted" if issubclass(kind, KeyboardInterrupt) else "failed",
                            error=str(exc)[:300] if exc else None)


def _short(fp: Any) -> str:
    if isinstance(fp, dict):
        name = fp.get("file") or fp.get("spec") or ""
        digest = fp.get("sha256") or fp.get("digest")
        return f"{name} {str(digest)[:12]}".strip() if digest else (str(name) or repr(fp))
    return repr(fp)


# --- the one batch loop -----------------------------------------------------------------------

class BatchJob:
    """One stage's work per item. Subclasses define ``items``, ``key``, ``run`` and usually
    ``is_done`` and ``finish``; :func:`run_job` drives them.

    ``run`` returns the item's record (kept in ``records``), or, for an item that makes several
    outputs (a generate target: a real, its fakes, each under every preset; a benchmark chunk:
    videos x models), a :class:`BatchResult` of those parts: its counts and named failures are
    added to the run's, so a failed fake is a record with the fake's name, not its target's."""

    what = "items"

    def items(self) -> list:
        raise NotImplementedError

    def shard(self, items: list, shard: str | tuple[int, int]) -> list:
        """This shard's share of ``items`` (every n-th from i); a job may cut finer (the benchmark
        shards the videos of each cell, then chunks them)."""
        from .runtime import shard_items

        return shard_items(items, shard)

    def key(self, item) -> str:
        return str(item)

    def is_done(self, item) -> bool:
        return False

    def size(self, item) -> int:
        """How many outputs an item stands for: what a finished item adds to ``skipped``."""
        return 1

    def done_record(self, item) -> Any:
        """The record of an item finished by an earlier run (read back), or None."""
        return None

    def run(self, item) -> Any:
        """Make the item's outputs; return its record, a BatchResult of its parts, or None."""
        raise NotImplementedError

    def finish(self, result: BatchResult, records: list) -> None:
        """After all items (only on the writing rank): summaries, manifests."""


@dataclass
class JobOutcome:
    result: BatchResult
    records: list


def run_job(job: BatchJob, shard: str | tuple[int, int] = (0, 1), progress: Callable[[str, Any], None] | None = None,
            writes: bool = True) -> JobOutcome:
    """Run ``job`` over this shard's items. ``progress(event, item)`` is told ``"start"`` (with the
    item count), then ``"done"``, ``"skipped"`` or ``"failed"`` per item. A failing item is named in
    ``result.failed`` and the rest continue; ``writes`` False (a rank that does not write) skips
    ``finish``."""
    items = job.shard(list(job.items()), shard)
    result, records = BatchResult(job.what), []
    if progress:
        progress("start", len(items))
    for item in items:
        name = job.key(item)
        try:                      # asking whether an item is done reads it too: a bad one fails there
            if job.is_done(item):
                rec = job.done_record(item)
                result.skipped += job.size(item)
                if rec is not None:
                    records.append(rec)
                if progress:
                    progress("skipped", item)
                continue
            rec = job.run(item)
        except (VcbenchError, OSError) as e:
            result.fail(name, error_line(e))
            if progress:
                progress("failed", (item, str(e)))
            continue
        if isinstance(rec, BatchResult):          # an item of several outputs: its parts count
            result.done += rec.done
            result.skipped += rec.skipped
            result.failed += rec.failed
        else:
            result.done += 1
            if rec is not None:
                records.append(rec)
        if progress:
            progress("done", item)
    if writes:
        job.finish(result, records)
    return JobOutcome(result, records)


def run_items(items: Iterable, fn: Callable[[Any], Any], key: Callable[[Any], str] = str,
              what: str = "items") -> JobOutcome:
    """A BatchJob from a function: for simple loops that need only the failure handling."""
    class _Fn(BatchJob):
        def items(self):
            return list(items)

        def key(self, item):
            return key(item)

        def run(self, item):
            return fn(item)

    _Fn.what = what
    return run_job(_Fn())
