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
        "Tiny, one of ours (10 of 20 answers, on arc only), has a mean MSP AUROC of 99.0%, with 2 of its 2 MSP "
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
        "Tiny, one of ours (10 of 20 answers, on arc only), has a conventional ECE of 0.90 (0.90 with the "
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
    assert f.accuracy_auroc_msp_words == "a strong positive correlation"
    assert f.accuracy_auroc_msp_stats.startswith("r = 1.00, p = ") and f.accuracy_auroc_msp_stats.endswith(
        "n = 5; Spearman ρ = 1.00")
    assert f.accuracy_auroc_max_logit_words == "no significant correlation"
    assert facts.field_names(facts.CorrelationFacts) >= {
        f"{x}_{y}_{part}" for x, y in ACCURACY_PAIRS + SIZE_PAIRS for part in ("n", "words", "stats")}
    # mine: accuracy 55 -> the line predicts 67.5; it has 60: 7.5 points below
    r_with = np.corrcoef([40, 50, 60, 70, 80, 55], [60, 65, 70, 75, 80, 60])[0, 1]
    assert f.scored_auroc_msp == (
        "mine, one of ours (5 of 10 answers, on arc only), has an accuracy of 55.0% and a mean AUROC of 60.0% "
        "with the MSP: 7.5 points below the paper models' line, which predicts 67.5% at its accuracy. Counted "
        f"with them, it would move r from 1.00 to {r_with:.2f}.")
    assert f.scored_auroc_max_logit.startswith("mine, one of ours (5 of 10 answers, on arc only), has an accuracy of "
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
        f"N, one of ours (24 of 40 answers, on all 2 datasets; its overall scores average over ARC-Challenge "
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
                                         "abstention", "own_model"]
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
    assert with_tiny.scored.startswith(f"{TINY}, one of ours (6,380 of 42,814 answers, on arc and mmlu only), "
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
    assert with_tiny.scored.startswith(f"{TINY}, one of ours (6,380 of 42,814 answers, on arc and mmlu only), "
                                       "has a conventional ECE of ")
    assert "of the 14 paper models are worse calibrated" in with_tiny.scored


def test_correlation_facts_on_the_real_data(paper, joined):
    f = facts.correlation_facts(paper.models, paper.coverage)
    assert (f.accuracy_auroc_msp_n, f.accuracy_auroc_max_logit_n, f.params_b_auroc_msp_n) == (14, 12, 12)
    assert f.accuracy_auroc_msp_words == f.accuracy_auroc_max_logit_words == "a strong positive correlation"
    assert f.accuracy_auroc_msp_stats.startswith("r = 0.83, p = 2.3e-04, n = 14; Spearman ρ = ")
    assert f.accuracy_calibration_error_uniform_cells_words == "no significant correlation"
    assert f.params_b_auroc_msp_words == "a moderate positive correlation"  # r 0.58, p 0.049
    assert f.params_b_accuracy_words == "no significant correlation"  # p 0.071
    assert (f.scored_auroc_msp, f.scored_auroc_max_logit) == ("", "")
    with_tiny = facts.correlation_facts(joined.models, joined.coverage)
    assert dataclasses.replace(with_tiny, scored_auroc_msp="", scored_auroc_max_logit="") == f
    assert with_tiny.scored_auroc_msp.startswith(f"{TINY}, one of ours (6,380 of 42,814 answers, on arc and mmlu "
                                                 "only), has an accuracy of ")
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
    assert with_tiny.scored.startswith(f"{TINY}, one of ours (6,380 of 42,814 answers, on arc and mmlu only), "
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
    assert f.alignment == f"For {TINY}, on ARC-Challenge and MMLU its questions are the paper's at the same positions."
    run = abstention.scored_abstention(table, 20).iloc[0]
    assert f.abstention.startswith(f"{TINY} scores {run['base_1']:.1f} by always answering and "
                                   f"{run['score_1']:.1f} with its learnt MSP threshold under the balanced rule "
                                   f"({run['gain_1']:+.1f} points)")
