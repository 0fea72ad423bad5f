"""helpers.analysis.abstention, Q&A with abstention (METHODS §8.7): hand-computed cases of every step,
then the real data against the paper's printed tables (Table "score", the pct-abstained table, the
k = 10 and k = half tables and the per-dataset tables, all at c176fdd)."""

from __future__ import annotations

import random
import re

import numpy as np
import pandas as pd
import pytest

from analysis.inputs import answers as _answers
from analysis.inputs import real, short_of_mmlu
from analysis.inputs import synthetic as synthetic_answers
from helpers.analysis import abstention as ab
from helpers.analysis import scored
from helpers.data.method import SEED
from scored_rows import TINY

# ---------------------------------------------------------------------------------------------
# pooling order


def test_block_rank_follows_the_string_order_of_file_names():
    starts = np.arange(0, 6000, 500)
    names = sorted(f"q{s}to{s + 500}_no_abst_norm_logits" for s in starts)
    # hand-written: what `ls` shows for one model, dataset and signal
    assert [n.split("to")[0] for n in names] == [
        "q0", "q1000", "q1500", "q2000", "q2500", "q3000", "q3500", "q4000", "q4500", "q5000", "q500", "q5500"]
    ranks = ab.block_rank(starts + 7)  # any qid inside the block
    assert [f"q{s}" for s in starts[np.argsort(ranks)]] == [n.split("to")[0] for n in names]


def test_block_rank_puts_a_longer_start_before_its_prefix():
    # 'q10000to' < 'q1000to' because '0' sorts before 't'
    assert list(ab.block_rank([1000, 10000, 0])) == [2, 1, 0]


def test_block_rank_rejects_negative_qids():
    with pytest.raises(ValueError, match="qid"):
        ab.block_rank([3, -1])


def test_pooled_order_interleaves_phrasings_block_by_block():
    rows = [("M", "arc", ph, q, True, 0.5) for ph in ("second", "first") for q in (1001, 501, 1, 0, 1000)]
    pooled = ab.pooled_order(_answers(rows[::-1]))
    got = list(zip(pooled["phrasing"].astype(str), pooled["qid"]))
    assert got == [("first", 0), ("first", 1), ("second", 0), ("second", 1),
                   ("first", 1000), ("first", 1001), ("second", 1000), ("second", 1001),
                   ("first", 501), ("second", 501)]


# ---------------------------------------------------------------------------------------------
# split


def test_split_permutation_is_the_shuffle_of_the_zipped_answers():
    labels = [i % 3 == 0 for i in range(37)]
    conf = [i / 37 for i in range(37)]
    combined = list(zip(labels, conf))
    random.seed(SEED)
    random.shuffle(combined)
    order = ab.split_permutation(37)
    assert combined == [(labels[i], conf[i]) for i in order]
    (train_conf, train_correct), (test_conf, test_correct) = ab.train_test_split(conf, labels, 20)
    assert train_conf.dtype == np.float64 and train_correct.dtype == bool
    assert list(zip(train_correct, train_conf)) == combined[:20]
    assert list(zip(test_correct, test_conf)) == combined[20:]
    assert (len(train_conf), len(test_conf)) == (20, 17)


def test_split_permutation_depends_only_on_size_and_seed():
    assert np.array_equal(ab.split_permutation(100), ab.split_permutation(100))
    assert sorted(ab.split_permutation(100)) == list(range(100))
    assert not np.array_equal(ab.split_permutation(100), ab.split_permutation(100, seed=1))


@pytest.mark.parametrize("k, n, expected", [(20, 1634, 20), (10, 12000, 10), ("half", 1634, 817), ("half", 11, 5)])
def test_n_train(k, n, expected):
    assert ab.n_train(k, n) == expected


@pytest.mark.parametrize("k", [0, 12, 13, "third", 2.5, True])
def test_n_train_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k="):
        ab.n_train(k, 12)


# ---------------------------------------------------------------------------------------------
# score, % abstained

# 0.9 correct, 0.8 wrong, 0.3 correct, and an unparseable answer (wrong, confidence 0)
CONF = [0.9, 0.8, 0.3, 0.0]
CORRECT = [True, False, True, False]


