"""Question bootstrap of the per-model numbers of the paper and of their correlations across models.

Definition (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 6 and 13; percentile
interval §13.3). One resample draws, for every dataset on its own, as many questions as the dataset
has, uniformly with replacement (a stratified bootstrap over questions). The same draw serves every
model, phrasing and signal: a question drawn twice counts twice in every cell that contains it, so
every statistic of one resample is computed on the same questions and differences between models,
signals or phrasings are *paired*. Questions, not answers, are the unit, because the two phrasings
and the 14 models answer the same questions (METHODS §2, §7).

The draw is reproducible: resample b, for each dataset in the order of ``helpers.table.DATASETS``,
takes ``rng.choice(n_questions, n_questions)`` from one ``numpy.random.default_rng(seed)``; the
questions of a dataset are its qids in increasing order (:func:`question_draws`).

Per resample and model (METHODS §8.1, §8.2, §8.4, §8.6; the point estimates are the same
definitions on the full data, i.e. every weight 1):

- ``accuracy``: mean over the model's MSP cells of 100 × fraction correct (unparseable = wrong);
- ``auroc_msp`` / ``auroc_max_logit``: mean over the model's cells of that signal of the AUROC in
  percent, positive class = correct, ties 1/2 (NaN: the model lacks the signal; a cell whose
  resample is all correct or all wrong has no AUROC and is left out of the mean, as
  ``cell_tables.model_metrics``);
- the calibration errors of ``cell_tables.calibration_by_model`` (fractions, MSP only):
  ``calibration_error_paper`` (answers pooled over the model's cells, 10 quantile bins of the
  resampled pool, half-open so MSP == 1.0 is dropped, unweighted over non-empty bins),
  ``calibration_error_uniform_cells`` (10 equal-width half-open bins per cell, unweighted, mean over
  cells), ``ece_equal_mass`` / ``ece_equal_width`` (pooled, bins weighted by their share of answers,
  last bin closed, with the quantile bins / 10 equal-width bins);
- ``overconfidence``: pooled mean MSP − pooled fraction correct.

Across the paper's models (scored models never count, as ``correlation_table``) per
resample: Pearson r and Spearman ρ of each pair of :data:`PAIRS` (the accuracy pairs of the paper's
figures and the size pairs, models lacking a value left out).

Computation: a resample is a vector of multiplicities (how often each question is drawn), and every
statistic above is a function of weighted sums. Per cell the confidences are sorted once; a
resample's weighted Mann-Whitney U follows from cumulative sums of the wrong answers' weights in that
order (ties 1/2), and the quantile bin edges of a resampled pool are found by a binary search in the
cumulative weights and interpolated exactly as ``numpy.quantile`` (method "linear"). Resamples are
processed in chunks, vectorised over the chunk. The result equals a plain loop that materialises
each resample (``rng.choice`` then ``sklearn.metrics.roc_auc_score`` and ``helpers.metrics``) up to
floating-point rounding; the tests check it.
"""

from __future__ import annotations

import hashlib
import json
from multiprocessing import cpu_count
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from helpers.analysis.correlations import ACCURACY_PAIRS, SIZE_PAIRS, correlation_table
from helpers.analysis import cells as cell_tables
from helpers.data import vocabulary
from helpers.data.schema import grade_columns
from helpers.data.vocabulary import model_table, PHRASINGS, SIGNALS

#: default seed of the question draws (the paper's seed, METHODS §2, reused)
SEED = 2549900867
#: default number of resamples
N_RESAMPLES = 1000
#: default coverage of the percentile intervals
CONFIDENCE = 0.95
#: resamples processed together (memory grows linearly with it; results do not depend on it)
CHUNK = 64
#: threads computing chunks at once (numpy releases the GIL in the heavy loops)
WORKERS = min(2, cpu_count())
N_BINS = 10
#: bump when a definition here changes, so cached results are not reused (:func:`bootstrap_key`)
VERSION = 1

#: the per-model statistics of every resample, in column order
MODEL_STATISTICS = ("accuracy", "auroc_msp", "auroc_max_logit", "calibration_error_paper",
                    "calibration_error_uniform_cells", "ece_equal_mass", "ece_equal_width",
                    "overconfidence")
#: the calibration-error variants of ``cell_tables.calibration_by_model`` (fractions)
CALIBRATION_VARIANTS = ("calibration_error_paper", "calibration_error_uniform_cells", "ece_equal_mass",
                        "ece_equal_width")
