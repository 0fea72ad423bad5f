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
from helpers.data.vocabulary import (DATASET_REGISTRY, DATASETS, OPTION_SIGNAL_NAMES, PAPER_MODELS, SIGNAL_NAMES,
                                     SIGNALS, dataset_name, dataset_order, display_name, model_order)
from helpers.report.words import model_label, penalty_name, power_of_ten

#: how a table shows a value that does not apply or is undefined (e.g. the AUROC of a cell whose
#: answers are all correct)
NOT_APPLICABLE = "n/a"

#: readable headers of the columns (and index levels) the chapters show, by their keys
HEADERS = {
    "model": "model", "dataset": "dataset", "phrasing": "phrasing", "family": "family", "n": "n",
    "accuracy": "accuracy (%)", "auroc_msp": "MSP AUROC (%)", "auroc_max_logit": "Max Logit AUROC (%)",
    "params_b": "parameters (billions)", "pearson_r": "Pearson r", "pearson_p": "p (Pearson)",
    "spearman_rho": "Spearman ρ", "spearman_p": "p (Spearman)", "r_without": "r without the model",
    "change": "change in r", "x_value": "x", "y_value": "y", "predicted": "predicted y",
    "residual": "residual", "pct_above": "answers above (%)", "unparseable": "unparseable",
    "mode": "engine mode", "rank_here": "rank, same questions", "rank_all": "rank, all answers",
    "calibration_error_uniform_cells": "calibration error (equal-width, per cell)",
    "ece_equal_mass": "ECE equal-mass", "n_cells": "cells", "n_better": "better than Base",
    "n_tied": "tied with Base", "n_worse": "worse than Base", "mean_gain": "mean gain",
}

#: the padding that keeps the columns of every shown table apart
TABLE_STYLES = [{"selector": "th, td", "props": "padding: 0.25em 0.9em"},
                {"selector": "th.col_heading", "props": "text-align: center"},
                {"selector": "th.row_heading", "props": "text-align: left; white-space: nowrap"}]
#: text longer than this may wrap in its cell; shorter text (a model's name) stays on one line
WRAP_AFTER = 24


def _header(key: object, headers: dict) -> object:
    if isinstance(key, tuple):
        return tuple(_header(k, headers) for k in key)
    if key in headers:
        return headers[key]
    if str(key) in DATASET_REGISTRY:
        return dataset_name(str(key))
    return SIGNAL_NAMES.get(str(key), HEADERS.get(str(key), key))


def _model_label(model: object) -> str:
    """:func:`model_label` of a model key; a name that is already a label is kept."""
    model = str(model)
    return model if model in _LABELS or "(ours" in model else model_label(model)


_LABELS = {display_name(m) for m in PAPER_MODELS}


def _names(values: pd.Index | pd.Series, key: object):
    """Display names of model keys (:func:`model_label`) and dataset keys in a column or index named so."""
    if key == "model":
        return values.map(_model_label)
    if key == "dataset":
        return values.map(lambda d: dataset_name(str(d)))
    return values


