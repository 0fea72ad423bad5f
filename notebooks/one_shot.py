# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # One example in the prompt
#
# The authors also ran every question with one solved example before it (a *one-shot* prompt) and
# published those answers, though the paper says little about them. This chapter puts them next to
# the zero-shot answers on the same questions and asks whether the paper's four claims still hold.
#
# **What was run.** The one-shot results cover {glue:text}`n_models_one` of the paper's models:
# there are none for {glue:text}`missing_models`, and only part of the questions for
# {glue:text}`partial_models` (Falcon answered only the first 500 to 1,000 questions per dataset and
# no TruthfulQA; GPT-4 lacks a stretch of HellaSwag). Every comparison below is therefore on the
# same questions: a model's zero-shot answers are restricted to the questions it also answered
# one-shot ({glue:text}`n_paired` paired answers in all).
#
# **A caveat kept as data.** The authors' code shuffles a dataset's options in place, so a question
# already used earlier in a run (as the example, or as a main question) is shown with its options
# reshuffled but graded against its original answer key. Part of the one-shot accuracy drop is this
# bug, most of all on TruthfulQA and ARC; it cannot be undone from the published files, which hold
# no options, so the published grades are used as they are.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)
k = 20  # labelled answers per dataset of the abstention claim
resamples = 100  # bootstrap resamples over questions of the paired differences

# %% tags=["hide-input"]
from helpers.analysis import one_shot
from helpers.data.answers import load_answers
from helpers.data.parameters import check_parameters
from helpers.data.vocabulary import model_order
from helpers.report import facts, figures, tables

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir, k=k, resamples=resamples)

zero = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)
one = load_answers(published_dir, scores_dir, shots=1, models=models, datasets=datasets)
paired = one_shot.paired_answers(zero, one)

# %% [markdown]
# Answers per model, zero-shot, one-shot and on the same questions (models we scored ourselves are
# marked "ours"; they have one-shot answers only if they were scored one-shot):

# %%
counts = one_shot.same_question_counts(zero, one, paired)
counts.assign(model=counts["model"].map(tables.model_label)).set_index("model").rename(
    columns={"n_zero": "zero-shot", "n_one": "one-shot", "n_paired": "same questions"})

# %% [markdown]
# ## What one example changes
#
# Per model, one-shot minus zero-shot on the same questions: accuracy and the share of unparseable
# answers (percentage points), the mean MSP AUROC over the model's cells (points) and the
# conventional ECE (equal-mass bins, every answer counted). The intervals are 95% percentile
# intervals of a paired bootstrap: the model's questions are resampled within each dataset and the
# same draw is used for its zero- and its one-shot answers.

# %%
differences = one_shot.paired_differences(paired, n_boot=resamples)
figures.interval_panels(differences, {"accuracy": "accuracy, one − zero (points)",
                                      "unparseable_pct": "unparseable, one − zero (points)",
                                      "auroc_msp": "MSP AUROC, one − zero (points)",
                                      "ece_equal_mass": "ECE, one − zero"}, estimate="difference");

# %%
measures = {"accuracy": "accuracy (points)", "unparseable_pct": "unparseable (points)",
            "auroc_msp": "MSP AUROC (points)", "auroc_max_logit": "Max Logit AUROC (points)"}
tables.formatted(tables.interval_grid(differences, measures, 1, name="measure", estimate="difference"))

# %%
tables.formatted(tables.interval_grid(differences, {"ece_equal_mass": "ECE", "calibration_error_paper": "paper's error"},
                                      3, name="measure", estimate="difference"))

# %% [markdown]
# Accuracy per dataset with zero and one example (mean of the two phrasings, percent):

# %%
by_dataset = one_shot.accuracy_drop_by_dataset(paired)
figures.grid_heatmap(by_dataset.pivot(index="model", columns="dataset", values="difference")
                     .reindex(index=model_order(by_dataset["model"])),
                     "accuracy, one − zero (points)", cmap="RdBu");

# %% tags=["hide-input"]
claims = one_shot.claims_by_shots(paired, k=k)
one_shot_facts = facts.one_shot_facts(counts, differences, claims, by_dataset,
                                      one_shot.one_shot_correlations(one), k)
facts.glue_facts(one_shot_facts)

