"""Recalibration: hand-computed measures, references (relplot, scikit-learn), maps, the real data."""

import math

import numpy as np
import pandas as pd
import pytest
import relplot
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sklearn_log_loss

from helpers.analysis import metrics
from helpers.analysis import recalibration as rec


def _synthetic(rng, n, power=0.3, shift=2.0):
    """Overconfident probabilities: the truth is conf ** shift."""
    conf = rng.random(n) ** power
    return conf, rng.random(n) < conf ** shift


# --- clipping and the scores ------------------------------------------------------------------------

def test_clipping_keeps_float32_msps_apart():
    assert rec.EPS == 2.0 ** -25
    one, below = np.float32(1.0), np.nextafter(np.float32(1.0), np.float32(0))
    logits = rec.clipped_logit(np.array([one, below, 0.0], dtype=np.float32))
    assert logits[0] == pytest.approx(math.log((1 - 2 ** -25) / 2 ** -25))  # ≈ 17.33
    assert logits[1] == pytest.approx(math.log((1 - 2 ** -24) / 2 ** -24))  # ≈ 16.64
    assert logits[0] > logits[1] and logits[2] == -logits[0]


def test_log_loss_by_hand_and_against_sklearn():
    assert rec.log_loss([0.8, 0.4], [True, False]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    # a wrong answer at probability 1 costs −ln EPS, not infinity
    assert rec.log_loss([1.0], [False]) == pytest.approx(25 * math.log(2))
    rng = np.random.default_rng(1)
    conf, correct = _synthetic(rng, 500)
    conf = np.clip(conf, 1e-3, 1 - 1e-3)
    assert rec.log_loss(conf, correct) == pytest.approx(sklearn_log_loss(correct, conf, labels=[False, True]), rel=1e-12)


def test_brier_against_sklearn():
    rng = np.random.default_rng(2)
    conf, correct = _synthetic(rng, 500)
    assert rec.brier_score(conf, correct) == pytest.approx(brier_score_loss(correct, conf), rel=1e-12)


def test_murphy_decomposition_by_hand():
    # forecasts 0.2, 0.2, 0.8, 0.8 for outcomes 0, 1, 1, 1 (10 equal-width bins: two non-empty)
    # REL = [2·0.3² + 2·0.2²]/4 = 0.065, RES = [2·0.25² + 2·0.25²]/4 = 0.0625, UNC = 0.75·0.25
    # Brier = (0.04 + 0.64 + 0.04 + 0.04)/4 = 0.19 = 0.065 − 0.0625 + 0.1875
    d = rec.brier_decomposition([0.2, 0.2, 0.8, 0.8], [False, True, True, True], bins="uniform")
    assert d["reliability"] == pytest.approx(0.065)
    assert d["resolution"] == pytest.approx(0.0625)
    assert d["uncertainty"] == pytest.approx(0.1875)
    assert d["brier"] == pytest.approx(0.19)
    assert d["within_bin"] == pytest.approx(0, abs=1e-15)


def test_murphy_identity_exact_for_binned_forecasts():
    rng = np.random.default_rng(3)
    conf, correct = _synthetic(rng, 2000)
    binned = np.round(conf * 10 - 0.5).clip(0, 9) / 10 + 0.05  # one forecast value per equal-width bin
    d = rec.brier_decomposition(binned, correct, bins="uniform")
    assert d["reliability"] - d["resolution"] + d["uncertainty"] == pytest.approx(d["brier"], abs=1e-14)


def test_murphy_within_bin_terms_are_stephensons():
    rng = np.random.default_rng(4)
    conf, correct = _synthetic(rng, 3000)
    d = rec.brier_decomposition(conf, correct)  # equal-mass bins
    table = metrics.reliability_bins(conf, correct, "quantile", last_bin_closed=True)
    idx = np.searchsorted(table["lower"].to_numpy(), conf, side="right") - 1
    idx[conf == 1.0] = 9
    f_bar, o_bar = table["mean_conf"].to_numpy()[idx], table["frac_correct"].to_numpy()[idx]
    wbv = np.mean((conf - f_bar) ** 2)
    wbc = 2 * np.mean((conf - f_bar) * (correct - o_bar))
    assert d["within_bin"] == pytest.approx(wbv - wbc, abs=1e-12)
    assert d["brier"] == pytest.approx(d["reliability"] - d["resolution"] + d["uncertainty"] + wbv - wbc, abs=1e-12)


# --- smooth ECE against relplot ---------------------------------------------------------------------

@pytest.mark.parametrize("n, seed", [(30, 5), (1000, 6), (40_000, 7)])
def test_smooth_ece_equals_relplot(n, seed):
    rng = np.random.default_rng(seed)
    conf, correct = _synthetic(rng, n)
    conf[: n // 10] = 1.0  # saturated MSPs, as in the data
    assert rec.smooth_ece(conf, correct) == pytest.approx(relplot.smECE(conf, correct.astype(float)), abs=1e-12)
    assert rec.smooth_ece_at(conf, correct, 0.05) == pytest.approx(
        relplot.smECE_sigma(conf, correct.astype(float), 0.05), abs=1e-12)


@pytest.mark.filterwarnings("ignore:Passing a dict to DataFrame.from_records")
def test_smooth_curve_equals_relplots_and_its_band_is_close():
    rng = np.random.default_rng(8)
    conf, correct = _synthetic(rng, 3000)
    ours = rec.smooth_reliability_curve(conf, correct, n_boot=200, seed=1)
    theirs = relplot.prepare_rel_diagram(conf, correct.astype(float), plot_confidence_band=False, report_CE_std=False)
    assert ours["t"].to_numpy() == pytest.approx(theirs["mesh"], abs=0)
    assert ours["mu"].to_numpy() == pytest.approx(theirs["mu"], abs=1e-12)
    assert ours["density"].to_numpy() == pytest.approx(theirs["density"], abs=1e-12)
    assert ours["sigma"].iloc[0] == theirs["sigma"]
    # relplot's band bags the same smoother without a seed: the bands agree up to resampling noise
    np.random.seed(0)
    band = relplot.prepare_rel_diagram(conf, correct.astype(float), num_bootstrap=200, report_CE_std=False)
    inner = (ours["t"] > 0.2).to_numpy()  # where answers are
    assert np.abs(ours["lower"] - band["lower"])[inner].mean() < 0.01
    assert np.abs(ours["upper"] - band["upper"])[inner].mean() < 0.01
    assert (ours["lower"] <= ours["upper"]).all()


def test_smooth_ece_of_a_constant_forecast_is_its_gap():
    correct = np.arange(1000) % 2 == 0  # accuracy 1/2 at confidence 0.7 everywhere
    assert rec.smooth_ece(np.full(1000, 0.7), correct) == pytest.approx(0.2, abs=1e-3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rec.smooth_ece([1.5, 0.2], [True, False])


# --- maps -------------------------------------------------------------------------------------------

def test_platt_is_sklearn_logistic_regression_on_the_logit():
    rng = np.random.default_rng(9)
    conf, correct = _synthetic(rng, 200)
    fitted = rec.platt_map(conf, correct)
    reference = LogisticRegression().fit(rec.clipped_logit(conf)[:, None], correct)
    test = rng.random(50)
    expected = reference.predict_proba(rec.clipped_logit(test)[:, None])[:, 1]
    assert fitted(test) == pytest.approx(expected, abs=1e-12)
    raw = rec.platt_map(10 * conf, correct, on_logit=False)
    assert raw(10 * test) == pytest.approx(
        LogisticRegression().fit(10 * conf[:, None], correct).predict_proba(10 * test[:, None])[:, 1], abs=1e-12)


def test_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(10)
    z = rng.normal(0, 3, 50_000)
    correct = rng.random(z.size) < 1 / (1 + np.exp(-z / 2.5))  # true temperature 2.5
    fitted = rec.temperature_map(1 / (1 + np.exp(-z)), correct)
    assert fitted.params["T"] == pytest.approx(2.5, rel=0.03)
    # T is the minimiser: nudging it either way costs log loss
    conf = 1 / (1 + np.exp(-z))
    best = rec.log_loss(fitted(conf), correct)
    for factor in (0.99, 1.01):
        nudged = 1 / (1 + np.exp(-rec.clipped_logit(conf) / (fitted.params["T"] * factor)))
        assert rec.log_loss(nudged, correct) > best


def test_isotonic_is_sklearns_and_non_decreasing():
    rng = np.random.default_rng(11)
    conf, correct = _synthetic(rng, 300)
    fitted = rec.isotonic_map(conf, correct)
    grid = np.linspace(-0.5, 1.5, 400)
    reference = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(conf, correct.astype(float))
    assert fitted(grid) == pytest.approx(reference.predict(grid), abs=0)
    assert (np.diff(fitted(grid)) >= 0).all()


def test_histogram_binning_by_hand():
    fitted = rec.histogram_map([0.1, 0.2, 0.3, 0.4], [False, True, True, True], n_bins=2)
    assert fitted.params["borders"] == [0.25] and fitted.params["values"] == [0.5, 1.0]
    assert fitted([0.05, 0.2, 0.25, 0.9]).tolist() == [0.5, 0.5, 1.0, 1.0]
    # a border would split equal confidences: the groups merge
    merged = rec.histogram_map([0.5, 0.5, 0.5, 0.9], [False, True, True, True], n_bins=2)
    assert merged.params["borders"] == [] and merged([0.1, 0.99]).tolist() == [0.75, 0.75]
    # every bin holds training answers
    rng = np.random.default_rng(12)
    conf, correct = _synthetic(rng, 20)
    conf[:8] = 1.0
    fitted = rec.histogram_map(conf, correct)
    which = np.searchsorted(fitted.params["borders"], conf, side="right")
    assert set(which) == set(range(len(fitted.params["values"])))


@pytest.mark.parametrize("method", ["platt", "temperature", "isotonic", "histogram"])
@pytest.mark.parametrize("label", [True, False])
def test_one_class_training_answers_give_the_laplace_constant(method, label):
    conf = np.linspace(0.3, 1.0, 20)
    fitted = rec.calibration_map(method, conf, np.full(20, label))
    assert fitted.degenerate
    expected = 21 / 22 if label else 1 / 22
    assert fitted(np.array([0.0, 0.5, 1.0])).tolist() == pytest.approx([expected] * 3)


def test_strictly_increasing_maps_keep_auroc_isotonic_may_not():
    rng = np.random.default_rng(13)
    for _ in range(20):
        conf, correct = _synthetic(rng, 400)
        conf = np.round(conf, 3)
        train, test = slice(0, 100), slice(100, None)
        before = metrics.auroc_pct(conf[test], correct[test])
        for method in ("platt", "temperature"):
            fitted = rec.calibration_map(method, conf[train], correct[train])
            assert metrics.auroc_pct(fitted(conf[test]), correct[test]) == pytest.approx(before, abs=1e-9)
    with pytest.raises(ValueError, match="Max Logit"):
        rec.calibration_map("temperature", conf, correct, signal="max_logit")


def test_isotonic_ties_change_auroc_by_hand():
    # PAV on (0.1 wrong, 0.2 right, 0.3 wrong, 0.4 right) pools the middle pair: 0, 1/2, 1/2, 1
    conf, correct = np.array([0.1, 0.2, 0.3, 0.4]), np.array([False, True, False, True])
    fitted = rec.isotonic_map(conf, correct)
    assert fitted(conf).tolist() == [0.0, 0.5, 0.5, 1.0]
    # AUROC 3/4 before; after, the tie between 0.2 (right) and 0.3 (wrong) counts 1/2: 3.5/4
    assert metrics.auroc_pct(conf, correct) == 75.0
    assert metrics.auroc_pct(fitted(conf), correct) == 87.5


def test_recalibration_improves_overconfidence_on_synthetic_answers():
    rng = np.random.default_rng(14)
    conf, correct = _synthetic(rng, 20_000)
    before = rec.probability_measures(conf[2000:], correct[2000:])
    for method in ("platt", "isotonic", "histogram"):
        fitted = rec.calibration_map(method, conf[:2000], correct[:2000])
        after = rec.probability_measures(fitted(conf[2000:]), correct[2000:])
        assert after["ece_equal_mass"] < before["ece_equal_mass"] / 2
        assert after["brier"] < before["brier"]
    # one temperature cannot turn conf into conf²: it helps, but less
    fitted = rec.temperature_map(conf[:2000], correct[:2000])
    after = rec.probability_measures(fitted(conf[2000:]), correct[2000:])
    assert before["ece_equal_mass"] / 2 < after["ece_equal_mass"] < before["ece_equal_mass"]


def _toy_answers(rng, n_questions=120):
    rows = []
    for model, skill in (("Llama-7b", 0.5), ("gpt-4-turbo", 0.95)):
        for dataset in ("arc", "mmlu"):
            for phrasing in ("first", "second"):
                for qid in range(n_questions):
                    conf = float(rng.random() ** 0.3)
                    right = rng.random() < (skill if model == "gpt-4-turbo" else conf ** 2)
                    rows.append((model, dataset, phrasing, 0, qid, right, conf))
    out = pd.DataFrame(rows, columns=["model", "dataset", "phrasing", "shots", "qid", "correct", "msp"])
    return out.assign(max_logit=np.where(out["model"] == "gpt-4-turbo", np.nan, 20 * out["msp"]))


def test_recalibration_table_structure_and_degenerate_fits():
    answers = _toy_answers(np.random.default_rng(15))
    table = rec.recalibration_table(answers, k=5, scope="dataset")
    msp = table[table["signal"] == "msp"]
    assert msp["method"].tolist() == ["none", "platt", "temperature", "isotonic", "histogram"] * 2
    assert (msp["n_train"] == 10).all() and (msp["n_test"] == 2 * 240 - 10).all()
    assert (msp.loc[msp["method"] != "none", "n_fits"] == 2).all()
    # GPT-4 answers right 95% of the time: some 5-answer training sets are all right
    gpt = msp[(msp["model"] == "gpt-4-turbo") & (msp["method"] != "none")]
    assert (gpt["n_degenerate"] >= 1).all()
    logit = table[table["signal"] == "max_logit"]
    assert logit["model"].unique().tolist() == ["Llama-7b"]
    assert logit.loc[logit["method"] == "none", "ece_equal_mass"].isna().all()
    model_scope = rec.recalibration_table(answers, k=5, signals=("msp",))
    assert (model_scope.loc[model_scope["method"] != "none", "n_fits"] == 1).all()
    summary = rec.still_miscalibrated(model_scope, tolerance=0.05)
    assert summary["n_models"].eq(2).all() and set(summary["method"]) == set(rec.METHODS["msp"])


# --- real data ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def k20(published):
    return rec.recalibration_table(published, k=20)


def test_real_recalibration_k20(k20):
    assert len(k20) == 14 * 5 + 12 * 4
    assert (k20["n_train"] == 100).all() and (k20["n_test"] == 42714).all() and (k20["n_degenerate"] == 0).all()
    ece = k20[k20["signal"] == "msp"].pivot(index="model", columns="method", values="ece_equal_mass")
    assert ece.loc["Mistral", "none"] == pytest.approx(0.4024, abs=5e-5)
    assert ece.loc["Mistral", "platt"] == pytest.approx(0.0930, abs=5e-5)
    assert ece.loc["Llama3-70b", "platt"] == pytest.approx(0.0161, abs=5e-5)
    assert ece.loc["gpt-4-turbo", "temperature"] == pytest.approx(0.0436, abs=5e-5)
    # Platt and temperature on logit(MSP) are increasing: AUROC untouched; isotonic ties lose some
    msp = k20[k20["signal"] == "msp"].set_index(["model", "method"])
    assert msp.xs("platt", level="method")["auroc_change"].abs().max() < 1e-12
    assert msp.xs("temperature", level="method")["auroc_change"].abs().max() < 1e-12
    assert msp.xs("isotonic", level="method")["auroc_change"].min() == pytest.approx(-0.0233, abs=5e-5)
    # Falcon 40B's Platt slope on Max Logit is negative: its order is reversed
    falcon = k20[(k20["model"] == "Falcon-40b") & (k20["signal"] == "max_logit")].set_index("method")["auroc"]
    assert falcon["platt"] == pytest.approx(1 - falcon["none"], abs=1e-12)


def test_real_still_miscalibrated_after_k20(k20):
    summary = rec.still_miscalibrated(k20).set_index(["signal", "method"])["n_miscalibrated"]
    assert summary[("msp", "none")] == 13
    assert summary[("msp", "platt")] == 3
    assert summary[("msp", "temperature")] == 9
    assert summary[("msp", "isotonic")] == 10
    assert summary[("msp", "histogram")] == 13
    models = rec.still_miscalibrated(k20).set_index(["signal", "method"]).loc[("msp", "platt"), "models"]
    assert models == "Falcon-40b, Llama-13b, Mistral"


def test_real_accuracy_against_error_after_recalibration(k20):
    corr = rec.accuracy_error_correlation(k20).set_index(["signal", "method"])
    assert corr.loc[("msp", "none"), "pearson_r"] == pytest.approx(-0.112, abs=5e-4)
    assert corr.loc[("msp", "platt"), "pearson_r"] == pytest.approx(-0.367, abs=5e-4)
    assert corr.loc[("msp", "platt"), "spearman_rho"] == pytest.approx(-0.578, abs=5e-4)
    assert corr.loc[("msp", "temperature"), "pearson_r"] == pytest.approx(-0.660, abs=5e-4)
    assert (corr["n"] == [14] * 5 + [12] * 3).all()


def test_real_reliability_before_after(published):
    bins, curves = rec.reliability_before_after(published, "platt", models=["Mistral"], n_boot=20)
    assert set(bins["stage"]) == {"before", "after"}
    assert (bins.groupby("stage")["count"].sum() == 42714).all()
    before = bins[bins["stage"] == "before"]
    assert before["frac_correct"].max() < before["mean_conf"].max()  # overconfident at the top
    assert len(curves) == 2 * rec.MESH_POINTS and curves["model"].eq("Mistral").all()
    assert (curves["lower"] <= curves["upper"] + 1e-12).all()