@pytest.mark.parametrize("threshold, balanced, conservative, abstained", [
    (-0.0001, 0.0, -50.0, 0.0),   # answers everything: (2 - 2) / 4, (2 - 4) / 4
    (0.0, 0.0, -50.0, 0.0),       # conf >= t answers, so the unparseable answer still counts wrong
    (1e-9, 25.0, 0.0, 25.0),      # any t > 0 abstains on it: (2 - 1) / 4, (2 - 2) / 4
    (0.5, 0.0, -25.0, 50.0),      # answers 0.9 (right) and 0.8 (wrong)
    (0.8, 0.0, -25.0, 50.0),      # conf == t is answered
    (0.85, 25.0, 25.0, 75.0),     # only the 0.9
    (0.95, 0.0, 0.0, 100.0),      # abstains on all, but all stay in N
])
def test_score_hand_computed(threshold, balanced, conservative, abstained):
    assert ab.score(CONF, CORRECT, threshold, penalty=1) == balanced
    assert ab.score(CONF, CORRECT, threshold, penalty=2) == conservative
    assert ab.pct_abstained(CONF, threshold) == abstained


def test_score_takes_an_array_of_thresholds():
    t = np.array([-0.0001, 1e-9, 0.85])
    assert np.array_equal(ab.score(CONF, CORRECT, t, 2), [-50.0, 0.0, 25.0])
    assert np.array_equal(ab.pct_abstained(CONF, t), [0.0, 25.0, 75.0])


def test_score_compares_float32_confidence_in_float64():
    # 0.9999 in float32 is 0.99989998...; a float64 threshold of 0.9999 must abstain on it
    conf = np.array([0.9999], dtype=np.float32)
    assert ab.score(conf, [True], 0.9999) == 0.0
    assert ab.score(conf, [True], float(np.float32(0.9999))) == 100.0


def test_score_rejects_mismatched_input():
    with pytest.raises(ValueError, match="equally long"):
        ab.score([0.1, 0.2], [True], 0.5)
    with pytest.raises(ValueError, match="non-empty"):
        ab.pct_abstained([], 0.5)


# ---------------------------------------------------------------------------------------------
# grid and choice


def test_grid_for_logits_has_no_tail():
    grid = ab.threshold_grid(30.0)
    assert len(grid) == 201
    assert grid[0] == -0.0001 and grid[1] == 0.0 and grid[-1] == 30.0
    assert np.allclose(np.diff(grid[1:]), 30 / 199)


def test_grid_for_probabilities_adds_100_points_from_099_to_1():
    grid = ab.threshold_grid(1.0)
    # 1 + 200 + 100 points; linspace(0, 1, 200) and linspace(0.99, 1, 100) share only 1.0
    assert len(grid) == 300
    assert np.all(np.diff(grid) > 0)
    assert set(np.linspace(0.99, 1, 100)) <= set(grid)
    assert np.sum(grid >= 0.99) == 100 + 1  # the tail and 198/199 = 0.99497...


@pytest.mark.parametrize("max_conf, tail", [(0.995, True), (1.009, True), (0.98, False), (1.02, False)])
def test_grid_tail_only_when_max_is_within_001_of_1(max_conf, tail):
    grid = ab.threshold_grid(max_conf)
    assert set(np.linspace(0.99, 1, 100)) <= set(grid) if tail else len(grid) == 201
    assert grid.max() == (max(max_conf, 1.0) if tail else max_conf)  # the tail reaches 1 even when M < 1


def test_grid_includes_extra_thresholds_sorted_and_unique():
    grid = ab.threshold_grid(0.5, extra=[0.123, 0.5, -0.0001])
    assert len(grid) == 202 and 0.123 in grid and np.all(np.diff(grid) > 0)


def test_choose_threshold_takes_the_smallest_among_ties():
    grid = [-0.0001, 0.0, 0.5, 1.0]
    assert ab.choose_threshold(grid, [3.0, 5.0, 5.0, 1.0]) == 0.0
    assert ab.choose_threshold(grid, [2.0, 2.0, 2.0, 2.0]) == -0.0001
    assert ab.choose_threshold(grid, [2.0, 2.0, 2.0, 2.5]) == 1.0


# ---------------------------------------------------------------------------------------------
# whole runs on a synthetic table whose scores do not depend on the shuffle (analysis.inputs.synthetic:
# A always right on arc with MSP 0.25, always wrong on mmlu with MSP 0.5; Z always right, MSP 0.75,
# Max Logit 9; A has no Max Logit; 10 questions x 2 phrasings, k = 4)


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_answers()


GRID = np.linspace(0, 0.75, 200)
FIRST_ABOVE_05 = GRID[133]  # first grid point above 0.5: 133 x 0.75 / 199 = 0.50126


