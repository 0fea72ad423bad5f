"""One-shot against zero-shot: pairing, count-weighted measures, the paired bootstrap, the real data."""

import numpy as np
import pandas as pd
import pytest

from helpers.analysis import cells, metrics
from helpers.analysis import one_shot as os1
from helpers.data.published import load_published


def _answers(rng, shots, models=("Llama-7b", "gpt-4-turbo"), n_questions=60, drop=()):
    rows = []
    for model in models:
        for dataset in ("arc", "mmlu"):
            for phrasing in ("first", "second"):
                for qid in range(n_questions):
                    if (model, dataset, qid) in drop:
                        continue
                    conf = float(np.round(rng.random(), 2))
                    right = rng.random() < conf
                    grade = "correct" if right else ("unparseable" if rng.random() < 0.05 else "wrong")
                    rows.append((model, dataset, phrasing, shots, qid, grade, right,
                                 0.0 if grade == "unparseable" else conf))
    out = pd.DataFrame(rows, columns=["model", "dataset", "phrasing", "shots", "qid", "grade", "correct", "msp"])
    return out.assign(max_logit=np.where(out["model"].str.startswith("gpt"), np.nan, 30 * out["msp"]))


def test_paired_answers_is_an_inner_join_on_the_question():
    rng = np.random.default_rng(1)
    zero = _answers(rng, 0)
    one = _answers(rng, 1, drop={("gpt-4-turbo", "arc", q) for q in range(10, 20)})
    paired = os1.paired_answers(zero, one)
    assert len(paired) == len(one) == len(zero) - 20
    assert list(paired.columns) == ["model", "dataset", "phrasing", "qid", "grade_0", "correct_0", "msp_0",
                                    "max_logit_0", "grade_1", "correct_1", "msp_1", "max_logit_1"]
    row = paired[(paired["model"] == "Llama-7b") & (paired["dataset"] == "mmlu") & (paired["qid"] == 7)
                 & (paired["phrasing"] == "second")].iloc[0]
    source = zero[(zero["model"] == "Llama-7b") & (zero["dataset"] == "mmlu") & (zero["qid"] == 7)
                  & (zero["phrasing"] == "second")].iloc[0]
    assert row["msp_0"] == source["msp"] and row["correct_0"] == source["correct"]
    counts = os1.same_question_counts(zero, one, paired).set_index("model")
    assert counts.loc["gpt-4-turbo"].tolist() == [240, 220, 220]
    with pytest.raises(ValueError, match="one-shot table"):
        os1.paired_answers(zero, zero)


def test_weighted_calibration_error_equals_repeating_the_answers():
    rng = np.random.default_rng(2)
    for _ in range(500):
        n = int(rng.integers(1, 80))
        conf = np.round(rng.random(n), int(rng.integers(1, 4)))
        conf[rng.random(n) < 0.2] = 1.0  # saturated MSPs and duplicate quantile edges
        correct = rng.random(n) < conf
        counts = rng.integers(0, 4, n)
        if counts.sum() == 0:
            continue
        for kw in ({}, {"weighted": True, "last_bin_closed": True},
                   {"bins": "uniform", "weighted": True, "last_bin_closed": True}):
            ours = os1.weighted_calibration_error(conf, correct, counts, **kw)
            repeated = metrics.calibration_error(np.repeat(conf, counts), np.repeat(correct, counts), **kw)
            assert ours == pytest.approx(repeated, abs=1e-12, nan_ok=True)


def test_paired_measures_agree_with_the_paper_recipes():
    rng = np.random.default_rng(3)
    paired = os1.paired_answers(_answers(rng, 0), _answers(rng, 1))
    measures = os1.paired_measures(paired).set_index(["model", "shots"])
    for shots in (0, 1):
        answers = os1.shot_answers(paired, shots)
        models = cells.model_metrics(cells.cell_table(answers)).set_index("model")
        calibration = cells.calibration_by_model(answers).set_index("model")
        ours = measures.xs(shots, level="shots")
        assert ours["accuracy"].to_numpy() == pytest.approx(models.loc[ours.index, "accuracy"].to_numpy())
        assert ours["auroc_msp"].to_numpy() == pytest.approx(models.loc[ours.index, "auroc_msp"].to_numpy())
        assert ours["auroc_max_logit"].to_numpy() == pytest.approx(
            models.loc[ours.index, "auroc_max_logit"].to_numpy(), nan_ok=True)
        for column in ("ece_equal_mass", "calibration_error_paper"):
            assert ours[column].to_numpy() == pytest.approx(calibration.loc[ours.index, column].to_numpy())
        unparseable = answers.groupby("model")["grade"].apply(lambda g: 100 * (g == "unparseable").mean())
        assert ours["unparseable_pct"].to_numpy() == pytest.approx(unparseable.loc[ours.index].to_numpy())


def test_paired_bootstrap_uses_the_same_draw_for_both():
    rng = np.random.default_rng(4)
    zero = _answers(rng, 0)
    one = zero.assign(shots=1)  # identical answers: every difference is exactly 0 in every draw
    diff = os1.paired_differences(os1.paired_answers(zero, one), n_boot=30, seed=5)
    finite = diff.dropna(subset=["low"])
    assert (finite["difference"] == 0).all() and (finite["low"] == 0).all() and (finite["high"] == 0).all()
    # Max Logit is absent for GPT: no interval, no warning
    gpt = diff[(diff["model"] == "gpt-4-turbo") & (diff["measure"] == "auroc_max_logit")]
    assert gpt["low"].isna().all()


