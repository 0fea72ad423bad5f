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
# # Selective answering by the field's measures
#
# The paper judges abstention by its own score: +1 for a right answer, 0 for an abstention and a
# penalty for a wrong one. The literature on selective prediction has its own measures, all built
# on one curve. Answer the questions in descending MSP and stop at some point: the **coverage** is
# the share answered, the **risk** the share wrong among them. This chapter draws that curve for
# every model and summarises it the ways the field does:
#
# - **AURC**, the area under the risk-coverage curve (Geifman, Uziel & El-Yaniv 2019), the mean
#   risk over all coverages; lower is better;
# - **E-AURC**, the AURC minus that of an oracle that answers every right answer first, at the
#   same accuracy (same paper), which removes what accuracy alone explains;
# - **AUGRC**, the area under the *generalized* risk (wrong and answered, over all questions;
#   Traub et al. 2024);
# - **accuracy at a fixed coverage**: the accuracy among the 50%, 80% and 90% most confident answers;
# - the **prediction-rejection ratio** (PRR, Malinin 2019): how far the curve lies from random
#   towards the oracle, 1 for the oracle, 0 for random. On the generalized risk it equals
#   2 × AUROC − 1 exactly for right/wrong answers, so the tables show the variant on the selective
#   risk (as LM-Polygraph does).
#
# Every model's answers are pooled (both phrasings, every dataset). Answers of equal confidence are
# answered or left out together, and the areas take the expected order within such ties.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)
k = 20  # labelled answers per dataset of the conformal rule and the paper's threshold
resamples = 100  # bootstrap resamples over questions of the intervals

# %% tags=["hide-input"]
import numpy as np
import pandas as pd

from helpers.analysis import selective
from helpers.analysis.cells import split_scored
from helpers.analysis.scored import coverage
from helpers.data.answers import load_answers
from helpers.data.parameters import check_parameters
from helpers.data.vocabulary import PAPER_MODELS
from helpers.report import facts, figures, tables

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir, k=k, resamples=resamples)

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)
signals = ["msp"] + (["max_logit"] if answers["max_logit"].notna().any() else [])

# %% [markdown]
# ## Risk-coverage curves
#
# Risk against coverage per model, for the MSP and for the Max Logit (open models only). At full
# coverage the risk is the error rate; a good signal makes the curve fall as coverage shrinks.
# Models we scored ourselves are drawn dashed; they take no part in the counts and correlations
# below, which are about the paper's models.

# %%
grid = np.linspace(0.01, 1, 100)
curves = pd.concat([selective.risk_coverage_by_model(answers, s, coverages=grid) for s in signals])
figures.risk_coverage_figure(curves);

# %% [markdown]
# ## The summaries per model
#
# Each number with its 95% percentile interval over resamples of the questions (every dataset
# resampled on its own; one draw serves every model and both phrasings). AURC, E-AURC and AUGRC are
# fractions (lower is better); accuracy at a coverage and the selective PRR, fractions (higher is
# better).

# %%
names = {"accuracy": "accuracy", "aurc": "AURC", "e_aurc": "E-AURC", "augrc": "AUGRC",
         "acc_at_50": "acc. at 50%", "acc_at_80": "acc. at 80%", "acc_at_90": "acc. at 90%",
         "prr_selective": "selective PRR"}
intervals, boot = selective.selective_bootstrap(answers, "msp", n_boot=resamples)
intervals = {"msp": intervals} | {s: selective.selective_intervals(answers, s, n_boot=resamples) for s in signals[1:]}
tables.formatted(tables.interval_grid(intervals["msp"], names, 3, name="measure"))

# %% [markdown]
# The same with the Max Logit:

# %%
if "max_logit" in intervals:
    display(tables.formatted(tables.interval_grid(intervals["max_logit"], names, 3, name="measure")))

# %% tags=["hide-input"]
table = selective.selective_by_model(answers, "msp")
logit_table = selective.selective_by_model(answers, "max_logit") if "max_logit" in signals else table.iloc[:0]
comparison = selective.paper_comparison(answers, "msp", k)
comparison_correlations = selective.cross_model_correlations(comparison)
conformal = selective.conformal_abstention(answers, "msp", k)
selective_facts = facts.selective_facts(table, logit_table, boot, comparison_correlations, conformal, k,
                                        coverage(answers))
facts.glue_facts(selective_facts)

