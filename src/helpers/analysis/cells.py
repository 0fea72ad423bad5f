"""The paper's per-cell and per-model numbers from the tidy per-answer table (METHODS §7, §8.1-§8.6).

A *cell* is model × dataset × phrasing × signal (METHODS §7); every table here is a mean of cell
values or, for calibration, a pooling of a model's answers. Inputs are tidy tables
(``helpers.data.schema``) of a single ``shots`` value; outputs are small DataFrames keyed by the
authors' model and dataset keys, in display order. Our own scored models (``vocabulary.is_scored``)
get rows too; statistics *across* models are left to ``correlations`` and ``significance``, which
use the paper's models only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers.analysis import metrics
from helpers.data.schema import grade_columns
from helpers.data.vocabulary import DATASETS, PHRASINGS, SIGNALS, is_scored, model_order, model_table

#: p-value below which a cell counts as significant in the paper's tables (METHODS §8.3)
SIGNIFICANCE = 1e-4


#: a conventional ECE (equal-mass, weighted, every answer counted) above this counts as miscalibrated
ECE_TOLERANCE = 0.05


#: AUROC (percent) of a confidence that carries no information about correctness
CHANCE = 50.0


CELL = ["model", "dataset", "phrasing", "signal"]


def split_scored(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of the paper's models, rows of our scored models) of any table with a ``model`` column,
    by :func:`is_scored`; rows keep their index."""
    scored = table["model"].astype(str).map(is_scored).to_numpy(dtype=bool)
    return table[~scored], table[scored]


