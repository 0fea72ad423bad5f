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
# # Does the MSP predict correctness?
#
# Miscalibrated probabilities can still be useful. If right answers tend to come with a higher MSP
# than wrong ones, the MSP ranks answers by how likely they are to be right, even when its values
# cannot be read as frequencies. That is the paper's second claim. Ranking quality is measured by the
# area under the ROC curve (AUROC): the probability that a randomly chosen correct answer gets a
# higher confidence than a randomly chosen wrong one (ties count half). 50% is chance, 100% a
# perfect separation. Everything is computed per *cell* — one model, dataset, prompt phrasing and
# confidence signal — and then averaged, as in the paper. Besides the MSP the paper studies the
# Max Logit, the largest score before the softmax, which is not available for the OpenAI models.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)

# %% tags=["hide-input"]
from helpers.analysis import cells as analysis
from helpers.analysis.scored import coverage
from helpers.data.answers import load_answers
from helpers.data.parameters import check_parameters
from helpers.report import facts, figures, tables

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir)

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)

# %% [markdown]
# ## Confidence of right and wrong answers
#
# For each model, the cumulative distribution of the MSP over its correct answers (green) and over
# its wrong answers (orange; unparseable answers count as wrong with MSP 0). Where the orange curve
# lies above the green one, wrong answers have lower MSPs: the wider the gap, the better the MSP
# tells the two apart.

# %%
figures.msp_ecdfs(answers);

# %% [markdown]
# ## AUROC per model
#
# The AUROC of each model, averaged over its cells (every dataset × phrasing), for both signals. In
# brackets: in how many of those cells a Mann-Whitney U test rejects "correct and wrong answers
# have the same confidence distribution" at the paper's threshold (the column header gives it). The
# paper uses the two-sided test and this strict threshold without further multiple-comparison
# correction; the AUROC is the U statistic divided by the number of (correct, wrong) pairs, so the
# test and the AUROC measure the same thing.
# Models we scored ourselves are marked "ours"; they are shown for comparison and take no part in
# the verdict, which is about the paper's models.

# %%
cells = analysis.cell_table(answers)
per_model = analysis.model_metrics(cells)
tables.auroc_display(per_model)

# %%
figures.auroc_dots(per_model);

# %% [markdown]
# ## AUROC per dataset
#
# The same numbers per dataset: the mean over the phrasings and, in brackets, the significant
# cells out of the dataset's cells (one per phrasing). First the MSP, then the Max Logit.

# %%
per_dataset = analysis.model_metrics(cells, by_dataset=True)
tables.auroc_grid_display(per_dataset, "msp")

# %%
tables.auroc_grid_display(per_dataset, "max_logit")

# %% tags=["hide-input"]
facts.glue_facts(facts.correctness_facts(per_model, cells, coverage(answers)))

# %% [markdown]
# ## Verdict
#
# Counting a model as supporting the claim when every one of its MSP cells is significant, the claim
# {glue:text}`verdict` ({glue:text}`n_supported` of the paper's {glue:text}`n_models`:
# {glue:text}`supported_models`); {glue:text}`unsupported`.
#
# A weaker question is whether a model's MSP is better than chance at all. A mean AUROC above 50%
# is not enough for that: with few answers per cell, a mean slightly above 50% can be noise. We
# count a model's MSP as *above chance* when its mean AUROC is above 50% **and** a majority of its
# MSP cells are significantly above 50% (AUROC above 50% with p < {glue:text}`significance`). By
# this rule {glue:text}`n_above_chance` of the {glue:text}`n_models` models are above chance
# ({glue:text}`not_above_chance`), while {glue:text}`n_mean_above` have a mean above 50%. The mean MSP AUROC runs from
# {glue:text}`auroc_min:.1f`% ({glue:text}`auroc_min_model`) to {glue:text}`auroc_max:.1f`%
# ({glue:text}`auroc_max_model`); how this spread relates to the models' accuracy is the subject of
# the next chapter.
#
# The MSP beats the Max Logit for {glue:text}`n_msp_better` of the {glue:text}`n_logit_models`
# models that have both. Over all the paper models' cells, the mean AUROC is
# {glue:text}`mean_msp:.2f`% for the MSP ({glue:text}`n_msp_cells` cells) against
# {glue:text}`mean_max_logit:.2f`% for the Max Logit ({glue:text}`n_logit_cells` cells); a one-sided
# two-sample t-test, as in the paper, gives p = {glue:text}`t_p:.1e`. The paper reads this as
# evidence that normalising the logits into probabilities improves the ranking.
#
# The paper's test is two-sided although the hypothesis is directional (correct answers should be
# *more* confident). {glue:text}`n_below_chance` of the paper models' {glue:text}`n_cells` cells have
# an AUROC below 50%; switching to the one-sided test changes whether p < {glue:text}`significance`
# in {glue:text}`n_sidedness_differs` of the {glue:text}`n_cells` cells.
#
# **Our scored models.** {glue:text}`scored`

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. The AUROC of a cell equals the Mann-Whitney U statistic divided by the number of (correct,
#    wrong) pairs. Check it on one cell of `cells`, using its `mw_u`, `n` and `n_correct` columns.
# 2. Which dataset is hardest to *predict correctness* on, as opposed to hardest to answer? Rank the
#    datasets by the mean MSP AUROC over the paper's models in `per_dataset`.

# %% tags=["solution", "hide-input"]
# Solution 1: U / (n_correct * n_wrong) for the first MSP cell, against its AUROC.
cell = cells[cells["signal"] == "msp"].iloc[0]
print(cell[["model", "dataset", "phrasing"]].tolist(),
      round(100 * cell["mw_u"] / (cell["n_correct"] * (cell["n"] - cell["n_correct"])), 6), round(cell["auroc"], 6))

# %% tags=["solution", "hide-input"]
# Solution 2: mean MSP AUROC per dataset over the paper's models, lowest first.
analysis.split_scored(per_dataset)[0].groupby("dataset")["auroc_msp"].mean().sort_values().round(1)
