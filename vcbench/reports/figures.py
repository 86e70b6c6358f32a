"""Inline SVG figures, written as text: no plotting library, no JavaScript, nothing fetched.

Each function takes plain numbers and returns one ``<svg>`` element whose every label is
escaped; colours come from one palette so a model keeps its colour across figures.
"""
from __future__ import annotations

import math
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
W, H, ML, MR, MT, MB = 460, 280, 52, 130, 18, 42


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _frame(title: str, xlabel: str, ylabel: str, body: list[str], xticks, yticks) -> str:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" fill="#fff" stroke="#999"/>']
    for x, label in xticks:
        out.append(f'<line x1="{x:.1f}" y1="{H - MB}" x2="{x:.1f}" y2="{H - MB + 4}" stroke="#999"/>'
                   f'<text x="{x:.1f}" y="{H - MB + 15}" font-size="10" text-anchor="middle">{escape(label)}</text>')
    for y, label in yticks:
        out.append(f'<line x1="{ML - 4}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{ML - 6}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{escape(label)}</text>')
    out.append(f'<text x="{(ML + W - MR) / 2:.0f}" y="{H - 6}" font-size="11" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text x="12" y="{(MT + H - MB) / 2:.0f}" font-size="11" text-anchor="middle" '
               f'transform="rotate(-90 12 {(MT + H - MB) / 2:.0f})">{escape(ylabel)}</text>')
    out += body
    out.append("</svg>")
    return "".join(out)


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, n in enumerate(names):
        y = MT + 10 + 16 * i
        out.append(f'<rect x="{W - MR + 8}" y="{y - 8}" width="10" height="10" fill="{colour(i)}"/>'
                   f'<text x="{W - MR + 22}" y="{y + 1}" font-size="10">{escape(n[:18])}</text>')
    return out


def _yscale(lo: float, hi: float):
    return lambda v: H - MB - (v - lo) / (hi - lo) * (H - MT - MB)


def line_chart(title: str, series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str,
               xlog: bool = False, ylim: tuple[float, float] = (0.0, 1.0)) -> str:
    """One line per series over (x, y) points; ``xlog`` for bitrates; a point is a dot with its value."""
    pts = [p for s in series.values() for p in s if p[0] is not None and p[1] is not None]
    if not pts:
        return ""
    xs = [math.log10(max(p[0], 1e-9)) if xlog else p[0] for p in pts]
    x0, x1 = min(xs), max(xs)
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 1, x1 + 1
    fx = lambda v: ML + 10 + ((math.log10(max(v, 1e-9)) if xlog else v) - x0) / (x1 - x0) * (W - ML - MR - 20)  # noqa: E731
    fy = _yscale(*ylim)
    body = []
    for i, (name, s) in enumerate(series.items()):
        s = sorted((p for p in s if p[0] is not None and p[1] is not None), key=lambda p: p[0])
        if len(s) > 1:
            body.append(f'<polyline fill="none" stroke="{colour(i)}" stroke-width="2" points="'
                        + " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in s) + '"/>')
        for x, y in s:
            body.append(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="3" fill="{colour(i)}">'
                        f'<title>{escape(name)}: {y:.3f} at {x:g}</title></circle>')
    if xlog:                               # 1-2-5 steps per decade inside the data's range
        lo, hi = 10 ** x0, 10 ** x1
        vals = [m * 10 ** e for e in range(math.floor(x0) - 1, math.ceil(x1) + 1) for m in (1, 2, 5)]
        vals = [v for v in vals if lo * 0.999 <= v <= hi * 1.001]
        if len(vals) < 3:
            vals = sorted({round_sig(p[0]) for p in pts})
        xticks = [(fx(v), tick_label(v)) for v in vals]
    else:
        xticks = [(fx(v), tick_label(v)) for v in nice_ticks(x0, x1)]
    yticks = [(fy(v), f"{v:.1f}") for v in _ticks(*ylim)]
    return _frame(title, xlabel, ylabel, body + _legend(list(series)), xticks, yticks)


def bar_chart(title: str, groups: list[str], series: dict[str, list[float | None]], ylabel: str,
              ylim: tuple[float, float] = (0.0, 1.0)) -> str:
    """Grouped bars: one group per ``groups`` entry, one bar per series; a missing value is no bar."""
    if not groups or not series:
        return ""
    fy = _yscale(*ylim)
    gw = (W - ML - MR) / len(groups)
    bw = gw * 0.8 / max(1, len(series))
    body = []
    for i, (name, vals) in enumerate(series.items()):
        for g, v in enumerate(vals):
            if v is None:
                continue
            x = ML + g * gw + gw * 0.1 + i * bw
            y = fy(max(ylim[0], min(ylim[1], v)))
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{H - MB - y:.1f}" fill="{colour(i)}">'
                        f'<title>{escape(name)} / {escape(groups[g])}: {v:.3f}</title></rect>')
    xticks = [(ML + (g + 0.5) * gw, groups[g][:14]) for g in range(len(groups))]
    yticks = [(fy(v), f"{v:.1f}") for v in _ticks(*ylim)]
    return _frame(title, "", ylabel, body + _legend(list(series)), xticks, yticks)