def test_synthetic_table(synthetic):
    table = ab.abstention_table(synthetic, ks=(4,))
    assert list(table.columns) == ab.TABLE_COLUMNS
    got = {(r.scope, r.penalty, r.model, r.signal): (r.threshold, r.base_score, r.score, r.pct_abstained)
           for r in table.itertuples()}
    expected = {
        # overall, balanced: A's mean train score is 0 up to 0.25, -50 up to 0.5, 0 above: the tie
        # goes to the smallest threshold, never abstaining: mean of +100 (arc) and -100 (mmlu)
        ("overall", 1, "A", "msp"): (-0.0001, 0.0, 0.0, 0.0),
        # overall, conservative: -50, -100, then 0 above 0.5: abstain on everything
        ("overall", 2, "A", "msp"): (FIRST_ABOVE_05, -50.0, 0.0, 100.0),
        ("arc", 1, "A", "msp"): (-0.0001, 100.0, 100.0, 0.0),
        ("arc", 2, "A", "msp"): (-0.0001, 100.0, 100.0, 0.0),
        ("mmlu", 1, "A", "msp"): (FIRST_ABOVE_05, -100.0, 0.0, 100.0),
        ("mmlu", 2, "A", "msp"): (FIRST_ABOVE_05, -200.0, 0.0, 100.0),
    }
    for scope in ("overall", "arc", "mmlu"):
        for p in (1, 2):
            for signal in ("msp", "max_logit"):
                expected[(scope, p, "Z", signal)] = (-0.0001, 100.0, 100.0, 0.0)
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert got[key] == pytest.approx(values, abs=1e-12), key
    assert list(table["scope"].unique()) == ["overall", "arc", "mmlu"]
    assert set(table["k"]) == {4}


def test_synthetic_curves(synthetic):
    curves = ab.abstention_curves(synthetic, "msp", k=4, penalty=1)
    a = curves[(curves["model"] == "A") & (curves["split"] == "train")].set_index("threshold")
    assert len(a) == 201 and a.index[-1] == 0.75
    assert a.loc[-0.0001, "score"] == 0.0 and a.loc[0.75, "score"] == 0.0
    just_below = GRID[132]  # in (0.25, 0.5]: abstains on arc, answers mmlu
    assert a.loc[just_below, "score"] == -50.0 and a.loc[just_below, "pct_abstained"] == 50.0
    assert curves.groupby(["model", "split"])["chosen"].sum().tolist() == [1, 1, 1, 1]
    chosen = curves[curves["chosen"]].set_index(["model", "split"])["threshold"]
    assert chosen[("A", "train")] == chosen[("A", "test")] == -0.0001


def test_a_scored_model_does_not_move_the_paper_models_grid(synthetic):
    # Z becomes the paper's Mistral; a scored model with higher confidence (0.875, always wrong)
    # joins: Mistral's grid stays linspace(0, 0.75, 200) (A is ours too); the newcomer is placed on it
    paper = synthetic.assign(model=synthetic["model"].astype(str).replace({"Z": "Mistral"}))
    rows = [("N", ds, ph, q, False, 0.875) for ds in ("arc", "mmlu") for ph in ("first", "second") for q in range(10)]
    both = pd.concat([paper, _answers(rows)], ignore_index=True)
    alone = ab.abstention_curves(paper, "msp", k=4)
    joined = ab.abstention_curves(both, "msp", k=4)
    mistral = joined.loc[joined["model"] == "Mistral", "threshold"]
    assert np.array_equal(mistral, alone.loc[alone["model"] == "Mistral", "threshold"])
    newcomer = joined[(joined["model"] == "N") & (joined["split"] == "train")]
    assert newcomer["threshold"].max() == 0.75
    # it cannot abstain above 0.75 on this grid, so it scores -100 at every threshold
    assert (newcomer["score"] == -100).all()
    assert ab.grid_models(both) == {"Mistral"} and ab.grid_models(synthetic) is None


def test_a_scored_model_with_fewer_datasets_says_so():
    # N answers arc only (10 questions x 2 phrasings) and, on mmlu, 4 answers: too few for k = 4
    both = short_of_mmlu()
    assert ("N", "mmlu") not in ab.pooled_splits(both, "msp", 4) and ("N", "arc") in ab.pooled_splits(both, "msp", 4)
    table = ab.abstention_table(both, ks=(4,))
    overall = table[table["scope"] == "overall"].set_index(["model", "penalty", "signal"])["datasets"]
    assert overall[("N", 1, "msp")] == "arc" and overall[("A", 1, "msp")] == "arc, mmlu"
    assert set(table.loc[table["model"] == "N", "scope"]) == {"overall", "arc"}
    covered, every = ab.covered_datasets(table, 4)
    assert covered == {"A": ["arc", "mmlu"], "Z": ["arc", "mmlu"], "N": ["arc"]} and every == ["arc", "mmlu"]
    assert ab.covered_datasets(table, 4, "mmlu") == ({"A": ["mmlu"], "Z": ["mmlu"]}, ["mmlu"])


