"""Which sources go onto which targets, beyond the splits: ``--pairs-file`` (an explicit list, the
seed project's image-to-video map) and ``--match gender`` (a source only onto a target of the same
predicted gender, as face-swap datasets pair them: a swap across genders is an easy tell).

Gender comes from insightface's genderage model (``genderage.onnx`` in a pack such as buffalo_l:
input 96 x 96, one output of 3 values, female/male scores and age / 100), run through insightface's
own model router on the largest face the still-image backend finds: a source image's face, or a
target video's at 25 / 50 / 75 % of its frames (the majority). Where the pack has no such model
the run stops with one line naming where it looked.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FaceError, NotAvailableError, VideoError

GENDERAGE_FILE = "genderage.onnx"


def find_genderage(pack: str | os.PathLike) -> Path:
    """``pack``: a ``.onnx`` file, or an insightface pack whose ``genderage.onnx`` (or any model
    insightface routes as genderage: input 96 x 96, output 3) is used."""
    p = Path(pack).expanduser()
    if p.is_file():
        return p
    from ..faces.insightface_backend import find_pack

    try:
        folder = find_pack(str(pack))
    except FaceError as e:
        raise NotAvailableError(f"--match gender needs insightface's {GENDERAGE_FILE}: {e}") from None
    if (folder / GENDERAGE_FILE).is_file():
        return folder / GENDERAGE_FILE
    import onnxruntime as ort

    for f in sorted(folder.glob("*.onnx")):
        try:
            s = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - not a model this onnxruntime can open
            continue
        shp, outs = s.get_inputs()[0].shape, s.get_outputs()
        if len(shp) == 4 and shp[2] == 96 and shp[3] == 96 and len(outs) == 1 and outs[0].shape[-1] == 3:
            return f
    raise NotAvailableError(f"--match gender needs insightface's {GENDERAGE_FILE}; the pack {folder} has none "
                            "(buffalo_l ships it: copy it there, or pass --genderage FILE)")


class GenderAge:
    """insightface's genderage ``Attribute`` on a face box: ``("F" | "M", age)``."""

    def __init__(self, path: Path):
        from .swap.inswapper import load_onnx_model

        self.path = path
        self.model = load_onnx_model(path, "genderage")
        if type(self.model).__name__ != "Attribute" or getattr(self.model, "taskname", "") != "genderage":
            raise FaceError(f"{path}: not a genderage model (insightface sees {type(self.model).__name__} "
                            f"{getattr(self.model, 'taskname', '')})")

    def __call__(self, rgb: np.ndarray, box) -> tuple[str, int]:
        from insightface.app.common import Face as InsightFace

        g, age = self.model.get(np.ascontiguousarray(rgb[:, :, ::-1]), InsightFace(bbox=np.asarray(box, np.float32)))
        return ("M" if int(g) == 1 else "F"), int(age)


def _frames(path: Path) -> list[np.ndarray]:
    import cv2

    from ..video import VIDEO_EXTENSIONS, iter_frames, probe

    if path.suffix.lower() in VIDEO_EXTENSIONS:
        n = probe(path).frames
        picks = sorted({max(0, min(n - 1, int(n * q))) for q in (0.25, 0.5, 0.75)}) if n else [0]
        return [img for _, img in iter_frames(path, indices=picks)]
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise VideoError(f"{path}: not a readable image")
    return [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)]


def predict_gender(path: Path, model: GenderAge, backend) -> dict:
    """The majority gender of the largest face over the looks taken; ``None`` without a face."""
    votes, ages = [], []
    for img in _frames(path):
        faces = backend.detect(img)
        if faces:
            g, a = model(img, max(faces, key=lambda f: f.area).box)
            votes.append(g)
            ages.append(a)
    if not votes:
        return {"gender": None, "age": None, "looks": 0}
    m = votes.count("M")
    return {"gender": "M" if m * 2 > len(votes) else "F" if m * 2 < len(votes) else votes[len(votes) // 2],
            "age": int(np.median(ages)), "looks": len(votes), "votes": "".join(votes)}


def match_gender(pairs: list, model_file: str | os.PathLike, backend_name: str = "mediapipe") -> tuple[list, dict, list]:
    """Keep the (source, target) pairs whose predicted genders agree. Returns (kept pairs, name ->
    prediction, [(item, why)] of items whose face gave no prediction)."""
    model = GenderAge(find_genderage(model_file))
    if backend_name in ("auto", "mediapipe"):           # single images and spaced frames: still-image mode
        from ..faces.mediapipe_backend import MediapipeBackend

        backend = MediapipeBackend(video=False, max_faces=4)
    else:
        from ..faces.tracking import get_backend

        backend = get_backend(backend_name)
    seen: dict[str, dict] = {}
    try:
        for s, t in pairs:
            for it in (s.parts or (s,)) + (t,):
                if it.name not in seen:
                    seen[it.name] = predict_gender(it.path, model, backend)
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()
    unknown = [(n, "no face to predict a gender from") for n, g in seen.items() if g["gender"] is None]
    kept = []
    for s, t in pairs:
        gs = {seen[p.name]["gender"] for p in (s.parts or (s,))}
        if len(gs) == 1 and None not in gs and seen[t.name]["gender"] in gs:
            kept.append((s, t))
    return kept, seen, unknown


def read_pairs_file(path: Path) -> list[tuple[str, str]]:
    """``source,target`` rows (a header naming those two columns), names as ``generate --plan``
    prints them or file names; one line naming the file and row for anything else."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--pairs-file {path}: cannot read it ({e})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["source", "target"]:
        raise ConfigError(f"--pairs-file {path}: the first line must be the header 'source,target'")
    out = []
    for k, row in enumerate(rows[1:], 2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise ConfigError(f"--pairs-file {path}: line {k} needs a source and a target, got {row!r}")
        out.append((row[0].strip(), row[1].strip()))
    if not out:
        raise ConfigError(f"--pairs-file {path}: no pairs listed")
    return out


def pairs_from_file(path: Path, allowed: list, sources: list, targets: list, split_of: dict) -> list:
    """The listed pairs, each checked: both names known ("did you mean" otherwise), and the pair one
    the splits and identities allow (else one line saying why, naming the line)."""
    from ..registry import lookup

    def index(items):
        out = {}
        for it in items:
            for key in (it.name, it.path.name, it.path.stem):
                out.setdefault(key, it)
        return out

    by_s, by_t = index(sources), index(targets)
    ok = {(s.name, t.name) for s, t in allowed}
    chosen, seen = [], set()
    for k, (sn, tn) in enumerate(read_pairs_file(path), 2):
        s, t = lookup("source (--pairs-file)", sn, by_s), lookup("target (--pairs-file)", tn, by_t)
        if (s.name, t.name) not in ok:
            why = (f"{s.identity} is {split_of[s.identity]}, {t.identity} is {split_of[t.identity]}: a pair stays "
                   "within one split" if split_of[s.identity] != split_of[t.identity] else
                   "the same identity (use --self-swap)")
            raise ConfigError(f"--pairs-file {path}: line {k} ({sn} -> {tn}) is not allowed: {why}")
        if (s.name, t.name) not in seen:
            seen.add((s.name, t.name))
            chosen.append(next(p for p in allowed if (p[0].name, p[1].name) == (s.name, t.name)))
    return chosen
