"""``vcbench report``: run folders -> one self-contained HTML file (+ CSV/Markdown/LaTeX tables).

Reads results.json (the single source of truth for every metric shown), predictions.csv (ROC
curves), features.csv (measured bitrate and size per condition), the datasets' manifests and
generation records, and fine-tuning run folders. Never loads a model.
"""
from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import metrics as M
from ..fileio import atomic_path
from . import figures as F
from .load import BenchRun, FinetuneRun, check_model_names, load_bench, load_finetune
from .tables import Cell, Table, fmt, num, to_csv, to_latex, to_markdown

SMOKE_N = 50          # below this many videos per cell, intervals are wide: say so


@dataclass
class Report:
    title: str
    generated: str
    runs: list[dict] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)          # run files read in part: also in warnings
    tables: list[Table] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)        # {"title", "svg", "section"}
    cards: list[dict] = field(default_factory=list)
    gallery: list[dict] = field(default_factory=list)
    gallery_notes: list[str] = field(default_factory=list)
    explained: list[dict] = field(default_factory=list)      # benchmark --explain: per cell, hits and misses
    explained_pairs: list[dict] = field(default_factory=list)  # ... and the gallery pair under every condition
    finetune: list[dict] = field(default_factory=list)
    provenance: list[dict] = field(default_factory=list)



P_FLOOR = 1e-6


def fmt_p(p: float | None) -> str:
    """A p-value as shown: 3 significant digits; below 1e-6 (where a bootstrap or a normal tail says
    no more) "< 1e-6", never 0; "undefined" where there is none."""
    if p is None:
        return "undefined"
    return "< 1e-6" if p < P_FLOOR else f"{p:.3g}"

def _auc_css(v) -> str:
    return "" if v is None else "good" if v >= 0.9 else "warn" if v >= 0.7 else "bad"


def _delta_css(d) -> str:
    return "" if d is None else "good" if d >= 0.02 else "bad" if d <= -0.02 else ""


def _ci(c: dict, key: str = "auc") -> str:
    ci = c.get("ci95", {}).get(key)
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci and ci[0] is not None else ""


def _cells(run: BenchRun) -> list[dict]:
    """Cells in reading order: dataset, then the presets as configured, then the models as given."""
    cfg = run.results.get("config", {})
    presets, models = list(cfg.get("preset", [])), list(run.results.get("models", {}))
    return sorted(run.results.get("cells", []), key=lambda c: (
        c["dataset"], presets.index(c["preset"]) if c["preset"] in presets else len(presets), c["preset"],
        models.index(c["model"]) if c["model"] in models else len(models), c["model"]))


def _by_key(cells: list[dict]) -> dict[tuple[str, str, str], dict]:
    """(model, dataset, preset) -> cell."""
    return {(c["model"], c["dataset"], c["preset"]): c for c in cells}


