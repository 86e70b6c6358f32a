"""``benchmark --explain N``: after scoring, the N most confident hits and the N most confident
misses of every cell (model x dataset x preset, the evaluated split) explained with Grad-CAM
(:mod:`vcbench.models.explain`), the same windows the benchmark scored.

A hit is a video the cell's operating threshold classifies right (the model's own threshold, else
the one tuned on the target's val split, else 0.5: the first the results hold), a miss one it
classifies wrong; confidence is the distance of the score from that threshold. Written under
``<run>/explain/<model>/<dataset>/<preset>/``: ``<hit|miss><k>-<video>.npz`` and its two PNG strips;
``<run>/explain/index.json`` lists them (the report's heatmap gallery reads it). Detectors without
a network (``chance``, ``.py`` files, plug-ins) are named and left out.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, VcbenchError
from ..fileio import safe_name

EXPLAIN_DIR = "explain"
INDEX = "index.json"


def cell_threshold(cell: dict) -> tuple[float, str]:
    ops = cell.get("operating_points") or {}
    for key, label in (("model", "the model's own"), ("target_val", "tuned on the target's val split")):
        op = ops.get(key) or {}
        if isinstance(op.get("threshold"), (int, float)) and "tp" in op:
            return float(op["threshold"]), label
    return 0.5, "0.5 (no own or val threshold)"


def pick(rows: list[dict], threshold: float, n: int) -> dict[str, list[dict]]:
    """The ``n`` most confident hits and misses of a cell's scored rows."""
    hits, misses = [], []
    for r in rows:
        s, y = float(r["score"]), int(r["label"])
        (hits if (s >= threshold) == (y == 1) else misses).append(r)
    conf = lambda r: (-abs(float(r["score"]) - threshold), r["video_id"])  # noqa: E731
    return {"hit": sorted(hits, key=conf)[:n], "miss": sorted(misses, key=conf)[:n]}


def explain_run(cfg, res: dict, n: int, echo=print) -> dict:
    """Explain the picks of every cell of the finished run ``cfg.out`` (results ``res``); returns
    and writes the index."""
    from ..conference.presets import load_presets
    from ..contracts import PRED_COLUMNS, checked_predictions, read_rows
    from ..detectors import load_detectors
    from ..faces.tracking import LazyBackend
    from ..fileio import write_json
    from ..registry import lookup
    from ..runtime import resolve_device
    from .runner import detector_settings

    out = Path(cfg.out) / EXPLAIN_DIR
    rows = checked_predictions(read_rows(Path(cfg.out) / "predictions.csv", PRED_COLUMNS), Path(cfg.out) / "predictions.csv")
    latest = {(r["model"], r["dataset"], r["preset"], r["video_id"]): r for r in rows}
    available = load_presets(cfg.presets)
    presets = {p: (None if p == "clean" else lookup("preset", p, available)) for p in cfg.preset}
    device = resolve_device(cfg.device)
    index: dict = {"n": n, "split": cfg.split, "entries": [], "skipped_models": {}, "failed": []}
    specs = _explainable_specs(cfg, res, index)
    dets = load_detectors(tuple(specs), detector_settings(cfg)) if specs else []
    try:
        nets = {}
        for d in dets:
            try:
                nets[d.name] = d.explain_network().eval()
            except ConfigError as e:
                index["skipped_models"][d.name] = str(e)
        places = _places(cfg, presets)
        backend = LazyBackend(cfg.face_backend)
        try:
            _explain_pairs(cfg, nets, places, presets, device, backend, out, index)
            for cell in res.get("cells", []):
                if cell["model"] in nets and (cell["dataset"], cell["preset"]) in places:
                    mine = [r for k, r in latest.items() if k[:3] == (cell["model"], cell["dataset"], cell["preset"])
                            and r["split"] == cfg.split and r["status"] == "ok" and r["score"] is not None]
                    _explain_cell(cfg, cell, mine, n, nets, places, presets, device, backend, out, index)
        finally:
            backend.close()
    finally:
        for d in dets:
            d.close()
    write_json(out / INDEX, index)
    echo(_summary_line(index, n, out))
    return index


def _explainable_specs(cfg, res: dict, index: dict) -> list[str]:
    """The run's ``--model`` specs worth building: a detector the run recorded as a kind without a
    network is named in the index and not built again (the handcrafted baseline would refit on its
    train split only to be left out)."""
    from ..detectors import parse_spec
    from ..detectors.base import KINDS

    classes = {KINDS.get(k).kind: KINDS.get(k) for k in KINDS.names()}
    recorded = {name: (info or {}).get("kind") for name, info in (res.get("models") or {}).items()}
    specs = []
    for spec in cfg.model:
        name, _ = parse_spec(spec)
        cls = classes.get(recorded.get(name))
        if cls is not None and not cls.explainable:
            index["skipped_models"][name] = f"--model {spec}: a {cls.kind} detector has no network to take gradients through"
        else:
            specs.append(spec)
    return specs