def formatted(table: pd.DataFrame | pd.Series, decimals: int | dict[object, int | str] | None = None,
              index: bool | None = None, headers: dict[object, str] | None = None):
    """Any table as a reader sees it, as a pandas Styler: model and dataset keys as display names,
    readable headers (:data:`HEADERS`, overridden by ``headers``), fixed decimals (``decimals`` for
    every float column, or per column key, where a format string such as '{:.2g}' is also accepted;
    otherwise 1, and none for integers and for floats that are all whole numbers, such as ranks; p-values, columns ending in '_p', with 2 significant digits),
    :data:`NOT_APPLICABLE` for missing values, padded cells, and no index unless it means
    something (``index``; by default hidden when it is a plain 0..n-1 range).

    >>> shown = formatted(pd.DataFrame({"model": ["gpt-4-turbo"], "pearson_r": [0.83123], "n": [14]}),
    ...                   decimals={"pearson_r": 3})
    >>> shown.data.columns.tolist(), shown.data.iloc[0, 0]
    (['model', 'Pearson r', 'n'], 'GPT4 Turbo')
    >>> "0.831" in shown.to_html() and "14.0" not in shown.to_html()
    True
    """
    headers = dict(headers or {})
    frame = table.to_frame() if isinstance(table, pd.Series) else table.copy()
    if isinstance(table, pd.Series) and table.name is None:
        frame.columns = ["value"]
    if index is None:
        index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
    if isinstance(frame.index, pd.MultiIndex):
        frame.index = pd.MultiIndex.from_arrays(
            [_names(frame.index.get_level_values(k), name) for k, name in enumerate(frame.index.names)],
            names=[_header(n, headers) if n is not None else None for n in frame.index.names])
    else:
        name = frame.index.name
        frame.index = _names(frame.index, name)
        frame.index.name = _header(name, headers) if name is not None else None
    frame.columns.name = None
    formats = {}
    for column in frame.columns:
        key = column[-1] if isinstance(column, tuple) else column
        frame[column] = _names(frame[column], key)
        values = frame[column]
        wanted = decimals.get(column, decimals.get(key)) if isinstance(decimals, dict) else decimals
        if isinstance(wanted, str):
            formats[column] = wanted
        elif pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            continue
        elif str(key).endswith("_p") or key == "p":
            formats[column] = "{:.2g}"
        elif pd.api.types.is_integer_dtype(values) or (wanted is None and values.notna().any()
                                                        and values.dropna().eq(values.dropna().round()).all()):
            formats[column] = "{:,.0f}"
        else:
            formats[column] = f"{{:,.{1 if wanted is None else wanted}f}}"
    renamed = frame.rename(columns=lambda c: _header(c, headers))
    if isinstance(frame.columns, pd.MultiIndex):
        renamed.columns = pd.MultiIndex.from_tuples([_header(c, headers) for c in frame.columns])
    formats = {_header(c, headers): f for c, f in formats.items()}
    styler = renamed.style.format(formats, na_rep=NOT_APPLICABLE).set_table_styles(TABLE_STYLES)
    text = [c for c in renamed.columns if c not in formats]
    styler = styler.format(na_rep=NOT_APPLICABLE, subset=text)
    styler = styler.set_properties(subset=text, **{"text-align": "left"})
    short = [c for c in text if renamed[c].astype(str).str.len().max() <= WRAP_AFTER]
    styler = styler.set_properties(subset=short, **{"white-space": "nowrap"})
    styler = styler.set_properties(subset=list(formats), **{"text-align": "right", "white-space": "nowrap"})
    return styler if index else styler.hide(axis="index")

def _with_counts(value: pd.Series, n_sig: pd.Series, n_cells: pd.Series, digits: int = 1) -> pd.Series:
    """'value (n_sig/n_cells)' strings; :data:`NOT_APPLICABLE` where the value is missing (e.g. GPT Max Logit)."""
    text = [f"{v:.{digits}f} ({s}/{c})" if pd.notna(v) else NOT_APPLICABLE for v, s, c in zip(value, n_sig, n_cells)]
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
    return formatted(table, decimals=2).apply(lambda row: ["font-weight: bold" if row.name in rows else ""] * len(row), axis=1)


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
    shown = shown.set_index("model")[list(CALIBRATION_COLUMNS)]
    names = list(CALIBRATION_COLUMNS)
    return formatted(shown, decimals={c: 2 for c in names[:4]} | {c: 1 for c in names[4:]}, headers=CALIBRATION_COLUMNS)


