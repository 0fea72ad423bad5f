"""helpers.analysis.correlations: across models, over the paper's models only; by hand, then the
paper's printed correlations from the published answers."""

import numpy as np
import pandas as pd
import pytest

from analysis.inputs import real
from helpers.analysis import correlations, metrics


def test_correlation_table_drops_missing_models_and_ours():
    models = pd.DataFrame({"model": ["Falcon-7b", "Yi-6b", "Mistral", "gpt-4-turbo", "mine"],
                           "accuracy": [1.0, 2, 3, 4, 5], "auroc_msp": [1.0, 3, 2, 5, -100],
                           "auroc_max_logit": [1.0, 3, 2, np.nan, 100],
                           "calibration_error_uniform_cells": [4.0, 3, 2, 1, 0]})
    table = correlations.correlation_table(models)
    assert list(table.columns) == ["x", "y", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"]
    assert list(zip(table["x"], table["y"])) == list(correlations.ACCURACY_PAIRS)
    table = table.set_index("y")
    assert table["n"].tolist() == [4, 3, 4]
    assert table.loc["auroc_max_logit", "pearson_r"] == pytest.approx(0.5)
    assert table.loc["calibration_error_uniform_cells", "spearman_rho"] == pytest.approx(-1.0)
    paper_r = metrics.correlation([1, 2, 3, 4], [1, 3, 2, 5]).pearson_r
    assert table.loc["auroc_msp", "pearson_r"] == pytest.approx(paper_r)
    with_ours = correlations.correlation_table(models, include_scored=True).set_index("y")
    assert with_ours["n"].tolist() == [5, 4, 5]
    assert with_ours.loc["auroc_msp", "pearson_r"] < 0


def test_linear_fit_ignores_scored_models():
    models = pd.DataFrame({"model": ["Falcon-7b", "Yi-6b", "Mistral", "mine"],
                           "x": [0.0, 1, 2, 3], "y": [1.0, 3, 5, 0]})
    fit = correlations.linear_fit(models, "x", "y")
    assert (fit.slope, fit.intercept, fit.rvalue) == pytest.approx((2.0, 1.0, 1.0))
    assert correlations.linear_fit(models.iloc[[0, 1, 3]], "x", "y") is None  # two paper models: no line
    assert correlations.linear_fit(models.assign(x=1.0), "x", "y") is None  # constant x: no line


def test_leave_one_out():
    models = pd.DataFrame({"model": ["Llama-70b", "Llama-7b", "Llama-13b", "Yi-6b", "Tiny"],
                           "x": [2.0, 0, 1, 3, 9], "y": [2.0, 0, 1, 10, -9]})
    loo = correlations.leave_one_out(models, "x", "y")
    assert list(loo.columns) == ["model", "r_without", "change"]
    assert set(loo["model"]) == {"Llama-70b", "Llama-7b", "Llama-13b", "Yi-6b"}  # Tiny is ours
    r_all = metrics.correlation([2, 0, 1, 3], [2, 0, 1, 10]).pearson_r
    yi = loo.set_index("model").loc["Yi-6b"]
    assert yi["r_without"] == pytest.approx(1.0) and yi["change"] == pytest.approx(1.0 - r_all)
    assert loo["change"].abs().is_monotonic_decreasing


# ---- the paper's printed numbers --------------------------------------------------------------


@pytest.fixture(scope="module")
def models(published):
    return real(published).models


def test_published_accuracy_correlations(models):
    table = correlations.correlation_table(models).set_index("y")
    msp, logit, cal = (table.loc[y] for y in ("auroc_msp", "auroc_max_logit", "calibration_error_uniform_cells"))
    assert msp["n"] == 14 and msp["pearson_r"] == pytest.approx(0.8313, abs=1e-4)
    assert msp["pearson_p"] == pytest.approx(2.3e-4, abs=0.05e-4)
    assert logit["n"] == 12 and logit["pearson_r"] == pytest.approx(0.9094, abs=1e-4)
    assert logit["pearson_p"] == pytest.approx(4.1e-5, abs=0.05e-5)
    assert cal["n"] == 14 and round(cal["pearson_r"], 3) == -0.209
    assert round(cal["pearson_p"], 2) == 0.47


def test_published_size_correlations(models):
    table = correlations.correlation_table(models, correlations.SIZE_PAIRS).set_index("y")
    assert (table["n"] == 12).all()
    expected = {"auroc_msp": (0.579, 0.049), "auroc_max_logit": (0.399, 0.20),
                "calibration_error_uniform_cells": (0.208, 0.52), "accuracy": (0.538, 0.071)}
    for y, (r, p) in expected.items():
        assert table.loc[y, "pearson_r"] == pytest.approx(r, abs=5e-4), y
        assert table.loc[y, "pearson_p"] == pytest.approx(p, rel=0.03), y


def test_published_fit_is_the_correlation_tables(models):
    fit = correlations.linear_fit(models, "accuracy", "auroc_msp")
    assert fit.rvalue == pytest.approx(0.8313, abs=1e-4)
    loo = correlations.leave_one_out(models, "accuracy", "auroc_msp")
    assert len(loo) == 14 and loo["r_without"].notna().all()
