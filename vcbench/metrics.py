"""Video-level detection metrics, bootstrap intervals and DeLong's paired AUC test.

Labels are 0 real, 1 fake; scores are probabilities of fake. Pure numpy (no scipy or sklearn at
import; the tests compare every number with scikit-learn). Used by finetune's evaluation and
by the benchmark.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _check(y, s) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, np.int64)
    s = np.asarray(s, np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError("labels and scores must be 1-D and of the same length")
    return y, s


def roc_curve(y, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), thresholds decreasing, starting at +inf (as scikit-learn)."""
    y, s = _check(y, s)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    p, n = max(tps[-1], 1), max(fps[-1], 1)
    return (np.r_[0.0, fps / n], np.r_[0.0, tps / p], np.r_[np.inf, s[distinct]])


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (scipy's ``rankdata``, without importing
    scipy.stats: two seconds of a benchmark's start-up)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(xs)]
    r = np.empty(len(x), np.float64)
    r[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return r


def auc(y, s) -> float:
    """ROC AUC by the rank statistic (ties count half). NaN when one class is missing."""
    y, s = _check(y, s)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    r = _midranks(np.r_[pos, neg])
    return float((r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def average_precision(y, s) -> float:
    """Step-wise AP (scikit-learn's definition)."""
    y, s = _check(y, s)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[distinct]
    precision = tps / (distinct + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def eer(y, s) -> tuple[float, float]:
    """Equal error rate and the threshold where FPR = FNR (interpolated on the ROC)."""
    fpr, tpr, thr = roc_curve(y, s)
    fnr = 1 - tpr
    i = int(np.flatnonzero(fnr <= fpr)[0]) if np.any(fnr <= fpr) else len(fpr) - 1
    if i == 0:
        return float(fpr[0]), float(thr[1] if len(thr) > 1 else 0.5)
    a = (fnr[i - 1] - fpr[i - 1]) / ((fnr[i - 1] - fpr[i - 1]) - (fnr[i] - fpr[i]))
    rate = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
    t = thr[i] if not np.isfinite(thr[i - 1]) else thr[i - 1] + a * (thr[i] - thr[i - 1])
    return float(rate), float(t)


def log_loss(y, s, eps: float = 1e-15) -> float:
    y, s = _check(y, s)
    p = np.clip(s, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def tpr_at_fpr(y, s, target: float) -> float:
    """The highest TPR reachable with FPR <= ``target`` (no interpolation)."""
    fpr, tpr, _ = roc_curve(y, s)
    ok = fpr <= target + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def accuracy(y, s, threshold: float) -> tuple[float, float]:
    """(accuracy, balanced accuracy) of ``score >= threshold`` as fake."""
    y, s = _check(y, s)
    pred = (s >= threshold).astype(np.int64)
    acc = float((pred == y).mean())
    rates = [float((pred[y == c] == c).mean()) for c in (0, 1) if (y == c).any()]
    return acc, float(np.mean(rates))


def youden_threshold(y, s) -> float:
    """The threshold maximising TPR - FPR (chosen on validation data, never on test)."""
    fpr, tpr, thr = roc_curve(y, s)
    i = int(np.argmax(tpr[1:] - fpr[1:])) + 1
    return float(thr[i])


@dataclass
class Metrics:
    n: int
    n_real: int
    n_fake: int
    auc: float
    ap: float
    eer: float
    log_loss: float
    acc_05: float
    bacc_05: float
    tpr_at_fpr_1: float
    tpr_at_fpr_10: float
    threshold: float | None = None       # chosen on validation data
    acc_thr: float | None = None
    bacc_thr: float | None = None
    note: str = ""

    def to_json(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


def compute(y, s, threshold: float | None = None) -> Metrics:
    """Every metric of one cell. A cell with one class gets NaN AUC/EER and a note saying why."""
    y, s = _check(y, s)
    n_fake = int(y.sum())
    n_real = int(len(y) - n_fake)
    note = ""
    if len(y) == 0:
        note = "no videos"
    elif n_fake == 0 or n_real == 0:
        note = "AUC undefined: only " + ("fakes" if n_real == 0 else "reals")
    two = not note
    acc, bacc = accuracy(y, s, 0.5) if len(y) else (float("nan"), float("nan"))
    m = Metrics(len(y), n_real, n_fake, auc(y, s) if two else float("nan"),
                average_precision(y, s) if n_fake else float("nan"), eer(y, s)[0] if two else float("nan"),
                log_loss(y, s) if len(y) else float("nan"), acc, bacc,
                tpr_at_fpr(y, s, 0.01) if two else float("nan"), tpr_at_fpr(y, s, 0.10) if two else float("nan"),
                note=note)
    if threshold is not None and len(y):
        m.threshold = float(threshold)
        m.acc_thr, m.bacc_thr = accuracy(y, s, threshold)
    return m


def bootstrap_ci(y, s, groups=None, metric=auc, n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``metric`` over ``n`` resamples of whole groups (a fake and the
    real it was made from stay together when ``groups`` are pair ids). NaN-safe."""
    y, s = _check(y, s)
    if len(y) == 0:
        return float("nan"), float("nan")
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    uniq, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[g] for g in pick])
        v = metric(y[idx], s[idx])
        if math.isfinite(v):
            vals.append(v)
    if not vals:
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def delong(y, s1, s2) -> tuple[float, float, float]:
    """DeLong's test for two correlated ROC AUCs on the same videos: (auc1, auc2, two-sided p)."""
    y = np.asarray(y, np.int64)
    s = np.vstack([np.asarray(s1, np.float64), np.asarray(s2, np.float64)])
    pos, neg = s[:, y == 1], s[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        return float("nan"), float("nan"), float("nan")
    # structural components: V10[k, i] = mean_j psi(pos_i, neg_j); V01[k, j] = mean_i psi(pos_i, neg_j)
    psi = (pos[:, :, None] > neg[:, None, :]).astype(np.float64) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    aucs = v10.mean(axis=1)
    s10, s01 = np.cov(v10), np.cov(v01)
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    if var <= 0:   # no spread to test against (e.g. both perfect or all ties): identical is p = 1, else undefined
        return float(aucs[0]), float(aucs[1]), 1.0 if aucs[0] == aucs[1] else float("nan")
    z = (aucs[0] - aucs[1]) / math.sqrt(var)
    return float(aucs[0]), float(aucs[1]), math.erfc(abs(z) / math.sqrt(2))   # 2 x normal tail


def operating_point(y, s, threshold: float) -> dict:
    """Everything a deployment at ``threshold`` sees (``score >= threshold`` is fake): the confusion
    matrix, precision, recall (= TPR), F1, FPR, accuracy and balanced accuracy."""
    y, s = _check(y, s)
    pred = s >= threshold
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    fn, tn = int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())

    def ratio(a, b):
        return a / b if b else None

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = ratio(2 * tp, 2 * tp + fp + fn)
    fpr, tnr = ratio(fp, fp + tn), ratio(tn, fp + tn)
    rates = [r for r in (recall, tnr) if r is not None]
    return {"threshold": float(threshold), "tp": tp, "fp": fp, "tn": tn, "fn": fn, "precision": precision,
            "recall": recall, "f1": f1, "fpr": fpr, "accuracy": ratio(tp + tn, len(y)),
            "balanced_accuracy": float(np.mean(rates)) if rates else None}


def pr_curve(y, s, points: int = 50) -> list[list[float]]:
    """The precision-recall curve as [recall, precision] pairs, one per distinct threshold (at most
    ``points``, evenly spaced along the ranking, always ending at recall 1)."""
    y, s = _check(y, s)
    if not y.sum():
        return []
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[distinct]
    precision, recall = tps / (distinct + 1), tps / tps[-1]
    keep = np.unique(np.r_[np.linspace(0, len(distinct) - 1, min(points, len(distinct))).round().astype(int)])
    return [[round(float(recall[i]), 4), round(float(precision[i]), 4)] for i in keep]


def paired_bootstrap_delta(y, s1, s2, clusters, n: int = 1000, seed: int = 0, level: float = 0.95,
                           metric=auc) -> tuple[float, float, float, float]:
    """metric(s1) - metric(s2) on the same videos, with a percentile interval and a two-sided p-value
    from ``n`` resamples of whole clusters (a target identity's real and all its fakes move
    together: videos of one person are not independent). Returns (delta, lo, hi, p); p is
    2 x the smaller tail of the resampled deltas around 0, never below 1/(n+1)."""
    y = np.asarray(y, np.int64)
    a, b = np.asarray(s1, np.float64), np.asarray(s2, np.float64)
    delta = metric(y, a) - metric(y, b)
    if not math.isfinite(delta) or n <= 0:
        return float(delta), float("nan"), float("nan"), float("nan")
    uniq, inv = np.unique(np.asarray(clusters), return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    ds = []
    for _ in range(n):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(uniq), len(uniq))])
        d = metric(y[idx], a[idx]) - metric(y[idx], b[idx])
        if math.isfinite(d):
            ds.append(d)
    if not ds:
        return float(delta), float("nan"), float("nan"), float("nan")
    ds = np.asarray(ds)
    lo, hi = np.percentile(ds, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    if np.all(ds == 0):
        return float(delta), float(lo), float(hi), 1.0
    tail = min((np.sum(ds <= 0) + 1) / (len(ds) + 1), (np.sum(ds >= 0) + 1) / (len(ds) + 1))
    return float(delta), float(lo), float(hi), float(min(1.0, 2 * tail))


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None / NaN stay None): the family-wise
    error of every comparison a run makes stays at the level."""
    idx = [i for i, p in enumerate(pvalues) if p is not None and math.isfinite(p)]
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda k: pvalues[k])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
