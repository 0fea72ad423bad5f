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
# # Abstention
#
# **The claim.** Because the MSP ranks right answers above wrong ones, a model can be told to
# answer only when its MSP reaches a threshold and to say nothing otherwise. If wrong answers cost
# points, this should pay: a threshold learnt from a handful of labelled questions raises the score
# over always answering, most of all when wrong answers are expensive.
#
# **The game.** A correct answer earns 1 point, an abstention 0, a wrong answer
# −{glue:text}`penalty_balanced` (the *balanced* score) or −{glue:text}`penalty_conservative` (the
# *conservative* score); unparseable answers are wrong. The total is
# divided by the number of questions and multiplied by 100, so always answering scores
# accuracy − penalty × error rate, and a model that abstains on everything scores 0.
#
# **The recipe (as the paper's code).** For each model and dataset the answers to both phrasings
# are pooled and shuffled once with a fixed seed; the first *k* answers are the training set, the
# rest the test set. A grid of thresholds runs from 0 to the largest training confidence (finer
# just below 1 for probabilities), plus {glue:text}`base_threshold`, which means "never abstain".
# Each model gets the threshold with the best training score averaged over the datasets (the
# smallest one if several tie). That threshold is then applied to the test answers. **Base** is
# the test score of always answering. In the overall tables a model has one threshold for all the
# datasets, learnt from *k* answers of each; in the per-dataset tables, one per dataset, learnt
# from that dataset's *k* answers. The paper's main tables use *k* = {glue:text}`paper_k`; this
# chapter's main tables use *k* = {glue:text}`k`.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)
k = 20  # training answers per dataset in the main tables (an integer, or "half")
example_models = ["Llama3-70b", "Mistral", "Yi-6b", "gpt-3.5-turbo"]  # drawn in the curve figures

# %% tags=["hide-input"]
import pandas as pd

from helpers.analysis import abstention
from helpers.analysis.scored import coverage
from helpers.data.answers import load_answers
from helpers.data.parameters import check_parameters
from helpers.data.vocabulary import PENALTIES, PENALTY_NAMES, is_scored, model_order
from helpers.report import facts, figures, tables, words

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir, k=k, example_models=example_models)

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)
present = model_order(answers["model"].astype(str).unique())
shown = [m for m in example_models if m in present] + [m for m in present if is_scored(m)] or present[:4]
variants = [v for v in abstention.KS if v != k]
pd.set_option("display.max_rows", 200)  # the per-dataset table has one row per model and dataset

# %% [markdown]
# ## Choosing the threshold
#
# The score as a function of the MSP threshold, on the training answers (left, where the threshold
# is chosen; the dot marks it) and on the test answers (right, where it is judged, with the dot at
# the same threshold), averaged over the datasets. At the far left the model always answers, at
# the far right it abstains on nearly everything.

# %%
curves = pd.concat([abstention.abstention_curves(answers, "msp", k, p).assign(penalty=p)
                    for p in PENALTIES])
figures.score_curves(curves[curves["model"].isin(shown)]);

# %% [markdown]
# The training curves are step functions — each training answer moves its dataset's score by
# 100 / *k* points — while the test curves, on thousands of answers, are smooth. The threshold that
# wins on the training answers is therefore only roughly the best one on the test answers. The same
# for the Max Logit (open models only; OpenAI's models expose no logits):

# %%
if answers["max_logit"].notna().any():
    curves_ml = pd.concat([abstention.abstention_curves(answers, "max_logit", k, p).assign(penalty=p)
                           for p in PENALTIES])
    figures.score_curves(curves_ml[curves_ml["model"].isin(shown)], xlabel="threshold on the Max Logit");

# %% [markdown]
# ## Overall results
#
# One threshold per model, signal and scoring rule, shared by all datasets. Scores in points per
# 100 questions, as the paper's table. Models we scored ourselves are marked "ours" (with the
# datasets they cover, if not all: their rows average over those); the thresholds are chosen on the
# paper models' grid, so adding them changes none of the paper's rows, and the counts below are over
# the paper's models.

# %%
table = abstention.abstention_table(answers, ks=[k, *variants])
summary = abstention.gain_summary(table).set_index(["k", "scope", "penalty", "signal"])
tables.paper_layout(table, k, decimals=1).rename(index=tables.row_labels(table, k))

# %% tags=["hide-input"]
facts.glue_facts(facts.abstention_facts(table, k, variants, coverage(answers)))

# %% [markdown]
# With MSP thresholds, {glue:text}`n_gain_balanced` of the paper's {glue:text}`n_models_balanced` models
# score above Base under the balanced rule ({glue:text}`n_equal_balanced` equal, i.e. the learnt
# threshold never abstains, {glue:text}`n_loss_balanced` below), by
# {glue:text}`mean_gain_balanced:.1f` points on average; under the conservative rule
# {glue:text}`n_gain_conservative` of {glue:text}`n_models_conservative` gain
# ({glue:text}`n_loss_conservative` lose), by {glue:text}`mean_gain_conservative:.1f` points on
# average. Across models, Base and the gain show {glue:text}`base_gain_words` (Spearman
# ρ = {glue:text}`rho_base_gain:.2f`, conservative rule; a negative correlation means the weaker
# the model, the larger the gain): a model that is wrong more often than right loses points by
# answering at all, so a threshold that keeps it mostly silent pays. Between the two signals, MSP
# thresholds score higher than Max Logit thresholds for
# {glue:text}`msp_higher_balanced` of the {glue:text}`n_both_balanced` open models under the
# balanced rule and {glue:text}`msp_higher_conservative` of {glue:text}`n_both_conservative` under
# the conservative one.
#
# **Our scored models.** {glue:text}`scored`
#
# The gain over Base per model, for both signals:

