"""results.json from a run folder's files only (predictions.csv, features.csv, models.json,
benchmark.json): every cell's metrics with sample counts and intervals, thresholds chosen on the
val split, per-method AUCs, paired DeLong comparisons against the first model, seen/unseen marks
and the shortcut check. The report reads only this file and the predictions."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import metrics as M
from ..fileio import write_json
from ..contracts import (BENCH_SCHEMA, FEATURE_COLUMNS, PRED_COLUMNS, SHORTCUT_AUC, SHORTCUT_FEATURES, checked_predictions,
                         read_json_object, read_rows)

SCHEMA = BENCH_SCHEMA


def compute_results(out: Path, split: str = "test", bootstrap: int = 1000, seed: int = 0,
                    timings: dict | None = None) -> dict:
    from ..provenance import provenance

    out = Path(out)
    rows = checked_predictions(read_rows(out / "predictions.csv", PRED_COLUMNS), out / "predictions.csv")
    models = read_json_object(out / "models.json", "models file") if (out / "models.json").is_file() else {}
    if any(not isinstance(v, dict) for v in models.values()):
        from ..contracts import RunFileError

        raise RunFileError(f"{out / 'models.json'}: each model's entry must be an object")
    bench = (read_json_object(out / "benchmark.json", "benchmark identity file", {"identity": dict})
             if (out / "benchmark.json").is_file() else {})
    latest: dict[tuple, dict] = {}
    for r in rows:                          # the last row of a key wins (a re-run retried a failure)
        latest[(r["model"], r["dataset"], r["preset"], r["video_id"])] = r
    rows = list(latest.values())
    model_order = list(models) or sorted({r["model"] for r in rows})
    cells, comparisons = [], []
    keys = sorted({(r["dataset"], r["preset"]) for r in rows})
    for dataset, preset in keys:
        base = None
        for model in model_order:
            sel = [r for r in rows if (r["model"], r["dataset"], r["preset"]) == (model, dataset, preset)]
            if not sel:
                continue
            cell = _cell(model, dataset, preset, sel, split, bootstrap, seed, models.get(model, {}))
            cells.append(cell)
            test = {r["video_id"]: r for r in sel if r["split"] == split and r["status"] == "ok"}
            if base is None:
                base = (model, test)
                continue
            common = sorted(set(base[1]) & set(test))
            y = [int(test[v]["label"]) for v in common]
            a1, a2, p = M.delong(y, [float(test[v]["score"]) for v in common],
                                 [float(base[1][v]["score"]) for v in common])
            comparisons.append({"dataset": dataset, "preset": preset, "model": model, "baseline": base[0],
                                "videos": len(common), "auc": _num(a1), "baseline_auc": _num(a2),
                                "delta_auc": _num(a1 - a2), "delong_p": _num(p)})
    shortcut = _shortcut(read_rows(out / "features.csv", FEATURE_COLUMNS), split)
    for c in cells:
        s = shortcut.get(f"{c['dataset']}/{c['preset']}")
        c["shortcut_flag"] = bool(s and s["flagged"])
    res = {"schema": SCHEMA, "split": split, "config": bench.get("config", {}), "models": models,
           "cells": cells, "comparisons": comparisons, "shortcut": shortcut, "summary": _summary(cells),
           "timings": timings or {}, "provenance": provenance()}
    write_json(out / "results.json", res)
    return res


def _num(v):
    return None if v is None or not np.isfinite(v) else round(float(v), 6)


def _cell(model, dataset, preset, sel, split, bootstrap, seed, model_info) -> dict:
    test = [r for r in sel if r["split"] == split]
    ok = [r for r in test if r["status"] == "ok"]
    val = [r for r in sel if r["split"] == "val" and r["status"] == "ok"]
    y = np.array([int(r["label"]) for r in ok], np.int64)
    s = np.array([float(r["score"]) for r in ok])
    thr, thr_from = None, None
    yv = np.array([int(r["label"]) for r in val], np.int64)
    if len(yv) and 0 < yv.sum() < len(yv):
        thr, thr_from = M.youden_threshold(yv, np.array([float(r["score"]) for r in val])), "val"
    m = M.compute(y, s, thr)
    groups = [r["pair_id"] for r in ok]
    ci = {}
    if bootstrap and not m.note:
        for name, fn in (("auc", M.auc), ("ap", M.average_precision),
                         ("acc_05", lambda a, b: M.accuracy(a, b, 0.5)[0])):
            lo, hi = M.bootstrap_ci(y, s, groups, fn, n=bootstrap, seed=seed)
            ci[name] = [_num(lo), _num(hi)]
    per_method = {}
    for method in sorted({r["method"] for r in ok if r["label"] == "1"}):
        idx = [i for i, r in enumerate(ok) if r["label"] == "0" or r["method"] == method]
        per_method[method] = {"fakes": int(sum(ok[i]["label"] == "1" for i in idx)),
                              "auc": _num(M.auc(y[idx], s[idx]))}
    seen = model_info.get("seen_presets")
    return {"model": model, "dataset": dataset, "preset": preset, "split": split,
            "metrics": {k: (_num(v) if isinstance(v, float) else v) for k, v in m.to_json().items()},
            "ci95": ci, "threshold_from": thr_from, "per_method": per_method,
            "failed": len(test) - len(ok), "val_videos": len(val),
            "seen": None if seen is None else preset in seen}


def _summary(cells: list[dict]) -> dict:
    out = {}
    for c in cells:
        auc = c["metrics"]["auc"]
        if auc is None:
            continue
        d = out.setdefault(c["model"], {"seen": [], "unseen": [], "all": []})
        d["all"].append(auc)
        if c["seen"] is not None:
            d["seen" if c["seen"] else "unseen"].append(auc)
    return {m: {k: (round(float(np.mean(v)), 4) if v else None) for k, v in d.items()} | {
        f"{k}_cells": len(v) for k, v in d.items()} for m, d in out.items()}


def _shortcut(rows: list[dict], split: str) -> dict:
    """For each dataset/preset: the AUC each trivial file feature reaches alone (either direction)."""
    out = {}
    for key in sorted({(r["dataset"], r["preset"]) for r in rows}):
        sel = [r for r in rows if (r["dataset"], r["preset"]) == key and r["split"] == split]
        y = np.array([int(r["label"]) for r in sel], np.int64)
        if not len(y) or y.sum() in (0, len(y)):
            continue
        aucs = {}
        for f in SHORTCUT_FEATURES:
            if f == "codec":
                codes = sorted({r[f] for r in sel})
                x = np.array([codes.index(r[f]) for r in sel], np.float64)
            else:
                x = np.array([float(r[f] or 0) for r in sel])
            a = M.auc(y, x)
            aucs[f] = round(max(a, 1 - a), 4)
        top = max(aucs, key=aucs.get)
        out[f"{key[0]}/{key[1]}"] = {"auc": aucs, "max_feature": top, "max_auc": aucs[top],
                                     "flagged": aucs[top] > SHORTCUT_AUC}
    return out


def cell_lines(res: dict) -> list[str]:
    """results.json's cells as a console table: AUC, interval (or why there is none), counts, seen/unseen,
    and the shortcut flag."""
    lines = [f"{'model':<16} {'dataset':<14} {'preset':<16} {'AUC':>6}  95% CI         n (real/fake)  seen"]
    for c in res["cells"]:
        m = c["metrics"]
        auc = "  n/a " if m["auc"] is None else f"{m['auc']:.3f}"
        ci = c["ci95"].get("auc")
        ci_s = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci and ci[0] is not None else (m["note"] or "-")
        seen = {None: "", True: "seen", False: "unseen"}[c["seen"]]
        lines.append(f"{c['model']:<16} {c['dataset']:<14} {c['preset']:<16} {auc:>6}  {ci_s:<14} "
                     f"{m['n']:>3} ({m['n_real']}/{m['n_fake']}){'':<4} {seen}"
                     + ("  SHORTCUT?" if c.get("shortcut_flag") else ""))
    return lines