def test_missing_signal_for_part_of_a_model_is_an_error(synthetic):
    broken = synthetic.copy()
    broken.loc[broken.index[(broken["model"] == "A") & (broken["dataset"] == "arc")][:3], "msp"] = np.nan
    with pytest.raises(ValueError, match="msp is missing for 3 of 20 answers"):
        ab.pooled_splits(broken, "msp", 4)


def test_run_rows_keep_the_rows_matching_every_given_argument(synthetic):
    table = ab.abstention_table(synthetic, ks=(4,))
    assert len(ab.run_rows(table)) == len(table)
    rows = ab.run_rows(table, 4, "overall", "msp", 2)
    assert rows["model"].tolist() == ["A", "Z"] and set(rows["penalty"]) == {2}
    assert rows.index.tolist() == table.index[(table["scope"] == "overall") & (table["signal"] == "msp")
                                              & (table["penalty"] == 2)].tolist()  # rows keep their index
    assert set(ab.run_rows(table, signal="max_logit")["model"]) == {"Z"}


@pytest.mark.parametrize("kwargs, named", [
    ({"k": 20}, "k=20"),
    ({"k": 4, "scope": "piqa"}, "k=4, scope='piqa'"),
    ({"scope": "arc", "signal": "logit", "penalty": 3}, "scope='arc', signal='logit', penalty=3"),
])
def test_run_rows_name_the_arguments_that_match_nothing(synthetic, kwargs, named):
    table = ab.abstention_table(synthetic, ks=(4,))
    with pytest.raises(ValueError, match=f"^{re.escape(f'no rows with {named} in the abstention table')}$"):
        ab.run_rows(table, **kwargs)


# ---------------------------------------------------------------------------------------------
# the real data


@pytest.fixture(scope="module")
def table(published):
    return real(published).abstention


def _paper_rows(text: str) -> dict[str, list[float | None]]:
    rows = {}
    for line in text.strip().splitlines():
        model, *values = line.split()
        rows[model] = [None if v == "--" else float(v) for v in values]
    return rows


