"""helpers.claims: hand-computed small tables, then the paper's printed numbers from the published data."""

import math

import numpy as np
import pandas as pd
import pytest

from helpers import claims, metrics
from helpers.table import conform
from scored_rows import TINY, with_tiny


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
    assert overall["n_above_msp"] == 2 and pd.isna(overall["n_above_max_logit"])
    # a significant cell below chance counts as significant but not as above chance
    below = claims.model_metrics(cells.assign(auroc=[60.0, 30, 80, 90])).iloc[0]
    assert (below["n_sig_msp"], below["n_above_msp"]) == (2, 1)
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


def test_correlation_table_drops_missing_models_and_ours():
    models = pd.DataFrame({"model": ["Falcon-7b", "Yi-6b", "Mistral", "gpt-4-turbo", "mine"],
                           "accuracy": [1.0, 2, 3, 4, 5], "auroc_msp": [1.0, 3, 2, 5, -100],
                           "auroc_max_logit": [1.0, 3, 2, np.nan, 100],
                           "calibration_error_uniform_cells": [4.0, 3, 2, 1, 0]})
    table = claims.correlation_table(models).set_index("y")
    assert table["n"].tolist() == [4, 3, 4]
    assert table.loc["auroc_max_logit", "pearson_r"] == pytest.approx(0.5)
    assert table.loc["calibration_error_uniform_cells", "spearman_rho"] == pytest.approx(-1.0)
    paper_r = metrics.correlation([1, 2, 3, 4], [1, 3, 2, 5]).pearson_r
    assert table.loc["auroc_msp", "pearson_r"] == pytest.approx(paper_r)
    with_ours = claims.correlation_table(models, include_scored=True).set_index("y")
    assert with_ours["n"].tolist() == [5, 4, 5]
    assert with_ours.loc["auroc_msp", "pearson_r"] < 0


def test_is_scored_and_split_scored():
    assert claims.is_scored("Tiny") and not claims.is_scored("Falcon-7b") and not claims.is_scored("gpt-4-turbo")
    table = pd.DataFrame({"model": pd.Categorical(["Tiny", "Yi-6b", "zz", "Mixtral"]), "v": [1, 2, 3, 4]})
    paper, scored = claims.split_scored(table)
    assert paper["v"].tolist() == [2, 4] and scored["v"].tolist() == [1, 3]
    assert scored.index.tolist() == [0, 2]  # rows keep their index


def test_linear_fit_ignores_scored_models():
    models = pd.DataFrame({"model": ["Falcon-7b", "Yi-6b", "Mistral", "mine"],
                           "x": [0.0, 1, 2, 3], "y": [1.0, 3, 5, 0]})
    fit = claims.linear_fit(models, "x", "y")
    assert (fit.slope, fit.intercept, fit.rvalue) == pytest.approx((2.0, 1.0, 1.0))
    assert claims.linear_fit(models.iloc[[0, 1, 3]], "x", "y") is None  # two paper models: no line
    positions = claims.scored_positions(models, "x", "y").iloc[0]
    # the line predicts 7 at x = 3; mine has 0: 7 below it; with mine added r drops
    assert (positions["name"], positions["predicted"], positions["residual"], positions["side"]) == \
        ("mine", 7.0, -7.0, "below")
    assert positions["r_paper"] == pytest.approx(1.0)
    assert positions["r_with"] == pytest.approx(metrics.correlation([0, 1, 2, 3], [1, 3, 5, 0]).pearson_r)


def test_coverage_counts_answers_against_the_fullest_model():
    cov = claims.coverage(SMALL.assign(model=SMALL["model"].astype(str).replace({"A": "Tiny"}))
                          .query("not (model == 'Tiny' and dataset == 'mmlu')")).set_index("model")
    assert cov.loc["gpt-4-turbo", "covers"] == "all 16 answers" and cov.loc["gpt-4-turbo", "complete"]
    assert cov.loc["Tiny", ["datasets", "n_answers", "n_possible"]].tolist() == ["arc", 8, 16]
    assert cov.loc["Tiny", "covers"] == "8 of 16 answers, on arc only"
    fewer = claims.coverage(SMALL[(SMALL["model"] == "gpt-4-turbo") | (SMALL["qid"] < 2)]).set_index("model")
    assert fewer.loc["A", "covers"] == "8 of 16 answers, on all 2 datasets"
    assert cov.index.tolist() == ["gpt-4-turbo", "Tiny"]
    assert claims.join_words(["a", "b", "c"]) == "a, b and c" and claims.join_words(["a"]) == "a"