def roc_chart(title: str, curves: dict[str, tuple[list[float], list[float]]],
              labels: tuple[str, str] = ("false positive rate", "true positive rate"), diagonal: bool = True) -> str:
    """Curves on the unit square: ROC (FPR, TPR) with the chance diagonal, or with ``labels`` and
    no diagonal any other rate-against-rate curve (precision-recall)."""
    if not curves:
        return ""
    fx = lambda v: ML + v * (W - ML - MR)  # noqa: E731
    fy = _yscale(0.0, 1.0)
    body = [f'<line x1="{fx(0):.1f}" y1="{fy(0):.1f}" x2="{fx(1):.1f}" y2="{fy(1):.1f}" stroke="#bbb" '
            'stroke-dasharray="4 3"/>'] if diagonal else []
    for i, (name, (fpr, tpr)) in enumerate(curves.items()):
        body.append(f'<polyline fill="none" stroke="{colour(i)}" stroke-width="2" points="'
                    + " ".join(f"{fx(a):.1f},{fy(b):.1f}" for a, b in zip(fpr, tpr)) + '"/>')
    ticks = [(v, f"{v:.1f}") for v in _ticks(0, 1)]
    return _frame(title, labels[0], labels[1], body + _legend(list(curves)),
                  [(fx(v), s) for v, s in ticks], [(fy(v), s) for v, s in ticks])


