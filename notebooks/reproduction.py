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
# # Does it reproduce?
#
# Before testing the paper's claims, this chapter checks that the numbers behind them come out of
# the authors' per-question results exactly as printed. The authors' repository holds, next to
# those results, the tables of the paper as their code wrote them (LaTeX files): the AUROC tables,
# overall and per dataset, the calibration table, the dataset table, and the scores and shares of
# abstentions of the abstention experiment. Every number in them is read back by a parser and set
# next to ours, computed from the per-question files with the definitions of the authors' code and
# rounded the way their code rounded it (numpy's rounding, `-0.0` printed as `0.0`). No printed
# number is typed into this book: the parser is the only source of the paper's digits.

# %% tags=["parameters"]
models = None  # model keys whose rows to compare (None: all 14)
datasets = None  # dataset keys whose per-dataset tables to compare (None: all five)
published_dir = None  # folder with the authors' results and figs/ (None: MSP_PUBLISHED_DIR or data/published)

# %% tags=["hide-input"]
from helpers.analysis import reproduction
from helpers.data.parameters import check_parameters
from helpers.data.printed import figs_dir, printed_numbers
from helpers.data.published import load_published
from helpers.report import facts, figures, tables

check_parameters(models=models, datasets=datasets, published_dir=published_dir)

printed = printed_numbers(figs_dir(published_dir))
if models is not None:
    printed = printed[printed["model"].isin([models] if isinstance(models, str) else models)]
if datasets is not None:
    printed = printed[printed["dataset"].isna() | printed["dataset"].isin(datasets)]
answers = load_published(published_dir, shots=0)
comparison = reproduction.printed_reproduction(printed, answers)
shortcuts = reproduction.printed_reproduction(printed, reproduction.with_shortcuts(answers))
facts.glue_facts(facts.reproduction_facts(comparison, shortcuts))

# %% [markdown]
# ## Every table, number by number
#
# Over {glue:text}`n_tables` printed tables, {glue:text}`verdict`: {glue:text}`n_matched` of
# {glue:text}`n_numbers` numbers carry the same digits, and {glue:text}`n_missing_matched` of the
# {glue:text}`n_missing` cells printed `--` (no value: the OpenAI models have no Max Logit) have
# no value of ours either. {glue:text}`n_artefacts` printed cells are not computed numbers and are
# left out of the comparison: the plain copy of the overall AUROC table prints a placeholder count
# `2/2` for every model (the copy with the figure holds the real counts out of 10), the per-dataset
# AUROC tables print a count for the OpenAI models' missing Max Logit, and the tables of
# abstentions print a literal 0 for Base, which never abstains.

# %%
tables.reproduction_display(reproduction.match_totals(comparison))

# %% [markdown]
# Each printed number against our unrounded value, by kind of table (green: the same digits;
# orange: different ones). Every point lies on the diagonal to within the printed rounding.

# %%
figures.printed_against_ours(comparison);

# %% [markdown]
# The overall AUROC table, each printed cell next to ours (`printed | ours`, ✓ where the digits
# agree): accuracy, the mean AUROC of each signal over the model's ten cells, and in how many of
# those cells a Mann-Whitney test gives p < 10⁻⁴.

# %%
tables.side_by_side(comparison, "auroc_table_plus_fig")

# %% [markdown]
# Numbers whose digits differ, with the reason (none when the table is empty):

# %%
tables.mismatch_display(reproduction.mismatches(comparison))

# %% [markdown]
# ## Two details that move a digit
#
# Matching to the last digit depends on two choices a re-implementation could easily get wrong.
# The authors' files give each confidence with up to 17 significant digits; stored in single
# precision, distinct MSPs of the OpenAI models become ties, and one answer that lies a few
# hundred-millionths below a learnt threshold crosses it. And the authors graded each signal by
# the file that holds it: the Max Logit cells by the `raw` files, which grade six Falcon 7B
# answers differently from the `norm` files. With both shortcuts,
# {glue:text}`n_shortcut_mismatched` printed numbers change: {glue:text}`shortcut_examples`.

# %%
tables.mismatch_display(reproduction.mismatches(shortcuts))

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. The authors rounded with numpy, which rounds halves to the nearest even digit, while Python's
#    `round` on a float rounds the exact binary value. Does any printed number depend on which of
#    the two is used? (`comparison` has a column `other_rounding`.)
# 2. Which kind of table holds the most numbers, and which the most template artefacts?

# %% tags=["solution", "hide-input"]
# Solution 1: cells where the two roundings disagree, among those compared.
compared = comparison[comparison["compared"]]
print((compared["ours_rounded"] != compared["other_rounding"]).sum(), "of", len(compared),
      "compared cells round differently with Python's round")

# %% tags=["solution", "hide-input"]
# Solution 2: numbers and artefacts per kind of table.
kinds = comparison.assign(artefact=~comparison["compared"]).groupby("kind")
kinds.agg(cells=("printed", "size"), artefacts=("artefact", "sum"))
