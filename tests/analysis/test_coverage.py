"""helpers.analysis.coverage, the data chapter's numbers: on a small hand-made table and on the real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.inputs import real
from helpers.analysis import cells as cells_mod
from helpers.analysis import coverage as overview
from helpers.data import schema


def tidy(rows):
    """rows: (model, dataset, phrasing, qid, grade, msp)."""
    df = pd.DataFrame(rows, columns=["model", "dataset", "phrasing", "qid", "grade", "msp"])
    return schema.conform(df.assign(source="published", shots=0, correct=df.grade == "correct",
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
    cells = cells_mod.cell_table(small)
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


def test_question_counts(small):
    counts = overview.question_counts(small)
    assert counts.to_dict() == {"arc": 2, "mmlu": 1}  # distinct qids, in the paper's order
    assert counts.dtype == int
    # the paper's order whatever the rows' order
    assert overview.question_counts(small.iloc[::-1]).index.tolist() == ["arc", "mmlu"]


def test_real_overview(published):
    cells = real(published).cells
    counts = overview.answer_counts(cells)
    assert (counts["total"] == 2 * 21_407).all() and len(counts) == 14
    assert overview.question_counts(published).to_dict() == {
        "arc": 2590, "hellaswag": 6000, "mmlu": 6000, "truthfulqa": 817, "winogrande": 6000}
    accuracy = overview.accuracy_grid(cells)
    assert round(accuracy.loc["Llama3-70b", "arc"], 1) == 92.3
    assert round(accuracy.loc["Falcon-7b", "truthfulqa"], 1) == 19.8
    unparseable = overview.unparseable_pct(cells)
    assert round(unparseable["overall"].max(), 2) <= 0.86 + 0.005


def test_counts_with_a_model_missing_a_dataset(small):
    partial = small[~((small.model == "Llama-7b") & (small.dataset == "mmlu"))]
    counts = overview.answer_counts(cells_mod.cell_table(partial))
    assert counts.loc["Llama-7b"].tolist() == [4, 0, 4]


def test_pooled_shares(small):
    cells = cells_mod.cell_table(small)
    assert overview.unparseable_overall_pct(cells) == pytest.approx(100 / 12)  # one of 12 answers
    assert overview.share_equal_pct(small.assign(msp=[1.0] * 3 + [0.5] * 9), 1.0) == pytest.approx(25.0)
    shares = overview.share_above_pct(small, 0.65)
    # the paper's order; Llama-7b: 0.9 only (1 of 6); Mistral: 0.9, 0.8, 0.7 (3 of 6)
    assert shares["model"].tolist() == ["Llama-7b", "Mistral"]
    assert shares["family"].tolist() == ["Llama 2", "Mistral"]
    assert shares["pct_above"].tolist() == pytest.approx([100 / 6, 50.0])
    mine = overview.share_above_pct(small.assign(model="mine"), 0.65)
    assert mine["family"].tolist() == ["ours"] and mine["pct_above"].tolist() == pytest.approx([100 * 4 / 12])


def scored(rows):
    """Scored rows as the cache gives them: (model, dataset, qid, question_id)."""
    df = pd.DataFrame(rows, columns=["model", "dataset", "qid", "question_id"])
    return schema.conform(df.assign(source="scored", phrasing="first", shots=0, grade="correct", correct=True,
                                   msp=0.9, max_logit=np.nan))


SCORED = scored([
    ("mine", "arc", 0, "arc/test/Mercury_1"), ("mine", "arc", 1, "arc/train/Mercury_2"),
    ("mine", "hellaswag", 0, "hellaswag/validation/9916"), ("mine", "hellaswag", 1, "hellaswag/validation/3"),
    ("mine", "mmlu", 5, "mmlu/test/5727"),
    ("other", "hellaswag", 0, "hellaswag/train/12"),
])


def test_question_splits_tell_which_positions_are_the_papers_questions():
    splits = overview.question_splits(SCORED).set_index(["model", "dataset"])
    assert splits.index.tolist() == [("mine", "arc"), ("mine", "hellaswag"), ("mine", "mmlu"), ("other", "hellaswag")]
    assert splits["same_split"].tolist() == [True, False, True, True]
    assert splits.loc[("mine", "hellaswag"), "splits"] == ["validation"]
    assert splits.loc[("mine", "hellaswag"), "paper_splits"] == ["train"]
    assert splits.loc[("mine", "arc"), "n_questions"] == 2
    # restricted to a chapter's selection: only mine's arc
    within = overview.question_splits(SCORED, within=SCORED[(SCORED["dataset"] == "arc")])
    assert within[["model", "dataset"]].values.tolist() == [["mine", "arc"]]
    assert overview.question_splits(SCORED.iloc[:0]).empty
    assert list(overview.question_splits(SCORED.iloc[:0]).columns) == [
        "model", "dataset", "n_questions", "splits", "paper_splits", "same_split"]
    with pytest.raises(ValueError, match="question_id"):
        overview.question_splits(SCORED.drop(columns="question_id"))
    with pytest.raises(ValueError, match="not of the form dataset/split/key"):
        overview.question_splits(SCORED.assign(question_id="arc-Mercury_1"))
    # a paper model is never one of ours, whatever its rows say
    assert overview.question_splits(SCORED.assign(source="published", model="Mistral")).empty


def test_same_questions_leave_out_other_splits(small):
    pairs = overview.same_questions(SCORED, "mine")
    assert pairs.values.tolist() == [["arc", 0], ["arc", 1], ["mmlu", 5]]
    answers = schema.combine(small, SCORED.drop(columns="question_id"))
    joined = overview.on_same_questions(answers, SCORED, "mine")
    # small: arc qids 0 and 1 of both models (8 rows), mmlu has only qid 0; plus mine's 3 answers
    assert len(joined) == 8 + 3
    assert set(zip(joined["dataset"].astype(str), joined["qid"])) == {("arc", 0), ("arc", 1), ("mmlu", 5)}
    assert joined["dataset"].dtype == answers["dataset"].dtype
    assert set(joined["model"].cat.categories) == {"Mistral", "Llama-7b", "mine"}
