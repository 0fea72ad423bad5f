"""helpers.report.facts: each chapter's typed facts, by hand on small tables (numbers and words), then a
few real values of every builder on the published answers, with and without a scored model."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from analysis.inputs import CELLS, real, short_of_mmlu, synthetic
from helpers.analysis import abstention, coverage, scored
from helpers.analysis.correlations import ACCURACY_PAIRS, SIZE_PAIRS
from helpers.data.method import MAX_NEW_TOKENS
from helpers.report import facts
from scored_rows import TINY


def coverage_of(rows) -> pd.DataFrame:
    """A ``scored.coverage`` table from (model, datasets, n_answers, n_possible) tuples."""
    return pd.DataFrame([(m, d, n, p, len(d) == 5, n == p) for m, d, n, p in rows],
                        columns=["model", "datasets", "n_answers", "n_possible", "all_datasets", "complete"])


# ---- correctness ------------------------------------------------------------------------------

MODELS = pd.DataFrame({
    "model": ["Yi-6b", "Mistral", "Falcon-7b", "Tiny"],
    "auroc_msp": [70.0, 60.0, 51.0, 99.0], "auroc_max_logit": [65.0, 61.0, 50.0, 10.0],
    "n_sig_msp": pd.array([2, 2, 0, 2], dtype="Int64"), "n_above_msp": pd.array([2, 1, 0, 2], dtype="Int64"),
    "n_cells_msp": pd.array([2, 2, 2, 2], dtype="Int64"),
})
TINY_COVERAGE = coverage_of([("Tiny", ["arc"], 10, 20)])


def test_correctness_facts_by_hand():
    f = facts.correctness_facts(MODELS, CELLS, TINY_COVERAGE)
    assert f.significance == "10⁻⁴"
    assert f.n_models == 3  # Tiny is ours: left out
    assert (f.n_supported, f.verdict) == (2, "holds for 2 of 3 models")
    assert f.supported_models == "Yi 6B and Mistral 7B"
    assert f.unsupported == "the exception is Falcon 7B"
    # Mistral: mean 60 but only 1 of 2 cells above chance, not a majority
    assert (f.n_above_chance, f.not_above_chance) == (1, "the exceptions are Mistral 7B and Falcon 7B")
    assert f.n_mean_above == 3
    assert (f.auroc_min, f.auroc_min_model, f.auroc_max, f.auroc_max_model) == (51.0, "Falcon 7B", 70.0, "Yi 6B")
    assert (f.n_logit_models, f.n_msp_better) == (3, 2)  # Yi and Falcon
    # paper cells: Yi-6b and Mistral (6); MSP 70, 45, 55, 49 against Max Logit 60
    assert (f.n_cells, f.n_below_chance, f.n_sidedness_differs) == (6, 2, 2)
    assert (f.n_msp_cells, f.n_logit_cells, f.mean_msp, f.mean_max_logit) == (4, 1, pytest.approx(54.75), 60.0)
    assert math.isnan(f.t_p)  # one Max Logit cell: no test
    assert f.scored == (
        "Tiny, one of ours, has a mean MSP AUROC of 99.0%, with 2 of its 2 MSP "
        "cells significantly above chance, so by the rule above its MSP is distinguishable from chance; 3 of "
        "the 3 paper models have a lower mean. Its mean Max Logit AUROC is 10.0%.")


def test_correctness_facts_without_scored_models():
    f = facts.correctness_facts(MODELS.iloc[:3], CELLS.iloc[:6])
    assert f.scored == facts.NO_SCORED and f.n_models == 3


def test_facts_are_frozen():
    f = facts.correctness_facts(MODELS.iloc[:3], CELLS.iloc[:6])
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.n_models = 4


# ---- calibration ------------------------------------------------------------------------------

CALIBRATION = pd.DataFrame({
    "model": ["Yi-6b", "Mistral", "Solar", "Tiny"],
    "calibration_error_paper": [0.04, 0.30, 0.20, 0.9],
    "ece_equal_mass": [0.03, 0.35, 0.10, 0.9],
    "share_msp_one": [0.0, 0.2, 0.1, 0.9],
    "overconfidence": [-0.02, 0.3, 0.1, 0.9],
    "mean_msp": [0.5, 0.8, 0.7, 0.95], "frac_correct": [0.52, 0.5, 0.6, 0.05],
})


def test_calibration_facts_by_hand():
    f = facts.calibration_facts(CALIBRATION, TINY_COVERAGE, tolerance=0.05)
    assert (f.n_models, f.n_miscalibrated, f.verdict) == (3, 2, "holds for 2 of 3 models")
    assert (f.tolerance, f.tolerance_pct) == (0.05, 5.0)
    assert f.n_overconfident == 2
    assert f.overconfidence_min == pytest.approx(-2.0) and f.overconfidence_min_model == "Yi 6B"
    assert f.overconfidence_max == pytest.approx(30.0) and f.overconfidence_max_model == "Mistral 7B"
    assert (f.paper_min, f.paper_min_model, f.paper_max, f.paper_max_model) == (0.04, "Yi 6B", 0.30, "Mistral 7B")
    assert (f.ece_min_model, f.ece_max, f.ece_max_model) == ("Yi 6B", 0.35, "Mistral 7B")
    assert (f.most_ones_model, f.most_ones_share) == ("Mistral 7B", pytest.approx(20.0))
    # |paper − ECE|: 0.01, 0.05, 0.10 → SOLAR
    assert (f.changed_model, f.changed_paper, f.changed_ece) == ("SOLAR 10.7B", 0.20, 0.10)
    assert f.rank_rho == pytest.approx(1.0)
    assert f.scored == (
        "Tiny, one of ours, has a conventional ECE of 0.90 (0.90 with the "
        "paper's recipe) and is miscalibrated; 0 of the 3 paper models are worse calibrated by this measure. "
        "Its mean MSP is 95.0% against an accuracy of 5.0%.")
    lenient = facts.calibration_facts(CALIBRATION, TINY_COVERAGE, tolerance=0.95)
    assert lenient.verdict == "does not hold for any model"
    assert "is calibrated within the tolerance;" in lenient.scored


# ---- correlations -----------------------------------------------------------------------------

PER_MODEL = pd.DataFrame({
    "model": ["Llama-7b", "Llama-13b", "Llama-70b", "Yi-6b", "gpt-4-turbo", "mine"],
    "accuracy": [40.0, 50, 60, 70, 80, 55],
    "auroc_msp": [60.0, 65, 70, 75, 80, 60],  # exactly on the line 40 + accuracy / 2
    "auroc_max_logit": [62.0, 60, 64, 61, np.nan, 70],
    "calibration_error_uniform_cells": [0.3, 0.1, 0.2, 0.1, 0.3, 0.0],
    "params_b": [7.0, 13, 70, 6, np.nan, np.nan],
})


def test_correlation_facts_by_hand():
    f = facts.correlation_facts(PER_MODEL, coverage_of([("mine", ["arc"], 5, 10)]))
    assert f.alpha == 0.05
    assert (f.accuracy_auroc_msp_n, f.accuracy_auroc_max_logit_n, f.params_b_auroc_msp_n) == (5, 4, 4)
    assert f.accuracy_auroc_msp_words == "a strong positive correlation (Pearson and Spearman agree)"
    assert f.accuracy_auroc_msp_stats.startswith("r = 1.00, p = ") and f.accuracy_auroc_msp_stats.endswith(
        "n = 5; Spearman ρ = 1.00")
    assert f.accuracy_auroc_max_logit_words == "no significant correlation (Pearson and Spearman agree)"
    assert facts.field_names(facts.CorrelationFacts) >= {
        f"{x}_{y}_{part}" for x, y in ACCURACY_PAIRS + SIZE_PAIRS for part in ("n", "words", "stats")}
    # mine: accuracy 55 -> the line predicts 67.5; it has 60: 7.5 points below
    r_with = np.corrcoef([40, 50, 60, 70, 80, 55], [60, 65, 70, 75, 80, 60])[0, 1]
    assert f.scored_auroc_msp == (
        "mine, one of ours, has an accuracy of 55.0% and a mean AUROC of 60.0% "
        "with the MSP: 7.5 points below the paper models' line, which predicts 67.5% at its accuracy. Counted "
        f"with them, it would move r from 1.00 to {r_with:.2f}.")
    assert f.scored_auroc_max_logit.startswith("mine, one of ours, has an accuracy of "
                                               "55.0% and a mean AUROC of 70.0% with the Max Logit: ")
    assert " above the paper models' line" in f.scored_auroc_max_logit
    assert facts.correlation_facts(PER_MODEL.iloc[:5]).scored_auroc_msp == ""


@pytest.mark.parametrize("build", [lambda: facts.correctness_facts(MODELS, CELLS).scored,
                                   lambda: facts.calibration_facts(CALIBRATION).scored,
                                   lambda: facts.correlation_facts(PER_MODEL).scored_auroc_msp],
                         ids=["correctness", "calibration", "correlation"])
def test_a_scored_model_needs_no_coverage_table(build):
    # the coverage table is optional in the signatures; without it the sentence should still name the model
    assert build().split(",")[0] in ("Tiny", "mine")


# ---- abstention -------------------------------------------------------------------------------


def as_paper(answers: pd.DataFrame) -> pd.DataFrame:
    """A and Z of ``analysis.inputs.synthetic`` relabelled as paper models (Falcon 7B, Mistral 7B)."""
    return answers.assign(model=answers["model"].astype(str).replace({"A": "Falcon-7b", "Z": "Mistral"}))


def test_abstention_facts_by_hand():
    # the runs of test_abstention's synthetic table: balanced keeps Base for both; conservative: Falcon
    # 7B (A) -50 -> 0 abstaining on everything, Mistral (Z) stays at 100
    table = abstention.abstention_table(as_paper(synthetic()), ks=(4,))
    f = facts.abstention_facts(table, 4)
    assert (f.k, f.paper_k, f.base_threshold) == (4, 20, -0.0001)
    assert f.k_note == "The main tables here use k = 4; the paper's use k = 20."
    assert (f.penalty_balanced, f.penalty_conservative) == (1, 2)
    assert (f.n_models_balanced, f.n_gain_balanced, f.n_equal_balanced, f.n_loss_balanced) == (2, 0, 2, 0)
    assert (f.n_models_conservative, f.n_gain_conservative, f.n_equal_conservative) == (2, 1, 1)
    assert (f.mean_gain_balanced, f.mean_gain_conservative) == (0.0, 25.0)
    assert (f.n_both_balanced, f.msp_higher_balanced) == (1, 0)
    assert (f.median_pct_balanced, f.median_pct_conservative) == (0.0, 50.0)
    assert (f.best_model, f.best_pct_conservative) == ("Mistral 7B", 0.0)
    assert (f.ds_runs_balanced, f.ds_gain_balanced, f.ds_loss_balanced) == (4, 1, 0)
    assert f.larger_gain_rule == "conservative"
    assert f.verdict == "does not hold in full"
    assert f.verdict_detail == "does not hold in full: the mean gain is not positive under the balanced rule"
    assert np.isnan(f.rho_base_gain) and f.base_gain_words == "no significant correlation"
    assert (f.variant_0, f.variant_0_verdict, f.variant_1, f.variant_1_verdict) == ("", "", "", "")
    assert f.scored == facts.NO_SCORED


def test_abstention_facts_say_when_a_run_averages_over_fewer_datasets_than_answered():
    answers = as_paper(short_of_mmlu())  # N: arc, and 4 mmlu answers, too few for k = 4
    table = abstention.abstention_table(answers, ks=(4,))
    f = facts.abstention_facts(table, 4, variants=[4], coverage_table=scored.coverage(answers))
    n = abstention.scored_abstention(table, 4).iloc[0]
    assert f.scored == (
        f"N, one of ours (its overall scores average over ARC-Challenge "
        f"only), scores {n['base_1']:.1f} by always answering and {n['score_1']:.1f} with its MSP threshold under "
        f"the balanced rule (abstaining on {n['pct_1']:.1f}% of the questions), and {n['base_2']:.1f} against "
        f"{n['score_2']:.1f} under the conservative rule.")
    assert (f.variant_0, f.variant_1) == ("4", "") and f.variant_0_verdict == f.verdict_detail
    # the paper models' numbers do not change with N
    assert facts.abstention_facts(abstention.abstention_table(as_paper(synthetic()), ks=(4,)), 4).n_gain_conservative \
        == f.n_gain_conservative == 1


def overall_run(gains: dict[tuple[str, int], float]) -> pd.DataFrame:
    """An abstention table of one overall k = 20 MSP run from (model, penalty) -> gain, Base 10."""
    rows = [(20, "overall", penalty, model, "msp", "arc", 0.5, 10.0, 10.0 + gain, 20.0)
            for (model, penalty), gain in gains.items()]
    return pd.DataFrame(rows, columns=abstention.TABLE_COLUMNS)


def test_verdict_detail_counts_the_pairs_below_base():
    every_pair_loses = overall_run({("Yi-6b", 1): -5, ("Yi-6b", 2): -5, ("Mistral", 1): -5, ("Mistral", 2): -5})
    f = facts.abstention_facts(every_pair_loses, 20)
    assert f.verdict == "does not hold in full"
    assert f.verdict_detail == (
        "does not hold in full: 4 model × rule pairs score below Base; the mean gain is not positive under the "
        "balanced and conservative rule")
    one_pair_loses = overall_run({("Yi-6b", 1): -5, ("Yi-6b", 2): 5, ("Mistral", 1): 10, ("Mistral", 2): 5})
    assert facts.abstention_facts(one_pair_loses, 20).verdict_detail == (
        "does not hold in full: 1 model × rule pair scores below Base")
    assert facts.abstention_facts(one_pair_loses, 20).larger_gain_rule == "conservative"  # 5 against 2.5


# ---- gluing -----------------------------------------------------------------------------------


def test_chapter_facts_and_field_names():
    assert list(facts.CHAPTER_FACTS) == ["data", "reproduction", "calibration", "correctness", "correlations",
                                         "abstention", "own_model", "summary",
                                         "recalibration", "selective", "one_shot"]
    names = facts.field_names(facts.CorrectnessFacts, facts.CalibrationFacts)
    assert {"n_supported", "t_p", "n_miscalibrated", "rank_rho", "scored"} <= names
    assert facts.field_names() == set()


def test_glue_facts_glues_every_field_under_its_name(monkeypatch):
    import myst_nb

    glued = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.append((name, value, display)))
    f = facts.correctness_facts(MODELS.iloc[:3], CELLS.iloc[:6])
    facts.glue_facts(f)
    assert [name for name, _, _ in glued] == [field.name for field in dataclasses.fields(f)]
    assert all(value == getattr(f, name) or (isinstance(value, float) and math.isnan(value))
               for name, value, _ in glued)
    assert not any(display for _, _, display in glued)


# ---- the real data ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper(published):
    return real(published)


@pytest.fixture(scope="module")
def joined(published):
    return real(published, with_tiny=True)


def test_data_facts_on_the_real_data(paper):
    f = facts.data_facts(paper.answers, paper.cells, coverage.question_splits(paper.answers))
    assert (f.n_paper_models, f.n_open_models, f.n_api_models, f.n_phrasings) == (14, 12, 2, 2)
    assert f.max_new_tokens == MAX_NEW_TOKENS
    assert (f.n_questions, f.n_answers, f.n_models) == (21_407, 14 * 2 * 21_407, 14)
    assert (f.accuracy_min_model, f.accuracy_max_model) == ("Falcon 7B", "GPT4 Turbo")
    assert (round(f.accuracy_min, 1), round(f.accuracy_max, 1)) == (29.1, 86.6)
    assert round(f.unparseable_max, 2) <= 0.86 and 0 < f.unparseable_overall < f.unparseable_max
    assert round(f.share_msp_one, 1) == 3.5
    assert f.alignment == facts.NO_SCORED


def test_correctness_facts_on_the_real_data(paper, joined):
    f = facts.correctness_facts(paper.models, paper.cells, paper.coverage)
    assert (f.n_models, f.n_supported, f.verdict) == (14, 9, "holds for 9 of 14 models")
    assert (f.n_above_chance, f.n_mean_above, f.not_above_chance) == (13, 14, "the exception is Falcon 7B")
    assert (f.n_logit_models, f.n_msp_better) == (12, 10)
    assert (f.n_cells, f.n_below_chance, f.n_sidedness_differs) == (260, 9, 0)
    assert (f.n_msp_cells, f.n_logit_cells) == (140, 120)
    assert round(f.mean_msp, 2) == 66.53 and f.t_p == pytest.approx(8.8e-5, abs=0.05e-5)
    assert (f.auroc_min_model, f.auroc_max_model) == ("Falcon 7B", "GPT4 Turbo")
    assert f.scored == facts.NO_SCORED
    # with a scored model: the same verdict, and a sentence about it
    with_tiny = facts.correctness_facts(joined.models, joined.cells, joined.coverage)
    assert dataclasses.replace(with_tiny, scored=f.scored) == f
    assert with_tiny.scored.startswith(f"{TINY}, one of ours, "
                                       "has a mean MSP AUROC of ")
    assert "with 2 of its 4 MSP cells significantly above chance" in with_tiny.scored
    assert "its MSP is not distinguishable from chance" in with_tiny.scored


def test_calibration_facts_on_the_real_data(paper, joined):
    f = facts.calibration_facts(paper.calibration, paper.coverage)
    assert (f.n_models, f.n_miscalibrated, f.verdict) == (14, 13, "holds for 13 of 14 models")
    assert (f.most_ones_model, round(f.most_ones_share, 1)) == ("Llama 3 70B", 27.3)
    assert (f.changed_model, round(f.changed_paper, 2), round(f.changed_ece, 2)) == ("Llama 3 70B", 0.22, 0.17)
    assert round(f.rank_rho, 2) == 0.98
    assert (f.paper_max_model, f.ece_min_model) == ("Mistral 7B", "Yi 34B")
    assert f.scored == facts.NO_SCORED
    with_tiny = facts.calibration_facts(joined.calibration, joined.coverage)
    assert dataclasses.replace(with_tiny, scored=f.scored) == f
    assert with_tiny.scored.startswith(f"{TINY}, one of ours, "
                                       "has a conventional ECE of ")
    assert "of the 14 paper models are worse calibrated" in with_tiny.scored


def test_correlation_facts_on_the_real_data(paper, joined):
    f = facts.correlation_facts(paper.models, paper.coverage)
    assert (f.accuracy_auroc_msp_n, f.accuracy_auroc_max_logit_n, f.params_b_auroc_msp_n) == (14, 12, 12)
    agree = " (Pearson and Spearman agree)"
    assert f.accuracy_auroc_msp_words == f.accuracy_auroc_max_logit_words == "a strong positive correlation" + agree
    assert f.accuracy_auroc_msp_stats.startswith("r = 0.83, p = 2.3e-04, n = 14; Spearman ρ = ")
    assert f.accuracy_calibration_error_uniform_cells_words == "no significant correlation" + agree
    # the size relations hang on the statistic: r 0.58, p 0.048 but ρ 0.40, p 0.20; r p 0.071 but ρ p 0.047
    assert f.params_b_auroc_msp_words == ("a moderate positive correlation by Pearson's r but no significant "
                                          "correlation by Spearman's ρ")
    assert f.params_b_accuracy_words == ("no significant correlation by Pearson's r but a moderate positive "
                                         "correlation by Spearman's ρ")
    assert (f.scored_auroc_msp, f.scored_auroc_max_logit) == ("", "")
    with_tiny = facts.correlation_facts(joined.models, joined.coverage)
    assert dataclasses.replace(with_tiny, scored_auroc_msp="", scored_auroc_max_logit="") == f
    assert with_tiny.scored_auroc_msp.startswith(f"{TINY}, one of ours, has an accuracy of ")
    assert "it would move r from 0.83 to " in with_tiny.scored_auroc_msp


def test_abstention_facts_on_the_real_data(paper, joined):
    f = facts.abstention_facts(paper.abstention, 20, (10, "half"), paper.coverage)
    assert (f.n_gain_balanced, f.n_equal_balanced, f.n_gain_conservative) == (13, 1, 14)
    assert (f.msp_higher_balanced, f.msp_higher_conservative, f.n_both_balanced) == (9, 6, 12)
    assert (round(f.median_pct_balanced, 1), round(f.median_pct_conservative, 1)) == (22.9, 56.6)
    assert (f.best_model, round(f.best_pct_balanced, 1)) == ("GPT4 Turbo", 9.6)
    assert (f.ds_runs_balanced, f.ds_loss_balanced, f.ds_loss_conservative) == (70, 12, 0)
    assert (f.verdict, f.larger_gain_rule) == ("holds", "conservative")
    assert f.verdict_detail == "holds: no model scores below Base and the mean gain is positive under every rule"
    assert round(f.rho_base_gain, 2) == -0.93 and f.base_gain_words == "a strong negative correlation"
    assert (f.variant_0, f.variant_0_verdict) == ("10", "does not hold in full: 1 model × rule pair scores below Base")
    assert (f.variant_1, f.variant_1_verdict) == ("half", f.verdict_detail)
    assert f.scored == facts.NO_SCORED
    with_tiny = facts.abstention_facts(joined.abstention, 20, (10, "half"), joined.coverage)
    assert dataclasses.replace(with_tiny, scored=f.scored) == f
    assert with_tiny.scored.startswith(f"{TINY}, one of ours, "
                                       "scores ")  # its run averages over both datasets it answered


def test_own_model_facts_on_the_real_data(joined):
    tiny = joined.answers[joined.answers["model"] == TINY]
    splits = coverage.question_splits(tiny.assign(question_id=tiny["dataset"].astype(str) + "/test/q"))
    table = joined.abstention[joined.abstention["k"] == 20]
    f = facts.own_model_facts(TINY, joined.models, joined.cells, table, joined.coverage, splits, 20)
    assert (f.name, f.n_scored, f.scored_names, f.k) == (TINY, 1, TINY, 20)
    overview = scored.scored_overview(joined.models, joined.cells).iloc[0]
    assert f.how_it_did.startswith(
        f"{TINY} gave 6,380 of 42,814 answers, on arc and mmlu only (at least 600 per dataset and phrasing, "
        f"against at least 817 for the paper's models). Its accuracy, averaged over its cells as in the paper, is "
        f"{overview['accuracy']:.1f}%")
    assert "with 2 of its 4 MSP cells significantly above chance, so its MSP is not distinguishable" in f.how_it_did
    assert "carries no information" not in f.how_it_did
    at_chance = facts.own_model_facts(TINY, joined.models, joined.cells, table, joined.coverage, splits, 20,
                                      chance_level=[TINY])
    assert ("its MSP is not distinguishable from chance: its AUROC interval includes 50%, so its confidence carries "
            "no information about correctness") in at_chance.how_it_did
    assert f.alignment == f"For {TINY}, on ARC-Challenge and MMLU its questions are the paper's at the same positions."
    run = abstention.scored_abstention(table, 20).iloc[0]
    assert f.abstention.startswith(f"{TINY} scores {run['base_1']:.1f} by always answering and "
                                   f"{run['score_1']:.1f} with its learnt MSP threshold under the balanced rule "
                                   f"({run['gain_1']:+.1f} points)")


# ---- uncertainty of the claims ------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_boot(joined):
    from helpers.analysis import bootstrap

    return bootstrap.question_bootstrap(joined.answers, n_resamples=60)


def test_correctness_test_facts_on_the_real_data(paper, joined, real_boot):
    from helpers.analysis import bootstrap, testing

    corrected = testing.corrected_cell_pvalues(paper.cells)
    f = facts.correctness_test_facts(corrected, testing.signal_wilcoxon_test(paper.cells),
                                     testing.signal_difference_interval(real_boot), testing.signal_t_tests(paper.cells),
                                     testing.gpt_gap_share(paper.cells), bootstrap.model_intervals(real_boot), 60)
    assert (f.n_tests, f.n_sig_paper, f.n_sig_holm, f.n_sig_bh, f.n_msp_tests) == (260, 212, 218, 231, 140)
    assert (f.n_pairs, f.n_pair_models, f.n_gpt_cells) == (120, 12, 20)
    assert f.wilcoxon_p == pytest.approx(1.45e-7 / 2, rel=0.05)        # one-sided half of the two-sided 1.45e-7
    assert round(f.gpt_share_pct) == 52 and f.gap_without_gpt == pytest.approx(f.pair_mean)
    assert f.pair_lo < f.pair_mean < f.pair_hi and f.pair_lo > 0
    assert f.paired_verdict.startswith("on like-for-like cells the MSP ranks better")
    assert f.scored_chance == facts.NO_SCORED_AT_CHANCE
    counts = testing.significant_cell_counts(corrected)
    msp = counts[counts["signal"] == "msp"]
    assert f.n_models_tested == 14 and f.n_supported_paper == 9    # the correctness chapter's verdict
    assert f.n_supported_holm == int((msp["n_sig_holm"] == msp["n_cells"]).sum()) >= f.n_supported_paper
    assert f.n_supported_bh >= f.n_supported_holm
    assert f.verdict_holm == f"holds for {f.n_supported_holm} of 14 models"


def test_calibration_interval_facts_on_the_real_data(joined, real_boot):
    from helpers.analysis import bootstrap, testing

    model_intervals = bootstrap.model_intervals(real_boot)
    f = facts.calibration_interval_facts(testing.calibration_verdicts(real_boot), testing.calibration_intervals(real_boot),
                                         model_intervals, 60, chance_level=[TINY])
    assert (f.n_above, f.n_overlap, f.n_below, f.overlapping) == (13, 1, 0, "Yi 34B")
    assert f.interval_verdict == "holds for 13 of 14 models" and f.verdict_variant == "ECE equal-mass"
    assert (f.closest_model, round(f.closest_ece, 4), round(f.closest_uniform_cells, 4)) == ("Yi 34B", 0.0486, 0.0977)
    assert f.closest_lo < 0.05 < f.closest_hi and f.closest_variants_above == "per-cell, equal-width"
    assert f.disagree == ("For Yi 34B the variants disagree: the interval lies above the tolerance for per-cell, "
                          "equal-width only.")
    assert f.scored_interval.startswith(f"The MSP AUROC of {TINY} is ")
    assert f.scored_interval.endswith("which includes 50%: its confidence carries no information about correctness.")


def test_calibration_facts_do_not_call_a_chance_level_model_calibrated(joined):
    f = facts.calibration_facts(joined.calibration, joined.coverage, tolerance=0.95, chance_level=[TINY])
    assert "calibrated within the tolerance" not in f.scored
    assert "is not called calibrated, since its confidence carries no information about correctness" in f.scored


def test_correlation_facts_say_a_chance_level_point_is_not_support(joined):
    f = facts.correlation_facts(joined.models, joined.coverage, chance_level=[TINY])
    assert f.scored_auroc_msp.endswith("a chance-level point, with leverage on r but no evidence, so it is not support.")
    assert "chance-level" not in facts.correlation_facts(joined.models, joined.coverage).scored_auroc_msp


def test_correlation_uncertainty_facts_on_the_real_data(paper, real_boot):
    from helpers.analysis import bootstrap, testing

    uncertainty = testing.correlation_uncertainty(paper.models, real_boot, n_permutations=2000, n_model_resamples=2000)
    f = facts.correlation_uncertainty_facts(uncertainty, bootstrap.model_intervals(real_boot), 60)
    assert f.accuracy_auroc_msp_robust.startswith("r = 0.83, Fisher z [0.54, 0.95], over questions [")
    assert "leaving one family out, r runs from 0.75 (without GPT) to 0.89 (without SOLAR)" in f.accuracy_auroc_msp_robust
    assert f.scored_support == facts.NO_SCORED_AT_CHANCE


def test_abstention_repeat_facts_by_hand():
    from helpers.analysis import abstention_repeats as ar

    bands = pd.DataFrame({"k": 20, "signal": "msp", "penalty": [1, 1, 2, 2], "model": ["Falcon-7b", "gpt-4-turbo"] * 2,
                          "median_gain": [41.4, 0.4, 111.5, -0.1], "share_gain_positive": [1.0, 0.71, 1.0, 0.4],
                          "median_base_score": [-41.9, 73.3, -112.8, 59.9], "median_pct_abstained": [90.0, 4.7, 98.0, 12.9],
                          "paper_gain_quantile": [0.22, 0.45, 0.97, 0.5]})
    f = facts.abstention_repeat_facts(bands, ar.gain_by_base(bands), 1000, 200)
    assert (f.n_repeat_models, f.n_median_gain_balanced, f.n_median_gain_conservative) == (2, 2, 1)
    assert (f.n_mostly_gain_balanced, f.n_mostly_gain_conservative, f.n_paper_split_outer) == (1, 1, 1)
    assert (f.weak_n_conservative, f.weak_pct_min_conservative, f.weak_gain_max_conservative) == (1, 98.0, 111.5)
    assert (f.strong_n_balanced, f.strong_gain_min_balanced, f.strong_pct_max_balanced) == (1, 0.4, 4.7)


def test_summary_facts_and_table_by_hand():
    from types import SimpleNamespace as NS

    from helpers.report import tables

    f = facts.summary_facts(
        NS(interval_verdict="holds for 13 of 14 models", verdict_variant="ECE equal-mass", n_above=13,
           closest_model="Yi 34B", closest_ece=0.048608, closest_lo=0.045069, closest_hi=0.053895),
        NS(verdict="holds for 12 of 14 models"),
        NS(n_sig_holm_msp=122, n_msp_tests=140, n_sig_paper_msp=119, n_pairs=120, pair_mean=2.1863, pair_lo=2.0005,
           pair_hi=2.379, paper_gap=4.5317, gpt_share_pct=51.76),
        NS(accuracy_auroc_msp_words="a strong positive correlation (Pearson and Spearman agree)",
           accuracy_calibration_error_uniform_cells_words="no significant correlation (Pearson and Spearman agree)"),
        NS(accuracy_auroc_msp_robust="r = 0.83, Fisher z [0.54, 0.95]"),
        NS(verdict="holds", k=20),
        NS(seeds=1000, n_median_gain_balanced=14, n_repeat_models=14, weak_gain_min_conservative=27.98,
           weak_gain_max_conservative=111.48, weak_pct_min_conservative=49.68, weak_pct_max_conservative=98.03,
           strong_gain_min_balanced=0.252, strong_gain_max_balanced=9.435))
    assert f.calibration_evidence == ("the 95% interval of the conventional ECE (ECE equal-mass) lies above the "
                                      "tolerance for 13 models; closest: Yi 34B, 0.0486 [0.0451, 0.0539]")
    assert f.correctness_evidence == ("122 of 140 MSP cells significant after Holm's correction (119 by the paper's "
                                      "uncorrected rule); MSP − Max Logit on 120 paired cells 2.19 [2.00, 2.38] points, "
                                      "of which the paper's unpaired gap of 4.53 owes 52% to the GPT cells")
    assert f.abstention_verdict == "holds on the paper's split (k = 20)"
    assert f.abstention_evidence.endswith("gain 28–111 points by abstaining on 50–98% (conservative), the others "
                                          "0.3–9.4 points (balanced)")
    assert f.correlations_evidence == "r = 0.83, Fisher z [0.54, 0.95]"
    shown = tables.summary_display(f)
    assert list(shown["chapter"]) == ["calibration", "correctness", "correlations", "abstention"]
    assert shown.loc["miscalibrated", "our verdict"] == "holds for 13 of 14 models"
    assert f.calibration_paper == tables.SUMMARY_CLAIMS["calibration"][1]
# ---- the chapters beyond the paper ------------------------------------------------------------

from helpers.analysis import one_shot, recalibration, selective  # noqa: E402
from helpers.data.published import load_published  # noqa: E402


def _recalibration_inputs(answers):
    table = recalibration.recalibration_table(answers, 20, signals=("msp",))
    sweep = pd.concat([table, recalibration.recalibration_sweep(answers, (10, 200), signals=("msp",))])
    intervals = recalibration.measure_intervals(answers, 20, methods=("none", "platt"), n_boot=10)
    return table, sweep, intervals


def test_recalibration_facts_on_the_real_data(paper, joined):
    f = facts.recalibration_facts(*_recalibration_inputs(paper.answers), 20, paper.coverage)
    assert (f.n_models, f.n_before, f.n_platt, f.n_temperature, f.n_isotonic, f.n_histogram) == (14, 13, 3, 9, 10, 13)
    assert f.platt_models == "Falcon 40B, Llama 2 13B and Mistral 7B"
    assert f.still_words == "3 of the 14 paper models are still miscalibrated"
    assert (f.best_method, f.n_best, f.n_sure_before, f.n_sure_platt) == ("Platt", 3, 13, 3)
    assert (round(f.median_ece_before, 3), round(f.median_ece_platt, 3)) == (0.202, 0.038)
    # a monotone map leaves the resolution as it is and shrinks the reliability term
    assert f.median_resolution_platt == pytest.approx(f.median_resolution_before, abs=1e-3)
    assert f.median_reliability_platt < f.median_reliability_before / 10
    assert (round(f.isotonic_auroc_change, 1), f.isotonic_auroc_model) == (-2.3, "GPT4 Turbo")
    assert f.monotone_auroc_change == pytest.approx(0, abs=1e-9) and f.n_degenerate == 0
    assert f.sweep_counts == "3 with k = 20, 5 with k = 10 and 0 with k = 200"
    assert f.corr_before_words == f.corr_after_words == "no significant correlation"
    assert f.corr_before_stats.startswith("r = -0.11, p = 0.7, n = 14")
    assert f.scored == facts.NO_SCORED
    with_tiny = facts.recalibration_facts(*_recalibration_inputs(joined.answers), 20, joined.coverage)
    assert dataclasses.replace(with_tiny, scored=f.scored) == f
    assert with_tiny.scored.startswith(f"{TINY}, one of ours, "
                                       "has a conventional ECE of ")
    assert "after Platt scaling on its k = 20 labelled answers per dataset." in with_tiny.scored


def _selective_inputs(answers):
    table = selective.selective_by_model(answers, "msp")
    logit = selective.selective_by_model(answers, "max_logit")
    boot = selective.bootstrap_correlations(answers, "msp", n_boot=10)
    comparison = selective.cross_model_correlations(selective.paper_comparison(answers, "msp", 20))
    return table, logit, boot, comparison, selective.conformal_abstention(answers, "msp", 20)


def test_selective_facts_on_the_real_data(paper, joined):
    f = facts.selective_facts(*_selective_inputs(paper.answers), 20, paper.coverage)
    assert (f.n_models, f.e_aurc_min_model, f.e_aurc_max_model) == (14, "GPT4 Turbo", "Llama 2 7B")
    assert (round(f.e_aurc_min, 4), round(f.e_aurc_max, 4)) == (0.0305, 0.2981)
    assert f.n_gain_80 == 14 and round(f.median_gain_80, 1) == 3.6
    assert round(f.aurc_r, 3) == -0.969 and f.aurc_low <= f.aurc_r <= f.aurc_high
    assert round(f.e_aurc_paper_auroc_r, 3) == -0.953
    assert f.tracks_accuracy == "AURC, E-AURC, AUGRC, selective PRR and AUROC" and f.free_of_accuracy == "none"
    assert (f.n_both, f.n_msp_better) == (12, 9)
    assert (f.target_risk_pct, f.confidence_pct) == (10, 90)
    assert (f.n_certified, f.certified_models) == (2, "Llama 3 70B and GPT4 Turbo")
    assert f.certified_words == ("Llama 3 70B answers 50.0% of the test questions with 4.9% of them wrong and "
                                 "GPT4 Turbo answers 90.0% of the test questions with 9.1% of them wrong")
    assert (f.n_paper_within, f.n_paper_runs) == (1, 14)
    assert f.scored == facts.NO_SCORED
    with_tiny = facts.selective_facts(*_selective_inputs(joined.answers), 20, joined.coverage)
    assert dataclasses.replace(with_tiny, scored=f.scored) == f
    assert with_tiny.scored.startswith(f"{TINY}, one of ours, "
                                       "has an AURC of ")


def test_one_shot_facts_on_the_real_data(published, published_dir):
    one = load_published(published_dir, shots=1)
    paired = one_shot.paired_answers(published, one)
    counts = one_shot.same_question_counts(published, one, paired)
    differences = one_shot.paired_differences(paired, n_boot=20)
    claims = one_shot.claims_by_shots(paired)
    f = facts.one_shot_facts(counts, differences, claims, one_shot.accuracy_drop_by_dataset(paired),
                             one_shot.one_shot_correlations(one))
    assert (f.n_models_one, f.missing_models) == (12, "Llama 3 8B and Llama 3 70B")
    assert f.partial_models == "Falcon 7B, Falcon 40B and GPT4 Turbo"
    assert f.n_paired == 10 * 42814 - 500 + 5500 + 5000
    assert (f.n_compared, f.n_accuracy_up) == (12, 0) and f.n_accuracy_down >= 10
    assert round(f.median_accuracy_change, 1) == -4.9
    assert (f.largest_drop_dataset, round(f.largest_drop, 1)) == ("ARC-Challenge", 9.1)
    assert (f.n_models_claims, f.n_miscalibrated_0, f.n_miscalibrated_1) == (12, 11, 12)
    assert f.calibration_claim_1 == "holds for every model"
    assert (f.n_above_chance_0, f.n_above_chance_1, f.correctness_claim_1) == (11, 8, "holds for 8 of 12 models")
    assert (round(f.r_msp_0, 3), round(f.r_msp_1, 3)) == (0.817, 0.729)
    assert (f.n_both, f.n_msp_better_0, f.n_msp_better_1) == (10, 8, 6)
    assert (f.abstention_claim_0, f.abstention_claim_1) == ("holds", "does not hold in full")
    assert (round(f.r_all_msp, 3), f.n_all_msp, round(f.r_all_max_logit, 3), f.n_all_max_logit) == (0.729, 12, 0.640, 10)
    assert f.scored == "No model we scored ourselves has one-shot answers in this run."
