"""Correlations across models, as the paper's scatter plots (METHODS §8.4).

The unit is the model; every statistic is over the paper's models only, so a scored model of ours
never moves a paper number (``scored.scored_positions`` says where ours would sit).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from scipy import stats

from helpers.analysis import metrics
from helpers.analysis.cells import split_scored

#: p-value below which a correlation across models is called significant in our prose
CORRELATION_ALPHA = 0.05


#: the (x, y) pairs of the paper's correlation figures (METHODS §8.4)
ACCURACY_PAIRS = (("accuracy", "auroc_msp"), ("accuracy", "auroc_max_logit"),
                  ("accuracy", "calibration_error_uniform_cells"))


#: size pairs (models of known size only, METHODS §8.4)
SIZE_PAIRS = (("params_b", "accuracy"), ("params_b", "auroc_msp"), ("params_b", "auroc_max_logit"),
              ("params_b", "calibration_error_uniform_cells"))


def correlation_table(models: pd.DataFrame, pairs: Sequence[tuple[str, str]] = ACCURACY_PAIRS,
                      include_scored: bool = False) -> pd.DataFrame:
    """One row per (x, y) pair: x, y, n, pearson_r, pearson_p, spearman_rho, spearman_p (METHODS §8.4).

    The unit is the model (one row of ``models`` each), the paper's models only unless
    ``include_scored``; models lacking x or y (GPT for Max Logit, unknown sizes) are left out,
    which gives the paper's n = 14 for MSP and n = 12 for Max Logit.
    """
    data = models if include_scored else split_scored(models)[0]
    rows = [(x, y, *metrics.correlation(data[x], data[y])) for x, y in pairs]
    return pd.DataFrame(rows, columns=["x", "y", *metrics.Correlation._fields])


def leave_one_out(models: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Pearson r of y on x over the paper's models with each one left out in turn (scored models
    never count): model, r_without, change = r_without − r over all of them; largest |change| first."""
    paper = split_scored(models)[0].reset_index(drop=True)
    r_all = metrics.correlation(paper[x], paper[y]).pearson_r
    r_without = [metrics.correlation(paper.drop(index=i)[x], paper.drop(index=i)[y]).pearson_r
                 for i in range(len(paper))]
    out = pd.DataFrame({"model": paper["model"].astype(str), "r_without": r_without})
    out["change"] = out["r_without"] - r_all
    return out.sort_values("change", key=lambda c: -c.abs(), kind="stable").reset_index(drop=True)


def linear_fit(models: pd.DataFrame, x: str, y: str):
    """The least-squares line of y on x over the paper's models having both values
    (``scipy.stats.linregress``, as the paper's figures, METHODS §8.4); None with fewer than three
    such models or a constant x or y. Our scored models never enter the fit."""
    data = split_scored(models)[0][[x, y]].dropna()
    if len(data) < 3 or data[x].nunique() < 2 or data[y].nunique() < 2:
        return None
    return stats.linregress(data[x], data[y])
