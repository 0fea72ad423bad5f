"""The generated letter's MSP next to the option-likelihood signal, on the scored models' answers.

Each signal has its own answer and grade: the MSP goes with the letter the model wrote (``grade``,
METHODS §5, §6), the option likelihood with the option of highest (summed or per-character)
log-likelihood (``grade_option_likelihood``, ``scoring.likelihood``). Per model, dataset and signal:
accuracy of that signal's answers, AUROC of its confidence for its own correctness (METHODS §8.2),
and calibration error (the paper's table value, METHODS §8.6), with both phrasings pooled. Only
answers that carry the option-likelihood columns count, so the signals are compared on the same
questions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.analysis import metrics
from helpers.data.schema import grade_columns, has_signal
from helpers.data.vocabulary import OPTION_SIGNALS, dataset_order, model_order

#: the signals compared: the paper's MSP, then the option likelihood (summed, per character)
COMPARED = ("msp", *OPTION_SIGNALS)


def with_option_signal(scored: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``scored`` that carry the option-likelihood signal (empty if none does)."""
    if not has_signal(scored, OPTION_SIGNALS[0]):
        return scored.iloc[0:0]
    return scored[scored[OPTION_SIGNALS[0]].notna()]


def signal_comparison(scored: pd.DataFrame) -> pd.DataFrame:
    """Per model, dataset and signal of :data:`COMPARED`: n, accuracy %, AUROC % and calibration
    error % of the answers with the option-likelihood signal (:func:`with_option_signal`).

    >>> rows = pd.DataFrame({"model": "m", "dataset": "arc", "msp": [0.9, 0.2, 0.6, 0.4],
    ...     "correct": [True, False, False, True], "option_likelihood": [0.8, 0.7, 0.3, 0.6],
    ...     "correct_option_likelihood": [True, True, False, False],
    ...     "option_likelihood_norm": [0.5, 0.5, 0.5, 0.5],
    ...     "correct_option_likelihood_norm": [True, False, False, False]})
    >>> signal_comparison(rows)[["signal", "n", "accuracy", "auroc"]].to_dict("list")
    {'signal': ['msp', 'option_likelihood', 'option_likelihood_norm'], 'n': [4, 4, 4], 'accuracy': [50.0, 50.0, 25.0], 'auroc': [75.0, 100.0, 50.0]}
    """
    rows = with_option_signal(scored)
    out = []
    for (model, dataset), cell in rows.groupby(["model", "dataset"], observed=True, sort=False):
        for signal in COMPARED:
            conf = cell[signal].to_numpy(np.float64)
            correct = cell[grade_columns(cell, signal)[1]].to_numpy(bool)
            out.append({"model": str(model), "dataset": str(dataset), "signal": signal, "n": len(cell),
                        "accuracy": metrics.accuracy_pct(correct), "auroc": metrics.auroc_pct(conf, correct),
                        "calibration_error": 100 * metrics.calibration_error(conf, correct)})
    table = pd.DataFrame(out, columns=["model", "dataset", "signal", "n", "accuracy", "auroc", "calibration_error"])
    if table.empty:
        return table
    order = {m: i for i, m in enumerate(model_order(table.model))}
    d_order = {d: i for i, d in enumerate(dataset_order(table.dataset))}
    s_order = {s: i for i, s in enumerate(COMPARED)}
    return table.sort_values(["model", "dataset", "signal"], key=lambda c: c.map(
        {"model": order, "dataset": d_order, "signal": s_order}[c.name]), ignore_index=True)


def signal_means(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per model and signal, the unweighted mean over datasets of :func:`signal_comparison`'s
    accuracy, AUROC and calibration error (each dataset counts once, as the paper's averages)."""
    if comparison.empty:
        return comparison.drop(columns=["dataset", "n"])
    means = comparison.groupby(["model", "signal"], sort=False)[["accuracy", "auroc", "calibration_error"]].mean()
    return means.reset_index()
