"""helpers.analysis.cells: hand-computed small tables, then the paper's printed per-cell, per-model and
calibration numbers from the published zero-shot answers."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.inputs import SMALL, real
from helpers.analysis import cells, metrics
from helpers.data.vocabulary import model_order


@pytest.fixture(scope="module")
def small_cells():
    return cells.cell_table(SMALL)


def test_cell_table_rows_and_order(small_cells):
    # A: 2 datasets x 2 phrasings x 2 signals; GPT: MSP only; paper models before others
    assert len(small_cells) == 12
    assert small_cells["model"].tolist()[:4] == ["gpt-4-turbo"] * 4
    assert set(small_cells.loc[small_cells["model"] == "gpt-4-turbo", "signal"]) == {"msp"}
    first = small_cells.iloc[4]
    assert (first["model"], first["dataset"], first["phrasing"], first["signal"]) == ("A", "arc", "first", "msp")
    assert list(small_cells.columns) == cells.CELL + ["n", "n_correct", "n_unparseable", "accuracy", "auroc",
                                                      "mw_u", "mw_p_two_sided", "mw_p_one_sided"]


def test_cell_table_values_by_hand(small_cells):
    cell = small_cells.set_index(cells.CELL)
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
        cells.cell_table(pd.concat([SMALL, SMALL.assign(shots=np.int8(1))], ignore_index=True))


def test_model_metrics_means_over_cells(small_cells):
    models = cells.model_metrics(small_cells).set_index("model")
    assert models.loc["A", "accuracy"] == pytest.approx((50 + 75 + 25 + 100) / 4)
    assert models.loc["gpt-4-turbo", "accuracy"] == pytest.approx((25 + 50 + 75 + 0) / 4)
    assert math.isnan(models.loc["gpt-4-turbo", "auroc_max_logit"])
    assert models.loc["gpt-4-turbo", "n_cells_max_logit"] == 0
    assert pd.isna(models.loc["gpt-4-turbo", "n_sig_max_logit"])
    # the all-correct cell has no AUROC and is left out of the mean
    a_msp = small_cells.query("model == 'A' and signal == 'msp'")["auroc"].dropna()
    assert len(a_msp) == 3 and models.loc["A", "auroc_msp"] == pytest.approx(a_msp.mean())


def test_model_metrics_counts_significant_cells():
    table = pd.DataFrame({
        "model": ["M"] * 4, "dataset": ["arc", "arc", "mmlu", "mmlu"], "phrasing": ["first", "second"] * 2,
        "signal": "msp", "accuracy": [50.0, 60, 70, 80], "auroc": [60.0, 70, 80, 90],
        "mw_p_two_sided": [1e-3, 9.9e-5, 1e-4, 1e-12],
    })
    overall = cells.model_metrics(table).iloc[0]
    assert (overall["n_sig_msp"], overall["n_cells_msp"]) == (2, 4)  # p == 1e-4 is not < 1e-4
    assert overall["n_above_msp"] == 2 and pd.isna(overall["n_above_max_logit"])
    # a significant cell below chance counts as significant but not as above chance
    below = cells.model_metrics(table.assign(auroc=[60.0, 30, 80, 90])).iloc[0]
    assert (below["n_sig_msp"], below["n_above_msp"]) == (2, 1)
    per_dataset = cells.model_metrics(table, by_dataset=True).set_index("dataset")
    assert per_dataset["n_sig_msp"].tolist() == [1, 1]
    assert per_dataset["auroc_msp"].tolist() == [65.0, 85.0]


def test_dataset_metrics_weight_cells_not_models(small_cells):
    datasets = cells.dataset_metrics(small_cells).set_index("dataset")
    # arc cells: A 50, 50 (first, both signals), 75, 75; GPT 25, 50  (A weighs twice)
    assert datasets.loc["arc", "accuracy"] == pytest.approx((50 + 50 + 75 + 75 + 25 + 50) / 6)
    arc_msp = small_cells.query("dataset == 'arc' and signal == 'msp'")["auroc"]
    assert datasets.loc["arc", "auroc_msp"] == pytest.approx(arc_msp.mean())


def test_calibration_by_model_pools_and_averages():
    cal = cells.calibration_by_model(SMALL).set_index("model")
    a = SMALL[SMALL["model"] == "A"]
    assert cal.loc["A", "calibration_error_paper"] == pytest.approx(
        metrics.calibration_error(a["msp"], a["correct"]))
    per_cell = [metrics.calibration_error(c["msp"], c["correct"], "uniform")
                for _, c in a.groupby(["dataset", "phrasing"], observed=True)]
    assert cal.loc["A", "calibration_error_uniform_cells"] == pytest.approx(np.mean(per_cell))
    assert cal.loc["A", "share_msp_one"] == pytest.approx(2 / 16)
    assert cal.loc["gpt-4-turbo", "n"] == 16


def test_calibration_overconfidence():
    cal = cells.calibration_by_model(SMALL).set_index("model")
    # A: 10 of 16 answers correct, MSPs sum to 11.3
    assert cal.loc["A", "frac_correct"] == pytest.approx(10 / 16)
    assert cal.loc["A", "mean_msp"] == pytest.approx(11.3 / 16)
    assert cal.loc["A", "overconfidence"] == pytest.approx((11.3 - 10) / 16)


def test_reliability_table_leaves_out_empty_bins():
    rel = cells.reliability_table(SMALL)
    assert set(rel["model"]) == {"A", "gpt-4-turbo"}
    assert (rel["count"] > 0).all()
    # half-open bins: the two MSP == 1.0 of gpt-4-turbo are not binned
    assert rel.loc[rel["model"] == "gpt-4-turbo", "count"].sum() == 16 - 2
    closed = cells.reliability_table(SMALL, last_bin_closed=True)
    assert closed.loc[closed["model"] == "gpt-4-turbo", "count"].sum() == 16


def test_split_scored_keeps_the_index():
    table = pd.DataFrame({"model": pd.Categorical(["Tiny", "Yi-6b", "zz", "Mixtral", "gpt-4-turbo"]),
                          "v": [1, 2, 3, 4, 5]})
    paper, scored = cells.split_scored(table)
    assert paper["v"].tolist() == [2, 4, 5] and scored["v"].tolist() == [1, 3]
    assert scored.index.tolist() == [0, 2]  # rows keep their index


def test_tables_come_in_display_order():
    # the paper's models in its order (GPT last), then ours alphabetically
    assert model_order(["zeta", "gpt-4-turbo", "alpha", "Falcon-7b"]) == ["Falcon-7b", "gpt-4-turbo", "alpha", "zeta"]
    mixed = SMALL.assign(model=SMALL["model"].astype(str).replace({"A": "zz"}))
    mixed = pd.concat([mixed, SMALL.assign(model=SMALL["model"].astype(str).replace({"A": "Yi-6b",
                                                                                    "gpt-4-turbo": "aa"}))])
    per_model = cells.model_metrics(cells.cell_table(mixed))
    assert per_model["model"].tolist() == ["Yi-6b", "gpt-4-turbo", "aa", "zz"]


def test_family_trend_smallest_first():
    models = pd.DataFrame({"model": ["Llama-70b", "Llama-7b", "Llama-13b", "Yi-6b", "Tiny"],
                           "x": [2.0, 0, 1, 3, 9], "y": [2.0, 0, 1, 10, -9]})
    trend = cells.family_trend(models, "Llama 2", ["x", "y"])
    assert list(trend.columns) == ["model", "params_b", "x", "y"]
    assert trend["model"].tolist() == ["Llama-7b", "Llama-13b", "Llama-70b"]
    assert trend["params_b"].tolist() == [7.0, 13.0, 70.0]
    assert trend["x"].tolist() == [0.0, 1.0, 2.0]
    assert cells.family_trend(models, "Falcon", ["x"]).empty


def test_extremes_are_model_keys():
    values = pd.Series({"Yi-6b": 3.0, "Mistral": 1.0, "Tiny": np.nan, "gpt-4-turbo": 5.0})
    assert cells.extremes(values) == cells.Extremes(min=1.0, min_model="Mistral", max=5.0, max_model="gpt-4-turbo")
    with pytest.raises(ValueError, match="auroc: no values"):
        cells.extremes(pd.Series([np.nan], index=["a"], name="auroc"))


# ---- the paper's printed numbers, from the published zero-shot answers -----------------------


@pytest.fixture(scope="module")
def published_cells(published):
    return real(published).cells


@pytest.fixture(scope="module")
def models(published):
    return real(published).models.set_index("model")


def test_published_cell_count(published_cells):
    assert len(published_cells) == 260
    assert published_cells.groupby("signal").size().to_dict() == {"msp": 140, "max_logit": 120}


@pytest.mark.parametrize("model, dataset, accuracy, auroc_msp, auroc_max_logit", [
    ("Llama3-70b", "arc", 92.3, 89.7, 82.3),
    ("Falcon-7b", "truthfulqa", 19.8, 59.5, 58.1),
])
def test_published_per_dataset_table(published_cells, model, dataset, accuracy, auroc_msp, auroc_max_logit):
    row = cells.model_metrics(published_cells, by_dataset=True).set_index(["model", "dataset"]).loc[(model, dataset)]
    assert round(row["accuracy"], 1) == accuracy
    assert round(row["auroc_msp"], 1) == auroc_msp
    assert round(row["auroc_max_logit"], 1) == auroc_max_logit


def test_published_calibration_table(models):
    assert round(models.loc["Llama3-70b", "calibration_error_paper"], 2) == 0.22
    assert round(models.loc["Llama3-70b", "ece_equal_mass"], 2) == 0.17
    assert round(models.loc["Mixtral", "calibration_error_paper"], 2) == 0.32
    assert round(models.loc["Mixtral", "ece_equal_mass"], 2) == 0.31
    assert round(100 * models.loc["Llama3-70b", "share_msp_one"], 1) == 27.3
    assert round(100 * models.loc["Mixtral", "share_msp_one"], 1) == 17.4
    assert round(100 * models.loc["gpt-4-turbo", "share_msp_one"], 1) == 4.7
    assert (models["n"] == 42814).all()


def test_published_significant_cell_counts(models):
    # the paper's per-model table: every cell significant for Llama 3 70B, one for Falcon 7B MSP
    assert models.loc["Llama3-70b", "n_sig_msp"] == 10
    assert models.loc["Falcon-7b", "n_sig_msp"] == 1
    assert models.loc["Falcon-7b", "n_above_msp"] == 1 and models.loc["Llama3-70b", "n_above_msp"] == 10
    assert models.loc["gpt-4-turbo", "n_cells_max_logit"] == 0 and pd.isna(models.loc["gpt-4-turbo", "n_sig_max_logit"])


def test_published_model_sizes(models):
    assert models.loc["Mixtral", "params_b"] == 46.7
    assert models["params_b"].isna().sum() == 2  # the GPT models
