"""results.json from a run folder's files only (predictions.csv, features.csv, models.json,
benchmark.json, context.json): every cell's metrics with sample counts and intervals, operating
points, per-method AUCs, failures by label, the training-overlap check, paired comparisons, seen /
unseen marks and the shortcut check. The report reads only this file and the predictions.

What makes a number hard to break:
- **overlap**: a video a model trained or validated on, or that shows a person or public clip it
  trained on (``overlap.py``), is removed from that model's cells (``exclude``, the default) or
  kept and counted (``flag``); each cell says how many and why;
- **clusters**: intervals and paired comparisons resample whole target identities (a person's real
  and all its fakes move together); DeLong's test is kept, labelled as assuming independent videos;
  every comparison's p-value is Holm-adjusted across the run;
- **failures** never move an AUC silently: counted by label, with the AUC had they scored 0.5, and
  a flag when the failure rates of reals and fakes differ by more than 5 points;
- **operating points**: the model's own threshold (chosen on its validation data, in best.pth or
  declared for a weight tag) applied unchanged, what a deployment sees; and the threshold tuned
  on this dataset's val split, labelled so; each with its confusion matrix, precision, recall, F1.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import metrics as M
from ..fileio import write_json
from ..registry import suggest
from ..contracts import (BENCH_SCHEMA, CONTEXT_FILE, FEATURE_COLUMNS, PRED_COLUMNS, SHORTCUT_AUC, SHORTCUT_FEATURES,
                         checked_predictions, own_threshold, read_json_object, read_rows)

SCHEMA = BENCH_SCHEMA
#: failure rates of reals and fakes further apart than this flag a cell (its AUC may be biased)
FAILURE_GAP = 0.05


def compute_results(out: Path, split: str = "test", bootstrap: int = 1000, seed: int = 0,
                    timings: dict | None = None, overlap: str = "exclude",
                    compare: tuple[str, ...] | list[str] = (), stream: dict | None = None) -> dict:
    """``compare``: ``A:B`` pairs to test (default: every model against the first). ``stream``:
    ``stride``/``smooth``/``false_alarms_per_hour`` for the time to alarm of a ``--streaming`` run
    (default: as the run recorded them)."""
    from ..provenance import provenance
    from .overlap import Checker, check_mode

    out = Path(out)
    check_mode(overlap)
    rows = checked_predictions(read_rows(out / "predictions.csv", PRED_COLUMNS), out / "predictions.csv")
    models = read_json_object(out / "models.json", "models file") if (out / "models.json").is_file() else {}
    if any(not isinstance(v, dict) for v in models.values()):
        from ..contracts import RunFileError

        raise RunFileError(f"{out / 'models.json'}: each model's entry must be an object")
    bench = (read_json_object(out / "benchmark.json", "benchmark identity file", {"identity": dict})
             if (out / "benchmark.json").is_file() else {})
    context = (read_json_object(out / CONTEXT_FILE, "benchmark context file", {"datasets": dict})
               if (out / CONTEXT_FILE).is_file() else {"datasets": {}})
    described = {name: d for name, d in context["datasets"].items() if isinstance(d, dict)}
    records = {name: {r["video_id"]: r for r in d.get("records", []) if isinstance(r, dict) and "video_id" in r}
               for name, d in described.items()}
    latest: dict[tuple, dict] = {}
    for r in rows:                          # the last row of a key wins (a re-run retried a failure)
        latest[(r["model"], r["dataset"], r["preset"], r["video_id"])] = r
    rows = list(latest.values())
    model_order = list(models) or sorted({r["model"] for r in rows})
    windows = _windows_by_cell(out)
    policy, per_hour = _stream_policy(stream, bench.get("config", {}))
    checkers = {m: Checker(models[m]["training"]) for m in model_order
                if isinstance(models.get(m, {}).get("training"), dict) and "sets" in models[m]["training"]}
    cells, kept = [], {}
    for dataset, preset in sorted({(r["dataset"], r["preset"]) for r in rows}):
        for model in model_order:
            sel = [r for r in rows if (r["model"], r["dataset"], r["preset"]) == (model, dataset, preset)]
            if not sel:
                continue
            ov = _overlap(sel, checkers.get(model), described.get(dataset), records.get(dataset, {}), overlap,
                          models.get(model, {}))
            left_out = ov.pop("_excluded")
            use = [r for r in sel if r["video_id"] not in left_out]
            cell = _cell(model, dataset, preset, use, split, bootstrap, seed, models.get(model, {}),
                         records.get(dataset, {}))
            cell["overlap"] = ov
            if (model, dataset, preset) in windows:
                cell["streaming"] = _streaming(windows[(model, dataset, preset)], left_out, split, policy, per_hour,
                                               _own_threshold(models.get(model, {})), records.get(dataset, {}),
                                               bootstrap, seed)
            cells.append(cell)
            kept[(model, dataset, preset)] = {r["video_id"]: r for r in use if r["split"] == split and r["status"] == "ok"}
    comparisons = _comparisons(kept, model_order, compare, records, bootstrap, seed)
    shortcut = _shortcut(read_rows(out / "features.csv", FEATURE_COLUMNS), split)
    for c in cells:
        s = shortcut.get(f"{c['dataset']}/{c['preset']}")
        c["shortcut_flag"] = bool(s and s["flagged"])
    res = {"schema": SCHEMA, "split": split, "config": bench.get("config", {}), "models": models,
           "overlap_mode": overlap, "cells": cells, "comparisons": comparisons, "shortcut": shortcut,
           "summary": _summary(cells), "timings": timings or {}, "provenance": provenance()}
    write_json(out / "results.json", res)
    return res


def _windows_by_cell(out: Path) -> dict[tuple, list[dict]]:
    from ..contracts import WINDOWS_FILE, read_windows

    by: dict[tuple, list[dict]] = {}
    for w in read_windows(out / WINDOWS_FILE):
        by.setdefault((w["model"], w["dataset"], w["preset"]), []).append(w)
    return by


def _stream_policy(given: dict | None, recorded: dict):
    """The stream's stride/smooth and the false-alarm budget: given, else as the run recorded them."""
    from ..alarms import StreamPolicy
    from ..errors import ConfigError

    d = {k: (given or {}).get(k, recorded.get(k, dflt)) for k, dflt in
         (("stride", 8), ("smooth", 3), ("false_alarms_per_hour", 1.0))}
    try:
        return StreamPolicy(int(d["stride"]), int(d["smooth"])), float(d["false_alarms_per_hour"])
    except (TypeError, ValueError) as e:
        raise ConfigError(f"streaming: {e}") from None