def _places(cfg, presets: dict) -> dict[tuple[str, str], dict]:
    """Per (dataset, preset): the dataset and its items by video id (record, rendition path)."""
    from ..datasets import get_dataset
    from .runner import plan_items

    places: dict[tuple[str, str], dict] = {}
    for dname in cfg.dataset:
        ds = get_dataset(dname, cfg.datasets)
        for pname, items in plan_items(cfg, ds, presets).items():
            places[(dname, pname)] = {"ds": ds, "items": {r.video_id: (r, p) for r, p in items}}
    return places


def _explain_cell(cfg, cell: dict, rows: list[dict], n: int, nets: dict, places: dict, presets: dict, device,
                  backend, out: Path, index: dict) -> None:
    """One cell's ``n`` most confident hits and misses explained into the index (a video that
    cannot be explained is listed under ``failed``)."""
    from ..models.explain import explain_video, strip, write_npz, write_png
    from .runner import rendered

    model, dname, pname = cell["model"], cell["dataset"], cell["preset"]
    thr, thr_from = cell_threshold(cell)
    place = places[(dname, pname)]
    folder = out / safe_name(model) / safe_name(dname) / safe_name(pname)
    for kind, chosen in pick(rows, thr, n).items():
        for k, r in enumerate(chosen):
            rec, path = place["items"].get(r["video_id"], (None, None))
            name = f"{kind}{k}-{safe_name(r['video_id'])}"
            try:
                if rec is None:
                    raise VcbenchError(f"{r['video_id']}: no longer in dataset {dname!r}")
                if path is None:
                    path = rendered(cfg, place["ds"], rec, pname, presets[pname])
                ex = explain_video(Path(path), nets[model], device, backend, "gradcam", None,
                                   cfg.mode, cfg.clips, max_frames=cfg.max_frames, cache_dir=cfg.cache_dir)
                meta = {"model": model, "dataset": dname, "preset": pname, "video_id": r["video_id"],
                        "label": int(r["label"]), "score": float(r["score"]), "threshold": thr,
                        "kind": kind, "method": "gradcam", "fps": ex.fps, "n_frames": ex.n_frames}
                files = {"npz": write_npz(ex, folder / f"{name}.npz", meta)}
                for side in ("most", "least"):
                    _, clip, maps = ex.extremes[side]
                    files[side] = write_png(strip(clip, maps), folder / f"{name}.{side}-fake.png")
                index["entries"].append({**meta, "threshold_from": thr_from,
                                         **{k2: str(v.relative_to(Path(cfg.out))) for k2, v in files.items()}})
            except VcbenchError as e:
                index["failed"].append({"model": model, "dataset": dname, "preset": pname,
                                        "video_id": r["video_id"], "why": str(e)})


def _summary_line(index: dict, n: int, out: Path) -> str:
    pairs = len(index.get("pairs", []))
    return (f"explained {len(index['entries'])} video(s) (the {n} most confident hit(s) and miss(es) per cell)"
            + (f" and the gallery pair ({pairs} renditions)" if pairs else "") + f" -> {out}"
            + (f"; {len(index['failed'])} failed" if index["failed"] else "")
            + "".join(f"\n  {m}: not explained ({why})" for m, why in index["skipped_models"].items()))


def _explain_pairs(cfg, nets: dict, places: dict, presets: dict, device, backend, out: Path, index: dict) -> None:
    """The report's gallery pair (``datasets.base.gallery_pair``) under every condition, the same
    window each time (each face's middle window: ``--mode sparse --clips 1``), so the maps of one
    face under each call sit side by side."""
    from ..datasets.base import gallery_pair, held_condition
    from .runner import rendered
    from ..models.explain import explain_video, strip, write_npz, write_png

    for dname in cfg.dataset:
        first = next((v for (d, _), v in places.items() if d == dname), None)
        if first is None:
            continue
        ds = first["ds"]
        pair = gallery_pair(ds.records, cfg.split)
        if pair is None:
            continue
        for model, net in nets.items():
            for pname in cfg.preset:
                for side, rec in zip(("real", "fake"), pair):
                    folder = out / safe_name(model) / safe_name(dname) / safe_name(pname)
                    try:
                        own = held_condition(ds.records, rec, pname)
                        if pname == "clean" or own is not None:
                            path = ds.abspath(own or rec)
                        else:
                            path = rendered(cfg, ds, rec, pname, presets[pname])
                        ex = explain_video(Path(path), net, device, backend, "gradcam", None, "sparse", 1,
                                           max_frames=cfg.max_frames, cache_dir=cfg.cache_dir)
                        _, clip, maps = ex.extremes["most"]
                        meta = {"model": model, "dataset": dname, "preset": pname, "video_id": rec.video_id,
                                "label": int(rec.label), "kind": "pair", "side": side, "method": "gradcam",
                                "score": ex.score[0], "frames": [int(f) for f in ex.frames[0]]}
                        files = {"npz": write_npz(ex, folder / f"pair-{side}.npz", meta),
                                 "strip": write_png(strip(clip, maps, 4), folder / f"pair-{side}.png")}
                        index.setdefault("pairs", []).append(
                            {**meta, **{k: str(v.relative_to(Path(cfg.out))) for k, v in files.items()}})
                    except VcbenchError as e:
                        index["failed"].append({"model": model, "dataset": dname, "preset": pname,
                                                "video_id": rec.video_id, "why": f"gallery pair: {e}"})