#: (x, y) pairs whose correlation across models is bootstrapped (METHODS §8.4)
PAIRS = tuple(ACCURACY_PAIRS) + tuple(SIZE_PAIRS)
CELL = ["model", "dataset", "phrasing", "signal"]
_QUANTILES = np.linspace(0, 1, N_BINS + 1)
_UNIFORM_EDGES = np.linspace(0, 1, N_BINS + 1)


@dataclass(frozen=True)
class QuestionBootstrap:
    """Replicates of a question bootstrap (:func:`question_bootstrap`).

    ``cell_point`` / ``model_point`` / ``correlation_point``: the statistics on the full data;
    ``cell_replicates``: resample, model, dataset, phrasing, signal, accuracy, auroc;
    ``model_replicates``: resample, model and :data:`MODEL_STATISTICS`;
    ``correlation_replicates``: resample, x, y, n, pearson_r, spearman_rho.
    """

    n_resamples: int
    seed: int
    cell_point: pd.DataFrame
    model_point: pd.DataFrame
    correlation_point: pd.DataFrame
    cell_replicates: pd.DataFrame
    model_replicates: pd.DataFrame
    correlation_replicates: pd.DataFrame


# --- the draw ----------------------------------------------------------------------------------

def question_ids(answers: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per dataset present (in ``helpers.table.DATASETS`` order, then others alphabetically), its qids in
    increasing order: the questions a resample draws from."""
    qid = answers["qid"].to_numpy(np.int64)
    by_dataset = {str(d): np.unique(qid[index]) for d, index in
                  answers.groupby("dataset", observed=True, sort=False).indices.items()}
    return {d: by_dataset[d] for d in vocabulary.dataset_order(by_dataset)}


def question_draws(n_questions: Mapping[str, int], n_resamples: int = N_RESAMPLES,
                   seed: int = SEED) -> Iterator[dict[str, np.ndarray]]:
    """The drawn question positions of each resample, one dict per resample: dataset -> array of
    ``n_questions[dataset]`` positions in [0, n_questions[dataset]), drawn uniformly with replacement.

    One ``numpy.random.default_rng(seed)``; resample after resample, dataset after dataset in the
    order of ``n_questions``: ``rng.choice(n, n)``.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    for _ in range(n_resamples):
        yield {d: rng.choice(n, n) for d, n in n_questions.items()}


def question_counts(n_questions: Mapping[str, int], n_resamples: int = N_RESAMPLES,
                    seed: int = SEED) -> dict[str, np.ndarray]:
    """The draws of :func:`question_draws` as multiplicities: dataset -> (n_resamples, n_questions)
    array, entry [b, q] = how often resample b drew question position q (each row sums to n)."""
    out = {d: np.zeros((n_resamples, n), dtype=np.int32) for d, n in n_questions.items()}
    for b, draw in enumerate(question_draws(n_questions, n_resamples, seed)):
        for d, positions in draw.items():
            out[d][b] = np.bincount(positions, minlength=n_questions[d])
    return out


# --- the design: everything that does not depend on the resample --------------------------------

@dataclass
class _Auroc:
    wrong_rows: np.ndarray   # question positions of the wrong answers, by increasing confidence
    correct_rows: np.ndarray
    lo: np.ndarray           # per correct answer: number of wrong answers with lower confidence
    hi: np.ndarray           # ... with lower or equal confidence


@dataclass
class _Pool:
    rows: np.ndarray         # global question positions of the pooled answers, by increasing MSP
    conf: np.ndarray
    correct: np.ndarray
    end_closed: int          # answers with MSP <= 1 (the closed last bin's end)


@dataclass
class _Design:
    datasets: list[str]
    n_questions: dict[str, int]
    offsets: dict[str, int]
    cells: pd.DataFrame                    # CELL keys, one row per cell, in cell order
    cell_dataset: np.ndarray               # dataset index of each cell
    auroc: list[_Auroc]
    linear: dict[str, sparse.csr_matrix]   # per dataset: rows of weighted sums, columns questions
    count_row: np.ndarray                  # per cell: its row in its dataset's linear matrix
    msp_cells: np.ndarray                  # indices of the MSP cells
    bin_row: np.ndarray                    # per MSP cell: first of its 3 × N_BINS + 2 rows
    models: list[str]
    pools: list[_Pool]


def _single_shots(answers: pd.DataFrame) -> None:
    shots = answers["shots"].unique()
    if len(shots) > 1:
        raise ValueError(f"answers mix shots {sorted(shots)}; pass one shots value at a time")


def _design(answers: pd.DataFrame) -> _Design:
    _single_shots(answers)
    qids = question_ids(answers)
    datasets = list(qids)
    n_questions = {d: len(q) for d, q in qids.items()}
    offsets = dict(zip(datasets, np.cumsum([0] + [n_questions[d] for d in datasets[:-1]]).tolist()))
    models = vocabulary.model_order(map(str, answers["model"].unique()))
    keys, auroc, cell_dataset = [], [], []
    rows_by_dataset: dict[str, list] = {d: [] for d in datasets}   # (cell, question rows, conf, correct, msp?)
    pooled: dict[str, list] = {m: [] for m in models}
    qid = answers["qid"].to_numpy(np.int64)
    # each signal with its own grades (``schema.grade_columns``: the authors graded Max Logit by its file)
    correct_of = {s: answers[grade_columns(answers, s)[1]].to_numpy(bool) for s in SIGNALS}
    signals = {s: answers[s].to_numpy(np.float64) for s in SIGNALS}
    groups = {tuple(map(str, key)): index for key, index in
              answers.groupby(["model", "dataset", "phrasing"], observed=True, sort=False).indices.items()}
    rank = {"model": {m: i for i, m in enumerate(models)}, "dataset": {d: i for i, d in enumerate(datasets)},
            "phrasing": {p: i for i, p in enumerate(PHRASINGS)}}
    ordered = sorted(groups, key=lambda k: (rank["model"][k[0]], rank["dataset"][k[1]],
                                            rank["phrasing"].get(k[2], len(PHRASINGS)), k[2]))
    for signal in SIGNALS:
        correct_all = correct_of[signal]
        for key in ordered:
            model, dataset, phrasing = key
            index = groups[key]
            conf = signals[signal][index]
            keep = ~np.isnan(conf)
            if not keep.any():
                continue
            conf = conf[keep]
            correct = correct_all[index][keep]
            rows = np.searchsorted(qids[dataset], qid[index][keep])
            cell = len(keys)
            keys.append((model, dataset, phrasing, signal))
            cell_dataset.append(datasets.index(dataset))
            sort = np.argsort(conf, kind="stable")
            wrong, right = sort[~correct[sort]], sort[correct[sort]]
            wrong_conf = conf[wrong]
            auroc.append(_Auroc(rows[wrong], rows[right], np.searchsorted(wrong_conf, conf[right], "left"),
                                np.searchsorted(wrong_conf, conf[right], "right")))
            rows_by_dataset[dataset].append((cell, rows, conf, correct, signal == "msp"))
            if signal == "msp":
                pooled[model].append((rows + offsets[dataset], conf, correct))
    cells = pd.DataFrame(keys, columns=CELL)
    n_cells = len(cells)
    count_row = np.zeros(n_cells, dtype=np.int64)
    bin_row = np.full(n_cells, -1, dtype=np.int64)
    linear = {}
    for dataset, parts in rows_by_dataset.items():
        row_ids, cols, vals = [], [], []
        next_row = 0
        for cell, rows, conf, correct, is_msp in parts:
            count_row[cell] = next_row
            row_ids += [np.full(len(rows), next_row), np.full(int(correct.sum()), next_row + 1)]
            cols += [rows, rows[correct]]
            vals += [np.ones(len(rows)), np.ones(int(correct.sum()))]
            next_row += 2
            if is_msp:
                bin_row[cell] = next_row
                # metrics.reliability_bins: bin j when edge[j] <= conf < edge[j+1]
                idx = np.searchsorted(_UNIFORM_EDGES, conf, side="right") - 1
                inside = (idx >= 0) & (idx < N_BINS)
                r, i, c, y = rows[inside], idx[inside], conf[inside], correct[inside]
                row_ids += [next_row + i, next_row + N_BINS + i, next_row + 2 * N_BINS + i[y]]
                cols += [r, r, r[y]]
                vals += [np.ones(len(r)), c, np.ones(int(y.sum()))]
                ones = conf == 1.0
                row_ids += [np.full(int(ones.sum()), next_row + 3 * N_BINS),
                            np.full(int((ones & correct).sum()), next_row + 3 * N_BINS + 1)]
                cols += [rows[ones], rows[ones & correct]]
                vals += [np.ones(int(ones.sum())), np.ones(int((ones & correct).sum()))]
                next_row += 3 * N_BINS + 2
        shape = (next_row, n_questions[dataset])
        linear[dataset] = sparse.csr_matrix(
            (np.concatenate(vals) if vals else np.zeros(0),
             (np.concatenate(row_ids) if row_ids else np.zeros(0, int),
              np.concatenate(cols) if cols else np.zeros(0, int))), shape=shape)
    pools = []
    for model in models:
        if not pooled[model]:
            pools.append(_Pool(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool), 0))
            continue
        rows = np.concatenate([p[0] for p in pooled[model]])
        conf = np.concatenate([p[1] for p in pooled[model]])
        correct = np.concatenate([p[2] for p in pooled[model]])
        sort = np.argsort(conf, kind="stable")
        conf = conf[sort]
        pools.append(_Pool(rows[sort], conf, correct[sort], int(np.searchsorted(conf, 1.0, side="right"))))
    return _Design(datasets, n_questions, offsets, cells, np.array(cell_dataset, dtype=np.int64), auroc,
                   linear, count_row, np.flatnonzero(cells["signal"].to_numpy() == "msp"), bin_row,
                   models, pools)


