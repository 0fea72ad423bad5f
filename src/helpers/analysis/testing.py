"""The tests behind the paper's verdicts, as a reviewer would ask for them.

- Correctness prediction per cell (METHODS §8.3): the 260 Mann-Whitney tests of ``cell_tables.cell_table``
  with family-wise (Holm 1979, "A simple sequentially rejective multiple test procedure", Scand. J.
  Statist. 6) and false-discovery-rate (Benjamini & Hochberg 1995, JRSS B 57) corrections of the
  one-sided p-values (the hypothesis is directional: right answers more confident), next to the
  paper's count of two-sided p < 1e-4.
- MSP against Max Logit: per-cell paired Wilcoxon signed-rank test (Wilcoxon 1945) of the AUROC
  difference over the cells where a model has both signals, a paired bootstrap interval of the mean
  difference (``analysis.bootstrap``), and the paper's unpaired pooled t-test over all cells
  (METHODS §8.3 option 4) with and without the GPT models' MSP cells (GPT has no Max Logit).
- Correlations across models (METHODS §8.4): the Fisher z interval of Pearson r (Fisher 1921),
  permutation p-values (Pitman 1937; Monte-Carlo p = (1 + #{|r*| >= |r|}) / (1 + B), Phipson &
  Smyth 2010), bootstrap intervals over questions (``analysis.bootstrap``) and over models
  (resampling models with replacement), and leave-one-model-out / leave-one-family-out ranges.
- Calibration (METHODS §8.6): per model, whether the bootstrap interval of each calibration-error
  variant lies above a tolerance.

Cells and models are the paper's (``vocabulary.is_scored`` rows are left out of every test across
cells or models).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from helpers.analysis import bootstrap, metrics, significance
from helpers.analysis import cells as cell_tables
from helpers.data import vocabulary
from helpers.data.vocabulary import model_table, SIGNALS

#: level of the corrected tests
ALPHA = 0.05
#: default number of permutations / model resamples
N_PERMUTATIONS = 10_000
N_MODEL_RESAMPLES = 10_000
#: default seed (the paper's seed, METHODS §2, reused)
SEED = 2549900867
CONFIDENCE = bootstrap.CONFIDENCE
#: tolerance for |r*| >= |r| in permutation tests (ties in floating point)
_TIE = 1e-12


def _paper(frame: pd.DataFrame) -> pd.DataFrame:
    return cell_tables.split_scored(frame)[0]


# --- correctness prediction per cell -------------------------------------------------------------

def corrected_cell_pvalues(cells: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """The paper's cells (rows of ``cell_tables.cell_table``) with multiple-comparison corrections.

    The family is every paper cell with a p-value (both signals: 260 on the full data). Columns:
    model, dataset, phrasing, signal, auroc, p_two_sided, p_one_sided (H1: conf(correct) >
    conf(wrong)), p_holm and p_bh (Holm and Benjamini-Hochberg adjusted one-sided p-values,
    ``statsmodels.stats.multitest.multipletests``), sig_paper (two-sided p < 1e-4, the paper's
    count), sig_one_sided (uncorrected one-sided p < alpha), sig_holm, sig_bh (adjusted p < alpha).
    Cells without a p-value (all answers right or all wrong) get NaN and False.
    """
    out = _paper(cells)[cell_tables.CELL + ["auroc", "mw_p_two_sided", "mw_p_one_sided"]].rename(
        columns={"mw_p_two_sided": "p_two_sided", "mw_p_one_sided": "p_one_sided"}).reset_index(drop=True)
    p = out["p_one_sided"].to_numpy(np.float64)
    finite = np.isfinite(p)
    for name, method in (("p_holm", "holm"), ("p_bh", "fdr_bh")):
        adjusted = np.full(len(p), np.nan)
        if finite.any():
            adjusted[finite] = multipletests(p[finite], alpha=alpha, method=method)[1]
        out[name] = adjusted
    out["sig_paper"] = (out["p_two_sided"] < cell_tables.SIGNIFICANCE).to_numpy(bool)
    out["sig_one_sided"] = (out["p_one_sided"] < alpha).to_numpy(bool)
    out["sig_holm"] = (out["p_holm"] < alpha).to_numpy(bool)
    out["sig_bh"] = (out["p_bh"] < alpha).to_numpy(bool)
    return out


def significant_cell_counts(corrected: pd.DataFrame) -> pd.DataFrame:
    """Per model × signal (rows of :func:`corrected_cell_pvalues`): n_cells, n_sig_paper (two-sided
    p < 1e-4, the paper's "x/10"), n_sig_one_sided, n_sig_holm, n_sig_bh; models in display order."""
    counts = corrected.groupby(["model", "signal"], sort=False).agg(
        n_cells=("p_one_sided", "size"), n_sig_paper=("sig_paper", "sum"),
        n_sig_one_sided=("sig_one_sided", "sum"), n_sig_holm=("sig_holm", "sum"), n_sig_bh=("sig_bh", "sum"))
    counts = counts.astype(int).reset_index()
    order = {m: i for i, m in enumerate(vocabulary.model_order(counts["model"]))}
    signal = {s: i for i, s in enumerate(SIGNALS)}
    return (counts.assign(_m=counts["model"].map(order), _s=counts["signal"].map(signal))
            .sort_values(["_m", "_s"]).drop(columns=["_m", "_s"]).reset_index(drop=True))


# --- MSP against Max Logit -------------------------------------------------------------------------

def signal_pairs(cells: pd.DataFrame) -> pd.DataFrame:
    """The paper's cells with both signals, paired: model, dataset, phrasing, auroc_msp,
    auroc_max_logit, difference (MSP − Max Logit, points); pairs lacking either AUROC dropped."""
    wide = _paper(cells).pivot(index=["model", "dataset", "phrasing"], columns="signal", values="auroc")
    wide = wide.reindex(columns=list(SIGNALS)).dropna()
    out = wide.rename(columns={"msp": "auroc_msp", "max_logit": "auroc_max_logit"}).reset_index()
    out.columns.name = None
    return out.assign(difference=out["auroc_msp"] - out["auroc_max_logit"])


def signal_wilcoxon_test(cells: pd.DataFrame) -> dict[str, float]:
    """Wilcoxon signed-rank test of the per-cell AUROC difference MSP − Max Logit over
    :func:`signal_pairs` (``scipy.stats.wilcoxon`` defaults: zero differences dropped, exact or
    normal approximation chosen by scipy): n_pairs, mean_difference, median_difference, n_positive,
    statistic (two-sided W), p_two_sided, p_one_sided (H1: MSP AUROC > Max Logit AUROC)."""
    diff = signal_pairs(cells)["difference"].to_numpy(np.float64)
    if len(diff) == 0:
        raise ValueError("no cell has both signals")
    two = stats.wilcoxon(diff, alternative="two-sided")
    one = stats.wilcoxon(diff, alternative="greater")
    return {"n_pairs": len(diff), "mean_difference": float(diff.mean()),
            "median_difference": float(np.median(diff)), "n_positive": int((diff > 0).sum()),
            "statistic": float(two.statistic), "p_two_sided": float(two.pvalue), "p_one_sided": float(one.pvalue)}


def signal_difference_interval(boot: bootstrap.QuestionBootstrap,
                               confidence: float = CONFIDENCE) -> dict[str, float]:
    """Paired question-bootstrap interval of the mean over paired cells of MSP − Max Logit AUROC
    (``bootstrap.signal_difference_replicates``): estimate (full data), lo, hi (percentile),
    share_nonpositive (share of replicates <= 0, a one-sided bootstrap p-value), n_valid."""
    diff = bootstrap.signal_difference_replicates(boot)
    replicates = diff.drop(index=-1).to_numpy(np.float64)
    replicates = replicates[np.isfinite(replicates)]
    lo, hi = bootstrap.percentile_interval(replicates, confidence)
    return {"estimate": float(diff.loc[-1]), "lo": lo, "hi": hi,
            "share_nonpositive": float((replicates <= 0).mean()), "n_valid": int(replicates.size)}


def _api_models() -> set[str]:
    table = model_table()
    return set(table.loc[table["family"] == "GPT", "model"])


def signal_t_tests(cells: pd.DataFrame) -> pd.DataFrame:
    """The paper's pooled-variance one-sided t-test of MSP cell AUROCs > Max Logit cell AUROCs
    (``significance.signal_auroc_t_test``, METHODS §8.3 option 4), on all paper cells (cells='all') and
    without the GPT models' MSP cells (cells='without_gpt': the same models on both sides).
    Columns: cells, n_msp, n_max_logit, mean_msp, mean_max_logit, gap (mean_msp − mean_max_logit), t, p."""
    paper = _paper(cells)
    rows = []
    for name, frame in (("all", paper), ("without_gpt", paper[~paper["model"].isin(_api_models())])):
        test = significance.signal_auroc_t_test(frame)
        rows.append({"cells": name, "n_msp": test["n_msp"], "n_max_logit": test["n_max_logit"],
                     "mean_msp": test["mean_msp"], "mean_max_logit": test["mean_max_logit"],
                     "gap": test["mean_msp"] - test["mean_max_logit"], "t": test["t"], "p": test["p"]})
    return pd.DataFrame(rows)


def gpt_gap_share(cells: pd.DataFrame) -> dict[str, float]:
    """How much of the t-test's gap in mean AUROC (MSP − Max Logit, all cells) the GPT models' MSP
    cells make: gap_all, gap_without_gpt, gpt_share = (gap_all − gap_without_gpt) / gap_all,
    n_gpt_cells; NaN share when gap_all is 0."""
    tests = signal_t_tests(cells).set_index("cells")
    gap_all, gap_without = float(tests.at["all", "gap"]), float(tests.at["without_gpt", "gap"])
    paper = _paper(cells)
    n_gpt = int((paper["model"].isin(_api_models()) & (paper["signal"] == "msp") & paper["auroc"].notna()).sum())
    return {"gap_all": gap_all, "gap_without_gpt": gap_without,
            "gpt_share": (gap_all - gap_without) / gap_all if gap_all != 0 else float("nan"),
            "n_gpt_cells": n_gpt}


# --- correlations across models ----------------------------------------------------------------------

def fisher_z_interval(r: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Fisher z interval of a Pearson r from n pairs (Fisher 1921): tanh(atanh(r) ∓ z / sqrt(n − 3))
    with z the (1 + confidence)/2 normal quantile; (NaN, NaN) for n <= 3 or r not finite."""
    if n <= 3 or not np.isfinite(r):
        return float("nan"), float("nan")
    if abs(r) >= 1:
        return float(r), float(r)
    z = math.atanh(r)
    half = stats.norm.ppf((1 + confidence) / 2) / math.sqrt(n - 3)
    return float(math.tanh(z - half)), float(math.tanh(z + half))


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d and equally long, got shapes {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def permutation_pvalues(x, y, n_permutations: int = N_PERMUTATIONS, seed: int = SEED) -> tuple[float, float]:
    """Two-sided permutation p-values (Pearson r, Spearman ρ) of the association of x and y over the
    pairs where both are finite: y is permuted against x. When n! <= n_permutations every
    permutation is enumerated and p = #{|r*| >= |r|} / n! (exact); otherwise ``n_permutations``
    seeded random permutations and p = (1 + #{|r*| >= |r|}) / (1 + n_permutations) (Phipson & Smyth
    2010). NaN when the correlation is undefined (fewer than 3 pairs, a constant sample)."""
    x, y = _pair(x, y)
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    if math.factorial(n) <= n_permutations:
        perms = np.array(list(itertools.permutations(range(n))))
        exact = True
    else:
        rng = np.random.default_rng(seed)
        perms = rng.permuted(np.tile(np.arange(n), (n_permutations, 1)), axis=1)
        exact = False
    out = []
    for a, b in ((x, y), (stats.rankdata(x), stats.rankdata(y))):
        observed = bootstrap.row_correlations(a[None, :], b[None, :])[1][0]
        permuted = bootstrap.row_correlations(np.broadcast_to(a, perms.shape), b[perms])[1]
        hits = int((np.abs(permuted) >= abs(observed) - _TIE).sum())
        out.append(hits / len(perms) if exact else (1 + hits) / (1 + len(perms)))
    return float(out[0]), float(out[1])


def model_resample_intervals(x, y, n_resamples: int = N_MODEL_RESAMPLES, seed: int = SEED,
                             confidence: float = CONFIDENCE) -> dict[str, float]:
    """Bootstrap over models: the pairs (x_i, y_i) resampled with replacement (seeded), Pearson r and
    Spearman ρ per resample, percentile intervals. Resamples with an undefined correlation (fewer
    than 3 distinct pairs' worth of spread: a constant sample) are left out. Returns pearson_lo,
    pearson_hi, spearman_lo, spearman_hi, n_valid (resamples with a defined Pearson r)."""
    x, y = _pair(x, y)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_resamples, len(x)))
    _, r, rho = bootstrap.row_correlations(x[idx], y[idx])
    p_lo, p_hi = bootstrap.percentile_interval(r, confidence)
    s_lo, s_hi = bootstrap.percentile_interval(rho, confidence)
    return {"pearson_lo": p_lo, "pearson_hi": p_hi, "spearman_lo": s_lo, "spearman_hi": s_hi,
            "n_valid": int(np.isfinite(r).sum())}


def leave_out_correlations(models: pd.DataFrame, x: str, y: str, by: str = "model") -> pd.DataFrame:
    """Pearson r and Spearman ρ of y on x over the paper's models having both values, with one model
    (``by="model"``) or one family (``by="family"``, ``helpers.models`` family: Llama 2, Llama 3,
    Falcon, Yi, Mistral (Mistral and Mixtral), SOLAR, GPT) left out in turn: left_out, n,
    pearson_r, spearman_rho. Only groups with a model in the data are left out."""
    if by not in ("model", "family"):
        raise ValueError(f"by must be 'model' or 'family', got {by!r}")
    data = _paper(models)[["model", x, y]].dropna().reset_index(drop=True)
    family = model_table().set_index("model")["family"]
    keys = data["model"] if by == "model" else data["model"].map(family)
    rows = []
    for left_out in dict.fromkeys(keys):
        rest = data[keys != left_out]
        c = metrics.correlation(rest[x], rest[y])
        rows.append((left_out, c.n, c.pearson_r, c.spearman_rho))
    return pd.DataFrame(rows, columns=["left_out", "n", "pearson_r", "spearman_rho"])


def correlation_uncertainty(models: pd.DataFrame, boot: bootstrap.QuestionBootstrap | None = None,
                            pairs: Sequence[tuple[str, str]] = bootstrap.PAIRS,
                            n_permutations: int = N_PERMUTATIONS, n_model_resamples: int = N_MODEL_RESAMPLES,
                            seed: int = SEED, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Every uncertainty of each correlation across the paper's models (``models``: rows of
    ``cell_tables.model_summary``), one row per pair × method ('pearson' / 'spearman'):

    x, y, method, n, estimate, p (scipy's two-sided p, as ``metrics.correlation``), fisher_lo /
    fisher_hi (Pearson only), question_lo / question_hi (bootstrap over questions, from ``boot``;
    NaN without it), model_lo / model_hi (bootstrap over models), permutation_p, lomo_min /
    lomo_max (leave one model out), lofo_min / lofo_max (leave one family out) and the models /
    families giving them (lomo_min_model, lomo_max_model, lofo_min_family, lofo_max_family).
    """
    paper = _paper(models)
    question = bootstrap.correlation_intervals(boot, confidence) if boot is not None else None
    rows = []
    for x, y in pairs:
        data = paper[[x, y]].dropna()
        c = metrics.correlation(data[x], data[y])
        perm = permutation_pvalues(data[x], data[y], n_permutations, seed)
        resampled = model_resample_intervals(data[x], data[y], n_model_resamples, seed, confidence)
        lomo = leave_out_correlations(paper, x, y, "model")
        lofo = leave_out_correlations(paper, x, y, "family")
        for i, (method, column, estimate, p) in enumerate((("pearson", "pearson_r", c.pearson_r, c.pearson_p),
                                                           ("spearman", "spearman_rho", c.spearman_rho,
                                                            c.spearman_p))):
            fisher = fisher_z_interval(estimate, c.n, confidence) if method == "pearson" else (np.nan, np.nan)
            q_lo = q_hi = np.nan
            if question is not None:
                q = question[(question["x"] == x) & (question["y"] == y) & (question["method"] == method)]
                if len(q):
                    q_lo, q_hi = float(q["lo"].iloc[0]), float(q["hi"].iloc[0])
            lm, lf = lomo.set_index("left_out")[column], lofo.set_index("left_out")[column]
            rows.append({"x": x, "y": y, "method": method, "n": c.n, "estimate": estimate, "p": p,
                         "fisher_lo": fisher[0], "fisher_hi": fisher[1], "question_lo": q_lo, "question_hi": q_hi,
                         "model_lo": resampled[f"{method}_lo"], "model_hi": resampled[f"{method}_hi"],
                         "permutation_p": perm[i],
                         "lomo_min": float(lm.min()), "lomo_max": float(lm.max()),
                         "lomo_min_model": lm.idxmin() if lm.notna().any() else None,
                         "lomo_max_model": lm.idxmax() if lm.notna().any() else None,
                         "lofo_min": float(lf.min()), "lofo_max": float(lf.max()),
                         "lofo_min_family": lf.idxmin() if lf.notna().any() else None,
                         "lofo_max_family": lf.idxmax() if lf.notna().any() else None})
    return pd.DataFrame(rows)


# --- calibration -------------------------------------------------------------------------------------

def calibration_intervals(boot: bootstrap.QuestionBootstrap, tolerance: float = cell_tables.ECE_TOLERANCE,
                          confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per model × calibration-error variant (``bootstrap.CALIBRATION_VARIANTS``, fractions): model,
    variant, estimate, lo, hi (question-bootstrap percentile interval), above (lo > tolerance: the
    error exceeds the tolerance beyond resampling noise), below (hi < tolerance), tolerance."""
    out = bootstrap.model_intervals(boot, confidence, bootstrap.CALIBRATION_VARIANTS).rename(
        columns={"statistic": "variant"})
    out = out[out["n_valid"] > 0].drop(columns="n_valid").reset_index(drop=True)
    return out.assign(above=out["lo"] > tolerance, below=out["hi"] < tolerance, tolerance=tolerance)


def calibration_verdicts(boot: bootstrap.QuestionBootstrap, tolerance: float = cell_tables.ECE_TOLERANCE,
                         confidence: float = CONFIDENCE, variant: str = "ece_equal_mass") -> pd.DataFrame:
    """Per model, the calibration verdict of ``variant`` (default the conventional equal-mass
    weighted ECE, as ``significance.miscalibrated_models``) with its interval, and what the other
    variants say (:func:`calibration_intervals`):

    model, estimate, lo, hi, miscalibrated (point estimate > tolerance, the point rule of
    ``significance.miscalibrated_models``), above (the interval lies above the tolerance), below (it
    lies below), n_variants_above (variants whose interval lies above), variants_above
    (comma-separated keys), largest_variant (the variant with the largest estimate: the one that
    drives a miscalibration verdict), agrees (every variant's ``above`` equals this variant's).
    """
    table = calibration_intervals(boot, tolerance, confidence)
    rows = []
    for model, group in table.groupby("model", sort=False):
        group = group.set_index("variant")
        if variant not in group.index:
            continue
        own = group.loc[variant]
        above = group.index[group["above"]].tolist()
        rows.append({"model": model, "estimate": float(own["estimate"]), "lo": float(own["lo"]),
                     "hi": float(own["hi"]), "miscalibrated": bool(own["estimate"] > tolerance),
                     "above": bool(own["above"]), "below": bool(own["below"]), "n_variants_above": len(above),
                     "variants_above": ", ".join(above), "largest_variant": str(group["estimate"].idxmax()),
                     "agrees": bool((group["above"] == own["above"]).all())})
    out = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(vocabulary.model_order(out["model"]))}
    return out.sort_values("model", key=lambda c: c.map(order)).reset_index(drop=True)
