"""Atomic writes: every output appears whole under its final name or not at all."""
from __future__ import annotations

import codecs
import contextlib
import csv
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the final suffix (ffmpeg picks the muxer from it), starts with a
    dot so that directory scans never mistake it for a finished file, and carries the writer's
    process id so that a later run can tell a killed run's leftovers (see
    :func:`remove_stale_temporaries`). The file gets the permissions the user's umask gives any
    new file (``mkstemp`` alone would make it private). An OSError about the temporary (a full
    disk, a folder made read-only) names ``path``, the name the user gave, never the temporary.
    """
    path = Path(path)
    make_folder(path.parent)
    tmp_path = _temporary(path, suffix)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(e, OSError) and e.filename in (None, str(tmp_path), tmp_path) and e.errno:
            raise OSError(e.errno, e.strerror or os.strerror(e.errno), str(path)) from None
        raise


def _temporary(path: Path, suffix: str | None = None) -> Path:
    """Create :func:`atomic_path`'s temporary for ``path`` (an error names ``path``)."""
    # the temporary's name fits wherever the final one does (255 bytes): the stem is cut to leave
    # room for the dot, the pid, mkstemp's 8 characters and ".part" + suffix
    end = ".part" + (suffix or path.suffix)
    stem = _cut(path.stem, 255 - len(end.encode("utf-8", "surrogateescape")) - 32)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.{os.getpid()}-", suffix=end, dir=path.parent)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(tmp)