def _streaming(rows: list[dict], left_out: set, split: str, policy, per_hour: float, own: tuple, recs: dict,
               bootstrap: int, seed: int) -> dict:
    """Time to alarm in one cell: the threshold for the false-alarm budget on its val reals, and the
    model's own; at each, the fakes' time to alarm and the test reals' false alarms per hour."""
    from .. import alarms as A

    def as_series(w):
        return A.series(w["video_id"], w["label"], w["fps"], w["frames"], w["tracks"], w["clip_len"], policy,
                        _cluster(recs.get(w["video_id"]), {"video_id": w["video_id"], "pair_id": ""}))

    use = [w for w in rows if w["video_id"] not in left_out]
    test = [as_series(w) for w in use if w["split"] == split]
    val_reals = [as_series(w) for w in use if w["split"] == "val" and w["label"] == 0]
    fakes, reals = [v for v in test if v.label == 1], [v for v in test if v.label == 0]
    budget, info = A.budget_threshold(val_reals, per_hour)
    own_t, own_from = own
    out: dict = {"stride": policy.stride, "smooth": policy.smooth, "false_alarms_per_hour_budget": per_hour,
                 "fakes": len(fakes), "reals": len(reals), "thresholds": {
                     "val_budget": {"value": budget,
                                    "from": f"val reals: at most {per_hour:g} false alarm(s) per hour", **info},
                     "model": {"value": own_t, "from": own_from}}, "at": {}}
    for key, t in (("val_budget", budget), ("model", own_t)):
        if t is not None:
            out["at"][key] = A.summarise(fakes, reals, t, bootstrap, seed)
    return out


