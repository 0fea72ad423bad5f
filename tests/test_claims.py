"""helpers.claims: hand-computed small tables, then the paper's printed numbers from the published data."""

import math

import numpy as np
import pandas as pd
import pytest

from helpers import claims, metrics
from helpers.table import conform


def tidy(rows):
    """Tidy table from (model, dataset, phrasing, grades 'cwu' string, msp list, max_logit list or None)."""
    parts = []
    for model, dataset, phrasing, grades, msp, max_logit in rows:
        grade = [{"c": "correct", "w": "wrong", "u": "unparseable"}[g] for g in grades]
        parts.append(pd.DataFrame({
            "source": "published", "model": model, "dataset": dataset, "phrasing": phrasing, "shots": 0,
            "qid": range(len(grades)), "grade": grade, "correct": [g == "c" for g in grades],
            "msp": msp, "max_logit": max_logit if max_logit is not None else np.nan,
        }))
    return conform(pd.concat(parts, ignore_index=True))


SMALL = tidy([
    # model A: arc first has an unparseable answer (conf 0); mmlu second is all correct
    ("A", "arc", "first", "ccwu", [0.9, 0.6, 0.6, 0.0], [10, 5, 7, 0]),
    ("A", "arc", "second", "cccw", [0.9, 0.8, 0.7, 0.6], [4, 3, 2, 1]),
    ("A", "mmlu", "first", "cwww", [0.5, 0.6, 0.7, 1.0], [1, 2, 3, 4]),
    ("A", "mmlu", "second", "cccc", [1.0, 0.9, 0.8, 0.7], [4, 3, 2, 1]),
    ("gpt-4-turbo", "arc", "first", "cwww", [0.9, 0.1, 0.2, 0.3], None),
    ("gpt-4-turbo", "arc", "second", "ccww", [0.9, 0.8, 0.7, 0.6], None),
    ("gpt-4-turbo", "mmlu", "first", "cccw", [1.0, 1.0, 0.9, 0.5], None),
    ("gpt-4-turbo", "mmlu", "second", "wwww", [0.5, 0.5, 0.5, 0.5], None),
])


@pytest.fixture(scope="module")
def small_cells():
    return claims.cell_table(SMALL)


def test_cell_table_rows_and_order(small_cells):
    # A: 2 datasets x 2 phrasings x 2 signals; GPT: MSP only; paper models before others
    assert len(small_cells) == 12
    assert small_cells["model"].tolist()[:4] == ["gpt-4-turbo"] * 4
    assert set(small_cells.loc[small_cells["model"] == "gpt-4-turbo", "signal"]) == {"msp"}
    first = small_cells.iloc[4]
    assert (first["model"], first["dataset"], first["phrasing"], first["signal"]) == ("A", "arc", "first", "msp")


def test_cell_table_values_by_hand(small_cells):
    cell = small_cells.set_index(claims.CELL)
    msp = cell.loc[("A", "arc", "first", "msp")]
    assert (msp["n"], msp["n_correct"], msp["n_unparseable"]) == (4, 2, 1)
    assert msp["accuracy"] == 50.0
    # pairs (.9,.6)=1 (.9,0)=1 (.6,.6)=1/2 (.6,0)=1
    assert msp["auroc"] == pytest.approx(87.5) and msp["mw_u"] == 3.5
    # max logit: (10,7)=1 (10,0)=1 (5,7)=0 (5,0)=1
    assert cell.loc[("A", "arc", "first", "max_logit"), "auroc"] == pytest.approx(75.0)
    assert math.isnan(cell.loc[("A", "mmlu", "second", "msp"), "auroc"])
    assert math.isnan(cell.loc[("gpt-4-turbo", "mmlu", "second", "msp"), "mw_p_two_sided"])


def test_cell_table_rejects_mixed_shots():
    with pytest.raises(ValueError, match="shots"):
        claims.cell_table(pd.concat([SMALL, SMALL.assign(shots=np.int8(1))], ignore_index=True))


def test_model_metrics_means_over_cells(small_cells):
    models = claims.model_metrics(small_cells).set_index("model")
    assert models.loc["A", "accuracy"] == pytest.approx((50 + 75 + 25 + 100) / 4)
    assert models.loc["gpt-4-turbo", "accuracy"] == pytest.approx((25 + 50 + 75 + 0) / 4)
    assert math.isnan(models.loc["gpt-4-turbo", "auroc_max_logit"])
    assert models.loc["gpt-4-turbo", "n_cells_max_logit"] == 0
    assert pd.isna(models.loc["gpt-4-turbo", "n_sig_max_logit"])
    # the all-correct cell has no AUROC and is left out of the mean
    a_msp = small_cells.query("model == 'A' and signal == 'msp'")["auroc"].dropna()
    assert len(a_msp) == 3 and models.loc["A", "auroc_msp"] == pytest.approx(a_msp.mean())


