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

Additions for our scored models (``claims.is_scored``), none of which changes a paper number:

- the grid's maximum M is taken from the paper models' training answers whenever any are in scope,
  so a model of ours is placed on the paper's grid (its own chosen thresholds only add test-grid
  points, at which no paper model is scored);
- a model's overall run averages over the in-scope datasets *it has answers for*; each row's
  ``datasets`` column names them, and :func:`row_labels` marks models covering fewer than the run;
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

from helpers import claims, metrics
from helpers.claims import is_scored, model_order
# The train/test shuffle uses the paper's seed (METHODS §8.7 step 2); pooling goes block by block,
# one block per result file.
from helpers.datasets import BLOCK, SEED
from helpers.models import display_name
from helpers.table import SIGNALS

#: the lowest grid point; the score there is "Base" (no abstention)
BASE_THRESHOLD = -0.0001
#: training-set sizes of the paper: 20 (main tables), 10, and half of the pooled answers
KS = (20, 10, "half")
#: points lost per wrong answer: 1 "balanced", 2 "conservative"
PENALTIES = (1, 2)
PENALTY_NAMES = {1: "balanced", 2: "conservative"}
#: columns of :func:`abstention_table` (abstention.csv has all but ``datasets``)
TABLE_COLUMNS = ["k", "scope", "penalty", "model", "signal", "datasets", "threshold", "base_score",
                 "score", "pct_abstained"]

K = int | Literal["half"]
#: pooled, split answers: (model, dataset) -> ((train correct, train conf), (test correct, test conf))
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


def train_test_split(correct, conf, k: K, seed: int = SEED):
    """((train correct, train conf), (test correct, test conf)) of pooled answers (METHODS §8.7 step 2).

    Shuffled with :func:`split_permutation`; the first k (:func:`n_train`) answers train.
    """
    correct = np.asarray(correct, dtype=bool)
    conf = np.asarray(conf, dtype=np.float64)
    if correct.shape != conf.shape or correct.ndim != 1:
        raise ValueError(f"correct and conf must be 1-d and equally long, got {correct.shape}, {conf.shape}")
    order = split_permutation(len(conf), seed)
    cut = n_train(k, len(conf))
    train, test = order[:cut], order[cut:]
    return (correct[train], conf[train]), (correct[test], conf[test])


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
    conf = np.asarray(conf, dtype=np.float64)  # float64 thresholds must not be rounded to float32
    correct = np.asarray(correct, dtype=bool)
    if conf.shape != correct.shape or conf.ndim != 1 or conf.size == 0:
        raise ValueError(f"conf and correct must be 1-d, non-empty and equally long, "
                         f"got {conf.shape}, {correct.shape}")
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
    pooled = pooled_order(answers[["model", "dataset", "phrasing", "qid", "correct", signal]])
    out: Splits = {}
    for (model, dataset), group in pooled.groupby(["model", "dataset"], observed=True, sort=False):
        conf = group[signal].to_numpy(dtype=np.float64)
        missing = np.isnan(conf)
        if missing.all():
            continue
        if missing.any():
            raise ValueError(f"{signal} is missing for {missing.sum()} of {len(conf)} answers of "
                             f"model {model!r} on {dataset!r}")
        if len(conf) <= (1 if k == "half" else k):
            continue
        out[(str(model), str(dataset))] = train_test_split(group["correct"].to_numpy(), conf, k, seed)
    return out


