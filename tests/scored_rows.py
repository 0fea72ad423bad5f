"""A synthetic scored model made from published rows: part of one paper model's answers, relabelled
``source='scored'``, with perturbed confidences. Used to check that a model of ours shows up next
to the paper's models without changing any of the paper's numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data.schema import combine, conform

TINY = "Tiny-test"


def tiny_scored(published: pd.DataFrame, template: str = "Mistral", seed: int = 0) -> pd.DataFrame:
    """``template``'s answers on arc (all) and mmlu (qid < 600 only) as the scored model 'Tiny-test':
    MSP + N(0, 0.05) clipped to [0, 1] (0 kept for unparseable answers); Max Logit + 50, above every
    published Max Logit, so that it would move the threshold grid if it were allowed to."""
    keep = (published["model"] == template) & (
        (published["dataset"] == "arc") | ((published["dataset"] == "mmlu") & (published["qid"] < 600)))
    rows = published[keep]
    rng = np.random.default_rng(seed)
    msp = np.clip(rows["msp"].to_numpy(np.float64) + rng.normal(0, 0.05, len(rows)), 0, 1)
    msp[rows["grade"].to_numpy() == "unparseable"] = 0
    return conform(rows.assign(source="scored", model=TINY, msp=msp.astype(np.float32),
                               max_logit=rows["max_logit"] + 50))


def with_tiny(published: pd.DataFrame) -> pd.DataFrame:
    """The published table with 'Tiny-test' appended."""
    return combine(published, tiny_scored(published))
