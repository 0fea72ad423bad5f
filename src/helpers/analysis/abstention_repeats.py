"""Q&A with abstention over many random train/test splits instead of the paper's one.

The paper draws one split (METHODS §8.7 step 2, seed 2549900867) and reports one threshold and one
test score per model; ``helpers.abstention`` reproduces it. With 20 training answers per dataset the
chosen threshold, hence the gain over never abstaining, depends on which 20 answers were drawn
(METHODS §9.5). Here the whole recipe of ``helpers.abstention.abstention_scores`` is repeated with
the split of each seed of ``seeds``: seed s splits exactly as ``helpers.abstention.pooled_splits(
answers, signal, k, seed=s)`` (Python's ``random`` shuffle of the pooled answers), then the grid is
built from the training answers, the threshold chosen (first maximum of the mean training score)
and the test score, Base and % abstained computed, all as that function does; the tests check that
each seed's row equals it. This is repeated random sub-sampling validation (Kohavi 1995, "A study of
cross-validation and bootstrap for accuracy estimation and model selection", IJCAI, §2).

Computation per seed: the training answers' positions on the threshold grid (``searchsorted``) give,
by cumulative counts, the number of right and wrong training answers at or above every grid point
at once (every model, dataset and penalty together); test counts at the chosen threshold are the
pooled counts (pre-sorted once) minus the training counts. The only per-seed cost that is not
vectorised is the paper's shuffle itself (``helpers.abstention.split_permutation``, Python's
``random.shuffle``: about two thirds of the main run's time), shared by every model, signal, penalty
and k of the seed.

Summaries (:func:`gain_bands`, :func:`gain_by_abstention`): per model the median gain (score − Base,
points), its 5–95% range over splits and the share of splits with a gain > 0; the k sweep gives
curves of these against k.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.analysis import abstention
from helpers.analysis.abstention import BASE_THRESHOLD, K
from helpers.data import vocabulary
from helpers.data.schema import grade_columns
from helpers.data.vocabulary import PENALTIES, SIGNALS

#: default number of split seeds of the main run (seeds 0 … N_SEEDS − 1)
N_SEEDS = 1000
#: default number of split seeds per k of the k sweep (fewer: k = 'half' trains on ~21,000 answers)
SWEEP_SEEDS = 200
#: training-set sizes of the k sweep (per dataset; 'half' = half of the pooled answers)
SWEEP_KS: tuple[K, ...] = (5, 10, 20, 50, 100, 200, "half")
#: the quantiles of the gain's range
LOW, HIGH = 0.05, 0.95
#: edges (% abstained) of the bins of :func:`gain_by_abstention`
ABSTENTION_EDGES = (0.0, 1e-9, 5.0, 10.0, 20.0, 40.0, 100.0)
#: up to this many training answers per group, counts come from each answer's grid position;
#: above it, from the training mask in confidence order (both give the same counts)
_ITEMS_UP_TO = 500
COLUMNS = ["k", "seed", "signal", "penalty", "model", "threshold", "base_score", "score", "pct_abstained", "gain"]


@dataclass
class _Groups:
    """The pooled answers of one signal: one group per model × dataset, in model then dataset order."""

    models: list[str]
    keys: list[tuple[str, str]]
    conf: list[np.ndarray]          # pooled order (METHODS §8.7 step 1)
    correct: list[np.ndarray]
    reference: np.ndarray           # per group: does it set the grid's maximum (abstention.grid_models)


def _pooled_groups(answers: pd.DataFrame, signals: Sequence[str]) -> dict[str, _Groups]:
    if "shots" in answers and answers["shots"].nunique() > 1:
        raise ValueError(f"answers mix shots {sorted(answers['shots'].unique())}; pass one shots value")
    for signal in signals:
        if signal not in SIGNALS:
            raise ValueError(f"signal={signal!r}: expected one of {list(SIGNALS)}")
    columns = ["model", "dataset", "phrasing", "qid", *{grade_columns(answers, s)[1] for s in signals}, *signals]
    pooled = abstention.pooled_order(answers[list(dict.fromkeys(columns))])
    reference = abstention.grid_models(answers)
    index = pooled.groupby(["model", "dataset"], observed=True, sort=False).indices
    by_key = {(str(m), str(d)): rows for (m, d), rows in index.items()}
    model_rank = {m: i for i, m in enumerate(vocabulary.model_order(m for m, _ in by_key))}
    dataset_rank = {d: i for i, d in enumerate(vocabulary.dataset_order(d for _, d in by_key))}
    keys = sorted(by_key, key=lambda key: (model_rank[key[0]], dataset_rank[key[1]]))
    out = {}
    for signal in signals:
        correct_all = pooled[grade_columns(answers, signal)[1]].to_numpy(bool)  # each signal's own grades
        values = pooled[signal].to_numpy(np.float64)
        kept, conf, correct = [], [], []
        for model, dataset in keys:
            rows = by_key[(model, dataset)]
            c = values[rows]
            if not abstention.has_signal(c, signal, model, dataset):
                continue
            kept.append((model, dataset))
            conf.append(c)
            correct.append(correct_all[rows])
        ref = np.array([reference is None or m in reference for m, _ in kept], dtype=bool)
        out[signal] = _Groups(vocabulary.model_order(m for m, _ in kept), kept, conf, correct, ref)
    return out


@dataclass
class _Block:
    """The groups of one pooled size n: arrays (groups × n) in pooled order and in confidence order."""

    n: int
    k: int
    positions: np.ndarray           # the groups' positions in _Run.groups
    conf: np.ndarray
    correct: np.ndarray
    reference: np.ndarray
    sorted_conf: np.ndarray
    sorted_correct: np.ndarray
    rank: np.ndarray                # rank[g, i]: place of pooled answer i in group g's confidence order


@dataclass
class _Run:
    """One signal × k × scope, everything that does not depend on the seed."""

    groups: list[int]               # indices into _Groups, in model then dataset order
    models: list[str]
    model_rows: list[np.ndarray]    # per model: its positions in ``groups`` (dataset order)
    blocks: list[_Block]
    n_train: np.ndarray
    n_test: np.ndarray
    sorted_right: list[np.ndarray]
    sorted_wrong: list[np.ndarray]
    n_right: np.ndarray
    n_wrong: np.ndarray


def _plan(groups: _Groups, k: K, datasets: Sequence[str] | None) -> _Run | None:
    # abstention.pooled_splits leaves out groups too small to leave a test set
    chosen = [i for i, (m, d) in enumerate(groups.keys)
              if len(groups.conf[i]) > (1 if k == "half" else k) and (datasets is None or d in datasets)]
    if not chosen:
        return None
    if not groups.reference[chosen].any():
        reference = np.ones(len(chosen), dtype=bool)   # abstention._max_conf: all models if no reference
    else:
        reference = groups.reference[chosen]
    models = vocabulary.model_order(groups.keys[i][0] for i in chosen)
    model_rows = [np.array([j for j, i in enumerate(chosen) if groups.keys[i][0] == m]) for m in models]
    sizes = np.array([len(groups.conf[i]) for i in chosen])
    n_train = np.array([abstention.n_train(k, int(n)) for n in sizes])
    blocks = []
    for n in np.unique(sizes):
        positions = np.flatnonzero(sizes == n)
        conf = np.stack([groups.conf[chosen[j]] for j in positions])
        correct = np.stack([groups.correct[chosen[j]] for j in positions])
        k_n = int(n_train[positions[0]])
        if k_n > _ITEMS_UP_TO:
            order = np.argsort(conf, axis=1, kind="stable")
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.arange(n)[None, :], axis=1)
            sorted_conf = np.take_along_axis(conf, order, axis=1)
            sorted_correct = np.take_along_axis(correct, order, axis=1)
        else:
            rank = sorted_conf = sorted_correct = np.zeros((len(positions), 0))
        blocks.append(_Block(int(n), k_n, positions, conf, correct, reference[positions], sorted_conf,
                             sorted_correct, rank))
    sorted_right = [np.sort(groups.conf[i][groups.correct[i]]) for i in chosen]
    sorted_wrong = [np.sort(groups.conf[i][~groups.correct[i]]) for i in chosen]
    return _Run(chosen, models, model_rows, blocks, n_train, sizes - n_train, sorted_right, sorted_wrong,
                np.array([len(s) for s in sorted_right]), np.array([len(s) for s in sorted_wrong]))


def _block_counts_by_items(grid: np.ndarray, conf: np.ndarray, correct: np.ndarray):
    """(right, wrong): per group (row) and grid point g, the training answers with conf >= grid[g],
    from each answer's position on the grid (cheap for few training answers)."""
    n_groups, size = conf.shape[0], len(grid) + 1
    # position p = number of grid points <= conf: the answer counts at the grid points before p
    slot = (np.arange(n_groups)[:, None] * size + np.searchsorted(grid, conf, side="right")).ravel()
    flat = correct.ravel()
    counts = []
    for part in (slot[flat], slot[~flat]):
        above = np.bincount(part, minlength=n_groups * size).reshape(n_groups, size)
        counts.append(np.cumsum(above[:, ::-1], axis=1)[:, ::-1][:, 1:])
    return counts[0], counts[1]