def _mean_curves(parts: Sequence[tuple[np.ndarray, np.ndarray]], thresholds: np.ndarray,
                 penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Score and % abstained at each threshold, averaged unweighted over a model's datasets."""
    scores = np.mean([score(conf, correct, thresholds, penalty) for correct, conf in parts], axis=0)
    pct = np.mean([pct_abstained(conf, thresholds) for _, conf in parts], axis=0)
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
    return max(conf.max() for m in chosen for _, conf in parts_by_model[m])


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
    return claims.dataset_order(ds for _, ds in splits)


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


SIGNAL_NAMES = {"msp": "MSP", "max_logit": "Max Logit"}


def paper_layout(table: pd.DataFrame, k: K = 20, scope: str = "overall",
                 value: Literal["score", "pct_abstained"] = "score",
                 decimals: int | None = None) -> pd.DataFrame:
    """One run of :func:`abstention_table` in the paper's layout: a row per model (keys, display
    order); columns (Balanced | Conservative) × (Base, MSP, Max Logit) for ``value="score"``, or
    × (MSP, Max Logit) for ``"pct_abstained"`` (Base never abstains). NaN where a model lacks a signal.
    ``decimals``: round as printed (−0.0 shown as 0.0).
    """
    rows = table[(table["k"] == k) & (table["scope"] == scope)]
    if rows.empty:
        raise ValueError(f"no rows with k={k!r} and scope={scope!r} in the abstention table")
    wide = rows.pivot_table(index="model", columns=["penalty", "signal"], values=value, aggfunc="first")
    base = rows[rows["signal"] == "msp"].pivot_table(index="model", columns="penalty", values="base_score",
                                                     aggfunc="first")
    columns = {}
    for penalty in sorted(rows["penalty"].unique()):
        setting = PENALTY_NAMES.get(penalty, f"penalty {penalty}").capitalize()
        if value == "score":
            columns[(setting, "Base")] = base.get(penalty)
        for signal in SIGNALS:
            columns[(setting, SIGNAL_NAMES[signal])] = wide.get((penalty, signal))
    out = pd.DataFrame({c: s for c, s in columns.items() if s is not None}).reindex(model_order(wide.index))
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    if decimals is not None:
        out = out.round(decimals) + 0.0  # adding 0.0 turns -0.0 into 0.0
    return out.rename_axis(index="model")


def gain_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per k × scope × penalty × signal: how many of the paper's models score above, equal to or below
    Base with the learnt threshold, their mean gain (score − Base, points), and how many never abstain
    (t = −0.0001). Our scored models are left out (:func:`scored_abstention` shows them)."""
    table = claims.split_scored(table)[0]
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
    paper = claims.split_scored(table)[0]
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
    rows = summary[(summary["k"] == k) & (summary["scope"] == "overall") & (summary["signal"] == signal)]
    if rows.empty:
        raise ValueError(f"no overall rows with k={k!r} and signal={signal!r} in the abstention table")
    return bool((rows["n_loss"] == 0).all() and (rows["mean_gain"] > 0).all())


def _overall(table: pd.DataFrame, k: K, signal: str) -> pd.DataFrame:
    """The paper models' rows of the overall run of one k with the signal's thresholds."""
    paper = claims.split_scored(table)[0]
    rows = paper[(paper["k"] == k) & (paper["scope"] == "overall") & (paper["signal"] == signal)]
    if rows.empty:
        raise ValueError(f"no overall rows with k={k!r} and signal={signal!r} in the abstention table")
    return rows


def base_gain_correlation(table: pd.DataFrame, k: K = 20, penalty: float = 2,
                          signal: str = "msp") -> metrics.Correlation:
    """Correlation across the paper's models of Base and gain (score − Base) in the overall run of
    one k, penalty and signal (``metrics.correlation``: Pearson and Spearman)."""
    rows = _overall(table, k, signal)
    rows = rows[rows["penalty"] == penalty]
    return metrics.correlation(rows["base_score"], rows["score"] - rows["base_score"])


def abstention_summary(table: pd.DataFrame, k: K = 20, signal: str = "msp") -> dict[str, object]:
    """The numbers of the abstention chapter for one k, over the paper's models (scored models left
    out), keys suffixed by the penalty name (balanced, conservative):

    overall run with the signal's thresholds (:func:`gain_summary`): n_models_, n_gain_, n_equal_,
    n_loss_, mean_gain_; against Max Logit thresholds (:func:`signal_wins`): n_both_, msp_higher_;
    median_pct_ (median % abstained); best_model (highest Base) and best_pct_ (its % abstained);
    per-dataset runs summed over the datasets: ds_runs_, ds_gain_, ds_loss_. Then n_loss_total
    (model × penalty pairs below Base overall), larger_gain_rule (the penalty name with the larger
    mean gain), verdict ('holds' / 'does not hold in full', :func:`claim_holds`) and verdict_detail
    (the same with its reason: the model × rule pairs below Base, the rules without a positive mean
    gain), rho_base_gain
    and base_gain_words (Spearman ρ of Base and gain under the conservative rule, in words by
    ``claims.describe_correlation``).
    """
    summary = gain_summary(table)
    summary = summary[(summary["k"] == k) & (summary["signal"] == signal)]
    wins = signal_wins(table)
    wins = wins[(wins["k"] == k) & (wins["scope"] == "overall")].set_index("penalty")
    overall_rows = _overall(table, k, signal)
    best = overall_rows.loc[overall_rows["base_score"].idxmax(), "model"]
    out: dict[str, object] = {}
    for penalty, name in PENALTY_NAMES.items():
        row = summary[(summary["scope"] == "overall") & (summary["penalty"] == penalty)].iloc[0]
        for column in ("n_models", "n_gain", "n_equal", "n_loss"):
            out[f"{column}_{name}"] = int(row[column])
        out[f"mean_gain_{name}"] = float(row["mean_gain"])
        out[f"n_both_{name}"] = int(wins["n_models"].get(penalty, 0))
        out[f"msp_higher_{name}"] = int(wins["msp_higher"].get(penalty, 0))
        pct = overall_rows[overall_rows["penalty"] == penalty].set_index("model")["pct_abstained"]
        out[f"median_pct_{name}"] = float(pct.median())
        out[f"best_pct_{name}"] = float(pct[best])
        runs = summary[(summary["scope"] != "overall") & (summary["penalty"] == penalty)]
        out[f"ds_runs_{name}"] = int(runs["n_models"].sum())
        out[f"ds_gain_{name}"] = int(runs["n_gain"].sum())
        out[f"ds_loss_{name}"] = int(runs["n_loss"].sum())
    out["best_model"] = display_name(best)
    out["n_loss_total"] = sum(out[f"n_loss_{name}"] for name in PENALTY_NAMES.values())
    out["larger_gain_rule"] = max(PENALTY_NAMES.values(), key=lambda name: out[f"mean_gain_{name}"])
    out["verdict"] = "holds" if claim_holds(table, k, signal) else "does not hold in full"
    no_gain = [name for name in PENALTY_NAMES.values() if not out[f"mean_gain_{name}"] > 0]
    reasons = ([f"{out['n_loss_total']} model × rule pair(s) score below Base"] if out["n_loss_total"] else []) + (
        [f"the mean gain is not positive under the {claims.join_words(no_gain)} rule"] if no_gain else [])
    out["verdict_detail"] = (f"does not hold in full: {'; '.join(reasons)}" if reasons else
                             "holds: no model scores below Base and the mean gain is positive under every rule")
    rho = base_gain_correlation(table, k, 2, signal)
    out["rho_base_gain"] = rho.spearman_rho
    out["base_gain_words"] = claims.describe_correlation(rho.spearman_rho, rho.spearman_p)
    return out


def _covered(rows: pd.DataFrame) -> tuple[pd.Series, set[str]]:
    """Per model, the set of datasets its rows average over; and all datasets of those rows."""
    covered = rows.groupby(rows["model"].astype(str), sort=False)["datasets"].agg(
        lambda d: set(", ".join(d).split(", ")))
    return covered, set().union(*covered) if len(covered) else set()


def row_labels(table: pd.DataFrame, k: K = 20, scope: str = "overall") -> dict[str, str]:
    """Label per model of one run of :func:`abstention_table` (``claims.model_label``), with the
    datasets it covers noted, e.g. 'SmolLM2 (ours; arc, hellaswag only)', when they are fewer than
    the run's datasets."""
    covered, full = _covered(table[(table["k"] == k) & (table["scope"] == scope)])
    return {m: claims.model_label(m, "" if d == full else f"{', '.join(claims.dataset_order(d))} only")
            for m, d in covered.items()}


