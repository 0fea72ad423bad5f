"""The data chapter's summaries, on a small hand-made table and on the real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import claims, overview, table


def tidy(rows):
    """rows: (model, dataset, phrasing, qid, grade, msp)."""
    df = pd.DataFrame(rows, columns=["model", "dataset", "phrasing", "qid", "grade", "msp"])
    return table.conform(df.assign(source="published", shots=0, correct=df.grade == "correct",
                                   max_logit=np.nan))


@pytest.fixture
def small():
    return tidy([
        ("Mistral", "arc", "first", 0, "correct", 0.9), ("Mistral", "arc", "first", 1, "wrong", 0.6),
        ("Mistral", "arc", "second", 0, "correct", 0.8), ("Mistral", "arc", "second", 1, "correct", 0.7),
        ("Mistral", "mmlu", "first", 0, "unparseable", 0.0), ("Mistral", "mmlu", "second", 0, "correct", 0.5),
        ("Llama-7b", "arc", "first", 0, "wrong", 0.3), ("Llama-7b", "arc", "first", 1, "wrong", 0.4),
        ("Llama-7b", "arc", "second", 0, "correct", 0.2), ("Llama-7b", "arc", "second", 1, "wrong", 0.1),
        ("Llama-7b", "mmlu", "first", 0, "correct", 0.6), ("Llama-7b", "mmlu", "second", 0, "correct", 0.9),
    ])


def test_counts_accuracy_unparseable(small):
    cells = claims.cell_table(small)
    counts = overview.answer_counts(cells)
    assert counts.index.tolist() == ["Llama-7b", "Mistral"]  # the paper's order
    assert counts.loc["Mistral"].tolist() == [4, 2, 6]
    accuracy = overview.accuracy_grid(cells)
    # Mistral: arc (50 + 100) / 2 = 75, mmlu (0 + 100) / 2 = 50, overall (75 + 50) / 2
    assert accuracy.loc["Mistral", "arc"] == 75 and accuracy.loc["Mistral", "mmlu"] == 50
    assert accuracy.loc["Mistral", "overall"] == 62.5
    assert accuracy.loc["Llama-7b"].tolist() == [25, 100, 62.5]
    unparseable = overview.unparseable_pct(cells)
    assert unparseable.loc["Mistral", "mmlu"] == 50 and unparseable.loc["Mistral", "arc"] == 0
    assert unparseable.loc["Mistral", "overall"] == pytest.approx(100 / 6)


def test_dataset_table(small):
    datasets = overview.dataset_table(small)
    assert datasets["dataset"].tolist() == ["arc", "mmlu"]
    assert datasets["questions"].tolist() == [2, 1]
    assert datasets.loc[0, "source"] == "ai2_arc / ARC-Challenge"
    assert datasets.loc[0, "splits"] == "train + test + validation"


def test_real_overview(published):
    cells = claims.cell_table(published)
    counts = overview.answer_counts(cells)
    assert (counts["total"] == 2 * 21_407).all() and len(counts) == 14
    assert overview.dataset_table(published)["questions"].tolist() == [2590, 6000, 6000, 817, 6000]
    accuracy = overview.accuracy_grid(cells)
    assert round(accuracy.loc["Llama3-70b", "arc"], 1) == 92.3
    assert round(accuracy.loc["Falcon-7b", "truthfulqa"], 1) == 19.8
    unparseable = overview.unparseable_pct(cells)
    assert round(unparseable["overall"].max(), 2) <= 0.86 + 0.005


def test_counts_with_a_model_missing_a_dataset(small):
    partial = small[~((small.model == "Llama-7b") & (small.dataset == "mmlu"))]
    counts = overview.answer_counts(claims.cell_table(partial))
    assert counts.loc["Llama-7b"].tolist() == [4, 0, 4]