# model: Base, MSP, Max Logit (balanced), then Base, MSP, Max Logit (conservative), as printed
PAPER_SCORE_K20 = _paper_rows("""
Falcon-7b -41.9 -1.1 -0.3 -112.9 -2.7 -1.0
Falcon-40b -11.6 1.9 0.5 -67.4 -0.4 0.0
Llama-7b -19.0 -6.4 -5.0 -78.5 -6.6 -0.3
Llama-13b -6.6 4.9 4.6 -59.9 -2.5 -1.5
Llama-70b 16.6 21.4 19.3 -25.1 7.7 2.3
Llama3-8b 17.1 23.5 20.7 -24.3 10.3 9.8
Llama3-70b 56.8 56.8 56.8 35.2 46.5 42.4
Mistral 13.7 17.0 15.6 -29.4 -1.5 4.8
Mixtral 38.0 38.4 38.4 7.1 15.8 12.3
Solar 34.4 35.0 34.4 1.5 9.4 13.8
Yi-6b 4.2 14.5 9.5 -43.6 4.9 -2.4
Yi-34b 37.8 39.6 38.2 6.8 18.8 16.4
gpt-3.5-turbo 34.5 38.8 -- 1.7 27.0 --
gpt-4-turbo 73.3 73.6 -- 60.0 65.2 --
""")
# % abstained: MSP, Max Logit (balanced), MSP, Max Logit (conservative)
PAPER_PCT_K20 = _paper_rows("""
Falcon-7b 81.5 98.7 95.2 98.7
Falcon-40b 87.0 93.4 97.7 99.1
Llama-7b 37.2 47.0 87.3 98.7
Llama-13b 75.8 66.8 80.9 87.7
Llama-70b 14.7 13.8 66.6 60.8
Llama3-8b 31.2 57.4 52.0 57.4
Llama3-70b 0.0 0.0 42.4 25.4
Mistral 15.0 11.7 49.6 69.9
Mixtral 2.4 2.2 26.6 59.2
Solar 4.7 0.0 27.5 35.8
Yi-6b 51.7 66.6 70.3 66.6
Yi-34b 10.5 3.9 25.4 20.6
gpt-3.5-turbo 30.8 -- 61.2 --
gpt-4-turbo 9.6 -- 9.6 --
""")
PAPER_SCORE_K10 = _paper_rows("""
Falcon-7b -41.9 -1.5 -5.2 -112.9 -2.7 -1.0
Falcon-40b -11.6 -6.2 -6.6 -67.4 -3.4 -2.6
Llama-7b -19.0 -7.7 -17.3 -78.4 -2.8 -1.5
Llama-13b -6.6 -1.2 4.6 -60.0 -3.6 -7.5
Llama-70b 16.6 21.4 19.4 -25.0 7.7 2.4
Llama3-8b 17.1 22.6 17.3 -24.3 10.4 8.1
Llama3-70b 56.8 56.8 56.8 35.2 47.3 35.2
Mistral 13.7 15.1 15.0 -29.4 -6.4 -12.5
Mixtral 38.0 38.3 38.2 7.1 4.9 12.6
Solar 34.4 34.4 34.4 1.6 9.6 1.6
Yi-6b 4.3 13.2 10.5 -43.6 5.3 -2.4
Yi-34b 37.9 39.4 37.4 6.8 13.4 16.4
gpt-3.5-turbo 34.5 38.4 -- 1.8 26.3 --
gpt-4-turbo 73.3 73.3 -- 59.9 59.9 --
""")
PAPER_SCORE_HALF = _paper_rows("""
Falcon-7b -41.2 0.0 0.0 -111.8 0.0 0.0
Falcon-40b -11.1 1.9 0.7 -66.7 0.0 0.0
Llama-7b -19.2 -0.2 0.2 -78.8 0.0 0.0
Llama-13b -6.8 5.1 4.7 -60.3 1.0 0.1
Llama-70b 16.9 23.6 19.4 -24.6 7.2 4.5
Llama3-8b 17.2 23.9 23.1 -24.2 12.6 11.6
Llama3-70b 56.2 57.7 56.4 34.2 48.4 42.2
Mistral 12.6 16.7 15.6 -31.0 0.0 5.2
Mixtral 37.7 38.6 38.2 6.6 15.3 15.0
Solar 34.7 35.4 35.0 2.0 8.9 12.7
Yi-6b 3.1 13.7 9.9 -45.3 5.3 2.1
Yi-34b 37.2 39.6 37.7 5.8 20.7 17.2
gpt-3.5-turbo 34.8 38.9 -- 2.2 27.6 --
gpt-4-turbo 73.4 74.0 -- 60.1 66.0 --
""")
# per-dataset tables (k = 20, thresholds chosen on that dataset alone): a few rows each
PAPER_SCORE_DATASET = {
    "arc": _paper_rows("""
Falcon-7b -49.3 -1.0 0.0 -123.9 -2.7 0.0
Mistral 41.9 35.2 37.0 12.8 22.9 23.2
gpt-4-turbo 91.4 91.4 -- 87.0 87.0 --
"""),
    "hellaswag": _paper_rows("""
Falcon-7b -50.5 -30.9 0.0 -125.8 -6.3 0.0
Yi-34b 51.0 46.6 48.7 26.4 36.2 32.2
"""),
    "mmlu": _paper_rows("""
Falcon-40b -12.0 2.1 -12.0 -68.0 -19.8 -1.7
Solar 14.9 16.6 21.6 -27.7 -3.8 0.7
"""),
    "truthfulqa": _paper_rows("""
Llama-7b -50.8 -34.8 -47.4 -126.2 -62.1 -0.9
Llama3-70b 44.2 46.5 39.6 16.4 39.0 28.2
"""),
    "winogrande": _paper_rows("""
Mixtral 26.3 26.3 26.3 -10.5 -10.5 -1.5
gpt-3.5-turbo 20.9 20.1 -- -18.6 6.9 --
"""),
}


def _printed(table, k, scope, model, what):
    """The paper's layout for one model: score columns or % abstained columns, rounded as printed."""
    rows = table[(table["k"] == k) & (table["scope"] == scope) & (table["model"] == model)]
    out = []
    for p in (1, 2):
        by_signal = rows[rows["penalty"] == p].set_index("signal")
        cols = [("msp", "base_score"), ("msp", what), ("max_logit", what)] if what == "score" \
            else [("msp", what), ("max_logit", what)]
        out += [round(by_signal.loc[s, c], 1) if s in by_signal.index else None for s, c in cols]
    return out


@pytest.mark.parametrize("k, paper, what", [(20, PAPER_SCORE_K20, "score"), (20, PAPER_PCT_K20, "pct_abstained"),
                                            (10, PAPER_SCORE_K10, "score"), ("half", PAPER_SCORE_HALF, "score")])
def test_overall_tables_reproduce_the_paper_to_the_printed_digit(table, k, paper, what):
    assert {m: _printed(table, k, "overall", m, what) for m in paper} == paper