def build(bench: list[BenchRun], fts: list[FinetuneRun], title: str, thumbs: bool = True) -> Report:
    rep = Report(title, _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    for run in bench:
        rep.runs.append({"path": str(run.path), "split": run.results.get("split"),
                         "models": list(run.results.get("models", {})),
                         "datasets": sorted({c["dataset"] for c in _cells(run)}),
                         "presets": list(dict.fromkeys(c["preset"] for c in _cells(run)))})
        _main_table(rep, run)
        _words(rep, run)
        _figures(rep, run)
        _roc(rep, run)
        _operating_points(rep, run)
        _time_to_alarm(rep, run)
        _comparisons(rep, run)
        _datasets(rep, run, thumbs)
        _explained(rep, run)
        rep.provenance.append({"what": f"benchmark {run.path}", "json": json.dumps(
            {"config": run.results.get("config"), "models": run.results.get("models"),
             "timings": run.results.get("timings"), "provenance": run.results.get("provenance")}, indent=1)})
    for ft in fts:
        _finetune(rep, ft)
    return rep


# --- sections -------------------------------------------------------------------------------

def _main_table(rep: Report, run: BenchRun) -> None:
    cells = _cells(run)
    models = list(run.results.get("models", {})) or list(dict.fromkeys(c["model"] for c in cells))
    by = _by_key(cells)
    t = Table(f"results-{len(rep.tables)}", f"Video-level AUC on the {run.results.get('split')} split ({run.path.name})",
              ["model", "dataset", "preset", "AUC", "95% CI", "vs clean", f"vs {models[0]}" if models else "vs first",
               "AP", "EER", "n (real/fake)", "overlap", "failed (real/fake)", "F1 @ own thr.", "trained on"],
              note="AUC with a bootstrap 95 % interval resampling target identities (a person's real and all its fakes "
                   "together); deltas in AUC points; 'overlap': test videos left out (or flagged) because the model "
                   "trained or validated on them, their person or their clip ('?' = the model's training data is "
                   "unknown); 'F1 @ own thr.': at the threshold the model's own validation chose (0.5 when it "
                   "declares none); 'trained on': whether a fine-tuned model saw this condition in training.")
    for c in cells:
        m = c["metrics"]
        clean = by.get((c["model"], c["dataset"], "clean"))
        d_clean = (m["auc"] - clean["metrics"]["auc"]) if clean and c["preset"] != "clean" and m["auc"] is not None \
            and clean["metrics"]["auc"] is not None else None
        first = by.get((models[0], c["dataset"], c["preset"])) if models else None
        d_first = (m["auc"] - first["metrics"]["auc"]) if first and c["model"] != models[0] and m["auc"] is not None \
            and first["metrics"]["auc"] is not None else None
        seen = {None: "", True: "seen", False: "unseen"}[c.get("seen")]
        auc_cell = num(m["auc"], css=_auc_css(m["auc"]), hint=_ci(c)) if m["auc"] is not None else \
            Cell(m.get("note") or "n/a", None, "warn")
        ov = c.get("overlap") or {}
        n_ov = ov.get("excluded", 0) if ov.get("mode") == "exclude" else ov.get("flagged", 0)
        ov_cell = (Cell("?", None, "warn") if not ov.get("checked") and "unknown" in str(ov.get("why", "")) else
                   Cell("", None) if not ov.get("checked") else
                   Cell(f"{'-' if ov.get('mode') == 'exclude' else 'flagged '}{n_ov}", n_ov, "warn" if n_ov else ""))
        fl = c.get("failures") or {}
        fail_cell = Cell(f"{fl.get('real', 0)}/{fl.get('fake', 0)}", c.get("failed", 0), "bad" if fl.get("flag") else "")
        op = _own_point(c)
        t.add(c["model"], c["dataset"], c["preset"], auc_cell, Cell(_ci(c), _ci(c)),
              num(d_clean, css=_delta_css(d_clean)) if d_clean is not None else Cell("", None),
              num(d_first, css=_delta_css(d_first)) if d_first is not None else Cell("", None),
              num(m["ap"]), num(m["eer"]), Cell(f"{m['n']} ({m['n_real']}/{m['n_fake']})", m["n"]), ov_cell,
              fail_cell, num(op.get("f1")), Cell(seen, seen, seen))
    rep.tables.append(t)
    if any(c.get("per_method") for c in cells):
        pm = Table(f"per-method-{len(rep.tables)}", "AUC per swap method (each method's fakes against all reals)",
                   ["model", "dataset", "preset", "method", "fakes", "AUC"])
        for c in cells:
            for meth, v in sorted((c.get("per_method") or {}).items()):
                pm.add(c["model"], c["dataset"], c["preset"], meth, Cell(str(v.get("fakes")), v.get("fakes")),
                       num(v.get("auc"), css=_auc_css(v.get("auc"))))
        rep.tables.append(pm)


def _own_point(c: dict) -> dict:
    """The operating point the summary uses: the model's own threshold, applied unchanged (what a
    deployment sees), else 0.5."""
    ops = c.get("operating_points") or {}
    own = ops.get("model") or {}
    return own if "f1" in own else ops.get("0.5") or {}


def _handcrafted_warning(rep: Report, run: BenchRun) -> None:
    """The handcrafted baseline (colour histograms + gradient energy) separating a cell is a
    warning that the data has a shortcut a deep detector could learn too."""
    from ..contracts import SHORTCUT_AUC

    kinds = {name: (m or {}).get("kind") for name, m in (run.results.get("models") or {}).items()}
    for c in _cells(run):
        auc = (c.get("metrics") or {}).get("auc")
        if kinds.get(c["model"]) == "handcrafted" and isinstance(auc, (int, float)) and auc >= SHORTCUT_AUC:
            rep.warnings.append(f"{c['model']} (colour histograms + Sobel energy, logistic regression) reaches AUC "
                                f"{auc:.2f} on {c['dataset']} / {c['preset']}: the data may have a shortcut (colour, "
                                "sharpness) that a deep detector could learn instead of the swap")


def _words(rep: Report, run: BenchRun) -> None:
    _handcrafted_warning(rep, run)
    cells = _cells(run)
    by = _by_key(cells)
    models = list(run.results.get("models", {}))
    comparisons = run.results.get("comparisons", [])
    clean_compared = any(x.get("preset") == "clean" for x in comparisons)
    for cmp in comparisons:
        if cmp.get("preset") not in ("clean", None) and clean_compared:
            continue
        c1 = by.get((cmp["model"], cmp["dataset"], cmp["preset"]))
        c0 = by.get((cmp["baseline"], cmp["dataset"], cmp["preset"]))
        if not c1 or not c0 or cmp.get("auc") is None:
            continue
        p = cmp.get("p_holm", cmp.get("delong_p"))
        ci = cmp.get("ci95") or [None, None]
        op1, op0 = _own_point(c1), _own_point(c0)
        rep.summary.append(
            f"On {cmp['dataset']} ({cmp['preset']}), {cmp['model']} reaches AUC {fmt(cmp['auc'])} {_ci(c1)} against "
            f"{cmp['baseline']}'s {fmt(cmp['baseline_auc'])} {_ci(c0)} on the same {cmp['videos']} videos "
            f"(delta {cmp['delta_auc']:+.3f}" + (f", 95 % CI [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci[0] is not None else "")
            + "; Holm-adjusted p = " + fmt_p(p) + "); at their own thresholds, F1 "
            f"{fmt(op1.get('f1'))} against {fmt(op0.get('f1'))}.")
    for model in models:
        for c in cells:
            if c["model"] != model or c["preset"] == "clean" or c["metrics"]["auc"] is None:
                continue
            clean = by.get((model, c["dataset"], "clean"))
            if clean and clean["metrics"]["auc"] is not None and clean["metrics"]["auc"] - c["metrics"]["auc"] >= 0.1:
                rep.summary.append(f"{model} breaks down on {c['dataset']} under {c['preset']}: AUC "
                                   f"{fmt(c['metrics']['auc'])} against {fmt(clean['metrics']['auc'])} clean.")
    for name, s in run.results.get("summary", {}).items():
        if s.get("seen") is not None and s.get("unseen") is not None:
            rep.summary.append(f"{name}: mean AUC {fmt(s['seen'])} on conditions seen in training "
                               f"({s['seen_cells']} cells), {fmt(s['unseen'])} on unseen ones ({s['unseen_cells']}).")
    for key, sc in run.results.get("shortcut", {}).items():
        if sc.get("flagged"):
            rep.warnings.append(f"Shortcut check on {key}: {sc['max_feature']} alone separates reals from fakes with "
                                f"AUC {fmt(sc['max_auc'])}; a detector can look good here for the wrong reason.")
    for c in cells:
        if c["metrics"]["auc"] is None:
            rep.warnings.append(f"{c['model']} / {c['dataset']} / {c['preset']}: {c['metrics'].get('note') or 'no AUC'}.")
        ov, fl = c.get("overlap") or {}, c.get("failures") or {}
        n_ov = ov.get("excluded") or ov.get("flagged") or 0
        if n_ov:
            how = "left out" if ov.get("mode") == "exclude" else "kept and flagged"
            rep.warnings.append(f"{c['model']} / {c['dataset']} / {c['preset']}: {n_ov} video(s) {how} because the "
                                f"model trained or validated on them, their person or their clip ("
                                + ", ".join(f"{k} {v}" for k, v in ov.get("by_reason", {}).items()) + ").")
        if fl.get("flag"):
            rep.warnings.append(f"{c['model']} / {c['dataset']} / {c['preset']}: reals and fakes fail at different "
                                f"rates ({fl['rate_real']:.0%} / {fl['rate_fake']:.0%}); scored 0.5, the failed videos "
                                f"would give AUC {fmt(fl.get('auc_if_scored_05'))}.")
    unknown = sorted({c["model"] for c in cells if "unknown" in str((c.get("overlap") or {}).get("why", ""))})
    if unknown:
        rep.warnings.append(f"Training data unknown for {', '.join(unknown)}: no test video could be checked against "
                            "it (a vcbench checkpoint records it; for other weights put a .training.json beside the "
                            "file).")
    small = sorted({c["metrics"]["n"] for c in cells if c["metrics"]["n"] < SMOKE_N})
    if small:
        rep.warnings.append(f"Smoke scale: cells of {', '.join(map(str, small))} videos (under {SMOKE_N}); the "
                            "intervals are wide and the numbers are a pipeline check, not a result.")
    for name, info in run.results.get("models", {}).items():
        if "untrained" in json.dumps(info.get("provenance", {})):
            rep.warnings.append(f"{name} has untrained weights: its numbers are a pipeline check.")


def _dataset_points(run: BenchRun, dataset: str, field_: str) -> dict[str, float]:
    split = run.results.get("split")
    vals: dict[str, list[float]] = {}
    for f in run.features:
        if f["dataset"] == dataset and f["split"] == split and f.get(field_):
            try:
                vals.setdefault(f["preset"], []).append(float(f[field_]))
            except ValueError:
                continue
    return {p: sum(v) / len(v) for p, v in vals.items()}


def _figures(rep: Report, run: BenchRun) -> None:
    cells = _cells(run)
    for ds in sorted({c["dataset"] for c in cells}):
        mine = [c for c in cells if c["dataset"] == ds]
        presets = list(dict.fromkeys(c["preset"] for c in mine))
        models = list(dict.fromkeys(c["model"] for c in mine))
        auc = {(c["model"], c["preset"]): c["metrics"]["auc"] for c in mine}
        rep.figures.append({"section": "robustness", "title": f"AUC per call condition: {ds}",
                            "svg": F.bar_chart(f"AUC per call condition: {ds}", presets,
                                               {m: [auc.get((m, p)) for p in presets] for m in models}, "AUC")})
        kbps = {p: v / 1000 for p, v in _dataset_points(run, ds, "bitrate").items()}
        height = _dataset_points(run, ds, "height")
        for xs, label, log in ((kbps, "measured bitrate (kbit/s, log scale)", True),
                               (height, "measured picture height (px)", False)):
            if len(set(round(v, 3) for v in xs.values())) < 2:
                continue
            series = {m: [(xs[p], auc.get((m, p))) for p in presets if p in xs and auc.get((m, p)) is not None]
                      for m in models}
            rep.figures.append({"section": "robustness", "title": f"AUC vs {label.split(' (')[0]}: {ds}",
                                "svg": F.line_chart(f"AUC vs {label}: {ds}", series, label, "AUC", xlog=log)})


def _roc(rep: Report, run: BenchRun) -> None:
    import numpy as np

    split = run.results.get("split")
    rows = [r for r in run.predictions if r.get("status") == "ok" and r.get("split") == split]
    for ds in sorted({r["dataset"] for r in rows}):
        presets = list(dict.fromkeys(r["preset"] for r in rows if r["dataset"] == ds))
        preset = "clean" if "clean" in presets else presets[0]
        curves = {}
        for model in dict.fromkeys(r["model"] for r in rows):
            sel = [r for r in rows if (r["model"], r["dataset"], r["preset"]) == (model, ds, preset)]
            y = np.array([int(r["label"]) for r in sel])
            if len(set(y.tolist())) < 2:
                continue
            fpr, tpr, _ = M.roc_curve(y, np.array([float(r["score"]) for r in sel]))
            curves[model] = (list(fpr), list(tpr))
        if curves:
            rep.figures.append({"section": "roc", "title": f"ROC: {ds} ({preset})",
                                "svg": F.roc_chart(f"ROC: {ds} ({preset})", curves)})


def _operating_points(rep: Report, run: BenchRun) -> None:
    t = Table(f"operating-{len(rep.tables)}", "Operating points: the model's own threshold applied unchanged (what "
              "a deployment sees), the threshold tuned on this dataset's val split, and 0.5",
              ["model", "dataset", "preset", "point", "threshold", "from", "precision", "recall", "F1", "FPR",
               "balanced acc.", "TP / FP / TN / FN"])
    for c in _cells(run):
        ops = c.get("operating_points") or {}
        for key, label in (("model", "own"), ("target_val", "tuned on target val"), ("0.5", "0.5")):
            op = ops.get(key) or {}
            if "tp" not in op:
                t.add(c["model"], c["dataset"], c["preset"], label, Cell("", None), op.get("from", ""),
                      *[Cell("", None)] * 6)
                continue
            t.add(c["model"], c["dataset"], c["preset"], label, num(op.get("threshold"), 4), op.get("from", ""),
                  num(op.get("precision")), num(op.get("recall")), num(op.get("f1")), num(op.get("fpr")),
                  num(op.get("balanced_accuracy")),
                  Cell(f"{op['tp']} / {op['fp']} / {op['tn']} / {op['fn']}", op["tp"]))
    rep.tables.append(t)
    pr = {}
    for c in _cells(run):
        if c["preset"] == "clean" and c.get("pr_curve"):
            pr.setdefault(c["dataset"], {})[c["model"]] = ([p[0] for p in c["pr_curve"]], [p[1] for p in c["pr_curve"]])
    for ds, curves in sorted(pr.items()):
        rep.figures.append({"section": "roc", "title": f"Precision-recall: {ds} (clean)",
                            "svg": F.roc_chart(f"Precision-recall: {ds} (clean)", curves, ("recall", "precision"),
                                               diagonal=False)})


def _explained(rep: Report, run: BenchRun) -> None:
    """benchmark --explain: each cell's hits and misses with the strip of their most fake window,
    read from the run's explain/index.json (scaled to 96 px rows, JPEG data URIs)."""
    from .gallery import strip_uri

    index_file = Path(run.path) / "explain" / "index.json"
    if not index_file.is_file():
        return
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
        entries = [e for e in index.get("entries", []) if isinstance(e, dict)]
    except (OSError, ValueError, AttributeError) as e:
        rep.warnings.append(f"{index_file}: unreadable ({e}); no heatmap gallery")
        return
    cells: dict[tuple, dict] = {}
    for e in entries:
        key = (e.get("model"), e.get("dataset"), e.get("preset"))
        c = cells.setdefault(key, {"model": key[0], "dataset": key[1], "preset": key[2],
                                   "threshold": float(e.get("threshold", 0.5)),
                                   "threshold_from": e.get("threshold_from", ""), "items": []})
        c["items"].append({"kind": e.get("kind"), "video_id": e.get("video_id"), "label": e.get("label"),
                           "score": float(e.get("score", float("nan"))),
                           "img": strip_uri(Path(run.path) / e["most"]) if e.get("most") else None})
    rep.explained.extend(cells[k] for k in sorted(cells, key=lambda k: tuple(str(x) for x in k)))
    pairs: dict[tuple, dict] = {}
    for e in index.get("pairs", []) if isinstance(index.get("pairs"), list) else []:
        if not isinstance(e, dict) or e.get("side") not in ("real", "fake"):
            continue
        g = pairs.setdefault((e.get("model"), e.get("dataset")), {"model": e.get("model"), "dataset": e.get("dataset"),
                                                                  "presets": [], "real": {}, "fake": {}, "ids": {}})
        if e.get("preset") not in g["presets"]:
            g["presets"].append(e.get("preset"))
        g[e["side"]][e.get("preset")] = {"img": strip_uri(Path(run.path) / e["strip"]) if e.get("strip") else None,
                                         "score": float(e.get("score", float("nan"))), "frames": e.get("frames") or []}
        g["ids"][e["side"]] = e.get("video_id")
    rep.explained_pairs.extend(pairs[k] for k in sorted(pairs, key=lambda k: tuple(str(x) for x in k)))


def _time_to_alarm(rep: Report, run: BenchRun) -> None:
    """benchmark --streaming: how long a live fake lasts before the alarm, at each threshold."""
    cells = [c for c in _cells(run) if c.get("streaming")]
    if not cells:
        return
    st0 = cells[0]["streaming"]
    t = Table(f"time-to-alarm-{len(rep.tables)}", "Time to alarm: seconds into the call before a fake raises the alarm",
              ["model", "dataset", "preset", "threshold", "from", "caught", "median (s)", "95% CI", "p90 (s)",
               "within 2 s", "within 5 s", "within 10 s", "false alarms / h"],
              note=f"A window every {st0['stride']} frames of a face track, the alarm when the mean of the last "
                   f"{st0['smooth']} window scores reaches the threshold; 'val budget': the lowest threshold whose val "
                   f"reals stay within {st0['false_alarms_per_hour_budget']:g} false alarm(s) per hour; 'missed': "
                   "never within the video; intervals resample target identities.")
    for c in cells:
        st = c["streaming"]
        for key, label in (("val_budget", "val budget"), ("model", "own")):
            a = st["at"].get(key)
            if a is None:
                t.add(c["model"], c["dataset"], c["preset"], Cell("", None), label + ": " + str(
                    st["thresholds"][key].get("why") or st["thresholds"][key].get("from", "")), *[Cell("", None)] * 8)
                continue
            ci = a.get("tta_median_ci95") or [None, None]
            within = a.get("caught_within", {})
            t.add(c["model"], c["dataset"], c["preset"], num(a["threshold"], 4), label,
                  Cell(f"{a['caught']}/{a['fakes']}", a["caught"]),
                  num(a.get("tta_median_s"), 2) if a.get("tta_median_s") is not None else Cell("missed", None, "bad"),
                  Cell(f"[{fmt(ci[0], 2)}, {'missed' if ci[1] is None else fmt(ci[1], 2)}]" if ci[0] is not None
                       else "", None),
                  num(a.get("tta_p90_s"), 2) if a.get("tta_p90_s") is not None else Cell("missed", None, "warn"),
                  num(within.get("2")), num(within.get("5")), num(within.get("10")),
                  num(a.get("false_alarms_per_hour"), 2))
    rep.tables.append(t)
    for ds, preset in dict.fromkeys((c["dataset"], c["preset"]) for c in cells):
        mine = [c for c in cells if (c["dataset"], c["preset"]) == (ds, preset)]
        curves = {c["model"]: c["streaming"]["at"]["val_budget"]["curve"] for c in mine
                  if "val_budget" in c["streaming"]["at"] and c["streaming"]["at"]["val_budget"].get("curve")}
        xmax = max([p[0] for cv in curves.values() for p in cv] + [1.0])
        if curves:
            rep.figures.append({"section": "streaming", "title": f"Share of fakes caught vs seconds into the call: {ds} "
                                f"({preset})", "svg": F.step_chart(f"Fakes caught vs seconds: {ds} ({preset})", curves,
                                                                   "seconds into the call", "share of fakes caught",
                                                                   xmax)})


def _comparisons(rep: Report, run: BenchRun) -> None:
    comps = run.results.get("comparisons", [])
    if not comps:
        return
    t = Table(f"paired-{len(rep.tables)}", "Paired comparisons on the same videos",
              ["model", "baseline", "dataset", "preset", "videos (identities)", "AUC", "baseline AUC", "delta",
               "95% CI", "p", "p (Holm)", "DeLong p"],
              note="delta AUC with an interval and p-value from a paired bootstrap resampling target identities (a "
                   "person's real and all its fakes move together); p (Holm) adjusts for every comparison of the run; "
                   "DeLong's test assumes independent videos and is shown for reference.")
    for c in comps:
        ci = c.get("ci95") or [None, None]
        t.add(c["model"], c["baseline"], c["dataset"], c["preset"],
              Cell(f"{c['videos']} ({c.get('clusters', '?')})", c["videos"]),
              num(c.get("auc")), num(c.get("baseline_auc")), num(c.get("delta_auc"), css=_delta_css(c.get("delta_auc"))),
              Cell(f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci[0] is not None else "", ci[0]),
              Cell(fmt_p(c.get("p")), c.get("p")), Cell(fmt_p(c.get("p_holm")), c.get("p_holm")),
              Cell(fmt_p(c.get("delong_p")), c.get("delong_p")))
    rep.tables.append(t)


def _datasets(rep: Report, run: BenchRun, thumbs: bool) -> None:
    cfg = run.results.get("config", {})
    sc = Table(f"shortcut-{len(rep.tables)}", "Shortcut check: AUC of each file feature alone (flag above 0.7)",
               ["dataset / preset", "file size", "bitrate", "width", "height", "frames", "duration", "codec",
                "flagged"])
    for key, s in run.results.get("shortcut", {}).items():
        a = s.get("auc", {})
        sc.add(key, *[num(a.get(k), css="bad" if (a.get(k) or 0) > 0.7 else "") for k in
                      ("file_size", "bitrate", "width", "height", "frames", "duration", "codec")],
               Cell("yes" if s.get("flagged") else "no", bool(s.get("flagged")), "bad" if s.get("flagged") else ""))
    if sc.rows:
        rep.tables.append(sc)
    presets, described = _context(rep, run)
    if presets is not None:
        _presets_table(rep, run, presets)
    for name in cfg.get("dataset", []):
        card = {"name": name, "lines": [], "missing": ""}
        d = described.get(name)
        if not isinstance(d, dict):
            card["missing"] = f"dataset {name!r} could not be read ({d or 'not recorded'})"
            rep.cards.append(card)
            continue
        t = Table(f"dataset-{name}-{len(rep.tables)}", f"Dataset {name}: videos by split, label and method",
                  ["split", "method", "real", "fake", "identities"])
        for split, meth, real, fake, ids in d.get("groups", []):
            t.add(split, meth, Cell(str(real), real), Cell(str(fake), fake), Cell(str(ids), ids))
        rep.tables.append(t)
        card["table"] = t.key
        card["lines"].append(f"{d.get('kind')} dataset at {d.get('root')}: {d.get('videos')} videos")
        q = d.get("quality")
        if q:
            def mean(k, nd=3):
                return "n/a" if q.get(k) is None else f"{q[k]:.{nd}f}"
            card["lines"].append(f"generation quality over {q.get('fakes')} fakes: swapped fraction {mean('swapped_fraction')}, "
                                 f"face PSNR {mean('face_psnr')} dB, face SSIM {mean('face_ssim')}, identity "
                                 f"similarity to the source {mean('id_sim_fake')}")
        g = d.get("generated")
        if g:
            card["lines"].append(f"generated with swapper {g.get('swapper')}, face backend {g.get('face_backend')}, "
                                 f"presets {', '.join(g.get('presets') or [])}")
        if d.get("note"):                     # its maker's word on what its numbers mean
            card["lines"].append(f"note: {d['note']}")
            rep.warnings.append(f"dataset {name}: {d['note']}")
        rep.cards.append(card)
        if thumbs and presets is not None:
            _gallery(rep, run, _Recorded(d), presets)
        elif thumbs:
            rep.gallery_notes.append(f"{name}: no thumbnails (the presets could not be read)")


class _Recorded:
    """A dataset as the run recorded it (context.json): its name, the evaluated split's records, paths."""

    def __init__(self, d: dict):
        from ..contracts import VideoRecord

        self.name = d["name"]
        self.records = [VideoRecord.from_context(r) for r in d.get("records", [])]

    @staticmethod
    def abspath(rec) -> Path:
        return Path(rec.path)


def _context(rep: Report, run: BenchRun):
    """(presets by name or None, dataset descriptions by name): from the run's context.json; a run
    made before vcbench recorded it is described from today's datasets.toml and presets, and the
    report says so."""
    from ..conference.presets import load_presets, preset_from_json

    cfg = run.results.get("config", {})
    if run.context is not None:
        try:
            presets = {n: preset_from_json(v["settings"]) for n, v in run.context.get("presets", {}).items()}
        except (TypeError, KeyError) as e:
            rep.warnings.append(f"{run.path}/context.json: a preset could not be read ({e}); settings not shown")
            presets = None
        return presets, run.context.get("datasets", {})
    rep.warnings.append(f"{run.path}: no context.json (the run predates it): its datasets and call conditions are "
                        "described from today's datasets.toml and presets, which may have changed since")
    try:
        presets = load_presets(cfg.get("presets"))
    except Exception as e:  # noqa: BLE001 - the report goes on without the presets' settings
        rep.warnings.append(f"presets could not be read ({str(e)[:160]}); their settings are not shown")
        presets = None
    described: dict = {}
    for name in cfg.get("dataset", []):
        try:
            from ..datasets import get_dataset
            from ..datasets.base import describe

            described[name] = describe(get_dataset(name, cfg.get("datasets")), run.results.get("split"))
        except Exception as e:  # noqa: BLE001 - a card says what it could not read; the report goes on
            described[name] = f"here: {str(e).splitlines()[0][:200]}"
    return presets, described


def _presets_table(rep: Report, run: BenchRun, presets: dict) -> None:
    cfg = run.results.get("config", {})
    t = Table(f"presets-{len(rep.tables)}", "Call conditions: settings and sources",
              ["preset", "codec", "size", "fps", "kbit/s", "loss", "camera", "sources"])
    for name in cfg.get("preset", []):
        p = presets.get(name)
        if p is None:
            continue
        cam = ", ".join(k for k in ("noise_sigma", "exposure_drift", "wb_drift", "lowlight", "mjpeg_quality",
                                    "background_blur", "touchup") if getattr(p, k))
        t.add(name, p.codec, f"{p.width}x{p.height}" if p.height else "as input", f"{p.fps:g}" if p.fps else "as input",
              Cell(str(p.bitrate_kbps or ""), p.bitrate_kbps or None), Cell(f"{p.loss:g}", p.loss), cam or "-",
              "; ".join(p.sources)[:300])
    rep.tables.append(t)


def _gallery(rep: Report, run: BenchRun, ds, presets: dict) -> None:
    from ..conference.renditions import pair_seed, rendition_path
    from ..errors import VcbenchError
    from .gallery import thumbnail

    from ..datasets.base import gallery_pair, held_condition

    cfg = run.results.get("config", {})
    split = run.results.get("split")
    pair = gallery_pair(ds.records, split)
    if pair is None:
        rep.gallery_notes.append(f"{ds.name}: no real/fake pair in the {split} split to show")
        return
    real, fake = pair
    row = {"dataset": ds.name, "real": real.video_id, "fake": fake.video_id, "items": [], "timelines": []}
    windows = _pair_windows(rep, run, ds.name, (real.video_id, fake.video_id))
    if not windows:
        rep.gallery_notes.append(f"{ds.name}: no per-window scores for the pair's score timelines (they come with "
                                 "benchmark --streaming)")
    for pname in cfg.get("preset", []):
        item = {"preset": pname}
        for side, rec in (("real", real), ("fake", fake)):
            # a generated dataset holds the condition itself: the same video (target, source, method) under it
            own = held_condition(ds.records, rec, pname)
            if pname == "clean":
                path = ds.abspath(rec)
            elif own is not None:
                path = ds.abspath(own)
            else:
                path = rendition_path(ds.abspath(rec), presets[pname],
                                      pair_seed(cfg.get("seed", 0), rec.pair_id or rec.video_id, pname),
                                      cfg.get("engine", "ffmpeg"))
            item[f"{side}_path"] = path
            try:
                item[side] = thumbnail(path, cfg.get("face_backend", "mediapipe"),
                                       Path(cfg["cache_dir"]) if cfg.get("cache_dir") else None)
            except (VcbenchError, OSError) as e:
                item[side] = None
                rep.gallery_notes.append(f"{ds.name} / {pname} / {side}: {str(e).splitlines()[0][:200]}")
        if windows:
            svg = _pair_timeline(ds.name, pname, windows, real.video_id, fake.video_id, item.get("fake_path"))
            if svg:
                row["timelines"].append({"preset": pname, "svg": svg})
        item.pop("real_path", None)
        item.pop("fake_path", None)
        row["items"].append(item)
    rep.gallery.append(row)


def _pair_windows(rep: Report, run: BenchRun, dataset: str, video_ids: tuple[str, ...]) -> list[dict]:
    """The pair's rows of the run's windows.jsonl (a ``--streaming`` run), else []; a damaged file
    is said in the report's warnings (once), never silently drawn without its timelines."""
    from ..contracts import WINDOWS_FILE, read_windows, torn_tail
    from ..errors import VcbenchError
    from ..fileio import error_line

    path = Path(run.path) / WINDOWS_FILE
    try:
        rows = read_windows(path)
        cut = path.is_file() and torn_tail(path)
    except (VcbenchError, OSError) as e:
        _warn_once(rep, f"{error_line(e)}: the score timelines are left out")
        return []
    if cut:
        _warn_once(rep, f"{path}: its last line is cut short (a killed run); that video's timeline is missing")
    return [w for w in rows if w.get("dataset") == dataset and w.get("video_id") in video_ids]


def _warn_once(rep: Report, line: str) -> None:
    """A damaged run file, said once in the report and to its command (which then exits 1)."""
    if line not in rep.warnings:
        rep.warnings.append(line)
        rep.damaged.append(line)


def _pair_timeline(dataset: str, preset: str, windows: list[dict], real_id: str, fake_id: str, fake_path) -> str:
    """Score vs time of the real and the fake under one condition, every model, with the events of
    the fake's call (the pair shares its seed: the same losses hit both)."""
    from ..contracts import call_event_marks, read_call_events
    from ..errors import VcbenchError

    series: dict[str, list] = {}
    xmax, fps = 0.0, None
    for model in sorted({w["model"] for w in windows if w.get("preset") == preset}):
        for side, vid in (("fake", fake_id), ("real", real_id)):
            w = next((x for x in windows if (x["model"], x["preset"], x["video_id"]) == (model, preset, vid)), None)
            if w is None or not w.get("fps"):
                continue
            fps = fps or float(w["fps"])
            best: dict[int, float] = {}
            for ws in w["tracks"].values():
                for start, prob in ws:
                    end = int(start) + int(w["clip_len"]) - 1
                    best[end] = max(best.get(end, 0.0), float(prob))
            series[f"{model} ({side})"] = [(end / float(w["fps"]), p) for end, p in sorted(best.items())]
            xmax = max(xmax, int(w["frames"]) / float(w["fps"]))
    if not series:
        return ""
    marks: dict[str, list[float]] = {}
    try:
        events = read_call_events(fake_path) if fake_path is not None else None
    except (VcbenchError, OSError):
        events = None
    if events and fps:
        marks = {k: [f / fps for f in v] for k, v in call_event_marks(events, fps).items()}
    return F.timeline_chart(f"{dataset} / {preset}: score over time", series, marks, xmax)


def _finetune(rep: Report, ft: FinetuneRun) -> None:
    run = ft.run
    loss = [(r["step"], r["loss"]) for r in ft.metrics if "loss" in r]
    auc = [(r["step"], r["val_auc"]) for r in ft.metrics if r.get("val_auc") is not None]
    figs = []
    if loss:
        hi = max(v for _, v in loss)
        figs.append(F.line_chart(f"training loss: {ft.name}", {"loss": loss}, "step", "BCE loss",
                                 ylim=(0.0, max(0.1, round(hi * 1.1 + 0.05, 1)))))
    if auc:
        figs.append(F.line_chart(f"val AUC: {ft.name}", {"val AUC": auc}, "step", "video AUC"))
    cfg = run.get("config", {})
    rep.finetune.append({
        "name": ft.name, "path": str(ft.path), "figures": figs, "note": run.get("note"),
        "facts": [("model", run.get("model")), ("initial weights", run.get("initial_weights")),
                  ("freezing", run.get("freezing")), ("augmentation", (run.get("augment") or {}).get("name")),
                  ("presets seen", ", ".join(run.get("presets_seen", []))),
                  ("methods seen", ", ".join(run.get("methods_seen", []))),
                  ("steps", f"{run.get('steps_done')} of {cfg.get('steps')} ({run.get('status')})"),
                  ("best val AUC", f"{fmt(run.get('best_val_auc'))} at step {run.get('best_step')}"),
                  ("videos", json.dumps(run.get("videos", {}))),
                  ("skipped", str(len(run.get("skipped_before_training", [])) + len(run.get("decode_failures", []))))]})
    rep.provenance.append({"what": f"fine-tuning {ft.path}", "json": json.dumps(
        {k: run.get(k) for k in ("config", "datasets", "augment", "hardware", "software", "seconds")}, indent=1)})
    if run.get("note"):
        rep.warnings.append(f"fine-tuning run {ft.name}: {run['note']}")


# --- rendering --------------------------------------------------------------------------------

def render_html(rep: Report) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("vcbench.reports", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    from markupsafe import Markup

    return env.get_template("report.html").render(rep=rep, svg=Markup)


def _refuse_overwrites(folders: list, out: Path) -> None:
    """The page and its tables folder leave the run folders they read, and every file in them, alone."""
    from ..fileio import refuse_overwrites

    inputs = {f"{p.name} of {f}": p for f in map(Path, folders) if f.is_dir() for p in f.iterdir() if p.is_file()}
    inputs.update({f"the run folder {f}": f for f in map(Path, folders)})
    refuse_overwrites(inputs, {"-o": out, "the tables folder": out.parent / f"{out.stem}_tables"})


def write_report(runs: list, finetunes: list, out: str | Path, title: str | None = None, thumbs: bool = True,
                 damaged: list | None = None) -> Path:
    """Render ``out`` (HTML) and ``<out stem>_tables/`` (CSV, Markdown, LaTeX of every table).
    ``damaged`` hears of each run file the report could read only in part (also in its warnings)."""
    bench = [load_bench(p) for p in runs]
    fts = [load_finetune(p) for p in finetunes]
    if not bench and not fts:
        from ..errors import ConfigError

        raise ConfigError("nothing to report: give benchmark run folders and/or --finetune run folders")
    check_model_names(bench)
    out = Path(out)
    _refuse_overwrites([*runs, *finetunes], out)
    try:
        rep = build(bench, fts, title or "vcbench report", thumbs)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        from ..contracts import RunFileError

        where = ", ".join(str(r.path) for r in [*bench, *fts])
        raise RunFileError(f"{where}: a run file holds something this vcbench cannot read "
                           f"({type(e).__name__}: {str(e)[:160]}); re-run the stage that wrote it") from None
    html = render_html(rep)
    from ..fileio import TEXT, atomic_folder, safe_name

    # the tables folder is made whole beside the page, then both are renamed in; table names come
    # from dataset and model names, made safe so none can write outside the folder
    with atomic_folder(out.parent / f"{out.stem}_tables") as tdir:
        for t in rep.tables:
            for ext, fn in (("csv", to_csv), ("md", to_markdown), ("tex", to_latex)):
                (tdir / f"{safe_name(t.key)}.{ext}").write_text(fn(t), **TEXT)
        with atomic_path(out) as tmp:
            tmp.write_text(html, **TEXT)
    if damaged is not None:
        damaged.extend(rep.damaged)
    return out