#: readable names of the per-model columns the correlation chapter plots
AXIS_LABELS = {"accuracy": "accuracy (%)", "auroc_msp": "MSP AUROC (%)", "auroc_max_logit": "Max Logit AUROC (%)",
               "calibration_error_uniform_cells": "calibration error (equal-width bins, per cell)",
               "params_b": "parameters (billions)",
               # the selective-answering chapter's summaries and the paper's numbers they are set against
               "paper_accuracy": "accuracy (paper, %)", "paper_auroc": "MSP AUROC (paper, %)",
               "score_balanced": "balanced score (paper's threshold)",
               "score_conservative": "conservative score (paper's threshold)", "aurc": "AURC",
               "e_aurc": "E-AURC", "augrc": "AUGRC", "prr_selective": "selective PRR"}


def correlation_display(correlations: pd.DataFrame):
    """The correlation table (``correlations.correlation_table``) as shown: readable axis names, r and
    ρ with 3 decimals, p-values with 2 significant digits, no index."""
    shown = correlations.assign(x=[AXIS_LABELS.get(v, v) for v in correlations["x"]],
                                y=[AXIS_LABELS.get(v, v) for v in correlations["y"]])
    return formatted(shown.reset_index(drop=True),
                     decimals={"pearson_r": 3, "spearman_rho": 3, "fisher_lo": 3, "fisher_hi": 3},
                     headers={"n": "models", "fisher_lo": "r, 95% low (Fisher z)", "fisher_hi": "r, 95% high (Fisher z)"})


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


# --- intervals ------------------------------------------------------------------------------------

def interval_text(estimate: float, lo: float, hi: float, decimals: int = 1, scale: float = 1.0) -> str:
    """'estimate [lo, hi]' with ``decimals`` fixed decimals after multiplying by ``scale``
    (e.g. 100 for percent); :data:`NOT_APPLICABLE` without an estimate, the estimate alone without
    an interval.

    >>> interval_text(81.66, 80.94, 82.51)
    '81.7 [80.9, 82.5]'
    >>> interval_text(0.04861, 0.04555, 0.05424, decimals=3)
    '0.049 [0.046, 0.054]'
    >>> interval_text(float("nan"), float("nan"), float("nan"))
    'n/a'
    """
    if pd.isna(estimate):
        return NOT_APPLICABLE
    text = f"{scale * estimate:.{decimals}f}"
    if pd.isna(lo) or pd.isna(hi):
        return text
    return f"{text} [{scale * lo:.{decimals}f}, {scale * hi:.{decimals}f}]"


def interval_grid(intervals: pd.DataFrame, columns: dict[str, str], decimals: int = 1, scale: float = 1.0,
                  name: str = "statistic", estimate: str = "estimate") -> pd.DataFrame:
    """Model × statistic grid of :func:`interval_text` from long intervals (model, ``name``,
    ``estimate``, lo, hi: ``bootstrap.model_intervals``, ``recalibration.measure_intervals``,
    ``selective.selective_intervals``, ``one_shot.paired_differences``): rows = model labels in
    display order (ours marked), columns = the keys of ``columns`` present in ``intervals``, in that
    order, headed by its values; :data:`NOT_APPLICABLE` where a model lacks one."""
    rows = intervals[intervals[name].isin(list(columns))]
    text = [interval_text(e, lo, hi, decimals, scale) for e, lo, hi in zip(rows[estimate], rows["lo"], rows["hi"])]
    grid = rows.assign(text=text).pivot(index="model", columns=name, values="text")
    grid = grid.reindex(index=model_order(grid.index), columns=[c for c in columns if c in grid.columns])
    return grid.fillna(NOT_APPLICABLE).rename(index=model_label, columns=columns).rename_axis(index="model", columns=None)


#: the per-model statistics of the AUROC table with intervals (key -> header)
AUROC_INTERVAL_COLUMNS = {"accuracy": "accuracy (%)", "auroc_msp": "MSP AUROC (%)",
                          "auroc_max_logit": "Max Logit AUROC (%)"}
#: the calibration-error variants (``bootstrap.CALIBRATION_VARIANTS``) as headers
CALIBRATION_INTERVAL_COLUMNS = {k: v for k, v in CALIBRATION_COLUMNS.items()
                                if k in ("calibration_error_paper", "ece_equal_mass", "ece_equal_width",
                                         "calibration_error_uniform_cells")}


