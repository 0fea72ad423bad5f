"""Tables as a reader sees them: display names, readable headers, fixed decimals.

Each function takes an analysis table (``helpers.analysis``) and returns a DataFrame (or a pandas
Styler) ready to show; nothing here computes a statistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd

from helpers.analysis.abstention import K, covered_datasets, run_rows
from helpers.analysis.cells import SIGNIFICANCE, cell_table
from helpers.data.schema import COLUMNS
from helpers.data.vocabulary import (DATASET_REGISTRY, DATASETS, SIGNAL_NAMES, SIGNALS, dataset_order,
                                     model_order)
from helpers.report.words import model_label, penalty_name, power_of_ten

#: how a table shows a value that does not apply or is undefined (e.g. the AUROC of a cell whose
#: answers are all correct)
NOT_APPLICABLE = "n/a"

def _with_counts(value: pd.Series, n_sig: pd.Series, n_cells: pd.Series, digits: int = 1) -> pd.Series:
    """'value (n_sig/n_cells)' strings; '–' where the value is missing (e.g. GPT Max Logit)."""
    text = [f"{v:.{digits}f} ({s}/{c})" if pd.notna(v) else "–" for v, s, c in zip(value, n_sig, n_cells)]
    return pd.Series(text, index=value.index, dtype=object)


def auroc_display(metrics_table: pd.DataFrame) -> pd.DataFrame:
    """The paper's AUROC table for display (``cells.model_metrics``): rows = model labels (ours marked),
    accuracy and, per signal, 'mean AUROC (cells with p < 10⁻⁴ / cells)', the threshold being
    ``cells.SIGNIFICANCE``."""
    out = pd.DataFrame({"model": metrics_table["model"].map(model_label),
                        "accuracy (%)": metrics_table["accuracy"].round(1)})
    threshold = power_of_ten(SIGNIFICANCE)
    for signal, name in (("msp", "MSP"), ("max_logit", "Max Logit")):
        out[f"{name} AUROC (p < {threshold})"] = _with_counts(metrics_table[f"auroc_{signal}"],
                                                              metrics_table[f"n_sig_{signal}"],
                                                              metrics_table[f"n_cells_{signal}"])
    return out.set_index("model")


def bold_rows(table: pd.DataFrame, rows: Sequence[object]):
    """``table`` as a pandas Styler with the rows whose index label is in ``rows`` in bold (e.g. the
    model a chapter is about)."""
    rows = set(rows)
    return table.style.apply(lambda row: ["font-weight: bold" if row.name in rows else ""] * len(row), axis=1)


def auroc_grid_display(per_dataset: pd.DataFrame, signal: str = "msp") -> pd.DataFrame:
    """Model × dataset grid of 'mean AUROC over the phrasings (cells with p < 1e-4 / cells)' for one
    signal (``cells.model_metrics(cells, by_dataset=True)``); models without the signal left out."""
    data = per_dataset[per_dataset[f"n_cells_{signal}"] > 0]
    text = _with_counts(data[f"auroc_{signal}"], data[f"n_sig_{signal}"], data[f"n_cells_{signal}"])
    grid = data.assign(text=text).pivot(index="model", columns="dataset", values="text")
    grid = grid.reindex(index=model_order(grid.index), columns=[d for d in DATASETS if d in grid.columns])
    return grid.rename(index=model_label).rename_axis(index="model", columns=None)


def paper_layout(table: pd.DataFrame, k: K = 20, scope: str = "overall",
                 value: Literal["score", "pct_abstained"] = "score",
                 decimals: int | None = None) -> pd.DataFrame:
    """One run of ``abstention.abstention_table`` in the paper's layout: a row per model (keys, display
    order); columns (Balanced | Conservative) × (Base, MSP, Max Logit) for ``value="score"``, or
    × (MSP, Max Logit) for ``"pct_abstained"`` (Base never abstains). NaN where a model lacks a signal.
    ``decimals``: round as printed (−0.0 shown as 0.0).
    """
    rows = run_rows(table, k, scope)
    wide = rows.pivot_table(index="model", columns=["penalty", "signal"], values=value, aggfunc="first")
    base = rows[rows["signal"] == "msp"].pivot_table(index="model", columns="penalty", values="base_score",
                                                     aggfunc="first")
    columns = {}
    for penalty in sorted(rows["penalty"].unique()):
        setting = penalty_name(penalty).capitalize()
        if value == "score":
            columns[(setting, "Base")] = base.get(penalty)
        for signal in SIGNALS:
            columns[(setting, SIGNAL_NAMES[signal])] = wide.get((penalty, signal))
    out = pd.DataFrame({c: s for c, s in columns.items() if s is not None}).reindex(model_order(wide.index))
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    if decimals is not None:
        out = out.round(decimals) + 0.0  # adding 0.0 turns -0.0 into 0.0
    return out.rename_axis(index="model")


def row_labels(table: pd.DataFrame, k: K = 20, scope: str = "overall") -> dict[str, str]:
    """Label per model of one run of ``abstention.abstention_table`` (:func:`model_label`), with the
    datasets it covers noted, e.g. 'SmolLM2 (ours; arc, hellaswag only)', when they are fewer than
    the run's datasets."""
    covered, every = covered_datasets(table, k, scope)
    return {m: model_label(m, "" if d == every else f"{', '.join(d)} only") for m, d in covered.items()}


