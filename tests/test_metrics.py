"""Every metric against scikit-learn; DeLong against a case worked by hand."""
import numpy as np
import pytest
from sklearn import metrics as skm

from vcbench import metrics as m


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).round(2)      # rounded: plenty of ties
    return y, s


def test_metrics_equal_scikit_learn(scores):
    y, s = scores
    assert m.auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    assert m.log_loss(y, s) == pytest.approx(skm.log_loss(y, np.clip(s, 1e-15, 1 - 1e-15)), abs=1e-9)
    fpr, tpr, thr = m.roc_curve(y, s)
    f2, t2, th2 = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])
    for t in (0.3, 0.5, 0.62):
        acc, bacc = m.accuracy(y, s, t)
        pred = (s >= t).astype(int)
        assert acc == pytest.approx(skm.accuracy_score(y, pred))
        assert bacc == pytest.approx(skm.balanced_accuracy_score(y, pred))
    for target in (0.01, 0.1):
        assert m.tpr_at_fpr(y, s, target) == pytest.approx(t2[f2 <= target].max())
    rate, _ = m.eer(y, s)
    fnr = 1 - t2
    k = np.argmin(np.abs(fnr - f2))
    assert rate == pytest.approx((fnr[k] + f2[k]) / 2, abs=0.02)


def test_one_class_cell_says_so():
    c = m.compute([1, 1, 1], [0.2, 0.9, 0.5])
    assert c.note == "AUC undefined: only fakes" and c.to_json()["auc"] is None
    assert m.compute([], []).note == "no videos"


def test_delong_on_a_case_worked_by_hand():
    # AUC1 = 3/4, AUC2 = 1; V10_1 = (1, 1/2), V01_1 = (1/2, 1): var = 0.125/2 + 0.125/2 = 0.125
    a1, a2, p = m.delong([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1], [0.8, 0.7, 0.3, 0.2])
    assert (a1, a2) == (0.75, 1.0)
    from scipy.stats import norm

    assert p == pytest.approx(2 * norm.sf(0.25 / np.sqrt(0.125)), abs=1e-12)
    assert p == pytest.approx(0.4795, abs=1e-4)


def test_delong_detects_a_real_difference(scores):
    y, s = scores
    rng = np.random.default_rng(1)
    worse = np.clip(s + rng.normal(0, 0.3, len(s)), 0, 1)
    a1, a2, p = m.delong(y, s, worse)
    assert a1 > a2 and p < 0.01
    assert m.delong(y, s, s)[2] == 1.0


def test_bootstrap_keeps_pairs_together_and_covers_the_estimate(scores):
    y, s = scores
    pairs = np.arange(len(y)) // 2
    lo, hi = m.bootstrap_ci(y, s, pairs, n=300, seed=0)
    assert lo < m.auc(y, s) < hi and hi - lo < 0.2
    assert (lo, hi) == m.bootstrap_ci(y, s, pairs, n=300, seed=0)       # seeded
    t = m.youden_threshold(y, s)
    pred = s >= t
    fpr, tpr, _ = skm.roc_curve(y, s)
    assert pred[y == 1].mean() - pred[y == 0].mean() == pytest.approx((tpr - fpr).max())
