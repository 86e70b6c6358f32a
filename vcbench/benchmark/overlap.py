"""The training-overlap check: a test (or val) video a model was trained or validated on, or that
shows a person or clip it was trained on, says nothing about how the model generalises.

Each model's training declaration (``Detector.training``: a vcbench checkpoint's record, a
``.training.json`` beside the file, a weight tag) is resolved into a record when the benchmark
runs and kept in models.json; results.py then checks every evaluated video of the run's
context.json against it (``datasets.keys``): the same video, a shared person, a shared public clip.
``--overlap exclude`` (default) removes them from that model's cells and counts them by reason;
``flag`` keeps them, counted. Nothing is re-scored to switch: it is decided when results are made.
"""
from __future__ import annotations

import typing

from dataclasses import dataclass, field

from ..config import Overlap
from ..contracts import TRAINING_SCHEMA, checked_training
from ..datasets.keys import PUBLIC_KINDS, canonical_keys, people, video_key
from ..errors import ConfigError

MODES = typing.get_args(Overlap)


def _ffpp_c23_train() -> dict:
    from ..datasets.ffpp import official_training_set

    return official_training_set(("train",), compression="c23")


def _ffpp_c23_train_reals() -> dict:
    from ..datasets.ffpp import official_training_set

    return official_training_set(("train",), methods=(), compression="c23")


#: named public training data a weight tag can point at (``models.archs.WeightTag.trained_on``)
TRAINING_SETS = {"ffpp-c23-train": _ffpp_c23_train, "ffpp-c23-train-reals": _ffpp_c23_train_reals}


def resolve(declared: dict | None) -> dict | None:
    """A detector's declaration as a full record: a weight tag becomes the record of the data it
    names; a record is checked; None stays None (training data unknown)."""
    if declared is None:
        return None
    declared = checked_training(declared, "a training declaration")
    if "tag" not in declared:
        return declared
    from ..models.archs import WEIGHT_TAGS
    from ..registry import lookup

    tag = lookup("weight tag", declared["tag"], WEIGHT_TAGS)
    if not tag.trained_on:
        return None
    return {"schema": TRAINING_SCHEMA, "from": f"weight tag {tag.name} ({tag.source})",
            "sets": [TRAINING_SETS[tag.trained_on]()]}


@dataclass
class Checker:
    """One model's record, indexed for lookups."""

    record: dict
    _sets: list = field(default_factory=list)
    _copies: dict = field(default_factory=dict)

    def __post_init__(self):
        self._sets = [(s, set(s["videos"]), set(s["identities"]), set(s["canonical"]), set(s.get("contents") or ()))
                      for s in self.record["sets"]]

    def _shares_files(self, dataset: dict, k: int, contents: set) -> bool:
        """Whether ``dataset`` holds a file of training set ``k``: then it is that data (a copy
        under another name or folder), and its ids and people are that data's."""
        key = (dataset.get("name"), dataset.get("root"), k)
        if key not in self._copies:
            self._copies[key] = bool(contents) and any(
                isinstance(r, dict) and r.get("content") in contents for r in dataset.get("records", []))
        return self._copies[key]

    def reason(self, dataset: dict, rec: dict) -> tuple[str, str] | None:
        """(kind, why) when ``rec`` (a manifest row of ``dataset``, a context.json description)
        overlaps the training data: kind is ``video``, ``identity`` or ``clip``."""
        kind, name, root = dataset.get("kind"), dataset.get("name"), dataset.get("root")
        canon = canonical_keys(rec.get("clip_id") or "")
        for k, (s, videos, ids, canonical, contents) in enumerate(self._sets):
            where = f"{s['dataset']}'s {'+'.join(s['splits'])}"
            if rec.get("content") and rec["content"] in contents:
                return "video", f"video {rec.get('video_id')} is, byte for byte, a video in {where}"
            same = ((s["kind"] == kind and kind in PUBLIC_KINDS)
                    or (s["kind"] == kind and (s.get("root") == root or s["dataset"] == name))
                    or self._shares_files(dataset, k, contents))
            if same:
                vk = video_key(kind, rec["video_id"])
                if vk in videos:
                    return "video", f"video {vk} is in {where}"
                shared = sorted(people(rec) & ids)
                if shared:
                    return "identity", f"identity {shared[0]} is in {where}"
            hit = sorted(canon & canonical)
            if hit:
                k, _, what = hit[0].partition(" ")
                return ("clip" if k == "clip" else "identity"), f"{k} {what} is in {where}"
        return None


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"overlap must be one of {', '.join(MODES)}, got {mode!r}")
    return mode
