"""vcbench report: one self-contained HTML file whose numbers are results.json's, checked in a parser
and in headless Chromium."""
from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser

import pytest

from vcbench.cli import cli

from conftest import make_video, write_toml

DETECTOR = '''
from pathlib import Path

def predict(video_path):
    n = int(Path(video_path).stem.split("_")[-1]) if Path(video_path).parent.name in ("real", "fake") else 3
    return (0.6 + 0.05 * n) if "fake" in str(video_path) else (0.2 + 0.1 * n)
'''


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """A benchmark run on real encoded videos: a bring-your-own detector and chance, two conditions."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("rep")
    mp = pytest.MonkeyPatch()
    mp.setenv("VCBENCH_CACHE", str(root / "vcache"))
    ds = root / "calls"
    split = {"test": [], "val": [], "train": []}
    for label in ("real", "fake"):
        for k in range(6):
            make_video(ds / label / f"{label}_{k}.mp4", frames=12, size="96x72",
                       extra=["-vf", f"hue=h={20 * k + (90 if label == 'fake' else 0)}"])
            split["test" if k < 4 else "val"].append(f"{label}_{k}")
    (ds / "split.json").write_text(json.dumps(split))
    toml = write_toml(root / "d.toml", f'[datasets.calls]\nkind = "folder"\nroot = "{ds}"\n'
                                       f'split_file = "{ds / "split.json"}"\n')
    det = root / "mine.py"
    det.write_text(DETECTOR)
    out = root / "run"
    r = CliRunner().invoke(cli, ["benchmark", "--model", f"mine={det}", "--model", "chance", "--dataset", "calls",
                                 "--datasets", str(toml), "--preset", "clean,zoom-360p", "--out", str(out),
                                 "--bootstrap", "200", "--device", "cpu", "--cache-dir", str(root / "faces")])
    assert r.exit_code == 0, r.output
    ft = root / "ft"
    ft.mkdir()
    (ft / "run.json").write_text(json.dumps({
        "format": "vcbench-finetune/1", "config": {"steps": 20}, "model": "altfreezing-tiny", "freezing": "alternate",
        "augment": {"name": "call"}, "presets_seen": ["clean", "zoom-360p"], "methods_seen": ["mesh"],
        "steps_done": 20, "status": "finished", "best_val_auc": 0.75, "best_step": 20, "videos": {"train": 4},
        "skipped_before_training": [], "decode_failures": [], "initial_weights": "untrained (seed 0)",
        "note": None}))
    (ft / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in (
        {"step": 10, "loss": 0.69, "lr": 0.01}, {"step": 10, "val_auc": 0.6, "val_loss": 0.7},
        {"step": 20, "loss": 0.5, "lr": 0.01}, {"step": 20, "val_auc": 0.75, "val_loss": 0.6})) + '{"step": 3')
    yield {"root": root, "run": out, "ft": ft, "toml": toml, "ds": ds}
    mp.undo()


class _Check(HTMLParser):
    """Well-formedness (every non-void tag closed in order) and the main table's cells."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "source", "area", "col", "base", "wbr", "circle", "rect",
            "line", "polyline", "path"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.rows, self.urls = [], [], [], []
        self._table = None
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if a.get(k):
                self.urls.append(a[k])
        if tag == "table" and a.get("id") == "main-table":
            self._table = len(self.stack)
        if self._table is not None and tag == "tr":
            self._row = []
        if self._row is not None and tag == "td":
            self._row.append(a.get("data-value"))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "tr" and self._row is not None:
            if self._row:
                self.rows.append(self._row)
            self._row = None
        if tag == "table" and self._table == len(self.stack):
            self._table = None