def test_scored_facts_and_sentences():
    calibration = pd.DataFrame({"model": ["Yi-6b", "Mistral", "Tiny"], "ece_equal_mass": [0.1, 0.3, 0.2],
                                "calibration_error_paper": [0.1, 0.3, 0.25], "mean_msp": [0.5, 0.6, 0.7],
                                "frac_correct": [0.4, 0.5, 0.6]})
    facts = claims.scored_calibration(calibration, tolerance=0.05)
    row = facts.iloc[0]
    assert (row["name"], row["status"], row["n_paper_worse"], row["n_paper"]) == ("Tiny", "miscalibrated", 1, 2)
    assert row["accuracy_pct"] == pytest.approx(60.0)
    assert claims.scored_calibration(calibration, tolerance=0.5).iloc[0]["status"] == "calibrated within the tolerance"
    text = claims.describe_each(facts, "{name}: ECE {ece:.2f}, worse than {n_paper_worse}.", none="None.")
    assert text == "Tiny: ECE 0.20, worse than 1."
    assert claims.describe_each(facts.iloc[:0], "{name}", none="None.") == "None."
    models = pd.DataFrame({"model": ["Yi-6b", "Mistral", "Tiny", "Zed", "Tiny2"],
                           "auroc_msp": [60.0, 70, 65, 50.9, 66],
                           "n_above_msp": pd.array([4, 4, 3, 0, 1], dtype="Int64"),
                           "n_cells_msp": pd.array([4, 4, 4, 10, 4], dtype="Int64")})
    correctness = claims.scored_correctness(models)
    assert correctness[["name", "chance", "n_paper_lower"]].values.tolist() == [
        ["Tiny", "distinguishable from chance", 1], ["Zed", "not distinguishable from chance", 0],
        ["Tiny2", "not distinguishable from chance", 1]]


def test_t_test_leaves_out_scored_cells():
    cells = pd.DataFrame({"model": ["Yi-6b"] * 4 + ["Tiny"] * 2, "signal": ["msp", "msp", "max_logit", "max_logit",
                                                                          "msp", "max_logit"],
                          "auroc": [70.0, 72, 60, 62, 0, 100]})
    test = claims.signal_auroc_t_test(cells)
    assert (test["n_msp"], test["mean_msp"], test["mean_max_logit"]) == (2, 71.0, 61.0)


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
    table = claims.correlation_table(models.reset_index()).set_index("y")
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


# ---- a scored model next to the paper's: shown, but no paper number moves ---------------------


@pytest.fixture(scope="module")
def joined(published):
    answers = with_tiny(published)
    cells = claims.cell_table(answers)
    return answers, cells, claims.model_summary(answers, cells)


def test_a_scored_model_leaves_every_paper_number_unchanged(cells, models, joined):
    answers, joined_cells, joined_models = joined
    paper_cells, scored_cells = claims.split_scored(joined_cells)
    pd.testing.assert_frame_equal(paper_cells, cells)
    paper, scored = claims.split_scored(joined_models)
    pd.testing.assert_frame_equal(paper, models.reset_index())  # accuracy, AUROC, calibration, counts
    table = claims.correlation_table(joined_models).set_index("y")
    assert table.loc["auroc_msp", "n"] == 14 and table.loc["auroc_msp", "pearson_r"] == pytest.approx(0.8313, abs=1e-4)
    assert table.loc["auroc_max_logit", "n"] == 12
    assert table.loc["auroc_max_logit", "pearson_r"] == pytest.approx(0.9094, abs=1e-4)
    pd.testing.assert_frame_equal(claims.correlation_table(joined_models),
                                  claims.correlation_table(models.reset_index()))
    assert claims.signal_auroc_t_test(joined_cells) == claims.signal_auroc_t_test(cells)
    pd.testing.assert_frame_equal(claims.dataset_metrics(paper_cells), claims.dataset_metrics(cells))
    # the chapters' verdict counts, over the paper's models
    assert len(claims.significant_models(paper)) == len(claims.significant_models(models.reset_index()))
    assert claims.miscalibrated_models(paper) == claims.miscalibrated_models(models.reset_index())
    assert round(paper.set_index("model").loc["Llama3-70b", "calibration_error_paper"], 2) == 0.22


