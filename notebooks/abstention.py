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
# **The claim** {cite}`plaut2024probabilities`. Because the MSP ranks right answers above wrong ones, a model can be told to
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
# from that dataset's *k* answers. {glue:text}`k_note`

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)
k = 20  # training answers per dataset in the main tables (an integer, or "half")
example_models = ["Llama3-70b", "Mistral", "Yi-6b", "gpt-3.5-turbo"]  # drawn in the curve figures
seeds = 1000  # random train/test splits of the repeated runs (seeds 0 ... seeds - 1; cached on disk)
sweep_seeds = 200  # random splits per training size of the k sweep

# %% tags=["hide-input"]
import pandas as pd

from helpers.analysis import abstention
from helpers.analysis import abstention_repeats as repeats
from helpers.analysis.scored import coverage
from helpers.data.analysis_cache import frame_store
from helpers.data.answers import load_answers
from helpers.data.locations import analysis_cache_dir
from helpers.data.parameters import check_parameters
from helpers.data.vocabulary import PENALTIES, PENALTY_NAMES, is_scored, model_order
from helpers.report import facts, figures, tables, words

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir, k=k, example_models=example_models, seeds=seeds,
                 sweep_seeds=sweep_seeds)

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
tables.formatted(tables.paper_layout(table, k, decimals=1).rename(index=tables.row_labels(table, k)), decimals=1)

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
# :::{container} scored-note
# {glue:text}`scored`
# :::
#
# The gain over Base per model, for both signals:

# %%
figures.abstention_gains(table, k);

# %% [markdown]
# How often the models abstain at their learnt threshold, in percent of the test questions (Base
# never abstains):

# %%
tables.formatted(tables.paper_layout(table, k, value="pct_abstained").rename(index=tables.row_labels(table, k)),
                 decimals=1)

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
figures.gain_heatmaps(table, by="scope", k=k);

# %% [markdown]
# The full table, every score per dataset and model:

# %% tags=["hide-output"]
scopes = [s for s in table["scope"].unique() if s != "overall"]
per_dataset = pd.concat({s: tables.paper_layout(table, k, s, decimals=1) for s in scopes},
                        names=["dataset", "model"])
tables.formatted(per_dataset, decimals=1)

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
figures.gain_heatmaps(table, by="k");

# %% [markdown]
# The full table, every score per training size and model:

# %% tags=["hide-output"]
by_k = pd.concat({str(v): tables.paper_layout(table, v, decimals=1) for v in variants},
                 names=["k", "model"])
tables.formatted(by_k.rename(index=tables.row_labels(table, k), level="model"), decimals=1)

# %% [markdown]
# For each training size, how many of the paper's models gain over Base with MSP thresholds, keep
# it or lose it, and their mean gain in points:

# %%
counts = summary.xs(("overall", "msp"), level=["scope", "signal"])[["n_models", "n_gain", "n_equal",
                                                                    "n_loss", "mean_gain"]]
tables.formatted(counts.rename(index=PENALTY_NAMES, level="penalty"), decimals={"mean_gain": 1},
                 headers={"n_models": "models", "n_gain": "gain", "n_equal": "tie", "n_loss": "lose",
                          "mean_gain": "mean gain (points)"})

# %% [markdown]
# With *k* = {glue:text}`variant_0` the claim {glue:text}`variant_0_verdict`. With *k* =
# {glue:text}`variant_1` it {glue:text}`variant_1_verdict`.
# More training answers make the chosen thresholds more reliable, fewer make them noisier.
#
# ## Over many splits
#
# Everything above hangs on one draw of the training answers: the paper's seed. To see how much of
# it is luck, the whole recipe is repeated with {glue:text}`seeds` random splits (seeds 0, 1, ...),
# each choosing its own thresholds on its own *k* = {glue:text}`k` training answers per dataset.
# Per model and rule: the gain of the paper's split, the median gain over the splits with its
# 5–95% range, the share of splits with a gain, and the median share of test questions abstained
# on (MSP thresholds).

# %%
store = frame_store(analysis_cache_dir())
repeated = repeats.cached_repeated_split_scores(answers, [k], range(seeds), store)
bands = repeats.gain_bands(repeated, paper=table)
tables.formatted(tables.gain_band_display(bands))

# %% [markdown]
# Where the gain comes from: each model's median gain against the median share of questions it
# abstains on, with both 5–95% ranges as error bars.

# %%
figures.gain_against_abstained(bands);

# %% [markdown]
# And how it depends on the amount of training data: the median gain and its 5–95% band against
# *k* ({glue:text}`sweep_seeds` splits per *k*; "half" trains on half of each dataset's answers).