def test_report_numbers_are_results_json(bench_run, cli_runner, tmp_path):
    out = tmp_path / "r" / "report.html"
    r = cli_runner.invoke(cli, ["report", str(bench_run["run"]), "--finetune", str(bench_run["ft"]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    p = _Check()
    p.feed(html)
    p.close()
    assert p.errors == [] and p.stack == []
    assert all(u.startswith("data:") for u in p.urls)            # nothing fetched, nothing linked out
    assert "<script" not in html
    res = json.loads((bench_run["run"] / "results.json").read_text())
    cells = {(c["model"], c["dataset"], c["preset"]): c for c in res["cells"]}
    assert len(p.rows) == len(cells) == 4
    for row in p.rows:
        model, dataset, preset, auc, _ci, _dc, _df, ap, eer, n, _overlap, _failed, _f1, _seen = row
        c = cells[(model, dataset, preset)]
        assert float(auc) == pytest.approx(c["metrics"]["auc"], abs=0) and float(ap) == c["metrics"]["ap"]
        assert float(eer) == c["metrics"]["eer"] and int(n) == c["metrics"]["n"]
        assert f"{c['metrics']['auc']:.3f}" in html
    # the summary quotes the paired test and the smoke-scale warning
    cmp = res["comparisons"][0]
    p_holm = cmp["p_holm"]
    assert f"Holm-adjusted p = {p_holm:.3g}" in html if p_holm is not None else "undefined" in html
    assert "Smoke scale" in html and "training loss: ft" in html and "val AUC: ft" in html
    assert html.count("<svg") >= 4 and "data:image/jpeg;base64," in html
    tables = out.parent / "report_tables"
    main = next(tables.glob("results-*.csv")).read_text().splitlines()
    assert len(main) == 5 and main[0].startswith("model,dataset,preset,AUC")
    assert "\\toprule" in next(tables.glob("results-*.tex")).read_text()
    assert next(tables.glob("results-*.md")).read_text().count("\n|") >= 5


def test_report_in_headless_chromium(bench_run, cli_runner, tmp_path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/test.sh installs them as root)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    out = tmp_path / "report.html"
    r = cli_runner.invoke(cli, ["report", str(bench_run["run"]), "--finetune", str(bench_run["ft"]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,2000"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        browser.get(out.as_uri())
        table = browser.find_element(By.ID, "main-table")
        assert table.is_displayed() and len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 4
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        requests = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
        urls = [m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"]
        assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls
        assert browser.save_screenshot(str(tmp_path / "report.png"))
    finally:
        browser.quit()


def test_report_bad_input(bench_run, cli_runner, tmp_path):
    out = tmp_path / "r.html"

    def fails(*args) -> str:
        r = cli_runner.invoke(cli, ["report", *map(str, args), "-o", str(out)])
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
        assert not out.exists() and not list(tmp_path.glob(".r.*"))
        return r.output

    assert "not a benchmark run" in fails(tmp_path)
    assert "pass it with --finetune" in fails(bench_run["ft"])
    old = tmp_path / "old"
    shutil.copytree(bench_run["run"], old)
    res = json.loads((old / "results.json").read_text())
    res["schema"] = "vcbench-benchmark/0"
    (old / "results.json").write_text(json.dumps(res))
    assert "results schema 'vcbench-benchmark/0'" in fails(old)
    clash = tmp_path / "clash"
    shutil.copytree(bench_run["run"], clash)
    res = json.loads((clash / "results.json").read_text())
    res["models"]["mine"]["spec"] = "mine=/elsewhere/other.py"
    (clash / "results.json").write_text(json.dumps(res))
    assert "model name 'mine' means" in fails(bench_run["run"], clash)
    assert "nothing to report" in fails()

    # a video gone missing (the renditions cache cleared): the gallery says so, the report is still written
    rend = bench_run["root"] / "vcache" / "renditions"
    shutil.move(rend, tmp_path / "renditions")
    try:
        r = cli_runner.invoke(cli, ["report", str(bench_run["run"]), "-o", str(out)])
    finally:
        shutil.move(tmp_path / "renditions", rend)
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert "zoom-360p / real:" in html and "video not found" in html and ">missing<" in html


def test_a_run_renders_the_same_report_after_its_datasets_and_presets_change(bench_run, cli_runner, tmp_path):
    """The report reads the run's context.json (written by the benchmark), never today's
    datasets.toml or presets: editing both after the run leaves every table as it was."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(bench_run["run"], run)
    ctx = json.loads((run / "context.json").read_text())
    assert ctx["schema"] == "vcbench-context/1" and set(ctx["presets"]) == {"zoom-360p"}
    assert ctx["presets"]["zoom-360p"]["settings"]["bitrate_kbps"] > 0 and ctx["datasets"]["calls"]["videos"] == 12

    def tables(name):
        out = tmp_path / name / "report.html"
        r = cli_runner.invoke(cli, ["report", str(run), "-o", str(out)])
        assert r.exit_code == 0, r.output
        folder = out.parent / "report_tables"
        return {p.name: p.read_text() for p in sorted(folder.iterdir())}, out.read_text()

    before, html = tables("a")
    # the run's datasets.toml now points elsewhere with other videos, and its presets file redefines zoom-360p
    other = tmp_path / "other"
    (other / "real").mkdir(parents=True)
    toml = write_toml(tmp_path / "d.toml", f'[datasets.calls]\nkind = "folder"\nroot = "{other}"\n')
    presets = write_toml(tmp_path / "p.toml", '[presets.zoom-360p]\nextends = "clean"\ncodec = "vp8"\nbitrate_kbps = 7\n')
    res = json.loads((run / "results.json").read_text())
    res["config"]["presets"], res["config"]["datasets"] = str(presets), str(toml)
    (run / "results.json").write_text(json.dumps(res))
    after, html2 = tables("b")
    assert after == before and "zoom-360p" in html2 and "no context.json" not in html2
    # a run made before context.json existed says where its descriptions come from
    (run / "context.json").unlink()
    _, html3 = tables("c")
    assert "no context.json" in html3


def test_axis_ticks_are_round_and_tiny_p_values_are_not_zero():
    from vcbench.reports.figures import line_chart, nice_ticks, tick_label
    from vcbench.reports.render import fmt_p

    assert nice_ticks(174.343, 1183.62) == [200, 400, 600, 800, 1000]
    assert [tick_label(v) for v in (174.343, 617.675, 1183.62, 0.25, 12.0)] == ["174", "618", "1180", "0.25", "12"]
    svg = line_chart("AUC vs bitrate", {"m": [(174.343, 0.7), (617.675, 0.8), (1183.62, 0.9)]}, "kbps", "AUC", xlog=True)
    labels = re.findall(r">([0-9.e+-]+)</text>", svg)
    assert "174.343" not in svg.replace("at 174.343", "") and {"200", "500", "1000"} <= set(labels)
    assert fmt_p(0.0) == "< 1e-6" and fmt_p(3e-7) == "< 1e-6" and fmt_p(0.01234) == "0.0123" and fmt_p(None) == "undefined"


def test_pair_timeline_draws_each_models_window_scores_and_the_calls_events(tmp_path):
    from vcbench.contracts import call_event_rows, call_event_text, call_events_path
    from vcbench.reports.render import _pair_timeline

    video = tmp_path / "fake.mp4"
    shown = list(range(10)) + [9] * 8 + list(range(18, 60))            # a freeze of 8 frames at frame 10
    res = ["640x360"] * 40 + ["320x180"] * 20                           # a switch at frame 40
    key = [True] + [False] * 17 + [True] + [False] * 41                 # a keyframe ends the freeze
    call_events_path(video).write_text(call_event_text(call_event_rows(30.0, shown, shown, key, res, None)))
    wins = [{"model": m, "dataset": "d", "preset": "lossy", "video_id": vid, "fps": 30.0, "frames": 60,
             "clip_len": 8, "tracks": {"0": [[s, 0.9 if vid == "f" else 0.2] for s in range(0, 53, 4)]}}
            for m in ("a", "b") for vid in ("f", "r")]
    svg = _pair_timeline("d", "lossy", wins, "r", "f", video)
    assert svg.count("<polyline") == 4 and "a (fake)" in svg and "b (real)" in svg
    assert "freeze at 0.33 s" in svg and "keyframe at 0.60 s" in svg and "resolution switch at 1.33 s" in svg
    assert _pair_timeline("d", "other", wins, "r", "f", video) == ""       # no windows under that preset