def dataset_table(counts: pd.Series) -> pd.DataFrame:
    """Per dataset of ``coverage.question_counts``: name, the Hugging Face id / config and splits the
    paper used, options per question, and the questions the answers cover (METHODS §2)."""
    rows = []
    for key, n in counts.items():
        spec = DATASET_REGISTRY[key]
        rows.append({"dataset": key, "name": spec.name,
                     "source": spec.hf_id + (f" / {spec.config}" if spec.config else ""),
                     "splits": " + ".join(spec.splits), "options": spec.options, "questions": int(n)})
    return pd.DataFrame(rows)


CALIBRATION_COLUMNS = {"calibration_error_paper": "paper", "ece_equal_mass": "ECE equal-mass",
                       "ece_equal_width": "ECE equal-width",
                       "calibration_error_uniform_cells": "per-cell, equal-width",
                       "share_msp_one": "MSP = 1.0 (%)", "mean_msp": "mean MSP (%)",
                       "frac_correct": "accuracy (%)"}


def calibration_display(calibration: pd.DataFrame):
    """The calibration table (rows of ``cells.calibration_by_model``) as shown: model labels, the
    errors with 2 decimals, shares and means in percent with 1 decimal."""
    shown = calibration.assign(model=calibration["model"].map(model_label),
                               share_msp_one=100 * calibration["share_msp_one"],
                               mean_msp=100 * calibration["mean_msp"],
                               frac_correct=100 * calibration["frac_correct"])
    shown = shown.set_index("model")[list(CALIBRATION_COLUMNS)].rename(columns=CALIBRATION_COLUMNS)
    names = list(CALIBRATION_COLUMNS.values())
    return shown.style.format({c: "{:.2f}" for c in names[:4]} | {c: "{:.1f}" for c in names[4:]})


#: readable names of the per-model columns the correlation chapter plots
AXIS_LABELS = {"accuracy": "accuracy (%)", "auroc_msp": "MSP AUROC (%)", "auroc_max_logit": "Max Logit AUROC (%)",
               "calibration_error_uniform_cells": "calibration error (equal-width bins, per cell)",
               "params_b": "parameters (billions)"}


def correlation_display(correlations: pd.DataFrame):
    """The correlation table (``correlations.correlation_table``) as shown: readable axis names, r and
    ρ with 3 decimals, p-values with 2 significant digits, no index."""
    shown = correlations.assign(x=correlations["x"].map(AXIS_LABELS), y=correlations["y"].map(AXIS_LABELS))
    return shown.style.format({"pearson_r": "{:.3f}", "pearson_p": "{:.2g}", "spearman_rho": "{:.3f}",
                               "spearman_p": "{:.2g}"}).hide(axis="index")


def run_summary(scored: pd.DataFrame, name: str, positions: dict[str, set[int]] | None = None,
                shots: int = 0) -> pd.DataFrame:
    """Per dataset and phrasing of scored model ``name`` (``shots``; only ``positions`` per dataset if
    given), from ``cells.cell_table`` (METHODS §8.1-§8.2): answers, accuracy %, MSP and Max Logit
    AUROC % (NaN where undefined: all answers right or all wrong), unparseable answers, and the
    engine modes that wrote them; 2 decimals."""
    rows = scored[(scored["model"].astype(str) == name) & (scored["shots"] == shots)]
    if positions is not None:
        rows = rows[[q in positions.get(d, ()) for d, q in zip(rows["dataset"].astype(str), rows["qid"])]]
    cells = cell_table(rows[list(COLUMNS)])
    wide = cells.pivot_table(index=["dataset", "phrasing"], columns="signal", observed=True, dropna=False,
                             values=["n", "accuracy", "auroc", "n_unparseable"], aggfunc="first")
    column = lambda value, signal: wide[(value, signal)] if (value, signal) in wide else float("nan")  # noqa: E731
    out = pd.DataFrame({"n": column("n", "msp").astype(int), "accuracy": column("accuracy", "msp"),
                        "auroc_msp": column("auroc", "msp"), "auroc_max_logit": column("auroc", "max_logit"),
                        "unparseable": column("n_unparseable", "msp").astype(int)})
    if "mode" in rows:
        modes = rows.groupby(["dataset", "phrasing"], observed=True)["mode"].agg(
            lambda m: ", ".join(sorted(set(map(str, m.dropna())))))
        out["mode"] = modes.reindex(out.index)
    return out.reset_index().round(2)


#: how the chapter names the authors' printed tables (``figs/*.tex`` stems)
TABLE_NAMES = {"auroc_table_plus_fig": "AUROC, overall", "auroc_table": "AUROC, overall (plain copy)",
               "calibration_table_quantile": "calibration error", "dataset": "per dataset",
               "score_table": "score, k = 20", "score_table_k=10": "score, k = 10",
               "score_table_k=half": "score, k = half", "pct_abstained_table": "% abstained, k = 20"}