def _block_counts_by_mask(grid: np.ndarray, block: "_Block", take: np.ndarray):
    """The same counts as :func:`_block_counts_by_items` from the training answers' mask in each
    group's confidence order (cheap for many training answers)."""
    n_groups, n = block.sorted_conf.shape
    mask = np.zeros((n_groups, n), dtype=bool)
    mask[np.arange(n_groups)[:, None], block.rank[:, take]] = True
    counts = []
    for kind in (block.sorted_correct, ~block.sorted_correct):
        cum = np.zeros((n_groups, n + 1), dtype=np.int64)
        np.cumsum(mask & kind, axis=1, out=cum[:, 1:])
        below = np.stack([np.searchsorted(row, grid, side="left") for row in block.sorted_conf])
        counts.append(cum[:, -1:] - np.take_along_axis(cum, below, axis=1))   # conf >= grid[g]
    return counts[0], counts[1]


def _seed_step(run: _Run, permutations: dict[int, np.ndarray], penalties: np.ndarray):
    """Chosen threshold (P × models) and the training counts (right, wrong) at it and at Base
    (P × groups, groups) of one seed."""
    n_groups = len(run.groups)
    train = []
    for block in run.blocks:
        take = permutations[block.n][:block.k]
        train.append((take, block.conf[:, take]))
    reference_max = [conf[block.reference].max() for block, (_, conf) in zip(run.blocks, train)
                     if block.reference.any()]
    grid = abstention.threshold_grid(max(reference_max))
    right = np.empty((n_groups, len(grid)), dtype=np.int64)
    wrong = np.empty((n_groups, len(grid)), dtype=np.int64)
    for block, (take, conf) in zip(run.blocks, train):
        if block.k <= _ITEMS_UP_TO:
            counts = _block_counts_by_items(grid, conf, block.correct[:, take])
        else:
            counts = _block_counts_by_mask(grid, block, take)
        right[block.positions], wrong[block.positions] = counts
    # abstention.score: 100 × ((n_right − penalty × n_wrong) / n) per dataset, then the mean over datasets
    values = 100 * ((right[None] - penalties[:, None, None] * wrong[None]) / run.n_train[None, :, None])
    best = np.stack([np.argmax(np.mean(np.moveaxis(values[:, rows], 1, 0), axis=0), axis=-1)
                     for rows in run.model_rows], axis=1)                              # (P, models)
    owner_model = np.empty(n_groups, dtype=np.int64)
    for m, rows in enumerate(run.model_rows):
        owner_model[rows] = m
    at = best[:, owner_model]                                                          # (P, groups)
    base = int(np.searchsorted(grid, BASE_THRESHOLD))
    return (grid[best], np.take_along_axis(right, at.T, axis=1).T, np.take_along_axis(wrong, at.T, axis=1).T,
            right[:, base], wrong[:, base])


