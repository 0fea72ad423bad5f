"""helpers.report.words: the words of the prose, from numbers and model keys computed elsewhere."""

import numpy as np
import pandas as pd
import pytest

from helpers.analysis.cells import Extremes, family_trend
from helpers.report import words


def test_join_words():
    assert words.join_words([]) == ""
    assert words.join_words(["a"]) == "a"
    assert words.join_words(["a", "b"]) == "a and b"
    assert words.join_words(("a", "b", "c")) == "a, b and c"


def test_model_label_marks_ours():
    assert words.model_label("Yi-6b") == "Yi 6B"
    assert words.model_label("Yi-6b", "this run") == "Yi 6B (this run)"
    assert words.model_label("Tiny") == "Tiny (ours)"
    assert words.model_label("Tiny", "arc only") == "Tiny (ours; arc only)"


@pytest.mark.parametrize("n, total, text", [
    (14, 14, "holds for every model"), (1, 1, "holds for the model"),
    (13, 14, "holds for 13 of 14 models"), (0, 12, "does not hold for any model"),
    (0, 0, "does not hold for any model"),
])
def test_verdict(n, total, text):
    assert words.verdict(n, total) == text


def test_exceptions_and_names_use_display_names():
    assert words.exceptions([]) == "there is no exception"
    assert words.exceptions(["Yi-6b"]) == "the exception is Yi 6B"
    assert words.exceptions(["Yi-6b", "Tiny"]) == "the exceptions are Yi 6B and Tiny"
    assert words.exceptions(m for m in ["Falcon-7b"]) == "the exception is Falcon 7B"  # any iterable
    assert words.names_or([]) == "none" and words.names_or([], none="no model") == "no model"
    assert words.names_or(["Solar", "x"]) == "SOLAR 10.7B and x"


@pytest.mark.parametrize("value, text", [(1e-4, "10⁻⁴"), (100, "10²"), (1, "10⁰"), (1e-12, "10⁻¹²"),
                                         (0.05, "0.05"), (0, "0"), (-10, "-10"), (2e-4, "0.0002")])
def test_power_of_ten(value, text):
    assert words.power_of_ten(value) == text


@pytest.mark.parametrize("r, p, text", [
    (0.83, 2e-4, "a strong positive correlation"),
    (-0.5, 0.01, "a moderate negative correlation"),
    (0.2, 0.049, "a weak positive correlation"),
    (0.3, 0.01, "a moderate positive correlation"),  # |r| < 0.3 is weak, 0.3 is not
    (-0.7, 0.01, "a strong negative correlation"),
    (-0.21, 0.47, "no significant correlation"),
    (0.9, 0.05, "no significant correlation"),  # p must be below alpha
    (float("nan"), float("nan"), "no significant correlation"),
])
def test_describe_correlation(r, p, text):
    assert words.describe_correlation(r, p) == text


def test_describe_correlation_takes_another_alpha():
    assert words.describe_correlation(0.9, 0.05, alpha=0.1) == "a strong positive correlation"


def test_correlation_stats():
    assert words.correlation_stats(14, 0.8313, 2.3e-4, 0.78) == "r = 0.83, p = 2.3e-04, n = 14; Spearman ρ = 0.78"
    assert words.correlation_stats(12, 0.579, 0.049) == "r = 0.58, p = 0.049, n = 12"
    assert words.correlation_stats(12, 0.579, 0.049, np.nan) == "r = 0.58, p = 0.049, n = 12"
    assert words.correlation_stats(2, np.nan, np.nan, np.nan) == "n = 2, too few models for a correlation"


def test_trend_words():
    assert words.trend_words([1, 2, 3]) == "rises" and words.trend_words([3, 1]) == "falls"
    assert words.trend_words([1, 3, 2]) == "does not move in one direction"
    assert words.trend_words([1, 1]) == "does not move in one direction"  # strictly
    assert words.trend_words([1]) == "cannot be compared"


