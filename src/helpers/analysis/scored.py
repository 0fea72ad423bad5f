"""Our scored models next to the paper's: what each covers, and where it ranks among the paper's.

Numbers only: the rows of our models (``vocabulary.is_scored``) of a per-model table, with counts of
the paper's models above or below them and their place against the paper models' fitted line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from helpers.analysis import metrics
from helpers.analysis.cells import ECE_TOLERANCE, _sorted, split_scored
from helpers.analysis.correlations import linear_fit
from helpers.analysis.significance import above_chance
from helpers.data.vocabulary import dataset_order, is_scored, model_order


def coverage(answers: pd.DataFrame) -> pd.DataFrame:
    """Per model, which answers it has: datasets (list of keys in the paper's order), n_answers, and
    n_possible = the sum over the table's datasets of the most answers any model has there (the
    paper's models answer every question in both phrasings); all_datasets = it has answers on every
    dataset of the table; complete = n_answers == n_possible."""
    counts = (answers.assign(model=answers["model"].astype(str), dataset=answers["dataset"].astype(str))
              .groupby(["model", "dataset"]).size())
    counts = counts[counts > 0]
    n_possible = int(counts.groupby("dataset").max().sum())
    every = dataset_order(counts.index.get_level_values("dataset"))
    rows = []
    for model, per_dataset in counts.groupby("model"):
        datasets = dataset_order(per_dataset.index.get_level_values("dataset"))
        n = int(per_dataset.sum())
        rows.append((model, datasets, n, n_possible, datasets == every, n == n_possible))
    out = pd.DataFrame(rows, columns=["model", "datasets", "n_answers", "n_possible", "all_datasets",
                                      "complete"])
    return _sorted(out, ["model"])


def scored_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The scored models' rows of a per-model table, with ``n_paper``: how many of the paper's models
    the table holds."""
    paper, scored = split_scored(table)
    return scored.assign(n_paper=len(paper)).reset_index(drop=True)


def n_paper_beyond(table: pd.DataFrame, column: str, values: Iterable[float], larger: bool) -> list[int]:
    """For each value, how many of the paper's models have a strictly larger (or smaller) ``column``."""
    paper = split_scored(table)[0][column].dropna().to_numpy()
    return [int((paper > v).sum() if larger else (paper < v).sum()) for v in values]


def scored_calibration(calibration: pd.DataFrame, tolerance: float = ECE_TOLERANCE) -> pd.DataFrame:
    """Our scored models next to the paper's calibration (rows of ``cells.calibration_by_model``):
    ece (conventional, equal-mass), paper_error (the paper's recipe), mean_msp_pct, accuracy_pct,
    miscalibrated (ece > tolerance, as ``significance.miscalibrated_models``) and n_paper_worse, the
    paper's models with a larger ECE."""
    out = scored_rows(calibration)
    return out.assign(
        ece=out["ece_equal_mass"], paper_error=out["calibration_error_paper"],
        mean_msp_pct=100 * out["mean_msp"], accuracy_pct=100 * out["frac_correct"],
        miscalibrated=out["ece_equal_mass"] > tolerance,
        n_paper_worse=n_paper_beyond(calibration, "ece_equal_mass", out["ece_equal_mass"], larger=True))


def scored_correctness(models: pd.DataFrame) -> pd.DataFrame:
    """Our scored models next to the paper's AUROCs (rows of ``cells.model_metrics``): its columns,
    above_chance (``significance.above_chance``) and n_paper_lower, the paper's models with a lower
    mean MSP AUROC."""
    out = scored_rows(models)
    chance = above_chance(out, "msp") if len(out) else pd.Series(dtype=bool)
    return out.assign(above_chance=chance.to_numpy(dtype=bool),
                      n_paper_lower=n_paper_beyond(models, "auroc_msp", out["auroc_msp"], larger=False))


def scored_overview(models: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """:func:`scored_correctness` with, per scored model, n_answers (all its answers), n_per_cell
    (fewest answers in one of its dataset × phrasing cells), unparseable_pct (percent of its answers
    the parser could not read), from its MSP cells (rows of ``cells.cell_table``), and
    n_per_cell_paper (fewest answers in a cell of the paper's models; NaN without them)."""
    msp = cells[cells["signal"] == "msp"]
    by_model = msp.groupby("model")
    counts = pd.DataFrame({"n_answers": by_model["n"].sum(), "n_per_cell": by_model["n"].min(),
                           "unparseable_pct": 100 * by_model["n_unparseable"].sum() / by_model["n"].sum()})
    paper_cells = split_scored(msp)[0]
    return scored_correctness(models).merge(counts, left_on="model", right_index=True, how="left").assign(
        n_per_cell_paper=paper_cells["n"].min() if len(paper_cells) else np.nan)


def scored_positions(models: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Where each scored model with both values sits against the paper models' line of y on x
    (``correlations.linear_fit``): x_value, y_value, predicted (the line at its x), residual =
    y − predicted, distance = |residual|, above (True above the line), r_paper (Pearson r over the
    paper's models) and r_with (over the paper's models plus this one model). NaN predictions when
    there is no line."""
    out = scored_rows(models).dropna(subset=[x, y]).reset_index(drop=True)
    fit = linear_fit(models, x, y)
    predicted = fit.intercept + fit.slope * out[x] if fit is not None else np.nan
    paper = split_scored(models)[0]
    r_with = [metrics.correlation(pd.concat([paper[x], pd.Series([vx])]),
                                  pd.concat([paper[y], pd.Series([vy])])).pearson_r
              for vx, vy in zip(out[x], out[y])]
    out = out.assign(x_value=out[x], y_value=out[y], predicted=predicted)
    out = out.assign(residual=out["y_value"] - out["predicted"],
                     r_paper=metrics.correlation(paper[x], paper[y]).pearson_r, r_with=r_with)
    return out.assign(distance=out["residual"].abs(), above=out["residual"] >= 0)


def models_and_scored(models: Sequence[str] | None, present: Iterable[str]) -> list[str] | None:
    """The models a chapter about our scored models shows: None (all) when ``models`` is None, else
    ``models`` plus every scored model among ``present``, in display order."""
    if models is None:
        return None
    return model_order({*([models] if isinstance(models, str) else models),
                        *(m for m in map(str, present) if is_scored(m))})
