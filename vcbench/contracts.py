"""The files between stages, in one place: schema tags, column lists, and the readers that check
what they read.

Writers and readers both import this module, so a column list or a schema tag is never copied,
and a reader meets a damaged file (a torn last row from a killed run, a truncated or foreign JSON,
a NaN where a probability belongs) with one line naming the file and what is wrong in it, never a
traceback and never a silently used value.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from .errors import ConfigError, VcbenchError

BENCH_SCHEMA = "vcbench-benchmark/1"      # results.json
FINETUNE_FORMAT = "vcbench-finetune/1"    # run.json
#: context.json in a benchmark run folder: what the report shows about the run's datasets and call
#: conditions, recorded when the run was made (the report never reads today's datasets.toml or
#: presets, so an old run renders the same report after either changes)
CONTEXT_FILE = "context.json"
CONTEXT_SCHEMA = "vcbench-context/1"

#: predictions.csv: one row per (model, dataset, preset, video_id)
PRED_COLUMNS = ["model", "dataset", "preset", "video_id", "label", "score", "clips", "split", "method", "pair_id",
                "status"]
PRED_KEY = ("model", "dataset", "preset", "video_id")
#: features.csv: the trivial file features of every evaluated video (the shortcut check)
FEATURE_COLUMNS = ["dataset", "preset", "video_id", "label", "split", "file_size", "bitrate", "width", "height",
                   "frames", "duration", "codec"]
FEATURE_KEY = ("dataset", "preset", "video_id")
#: the shortcut check: a cell whose label a trivial file feature (features.csv) predicts with an
#: AUC above this is flagged; the detector may be reading the file, not the face
SHORTCUT_FEATURES = ("file_size", "bitrate", "width", "height", "frames", "duration", "codec")
SHORTCUT_AUC = 0.7

#: a model's training record (in a vcbench checkpoint's provenance, a weight tag, or a
#: ``<file>.training.json`` beside a checkpoint or detector): ``{"schema", "from", "sets": [...]}``,
#: each set one dataset's part (``datasets.keys.training_set``), or ``{"tag": NAME}`` naming a weight tag
TRAINING_SCHEMA = "vcbench-training/1"
TRAINING_SET_KEYS = ("dataset", "kind", "splits", "videos", "identities", "canonical")

#: manifest.csv (docs/architecture.md), in order: one VideoRecord per row
MANIFEST_COLUMNS = ["video_id", "path", "label", "split", "method", "source_id", "target_id",
                    "preset", "pair_id", "frames", "fps", "width", "height", "clip_id", "label_tracks"]
#: quality.csv in a generated dataset: one row per fake (generate/quality.py)
QUALITY_COLUMNS = ["video_id", "source_id", "target_id", "frames", "timing", "swapped_fraction", "face_psnr",
                   "face_ssim", "id_sim_fake", "id_sim_real"]


@dataclass(frozen=True)
class VideoRecord:
    """One video: a manifest.csv row. ``label``: 0 real, 1 fake. ``path`` is relative to the
    dataset root; ``pair_id``: a fake and the real it was made from, under the same preset, share it.
    ``clip_id``: the public source clip its frames come from, named the same in every dataset
    (``ffpp/071``, ``ffpp/actors/01__scene``, ``celebdf/id4_0003``; ``datasets.keys``), or empty:
    how a video made from an FF++ clip is known to share it with FF++ itself. ``label_tracks``: the
    face tracks the label is true of (:func:`parse_label_tracks`): a fake's swapped faces (``0;2``),
    ``all`` (a real: every face is real), or empty (unknown: scorers and trainers choose as before)."""

    video_id: str
    path: str
    label: int
    split: str
    method: str
    source_id: str = ""
    target_id: str = ""
    preset: str = "clean"
    pair_id: str = ""
    frames: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    clip_id: str = ""
    label_tracks: str = ""

    def row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_context(cls, row: dict) -> "VideoRecord":
        """A record as context.json keeps it: the manifest row plus what the run read off the file
        (``path`` made absolute, ``content``: its content id for the overlap check)."""
        names = {f.name for f in dataclass_fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})


def parse_label_tracks(text: str, where: str = "label_tracks") -> list[int] | str | None:
    """``"0;2"`` -> [0, 2]; ``"all"`` -> "all"; ``""`` -> None (unknown)."""
    text = (text or "").strip()
    if not text:
        return None
    if text == "all":
        return "all"
    try:
        ids = [int(x) for x in text.split(";") if x != ""]
    except ValueError:
        raise RunFileError(f"{where}: expected track ids like 0;2, 'all' or nothing, got {text!r}") from None
    if not ids or any(i < 0 for i in ids):
        raise RunFileError(f"{where}: expected track ids like 0;2, 'all' or nothing, got {text!r}")
    return ids


class RunFileError(ConfigError):
    """A run file (results.json, benchmark.json, run.json, metrics.jsonl, a CSV) is damaged or foreign."""


def read_text(path: Path) -> str:
    from .fileio import not_utf8

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise RunFileError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RunFileError(not_utf8(path, e)) from None


def read_json_object(path: Path, what: str, required: dict[str, type | tuple] | None = None) -> dict:
    """A JSON file that must hold an object, with ``required`` keys of the given types."""
    text = read_text(path)
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise RunFileError(f"{path}: not valid JSON ({e}); the {what} is damaged (truncated?)") from None
    if not isinstance(doc, dict):
        raise RunFileError(f"{path}: a {what} holds a JSON object, this holds {type(doc).__name__}")
    for key, tp in (required or {}).items():
        if key not in doc:
            raise RunFileError(f"{path}: the {what} has no {key!r}")
        if not isinstance(doc[key], tp):
            raise RunFileError(f"{path}: {key!r} of the {what} is {type(doc[key]).__name__}, not "
                               f"{_names(tp)}")
    return doc


def _names(tp) -> str:
    return " or ".join(t.__name__ for t in (tp if isinstance(tp, tuple) else (tp,)))


def read_rows(path: Path, columns: list[str], strict: bool = False) -> list[dict]:
    """Rows of an appended CSV ([] when absent). A last line without its newline is a row a killed
    run was writing: it is dropped, never read as a whole row. Rows of the wrong width are dropped
    (``strict``: refused, naming the line); a file without the ``columns`` is refused."""
    path = Path(path)
    if not path.is_file():
        return []
    text = read_text(path)
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]           # the torn last row
    reader = csv.DictReader(io.StringIO(text, newline=""))
    have = reader.fieldnames or []
    missing = [c for c in columns if c not in have]
    if text and missing:
        raise RunFileError(f"{path}: missing column(s) {', '.join(missing)}; not a vcbench file of this kind")
    out = []
    for line, r in enumerate(reader, start=2):
        if None in r or any(r.get(c) is None for c in columns):
            if strict:
                raise RunFileError(f"{path}:{line}: a row of the wrong width")
            continue
        out.append(r)
    return out


def torn_tail(path: Path) -> int:
    """Bytes after the last newline of ``path`` (a row a killed run was writing), 0 if none."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        back = min(size, 1 << 16)
        while back:
            f.seek(size - back)
            chunk = f.read(back)
            i = chunk.rfind(b"\n")
            if i >= 0:
                return back - i - 1
            if back == size:
                return size
            back = min(size, back * 2)
    return 0


