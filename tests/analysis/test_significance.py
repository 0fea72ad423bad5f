"""helpers.analysis.significance: the tests behind the claims (significant cells, chance, MSP against
Max Logit, miscalibration) by hand, then the paper's verdict numbers on the published answers."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.inputs import CELLS, SMALL, real
from helpers.analysis import cells, significance


def test_significant_models_need_every_cell_significant():
    models = pd.DataFrame({"model": ["a", "b", "c", "gpt"],
                           "n_sig_msp": pd.array([2, 1, 0, 2], dtype="Int64"),
                           "n_cells_msp": pd.array([2, 2, 0, 2], dtype="Int64"),
                           "n_sig_max_logit": pd.array([1, 1, 0, pd.NA], dtype="Int64"),
                           "n_cells_max_logit": pd.array([2, 1, 0, 0], dtype="Int64")})
    assert significance.significant_models(models) == ["a", "gpt"]  # c has no cells at all
    assert significance.significant_models(models, "max_logit") == ["b"]


def test_above_chance_needs_a_mean_above_50_and_a_majority_of_significant_cells():
    models = pd.DataFrame({
        "model": ["a", "b", "c", "d", "e", "f"],
        "auroc_msp": [50.9, 53.0, 60.0, 60.0, 49.0, np.nan],
        "n_above_msp": pd.array([0, 1, 6, 5, 10, pd.NA], dtype="Int64"),
        "n_cells_msp": pd.array([10, 10, 10, 10, 10, 0], dtype="Int64"),
    })
    # a: mean above 50 but nothing significant; d: half is not a majority; e: mean below 50
    chance = significance.above_chance(models)
    assert chance.dtype == bool and chance.tolist() == [False, False, True, False, False, False]




def test_cell_counts_by_hand():
    assert significance.n_below_chance(CELLS) == 4  # 45, 49, 20, 10; NaN not counted
    # Yi-6b cell 2 (significant two-sided, below chance) and cell 3 (p 1.5e-4 two-sided, 7.5e-5
    # one-sided) change; the two Tiny cells too
    assert significance.sidedness_changes(CELLS) == 4
    assert significance.sidedness_changes(CELLS[CELLS["model"] != "Tiny"]) == 2
    # at 0.02: Yi-6b cell 3 and both Mistral-cell p-values agree; Yi-6b cell 2 and Tiny's still differ
    assert significance.sidedness_changes(CELLS, alpha=0.02) == 3


def test_msp_beats_max_logit():
    models = pd.DataFrame({"model": ["a", "b", "c", "d"], "auroc_msp": [70.0, 60, 65, 80],
                           "auroc_max_logit": [60.0, 60, 66, np.nan]})
    assert significance.msp_beats_max_logit(models) == (3, 1)  # a only; b ties; d has no Max Logit


def test_miscalibrated_models():
    cal = pd.DataFrame({"model": ["a", "b", "c"], "ece_equal_mass": [0.04, 0.05, 0.2]})
    assert significance.miscalibrated_models(cal) == ["c"]  # 0.05 is not above the tolerance
    assert significance.miscalibrated_models(cal, tolerance=0.01) == ["a", "b", "c"]
    assert cells.ECE_TOLERANCE == 0.05


def test_t_test_leaves_out_scored_cells():
    table = pd.DataFrame({"model": ["Yi-6b"] * 4 + ["Tiny"] * 2,
                          "signal": ["msp", "msp", "max_logit", "max_logit", "msp", "max_logit"],
                          "auroc": [70.0, 72, 60, 62, 0, 100]})
    test = significance.signal_auroc_t_test(table)
    assert (test["n_msp"], test["mean_msp"], test["mean_max_logit"]) == (2, 71.0, 61.0)
    # pooled variance 2, standard error sqrt(2 (1/2 + 1/2)) = sqrt(2): t = 10 / sqrt(2), df 2
    assert test["t"] == pytest.approx(10 / math.sqrt(2))
    assert 0 < test["p"] < 0.01


def test_t_test_needs_two_cells_per_signal():
    gpt_only = cells.cell_table(SMALL[SMALL["model"] == "gpt-4-turbo"])
    test = significance.signal_auroc_t_test(gpt_only)
    assert test["n_max_logit"] == 0 and math.isnan(test["p"]) and math.isnan(test["t"])


# ---- the paper's verdict numbers --------------------------------------------------------------


@pytest.fixture(scope="module")
def tables(published):
    return real(published)


def test_published_t_test(tables):
    test = significance.signal_auroc_t_test(tables.cells)
    assert (test["n_msp"], test["n_max_logit"]) == (140, 120)
    assert round(test["mean_msp"], 2) == 66.53 and round(test["mean_max_logit"], 2) == 62.00
    assert test["p"] == pytest.approx(8.8e-5, abs=0.05e-5)


def test_published_verdict_numbers(tables):
    models = tables.models
    chance = significance.above_chance(models)
    assert models.loc[~chance, "model"].tolist() == ["Falcon-7b"] and chance.sum() == 13
    assert len(significance.significant_models(models)) == 9
    assert significance.msp_beats_max_logit(models) == (12, 10)
    assert significance.n_below_chance(tables.cells) == 9
    assert significance.sidedness_changes(tables.cells) == 0
    assert len(significance.miscalibrated_models(tables.models)) == 13
