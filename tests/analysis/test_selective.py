"""Selective answering: hand-computed cases, brute-force references, properties, the real data.

No installable reference library defines AURC, E-AURC, AUGRC or PRR on (confidence, correct) pairs
(torchmetrics 1.9 has none of them), so the references here are brute-force implementations:
every order of the tied answers enumerated, or plain sorted prefixes without ties.
"""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from helpers.analysis import abstention
from helpers.analysis import selective as sel

# Four answers (the case of tests/test_metrics.py): right at 0.9 and 0.8, wrong at 0.8 and 0.1.
# Descending blocks 0.9 (1 answer, 0 wrong), 0.8 (2, 1), 0.1 (1, 1); expected wrong answers among
# the n most confident: W(1..4) = 0, 1/2, 1, 2.
CONF = np.array([0.9, 0.8, 0.8, 0.1])
CORRECT = np.array([True, True, False, False])


def test_hand_case_prefix_and_curve():
    assert sel.expected_wrong_by_prefix(CONF, CORRECT).tolist() == [0, 0.5, 1, 2]
    curve = sel.risk_coverage_curve(CONF, CORRECT)
    assert curve["threshold"].tolist() == [0.9, 0.8, 0.1]
    assert curve["n_answered"].tolist() == [1, 3, 4]
    assert curve["n_wrong"].tolist() == [0, 1, 2]
    assert curve["coverage"].tolist() == [0.25, 0.75, 1.0]
    assert curve["risk"].tolist() == pytest.approx([0, 1 / 3, 0.5])
    assert curve["generalized_risk"].tolist() == pytest.approx([0, 0.25, 0.5])


def test_hand_case_areas_and_ratios():
    # AURC = (0 + 1/4 + 1/3 + 1/2)/4 = 13/48; oracle (2 right first): (1/3 + 1/2)/4 = 5/24
    assert sel.aurc(CONF, CORRECT) == pytest.approx(13 / 48, abs=1e-15)
    assert sel.oracle_aurc(CORRECT) == pytest.approx(5 / 24, abs=1e-15)
    assert sel.e_aurc(CONF, CORRECT) == pytest.approx(1 / 16, abs=1e-15)
    # AUGRC = (0 + 1/2 + 1 + 2)/4/4 = 7/32
    assert sel.augrc(CONF, CORRECT) == pytest.approx(7 / 32, abs=1e-15)
    # PRR: random W(N+1)/(2N²) = 10/32, oracle W(W+1)/(2N²) = 6/32 -> (10 − 7)/(10 − 6) = 3/4
    assert sel.prediction_rejection_ratio(CONF, CORRECT) == pytest.approx(0.75, abs=1e-15)
    # selective-risk PRR: random W/N = 1/2 -> (24 − 13)/(24 − 10) = 11/14
    assert sel.selective_prediction_rejection_ratio(CONF, CORRECT) == pytest.approx(11 / 14, abs=1e-15)


def test_hand_case_accuracy_at_coverage():
    # ⌈c·4⌉ answers: 2 -> 1 − (1/2)/2; 3 -> 1 − 1/3; 4 -> 1/2
    assert sel.accuracy_at_coverage(CONF, CORRECT, 0.5) == pytest.approx(0.75)
    assert sel.accuracy_at_coverage(CONF, CORRECT, [0.75, 0.8, 1.0]).tolist() == pytest.approx([2 / 3, 0.5, 0.5])
    assert sel.accuracy_at_coverage(CONF, CORRECT, 0.01) == 1.0
    with pytest.raises(ValueError, match="coverage"):
        sel.accuracy_at_coverage(CONF, CORRECT, 0)


def test_selective_metrics_collects_the_same_numbers():
    m = sel.selective_metrics(CONF, CORRECT)
    assert m["n"] == 4 and m["accuracy"] == 0.5 and m["auroc"] == pytest.approx(0.875)
    assert m["aurc"] == pytest.approx(13 / 48) and m["aurc_oracle"] == pytest.approx(5 / 24)
    assert m["augrc"] == pytest.approx(7 / 32) and m["prr"] == pytest.approx(0.75)
    assert m["prr_selective"] == pytest.approx(11 / 14)
    assert (m["acc_at_50"], m["acc_at_80"], m["acc_at_90"]) == pytest.approx((0.75, 0.5, 0.5))