def checked_predictions(rows: list[dict], where) -> list[dict]:
    """predictions.csv rows as the results read them: an ``ok`` row whose score is not a finite
    probability (a NaN written by an older run, a hand edit) becomes a failed row with its reason."""
    out = []
    for r in rows:
        if r.get("status") == "ok":
            try:
                v = float(r.get("score", ""))
            except ValueError:
                v = math.nan
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                r = {**r, "status": f"score {r.get('score')!r} in {where} is not a probability in [0, 1]"}
            elif r.get("label") not in ("0", "1"):
                r = {**r, "status": f"label {r.get('label')!r} in {where} is not 0 or 1"}
        out.append(r)
    return out


class JsonLinesWriter:
    """The one writer of JSON-lines run files (benchmark's windows.jsonl, finetune's metrics.jsonl,
    watch's events), which :func:`json_lines` reads: appending, a line a killed run left half-written
    is cut off first (``fresh`` starts the file over instead); each ``add`` is written and flushed
    whole (``sync``: and fsynced, so it survives a kill); a full disk names the file; thread-safe.
    Rows are objects (``json.dumps``; ``compact`` drops the spaces) or lines already serialised."""

    def __init__(self, path: str | os.PathLike, fresh: bool = False, sync: bool = True, compact: bool = False):
        import threading

        self.path, self.sync = Path(path), sync
        self.separators = (",", ":") if compact else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not fresh and self.path.is_file() and (torn := torn_tail(self.path)):
            with open(self.path, "r+b") as f:
                f.truncate(self.path.stat().st_size - torn)
        self._lock = threading.Lock()
        self._f = open(self.path, "w" if fresh else "a", encoding="utf-8")

    def add(self, rows: list) -> None:
        text = "".join((r if isinstance(r, str) else json.dumps(r, separators=self.separators)) + "\n" for r in rows)
        if not text or self._f is None:
            return
        with self._lock:
            try:
                self._f.write(text)
                self._f.flush()
                if self.sync:
                    os.fsync(self._f.fileno())
            except OSError as e:                  # a full disk: the path, not a bare "No space left"
                raise OSError(e.errno, e.strerror, str(self.path)) from None

    def write(self, row) -> None:
        self.add([row])

    def close(self) -> None:
        if self._f is not None:
            f, self._f = self._f, None
            try:
                f.close()
            except OSError as e:
                raise OSError(e.errno, e.strerror, str(self.path)) from None


