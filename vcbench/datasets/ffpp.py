"""FaceForensics++ in its official download layout, with the official train/val/test splits.

    original_sequences/{youtube,actors}/<comp>/videos/NNN.mp4
    manipulated_sequences/<Method>/<comp>/videos/<target>_<source>.mp4

Video ids carry method and compression (``Deepfakes/c23/071_054``): the same fake name exists
under every method, and tools that key on the file stem silently merge them.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ..config import DatasetConfig
from ..errors import DatasetError
from ..registry import suggest
from ..contracts import VideoRecord
from .keys import ffpp_clip
from .base import Dataset, hash_split, list_videos, unique_ids

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter", "DeepFakeDetection")
COMPRESSION_DIRS = {"c23": ("c23",), "c40": ("c40",), "raw": ("raw", "c0"), "c0": ("raw", "c0")}
ORIGINALS = ("youtube", "actors")


def official_pair_splits(split_dir: Path | None = None, where: str = "") -> dict[str, str]:
    """{original id: split} from FF++'s split JSONs (lists of [a, b] pairs).

    Default: the official files shipped as package data (FaceForensics repository, MIT licence).
    A pair in two splits is an error naming the file.
    """
    out: dict[str, str] = {}
    for split in ("train", "val", "test"):
        if split_dir is None:
            text = resources.files("vcbench.datasets").joinpath(f"data/ffpp-splits/{split}.json").read_text()
            src = f"ffpp-splits/{split}.json"
        else:
            p = split_dir / f"{split}.json"
            try:
                text = p.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise DatasetError(f"{where}: split file {p} not found") from None
            src = str(p)
        try:
            pairs = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{src}: not valid JSON ({e})") from None
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise DatasetError(f"{src}: expected [a, b] pairs, got {pair!r}")
            for vid in pair:
                vid = str(vid)
                if vid in out and out[vid] != split:
                    raise DatasetError(f"{src}: id {vid!r} is in both {out[vid]!r} and {split!r}")
                out[vid] = split
    return out


def official_training_set(splits=("train",), methods=("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"),
                          compression: str = "c23") -> dict:
    """The training-record part of weights trained on FF++'s official split(s) (the shipped split
    files): every original of those pairs, both fakes of each pair per method, their people and
    clips (``datasets.keys``): what a test video is checked against for a named weight tag."""
    from .keys import training_set

    ids = official_pair_splits()
    recs = []
    for split in splits:
        for i in sorted(k for k, v in ids.items() if v == split):
            recs.append(VideoRecord(f"original/{compression}/{i}", "", 0, split, "original", "", i,
                                    clip_id=ffpp_clip("youtube", i)))
    pairs = _official_pairs(splits)
    for m in methods:
        for a, b in pairs:
            for t, src in ((a, b), (b, a)):
                recs.append(VideoRecord(f"{m}/{compression}/{t}_{src}", "", 1, ids[t], m, src, t,
                                        clip_id=ffpp_clip("fake", f"{t}_{src}")))
    out = training_set("ffpp", "ffpp", None, None, recs, set(splits))
    out["note"] = (f"FF++ {compression} official {'+'.join(splits)} split, "
                   + (f"methods {', '.join(methods)}" if methods else "real videos only"))
    return out


def _official_pairs(splits) -> list[tuple[str, str]]:
    out = []
    for split in splits:
        text = resources.files("vcbench.datasets").joinpath(f"data/ffpp-splits/{split}.json").read_text()
        out += [(str(a), str(b)) for a, b in json.loads(text)]
    return out


def _comp_dir(parent: Path, comp: str) -> Path | None:
    for name in COMPRESSION_DIRS[comp]:
        if (parent / name / "videos").is_dir():
            return parent / name / "videos"
    return None


def _actor_split(actor: str, seed: int = 0) -> str:
    # DeepFakeDetection has no official split: identity-disjoint by actor number.
    return hash_split(f"actor{actor}", seed, val_fraction=0.14, test_fraction=0.14)


def load(cfg: DatasetConfig) -> Dataset:
    root = cfg.root
    comp = cfg.opt("compression")
    if comp not in COMPRESSION_DIRS:
        raise DatasetError(f"{cfg.source}: key 'compression' must be c23, c40, raw or c0, got {comp!r}")
    comp_name = "raw" if comp == "c0" else comp
    methods = cfg.opt("methods")
    for m in methods:
        if m not in METHODS:
            hint = suggest(m, list(METHODS))
            raise DatasetError(f"{cfg.source}: key 'methods': unknown method {m!r}"
                               + (f"; did you mean {hint[0]!r}?" if hint else ""))
    originals = cfg.opt("originals")
    for o in originals:
        if o not in ORIGINALS:
            raise DatasetError(f"{cfg.source}: key 'originals': unknown {o!r}; choose youtube or actors")
    split_dir = Path(cfg.opt("splits")) if cfg.opt("splits") else None
    id_split = official_pair_splits(split_dir, cfg.source)

    records: list[VideoRecord] = []
    excluded: list[tuple[str, str]] = []

    for orig in originals:
        d = _comp_dir(root / "original_sequences" / orig, comp)
        if d is None:
            raise DatasetError(f"{cfg.source}: {root / 'original_sequences' / orig / comp_name / 'videos'} not found")
        prefix = "original" if orig == "youtube" else "actors"
        for p in list_videos(d, excluded):
            stem = p.stem
            vid = f"{prefix}/{comp_name}/{stem}"
            if orig == "youtube":
                split = id_split.get(stem)
                if split is None:
                    excluded.append((vid, "id not in the official splits"))
                    continue
                target = stem
            else:
                target = stem.split("__")[0]
                split = _actor_split(target)
            records.append(VideoRecord(vid, str(p.relative_to(root)), 0, split, "original", "", target,
                                       "clean", vid, clip_id=ffpp_clip(orig, stem)))

    for m in methods:
        d = _comp_dir(root / "manipulated_sequences" / m, comp)
        if d is None:
            raise DatasetError(f"{cfg.source}: key 'methods': "
                               f"{root / 'manipulated_sequences' / m / comp_name / 'videos'} not found")
        for p in list_videos(d, excluded):
            stem = p.stem
            vid = f"{m}/{comp_name}/{stem}"
            if m == "DeepFakeDetection":
                # 01_02__exit_phone_room__YVGY8LOK: actor 01's video with actor 02's face
                head, _, rest = stem.partition("__")
                ids = head.split("_")
                if len(ids) != 2:
                    excluded.append((vid, "name is not <target>_<source>__<scene>__<tag>"))
                    continue
                target, source = ids
                splits = {_actor_split(target), _actor_split(source)}
                scene = rest.rsplit("__", 1)[0]
                pair = f"actors/{comp_name}/{target}__{scene}"
            else:
                ids = stem.split("_")
                if len(ids) != 2:
                    excluded.append((vid, "name is not <target>_<source>"))
                    continue
                target, source = ids
                splits = {id_split.get(target), id_split.get(source)}
                pair = f"original/{comp_name}/{target}"
            if None in splits or len(splits) != 1:
                excluded.append((vid, "its two identities are not in one split"))
                continue
            records.append(VideoRecord(vid, str(p.relative_to(root)), 1, splits.pop(), m, source, target,
                                       "clean", pair, clip_id=ffpp_clip("fake", stem)))
    unique_ids(records, cfg.source)
    return Dataset(cfg.name, "ffpp", root, records, excluded)