def _brute_force(conf, correct):
    """AURC, AUGRC and accuracy at each prefix averaged over every order consistent with sorting by
    descending confidence (all permutations of tied answers), each order by plain prefixes."""
    n = len(conf)
    aurcs, augrcs, prefix = [], [], []
    for perm in itertools.permutations(range(n)):
        if any(conf[perm[i]] < conf[perm[i + 1]] for i in range(n - 1)):
            continue
        wrong = np.cumsum(~correct[list(perm)])
        aurcs.append(np.mean(wrong / np.arange(1, n + 1)))
        augrcs.append(np.mean(wrong) / n)
        prefix.append(wrong)
    return np.mean(aurcs), np.mean(augrcs), np.mean(prefix, axis=0)


def test_ties_are_the_average_over_every_order_of_the_tied_answers():
    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(1, 8))
        conf = rng.choice([0.2, 0.5, 0.9], n)
        correct = rng.random(n) < 0.5
        area, general, prefix = _brute_force(conf, correct)
        assert sel.aurc(conf, correct) == pytest.approx(area, abs=1e-12)
        assert sel.augrc(conf, correct) == pytest.approx(general, abs=1e-12)
        assert sel.expected_wrong_by_prefix(conf, correct) == pytest.approx(prefix, abs=1e-12)


def test_without_ties_aurc_is_the_sorted_prefix_mean():
    rng = np.random.default_rng(8)
    for _ in range(50):
        n = int(rng.integers(2, 300))
        conf = rng.permutation(n) / n  # distinct
        correct = rng.random(n) < conf
        wrong = np.cumsum(~correct[np.argsort(-conf)])
        assert sel.aurc(conf, correct) == pytest.approx(np.mean(wrong / np.arange(1, n + 1)), rel=1e-10)
        assert sel.augrc(conf, correct) == pytest.approx(np.mean(wrong) / n, rel=1e-10)


def test_oracle_ordering_attains_the_closed_form():
    rng = np.random.default_rng(9)
    for n in (1, 2, 5, 50, 1000):
        correct = rng.random(n) < 0.6
        brute = np.mean(np.maximum(0, np.arange(1, n + 1) - correct.sum()) / np.arange(1, n + 1))
        assert sel.oracle_aurc(correct) == pytest.approx(brute, abs=1e-12)
        # a confidence that puts every right answer first is the oracle
        assert sel.aurc(correct.astype(float), correct) == pytest.approx(brute, abs=1e-12)
        assert sel.e_aurc(correct.astype(float), correct) == pytest.approx(0, abs=1e-12)


def test_oracle_approaches_geifmans_continuous_approximation():
    n, error = 200_000, 0.3
    correct = np.arange(n) >= error * n
    assert sel.oracle_aurc(correct) == pytest.approx(error + (1 - error) * math.log(1 - error), abs=1e-4)


def test_e_aurc_is_never_negative():
    rng = np.random.default_rng(10)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        conf = np.round(rng.random(n), int(rng.integers(0, 3)))
        correct = rng.random(n) < rng.random()
        assert sel.e_aurc(conf, correct) >= -1e-12


def test_augrc_and_prr_are_functions_of_auroc_and_accuracy():
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(2, 200))
        conf = np.round(rng.random(n), int(rng.integers(1, 3)))  # ties
        correct = rng.random(n) < conf
        if correct.all() or not correct.any():
            continue
        auroc = roc_auc_score(correct, conf)
        w, c = (~correct).sum(), correct.sum()
        assert sel.augrc(conf, correct) == pytest.approx((w * (w + 1) / 2 + w * c * (1 - auroc)) / n ** 2, abs=1e-12)
        assert sel.prediction_rejection_ratio(conf, correct) == pytest.approx(2 * auroc - 1, abs=1e-10)


