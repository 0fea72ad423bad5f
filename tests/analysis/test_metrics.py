"""Hand-computed cases for helpers.analysis.metrics, and its one validator of paired inputs."""

import math
import re

import numpy as np
import pytest
from scipy import stats

from helpers.analysis import abstention, metrics

# Four answers: correct ones at 0.9 and 0.8, wrong ones at 0.8 and 0.1.
# Pairs (correct, wrong): (.9,.8)=1, (.9,.1)=1, (.8,.8)=1/2 tie, (.8,.1)=1  ->  U = 3.5 of 4.
CONF = np.array([0.9, 0.8, 0.8, 0.1])
CORRECT = np.array([True, True, False, False])


def test_accuracy_counts_unparseable_as_wrong():
    # an unparseable answer arrives as correct=False
    assert metrics.accuracy_pct([True, False, False, True]) == 50.0
    assert metrics.accuracy_pct([True, True, True]) == 100.0
    assert math.isnan(metrics.accuracy_pct([]))


def test_auroc_counts_ties_as_half():
    assert metrics.auroc_pct(CONF, CORRECT) == pytest.approx(87.5)


def test_auroc_perfect_reversed_and_constant():
    assert metrics.auroc_pct([0.9, 0.2], [True, False]) == 100.0
    assert metrics.auroc_pct([0.2, 0.9], [True, False]) == 0.0
    assert metrics.auroc_pct([0.5, 0.5, 0.5], [True, False, True]) == 50.0


@pytest.mark.parametrize("correct", [[True, True, True], [False, False, False]])
def test_auroc_and_mann_whitney_undefined_for_one_class(correct):
    assert math.isnan(metrics.auroc_pct([0.1, 0.5, 0.9], correct))
    assert all(math.isnan(v) for v in metrics.mann_whitney([0.1, 0.5, 0.9], correct))


def test_mann_whitney_by_hand():
    mw = metrics.mann_whitney(CONF, CORRECT)
    assert mw.u == 3.5
    # normal approximation: mean n1*n0/2 = 2; tie-corrected variance
    # n1*n0/12 * ((n+1) - sum(t^3-t)/(n(n-1))) = 4/12 * (5 - 6/12) = 1.5; continuity correction 1/2
    z = (3.5 - 2 - 0.5) / math.sqrt(1.5)
    assert mw.p_one_sided == pytest.approx(stats.norm.sf(z), rel=1e-12)
    assert mw.p_two_sided == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)


def test_mann_whitney_one_sided_is_directional():
    # correct answers less confident than wrong ones: one-sided 'greater' p is large
    mw = metrics.mann_whitney([0.1, 0.2, 0.2, 0.8, 0.9, 0.9], [True, True, True, False, False, False])
    assert mw.u == 0.0
    assert mw.p_one_sided > 0.9
    assert mw.p_two_sided < 0.1


def test_auroc_equals_u_over_pairs_property():
    rng = np.random.default_rng(20240221)
    for _ in range(200):
        n = int(rng.integers(2, 60))
        correct = rng.random(n) < rng.random()
        if correct.all() or not correct.any():
            continue
        conf = np.round(rng.random(n), int(rng.integers(1, 3)))  # rounding makes ties
        n1, n0 = correct.sum(), (~correct).sum()
        u = metrics.mann_whitney(conf, correct).u
        assert metrics.auroc_pct(conf, correct) == pytest.approx(100 * u / (n1 * n0), abs=1e-9)
        # U by brute force over all pairs, ties 1/2
        diff = conf[correct][:, None] - conf[~correct][None, :]
        assert u == (diff > 0).sum() + 0.5 * (diff == 0).sum()


def test_paired_returns_float64_confidences_and_boolean_labels():
    conf, correct = metrics.paired(np.array([0.9, 0.4], dtype=np.float32), [1, 0])
    assert conf.dtype == np.float64 and correct.dtype == bool
    assert conf.tolist() == [np.float32(0.9), np.float32(0.4)] and correct.tolist() == [True, False]
    empty_conf, empty_correct = metrics.paired([], [])
    assert empty_conf.shape == empty_correct.shape == (0,)


