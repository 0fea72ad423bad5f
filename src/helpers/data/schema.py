"""The tidy per-answer table: one row per answer, the same columns whatever its source.

Published rows (the authors' result files) and scored rows (our own runs) share these columns;
scored rows may carry extra columns, which analysis code never relies on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data.vocabulary import DATASETS, GRADES, PHRASINGS, SOURCES

#: column -> dtype of the tidy table (categoricals keep 1.9 M rows small).
COLUMNS: dict[str, object] = {
    "source": pd.CategoricalDtype(list(SOURCES)),
    "model": "category",
    "dataset": pd.CategoricalDtype(list(DATASETS)),
    "phrasing": pd.CategoricalDtype(list(PHRASINGS)),
    "shots": np.int8,
    "qid": np.int64,
    "grade": pd.CategoricalDtype(list(GRADES)),
    "correct": bool,
    "msp": np.float32,
    "max_logit": np.float32,
}

#: the columns that identify one answer
KEY = ["source", "model", "dataset", "phrasing", "shots", "qid"]


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with the tidy columns first, in order and with their dtypes.

    Raises ``ValueError`` naming any missing column or any value outside a fixed vocabulary.
    Extra columns are kept, after the tidy ones.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"tidy table lacks column(s) {missing}")
    out = df.copy()
    for col, dtype in COLUMNS.items():
        if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None:
            bad = {str(v) for v in out[col].dropna().unique()} - set(dtype.categories)
            if bad:
                raise ValueError(f"column {col!r} has unknown value(s) {sorted(bad)}; "
                                 f"expected one of {list(dtype.categories)}")
        out[col] = out[col].astype(dtype)
    extra = [c for c in out.columns if c not in COLUMNS]
    return out[list(COLUMNS) + extra]


def combine(*tables: pd.DataFrame) -> pd.DataFrame:
    """Stack tidy tables (e.g. published and scored rows) into one, keeping the tidy dtypes."""
    return conform(pd.concat([conform(t) for t in tables], ignore_index=True))
