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
from helpers.analysis import cells as analysis
from helpers.analysis import coverage
from helpers.data.answers import load_answers
from helpers.data.datasets import Question
from helpers.data.parameters import check_parameters
from helpers.data.published import copy_differences
from helpers.data.published import published_dir as results_folder
from helpers.data.scores import load_scored
from helpers.data.vocabulary import PHRASINGS, display_name, model_table
from helpers.report import facts, figures, tables
from helpers.scoring.prompts import build_prompt

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir)

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)
cells = analysis.cell_table(answers)
splits = coverage.question_splits(load_scored(scores_dir), within=answers)
facts.glue_facts(facts.data_facts(answers, cells, splits, copy_differences(results_folder(published_dir))))

# %% [markdown]
# {glue:text}`copy_note`
#
# ## The models
#
# The paper compares {glue:text}`n_paper_models` chat models: {glue:text}`n_open_models` with open
# weights, run through Hugging Face `transformers` (quantised to 4 bits), and
# {glue:text}`n_api_models` served by OpenAI, for which only the probabilities of the generated
# tokens are available, not the logits. Sizes are in billions of parameters (Mixtral's is its
# total, not its active, size).

# %%
model_table()

# %% [markdown]
# ## The datasets and the questions
#
# The multiple-choice benchmarks, each loaded from Hugging Face as below. The paper shuffled each
# dataset once with a fixed seed and used all questions of the small ones and a fixed number of
# the first shuffled questions of the large ones (column *questions*); the options of every
# question were shuffled too, so the right letter is spread evenly over A, B, C, … Each of the
# paper's models saw the same {glue:text}`n_questions:,` questions of these datasets, once per
# phrasing.
#
# Models we scored ourselves (in the last chapter) answer the first questions of the same
# shuffled order. A position holds the paper's question only where that order is reproduced from
# the split the paper used. {glue:text}`alignment`

# %%
tables.dataset_table(coverage.question_counts(answers[answers["source"] == "published"]))

# %% [markdown]
# ## Phrasings of the same request
#
# Each question was asked in {glue:text}`n_phrasings` differently worded prompts, all asking for the
# letter of the answer followed by a period. Here is how a question looks in each (an example
# question of ours, not one from the benchmarks).

# %%
example = Question(dataset="arc", question_id="example", position=0,
                   question="Which gas do plants take in from the air to make their food?",
                   options=("oxygen", "carbon dioxide", "nitrogen", "water vapour"), gold=1)
for phrasing in PHRASINGS:
    print(f"--- {phrasing} phrasing ---")
    print(build_prompt(example, phrasing))

# %% [markdown]
# For the open models the prompt was the single user message of the model's chat template; the
# Falcon models, which have no template, got the raw text.
#
# ## From an answer to a number
#
# The models generated up to {glue:text}`max_new_tokens` tokens greedily (always the most likely next token). The answer
# was read from the response by a simple rule: the earliest "A.", "B.", … in the text; failing that,
# the earliest option text; failing that, the earliest bare capital letter; failing that, the answer
# is *unparseable*. The confidence attached to the answer is taken at the generation step that
# produced the answer letter:
#
# - the **MSP**, the largest probability of the softmax over the whole vocabulary at that step —
#   the probability of the token the model actually chose;
# - the **Max Logit**, the largest score before the softmax at the same step. OpenAI's models do
#   not expose it, so the paper's Max Logit analyses cover its {glue:text}`n_open_models` open
#   models, not all {glue:text}`n_paper_models`.
#
# Unparseable answers are kept everywhere: they count as wrong, with confidence 0.
#
# ## How many answers
#
# Answers per model and dataset, both phrasings together:

# %%
coverage.answer_counts(cells).rename(index=display_name)

# %% [markdown]
# In all, {glue:text}`n_answers:,` answers from {glue:text}`n_models` models.
#
# ## How often the models are right
#
# Accuracy per model and dataset, in percent, as the mean over the phrasings (unparseable answers
# count as wrong). The last column is the mean over all the model's dataset × phrasing cells, the
# accuracy the later chapters use.

# %%
accuracy = coverage.accuracy_grid(cells)
figures.grid_heatmap(accuracy, "accuracy (%)");

# %%
accuracy.rename(index=display_name).round(1)

# %% [markdown]
# Accuracy ranges from {glue:text}`accuracy_min:.1f`% ({glue:text}`accuracy_min_model`) to
# {glue:text}`accuracy_max:.1f`% ({glue:text}`accuracy_max_model`). This spread across models is
# what lets the later chapters relate accuracy to the quality of the confidence.
#
# ## Unparseable answers
#
# The share of answers the rule above could not read, in percent. Counting these answers as wrong
# lowers a model's accuracy by at most this share.

# %%
coverage.unparseable_pct(cells).rename(index=display_name).round(2)

# %% [markdown]
# Over all answers, {glue:text}`unparseable_overall:.2f`% are unparseable; no model exceeds
# {glue:text}`unparseable_max:.2f`%.
#
# ## What the MSPs look like
#
# The distribution of the MSP per model. Answers piled up near 1 are a first hint that these
# probabilities may be overconfident, the subject of the next chapter.

# %%
figures.msp_histograms(answers);

# %% [markdown]
# {glue:text}`share_msp_one:.1f`% of all answers have an MSP of exactly 1.0 in single precision:
# the other tokens' probabilities add up to less than the rounding step.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. Which dataset is hardest? Using the `accuracy` table above, rank the datasets by the
#    models' mean accuracy. Is the ranking the same for the strongest and the weakest model?
# 2. Re-run this chapter for the Llama models only (change `models` in the parameters cell, or run
#    `python -m helpers.book run data -p data models '["Llama-7b", "Llama-13b", "Llama-70b", "Llama3-8b", "Llama3-70b"]'`).
#    How does the share of answers with an MSP above 0.99 change from Llama 2 to Llama 3?

# %% tags=["solution", "hide-input"]
# Solution 1: mean accuracy per dataset, hardest first; then the rank of each dataset (1 = hardest)
# for the best and the worst model.
print(accuracy.drop(columns="overall").mean().sort_values().round(1))
extreme_models = [accuracy["overall"].idxmax(), accuracy["overall"].idxmin()]
print(accuracy.loc[extreme_models].drop(columns="overall").rank(axis=1, method="min").astype("Int64"))

# %% tags=["solution", "hide-input"]
# Solution 2: share of answers with MSP above 0.99, per model and per family (in percent).
high = coverage.share_above_pct(answers, 0.99)
print(high.groupby("family", sort=False)["pct_above"].mean().round(1))
high.round(1)