def json_lines(path: Path):
    """``(line number, object)`` of a JSON-lines run file, blank lines skipped: a last line
    half-written by a killed run is dropped, any other line that is not JSON refused by number."""
    lines = read_text(path).splitlines()
    for k, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if k == len(lines):
                continue
            raise RunFileError(f"{path}:{k}: not a JSON line") from None
        yield k, row


def read_metrics_lines(path: Path) -> list[dict]:
    """metrics.jsonl: one JSON object per line with an integer ``step``; a line half-written by a
    killed run (the last) is dropped, any other bad line is refused by number."""
    if not Path(path).is_file():
        return []
    out = []
    for k, row in json_lines(path):
        if not isinstance(row, dict) or not isinstance(row.get("step"), int) or isinstance(row.get("step"), bool):
            raise RunFileError(f"{path}:{k}: expected an object with an integer 'step'")
        for key, v in row.items():
            if key in ("loss", "lr", "val_auc", "val_loss", "clips_per_s") and v is not None \
                    and not isinstance(v, (int, float)):
                raise RunFileError(f"{path}:{k}: {key!r} is {type(v).__name__}, not a number")
        out.append(row)
    return out


#: benchmark --streaming: one JSON line per (model, dataset, preset, video) with its stream windows
WINDOWS_FILE = "windows.jsonl"
WINDOWS_KEY = ("model", "dataset", "preset", "video_id")
#: the types of a windows line's fields (``tracks``: track id -> [[start frame, probability], ...])
WINDOWS_FIELDS = {"model": str, "dataset": str, "preset": str, "video_id": str, "label": int, "split": str,
                  "fps": (int, float), "frames": int, "clip_len": int, "tracks": dict}


def window_line(row: dict, fps: float, stream: dict) -> str:
    """The windows.jsonl line of a prediction row (``PRED_COLUMNS``) and its ``Prediction.stream``."""
    return json.dumps({"model": row["model"], "dataset": row["dataset"], "preset": row["preset"],
                       "video_id": row["video_id"], "label": int(row["label"]), "split": row["split"],
                       "fps": round(float(fps), 6), "frames": int(stream["frames"]),
                       "clip_len": int(stream["clip_len"]), "tracks": stream["tracks"]}, separators=(",", ":"))


def read_windows(path: Path) -> list[dict]:
    """windows.jsonl as the results read it: one line per key (the last wins: a re-run's retry), a
    last line half-written by a killed run dropped; any other bad line refused by number."""
    if not Path(path).is_file():
        return []
    out: dict[tuple, dict] = {}
    for k, row in json_lines(path):
        if not isinstance(row, dict):
            raise RunFileError(f"{path}:{k}: expected a JSON object")
        missing = [key for key in WINDOWS_FIELDS if row.get(key) is None]
        if missing:
            raise RunFileError(f"{path}:{k}: missing {', '.join(missing)}")
        check_types(f"{path}:{k}", row, WINDOWS_FIELDS)
        if not row["fps"] > 0:
            raise RunFileError(f"{path}:{k}: fps must be > 0, got {row['fps']}")
        for tid, wins in row["tracks"].items():
            if not isinstance(wins, list) or any(not isinstance(w, list) or len(w) != 2 or not isinstance(w[0], int)
                                                 or not isinstance(w[1], (int, float)) or not 0 <= w[1] <= 1
                                                 for w in wins):
                raise RunFileError(f"{path}:{k}: track {tid}: expected [[start frame, probability], ...]")
        out[tuple(row[key] for key in WINDOWS_KEY)] = row
    return list(out.values())