# %%
figures.abstention_gains(table, k);

# %% [markdown]
# How often the models abstain at their learnt threshold, in percent of the test questions (Base
# never abstains):

# %%
tables.paper_layout(table, k, value="pct_abstained").rename(index=tables.row_labels(table, k)).round(1)

# %% [markdown]
# The median paper model abstains on {glue:text}`median_pct_balanced:.1f`% of the questions with its
# MSP threshold under the balanced rule and on {glue:text}`median_pct_conservative:.1f`% under the
# conservative one, where a wrong answer costs more. The model with the highest Base score,
# {glue:text}`best_model`, abstains on
# {glue:text}`best_pct_balanced:.1f`% and {glue:text}`best_pct_conservative:.1f`% of the questions.
#
# ## Per dataset
#
# Here each dataset is a separate run: the threshold is learnt from that dataset's {glue:text}`k`
# training answers alone, so these results are noisier than the overall ones.

# %%
scopes = [s for s in table["scope"].unique() if s != "overall"]
per_dataset = pd.concat({s: tables.paper_layout(table, k, s, decimals=1) for s in scopes},
                        names=["dataset", "model"])
per_dataset.rename(index=words.model_label, level="model")

# %% [markdown]
# Of the paper models' {glue:text}`ds_runs_balanced` model × dataset runs with MSP thresholds,
# {glue:text}`ds_gain_balanced` gain over Base and {glue:text}`ds_loss_balanced` lose under the
# balanced rule; under the conservative rule {glue:text}`ds_gain_conservative` of
# {glue:text}`ds_runs_conservative` gain and {glue:text}`ds_loss_conservative` lose.
# With only {glue:text}`k` labelled answers, a threshold can land on the wrong side of a close call,
# which is how a run ends up below Base.
#
# ## How much training data
#
# The same overall experiment with other training sizes: *k* answers per dataset, where "half" means
# half of each dataset's pooled answers (thousands). The test sets differ slightly between
# variants, and so does Base.

# %%
by_k = pd.concat({str(v): tables.paper_layout(table, v, decimals=1) for v in variants},
                 names=["k", "model"])
by_k.rename(index=tables.row_labels(table, k), level="model")

# %% [markdown]
# For each training size, how many of the paper's models gain over Base with MSP thresholds, keep
# it or lose it, and their mean gain in points:

# %%
counts = summary.xs(("overall", "msp"), level=["scope", "signal"])[["n_models", "n_gain", "n_equal",
                                                                    "n_loss", "mean_gain"]]
counts.rename(index=PENALTY_NAMES, level="penalty").round(1)

# %% [markdown]
# With *k* = {glue:text}`variant_0` the claim {glue:text}`variant_0_verdict`. With *k* =
# {glue:text}`variant_1` it {glue:text}`variant_1_verdict`.
# More training answers make the chosen thresholds more reliable, fewer make them noisier.
#
# ## Verdict
#
# With *k* = {glue:text}`k` labelled answers per dataset, the claim {glue:text}`verdict`: with
# its learnt MSP threshold, {glue:text}`n_loss_balanced` model(s) do worse than always answering
# under the balanced rule and {glue:text}`n_loss_conservative` under the conservative one, and the
# average model gains {glue:text}`mean_gain_balanced:.1f` points under the balanced and
# {glue:text}`mean_gain_conservative:.1f` points under the conservative score: the mean gain is
# larger under the {glue:text}`larger_gain_rule` rule, and across models Base and the gain show
# {glue:text}`base_gain_words`.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. The threshold is chosen on only *k* labelled answers per dataset. Re-run the chapter with
#    `k = 10` and with `k = "half"` (the parameters cell): how do the gains over Base change with the
#    amount of training data?
# 2. With the conservative penalty (a wrong answer costs 2 points), what is the score of a model that
#    always abstains, and of one that answers everything with accuracy 2/3? Check the second with
#    `abstention.score` on a made-up set of answers.

# %% tags=["solution", "hide-input"]
# Solution 1 (the tables above already hold every k): models that gain, tie or lose against Base,
# and the mean gain, per k and penalty, for MSP thresholds over all datasets.
summary.xs(("overall", "msp"), level=["scope", "signal"])

# %% tags=["solution", "hide-input"]
# Solution 2: always abstaining scores 0; answering everything at accuracy 2/3 scores
# 100 * (2/3 - 2 * 1/3) = 0 too, so 2/3 is the break-even accuracy under the conservative penalty.
# Printed: answering everything (threshold below every confidence), then abstaining on everything.
import numpy as np

made_up_correct = np.array([True, True, False] * 10)
made_up_conf = np.ones(30)
print(abstention.score(made_up_conf, made_up_correct, abstention.BASE_THRESHOLD, penalty=2),
      abstention.score(made_up_conf, made_up_correct, 2.0, penalty=2))
