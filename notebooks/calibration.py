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
# # Are the probabilities calibrated?
#
# A model's confidence is *calibrated* when it can be read as a frequency: among all answers given
# with confidence 0.8, about 80% should be right. The paper's first claim is that the maximum
# softmax probability (MSP) of chat models is **not** calibrated on multiple-choice questions. This
# chapter checks the claim on the per-answer results, first with the paper's own measure and then
# with the conventional one, since the two differ in ways that matter for a few models.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)

# %% tags=["hide-input"]
from helpers.analysis import cells as analysis
from helpers.analysis import metrics
from helpers.analysis.scored import coverage
from helpers.data.answers import load_answers
from helpers.data.parameters import check_parameters
from helpers.report import facts, figures, tables

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir)

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)

# %% [markdown]
# ## Reliability diagram
#
# For each model, all its answers (every dataset, both phrasings) are pooled and sorted into ten
# bins by MSP. As in the paper, the bins hold equal numbers of answers (their edges are the
# deciles of the model's MSPs, with the outer edges fixed at 0 and 1). Each point is one bin: its
# mean MSP on the horizontal axis, the share of its answers that are correct on the vertical axis.
# A calibrated model would follow the dashed diagonal; points below it mean the model claims more
# confidence than its accuracy earns.

# %%
reliability = analysis.reliability_table(answers)
figures.reliability_diagram(reliability);

# %% [markdown]
# ## Calibration error per model
#
# The paper summarises each diagram by one number, the mean gap |share correct − mean MSP| over the
# non-empty bins. Two details of its recipe are unusual: every bin counts equally, however many
# answers it holds, and the bins are half-open, [low, high), so an answer whose MSP is exactly 1.0
# lands in no bin and is silently left out. The conventional *expected calibration error* (ECE)
# instead weights each bin by its share of answers and keeps every answer. The table shows:
#
# - **paper**: the paper's value (equal-mass bins, unweighted, MSP = 1.0 dropped);
# - **ECE equal-mass** and **ECE equal-width**: the conventional weighted ECE with the same
#   equal-mass bins or with ten bins of width 0.1, every answer counted;
# - **per-cell, equal-width**: the variant behind the paper's calibration-versus-accuracy figure
#   (ten bins of width 0.1, unweighted, computed per dataset and phrasing and then averaged), used in
#   the chapter on correlations;
# - **MSP = 1.0 (%)**: the share of the model's answers that the paper's bins drop;
# - **mean MSP** and **accuracy**, both in percent, over all the model's answers.
#
# Models we scored ourselves are marked "ours"; they are listed for comparison and take no part
# in the verdict below, which is about the paper's models.

# %%
calibration = analysis.calibration_by_model(answers)
tables.calibration_display(calibration)

# %% tags=["hide-input"]
facts.glue_facts(facts.calibration_facts(calibration, coverage(answers)))

# %% [markdown]
# ## Verdict
#
# Taking a conventional ECE above {glue:text}`tolerance:.2f` (an average miss of more than
# {glue:text}`tolerance_pct:.0f` percentage points) as miscalibrated, the claim
# {glue:text}`verdict`: {glue:text}`n_miscalibrated` of the paper's {glue:text}`n_models` models exceed
# it. As for the direction, {glue:text}`n_overconfident` of the {glue:text}`n_models` have a mean
# MSP above their accuracy; mean MSP minus accuracy runs from {glue:text}`overconfidence_min:.1f`
# ({glue:text}`overconfidence_min_model`) to {glue:text}`overconfidence_max:.1f` percentage points
# ({glue:text}`overconfidence_max_model`). With the paper's measure the calibration error ranges
# from {glue:text}`paper_min:.2f` ({glue:text}`paper_min_model`) to {glue:text}`paper_max:.2f`
# ({glue:text}`paper_max_model`); the conventional weighted ECE ranges from {glue:text}`ece_min:.2f`
# ({glue:text}`ece_min_model`) to {glue:text}`ece_max:.2f` ({glue:text}`ece_max_model`), and the
# Spearman rank correlation of the two measures across models is {glue:text}`rank_rho:.2f`.
#
# They disagree most for {glue:text}`changed_model` ({glue:text}`changed_paper:.2f` with the
# paper's recipe, {glue:text}`changed_ece:.2f` with the weighted ECE). The half-open last bin is
# the main source of such differences: the model with the most answers at an MSP of exactly 1.0
# (in single precision), {glue:text}`most_ones_model`, has {glue:text}`most_ones_share:.1f`% of its
# answers there, and the paper's recipe leaves every one of them out. A single calibration number
# is only comparable across studies when its binning, weighting and edge rule are stated.
#
# **Our scored models.** {glue:text}`scored`

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. The paper's recipe drops every answer whose MSP is exactly 1.0. Compute the paper's calibration
#    error for Llama 3 70B with the last bin closed instead (`metrics.calibration_error` has a
#    `last_bin_closed` argument). How much of the gap to the weighted ECE does that one change close?
# 2. Calibration per dataset: is a model equally miscalibrated on every dataset? Re-run this chapter
#    with `datasets = ["truthfulqa"]` and then `datasets = ["hellaswag"]`, and compare the tables.

# %% tags=["solution", "hide-input"]
# Solution 1: the paper's recipe with and without the half-open last bin, and the weighted ECE.
llama = answers[answers["model"] == "Llama3-70b"]
if len(llama):
    msp, correct = llama["msp"].to_numpy(), llama["correct"].to_numpy()
    half_open = metrics.calibration_error(msp, correct)
    closed = metrics.calibration_error(msp, correct, last_bin_closed=True)
    ece = metrics.calibration_error(msp, correct, weighted=True, last_bin_closed=True)
    print(f"paper (half-open): {half_open:.3f}; last bin closed: {closed:.3f}; weighted ECE: {ece:.3f}")
    print(f"closing the last bin closes {100 * (half_open - closed) / (half_open - ece):.0f}% of the gap")
else:
    print("Llama 3 70B is not part of this run.")

# %% tags=["solution", "hide-input"]
# Solution 2 (without re-running): the weighted ECE of every model on each dataset separately.
import pandas as pd

pd.DataFrame({d: analysis.calibration_by_model(answers[answers["dataset"] == d]).set_index("model")["ece_equal_mass"]
              for d in answers["dataset"].cat.categories}).round(2)
