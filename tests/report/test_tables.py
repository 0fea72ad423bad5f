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
    assert table.loc["GPT4 Turbo", "Max Logit AUROC (p < 10⁻⁴)"] == "–"
    assert table.loc["GPT4 Turbo", "MSP AUROC (p < 10⁻⁴)"] == "85.0 (2/2)"
    assert table.loc["mine (ours)", "accuracy (%)"] == 40.0  # one decimal


def test_bold_rows_marks_only_the_given_rows():
    table = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}, index=["Yi 6B", "mine (ours; this run)"])
    html = tables.bold_rows(table, ["mine (ours; this run)"]).set_uuid("t").to_html()
    css = re.search(r"<style[^>]*>(.*?)</style>", html, re.S).group(1)
    rules = {selector.strip(): body.strip() for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", css)}
    assert rules == {"#T_t_row1_col0, #T_t_row1_col1": "font-weight: bold;"}
    assert "font-weight" not in tables.bold_rows(table, []).to_html()


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
    assert cells[0] == ["x", "y", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"]  # no index
    assert cells[1] == ["accuracy (%)", "MSP AUROC (%)", "14", "0.831", "0.00023", "0.781", "0.0012"]
    assert cells[2][:5] == ["parameters (billions)", "calibration error (equal-width bins, per cell)", "12",
                            "-0.200", "0.52"]
    assert set(tables.AXIS_LABELS) == {"accuracy", "auroc_msp", "auroc_max_logit",
                                       "calibration_error_uniform_cells", "params_b"}


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