# --- statistics of a chunk of resamples ---------------------------------------------------------

def _lerp(a, b, t):
    """``numpy.quantile``'s interpolation (numpy.lib._function_base_impl._lerp), elementwise."""
    diff = b - a
    out = a + diff * t
    return np.where(t >= 0.5, b - diff * (1 - t), out)


def _order_statistics(cum: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Per resample b and rank r (0-based) of ``ranks`` (shape (m, B)): the position p of the sorted
    answers holding the r-th smallest resampled value, i.e. the first p with cum[b, p + 1] > r,
    where ``cum`` (shape (B, N + 1)) holds the cumulative weights with cum[:, 0] = 0."""
    n = cum.shape[1] - 1
    lo = np.zeros(ranks.shape, dtype=np.int64)
    hi = np.full(ranks.shape, n - 1, dtype=np.int64)
    rows = np.broadcast_to(np.arange(ranks.shape[1]), ranks.shape)
    while True:
        open_ = lo < hi
        if not open_.any():
            return lo
        mid = (lo + hi) // 2
        above = cum[rows, mid + 1] > ranks
        hi = np.where(open_ & above, mid, hi)
        lo = np.where(open_ & ~above, mid + 1, lo)


def _cumulative(values: np.ndarray, dtype) -> np.ndarray:
    """Cumulative sums along axis 1 with a leading column of zeros: shape (B, N + 1)."""
    out = np.zeros((values.shape[0], values.shape[1] + 1), dtype=dtype)
    np.cumsum(values, axis=1, dtype=dtype, out=out[:, 1:])
    return out


def _pool_calibration(pool: _Pool, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Paper error, equal-mass ECE and overconfidence of one model's pooled MSPs under each row of
    ``weights`` (resamples × global question positions)."""
    n_b = weights.shape[0]
    if len(pool.rows) == 0:
        nan = np.full(n_b, np.nan)
        return {"calibration_error_paper": nan, "ece_equal_mass": nan, "overconfidence": nan}
    w = np.take(weights, pool.rows, axis=1)  # C-ordered, unlike weights[:, rows]
    cum = _cumulative(w, np.int32)
    cum_correct = _cumulative(w * pool.correct, np.int32)
    cum_conf = _cumulative(w * pool.conf, np.float64)
    total = cum[:, -1]
    # numpy.quantile(conf, linspace(0, 1, 11)), method "linear", of each resampled pool
    virtual = (total.astype(np.float64) - 1)[None, :] * _QUANTILES[:, None]
    previous = np.floor(virtual)
    gamma = virtual - previous
    last = (total - 1)[None, :]
    prev_rank = np.where(virtual >= last, last, np.minimum(previous.astype(np.int64), last))
    next_rank = np.minimum(prev_rank + 1, last)
    values = pool.conf[_order_statistics(cum, np.concatenate([prev_rank, next_rank]))]
    edges = _lerp(values[:N_BINS + 1], values[N_BINS + 1:], gamma)
    edges[0], edges[-1] = 0.0, 1.0
    starts = np.searchsorted(pool.conf, edges[:-1].ravel(), side="left").reshape(N_BINS, n_b)
    ends_open = np.searchsorted(pool.conf, edges[1:].ravel(), side="left").reshape(N_BINS, n_b)
    ends_closed = ends_open.copy()
    ends_closed[-1] = pool.end_closed
    rows = np.arange(n_b)[None, :]
    out = {}
    for name, ends, weighted in (("calibration_error_paper", ends_open, False),
                                 ("ece_equal_mass", ends_closed, True)):
        count = np.maximum(cum[rows, ends] - cum[rows, starts], 0)
        correct = cum_correct[rows, ends] - cum_correct[rows, starts]
        conf = cum_conf[rows, ends] - cum_conf[rows, starts]
        out[name] = _binned_error(count, conf, correct, weighted)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["overconfidence"] = (cum_conf[:, -1] - cum_correct[:, -1]) / total
    return out


def _binned_error(count, conf_sum, correct_sum, weighted: bool) -> np.ndarray:
    """Mean (or count-weighted mean) over non-empty bins of |fraction correct − mean confidence|;
    arrays of shape (bins, resamples); NaN where every bin is empty (``metrics.calibration_error``)."""
    filled = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.abs(correct_sum / count - conf_sum / count)
        gap = np.where(filled, gap, 0.0)
        if weighted:
            return (gap * count).sum(axis=0) / np.where(filled, count, 0).sum(axis=0)
        return gap.sum(axis=0) / filled.sum(axis=0)


def _chunk_statistics(design: _Design, counts: dict[str, np.ndarray]):
    """Cell accuracy and AUROC (cells × B) and the per-model statistics (models × statistics × B)
    of a chunk; ``counts``: dataset -> (B, n_questions) multiplicities."""
    n_b = next(iter(counts.values())).shape[0]
    n_cells = len(design.cells)
    linear = {d: design.linear[d] @ counts[d].T.astype(np.float64) for d in design.datasets}
    accuracy = np.empty((n_cells, n_b))
    auroc = np.empty((n_cells, n_b))
    for cell in range(n_cells):
        dataset = design.datasets[design.cell_dataset[cell]]
        sums = linear[dataset]
        row = design.count_row[cell]
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy[cell] = 100 * (sums[row + 1] / sums[row])
        a = design.auroc[cell]
        w = counts[dataset]
        # weighted U = sum over correct answers of weight × (wrong weight below + 1/2 wrong weight tied)
        cum_wrong = _cumulative(np.take(w, a.wrong_rows, axis=1), np.int32)
        w_right = np.take(w, a.correct_rows, axis=1)
        twice_u = (w_right * (np.take(cum_wrong, a.lo, axis=1) + np.take(cum_wrong, a.hi, axis=1))).sum(
            axis=1, dtype=np.int64)
        n_right, n_wrong = w_right.sum(axis=1, dtype=np.int64), cum_wrong[:, -1]
        pairs = (n_right * n_wrong).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            auroc[cell] = np.where(pairs > 0, 100 * (twice_u / 2) / pairs, np.nan)
    uniform = np.full((n_cells, n_b), np.nan)
    width_sums = {m: np.zeros((3, N_BINS, n_b)) for m in design.models}
    for cell in design.msp_cells:
        sums = linear[design.datasets[design.cell_dataset[cell]]]
        r = design.bin_row[cell]
        count, conf, correct = (sums[r + i * N_BINS:r + (i + 1) * N_BINS] for i in range(3))
        uniform[cell] = _binned_error(count, conf, correct, weighted=False)
        acc = width_sums[design.cells.at[cell, "model"]]
        acc[0] += count
        acc[1] += conf
        acc[2] += correct
        ones, ones_correct = sums[r + 3 * N_BINS], sums[r + 3 * N_BINS + 1]
        acc[0, -1] += ones
        acc[1, -1] += ones
        acc[2, -1] += ones_correct
    weights = np.concatenate([counts[d] for d in design.datasets], axis=1)
    models = {}
    cell_model = design.cells["model"].to_numpy()
    cell_signal = design.cells["signal"].to_numpy()
    for model, pool in zip(design.models, design.pools):
        of_model = cell_model == model
        msp = of_model & (cell_signal == "msp")
        logit = of_model & (cell_signal == "max_logit")
        stats_ = {"accuracy": _nanmean(accuracy[msp]), "auroc_msp": _nanmean(auroc[msp]),
                  "auroc_max_logit": _nanmean(auroc[logit]),
                  "calibration_error_uniform_cells": _nanmean(uniform[msp])}
        stats_.update(_pool_calibration(pool, weights))
        count, conf, correct = width_sums[model]
        stats_["ece_equal_width"] = (_binned_error(count, conf, correct, weighted=True) if msp.any()
                                     else np.full(n_b, np.nan))
        models[model] = np.stack([stats_[s] for s in MODEL_STATISTICS])
    return accuracy, auroc, np.stack([models[m] for m in design.models])


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Column means over the finite values (NaN for a column without any, or no rows)."""
    if values.shape[0] == 0:
        return np.full(values.shape[1], np.nan)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite, values, 0).sum(axis=0) / finite.sum(axis=0)


# --- correlations across models ------------------------------------------------------------------

def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair (rows = resamples, columns = models, all finite)."""
    xm = x - x.mean(axis=1, keepdims=True)
    ym = y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xm * ym).sum(axis=1) / np.sqrt((xm * xm).sum(axis=1) * (ym * ym).sum(axis=1))
    return np.clip(r, -1, 1)


