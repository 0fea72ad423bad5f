"""Our value for every number the paper prints, and whether it is the printed one, digit for digit.

Input: the printed numbers (``helpers.data.printed.printed_numbers``: one row per printed cell, with
kind, model, dataset, k, column, printed string, precision and artefact) and the tidy answers. For
each printed cell :func:`our_numbers` computes the value with the project's functions, exactly as
METHODS defines it:

- AUROC tables (§8.1–8.3): ``cells.model_metrics`` over ``cells.cell_table`` (overall and
  ``by_dataset``); accuracy from the MSP cells, AUROC per signal, the count of cells with p < 1e-4
  out of the model's cells;
- calibration table (§8.6): ``cells.calibration_by_model`` ``calibration_error_paper``;
- dataset table (§8.5): ``cells.dataset_metrics`` over the paper models' cells of both signals;
- abstention tables (§8.7): ``abstention.abstention_table`` (k = 20, 10, 'half'; overall and per
  dataset): Base from the MSP run, then the test score and % abstained of each signal's threshold.

Each signal is computed from its own view of the answers (:func:`signal_answers`): its confidence
and its grades. The authors graded every cell by the file holding its confidence (``norm`` files
for MSP, ``raw`` files for Max Logit; they differ on six Falcon-7b lines, METHODS §6 and the README
of the results); a tidy table that carries the Max Logit grade in a column ``grade_max_logit``
gets those grades for its Max Logit cells, a table without it the shared ``grade`` for both.

:func:`printed_form` formats a value as the authors' ``plot_data.py:make_table`` did:
``str(round(x, precision)).replace('-0.0', '0.0')`` on a numpy float, i.e. numpy's rounding (scale by
10^precision, round half to even, scale back), so 0.15 prints ``0.2``, where Python's correctly
rounded ``round`` gives ``0.1`` (:func:`python_rounded_form`). :func:`printed_comparison` compares the
strings and says, for a mismatch, whether the other rounding would have matched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers.analysis import abstention
from helpers.analysis import cells as cell_tables
from helpers.data.vocabulary import PENALTY_NAMES, SIGNALS

#: the printed string of a missing value
MISSING = "--"
#: columns of :func:`our_numbers`
OUR_COLUMNS = ["kind", "model", "dataset", "k", "column", "ours", "out_of"]
#: columns of :func:`printed_comparison`
COMPARISON_COLUMNS = ["table", "kind", "row", "model", "dataset", "k", "column", "printed", "ours",
                      "ours_rounded", "other_rounding", "compared", "match", "reason"]


def signal_answers(answers: pd.DataFrame, signal: str) -> pd.DataFrame:
    """The answers as seen by one signal: its confidence kept, the other signal's set to NaN, and
    ``grade``/``correct`` replaced by the signal's own grade column ``grade_<signal>`` where the
    table has one (the authors graded each signal's cells by that signal's file, METHODS §5, §6).
    """
    if signal not in SIGNALS:
        raise ValueError(f"signal={signal!r}: expected one of {list(SIGNALS)}")
    out = answers.copy()
    for other in SIGNALS:
        if other != signal:
            out[other] = np.nan
    own = f"grade_{signal}"
    grade = out[own].astype(out["grade"].dtype) if own in out else out["grade"]
    correct = (grade == "correct").to_numpy(dtype=bool)
    # the view's one grade, under both signals' grade columns (``schema.GRADE_COLUMNS``)
    out["grade"], out["correct"] = grade, correct
    out["grade_max_logit"], out["correct_max_logit"] = grade, correct
    return out


def _key(kind, model, dataset, k, column) -> tuple:
    """Lookup key of a number; missing model or dataset as None."""
    def norm(v):
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else v
    return (kind, norm(model), norm(dataset), norm(k), tuple(column))


def our_numbers(answers: pd.DataFrame, ks: Sequence[abstention.K] = abstention.KS,
                kinds: Sequence[str] = ("auroc", "calibration", "dataset", "score", "pct_abstained")
                ) -> pd.DataFrame:
    """Our unrounded value of every number the paper's tables can print, for the answers' models.

    One row per (kind, model, dataset, k, column), keys as ``helpers.data.printed`` (a missing
    model, dataset or k is NaN or None): kind 'auroc' (no dataset: over all the model's cells, else
    that dataset's two cells) with columns ``('accuracy',)``,
    ``('auroc', signal)``, ``('n_sig', signal)`` (``out_of``: the model's cells of that signal);
    'calibration' ``('calibration_error',)``; 'dataset' (model None) ``('accuracy',)``,
    ``('auroc', signal)``; 'score' and 'pct_abstained' for each k of ``ks`` (no dataset: the
    overall run) with columns ``(quantity, 'balanced'|'conservative', 'base'|signal)`` (the Base
    score from the MSP run; no Base % abstained, which the paper does not compute). A model without
    a signal has no row for it (GPT Max Logit). ``kinds`` limits the work to those tables.
    Columns :data:`OUR_COLUMNS`; ``ours`` is float, ``out_of`` nullable int.
    """
    views = {signal: signal_answers(answers, signal) for signal in SIGNALS}
    rows: list[tuple] = []
    if {"auroc", "dataset"} & set(kinds):
        # each view holds one signal's confidences, so its cells are that signal's
        cells = pd.concat([cell_tables.cell_table(views[s]) for s in SIGNALS], ignore_index=True)
    if "auroc" in kinds:
        for by_dataset in (False, True):
            for r in cell_tables.model_metrics(cells, by_dataset=by_dataset).to_dict("records"):
                dataset = r["dataset"] if by_dataset else None
                rows.append(("auroc", r["model"], dataset, None, ("accuracy",), r["accuracy"], pd.NA))
                for s in SIGNALS:
                    if r[f"n_cells_{s}"] > 0:
                        rows.append(("auroc", r["model"], dataset, None, ("auroc", s), r[f"auroc_{s}"], pd.NA))
                        rows.append(("auroc", r["model"], dataset, None, ("n_sig", s), float(r[f"n_sig_{s}"]),
                                     int(r[f"n_cells_{s}"])))
    if "calibration" in kinds:
        for r in cell_tables.calibration_by_model(views["msp"]).to_dict("records"):
            rows.append(("calibration", r["model"], None, None, ("calibration_error",),
                         r["calibration_error_paper"], pd.NA))
    if "dataset" in kinds:
        for r in cell_tables.dataset_metrics(cell_tables.split_scored(cells)[0]).to_dict("records"):
            rows.append(("dataset", None, r["dataset"], None, ("accuracy",), r["accuracy"], pd.NA))
            for s in SIGNALS:
                if np.isfinite(r[f"auroc_{s}"]):
                    rows.append(("dataset", None, r["dataset"], None, ("auroc", s), r[f"auroc_{s}"], pd.NA))
    if {"score", "pct_abstained"} & set(kinds):
        runs = pd.concat([abstention.abstention_table(views[s], ks=ks) for s in SIGNALS], ignore_index=True)
        for r in runs.to_dict("records"):
            dataset = None if r["scope"] == "overall" else r["scope"]
            penalty = PENALTY_NAMES[r["penalty"]]
            rows.append(("score", r["model"], dataset, r["k"], ("score", penalty, r["signal"]), r["score"], pd.NA))
            rows.append(("pct_abstained", r["model"], dataset, r["k"], ("pct_abstained", penalty, r["signal"]),
                         r["pct_abstained"], pd.NA))
            if r["signal"] == "msp":
                rows.append(("score", r["model"], dataset, r["k"], ("score", penalty, "base"), r["base_score"],
                             pd.NA))
    out = pd.DataFrame(rows, columns=OUR_COLUMNS)
    out = out[out["kind"].isin(kinds)].reset_index(drop=True)
    out["ours"] = out["ours"].astype(float)
    out["out_of"] = out["out_of"].astype("Int64")
    return out


def printed_form(value: float, precision: int) -> str:
    """``value`` as the authors' ``plot_data.py:make_table`` printed it. Their values are numpy
    floats (means, ``np.mean``), whose ``round`` is numpy's: scale by 10^precision, round half to
    even, scale back. Then ``str`` and ``-0.0`` turned into ``0.0`` (their ``replace('-0.0',
    '0.0')`` on the string). ``--`` for NaN."""
    if not np.isfinite(value):
        return MISSING
    return str(round(np.float64(value), int(precision))).replace("-0.0", "0.0")


def python_rounded_form(value: float, precision: int) -> str:
    """As :func:`printed_form` but with Python's correctly rounded ``round`` on the exact binary
    value (0.15 → 0.1, where numpy gives 0.2): the other common way to round."""
    if not np.isfinite(value):
        return MISSING
    return str(round(float(value), int(precision))).replace("-0.0", "0.0")


def _count(value: float, out_of) -> str:
    if not np.isfinite(value) or pd.isna(out_of):
        return MISSING
    return f"{int(value)}/{int(out_of)}"


def printed_comparison(printed: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """Every printed cell next to our value (columns :data:`COMPARISON_COLUMNS`):

    table, kind, row, model, dataset, k, column, printed (from ``printed``); ours (unrounded; NaN
    where we have no value, e.g. GPT Max Logit); ours_rounded (our value formatted as the authors'
    code did, :func:`printed_form`, counts as ``x/n``, ``--`` for none); other_rounding (the
    same with :func:`python_rounded_form`); compared (False for the cells the parser marks as
    template artefacts, which are not computed numbers); match (ours_rounded == printed; NA where
    not compared); reason (why not, where not: the artefact, our differing string, and whether the
    other rounding would match; else NaN).
    """
    lookup = {_key(*r[:5]): (r[5], r[6]) for r in ours.itertuples(index=False)}
    records = []
    for r in printed.to_dict("records"):
        value, out_of = lookup.get(_key(r["kind"], r["model"], r["dataset"], r["k"], r["column"]),
                                   (np.nan, pd.NA))
        if r["quantity"] == "n_sig":
            mine = other = _count(value, out_of)
        else:
            mine = printed_form(value, r["precision"])
            other = python_rounded_form(value, r["precision"])
        compared = pd.isna(r["artefact"])
        match = (mine == r["printed"]) if compared else pd.NA
        if not compared:
            reason = f"not compared, template artefact: {r['artefact']}"
        elif match:
            reason = np.nan
        elif mine == MISSING:
            reason = "no value of ours"
        elif r["printed"] == MISSING:
            reason = f"ours is {mine}, the paper prints {MISSING}"
        else:
            reason = f"ours rounds to {mine}"
            if other == r["printed"]:
                reason += "; matches with Python's round instead of numpy's"
        records.append({**{c: r[c] for c in ("table", "kind", "row", "model", "dataset", "k", "column",
                                             "printed")},
                        "ours": value, "ours_rounded": mine, "other_rounding": other, "compared": compared,
                        "match": match, "reason": reason})
    out = pd.DataFrame(records, columns=COMPARISON_COLUMNS)
    out["match"] = out["match"].astype("boolean")
    out["reason"] = out["reason"].astype("str")
    return out


def printed_reproduction(printed: pd.DataFrame, answers: pd.DataFrame) -> pd.DataFrame:
    """:func:`printed_comparison` of ``printed`` against :func:`our_numbers` of ``answers``,
    computing only the kinds of table and the ks that ``printed`` holds."""
    kinds = tuple(printed["kind"].unique())
    ks = tuple(k for k in abstention.KS if k in set(printed["k"].dropna()))
    return printed_comparison(printed, our_numbers(answers, ks=ks or abstention.KS, kinds=kinds))


def match_totals(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per table, then a last row ``table='all'``: n_cells (printed cells), n_artefacts (not
    compared), n_missing (compared cells printed ``--``), n_numbers (compared cells with a number),
    n_matched (of those numbers, printed exactly as ours), n_missing_matched (``--`` where we have
    no value either), n_mismatched (compared cells, numbers or ``--``, that differ)."""
    c = comparison.assign(
        artefact=~comparison["compared"], missing=comparison["compared"] & (comparison["printed"] == MISSING),
        matched=comparison["match"].fillna(False).astype(bool))
    c = c.assign(number=c["compared"] & ~c["missing"])
    c = c.assign(number_matched=c["number"] & c["matched"], missing_matched=c["missing"] & c["matched"],
                 mismatched=c["compared"] & ~c["matched"])
    columns = {"n_cells": "size", "n_artefacts": "artefact", "n_missing": "missing", "n_numbers": "number",
               "n_matched": "number_matched", "n_missing_matched": "missing_matched",
               "n_mismatched": "mismatched"}
    per_table = pd.DataFrame({name: (c.groupby("table", sort=False).size() if col == "size"
                                     else c.groupby("table", sort=False)[col].sum())
                              for name, col in columns.items()})
    total = per_table.sum().to_frame("all").T
    return pd.concat([per_table, total]).rename_axis("table").reset_index().astype(
        {name: int for name in columns})


def mismatches(comparison: pd.DataFrame) -> pd.DataFrame:
    """The compared cells whose printed string differs from ours (rows of :func:`printed_comparison`)."""
    return comparison[comparison["compared"] & ~comparison["match"].fillna(False).astype(bool)].reset_index(drop=True)


def with_shortcuts(answers: pd.DataFrame) -> pd.DataFrame:
    """The answers as a re-implementation with two common shortcuts would hold them: confidences
    rounded to single precision (float32), and the Max Logit graded by the MSP files' grades. Each
    moves a printed digit (the float32 ties of GPT MSPs; six Falcon-7b Max Logit grades)."""
    out = answers.copy()
    for signal in SIGNALS:
        out[signal] = out[signal].astype(np.float32).astype(np.float64)
    out["grade_max_logit"], out["correct_max_logit"] = out["grade"], out["correct"]
    return out
