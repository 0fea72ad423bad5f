"""The tidy per-answer table: one row per answer, the same columns whatever its source.

Published rows (the authors' result files) and scored rows (our own runs) share these columns;
scored rows may carry extra columns, which analysis code never relies on. Confidences keep the
authors' precision (float64: their files hold up to 17 significant digits). Each signal has its
own grade: ``grade``/``correct`` go with the MSP, ``grade_max_logit``/``correct_max_logit`` with
the Max Logit, as the authors graded each signal's cells by the file holding it (METHODS §5, §6;
they differ on six Falcon-7b answers). A table without the Max Logit grade columns (our scored
rows, where both come from one answer) gets them from ``grade``/``correct``.

Scored rows may also carry the option-likelihood signals (``vocabulary.OPTION_SIGNALS``), each with
its own grade and correctness (the option it chooses): :data:`OPTION_COLUMNS`, additive, NaN (and
``<NA>`` correctness) where absent, e.g. for answers scored before the signal existed or by a backend
that cannot compute it; published rows never have them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data.vocabulary import DATASETS, GRADES, OPTION_SIGNALS, PHRASINGS, SOURCES

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
    "msp": np.float64,
    "max_logit": np.float64,
    "grade_max_logit": pd.CategoricalDtype(list(GRADES)),
    "correct_max_logit": bool,
}
#: optional columns of scored rows: each option-likelihood signal, its grade and its correctness
OPTION_COLUMNS: dict[str, object] = {column: dtype for signal in OPTION_SIGNALS for column, dtype in (
    (signal, np.float64), (f"grade_{signal}", pd.CategoricalDtype(list(GRADES))), (f"correct_{signal}", "boolean"))}
#: signal -> the (grade, correct) columns that go with it
GRADE_COLUMNS = {"msp": ("grade", "correct"), "max_logit": ("grade_max_logit", "correct_max_logit"),
                 **{s: (f"grade_{s}", f"correct_{s}") for s in OPTION_SIGNALS}}


def grade_columns(frame: pd.DataFrame, signal: str) -> tuple[str, str]:
    """The (grade, correct) columns of ``frame`` that go with ``signal`` (:data:`GRADE_COLUMNS`),
    or ('grade', 'correct') for a frame without per-signal grades."""
    grade, correct = GRADE_COLUMNS[signal]
    return (grade, correct) if correct in frame else ("grade", "correct")

#: the columns that identify one answer
KEY = ["source", "model", "dataset", "phrasing", "shots", "qid"]


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with the tidy columns first, in order and with their dtypes.

    Raises ``ValueError`` naming any missing column or any value outside a fixed vocabulary.
    Extra columns are kept, after the tidy ones.
    """
    out = df.copy()
    if "grade_max_logit" not in out and "correct_max_logit" not in out and {"grade", "correct"} <= set(out):
        out["grade_max_logit"], out["correct_max_logit"] = out["grade"], out["correct"]
    missing = [c for c in COLUMNS if c not in out.columns]
    if missing:
        raise ValueError(f"tidy table lacks column(s) {missing}")
    for col, dtype in COLUMNS.items():
        if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None:
            bad = {str(v) for v in out[col].dropna().unique()} - set(dtype.categories)
            if bad:
                raise ValueError(f"column {col!r} has unknown value(s) {sorted(bad)}; "
                                 f"expected one of {list(dtype.categories)}")
        out[col] = out[col].astype(dtype)
    if any(c in out for c in OPTION_COLUMNS):
        for col, dtype in OPTION_COLUMNS.items():
            out[col] = out[col].astype(dtype) if col in out else pd.Series(None, index=out.index, dtype=dtype)
    extra = [c for c in out.columns if c not in COLUMNS]
    return out[list(COLUMNS) + extra]


def has_signal(frame: pd.DataFrame, signal: str) -> bool:
    """True if ``frame`` holds values of ``signal`` (a tidy or optional signal column, not all NaN)."""
    return signal in frame and bool(frame[signal].notna().any())


def combine(*tables: pd.DataFrame) -> pd.DataFrame:
    """Stack tidy tables (e.g. published and scored rows) into one, keeping the tidy dtypes."""
    return conform(pd.concat([conform(t) for t in tables], ignore_index=True))