def test_paired_bootstrap_is_seeded_and_covers_a_real_shift():
    rng = np.random.default_rng(6)
    zero = _answers(rng, 0, models=("Llama-7b",), n_questions=300)
    one = zero.assign(shots=1, correct=zero["correct"] & (rng.random(len(zero)) < 0.7))
    one["grade"] = np.where(one["correct"], "correct", np.where(zero["grade"] == "unparseable", "unparseable", "wrong"))
    paired = os1.paired_answers(zero, one)
    a = os1.paired_differences(paired, n_boot=100, seed=7)
    b = os1.paired_differences(paired, n_boot=100, seed=7)
    pd.testing.assert_frame_equal(a, b)
    acc = a.set_index("measure").loc["accuracy"]
    assert acc["high"] < 0 and acc["low"] < acc["difference"] < acc["high"]


# --- real data ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_shot(published_dir):
    return load_published(published_dir, shots=1)


@pytest.fixture(scope="module")
def paired(published, one_shot):
    return os1.paired_answers(published, one_shot)


def test_real_one_shot_correlations_are_methods(one_shot):
    # METHODS §8.8: r = 0.73 over 12 models (MSP), r = 0.64 over 10 (Max Logit), on every one-shot
    # cell, each model averaged over the cells it has (Falcon: 8, no TruthfulQA)
    corr = os1.one_shot_correlations(one_shot).set_index("y")
    assert corr.loc["auroc_msp", "n"] == 12 and round(corr.loc["auroc_msp", "pearson_r"], 2) == 0.73
    assert corr.loc["auroc_max_logit", "n"] == 10 and round(corr.loc["auroc_max_logit", "pearson_r"], 2) == 0.64
    assert corr.loc["auroc_msp", "pearson_r"] == pytest.approx(0.7291, abs=5e-5)
    assert corr.loc["auroc_max_logit", "pearson_r"] == pytest.approx(0.6395, abs=5e-5)


def test_real_pairing(published, one_shot, paired):
    counts = os1.same_question_counts(published, one_shot, paired).set_index("model")
    assert counts["n_paired"].sum() == len(one_shot) == 438_140  # every one-shot answer has its twin
    assert counts.loc[["Llama3-8b", "Llama3-70b"], "n_one"].eq(0).all()
    assert counts.loc["Falcon-7b", "n_paired"] == 5500 and counts.loc["Falcon-40b", "n_paired"] == 5000
    assert counts.loc["gpt-4-turbo", "n_paired"] == 42_314  # HellaSwag first phrasing lacks q1500-1999


def test_real_claims_by_shots(paired):
    table = os1.claims_by_shots(paired).set_index("shots")
    assert table.loc[1, "r_msp"] == pytest.approx(0.7291, abs=5e-5)  # all one-shot answers are paired
    assert table.loc[0, "r_msp"] == pytest.approx(0.8172, abs=5e-5)  # zero-shot on the same questions
    assert table.loc[0, "r_max_logit"] == pytest.approx(0.9328, abs=5e-5)
    assert table.loc[1, "n_miscalibrated"] == 12 and table.loc[0, "n_miscalibrated"] == 11
    assert table.loc[1, "n_above_chance_msp"] == 8 and table.loc[0, "n_above_chance_msp"] == 11
    assert table.loc[1, "n_sig_above_msp"] == 85 and table.loc[0, "n_sig_above_msp"] == 97
    assert table.loc[1, "n_cells_msp"] == 116
    assert bool(table.loc[0, "abstention_claim"]) and not bool(table.loc[1, "abstention_claim"])


def test_real_accuracy_drops_with_one_example(paired):
    measures = os1.paired_measures(paired).pivot(index="model", columns="shots", values="accuracy")
    drop = measures[0] - measures[1]
    # METHODS §8.8: one-shot accuracy is 0.6-13.4 points below zero-shot on the same questions
    assert round(drop.min(), 1) == 0.6 and round(drop.max(), 1) == 13.4
    assert drop.idxmin() == "Falcon-7b" and drop.idxmax() == "Llama-70b"
    by_dataset = os1.accuracy_drop_by_dataset(paired).set_index(["model", "dataset"])
    assert len(by_dataset) == 2 * 4 + 10 * 5


def test_real_paired_bootstrap(paired):
    two = paired[paired["model"].isin(["Llama-70b", "gpt-4-turbo"])]
    diff = os1.paired_differences(two, n_boot=40, seed=1).set_index(["model", "measure"])
    llama = diff.loc[("Llama-70b", "accuracy")]
    assert llama["difference"] == pytest.approx(-13.365, abs=5e-4)
    assert llama["high"] < 0
    gpt = diff.loc[("gpt-4-turbo", "auroc_msp")]
    assert gpt["difference"] == pytest.approx(-8.774, abs=5e-4) and gpt["high"] < 0
    assert np.isnan(diff.loc[("gpt-4-turbo", "auroc_max_logit"), "zero"])