def test_one_class_answers():
    conf = np.array([0.3, 0.9, 0.5])
    assert sel.aurc(conf, np.ones(3, bool)) == 0 and sel.e_aurc(conf, np.ones(3, bool)) == 0
    assert sel.aurc(conf, np.zeros(3, bool)) == 1 and sel.e_aurc(conf, np.zeros(3, bool)) == 0
    assert math.isnan(sel.prediction_rejection_ratio(conf, np.ones(3, bool)))
    assert math.isnan(sel.selective_prediction_rejection_ratio(conf, np.zeros(3, bool)))


def test_input_checks():
    with pytest.raises(ValueError, match="equally long"):
        sel.aurc([0.1, 0.2], [True])
    with pytest.raises(ValueError, match="must not be empty"):
        sel.aurc([], [])
    with pytest.raises(ValueError, match="NaN"):
        sel.aurc([0.1, np.nan], [True, False])


def _toy_answers(rng, n_questions=40):
    rows = []
    for model, skill in (("Llama-7b", 0.4), ("Mistral", 0.6), ("gpt-4-turbo", 0.8)):
        for dataset in ("arc", "mmlu"):
            for phrasing in ("first", "second"):
                for qid in range(n_questions):
                    conf = float(np.round(rng.random(), 2))
                    rows.append((model, dataset, phrasing, 0, qid, rng.random() < skill * conf + 0.1, conf))
    out = pd.DataFrame(rows, columns=["model", "dataset", "phrasing", "shots", "qid", "correct", "msp"])
    return out.assign(max_logit=np.where(out["model"] == "gpt-4-turbo", np.nan, 10 * out["msp"]))


def test_row_counts_equal_repeating_the_answers():
    rng = np.random.default_rng(12)
    answers = _toy_answers(rng)
    counts = sel.question_resample_counts(answers, rng)
    # a question's answers share its count, across models and phrasings
    key = answers["dataset"] + answers["qid"].astype(str)
    assert (pd.Series(counts).groupby(key.to_numpy()).nunique() == 1).all()
    assert counts.sum() == len(answers)
    for signal in ("msp", "max_logit"):
        weighted = sel.selective_by_model(answers, signal, counts)
        repeated = sel.selective_by_model(answers.loc[answers.index.repeat(counts)], signal)
        pd.testing.assert_frame_equal(weighted, repeated, rtol=1e-10)
    assert sel.selective_by_model(answers, "max_logit")["model"].tolist() == ["Llama-7b", "Mistral"]


def test_bootstrap_correlations_are_seeded():
    answers = _toy_answers(np.random.default_rng(13))
    one = sel.bootstrap_correlations(answers, n_boot=15, seed=1)
    two = sel.bootstrap_correlations(answers, n_boot=15, seed=1)
    pd.testing.assert_frame_equal(one, two)
    assert (one["pearson_low"] <= one["pearson_high"]).all()
    point = sel.selective_by_model(answers)
    expected = stats.pearsonr(point["accuracy"], point["aurc"]).statistic
    assert one.set_index("y").loc["aurc", "pearson_r"] == pytest.approx(expected)


# --- conformal ---------------------------------------------------------------------------------------

def test_binomial_p_value_and_clopper_pearson_agree():
    assert sel.binomial_p_value(0, 22, 0.1) == pytest.approx(0.9 ** 22)  # 0.098 <= 0.1
    assert sel.binomial_p_value(0, 21, 0.1) == pytest.approx(0.9 ** 21)  # 0.109 > 0.1
    assert sel.binomial_p_value(0, 0, 0.1) == 1.0
    assert sel.clopper_pearson_upper(0, 22, 0.1) == pytest.approx(1 - 0.1 ** (1 / 22))
    assert sel.clopper_pearson_upper(5, 5, 0.1) == 1.0
    for n in range(1, 60):
        for w in range(n + 1):
            rejects = sel.binomial_p_value(w, n, 0.1) <= 0.1
            assert rejects == (sel.clopper_pearson_upper(w, n, 0.1) <= 0.1 + 1e-12)


