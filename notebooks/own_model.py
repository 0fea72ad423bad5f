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
# # Score your own model
#
# The paper's models are a snapshot of the chat models of its time. This chapter puts any other
# chat model through the same test: the same prompts, greedy answers read with the same rules, the
# MSP and Max Logit of the token that carries the answer letter. By default it scores
# SmolLM2-135M-Instruct, a model far smaller than any in the paper, which runs on a laptop CPU.
#
# To score another model, run this chapter with other parameters, e.g.
# `make score MODEL=Qwen/Qwen2.5-0.5B-Instruct LIMIT=200`, or use the command line
# `python -m helpers.score --model ID_OR_PATH --limit 200`. Answers are cached per question, so a
# run only scores what is missing, and resumes where it stopped if interrupted. Every model scored
# so far appears in this chapter and in every other one, next to the paper's models.

# %% tags=["parameters"]
models = None  # paper model keys to include (None: all); every model we scored is always included
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)
model = None  # Hugging Face id, model folder or GGUF file (None: SmolLM2-135M-Instruct)
phrasings = None  # prompt phrasings to score (None: both)
limit = 200  # questions per dataset, in the paper's order
mode = "fast"  # "fast", or "faithful": the paper's loop, same grades and MSPs, slower (text past the answer differs)
device = "auto"  # "auto", "cpu" or "cuda"
batch_size = 8
resamples = 1000  # question-bootstrap resamples behind the chance-level check (cached on disk)

# %% tags=["hide-input"]
from helpers.analysis import abstention, bootstrap, coverage, option_signal
from helpers.analysis import cells as analysis
from helpers.analysis.scored import coverage as coverage_table
from helpers.analysis.scored import chance_level_models, models_and_scored, scored_positions
from helpers.data.analysis_cache import frame_store
from helpers.data.answers import load_answers, select
from helpers.data.locations import analysis_cache_dir
from helpers.data.parameters import check_parameters
from helpers.data.scores import load_scored
from helpers.report import facts, figures, tables, words
from helpers.scoring.runner import ensure_scored

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir, model=model, phrasings=phrasings, limit=limit, mode=mode,
                 device=device, batch_size=batch_size, resamples=resamples)

name = ensure_scored(model, datasets, phrasings, limit, mode=mode, device=device,
                     batch_size=batch_size, scores_dir=scores_dir)
everything = load_answers(published_dir, scores_dir, shots=0, datasets=datasets)
answers = select(everything, models_and_scored(models, everything["model"].unique()))
scored_rows = load_scored(scores_dir)  # with each question's id, to tell which split it came from
cells = analysis.cell_table(answers)
per_model = analysis.model_summary(answers, cells)
k = abstention.KS[0]
table = abstention.abstention_table(answers, ks=[k])
# a scored model whose MSP AUROC interval includes 50% is at chance, whatever its point estimate
boot = bootstrap.cached_question_bootstrap(answers, resamples, store=frame_store(analysis_cache_dir()))
chance_level = chance_level_models(bootstrap.model_intervals(boot))
facts.glue_facts(facts.own_model_facts(name, per_model, cells, table, coverage_table(answers),
                                       coverage.question_splits(scored_rows, within=answers), k,
                                       chance_level=chance_level))

# %% [markdown]
# ## How it did
#
# This run made sure the answers of {glue:text}`name` are in the cache. This chapter shows every
# model we scored ourselves that the cache holds, here {glue:text}`n_scored`:
# {glue:text}`scored_names`; the one of this run is in bold in the table.
#
# {glue:text}`how_it_did`
#
# A model is *above chance* by the rule of [the chapter on correctness](correctness.ipynb): a mean AUROC above 50% and a
# majority of its cells significantly so. A scored model's cells hold far fewer answers than the
# paper's, so its values are noisier. {glue:text}`alignment`

# %%
summary = per_model.set_index("model")[["accuracy", "auroc_msp", "auroc_max_logit", "calibration_error_paper"]]
this_run = words.model_label(name, "this run")
summary = summary.rename(index=lambda m: words.model_label(m, "this run" if m == name else ""))
tables.bold_rows(summary.rename_axis("model"), [this_run])

# %% [markdown]
# ## Correctness prediction
#
# The mean AUROC over each model's cells; the models we scored are in bold.

# %%
figures.auroc_dots(analysis.model_metrics(cells));

# %% [markdown]
# ## Calibration
#
# The reliability diagram pools each model's answers into equal-mass bins of its MSP, as the
# paper's calibration figure; perfect calibration lies on the diagonal.

# %%
figures.reliability_diagram(analysis.reliability_table(answers));

# %% [markdown]
# ## Accuracy and AUROC across models
#
# The paper found that models with higher accuracy also have MSPs that better predict
# correctness. Where do the models we scored fall on that line (stars)?

# %%
figures.scatter_with_fit(per_model, "accuracy", "auroc_msp", "accuracy (%)", "MSP AUROC (%)");

# %% [markdown]
# ## Abstention
#
# Answer only when the MSP reaches a threshold learnt from {glue:text}`k` labelled answers per
# dataset, as in [the chapter on abstention](abstention.ipynb); Base is the score of always answering. Scores in points
# per 100 questions.

# %%
tables.formatted(tables.paper_layout(table, k, decimals=1).rename(index=tables.row_labels(table, k)), decimals=1)

# %% [markdown]
# {glue:text}`abstention` Abstaining on every question scores 0, so a model whose Base is below 0
# gains by abstaining almost always, whether or not its MSP ranks its answers well; a gain that
# comes with little abstention is what shows an MSP worth using.

