"""helpers.report.tables: tables as a reader sees them (display names, headers, index, decimals),
checked through what pandas renders, on small tables and on the real abstention table."""

import re

import numpy as np
import pandas as pd
import pytest

from analysis.inputs import real, short_of_mmlu
from helpers.analysis import abstention
from helpers.analysis.coverage import question_counts
from helpers.report import tables
from scored_rows import TINY


def rendered(styler) -> list[list[str]]:
    """The cells of a Styler as pandas renders them as text: header row(s), then one row per row."""
    return [line.split("|") for line in styler.to_string(delimiter="|").splitlines()]


PER_DATASET = pd.DataFrame({
    "model": ["gpt-4-turbo", "Falcon-7b", "Falcon-7b", "mine"], "dataset": ["arc", "mmlu", "arc", "arc"],
    "accuracy": [90.0, 30.0, 25.0, 40.04], "auroc_msp": [85.04, 51.25, 49.0, 60.0],
    "n_sig_msp": pd.array([2, 0, 1, 1], dtype="Int64"), "n_cells_msp": pd.array([2, 2, 2, 2], dtype="Int64"),
    "auroc_max_logit": [np.nan, 50.0, 48.0, 55.55], "n_sig_max_logit": pd.array([pd.NA, 0, 0, 2], dtype="Int64"),
    "n_cells_max_logit": pd.array([0, 2, 2, 2], dtype="Int64"),
})


def test_auroc_grid_display():
    grid = tables.auroc_grid_display(PER_DATASET, "msp")
    assert grid.index.tolist() == ["Falcon 7B", "GPT4 Turbo", "mine (ours)"] and grid.index.name == "model"
    assert grid.columns.tolist() == ["arc", "mmlu"] and grid.columns.name is None
    assert grid.loc["Falcon 7B", "mmlu"] == "51.2 (0/2)" and grid.loc["GPT4 Turbo", "arc"] == "85.0 (2/2)"
    assert pd.isna(grid.loc["GPT4 Turbo", "mmlu"])  # no such cell
    logit = tables.auroc_grid_display(PER_DATASET, "max_logit")
    assert logit.index.tolist() == ["Falcon 7B", "mine (ours)"]  # GPT has no Max Logit
    assert logit.loc["mine (ours)", "arc"] == "55.5 (2/2)"


def test_auroc_display():
    table = tables.auroc_display(PER_DATASET.iloc[[0, 1, 3]])
    assert table.index.name == "model" and table.index.tolist() == ["GPT4 Turbo", "Falcon 7B", "mine (ours)"]
    assert table.columns.tolist() == ["accuracy (%)", "MSP AUROC (p < 10⁻⁴)", "Max Logit AUROC (p < 10⁻⁴)"]
    assert table.loc["GPT4 Turbo", "Max Logit AUROC (p < 10⁻⁴)"] == tables.NOT_APPLICABLE
    assert table.loc["GPT4 Turbo", "MSP AUROC (p < 10⁻⁴)"] == "85.0 (2/2)"
    assert table.loc["mine (ours)", "accuracy (%)"] == 40.0  # one decimal


