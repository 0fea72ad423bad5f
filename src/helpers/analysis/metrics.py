"""Per-answer metrics on plain arrays: accuracy, AUROC, Mann-Whitney U, calibration, correlation.

Every function takes a confidence array ``conf`` (MSP or Max Logit) and a boolean array ``correct``
of the same length. Unparseable answers are expected to arrive as ``correct=False`` with
``conf=0`` (METHODS §5); nothing here treats them specially.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score

Binning = Literal["quantile", "uniform"]


def paired(conf, correct, *, nonempty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The one validator of paired inputs: ``conf`` as float64 and ``correct`` as bool arrays,
    1-d and equally long (and not empty if ``nonempty``); ``ValueError`` saying which rule failed.

    >>> paired([0.9, 0.4], [1, 0])
    (array([0.9, 0.4]), array([ True, False]))
    """
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if conf.shape != correct.shape or conf.ndim != 1:
        raise ValueError(f"conf and correct must be 1-d and equally long, "
                         f"got shapes {conf.shape} and {correct.shape}")
    if nonempty and conf.size == 0:
        raise ValueError("conf and correct must not be empty")
    return conf, correct


def accuracy_pct(correct) -> float:
    """Accuracy in percent: 100 × mean(correct); unparseable answers count as wrong (METHODS §8.1).

    NaN for an empty array.
    """
    correct = np.asarray(correct, dtype=bool)
    return float(100 * correct.mean()) if correct.size else float("nan")


def auroc_pct(conf, correct) -> float:
    """Area under the ROC curve in percent, positive class = correct (METHODS §8.2).

    Ties in ``conf`` count 1/2, so it equals 100 × U / (n_correct × n_wrong) of the Mann-Whitney
    test. Undefined, hence NaN, when all answers are correct or all are wrong.
    """
    conf, correct = paired(conf, correct)
    if correct.all() or not correct.any():
        return float("nan")
    return float(100 * roc_auc_score(correct, conf))


class MannWhitney(NamedTuple):
    """U statistic of the correct answers' confidences and its two p-values."""

    u: float
    p_two_sided: float
    p_one_sided: float


def mann_whitney(conf, correct) -> MannWhitney:
    """Mann-Whitney U test of conf(correct) against conf(wrong) (METHODS §8.3).

    ``scipy.stats.mannwhitneyu`` with its defaults (asymptotic normal approximation with tie and
    continuity correction on large samples): ``p_two_sided`` is the paper's p-value,
    ``p_one_sided`` tests the directional hypothesis conf(correct) > conf(wrong).
    U counts pairs (correct, wrong) with the correct answer more confident, ties 1/2.
    All NaN when all answers are correct or all are wrong.
    """
    conf, correct = paired(conf, correct)
    if correct.all() or not correct.any():
        return MannWhitney(float("nan"), float("nan"), float("nan"))
    x, y = conf[correct], conf[~correct]
    two = stats.mannwhitneyu(x, y, alternative="two-sided")
    one = stats.mannwhitneyu(x, y, alternative="greater")
    return MannWhitney(float(two.statistic), float(two.pvalue), float(one.pvalue))


def bin_edges(conf, bins: Binning = "quantile", n_bins: int = 10) -> np.ndarray:
    """The ``n_bins + 1`` bin edges on [0, 1] (METHODS §8.6).

    ``"quantile"``: ``np.quantile(conf, linspace(0, 1, n_bins + 1))`` (linear interpolation) with
    the first edge set to 0 and the last to 1, as the paper (equal-mass bins; repeated values can
    give repeated edges, i.e. empty bins). ``"uniform"``: ``linspace(0, 1, n_bins + 1)``.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if bins == "uniform":
        return np.linspace(0, 1, n_bins + 1)
    if bins == "quantile":
        conf = np.asarray(conf, dtype=np.float64)
        if conf.size == 0:
            raise ValueError("quantile bins need at least one confidence value")
        edges = np.quantile(conf, np.linspace(0, 1, n_bins + 1))
        edges[0], edges[-1] = 0.0, 1.0
        return edges
    raise ValueError(f"bins must be 'quantile' or 'uniform', got {bins!r}")


def reliability_bins(conf, correct, bins: Binning = "quantile", n_bins: int = 10,
                     last_bin_closed: bool = False) -> pd.DataFrame:
    """Per-bin table for reliability diagrams and calibration error (METHODS §8.6).

    An answer falls in bin j when ``edge[j] <= conf < edge[j+1]`` (half-open, as the paper: a
    confidence equal to the last edge, MSP == 1.0, falls in no bin and is dropped);
    ``last_bin_closed=True`` puts it in the last bin instead. Confidences outside [0, 1] fall in no
    bin. Columns: bin, lower, upper, count, mean_conf, frac_correct (NaN for empty bins; all
    ``n_bins`` rows are returned).
    """
    conf, correct = paired(conf, correct)
    edges = bin_edges(conf, bins, n_bins)
    idx = np.searchsorted(edges, conf, side="right") - 1
    if last_bin_closed:
        idx[conf == edges[-1]] = n_bins - 1
    inside = (idx >= 0) & (idx < n_bins)
    idx = idx[inside]
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf[inside], minlength=n_bins)
    correct_sum = np.bincount(idx, weights=correct[inside], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        frac_correct = np.where(count > 0, correct_sum / count, np.nan)
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:],
                         "count": count, "mean_conf": mean_conf, "frac_correct": frac_correct})


def calibration_error(conf, correct, bins: Binning = "quantile", n_bins: int = 10,
                      weighted: bool = False, last_bin_closed: bool = False) -> float:
    """Mean over non-empty bins of |fraction correct − mean confidence| (METHODS §8.6), a fraction.

    The defaults are the paper's table value (quantile bins, unweighted, MSP == 1.0 dropped);
    ``bins="uniform"`` per cell is the value of the paper's calibration-vs-accuracy figure (§8.4);
    ``weighted=True, last_bin_closed=True`` is the conventional ECE (bins weighted by their share
    of answers, every answer counted), with equal-mass (``"quantile"``) or equal-width
    (``"uniform"``) bins. NaN when no answer falls in any bin.
    """
    table = reliability_bins(conf, correct, bins, n_bins, last_bin_closed)
    table = table[table["count"] > 0]
    if table.empty:
        return float("nan")
    gap = (table["frac_correct"] - table["mean_conf"]).abs()
    weights = table["count"] if weighted else None
    return float(np.average(gap, weights=weights))


class Correlation(NamedTuple):
    """Pearson and Spearman correlation of two paired samples."""

    n: int
    pearson_r: float
    pearson_p: float
    spearman_rho: float
    spearman_p: float


def correlation(x, y) -> Correlation:
    """Pearson r with its two-sided p from ``scipy.stats.linregress`` (as the paper, METHODS §8.4)
    and Spearman rho with its two-sided p, over the pairs where both values are finite.

    All NaN (with the count ``n``) when fewer than 3 pairs remain or either sample is constant.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d and equally long, got shapes {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(n, float("nan"), float("nan"), float("nan"), float("nan"))
    fit = stats.linregress(x, y)
    rho = stats.spearmanr(x, y)
    return Correlation(n, float(fit.rvalue), float(fit.pvalue), float(rho.statistic), float(rho.pvalue))


def share_equal(conf, value: float = 1.0) -> float:
    """Fraction of confidences exactly equal to ``value`` (e.g. MSP == 1.0, which the paper's
    half-open bins drop, METHODS §8.6). NaN for an empty array."""
    conf = np.asarray(conf)
    return float((conf == value).mean()) if conf.size else float("nan")