@pytest.mark.parametrize("dataset", sorted(PAPER_SCORE_DATASET))
def test_per_dataset_tables_reproduce_the_paper(table, dataset):
    paper = PAPER_SCORE_DATASET[dataset]
    assert {m: _printed(table, 20, dataset, m, "score") for m in paper} == paper


def test_table_shape(table):
    assert list(table.columns) == ab.TABLE_COLUMNS
    # 3 k x (overall + 5 datasets) x 2 penalties x (14 MSP + 12 Max Logit runs)
    assert len(table) == 3 * 6 * 2 * 26
    assert list(table["k"].unique()) == [20, 10, "half"]
    assert list(table["scope"].unique()) == ["overall", "arc", "hellaswag", "mmlu", "truthfulqa", "winogrande"]


def test_llama3_70b_msp_thresholds_as_in_methods(table):
    rows = table[(table["k"] == 20) & (table["scope"] == "overall") & (table["model"] == "Llama3-70b")
                 & (table["signal"] == "msp")].set_index("penalty")
    assert rows.loc[1, "threshold"] == -0.0001
    assert rows.loc[2, "threshold"] == np.linspace(0.99, 1, 100)[98]  # 0.99989899, printed 0.9999


def test_k20_msp_thresholds_never_lose_to_base_overall(table):
    # balanced: 13 of 14 models gain, Llama 3 70B never abstains (equal); conservative: all 14 gain
    overall = table[(table["k"] == 20) & (table["scope"] == "overall") & (table["signal"] == "msp")]
    gain = overall["score"] - overall["base_score"]
    balanced, conservative = gain[overall["penalty"] == 1], gain[overall["penalty"] == 2]
    assert ((balanced > 0).sum(), (balanced == 0).sum(), (balanced < 0).sum()) == (13, 1, 0)
    assert ((conservative > 0).sum(), (conservative < 0).sum()) == (14, 0)
    assert balanced.mean() == pytest.approx(7.891, abs=5e-4)
    assert conservative.mean() == pytest.approx(37.195, abs=5e-4)


def test_k10_conservative_msp_loses_to_base_for_mixtral_only(table):
    # Mixtral, k = 10, conservative: the threshold learnt on 50 answers costs 2.15 points
    overall = table[(table["k"] == 10) & (table["scope"] == "overall") & (table["signal"] == "msp")
                    & (table["penalty"] == 2)].set_index("model")
    losers = overall.index[overall["score"] < overall["base_score"]].tolist()
    assert losers == ["Mixtral"]
    assert overall.loc["Mixtral", "score"] - overall.loc["Mixtral", "base_score"] == pytest.approx(-2.1495, abs=5e-5)


def test_base_does_not_depend_on_signal_except_where_a_max_logit_is_negative(table, published):
    # Base abstains on Max Logits below -0.0001: three Falcon 7B answers in the whole data
    negative = published[published["max_logit"] < ab.BASE_THRESHOLD]
    assert negative["model"].astype(str).tolist() == ["Falcon-7b"] * 3
    wide = table.pivot_table(index=["k", "scope", "penalty", "model"], columns="signal", values="base_score")
    differ = wide.dropna()[wide.dropna()["msp"] != wide.dropna()["max_logit"]]
    assert set(differ.index.get_level_values("model")) == {"Falcon-7b"}


def test_pooled_order_matches_the_sorted_result_files(published, published_dir):
    files = sorted((published_dir / "main_results").glob("arc_Llama3-70b-q*_norm_logits_*_prompt.txt"))
    assert len(files) == 12
    expected = np.concatenate([np.loadtxt(f, skiprows=1, usecols=1) for f in files]).astype(np.float32)
    mine = published[(published["model"] == "Llama3-70b") & (published["dataset"] == "arc")]
    assert np.array_equal(ab.pooled_order(mine)["msp"].to_numpy(), expected)


def test_summaries_and_claim_on_the_real_data(table):
    summary = ab.gain_summary(table).set_index(["k", "scope", "penalty", "signal"])
    assert tuple(summary.loc[(20, "overall", 1, "msp"), ["n_models", "n_gain", "n_equal", "n_loss",
                                                           "n_never_abstain"]]) == (14, 13, 1, 0, 1)
    assert tuple(summary.loc[(20, "overall", 2, "max_logit"), ["n_models", "n_gain", "n_loss"]]) == (12, 12, 0)
    # per dataset the thresholds rest on 20 answers: MSP loses to Base in 1 (arc) balanced run ...
    assert summary.loc[(20, "arc", 1, "msp"), "n_loss"] == 1
    wins = ab.signal_wins(table).set_index(["k", "scope", "penalty"])
    # overall, k = 20: MSP beats Max Logit for 9 of 12 models (balanced), 6 of 12 (conservative)
    assert tuple(wins.loc[(20, "overall", 1)]) == (12, 9, 2, 1)
    assert tuple(wins.loc[(20, "overall", 2)]) == (12, 6, 6, 0)
    assert ab.claim_holds(table, 20) and ab.claim_holds(table, "half")
    msp_only = ab.signal_wins(table[table["signal"] == "msp"])
    assert msp_only.empty and list(msp_only.columns) == ["k", "scope", "penalty", "n_models", "msp_higher",
                                                         "max_logit_higher", "tie"]
    assert not ab.claim_holds(table, 10)  # Mixtral, conservative