def step_chart(title: str, series: dict[str, list[list[float]]], xlabel: str, ylabel: str, xmax: float) -> str:
    """Cumulative step curves from (x, y) jumps, held to ``xmax`` (time to alarm: the share of fakes
    caught by each second; a curve that stops short of 1 is the share never caught)."""
    if not series or xmax <= 0:
        return ""
    fx = lambda v: ML + min(v, xmax) / xmax * (W - ML - MR)  # noqa: E731
    fy = _yscale(0.0, 1.0)
    body = []
    for i, (name, pts) in enumerate(series.items()):
        path, y = [(0.0, 0.0)], 0.0
        for x, v in pts:
            path += [(x, y), (x, v)]
            y = v
        path.append((xmax, y))
        body.append(f'<polyline fill="none" stroke="{colour(i)}" stroke-width="2" points="'
                    + " ".join(f"{fx(a):.1f},{fy(b):.1f}" for a, b in path) + f'"><title>{escape(name)}: '
                    f'{y:.0%} caught</title></polyline>')
    return _frame(title, xlabel, ylabel, body + _legend(list(series)),
                  [(fx(v), tick_label(v)) for v in nice_ticks(0, xmax)], [(fy(v), f"{v:.1f}") for v in _ticks(0, 1)])


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = (hi - lo) / n
    return [lo + k * step for k in range(n + 1)]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` ticks at a 1, 2 or 5 x 10^k step inside [lo, hi] (0, 250, 500, not 0, 236.7)."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10)), key=lambda st: abs((hi - lo) / st - n))
    first = math.ceil(lo / step - 1e-9) * step
    out, k = [], 0
    while first + k * step <= hi + 1e-9 * step:
        out.append(round(first + k * step, 12))
        k += 1
    return out


def round_sig(v: float, digits: int = 3) -> float:
    """``v`` to ``digits`` significant digits (174.343 -> 174, 1183.62 -> 1180)."""
    if v == 0 or not math.isfinite(v):
        return v
    return round(v, digits - 1 - math.floor(math.log10(abs(v))))


def tick_label(v: float) -> str:
    """A tick's text: at most 3 significant digits, no exponent below a million, no trailing zeros."""
    r = round_sig(v)
    if abs(r) >= 1e6 or (r != 0 and abs(r) < 1e-3):
        return f"{r:.3g}"
    return f"{r:.6f}".rstrip("0").rstrip(".") if r != int(r) else str(int(r))



#: call event kind -> (colour, label) of its tick under a score timeline
EVENT_STYLE = {"freeze": ("#1f77b4", "freeze"), "keyframe": ("#e0a800", "keyframe"),
               "resolution": ("#9467bd", "resolution switch"), "loss": ("#d62728", "packets lost")}


def timeline_chart(title: str, series: dict[str, list[tuple[float, float]]], marks: dict[str, list[float]],
                   xmax: float, threshold: float | None = None) -> str:
    """Score vs seconds into the video, a line per series (a model on the real or the fake), the
    call's events as ticks along the bottom (freezes, keyframes, resolution switches), the
    threshold dashed."""
    if not series or xmax <= 0:
        return ""
    fx = lambda v: ML + min(max(v, 0.0), xmax) / xmax * (W - ML - MR)  # noqa: E731
    fy = _yscale(0.0, 1.0)
    body = []
    if threshold is not None:
        body.append(f'<line x1="{ML}" y1="{fy(threshold):.1f}" x2="{W - MR}" y2="{fy(threshold):.1f}" '
                    f'stroke="#888" stroke-dasharray="4 3"><title>threshold {threshold:.3f}</title></line>')
    for kind, times in marks.items():
        c, label = EVENT_STYLE.get(kind, ("#444", kind))
        for t in times:
            body.append(f'<line x1="{fx(t):.1f}" y1="{H - MB - 9}" x2="{fx(t):.1f}" y2="{H - MB}" stroke="{c}" '
                        f'stroke-width="2"><title>{escape(label)} at {t:.2f} s</title></line>')
    for i, (name, pts) in enumerate(series.items()):
        pts = sorted(pts)
        dash = ' stroke-dasharray="5 3"' if name.endswith("(real)") else ""
        if len(pts) > 1:
            body.append(f'<polyline fill="none" stroke="{colour(i // 2)}" stroke-width="1.5"{dash} points="'
                        + " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in pts) + f'"><title>{escape(name)}</title>'
                        '</polyline>')
    legend = _legend(list(series))
    legend = [seg.replace(f'fill="{colour(i)}"', f'fill="{colour(i // 2)}"', 1) for i, seg in enumerate(legend)]
    kinds = [k for k in marks if marks[k]]
    for j, kind in enumerate(kinds):
        c, label = EVENT_STYLE.get(kind, ("#444", kind))
        y = MT + 10 + 16 * (len(series) + j)
        legend.append(f'<rect x="{W - MR + 8}" y="{y - 8}" width="3" height="10" fill="{c}"/>'
                      f'<text x="{W - MR + 22}" y="{y + 1}" font-size="10">{escape(label)}</text>')
    return _frame(title, "seconds into the video", "p(fake), per window", body + legend,
                  [(fx(v), tick_label(v)) for v in nice_ticks(0, xmax)], [(fy(v), f"{v:.1f}") for v in _ticks(0, 1)])