def _num(v):
    return None if v is None or not np.isfinite(v) else round(float(v), 6)


def _cluster(rec: dict | None, row: dict) -> str:
    """The resampling unit of a video: its target identity (a person's real and every fake of them
    move together), else its pair."""
    if rec and rec.get("target_id"):
        return "id:" + rec["target_id"]
    return "pair:" + (row.get("pair_id") or row["video_id"])


def _overlap(sel: list[dict], checker, desc: dict | None, recs: dict, mode: str, info: dict) -> dict:
    """This cell's overlap with the model's training data: counts by reason (test and val rows),
    and ``_excluded``, the video ids the cell leaves out (only in ``exclude`` mode)."""
    if checker is None:
        why = ("training data unknown (no record in the checkpoint, no .training.json, no weight tag)"
               if info.get("kind") in ("vcbench", "byo", "plugin") else "not applicable")
        return {"mode": mode, "checked": False, "why": why, "excluded": 0, "flagged": 0, "by_reason": {},
                "_excluded": set()}
    if desc is None:
        return {"mode": mode, "checked": False, "why": "the run recorded no description of this dataset (no "
                "context.json)", "excluded": 0, "flagged": 0, "by_reason": {}, "_excluded": set()}
    by_reason: dict[str, int] = {}
    hits, examples = set(), []
    for r in sel:
        rec = recs.get(r["video_id"])
        if rec is None:
            continue
        got = checker.reason(desc, rec)
        if got is None:
            continue
        kind, why = got
        hits.add(r["video_id"])
        by_reason[f"{r['split']}: {kind}"] = by_reason.get(f"{r['split']}: {kind}", 0) + 1
        if len(examples) < 3:
            examples.append(f"{r['video_id']}: {why}")
    return {"mode": mode, "checked": True, "from": checker.record.get("from"),
            "excluded": len(hits) if mode == "exclude" else 0, "flagged": len(hits) if mode == "flag" else 0,
            "by_reason": dict(sorted(by_reason.items())), "examples": examples,
            "videos": sorted(hits),    # which (watch --calibration leaves them out as the cells do)
            "_excluded": hits if mode == "exclude" else set()}


def _own_threshold(info: dict) -> tuple[float | None, str]:
    """The model's own operating threshold: chosen on its validation data (best.pth), or declared
    for its weight tag; (None, why) when it has none."""
    prov = info.get("provenance", {}).get("provenance", {}) if isinstance(info.get("provenance"), dict) else {}
    training = info.get("training") if isinstance(info.get("training"), dict) else {}
    return own_threshold(prov if isinstance(prov, dict) else {}, training, "the model")


def _cell(model, dataset, preset, sel, split, bootstrap, seed, model_info, recs) -> dict:
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
    clusters = [_cluster(recs.get(r["video_id"]), r) for r in ok]
    ci = {}
    if bootstrap and not m.note:
        for name, fn in (("auc", M.auc), ("ap", M.average_precision),
                         ("acc_05", lambda a, b: M.accuracy(a, b, 0.5)[0])):
            lo, hi = M.bootstrap_ci(y, s, clusters, fn, n=bootstrap, seed=seed)
            ci[name] = [_num(lo), _num(hi)]
    per_method = {}
    for method in sorted({r["method"] for r in ok if r["label"] == "1"}):
        idx = [i for i, r in enumerate(ok) if r["label"] == "0" or r["method"] == method]
        per_method[method] = {"fakes": int(sum(ok[i]["label"] == "1" for i in idx)),
                              "auc": _num(M.auc(y[idx], s[idx]))}
    own, own_from = _own_threshold(model_info)
    points = {"0.5": {"from": "fixed 0.5"}, "model": {"from": own_from}, "target_val": {
        "from": "tuned on target val (Youden's J)" if thr is not None else "no val split with both labels"}}
    for key, t in (("0.5", 0.5), ("model", own), ("target_val", thr)):
        if t is not None and len(y):
            points[key].update({k: (_num(v) if isinstance(v, float) else v) for k, v in M.operating_point(y, s, t).items()})
    seen = model_info.get("seen_presets")
    return {"model": model, "dataset": dataset, "preset": preset, "split": split,
            "metrics": {k: (_num(v) if isinstance(v, float) else v) for k, v in m.to_json().items()},
            "ci95": ci, "ci_resampled_by": "target identity (else pair)", "threshold_from": thr_from,
            "operating_points": points, "pr_curve": M.pr_curve(y, s) if len(y) else [],
            "per_method": per_method, "failed": len(test) - len(ok), "failures": _failures(test, y, s),
            "val_videos": len(val), "seen": None if seen is None else preset in seen}


