"""Who is swapped onto whom: inputs, identities, identity-disjoint splits, pairs, names.

A file directly in the source/target folder is its own identity (its stem); files in a
subfolder share that identity. Splits are drawn per identity and a pair only joins a source
and a target of the same split, so no identity appears on two sides.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.base import hash_unit
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


def scan(root: Path, extensions: tuple[str, ...], what: str, refused: list | None = None) -> list[Item]:
    """Files of ``root`` (or ``root`` itself). A file directly in ``root`` is its own identity
    (its stem); files in ``root/<identity>/`` share that identity. A name that is not UTF-8 cannot
    become a video id in the manifest: it is added to ``refused`` (bytes escaped) and left out."""
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
    for d in sorted(x for x in root.iterdir() if x.is_dir() and not x.name.startswith(".") and not ok(x)):
        items += [Item(f"{d.name}-{p.stem}", d.name, p) for p in sorted(d.iterdir()) if ok(p)]
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


def assign_splits(groups: list[list[str]], cfg: GenerateConfig) -> dict[str, str]:
    """identity -> split. Within each group (target identities, then source-only ones)
    identities are ranked by a seeded hash and cut at the val/test fractions, so every
    split gets its share of both roles and a small set lands entirely in train."""
    out: dict[str, str] = {}
    for ids in groups:
        ids = sorted(set(ids) - set(out), key=lambda i: hash_unit(i, cfg.seed))
        if cfg.split:
            out.update({i: cfg.split for i in ids})
            continue
        n_test = int(round(len(ids) * cfg.test_fraction))
        n_val = int(round(len(ids) * cfg.val_fraction))
        for k, i in enumerate(ids):
            out[i] = "test" if k < n_test else "val" if k < n_test + n_val else "train"
    return out


def make_plan(cfg: GenerateConfig) -> Plan:
    from ..video import VIDEO_EXTENSIONS

    refused: list[tuple[str, str]] = []
    sources = scan(cfg.source, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS, "source", refused)
    targets = scan(cfg.target, VIDEO_EXTENSIONS, "target video", refused)
    target_ids = [t.identity for t in targets]
    split_of = assign_splits([target_ids, [s.identity for s in sources]], cfg)
    if cfg.map:
        from .mapping import parse_map

        comp = composite_source(sources, parse_map(cfg.map))
        allowed = [(comp, t) for t in targets
                   if all(split_of[p.identity] == split_of[t.identity] for p in comp.parts)
                   and (cfg.self_swap or all(p.identity != t.identity for p in comp.parts))]
    else:
        allowed = [(s, t) for t in targets for s in sources
                   if split_of[s.identity] == split_of[t.identity] and (cfg.self_swap or s.identity != t.identity)]
    if not allowed:
        raise ConfigError("no (source, target) pair is possible: every source shares an identity or a split with "
                          "no target; add identities, use --self-swap, or put all in one split with --split")
    pairs = allowed
    if cfg.pairs is not None and cfg.pairs < len(allowed):
        rng = np.random.default_rng(cfg.seed)
        pick = sorted(rng.choice(len(allowed), size=cfg.pairs, replace=False))
        pairs = [allowed[k] for k in pick]
    used = {t.name for _, t in pairs}
    return Plan(sources, [t for t in targets if t.name in used], split_of, pairs,
                [t.name for t in targets if t.name not in used], len(allowed), refused)


def video_id(preset: str, method: str, target: str, source: str | None = None) -> str:
    return f"{preset}/{method}/{target}" + (f"__{source}" if source else "")


def rel_path(preset_name: str, extension: str, method: str, target: str, source: str | None = None) -> str:
    return f"videos/{video_id(preset_name, method, target, source)}{extension}"


def preset_seed(seed: int, preset: str, target: str) -> int:
    """One seed per (preset, target): a real and its fakes get the same losses and noise."""
    return int(hashlib.sha256(f"{seed}|{preset}|{target}".encode()).hexdigest()[:8], 16)