def check_writable(path: str | os.PathLike) -> Path:
    """Fail now, in one line naming ``path``, where writing it at the end of a long run would fail:
    a folder in the way, a name too long, a folder that cannot be made or written, a full disk.
    Leaves the folder made and nothing else."""
    import errno

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    if len(path.name.encode("utf-8", "surrogateescape")) > 255:
        raise OSError(errno.ENAMETOOLONG, "File name too long", str(path))
    make_folder(path.parent)
    _temporary(path).unlink()
    st = os.statvfs(path.parent)
    if st.f_bavail == 0 and st.f_blocks:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return path


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths are one file: the same inode where both exist (links included), else the
    same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_overwrites(inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
    """One line when an output would overwrite an input or another output of the same command
    (``--summary`` equal to ``--events``, ``--video`` equal to the source...). Keys are what the
    user calls each path (an option, "the source video"); None values are absent."""
    from .errors import ConfigError

    named_in = [(k, v) for k, v in inputs.items() if v is not None]
    named_out = [(k, v) for k, v in outputs.items() if v is not None]
    for i, (name, out) in enumerate(named_out):
        for other, path in named_in + named_out[:i]:
            if not same_file(out, path):
                continue
            if (other, path) in named_in:
                raise ConfigError(f"{name} {display_name(out)} is {other}: the output is the input, and writing it "
                                  f"would destroy it; give {name} a path of its own")
            raise ConfigError(f"{name} {display_name(out)} is also {other}: two outputs cannot share a file; give "
                              f"{name} a path of its own")


def make_folder(folder: str | os.PathLike) -> Path:
    """``mkdir -p``; a file standing where a folder must be is named as such (not "File exists")."""
    import errno

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        p = folder
        while not p.exists() and p != p.parent:
            p = p.parent
        while p != p.parent and not p.is_dir():
            blocker, p = p, p.parent
            if p.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder", str(blocker)) from None
        raise
    return folder


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    out = text.encode("utf-8", "surrogateescape")[:max(1, limit)]
    return out.decode("utf-8", "ignore") or "x"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_TEMP = re.compile(r"^\..*\.(\d+)-[^.]*\.part(\.[^.]+)?$")
#: :func:`temp_folder`'s folders, ``.vcb-<what>-<pid>-<random>``
_TEMP_FOLDER = re.compile(r"^\.vcb-[a-z]+-(\d+)-[^/]*$")


def _writer_gone(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False                      # alive, owned by someone else
    return False                          # its writer is still running


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of :func:`atomic_path`, :func:`atomic_folder` and :func:`temp_folder`
    under ``folder`` whose writing process is gone (a killed run); those of live processes
    (another shard at work) are kept."""
    import shutil

    removed = []
    for p in sorted(Path(folder).rglob(".*"), key=lambda q: len(q.parts)):
        if not p.exists():
            continue                      # inside a stale folder removed a moment ago
        m = _TEMP.match(p.name) or (_TEMP_FOLDER.match(p.name) if p.is_dir() else None)
        if not m or not _writer_gone(m.group(1)):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        if not p.exists():
            removed.append(p)
    return removed


@contextlib.contextmanager
def temp_folder(what: str, dir: str | os.PathLike | None = None) -> Iterator[Path]:
    """A scratch folder ``.vcb-<what>-<pid>-XXXX`` in ``dir``, removed on the way out; one a killed
    run left is removed by the next :func:`remove_stale_temporaries` of its folder."""
    import shutil

    path = Path(tempfile.mkdtemp(prefix=f".vcb-{what}-{os.getpid()}-", dir=dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def content_id(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """A video's identity independent of its name and place: size + SHA-1 of its first and last MiB
    (the face-track cache's key, and the training-overlap check's: a copy is the same video)."""
    import hashlib

    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha1(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(chunk))
        if size > chunk:
            f.seek(max(chunk, size - chunk))
            h.update(f.read(chunk))
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (checkpoints and detector files cite it)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _escape_surrogates(err: UnicodeError):
    """Codec error handler: a file name's undecodable bytes (lone surrogates U+DC80..U+DCFF, how
    Python keeps them) written as ``\\xNN``; anything else that cannot be encoded as ``\\uNNNN``."""
    bad = err.object[err.start:err.end]
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else f"\\u{ord(c):04x}"
                   for c in bad), err.end


codecs.register_error("vcbench-escape", _escape_surrogates)
#: how every text file vcbench writes is encoded: UTF-8, with a non-UTF-8 file name's bytes escaped
TEXT = {"encoding": "utf-8", "errors": "vcbench-escape"}


def not_utf8(path: str | os.PathLike, err: UnicodeDecodeError, offset: int = 0) -> str:
    """One line for a text file that is not UTF-8: the file, the byte and its offset in the file."""
    bad = err.object[err.start:err.start + 1]
    return f"{path}: not UTF-8 text (byte 0x{bad.hex()} at offset {offset + err.start})"


def read_utf8(path: str | os.PathLike, error=None) -> str:
    """A text file's contents; a file that is not UTF-8 raises ``error`` (a VcbenchError type) with
    :func:`not_utf8`'s line instead of a traceback."""
    from .errors import VcbenchError

    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise (error or VcbenchError)(not_utf8(path, e)) from None


def display_name(name: str | os.PathLike) -> str:
    """A file name as it can always be printed and written to UTF-8 files: bytes that are not
    UTF-8 (kept by Python as lone surrogates) shown as backslash escapes (``\\xff``)."""
    return os.fspath(name).encode("utf-8", "vcbench-escape").decode("utf-8")


def safe_name(name: str, limit: int = 120) -> str:
    """A string as one file name that cannot leave its folder: path separators, ``..`` and other
    characters outside ``[A-Za-z0-9._-]`` become ``_``; a changed name gets a short hash of the
    original so two names never collide."""
    import hashlib

    out = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "_"
    if out != name or len(out) > limit:
        digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        out = f"{out[:limit]}-{digest}"
    return out


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; it replaces ``path`` whole only if the block succeeds
    (a folder of files that belong together is never left half-filled)."""
    import shutil

    path = Path(path)
    make_folder(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_cut(path.name, 180)}.{os.getpid()}-", suffix=".part", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(tmp.name + ".old")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, **TEXT)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """A compressed ``.npz`` written whole: made in memory first, so an interrupt or a full disk
    fails one plain write (named, the temporary removed), never leaves a half-closed ZipFile whose
    ``__del__`` prints a traceback at exit."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.getbuffer())
    return Path(path)


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]], columns: list[str]) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", **TEXT) as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return Path(path)


def error_line(e: BaseException) -> str:
    """One line for a library error: an OSError as :func:`os_error_line`, anything else as its message."""
    from .errors import VcbenchError

    return os_error_line(e) if isinstance(e, OSError) and not isinstance(e, VcbenchError) else str(e)


def os_error_line(e: OSError) -> str:
    """``PATH: reason`` for an OSError (the path as it can be printed), the reason the OS gave."""
    why = e.strerror or str(e) or type(e).__name__
    paths = [display_name(p) for p in (e.filename, e.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {why}" if paths else why
