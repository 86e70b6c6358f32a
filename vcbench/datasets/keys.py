"""What says that two videos share content or a person, within a dataset and across datasets: the
keys of the training-overlap check (a model's training record against a benchmark's test videos).

Within the same data (same public kind, the same root or name, or data that shares a file's
content with it: a copy under another name), a video is compared by its video key (FF++ without
the compression: ``c23`` and ``c40`` of one video are one video) and its people (``source_id``,
``target_id``). Everywhere, a file is compared by its content (``contents``: a copy of a training
video is that video). Across datasets, only public clips have names everyone shares: ``clip_id`` (``ffpp/071``, ``celebdf/id4_0003``; a generated video whose target was an FF++
or Celeb-DF file carries that file's clip), and the person a public clip shows (``ffpp:071``).
"""
from __future__ import annotations

import re
from pathlib import Path, PurePath

#: dataset kinds whose ids are the same everywhere (the official names), comparable by kind alone
PUBLIC_KINDS = ("ffpp", "celebdf")

_FFPP_ORIGINAL = re.compile(r"original_sequences/(youtube|actors)/[^/]+/videos/([^/]+)\.\w+$")
_FFPP_FAKE = re.compile(r"manipulated_sequences/[^/]+/[^/]+/videos/([^/]+)\.\w+$")
_CELEB = re.compile(r"(Celeb-real|Celeb-synthesis|YouTube-real)/([^/]+)\.\w+$")


def ffpp_clip(kind: str, stem: str) -> str:
    """The FF++ clip a video shows: a youtube original ``071`` -> ``ffpp/071``; a fake ``071_054``
    -> its target's ``ffpp/071``; an actors' scene ``01__exit_phone_room`` (or a DeepFakeDetection
    fake ``01_02__exit_phone_room__YVGY8LOK``) -> ``ffpp/actors/01__exit_phone_room``."""
    if kind == "actors":
        return f"ffpp/actors/{stem}"
    if "__" in stem:                                     # DeepFakeDetection: <t>_<s>__<scene>__<tag>
        head, _, rest = stem.partition("__")
        return f"ffpp/actors/{head.split('_')[0]}__{rest.rsplit('__', 1)[0]}"
    return f"ffpp/{stem.split('_')[0]}"


def celebdf_clip(folder: str, stem: str) -> str:
    """``Celeb-real/id4_0003`` and every fake of it (``id4_id1_0003``) -> ``celebdf/id4_0003``;
    ``YouTube-real/00003`` -> ``celebdf/yt/00003``."""
    if folder == "YouTube-real":
        return f"celebdf/yt/{stem}"
    parts = stem.split("_")
    return f"celebdf/{parts[0]}_{parts[-1]}"


def canonical_clip(path: str | PurePath) -> str:
    """The public clip a file is, recognised by the FF++ or Celeb-DF layout of its path, else ''."""
    p = PurePath(path).as_posix()
    if m := _FFPP_ORIGINAL.search(p):
        return ffpp_clip(m.group(1), m.group(2))
    if m := _FFPP_FAKE.search(p):
        return ffpp_clip("fake", m.group(1))
    if m := _CELEB.search(p):
        return celebdf_clip(m.group(1), m.group(2))
    return ""


def clip_person(clip: str) -> str:
    """The person a public clip shows, named across datasets: ``ffpp/071`` -> ``ffpp:071``,
    ``ffpp/actors/01__x`` -> ``ffpp-actors:01``, ``celebdf/id4_0003`` -> ``celebdf:id4``; '' for
    clips of nobody known (YouTube-real)."""
    if clip.startswith("ffpp/actors/"):
        return "ffpp-actors:" + clip[len("ffpp/actors/"):].split("__")[0]
    if clip.startswith("ffpp/"):
        return "ffpp:" + clip[len("ffpp/"):]
    if clip.startswith("celebdf/") and not clip.startswith("celebdf/yt/"):
        return "celebdf:" + clip[len("celebdf/"):].split("_")[0]
    return ""


def video_key(kind: str, video_id: str) -> str:
    """A video compared within the same data: FF++ ids lose their compression (``Deepfakes/c23/071_054``
    -> ``Deepfakes/071_054``)."""
    if kind == "ffpp":
        parts = video_id.split("/")
        if len(parts) == 3:
            return f"{parts[0]}/{parts[2]}"
    return video_id


def canonical_keys(clip_id: str) -> set[str]:
    """The cross-dataset keys of a video: its public clip and the person that clip shows."""
    out = set()
    if clip_id:
        out.add(f"clip {clip_id}")
        if person := clip_person(clip_id):
            out.add(f"person {person}")
    return out


def people(rec) -> set[str]:
    """The people in a record (a VideoRecord or a manifest row as a dict)."""
    get = rec.get if isinstance(rec, dict) else (lambda k, d="": getattr(rec, k, d))
    return {i for i in (get("source_id", ""), get("target_id", "")) if i}


def training_set(name: str, kind: str, root, manifest_sha256: str | None, records, splits) -> dict:
    """One dataset's part of a training record: what a test video is compared with. ``contents``:
    the content ids of its files (``fileio.content_id``), so a copy of a training video is known
    whatever the dataset, folder or file it is found under."""
    recs = [r for r in records if r.split in splits]
    return {"dataset": name, "kind": kind, "root": str(Path(root).resolve()) if root else None,
            "manifest_sha256": manifest_sha256, "splits": sorted(splits),
            "videos": sorted({video_key(kind, r.video_id) for r in recs}),
            "identities": sorted({i for r in recs for i in people(r)}),
            "canonical": sorted({k for r in recs for k in canonical_keys(r.clip_id)}),
            "contents": sorted({c for r in recs if (c := file_content(Path(root) / r.path if root else None))})}


def file_content(path: Path | None) -> str:
    """A file's content id, or '' where there is no readable file."""
    from ..fileio import content_id

    try:
        return content_id(path) if path is not None and path.is_file() else ""
    except OSError:
        return ""