@pytest.mark.parametrize("conf, correct, shapes", [
    ([0.1, 0.2], [True], "(2,) and (1,)"),
    ([[0.1, 0.2]], [[True, False]], "(1, 2) and (1, 2)"),  # equally shaped, but not 1-d
    (0.5, True, "() and ()"),
])
def test_paired_rejects_other_shapes_and_names_them(conf, correct, shapes):
    with pytest.raises(ValueError, match=re.escape(f"1-d and equally long, got shapes {shapes}")):
        metrics.paired(conf, correct)


def test_paired_rejects_empty_input_only_when_asked():
    with pytest.raises(ValueError, match="must not be empty"):
        metrics.paired([], [], nonempty=True)
    assert metrics.paired([0.5], [True], nonempty=True)[0].tolist() == [0.5]


#: every function of (conf, correct) pairs, called with its other arguments fixed
PAIRED_FUNCTIONS = {
    "auroc_pct": metrics.auroc_pct,
    "mann_whitney": metrics.mann_whitney,
    "reliability_bins": metrics.reliability_bins,
    "calibration_error": metrics.calibration_error,
    "abstention.score": lambda conf, correct: abstention.score(conf, correct, 0.5),
    "abstention.train_test_split": lambda conf, correct: abstention.train_test_split(conf, correct, 1),
}


@pytest.mark.parametrize("name", list(PAIRED_FUNCTIONS))
@pytest.mark.parametrize("conf, correct", [([0.1, 0.2, 0.3], [True, False]),
                                           ([[0.1, 0.9], [0.2, 0.8]], [[True, False], [False, True]])])
def test_every_metric_rejects_a_wrong_shape_with_the_validators_message(name, conf, correct):
    with pytest.raises(ValueError, match="conf and correct must be 1-d and equally long"):
        PAIRED_FUNCTIONS[name](conf, correct)


def test_the_abstention_score_needs_answers():
    with pytest.raises(ValueError, match="must not be empty"):
        abstention.score([], [], 0.5)


def test_bins_are_checked():
    with pytest.raises(ValueError, match="bins must be"):
        metrics.calibration_error([0.1], [True], bins="log")
    with pytest.raises(ValueError, match="n_bins must be >= 1"):
        metrics.bin_edges([0.1], "uniform", n_bins=0)
    with pytest.raises(ValueError, match="at least one confidence"):
        metrics.bin_edges([], "quantile")


# Calibration: five answers, the last with MSP == 1.0 (wrong).
#   uniform 2 bins [0, .5), [.5, 1):  bin 0 = .1 F, .3 T, .3 T  -> mean .2333, frac .6667, gap .4333
#   half-open: bin 1 = .9 T -> gap .1 (1.0 dropped); closed: .9 T, 1.0 F -> mean .95, frac .5, gap .45
CAL_CONF = np.array([0.1, 0.3, 0.3, 0.9, 1.0])
CAL_CORRECT = np.array([False, True, True, True, False])


def test_calibration_error_variants_by_hand():
    ce = lambda **kw: metrics.calibration_error(CAL_CONF, CAL_CORRECT, bins="uniform", n_bins=2, **kw)
    assert ce() == pytest.approx((0.4333333333 + 0.1) / 2)
    assert ce(weighted=True) == pytest.approx((3 * 0.4333333333 + 0.1) / 4)
    assert ce(last_bin_closed=True) == pytest.approx((0.4333333333 + 0.45) / 2)
    assert ce(weighted=True, last_bin_closed=True) == pytest.approx((3 * 0.4333333333 + 2 * 0.45) / 5)


