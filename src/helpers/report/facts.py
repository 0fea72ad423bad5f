"""Typed facts that chapters glue into their static prose: one frozen dataclass per chapter.

A builder (``*_facts``) takes the analysis tables a chapter already has and returns the numbers and
words its prose names; :func:`glue_facts` glues every field under its own name. Verdicts are about
the paper's models; sentences about our scored models are fields too (empty-run wording included).
:data:`CHAPTER_FACTS` says which facts each chapter glues, so a test can check that every name a
chapter's prose refers to is a field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import pandas as pd

from helpers.analysis import abstention, cells, coverage, recalibration, reproduction, selective, significance, testing
from helpers.analysis import scored as scored_mod
from helpers.analysis.abstention import BASE_THRESHOLD, KS
from helpers.analysis.correlations import ACCURACY_PAIRS, CORRELATION_ALPHA, SIZE_PAIRS, correlation_table
from helpers.analysis.metrics import correlation
from helpers.data.method import MAX_NEW_TOKENS
from helpers.data.vocabulary import (API_MODELS, PAPER_MODELS, PENALTY_NAMES, PHRASINGS, dataset_name, display_name,
                                     is_scored)
from helpers.report import tables, words

NO_SCORED = "No model we scored ourselves is part of this run."


def _sentences(rows: pd.DataFrame, template: str, none: str = "") -> str:
    """One sentence per row, ``template.format(**row)``, joined by spaces; ``none`` without rows."""
    if rows.empty:
        return none
    return " ".join(template.format(**row) for row in rows.to_dict("records"))


def _with_names(rows: pd.DataFrame, coverage_table: pd.DataFrame | None) -> pd.DataFrame:
    """Scored rows with ``name`` (display name), ``covers`` (what it answered, in words, given a
    coverage table; else empty) and ``ours`` ('one of ours': what it answered is said once, in the
    chapter on our own models, not in every chapter's sentence about it)."""
    words_of = ({} if coverage_table is None else
                {r["model"]: words.covers(r) for r in coverage_table.to_dict("records")})
    covers = rows["model"].map(lambda m: words_of.get(m, ""))
    return rows.assign(name=rows["model"].map(display_name), covers=covers,
                       ours="one of ours")


# ----------------------------------------------------------------------------- the data

@dataclass(frozen=True)
class DataFacts:
    n_paper_models: int
    n_open_models: int
    n_api_models: int
    max_new_tokens: int
    n_phrasings: int
    n_questions: int
    alignment: str
    n_answers: int
    n_models: int
    accuracy_min: float
    accuracy_min_model: str
    accuracy_max: float
    accuracy_max_model: str
    unparseable_overall: float
    unparseable_max: float
    share_msp_one: float
    copy_note: str


def data_facts(answers: pd.DataFrame, cell_table: pd.DataFrame, splits: pd.DataFrame,
               copy_differences: Sequence[str] = ()) -> DataFacts:
    """The numbers of "The data": the paper's model counts, the method's fixed settings, questions
    and answers in this run, accuracy extremes (mean over each model's cells), unparseable shares and
    the share of MSP == 1.0; ``splits`` (``coverage.question_splits``) for the scored models;
    ``copy_differences`` (``published.copy_differences``) says how a local copy of the results
    differs from the pinned one."""
    accuracy = coverage.accuracy_grid(cell_table)["overall"]
    ext = words.extremes_words(cells.extremes(accuracy))
    counts = coverage.answer_counts(cell_table)
    return DataFacts(
        n_paper_models=len(PAPER_MODELS), n_open_models=len(PAPER_MODELS) - len(API_MODELS),
        n_api_models=len(API_MODELS), max_new_tokens=MAX_NEW_TOKENS, n_phrasings=len(PHRASINGS),
        n_questions=int(coverage.question_counts(answers[answers["source"] == "published"]).sum()),
        alignment=words.describe_alignment(splits, none=NO_SCORED),
        n_answers=int(counts["total"].sum()), n_models=len(counts),
        accuracy_min=ext["min"], accuracy_min_model=ext["min_model"],
        accuracy_max=ext["max"], accuracy_max_model=ext["max_model"],
        unparseable_overall=coverage.unparseable_overall_pct(cell_table),
        unparseable_max=float(coverage.unparseable_pct(cell_table)["overall"].max()),
        share_msp_one=coverage.share_equal_pct(answers, 1.0),
        copy_note=words.copy_note(copy_differences))


# ----------------------------------------------------------------------------- calibration

@dataclass(frozen=True)
class CalibrationFacts:
    tolerance: float
    tolerance_pct: float
    n_models: int
    n_miscalibrated: int
    verdict: str
    n_overconfident: int
    overconfidence_min: float
    overconfidence_min_model: str
    overconfidence_max: float
    overconfidence_max_model: str
    paper_min: float
    paper_min_model: str
    paper_max: float
    paper_max_model: str
    ece_min: float
    ece_min_model: str
    ece_max: float
    ece_max_model: str
    most_ones_model: str
    most_ones_share: float
    changed_model: str
    changed_paper: float
    changed_ece: float
    rank_rho: float
    scored: str


def calibration_facts(calibration: pd.DataFrame, coverage_table: pd.DataFrame | None = None,
                      tolerance: float = cells.ECE_TOLERANCE, chance_level: Sequence[str] = ()) -> CalibrationFacts:
    """The calibration chapter's verdict over the paper's models (rows of
    ``cells.calibration_by_model``; errors as fractions, shares in percent): the models whose
    conventional ECE exceeds ``tolerance`` (``significance.miscalibrated_models``), mean MSP minus
    accuracy in points, extremes of the paper's recipe and of the ECE, the largest share of
    MSP == 1.0, the largest disagreement of the two measures and their rank correlation; and a
    sentence per scored model (one of ``chance_level``, whose confidence carries no information about
    correctness, is never called calibrated)."""
    paper = cells.split_scored(calibration)[0].set_index("model")
    overconfidence = words.extremes_words(cells.extremes(100 * paper["overconfidence"]))
    paper_err = words.extremes_words(cells.extremes(paper["calibration_error_paper"]))
    ece = words.extremes_words(cells.extremes(paper["ece_equal_mass"]))
    gap = (paper["calibration_error_paper"] - paper["ece_equal_mass"]).abs()
    most_ones, changed = paper["share_msp_one"].idxmax(), gap.idxmax()
    n_mis = len(significance.miscalibrated_models(paper.reset_index(), tolerance))
    ours = _with_names(scored_mod.scored_calibration(calibration, tolerance), coverage_table)
    ours = ours.assign(status=["not called calibrated, since its confidence carries no information about "
                               "correctness" if m in set(chance_level) else
                               "miscalibrated" if mis else "calibrated within the tolerance"
                               for m, mis in zip(ours["model"], ours["miscalibrated"])])
    return CalibrationFacts(
        tolerance=tolerance, tolerance_pct=100 * tolerance, n_models=len(paper), n_miscalibrated=n_mis,
        verdict=words.verdict(n_mis, len(paper)),
        n_overconfident=int((paper["overconfidence"] > 0).sum()),
        overconfidence_min=overconfidence["min"], overconfidence_min_model=overconfidence["min_model"],
        overconfidence_max=overconfidence["max"], overconfidence_max_model=overconfidence["max_model"],
        paper_min=paper_err["min"], paper_min_model=paper_err["min_model"],
        paper_max=paper_err["max"], paper_max_model=paper_err["max_model"],
        ece_min=ece["min"], ece_min_model=ece["min_model"], ece_max=ece["max"], ece_max_model=ece["max_model"],
        most_ones_model=display_name(most_ones), most_ones_share=float(100 * paper.loc[most_ones, "share_msp_one"]),
        changed_model=display_name(changed), changed_paper=float(paper.loc[changed, "calibration_error_paper"]),
        changed_ece=float(paper.loc[changed, "ece_equal_mass"]),
        rank_rho=correlation(paper["calibration_error_paper"], paper["ece_equal_mass"]).spearman_rho,
        scored=_sentences(ours, "{name}, {ours}, has a conventional ECE of {ece:.2f} "
                          "({paper_error:.2f} with the paper's recipe) and is {status}; {n_paper_worse} of "
                          "the {n_paper} paper models are worse calibrated by this measure. Its mean MSP "
                          "is {mean_msp_pct:.1f}% against an accuracy of {accuracy_pct:.1f}%.", NO_SCORED))


# ----------------------------------------------------------------------------- correctness

@dataclass(frozen=True)
class CorrectnessFacts:
    significance: str
    n_models: int
    n_supported: int
    verdict: str
    supported_models: str
    unsupported: str
    n_above_chance: int
    not_above_chance: str
    n_mean_above: int
    auroc_min: float
    auroc_min_model: str
    auroc_max: float
    auroc_max_model: str
    n_logit_models: int
    n_msp_better: int
    mean_msp: float
    mean_max_logit: float
    n_msp_cells: int
    n_logit_cells: int
    t_p: float
    n_cells: int
    n_below_chance: int
    n_sidedness_differs: int
    scored: str


def correctness_facts(models: pd.DataFrame, cell_table: pd.DataFrame,
                      coverage_table: pd.DataFrame | None = None) -> CorrectnessFacts:
    """The correctness chapter's verdict over the paper's models (rows of ``cells.model_metrics`` and
    ``cells.cell_table``; METHODS §8.3): models whose every MSP cell is significant, models above
    chance (``significance.above_chance``), AUROC extremes, MSP against Max Logit (per model and the
    paper's t-test), cells below chance and cells whose verdict depends on the test's sidedness; and
    a sentence per scored model."""
    paper = cells.split_scored(models)[0]
    paper_cells = cells.split_scored(cell_table)[0]
    supported = significance.significant_models(paper, "msp")
    chance = significance.above_chance(paper, "msp")
    n_both, n_better = significance.msp_beats_max_logit(paper)
    t_test = significance.signal_auroc_t_test(paper_cells)
    auroc = words.extremes_words(cells.extremes(paper.set_index("model")["auroc_msp"]))
    ours = _with_names(scored_mod.scored_correctness(models), coverage_table)
    ours = ours.assign(chance=ours["above_chance"].map({True: "distinguishable from chance",
                                                        False: "not distinguishable from chance"}))
    return CorrectnessFacts(
        significance=words.power_of_ten(cells.SIGNIFICANCE), n_models=len(paper), n_supported=len(supported),
        verdict=words.verdict(len(supported), len(paper)), supported_models=words.names_or(supported),
        unsupported=words.exceptions(m for m in paper["model"] if m not in supported),
        n_above_chance=int(chance.sum()), not_above_chance=words.exceptions(paper.loc[~chance, "model"]),
        n_mean_above=int((paper["auroc_msp"] > cells.CHANCE).sum()),
        auroc_min=auroc["min"], auroc_min_model=auroc["min_model"],
        auroc_max=auroc["max"], auroc_max_model=auroc["max_model"],
        n_logit_models=n_both, n_msp_better=n_better,
        mean_msp=t_test["mean_msp"], mean_max_logit=t_test["mean_max_logit"],
        n_msp_cells=t_test["n_msp"], n_logit_cells=t_test["n_max_logit"], t_p=t_test["p"],
        n_cells=len(paper_cells), n_below_chance=significance.n_below_chance(paper_cells),
        n_sidedness_differs=significance.sidedness_changes(paper_cells),
        scored=_sentences(ours, "{name}, {ours}, has a mean MSP AUROC of {auroc_msp:.1f}%, "
                          "with {n_above_msp} of its {n_cells_msp} MSP cells significantly above chance, "
                          "so by the rule above its MSP is {chance}; {n_paper_lower} of the {n_paper} paper "
                          "models have a lower mean. Its mean Max Logit AUROC is {auroc_max_logit:.1f}%.",
                          NO_SCORED))


# ----------------------------------------------------------------------------- correlations

_PAIR_FIELDS = [f"{x}_{y}" for x, y in ACCURACY_PAIRS + SIZE_PAIRS]


@dataclass(frozen=True)
class CorrelationFacts:
    alpha: float
    accuracy_auroc_msp_n: int
    accuracy_auroc_msp_words: str
    accuracy_auroc_msp_stats: str
    accuracy_auroc_max_logit_n: int
    accuracy_auroc_max_logit_words: str
    accuracy_auroc_max_logit_stats: str
    accuracy_calibration_error_uniform_cells_n: int
    accuracy_calibration_error_uniform_cells_words: str
    accuracy_calibration_error_uniform_cells_stats: str
    params_b_accuracy_n: int
    params_b_accuracy_words: str
    params_b_accuracy_stats: str
    params_b_auroc_msp_n: int
    params_b_auroc_msp_words: str
    params_b_auroc_msp_stats: str
    params_b_auroc_max_logit_n: int
    params_b_auroc_max_logit_words: str
    params_b_auroc_max_logit_stats: str
    params_b_calibration_error_uniform_cells_n: int
    params_b_calibration_error_uniform_cells_words: str
    params_b_calibration_error_uniform_cells_stats: str
    scored_auroc_msp: str
    scored_auroc_max_logit: str


def correlation_facts(models: pd.DataFrame, coverage_table: pd.DataFrame | None = None,
                      chance_level: Sequence[str] = ()) -> CorrelationFacts:
    """Per pair of the paper's figures (``correlations.ACCURACY_PAIRS`` and ``SIZE_PAIRS``, over the
    paper's models; METHODS §8.4): n, the correlation in words (Pearson r and Spearman ρ, p <
    ``CORRELATION_ALPHA``, naming the statistic when they disagree) and its numbers; and where each
    scored model sits against the accuracy-AUROC lines (one of ``chance_level`` is said to be a
    chance-level point, not support)."""
    table = correlation_table(models, ACCURACY_PAIRS + SIZE_PAIRS)
    values: dict[str, object] = {"alpha": CORRELATION_ALPHA}
    for row in table.itertuples():
        values[f"{row.x}_{row.y}_n"] = int(row.n)
        values[f"{row.x}_{row.y}_words"] = words.describe_correlations(row.pearson_r, row.pearson_p,
                                                                       row.spearman_rho, row.spearman_p)
        values[f"{row.x}_{row.y}_stats"] = words.correlation_stats(row.n, row.pearson_r, row.pearson_p,
                                                                   row.spearman_rho)
    for y, signal in (("auroc_msp", "MSP"), ("auroc_max_logit", "Max Logit")):
        rows = _with_names(scored_mod.scored_positions(models, "accuracy", y), coverage_table)
        rows = rows.assign(side=rows["above"].map({True: "above", False: "below"}),
                           chance=[" Its MSP AUROC interval includes 50%: a chance-level point, with leverage "
                                   "on r but no evidence, so it is not support." if m in set(chance_level) else ""
                                   for m in rows["model"]])
        values[f"scored_{y}"] = _sentences(
            rows, "{name}, {ours}, has an accuracy of {x_value:.1f}% and a mean AUROC of "
            "{y_value:.1f}% with the " + signal + ": {distance:.1f} points {side} the paper models' line, "
            "which predicts {predicted:.1f}% at its accuracy. Counted with them, it would move r from "
            "{r_paper:.2f} to {r_with:.2f}.{chance}")
    return CorrelationFacts(**values)


# ----------------------------------------------------------------------------- abstention

@dataclass(frozen=True)
class AbstentionFacts:
    k: object
    paper_k: int
    k_note: str
    base_threshold: float
    penalty_balanced: int
    penalty_conservative: int
    n_models_balanced: int
    n_gain_balanced: int
    n_equal_balanced: int
    n_loss_balanced: int
    mean_gain_balanced: float
    n_both_balanced: int
    msp_higher_balanced: int
    median_pct_balanced: float
    best_pct_balanced: float
    ds_runs_balanced: int
    ds_gain_balanced: int
    ds_loss_balanced: int
    n_models_conservative: int
    n_gain_conservative: int
    n_equal_conservative: int
    n_loss_conservative: int
    mean_gain_conservative: float
    n_both_conservative: int
    msp_higher_conservative: int
    median_pct_conservative: float
    best_pct_conservative: float
    ds_runs_conservative: int
    ds_gain_conservative: int
    ds_loss_conservative: int
    best_model: str
    larger_gain_rule: str
    verdict: str
    verdict_detail: str
    rho_base_gain: float
    base_gain_words: str
    variant_0: str
    variant_0_verdict: str
    variant_1: str
    variant_1_verdict: str
    scored: str


def _verdict_detail(numbers: dict) -> str:
    """'holds: …' or 'does not hold in full: …' with the reasons (pairs below Base, rules without a
    positive mean gain)."""
    n_loss = numbers["n_loss_total"]
    no_gain = [words.penalty_name(p) for p in numbers["penalties_without_gain"]]
    reasons = ([f"{n_loss} model × rule {'pair scores' if n_loss == 1 else 'pairs score'} below Base"]
               if n_loss else [])
    reasons += [f"the mean gain is not positive under the {words.join_words(no_gain)} rule"] if no_gain else []
    if reasons:
        return "does not hold in full: " + "; ".join(reasons)
    return "holds: no model scores below Base and the mean gain is positive under every rule"


def abstention_facts(table: pd.DataFrame, k: abstention.K = 20, variants: Sequence[abstention.K] = (),
                     coverage_table: pd.DataFrame | None = None, signal: str = "msp") -> AbstentionFacts:
    """The abstention chapter's numbers for one k over the paper's models
    (``abstention.abstention_numbers``), named by the rule (balanced, conservative), the verdict in
    words, the verdicts of up to two other k (``variants``), and a sentence per scored model."""
    numbers = abstention.abstention_numbers(table, k, signal)
    values: dict[str, object] = {"k": k, "paper_k": KS[0], "base_threshold": BASE_THRESHOLD,
                                 "k_note": f"The main tables here use k = {k}, as the paper's do." if str(k) == str(KS[0])
                                 else f"The main tables here use k = {k}; the paper's use k = {KS[0]}."}
    for penalty, name in PENALTY_NAMES.items():
        values[f"penalty_{name}"] = penalty
        for field in ("n_models", "n_gain", "n_equal", "n_loss", "mean_gain", "n_both", "msp_higher",
                      "median_pct", "best_pct", "ds_runs", "ds_gain", "ds_loss"):
            values[f"{field}_{name}"] = numbers[f"{field}_{penalty}"]
    variant_facts = [(str(v), _verdict_detail(abstention.abstention_numbers(table, v, signal)))
                     for v in list(variants)[:2]]
    variant_facts += [("", "")] * (2 - len(variant_facts))
    for i, (variant, detail) in enumerate(variant_facts):
        values[f"variant_{i}"], values[f"variant_{i}_verdict"] = variant, detail
    ours = _with_names(abstention.scored_abstention(table, k, signal, coverage_table), coverage_table)
    averaging = [f"its overall scores average over {words.dataset_names(d)} only" if partial else ""
                 for d, partial in zip(ours["datasets"], ours["partial_average"])]
    ours = ours.assign(ours=["one of ours" + (f" ({a})" if a else "") for a in averaging])
    return AbstentionFacts(
        **values, best_model=display_name(numbers["best_model"]),
        larger_gain_rule=words.penalty_name(numbers["larger_gain_penalty"]),
        verdict="holds" if numbers["holds"] else "does not hold in full",
        verdict_detail=_verdict_detail(numbers), rho_base_gain=numbers["rho_base_gain"],
        base_gain_words=words.describe_correlation(numbers["rho_base_gain"], numbers["p_base_gain"]),
        scored=_sentences(ours, "{name}, {ours}, scores {base_1:.1f} by always "
                          "answering and {score_1:.1f} with its MSP threshold under the balanced rule "
                          "(abstaining on {pct_1:.1f}% of the questions), and {base_2:.1f} against "
                          "{score_2:.1f} under the conservative rule.", NO_SCORED))


# ----------------------------------------------------------------------------- our own model

@dataclass(frozen=True)
class OwnModelFacts:
    name: str
    n_scored: int
    scored_names: str
    how_it_did: str
    alignment: str
    k: object
    abstention: str


def own_model_facts(name: str, models: pd.DataFrame, cell_table: pd.DataFrame, table: pd.DataFrame,
                    coverage_table: pd.DataFrame, splits: pd.DataFrame, k: abstention.K = 20,
                    chance_level: Sequence[str] = ()) -> OwnModelFacts:
    """The "Score your own model" chapter: the model of this run (``name``), every scored model with
    its accuracy, AUROC and unparseable share (``scored.scored_overview``), which questions it
    answered (``splits`` from ``coverage.question_splits``), and its abstention run for ``k``. A model
    of ``chance_level`` (``scored.chance_level_models``: its MSP AUROC interval includes 50%) is said
    to have a confidence that carries no information about correctness."""
    ours = _with_names(scored_mod.scored_overview(models, cell_table), coverage_table)
    ours = ours.assign(chance=["not distinguishable from chance: its AUROC interval includes 50%, so its confidence "
                               "carries no information about correctness" if m in set(chance_level) else
                               "distinguishable from chance" if above else "not distinguishable from chance"
                               for m, above in zip(ours["model"], ours["above_chance"])])
    runs = abstention.scored_abstention(table, k, coverage_table=coverage_table).assign(
        name=lambda t: t["model"].map(display_name))
    return OwnModelFacts(
        name=name, n_scored=len(ours), scored_names=words.names_or(ours["model"]),
        how_it_did=_sentences(
            ours, "{name} gave {covers} (at least {n_per_cell:,} per dataset and phrasing, against at least "
            "{n_per_cell_paper:,.0f} for the paper's models). Its accuracy, averaged over its cells as in "
            "the paper, is {accuracy:.1f}%, with {unparseable_pct:.1f}% of its answers unparseable. The "
            "mean AUROC of its MSP is {auroc_msp:.1f}%, with {n_above_msp} of its {n_cells_msp} MSP cells "
            "significantly above chance, so its MSP is {chance}; the mean AUROC of its Max Logit is "
            "{auroc_max_logit:.1f}%."),
        alignment=words.describe_alignment(splits), k=k,
        abstention=_sentences(
            runs, "{name} scores {base_1:.1f} by always answering and {score_1:.1f} with its learnt MSP "
            "threshold under the balanced rule ({gain_1:+.1f} points), abstaining on {pct_1:.1f}% of the "
            "test questions; under the conservative rule, {base_2:.1f} against {score_2:.1f}, abstaining "
            "on {pct_2:.1f}%."))


@dataclass(frozen=True)
class OptionSignalFacts:
    option_signal: str


def option_signal_facts(means: pd.DataFrame) -> OptionSignalFacts:
    """The two signals of each scored model with the option likelihood (``option_signal.signal_means``,
    averages over datasets), in words."""
    if means.empty:
        return OptionSignalFacts("No model in this run carries the option-likelihood signal.")
    wide = means.pivot(index="model", columns="signal").reset_index()
    wide.columns = ["_".join(c for c in col if c) for col in wide.columns]
    rows = _with_names(wide, None)
    return OptionSignalFacts(_sentences(
        rows, "{name} writes the right letter for {accuracy_msp:.1f}% of the questions (averaged over datasets), "
        "and the AUROC of its MSP is {auroc_msp:.1f}%; the option of highest likelihood is right for "
        "{accuracy_option_likelihood:.1f}% ({accuracy_option_likelihood_norm:.1f}% per character), and the "
        "AUROC of that option's probability is {auroc_option_likelihood:.1f}% "
        "({auroc_option_likelihood_norm:.1f}% per character). The calibration errors are "
        "{calibration_error_msp:.1f}% for the MSP and {calibration_error_option_likelihood:.1f}% "
        "({calibration_error_option_likelihood_norm:.1f}%) for the option likelihood."))


# ----------------------------------------------------------------------------- reproduction

@dataclass(frozen=True)
class ReproductionFacts:
    n_tables: int
    n_numbers: int
    n_matched: int
    n_missing: int
    n_missing_matched: int
    n_artefacts: int
    n_mismatched: int
    verdict: str
    n_shortcut_mismatched: int
    shortcut_examples: str


def reproduction_facts(comparison: pd.DataFrame, shortcut_comparison: pd.DataFrame) -> ReproductionFacts:
    """How many of the printed numbers we print with the same digits (``reproduction.match_totals``
    of ``comparison``), in words, and how many would differ with the shortcuts of
    ``reproduction.with_shortcuts`` (``shortcut_comparison``), with up to two examples."""
    totals = reproduction.match_totals(comparison).set_index("table").loc["all"]
    shortcut = reproduction.mismatches(shortcut_comparison)
    examples = [f"{r['row']} in the table '{tables.table_name(r['table'])}' ({r['printed']} printed, "
                f"{r['ours_rounded']} with the shortcuts)" for r in shortcut.head(2).to_dict("records")]
    n, matched = int(totals["n_numbers"]), int(totals["n_matched"])
    return ReproductionFacts(
        n_tables=int(comparison["table"].nunique()), n_numbers=n, n_matched=matched,
        n_missing=int(totals["n_missing"]), n_missing_matched=int(totals["n_missing_matched"]),
        n_artefacts=int(totals["n_artefacts"]), n_mismatched=int(totals["n_mismatched"]),
        verdict=("every printed number is reproduced to its last digit" if matched == n and not totals["n_mismatched"]
                 else f"{matched} of the {n} printed numbers are reproduced to their last digit"),
        n_shortcut_mismatched=len(shortcut), shortcut_examples=words.join_words(examples) or "none")


# ----------------------------------------------------------------------------- uncertainty of the claims

def _chance_sentences(intervals: pd.DataFrame, chance_level: Sequence[str]) -> str:
    """A sentence per chance-level scored model (``scored.chance_level_models``), with its MSP AUROC
    interval."""
    rows = intervals[(intervals["statistic"] == "auroc_msp") & intervals["model"].isin(list(chance_level))]
    rows = rows.assign(name=rows["model"].map(display_name))
    return _sentences(rows, "The MSP AUROC of {name} is {estimate:.1f}% with a 95% interval of [{lo:.1f}, "
                      "{hi:.1f}], which includes 50%: its confidence carries no information about correctness.")


@dataclass(frozen=True)
class CalibrationIntervalFacts:
    resamples: int
    n_above: int
    n_overlap: int
    n_below: int
    interval_verdict: str
    overlapping: str
    verdict_variant: str
    n_agree: int
    disagree: str
    closest_model: str
    closest_ece: float
    closest_lo: float
    closest_hi: float
    closest_variants_above: str
    closest_uniform_cells: float
    scored_interval: str


def calibration_interval_facts(verdicts: pd.DataFrame, intervals: pd.DataFrame, model_intervals: pd.DataFrame,
                               resamples: int, chance_level: Sequence[str] = (),
                               tolerance: float = cells.ECE_TOLERANCE) -> CalibrationIntervalFacts:
    """The calibration verdict by interval against the tolerance (rows of ``testing.calibration_verdicts``
    and ``testing.calibration_intervals`` over the paper's models): models whose interval of the
    equal-mass ECE lies above, overlaps or lies below it, whether the other variants agree and which
    variant makes the difference, the model closest to the tolerance with 4 decimals; and the scored
    models whose MSP AUROC interval includes 50% (``scored.chance_level_models``), never called calibrated."""
    paper = cells.split_scored(verdicts)[0]
    overlap = paper[~paper["above"] & ~paper["below"]]
    disagree = paper[~paper["agrees"]]
    closest = paper.loc[(paper["estimate"] - tolerance).abs().idxmin()]
    variants = intervals[(intervals["model"] == closest["model"])].set_index("variant")
    names = tables.CALIBRATION_COLUMNS
    return CalibrationIntervalFacts(
        resamples=resamples, n_above=int(paper["above"].sum()), n_overlap=len(overlap),
        n_below=int(paper["below"].sum()), interval_verdict=words.verdict(int(paper["above"].sum()), len(paper)),
        overlapping=words.names_or(overlap["model"]), verdict_variant=names["ece_equal_mass"],
        n_agree=int(paper["agrees"].sum()),
        disagree=_sentences(disagree.assign(name=disagree["model"].map(display_name), n_other=disagree[
            "n_variants_above"], listed=[words.join_words([names[v] for v in str(a).split(", ") if v])
                                         or "none" for a in disagree["variants_above"]]),
            "For {name} the variants disagree: the interval lies above the tolerance for {listed} only.",
            "Every variant gives the same verdict for every paper model."),
        closest_model=display_name(closest["model"]), closest_ece=float(closest["estimate"]),
        closest_lo=float(closest["lo"]), closest_hi=float(closest["hi"]),
        closest_variants_above=words.join_words([names[v] for v in str(closest["variants_above"]).split(", ") if v])
        or "none",
        closest_uniform_cells=float(variants.loc["calibration_error_uniform_cells", "estimate"]),
        scored_interval=_chance_sentences(model_intervals, chance_level) or NO_SCORED_AT_CHANCE)


#: the sentence when no scored model is at chance level
NO_SCORED_AT_CHANCE = "No model we scored ourselves has an MSP AUROC interval that includes 50%."


@dataclass(frozen=True)
class CorrectnessTestFacts:
    resamples: int
    n_tests: int
    alpha: float
    n_sig_paper: int
    n_sig_holm: int
    n_sig_bh: int
    n_sig_paper_msp: int
    n_sig_holm_msp: int
    n_sig_bh_msp: int
    n_msp_tests: int
    n_pairs: int
    n_pair_models: int
    n_pairs_positive: int
    wilcoxon_p: float
    pair_mean: float
    pair_lo: float
    pair_hi: float
    paper_gap: float
    paper_t_p: float
    gap_without_gpt: float
    t_p_without_gpt: float
    gpt_share_pct: float
    n_gpt_cells: int
    scored_chance: str
    paired_verdict: str
    n_models_tested: int
    n_supported_paper: int
    n_supported_holm: int
    n_supported_bh: int
    verdict_holm: str


def correctness_test_facts(corrected: pd.DataFrame, wilcoxon: dict, difference: dict, t_tests: pd.DataFrame,
                           gpt_share: dict, model_intervals: pd.DataFrame, resamples: int,
                           chance_level: Sequence[str] = (), alpha: float = 0.05) -> CorrectnessTestFacts:
    """The correctness chapter's tests a reviewer asks for (``testing``): the per-cell verdict counts
    uncorrected (the paper's two-sided p < 10⁻⁴) and one-sided after Holm and Benjamini-Hochberg at
    ``alpha`` (``corrected_cell_pvalues``), the paired MSP − Max Logit comparison (Wilcoxon,
    paired bootstrap interval of the mean difference), the paper's unpaired t-test with and without the
    GPT cells and the share of its gap the GPT cells make; and the scored models at chance level."""
    tests = t_tests.set_index("cells")
    msp = corrected[corrected["signal"] == "msp"]
    counts = testing.significant_cell_counts(corrected)
    by_model = counts[counts["signal"] == "msp"]
    supported = {rule: int((by_model[f"n_sig_{rule}"] == by_model["n_cells"]).sum()) for rule in ("paper", "holm", "bh")}
    pair_models = cells.split_scored(corrected)[0]
    n_pair_models = pair_models[pair_models["signal"] == "max_logit"]["model"].nunique()
    return CorrectnessTestFacts(
        resamples=resamples, n_tests=int(corrected["p_one_sided"].notna().sum()), alpha=alpha,
        n_sig_paper=int(corrected["sig_paper"].sum()), n_sig_holm=int(corrected["sig_holm"].sum()),
        n_sig_bh=int(corrected["sig_bh"].sum()), n_sig_paper_msp=int(msp["sig_paper"].sum()),
        n_sig_holm_msp=int(msp["sig_holm"].sum()), n_sig_bh_msp=int(msp["sig_bh"].sum()), n_msp_tests=len(msp),
        n_pairs=int(wilcoxon["n_pairs"]), n_pair_models=int(n_pair_models),
        n_pairs_positive=int(wilcoxon["n_positive"]), wilcoxon_p=float(wilcoxon["p_one_sided"]),
        pair_mean=float(difference["estimate"]), pair_lo=float(difference["lo"]), pair_hi=float(difference["hi"]),
        paper_gap=float(tests.at["all", "gap"]), paper_t_p=float(tests.at["all", "p"]),
        gap_without_gpt=float(tests.at["without_gpt", "gap"]), t_p_without_gpt=float(tests.at["without_gpt", "p"]),
        gpt_share_pct=100 * float(gpt_share["gpt_share"]), n_gpt_cells=int(gpt_share["n_gpt_cells"]),
        scored_chance=_chance_sentences(model_intervals, chance_level) or NO_SCORED_AT_CHANCE,
        paired_verdict=("on like-for-like cells the MSP ranks better, by a margin whose interval excludes 0"
                        if difference["lo"] > 0 else
                        "on like-for-like cells the Max Logit ranks better, by a margin whose interval excludes 0"
                        if difference["hi"] < 0 else
                        "on like-for-like cells the interval of the difference includes 0, so neither signal "
                        "is shown to rank better"),
        n_models_tested=len(by_model), n_supported_paper=supported["paper"], n_supported_holm=supported["holm"],
        n_supported_bh=supported["bh"], verdict_holm=words.verdict(supported["holm"], len(by_model)))


_ROBUST_PAIRS = [f"{x}_{y}" for x, y in ACCURACY_PAIRS + SIZE_PAIRS]


@dataclass(frozen=True)
class CorrelationUncertaintyFacts:
    resamples: int
    accuracy_auroc_msp_robust: str
    accuracy_auroc_max_logit_robust: str
    accuracy_calibration_error_uniform_cells_robust: str
    params_b_accuracy_robust: str
    params_b_auroc_msp_robust: str
    params_b_auroc_max_logit_robust: str
    params_b_calibration_error_uniform_cells_robust: str
    scored_support: str


def correlation_uncertainty_facts(uncertainty: pd.DataFrame, model_intervals: pd.DataFrame, resamples: int,
                                  chance_level: Sequence[str] = ()) -> CorrelationUncertaintyFacts:
    """Per pair (rows of ``testing.correlation_uncertainty``), one line of its uncertainty: Pearson r
    with its Fisher z and question-bootstrap intervals, Spearman ρ with its question-bootstrap
    interval, both permutation p-values and the leave-one-family-out range of r; and the scored
    models at chance level, which the correlations never count as support."""
    values: dict[str, object] = {"resamples": resamples}
    for (x, y), part in uncertainty.groupby(["x", "y"], sort=False):
        r = part.set_index("method")
        if "pearson" not in r.index or "spearman" not in r.index or not pd.notna(r.at["pearson", "estimate"]):
            values[f"{x}_{y}_robust"] = "too few models for a correlation"
            continue
        p, s = r.loc["pearson"], r.loc["spearman"]
        values[f"{x}_{y}_robust"] = (
            f"r = {p['estimate']:.2f}, Fisher z [{p['fisher_lo']:.2f}, {p['fisher_hi']:.2f}], over questions "
            f"[{p['question_lo']:.2f}, {p['question_hi']:.2f}], over models [{p['model_lo']:.2f}, "
            f"{p['model_hi']:.2f}], permutation p = {p['permutation_p']:.2g}; ρ = {s['estimate']:.2f}, over "
            f"questions [{s['question_lo']:.2f}, {s['question_hi']:.2f}], permutation p = "
            f"{s['permutation_p']:.2g}; leaving one family out, r runs from {p['lofo_min']:.2f} (without "
            f"{p['lofo_min_family']}) to {p['lofo_max']:.2f} (without {p['lofo_max_family']})")
    for name in _ROBUST_PAIRS:
        values.setdefault(f"{name}_robust", "not computed in this run")
    chance = _chance_sentences(model_intervals, chance_level)
    values["scored_support"] = (chance + " A chance-level point has leverage on a correlation, not evidence, "
                                "so it is never counted as support.") if chance else NO_SCORED_AT_CHANCE
    return CorrelationUncertaintyFacts(**values)


@dataclass(frozen=True)
class AbstentionRepeatFacts:
    seeds: int
    sweep_seeds: int
    n_repeat_models: int
    n_median_gain_balanced: int
    n_median_gain_conservative: int
    n_mostly_gain_balanced: int
    n_mostly_gain_conservative: int
    n_paper_split_outer: int
    weak_n_conservative: int
    weak_pct_min_conservative: float
    weak_pct_max_conservative: float
    weak_gain_min_conservative: float
    weak_gain_max_conservative: float
    strong_n_balanced: int
    strong_gain_min_balanced: float
    strong_gain_max_balanced: float
    strong_pct_max_balanced: float


def abstention_repeat_facts(bands: pd.DataFrame, sources: pd.DataFrame, seeds: int, sweep_seeds: int,
                            signal: str = "msp", mostly: float = 0.95) -> AbstentionRepeatFacts:
    """The repeated splits of one k over the paper's models (``abstention_repeats.gain_bands`` with the
    paper's single split, and ``gain_by_base``): per rule the models with a positive median gain and
    with a gain in at least ``mostly`` of the splits, how many paper splits fall outside the 5–95%
    range, and where the gain comes from (weak models abstain on most questions, strong ones gain
    little)."""
    paper = cells.split_scored(bands[bands["signal"] == signal])[0]
    values: dict[str, object] = {"seeds": seeds, "sweep_seeds": sweep_seeds, "n_repeat_models": paper["model"].nunique()}
    for penalty, name in PENALTY_NAMES.items():
        part = paper[paper["penalty"] == penalty]
        values[f"n_median_gain_{name}"] = int((part["median_gain"] > 0).sum())
        values[f"n_mostly_gain_{name}"] = int((part["share_gain_positive"] >= mostly).sum())
    outer = paper["paper_gain_quantile"] if "paper_gain_quantile" in paper else pd.Series(dtype=float)
    values["n_paper_split_outer"] = int(((outer < 0.05) | (outer > 0.95)).sum())
    src = sources[sources["signal"] == signal].set_index(["penalty", "group"])
    def get(penalty, group, column):
        return float(src.at[(penalty, group), column]) if (penalty, group) in src.index else float("nan")
    conservative, balanced = max(PENALTY_NAMES), min(PENALTY_NAMES)
    values.update(
        weak_n_conservative=int(get(conservative, "weak", "n_models")) if (conservative, "weak") in src.index else 0,
        weak_pct_min_conservative=get(conservative, "weak", "pct_abstained_min"),
        weak_pct_max_conservative=get(conservative, "weak", "pct_abstained_max"),
        weak_gain_min_conservative=get(conservative, "weak", "gain_min"),
        weak_gain_max_conservative=get(conservative, "weak", "gain_max"),
        strong_n_balanced=int(get(balanced, "strong", "n_models")) if (balanced, "strong") in src.index else 0,
        strong_gain_min_balanced=get(balanced, "strong", "gain_min"),
        strong_gain_max_balanced=get(balanced, "strong", "gain_max"),
        strong_pct_max_balanced=get(balanced, "strong", "pct_abstained_max"))
    return AbstentionRepeatFacts(**values)


# ----------------------------------------------------------------------------- the verdicts at a glance

@dataclass(frozen=True)
class SummaryFacts:
    calibration_verdict: str
    calibration_evidence: str
    correctness_verdict: str
    correctness_evidence: str
    correlations_verdict: str
    correlations_evidence: str
    abstention_verdict: str
    abstention_evidence: str
    calibration_claim: str
    calibration_paper: str
    correctness_claim: str
    correctness_paper: str
    correlations_claim: str
    correlations_paper: str
    abstention_claim: str
    abstention_paper: str


def summary_facts(calibration: CalibrationIntervalFacts, correctness: CorrectnessFacts,
                  tests: CorrectnessTestFacts, correlation: CorrelationFacts,
                  uncertainty: CorrelationUncertaintyFacts, abstention_run: AbstentionFacts,
                  repeats: AbstentionRepeatFacts) -> SummaryFacts:
    """Each claim's verdict and its evidence in one line, from the facts the claim chapters glue
    (nothing is computed here): calibration by interval against the tolerance, correctness by
    model with the corrected and paired tests, the correlations in words that name the statistic
    when Pearson and Spearman disagree, abstention on the paper's split and over repeated splits; and
    each claim with the paper's statement (``tables.SUMMARY_CLAIMS``)."""
    claims = {}
    for chapter, (claim, statement) in tables.SUMMARY_CLAIMS.items():
        claims[f"{chapter}_claim"], claims[f"{chapter}_paper"] = claim, statement
    return SummaryFacts(
        **claims,
        calibration_verdict=calibration.interval_verdict,
        calibration_evidence=(f"the 95% interval of the conventional ECE ({calibration.verdict_variant}) lies above the "
                              f"tolerance for "
                              f"{calibration.n_above} models; closest: {calibration.closest_model}, "
                              f"{calibration.closest_ece:.4f} [{calibration.closest_lo:.4f}, {calibration.closest_hi:.4f}]"),
        correctness_verdict=correctness.verdict,
        correctness_evidence=(f"{tests.n_sig_holm_msp} of {tests.n_msp_tests} MSP cells significant after Holm's "
                              f"correction ({tests.n_sig_paper_msp} by the paper's uncorrected rule); MSP − Max Logit "
                              f"on {tests.n_pairs} paired cells {tests.pair_mean:.2f} [{tests.pair_lo:.2f}, "
                              f"{tests.pair_hi:.2f}] points, of which the paper's unpaired gap of "
                              f"{tests.paper_gap:.2f} owes {tests.gpt_share_pct:.0f}% to the GPT cells"),
        correlations_verdict=(f"accuracy and MSP AUROC: {correlation.accuracy_auroc_msp_words}; accuracy and "
                              f"calibration error: {correlation.accuracy_calibration_error_uniform_cells_words}"),
        correlations_evidence=uncertainty.accuracy_auroc_msp_robust,
        abstention_verdict=f"{abstention_run.verdict} on the paper's split (k = {abstention_run.k})",
        abstention_evidence=(f"over {repeats.seeds} splits, {repeats.n_median_gain_balanced} of "
                             f"{repeats.n_repeat_models} models gain in the median (balanced rule); models that "
                             f"lose by always answering gain {repeats.weak_gain_min_conservative:.0f}–"
                             f"{repeats.weak_gain_max_conservative:.0f} points by abstaining on "
                             f"{repeats.weak_pct_min_conservative:.0f}–{repeats.weak_pct_max_conservative:.0f}% "
                             f"(conservative), the others {repeats.strong_gain_min_balanced:.1f}–"
                             f"{repeats.strong_gain_max_balanced:.1f} points (balanced)"))


# ----------------------------------------------------------------------------- gluing

#: the facts each chapter glues (chapter name -> dataclasses)
CHAPTER_FACTS = {
    "data": (DataFacts,),
    "reproduction": (ReproductionFacts,),
    "calibration": (CalibrationFacts, CalibrationIntervalFacts),
    "correctness": (CorrectnessFacts, CorrectnessTestFacts),
    "correlations": (CorrelationFacts, CorrelationUncertaintyFacts),
    "abstention": (AbstentionFacts, AbstentionRepeatFacts),
    "own_model": (OwnModelFacts, OptionSignalFacts),
    "summary": (SummaryFacts,),
}


def field_names(*classes) -> set[str]:
    """Every field name of the given facts dataclasses."""
    return {f.name for cls in classes for f in fields(cls)}


def glue_facts(*facts) -> None:
    """Glue every field of each facts object under its own name, for ``{glue:text}`name``` in prose."""
    from myst_nb import glue

    for item in facts:
        for f in fields(item):
            glue(f.name, getattr(item, f.name), display=False)


# ----------------------------------------------------------------------------- fixing calibration

@dataclass(frozen=True)
class RecalibrationFacts:
    k: object
    tolerance: float
    n_models: int
    n_before: int
    n_platt: int
    n_temperature: int
    n_isotonic: int
    n_histogram: int
    platt_models: str
    best_method: str
    n_best: int
    n_sure_before: int
    n_sure_platt: int
    median_ece_before: float
    median_ece_platt: float
    median_smece_before: float
    median_smece_platt: float
    median_brier_before: float
    median_brier_platt: float
    median_reliability_before: float
    median_reliability_platt: float
    median_resolution_before: float
    median_resolution_platt: float
    median_log_loss_before: float
    median_log_loss_platt: float
    isotonic_auroc_change: float
    isotonic_auroc_model: str
    monotone_auroc_change: float
    n_degenerate: int
    sweep_counts: str
    still_words: str
    corr_before_words: str
    corr_before_stats: str
    corr_after_words: str
    corr_after_stats: str
    scored: str


def _miscalibrated_count(table: pd.DataFrame, tolerance: float, k, method: str) -> int:
    rows = recalibration.still_miscalibrated(table, tolerance)
    rows = rows[(rows["k"].astype(str) == str(k)) & (rows["signal"] == "msp") & (rows["method"] == method)]
    return int(rows["n_miscalibrated"].iloc[0]) if len(rows) else 0


def recalibration_facts(table: pd.DataFrame, sweep: pd.DataFrame, intervals: pd.DataFrame, k: abstention.K = 20,
                        coverage_table: pd.DataFrame | None = None,
                        tolerance: float = cells.ECE_TOLERANCE) -> RecalibrationFacts:
    """The recalibration chapter over the paper's models: how many stay above the ECE ``tolerance``
    (equal-mass, ``recalibration.still_miscalibrated``) raw and after each map with k labels
    (``table``: ``recalibration.recalibration_table``), how many beyond doubt (the lower end of the
    interval above the tolerance, ``intervals``: ``recalibration.measure_intervals``), medians of the
    measures raw and after Platt scaling, the largest AUROC change by isotonic regression (points)
    and by the strictly increasing maps, the count per k of the sweep (``sweep``), the correlation
    of accuracy with the ECE raw and after Platt (``recalibration.accuracy_error_correlation``), and
    a sentence per scored model."""
    msp = table[table["signal"] == "msp"]
    paper = cells.split_scored(msp)[0]
    by = {m: paper[paper["method"] == m].set_index("model") for m in recalibration.METHODS["msp"]}
    counts = {m: _miscalibrated_count(table, tolerance, k, m) for m in recalibration.METHODS["msp"]}
    best = min(recalibration.METHODS["msp"][1:], key=lambda m: (counts[m], by[m]["ece_equal_mass"].median()))
    still = recalibration.still_miscalibrated(table, tolerance).set_index(["signal", "method"])
    platt_models = still.loc[("msp", "platt"), "models"] if ("msp", "platt") in still.index else ""
    ece = intervals[(intervals["measure"] == "ece_equal_mass") & ~intervals["model"].map(is_scored)]
    sure = {m: int((ece[ece["method"] == m]["lo"] > tolerance).sum()) for m in ("none", "platt")}
    iso = by["isotonic"]["auroc_change"]
    monotone = pd.concat([by["platt"]["auroc_change"], by["temperature"]["auroc_change"]]).abs()
    sweep_rows = recalibration.still_miscalibrated(sweep, tolerance)
    sweep_rows = sweep_rows[(sweep_rows["signal"] == "msp") & (sweep_rows["method"] == "platt")]
    sweep_counts = words.join_words([f"{r['n_miscalibrated']} with k = {r['k']}" for r in sweep_rows.to_dict("records")])
    corr = recalibration.accuracy_error_correlation(table).set_index(["signal", "method"])
    before, after = corr.loc[("msp", "none")], corr.loc[("msp", "platt")]
    ours = cells.split_scored(msp)[1]
    ours = ours.pivot_table(index="model", columns="method", values="ece_equal_mass", aggfunc="first").reset_index()
    ours = _with_names(ours, coverage_table) if len(ours) else ours.assign(name=[], ours=[])
    n_platt = counts["platt"]
    return RecalibrationFacts(
        k=k, tolerance=tolerance, n_models=len(by["none"]), n_before=counts["none"], n_platt=n_platt,
        n_temperature=counts["temperature"], n_isotonic=counts["isotonic"], n_histogram=counts["histogram"],
        platt_models=words.names_or(platt_models.split(", ") if platt_models else [], "none"),
        best_method=tables.METHOD_NAMES[best], n_best=counts[best],
        n_sure_before=sure["none"], n_sure_platt=sure["platt"],
        **{f"median_{name}_{stage}": float(by[method][column].median())
           for name, column in (("ece", "ece_equal_mass"), ("smece", "smece"), ("brier", "brier"),
                                ("reliability", "reliability"), ("resolution", "resolution"),
                                ("log_loss", "log_loss"))
           for stage, method in (("before", "none"), ("platt", "platt"))},
        isotonic_auroc_change=float(100 * iso.min()), isotonic_auroc_model=display_name(iso.idxmin()),
        monotone_auroc_change=float(100 * monotone.max()),
        n_degenerate=int(paper["n_degenerate"].sum()), sweep_counts=sweep_counts,
        still_words=("no paper model is still miscalibrated" if n_platt == 0 else
                     f"{n_platt} of the {len(by['none'])} paper models {'is' if n_platt == 1 else 'are'} still miscalibrated"),
        corr_before_words=words.describe_correlation(before["pearson_r"], before["pearson_p"]),
        corr_before_stats=words.correlation_stats(int(before["n"]), before["pearson_r"], before["pearson_p"],
                                                  before["spearman_rho"]),
        corr_after_words=words.describe_correlation(after["pearson_r"], after["pearson_p"]),
        corr_after_stats=words.correlation_stats(int(after["n"]), after["pearson_r"], after["pearson_p"],
                                                 after["spearman_rho"]),
        scored=_sentences(ours, "{name}, {ours}, has a conventional ECE of {none:.2f} with its raw MSP and "
                          f"{{platt:.2f}} after Platt scaling on its k = {k} labelled answers per dataset.",
                          NO_SCORED))


# ----------------------------------------------------------------------------- selective answering

#: readable names of the selective-answering numbers
SELECTIVE_NAMES = {"aurc": "AURC", "e_aurc": "E-AURC", "augrc": "AUGRC", "prr": "PRR",
                   "prr_selective": "selective PRR", "auroc": "AUROC"}


@dataclass(frozen=True)
class SelectiveFacts:
    k: object
    n_models: int
    e_aurc_min: float
    e_aurc_min_model: str
    e_aurc_max: float
    e_aurc_max_model: str
    median_gain_80: float
    n_gain_80: int
    aurc_r: float
    aurc_low: float
    aurc_high: float
    e_aurc_r: float
    e_aurc_low: float
    e_aurc_high: float
    augrc_r: float
    augrc_low: float
    augrc_high: float
    prr_selective_r: float
    prr_selective_low: float
    prr_selective_high: float
    auroc_r: float
    auroc_low: float
    auroc_high: float
    tracks_accuracy: str
    free_of_accuracy: str
    e_aurc_paper_auroc_r: float
    e_aurc_score_r: float
    n_both: int
    n_msp_better: int
    target_risk_pct: float
    confidence_pct: float
    n_certified: int
    certified_models: str
    certified_words: str
    n_paper_within: int
    n_paper_runs: int
    median_paper_risk_pct: float
    scored: str


def selective_facts(table: pd.DataFrame, logit_table: pd.DataFrame, correlations_boot: pd.DataFrame,
                    comparison_correlations: pd.DataFrame, conformal: pd.DataFrame, k: abstention.K = 20,
                    coverage_table: pd.DataFrame | None = None) -> SelectiveFacts:
    """The selective-answering chapter over the paper's models: E-AURC extremes (``table``:
    ``selective.selective_by_model`` of MSP; ``logit_table`` the same of Max Logit), the median gain
    in accuracy (points) from answering the 80% most confident, Pearson r of accuracy with each
    summary and its interval (``correlations_boot``: ``selective.bootstrap_correlations``), which
    summaries track accuracy (interval excluding 0) and which do not, r of E-AURC with the paper's
    AUROC and balanced score (``comparison_correlations``: ``selective.cross_model_correlations``),
    MSP against Max Logit by E-AURC, and the conformal rule against the paper's balanced threshold
    (``conformal``: ``selective.conformal_abstention``); a sentence per scored model."""
    paper, ours = (part.set_index("model") for part in cells.split_scored(table))
    logit = cells.split_scored(logit_table)[0].set_index("model")
    e_aurc = words.extremes_words(cells.extremes(paper["e_aurc"]))
    corr = correlations_boot.set_index("y")
    values: dict[str, object] = {}
    for y in ("aurc", "e_aurc", "augrc", "prr_selective", "auroc"):
        values.update({f"{y}_r": float(corr.loc[y, "pearson_r"]), f"{y}_low": float(corr.loc[y, "pearson_low"]),
                       f"{y}_high": float(corr.loc[y, "pearson_high"])})
    excludes = (corr["pearson_low"] > 0) | (corr["pearson_high"] < 0)
    named = [y for y in SELECTIVE_NAMES if y in corr.index and y != "prr"]
    pairs = comparison_correlations.set_index(["x", "y"])["pearson_r"]
    both = paper.index.intersection(logit.index)
    ltt = conformal[conformal["rule"] == "ltt"]
    ltt_paper = cells.split_scored(ltt)[0]
    certified = ltt_paper[~ltt_paper["abstains_all"].astype(bool)]
    target = float(ltt["target_risk"].iloc[0]) if len(ltt) else selective.TARGET_RISK
    delta = float(ltt["delta"].iloc[0]) if len(ltt) else selective.DELTA
    paper_rule = cells.split_scored(conformal[conformal["rule"] == "paper_balanced"])[0]
    certified_words = words.join_words([f"{display_name(r['model'])} answers {100 * r['coverage']:.1f}% of the test "
                                        f"questions with {100 * r['risk']:.1f}% of them wrong"
                                        for r in certified.to_dict("records")])
    ours = _with_names(ours.reset_index(), coverage_table)
    return SelectiveFacts(
        k=k, n_models=len(paper), e_aurc_min=e_aurc["min"], e_aurc_min_model=e_aurc["min_model"],
        e_aurc_max=e_aurc["max"], e_aurc_max_model=e_aurc["max_model"],
        median_gain_80=float(100 * (paper["acc_at_80"] - paper["accuracy"]).median()),
        n_gain_80=int((paper["acc_at_80"] > paper["accuracy"]).sum()), **values,
        tracks_accuracy=words.join_words([SELECTIVE_NAMES[y] for y in named if excludes[y]]) or "none",
        free_of_accuracy=words.join_words([SELECTIVE_NAMES[y] for y in named if not excludes[y]]) or "none",
        e_aurc_paper_auroc_r=float(pairs.get(("paper_auroc", "e_aurc"), float("nan"))),
        e_aurc_score_r=float(pairs.get(("score_balanced", "e_aurc"), float("nan"))),
        n_both=len(both), n_msp_better=int((paper.loc[both, "e_aurc"] < logit.loc[both, "e_aurc"]).sum()),
        target_risk_pct=100 * target, confidence_pct=100 * (1 - delta), n_certified=len(certified),
        certified_models=words.names_or(certified["model"]),
        certified_words=certified_words or "no model is certified",
        n_paper_within=int(paper_rule["within_target"].fillna(False).astype(bool).sum()),
        n_paper_runs=len(paper_rule),
        median_paper_risk_pct=float(100 * paper_rule["risk"].median()),
        scored=_sentences(ours, "{name}, {ours}, has an AURC of {aurc:.3f} and an E-AURC of {e_aurc:.3f} with "
                          "its MSP, at an accuracy of {accuracy:.3f}; answering its 80% most confident "
                          "answers, its accuracy is {acc_at_80:.3f}.", NO_SCORED))


# ----------------------------------------------------------------------------- one example in the prompt

@dataclass(frozen=True)
class OneShotFacts:
    n_models_one: int
    missing_models: str
    partial_models: str
    n_paired: int
    n_accuracy_down: int
    n_accuracy_up: int
    median_accuracy_change: float
    n_auroc_down: int
    n_auroc_up: int
    median_auroc_change: float
    n_ece_up: int
    n_ece_down: int
    n_compared: int
    largest_drop_dataset: str
    largest_drop: float
    n_models_claims: int
    n_miscalibrated_0: int
    n_miscalibrated_1: int
    calibration_claim_1: str
    n_above_chance_0: int
    n_above_chance_1: int
    correctness_claim_1: str
    r_msp_0: float
    r_msp_1: float
    correlation_claim_1: str
    n_both: int
    n_msp_better_0: int
    n_msp_better_1: int
    abstention_claim_0: str
    abstention_claim_1: str
    k: object
    r_all_msp: float
    n_all_msp: int
    r_all_max_logit: float
    n_all_max_logit: int
    scored: str


def _direction_counts(differences: pd.DataFrame, measure: str) -> tuple[int, int, float]:
    """Paper models whose interval of the difference lies wholly below / above 0, and the median."""
    rows = differences[(differences["measure"] == measure) & differences["difference"].notna()]
    rows = cells.split_scored(rows)[0]
    return int((rows["hi"] < 0).sum()), int((rows["lo"] > 0).sum()), float(rows["difference"].median())


def one_shot_facts(counts: pd.DataFrame, differences: pd.DataFrame, claims: pd.DataFrame,
                   by_dataset: pd.DataFrame, all_correlations: pd.DataFrame, k: abstention.K = 20) -> OneShotFacts:
    """The one-shot chapter: models with one-shot answers (``counts``: ``one_shot.same_question_counts``;
    missing = none, partial = fewer than zero-shot), per measure the paper models whose paired interval
    (``differences``: ``one_shot.paired_differences``) lies below or above 0 and the median change,
    the dataset with the largest mean accuracy drop (``by_dataset``: ``one_shot.accuracy_drop_by_dataset``),
    the four claims with zero and one example (``claims``: ``one_shot.claims_by_shots``), and the
    correlations on all one-shot answers (``all_correlations``: ``one_shot.one_shot_correlations``);
    a sentence per scored model with one-shot answers."""
    paper_counts, scored_counts = cells.split_scored(counts)
    missing = paper_counts[paper_counts["n_one"] == 0]["model"]
    partial = paper_counts[(paper_counts["n_one"] > 0) & (paper_counts["n_one"] < paper_counts["n_zero"])]["model"]
    acc_down, acc_up, acc_median = _direction_counts(differences, "accuracy")
    auroc_down, auroc_up, auroc_median = _direction_counts(differences, "auroc_msp")
    ece_down, ece_up, _ = _direction_counts(differences, "ece_equal_mass")
    drop = cells.split_scored(by_dataset)[0].groupby("dataset", sort=False)["difference"].mean()
    zero, one = (claims.set_index("shots").loc[s] for s in (0, 1))
    corr = all_correlations.set_index("y")
    ours = cells.split_scored(differences[differences["measure"] == "accuracy"])[1]
    ours = _with_names(ours, None) if len(ours) else ours.assign(name=[], ours=[])
    return OneShotFacts(
        n_models_one=int((paper_counts["n_one"] > 0).sum()), missing_models=words.names_or(missing),
        partial_models=words.names_or(partial), n_paired=int(paper_counts["n_paired"].sum()),
        n_accuracy_down=acc_down, n_accuracy_up=acc_up, median_accuracy_change=acc_median,
        n_auroc_down=auroc_down, n_auroc_up=auroc_up, median_auroc_change=auroc_median,
        n_ece_up=ece_up, n_ece_down=ece_down,
        n_compared=int(cells.split_scored(differences)[0]["model"].nunique()),
        largest_drop_dataset=dataset_name(drop.idxmin()), largest_drop=float(-drop.min()),
        n_models_claims=int(one["n_models"]),
        n_miscalibrated_0=int(zero["n_miscalibrated"]), n_miscalibrated_1=int(one["n_miscalibrated"]),
        calibration_claim_1=words.verdict(int(one["n_miscalibrated"]), int(one["n_models"])),
        n_above_chance_0=int(zero["n_above_chance_msp"]), n_above_chance_1=int(one["n_above_chance_msp"]),
        correctness_claim_1=words.verdict(int(one["n_above_chance_msp"]), int(one["n_models"])),
        r_msp_0=float(zero["r_msp"]), r_msp_1=float(one["r_msp"]),
        correlation_claim_1=words.describe_correlation(float(one["r_msp"]), float(one["p_msp"])),
        n_both=int(one["n_both"]), n_msp_better_0=int(zero["n_msp_better"]), n_msp_better_1=int(one["n_msp_better"]),
        abstention_claim_0="holds" if zero["abstention_claim"] else "does not hold in full",
        abstention_claim_1="holds" if one["abstention_claim"] else "does not hold in full", k=k,
        r_all_msp=float(corr.loc["auroc_msp", "pearson_r"]), n_all_msp=int(corr.loc["auroc_msp", "n"]),
        r_all_max_logit=float(corr.loc["auroc_max_logit", "pearson_r"]),
        n_all_max_logit=int(corr.loc["auroc_max_logit", "n"]),
        scored=_sentences(ours, "{name}, {ours}, answers {one:.1f}% right with one example against {zero:.1f}% "
                          "without on the same questions ({difference:+.1f} points).",
                          "No model we scored ourselves has one-shot answers in this run."))


CHAPTER_FACTS.update({"recalibration": (RecalibrationFacts,), "selective": (SelectiveFacts,),
                      "one_shot": (OneShotFacts,)})