# %% [markdown]
# Of the {glue:text}`n_compared` paper models compared, one example lowers the accuracy for
# {glue:text}`n_accuracy_down` (the whole interval below zero) and raises it for
# {glue:text}`n_accuracy_up`; the median change is {glue:text}`median_accuracy_change:+.1f` points.
# The largest mean drop is on {glue:text}`largest_drop_dataset` ({glue:text}`largest_drop:.1f`
# points), one of the two datasets the mis-keying touches most (about 9% of ARC's questions and 18
# to 27% of TruthfulQA's in a one-shot run). The MSP AUROC falls for
# {glue:text}`n_auroc_down` models and rises for {glue:text}`n_auroc_up` (median
# {glue:text}`median_auroc_change:+.1f` points), and the ECE grows for {glue:text}`n_ece_up` and
# shrinks for {glue:text}`n_ece_down`.
#
# ## The four claims, zero- and one-shot
#
# Each claim recomputed on the paired answers of the paper's {glue:text}`n_models_claims` models
# with one-shot answers, once with the zero-shot and once with the one-shot answers (so the
# zero-shot column is not the paper's 14 models, but the same questions as the one-shot column):

# %%
tables.formatted(tables.claims_display(claims))

# %% [markdown]
# - **Miscalibrated.** {glue:text}`n_miscalibrated_0` of {glue:text}`n_models_claims` models have an
#   ECE above the tolerance zero-shot, {glue:text}`n_miscalibrated_1` one-shot: the claim
#   {glue:text}`calibration_claim_1` one-shot.
# - **Predicts correctness.** The MSP's mean AUROC is above chance for
#   {glue:text}`n_above_chance_0` models zero-shot and {glue:text}`n_above_chance_1` one-shot: the
#   claim {glue:text}`correctness_claim_1` one-shot.
# - **Better models, better MSP.** Across models, r of accuracy with the MSP AUROC is
#   {glue:text}`r_msp_0:.2f` zero-shot and {glue:text}`r_msp_1:.2f` one-shot, which is
#   {glue:text}`correlation_claim_1`. On all one-shot answers (each model averaged over the cells
#   it has) r = {glue:text}`r_all_msp:.3f` over {glue:text}`n_all_msp` models with the MSP and
#   {glue:text}`r_all_max_logit:.3f` over {glue:text}`n_all_max_logit` with the Max Logit, the
#   values the authors' code gives. The MSP beats the Max Logit for {glue:text}`n_msp_better_0` of
#   the {glue:text}`n_both` open models zero-shot and {glue:text}`n_msp_better_1` one-shot.
# - **Abstention pays.** With *k* = {glue:text}`k` labelled answers per dataset the abstention
#   claim {glue:text}`abstention_claim_0` zero-shot and {glue:text}`abstention_claim_1` one-shot.
#
# ## Verdict
#
# With one example in the prompt, {glue:text}`n_miscalibrated_1` of the {glue:text}`n_models_claims`
# paper models are miscalibrated, the accuracy falls for {glue:text}`n_accuracy_down` and the MSP
# AUROC for {glue:text}`n_auroc_down` of them, part of it through the mis-keyed questions. The
# miscalibration claim {glue:text}`calibration_claim_1`, the MSP is above chance for
# {glue:text}`n_above_chance_1` models, accuracy and MSP AUROC still show
# {glue:text}`correlation_claim_1` (r = {glue:text}`r_msp_1:.2f`), and the abstention claim
# {glue:text}`abstention_claim_1`.
#
# **Our scored models.** {glue:text}`scored`

# %% [markdown]
# ## Exercises

# %% [markdown] tags=["exercise"] answer=["winogrande_median_change"]
# WinoGrande rebuilds its options for every question, so the mis-keying bug cannot touch it.
# Re-run the chapter with `datasets = ["winogrande"]`: what does one example do there? Without
# re-running, store the median accuracy change (one − zero, points) over the models on WinoGrande
# in `winogrande_median_change`.

# %% tags=["solution", "hide-input"]
# The paired accuracy change on WinoGrande alone, per model.
winogrande = by_dataset[by_dataset["dataset"] == "winogrande"]
winogrande_median_change = float(winogrande["difference"].median())
tables.formatted(winogrande[["model", "accuracy_0", "accuracy_1", "difference"]],
                 headers={"accuracy_0": "zero-shot (%)", "accuracy_1": "one-shot (%)",
                          "difference": "one − zero (points)"})

# %% [markdown] tags=["exercise"] answer=["largest_truthfulqa_loss"]
# Which model loses the most accuracy on TruthfulQA, and how does that compare with its loss on
# MMLU? Store its model key in `largest_truthfulqa_loss`.

# %% tags=["solution", "hide-input"]
# The change on TruthfulQA next to MMLU, largest TruthfulQA loss first.
grid = by_dataset.pivot(index="model", columns="dataset", values="difference")
largest_truthfulqa_loss = None
if {"truthfulqa", "mmlu"} <= set(grid.columns):
    ordered = grid[["truthfulqa", "mmlu"]].sort_values("truthfulqa")
    largest_truthfulqa_loss = str(ordered.index[0])
    display(tables.formatted(ordered.rename_axis("model"), index=True,
                             headers={"truthfulqa": "TruthfulQA (points)", "mmlu": "MMLU (points)"}))