def test_a_scored_model_appears_next_to_the_paper(joined):
    answers, joined_cells, joined_models = joined
    scored = claims.split_scored(joined_models)[1]
    assert scored["model"].tolist() == [TINY] and joined_models["model"].iloc[-1] == TINY
    assert set(joined_cells.loc[joined_cells["model"] == TINY, "dataset"]) == {"arc", "mmlu"}
    assert claims.correlation_table(joined_models, include_scored=True).set_index("y").loc["auroc_msp", "n"] == 15
    cov = claims.coverage(answers)
    arc_mmlu = 2 * 2590 + 2 * 600  # arc: 2590 questions, 2 phrasings; mmlu: qid < 600
    assert cov.set_index("model").loc[TINY, "covers"] == f"{arc_mmlu:,} of 42,814 answers, on arc and mmlu only"
    calibration = claims.scored_calibration(claims.calibration_by_model(answers), coverage_table=cov)
    assert calibration["name"].tolist() == [TINY] and calibration.iloc[0]["n_paper"] == 14
    assert calibration.iloc[0]["covers"].endswith("on arc and mmlu only")
    assert calibration.iloc[0]["ece"] == pytest.approx(scored.iloc[0]["ece_equal_mass"])
    correctness = claims.scored_correctness(joined_models).iloc[0]
    # its arc cells are significant, its 600-question mmlu cells are not: 2 of 4 is no majority
    assert (correctness["n_above_msp"], correctness["n_cells_msp"]) == (2, 4)
    assert correctness["chance"] == "not distinguishable from chance" and 0 <= correctness["n_paper_lower"] <= 14
    position = claims.scored_positions(joined_models, "accuracy", "auroc_msp").iloc[0]
    assert position["r_paper"] == pytest.approx(0.8313, abs=1e-4) and position["r_with"] != position["r_paper"]


def test_model_label_marks_ours():
    assert claims.model_label("Yi-6b") == "Yi 6B"
    assert claims.model_label("Tiny") == "Tiny (ours)"
    assert claims.model_label("Tiny", "arc only") == "Tiny (ours; arc only)"


# ---- the chapters' verdict numbers, by hand -----------------------------------------------------


def test_above_chance_needs_a_mean_above_50_and_a_majority_of_significant_cells():
    models = pd.DataFrame({
        "model": ["a", "b", "c", "d", "e", "f"],
        "auroc_msp": [50.9, 53.0, 60.0, 60.0, 49.0, np.nan],
        "n_above_msp": pd.array([0, 1, 6, 5, 10, pd.NA], dtype="Int64"),
        "n_cells_msp": pd.array([10, 10, 10, 10, 10, 0], dtype="Int64"),
    })
    # a: mean above 50 but nothing significant; d: half is not a majority; e: mean below 50
    assert claims.above_chance(models).tolist() == [False, False, True, False, False, False]


CELLS = pd.DataFrame({
    "model": ["Yi-6b"] * 4 + ["Mistral"] * 2 + ["Tiny"] * 2,
    "signal": ["msp", "msp", "max_logit", "max_logit", "msp", "msp", "msp", "max_logit"],
    "auroc": [70.0, 45.0, 60.0, np.nan, 55.0, 49.0, 20.0, 10.0],
    # one-sided p is half the two-sided one when AUROC > 50, about 1 - half when below
    "mw_p_two_sided": [1e-6, 1e-5, 1.5e-4, np.nan, 0.01, 0.5, 1e-9, 1e-9],
    "mw_p_one_sided": [5e-7, 1 - 5e-6, 7.5e-5, np.nan, 0.005, 0.75, 1.0, 1.0],
})


def test_cell_counts_by_hand():
    assert claims.n_below_chance(CELLS) == 4  # 45, 49, 20, 10; NaN not counted
    # Yi-6b cell 2 (significant two-sided, below chance) and cell 3 (p 1.5e-4 two-sided, 7.5e-5
    # one-sided) change; the two Tiny cells too
    assert claims.sidedness_changes(CELLS) == 4
    assert claims.sidedness_changes(CELLS[CELLS["model"] != "Tiny"]) == 2
    # at 0.02: Yi-6b cell 3 and both Mistral-cell p-values agree; Yi-6b cell 2 and Tiny's still differ
    assert claims.sidedness_changes(CELLS, alpha=0.02) == 3


def test_msp_beats_max_logit():
    models = pd.DataFrame({"model": ["a", "b", "c", "d"], "auroc_msp": [70.0, 60, 65, 80],
                           "auroc_max_logit": [60.0, 60, 66, np.nan]})
    assert claims.msp_beats_max_logit(models) == (3, 1)  # a only; b ties; d has no Max Logit


