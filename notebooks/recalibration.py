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
# # Fixing calibration with a few labels
#
# The paper finds the MSP miscalibrated but good at ranking right answers above wrong ones. A
# ranking that is right and probabilities that are wrong is the situation recalibration is made
# for: a monotone map from confidence to probability, fitted on a few labelled answers, can move
# the numbers without spoiling the order. This chapter asks whether the *k* labelled answers per
# dataset that the paper's abstention experiment already uses are enough.
#
# **Labelled and test answers.** For each model and dataset the answers to both phrasings are pooled
# and shuffled with the paper's seed, exactly as in the abstention chapter; the first *k* are the
# labelled answers, the rest the test answers. One map per model is fitted on its labelled answers
# of every dataset together, and every number below is computed on its test answers. "Raw MSP" is the
# unchanged confidence on the same test answers.
#
# **The maps** (all from scikit-learn or scipy):
#
# - **Platt scaling** (Platt 1999): a logistic regression of correctness on logit(MSP),
#   `LogisticRegression` with its defaults;
# - **temperature scaling** (Guo et al. 2017): one temperature *T*, sigmoid(logit(MSP)/*T*), fitted
#   by minimising the log loss;
# - **isotonic regression** (Zadrozny & Elkan 2002): the best non-decreasing step function,
#   `IsotonicRegression`;
# - **histogram binning** (Zadrozny & Elkan 2001): ten equal-mass bins of the labelled confidences,
#   each predicting its labelled accuracy.
#
# Platt and temperature scaling are strictly increasing, so they keep the AUROC; isotonic regression
# and histogram binning merge answers into ties and can lower it.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)
k = 20  # labelled answers per dataset (an integer, or "half")
resamples = 50  # bootstrap resamples of the intervals and of the reliability bands

# %% tags=["hide-input"]
import pandas as pd

from helpers.analysis import recalibration
from helpers.analysis.scored import coverage
from helpers.data.answers import load_answers
from helpers.data.parameters import check_parameters
from helpers.report import facts, figures, tables

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir, k=k, resamples=resamples)

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)
SWEEP = (10, 50, 100, 200, "half")  # the other numbers of labelled answers per dataset of the sweep

# %% [markdown]
# ## Before and after
#
# Per model, with the raw MSP and after each map fitted on *k* labelled answers per dataset, on the
# test answers: the conventional expected calibration error (ECE, ten bins weighted by their share
# of answers, every answer counted) with equal-mass and with equal-width bins; the **smooth ECE**
# (Błasiok & Nakkiran 2023), which needs no bins (the same kernel-smoothed measure as their
# package relplot); the **Brier score** (mean squared gap between probability and outcome) and
# the **log loss** (mean negative log-likelihood, natural log); and the AUROC in percent. Lower is
# better for all but the AUROC. Models we scored ourselves are marked "ours"; they take no part in
# the counts and verdicts, which are about the paper's models.

# %%
table = recalibration.recalibration_table(answers, k, signals=("msp",))
tables.formatted(tables.recalibration_display(table, {"ece_equal_mass": "ECE equal-mass", "ece_equal_width": "ECE equal-width",
                                     "smece": "smooth ECE", "brier": "Brier", "log_loss": "log loss",
                                     "auroc": "AUROC (%)"}))

# %% [markdown]
# The same for the Max Logit (open models only), which is no probability: only the maps turn it
# into one, so there is no "before". Platt scaling works on the raw Max Logit here.

# %%
if answers["max_logit"].notna().any():
    logit_table = recalibration.recalibration_table(answers, k, signals=("max_logit",))
    display(tables.formatted(tables.recalibration_display(logit_table, {"ece_equal_mass": "ECE equal-mass", "smece": "smooth ECE",
                                                       "brier": "Brier", "auroc": "AUROC (%)"}, signal="max_logit")))

