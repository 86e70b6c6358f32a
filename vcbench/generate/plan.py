"""Who is swapped onto whom: inputs, identities, identity-disjoint splits, pairs, names.

A file directly in the source/target folder is its own identity (its stem); files in a
subfolder share that identity. An identity's split is a seeded hash threshold of the identity
alone, so adding targets or sources never moves an existing one, and a re-run into an existing
dataset keeps the splits it recorded; a pair only joins a source and a target of the same split,
so no identity appears on two sides.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.base import hash_split
from ..errors import ConfigError
from .config import GenerateConfig

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True)
class Item:
    """One input file. ``name`` is unique and filesystem-safe; ``identity`` is the person.
    A ``--map`` source is a composite: ``parts`` are its sources, in map order, with the target
    face number each one goes onto (``faces``)."""

    name: str
    identity: str
    path: Path
    parts: tuple["Item", ...] = ()
    faces: tuple[int, ...] = ()


def composite_source(sources: list[Item], mapping: list[tuple[str, int]]) -> Item:
    """The one source of a ``--map`` run: ``alice+bob`` made of the named sources."""
    from ..registry import lookup

    by_name = {s.name: s for s in sources}
    parts = tuple(lookup("source", name, by_name) for name, _ in mapping)
    return Item("+".join(p.name for p in parts), "+".join(p.identity for p in parts), parts[0].path, parts,
                tuple(t for _, t in mapping))


@dataclass
class Plan:
    sources: list[Item]
    targets: list[Item]
    split_of: dict[str, str]                 # identity -> split
    pairs: list[tuple[Item, Item]]           # (source, target)
    unpaired_targets: list[str] = field(default_factory=list)
    possible_pairs: int = 0                  # pairs the splits allow, before --pairs draws from them
    refused: list[tuple[str, str]] = field(default_factory=list)   # (file, why) left out of the plan
    unpaired_ids: list[str] = field(default_factory=list)          # identities of the unpaired targets
    cfg_pairs: int | None = None                                   # --pairs, when given
    genders: dict = field(default_factory=dict)                    # --match gender: name -> prediction
    notes: list[str] = field(default_factory=list)                 # identities merged, splits not by hash


def scan(root: Path, extensions: tuple[str, ...], what: str, refused: list | None = None,
         notes: list | None = None) -> list[Item]:
    """Files of ``root`` (or ``root`` itself). A file directly in ``root`` is its own identity
    (its stem); files in ``root/<identity>/`` share that identity, and so does a loose file of the
    folder's name (said in ``notes``: one person's photos, or a name clash to fix). A name that is
    not UTF-8 cannot become a video id in the manifest: it is added to ``refused`` (bytes escaped)
    and left out."""
    from ..fileio import display_name

    def ok(p: Path) -> bool:
        # anything NAMED like a media file counts, even a dangling link or a folder: it then fails
        # by name where it is read, instead of vanishing from the plan
        if not (p.suffix.lower() in extensions and not p.name.startswith(".")):
            return False
        if display_name(p) != str(p):
            if refused is not None:
                refused.append((f"{what} {display_name(p)}", "file name is not UTF-8; rename it to include it"))
            return False
        return True

    if root.is_file():
        if not ok(root) or not root.is_file():
            raise ConfigError(f"{root}: not a {what} file ({', '.join(extensions)})")
        return [Item(root.stem, root.stem, root)]
    if not root.is_dir():
        raise ConfigError(f"{root}: {what} folder not found")
    items = [Item(p.stem, p.stem, p) for p in sorted(root.iterdir()) if ok(p)]
    own = {it.identity: it.path for it in items}
    for d in sorted(x for x in root.iterdir() if x.is_dir() and not x.name.startswith(".") and not ok(x)):
        inside = [Item(f"{d.name}-{p.stem}", d.name, p) for p in sorted(d.iterdir()) if ok(p)]
        if inside and d.name in own and notes is not None:
            notes.append(f"{what} {own[d.name]} and the files in {d}/ are one identity, {d.name!r}: rename one if "
                         "they show two people")
        items += inside
    names: dict[str, Path] = {}
    for it in items:
        if "__" in it.name:
            raise ConfigError(f"{it.path}: '__' separates target and source in video ids; rename the file")
        if it.name in names:
            raise ConfigError(f"{what}s {names[it.name]} and {it.path} get the same name {it.name!r}; rename one")
        names[it.name] = it.path
    if not items:
        raise ConfigError(f"{root}: no {what} files ({', '.join(extensions)})")
    return items


def assign_splits(identities: list[str], cfg: GenerateConfig, recorded: dict[str, str] | None = None) -> dict[str, str]:
    """identity -> split: a seeded hash threshold of the identity alone (``datasets.base.hash_split``),
    so adding identities never moves one, or the one ``--split`` names. ``recorded``: the splits
    of the dataset already in ``--out``, kept as they were (a dataset made by an earlier vcbench,
    whose rule differed, stays consistent when it grows)."""
    out: dict[str, str] = {}
    for i in sorted(set(identities)):
        if recorded and i in recorded:
            out[i] = recorded[i]
        elif cfg.split:
            out[i] = cfg.split
        else:
            out[i] = hash_split(i, cfg.seed, cfg.val_fraction, cfg.test_fraction)
    return out


PLAN_FILE = "plan.csv"
PLAN_COLUMNS = ["source", "target", "source_id", "target_id", "split", "source_gender", "target_gender"]


def recorded_splits(out: Path) -> dict[str, str]:
    """The identity splits a dataset in ``out`` was made with: generate.json's, else plan.csv's
    (written before the first video). Empty for a new ``--out``."""
    import csv
    import json

    g = out / "generate.json"
    try:
        doc = json.loads(g.read_text(encoding="utf-8")) if g.is_file() else None
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("splits"), dict):
        return {str(k): str(v) for k, v in doc["splits"].items()}
    p = out / PLAN_FILE
    if not (p.is_file() and (out / "generate.identity.json").is_file()):   # a --plan preview decides nothing
        return {}
    with open(p, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.DictReader(f))
    got: dict[str, str] = {}
    for r in rows:
        for k in ("source_id", "target_id"):
            for ident in (r.get(k) or "").split("+"):
                if ident:
                    got[ident] = r.get("split", "")
    return got


def write_plan(plan: "Plan", out: Path) -> Path:
    """``OUT/plan.csv``: one row per (source, target) pair with both identities and the split."""
    from ..fileio import write_csv

    def g(it):
        return "+".join((plan.genders.get(p.name) or {}).get("gender") or "" for p in (it.parts or (it,)))

    return write_csv(out / PLAN_FILE, [{"source": s.name, "target": t.name, "source_id": s.identity,
                                        "target_id": t.identity, "split": plan.split_of[t.identity],
                                        "source_gender": g(s), "target_gender": g(t)}
                                       for s, t in plan.pairs], PLAN_COLUMNS)


def plan_summary(plan: "Plan") -> list[str]:
    """What ``generate --plan`` prints: identities, pairs and unpaired targets per split."""
    lines = list(plan.notes)
    tids = {t.identity for t in plan.targets} | {t for t in plan.unpaired_ids}
    sids = {p.identity for s in plan.sources for p in (s.parts or (s,))}
    for split in ("train", "val", "test"):
        t = sorted(i for i in tids if plan.split_of.get(i) == split)
        s_ = sorted(i for i in sids if plan.split_of.get(i) == split)
        pairs = [(s, x) for s, x in plan.pairs if plan.split_of[x.identity] == split]
        lines.append(f"{split:<5}: {len(t)} target identit{'y' if len(t) == 1 else 'ies'}, {len(s_)} source "
                     f"identit{'y' if len(s_) == 1 else 'ies'}, {len(pairs)} pair(s)")
    if plan.unpaired_targets:
        lines.append(f"unpaired targets (no source of their split): {', '.join(plan.unpaired_targets)}")
    if plan.cfg_pairs is not None and plan.cfg_pairs < plan.possible_pairs:
        lines.append(f"--pairs {plan.cfg_pairs}: drawn from {plan.possible_pairs} possible pairs")
    empty = [k for k in ("train", "val", "test") if not any(plan.split_of[x.identity] == k for _, x in plan.pairs)]
    if empty:
        lines.append(f"no pairs in: {', '.join(empty)} (a split is a hash threshold per identity: with few "
                     "identities one can stay empty; add identities, change --seed, or use --split)")
    return lines


def same_files_same_identity(items: list[Item], notes: list | None = None) -> list[Item]:
    """A file under two names is one person: items whose files are byte for byte the same take one
    identity (a folder's over a loose file's, else the shortest name, then the first), so a copy can
    never put one person on both sides of a split. The same file in two identity folders is refused."""
    from ..fileio import content_id

    first: dict[str, Item] = {}
    rename: dict[str, str] = {}

    def final(identity: str) -> str:
        while identity in rename:
            identity = rename[identity]
        return identity

    for it in sorted(items, key=lambda x: (x.name != x.identity, len(x.name), x.name)):
        try:                              # an empty or unreadable file shows nobody: it fails where it is read
            key = content_id(it.path) if it.path.is_file() and it.path.stat().st_size else None
        except OSError:
            key = None
        if key is None:
            continue
        seen = first.setdefault(key, it)
        if seen is it or seen.identity == it.identity:
            continue
        foldered = [x for x in (seen, it) if x.name != x.identity]
        if len(foldered) == 2:
            raise ConfigError(f"{seen.path} and {it.path} are the same file in two identity folders "
                              f"({seen.identity!r}, {it.identity!r}): one person cannot be two; remove one")
        keep = final((foldered or [seen])[0].identity)
        for x in (seen, it):
            if final(x.identity) != keep:
                rename[final(x.identity)] = keep
                if notes is not None:
                    notes.append(f"{seen.path} and {it.path} are the same file: one identity, {keep!r}")
    return [dataclasses.replace(it, identity=final(it.identity)) for it in items]


def _allowed(cfg: GenerateConfig, sources: list[Item], targets: list[Item], split_of: dict) -> list:
    """The (source, target) pairs the splits and identities allow."""
    if cfg.map:
        from .mapping import parse_map

        comp = composite_source(sources, parse_map(cfg.map))
        return [(comp, t) for t in targets
                if all(split_of[p.identity] == split_of[t.identity] for p in comp.parts)
                and (cfg.self_swap or all(p.identity != t.identity for p in comp.parts))]
    return [(s, t) for t in targets for s in sources
            if split_of[s.identity] == split_of[t.identity] and (cfg.self_swap or s.identity != t.identity)]


def make_plan(cfg: GenerateConfig) -> Plan:
    from ..video import VIDEO_EXTENSIONS

    refused: list[tuple[str, str]] = []
    notes: list[str] = []
    sources = scan(cfg.source, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS, "source", refused, notes)
    targets = scan(cfg.target, VIDEO_EXTENSIONS, "target video", refused, notes)
    merged = same_files_same_identity(sources + targets, notes)      # a copy on both sides is one person
    sources, targets = merged[:len(sources)], merged[len(sources):]
    recorded = recorded_splits(cfg.out) if cfg.out is not None else {}
    split_of = assign_splits([t.identity for t in targets] + [s.identity for s in sources], cfg, recorded)
    allowed = _allowed(cfg, sources, targets, split_of)
    if not allowed and not cfg.split and not recorded:   # too few people for three splits: one, said
        one = {i: "test" for i in split_of}
        allowed = _allowed(cfg, sources, targets, one)
        if allowed:
            split_of = one
            notes.append(f"{len(split_of)} identit{'y' if len(split_of) == 1 else 'ies'} are too few for identity-disjoint "
                    "train/val/test splits (each identity's split is a hash: no source shared a split with a "
                    "target): everything went to 'test' (a benchmark's split); add identities for the three "
                    "splits, or choose one with --split")
    if not allowed:
        raise ConfigError("no (source, target) pair is possible: every source shares an identity or a split with "
                          "no target; add identities, use --self-swap, or put all in one split with --split")
    genders: dict = {}
    if cfg.pairs_file is not None:
        from .match import pairs_from_file

        allowed = pairs_from_file(cfg.pairs_file, allowed, sources, targets, split_of)
    if cfg.match == "gender":
        from .match import match_gender

        allowed, genders, unknown = match_gender(allowed, cfg.genderage or cfg.arcface, cfg.face_backend)
        refused += [(name, why) for name, why in unknown]
        if not allowed:
            said = ", ".join(f"{n} {g['gender'] or '?'}" for n, g in sorted(genders.items()))
            raise ConfigError(f"--match gender: no (source, target) pair has the same predicted gender ({said})")
    pairs = allowed
    if cfg.pairs is not None and cfg.pairs < len(allowed):
        rng = np.random.default_rng(cfg.seed)
        pick = sorted(rng.choice(len(allowed), size=cfg.pairs, replace=False))
        pairs = [allowed[k] for k in pick]
    used = {t.name for _, t in pairs}
    return Plan(sources, [t for t in targets if t.name in used], split_of, pairs,
                [t.name for t in targets if t.name not in used], len(allowed), refused,
                [t.identity for t in targets if t.name not in used], cfg.pairs, genders, notes)


def video_id(preset: str, method: str, target: str, source: str | None = None) -> str:
    return f"{preset}/{method}/{target}" + (f"__{source}" if source else "")


def rel_path(preset_name: str, extension: str, method: str, target: str, source: str | None = None) -> str:
    return f"videos/{video_id(preset_name, method, target, source)}{extension}"


def preset_seed(seed: int, preset: str, target: str) -> int:
    """One seed per (preset, target): a real and its fakes get the same losses and noise."""
    return int(hashlib.sha256(f"{seed}|{preset}|{target}".encode()).hexdigest()[:8], 16)