def row_correlations(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, Pearson r, Spearman ρ) of each row of the paired (resamples × models) arrays ``x``, ``y``,
    over the columns where both are finite; NaN with fewer than 3 such pairs or a constant sample,
    as ``helpers.metrics.correlation``. Spearman ρ = Pearson r of the average ranks."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    x, y = np.broadcast_arrays(x, y)
    finite = np.isfinite(x) & np.isfinite(y)
    n = finite.sum(axis=1)
    r = np.full(len(x), np.nan)
    rho = np.full(len(x), np.nan)
    patterns, inverse = np.unique(finite, axis=0, return_inverse=True)
    for pattern, cols in enumerate(patterns):
        rows = np.flatnonzero(inverse.ravel() == pattern)
        xs, ys = x[rows][:, cols], y[rows][:, cols]
        if xs.shape[1] < 3:
            continue
        ok = (np.ptp(xs, axis=1) > 0) & (np.ptp(ys, axis=1) > 0)
        if not ok.any():
            continue
        r[rows[ok]] = _pearson_rows(xs[ok], ys[ok])
        rho[rows[ok]] = _pearson_rows(stats.rankdata(xs[ok], axis=1), stats.rankdata(ys[ok], axis=1))
    return n, r, rho


def _correlations(model_stats: np.ndarray, models: list[str]) -> list[tuple]:
    """Per pair of :data:`PAIRS`: (x, y, n, pearson_r array, spearman_rho array) over the paper's
    models; ``model_stats``: (models × statistics × B)."""
    paper = [i for i, m in enumerate(models) if not vocabulary.is_scored(m)]
    sizes = model_table().set_index("model")["params_b"]
    columns = {s: model_stats[paper, i, :].T for i, s in enumerate(MODEL_STATISTICS)}
    columns["params_b"] = np.broadcast_to(np.array([sizes.get(models[i], np.nan) for i in paper], float),
                                          columns["accuracy"].shape)
    out = []
    for x, y in PAIRS:
        n, r, rho = row_correlations(columns[x], columns[y])
        out.append((x, y, n, r, rho))
    return out