def test_candidate_coverages_start_at_twice_the_fewest_answers_that_can_reject():
    # 0.9^22 = 0.098 <= 0.1 < 0.9^21: 22 clean answers are needed for 10% at 0.1; start at 2·22 = 44
    cov = sel.candidate_coverages(100)
    assert cov[0] == pytest.approx(0.44) and cov[-1] == 1.0
    assert np.diff(cov) == pytest.approx(np.full(len(cov) - 1, 0.01))
    assert sel.candidate_coverages(1000)[0] == pytest.approx(0.044)
    assert sel.candidate_coverages(1000, start_factor=1)[0] == pytest.approx(0.022)
    assert sel.candidate_coverages(30).tolist() == [1.0]
    assert sel.candidate_coverages(21).size == 0


def test_coverage_thresholds():
    conf = np.array([0.9, 0.8, 0.8, 0.5, 0.1])
    assert sel.coverage_thresholds(conf, [0.2, 0.4, 0.6, 1.0]).tolist() == [0.9, 0.8, 0.8, 0.1]
    # weights: the first answer weighs half the total
    assert sel.coverage_thresholds(conf, [0.5, 0.6], weights=[4, 1, 1, 1, 1]).tolist() == [0.9, 0.8]


def test_ltt_fixed_sequence_and_bonferroni_by_hand():
    # 30 right answers at 0.9; at 0.5, 35 wrong and 35 right
    conf = np.r_[np.full(30, 0.9), np.full(70, 0.5)]
    correct = np.r_[np.ones(30, bool), np.arange(70) % 2 == 0]
    pick = sel.ltt_threshold(conf, correct, [0.5, 0.9])
    assert pick.threshold == 0.9 and (pick.n_answered, pick.n_wrong) == (30, 0)
    assert pick.p_value == pytest.approx(0.9 ** 30) and pick.n_tested == 2 and not pick.abstains_all
    assert pick.upper_bound == pytest.approx(1 - 0.1 ** (1 / 30))
    assert sel.ltt_threshold(conf, correct, [0.5, 0.9], correction="bonferroni").threshold == 0.9
    # 5 more right answers at 0.95: that first candidate (p = 0.9^5) cannot reject, so the fixed
    # sequence stops there; Bonferroni tests all 3 at 0.1/3 and certifies 0.9 (p = 0.9^35 = 0.025)
    conf2 = np.r_[np.full(5, 0.95), conf]
    correct2 = np.r_[np.ones(5, bool), correct]
    assert sel.ltt_threshold(conf2, correct2, [0.5, 0.9, 0.95]).abstains_all
    bonferroni = sel.ltt_threshold(conf2, correct2, [0.5, 0.9, 0.95], correction="bonferroni")
    assert bonferroni.threshold == 0.9 and bonferroni.n_answered == 35
    nothing = sel.ltt_threshold(conf, correct, [])
    assert nothing.abstains_all and nothing.threshold == math.inf and math.isnan(nothing.p_value)


def test_ltt_controls_the_risk_in_simulation():
    # conf ~ U(0, 1), P(right | conf) = conf: selective risk at t is (1 − t)/2, <= 10% iff t >= 0.8
    # candidates as in conformal_abstention: thresholds of unlabelled answers at candidate_coverages
    rng = np.random.default_rng(14)
    n_labelled = 1000
    candidates = sel.coverage_thresholds(rng.random(20_000), sel.candidate_coverages(n_labelled))
    failures = abstained = 0
    n_sim = 300
    for _ in range(n_sim):
        conf = rng.random(n_labelled)
        correct = rng.random(n_labelled) < conf
        pick = sel.ltt_threshold(conf, correct, candidates, 0.1, 0.1)
        abstained += pick.abstains_all
        failures += (not pick.abstains_all) and (1 - pick.threshold) / 2 > 0.1
    assert failures / n_sim <= 0.1 + 3 * math.sqrt(0.1 * 0.9 / n_sim)
    assert abstained < n_sim / 2  # the procedure is not vacuous here


