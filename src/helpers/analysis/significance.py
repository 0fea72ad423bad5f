"""The tests behind the paper's claims: significant cells, chance level, MSP against Max Logit,
miscalibration (METHODS §8.3, §8.6). Inputs are the tables of ``helpers.analysis.cells``; counts
across models are over the paper's models only (``cells.split_scored``)."""

from __future__ import annotations

import pandas as pd
from scipy import stats

from helpers.analysis.cells import CHANCE, ECE_TOLERANCE, SIGNIFICANCE, split_scored

def signal_auroc_t_test(cells: pd.DataFrame) -> dict[str, float]:
    """Pooled-variance two-sample t-test, one-sided, of all MSP cell AUROCs > all Max Logit cell
    AUROCs of the paper's models (METHODS §8.3, the paper's option 4; scored models' cells left out).
    Returns means, counts, t and p (NaN with fewer than two cells of either signal)."""
    cells = split_scored(cells)[0]
    msp = cells.loc[cells["signal"] == "msp", "auroc"].dropna()
    logit = cells.loc[cells["signal"] == "max_logit", "auroc"].dropna()
    t = p = float("nan")
    if len(msp) >= 2 and len(logit) >= 2:
        test = stats.ttest_ind(msp, logit, equal_var=True, alternative="greater")
        t, p = float(test.statistic), float(test.pvalue)
    return {"mean_msp": float(msp.mean()), "mean_max_logit": float(logit.mean()),
            "n_msp": len(msp), "n_max_logit": len(logit), "t": t, "p": p}


def significant_models(models: pd.DataFrame, signal: str = "msp") -> list[str]:
    """Models whose every cell of ``signal`` has p < 1e-4 (``models`` from ``model_metrics``)."""
    full = (models[f"n_cells_{signal}"] > 0) & (models[f"n_sig_{signal}"] == models[f"n_cells_{signal}"])
    return models.loc[full.fillna(False).astype(bool), "model"].tolist()


def above_chance(models: pd.DataFrame, signal: str = "msp") -> pd.Series:
    """Whether each model's ``signal`` is distinguishable from chance (rows of :func:`model_metrics`).

    Our rule: the mean AUROC of its cells is above 50% AND a strict majority of those cells are
    significantly above chance (two-sided Mann-Whitney p < 1e-4 with AUROC > 50%, ``n_above_*``).
    A mean above 50% alone is not enough: with few answers per cell a mean of, say, 51% arises
    from noise. False where the model lacks the signal. Boolean Series aligned with ``models``.
    """
    n_cells = models[f"n_cells_{signal}"].fillna(0).astype(int)
    n_above = models[f"n_above_{signal}"].fillna(0).astype(int)
    mean_above = (models[f"auroc_{signal}"] > CHANCE).fillna(False).astype(bool)
    return mean_above & (n_cells > 0) & (2 * n_above > n_cells)


def msp_beats_max_logit(models: pd.DataFrame) -> tuple[int, int]:
    """(n_both, n_msp_better): how many models (rows of :func:`model_metrics`) have both mean
    AUROCs, and how many of them have a strictly higher mean AUROC with the MSP than the Max Logit."""
    both = models.dropna(subset=["auroc_msp", "auroc_max_logit"])
    return len(both), int((both["auroc_msp"] > both["auroc_max_logit"]).sum())


def n_below_chance(cells: pd.DataFrame) -> int:
    """How many cells (rows of :func:`cell_table`) have an AUROC below 50% (wrong answers more
    confident than right ones); cells without an AUROC are not counted."""
    return int((cells["auroc"] < CHANCE).sum())


def sidedness_changes(cells: pd.DataFrame, alpha: float = SIGNIFICANCE) -> int:
    """How many cells change verdict (p < alpha or not) between the paper's two-sided Mann-Whitney
    test and the one-sided test of the directional hypothesis conf(correct) > conf(wrong)
    (METHODS §8.3); cells without p-values count as not significant under both."""
    return int(((cells["mw_p_one_sided"] < alpha) != (cells["mw_p_two_sided"] < alpha)).sum())


def miscalibrated_models(calibration: pd.DataFrame, tolerance: float = ECE_TOLERANCE) -> list[str]:
    """Models (rows of ``calibration_by_model``) whose conventional ECE (equal-mass, weighted, every
    answer counted) exceeds ``tolerance``: on average their MSP is off by more than that fraction."""
    return calibration.loc[calibration["ece_equal_mass"] > tolerance, "model"].tolist()