def _finish(run: _Run, steps: list, penalties: np.ndarray) -> dict[str, np.ndarray]:
    """Test score, Base and % abstained per seed × penalty × model from the seeds' :func:`_seed_step`."""
    p = penalties
    thresholds = np.stack([s[0] for s in steps])                 # (S, P, models)
    right_at = np.stack([s[1] for s in steps])                   # (S, P, groups)
    wrong_at = np.stack([s[2] for s in steps])
    right_base = np.stack([s[3] for s in steps])                 # (S, groups)
    wrong_base = np.stack([s[4] for s in steps])
    n_seeds = len(steps)
    scores = np.empty(right_at.shape)
    pct = np.empty(right_at.shape)
    base = np.empty(right_at.shape)
    owner_model = np.empty(len(run.groups), dtype=np.int64)
    for m, rows in enumerate(run.model_rows):
        owner_model[rows] = m
    for g in range(len(run.groups)):
        t = thresholds[:, :, owner_model[g]]
        # abstention.score on the test answers = pooled counts (conf >= t) − training counts
        test_right = run.n_right[g] - np.searchsorted(run.sorted_right[g], t, side="left") - right_at[:, :, g]
        test_wrong = run.n_wrong[g] - np.searchsorted(run.sorted_wrong[g], t, side="left") - wrong_at[:, :, g]
        n = run.n_test[g]
        scores[:, :, g] = 100 * ((test_right - p[None, :] * test_wrong) / n)
        pct[:, :, g] = 100 * ((n - test_right - test_wrong) / n)
        base_right = run.n_right[g] - np.searchsorted(run.sorted_right[g], BASE_THRESHOLD) - right_base[:, g]
        base_wrong = run.n_wrong[g] - np.searchsorted(run.sorted_wrong[g], BASE_THRESHOLD) - wrong_base[:, g]
        base[:, :, g] = 100 * ((base_right[:, None] - p[None, :] * base_wrong[:, None]) / n)
    out = {name: np.empty((n_seeds, len(p), len(run.models))) for name in ("score", "pct_abstained", "base_score")}
    for m, rows in enumerate(run.model_rows):
        for name, values in (("score", scores), ("pct_abstained", pct), ("base_score", base)):
            out[name][:, :, m] = np.mean(np.moveaxis(values[:, :, rows], 2, 0), axis=0)
    out["threshold"] = thresholds
    return out


