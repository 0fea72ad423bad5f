"""All answers a chapter shows: the authors' published rows and our own scored rows, one tidy table."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from helpers.data import schema
from helpers.data.published import load_published
from helpers.data.vocabulary import PAPER_MODELS


def select(answers: pd.DataFrame, models: Sequence[str] | None = None,
           datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows of the given models and datasets (None: all); unknown names raise ``ValueError``."""
    for column, wanted in (("model", models), ("dataset", datasets)):
        if wanted is None:
            continue
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        known = set(answers[column].astype(str).unique())
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise ValueError(f"parameter {column}s: unknown {column}(s) {unknown}; "
                             f"available: {sorted(known)}")
        answers = answers[answers[column].isin(wanted)]
    for column in ("model", "dataset"):
        if isinstance(answers[column].dtype, pd.CategoricalDtype):
            answers = answers.assign(**{column: answers[column].cat.remove_unused_categories()})
    return answers.reset_index(drop=True)


def load_answers(published_dir: str | Path | None = None, scores_dir: str | Path | None = None,
                 shots: int | None = 0, models: Sequence[str] | None = None,
                 datasets: Sequence[str] | None = None, include_scored: bool = True) -> pd.DataFrame:
    """The tidy table of published answers plus, when ``include_scored``, every cached scored answer
    (``source == 'scored'``), restricted to ``shots``, ``models`` and ``datasets``."""
    parts = [load_published(published_dir, shots=shots)]
    if include_scored:
        from helpers.data.scores import load_scored

        scored = load_scored(scores_dir)
        if shots is not None:
            scored = scored[scored.shots == shots]
        clash = sorted(set(scored["model"].astype(str)) & set(PAPER_MODELS))
        if clash:
            raise ValueError(f"scored answers in {scores_dir or 'the score cache'} use the paper's model "
                             f"key(s) {clash}; score them under another name (--name)")
        if len(scored):
            parts.append(scored[list(schema.COLUMNS)])
    return select(schema.combine(*parts) if len(parts) > 1 else parts[0], models, datasets)