# %% [markdown]
# The E-AURC of the MSP runs from {glue:text}`e_aurc_min:.3f` ({glue:text}`e_aurc_min_model`) to
# {glue:text}`e_aurc_max:.3f` ({glue:text}`e_aurc_max_model`). Answering only the 80% most
# confident questions raises the median paper model's accuracy by {glue:text}`median_gain_80:.1f`
# points. By E-AURC the MSP is the better signal for {glue:text}`n_msp_better` of the
# {glue:text}`n_both` open models, as the paper found with the AUROC.
#
# ## Which summary measures what
#
# A summary of the risk-coverage curve mixes two things: how often the model is right, and how well
# its confidence sorts right from wrong. Across the paper's {glue:text}`n_models` models, Pearson r
# of accuracy with each summary, with its 95% interval over the same question resamples:
#
# | summary | r with accuracy | 95% interval |
# |:--|--:|:--|
# | AURC | {glue:text}`aurc_r:.2f` | {glue:text}`aurc_low:.2f` to {glue:text}`aurc_high:.2f` |
# | E-AURC | {glue:text}`e_aurc_r:.2f` | {glue:text}`e_aurc_low:.2f` to {glue:text}`e_aurc_high:.2f` |
# | AUGRC | {glue:text}`augrc_r:.2f` | {glue:text}`augrc_low:.2f` to {glue:text}`augrc_high:.2f` |
# | selective PRR | {glue:text}`prr_selective_r:.2f` | {glue:text}`prr_selective_low:.2f` to {glue:text}`prr_selective_high:.2f` |
# | AUROC (pooled) | {glue:text}`auroc_r:.2f` | {glue:text}`auroc_low:.2f` to {glue:text}`auroc_high:.2f` |
#
# Summaries whose interval excludes zero: {glue:text}`tracks_accuracy`; whose interval includes
# it: {glue:text}`free_of_accuracy`. The closer |r| is to 1, the more a summary restates accuracy
# and the less it says about the confidence; E-AURC subtracts the oracle at the same accuracy, and
# what correlation remains comes from the paper's finding that the models that are more often right
# also sort better. The interval covers the resampling of questions with the same models; it says
# nothing about other models.
#
# Against the paper's own numbers (the mean AUROC over its cells and the balanced score with its
# learnt threshold at *k* = {glue:text}`k`), all correlations across the paper's models, each Pearson r
# with its 95% Fisher z interval (over models; the leave-out ranges of
# [the correlations chapter](correlations.ipynb) show how much one family moves such an r):

# %%
tables.correlation_display(comparison_correlations)

# %% [markdown]
# E-AURC follows the paper's AUROC (r = {glue:text}`e_aurc_paper_auroc_r:.2f`) and its balanced
# score (r = {glue:text}`e_aurc_score_r:.2f`).
#
# ## A threshold with a guarantee
#
# The paper's threshold maximises the score on *k* labelled answers per dataset, but promises
# nothing about how often the answers it lets through are wrong. Conformal risk control can: "Learn
# then Test" (Angelopoulos et al. 2021) tests, from the highest candidate threshold down, the
# hypothesis "more than {glue:text}`target_risk_pct:.0f`% of the answered are wrong" with an exact
# binomial test on the labelled answers, and keeps the lowest threshold before the first that
# cannot be rejected. With probability at least {glue:text}`confidence_pct:.0f`% over the draw of
# labelled answers, the chosen threshold's risk is at most {glue:text}`target_risk_pct:.0f`%. The
# candidates are coverages of the unlabelled test answers. The table gives the realised coverage and
# risk on the test answers, in percent, next to the paper's thresholds (balanced and conservative).

# %%
tables.formatted(tables.conformal_display(conformal))

# %% [markdown]
# With *k* = {glue:text}`k` labelled answers per dataset, the guarantee can be given for
# {glue:text}`n_certified` of the paper's models ({glue:text}`certified_models`); for the others no
# candidate passes the test, so the rule abstains on everything: their labelled answers are too
# few, or too often wrong, to show a risk that low. Where it is given, it holds on the test answers: {glue:text}`certified_words`.
# The paper's balanced threshold keeps the risk at or below the target for only
# {glue:text}`n_paper_within` of the {glue:text}`n_paper_runs` paper models; its median risk on the
# test answers is {glue:text}`median_paper_risk_pct:.1f`%. More labels certify more models:

# %%
sweep = selective.conformal_sweep(answers, "msp", ks=(20, 100, 500, "half"))
sweep = split_scored(sweep[sweep["rule"] == "ltt"])[0]
sweep.assign(certified=~sweep["abstains_all"].astype(bool)).groupby("k", sort=False)["certified"].sum().rename(
    "paper models certified").to_frame()

# %% [markdown]
# ## Verdict
#
# By the field's measures the MSP is a usable selective-answering signal: answering the 80% most
# confident questions raises the accuracy of {glue:text}`n_gain_80` of the {glue:text}`n_models`
# paper models, and by E-AURC the MSP beats the Max Logit for {glue:text}`n_msp_better` of
# {glue:text}`n_both`. But the areas largely restate accuracy (r = {glue:text}`aurc_r:.2f` for AURC),
# and a threshold learnt to maximise a score is no promise about the risk: with {glue:text}`k`
# labels per dataset, {glue:text}`n_certified` models can be given one.
#
# **Our scored models.** {glue:text}`scored`

# %% [markdown]
# ## Exercises

# %% [markdown] tags=["exercise"] answer=["prr_gap"]
# Check on every model that the PRR on the generalized risk is 2 × AUROC − 1 (the `prr` and
# `auroc` columns of `selective.selective_by_model`, here `table`): store the largest absolute
# difference over the models in `prr_gap`.

# %% tags=["solution", "hide-input"]
# The largest difference over the models is at the rounding of floating point.
prr_gap = float((table["prr"] - (2 * table["auroc"] - 1)).abs().max())
print(f"largest |PRR − (2 AUROC − 1)|: {prr_gap:.1e}")

# %% [markdown] tags=["exercise"] answer=["n_certified_20"]
# Ask for a guarantee of at most 20% wrong instead of 10% (`target_risk` of
# `selective.conformal_abstention`). How many paper models are certified now, and at what
# coverage? Store the number in `n_certified_20`.

# %% tags=["solution", "hide-input"]
# The certified rule with a target risk of 20%.
relaxed = selective.conformal_abstention(answers, "msp", k, target_risk=0.2)
ltt = relaxed[(relaxed["rule"] == "ltt") & relaxed["model"].isin(PAPER_MODELS)]
n_certified_20 = int((~ltt["abstains_all"].astype(bool)).sum())
tables.formatted(tables.conformal_display(relaxed, {"ltt": "certified (LTT), at most 20% wrong"}))