def calibration_verdict_display(verdicts: pd.DataFrame, intervals: pd.DataFrame, decimals: int = 3) -> pd.DataFrame:
    """Per model, every calibration-error variant as 'estimate [lo, hi]' (``testing.calibration_intervals``,
    ``decimals`` decimals, fractions) and the verdict of ``testing.calibration_verdicts``: 'above',
    'below' or 'overlaps' the tolerance, and the variant with the largest error."""
    grid = interval_grid(intervals.rename(columns={"variant": "statistic"}), CALIBRATION_INTERVAL_COLUMNS, decimals)
    verdict = verdicts.set_index(verdicts["model"].map(model_label))
    words_of = ["above" if a else "below" if b else "overlaps" for a, b in zip(verdict["above"], verdict["below"])]
    grid["interval against the tolerance"] = pd.Series(words_of, index=verdict.index).reindex(grid.index)
    grid["largest variant"] = verdict["largest_variant"].map(CALIBRATION_COLUMNS).reindex(grid.index)
    return grid.fillna(NOT_APPLICABLE)


def corrected_counts_display(counts: pd.DataFrame) -> pd.DataFrame:
    """Per model (``testing.significant_cell_counts``), for each signal the cells significant by the
    paper's rule (two-sided p < 10⁻⁴, uncorrected) and, one-sided at the corrected level, after
    Holm's and after Benjamini-Hochberg's correction, as 'n / cells'; :data:`NOT_APPLICABLE` where a
    model lacks the signal."""
    threshold = power_of_ten(SIGNIFICANCE)
    out = {}
    for signal in SIGNALS:
        rows = counts[counts["signal"] == signal].set_index("model")
        for column, header in (("n_sig_paper", f"paper (p < {threshold})"), ("n_sig_holm", "Holm"),
                               ("n_sig_bh", "Benjamini-Hochberg")):
            out[(SIGNAL_NAMES[signal], header)] = (rows[column].astype(str) + " / " + rows["n_cells"].astype(str))
    grid = pd.DataFrame(out).reindex(model_order(counts["model"].unique())).fillna(NOT_APPLICABLE)
    grid.columns = pd.MultiIndex.from_tuples(grid.columns)
    return grid.rename(index=model_label).rename_axis(index="model")


#: headers of :func:`correlation_uncertainty_display`
UNCERTAINTY_COLUMNS = {"estimate": "estimate", "fisher": "Fisher z", "question": "over questions",
                       "model": "over models", "permutation_p": "permutation p", "lomo": "leave one model out",
                       "lofo": "leave one family out"}


