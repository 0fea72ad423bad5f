"""The option-likelihood comparison for the reader: the table's names and the chapter's sentence."""

from __future__ import annotations

import pandas as pd

from helpers.analysis import option_signal
from helpers.report import facts, tables


def _comparison() -> pd.DataFrame:
    return pd.DataFrame({"model": "SmolLM2-135M-Instruct", "dataset": ["arc"] * 3 + ["mmlu"] * 3,
                         "signal": list(option_signal.COMPARED) * 2, "n": 400,
                         "accuracy": [30.0, 24.0, 27.0, 26.0, 28.0, 29.0],
                         "auroc": [51.0, 49.0, 46.0, 55.0, 53.0, 50.0],
                         "calibration_error": [9.0, 47.0, 8.0, 11.0, 45.0, 6.0]})


def test_the_table_uses_display_names():
    shown = tables.option_signal_display(_comparison())
    assert shown.index.names == ["model", "dataset", "signal"]
    assert shown.index[0] == ("SmolLM2-135M-Instruct", "ARC-Challenge", "MSP")
    assert shown.index[2][2] == "Option likelihood per character" and shown.index[3][1] == "MMLU"
    assert list(shown.columns) == ["answers", "accuracy (%)", "AUROC (%)", "calibration error (%)"]
    means = tables.option_signal_display(option_signal.signal_means(_comparison()))
    assert means.index.names == ["model", "signal"] and means.index[0] == ("SmolLM2-135M-Instruct", "MSP")
    assert list(means.columns) == ["accuracy (%)", "AUROC (%)", "calibration error (%)"]


def test_the_sentence_holds_the_means_over_datasets():
    text = facts.option_signal_facts(option_signal.signal_means(_comparison())).option_signal
    assert text.startswith("SmolLM2-135M-Instruct writes the right letter for 28.0% of the questions")
    assert "MSP is 53.0%" in text and "right for 26.0% (28.0% per character)" in text
    assert "10.0% for the MSP and 46.0% (7.0%) for the option likelihood" in text
    empty = option_signal.signal_comparison(pd.DataFrame({"model": [], "dataset": [], "msp": [], "correct": []}))
    assert "No model" in facts.option_signal_facts(option_signal.signal_means(empty)).option_signal
