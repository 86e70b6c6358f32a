"""Report tables: one structure, four renderings (HTML via the template, CSV, Markdown, LaTeX booktabs).

A cell holds its exact value (what results.json says) and the text shown; the HTML keeps the
exact value in ``data-value`` so any number on the page can be checked against the JSON.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field


@dataclass
class Cell:
    text: str
    value: float | str | None = None
    css: str = ""           # good / bad / warn / seen / unseen
    hint: str = ""          # shown on hover and in print (intervals)


@dataclass
class Table:
    key: str                # file-name stem of its exports
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""

    def add(self, *cells) -> None:
        self.rows.append([c if isinstance(c, Cell) else Cell("" if c is None else str(c), c) for c in cells])

    def plain(self) -> list[list[str]]:
        return [[c.text + (f" {c.hint}" if c.hint else "") for c in r] for r in self.rows]


def fmt(v, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def num(v, digits: int = 3, css: str = "", hint: str = "") -> Cell:
    return Cell(fmt(v, digits), v, css, hint)


def to_csv(t: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(t.columns)
    for r in t.rows:
        w.writerow(["" if c.value is None else c.value for c in r])
    return buf.getvalue()


def to_markdown(t: Table) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = [f"**{esc(t.title)}**", "", "| " + " | ".join(map(esc, t.columns)) + " |",
             "|" + "|".join("---" for _ in t.columns) + "|"]
    lines += ["| " + " | ".join(esc(x) for x in r) + " |" for r in t.plain()]
    if t.note:
        lines += ["", esc(t.note)]
    return "\n".join(lines) + "\n"


_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def tex(s: str) -> str:
    return re.sub(r"[&%$#_{}~^\\]", lambda m: _TEX[m.group()], s)


def to_latex(t: Table) -> str:
    cols = "l" * min(3, len(t.columns)) + "r" * max(0, len(t.columns) - 3)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex(t.title)}}}", rf"\begin{{tabular}}{{{cols}}}",
             r"\toprule", " & ".join(tex(c) for c in t.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(tex(x) for x in r) + r" \\" for r in t.plain()]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