def correlation_uncertainty_display(uncertainty: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """The rows of ``testing.correlation_uncertainty`` as shown: one row per pair and method (readable
    axis names), the estimate, its 95% intervals (Fisher z for Pearson only, bootstrap over
    questions, bootstrap over models) as '[lo, hi]', the permutation p-value (2 significant digits)
    and the leave-one-out ranges as '[min, max]'."""
    def bracket(lo, hi):
        return NOT_APPLICABLE if pd.isna(lo) or pd.isna(hi) else f"[{lo:.{decimals}f}, {hi:.{decimals}f}]"
    rows = []
    for r in uncertainty.to_dict("records"):
        rows.append({"x": AXIS_LABELS.get(r["x"], r["x"]), "y": AXIS_LABELS.get(r["y"], r["y"]),
                     "method": "Pearson r" if r["method"] == "pearson" else "Spearman ρ", "n": int(r["n"]),
                     "estimate": NOT_APPLICABLE if pd.isna(r["estimate"]) else f"{r['estimate']:.{decimals}f}",
                     "Fisher z": bracket(r["fisher_lo"], r["fisher_hi"]),
                     "over questions": bracket(r["question_lo"], r["question_hi"]),
                     "over models": bracket(r["model_lo"], r["model_hi"]),
                     "permutation p": NOT_APPLICABLE if pd.isna(r["permutation_p"]) else f"{r['permutation_p']:.2g}",
                     "leave one model out": bracket(r["lomo_min"], r["lomo_max"]),
                     "leave one family out": bracket(r["lofo_min"], r["lofo_max"])})
    return pd.DataFrame(rows).set_index(["x", "y", "method"])


def paired_signal_display(wilcoxon: dict, difference: dict, t_tests: pd.DataFrame) -> pd.DataFrame:
    """MSP against Max Logit in one table: the paired Wilcoxon test (``testing.signal_wilcoxon_test``)
    with the paired bootstrap interval of the mean difference (``testing.signal_difference_interval``),
    then the paper's unpaired t-test on all cells and without the GPT cells (``testing.signal_t_tests``);
    columns test, cells (MSP / Max Logit), mean difference (points) [interval], one-sided p."""
    rows = [{"test": "paired Wilcoxon signed-rank (cells with both signals)",
             "cells (MSP / Max Logit)": f"{wilcoxon['n_pairs']} / {wilcoxon['n_pairs']}",
             "MSP − Max Logit (points)": interval_text(difference["estimate"], difference["lo"], difference["hi"], 2),
             "one-sided p": f"{wilcoxon['p_one_sided']:.2g}"}]
    names = {"all": "the paper's unpaired t-test, all cells", "without_gpt": "the paper's t-test without the GPT cells"}
    for r in t_tests.to_dict("records"):
        rows.append({"test": names.get(r["cells"], r["cells"]), "cells (MSP / Max Logit)":
                     f"{r['n_msp']} / {r['n_max_logit']}", "MSP − Max Logit (points)": f"{r['gap']:.2f}",
                     "one-sided p": f"{r['p']:.2g}"})
    return pd.DataFrame(rows).set_index("test")


def gain_band_display(bands: pd.DataFrame, signal: str = "msp", decimals: int = 1) -> pd.DataFrame:
    """The repeated splits of one k and signal (``abstention_repeats.gain_bands`` with the paper's
    split): per model (labels, display order) and rule, the paper's single-split gain, the median
    gain over splits with its 5–95% range as 'median [5%, 95%]', the share of splits with a gain (%)
    and the median share of test questions abstained on (%)."""
    data = bands[bands["signal"] == signal]
    out = {}
    for penalty in sorted(data["penalty"].unique()):
        rows = data[data["penalty"] == penalty].set_index("model")
        setting = penalty_name(penalty).capitalize()
        if "paper_gain" in rows:
            out[(setting, "paper's split")] = rows["paper_gain"].map(
                lambda v: NOT_APPLICABLE if pd.isna(v) else f"{v:.{decimals}f}")
        out[(setting, "median gain [5%, 95%]")] = pd.Series(
            [interval_text(m, lo, hi, decimals) for m, lo, hi in zip(rows["median_gain"], rows["gain_lo"], rows["gain_hi"])],
            index=rows.index)
        out[(setting, "splits with a gain (%)")] = (100 * rows["share_gain_positive"]).map(lambda v: f"{v:.1f}")
        out[(setting, "abstained (%)")] = rows["median_pct_abstained"].map(lambda v: f"{v:.1f}")
    grid = pd.DataFrame(out)
    grid = grid.reindex(model_order(grid.index)).fillna(NOT_APPLICABLE)
    grid.columns = pd.MultiIndex.from_tuples(grid.columns)
    return grid.rename(index=model_label).rename_axis(index="model")


#: the four claims (chapter -> (the claim in a few words, what the paper states))
SUMMARY_CLAIMS = {
    "calibration": ("miscalibrated", "the MSPs of chat models are miscalibrated"),
    "correctness": ("predict correctness", "the MSP separates right from wrong answers (AUROC above chance, "
                                           "p < 10⁻⁴, in nearly every cell), better than the Max Logit"),
    "correlations": ("better models, better prediction", "accuracy correlates strongly with AUROC, and not with "
                                                         "calibration error"),
    "abstention": ("learn when to abstain", "a threshold learnt from about 20 labelled answers per dataset "
                                            "raises a score that penalises wrong answers"),
}


def summary_display(summary) -> pd.DataFrame:
    """The verdicts at a glance: per claim (:data:`SUMMARY_CLAIMS`, the book's order) the paper's
    statement, our verdict and its evidence in one line (``summary``: ``facts.SummaryFacts``, fields
    ``<chapter>_verdict`` and ``<chapter>_evidence``) and the chapter that shows it."""
    rows = [{"claim": claim, "the paper states": statement, "our verdict": getattr(summary, f"{chapter}_verdict"),
             "evidence": getattr(summary, f"{chapter}_evidence"), "chapter": chapter}
            for chapter, (claim, statement) in SUMMARY_CLAIMS.items()]
    return pd.DataFrame(rows).set_index("claim")


def paired_difference_display(differences: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Per model (``bootstrap.paired_difference_intervals``: model, estimate, lo, hi, share_positive)
    the paired MSP − Max Logit AUROC difference in points as 'estimate [lo, hi]' and the share of
    resamples in which the MSP is ahead (%); model labels in display order."""
    rows = differences.set_index("model").reindex(model_order(differences["model"]))
    out = pd.DataFrame({
        "MSP − Max Logit AUROC (points)": [interval_text(e, lo, hi, decimals)
                                           for e, lo, hi in zip(rows["estimate"], rows["lo"], rows["hi"])],
        "resamples with the MSP ahead (%)": (100 * rows["share_positive"]).map(lambda v: f"{v:.1f}").to_numpy()},
        index=rows.index)
    return out.rename(index=model_label).rename_axis(index="model")
# --- the chapters beyond the paper ---------------------------------------------------------------------

#: readable names of the recalibration methods
METHOD_NAMES = {"none": "raw MSP", "platt": "Platt", "temperature": "temperature", "isotonic": "isotonic",
                "histogram": "histogram binning"}


def recalibration_display(table: pd.DataFrame, measures: dict[str, str], signal: str = "msp",
                          method_names: dict[str, str] = METHOD_NAMES) -> pd.DataFrame:
    """Rows of ``recalibration.recalibration_table`` for one signal as a model × (measure, method)
    table with 3 decimals (AUROC in percent with 1): columns the measures of ``measures`` (key ->
    name), each split by method; :data:`NOT_APPLICABLE` where a method gives no value."""
    rows = table[table["signal"] == signal]
    parts = {}
    for measure, name in measures.items():
        wide = rows.pivot_table(index="model", columns="method", values=measure, aggfunc="first")
        for method, method_name in method_names.items():
            if method in wide:
                values = wide[method] * (100 if measure.startswith("auroc") else 1)
                digits = 1 if measure.startswith("auroc") else 3
                parts[(name, method_name)] = [NOT_APPLICABLE if pd.isna(v) else f"{v:.{digits}f}" for v in values]
    index = rows.pivot_table(index="model", columns="method", values="accuracy", aggfunc="first").index
    out = pd.DataFrame(parts, index=index).reindex(model_order(index))
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out.rename(index=model_label).rename_axis(index="model")


#: readable names of the conformal rules
RULE_NAMES = {"ltt": "certified (LTT)", "paper_balanced": "paper, balanced", "paper_conservative": "paper, conservative"}


def conformal_display(conformal: pd.DataFrame, rule_names: dict[str, str] = RULE_NAMES) -> pd.DataFrame:
    """``selective.conformal_abstention`` as a model × (rule, coverage / risk) table in percent with
    1 decimal; the certified rule's risk is :data:`NOT_APPLICABLE` when it abstains on everything."""
    parts = {}
    for rule, name in rule_names.items():
        rows = conformal[conformal["rule"] == rule].set_index("model")
        for column, label in (("coverage", "coverage (%)"), ("risk", "risk (%)")):
            parts[(name, label)] = rows[column].map(lambda v: NOT_APPLICABLE if pd.isna(v) else f"{100 * v:.1f}")
    out = pd.DataFrame(parts)
    out = out.reindex(model_order(out.index))
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out.rename(index=model_label).rename_axis(index="model")


#: the rows of :func:`claims_display`: column of ``one_shot.claims_by_shots`` -> readable name
CLAIM_ROWS = {"n_models": "paper models", "n_miscalibrated": "miscalibrated (ECE > tolerance)",
              "ece_min": "lowest ECE", "ece_max": "highest ECE",
              "n_sig_above_msp": "MSP cells significantly above chance", "n_cells_msp": "MSP cells",
              "n_above_chance_msp": "models with MSP above chance",
              "r_msp": "r, accuracy vs MSP AUROC", "p_msp": "p, accuracy vs MSP AUROC",
              "r_max_logit": "r, accuracy vs Max Logit AUROC", "p_max_logit": "p, accuracy vs Max Logit AUROC",
              "n_msp_better": "models where MSP beats Max Logit", "n_both": "models with both signals",
              "abstention_claim": "abstention claim holds"}


def claims_display(claims: pd.DataFrame) -> pd.DataFrame:
    """``one_shot.claims_by_shots`` as a table with a row per number (:data:`CLAIM_ROWS`) and a
    column per prompt ('zero-shot', 'one-shot'): counts as integers, errors and r with 2 (p with 2
    significant) digits, the abstention verdict as yes/no."""
    def text(column: str, value) -> str:
        if column == "abstention_claim":
            return "yes" if value else "no"
        if column.startswith("p_"):
            return f"{value:.2g}"
        if column.startswith(("r_", "ece_")):
            return f"{value:.2f}"
        return f"{int(value)}"

    out = pd.DataFrame({("zero-shot" if row["shots"] == 0 else "one-shot"):
                        [text(c, row[c]) for c in CLAIM_ROWS] for row in claims.to_dict("records")},
                       index=list(CLAIM_ROWS.values()))
    return out.rename_axis(index="number")


def still_miscalibrated_display(still: pd.DataFrame, method: str = "platt", signal: str = "msp") -> pd.DataFrame:
    """Rows of ``recalibration.still_miscalibrated`` for one method and signal, a row per k: the paper
    models, how many stay above the tolerance, which (display names, or 'none') and the worst ECE
    (3 decimals)."""
    rows = still[(still["method"] == method) & (still["signal"] == signal)]
    names = [", ".join(display_name(m) for m in models.split(", ")) if models else "none" for models in rows["models"]]
    return pd.DataFrame({"paper models": rows["n_models"].to_numpy(),
                         "above the tolerance": rows["n_miscalibrated"].to_numpy(), "which": names,
                         "worst ECE": [f"{v:.3f}" for v in rows["worst"]]},
                        index=pd.Index([str(k) for k in rows["k"]], name="k"))
def option_signal_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """``analysis.option_signal.signal_comparison`` (or its ``signal_means``, without datasets) for
    the reader: rows (model, dataset, signal) by display names, readable headers, NaN as n/a left to
    the caller's formatting."""
    names = {**SIGNAL_NAMES, **OPTION_SIGNAL_NAMES}
    shown = comparison.assign(model=comparison["model"].map(display_name), signal=comparison["signal"].map(names))
    if "dataset" in shown:
        shown = shown.assign(dataset=shown["dataset"].map(dataset_name))
    levels = [c for c in ("model", "dataset", "signal") if c in shown]
    return shown.rename(columns={"n": "answers", "accuracy": "accuracy (%)", "auroc": "AUROC (%)",
                                 "calibration_error": "calibration error (%)"}).set_index(levels)