# %% [markdown]
# ## A second signal: the options' likelihood
#
# The MSP reads the model's confidence off the letter it writes. Benchmark suites such as
# lm-evaluation-harness and HELM score multiple choice another way: the model reads the prompt
# followed by each option's text, and the option whose tokens it finds most likely is its answer.
# The softmax over the options of their summed log-likelihoods (or of those sums divided by the
# option's length in characters, lm-evaluation-harness's `acc_norm`) gives a confidence in that
# answer, recorded with every answer by the `hf` and `vllm` backends. Each signal is
# judged by its own answer: the MSP by whether the letter is right, the option likelihood by
# whether its option is. Small models are near chance when they must write a letter; does reading
# their options do better?
#
# {glue:text}`option_signal`

# %% tags=["hide-input"]
with_options = scored_rows[scored_rows["model"].isin(answers["model"].unique())
                           & scored_rows["dataset"].isin(answers["dataset"].unique())]
comparison = option_signal.signal_comparison(with_options)
means = option_signal.signal_means(comparison)
facts.glue_facts(facts.option_signal_facts(means))
tables.formatted(tables.option_signal_display(means), decimals=1)

# %% [markdown]
# The same per dataset:

# %% tags=["hide-input", "hide-output"]
tables.formatted(tables.option_signal_display(comparison), decimals=1)

# %% [markdown]
# ## Scoring at scale
#
# The paper's 14 models each answered 42,814 prompts (21,407 questions in two phrasings), which took
# its authors three weeks on two GPUs. Three backends give the same answers and cache rows
# (`python -m helpers.score --backend ...`), and an answer made by one is never reused for another:
#
# - `hf` (the default): Hugging Face `transformers`, in the paper's loop or the faster one;
# - `vllm`: vLLM's offline engine, with continuous batching, prefix caching and tensor, pipeline or
#   data parallelism across GPUs (`--tensor-parallel-size`, `--pipeline-parallel-size`,
#   `--data-parallel-size`); it runs in its own environment (`make vllm-env` on a CPU, `pip install
#   vllm` on a GPU machine);
# - `openai`: any OpenAI-compatible chat endpoint (`--base-url`, `--model`, `--api-key-env`),
#   OpenAI's own as the paper scored GPT-3.5 and GPT-4, or a local vLLM, SGLang or llama.cpp server.
#   Its MSP is exp(log-probability) of the answer token and it has no Max Logit, as for the paper's
#   GPT models, unless a vLLM server runs with raw logits and you say so (`--logprobs-are raw_logits`).
#
# `--shard I/N` scores shard I of N of the missing questions, split by their stable ids, so N
# processes (GPUs, machines writing to one shared folder) fill the same cache without overlap; a
# final run without `--shard` scores whatever is still missing. On a SLURM cluster, an array job:
#
# ```bash
# #!/bin/bash
# #SBATCH --array=1-8
# #SBATCH --gres=gpu:1
# #SBATCH --time=12:00:00
# .venv-vllm/bin/python -m helpers.score --backend vllm --model Qwen/Qwen2.5-7B-Instruct \
#     --limit 6000 --shard ${SLURM_ARRAY_TASK_ID}/8 --scores-dir /scratch/$USER/msp-book/data/scores
# ```
#
# then, once the array has finished, the same command without `--shard` (it finds nothing missing,
# or scores what a failed task left) and `make book`.

# %% [markdown]
# ## Exercises

# %% [markdown] tags=["exercise"] answer=["ranks_here"]
# A scored model answered only the first questions of each dataset, the paper's models all of them.
# Compare like with like: restrict every model to the (dataset, question) pairs this run's model
# answered and recompute accuracy and MSP AUROC per model. Join on position only where the
# positions index the same questions: a local HellaSwag run reads HellaSwag's validation split,
# whose positions are other questions than the paper's train split. Does the ranking change? Store
# each model's MSP AUROC rank there (1 = best), by model key, in a Series `ranks_here`.

# %% tags=["solution", "hide-input"]
# Every model on exactly the questions this run's model answered, on the datasets where its
# positions are the paper's questions; MSP AUROC rank (1 = best) there and on all answers.
print(words.describe_alignment(coverage.question_splits(scored_rows[scored_rows["model"] == name],
                                                       within=answers)))
same = analysis.model_metrics(analysis.cell_table(coverage.on_same_questions(answers, scored_rows, name)))
ranks = per_model.set_index("model")["auroc_msp"].rank(ascending=False)
ranks_here = same.set_index("model")["auroc_msp"].rank(ascending=False)
tables.formatted(same.assign(rank_here=same["model"].map(ranks_here), rank_all=same["model"].map(ranks))[
    ["model", "accuracy", "auroc_msp", "rank_here", "rank_all"]])

# %% [markdown] tags=["exercise"] answer=["residuals"]
# Score a second small model (for instance `make score MODEL=HuggingFaceTB/SmolLM2-360M-Instruct` on
# a machine with internet access) and check where it falls on the accuracy–AUROC line: store each
# scored model's residual (MSP AUROC minus the line's prediction at its accuracy), by model key, in
# a Series `residuals`.

# %% tags=["solution", "hide-input"]
# Where each scored model sits against the paper models' accuracy–MSP AUROC line.
positions = scored_positions(per_model, "accuracy", "auroc_msp")
residuals = positions.set_index("model")["residual"]
tables.formatted(positions[["model", "x_value", "y_value", "predicted", "residual"]],
                 headers={"x_value": "accuracy (%)", "y_value": "MSP AUROC (%)", "predicted": "MSP AUROC on the line"})
