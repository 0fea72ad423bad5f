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
# # Accuracy, AUROC and calibration across models
#
# The previous chapters looked at each model on its own. Here the unit is the model: does a model
# that answers more questions correctly also have a confidence that better separates its right
# answers from its wrong ones? And is it better calibrated? The paper's third claim is that the
# first relation is strong while the second is absent. Each model contributes one point: its
# accuracy and AUROC averaged over its cells (every dataset × phrasing), as in the previous
# chapter. Pearson's r and its two-sided p are computed as in the paper (least-squares fit); the
# rank-based Spearman correlation is shown next to it, because with this few points one model can
# move Pearson's r a lot. All correlations and fitted lines are over the paper's models; models we
# scored ourselves are drawn as labelled stars next to them, outside the fit, and described
# separately.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)

# %% tags=["hide-input"]
from helpers.analysis import cells as analysis
from helpers.analysis import correlations as corr
from helpers.analysis.scored import coverage
from helpers.data.answers import load_answers
from helpers.data.parameters import check_parameters
from helpers.report import facts, figures, tables, words
from helpers.report.tables import AXIS_LABELS as LABELS

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir)

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)
per_model = analysis.model_summary(answers)

# %% [markdown]
# ## The correlations
#
# Over the paper's models; models without a value are left out of a row: the OpenAI models have
# no Max Logit and no published size.

# %%
tables.correlation_display(corr.correlation_table(per_model, corr.ACCURACY_PAIRS + corr.SIZE_PAIRS))

# %% tags=["hide-input"]
facts.glue_facts(facts.correlation_facts(per_model, coverage(answers)))

# %% [markdown]
# ## Accuracy and the MSP's AUROC
#
# Across the paper's {glue:text}`accuracy_auroc_msp_n` models there is
# {glue:text}`accuracy_auroc_msp_words` between accuracy and the MSP's AUROC
# ({glue:text}`accuracy_auroc_msp_stats`). {glue:text}`scored_auroc_msp`

# %%
figures.scatter_with_fit(per_model, "accuracy", "auroc_msp", LABELS["accuracy"], LABELS["auroc_msp"]);

# %% [markdown]
# ## Accuracy and the Max Logit's AUROC
#
# For the Max Logit, over the paper's {glue:text}`accuracy_auroc_max_logit_n` models that expose
# logits, there is {glue:text}`accuracy_auroc_max_logit_words`
# ({glue:text}`accuracy_auroc_max_logit_stats`). {glue:text}`scored_auroc_max_logit`

# %%
figures.scatter_with_fit(per_model, "accuracy", "auroc_max_logit", LABELS["accuracy"],
                       LABELS["auroc_max_logit"]);

# %% [markdown]
# ## Accuracy and calibration
#
# The calibration error here is the one the paper uses for this comparison, which is not its
# calibration table's value: ten bins of width 0.1, every bin weighted equally, computed per cell
# and averaged over the model's cells (the calibration chapter shows both). Between accuracy and
# this error there is {glue:text}`accuracy_calibration_error_uniform_cells_words`
# ({glue:text}`accuracy_calibration_error_uniform_cells_stats`).

# %%
figures.scatter_with_fit(per_model, "accuracy", "calibration_error_uniform_cells", LABELS["accuracy"],
                       LABELS["calibration_error_uniform_cells"]);

# %% [markdown]
# ## Model size
#
# Is the number of parameters as good a guide as accuracy? Over the paper's models of known size,
# size and the MSP's AUROC show {glue:text}`params_b_auroc_msp_words`
# ({glue:text}`params_b_auroc_msp_stats`); size and the Max Logit's AUROC show
# {glue:text}`params_b_auroc_max_logit_words` ({glue:text}`params_b_auroc_max_logit_stats`); size
# and accuracy show {glue:text}`params_b_accuracy_words` ({glue:text}`params_b_accuracy_stats`);
# size and the calibration error show {glue:text}`params_b_calibration_error_uniform_cells_words`
# ({glue:text}`params_b_calibration_error_uniform_cells_stats`). "Significant" in this chapter
# means p < {glue:text}`alpha:.2f`, a much looser bar than the one used for single cells.

# %%
figures.scatter_with_fit(per_model, "params_b", "auroc_msp", LABELS["params_b"], LABELS["auroc_msp"]);

# %%
figures.scatter_with_fit(per_model, "params_b", "auroc_max_logit", LABELS["params_b"],
                       LABELS["auroc_max_logit"]);

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. With so few points, one model can move Pearson's r. Recompute the accuracy–MSP AUROC
#    correlation leaving out each paper model in turn (`helpers.metrics.correlation`). Which model
#    moves r the most, and does the correlation stay strong?
# 2. Does accuracy predict AUROC within a model family as well as across families? Look at the
#    Llama 2 models in the first scatter plot.

# %% tags=["solution", "hide-input"]
# Solution 1: leave-one-out Pearson r of accuracy vs MSP AUROC over the paper's models; the model
# that moves r the most comes first.
corr.leave_one_out(per_model, "accuracy", "auroc_msp").round(3)

# %% tags=["solution", "hide-input"]
# Solution 2: the Llama 2 models by size, and whether accuracy and MSP AUROC rise with it.
trend = analysis.family_trend(per_model, "Llama 2", ["accuracy", "auroc_msp"])
print(words.describe_family_trend(trend, "Llama 2", {"accuracy": "accuracy", "auroc_msp": "MSP AUROC"}))
trend.round(1)