def _failures(test: list[dict], y, s) -> dict:
    """Failed test videos by label, the AUC had they all scored 0.5 (how far they could move it),
    and a flag when reals and fakes fail at rates more than FAILURE_GAP apart."""
    failed = [r for r in test if r["status"] != "ok"]
    n = {lab: sum(r["label"] == lab for r in test) for lab in ("0", "1")}
    f = {lab: sum(r["label"] == lab for r in failed) for lab in ("0", "1")}
    rate = {lab: (f[lab] / n[lab] if n[lab] else 0.0) for lab in ("0", "1")}
    out = {"real": f["0"], "fake": f["1"], "rate_real": round(rate["0"], 4), "rate_fake": round(rate["1"], 4),
           "flag": abs(rate["0"] - rate["1"]) > FAILURE_GAP, "auc_if_scored_05": None}
    if failed:
        yy = np.r_[y, [int(r["label"]) for r in failed]].astype(np.int64)
        ss = np.r_[s, [0.5] * len(failed)]
        out["auc_if_scored_05"] = _num(M.auc(yy, ss))
    return out


def compare_pairs(compare, models: list[str]) -> list[tuple[str, str]]:
    """``--compare A:B`` specs as pairs of the run's models (none given: each against the first);
    checked before anything is scored."""
    from ..errors import ConfigError

    pairs = []
    for spec in compare:
        a, sep, b = str(spec).partition(":")
        if not sep or a not in models or b not in models or a == b:
            hint = suggest(b if a in models else a, models)
            raise ConfigError(f"--compare {spec!r}: expected A:B with two of the run's models ({', '.join(models)})"
                              + (f"; did you mean {hint[0]!r}?" if hint else ""))
        pairs.append((a, b))
    return pairs or [(m, models[0]) for m in models[1:]]


def _comparisons(kept: dict, models: list[str], compare, records: dict, bootstrap: int, seed: int) -> list[dict]:
    """Every requested pair (default: each model against the first) in every cell both have: delta AUC
    on their common videos, a clustered paired bootstrap interval and p-value, DeLong's p (which
    assumes independent videos), and Holm's adjustment over all of the run's comparisons."""
    pairs = compare_pairs(compare, models)
    out = []
    cells = sorted({(d, p) for (_, d, p) in kept})
    for dataset, preset in cells:
        for a, b in pairs:
            ka, kb = kept.get((a, dataset, preset)), kept.get((b, dataset, preset))
            if ka is None or kb is None:
                continue
            common = sorted(set(ka) & set(kb))
            y = [int(ka[v]["label"]) for v in common]
            sa, sb = [float(ka[v]["score"]) for v in common], [float(kb[v]["score"]) for v in common]
            clusters = [_cluster(records.get(dataset, {}).get(v), ka[v]) for v in common]
            a1, a2, p_delong = M.delong(y, sa, sb)
            d, lo, hi, p = M.paired_bootstrap_delta(y, sa, sb, clusters, n=bootstrap, seed=seed)
            out.append({"dataset": dataset, "preset": preset, "model": a, "baseline": b, "videos": len(common),
                        "clusters": len(set(clusters)), "auc": _num(a1), "baseline_auc": _num(a2),
                        "delta_auc": _num(d), "ci95": [_num(lo), _num(hi)], "p": _num(p),
                        "p_from": "paired bootstrap resampling target identities", "delong_p": _num(p_delong),
                        "delong_note": "assumes independent videos"})
    for c, adj in zip(out, M.holm([c["p"] for c in out])):
        c["p_holm"] = _num(adj) if adj is not None else None
    return out


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
    """results.json's cells as a console table: AUC, interval (or why there is none), counts, videos
    left out for overlapping the model's training data, seen/unseen, and the flags."""
    lines = [f"{'model':<16} {'dataset':<14} {'preset':<16} {'AUC':>6}  95% CI         n (real/fake)  overlap  seen"]
    for c in res["cells"]:
        m = c["metrics"]
        auc = "  n/a " if m["auc"] is None else f"{m['auc']:.3f}"
        ci = c["ci95"].get("auc")
        ci_s = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci and ci[0] is not None else (m["note"] or "-")
        seen = {None: "", True: "seen", False: "unseen"}[c["seen"]]
        ov = c.get("overlap") or {}
        ov_s = ("-" if not ov.get("checked") else f"-{ov['excluded']}" if ov.get("mode") == "exclude"
                else f"!{ov.get('flagged', 0)}")
        flags = ("  SHORTCUT?" if c.get("shortcut_flag") else "") + (
            "  FAILURES-BY-LABEL?" if (c.get("failures") or {}).get("flag") else "")
        lines.append(f"{c['model']:<16} {c['dataset']:<14} {c['preset']:<16} {auc:>6}  {ci_s:<14} "
                     f"{m['n']:>3} ({m['n_real']}/{m['n_fake']}){'':<4} {ov_s:<8} {seen}{flags}")
    return lines


