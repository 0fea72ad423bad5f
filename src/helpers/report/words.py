"""The words of the prose: lists, verdicts, correlations and labels, from numbers computed elsewhere.

Nothing here computes a statistic; every function turns numbers or model keys into the words and
names a reader sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from helpers.analysis.cells import Extremes
from helpers.analysis.correlations import CORRELATION_ALPHA
from helpers.data.vocabulary import PENALTY_NAMES, dataset_name, display_name, is_scored


def join_words(words: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'.

    >>> join_words(["a", "b", "c"])
    'a, b and c'
    """
    words = list(words)
    return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]


def model_label(model: str, note: str = "") -> str:
    """The model's display name for tables, with 'ours' (for our scored models) and ``note`` in
    brackets when there is either, e.g. 'SmolLM2-135M-Instruct (ours; arc only)'."""
    notes = [n for n in ("ours" if is_scored(model) else "", note) if n]
    return display_name(model) + (f" ({'; '.join(notes)})" if notes else "")


def verdict(n_support: int, n_total: int) -> str:
    """Words for how many of ``n_total`` models support a claim: 'holds for every model',
    'holds for k of n models' or 'does not hold for any model'."""
    if n_total > 0 and n_support == n_total:
        return "holds for every model" if n_total > 1 else "holds for the model"
    if n_support == 0:
        return "does not hold for any model"
    return f"holds for {n_support} of {n_total} models"


def exceptions(models: Iterable[str]) -> str:
    """'there is no exception', 'the exception is A' or 'the exceptions are A and B' (display names)."""
    names = [display_name(m) for m in models]
    if not names:
        return "there is no exception"
    return f"the exception{'s are' if len(names) > 1 else ' is'} {join_words(names)}"


def names_or(models: Iterable[str], none: str = "none") -> str:
    """Display names joined as 'a, b and c' (:func:`join_words`), or ``none`` when there are none."""
    return join_words([display_name(m) for m in models]) or none


def power_of_ten(value: float) -> str:
    """A power of ten in print, e.g. 1e-4 -> '10⁻⁴'; any other value as '{value:g}'."""
    exponent = round(float(np.log10(value))) if value > 0 else None
    if exponent is None or not np.isclose(10.0 ** exponent, value, rtol=1e-9, atol=0):
        return f"{value:g}"
    return "10" + str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def describe_correlation(r: float, p: float, alpha: float = CORRELATION_ALPHA) -> str:
    """Words for a correlation: 'no significant correlation' when p >= alpha, else its strength
    (|r| < 0.3 weak, < 0.7 moderate, else strong) and sign, e.g. 'a strong positive correlation'."""
    if not np.isfinite(r) or not np.isfinite(p) or p >= alpha:
        return "no significant correlation"
    strength = "weak" if abs(r) < 0.3 else "moderate" if abs(r) < 0.7 else "strong"
    return f"a {strength} {'positive' if r > 0 else 'negative'} correlation"


def correlation_stats(n: int, r: float, p: float, rho: float | None = None) -> str:
    """The numbers behind a correlation in words: 'r = 0.83, p = 2.3e-04, n = 14' (Pearson; with
    '; Spearman ρ = 0.84' when ``rho`` is given), or 'n = 2, too few models for a correlation'
    when r is not finite (fewer than three pairs or a constant sample)."""
    if not np.isfinite(r):
        return f"n = {n}, too few models for a correlation"
    p_text = f"{p:.1e}" if p < 0.001 else f"{p:.2g}"
    text = f"r = {r:.2f}, p = {p_text}, n = {n}"
    return text + (f"; Spearman ρ = {rho:.2f}" if rho is not None and np.isfinite(rho) else "")


def trend_words(values: Sequence[float]) -> str:
    """'rises', 'falls' (strictly, in the given order), 'does not move in one direction', or
    'cannot be compared' with fewer than two values."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return "cannot be compared"
    steps = np.diff(values)
    return "rises" if (steps > 0).all() else "falls" if (steps < 0).all() else "does not move in one direction"


def describe_family_trend(trend, family: str, labels: dict[str, str]) -> str:
    """One sentence on how ``labels``' columns change with size within a model family (``trend``
    from ``cells.family_trend``), e.g. 'Within Llama 2 (7, 13 and 70 billion parameters), accuracy
    rises (40.6, 46.7 and 58.3) and MSP AUROC rises (…).'; 'No Llama 2 model is in this run.'."""
    if trend.empty:
        return f"No {family} model is in this run."
    sizes = join_words([f"{v:g}" for v in trend["params_b"]])
    parts = [f"{label} {trend_words(trend[column])} ({join_words([f'{v:.1f}' for v in trend[column]])})"
             for column, label in labels.items()]
    return f"Within {family} ({sizes} billion parameters), {join_words(parts)}."


def extremes_words(extremes: Extremes) -> dict[str, object]:
    """The extremes with display names: {min, min_model, max, max_model}."""
    return {"min": extremes.min, "min_model": display_name(extremes.min_model),
            "max": extremes.max, "max_model": display_name(extremes.max_model)}


def dataset_names(datasets: Iterable[str]) -> str:
    """Dataset display names joined as 'ARC-Challenge and MMLU'."""
    return join_words([dataset_name(d) for d in datasets])


def covers(row) -> str:
    """What a model of ``scored.coverage`` answered, in words: 'all 42,814 answers', '2,000 of
    42,814 answers, on all 5 datasets' or '560 of 42,814 answers, on arc and hellaswag only'."""
    if row["complete"]:
        return f"all {row['n_answers']:,} answers"
    where = (f"on all {len(row['datasets'])} datasets" if row["all_datasets"]
             else f"on {join_words(row['datasets'])} only")
    return f"{row['n_answers']:,} of {row['n_possible']:,} answers, {where}"


def penalty_name(penalty: float) -> str:
    """'balanced', 'conservative', or 'penalty p' for another penalty."""
    return PENALTY_NAMES.get(penalty, f"penalty {penalty:g}")


def describe_alignment(splits, none: str = "") -> str:
    """One sentence per scored model of ``coverage.question_splits``: on which datasets its question
    positions are the paper's questions, and on which they are not, and why (another split)."""
    if splits.empty:
        return none
    sentences = []
    for model, part in splits.groupby("model", sort=False):
        same = [dataset_name(d) for d in part.loc[part["same_split"], "dataset"]]
        other = [f"on {dataset_name(r.dataset)} it read the {join_words(r.splits)} split, not the "
                 f"paper's {join_words(r.paper_splits)} split, so its questions there are other ones"
                 for r in part[~part["same_split"]].itertuples()]
        clauses = [f"on {join_words(same)} its questions are the paper's at the same positions"] if same else []
        sentences.append(f"For {display_name(model)}, {'; '.join(clauses + other)}.")
    return " ".join(sentences)


def copy_note(differences: Sequence[str], first: int = 3) -> str:
    """'' when the results are the pinned ones, else a warning sentence naming the first differences
    (lines of ``published.copy_differences``)."""
    if not differences:
        return ""
    more = f", and {len(differences) - first} more" if len(differences) > first else ""
    return (f"Note: these results are not the authors' pinned files; {len(differences)} files differ "
            f"({'; '.join(differences[:first])}{more}), so the numbers in this book may differ from the paper's.")