def test_model_metrics_counts_significant_cells():
    cells = pd.DataFrame({
        "model": ["M"] * 4, "dataset": ["arc", "arc", "mmlu", "mmlu"], "phrasing": ["first", "second"] * 2,
        "signal": "msp", "accuracy": [50.0, 60, 70, 80], "auroc": [60.0, 70, 80, 90],
        "mw_p_two_sided": [1e-3, 9.9e-5, 1e-4, 1e-12],
    })
    overall = claims.model_metrics(cells).iloc[0]
    assert (overall["n_sig_msp"], overall["n_cells_msp"]) == (2, 4)  # p == 1e-4 is not < 1e-4
    per_dataset = claims.model_metrics(cells, by_dataset=True).set_index("dataset")
    assert per_dataset["n_sig_msp"].tolist() == [1, 1]
    assert per_dataset["auroc_msp"].tolist() == [65.0, 85.0]
    assert claims.significant_models(per_dataset.reset_index().assign(n_sig_msp=[2, 1])) == ["M"]


def test_dataset_metrics_weight_cells_not_models(small_cells):
    datasets = claims.dataset_metrics(small_cells).set_index("dataset")
    # arc cells: A 50, 50 (first, both signals), 75, 75; GPT 25, 50  (A weighs twice)
    assert datasets.loc["arc", "accuracy"] == pytest.approx((50 + 50 + 75 + 75 + 25 + 50) / 6)
    arc_msp = small_cells.query("dataset == 'arc' and signal == 'msp'")["auroc"]
    assert datasets.loc["arc", "auroc_msp"] == pytest.approx(arc_msp.mean())


def test_calibration_by_model_pools_and_averages():
    cal = claims.calibration_by_model(SMALL).set_index("model")
    a = SMALL[SMALL["model"] == "A"]
    assert cal.loc["A", "calibration_error_paper"] == pytest.approx(
        metrics.calibration_error(a["msp"], a["correct"]))
    per_cell = [metrics.calibration_error(c["msp"], c["correct"], "uniform")
                for _, c in a.groupby(["dataset", "phrasing"], observed=True)]
    assert cal.loc["A", "calibration_error_uniform_cells"] == pytest.approx(np.mean(per_cell))
    assert cal.loc["A", "share_msp_one"] == pytest.approx(2 / 16)
    assert cal.loc["gpt-4-turbo", "n"] == 16


def test_reliability_table_leaves_out_empty_bins():
    rel = claims.reliability_table(SMALL)
    assert set(rel["model"]) == {"A", "gpt-4-turbo"}
    assert (rel["count"] > 0).all()
    # half-open bins: the two MSP == 1.0 of gpt-4-turbo are not binned
    assert rel.loc[rel["model"] == "gpt-4-turbo", "count"].sum() == 16 - 2


def test_correlation_table_drops_missing_models():
    models = pd.DataFrame({"accuracy": [1.0, 2, 3, 4], "auroc_msp": [1.0, 3, 2, 5],
                           "auroc_max_logit": [1.0, 3, 2, np.nan],
                           "calibration_error_uniform_cells": [4.0, 3, 2, 1]})
    table = claims.correlation_table(models).set_index("y")
    assert table["n"].tolist() == [4, 3, 4]
    assert table.loc["auroc_max_logit", "pearson_r"] == pytest.approx(0.5)
    assert table.loc["calibration_error_uniform_cells", "spearman_rho"] == pytest.approx(-1.0)


def test_model_order_puts_paper_models_first():
    assert claims.model_order(["zeta", "gpt-4-turbo", "alpha", "Falcon-7b"]) == \
        ["Falcon-7b", "gpt-4-turbo", "alpha", "zeta"]


# ---- the paper's printed numbers, from the published zero-shot answers -----------------------


@pytest.fixture(scope="module")
def cells(published):
    return claims.cell_table(published)


@pytest.fixture(scope="module")
def models(published, cells):
    return claims.model_summary(published, cells).set_index("model")


def test_published_cell_count(cells):
    assert len(cells) == 260
    assert cells.groupby("signal").size().to_dict() == {"msp": 140, "max_logit": 120}


@pytest.mark.parametrize("model, dataset, accuracy, auroc_msp, auroc_max_logit", [
    ("Llama3-70b", "arc", 92.3, 89.7, 82.3),
    ("Falcon-7b", "truthfulqa", 19.8, 59.5, 58.1),
])
def test_published_per_dataset_table(cells, model, dataset, accuracy, auroc_msp, auroc_max_logit):
    row = claims.model_metrics(cells, by_dataset=True).set_index(["model", "dataset"]).loc[(model, dataset)]
    assert round(row["accuracy"], 1) == accuracy
    assert round(row["auroc_msp"], 1) == auroc_msp
    assert round(row["auroc_max_logit"], 1) == auroc_max_logit


