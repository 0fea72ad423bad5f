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

from helpers.analysis import abstention, cells, coverage, reproduction, significance
from helpers.analysis import scored as scored_mod
from helpers.analysis.abstention import BASE_THRESHOLD, KS
from helpers.analysis.correlations import ACCURACY_PAIRS, CORRELATION_ALPHA, SIZE_PAIRS, correlation_table
from helpers.analysis.metrics import correlation
from helpers.data.method import MAX_NEW_TOKENS
from helpers.data.vocabulary import API_MODELS, PAPER_MODELS, PENALTY_NAMES, PHRASINGS, display_name
from helpers.report import tables, words

NO_SCORED = "No model we scored ourselves is part of this run."


def _sentences(rows: pd.DataFrame, template: str, none: str = "") -> str:
    """One sentence per row, ``template.format(**row)``, joined by spaces; ``none`` without rows."""
    if rows.empty:
        return none
    return " ".join(template.format(**row) for row in rows.to_dict("records"))


def _with_names(rows: pd.DataFrame, coverage_table: pd.DataFrame | None) -> pd.DataFrame:
    """Scored rows with ``name`` (display name), ``covers`` (what it answered, in words, given a
    coverage table; else empty) and ``ours`` ('one of ours (2,000 of 42,814 answers, …)', or 'one of
    ours' without a coverage table)."""
    words_of = ({} if coverage_table is None else
                {r["model"]: words.covers(r) for r in coverage_table.to_dict("records")})
    covers = rows["model"].map(lambda m: words_of.get(m, ""))
    return rows.assign(name=rows["model"].map(display_name), covers=covers,
                       ours=["one of ours" + (f" ({c})" if c else "") for c in covers])


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
                      tolerance: float = cells.ECE_TOLERANCE) -> CalibrationFacts:
    """The calibration chapter's verdict over the paper's models (rows of
    ``cells.calibration_by_model``; errors as fractions, shares in percent): the models whose
    conventional ECE exceeds ``tolerance`` (``significance.miscalibrated_models``), mean MSP minus
    accuracy in points, extremes of the paper's recipe and of the ECE, the largest share of
    MSP == 1.0, the largest disagreement of the two measures and their rank correlation; and a
    sentence per scored model."""
    paper = cells.split_scored(calibration)[0].set_index("model")
    overconfidence = words.extremes_words(cells.extremes(100 * paper["overconfidence"]))
    paper_err = words.extremes_words(cells.extremes(paper["calibration_error_paper"]))
    ece = words.extremes_words(cells.extremes(paper["ece_equal_mass"]))
    gap = (paper["calibration_error_paper"] - paper["ece_equal_mass"]).abs()
    most_ones, changed = paper["share_msp_one"].idxmax(), gap.idxmax()
    n_mis = len(significance.miscalibrated_models(paper.reset_index(), tolerance))
    ours = _with_names(scored_mod.scored_calibration(calibration, tolerance), coverage_table)
    ours = ours.assign(status=ours["miscalibrated"].map({True: "miscalibrated",
                                                         False: "calibrated within the tolerance"}))
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


def correlation_facts(models: pd.DataFrame, coverage_table: pd.DataFrame | None = None) -> CorrelationFacts:
    """Per pair of the paper's figures (``correlations.ACCURACY_PAIRS`` and ``SIZE_PAIRS``, over the
    paper's models; METHODS §8.4): n, the correlation in words (Pearson r, p < ``CORRELATION_ALPHA``)
    and its numbers; and where each scored model sits against the accuracy-AUROC lines."""
    table = correlation_table(models, ACCURACY_PAIRS + SIZE_PAIRS)
    values: dict[str, object] = {"alpha": CORRELATION_ALPHA}
    for row in table.itertuples():
        values[f"{row.x}_{row.y}_n"] = int(row.n)
        values[f"{row.x}_{row.y}_words"] = words.describe_correlation(row.pearson_r, row.pearson_p)
        values[f"{row.x}_{row.y}_stats"] = words.correlation_stats(row.n, row.pearson_r, row.pearson_p,
                                                                   row.spearman_rho)
    for y, signal in (("auroc_msp", "MSP"), ("auroc_max_logit", "Max Logit")):
        rows = _with_names(scored_mod.scored_positions(models, "accuracy", y), coverage_table)
        rows = rows.assign(side=rows["above"].map({True: "above", False: "below"}))
        values[f"scored_{y}"] = _sentences(
            rows, "{name}, {ours}, has an accuracy of {x_value:.1f}% and a mean AUROC of "
            "{y_value:.1f}% with the " + signal + ": {distance:.1f} points {side} the paper models' line, "
            "which predicts {predicted:.1f}% at its accuracy. Counted with them, it would move r from "
            "{r_paper:.2f} to {r_with:.2f}.")
    return CorrelationFacts(**values)


# ----------------------------------------------------------------------------- abstention

@dataclass(frozen=True)
class AbstentionFacts:
    k: object
    paper_k: int
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
    values: dict[str, object] = {"k": k, "paper_k": KS[0], "base_threshold": BASE_THRESHOLD}
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
    ours = ours.assign(ours=["one of ours" + (f" ({'; '.join(n for n in (c, a) if n)})" if c or a else "")
                             for c, a in zip(ours["covers"], averaging)])
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
                    coverage_table: pd.DataFrame, splits: pd.DataFrame, k: abstention.K = 20) -> OwnModelFacts:
    """The "Score your own model" chapter: the model of this run (``name``), every scored model with
    its accuracy, AUROC and unparseable share (``scored.scored_overview``), which questions it
    answered (``splits`` from ``coverage.question_splits``), and its abstention run for ``k``."""
    ours = _with_names(scored_mod.scored_overview(models, cell_table), coverage_table)
    ours = ours.assign(chance=ours["above_chance"].map({True: "distinguishable from chance",
                                                        False: "not distinguishable from chance"}))
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


# ----------------------------------------------------------------------------- gluing

#: the facts each chapter glues (chapter name -> dataclasses)
CHAPTER_FACTS = {
    "data": (DataFacts,),
    "reproduction": (ReproductionFacts,),
    "calibration": (CalibrationFacts,),
    "correctness": (CorrectnessFacts,),
    "correlations": (CorrelationFacts,),
    "abstention": (AbstentionFacts,),
    "own_model": (OwnModelFacts, OptionSignalFacts),
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
