"""Answers to the chapters' exercises in a form a check can compare without showing them.

A chapter's exercise names the variables its solution computes (the ``answer`` metadata of the
cell tagged ``exercise``). Running the chapter records their values (:func:`canonical_answer`);
the students' checks compare the digest of a student's value with the digest of the solution's
(:func:`answer_digest`), so a check can be run without revealing the answer it checks.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

#: decimals to which numbers are rounded before an answer is compared
ANSWER_DECIMALS = 2


def canonical_answer(value: object) -> object:
    """``value`` as plain JSON data: numbers as floats, NaN as None, sequences, arrays and indexes
    as lists, Series as {label: value}, DataFrames as {column: {row: value}}, mapping keys as strings.

    >>> canonical_answer(pd.Series([1, 2.5], index=["a", "b"]))
    {'a': 1.0, 'b': 2.5}
    >>> canonical_answer((np.int64(3), float("nan"), "x", True))
    [3.0, None, 'x', True]
    """
    if isinstance(value, pd.DataFrame):
        return {str(c): canonical_answer(value[c]) for c in value.columns}
    if isinstance(value, pd.Series):
        return {str(k): canonical_answer(v) for k, v in value.items()}
    if isinstance(value, Mapping):
        return {str(k): canonical_answer(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray, pd.Index)):
        return [canonical_answer(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return None if math.isnan(float(value)) else float(value)
    if value is None or value is pd.NA or isinstance(value, str):
        return None if value is pd.NA else value
    raise TypeError(f"an exercise answer must be numbers, strings, booleans, sequences, mappings, Series or "
                    f"DataFrames, not {type(value).__name__}: {value!r:.80}")


def _rounded(value: object, decimals: int) -> object:
    if isinstance(value, dict):
        return {k: _rounded(v, decimals) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, decimals) for v in value]
    if isinstance(value, float):
        return round(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return value


def answer_digest(value: object, decimals: int = ANSWER_DECIMALS) -> str:
    """A short SHA-256 digest of ``value`` (:func:`canonical_answer`, numbers rounded to
    ``decimals``): equal for answers that agree to that many decimals, whatever their types.

    >>> answer_digest(np.float64(12.3449)) == answer_digest(12.34)
    True
    >>> answer_digest(3) == answer_digest(3.0), answer_digest(3) == answer_digest(3.01)
    (True, False)
    """
    text = json.dumps(_rounded(canonical_answer(value), decimals), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
