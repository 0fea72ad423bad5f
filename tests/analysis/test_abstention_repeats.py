"""helpers.analysis.abstention_repeats: every seed's row equals helpers.abstention's run on that
seed's split (both counting paths), hand cases of the summaries, then the real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.analysis import abstention as ab
from helpers.analysis import abstention_repeats as ar
from helpers.data.schema import conform

MODELS = ["Llama-7b", "Mistral", "Yi-6b", "gpt-4-turbo"]


def synthetic(seed: int = 5) -> pd.DataFrame:
    """Paper-model keys on arc (qids 0..39 and 500..519: two blocks) and mmlu (30 questions), both
    phrasings; MSP on a coarse grid (ties with the threshold grid), unparseable answers with
    confidence 0, GPT without Max Logit, and one negative Max Logit (below Base's −0.0001)."""
    rng = np.random.default_rng(seed)
    qids = {"arc": np.r_[np.arange(40), np.arange(500, 520)], "mmlu": np.arange(30)}
    parts = []
    for m, model in enumerate(MODELS):
        for dataset, q in qids.items():
            for phrasing in ("first", "second"):
                n = len(q)
                correct = rng.random(n) < 0.35 + 0.15 * m
                msp = np.clip(0.3 + 0.4 * correct + rng.normal(0, 0.25, n), 0, 1).round(1)
                grade = np.where(correct, "correct", "wrong").astype(object)
                unparseable = (~correct) & (rng.random(n) < 0.1)
                grade[unparseable] = "unparseable"
                msp[unparseable] = 0
                logit = (5 + 20 * msp + rng.normal(0, 2, n)).round(2)
                logit[unparseable] = 0
                if model == "Mistral" and dataset == "mmlu" and phrasing == "first":
                    logit[3] = -0.5
                parts.append(pd.DataFrame({
                    "source": "published", "model": model, "dataset": dataset, "phrasing": phrasing, "shots": 0,
                    "qid": q, "grade": grade, "correct": correct, "msp": msp,
                    "max_logit": np.nan if model == "gpt-4-turbo" else logit}))
    return conform(pd.concat(parts, ignore_index=True))


@pytest.fixture(scope="module")
def small():
    return synthetic()


def reference(answers, signal, k, penalty, seed, datasets=None):
    splits = ab.pooled_splits(answers, signal, k, seed)
    return ab.abstention_scores(answers, signal, k, penalty, datasets=datasets, splits=splits)


def assert_rows_equal(repeats, answers, k, seeds, signals=("msp", "max_logit"), datasets=None):
    for seed in seeds:
        for signal in signals:
            for penalty in (1, 2):
                want = reference(answers, signal, k, penalty, seed, datasets)
                got = repeats[(repeats["seed"] == seed) & (repeats["signal"] == signal)
                              & (repeats["penalty"] == penalty) & (repeats["k"] == k)].reset_index(drop=True)
                assert got["model"].tolist() == want["model"].tolist()
                for column in ("threshold", "base_score", "score", "pct_abstained"):
                    np.testing.assert_array_equal(got[column].to_numpy(), want[column].to_numpy(),
                                                  err_msg=f"{column}, seed {seed}, {signal}, penalty {penalty}")
                np.testing.assert_array_equal(got["gain"], got["score"] - got["base_score"])


@pytest.mark.parametrize("path", ["items", "mask"])
@pytest.mark.parametrize("k", [5, 20, "half"])
def test_each_seed_equals_abstention_scores_on_its_split(small, monkeypatch, k, path):
    monkeypatch.setattr(ar, "_ITEMS_UP_TO", 10**9 if path == "items" else 0)
    seeds = [0, 1, 17, ab.SEED]
    repeats = ar.repeated_split_scores(small, ks=(k,), seeds=seeds)
    assert len(repeats) == len(seeds) * 2 * (4 + 3)   # penalties × (MSP models + Max Logit models)
    assert_rows_equal(repeats, small, k, seeds)


def test_one_dataset_scope_equals_the_per_dataset_run(small):
    repeats = ar.repeated_split_scores(small, ks=(10,), seeds=[2, 3], datasets=["mmlu"])
    assert_rows_equal(repeats, small, 10, [2, 3], datasets=["mmlu"])


def test_a_partly_scored_model_follows_the_same_rules(small):
    # our model: arc only, and Max Logit far above the paper models' (it must not move their grid)
    own = small[(small["model"] == "Mistral") & (small["dataset"] == "arc")].assign(
        model="Own-model", source="scored", max_logit=lambda t: t["max_logit"] + 100)
    table = conform(pd.concat([small, own], ignore_index=True))
    repeats = ar.repeated_split_scores(table, ks=(20,), seeds=[4, 9])
    assert "Own-model" in set(repeats["model"])
    assert_rows_equal(repeats, table, 20, [4, 9])


def test_sweep_is_the_repeats_of_each_k(small):
    sweep = ar.k_sweep_scores(small, ks=(5, "half"), seeds=[1, 2])
    assert list(dict.fromkeys(sweep["k"])) == [5, "half"]
    alone = ar.repeated_split_scores(small, ks=("half",), seeds=[1, 2])
    pd.testing.assert_frame_equal(sweep[sweep["k"] == "half"].reset_index(drop=True), alone)
    bands = ar.k_sweep_bands(sweep)
    first = bands[(bands["signal"] == "msp") & (bands["penalty"] == 1) & (bands["model"] == "Mistral")]
    assert first["k"].tolist() == [5, "half"]


def test_input_errors(small):
    with pytest.raises(ValueError, match="seeds"):
        ar.repeated_split_scores(small, seeds=[])
    with pytest.raises(ValueError, match="signal"):
        ar.repeated_split_scores(small, seeds=[1], signals=("entropy",))


# --- summaries by hand ------------------------------------------------------------------------------

def hand_scores():
    gains = [-1.0, 0.0, 1.0, 2.0, 3.0]
    return pd.DataFrame({
        "k": 20, "seed": range(5), "signal": "msp", "penalty": 1, "model": "Mistral",
        "threshold": [ab.BASE_THRESHOLD, 0.5, 0.6, 0.7, 0.8], "base_score": 10.0,
        "score": [10 + g for g in gains], "pct_abstained": [0.0, 3.0, 12.0, 30.0, 50.0], "gain": gains})


def test_gain_bands_by_hand():
    bands = ar.gain_bands(hand_scores()).iloc[0]
    assert bands["n_splits"] == 5 and bands["median_gain"] == 1.0
    # linear quantiles of (-1, 0, 1, 2, 3): 5% at position 0.2 -> -0.8, 95% at 3.8 -> 2.8
    assert bands["gain_lo"] == pytest.approx(-0.8) and bands["gain_hi"] == pytest.approx(2.8)
    assert bands["share_gain_positive"] == 0.6 and bands["share_gain_negative"] == 0.2
    assert bands["share_never_abstain"] == 0.2
    assert bands["median_pct_abstained"] == 12.0 and bands["median_score"] == 11.0


def test_paper_gain_quantile_by_hand():
    paper = pd.DataFrame({"k": [20], "scope": ["overall"], "penalty": [1], "model": ["Mistral"],
                          "signal": ["msp"], "base_score": [10.0], "score": [12.0]})
    bands = ar.gain_bands(hand_scores(), paper=paper).iloc[0]
    # gain 2: below it -1, 0, 1 (3 of 5), equal 1 of 5 -> 0.6 + 0.1
    assert bands["paper_gain"] == 2.0 and bands["paper_gain_quantile"] == pytest.approx(0.7)


def test_gain_by_abstention_by_hand():
    table = ar.gain_by_abstention(hand_scores(), edges=(0, 1e-9, 10, 100))
    assert table["bin"].tolist() == [0, 1, 2]
    assert table["n_splits"].tolist() == [1, 1, 3]
    assert table["share_splits"].tolist() == pytest.approx([0.2, 0.2, 0.6])
    assert table["median_gain"].tolist() == [-1.0, 0.0, 2.0]
    assert table.iloc[2]["share_gain_positive"] == 1.0
    assert (table.iloc[1]["pct_lo"], table.iloc[1]["pct_hi"]) == (1e-9, 10)


# --- the real data ------------------------------------------------------------------------------

def test_real_paper_seed_reproduces_the_papers_run(published):
    repeats = ar.repeated_split_scores(published, ks=(20,), seeds=[ab.SEED])
    for signal in ("msp", "max_logit"):
        for penalty in (1, 2):
            want = ab.abstention_scores(published, signal, 20, penalty)
            got = repeats[(repeats["signal"] == signal) & (repeats["penalty"] == penalty)].reset_index(drop=True)
            for column in ("threshold", "base_score", "score", "pct_abstained"):
                np.testing.assert_array_equal(got[column].to_numpy(), want[column].to_numpy())
    # Llama 3 70B's thresholds of the paper (METHODS §8.7): never abstain balanced, 0.9999 conservative
    llama = repeats[(repeats["model"] == "Llama3-70b") & (repeats["signal"] == "msp")].set_index("penalty")
    assert llama.at[1, "threshold"] == ab.BASE_THRESHOLD
    assert llama.at[2, "threshold"] == pytest.approx(0.9999, abs=1e-4)


@pytest.fixture(scope="module")
def real_repeats(published):
    return ar.repeated_split_scores(published, ks=(20,), seeds=range(100))


def test_real_gain_bands(real_repeats, published):
    assert set(real_repeats["seed"]) == set(range(100))
    bands = ar.gain_bands(real_repeats).set_index(["signal", "penalty", "model"])
    assert len(bands) == 2 * (14 + 12)
    assert (bands["gain_lo"] <= bands["median_gain"]).all() and (bands["median_gain"] <= bands["gain_hi"]).all()
    falcon = bands.loc[("msp", 1, "Falcon-7b")]
    # Falcon 7B is mostly wrong: abstaining gains ~40 points whichever 20 answers train
    assert falcon["share_gain_positive"] == 1 and 35 < falcon["median_gain"] < 45
    # the strong models' gain hangs on the draw: positive in only part of the splits
    for model in ("Mixtral", "Solar", "gpt-4-turbo"):
        assert 0.3 < bands.loc[("msp", 1, model), "share_gain_positive"] < 0.95
    assert (bands.xs(2, level="penalty")["median_gain"] > 0).all()
    curve = ar.gain_by_abstention(real_repeats)
    per_model = curve.groupby(["signal", "penalty", "model"])["share_splits"].sum()
    np.testing.assert_allclose(per_model, 1.0)