# --- the bootstrap -------------------------------------------------------------------------------

def _tidy(design: _Design, accuracy, auroc, model_stats, resample: np.ndarray | None):
    """Cell, model and correlation frames of (cells × B) / (models × statistics × B) arrays."""
    n_b = accuracy.shape[1]
    n_cells, n_models = len(design.cells), len(design.models)
    cells = design.cells.loc[np.tile(np.arange(n_cells), n_b)].reset_index(drop=True)
    cells = cells.assign(accuracy=accuracy.T.ravel(), auroc=auroc.T.ravel())
    models = pd.DataFrame({"model": np.tile(design.models, n_b)})
    for i, s in enumerate(MODEL_STATISTICS):
        models[s] = model_stats[:, i, :].T.ravel()
    corr = _correlations(model_stats, design.models)
    correlations = pd.DataFrame({
        "x": np.tile([c[0] for c in corr], n_b), "y": np.tile([c[1] for c in corr], n_b),
        "n": np.stack([c[2] for c in corr], axis=1).ravel(),
        "pearson_r": np.stack([c[3] for c in corr], axis=1).ravel(),
        "spearman_rho": np.stack([c[4] for c in corr], axis=1).ravel()})
    if resample is not None:
        cells.insert(0, "resample", np.repeat(resample, n_cells))
        models.insert(0, "resample", np.repeat(resample, n_models))
        correlations.insert(0, "resample", np.repeat(resample, len(corr)))
    return cells, models, correlations


