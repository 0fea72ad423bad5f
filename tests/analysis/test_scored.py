"""helpers.analysis.scored: our scored models next to the paper's, in numbers (no words); by hand,
then a synthetic scored model on the real data: shown next to the paper's, and no paper number moves."""

import pandas as pd
import pytest

from analysis.inputs import SMALL, real
from helpers.analysis import cells, correlations, metrics, scored, significance
from scored_rows import TINY


def test_coverage_counts_answers_against_the_fullest_model():
    cov = scored.coverage(SMALL.assign(model=SMALL["model"].astype(str).replace({"A": "Tiny"}))
                          .query("not (model == 'Tiny' and dataset == 'mmlu')"))
    assert list(cov.columns) == ["model", "datasets", "n_answers", "n_possible", "all_datasets", "complete"]
    assert cov["model"].tolist() == ["gpt-4-turbo", "Tiny"]
    cov = cov.set_index("model")
    assert cov.loc["gpt-4-turbo", "datasets"] == ["arc", "mmlu"]
    assert cov.loc["gpt-4-turbo", "complete"] and cov.loc["gpt-4-turbo", "all_datasets"]
    assert cov.loc["Tiny", ["datasets", "n_answers", "n_possible"]].tolist() == [["arc"], 8, 16]
    assert not cov.loc["Tiny", "complete"] and not cov.loc["Tiny", "all_datasets"]
    fewer = scored.coverage(SMALL[(SMALL["model"] == "gpt-4-turbo") | (SMALL["qid"] < 2)]).set_index("model")
    # every dataset, but only half the answers
    assert fewer.loc["A", "all_datasets"] and not fewer.loc["A", "complete"]
    assert fewer.loc["A", ["n_answers", "n_possible"]].tolist() == [8, 16]


def test_scored_rows_and_the_paper_models_beyond_them():
    table = pd.DataFrame({"model": ["Yi-6b", "Tiny", "Mistral", "gpt-4-turbo"], "v": [1.0, 2.0, 3.0, None]})
    rows = scored.scored_rows(table)
    assert rows[["model", "v", "n_paper"]].values.tolist() == [["Tiny", 2.0, 3]]
    assert rows.index.tolist() == [0]
    # NaN values of the paper's models count neither way; ties count neither way
    assert scored.n_paper_beyond(table, "v", [2.0, 3.0, 0.0], larger=True) == [1, 0, 2]
    assert scored.n_paper_beyond(table, "v", [2.0, 3.0], larger=False) == [1, 1]


def test_scored_calibration_flags_miscalibration():
    calibration = pd.DataFrame({"model": ["Yi-6b", "Mistral", "Tiny"], "ece_equal_mass": [0.1, 0.3, 0.2],
                                "calibration_error_paper": [0.1, 0.3, 0.25], "mean_msp": [0.5, 0.6, 0.7],
                                "frac_correct": [0.4, 0.5, 0.6]})
    row = scored.scored_calibration(calibration, tolerance=0.05).iloc[0]
    assert (row["model"], row["miscalibrated"], row["n_paper_worse"], row["n_paper"]) == ("Tiny", True, 1, 2)
    assert (row["ece"], row["paper_error"]) == (0.2, 0.25)
    assert row["accuracy_pct"] == pytest.approx(60.0) and row["mean_msp_pct"] == pytest.approx(70.0)
    assert not scored.scored_calibration(calibration, tolerance=0.5).iloc[0]["miscalibrated"]
    assert scored.scored_calibration(calibration.iloc[:2]).empty


def test_scored_correctness_by_the_chance_rule():
    models = pd.DataFrame({"model": ["Yi-6b", "Mistral", "Tiny", "Zed", "Tiny2"],
                           "auroc_msp": [60.0, 70, 65, 50.9, 66],
                           "n_above_msp": pd.array([4, 4, 3, 0, 1], dtype="Int64"),
                           "n_cells_msp": pd.array([4, 4, 4, 10, 4], dtype="Int64")})
    correctness = scored.scored_correctness(models)
    assert correctness["above_chance"].dtype == bool
    assert correctness[["model", "above_chance", "n_paper_lower"]].values.tolist() == [
        ["Tiny", True, 1], ["Zed", False, 0], ["Tiny2", False, 1]]
    assert scored.scored_correctness(models.iloc[:2]).empty


def test_scored_overview_counts_answers_per_cell():
    cell_rows = pd.DataFrame({"model": ["Tiny"] * 3 + ["Yi-6b"] * 2,
                              "signal": ["msp", "msp", "max_logit", "msp", "msp"],
                              "n": [200, 150, 200, 817, 6000], "n_unparseable": [1, 2, 1, 0, 0]})
    models = pd.DataFrame({"model": ["Yi-6b", "Tiny"], "auroc_msp": [60.0, 52.0],
                           "n_above_msp": pd.array([2, 0], dtype="Int64"),
                           "n_cells_msp": pd.array([2, 2], dtype="Int64")})
    row = scored.scored_overview(models, cell_rows).iloc[0]
    assert (row["model"], row["n_answers"], row["n_per_cell"], row["n_per_cell_paper"]) == ("Tiny", 350, 150, 817)
    assert row["unparseable_pct"] == pytest.approx(100 * 3 / 350)
    assert not row["above_chance"] and row["n_paper_lower"] == 0  # Yi 6B: 60 > 52
    without_paper = scored.scored_overview(models.iloc[1:], cell_rows[cell_rows["model"] == "Tiny"]).iloc[0]
    assert pd.isna(without_paper["n_per_cell_paper"])


