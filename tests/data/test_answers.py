"""Published and scored answers in one table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.data import answers as answers_mod
from helpers.data import schema


def scored_rows(model: str) -> pd.DataFrame:
    return schema.conform(pd.DataFrame({
        "source": "scored", "model": model, "dataset": "arc", "phrasing": "first", "shots": 0,
        "qid": [0, 1], "grade": ["correct", "wrong"], "correct": [True, False],
        "msp": np.float32([0.9, 0.4]), "max_logit": np.float32([20, 10]),
    }))


def test_scored_rows_join_the_published(published, monkeypatch):
    monkeypatch.setattr("helpers.data.scores.load_scored", lambda scores_dir=None: scored_rows("Tiny-test"))
    both = answers_mod.load_answers(models=["Tiny-test", "Mistral"], datasets=["arc"])
    assert both.groupby("model", observed=True).size().to_dict() == {"Mistral": 2 * 2590, "Tiny-test": 2}
    assert set(both.loc[both.model == "Tiny-test", "source"]) == {"scored"}
    assert len(answers_mod.load_answers(include_scored=False)) == len(published)


def test_scored_model_may_not_take_a_paper_key(published_dir, monkeypatch):
    monkeypatch.setattr("helpers.data.scores.load_scored", lambda scores_dir=None: scored_rows("Mistral"))
    with pytest.raises(ValueError, match=r"paper's model key\(s\) \['Mistral'\]"):
        answers_mod.load_answers(published_dir)


def test_unknown_selection_names_the_parameter(published):
    with pytest.raises(ValueError, match=r"parameter models: unknown model\(s\) \['Llama-9b'\]"):
        answers_mod.select(published, models=["Llama-9b"])
    with pytest.raises(ValueError, match=r"parameter datasets: unknown dataset\(s\) \['boolq'\]"):
        answers_mod.select(published, datasets=["boolq"])
    arc = answers_mod.select(published, datasets="arc")
    assert list(arc.dataset.cat.categories) == ["arc"] and len(arc) == 14 * 2 * 2590
