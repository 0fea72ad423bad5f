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
from myst_nb import glue

from helpers import claims, plots
from helpers.answers import load_answers
from helpers.models import display_name

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)

# %% [markdown]
# ## Confidence of right and wrong answers
#
# For each model, the cumulative distribution of the MSP over its correct answers (green) and over
# its wrong answers (orange; unparseable answers count as wrong with MSP 0). Where the orange curve
# lies above the green one, wrong answers have lower MSPs: the wider the gap, the better the MSP
# tells the two apart.

# %%
plots.msp_ecdfs(answers);

# %% [markdown]
# ## AUROC per model
#
# The AUROC of each model, averaged over its cells (five datasets × two phrasings), for both
# signals. In brackets: in how many of those cells a Mann-Whitney U test rejects "correct and wrong
# answers have the same confidence distribution" at p < 10⁻⁴. The paper uses the two-sided test and
# this strict threshold without further multiple-comparison correction; the AUROC is the U statistic
# divided by the number of (correct, wrong) pairs, so the test and the AUROC measure the same thing.
# Models we scored ourselves are marked "ours"; they are shown for comparison and take no part in
# the verdict, which is about the paper's models.

# %%
cells = claims.cell_table(answers)
per_model = claims.model_metrics(cells)
plots.auroc_display(per_model)

# %%
plots.auroc_dots(per_model);

# %% [markdown]
# ## AUROC per dataset
#
# The same numbers per dataset: the mean over the two phrasings and, in brackets, the significant
# cells out of two. First the MSP, then the Max Logit.

# %%
per_dataset = claims.model_metrics(cells, by_dataset=True)
plots.auroc_grid_display(per_dataset, "msp")

# %%
plots.auroc_grid_display(per_dataset, "max_logit")

# %% tags=["hide-input"]
paper, _ = claims.split_scored(per_model)  # the verdict is about the paper's models
paper_cells, _ = claims.split_scored(cells)
supported = claims.significant_models(paper, "msp")
above_chance = paper.loc[paper["auroc_msp"] > 50, "model"]
best = paper.set_index("model")["auroc_msp"]
with_logit = paper.dropna(subset=["auroc_max_logit"])
t_test = claims.signal_auroc_t_test(cells)
directional = paper_cells["mw_p_one_sided"] < claims.SIGNIFICANCE
two_sided = paper_cells["mw_p_two_sided"] < claims.SIGNIFICANCE
glue("n_models", len(paper), display=False)
glue("verdict", claims.verdict(len(supported), len(paper)), display=False)
glue("n_supported", len(supported), display=False)
glue("supported_models", ", ".join(map(display_name, supported)) or "none", display=False)
glue("unsupported_models", ", ".join(display_name(m) for m in paper["model"] if m not in supported)
     or "none", display=False)
glue("n_above_chance", len(above_chance), display=False)
glue("best_model", display_name(best.idxmax()), display=False)
glue("best_auroc", float(best.max()), display=False)
glue("worst_model", display_name(best.idxmin()), display=False)
glue("worst_auroc", float(best.min()), display=False)
glue("n_logit_models", len(with_logit), display=False)
glue("n_msp_better", int((with_logit["auroc_msp"] > with_logit["auroc_max_logit"]).sum()), display=False)
glue("mean_msp", t_test["mean_msp"], display=False)
glue("mean_max_logit", t_test["mean_max_logit"], display=False)
glue("n_msp_cells", t_test["n_msp"], display=False)
glue("n_logit_cells", t_test["n_max_logit"], display=False)
glue("t_p", t_test["p"], display=False)
glue("n_cells", len(paper_cells), display=False)
glue("n_sidedness_differs", int((directional != two_sided).sum()), display=False)
glue("n_below_chance", int((paper_cells["auroc"] < 50).sum()), display=False)
glue("scored", claims.describe_each(
    claims.scored_correctness(per_model, claims.coverage(answers)),
    "{name}, one of ours ({covers}), has a mean MSP AUROC of {auroc_msp:.1f}%, {chance} chance, with "
    "{n_sig_msp} of its {n_cells_msp} MSP cells significant; {n_paper_lower} of the {n_paper} paper "
    "models have a lower mean. Its mean Max Logit AUROC is {auroc_max_logit:.1f}%.",
    none="No model we scored ourselves is part of this run."), display=False)

# %% [markdown]
# ## Verdict
#
# Counting a model as supporting the claim when every one of its MSP cells is significant, the claim
# {glue:text}`verdict` ({glue:text}`n_supported` of the paper's {glue:text}`n_models`:
# {glue:text}`supported_models`).
# The exceptions are {glue:text}`unsupported_models`. Still, {glue:text}`n_above_chance` of the
# {glue:text}`n_models` models have a mean MSP AUROC above 50%, from {glue:text}`worst_auroc:.1f`%
# ({glue:text}`worst_model`) to {glue:text}`best_auroc:.1f`% ({glue:text}`best_model`). How this
# spread relates to the models' accuracy is the subject of the next chapter.
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
# an AUROC below 50%; switching to the one-sided test changes whether p < 10⁻⁴ in
# {glue:text}`n_sidedness_differs` of the {glue:text}`n_cells` cells.
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
claims.split_scored(per_dataset)[0].groupby("dataset")["auroc_msp"].mean().sort_values().round(1)