def table_name(stem: str) -> str:
    """A readable name of a printed table: 'AUROC, overall', 'AUROC, ARC-Challenge', 'score, MMLU'."""
    if stem in TABLE_NAMES:
        return TABLE_NAMES[stem]
    for key, entry in DATASET_REGISTRY.items():
        if stem.startswith(f"{key}_"):
            rest = stem.removeprefix(f"{key}_").removesuffix("_table").replace("pct_abstained", "% abstained")
            return f"{rest.replace('auroc', 'AUROC')}, {entry.name}"
    return stem


def _table_rank(stem: str) -> tuple:
    """Overall tables first (in :data:`TABLE_NAMES` order), then per dataset, the total last."""
    if stem == "all":
        return (2, 0, 0)
    if stem in TABLE_NAMES:
        return (0, list(TABLE_NAMES).index(stem), 0)
    key = next((k for k in DATASETS if stem.startswith(f"{k}_")), "")
    kinds = ["auroc", "score", "pct_abstained"]
    kind = next((i for i, k in enumerate(kinds) if stem.removeprefix(f"{key}_").startswith(k)), len(kinds))
    return (1, DATASETS.index(key) if key else len(DATASETS), kind)


_WORDS = {"accuracy": "accuracy", "auroc": "AUROC", "n_sig": "cells p < 10⁻⁴", "base": "Base",
          "score": "score", "pct_abstained": "% abstained", "calibration_error": "calibration error"}


def column_label(column: Sequence[object]) -> str:
    """A printed table's column key in words: ('auroc', 'msp') -> 'MSP AUROC', ('score',
    'balanced', 'base') -> 'balanced Base'."""
    parts = [SIGNAL_NAMES.get(str(c), _WORDS.get(str(c), str(c))) for c in column]
    signals = [p for p in parts if p in SIGNAL_NAMES.values()]
    rest = [p for p in parts if p not in SIGNAL_NAMES.values() and p not in ("score", "% abstained")]
    return " ".join(signals + rest) or " ".join(parts)


def reproduction_display(totals: pd.DataFrame) -> pd.DataFrame:
    """Per printed table (``reproduction.match_totals``): its readable name, numbers printed,
    numbers we print the same, the '--' marks (no value) and the cells not compared (template
    artefacts); overall tables first, then per dataset, the total last."""
    totals = totals.iloc[sorted(range(len(totals)), key=lambda i: _table_rank(totals["table"].iloc[i]))]
    shown = totals.assign(table=[("all tables" if t == "all" else table_name(t)) for t in totals["table"]])
    shown = shown.rename(columns={"table": "table", "n_numbers": "numbers printed", "n_matched": "same digits",
                                  "n_missing": "'--' marks", "n_missing_matched": "'--' where we have none",
                                  "n_artefacts": "not compared (artefacts)"})
    return shown.set_index("table")[["numbers printed", "same digits", "'--' marks", "'--' where we have none",
                                     "not compared (artefacts)"]]


def mismatch_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """The cells whose digits differ (``reproduction.mismatches``): table, model, what, printed,
    ours (rounded as printed, then unrounded) and the reason."""
    rows = comparison.reset_index(drop=True)
    return pd.DataFrame({"table": rows["table"].map(table_name), "model": rows["row"],
                         "column": [column_label(c) for c in rows["column"]], "printed": rows["printed"],
                         "ours": rows["ours_rounded"], "ours, unrounded": rows["ours"].round(4),
                         "reason": rows["reason"]})


def side_by_side(comparison: pd.DataFrame, table: str) -> pd.DataFrame:
    """One printed table with each printed cell next to ours: a row per model, a column per printed
    column, 'printed | ours' strings ('✓' appended where they agree)."""
    rows = comparison[comparison["table"] == table]
    text = [f"{p} | {o}" + (" ✓" if m is True else "") for p, o, m in
            zip(rows["printed"], rows["ours_rounded"], rows["match"].astype(object))]
    grid = rows.assign(text=text, what=[column_label(c) for c in rows["column"]]).pivot_table(
        index="row", columns="what", values="text", aggfunc="first", sort=False)
    return grid.rename_axis(index="model", columns=None)


def option_signal_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """``analysis.option_signal.signal_comparison`` for the reader: rows (model, dataset, signal) by
    display names, readable headers, NaN as n/a left to the caller's formatting."""
    from helpers.data.vocabulary import OPTION_SIGNAL_NAMES, dataset_name, display_name

    names = {**SIGNAL_NAMES, **OPTION_SIGNAL_NAMES}
    shown = comparison.assign(model=comparison["model"].map(display_name),
                              dataset=comparison["dataset"].map(dataset_name), signal=comparison["signal"].map(names))
    return shown.rename(columns={"model": "Model", "dataset": "Dataset", "signal": "Signal", "n": "Answers",
                                 "accuracy": "Accuracy (%)", "auroc": "AUROC (%)",
                                 "calibration_error": "Calibration error (%)"}).set_index(["Model", "Dataset", "Signal"])