def test_reliability_bins_drop_msp_one_unless_closed():
    half_open = metrics.reliability_bins(CAL_CONF, CAL_CORRECT, "uniform", n_bins=2)
    assert half_open["count"].tolist() == [3, 1]
    closed = metrics.reliability_bins(CAL_CONF, CAL_CORRECT, "uniform", n_bins=2, last_bin_closed=True)
    assert closed["count"].tolist() == [3, 2]
    assert closed["mean_conf"].tolist() == pytest.approx([0.7 / 3, 0.95])
    assert closed["frac_correct"].tolist() == pytest.approx([2 / 3, 0.5])


def test_calibration_error_skips_empty_bins():
    # 4 uniform bins: .1 | .3 .3 | (empty) | .9  -> gaps .1, .7, .1 over the 3 non-empty bins
    conf, correct = [0.1, 0.3, 0.3, 0.9], [False, True, True, True]
    table = metrics.reliability_bins(conf, correct, "uniform", n_bins=4)
    assert table["count"].tolist() == [1, 2, 0, 1]
    assert math.isnan(table.loc[2, "mean_conf"])
    assert metrics.calibration_error(conf, correct, "uniform", n_bins=4) == pytest.approx(0.9 / 3)


def test_calibration_error_all_correct_and_nothing_binned():
    assert metrics.calibration_error([0.6, 0.8], [True, True], "uniform", n_bins=2) == pytest.approx(0.3)
    assert math.isnan(metrics.calibration_error([1.0, 1.0], [True, False], "uniform"))


def test_quantile_edges_forced_to_unit_interval():
    edges = metrics.bin_edges([0.2, 0.4, 0.6, 0.8], "quantile", n_bins=2)
    assert edges.tolist() == [0.0, 0.5, 1.0]


def test_quantile_duplicate_edges_give_empty_bins():
    conf = [0.5, 0.5, 0.5, 0.5, 0.9]
    edges = metrics.bin_edges(conf, "quantile", n_bins=4)
    assert edges.tolist() == [0.0, 0.5, 0.5, 0.5, 1.0]
    table = metrics.reliability_bins(conf, [True, False, True, False, True], "quantile", n_bins=4)
    # a value equal to repeated edges goes to the last bin that starts there
    assert table["count"].tolist() == [0, 0, 0, 5]
    assert metrics.calibration_error(conf, [True, False, True, False, True], "quantile", n_bins=4) \
        == pytest.approx(abs(0.6 - 2.9 / 5))


def test_unparseable_confidence_zero_lands_in_lowest_bin():
    # median 0.45 -> edges 0, 0.45, 1
    table = metrics.reliability_bins([0.0, 0.0, 0.9, 0.95], [False, False, True, True], "quantile", n_bins=2)
    assert table["count"].tolist() == [2, 2]
    assert table.loc[0, "frac_correct"] == 0.0 and table.loc[0, "mean_conf"] == 0.0


def test_correlation_by_hand():
    # dx = -1, 0, 1; dy = -1, 1, 0  ->  r = 1 / sqrt(2 * 2) = 0.5; ranks equal values -> rho = 0.5
    # t = r sqrt(n-2) / sqrt(1-r^2) = 1/sqrt(3), df 1 -> p = 1 - 2 atan(1/sqrt(3)) / pi = 2/3
    c = metrics.correlation([1, 2, 3, np.nan], [1, 3, 2, 5])
    assert c.n == 3
    assert c.pearson_r == pytest.approx(0.5)
    assert c.pearson_p == pytest.approx(2 / 3)
    assert c.spearman_rho == pytest.approx(0.5)


def test_correlation_needs_three_pairs_and_spread():
    c = metrics.correlation([1, 2, np.nan], [1, 2, 3])
    assert c.n == 2 and math.isnan(c.pearson_r)
    c = metrics.correlation([1, 2, 3], [5, 5, 5])
    assert c.n == 3 and math.isnan(c.pearson_r) and math.isnan(c.spearman_rho)
    with pytest.raises(ValueError, match="x and y must be 1-d and equally long"):
        metrics.correlation([1, 2, 3], [1, 2])


def test_share_equal():
    assert metrics.share_equal(np.array([1.0, 0.5, 1.0, 0.2], dtype=np.float32)) == 0.5