def test_describe_family_trend():
    models = pd.DataFrame({"model": ["Llama-70b", "Llama-7b", "Llama-13b", "Yi-6b", "Tiny"],
                           "x": [2.0, 0, 1, 3, 9], "y": [0.5, 3, 4, 0, 0]})
    trend = family_trend(models, "Llama 2", ["x", "y"])
    assert words.describe_family_trend(trend, "Llama 2", {"x": "x", "y": "y"}) == (
        "Within Llama 2 (7, 13 and 70 billion parameters), x rises (0.0, 1.0 and 2.0) and y does not move in "
        "one direction (3.0, 4.0 and 0.5).")
    mistral = family_trend(models.assign(model=["Mistral", "Mixtral", "x", "y", "z"]), "Mistral", ["x"])
    assert words.describe_family_trend(mistral, "Mistral", {"x": "accuracy"}) == (
        "Within Mistral (7 and 46.7 billion parameters), accuracy falls (2.0 and 0.0).")
    assert words.describe_family_trend(family_trend(models, "Falcon", ["x"]), "Falcon", {"x": "x"}) == (
        "No Falcon model is in this run.")


def test_extremes_words_name_the_models():
    ext = Extremes(min=1.0, min_model="Mistral", max=5.0, max_model="gpt-4-turbo")
    assert words.extremes_words(ext) == {"min": 1.0, "min_model": "Mistral 7B", "max": 5.0,
                                         "max_model": "GPT4 Turbo"}
    assert words.extremes_words(Extremes(0.0, "mine", 0.0, "mine"))["max_model"] == "mine"


def test_dataset_names():
    assert words.dataset_names(["arc", "mmlu"]) == "ARC-Challenge and MMLU"
    assert words.dataset_names(["arc", "hellaswag", "winogrande"]) == "ARC-Challenge, HellaSwag and WinoGrande"
    assert words.dataset_names(["piqa"]) == "piqa"


@pytest.mark.parametrize("row, text", [
    ({"datasets": ["arc", "mmlu"], "n_answers": 42_814, "n_possible": 42_814, "all_datasets": True,
      "complete": True}, "all 42,814 answers"),
    ({"datasets": ["arc", "mmlu"], "n_answers": 8, "n_possible": 16, "all_datasets": True, "complete": False},
     "8 of 16 answers, on all 2 datasets"),
    ({"datasets": ["arc", "hellaswag"], "n_answers": 560, "n_possible": 42_814, "all_datasets": False,
      "complete": False}, "560 of 42,814 answers, on arc and hellaswag only"),
])
def test_covers(row, text):
    assert words.covers(row) == text
    assert words.covers(pd.Series(row)) == text  # a row of scored.coverage


def test_penalty_name():
    assert (words.penalty_name(1), words.penalty_name(2), words.penalty_name(3)) == (
        "balanced", "conservative", "penalty 3")
    assert words.penalty_name(0.5) == "penalty 0.5"


def test_describe_alignment():
    splits = pd.DataFrame({
        "model": ["mine", "mine", "mine", "other"], "dataset": ["arc", "hellaswag", "mmlu", "hellaswag"],
        "n_questions": [2, 2, 1, 1], "splits": [["test", "train"], ["validation"], ["test"], ["train"]],
        "paper_splits": [["train", "test", "validation"], ["train"], ["test"], ["train"]],
        "same_split": [True, False, True, True]})
    assert words.describe_alignment(splits) == (
        "For mine, on ARC-Challenge and MMLU its questions are the paper's at the same positions; on HellaSwag "
        "it read the validation split, not the paper's train split, so its questions there are other ones. "
        "For other, on HellaSwag its questions are the paper's at the same positions.")
    only_other = splits.iloc[[1]]
    assert words.describe_alignment(only_other) == (
        "For mine, on HellaSwag it read the validation split, not the paper's train split, so its questions "
        "there are other ones.")
    assert words.describe_alignment(splits.iloc[:0], none="None.") == "None."
    assert words.describe_alignment(splits.iloc[:0]) == ""