def test_published_accuracy_correlations(models):
    table = claims.correlation_table(models).set_index("y")
    msp, logit, cal = (table.loc[y] for y in ("auroc_msp", "auroc_max_logit",
                                               "calibration_error_uniform_cells"))
    assert msp["n"] == 14 and msp["pearson_r"] == pytest.approx(0.8313, abs=1e-4)
    assert msp["pearson_p"] == pytest.approx(2.3e-4, abs=0.05e-4)
    assert logit["n"] == 12 and logit["pearson_r"] == pytest.approx(0.9094, abs=1e-4)
    assert logit["pearson_p"] == pytest.approx(4.1e-5, abs=0.05e-5)
    assert cal["n"] == 14 and round(cal["pearson_r"], 3) == -0.209
    assert round(cal["pearson_p"], 2) == 0.47


def test_published_size_correlations(models):
    table = claims.correlation_table(models.reset_index(), claims.SIZE_PAIRS).set_index("y")
    assert (table["n"] == 12).all()
    expected = {"auroc_msp": (0.579, 0.049), "auroc_max_logit": (0.399, 0.20),
                "calibration_error_uniform_cells": (0.208, 0.52), "accuracy": (0.538, 0.071)}
    for y, (r, p) in expected.items():
        assert table.loc[y, "pearson_r"] == pytest.approx(r, abs=5e-4), y
        assert table.loc[y, "pearson_p"] == pytest.approx(p, rel=0.03), y


def test_published_calibration_table(models):
    assert round(models.loc["Llama3-70b", "calibration_error_paper"], 2) == 0.22
    assert round(models.loc["Llama3-70b", "ece_equal_mass"], 2) == 0.17
    assert round(models.loc["Mixtral", "calibration_error_paper"], 2) == 0.32
    assert round(models.loc["Mixtral", "ece_equal_mass"], 2) == 0.31
    assert round(100 * models.loc["Llama3-70b", "share_msp_one"], 1) == 27.3
    assert round(100 * models.loc["Mixtral", "share_msp_one"], 1) == 17.4
    assert round(100 * models.loc["gpt-4-turbo", "share_msp_one"], 1) == 4.7
    assert (models["n"] == 42814).all()


def test_published_significance_and_t_test(cells, models):
    # the paper's per-model table: every cell significant for Llama 3 70B, one for Falcon 7B MSP
    assert models.loc["Llama3-70b", "n_sig_msp"] == 10
    assert models.loc["Falcon-7b", "n_sig_msp"] == 1
    test = claims.signal_auroc_t_test(cells)
    assert (test["n_msp"], test["n_max_logit"]) == (140, 120)
    assert round(test["mean_msp"], 2) == 66.53 and round(test["mean_max_logit"], 2) == 62.00
    assert test["p"] == pytest.approx(8.8e-5, abs=0.05e-5)


@pytest.mark.parametrize("r, p, words", [
    (0.83, 2e-4, "a strong positive correlation"),
    (-0.5, 0.01, "a moderate negative correlation"),
    (0.2, 0.049, "a weak positive correlation"),
    (-0.21, 0.47, "no significant correlation"),
    (0.9, 0.05, "no significant correlation"),
    (float("nan"), float("nan"), "no significant correlation"),
])
def test_describe_correlation(r, p, words):
    assert claims.describe_correlation(r, p) == words


def test_calibration_overconfidence():
    cal = claims.calibration_by_model(SMALL).set_index("model")
    # A: 10 of 16 answers correct, MSPs sum to 11.3
    assert cal.loc["A", "frac_correct"] == pytest.approx(10 / 16)
    assert cal.loc["A", "mean_msp"] == pytest.approx(11.3 / 16)
    assert cal.loc["A", "overconfidence"] == pytest.approx((11.3 - 10) / 16)


@pytest.mark.parametrize("n, total, words", [
    (14, 14, "holds for every model"), (1, 1, "holds for the model"),
    (13, 14, "holds for 13 of 14 models"), (0, 12, "does not hold for any model"),
])
def test_verdict(n, total, words):
    assert claims.verdict(n, total) == words


def test_miscalibrated_models():
    cal = pd.DataFrame({"model": ["a", "b", "c"], "ece_equal_mass": [0.04, 0.05, 0.2]})
    assert claims.miscalibrated_models(cal) == ["c"]
    assert claims.miscalibrated_models(cal, tolerance=0.01) == ["a", "b", "c"]


def test_t_test_needs_two_cells_per_signal(small_cells):
    gpt_only = small_cells[small_cells["model"] == "gpt-4-turbo"]
    test = claims.signal_auroc_t_test(gpt_only)
    assert test["n_max_logit"] == 0 and math.isnan(test["p"])