def test_a_scored_model_leaves_the_paper_rows_unchanged_and_is_shown(table, published):
    joined = real(published, with_tiny=True).abstention
    paper = joined[joined["model"] != TINY].reset_index(drop=True)
    pd.testing.assert_frame_equal(paper, table)  # thresholds, Base, scores, % abstained of all 14
    pd.testing.assert_frame_equal(ab.gain_summary(joined), ab.gain_summary(table))
    pd.testing.assert_frame_equal(ab.signal_wins(joined), ab.signal_wins(table))
    assert ab.claim_holds(joined, 20) and not ab.claim_holds(joined, 10)
    assert ab.abstention_numbers(joined, 20) == ab.abstention_numbers(table, 20)
    tiny = joined[joined["model"] == TINY]
    # 3 k x (overall, arc, mmlu) x 2 penalties x 2 signals
    assert len(tiny) == 3 * 3 * 2 * 2 and set(tiny["scope"]) == {"overall", "arc", "mmlu"}
    assert set(tiny.loc[tiny["scope"] == "overall", "datasets"]) == {"arc, mmlu"}
    covered, every = ab.covered_datasets(joined, 20)
    assert covered[TINY] == ["arc", "mmlu"] and covered["Mistral"] == every
    assert every == ["arc", "hellaswag", "mmlu", "truthfulqa", "winogrande"]
    coverage_table = real(published, with_tiny=True).coverage
    ours = ab.scored_abstention(joined, 20, coverage_table=coverage_table)
    row = tiny[(tiny["k"] == 20) & (tiny["scope"] == "overall") & (tiny["signal"] == "msp") & (tiny["penalty"] == 2)]
    assert ours["model"].tolist() == [TINY] and ours.iloc[0]["datasets"] == ["arc", "mmlu"]
    assert not ours.iloc[0]["complete"] and ours.iloc[0]["n_paper"] == 14
    # its run averages over both datasets it has answers for
    assert not ours.iloc[0]["partial_average"]
    assert ours.iloc[0]["gain_2"] == pytest.approx(row["score"].iloc[0] - row["base_score"].iloc[0])
    assert ours.iloc[0]["score_2"] == row["score"].iloc[0] and ours.iloc[0]["pct_2"] == row["pct_abstained"].iloc[0]
    assert ab.scored_abstention(table, 20).empty


def test_scored_abstention_says_when_the_run_leaves_out_some_of_its_datasets():
    # N has arc (20 answers) and 4 mmlu answers, too few for k = 4: its overall run is arc alone
    both = short_of_mmlu()
    table = ab.abstention_table(both, ks=(4,))
    ours = ab.scored_abstention(table, 4, coverage_table=scored.coverage(both))
    assert ours["model"].tolist() == ["A", "N", "Z"]  # display order: ours alphabetically
    assert list(ours.columns) == ["model", "base_1", "score_1", "gain_1", "pct_1", "base_2", "score_2", "gain_2",
                                  "pct_2", "datasets", "complete", "n_paper", "partial_average"]
    ours = ours.set_index("model")
    assert ours.loc["N", "partial_average"] and not ours.loc["A", "partial_average"]
    assert ours.loc["N", "datasets"] == ["arc"] and ours.loc["A", "datasets"] == ["arc", "mmlu"]
    assert ours.loc["N", "n_paper"] == 0 and not ours.loc["N", "complete"] and ours.loc["A", "complete"]
    # A: balanced keeps Base (0), conservative abstains on everything (-50 -> 0), as test_synthetic_table
    assert ours.loc["A", ["base_1", "score_1", "gain_1", "pct_1"]].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0])
    assert ours.loc["A", ["base_2", "score_2", "gain_2", "pct_2"]].tolist() == pytest.approx([-50.0, 0.0, 50.0, 100.0])
    # without a coverage table nothing says what the model has answers for: only `complete` tells
    plain = ab.scored_abstention(table, 4).set_index("model")
    assert not plain["partial_average"].any() and not plain.loc["N", "complete"]


