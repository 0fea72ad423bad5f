"""What the data hold: datasets, answer counts, accuracy and unparseable shares per model × dataset."""

from __future__ import annotations

import pandas as pd

from .claims import model_order
from .datasets import HUB
from .table import DATASETS

#: display names and options per question of the five datasets (METHODS §2)
DATASET_INFO = {
    "arc": ("ARC-Challenge", "3–5"),
    "hellaswag": ("HellaSwag", "4"),
    "mmlu": ("MMLU", "4"),
    "truthfulqa": ("TruthfulQA", "2–13"),
    "winogrande": ("WinoGrande", "2"),
}


def dataset_table(answers: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: name, Hugging Face id/config/splits the paper used, options per question, and the
    number of distinct questions the answers cover (``qid`` values)."""
    questions = answers.groupby("dataset", observed=True)["qid"].nunique()
    rows = []
    for key in DATASETS:
        if key not in questions:
            continue
        spec = HUB[key]
        name, options = DATASET_INFO[key]
        rows.append({"dataset": key, "name": name,
                     "source": spec.hf_id + (f" / {spec.config}" if spec.config else ""),
                     "splits": " + ".join(spec.splits), "options": options, "questions": int(questions[key])})
    return pd.DataFrame(rows)


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


def accuracy_grid(cells: pd.DataFrame) -> pd.DataFrame:
    """Accuracy (percent) per model × dataset, mean of the two phrasings, with the mean over the
    model's 10 cells as ``overall`` (METHODS §8.1)."""
    grid = per_model_dataset(cells, "accuracy")
    return grid.assign(overall=grid.mean(axis=1))