def _count_chunks(design: _Design, n_resamples: int, seed: int, chunk: int):
    """(first resample, dataset -> (chunk, n_questions) multiplicities) of consecutive chunks."""
    draws = question_draws(design.n_questions, n_resamples, seed)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        counts = {d: np.zeros((size, n), dtype=np.int32) for d, n in design.n_questions.items()}
        for b in range(size):
            for d, positions in next(draws).items():
                counts[d][b] = np.bincount(positions, minlength=design.n_questions[d])
        yield start, counts


def question_bootstrap(answers: pd.DataFrame, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                       chunk: int = CHUNK, workers: int = WORKERS) -> QuestionBootstrap:
    """Question bootstrap (module docstring) of a tidy table of one ``shots`` value: point estimates
    and ``n_resamples`` replicates of every cell accuracy and AUROC, every per-model statistic of
    :data:`MODEL_STATISTICS` and every correlation of :data:`PAIRS`.

    ``chunk`` resamples are computed together, ``workers`` chunks at a time in threads; both change
    memory and speed, never the result.
    """
    if chunk < 1 or workers < 1:
        raise ValueError(f"chunk and workers must be >= 1, got {chunk} and {workers}")
    design = _design(answers)
    ones = {d: np.ones((1, n), dtype=np.int32) for d, n in design.n_questions.items()}
    cell_point, model_point, correlation_point = _tidy(design, *_chunk_statistics(design, ones), None)

    def run(item):
        start, counts = item
        size = next(iter(counts.values())).shape[0]
        return _tidy(design, *_chunk_statistics(design, counts), np.arange(start, start + size))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending, parts = deque(), []
        for item in _count_chunks(design, n_resamples, seed, chunk):
            pending.append(pool.submit(run, item))
            if len(pending) > workers:
                parts.append(pending.popleft().result())
        parts += [future.result() for future in pending]
    cell_rep, model_rep, corr_rep = (pd.concat(p, ignore_index=True) for p in zip(*parts))
    return QuestionBootstrap(n_resamples, seed, cell_point, model_point, correlation_point,
                             cell_rep, model_rep, corr_rep)


