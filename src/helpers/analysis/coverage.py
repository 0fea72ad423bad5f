"""What the data hold: answer counts, accuracy and unparseable shares per model × dataset, and which
split a scored model's questions came from."""

from __future__ import annotations

import pandas as pd

from helpers.analysis import metrics
from helpers.data.vocabulary import DATASET_REGISTRY, DATASETS, dataset_order, is_scored, model_order, model_table


def question_counts(answers: pd.DataFrame) -> pd.Series:
    """Distinct questions (``qid`` values) per dataset present, in the paper's order."""
    counts = answers.groupby("dataset", observed=True)["qid"].nunique()
    return counts.reindex([d for d in DATASETS if d in counts.index]).astype(int)


def per_model_dataset(cells: pd.DataFrame, column: str, how: str = "mean") -> pd.DataFrame:
    """Model × dataset grid of a cell column over the MSP cells (every model has them), aggregated
    over the two phrasings with ``how`` ('mean' as the paper's per-dataset tables, or 'sum')."""
    msp = cells[cells["signal"] == "msp"]
    grid = msp.pivot_table(index="model", columns="dataset", values=column, aggfunc=how)
    return grid.reindex(index=model_order(grid.index), columns=[d for d in DATASETS if d in grid.columns])


def answer_counts(cells: pd.DataFrame) -> pd.DataFrame:
    """Answers per model × dataset (both phrasings; 0 where a model has none), with a total column."""
    grid = per_model_dataset(cells, "n", "sum").fillna(0).astype(int)
    return grid.assign(total=grid.sum(axis=1))


def unparseable_pct(cells: pd.DataFrame) -> pd.DataFrame:
    """Percentage of answers the paper's parser could not read, per model × dataset and overall
    (pooled over both phrasings; these count as wrong with confidence 0 everywhere)."""
    n = per_model_dataset(cells, "n", "sum")
    bad = per_model_dataset(cells, "n_unparseable", "sum")
    grid = 100 * bad / n
    return grid.assign(overall=100 * bad.sum(axis=1) / n.sum(axis=1))


def unparseable_overall_pct(cells: pd.DataFrame) -> float:
    """Percentage of all answers (every model, dataset and phrasing, pooled; MSP cells) that the
    paper's parser could not read; NaN without answers."""
    msp = cells[cells["signal"] == "msp"]
    n = msp["n"].sum()
    return float(100 * msp["n_unparseable"].sum() / n) if n else float("nan")


def share_equal_pct(answers: pd.DataFrame, value: float = 1.0, signal: str = "msp") -> float:
    """Percentage of all answers whose ``signal`` equals ``value`` exactly (``metrics.share_equal``),
    e.g. MSP == 1.0 in single precision."""
    return 100 * metrics.share_equal(answers[signal].to_numpy(), value)


def share_above_pct(answers: pd.DataFrame, threshold: float, signal: str = "msp") -> pd.DataFrame:
    """Per model (display order): its family (``vocabulary.model_table``; 'ours' for ours) and the percentage
    of its answers whose ``signal`` is strictly above ``threshold``."""
    model = answers["model"].astype(str)
    pct = 100 * (answers[signal] > threshold).groupby(model).mean()
    families = model_table().set_index("model")["family"]
    order = model_order(pct.index)
    return pd.DataFrame({"model": order, "family": [families.get(m, "ours") for m in order],
                         "pct_above": pct.reindex(order).to_numpy()})


def accuracy_grid(cells: pd.DataFrame) -> pd.DataFrame:
    """Accuracy (percent) per model × dataset, mean of the two phrasings, with the mean over the
    model's 10 cells as ``overall`` (METHODS §8.1)."""
    grid = per_model_dataset(cells, "accuracy")
    return grid.assign(overall=grid.mean(axis=1))


def _split(question_id: str) -> str:
    """The split of a question id ``{dataset}/{split}/{key}`` (``helpers.data.datasets``)."""
    parts = str(question_id).split("/")
    if len(parts) < 3:
        raise ValueError(f"question_id {question_id!r} is not of the form dataset/split/key")
    return parts[1]


def question_splits(answers: pd.DataFrame, within: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per scored model × dataset of ``answers`` (scored rows with their ``question_id``, as
    ``scores.load_scored`` gives them): n_questions (distinct positions ``qid``), splits (the splits
    its questions came from), paper_splits (the splits the paper used, METHODS §2) and same_split:
    True when every question came from the paper's splits, so that position *i* in the reproduced
    shuffled order is the paper's question *i* (False e.g. for HellaSwag read from its validation
    split, where the paper used the train split). ``within``: keep only the (model, dataset) pairs
    that table has (e.g. a chapter's selection)."""
    columns = ["model", "dataset", "n_questions", "splits", "paper_splits", "same_split"]
    scored = answers[answers["model"].astype(str).map(is_scored).to_numpy(dtype=bool)]
    if within is not None:
        pairs = set(zip(within["model"].astype(str), within["dataset"].astype(str)))
        keep = [pair in pairs for pair in zip(scored["model"].astype(str), scored["dataset"].astype(str))]
        scored = scored[keep]
    if scored.empty:
        return pd.DataFrame(columns=columns)
    if "question_id" not in scored:
        raise ValueError("scored answers lack the column 'question_id' (dataset/split/key)")
    scored = scored.assign(model=scored["model"].astype(str), dataset=scored["dataset"].astype(str),
                           split=scored["question_id"].map(_split))
    rows = []
    for (model, dataset), part in scored.groupby(["model", "dataset"], sort=False):
        splits = sorted(set(part["split"]))
        paper = list(DATASET_REGISTRY[dataset].splits)
        rows.append((model, dataset, part["qid"].nunique(), splits, paper, set(splits) <= set(paper)))
    out = pd.DataFrame(rows, columns=columns)
    order = {m: i for i, m in enumerate(model_order(out["model"]))}
    ds = {d: i for i, d in enumerate(dataset_order(out["dataset"]))}
    return out.sort_values(["model", "dataset"], key=lambda c: c.map(order if c.name == "model" else ds),
                           kind="stable").reset_index(drop=True)


def same_questions(answers: pd.DataFrame, model: str) -> pd.DataFrame:
    """The (dataset, qid) pairs ``model`` (a scored model) answered on the datasets where its
    positions index the paper's questions (:func:`question_splits` ``same_split``), to join with the
    published answers; columns dataset (str), qid."""
    splits = question_splits(answers[answers["model"].astype(str) == model])
    aligned = splits.loc[splits["same_split"], "dataset"].tolist()
    rows = answers[(answers["model"].astype(str) == model) & answers["dataset"].astype(str).isin(aligned)]
    pairs = pd.DataFrame({"dataset": rows["dataset"].astype(str), "qid": rows["qid"].to_numpy()})
    return pairs.drop_duplicates().reset_index(drop=True)


def on_same_questions(answers: pd.DataFrame, scored: pd.DataFrame, model: str) -> pd.DataFrame:
    """The rows of ``answers`` (every model) on the questions ``model`` answered, on the datasets
    where its positions index the paper's questions (:func:`same_questions` of the scored rows
    ``scored``, which carry ``question_id``); dtypes and columns of ``answers`` kept."""
    pairs = same_questions(scored, model)
    keys = pd.MultiIndex.from_arrays([pairs["dataset"], pairs["qid"]])
    rows = pd.MultiIndex.from_arrays([answers["dataset"].astype(str), answers["qid"]])
    out = answers[rows.isin(keys)]
    if isinstance(out["model"].dtype, pd.CategoricalDtype):
        out = out.assign(model=out["model"].cat.remove_unused_categories())
    return out.reset_index(drop=True)