# ---------------------------------------------------------------------------------------------
# the chapter's numbers


def test_abstention_numbers_on_the_synthetic_table(synthetic):
    # A and Z as paper models (Falcon 7B, Mistral 7B): the expected runs of test_synthetic_table
    paper = synthetic.assign(model=synthetic["model"].astype(str).replace({"A": "Falcon-7b", "Z": "Mistral"}))
    numbers = ab.abstention_numbers(ab.abstention_table(paper, ks=(4,)), 4)
    # balanced: both keep Base (A 0, Z 100); conservative: A -50 -> 0 abstaining on all, Z stays
    assert [numbers[f"{c}_1"] for c in ("n_models", "n_gain", "n_equal", "n_loss")] == [2, 0, 2, 0]
    assert [numbers[f"{c}_2"] for c in ("n_models", "n_gain", "n_equal", "n_loss")] == [2, 1, 1, 0]
    assert (numbers["mean_gain_1"], numbers["mean_gain_2"]) == (0.0, 25.0)
    assert (numbers["n_both_1"], numbers["msp_higher_1"]) == (1, 0)  # Z only; MSP ties Max Logit
    assert (numbers["median_pct_1"], numbers["median_pct_2"]) == (0.0, 50.0)
    assert (numbers["best_model"], numbers["best_pct_2"]) == ("Mistral", 0.0)
    # per dataset: 2 models x (arc, mmlu); only A on mmlu gains (-100 or -200 -> 0)
    assert (numbers["ds_runs_1"], numbers["ds_gain_1"], numbers["ds_loss_1"]) == (4, 1, 0)
    assert (numbers["ds_runs_2"], numbers["ds_gain_2"], numbers["ds_loss_2"]) == (4, 1, 0)
    assert (numbers["n_loss_total"], numbers["larger_gain_penalty"]) == (0, 2)
    assert numbers["holds"] is False and numbers["penalties_without_gain"] == [1]
    assert np.isnan(numbers["rho_base_gain"]) and np.isnan(numbers["p_base_gain"])  # two models


def test_abstention_numbers_need_a_paper_model(synthetic):
    with pytest.raises(ValueError, match="no rows with k=4, signal='msp'"):
        ab.abstention_numbers(ab.abstention_table(synthetic, ks=(4,)), 4)  # A and Z are ours


def test_base_gain_correlation_leaves_out_scored_models():
    rows = pd.DataFrame({"k": 20, "scope": "overall", "penalty": 2, "signal": "msp",
                         "model": ["Falcon-7b", "Yi-6b", "Mistral", "Tiny"],
                         "base_score": [-50.0, 0.0, 50.0, -100.0], "score": [0.0, 10.0, 50.0, 500.0]})
    both = pd.concat([rows, rows.assign(penalty=1, score=rows["base_score"])], ignore_index=True)
    corr = ab.base_gain_correlation(both, 20, 2)
    assert corr.n == 3 and corr.spearman_rho == pytest.approx(-1.0)  # gains 50, 10, 0
    assert np.isnan(ab.base_gain_correlation(both, 20, 1).pearson_r)  # no gain at all: constant


def test_abstention_numbers_on_the_real_data(table):
    numbers = ab.abstention_numbers(table, 20)
    assert (numbers["n_models_1"], numbers["n_models_2"]) == (14, 14)
    assert (numbers["n_gain_1"], numbers["n_equal_1"], numbers["n_gain_2"]) == (13, 1, 14)
    assert (numbers["n_both_1"], numbers["msp_higher_1"], numbers["msp_higher_2"]) == (12, 9, 6)
    assert numbers["mean_gain_1"] == pytest.approx(7.891, abs=5e-4)
    assert numbers["mean_gain_2"] == pytest.approx(37.195, abs=5e-4)
    assert round(numbers["median_pct_1"], 1) == 22.9 and round(numbers["median_pct_2"], 1) == 56.6
    assert numbers["best_model"] == "gpt-4-turbo" and round(numbers["best_pct_1"], 1) == 9.6
    assert (numbers["ds_runs_1"], numbers["ds_loss_1"], numbers["ds_loss_2"]) == (70, 12, 0)
    assert numbers["holds"] is True and numbers["penalties_without_gain"] == []
    assert numbers["n_loss_total"] == 0 and numbers["larger_gain_penalty"] == 2
    assert round(numbers["rho_base_gain"], 2) == -0.93 and numbers["p_base_gain"] < 0.05
    k10 = ab.abstention_numbers(table, 10)  # Mixtral, conservative
    assert (k10["n_loss_1"], k10["n_loss_2"], k10["n_loss_total"], k10["holds"]) == (0, 1, 1, False)