def scored_abstention(table: pd.DataFrame, k: K = 20, signal: str = "msp",
                      coverage_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our scored models in the overall run of one k with the signal's thresholds, next to the
    paper's: per penalty name (balanced, conservative) base_<name>, score_<name>, gain_<name>
    (score − Base) and pct_<name> (% abstained); datasets (what the run averages over, in words),
    complete (False when that is fewer datasets than the run has), name, n_paper and, given
    ``coverage_table`` (``claims.coverage``), covers; averaging = '' unless the run averages over
    fewer datasets than the model has answers for (too few answers for k on some), else words
    naming them (without ``coverage_table``: unless the run covers all the run's datasets)."""
    rows = table[(table["k"] == k) & (table["scope"] == "overall") & (table["signal"] == signal)]
    wide = rows.pivot_table(index="model", columns="penalty", aggfunc="first",
                            values=["base_score", "score", "pct_abstained"])
    covered, full = _covered(rows)
    out = pd.DataFrame({"model": wide.index.astype(str)})
    for penalty, name in PENALTY_NAMES.items():
        if ("score", penalty) in wide:
            out[f"base_{name}"] = wide[("base_score", penalty)].to_numpy()
            out[f"score_{name}"] = wide[("score", penalty)].to_numpy()
            out[f"gain_{name}"] = out[f"score_{name}"] - out[f"base_{name}"]
            out[f"pct_{name}"] = wide[("pct_abstained", penalty)].to_numpy()
    out["complete"] = [covered[m] == full for m in out["model"]]
    out["datasets"] = [claims.join_words(claims.dataset_order(covered[m])) for m in out["model"]]
    facts = claims.scored_facts(out, coverage_table)
    has = ({} if coverage_table is None else
           {m: set(d.split(", ")) for m, d in zip(coverage_table["model"], coverage_table["datasets"])})
    facts["averaging"] = ["" if has.get(m, full) == covered[m] else f"; its overall scores average over {d} only"
                          for m, d in zip(facts["model"], facts["datasets"])]
    return facts.set_index("model").loc[model_order(facts["model"])].reset_index()