def own_threshold(provenance: dict, training: dict, whose: str, name: str | None = None) -> tuple[float | None, str]:
    """The operating threshold weights come with, and where it is from: chosen on a fine-tuning
    run's val split (a vcbench checkpoint's provenance: ``threshold``, ``threshold_from``) or
    declared with their training record; ``(None, why)`` when they have none."""
    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if number(provenance.get("threshold")):
        how = str(provenance.get("threshold_from") or "")
        how = how[len("val ("):-1] if how.startswith("val (") and how.endswith(")") else "" if how == "val" else how
        return float(provenance["threshold"]), f"{whose}'s own val threshold" + (f" ({how})" if how else "")
    if number(training.get("threshold")):
        return float(training["threshold"]), f"declared with {training.get('from') or 'its training record'}"
    return None, f"{name or whose} declares no threshold"


def checked_training(doc: Any, where: str) -> dict:
    """A training declaration as read from ``where``: ``{"tag": NAME}`` or a record whose every set
    has the keys of :data:`TRAINING_SET_KEYS` with lists where lists belong; else one line naming it."""
    if not isinstance(doc, dict):
        raise RunFileError(f"{where}: a training record must be a JSON object, not {type(doc).__name__}")
    if "tag" in doc:
        if not isinstance(doc["tag"], str):
            raise RunFileError(f"{where}: 'tag' must be a weight tag's name")
        return {"tag": doc["tag"]}
    sets = doc.get("sets")
    if not isinstance(sets, list) or not sets:
        raise RunFileError(f"{where}: a training record needs 'sets' (a list of datasets) or 'tag'")
    for k, s in enumerate(sets):
        if not isinstance(s, dict):
            raise RunFileError(f"{where}: sets[{k}] is not an object")
        missing = [key for key in TRAINING_SET_KEYS if key not in s]
        if missing:
            raise RunFileError(f"{where}: sets[{k}] has no {', '.join(missing)}")
        for key in ("splits", "videos", "identities", "canonical", "contents"):
            if key not in s and key == "contents":        # records made before content ids were kept
                continue
            if not isinstance(s[key], list) or not all(isinstance(x, str) for x in s[key]):
                raise RunFileError(f"{where}: sets[{k}].{key} must be a list of strings")
    out = {"schema": doc.get("schema", TRAINING_SCHEMA), "from": str(doc.get("from") or where), "sets": sets}
    if "threshold" in doc:                 # the operating threshold its own validation chose, if declared
        t = doc["threshold"]
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t <= 1:
            raise RunFileError(f"{where}: 'threshold' must be a probability in [0, 1], got {t!r}")
        out["threshold"] = float(t)
    return out


def check_types(where: str, doc: dict, expect: dict[str, Any]) -> None:
    """Optional keys of ``doc`` that, when present and not null, must have the given types."""
    for key, tp in expect.items():
        v = doc.get(key)
        if v is not None and not isinstance(v, tp):
            raise RunFileError(f"{where}: {key!r} is {type(v).__name__}, not {_names(tp)}")


__all__ = ["BENCH_SCHEMA", "FINETUNE_FORMAT", "PRED_COLUMNS", "FEATURE_COLUMNS", "PRED_KEY", "FEATURE_KEY",
           "MANIFEST_COLUMNS", "QUALITY_COLUMNS", "SHORTCUT_FEATURES", "SHORTCUT_AUC", "VideoRecord",
           "TRAINING_SCHEMA", "TRAINING_SET_KEYS", "checked_training", "parse_label_tracks",
           "RunFileError", "VcbenchError", "read_json_object", "read_rows", "checked_predictions",
           "read_metrics_lines", "check_types", "torn_tail", "WINDOWS_FILE", "WINDOWS_KEY", "window_line",
           "read_windows"]


