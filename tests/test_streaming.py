"""Time to alarm: the alarm rules (vcbench.alarms) against hand computation, results.json's
streaming cells from fixed window scores, and ``benchmark --streaming`` on real videos."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from vcbench import alarms as A
from vcbench.cli import cli
from vcbench.contracts import PRED_COLUMNS, WINDOWS_FILE

from conftest import has_mediapipe

POLICY = A.StreamPolicy(stride=2, smooth=2)
FPS, CLIP = 10.0, 4


def dense(values_at_even: list[float], first: int = 0, odd: float = 0.99) -> list[list]:
    """Dense windows (every start) whose even-offset starts carry ``values_at_even``; the odd
    ones carry ``odd``, which a stride of 2 must never see."""
    out = []
    for k, v in enumerate(values_at_even):
        out.append([first + 2 * k, v])
        if k + 1 < len(values_at_even):
            out.append([first + 2 * k + 1, odd])
    return out


# fake A: strided scores .1 .9 .8 .7 -> running nan .5 .85 .75 at window ends 0.3 0.5 0.7 0.9 s
FAKE_A = {"0": dense([0.1, 0.9, 0.8, 0.7])}
# fake B: one face from frame 10, never above .3
FAKE_B = {"1": dense([0.2, 0.3], first=10, odd=0.2)}
# a val real wavering: running nan .7 .45 .2 .45 .7 (10 s long)
REAL_VAL = {"0": dense([0.7, 0.7, 0.2, 0.2, 0.7, 0.7])}
REAL_TEST = {"0": dense([0.1, 0.1, 0.1]), "3": dense([0.05, 0.05], first=20)}


def test_running_score_needs_smooth_windows_and_averages_the_last_ones():
    r = A.running([0.1, 0.9, 0.8, 0.7], 2)
    assert math.isnan(r[0]) and r[1:].tolist() == pytest.approx([0.5, 0.85, 0.75])
    assert A.running([0.4], 3).tolist()[0] != A.running([0.4], 3).tolist()[0]   # NaN: one window never alarms
    live = A.Running(2)
    got = [live.add(s, 0.6) for s in (0.1, 0.9, 0.8, 0.7, 0.1, 0.1, 0.9, 0.9)]
    assert [g[1] for g in got] == [False, False, True, False, False, False, False, True]   # raised on entering
    assert got[2][0] == pytest.approx(0.85) and got[0][0] is None


def test_stream_policy_schedules_windows_like_the_strided_dense_ones():
    p = A.StreamPolicy(stride=3, smooth=1)
    due = [n for n in range(1, 20) if p.due(n, 4)]
    assert due == [4, 7, 10, 13, 16, 19]                       # rows held when a window is scored
    starts = [n - 4 for n in due]                              # the windows' first rows
    assert np.flatnonzero(A.strided(range(0, 16), 0, 3)).tolist() == starts
    with pytest.raises(ValueError, match="stride"):
        A.StreamPolicy(stride=0)


def test_time_to_alarm_and_false_alarms_by_hand():
    a = A.series("a", 1, FPS, 40, FAKE_A, CLIP, POLICY)
    b = A.series("b", 1, FPS, 40, FAKE_B, CLIP, POLICY)
    t = a.tracks[0]
    assert t.ends_s.tolist() == pytest.approx([0.3, 0.5, 0.7, 0.9])     # (start + 3) / 10 fps
    assert A.time_to_alarm(a, 0.6) == pytest.approx(0.7)                # running .85 at the window ending 0.7 s
    assert A.time_to_alarm(a, 0.5) == pytest.approx(0.5)
    assert A.time_to_alarm(b, 0.6) is None
    r = A.series("r", 0, FPS, 100, REAL_VAL, CLIP, POLICY)
    assert r.duration_s == 10.0
    # running nan .7 .45 .2 .45 .7: alarms raised = entries into >= t
    assert [A.alarms(r, t) for t in (0.8, 0.7, 0.5, 0.45, 0.3, 0.2, 0.0)] == [0, 2, 2, 2, 2, 1, 1]
    counts = A.alarm_counts([r], np.array([0.8, 0.7, 0.5, 0.45, 0.3, 0.2, 0.0]))
    assert counts.tolist() == [0, 2, 2, 2, 2, 1, 1]                      # the sweep equals one-by-one


def test_alarm_counts_equal_brute_force_on_random_series():
    rng = np.random.default_rng(0)
    vids = [A.VideoSeries(str(i), 0, 10.0, [A.TrackSeries(np.arange(n) / 10, A.running(rng.random(n), 3))
                                               for n in rng.integers(1, 30, 3)]) for i in range(6)]
    ts = np.r_[np.linspace(0, 1, 41), [v for s in vids for t in s.tracks for v in t.running if v == v][:20]]
    assert A.alarm_counts(vids, ts).tolist() == [sum(A.alarms(v, t) for v in vids) for t in ts]


def test_budget_threshold_is_the_lowest_within_budget_here_and_above():
    r = A.series("r", 0, FPS, 100, REAL_VAL, CLIP, POLICY)       # 10 s of reals
    t, info = A.budget_threshold([r], per_hour=360)                # 1 alarm allowed in 10 s
    assert t > 0.7 and t == pytest.approx(0.7) and A.alarms(r, t) == 0   # .7 itself raises 2
    assert info["false_alarms"] == 0 and info["hours"] == pytest.approx(10 / 3600, abs=1e-6)
    t2, _ = A.budget_threshold([r], per_hour=720)                  # 2 allowed: every value passes
    assert t2 == pytest.approx(0.2)
    t3, why = A.budget_threshold([], per_hour=1)
    assert t3 is None and "no real" in why["why"]


def test_summary_median_p90_share_and_curve_by_hand():
    a = A.series("a", 1, FPS, 40, FAKE_A, CLIP, POLICY, cluster="id:x")
    b = A.series("b", 1, FPS, 40, FAKE_B, CLIP, POLICY, cluster="id:y")
    real = A.series("r", 0, FPS, 100, REAL_VAL, CLIP, POLICY)
    s = A.summarise([a, b], [real], 0.6, bootstrap=200, seed=0)
    assert (s["fakes"], s["caught"], s["missed"]) == (2, 1, 1)
    assert s["tta_median_s"] == pytest.approx(0.7)                 # lower half: 0.7; upper: missed
    assert s["tta_p90_s"] is None                                  # beyond the caught share
    assert s["caught_within"] == {"2": 0.5, "5": 0.5, "10": 0.5}
    assert s["curve"] == [[0.0, 0.0], [0.7, 0.5]]
    assert s["false_alarms"] == 2 and s["false_alarms_per_hour"] == pytest.approx(720.0)
    lo, hi = s["tta_median_ci95"]
    assert lo == pytest.approx(0.7) and hi is None                  # resamples of {0.7, missed}


def _write_run(out, windows: list[dict], threshold=0.6):
    out.mkdir()
    rows = []
    for w in windows:
        rows.append({"model": "m", "dataset": "d", "preset": "clean", "video_id": w["video_id"], "label": w["label"],
                     "score": "0.5", "clips": 3, "split": w["split"], "method": "x" if w["label"] else "real",
                     "pair_id": w["video_id"], "status": "ok"})
    with open(out / "predictions.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=PRED_COLUMNS)
        wr.writeheader()
        wr.writerows(rows)
    (out / "models.json").write_text(json.dumps({"m": {"kind": "vcbench", "provenance": {"provenance": {
        "threshold": threshold, "threshold_from": "val"}}}}))
    (out / "benchmark.json").write_text(json.dumps({"identity": {}, "config": {"stride": 2, "smooth": 2,
                                                                                "false_alarms_per_hour": 360}}))
    lines = [json.dumps({"model": "m", "dataset": "d", "preset": "clean", "fps": FPS, "clip_len": CLIP, **w})
             for w in windows]
    (out / WINDOWS_FILE).write_text("\n".join(lines) + "\n" + '{"model": "m", "dataset"')   # a torn last line


def test_results_streaming_cell_from_fixed_window_scores(tmp_path):
    from vcbench.benchmark.results import compute_results, streaming_lines

    wins = [{"video_id": "fa", "label": 1, "split": "test", "frames": 40, "tracks": FAKE_A},
            {"video_id": "fb", "label": 1, "split": "test", "frames": 40, "tracks": FAKE_B},
            {"video_id": "rt", "label": 0, "split": "test", "frames": 50, "tracks": REAL_TEST},
            {"video_id": "rv", "label": 0, "split": "val", "frames": 100, "tracks": REAL_VAL}]
    _write_run(tmp_path / "run", wins)
    res = compute_results(tmp_path / "run", bootstrap=100)
    st = res["cells"][0]["streaming"]
    assert (st["stride"], st["smooth"], st["fakes"], st["reals"]) == (2, 2, 2, 1)     # as the run recorded
    vb = st["thresholds"]["val_budget"]
    assert vb["value"] == pytest.approx(0.7, abs=1e-6) and vb["false_alarms"] == 0 and vb["reals"] == 1
    at = st["at"]["val_budget"]
    assert at["caught"] == 1 and at["tta_median_s"] == pytest.approx(0.7)      # fake A's .85 at 0.7 s; B missed
    own = st["at"]["model"]
    assert own["threshold"] == 0.6 and own["tta_median_s"] == pytest.approx(0.7)
    assert own["false_alarms"] == 0 and own["real_hours"] == pytest.approx(5 / 3600, abs=1e-6)
    # another stride and smoothing recompute from the same windows, no rescoring
    res2 = compute_results(tmp_path / "run", bootstrap=0, stream={"stride": 1, "smooth": 1})
    at2 = res2["cells"][0]["streaming"]["at"]["model"]
    assert at2["tta_median_s"] == pytest.approx(0.4)      # the odd window (start 1, .99) ends at frame 4
    assert any("time to alarm median" in line for line in streaming_lines(res))


@pytest.fixture(scope="module")
def stream_data(tmp_path_factory, carphone):
    import subprocess

    from conftest import ffmpeg, write_toml

    root = tmp_path_factory.mktemp("stream") / "calls"
    split = {"test": [], "val": [], "train": []}
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for k, vf in enumerate(["null", "hflip", "eq=contrast=1.2"]):
            name = f"{label}_{k}"
            subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(carphone), "-frames:v",
                            "30", "-vf", vf + (",hue=h=25" if label == "fake" else ""), "-c:v", "libx264", "-crf",
                            "18", "-pix_fmt", "yuv420p", str(root / label / f"{name}.mp4")], check=True)
            split["val" if k == 2 else "test"].append(name)
    (root / "split.json").write_text(json.dumps(split))
    return write_toml(root.parent / "d.toml", f'[datasets.calls]\nkind = "folder"\nroot = "{root}"\n'
                                              f'split_file = "{root / "split.json"}"\n')


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_benchmark_streaming_keeps_every_window_and_reports_time_to_alarm(stream_data, cli_runner, tmp_path):
    from vcbench.contracts import read_windows

    out = tmp_path / "run"
    r = cli_runner.invoke(cli, ["benchmark", "--model", "altfreezing-tiny=untrained", "--model", "sbi-tiny=untrained",
                                "--model", "chance", "--dataset", "calls", "--out", str(out), "--datasets",
                                str(stream_data), "--device", "cpu", "--bootstrap", "50", "--streaming", "--stride",
                                "4", "--smooth", "2", "--cache-dir", str(tmp_path / "faces")])
    assert r.exit_code == 0, r.output
    assert "time to alarm" in r.output
    preds = {(x["model"], x["video_id"]): x for x in csv.DictReader(open(out / "predictions.csv"))}
    wins = read_windows(out / WINDOWS_FILE)
    assert {w["model"] for w in wins} == {"altfreezing-tiny", "sbi-tiny"}       # chance scores files only
    assert len(wins) == 2 * 6 and all(w["fps"] > 0 and w["frames"] == 30 for w in wins)
    for w in wins:
        assert w["clip_len"] == (8 if w["model"] == "altfreezing-tiny" else 1)
        for tid, ws in w["tracks"].items():
            starts = [s for s, _ in ws]
            assert starts == list(range(starts[0], starts[0] + len(starts)))   # every window, in order
        # nothing padded, nothing dropped: the video's dense score is the mean of its windows
        allv = [v for ws in w["tracks"].values() for _, v in ws]
        if w["model"] == "altfreezing-tiny":
            assert float(preds[(w["model"], w["video_id"])]["score"]) == pytest.approx(np.mean(allv), abs=2e-6)
            assert sum(len(ws) for ws in w["tracks"].values()) == int(preds[(w["model"], w["video_id"])]["clips"])
    res = json.loads((out / "results.json").read_text())
    cells = {c["model"]: c for c in res["cells"]}
    assert "streaming" not in cells["chance"]
    st = cells["altfreezing-tiny"]["streaming"]
    assert (st["stride"], st["smooth"], st["fakes"], st["reals"]) == (4, 2, 2, 2)
    assert st["thresholds"]["model"]["value"] is None          # untrained: no threshold of its own
    at = st["at"]["val_budget"]
    policy = A.StreamPolicy(4, 2)
    series = [A.series(w["video_id"], w["label"], w["fps"], w["frames"], w["tracks"], w["clip_len"], policy)
              for w in wins if w["model"] == "altfreezing-tiny"]
    val_reals = [s for s, w in zip(series, [w for w in wins if w["model"] == "altfreezing-tiny"])
                 if w["split"] == "val" and w["label"] == 0]
    t, _ = A.budget_threshold(val_reals, 1.0)
    assert at["threshold"] == t
    fakes = [s for s in series if s.label == 1 and not s.video_id.endswith("_2")]
    assert at["caught"] == sum(A.time_to_alarm(s, t) is not None for s in fakes)
    assert json.loads((out / "benchmark.json").read_text())["identity"]["mode"] == "dense"   # implied


def test_report_draws_time_to_alarm(tmp_path, cli_runner):
    from vcbench.benchmark.results import compute_results

    wins = [{"video_id": "fa", "label": 1, "split": "test", "frames": 40, "tracks": FAKE_A},
            {"video_id": "fb", "label": 1, "split": "test", "frames": 40, "tracks": FAKE_B},
            {"video_id": "rt", "label": 0, "split": "test", "frames": 50, "tracks": REAL_TEST},
            {"video_id": "rv", "label": 0, "split": "val", "frames": 100, "tracks": REAL_VAL}]
    _write_run(tmp_path / "run", wins)
    compute_results(tmp_path / "run", bootstrap=20)
    r = cli_runner.invoke(cli, ["report", str(tmp_path / "run"), "-o", str(tmp_path / "r.html"), "--no-thumbnails"])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "r.html").read_text()
    assert 'id="time-to-alarm"' in html and "Share of fakes caught vs seconds into the call: d (clean)" in html
    assert "<polyline" in html.split('id="time-to-alarm"')[1] and "missed" in html.split('id="time-to-alarm"')[1]
