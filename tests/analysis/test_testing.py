"""helpers.analysis.testing: hand cases of every test (Holm / BH, Wilcoxon, t-tests, Fisher z,
permutation p, leave-out ranges, model bootstrap, calibration verdicts), then the real data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from helpers.analysis import metrics, significance
from helpers.analysis import cells as cell_tables
from helpers.analysis import bootstrap as bs
from helpers.analysis import testing as ts


def cells_frame(rows):
    """Rows of cell_tables.cell_table from (model, dataset, phrasing, signal, auroc, p_two, p_one)."""
    return pd.DataFrame(rows, columns=["model", "dataset", "phrasing", "signal", "auroc",
                                       "mw_p_two_sided", "mw_p_one_sided"])


HAND = cells_frame([
    ("Mistral", "arc", "first", "msp", 70.0, 0.02, 0.01),
    ("Mistral", "arc", "first", "max_logit", 60.0, 0.08, 0.04),
    ("Mistral", "arc", "second", "msp", 65.0, 0.04, 0.02),
    ("Mistral", "arc", "second", "max_logit", 66.0, 0.06, 0.03),
    ("gpt-4-turbo", "arc", "first", "msp", 80.0, 1e-6, 5e-7),
    ("Own-model", "arc", "first", "msp", 51.0, 0.9, 0.45),   # a scored model: never in a family
])


# --- corrections --------------------------------------------------------------------------------

def test_holm_and_bh_by_hand():
    out = ts.corrected_cell_pvalues(HAND, alpha=0.05)
    assert len(out) == 5 and "Own-model" not in set(out["model"])
    # one-sided p sorted: 5e-7, .01, .02, .03, .04 (m = 5)
    # Holm: running max of (m - i) p: 2.5e-6, .04, .06, .06, .06
    holm = dict(zip(out["p_one_sided"], out["p_holm"]))
    assert holm[5e-7] == pytest.approx(2.5e-6)
    assert holm[0.01] == pytest.approx(0.04)
    assert holm[0.02] == pytest.approx(0.06) and holm[0.03] == pytest.approx(0.06)
    assert holm[0.04] == pytest.approx(0.06)
    # BH: running min from the top of p m / rank: .04*5/5=.04, .03*5/4=.0375, .02*5/3, .01*5/2, 5e-7*5
    bh = dict(zip(out["p_one_sided"], out["p_bh"]))
    assert bh[0.04] == pytest.approx(0.04) and bh[0.03] == pytest.approx(0.0375)
    assert bh[0.02] == pytest.approx(0.1 / 3) and bh[0.01] == pytest.approx(0.025)
    assert bh[5e-7] == pytest.approx(2.5e-6)
    assert out["sig_holm"].sum() == 2 and out["sig_bh"].sum() == 5
    assert out["sig_paper"].sum() == 1   # two-sided p < 1e-4
    assert out["sig_one_sided"].sum() == 5


def test_corrections_equal_statsmodels_on_random_pvalues():
    rng = np.random.default_rng(0)
    p = rng.random(40) ** 3
    frame = cells_frame([("Mistral", "arc", f"p{i}", "msp", 60.0, min(1, 2 * v), v) for i, v in enumerate(p)])
    out = ts.corrected_cell_pvalues(frame, alpha=0.1)
    np.testing.assert_allclose(out["p_holm"], multipletests(p, 0.1, "holm")[1])
    np.testing.assert_allclose(out["p_bh"], multipletests(p, 0.1, "fdr_bh")[1])
    np.testing.assert_array_equal(out["sig_bh"], multipletests(p, 0.1, "fdr_bh")[0])


def test_cells_without_p_are_left_out_of_the_family():
    frame = pd.concat([HAND, cells_frame([("Mistral", "mmlu", "first", "msp", np.nan, np.nan, np.nan)])])
    out = ts.corrected_cell_pvalues(frame)
    finite = out[out["p_one_sided"].notna()]
    np.testing.assert_allclose(finite["p_holm"], ts.corrected_cell_pvalues(HAND)["p_holm"])
    assert out["p_holm"].isna().sum() == 1 and not out.loc[out["p_holm"].isna(), "sig_holm"].any()


def test_significant_cell_counts_by_hand():
    counts = ts.significant_cell_counts(ts.corrected_cell_pvalues(HAND)).set_index(["model", "signal"])
    assert list(counts.index) == [("Mistral", "msp"), ("Mistral", "max_logit"), ("gpt-4-turbo", "msp")]
    assert counts.loc[("Mistral", "msp")].tolist() == [2, 0, 2, 1, 2]
    assert counts.loc[("Mistral", "max_logit")].tolist() == [2, 0, 2, 0, 2]
    assert counts.loc[("gpt-4-turbo", "msp")].tolist() == [1, 1, 1, 1, 1]


# --- MSP against Max Logit -------------------------------------------------------------------------

PAIRED = cells_frame(
    [(m, d, ph, "msp", a, 0.01, 0.005) for m, d, ph, a, _ in
     [("Mistral", "arc", "first", 70, 0), ("Mistral", "arc", "second", 68, 0), ("Yi-6b", "arc", "first", 60, 0),
      ("Yi-6b", "arc", "second", 61, 0), ("Solar", "arc", "first", 55, 0), ("Solar", "arc", "second", 59, 0)]]
    + [(m, d, ph, "max_logit", a, 0.01, 0.005) for m, d, ph, a in
       [("Mistral", "arc", "first", 65), ("Mistral", "arc", "second", 69.5), ("Yi-6b", "arc", "first", 57),
        ("Yi-6b", "arc", "second", 58), ("Solar", "arc", "first", 56), ("Solar", "arc", "second", 52)]]
    + [("gpt-4-turbo", "arc", ph, "msp", a, 0.001, 0.0005) for ph, a in (("first", 90), ("second", 88))])


def test_signal_pairs_by_hand():
    pairs = ts.signal_pairs(PAIRED).set_index(["model", "phrasing"])
    assert len(pairs) == 6   # GPT has no Max Logit
    assert pairs.at[("Mistral", "first"), "difference"] == 5
    assert pairs.at[("Mistral", "second"), "difference"] == -1.5
    assert pairs.at[("Solar", "second"), "difference"] == 7


def test_signal_wilcoxon_equals_scipy():
    diff = np.array([5, -1.5, 3, 3, -1, 7])
    out = ts.signal_wilcoxon_test(PAIRED)
    assert out["n_pairs"] == 6 and out["n_positive"] == 4
    assert out["mean_difference"] == pytest.approx(diff.mean())
    assert out["p_two_sided"] == pytest.approx(stats.wilcoxon(diff).pvalue)
    assert out["p_one_sided"] == pytest.approx(stats.wilcoxon(diff, alternative="greater").pvalue)
    # by hand: ranks of |d| = 1 (1), 1.5 (2), 3 (3.5), 3 (3.5), 5 (5), 7 (6); W- = 1 + 2 = 3
    assert out["statistic"] == 3.0


def test_signal_t_tests_and_gpt_share_by_hand():
    tests = ts.signal_t_tests(PAIRED).set_index("cells")
    msp_all = [70, 68, 60, 61, 55, 59, 90, 88]
    msp_open = [70, 68, 60, 61, 55, 59]
    logit = [65, 69.5, 57, 58, 56, 52]
    for name, msp in (("all", msp_all), ("without_gpt", msp_open)):
        want = stats.ttest_ind(msp, logit, equal_var=True, alternative="greater")
        assert tests.at[name, "t"] == pytest.approx(want.statistic)
        assert tests.at[name, "p"] == pytest.approx(want.pvalue)
        assert tests.at[name, "gap"] == pytest.approx(np.mean(msp) - np.mean(logit))
    share = ts.gpt_gap_share(PAIRED)
    gap_all, gap_open = np.mean(msp_all) - np.mean(logit), np.mean(msp_open) - np.mean(logit)
    assert share["gpt_share"] == pytest.approx((gap_all - gap_open) / gap_all)
    assert share["n_gpt_cells"] == 2


# --- correlations ---------------------------------------------------------------------------------

def test_fisher_z_interval_by_hand():
    lo, hi = ts.fisher_z_interval(0.5, 28)
    # atanh(0.5) = 0.549306; 1.959964 / sqrt(25) = 0.391993
    assert lo == pytest.approx(math.tanh(0.5493061443 - 0.3919928), rel=1e-7)
    assert hi == pytest.approx(math.tanh(0.5493061443 + 0.3919928), rel=1e-7)
    assert lo == pytest.approx(0.1560, abs=1e-4) and hi == pytest.approx(0.7358, abs=2e-4)
    assert all(math.isnan(v) for v in ts.fisher_z_interval(0.5, 3))


def test_permutation_pvalues_exact_by_hand():
    # x = y = 1..4: of the 24 orders only the identity and the reversal reach |r| = 1
    p_pearson, p_spearman = ts.permutation_pvalues([1, 2, 3, 4], [1, 2, 3, 4])
    assert p_pearson == pytest.approx(2 / 24) and p_spearman == pytest.approx(2 / 24)
    # y = (2, 1, 4, 3) against 1..4: r = 1 - sum(d^2) / 10 = 0.6; |r*| >= 0.6 iff sum(d^2) <= 4
    # (identity, 3 adjacent swaps, (2, 1, 4, 3)) or >= 16 (their 5 reversals): 10 of 24
    assert ts.permutation_pvalues([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx((10 / 24, 10 / 24))
    # n = 3: every order of (1, 3, 2) has |r*| >= 0.5
    assert ts.permutation_pvalues([1, 2, 3], [1, 3, 2])[0] == 1.0


def test_permutation_pvalues_exact_equal_scipy():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=7), rng.normal(size=7)
    ours = ts.permutation_pvalues(x, y, n_permutations=10_000)   # 7! = 5040: enumerated
    # scipy's recipe for a correlation: permute the one sample y against the fixed x; two-sided as
    # P(|r*| >= |r|), i.e. the statistic |r| with the alternative 'greater'
    want = stats.permutation_test((y,), lambda b: abs(stats.pearsonr(x, b).statistic),
                                  permutation_type="pairings", n_resamples=np.inf, alternative="greater").pvalue
    assert ours[0] == pytest.approx(want, rel=1e-9)


def test_permutation_pvalues_monte_carlo_is_seeded_and_bounded():
    rng = np.random.default_rng(4)
    x = rng.normal(size=12)
    y = x + rng.normal(size=12)
    a = ts.permutation_pvalues(x, y, n_permutations=2000, seed=1)
    assert a == ts.permutation_pvalues(x, y, n_permutations=2000, seed=1)
    assert a != ts.permutation_pvalues(x, y, n_permutations=2000, seed=2)
    assert all(1 / 2001 <= p <= 1 for p in a)
    # the count behind it, recomputed with the same permutations
    perms = np.random.default_rng(1).permuted(np.tile(np.arange(12), (2000, 1)), axis=1)
    r = metrics.correlation(x, y).pearson_r
    hits = sum(abs(np.corrcoef(x, y[p])[0, 1]) >= abs(r) - 1e-12 for p in perms)
    assert a[0] == pytest.approx((1 + hits) / 2001)
    assert all(math.isnan(p) for p in ts.permutation_pvalues([1, 1, 1], [1, 2, 3]))


def test_model_resample_intervals_equal_a_loop():
    x = np.array([1.0, 2, 3, 4, 5, 6, 7])
    y = np.array([1.5, 1.0, 3.5, 3.0, 6.0, 5.0, 8.0])
    out = ts.model_resample_intervals(x, y, n_resamples=300, seed=9)
    idx = np.random.default_rng(9).integers(0, 7, size=(300, 7))
    r = np.array([metrics.correlation(x[i], y[i]).pearson_r for i in idx])
    rho = np.array([metrics.correlation(x[i], y[i]).spearman_rho for i in idx])
    assert (out["pearson_lo"], out["pearson_hi"]) == pytest.approx(tuple(np.nanpercentile(r, [2.5, 97.5])))
    assert (out["spearman_lo"], out["spearman_hi"]) == pytest.approx(tuple(np.nanpercentile(rho, [2.5, 97.5])))
    assert out["n_valid"] == np.isfinite(r).sum()


MODELS = pd.DataFrame({
    "model": ["Llama-7b", "Llama-13b", "Mistral", "Mixtral", "Yi-6b", "gpt-4-turbo", "Own-model"],
    "accuracy": [40.0, 47, 55, 68, 50, 80, 10],
    "auroc_msp": [58.0, 60, 63, 70, 61, 72, 99],
    "params_b": [7, 13, 7, 46.7, 6, np.nan, 1],
})


def test_leave_out_correlations_by_model_and_family():
    lomo = ts.leave_out_correlations(MODELS, "accuracy", "auroc_msp", by="model").set_index("left_out")
    assert list(lomo.index) == ["Llama-7b", "Llama-13b", "Mistral", "Mixtral", "Yi-6b", "gpt-4-turbo"]
    rest = MODELS.iloc[[0, 1, 2, 4, 5]]
    assert lomo.at["Mixtral", "pearson_r"] == pytest.approx(np.corrcoef(rest["accuracy"], rest["auroc_msp"])[0, 1])
    lofo = ts.leave_out_correlations(MODELS, "accuracy", "auroc_msp", by="family").set_index("left_out")
    assert list(lofo.index) == ["Llama 2", "Mistral", "Yi", "GPT"]
    rest = MODELS.iloc[[0, 1, 4, 5]]   # Mistral and Mixtral leave together
    assert lofo.at["Mistral", "pearson_r"] == pytest.approx(np.corrcoef(rest["accuracy"], rest["auroc_msp"])[0, 1])
    assert lofo.at["Mistral", "n"] == 4
    size = ts.leave_out_correlations(MODELS, "params_b", "accuracy", by="family")
    assert "GPT" not in set(size["left_out"])   # no size: never in the size relations


# --- the real data --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_cells(published):
    return cell_tables.cell_table(published)


@pytest.fixture(scope="module")
def real_models(published, real_cells):
    return cell_tables.model_summary(published, real_cells)


@pytest.fixture(scope="module")
def real_boot(published):
    return bs.question_bootstrap(published, n_resamples=100)


def test_real_corrected_counts(real_cells):
    counts = ts.significant_cell_counts(ts.corrected_cell_pvalues(real_cells))
    columns = ["n_cells", "n_sig_paper", "n_sig_one_sided", "n_sig_holm", "n_sig_bh"]
    totals = counts.groupby("signal")[columns].sum()
    # the paper's count (two-sided p < 1e-4) against one-sided tests corrected at 0.05
    assert totals.loc["msp"].tolist() == [140, 119, 127, 122, 127]
    assert totals.loc["max_logit"].tolist() == [120, 93, 105, 96, 104]
    falcon = counts.set_index(["model", "signal"]).loc[("Falcon-7b", "msp")]
    assert (falcon["n_sig_paper"], falcon["n_sig_holm"], falcon["n_sig_bh"]) == (1, 1, 2)
    # models whose every MSP cell survives Holm: the same 9 as the paper's 10/10 count
    paper_full = counts[(counts["signal"] == "msp") & (counts["n_sig_paper"] == 10)]["model"].tolist()
    holm_full = counts[(counts["signal"] == "msp") & (counts["n_sig_holm"] == 10)]["model"].tolist()
    assert holm_full == paper_full and len(holm_full) == 9 and "Solar" not in holm_full


def test_real_msp_against_max_logit(real_cells, real_boot):
    wilcoxon = ts.signal_wilcoxon_test(real_cells)
    assert wilcoxon["n_pairs"] == 120 and wilcoxon["n_positive"] == 88
    assert wilcoxon["mean_difference"] == pytest.approx(2.1863, abs=1e-4)
    assert wilcoxon["p_two_sided"] == pytest.approx(1.45e-7, rel=0.01)
    tests = ts.signal_t_tests(real_cells).set_index("cells")
    assert tests.at["all", "p"] == pytest.approx(8.8e-5, rel=0.01)            # the paper's p
    means = (tests.at["all", "mean_msp"], tests.at["all", "mean_max_logit"])
    assert means == pytest.approx((66.53, 62.00), abs=0.01)
    assert tests.at["without_gpt", "p"] == pytest.approx(0.0257, abs=1e-4)
    share = ts.gpt_gap_share(real_cells)
    assert share["gpt_share"] == pytest.approx(0.5175, abs=1e-4) and share["n_gpt_cells"] == 20
    interval = ts.signal_difference_interval(real_boot)
    assert interval["estimate"] == pytest.approx(wilcoxon["mean_difference"])
    assert 1.8 < interval["lo"] < interval["estimate"] < interval["hi"] < 2.6
    assert interval["share_nonpositive"] == 0


def test_real_correlation_uncertainty(real_models, real_boot):
    table = ts.correlation_uncertainty(real_models, real_boot, n_permutations=2000, n_model_resamples=2000)
    table = table.set_index(["x", "y", "method"])
    msp = table.loc[("accuracy", "auroc_msp", "pearson")]
    assert round(msp["estimate"], 4) == 0.8313 and msp["n"] == 14
    assert (msp["fisher_lo"], msp["fisher_hi"]) == pytest.approx(ts.fisher_z_interval(msp["estimate"], 14))
    assert msp["fisher_lo"] == pytest.approx(0.538, abs=1e-3)
    assert msp["question_lo"] < msp["estimate"] < msp["question_hi"]
    assert msp["model_lo"] < msp["question_lo"]          # models, not questions, are the large noise
    assert msp["permutation_p"] < 0.005
    assert (msp["lofo_min"], msp["lofo_min_family"]) == (pytest.approx(0.7524, abs=1e-4), "GPT")
    assert (msp["lofo_max"], msp["lofo_max_family"]) == (pytest.approx(0.8907, abs=1e-4), "SOLAR")
    logit = table.loc[("accuracy", "auroc_max_logit", "pearson")]
    assert logit["estimate"] == pytest.approx(0.9094, abs=1e-4) and logit["n"] == 12
    assert logit["lofo_min"] == pytest.approx(0.8443, abs=1e-4) and logit["lofo_min_family"] == "Falcon"
    calib = table.loc[("accuracy", "calibration_error_uniform_cells", "pearson")]
    assert calib["permutation_p"] > 0.3 and calib["fisher_lo"] < 0 < calib["fisher_hi"]
    size = table.loc[("params_b", "auroc_msp", "pearson")]
    assert size["n"] == 12 and size["estimate"] == pytest.approx(0.579, abs=1e-3)
    assert size["lomo_min_model"] == "Llama3-70b" and size["lomo_min"] < 0.35   # hangs on one model
    assert len(table) == 2 * len(bs.PAIRS)
    assert table.xs("spearman", level="method")["fisher_lo"].isna().all()


def test_real_calibration_verdicts(real_boot):
    verdicts = ts.calibration_verdicts(real_boot).set_index("model")
    assert len(verdicts) == 14
    # every model but Yi 34B is miscalibrated beyond resampling noise under every variant
    assert verdicts["above"].sum() == 13 and not verdicts.at["Yi-34b", "above"]
    assert verdicts.at["Yi-34b", "estimate"] == pytest.approx(0.0486, abs=1e-4)
    assert verdicts.at["Yi-34b", "lo"] < 0.05 < verdicts.at["Yi-34b", "hi"]
    assert verdicts.at["Yi-34b", "variants_above"] == "calibration_error_uniform_cells"
    assert verdicts.drop(index="Yi-34b")["agrees"].all()
    assert verdicts["miscalibrated"].sum() == len(significance.miscalibrated_models(real_boot.model_point)) == 13
    intervals = ts.calibration_intervals(real_boot)
    assert len(intervals) == 14 * 4 and set(intervals["tolerance"]) == {0.05}


def test_real_exact_permutation_agrees_with_scipy_on_a_subset(real_models):
    # 7 models: all 5040 orders enumerated, against scipy's exact permutation test
    data = real_models.dropna(subset=["auroc_max_logit"]).head(7)
    ours = ts.permutation_pvalues(data["accuracy"], data["auroc_max_logit"])
    x, y = data["accuracy"].to_numpy(), data["auroc_max_logit"].to_numpy()
    want = stats.permutation_test((y,), lambda b: abs(stats.pearsonr(x, b).statistic),
                                  permutation_type="pairings", n_resamples=np.inf, alternative="greater").pvalue
    assert ours[0] == pytest.approx(want, rel=1e-9)
    assert len(list(itertools.permutations(range(7)))) == 5040