# --- call events: what the call did to each output frame (both engines write it) ----------------

CALL_EVENTS_SUFFIX = ".events.jsonl"
CALL_EVENT_KEYS = ("frame", "t", "source", "repeat", "keyframe", "resolution", "kbps")
#: optional: ``lost``, packets the link dropped of the frames the view reaches or passes at this
#: frame (a frame skipped by a freeze counts where the view passes it), where the engine records
#: them: the ffmpeg engine's network model (retransmissions lost again count too), the webrtc
#: engine's relay (first transmissions of the media stream; RTX also carries probe padding)


def call_events_path(video: str | Path) -> Path:
    """``<video>.events.jsonl`` beside a simulated video (and its ``.stats.json``)."""
    v = Path(video)
    return v.with_name(v.name + CALL_EVENTS_SUFFIX)


def call_event_rows(fps: float, shown: list, source: list[int], keyframe: list, resolution: list[str],
                    kbps: list | None = None, lost: list | None = None) -> list[dict]:
    """One row per output frame ``j``: its time, the input frame it shows (``source``, -1 before
    the first), ``repeat`` (it shows the same decoded picture as frame ``j - 1``: a freeze when it
    lasts), ``keyframe`` (a keyframe reaches the view here: shown, or overtaken just before; None where the engine cannot say),
    ``resolution`` of the decoded picture, ``kbps`` (the sender's rate: the encoder's output over
    the last second, or the preset's target where the engine knows only that; None if unknown).

    ``shown``: per output frame, the identity of the picture shown (a sent or received frame)."""
    rows = []
    for j in range(len(shown)):
        rows.append({"frame": j, "t": round(j / fps, 4) if fps else None, "source": int(source[j]),
                     "repeat": bool(j > 0 and shown[j] == shown[j - 1]),
                     "keyframe": None if keyframe[j] is None else bool(keyframe[j]), "resolution": resolution[j],
                     "kbps": None if kbps is None or kbps[j] is None else round(float(kbps[j]), 1)})
        if lost is not None:
            rows[-1]["lost"] = int(lost[j])
    return rows


def call_event_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)


def read_call_events(video: str | Path) -> list[dict] | None:
    """The event track beside ``video``, or None where there is none (a file no simulator made).
    A damaged track is one line naming it."""
    path = call_events_path(video)
    if not path.is_file():
        return None
    rows = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {k} is not JSON ({e.msg})") from None
        if not isinstance(r, dict) or any(key not in r for key in CALL_EVENT_KEYS):
            raise ConfigError(f"{path}: line {k} lacks one of {', '.join(CALL_EVENT_KEYS)}")
        rows.append(r)
    return rows


def freezes_of(shown: list[int], fps: float) -> list[tuple[int, int]]:
    """Runs of output frames that repeat the one before (the picture stopped), as (first, length),
    where the picture was still for WebRTC's freeze threshold: max(3 x, +150 ms) of the frame
    interval."""
    need = max(3.0 / fps, 1.0 / fps + 0.150)
    out, i = [], 1
    while i < len(shown):
        if shown[i] == shown[i - 1]:
            j = i
            while j < len(shown) and shown[j] == shown[i - 1]:
                j += 1
            if (j - i + 1) / fps >= need:     # the still picture lasts the held frames plus the one shown
                out.append((i, j - i))
            i = j
        else:
            i += 1
    return out


def call_event_marks(rows: list[dict], fps: float) -> dict[str, list[int]]:
    """The frames a timeline marks: where a freeze starts (:func:`freezes_of`: the picture held
    for WebRTC's freeze threshold), where a keyframe is shown (after the first frame), where the
    resolution changes, and (where the engine recorded losses) where a frame that lost packets is
    first shown."""
    ids, k = [], 0
    for r in rows:
        k += 0 if r["repeat"] else 1
        ids.append(k)
    out: dict[str, list[int]] = {"freeze": [a for a, _ in freezes_of(ids, fps)], "keyframe": [], "resolution": []}
    if any("lost" in r for r in rows):
        out["loss"] = [r["frame"] for r in rows if r.get("lost")]
    for prev, r in zip(rows, rows[1:]):
        if r["keyframe"]:
            out["keyframe"].append(r["frame"])
        if r["resolution"] != prev["resolution"]:
            out["resolution"].append(r["frame"])
    return out
