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
# # The data
#
# Everything in this book starts from one table with a row per answer: which model answered which
# question of which dataset, under which phrasing of the prompt, whether the answer was right, and
# how confident the model was. This chapter shows where those rows come from and what they look like.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)

# %% tags=["hide-input"]
from myst_nb import glue

from helpers import claims, overview, plots
from helpers.answers import load_answers
from helpers.datasets import Question
from helpers.models import display_name, model_table
from helpers.prompts import build_prompt

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)
cells = claims.cell_table(answers)

# %% [markdown]
# ## The models
#
# The paper compares fourteen chat models: twelve with open weights, run through Hugging Face
# `transformers` (quantised to 4 bits), and two served by OpenAI, for which only the probabilities of
# the generated tokens are available, not the logits. Sizes are in billions of parameters
# (Mixtral's is its total, not its active, size).

# %%
model_table()

# %% [markdown]
# ## The datasets and the questions
#
# Five multiple-choice benchmarks, each loaded from Hugging Face as below. The paper shuffled each
# dataset once with a fixed seed and used all questions of the two small ones and the first 6,000
# of the three large ones; the options of every question were shuffled too, so the right letter is
# spread evenly over A, B, C, … Each of the paper's models saw the same
# {glue:text}`n_questions:,` questions, once per phrasing. (Models we scored ourselves, in the last
# chapter, answered the first questions of the same order.)

# %%
questions = overview.dataset_table(answers[answers["source"] == "published"])
glue("n_questions", int(questions["questions"].sum()), display=False)
questions

# %% [markdown]
# ## Two phrasings of the same request
#
# Each question was asked twice, in two differently worded prompts that both ask for the letter of
# the answer followed by a period. Here is how a question looks in each (an example question of
# ours, not one from the benchmarks).

# %%
example = Question(dataset="arc", question_id="example", position=0,
                   question="Which gas do plants take in from the air to make their food?",
                   options=("oxygen", "carbon dioxide", "nitrogen", "water vapour"), gold=1)
for phrasing in ("first", "second"):
    print(f"--- {phrasing} phrasing ---")
    print(build_prompt(example, phrasing))

# %% [markdown]
# For the open models the prompt was the single user message of the model's chat template; the
# Falcon models, which have no template, got the raw text.
#
# ## From an answer to a number
#
# The models generated up to 100 tokens greedily (always the most likely next token). The answer
# was read from the response by a simple rule: the earliest "A.", "B.", … in the text; failing that,
# the earliest option text; failing that, the earliest bare capital letter; failing that, the answer
# is *unparseable*. The confidence attached to the answer is taken at the generation step that
# produced the answer letter:
#
# - the **MSP**, the largest probability of the softmax over the whole vocabulary at that step —
#   the probability of the token the model actually chose;
# - the **Max Logit**, the largest score before the softmax at the same step. OpenAI's models do
#   not expose it, so Max Logit analyses have twelve models, not fourteen.
#
# Unparseable answers are kept everywhere: they count as wrong, with confidence 0.
#
# ## How many answers
#
# Answers per model and dataset, both phrasings together:

# %%
counts = overview.answer_counts(cells)
glue("n_answers", int(counts["total"].sum()), display=False)
glue("n_models", len(counts), display=False)
counts

# %% [markdown]
# In all, {glue:text}`n_answers:,` answers from {glue:text}`n_models` models.
#
# ## How often the models are right
#
# Accuracy per model and dataset, in percent, as the mean of the two phrasings (unparseable answers
# count as wrong). The last column is the mean over all ten dataset × phrasing cells of the model,
# the accuracy the later chapters use.

# %%
accuracy = overview.accuracy_grid(cells)
best, worst = accuracy["overall"].idxmax(), accuracy["overall"].idxmin()
glue("best_model", display_name(best), display=False)
glue("best_accuracy", float(accuracy.loc[best, "overall"]), display=False)
glue("worst_model", display_name(worst), display=False)
glue("worst_accuracy", float(accuracy.loc[worst, "overall"]), display=False)
plots.grid_heatmap(accuracy, "accuracy (%)");

# %%
accuracy.round(1)

# %% [markdown]
# Accuracy ranges from {glue:text}`worst_accuracy:.1f`% ({glue:text}`worst_model`) to
# {glue:text}`best_accuracy:.1f`% ({glue:text}`best_model`): the models span the whole range from
# near chance to strong, which is what lets the later chapters relate accuracy to the quality of
# the confidence.
#
# ## Unparseable answers
#
# The share of answers the rule above could not read, in percent. It is small, so counting these
# answers as wrong changes little.

# %%
unparseable = overview.unparseable_pct(cells)
glue("unparseable_overall", float(100 * (answers["grade"] == "unparseable").mean()), display=False)
glue("unparseable_max", float(unparseable["overall"].max()), display=False)
unparseable.round(2)

# %% [markdown]
# Over all answers, {glue:text}`unparseable_overall:.2f`% are unparseable; no model exceeds
# {glue:text}`unparseable_max:.2f`%.
#
# ## What the MSPs look like
#
# The distribution of the MSP per model. Most models put most of their answers near 1 — the first
# hint that these probabilities are overconfident, the subject of the next chapter.

# %%
glue("share_msp_one", float(100 * (answers["msp"] == 1.0).mean()), display=False)
plots.msp_histograms(answers);

# %% [markdown]
# {glue:text}`share_msp_one:.1f`% of all answers have an MSP of exactly 1.0 in single precision:
# the other tokens' probabilities add up to less than the rounding step.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. Which dataset is hardest? Using the `accuracy` table above, rank the five datasets by the
#    models' mean accuracy. Is the ranking the same for the strongest and the weakest model?
# 2. Re-run this chapter for the Llama models only (change `models` in the parameters cell, or run
#    `python -m helpers.book run data -p data models '["Llama-7b", "Llama-13b", "Llama-70b", "Llama3-8b", "Llama3-70b"]'`).
#    How does the share of answers with an MSP above 0.99 change from Llama 2 to Llama 3?

# %% tags=["solution", "hide-input"]
# Solution 1: mean accuracy per dataset, hardest first; then the best and the worst model.
print(accuracy.drop(columns="overall").mean().sort_values().round(1))
print(accuracy.loc[[best, worst]].drop(columns="overall").round(1))

# %% tags=["solution", "hide-input"]
# Solution 2: share of answers with MSP above 0.99, per model (in percent).
(100 * answers.assign(high=answers["msp"] > 0.99).groupby("model", observed=True)["high"].mean()).round(1)