def _permutations(sizes: Iterable[int], seeds: Sequence[int]) -> Iterator[dict[int, np.ndarray]]:
    """Per seed, the paper's shuffle (``abstention.split_permutation``) of each pooled size."""
    sizes = sorted(set(sizes))
    for seed in seeds:
        yield {n: abstention.split_permutation(n, int(seed)) for n in sizes}


def _frame(k: K, signal: str, run: _Run, seeds: Sequence[int], penalties: Sequence[float],
           values: dict[str, np.ndarray]) -> pd.DataFrame:
    n_seeds, n_p, n_m = values["score"].shape
    frame = pd.DataFrame({
        "k": pd.Series([k] * (n_seeds * n_p * n_m), dtype=object),
        "seed": np.repeat(np.asarray(seeds, dtype=np.int64), n_p * n_m),
        "signal": signal,
        "penalty": np.tile(np.repeat(np.asarray(penalties), n_m), n_seeds),
        "model": np.tile(run.models, n_seeds * n_p),
        **{name: values[name].ravel() for name in ("threshold", "base_score", "score", "pct_abstained")}})
    frame["gain"] = frame["score"] - frame["base_score"]
    return frame[COLUMNS]


def repeated_split_scores(answers: pd.DataFrame, ks: Sequence[K] = (20,), seeds: Sequence[int] | None = None,
                          signals: Sequence[str] = SIGNALS, penalties: Sequence[float] = PENALTIES,
                          datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """The overall abstention run (one threshold per model × signal × penalty shared by the in-scope
    datasets; METHODS §8.7) repeated for every seed of ``seeds`` (default 0 … :data:`N_SEEDS` − 1) and
    every training size of ``ks``: per seed, row for row what ``helpers.abstention.abstention_scores(
    answers, signal, k, penalty, datasets, splits=pooled_splits(answers, signal, k, seed))`` returns.

    ``datasets``: the in-scope datasets (default: every dataset with answers of the signal, as
    ``abstention_scores``); a single dataset gives the per-dataset run. Columns :data:`COLUMNS`:
    k, seed, signal, penalty, model, threshold, base_score, score, pct_abstained (test, averaged
    over the model's datasets) and gain = score − base_score (points).
    """
    seeds = list(range(N_SEEDS)) if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty")
    groups = _pooled_groups(answers, signals)
    runs = {(k, s): _plan(groups[s], k, datasets) for k in ks for s in signals}
    runs = {key: run for key, run in runs.items() if run is not None}
    if not runs:
        raise ValueError(f"no answers for signals {list(signals)} on datasets {datasets}")
    sizes = {block.n for run in runs.values() for block in run.blocks}
    p = np.asarray(penalties, dtype=np.float64)
    steps: dict = {key: [] for key in runs}
    for perms in _permutations(sizes, seeds):
        for key, run in runs.items():
            steps[key].append(_seed_step(run, perms, p))
    frames = [_frame(k, s, run, seeds, penalties, _finish(run, steps[(k, s)], p))
              for (k, s), run in runs.items()]
    return pd.concat(frames, ignore_index=True)


def k_sweep_scores(answers: pd.DataFrame, ks: Sequence[K] = SWEEP_KS, seeds: Sequence[int] | None = None,
                   signals: Sequence[str] = SIGNALS, penalties: Sequence[float] = PENALTIES) -> pd.DataFrame:
    """:func:`repeated_split_scores` of the overall run for every k of ``ks`` (default :data:`SWEEP_KS`)
    with seeds 0 … :data:`SWEEP_SEEDS` − 1 by default (fewer than the main run's :data:`N_SEEDS`)."""
    seeds = list(range(SWEEP_SEEDS)) if seeds is None else seeds
    return repeated_split_scores(answers, ks, seeds, signals, penalties)


# --- summaries -----------------------------------------------------------------------------------

def _quantile(values: pd.Series, q: float) -> float:
    return float(np.quantile(values.to_numpy(np.float64), q))


def gain_bands(scores: pd.DataFrame, low: float = LOW, high: float = HIGH,
               paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per k × signal × penalty × model over the splits of ``scores`` (:func:`repeated_split_scores`):
    n_splits, median_gain, gain_lo / gain_hi (the ``low`` / ``high`` quantiles of the gain, linear
    interpolation), share_gain_positive, share_gain_negative, share_never_abstain (threshold
    −0.0001), median_pct_abstained, pct_abstained_lo / _hi, median_base_score, median_score.

    Given ``paper`` (``helpers.abstention.abstention_table`` rows), also paper_gain (the gain of the
    paper's single split in the overall run) and paper_gain_quantile (share of splits with a gain
    below it plus half the share equal to it: where the paper's draw falls in the distribution).
    """
    rows = []
    keys = ["k", "signal", "penalty", "model"]
    for key, group in scores.groupby(keys, sort=False):
        gain = group["gain"]
        pct = group["pct_abstained"]
        rows.append((*key, len(group), float(gain.median()), _quantile(gain, low), _quantile(gain, high),
                     float((gain > 0).mean()), float((gain < 0).mean()),
                     float((group["threshold"] == BASE_THRESHOLD).mean()), float(pct.median()),
                     _quantile(pct, low), _quantile(pct, high), float(group["base_score"].median()),
                     float(group["score"].median())))
    out = pd.DataFrame(rows, columns=[*keys, "n_splits", "median_gain", "gain_lo", "gain_hi",
                                      "share_gain_positive", "share_gain_negative", "share_never_abstain",
                                      "median_pct_abstained", "pct_abstained_lo", "pct_abstained_hi",
                                      "median_base_score", "median_score"])
    if paper is not None:
        single = paper[paper["scope"] == "overall"].assign(paper_gain=lambda t: t["score"] - t["base_score"])
        single = single[keys + ["paper_gain"]]
        out = out.merge(single.astype({"k": object}), on=keys, how="left")
        quantile = []
        for row in out.itertuples():
            gains = scores.loc[(scores["k"] == row.k) & (scores["signal"] == row.signal) &
                               (scores["penalty"] == row.penalty) & (scores["model"] == row.model), "gain"]
            quantile.append(float((gains < row.paper_gain).mean() + 0.5 * (gains == row.paper_gain).mean())
                            if np.isfinite(row.paper_gain) else np.nan)
        out["paper_gain_quantile"] = quantile
    return out


def gain_by_abstention(scores: pd.DataFrame, edges: Sequence[float] = ABSTENTION_EDGES,
                       low: float = LOW, high: float = HIGH) -> pd.DataFrame:
    """The gain against the share of test questions abstained on, over splits: per k × signal ×
    penalty × model × bin of % abstained (left-closed [edges[i], edges[i+1]), the last bin closed):
    bin, pct_lo, pct_hi (the bin's edges), n_splits, share_splits, median_gain, gain_lo, gain_hi,
    share_gain_positive. Empty bins are left out. With the default edges the first bin holds the
    splits that never abstain on a test answer."""
    edges = np.asarray(edges, dtype=np.float64)
    pct = scores["pct_abstained"].to_numpy(np.float64)
    bins = np.clip(np.searchsorted(edges, pct, side="right") - 1, 0, len(edges) - 2)
    data = scores.assign(bin=bins)
    keys = ["k", "signal", "penalty", "model"]
    totals = data.groupby(keys, sort=False).size()
    rows = []
    for key, group in data.groupby(keys + ["bin"], sort=False):
        gain = group["gain"]
        b = key[-1]
        rows.append((*key, edges[b], edges[b + 1], len(group), len(group) / totals[key[:-1]],
                     float(gain.median()), _quantile(gain, low), _quantile(gain, high), float((gain > 0).mean())))
    out = pd.DataFrame(rows, columns=[*keys, "bin", "pct_lo", "pct_hi", "n_splits", "share_splits",
                                      "median_gain", "gain_lo", "gain_hi", "share_gain_positive"])
    first_seen = {key: i for i, key in enumerate(totals.index)}
    out["_order"] = [first_seen[key] for key in zip(*(out[k] for k in keys))]
    return out.sort_values(["_order", "bin"], kind="stable").drop(columns="_order").reset_index(drop=True)


def k_sweep_bands(sweep: pd.DataFrame, low: float = LOW, high: float = HIGH) -> pd.DataFrame:
    """:func:`gain_bands` of a k sweep (:func:`k_sweep_scores`) in k order: one curve per signal ×
    penalty × model, median gain and its band against k."""
    bands = gain_bands(sweep, low, high)
    ks = list(dict.fromkeys(sweep["k"]))
    order = {k: i for i, k in enumerate(ks)}
    return (bands.assign(_k=bands["k"].map(order)).sort_values(["signal", "penalty", "model", "_k"], kind="stable")
            .drop(columns="_k").reset_index(drop=True))