# --- intervals ----------------------------------------------------------------------------------

def percentile_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval (Efron & Tibshirani 1993, §13.3): the (1 − confidence)/2 and
    (1 + confidence)/2 quantiles of the finite replicates (``numpy.nanpercentile``, linear
    interpolation); (NaN, NaN) without any."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(lo), float(hi)


def _intervals(point: pd.DataFrame, replicates: pd.DataFrame, keys: list[str], statistics: Sequence[str],
               confidence: float, name: str = "statistic") -> pd.DataFrame:
    rows = []
    grouped = replicates.groupby(keys, sort=False)
    for key, group in grouped:
        key = key if isinstance(key, tuple) else (key,)
        at = point
        for k, v in zip(keys, key):
            at = at[at[k] == v]
        for s in statistics:
            values = group[s].to_numpy(np.float64)
            lo, hi = percentile_interval(values, confidence)
            estimate = float(at[s].iloc[0]) if len(at) else np.nan
            rows.append((*key, s, estimate, lo, hi, _bias(values, estimate), int(np.isfinite(values).sum())))
    return pd.DataFrame(rows, columns=[*keys, name, "estimate", "lo", "hi", "bias", "n_valid"])


def _bias(values: np.ndarray, estimate: float) -> float:
    """Bootstrap estimate of bias: mean of the finite replicates − the full-data estimate."""
    finite = values[np.isfinite(values)]
    return float(finite.mean() - estimate) if finite.size and np.isfinite(estimate) else float("nan")


def model_intervals(boot: QuestionBootstrap, confidence: float = CONFIDENCE,
                    statistics: Sequence[str] = MODEL_STATISTICS) -> pd.DataFrame:
    """Percentile intervals of the per-model statistics: model, statistic, estimate (full data), lo,
    hi, bias (mean replicate − estimate; binned calibration errors are biased under resampling, so
    their percentile interval need not contain the estimate), n_valid (finite replicates; the
    others, e.g. Max Logit of GPT, give NaN)."""
    return _intervals(boot.model_point, boot.model_replicates, ["model"], statistics, confidence)