def test_coverage_and_risk_weights():
    conf = np.array([0.9, 0.8, 0.2, 0.1])
    correct = np.array([True, False, True, False])
    assert sel.coverage_and_risk(conf, correct, 0.5) == (0.5, 0.5)
    assert sel.coverage_and_risk(conf, correct, 0.5, weights=[3, 1, 1, 1]) == (4 / 6, 1 / 4)
    cov, risk = sel.coverage_and_risk(conf, correct, 0.95)
    assert cov == 0 and math.isnan(risk)


# --- real data ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def msp_table(published):
    return sel.selective_by_model(published, "msp").set_index("model")


def test_real_selective_table(msp_table, published):
    assert len(msp_table) == 14 and (msp_table["n"] == 42814).all()
    assert msp_table.loc["gpt-4-turbo", "aurc"] == pytest.approx(0.0412, abs=5e-5)
    assert msp_table.loc["Falcon-7b", "aurc"] == pytest.approx(0.5998, abs=5e-5)
    assert msp_table.loc["Llama3-70b", "e_aurc"] == pytest.approx(0.0530, abs=5e-5)
    assert msp_table["e_aurc"].min() == pytest.approx(0.0305, abs=5e-5)  # GPT-4
    assert msp_table["e_aurc"].max() == pytest.approx(0.2981, abs=5e-5)  # Llama 2 7B
    assert msp_table.loc["gpt-4-turbo", "acc_at_50"] == pytest.approx(0.9735, abs=5e-5)
    # pooled PRR is 2·AUROC − 1; the paper's per-cell AUROC is the mean over its 10 cells
    assert msp_table["prr"].to_numpy() == pytest.approx(2 * msp_table["auroc"].to_numpy() - 1, abs=1e-10)
    assert msp_table.loc["gpt-4-turbo", "auroc_cells"] == pytest.approx(0.8547, abs=5e-5)
    logit = sel.selective_by_model(published, "max_logit")
    assert len(logit) == 12 and logit["aurc"].between(0.11, 0.65).all()


def test_real_correlations_with_the_paper(published):
    table = sel.paper_comparison(published, "msp", k=20)
    corr = sel.cross_model_correlations(table).set_index(["x", "y"])
    assert corr.loc[("paper_accuracy", "aurc"), "pearson_r"] == pytest.approx(-0.966, abs=5e-4)
    assert corr.loc[("paper_auroc", "e_aurc"), "pearson_r"] == pytest.approx(-0.953, abs=5e-4)
    assert corr.loc[("score_conservative", "e_aurc"), "pearson_r"] == pytest.approx(-0.920, abs=5e-4)
    # Fisher z by hand: tanh(atanh(r) ∓ 1.959964 / sqrt(14 − 3))
    r = corr.loc[("paper_auroc", "e_aurc"), "pearson_r"]
    half = 1.959963984540054 / np.sqrt(11)
    assert (corr.loc[("paper_auroc", "e_aurc"), "fisher_lo"], corr.loc[("paper_auroc", "e_aurc"), "fisher_hi"]) == \
        pytest.approx((np.tanh(np.arctanh(r) - half), np.tanh(np.arctanh(r) + half)), rel=1e-12)
    assert (corr["fisher_lo"] < corr["pearson_r"]).all() and (corr["pearson_r"] < corr["fisher_hi"]).all()
    # the paper's k = 20 balanced score of GPT-4 (abstention.csv) is carried over unchanged
    paper = abstention.abstention_scores(published, "msp", 20, 1).set_index("model")
    assert table.set_index("model").loc["gpt-4-turbo", "score_balanced"] == paper.loc["gpt-4-turbo", "score"]