def test_extremes_and_words():
    values = pd.Series({"Yi-6b": 3.0, "Mistral": 1.0, "Tiny": np.nan, "gpt-4-turbo": 5.0})
    assert claims.extremes(values, "x") == {"x_min": 1.0, "x_min_model": "Mistral 7B", "x_max": 5.0,
                                            "x_max_model": "GPT4 Turbo"}
    with pytest.raises(ValueError, match="no values"):
        claims.extremes(pd.Series([np.nan], index=["a"]), "x")
    assert claims.power_of_ten(1e-4) == "10⁻⁴" and claims.power_of_ten(100) == "10²"
    assert claims.power_of_ten(0.05) == "0.05" and claims.power_of_ten(0) == "0"
    assert claims.exceptions([]) == "there is no exception"
    assert claims.exceptions(["Yi-6b"]) == "the exception is Yi 6B"
    assert claims.exceptions(["Yi-6b", "Tiny"]) == "the exceptions are Yi 6B and Tiny"
    assert claims.names_or([]) == "none" and claims.names_or(["Solar", "x"]) == "SOLAR 10.7B and x"
    assert claims.correlation_stats(14, 0.8313, 2.3e-4, 0.78) == "r = 0.83, p = 2.3e-04, n = 14; Spearman ρ = 0.78"
    assert claims.correlation_stats(12, 0.579, 0.049) == "r = 0.58, p = 0.049, n = 12"
    assert claims.correlation_stats(2, np.nan, np.nan, np.nan) == "n = 2, too few models for a correlation"


def test_correctness_summary_by_hand():
    models = pd.DataFrame({
        "model": ["Yi-6b", "Mistral", "Falcon-7b", "Tiny"],
        "auroc_msp": [70.0, 60.0, 51.0, 99.0], "auroc_max_logit": [65.0, 61.0, 50.0, 10.0],
        "n_sig_msp": pd.array([2, 2, 0, 2], dtype="Int64"), "n_above_msp": pd.array([2, 1, 0, 2], dtype="Int64"),
        "n_cells_msp": pd.array([2, 2, 2, 2], dtype="Int64"),
    })
    facts = claims.correctness_summary(models, CELLS)
    assert facts["n_models"] == 3  # Tiny is ours: left out
    assert (facts["n_supported"], facts["verdict"]) == (2, "holds for 2 of 3 models")
    assert facts["supported_models"] == "Yi 6B and Mistral 7B"
    assert facts["unsupported"] == "the exception is Falcon 7B"
    # Mistral: mean 60 but only 1 of 2 cells above chance, not a majority
    assert (facts["n_above_chance"], facts["not_above_chance"]) == (1, "the exceptions are Mistral 7B and Falcon 7B")
    assert facts["n_mean_above"] == 3
    assert (facts["auroc_min"], facts["auroc_min_model"], facts["auroc_max_model"]) == (51.0, "Falcon 7B", "Yi 6B")
    assert (facts["n_logit_models"], facts["n_msp_better"]) == (3, 2)  # Yi and Falcon
    # paper cells: Yi-6b and Mistral (6); MSP 70, 45, 55, 49 against Max Logit 60
    assert (facts["n_cells"], facts["n_below_chance"], facts["n_sidedness_differs"]) == (6, 2, 2)
    assert (facts["n_msp_cells"], facts["n_logit_cells"], facts["mean_msp"]) == (4, 1, pytest.approx(54.75))
    assert math.isnan(facts["t_p"])  # one Max Logit cell: no test


def test_calibration_summary_by_hand():
    calibration = pd.DataFrame({
        "model": ["Yi-6b", "Mistral", "Solar", "Tiny"],
        "calibration_error_paper": [0.04, 0.30, 0.20, 0.9],
        "ece_equal_mass": [0.03, 0.35, 0.10, 0.9],
        "share_msp_one": [0.0, 0.2, 0.1, 0.9],
        "overconfidence": [-0.02, 0.3, 0.1, 0.9],
    })
    facts = claims.calibration_summary(calibration, tolerance=0.05)
    assert (facts["n_models"], facts["n_miscalibrated"], facts["verdict"]) == (3, 2, "holds for 2 of 3 models")
    assert (facts["tolerance"], facts["tolerance_pct"]) == (0.05, 5.0)
    assert facts["n_overconfident"] == 2
    assert facts["overconfidence_min"] == pytest.approx(-2.0) and facts["overconfidence_max_model"] == "Mistral 7B"
    assert (facts["paper_min_model"], facts["ece_max"]) == ("Yi 6B", 0.35)
    assert (facts["most_ones_model"], facts["most_ones_share"]) == ("Mistral 7B", pytest.approx(20.0))
    # |paper − ECE|: 0.01, 0.05, 0.10 → SOLAR
    assert (facts["changed_model"], facts["changed_paper"], facts["changed_ece"]) == ("SOLAR 10.7B", 0.20, 0.10)
    assert facts["rank_rho"] == pytest.approx(1.0)
    assert claims.calibration_summary(calibration, tolerance=0.5)["verdict"] == "does not hold for any model"


