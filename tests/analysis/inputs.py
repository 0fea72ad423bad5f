"""Inputs shared by the analysis and report tests: small tidy tables built by hand, and the analysis
tables of the real data (computed once per test session, however many modules ask for them).

Import as ``from analysis.inputs import ...`` (``tests/`` is on ``sys.path``; this folder is a package).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from helpers.analysis import abstention, cells, scored
from helpers.data.schema import conform
from scored_rows import with_tiny as add_tiny


def graded(rows) -> pd.DataFrame:
    """Tidy table from (model, dataset, phrasing, grades 'cwu' string, msp list, max_logit list or None)."""
    parts = []
    for model, dataset, phrasing, grades, msp, max_logit in rows:
        grade = [{"c": "correct", "w": "wrong", "u": "unparseable"}[g] for g in grades]
        parts.append(pd.DataFrame({
            "source": "published", "model": model, "dataset": dataset, "phrasing": phrasing, "shots": 0,
            "qid": range(len(grades)), "grade": grade, "correct": [g == "c" for g in grades],
            "msp": msp, "max_logit": max_logit if max_logit is not None else np.nan,
        }))
    return conform(pd.concat(parts, ignore_index=True))


#: model A: arc first has an unparseable answer (conf 0); mmlu second is all correct; GPT: MSP only
SMALL = graded([
    ("A", "arc", "first", "ccwu", [0.9, 0.6, 0.6, 0.0], [10, 5, 7, 0]),
    ("A", "arc", "second", "cccw", [0.9, 0.8, 0.7, 0.6], [4, 3, 2, 1]),
    ("A", "mmlu", "first", "cwww", [0.5, 0.6, 0.7, 1.0], [1, 2, 3, 4]),
    ("A", "mmlu", "second", "cccc", [1.0, 0.9, 0.8, 0.7], [4, 3, 2, 1]),
    ("gpt-4-turbo", "arc", "first", "cwww", [0.9, 0.1, 0.2, 0.3], None),
    ("gpt-4-turbo", "arc", "second", "ccww", [0.9, 0.8, 0.7, 0.6], None),
    ("gpt-4-turbo", "mmlu", "first", "cccw", [1.0, 1.0, 0.9, 0.5], None),
    ("gpt-4-turbo", "mmlu", "second", "wwww", [0.5, 0.5, 0.5, 0.5], None),
])


def answers(rows) -> pd.DataFrame:
    """Tidy table of scored rows from (model, dataset, phrasing, qid, correct, msp[, max_logit]) tuples."""
    df = pd.DataFrame([r if len(r) == 7 else (*r, np.nan) for r in rows],
                      columns=["model", "dataset", "phrasing", "qid", "correct", "msp", "max_logit"])
    df["grade"] = np.where(df["correct"], "correct", "wrong")
    return conform(df.assign(source="scored", shots=0))


def synthetic() -> pd.DataFrame:
    """Abstention runs whose scores do not depend on the shuffle: model A is always right on arc
    (MSP 0.25) and always wrong on mmlu (MSP 0.5); model Z is always right with MSP 0.75 and Max
    Logit 9; A has no Max Logit. 10 questions x 2 phrasings (use k = 4). Values are exact in float32,
    so the grid is linspace(0, 0.75, 200) exactly. Both models are "ours" (not paper keys)."""
    rows = []
    for ph in ("first", "second"):
        for q in range(10):
            rows += [("A", "arc", ph, q, True, 0.25), ("A", "mmlu", ph, q, False, 0.5),
                     ("Z", "arc", ph, q, True, 0.75, 9.0), ("Z", "mmlu", ph, q, True, 0.75, 9.0)]
    return answers(rows)


def short_of_mmlu() -> pd.DataFrame:
    """:func:`synthetic` plus model N with arc (10 questions x 2 phrasings) and only 4 mmlu answers,
    too few for k = 4: its overall abstention run averages over arc alone."""
    rows = [("N", "arc", ph, q, q % 2 == 0, 0.6) for ph in ("first", "second") for q in range(10)]
    rows += [("N", "mmlu", "first", q, True, 0.6) for q in range(4)]
    return pd.concat([synthetic(), answers(rows)], ignore_index=True)


class RealTables:
    """The analysis tables of one tidy table, each computed on first use."""

    def __init__(self, answers: pd.DataFrame):
        self.answers = answers

    @cached_property
    def cells(self) -> pd.DataFrame:
        return cells.cell_table(self.answers)

    @cached_property
    def models(self) -> pd.DataFrame:
        """``cells.model_summary``, one row per model (not indexed)."""
        return cells.model_summary(self.answers, self.cells)

    @cached_property
    def calibration(self) -> pd.DataFrame:
        return cells.calibration_by_model(self.answers)

    @cached_property
    def abstention(self) -> pd.DataFrame:
        return abstention.abstention_table(self.answers)

    @cached_property
    def coverage(self) -> pd.DataFrame:
        return scored.coverage(self.answers)


_REAL: dict[str, tuple[pd.DataFrame, RealTables]] = {}


def real(published: pd.DataFrame, with_tiny: bool = False) -> RealTables:
    """The tables of the published answers (or of them plus the synthetic scored model 'Tiny-test',
    ``scored_rows.with_tiny``), shared across test modules; ``published`` is the session fixture."""
    key = "joined" if with_tiny else "published"
    if key not in _REAL or _REAL[key][0] is not published:
        _REAL[key] = (published, RealTables(add_tiny(published) if with_tiny else published))
    return _REAL[key][1]


#: per-cell rows (model, signal, AUROC, both p-values) for the significance counts and the facts built on them
CELLS = pd.DataFrame({
    "model": ["Yi-6b"] * 4 + ["Mistral"] * 2 + ["Tiny"] * 2,
    "signal": ["msp", "msp", "max_logit", "max_logit", "msp", "msp", "msp", "max_logit"],
    "auroc": [70.0, 45.0, 60.0, np.nan, 55.0, 49.0, 20.0, 10.0],
    # one-sided p is half the two-sided one when AUROC > 50, about 1 - half when below
    "mw_p_two_sided": [1e-6, 1e-5, 1.5e-4, np.nan, 0.01, 0.5, 1e-9, 1e-9],
    "mw_p_one_sided": [5e-7, 1 - 5e-6, 7.5e-5, np.nan, 0.005, 0.75, 1.0, 1.0],
})