def cell_intervals(boot: QuestionBootstrap, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Percentile intervals of each cell's accuracy and AUROC: model, dataset, phrasing, signal,
    statistic, estimate, lo, hi, bias, n_valid."""
    return _intervals(boot.cell_point, boot.cell_replicates, CELL, ("accuracy", "auroc"), confidence)


def correlation_intervals(boot: QuestionBootstrap, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Percentile intervals over questions of each correlation across the paper's models: x, y,
    method ('pearson' / 'spearman'), n, estimate (full data), lo, hi, bias (mean replicate −
    estimate), n_valid."""
    rows = []
    for (x, y), group in boot.correlation_replicates.groupby(["x", "y"], sort=False):
        point = boot.correlation_point[(boot.correlation_point["x"] == x) & (boot.correlation_point["y"] == y)]
        for method, column in (("pearson", "pearson_r"), ("spearman", "spearman_rho")):
            values = group[column].to_numpy(np.float64)
            lo, hi = percentile_interval(values, confidence)
            estimate = float(point[column].iloc[0])
            rows.append((x, y, method, int(point["n"].iloc[0]), estimate, lo, hi, _bias(values, estimate),
                         int(np.isfinite(values).sum())))
    return pd.DataFrame(rows, columns=["x", "y", "method", "n", "estimate", "lo", "hi", "bias", "n_valid"])


def replicate_matrix(boot: QuestionBootstrap, statistic: str) -> pd.DataFrame:
    """The replicates of one per-model statistic as a resample × model matrix (models in display
    order): rows are paired, so a difference of two columns is a paired bootstrap difference."""
    wide = boot.model_replicates.pivot(index="resample", columns="model", values=statistic)
    return wide[[m for m in vocabulary.model_order(wide.columns)]]


def paired_difference_intervals(boot: QuestionBootstrap, a: str = "auroc_msp", b: str = "auroc_max_logit",
                               confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per model, the paired bootstrap of statistic ``a`` − statistic ``b`` (same resamples): model,
    estimate (full data), lo, hi (percentile interval), share_positive (share of finite replicates
    with a difference > 0), n_valid; models lacking either statistic are left out."""
    point = boot.model_point.set_index("model")
    diff = replicate_matrix(boot, a) - replicate_matrix(boot, b)
    rows = []
    for model in diff.columns:
        values = diff[model].to_numpy(np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            continue
        lo, hi = percentile_interval(finite, confidence)
        rows.append((model, float(point.at[model, a] - point.at[model, b]), lo, hi,
                     float((finite > 0).mean()), int(finite.size)))
    return pd.DataFrame(rows, columns=["model", "estimate", "lo", "hi", "share_positive", "n_valid"])


def signal_difference_replicates(boot: QuestionBootstrap, models: Sequence[str] | None = None) -> pd.Series:
    """Per resample, the mean over paired cells (same model, dataset, phrasing with both signals,
    the paper's models unless ``models``) of MSP AUROC − Max Logit AUROC; the full-data value is
    under the index −1. Cells without an AUROC in a resample are left out of that resample's mean."""
    def mean_difference(frame: pd.DataFrame, by: list[str]) -> pd.Series:
        keep = frame["model"].isin(models) if models is not None else ~frame["model"].map(vocabulary.is_scored)
        wide = frame[keep].pivot(index=by + ["model", "dataset", "phrasing"], columns="signal", values="auroc")
        if "max_logit" not in wide or "msp" not in wide:
            raise ValueError("no cell has both signals")
        diff = (wide["msp"] - wide["max_logit"]).dropna()
        return diff.groupby(level=0).mean() if by else pd.Series([diff.mean()], index=[-1])
    point = mean_difference(boot.cell_point, [])
    replicates = mean_difference(boot.cell_replicates, ["resample"])
    return pd.concat([point, replicates]).rename("difference").rename_axis("resample")


# --- cache support (no file access here: helpers.data.analysis_cache reads and writes) -----------

def _data_hash(answers: pd.DataFrame) -> str:
    """Order-independent SHA-256 of the columns the bootstrap reads."""
    columns = ["model", "dataset", "phrasing", "shots", "qid", "correct", "msp", "max_logit",
               *(["correct_max_logit"] if "correct_max_logit" in answers else [])]
    frame = answers[columns].copy()
    for c in ("model", "dataset", "phrasing"):
        frame[c] = frame[c].astype(str)
    rows = np.sort(pd.util.hash_pandas_object(frame, index=False).to_numpy())
    return hashlib.sha256(rows.tobytes()).hexdigest()


def bootstrap_key(answers: pd.DataFrame, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> str:
    """Hex SHA-256 of the data a :func:`question_bootstrap` reads (order-independent) and of its
    settings (n_resamples, seed, :data:`VERSION`, the statistics and pairs computed): equal keys,
    equal results."""
    settings = {"n_resamples": int(n_resamples), "seed": int(seed), "version": VERSION,
                "statistics": list(MODEL_STATISTICS), "pairs": [list(p) for p in PAIRS],
                "data": _data_hash(answers)}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


_FRAMES = ("cell_point", "model_point", "correlation_point", "cell_replicates", "model_replicates",
           "correlation_replicates")


def bootstrap_frames(boot: QuestionBootstrap) -> dict[str, pd.DataFrame]:
    """The bootstrap as named DataFrames (for storage); :func:`bootstrap_from_frames` inverts it."""
    frames = {name: getattr(boot, name) for name in _FRAMES}
    frames["settings"] = pd.DataFrame({"n_resamples": [boot.n_resamples], "seed": [boot.seed]})
    return frames


def bootstrap_from_frames(frames: Mapping[str, pd.DataFrame]) -> QuestionBootstrap:
    """The :class:`QuestionBootstrap` of :func:`bootstrap_frames`' output."""
    settings = frames["settings"].iloc[0]
    return QuestionBootstrap(int(settings["n_resamples"]), int(settings["seed"]),
                             *(frames[name].reset_index(drop=True) for name in _FRAMES))