# %%
sweep = repeats.cached_repeated_split_scores(answers, repeats.SWEEP_KS, range(sweep_seeds), store)
figures.gain_band_curves(repeats.k_sweep_bands(sweep));

# %% tags=["hide-input"]
facts.glue_facts(facts.abstention_repeat_facts(bands, repeats.gain_by_base(bands), seeds, sweep_seeds))

# %% [markdown]
# Over {glue:text}`seeds` splits, {glue:text}`n_median_gain_balanced` of the paper's
# {glue:text}`n_repeat_models` models have a positive median gain under the balanced rule and
# {glue:text}`n_median_gain_conservative` under the conservative one; {glue:text}`n_mostly_gain_balanced`
# and {glue:text}`n_mostly_gain_conservative` gain in at least 95% of the splits. The paper's own
# split falls outside the middle 90% of the splits for {glue:text}`n_paper_split_outer` model × rule
# pairs. The mean gain is mostly the weak models': under the conservative rule the
# {glue:text}`weak_n_conservative` models that lose points by always answering gain
# {glue:text}`weak_gain_min_conservative:.1f` to {glue:text}`weak_gain_max_conservative:.1f` points
# by abstaining on {glue:text}`weak_pct_min_conservative:.0f`–{glue:text}`weak_pct_max_conservative:.0f`%
# of the questions (medians), while under the balanced rule the {glue:text}`strong_n_balanced`
# models that score above zero by always answering gain
# {glue:text}`strong_gain_min_balanced:.1f`–{glue:text}`strong_gain_max_balanced:.1f` points, abstaining
# on at most {glue:text}`strong_pct_max_balanced:.0f`%.
#
# ## Verdict
#
# With *k* = {glue:text}`k` labelled answers per dataset, the claim {glue:text}`verdict`: the
# models that do worse than always answering with their learnt MSP threshold number
# {glue:text}`n_loss_balanced` under the balanced rule and {glue:text}`n_loss_conservative` under
# the conservative one, and the
# average model gains {glue:text}`mean_gain_balanced:.1f` points under the balanced and
# {glue:text}`mean_gain_conservative:.1f` points under the conservative score: the mean gain is
# larger under the {glue:text}`larger_gain_rule` rule, and across models Base and the gain show
# {glue:text}`base_gain_words`.

# %% [markdown]
# ## Exercises

# %% [markdown] tags=["exercise"] answer=["mean_gain_by_k"]
# The threshold is chosen on only *k* labelled answers per dataset. Re-run the chapter with `k = 10`
# and with `k = "half"` (the parameters cell): how do the gains over Base change with the amount of
# training data? The tables above already hold every k: store the mean gain over Base of MSP
# thresholds over all datasets, per k (as a string) and penalty name, in a dict `mean_gain_by_k`,
# e.g. `{"20": {"balanced": ..., "conservative": ...}, ...}`.

# %% tags=["solution", "hide-input"]
# Models that gain, tie or lose against Base, and the mean gain, per k and penalty, for MSP
# thresholds over all datasets.
msp_overall = summary.xs(("overall", "msp"), level=["scope", "signal"])
mean_gain_by_k = {str(k): {PENALTY_NAMES[p]: g for (kk, p), g in msp_overall["mean_gain"].items() if kk == k}
                  for k in msp_overall.index.get_level_values("k").unique()}
tables.formatted(msp_overall.rename(index=PENALTY_NAMES, level="penalty"), decimals=2,
                 headers={"n_models": "models", "n_gain": "gain", "n_equal": "tie", "n_loss": "lose",
                          "mean_gain": "mean gain (points)", "n_never_abstain": "never abstain"})

# %% [markdown] tags=["exercise"] answer=["always_abstain", "two_thirds"]
# With the conservative penalty (a wrong answer costs 2 points), what is the score of a model that
# always abstains (`always_abstain`), and of one that answers everything with accuracy 2/3
# (`two_thirds`)? Check the second with `abstention.score` on a made-up set of answers.

# %% tags=["solution", "hide-input"]
# Always abstaining scores 0; answering everything at accuracy 2/3 scores 100 * (2/3 - 2 * 1/3) = 0
# too, so 2/3 is the break-even accuracy under the conservative penalty.
import numpy as np

made_up_correct = np.array([True, True, False] * 10)
made_up_conf = np.ones(30)
two_thirds = abstention.score(made_up_conf, made_up_correct, abstention.BASE_THRESHOLD, penalty=2)
always_abstain = abstention.score(made_up_conf, made_up_correct, 2.0, penalty=2)
print(f"answering everything: {two_thirds:.1f}; abstaining on everything: {always_abstain:.1f}")