# %% [markdown]
# ## How sure are these numbers?
#
# Each test set holds thousands of answers, but the ECE is a biased, noisy estimate. The table gives
# the ECE (equal-mass bins) of the raw MSP and after Platt scaling with its 95% percentile interval
# over resamples of the model's test answers (the map fitted once and held fixed; the same resample
# for both columns, so they are compared on the same answers). The number of resamples is the
# parameter `resamples`.

# %%
intervals = recalibration.measure_intervals(answers, k, methods=("none", "platt"), n_boot=resamples)
ece_names = {"none": "raw MSP", "platt": "Platt"}
tables.formatted(tables.interval_grid(intervals[intervals["measure"] == "ece_equal_mass"], ece_names, 3, name="method"))

# %% [markdown]
# The other measures after Platt scaling, each with its interval over the same resamples (the
# smooth ECE of a resample at the bandwidth chosen on all the test answers):

# %%
tables.formatted(tables.interval_grid(intervals[intervals["method"] == "platt"],
                                      {"ece_equal_width": "ECE equal-width", "smece": "smooth ECE", "brier": "Brier",
                                       "log_loss": "log loss"}, 3, name="measure"))

# %% [markdown]
# The Brier score splits into three parts (Murphy 1973, over the ten equal-mass bins):
# *reliability* (the calibration part, lower is better), *resolution* (how far the bins' accuracies
# spread around the overall accuracy, higher is better) and *uncertainty* (the accuracy's own
# variance, which no map can change), Brier = reliability − resolution + uncertainty, plus a small
# within-bin term. A monotone map should shrink the reliability and leave the resolution nearly as
# it is.

# %%
tables.formatted(tables.recalibration_display(table, {"reliability": "reliability", "resolution": "resolution",
                                     "uncertainty": "uncertainty", "within_bin": "within bin"},
                             method_names={"none": "raw MSP", "platt": "Platt"}))

# %% tags=["hide-input"]
sweep = pd.concat([table, recalibration.recalibration_sweep(answers, [v for v in SWEEP if v != k], signals=("msp",),
                                                            only=("ece_equal_mass",))])
recalibration_facts = facts.recalibration_facts(table, sweep, intervals, k, coverage(answers))
facts.glue_facts(recalibration_facts)

# %% [markdown]
# With the raw MSP, {glue:text}`n_before` of the paper's {glue:text}`n_models` models have an ECE
# above {glue:text}`tolerance:.2f` ({glue:text}`n_sure_before` of them with the whole interval above
# it). After Platt scaling on *k* = {glue:text}`k` labelled answers per dataset,
# {glue:text}`n_platt` remain above it ({glue:text}`platt_models`; {glue:text}`n_sure_platt` with the
# whole interval above); after temperature scaling {glue:text}`n_temperature`, after isotonic
# regression {glue:text}`n_isotonic` and after histogram binning {glue:text}`n_histogram`. The
# median ECE falls from {glue:text}`median_ece_before:.3f` to {glue:text}`median_ece_platt:.3f` with
# Platt scaling, the median smooth ECE from {glue:text}`median_smece_before:.3f` to
# {glue:text}`median_smece_platt:.3f`, the median Brier score from
# {glue:text}`median_brier_before:.3f` to {glue:text}`median_brier_platt:.3f` and the median log
# loss from {glue:text}`median_log_loss_before:.2f` to {glue:text}`median_log_loss_platt:.2f`
# nats. The gain is in the reliability term (median {glue:text}`median_reliability_before:.3f`
# before, {glue:text}`median_reliability_platt:.3f` after), while the resolution barely moves
# ({glue:text}`median_resolution_before:.3f` and {glue:text}`median_resolution_platt:.3f`): the map
# changes what the numbers say, not how well they sort. Of all the fits, {glue:text}`n_degenerate`
# had labelled answers that were all right or all wrong.
#
# ## The ranking is kept, except by the step functions
#
# Platt and temperature scaling change no AUROC by more than {glue:text}`monotone_auroc_change:.2g`
# points. Isotonic regression merges answers of different confidence into one value; the ties cost
# up to {glue:text}`isotonic_auroc_change:.1f` points of AUROC ({glue:text}`isotonic_auroc_model`),
# and histogram binning, with only ten values, can cost more (the AUROC columns above). With these
# labels, the map that leaves the fewest paper models miscalibrated is {glue:text}`best_method`
# ({glue:text}`n_best` models).
#
# ## Reliability diagrams before and after
#
# One panel per model, raw MSP against Platt-scaled probabilities on the test answers: the dots
# are the ten equal-mass bins, the line is relplot's kernel-smoothed reliability curve at the smooth
# ECE's bandwidth, and the shaded band its 95% bootstrap band.