def test_scored_positions_against_the_paper_models_line():
    models = pd.DataFrame({"model": ["Falcon-7b", "Yi-6b", "Mistral", "mine", "theirs"],
                           "x": [0.0, 1, 2, 3, 0], "y": [1.0, 3, 5, 0, 2]})
    positions = scored.scored_positions(models, "x", "y").set_index("model")
    # the line y = 1 + 2x predicts 7 at x = 3; mine has 0: 7 below it; theirs: 1 above at x = 0
    mine, theirs = positions.loc["mine"], positions.loc["theirs"]
    assert (mine["predicted"], mine["residual"], mine["distance"], mine["above"]) == (7.0, -7.0, 7.0, False)
    assert (theirs["predicted"], theirs["residual"], theirs["above"]) == (1.0, 1.0, True)
    assert mine["r_paper"] == pytest.approx(1.0)
    assert mine["r_with"] == pytest.approx(metrics.correlation([0, 1, 2, 3], [1, 3, 5, 0]).pearson_r)
    no_line = scored.scored_positions(models.iloc[[0, 1, 3]], "x", "y").iloc[0]
    assert pd.isna(no_line["predicted"]) and pd.isna(no_line["residual"])


def test_the_models_a_chapter_shows():
    assert scored.models_and_scored(None, ["Tiny", "Yi-6b"]) is None
    assert scored.models_and_scored(["Yi-6b", "Falcon-7b"], ["zz", "Yi-6b", "Tiny", "Mistral"]) == [
        "Falcon-7b", "Yi-6b", "Tiny", "zz"]
    assert scored.models_and_scored("Yi-6b", ["Tiny"]) == ["Yi-6b", "Tiny"]


# ---- a scored model next to the paper's: shown, but no paper number moves ---------------------


@pytest.fixture(scope="module")
def paper(published):
    return real(published)


@pytest.fixture(scope="module")
def joined(published):
    return real(published, with_tiny=True)


def test_a_scored_model_leaves_every_paper_number_unchanged(paper, joined):
    paper_cells, scored_cells = cells.split_scored(joined.cells)
    pd.testing.assert_frame_equal(paper_cells, paper.cells)
    paper_models, scored_models = cells.split_scored(joined.models)
    pd.testing.assert_frame_equal(paper_models, paper.models)  # accuracy, AUROC, calibration, counts
    table = correlations.correlation_table(joined.models).set_index("y")
    assert table.loc["auroc_msp", "n"] == 14 and table.loc["auroc_msp", "pearson_r"] == pytest.approx(0.8313, abs=1e-4)
    assert table.loc["auroc_max_logit", "n"] == 12
    assert table.loc["auroc_max_logit", "pearson_r"] == pytest.approx(0.9094, abs=1e-4)
    pd.testing.assert_frame_equal(correlations.correlation_table(joined.models),
                                  correlations.correlation_table(paper.models))
    pd.testing.assert_frame_equal(correlations.leave_one_out(joined.models, "accuracy", "auroc_msp"),
                                  correlations.leave_one_out(paper.models, "accuracy", "auroc_msp"))
    assert significance.signal_auroc_t_test(joined.cells) == significance.signal_auroc_t_test(paper.cells)
    pd.testing.assert_frame_equal(cells.dataset_metrics(paper_cells), cells.dataset_metrics(paper.cells))
    # the chapters' verdict counts, over the paper's models
    assert significance.significant_models(paper_models) == significance.significant_models(paper.models)
    assert significance.miscalibrated_models(paper_models) == significance.miscalibrated_models(paper.models)
    assert round(paper_models.set_index("model").loc["Llama3-70b", "calibration_error_paper"], 2) == 0.22


def test_a_scored_model_appears_next_to_the_paper(joined):
    tiny = cells.split_scored(joined.models)[1]
    assert tiny["model"].tolist() == [TINY] and joined.models["model"].iloc[-1] == TINY
    assert set(joined.cells.loc[joined.cells["model"] == TINY, "dataset"]) == {"arc", "mmlu"}
    assert correlations.correlation_table(joined.models, include_scored=True).set_index("y").loc["auroc_msp", "n"] == 15
    cov = joined.coverage.set_index("model")
    arc_mmlu = 2 * 2590 + 2 * 600  # arc: 2590 questions, 2 phrasings; mmlu: qid < 600
    assert cov.loc[TINY, ["datasets", "n_answers", "n_possible"]].tolist() == [["arc", "mmlu"], arc_mmlu, 42_814]
    assert not cov.loc[TINY, "all_datasets"] and not cov.loc[TINY, "complete"]
    assert cov.drop(index=TINY)["complete"].all()
    calibration = scored.scored_calibration(joined.calibration)
    assert calibration["model"].tolist() == [TINY] and calibration.iloc[0]["n_paper"] == 14
    assert calibration.iloc[0]["ece"] == pytest.approx(tiny.iloc[0]["ece_equal_mass"])
    assert 0 <= calibration.iloc[0]["n_paper_worse"] <= 14
    correctness = scored.scored_correctness(joined.models).iloc[0]
    # its arc cells are significant, its 600-question mmlu cells are not: 2 of 4 is no majority
    assert (correctness["n_above_msp"], correctness["n_cells_msp"]) == (2, 4)
    assert not correctness["above_chance"] and 0 <= correctness["n_paper_lower"] <= 14
    position = scored.scored_positions(joined.models, "accuracy", "auroc_msp").iloc[0]
    assert position["r_paper"] == pytest.approx(0.8313, abs=1e-4) and position["r_with"] != position["r_paper"]
