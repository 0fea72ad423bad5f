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
# The paper's fourteen models are from early 2024. This chapter puts any other chat model through
# the same test: the same prompts, greedy answers read with the same rules, the MSP and Max Logit
# of the token that carries the answer letter. By default it shows SmolLM2-135M-Instruct, a model
# a hundred times smaller than the smallest model in the paper, which runs on a laptop CPU.
#
# To score another model, run this chapter with other parameters, e.g.
# `make score MODEL=Qwen/Qwen2.5-0.5B-Instruct LIMIT=200`, or use the command line
# `python -m helpers.score --model ID_OR_PATH --limit 200`. Answers are cached per question, so a
# run only scores what is missing, and resumes where it stopped if interrupted. The model appears
# in every other chapter too, next to the paper's models.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)
model = None  # Hugging Face id, model folder or GGUF file (None: SmolLM2-135M-Instruct)
phrasings = None  # prompt phrasings to score (None: both)
limit = 200  # questions per dataset, in the paper's order
mode = "fast"  # "fast" or "faithful" (the paper's generation loop; same answers, slower)
device = "auto"  # "auto", "cpu" or "cuda"
batch_size = 8

# %% tags=["hide-input"]
from myst_nb import glue

from helpers import abstention, claims, plots, scoring
from helpers.answers import load_answers
from helpers.models import display_name

name = scoring.ensure_scored(model, datasets, phrasings, limit, mode=mode, device=device,
                             batch_size=batch_size, scores_dir=scores_dir)
answers = load_answers(published_dir, scores_dir, shots=0,
                       models=None if models is None else sorted({*models, name}), datasets=datasets)
ours = answers[answers["model"] == name]
cells = claims.cell_table(answers)
per_model = claims.model_summary(answers, cells)
row = per_model.set_index("model").loc[name]
glue("name", name, display=False)
glue("n_answers", len(ours), display=False)
glue("n_per_cell", int(ours.groupby(["dataset", "phrasing"], observed=True).size().min()), display=False)
glue("accuracy", float(row["accuracy"]), display=False)
glue("auroc_msp", float(row["auroc_msp"]), display=False)
glue("auroc_max_logit", float(row["auroc_max_logit"]), display=False)
glue("unparseable_pct", 100 * float((ours["grade"] == "unparseable").mean()), display=False)

# %% [markdown]
# ## How it did
#
# {glue:text}`name` answered {glue:text}`n_answers` questions (at least {glue:text}`n_per_cell`
# per dataset and phrasing; the paper's models answered up to 6000). Its accuracy, averaged over
# its cells as in the paper, is {glue:text}`accuracy:.1f`%, with {glue:text}`unparseable_pct:.1f`%
# of answers unparseable. The AUROC of its MSP is {glue:text}`auroc_msp:.1f`% and of its Max Logit
# {glue:text}`auroc_max_logit:.1f`% (50% = no better than chance at telling its right answers from
# its wrong ones). With a few hundred answers per cell these values are far noisier than the
# paper's, and the HellaSwag questions of a local run come from HellaSwag's validation split, not
# the training split the paper used.

# %%
summary = per_model[["model", "accuracy", "auroc_msp", "auroc_max_logit", "calibration_error_paper"]]
summary.assign(model=summary["model"].map(display_name)).set_index("model").round(2)

# %% [markdown]
# ## Correctness prediction
#
# The mean AUROC over each model's cells; the model scored here is in bold.

# %%
plots.auroc_dots(claims.model_metrics(cells));

# %% [markdown]
# ## Calibration
#
# The reliability diagram pools each model's answers into ten quantile bins of its MSP, as the
# paper's calibration figure; perfect calibration lies on the diagonal.

# %%
plots.reliability_diagram(claims.reliability_table(answers));

# %% [markdown]
# ## Accuracy and AUROC across models
#
# The paper found that models with higher accuracy also have MSPs that better predict
# correctness. Where does the new model fall on that line?

# %%
plots.scatter_with_fit(per_model, "accuracy", "auroc_msp", "accuracy (%)", "MSP AUROC (%)");

# %% [markdown]
# ## Abstention
#
# Answer only when the MSP reaches a threshold learnt from 20 labelled answers per dataset; +1 for
# a right answer, −1 for a wrong one, 0 for abstaining (the paper's balanced score). A model
# whose MSP carries no signal gains nothing over always answering (Base).

# %%
gains = abstention.abstention_scores(answers, "msp", k=20, penalty=1)
gains.assign(model=gains["model"].map(display_name)).set_index("model")[
    ["threshold", "base_score", "score", "pct_abstained"]].round(2)

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. The new model answered only the first questions of each dataset, the paper's models all of
#    them. Compare like with like: restrict every model to the (dataset, question) pairs the new
#    model answered and recompute accuracy and MSP AUROC per model. Does the ranking change?
# 2. Score a second small model (for instance `make score MODEL=HuggingFaceTB/SmolLM2-360M-Instruct`
#    on a machine with internet access) and check where it falls on the accuracy–AUROC line.

# %% tags=["solution", "hide-input"]
# Solution 1: the paper's models on exactly the questions the new model answered.
asked = ours[["dataset", "qid"]].drop_duplicates()
same_questions = answers.merge(asked, on=["dataset", "qid"])
claims.model_metrics(claims.cell_table(same_questions))[["model", "accuracy", "auroc_msp"]].round(1)
