"""Q&A with abstention (METHODS §8.7): answer only when the confidence reaches a threshold learnt on
a few labelled answers, and score +1 per correct answer, −penalty per wrong one, 0 per abstention.

The recipe, exactly as the paper's tables were made:

1. per model × dataset × signal, both phrasings are pooled in the order of the authors' result files
   (:func:`pooled_order`), giving N = 2 × questions answers;
2. the pooled list is shuffled once with Python's ``random`` seeded 2549900867
   (:func:`split_permutation`); the first k answers train, the other N − k test;
3. the threshold grid (:func:`threshold_grid`) is built from the largest training confidence of all
   in-scope models and datasets; a model's training score, averaged over the in-scope datasets, picks
   the threshold (:func:`choose_threshold`: first maximum, i.e. the smallest among ties);
4. test score and % abstained at that threshold are computed per dataset and averaged unweighted over
   the in-scope datasets; "Base" is the test score at −0.0001, i.e. never abstaining.

The overall tables share one threshold per model × signal × penalty across the five datasets; the
per-dataset tables come from runs restricted to one dataset. Unparseable answers are wrong with
confidence 0 (METHODS §5): they stay in every denominator and are abstained on at any threshold > 0.

Additions for our scored models (``vocabulary.is_scored``), none of which changes a paper number:

- the grid's maximum M is taken from the paper models' training answers whenever any are in scope,
  so a model of ours is placed on the paper's grid (its own chosen thresholds only add test-grid
  points, at which no paper model is scored);
- a model's overall run averages over the in-scope datasets *it has answers for*; each row's
  ``datasets`` column names them, and ``report.tables.row_labels`` marks models covering fewer
  than the run;
  a model × dataset with too few pooled answers to leave a test set after k training answers (a
  scoring run just started) is left out;
- the counts across models (:func:`gain_summary`, :func:`signal_wins`, :func:`claim_holds`) are over
  the paper's models; :func:`scored_abstention` places ours next to them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd

from helpers.analysis import metrics
from helpers.analysis.cells import split_scored
# The train/test shuffle uses the paper's seed (METHODS §8.7 step 2); pooling goes block by block,
# one block per result file.
from helpers.data.method import BLOCK, SEED
from helpers.data.schema import grade_columns
from helpers.data.vocabulary import PENALTIES, SIGNALS, dataset_order, is_scored, model_order

#: the lowest grid point; the score there is "Base" (no abstention)
BASE_THRESHOLD = -0.0001
#: training-set sizes of the paper: 20 (main tables), 10, and half of the pooled answers
KS = (20, 10, "half")
#: columns of :func:`abstention_table` (abstention.csv has all but ``datasets``)
TABLE_COLUMNS = ["k", "scope", "penalty", "model", "signal", "datasets", "threshold", "base_score",
                 "score", "pct_abstained"]

K = int | Literal["half"]
#: pooled, split answers: (model, dataset) -> ((train conf, train correct), (test conf, test correct))
Splits = dict[tuple[str, str], tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]


def block_rank(qid) -> np.ndarray:
    """Rank of each question's 500-question block in the sorted order of the result-file names.

    Block b covers qids [500 b, 500 (b+1)) and its file names contain ``q{500 b}to…``; names sort as
    strings, so ``q0to500`` < ``q1000to1500`` < ``q1500to2000`` < … < ``q500to1000`` < ``q5000to…``.
    Comparing ``q{start}to`` is enough: starts differ, and ``t`` sorts after every digit.
    """
    qid = np.asarray(qid, dtype=np.int64)
    if (qid < 0).any():
        raise ValueError(f"qid must be >= 0, got {qid.min()}")
    starts = (qid // BLOCK) * BLOCK
    unique = np.unique(starts)
    by_name = sorted(unique, key=lambda s: f"q{s}to")
    rank = np.empty(len(unique), dtype=np.int64)
    rank[np.searchsorted(unique, by_name)] = np.arange(len(unique))
    return rank[np.searchsorted(unique, starts)]


def pooled_order(answers: pd.DataFrame) -> pd.DataFrame:
    """``answers`` sorted into the paper's pooled order (METHODS §8.7 step 1).

    Within each model × dataset: blocks in file-name order (:func:`block_rank`), within a block the
    first then the second phrasing, within a phrasing by qid. Rows are sorted by model and dataset too;
    the index is reset.
    """
    phrasing = pd.Categorical(answers["phrasing"], categories=["first", "second"]).codes
    if (phrasing < 0).any():
        raise ValueError("column 'phrasing' holds values other than 'first'/'second'")
    keyed = answers.assign(_block=block_rank(answers["qid"]), _phrasing=phrasing)
    keyed = keyed.sort_values(["model", "dataset", "_block", "_phrasing", "qid"], kind="stable")
    return keyed.drop(columns=["_block", "_phrasing"]).reset_index(drop=True)


@lru_cache(maxsize=64)
def _permutation(n: int, seed: int) -> np.ndarray:
    order = list(range(n))
    random.seed(seed)
    random.shuffle(order)
    out = np.array(order, dtype=np.int64)
    out.flags.writeable = False
    return out


def split_permutation(n: int, seed: int = SEED) -> np.ndarray:
    """The order of the paper's one shuffle of n pooled answers (METHODS §8.7 step 2).

    ``random.seed(seed); random.shuffle(items)`` moves items by positions only, so shuffling
    ``list(range(n))`` gives the permutation applied to ``list(zip(labels, conf))``: the answer at
    position i after the shuffle is ``items[split_permutation(n)[i]]``. Same for every model of equal n.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return _permutation(int(n), int(seed))