def test_leave_one_out_and_family_trend():
    models = pd.DataFrame({"model": ["Llama-70b", "Llama-7b", "Llama-13b", "Yi-6b", "Tiny"],
                           "x": [2.0, 0, 1, 3, 9], "y": [2.0, 0, 1, 10, -9]})
    loo = claims.leave_one_out(models, "x", "y")
    assert set(loo["model"]) == {"Llama-70b", "Llama-7b", "Llama-13b", "Yi-6b"}  # Tiny is ours
    r_all = metrics.correlation([2, 0, 1, 3], [2, 0, 1, 10]).pearson_r
    yi = loo.set_index("model").loc["Yi-6b"]
    assert yi["r_without"] == pytest.approx(1.0) and yi["change"] == pytest.approx(1.0 - r_all)
    assert loo["change"].abs().is_monotonic_decreasing
    trend = claims.family_trend(models, "Llama 2", ["x", "y"])
    assert trend["model"].tolist() == ["Llama-7b", "Llama-13b", "Llama-70b"]
    assert trend["params_b"].tolist() == [7.0, 13.0, 70.0]
    assert claims.trend_words([1, 2, 3]) == "rises" and claims.trend_words([3, 1]) == "falls"
    assert claims.trend_words([1, 3, 2]) == "does not move in one direction"
    assert claims.trend_words([1]) == "cannot be compared"
    assert claims.describe_family_trend(models.assign(y=[0.5, 3, 4, 0, 0]), "Llama 2", {"x": "x", "y": "y"}) == (
        "Within Llama 2 (7, 13 and 70 billion parameters), x rises (0.0, 1.0 and 2.0) and y does not move in "
        "one direction (3.0, 4.0 and 0.5).")
    assert claims.describe_family_trend(models, "Falcon", {"x": "x"}) == "No Falcon model is in this run."


def test_scored_overview_and_the_models_a_chapter_shows():
    cells = pd.DataFrame({"model": ["Tiny"] * 3 + ["Yi-6b"] * 2, "signal": ["msp", "msp", "max_logit", "msp", "msp"],
                          "n": [200, 150, 200, 817, 6000], "n_unparseable": [1, 2, 1, 0, 0]})
    models = pd.DataFrame({"model": ["Yi-6b", "Tiny"], "auroc_msp": [60.0, 52.0],
                           "n_above_msp": pd.array([2, 0], dtype="Int64"), "n_cells_msp": pd.array([2, 2], dtype="Int64")})
    row = claims.scored_overview(models, cells).iloc[0]
    assert (row["name"], row["n_answers"], row["n_per_cell"], row["n_per_cell_paper"]) == ("Tiny", 350, 150, 817)
    assert row["unparseable_pct"] == pytest.approx(100 * 3 / 350)
    assert row["chance"] == "not distinguishable from chance" and row["n_paper_lower"] == 0  # Yi 6B: 60 > 52
    assert claims.models_and_scored(None, ["Tiny", "Yi-6b"]) is None
    assert claims.models_and_scored(["Yi-6b", "Falcon-7b"], ["zz", "Yi-6b", "Tiny", "Mistral"]) == [
        "Falcon-7b", "Yi-6b", "Tiny", "zz"]
    assert claims.models_and_scored("Yi-6b", ["Tiny"]) == ["Yi-6b", "Tiny"]


def test_the_verdict_numbers_on_the_real_data(cells, models):
    per_model = models.reset_index()
    chance = claims.above_chance(per_model)
    assert not chance[per_model["model"] == "Falcon-7b"].any() and chance.sum() == 13
    assert models.loc["Falcon-7b", "n_above_msp"] == 1 and models.loc["Llama3-70b", "n_above_msp"] == 10
    facts = claims.correctness_summary(per_model, cells)
    assert (facts["n_supported"], facts["n_above_chance"], facts["n_mean_above"]) == (9, 13, 14)
    assert (facts["n_logit_models"], facts["n_msp_better"]) == (12, 10)
    assert (facts["n_cells"], facts["n_below_chance"], facts["n_sidedness_differs"]) == (260, 9, 0)
    assert facts["not_above_chance"] == "the exception is Falcon 7B"
    calibration = claims.calibration_summary(per_model)
    assert (calibration["n_miscalibrated"], calibration["most_ones_model"]) == (13, "Llama 3 70B")
    assert calibration["changed_model"] == "Llama 3 70B" and round(calibration["rank_rho"], 2) == 0.98