def comparison_lines(res: dict) -> list[str]:
    """Each comparison: delta AUC, its clustered interval, p (bootstrap) and Holm-adjusted p."""
    out = []
    for c in res.get("comparisons", []):
        if c.get("delta_auc") is None:
            continue
        ci = c.get("ci95") or [None, None]
        ci_s = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci[0] is not None else "[n/a]"
        p = "n/a" if c.get("p") is None else f"{c['p']:.3g}"
        ph = "n/a" if c.get("p_holm") is None else f"{c['p_holm']:.3g}"
        out.append(f"{c['model']} vs {c['baseline']} on {c['dataset']}/{c['preset']}: delta AUC {c['delta_auc']:+.3f} "
                   f"{ci_s}, p = {p} (Holm {ph}; {c['videos']} videos in {c['clusters']} identities)")
    return out


def streaming_lines(res: dict) -> list[str]:
    """Each streaming cell at its val-budget threshold (else the model's own): time to alarm and
    false alarms per hour."""
    out = []
    for c in res["cells"]:
        st = c.get("streaming")
        if not st:
            continue
        key = "val_budget" if "val_budget" in st["at"] else "model" if "model" in st["at"] else None
        if key is None:
            out.append(f"{c['model']} {c['dataset']}/{c['preset']}: time to alarm n/a "
                       f"({st['thresholds']['val_budget'].get('why', 'no threshold')}; the model declares none)")
            continue
        a = st["at"][key]
        if key == "model":                 # the budget could not be met: said, never silently swapped
            out.append(f"{c['model']} {c['dataset']}/{c['preset']}: val-budget threshold n/a "
                       f"({st['thresholds']['val_budget'].get('why', 'no threshold')}); at the model's own instead")

        def sec(v):
            return "missed" if v is None else f"{v:.1f} s"

        within = ", ".join(f"{k} s {v:.0%}" for k, v in a.get("caught_within", {}).items())
        fa = "n/a" if a["false_alarms_per_hour"] is None else f"{a['false_alarms_per_hour']:.2f}"
        out.append(f"{c['model']} {c['dataset']}/{c['preset']}: time to alarm median {sec(a.get('tta_median_s'))}, "
                   f"p90 {sec(a.get('tta_p90_s'))}; caught {a['caught']}/{a['fakes']} ({within}); false alarms "
                   f"{fa}/h over {a['real_hours'] * 3600:.0f} s of reals; threshold {a['threshold']:.4f} "
                   f"({'val budget' if key == 'val_budget' else 'model own'})")
    return out
