"""The MSP against the option-likelihood signal (``analysis.option_signal``) and the optional
signal columns of the tidy table (``data.schema.OPTION_COLUMNS``)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from helpers.analysis import option_signal
from helpers.data import schema


def _rows(n: int = 40, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"source": "scored", "model": "m", "dataset": rng.choice(["arc", "mmlu"], n),
                          "phrasing": "first", "shots": 0, "qid": np.arange(n), "msp": rng.random(n),
                          "max_logit": rng.random(n) * 30})
    frame["grade"] = np.where(rng.random(n) < 0.4, "correct", "wrong")
    frame["correct"] = frame.grade == "correct"
    for s in ("option_likelihood", "option_likelihood_norm"):
        frame[s] = rng.random(n)
        frame[f"correct_{s}"] = rng.random(n) < 0.5
        frame[f"grade_{s}"] = np.where(frame[f"correct_{s}"], "correct", "wrong")
    return frame


def _auroc_by_pairs(conf, correct) -> float:
    pos, neg = conf[correct], conf[~correct]
    wins = sum((p > q) + 0.5 * (p == q) for p, q in itertools.product(pos, neg))
    return 100 * wins / (len(pos) * len(neg))


def test_each_signal_is_judged_by_its_own_answers():
    rows = _rows()
    table = option_signal.signal_comparison(rows)
    assert table[["dataset", "signal"]].values.tolist() == [
        [d, s] for d in ("arc", "mmlu") for s in ("msp", "option_likelihood", "option_likelihood_norm")]
    for _, r in table.iterrows():
        cell = rows[rows.dataset == r.dataset]
        correct = cell["correct" if r.signal == "msp" else f"correct_{r.signal}"].to_numpy(bool)
        conf = cell[r.signal].to_numpy()
        assert r.n == len(cell)
        assert r.accuracy == pytest.approx(100 * correct.mean())
        assert r.auroc == pytest.approx(_auroc_by_pairs(conf, correct))
    means = option_signal.signal_means(table)
    want = table[table.signal == "msp"].accuracy.mean()
    assert means.set_index("signal").loc["msp", "accuracy"] == pytest.approx(want)


def test_rows_without_the_signal_are_left_out():
    rows = schema.combine(_rows(10), _rows(6).drop(columns=list(schema.OPTION_COLUMNS)).assign(qid=lambda f: f.qid + 100))
    assert rows.option_likelihood.isna().sum() == 6 and rows.correct_option_likelihood.isna().sum() == 6
    table = option_signal.signal_comparison(rows)
    assert table.groupby("signal").n.sum().tolist() == [10, 10, 10]
    bare = schema.conform(_rows(5).drop(columns=list(schema.OPTION_COLUMNS)))
    assert not schema.has_signal(bare, "option_likelihood") and "option_likelihood" not in bare
    assert option_signal.signal_comparison(bare).empty