def test_real_conformal_at_k20_mostly_abstains_on_everything(published):
    table = sel.conformal_abstention(published, "msp", k=20)
    ltt = table[table["rule"] == "ltt"].set_index("model")
    assert len(ltt) == 14 and (ltt["n_labelled"] == 100).all()
    certified = ltt[~ltt["abstains_all"]]
    assert certified.index.tolist() == ["Llama3-70b", "gpt-4-turbo"]
    assert certified["coverage"].tolist() == pytest.approx([0.5001, 0.9000], abs=5e-5)
    assert certified["risk"].tolist() == pytest.approx([0.0489, 0.0913], abs=5e-5)
    assert (ltt.loc[ltt["abstains_all"], "coverage"] == 0).all()
    # Bonferroni over the same candidates certifies nobody with 100 labels
    bonferroni = sel.conformal_abstention(published, "msp", k=20, correction="bonferroni")
    assert bonferroni.loc[bonferroni["rule"] == "ltt", "abstains_all"].all()
    paper = table[table["rule"] == "paper_balanced"].set_index("model")
    assert paper.loc["gpt-4-turbo", "coverage"] == pytest.approx(0.9038, abs=5e-5)
    assert paper.loc["gpt-4-turbo", "risk"] == pytest.approx(0.0928, abs=5e-5)
    # the paper's threshold is abstention's; its coverage is 1 − the paper's mean % abstained
    run = abstention.abstention_scores(published, "msp", 20, 1).set_index("model")
    assert paper["coverage"].to_numpy() == pytest.approx(1 - run.loc[paper.index, "pct_abstained"] / 100, abs=1e-12)
    half = sel.conformal_abstention(published, "msp", k="half")
    certified = half[(half["rule"] == "ltt") & ~half["abstains_all"]]
    assert len(certified) == 3 and (certified["risk"] <= 0.1).all()


# --- intervals per model ----------------------------------------------------------------------------

def test_selective_intervals_are_the_loop_over_repeated_answers():
    answers = _toy_answers(np.random.default_rng(21), n_questions=25)
    out = sel.selective_intervals(answers, "msp", n_boot=12, seed=5)
    assert len(out) == 3 * len(sel.INTERVAL_MEASURES)
    # the reference: materialise every resample and take selective_by_model of it
    rng, resampler = np.random.default_rng(5), sel.QuestionResampler(answers)
    draws = [sel.selective_by_model(answers.loc[answers.index.repeat(resampler.draw(rng))], "msp").set_index("model")
             for _ in range(12)]
    point = sel.selective_by_model(answers, "msp").set_index("model")
    for row in out.itertuples():
        values = [d.loc[row.model, row.measure] for d in draws]
        assert row.estimate == pytest.approx(point.loc[row.model, row.measure], rel=1e-12)
        assert (row.lo, row.hi) == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])), rel=1e-9)
    # Max Logit: the API model has none and is left out
    logit = sel.selective_intervals(answers, "max_logit", n_boot=3, seed=5)
    assert logit["model"].unique().tolist() == ["Llama-7b", "Mistral"]


def test_real_selective_intervals_contain_the_estimate(published):
    out = sel.selective_intervals(published, "msp", n_boot=20).set_index(["model", "measure"])
    e_aurc = out.xs("e_aurc", level="measure")
    assert e_aurc.loc["gpt-4-turbo", "estimate"] == pytest.approx(0.0305, abs=5e-5)
    assert ((e_aurc["lo"] <= e_aurc["estimate"]) & (e_aurc["estimate"] <= e_aurc["hi"])).all()
    assert (e_aurc["hi"] - e_aurc["lo"]).max() < 0.03


def test_one_bootstrap_gives_both_the_intervals_and_the_correlations():
    answers = _toy_answers(np.random.default_rng(22), n_questions=25)
    intervals, correlations = sel.selective_bootstrap(answers, "msp", n_boot=15, seed=4)
    pd.testing.assert_frame_equal(intervals, sel.selective_intervals(answers, "msp", n_boot=15, seed=4))
    pd.testing.assert_frame_equal(correlations, sel.bootstrap_correlations(answers, "msp", n_boot=15, seed=4),
                                  rtol=1e-10)