def test_bold_rows_marks_only_the_given_rows():
    table = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}, index=["Yi 6B", "mine (ours; this run)"])
    html = tables.bold_rows(table, ["mine (ours; this run)"]).set_uuid("t").to_html()
    css = re.search(r"<style[^>]*>(.*?)</style>", html, re.S).group(1)
    rules = {selector.strip(): body.strip() for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", css)}
    bold = [s for s, body in rules.items() if "bold" in body]
    assert bold == ["#T_t_row1_col0, #T_t_row1_col1"] or sorted(bold) == ["#T_t_row1_col0", "#T_t_row1_col1"], rules
    assert "font-weight" not in tables.bold_rows(table, []).to_html()
    assert ">1.00<" in html and ">4.00<" in html  # through tables.formatted, 2 decimals


def test_formatted_tables_read_as_the_book_shows_them():
    table = pd.DataFrame({"model": ["Llama-7b", "mine"], "dataset": ["arc", "mmlu"], "pearson_r": [0.8312, float("nan")],
                          "pearson_p": [0.000123, 0.5], "rank": [14.0, 2.0], "n": [14, 3]})
    shown = tables.formatted(table, decimals={"pearson_r": 3})
    html = shown.to_html()
    assert shown.data.columns.tolist() == ["model", "dataset", "Pearson r", "p (Pearson)", "rank", "n"]
    assert shown.data["model"].tolist() == ["Llama 2 7B", "mine (ours)"]
    assert shown.data["dataset"].tolist() == ["ARC-Challenge", "MMLU"]
    cells = re.findall(r"<td [^>]*>([^<]*)</td>", html)
    assert cells == ["Llama 2 7B", "ARC-Challenge", "0.831", "0.00012", "14", "14",
                     "mine (ours)", "MMLU", tables.NOT_APPLICABLE, "0.5", "2", "3"]
    assert "padding" in html and 'class="row_heading' not in html  # padded cells, no 0..n index
    labelled = tables.formatted(pd.Series([1.234], index=pd.Index(["gpt-4-turbo"], name="model"), name="accuracy"))
    assert labelled.data.index.tolist() == ["GPT4 Turbo"] and labelled.data.columns.tolist() == ["accuracy (%)"]
    assert ">1.2<" in labelled.to_html() and 'class="row_heading' in labelled.to_html()
    # labels already shown as labels are kept
    assert tables.formatted(pd.DataFrame({"model": ["GPT4 Turbo", "x (ours)"]})).data["model"].tolist() == \
        ["GPT4 Turbo", "x (ours)"]


def test_dataset_table():
    datasets = tables.dataset_table(pd.Series({"arc": 2, "mmlu": 1}))
    assert list(datasets.columns) == ["dataset", "name", "source", "splits", "options", "questions"]
    assert datasets.index.tolist() == [0, 1]
    assert datasets.to_dict("records") == [
        {"dataset": "arc", "name": "ARC-Challenge", "source": "ai2_arc / ARC-Challenge",
         "splits": "train + test + validation", "options": "3–5", "questions": 2},
        {"dataset": "mmlu", "name": "MMLU", "source": "cais/mmlu / all", "splits": "test", "options": "4",
         "questions": 1}]
    assert tables.dataset_table(pd.Series({"hellaswag": 5}))["source"].tolist() == ["Rowan/hellaswag"]  # no config


def test_dataset_table_on_the_real_data(published):
    datasets = tables.dataset_table(question_counts(published))
    assert datasets["dataset"].tolist() == ["arc", "hellaswag", "mmlu", "truthfulqa", "winogrande"]
    assert datasets["questions"].tolist() == [2590, 6000, 6000, 817, 6000]


CALIBRATION = pd.DataFrame({
    "model": ["Yi-6b", "Tiny"], "n": [10, 20], "calibration_error_paper": [0.123, 0.5],
    "calibration_error_uniform_cells": [0.3333, 0.4], "ece_equal_mass": [0.1, 0.2], "ece_equal_width": [0.116, 0.22],
    "share_msp_one": [0.273, 0.0], "mean_msp": [0.75, 0.5], "frac_correct": [0.6049, 0.5],
    "overconfidence": [0.15, 0.0]})


def test_calibration_display():
    cells = rendered(tables.calibration_display(CALIBRATION))
    assert cells[0] == ["", "paper", "ECE equal-mass", "ECE equal-width", "per-cell, equal-width",
                        "MSP = 1.0 (%)", "mean MSP (%)", "accuracy (%)"]
    assert cells[1][0] == "model"
    # errors as fractions with 2 decimals; shares and means in percent with 1 decimal
    assert cells[2] == ["Yi 6B", "0.12", "0.10", "0.12", "0.33", "27.3", "75.0", "60.5"]
    assert cells[3] == ["Tiny (ours)", "0.50", "0.20", "0.22", "0.40", "0.0", "50.0", "50.0"]


def test_correlation_display():
    correlations = pd.DataFrame({"x": ["accuracy", "params_b"], "y": ["auroc_msp", "calibration_error_uniform_cells"],
                                 "n": [14, 12], "pearson_r": [0.83134, -0.2], "pearson_p": [0.000231, 0.5216],
                                 "spearman_rho": [0.7812, np.nan], "spearman_p": [0.0012345, np.nan]})
    cells = rendered(tables.correlation_display(correlations))
    assert cells[0] == ["x", "y", "models", "Pearson r", "p (Pearson)", "Spearman ρ", "p (Spearman)"]  # no index
    assert cells[1] == ["accuracy (%)", "MSP AUROC (%)", "14", "0.831", "0.00023", "0.781", "0.0012"]
    assert cells[2][:5] == ["parameters (billions)", "calibration error (equal-width bins, per cell)", "12",
                            "-0.200", "0.52"]
    assert {"accuracy", "auroc_msp", "auroc_max_logit", "calibration_error_uniform_cells", "params_b"} <= \
        set(tables.AXIS_LABELS)


def test_correlation_display_names_every_axis_of_the_selective_chapter():
    from helpers.analysis.selective import PAPER_PAIRS

    pairs = pd.DataFrame(PAPER_PAIRS, columns=["x", "y"]).assign(n=14, pearson_r=0.5, pearson_p=0.1,
                                                                 spearman_rho=0.5, spearman_p=0.1,
                                                                 fisher_lo=-0.04, fisher_hi=0.81)
    cells = rendered(tables.correlation_display(pairs))
    assert cells[0][-2:] == ["r, 95% low (Fisher z)", "r, 95% high (Fisher z)"]
    assert cells[1][:2] == ["accuracy (paper, %)", "AURC"] and cells[1][-2:] == ["-0.040", "0.810"]
    assert all(tables.NOT_APPLICABLE not in row[:2] for row in cells[1:])


# ---- the abstention tables -------------------------------------------------------------------


def test_paper_layout_and_row_labels_on_a_synthetic_run():
    table = abstention.abstention_table(short_of_mmlu(), ks=(4,))
    layout = tables.paper_layout(table, k=4)
    assert layout.index.name == "model" and layout.index.tolist() == ["A", "N", "Z"]
    assert list(layout.columns) == [(s, c) for s in ("Balanced", "Conservative") for c in ("Base", "MSP", "Max Logit")]
    # A: conservative Base -50, abstains on everything with MSP; no Max Logit
    assert layout.loc["A", ("Conservative", "Base")] == -50.0 and layout.loc["A", ("Conservative", "MSP")] == 0.0
    assert np.isnan(layout.loc["A", ("Balanced", "Max Logit")])
    pct = tables.paper_layout(table, k=4, scope="mmlu", value="pct_abstained")
    assert list(pct.columns) == [(s, c) for s in ("Balanced", "Conservative") for c in ("MSP", "Max Logit")]
    assert pct.index.tolist() == ["A", "Z"] and pct.loc["A", ("Balanced", "MSP")] == 100.0
    assert tables.row_labels(table, 4) == {"A": "A (ours)", "Z": "Z (ours)", "N": "N (ours; arc only)"}
    assert tables.row_labels(table, 4, "arc") == {"A": "A (ours)", "N": "N (ours)", "Z": "Z (ours)"}


@pytest.fixture(scope="module")
def table(published):
    return real(published).abstention


def test_paper_layout_on_the_real_data(table):
    layout = tables.paper_layout(table)
    assert list(layout.columns) == [(s, c) for s in ("Balanced", "Conservative") for c in ("Base", "MSP", "Max Logit")]
    assert len(layout) == 14 and list(layout.index[:2]) == ["Falcon-7b", "Falcon-40b"]
    assert list(layout.index[-2:]) == ["gpt-3.5-turbo", "gpt-4-turbo"]
    assert layout.loc["Llama3-70b"].round(1).tolist() == [56.8, 56.8, 56.8, 35.2, 46.5, 42.4]
    assert np.isnan(layout.loc["gpt-4-turbo", ("Balanced", "Max Logit")])
    half = tables.paper_layout(table, k="half", decimals=1)
    # -0.0 is printed as 0.0
    falcon = half.loc["Falcon-7b", ("Balanced", "MSP")]
    assert falcon == 0.0 and str(falcon) == "0.0"
    assert half.loc["Llama3-70b", ("Conservative", "MSP")] == 48.4
    pct = tables.paper_layout(table, value="pct_abstained")
    assert pct.loc["Falcon-7b"].round(1).tolist() == [81.5, 98.7, 95.2, 98.7]
    with pytest.raises(ValueError, match="scope='piqa'"):
        tables.paper_layout(table, scope="piqa")


def test_row_labels_note_a_scored_model_short_of_the_run(published):
    labels = tables.row_labels(real(published, with_tiny=True).abstention, 20)
    assert labels[TINY] == f"{TINY} (ours; arc, mmlu only)"
    assert labels["Mistral"] == "Mistral 7B" and len(labels) == 15


# ---- intervals ------------------------------------------------------------------------------------

def test_interval_text_by_hand():
    assert tables.interval_text(81.66, 80.94, 82.51) == "81.7 [80.9, 82.5]"
    assert tables.interval_text(0.0486077, 0.0450690, 0.0538953, decimals=4) == "0.0486 [0.0451, 0.0539]"
    assert tables.interval_text(0.817, 0.809, 0.825, scale=100) == "81.7 [80.9, 82.5]"
    assert tables.interval_text(51.0, np.nan, np.nan) == "51.0"
    assert tables.interval_text(np.nan, 1.0, 2.0) == tables.NOT_APPLICABLE


INTERVALS = pd.DataFrame({
    "model": ["gpt-4-turbo", "gpt-4-turbo", "Falcon-7b", "Falcon-7b", "mine", "mine"],
    "statistic": ["auroc_msp", "auroc_max_logit"] * 3,
    "estimate": [85.04, np.nan, 51.25, 50.0, 50.9, 46.8], "lo": [84.0, np.nan, 50.1, 49.0, 47.6, 43.6],
    "hi": [86.06, np.nan, 52.3, 51.04, 53.8, 50.8]})


def test_interval_grid_orders_models_labels_ours_and_marks_missing():
    grid = tables.interval_grid(INTERVALS, {"auroc_msp": "MSP", "auroc_max_logit": "Max Logit"})
    assert list(grid.index) == ["Falcon 7B", "GPT4 Turbo", "mine (ours)"]
    assert list(grid.columns) == ["MSP", "Max Logit"]
    assert grid.loc["Falcon 7B"].tolist() == ["51.2 [50.1, 52.3]", "50.0 [49.0, 51.0]"]
    assert grid.loc["GPT4 Turbo", "Max Logit"] == tables.NOT_APPLICABLE


def test_calibration_verdict_display_by_hand():
    assert list(tables.CALIBRATION_INTERVAL_COLUMNS) == ["calibration_error_paper", "ece_equal_mass", "ece_equal_width",
                                                         "calibration_error_uniform_cells"]
    intervals = pd.DataFrame({"model": ["Yi-34b"] * 4, "variant": list(tables.CALIBRATION_INTERVAL_COLUMNS),
                              "estimate": [0.0486, 0.04861, 0.0482, 0.0977], "lo": [0.045, 0.0451, 0.044, 0.097],
                              "hi": [0.0539, 0.0539, 0.053, 0.116]})
    verdicts = pd.DataFrame({"model": ["Yi-34b"], "above": [False], "below": [False],
                             "largest_variant": ["calibration_error_uniform_cells"]})
    shown = tables.calibration_verdict_display(verdicts, intervals)
    assert shown.loc["Yi 34B", "ECE equal-mass"] == "0.049 [0.045, 0.054]"
    assert shown.loc["Yi 34B", "per-cell, equal-width"] == "0.098 [0.097, 0.116]"
    assert shown.loc["Yi 34B", "interval against the tolerance"] == "overlaps"
    assert shown.loc["Yi 34B", "largest variant"] == "per-cell, equal-width"


def test_corrected_counts_display_by_hand():
    counts = pd.DataFrame({"model": ["gpt-4-turbo", "Falcon-7b", "Falcon-7b"], "signal": ["msp", "msp", "max_logit"],
                           "n_cells": [10, 10, 10], "n_sig_paper": [10, 2, 1], "n_sig_one_sided": [10, 5, 3],
                           "n_sig_holm": [10, 3, 1], "n_sig_bh": [10, 4, 2]})
    shown = tables.corrected_counts_display(counts)
    assert list(shown.index) == ["Falcon 7B", "GPT4 Turbo"]
    assert shown.loc["Falcon 7B", ("MSP", "Holm")] == "3 / 10"
    assert shown.loc["Falcon 7B", ("Max Logit", "Benjamini-Hochberg")] == "2 / 10"
    assert shown.loc["GPT4 Turbo", ("Max Logit", "Holm")] == tables.NOT_APPLICABLE
    assert shown.loc["GPT4 Turbo", ("MSP", "paper (p < 10⁻⁴)")] == "10 / 10"


def test_correlation_uncertainty_display_by_hand():
    row = {"x": "accuracy", "y": "auroc_msp", "n": 14, "p": 0.0002, "question_lo": 0.82, "question_hi": 0.85,
           "model_lo": 0.49, "model_hi": 0.98, "lomo_min": 0.763, "lomo_max": 0.891, "lofo_min": 0.75,
           "lofo_max": 0.89}
    frame = pd.DataFrame([{**row, "method": "pearson", "estimate": 0.8313, "fisher_lo": 0.54, "fisher_hi": 0.95,
                           "permutation_p": 0.0004},
                          {**row, "method": "spearman", "estimate": 0.7846, "fisher_lo": np.nan,
                           "fisher_hi": np.nan, "permutation_p": 0.0012}])
    shown = tables.correlation_uncertainty_display(frame)
    pearson = shown.loc[("accuracy (%)", "MSP AUROC (%)", "Pearson r")]
    assert (pearson["estimate"], pearson["Fisher z"], pearson["leave one model out"]) == ("0.83", "[0.54, 0.95]",
                                                                                        "[0.76, 0.89]")
    spearman = shown.loc[("accuracy (%)", "MSP AUROC (%)", "Spearman ρ")]
    assert (spearman["Fisher z"], spearman["permutation p"]) == (tables.NOT_APPLICABLE, "0.0012")


def test_paired_signal_display_labels_the_papers_test():
    t_tests = pd.DataFrame({"cells": ["all", "without_gpt"], "n_msp": [140, 120], "n_max_logit": [120, 120],
                            "gap": [4.5317, 2.1863], "p": [8.8e-5, 0.0257]})
    shown = tables.paired_signal_display({"n_pairs": 120, "p_one_sided": 7.25e-8},
                                         {"estimate": 2.1863, "lo": 2.0005, "hi": 2.379}, t_tests)
    assert shown.iloc[0].tolist() == ["120 / 120", "2.19 [2.00, 2.38]", "7.2e-08"]
    assert list(shown.index[1:]) == ["the paper's unpaired t-test, all cells", "the paper's t-test without the GPT cells"]
    assert shown.iloc[1].tolist() == ["140 / 120", "4.53", "8.8e-05"]


def test_gain_band_display_by_hand():
    bands = pd.DataFrame({"k": 20, "signal": "msp", "penalty": [1, 1, 2], "model": ["Yi-6b", "Falcon-7b", "Yi-6b"],
                          "median_gain": [9.44, 41.38, 48.7], "gain_lo": [4.48, 37.5, 42.27], "gain_hi": [10.49, 41.78, 49.53],
                          "share_gain_positive": [0.998, 1.0, 1.0], "median_pct_abstained": [50.91, 89.98, 76.5],
                          "paper_gain": [10.298, 40.767, 48.542]})
    shown = tables.gain_band_display(bands)
    assert list(shown.index) == ["Falcon 7B", "Yi 6B"]
    assert shown.loc["Yi 6B", ("Balanced", "median gain [5%, 95%]")] == "9.4 [4.5, 10.5]"
    assert shown.loc["Yi 6B", ("Balanced", "splits with a gain (%)")] == "99.8"
    assert shown.loc["Yi 6B", ("Conservative", "paper's split")] == "48.5"
    assert shown.loc["Falcon 7B", ("Conservative", "abstained (%)")] == tables.NOT_APPLICABLE


def test_paired_difference_display_by_hand():
    differences = pd.DataFrame({"model": ["Yi-6b", "Falcon-7b"], "estimate": [4.255, -0.07], "lo": [3.9, -0.5],
                                "hi": [4.61, 0.36], "share_positive": [1.0, 0.386]})
    shown = tables.paired_difference_display(differences)
    assert list(shown.index) == ["Falcon 7B", "Yi 6B"]
    assert shown.loc["Falcon 7B"].tolist() == ["-0.07 [-0.50, 0.36]", "38.6"]
    assert shown.loc["Yi 6B", "MSP − Max Logit AUROC (points)"] == "4.25 [3.90, 4.61]"
# --- the chapters beyond the paper -------------------------------------------------------------

def test_interval_grid_of_measures_with_another_estimate_column():
    long = pd.DataFrame({"model": ["mine", "gpt-4-turbo", "gpt-4-turbo", "Falcon-7b"],
                         "measure": ["x", "x", "y", "y"], "difference": [0.5, 0.25, 0.125, 1.0],
                         "lo": [0.4, 0.2, 0.1, np.nan], "hi": [0.6, 0.3, 0.2, np.nan]})
    grid = tables.interval_grid(long, {"y": "Y", "x": "X", "z": "absent"}, 2, name="measure", estimate="difference")
    assert grid.index.tolist() == ["Falcon 7B", "GPT4 Turbo", "mine (ours)"] and grid.index.name == "model"
    assert grid.columns.tolist() == ["Y", "X"]
    assert grid.loc["GPT4 Turbo"].tolist() == ["0.12 [0.10, 0.20]", "0.25 [0.20, 0.30]"]
    assert grid.loc["Falcon 7B"].tolist() == ["1.00", tables.NOT_APPLICABLE]


def test_recalibration_display():
    table = pd.DataFrame({"model": ["mine", "mine", "Yi-6b", "Yi-6b"], "signal": "msp",
                          "method": ["none", "platt", "none", "platt"], "accuracy": 0.5,
                          "ece_equal_mass": [0.2, 0.01234, 0.3, np.nan], "auroc": [0.61, 0.61, 0.7, 0.7]})
    shown = tables.recalibration_display(table, {"ece_equal_mass": "ECE", "auroc": "AUROC (%)"})
    assert shown.index.tolist() == ["Yi 6B", "mine (ours)"]
    assert shown.columns.tolist() == [("ECE", "raw MSP"), ("ECE", "Platt"), ("AUROC (%)", "raw MSP"),
                                      ("AUROC (%)", "Platt")]
    assert shown.loc["mine (ours)"].tolist() == ["0.200", "0.012", "61.0", "61.0"]
    assert shown.loc["Yi 6B", ("ECE", "Platt")] == tables.NOT_APPLICABLE


def test_conformal_and_claims_display(published):
    from helpers.analysis import one_shot, selective

    shown = tables.conformal_display(selective.conformal_abstention(published, "msp", 20))
    assert shown.index[0] == "Falcon 7B" and len(shown) == 14
    assert shown.loc["GPT4 Turbo", ("certified (LTT)", "coverage (%)")] == "90.0"
    assert shown.loc["GPT4 Turbo", ("certified (LTT)", "risk (%)")] == "9.1"
    assert shown.loc["Falcon 7B", ("certified (LTT)", "risk (%)")] == tables.NOT_APPLICABLE
    assert shown.loc["Falcon 7B", ("certified (LTT)", "coverage (%)")] == "0.0"
    claims = pd.DataFrame([{c: 0 for c in tables.CLAIM_ROWS} | {"shots": s, "n_models": 12, "r_msp": 0.8172,
                                                                  "p_msp": 0.001171, "abstention_claim": s == 0}
                           for s in (0, 1)])
    shown = tables.claims_display(claims)
    assert shown.columns.tolist() == ["zero-shot", "one-shot"] and shown.index.name == "number"
    assert shown.loc["paper models"].tolist() == ["12", "12"]
    assert shown.loc["r, accuracy vs MSP AUROC", "one-shot"] == "0.82"
    assert shown.loc["p, accuracy vs MSP AUROC", "zero-shot"] == "0.0012"
    assert shown.loc["abstention claim holds"].tolist() == ["yes", "no"]


def test_still_miscalibrated_display():
    still = pd.DataFrame({"k": [20, "half", 20], "signal": "msp", "method": ["platt", "platt", "isotonic"],
                          "n_models": 14, "n_miscalibrated": [2, 0, 5], "models": ["Falcon-40b, Mistral", "", "x"],
                          "worst": [0.09302, 0.04, 0.1], "tolerance": 0.05})
    shown = tables.still_miscalibrated_display(still)
    assert shown.index.tolist() == ["20", "half"] and shown.index.name == "k"
    assert shown.loc["20"].tolist() == [14, 2, "Falcon 40B, Mistral 7B", "0.093"]
    assert shown.loc["half", "which"] == "none"