# %%
bins, curves = recalibration.reliability_before_after(answers, "platt", k, n_boot=resamples)
figures.recalibration_panels(bins, curves, after_label="after Platt scaling");

# %% [markdown]
# ## How many labels
#
# The same with other numbers of labelled answers per dataset ("half": half of each dataset's
# pooled answers), this chapter's *k* first. The paper models above the tolerance after Platt
# scaling:

# %%
tables.formatted(tables.still_miscalibrated_display(recalibration.still_miscalibrated(sweep), "platt"))

# %% [markdown]
# Models above the tolerance after Platt scaling: {glue:text}`sweep_counts`.
#
# ## Verdict
#
# After *k* = {glue:text}`k` labels per dataset and Platt scaling, {glue:text}`still_words`, against
# {glue:text}`n_before` with the raw MSP; the median ECE falls from {glue:text}`median_ece_before:.3f`
# to {glue:text}`median_ece_platt:.3f`. The paper's finding that accuracy and calibration error are not
# correlated across models: with the raw MSP there is {glue:text}`corr_before_words` between
# accuracy and the ECE on these test answers ({glue:text}`corr_before_stats`); after Platt scaling
# there is {glue:text}`corr_after_words` ({glue:text}`corr_after_stats`).
#
# **Our scored models.** {glue:text}`scored`

# %% [markdown]
# ## Exercises

# %% [markdown] tags=["exercise"] answer=["n_still_per_dataset"]
# Fit one map per model *and dataset* instead of one per model (`scope="dataset"` of
# `recalibration.recalibration_table`). With only *k* labels each, does that help or hurt? Store
# the number of paper models still above the tolerance after Platt scaling with one map per
# dataset in `n_still_per_dataset`.

# %% tags=["solution", "hide-input"]
# Paper models above the tolerance with one map per model and with one per dataset.
per_dataset = recalibration.recalibration_table(answers, k, signals=("msp",), scope="dataset", only=("ece_equal_mass",))
both = {"one map per model": table, "one map per dataset": per_dataset}
still = pd.DataFrame({name: recalibration.still_miscalibrated(rows).set_index("method")["n_miscalibrated"]
                      for name, rows in both.items()})
n_still_per_dataset = int(still.loc["platt", "one map per dataset"])
tables.formatted(still.rename(index=tables.METHOD_NAMES).rename_axis("map"), index=True)

# %% [markdown] tags=["exercise"] answer=["median_ece_by_map"]
# Temperature scaling is Platt scaling with the intercept fixed at 0 and the slope at 1/*T*. Which
# of the two does better here, and what does the difference say about the models' MSPs? Store the
# median ECE over the paper models after each map, keyed by the map's key (`"none"`, `"platt"`,
# ...), in a dict `median_ece_by_map`.

# %% tags=["solution", "hide-input"]
# The median ECE after each map over the paper models. Platt scaling also fits an intercept, which
# corrects overconfidence that is the same at every confidence (a shift on the logit scale) and
# which a temperature alone cannot remove.
from helpers.analysis.cells import split_scored

medians = split_scored(table)[0].groupby("method", sort=False)[["ece_equal_mass", "brier", "log_loss"]].median()
median_ece_by_map = {str(m): float(v) for m, v in medians["ece_equal_mass"].items()}
tables.formatted(medians.rename(index=tables.METHOD_NAMES).rename_axis("map"), decimals=3, index=True,
                 headers={"ece_equal_mass": "median ECE", "brier": "median Brier", "log_loss": "median log loss"})