def n_train(k: K, n: int) -> int:
    """Number of training answers: k itself, or n // 2 for ``k="half"``; must leave a test set."""
    size = n // 2 if k == "half" else k
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 < size < n:
        raise ValueError(f"k={k!r}: need an integer 0 < k < n (n = {n} pooled answers) or 'half'")
    return int(size)


def train_test_split(conf, correct, k: K, seed: int = SEED):
    """((train conf, train correct), (test conf, test correct)) of pooled answers (METHODS §8.7 step 2).

    Shuffled with :func:`split_permutation`; the first k (:func:`n_train`) answers train.
    """
    conf, correct = metrics.paired(conf, correct)
    order = split_permutation(len(conf), seed)
    cut = n_train(k, len(conf))
    train, test = order[:cut], order[cut:]
    return (conf[train], correct[train]), (conf[test], correct[test])


def _n_below(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many values lie strictly below each threshold."""
    return np.searchsorted(sorted_values, thresholds, side="left")


def score(conf, correct, threshold, penalty: float = 1):
    """Normalised score 100 × (n_correct − penalty × n_wrong) / N at each threshold (METHODS §8.7
    step 3).

    The model answers iff conf ≥ threshold and abstains iff conf < threshold; abstentions earn 0 but
    stay in N. Unparseable answers are wrong (conf 0). ``threshold`` may be a scalar or an array
    (one score per threshold).
    """
    conf, correct = metrics.paired(conf, correct, nonempty=True)  # float64: thresholds are not rounded
    t = np.asarray(threshold, dtype=np.float64)
    n_right = correct.sum() - _n_below(np.sort(conf[correct]), t)
    n_wrong = (~correct).sum() - _n_below(np.sort(conf[~correct]), t)
    out = 100 * ((n_right - penalty * n_wrong) / conf.size)
    return float(out) if out.ndim == 0 else out


def pct_abstained(conf, threshold):
    """Percentage of answers abstained on, 100 × mean(conf < threshold), at each threshold."""
    conf = np.asarray(conf, dtype=np.float64)
    if conf.ndim != 1 or conf.size == 0:
        raise ValueError(f"conf must be 1-d and non-empty, got shape {conf.shape}")
    out = 100 * (_n_below(np.sort(conf), np.asarray(threshold, dtype=np.float64)) / conf.size)
    return float(out) if np.ndim(out) == 0 else out


def threshold_grid(max_conf: float, extra: Iterable[float] = ()) -> np.ndarray:
    """The paper's thresholds (METHODS §8.7 step 4): sorted unique {−0.0001} ∪ linspace(0, M, 200)
    ∪ linspace(0.99, 1, 100) if |M − 1| < 0.01 (probabilities) ∪ ``extra``, with M = ``max_conf``."""
    parts = [[BASE_THRESHOLD], np.linspace(0, max_conf, 200)]
    if abs(max_conf - 1) < 0.01:
        parts.append(np.linspace(0.99, 1, 100))
    parts.append(np.asarray(list(extra), dtype=np.float64))
    return np.unique(np.concatenate(parts))


def choose_threshold(grid, scores) -> float:
    """The grid point of the highest score; the first (smallest threshold) among ties (``argmax``)."""
    grid, scores = np.asarray(grid), np.asarray(scores)
    if grid.shape != scores.shape or grid.size == 0:
        raise ValueError(f"grid and scores must be non-empty and equally long, "
                         f"got {grid.shape}, {scores.shape}")
    return float(grid[np.argmax(scores)])


def has_signal(conf: np.ndarray, signal: str, model: str, dataset: str) -> bool:
    """Whether one model × dataset's pooled answers carry ``signal``: False when every value is NaN
    (e.g. Max Logit of API models); a group with some but not all values missing is an error."""
    missing = np.isnan(conf)
    if missing.any() and not missing.all():
        raise ValueError(f"{signal} is missing for {missing.sum()} of {len(conf)} answers of "
                         f"model {model!r} on {dataset!r}")
    return not missing.all()


def pooled_splits(answers: pd.DataFrame, signal: str, k: K, seed: int = SEED) -> Splits:
    """Pool each model × dataset's answers in the paper's order and split them (METHODS §8.7 steps 1–2).

    Groups without the signal (e.g. Max Logit of API models, all NaN) are left out, and so are groups
    with too few answers to leave a test set after k training answers (only a partly scored model of
    ours can have them); a group with some but not all values missing is an error.
    """
    if signal not in SIGNALS:
        raise ValueError(f"signal={signal!r}: expected one of {list(SIGNALS)}")
    if "shots" in answers and answers["shots"].nunique() > 1:
        raise ValueError(f"answers mix shots {sorted(answers['shots'].unique())}; pass one shots value")
    correct = grade_columns(answers, signal)[1]  # each signal with its own grades
    pooled = pooled_order(answers[["model", "dataset", "phrasing", "qid", correct, signal]]
                          .rename(columns={correct: "correct"}))
    out: Splits = {}
    for (model, dataset), group in pooled.groupby(["model", "dataset"], observed=True, sort=False):
        conf = group[signal].to_numpy(dtype=np.float64)
        if not has_signal(conf, signal, model, dataset):
            continue
        if len(conf) <= (1 if k == "half" else k):
            continue
        out[(str(model), str(dataset))] = train_test_split(conf, group["correct"].to_numpy(), k, seed)
    return out


def _mean_curves(parts: Sequence[tuple[np.ndarray, np.ndarray]], thresholds: np.ndarray,
                 penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Score and % abstained at each threshold, averaged unweighted over a model's datasets."""
    scores = np.mean([score(conf, correct, thresholds, penalty) for conf, correct in parts], axis=0)
    pct = np.mean([pct_abstained(conf, thresholds) for conf, _ in parts], axis=0)
    return scores, pct


def _by_model(splits: Splits, part: int, datasets: Sequence[str]) -> dict[str, list]:
    """part 0 (train) or 1 (test) of each model's in-scope datasets, in dataset order."""
    out: dict[str, list] = {}
    for dataset in datasets:
        for (model, ds), halves in splits.items():
            if ds == dataset:
                out.setdefault(model, []).append(halves[part])
    return out


def grid_models(answers: pd.DataFrame) -> set[str] | None:
    """The models whose training confidences set the grid's maximum: the paper's ones if any are
    present (so our scored models never move the paper's grid), else None (all models)."""
    paper = {m for m in map(str, answers["model"].unique()) if not is_scored(m)}
    return paper or None


def _max_conf(parts_by_model: dict[str, list], models: set[str] | None) -> float:
    """Largest confidence of the given models' answers (all models if none of them is in scope)."""
    chosen = [m for m in parts_by_model if models is None or m in models] or list(parts_by_model)
    return max(conf.max() for m in chosen for conf, _ in parts_by_model[m])


def _run(splits: Splits, datasets: Sequence[str], penalty: float, reference: set[str] | None = None):
    """Train curves, chosen thresholds and test curves of one run (one scope, signal, k, penalty);
    ``reference``: the models that set the grid's maximum (None: all)."""
    train = _by_model(splits, 0, datasets)
    test = _by_model(splits, 1, datasets)
    if not train:
        raise ValueError(f"no answers with this signal on datasets {list(datasets)}")
    train_grid = threshold_grid(_max_conf(train, reference))
    train_curves = {m: _mean_curves(parts, train_grid, penalty) for m, parts in train.items()}
    chosen = {m: choose_threshold(train_grid, curves[0]) for m, curves in train_curves.items()}
    test_grid = threshold_grid(_max_conf(test, reference), extra=chosen.values())
    test_curves = {m: _mean_curves(parts, test_grid, penalty) for m, parts in test.items()}
    return train_grid, train_curves, chosen, test_grid, test_curves, test


def abstention_scores(answers: pd.DataFrame, signal: str, k: K = 20, penalty: float = 1,
                      datasets: Sequence[str] | None = None, splits: Splits | None = None) -> pd.DataFrame:
    """One run of the experiment: per model, the threshold chosen on the training answers of the
    in-scope ``datasets`` (default: all present) and, on the test answers, the score there, the
    Base score (threshold −0.0001) and the % abstained, each averaged over those datasets. The grid
    is set by :func:`grid_models`.

    Columns: model, datasets (the in-scope datasets the model has, comma-separated, which its values
    average over), threshold, base_score, score, pct_abstained; models in display order.
    ``splits`` (from :func:`pooled_splits` with the same signal and k) saves re-pooling.
    """
    splits = pooled_splits(answers, signal, k) if splits is None else splits
    datasets = _datasets(splits) if datasets is None else list(datasets)
    *_, chosen, _, _, test = _run(splits, datasets, penalty, grid_models(answers))
    rows = []
    for model in model_order(chosen):
        t = np.array([BASE_THRESHOLD, chosen[model]])
        scores, pct = _mean_curves(test[model], t, penalty)
        covered = [ds for ds in datasets if (model, ds) in splits]
        rows.append((model, ", ".join(covered), chosen[model], scores[0], scores[1], pct[1]))
    return pd.DataFrame(rows, columns=["model", "datasets", "threshold", "base_score", "score", "pct_abstained"])


def abstention_curves(answers: pd.DataFrame, signal: str, k: K = 20, penalty: float = 1,
                      datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """Score and % abstained against the threshold, on the training and on the test answers, as the
    paper's score-vs-threshold figures (averaged over the in-scope datasets).

    The train grid is built from the training answers, the test grid from the test answers plus the
    chosen thresholds. One row per model × split × threshold; columns model, split ('train'/'test'),
    threshold, score, pct_abstained, chosen (True at the threshold picked on the training answers).
    """
    splits = pooled_splits(answers, signal, k)
    datasets = _datasets(splits) if datasets is None else list(datasets)
    train_grid, train_curves, chosen, test_grid, test_curves, _ = _run(splits, datasets, penalty,
                                                                       grid_models(answers))
    frames = []
    for split, grid, curves in (("train", train_grid, train_curves), ("test", test_grid, test_curves)):
        for model in model_order(curves):
            scores, pct = curves[model]
            frames.append(pd.DataFrame({"model": model, "split": split, "threshold": grid, "score": scores,
                                        "pct_abstained": pct, "chosen": grid == chosen[model]}))
    return pd.concat(frames, ignore_index=True)


def _datasets(splits: Splits) -> list[str]:
    return dataset_order(ds for _, ds in splits)


def abstention_table(answers: pd.DataFrame, ks: Sequence[K] = KS,
                     penalties: Sequence[float] = PENALTIES) -> pd.DataFrame:
    """Every run of the paper's abstention tables, as abstention.csv (METHODS §8.7).

    For each k, scope ('overall': one threshold per model × signal × penalty shared by all datasets
    present; or one dataset key: a run restricted to that dataset), penalty, model and signal: the
    chosen threshold, Base score, score and % abstained on the test answers. Columns
    :data:`TABLE_COLUMNS`; rows in the order k, scope (overall, then datasets), penalty, model, signal.
    """
    frames = []
    for k in ks:
        splits = {signal: pooled_splits(answers, signal, k) for signal in SIGNALS}
        datasets = _datasets({key: v for s in splits.values() for key, v in s.items()})
        for scope in ["overall", *datasets]:
            in_scope = datasets if scope == "overall" else [scope]
            for penalty in penalties:
                for signal in SIGNALS:
                    if not any(ds in in_scope for _, ds in splits[signal]):
                        continue
                    run = abstention_scores(answers, signal, k, penalty, in_scope, splits[signal])
                    frames.append(run.assign(k=k, scope=scope, penalty=penalty, signal=signal))
    out = pd.concat(frames, ignore_index=True)
    out["k"] = out["k"].astype(object)
    order = {m: i for i, m in enumerate(model_order(out["model"]))}
    out = out.assign(_k=out["k"].map({k: i for i, k in enumerate(ks)}),
                     _scope=out["scope"].map({s: i for i, s in enumerate(["overall", *datasets])}),
                     _model=out["model"].map(order),
                     _signal=out["signal"].map({s: i for i, s in enumerate(SIGNALS)}))
    out = out.sort_values(["_k", "_scope", "penalty", "_model", "_signal"], kind="stable")
    return out[TABLE_COLUMNS].reset_index(drop=True)


def run_rows(table: pd.DataFrame, k: K | None = None, scope: str | None = None, signal: str | None = None,
             penalty: float | None = None) -> pd.DataFrame:
    """The rows of :func:`abstention_table` of one run: those matching every argument that is not
    None. Raises ``ValueError`` naming the arguments when no row matches."""
    wanted = {"k": k, "scope": scope, "signal": signal, "penalty": penalty}
    keep = np.ones(len(table), dtype=bool)
    for column, value in wanted.items():
        if value is not None:
            keep &= (table[column] == value).to_numpy()
    if not keep.any():
        given = ", ".join(f"{c}={v!r}" for c, v in wanted.items() if v is not None)
        raise ValueError(f"no rows with {given} in the abstention table")
    return table[keep]


def gain_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per k × scope × penalty × signal: how many of the paper's models score above, equal to or below
    Base with the learnt threshold, their mean gain (score − Base, points), and how many never abstain
    (t = −0.0001). Our scored models are left out (:func:`scored_abstention` shows them)."""
    table = split_scored(table)[0]
    gain = table.assign(gain=table["score"] - table["base_score"])
    keys = ["k", "scope", "penalty", "signal"]
    out = gain.groupby(keys, sort=False).agg(
        n_models=("model", "size"), n_gain=("gain", lambda g: int((g > 0).sum())),
        n_equal=("gain", lambda g: int((g == 0).sum())), n_loss=("gain", lambda g: int((g < 0).sum())),
        mean_gain=("gain", "mean"),
        n_never_abstain=("threshold", lambda t: int((t == BASE_THRESHOLD).sum())))
    return out.reset_index()


def signal_wins(table: pd.DataFrame) -> pd.DataFrame:
    """Per k × scope × penalty: among the paper's models with both signals, how many score higher with
    MSP than with Max Logit thresholds, how many lower, how many tie (scored models left out)."""
    paper = split_scored(table)[0]
    wide = paper.pivot_table(index=["k", "scope", "penalty", "model"], columns="signal", values="score",
                             aggfunc="first", sort=False).reindex(columns=list(SIGNALS)).dropna()
    diff = wide["msp"] - wide["max_logit"]
    out = pd.DataFrame({"n_models": diff.groupby(level=[0, 1, 2], sort=False).size(),
                        "msp_higher": (diff > 0).groupby(level=[0, 1, 2], sort=False).sum(),
                        "max_logit_higher": (diff < 0).groupby(level=[0, 1, 2], sort=False).sum(),
                        "tie": (diff == 0).groupby(level=[0, 1, 2], sort=False).sum()})
    return out.reset_index()


def claim_holds(table: pd.DataFrame, k: K = 20, signal: str = "msp") -> bool:
    """The paper's abstention claim for one k: in the overall run, with the signal's learnt thresholds
    no paper model scores below Base under any penalty, and their mean gain is positive under each."""
    summary = gain_summary(table)
    rows = run_rows(summary, k, "overall", signal)
    return bool((rows["n_loss"] == 0).all() and (rows["mean_gain"] > 0).all())


def base_gain_correlation(table: pd.DataFrame, k: K = 20, penalty: float = 2,
                          signal: str = "msp") -> metrics.Correlation:
    """Correlation across the paper's models of Base and gain (score − Base) in the overall run of
    one k, penalty and signal (``metrics.correlation``: Pearson and Spearman)."""
    rows = run_rows(split_scored(table)[0], k, "overall", signal, penalty)
    return metrics.correlation(rows["base_score"], rows["score"] - rows["base_score"])


def abstention_numbers(table: pd.DataFrame, k: K = 20, signal: str = "msp") -> dict[str, object]:
    """The numbers of the abstention chapter for one k, over the paper's models (scored models left
    out), keys suffixed by the penalty (1, 2):

    overall run with the signal's thresholds (:func:`gain_summary`): n_models_p, n_gain_p, n_equal_p,
    n_loss_p, mean_gain_p; against Max Logit thresholds (:func:`signal_wins`): n_both_p,
    msp_higher_p; median_pct_p (median % abstained); best_model (key of the highest Base) and
    best_pct_p (its % abstained); per-dataset runs summed over the datasets: ds_runs_p, ds_gain_p,
    ds_loss_p. Then n_loss_total (model × penalty pairs below Base overall), holds
    (:func:`claim_holds`), penalties_without_gain (penalties whose mean gain is not positive),
    larger_gain_penalty, rho_base_gain and p_base_gain (Spearman ρ of Base and gain under penalty 2
    and its p-value).
    """
    summary = run_rows(gain_summary(table), k=k, signal=signal)
    wins = signal_wins(table)
    wins = wins[(wins["k"] == k) & (wins["scope"] == "overall")].set_index("penalty")
    overall_rows = run_rows(split_scored(table)[0], k, "overall", signal)
    best = overall_rows.loc[overall_rows["base_score"].idxmax(), "model"]
    out: dict[str, object] = {}
    for penalty in PENALTIES:
        row = run_rows(summary, scope="overall", penalty=penalty).iloc[0]
        for column in ("n_models", "n_gain", "n_equal", "n_loss"):
            out[f"{column}_{penalty}"] = int(row[column])
        out[f"mean_gain_{penalty}"] = float(row["mean_gain"])
        out[f"n_both_{penalty}"] = int(wins["n_models"].get(penalty, 0))
        out[f"msp_higher_{penalty}"] = int(wins["msp_higher"].get(penalty, 0))
        pct = overall_rows[overall_rows["penalty"] == penalty].set_index("model")["pct_abstained"]
        out[f"median_pct_{penalty}"] = float(pct.median())
        out[f"best_pct_{penalty}"] = float(pct[best])
        runs = summary[(summary["scope"] != "overall") & (summary["penalty"] == penalty)]
        out[f"ds_runs_{penalty}"] = int(runs["n_models"].sum())
        out[f"ds_gain_{penalty}"] = int(runs["n_gain"].sum())
        out[f"ds_loss_{penalty}"] = int(runs["n_loss"].sum())
    out["best_model"] = str(best)
    out["n_loss_total"] = sum(out[f"n_loss_{p}"] for p in PENALTIES)
    out["holds"] = claim_holds(table, k, signal)
    out["penalties_without_gain"] = [p for p in PENALTIES if not out[f"mean_gain_{p}"] > 0]
    out["larger_gain_penalty"] = max(PENALTIES, key=lambda p: out[f"mean_gain_{p}"])
    rho = base_gain_correlation(table, k, 2, signal)
    out["rho_base_gain"], out["p_base_gain"] = rho.spearman_rho, rho.spearman_p
    return out


def covered_datasets(table: pd.DataFrame, k: K = 20, scope: str = "overall") -> tuple[dict[str, list[str]], list[str]]:
    """Per model of one run, the datasets its values average over (paper order), and all datasets of
    the run: a model covering fewer than the run answered only some of them."""
    rows = run_rows(table, k, scope)
    covered = rows.groupby(rows["model"].astype(str), sort=False)["datasets"].agg(
        lambda d: dataset_order(set(", ".join(d).split(", "))))
    every = dataset_order({d for ds in covered for d in ds})
    return {m: list(d) for m, d in covered.items()}, every


def scored_abstention(table: pd.DataFrame, k: K = 20, signal: str = "msp",
                      coverage_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our scored models in the overall run of one k with the signal's thresholds, next to the
    paper's: per penalty p base_p, score_p, gain_p (score − Base) and pct_p (% abstained); datasets
    (the list of datasets the run averages over for it), complete (False when that is fewer than the
    run has), n_paper; partial_average: True when, given ``coverage_table``
    (``scored.coverage``), the run averages over fewer datasets than the model has answers for (too
    few answers for k on some)."""
    rows = run_rows(table, k, "overall", signal)
    wide = rows.pivot_table(index="model", columns="penalty", aggfunc="first",
                            values=["base_score", "score", "pct_abstained"])
    covered, every = covered_datasets(table, k)
    out = pd.DataFrame({"model": wide.index.astype(str)})
    for penalty in PENALTIES:
        if ("score", penalty) in wide:
            out[f"base_{penalty}"] = wide[("base_score", penalty)].to_numpy()
            out[f"score_{penalty}"] = wide[("score", penalty)].to_numpy()
            out[f"gain_{penalty}"] = out[f"score_{penalty}"] - out[f"base_{penalty}"]
            out[f"pct_{penalty}"] = wide[("pct_abstained", penalty)].to_numpy()
    out["datasets"] = [covered[m] for m in out["model"]]
    out["complete"] = [covered[m] == every for m in out["model"]]
    paper, scored = split_scored(out)
    has = ({} if coverage_table is None else dict(zip(coverage_table["model"], coverage_table["datasets"])))
    scored = scored.assign(n_paper=len(paper),
                           partial_average=[list(has.get(m, covered[m])) != covered[m] for m in scored["model"]])
    return scored.set_index("model").loc[model_order(scored["model"])].reset_index()