def _sorted(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    orders = {"model": model_order(df["model"]) if "model" in df else [], "dataset": list(DATASETS),
              "phrasing": list(PHRASINGS), "signal": list(SIGNALS)}
    out = df.copy()
    for key in keys:
        out[key] = pd.Categorical(out[key].astype(str), categories=orders[key], ordered=True)
    out = out.sort_values(list(keys), kind="stable").reset_index(drop=True)
    for key in keys:
        out[key] = out[key].astype(str)
    return out


def _single_shots(answers: pd.DataFrame) -> None:
    shots = answers["shots"].unique()
    if len(shots) > 1:
        raise ValueError(f"answers mix shots {sorted(shots)}; pass one shots value at a time")


def _long(answers: pd.DataFrame) -> pd.DataFrame:
    """One row per answer and signal with its confidence ``conf`` and that signal's grade and
    ``correct`` (``schema.grade_columns``); rows without that signal dropped."""
    parts = []
    for signal in SIGNALS:
        grade, correct = grade_columns(answers, signal)
        part = answers[["model", "dataset", "phrasing", grade, correct, signal]]
        part = part[part[signal].notna()].rename(columns={signal: "conf", grade: "grade", correct: "correct"})
        parts.append(part.assign(signal=signal))
    out = pd.concat(parts, ignore_index=True)
    for col in ("model", "dataset", "phrasing"):
        out[col] = out[col].astype(str)
    return out


def cell_table(answers: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (model × dataset × phrasing × signal; METHODS §7, §8.1–8.3).

    Columns: model, dataset, phrasing, signal, n, n_correct, n_unparseable, accuracy (percent,
    unparseable = wrong), auroc (percent, positive = correct, ties 1/2, NaN if all answers are
    correct or all wrong), mw_u, mw_p_two_sided (the paper's), mw_p_one_sided (correct > wrong).
    A signal's cell exists only where the signal has values (GPT models have no Max Logit).
    """
    _single_shots(answers)
    rows = []
    for (model, dataset, phrasing, signal), cell in _long(answers).groupby(CELL, sort=False):
        conf = cell["conf"].to_numpy()
        correct = cell["correct"].to_numpy()
        mw = metrics.mann_whitney(conf, correct)
        rows.append((model, dataset, phrasing, signal, len(cell), int(correct.sum()),
                     int((cell["grade"] == "unparseable").sum()), metrics.accuracy_pct(correct),
                     metrics.auroc_pct(conf, correct), mw.u, mw.p_two_sided, mw.p_one_sided))
    columns = CELL + ["n", "n_correct", "n_unparseable", "accuracy", "auroc", "mw_u",
                      "mw_p_two_sided", "mw_p_one_sided"]
    return _sorted(pd.DataFrame(rows, columns=columns), CELL)


def model_metrics(cells: pd.DataFrame, by_dataset: bool = False) -> pd.DataFrame:
    """Per model (or per model × dataset), means over its cells, as the paper's AUROC tables (§8.1–8.3).

    accuracy = mean accuracy of the model's MSP cells (10 for the full data; 2 per dataset);
    auroc_msp / auroc_max_logit = mean AUROC of its cells of that signal (NaN without that signal);
    n_sig_* = number of those cells with two-sided Mann-Whitney p < 1e-4, out of n_cells_*;
    n_above_* = number of those significant cells whose AUROC is above 50% (right answers more
    confident, not less).
    """
    keys = ["model", "dataset"] if by_dataset else ["model"]
    sig = cells["mw_p_two_sided"] < SIGNIFICANCE
    table = cells.assign(sig=sig, above=sig & (cells["auroc"] > CHANCE))
    wide = table.pivot_table(index=keys, columns="signal", values=["accuracy", "auroc", "sig", "above"],
                             aggfunc={"accuracy": "mean", "auroc": "mean", "sig": ["sum", "count"],
                                      "above": "sum"})
    out = pd.DataFrame(index=wide.index)
    out["accuracy"] = wide[("accuracy", "mean", "msp")]
    for signal in SIGNALS:
        has = ("auroc", "mean", signal) in wide.columns
        out[f"auroc_{signal}"] = wide[("auroc", "mean", signal)] if has else np.nan
        out[f"n_sig_{signal}"] = wide[("sig", "sum", signal)] if has else 0
        out[f"n_above_{signal}"] = wide[("above", "sum", signal)] if has else 0
        out[f"n_cells_{signal}"] = wide[("sig", "count", signal)] if has else 0
    for signal in SIGNALS:
        absent = out[f"n_cells_{signal}"].fillna(0) == 0
        for count in ("n_sig", "n_above"):
            out[f"{count}_{signal}"] = out[f"{count}_{signal}"].where(~absent).astype("Int64")
        out[f"n_cells_{signal}"] = out[f"n_cells_{signal}"].fillna(0).astype("Int64")
    return _sorted(out.reset_index(), keys)


def dataset_metrics(cells: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, as the paper's dataset table (METHODS §8.5).

    accuracy = mean over all (model, phrasing, signal) cells, so a model with both signals weighs
    twice as much as a GPT model; auroc_msp / auroc_max_logit = mean over that signal's cells.
    """
    accuracy = cells.groupby("dataset")["accuracy"].mean()
    auroc = cells.pivot_table(index="dataset", columns="signal", values="auroc", aggfunc="mean")
    out = pd.DataFrame({"accuracy": accuracy})
    for signal in SIGNALS:
        out[f"auroc_{signal}"] = auroc[signal] if signal in auroc else np.nan
    return _sorted(out.reset_index(), ["dataset"])


def calibration_by_model(answers: pd.DataFrame) -> pd.DataFrame:
    """Calibration of MSP per model (METHODS §8.4, §8.6), errors as fractions.

    calibration_error_paper: the model's answers pooled over its cells, 10 quantile bins, half-open
    (MSP == 1.0 dropped), unweighted mean over non-empty bins — the paper's table value.
    calibration_error_uniform_cells: 10 uniform half-open bins, unweighted, per cell, then the mean
    over the model's cells — the value of the paper's calibration-vs-accuracy figure.
    ece_equal_mass / ece_equal_width: conventional count-weighted ECE over the pooled answers, last
    bin closed (every answer counted), with the paper's quantile bins / 10 equal-width bins.
    share_msp_one: fraction of the model's answers with MSP == 1.0. n: answers pooled.
    mean_msp, frac_correct: pooled means; overconfidence = mean_msp − frac_correct (> 0: the model
    is on average more confident than accurate).
    """
    _single_shots(answers)
    data = answers[["model", "dataset", "phrasing", "correct", "msp"]].copy()
    data["model"] = data["model"].astype(str)
    per_cell = (data.groupby(["model", "dataset", "phrasing"], observed=True)
                .apply(lambda c: metrics.calibration_error(c["msp"], c["correct"], bins="uniform"),
                       include_groups=False)
                .groupby("model").mean())
    rows = []
    for model, pooled in data.groupby("model", sort=False):
        conf, correct = pooled["msp"].to_numpy(), pooled["correct"].to_numpy()
        rows.append({
            "model": model,
            "n": len(pooled),
            "calibration_error_paper": metrics.calibration_error(conf, correct),
            "calibration_error_uniform_cells": per_cell[model],
            "ece_equal_mass": metrics.calibration_error(conf, correct, "quantile", weighted=True,
                                                        last_bin_closed=True),
            "ece_equal_width": metrics.calibration_error(conf, correct, "uniform", weighted=True,
                                                         last_bin_closed=True),
            "share_msp_one": metrics.share_equal(conf, 1.0),
            "mean_msp": float(conf.mean()),
            "frac_correct": float(correct.mean()),
        })
    out = pd.DataFrame(rows)
    out["overconfidence"] = out["mean_msp"] - out["frac_correct"]
    return _sorted(out, ["model"])


def reliability_table(answers: pd.DataFrame, bins: metrics.Binning = "quantile",
                      last_bin_closed: bool = False) -> pd.DataFrame:
    """Reliability-diagram data per model: its pooled MSPs in 10 bins (METHODS §8.6).

    Defaults are the paper's diagram (quantile bins per model, half-open). Columns: model, bin,
    lower, upper, count, mean_conf, frac_correct; empty bins are left out.
    """
    _single_shots(answers)
    parts = []
    for model, pooled in answers.groupby(answers["model"].astype(str), sort=False):
        table = metrics.reliability_bins(pooled["msp"], pooled["correct"], bins,
                                         last_bin_closed=last_bin_closed)
        parts.append(table[table["count"] > 0].assign(model=model))
    out = pd.concat(parts, ignore_index=True)
    return _sorted(out[["model"] + [c for c in out.columns if c != "model"]], ["model"])


def model_summary(answers: pd.DataFrame, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """``model_metrics`` joined with ``calibration_by_model`` and the model size ``params_b``
    (billions; NaN where unknown, e.g. GPT and models outside the paper)."""
    cells = cell_table(answers) if cells is None else cells
    sizes = model_table().set_index("model")["params_b"]
    out = model_metrics(cells).merge(calibration_by_model(answers), on="model", how="left")
    out["params_b"] = out["model"].map(sizes).astype(float)
    return out


def family_trend(models: pd.DataFrame, family: str, columns: Sequence[str]) -> pd.DataFrame:
    """The paper's models of one family (``vocabulary.model_table`` ``family``, e.g. 'Llama 2') present in
    ``models``, smallest first: model, params_b and ``columns``."""
    sizes = model_table().set_index("model")
    keys = sizes.index[sizes["family"] == family]
    rows = models[models["model"].isin(keys)][["model", *columns]]
    rows = rows.assign(params_b=rows["model"].map(sizes["params_b"]).astype(float))
    return rows.sort_values("params_b", kind="stable")[["model", "params_b", *columns]].reset_index(drop=True)


class Extremes(NamedTuple):
    """The smallest and largest value of a per-model series and whose they are (model keys)."""

    min: float
    min_model: str
    max: float
    max_model: str


def extremes(values: pd.Series) -> Extremes:
    """:class:`Extremes` of ``values`` (indexed by model key; NaN ignored); ``ValueError`` if none."""
    values = values.dropna()
    if values.empty:
        raise ValueError(f"{values.name or 'values'}: no values to take the extremes of")
    return Extremes(float(values.min()), str(values.idxmin()), float(values.max()), str(values.idxmax()))
