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
# # The verdicts at a glance
#
# Each claim of the paper, what the paper states, our verdict with its uncertainty, and the
# evidence in one line. Every entry is computed here from the same functions the claim chapters
# use (with the same bootstrap and repeated splits, read from the cache), so the table stays true
# when the book is re-run on other models or datasets; the chapters show the details.

# %% tags=["parameters"]
models = None  # model keys to include (None: all, including models we scored ourselves)
datasets = None  # dataset keys to include (None: all five)
published_dir = None  # folder with the authors' results (None: MSP_PUBLISHED_DIR or data/published)
scores_dir = None  # folder of our own scores (None: data/scores)
resamples = 1000  # question-bootstrap resamples behind every interval (cached on disk)
k = 20  # training answers per dataset of the abstention runs
seeds = 1000  # random train/test splits of the repeated abstention runs

# %% tags=["hide-input"]
from helpers.analysis import abstention, bootstrap, testing
from helpers.analysis import abstention_repeats as repeats
from helpers.analysis import cells as analysis
from helpers.analysis.scored import chance_level_models
from helpers.data.analysis_cache import frame_store
from helpers.data.answers import load_answers
from helpers.data.locations import analysis_cache_dir
from helpers.data.parameters import check_parameters
from helpers.data.vocabulary import PAPER_MODELS
from helpers.report import facts, figures, tables

check_parameters(models=models, datasets=datasets, published_dir=published_dir, scores_dir=scores_dir,
                 resamples=resamples, k=k, seeds=seeds)

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)
store = frame_store(analysis_cache_dir())
boot = bootstrap.cached_question_bootstrap(answers, resamples, store=store)
model_intervals = bootstrap.model_intervals(boot)
chance_level = chance_level_models(model_intervals)
cells = analysis.cell_table(answers)
per_model = analysis.model_summary(answers, cells)
table = abstention.abstention_table(answers, ks=[k])
bands = repeats.gain_bands(repeats.cached_repeated_split_scores(answers, [k], range(seeds), store), paper=table)

calibration = facts.calibration_interval_facts(testing.calibration_verdicts(boot), testing.calibration_intervals(boot),
                                               model_intervals, resamples, chance_level)
correctness = facts.correctness_facts(analysis.model_metrics(cells), cells)
tests = facts.correctness_test_facts(testing.corrected_cell_pvalues(cells), testing.signal_wilcoxon_test(cells),
                                     testing.signal_difference_interval(boot), testing.signal_t_tests(cells),
                                     testing.gpt_gap_share(cells), model_intervals, resamples, chance_level)
correlation = facts.correlation_facts(per_model, chance_level=chance_level)
uncertainty = facts.correlation_uncertainty_facts(testing.correlation_uncertainty(per_model, boot), model_intervals,
                                                  resamples, chance_level)
abstention_run = facts.abstention_facts(table, k)
repeated = facts.abstention_repeat_facts(bands, repeats.gain_by_base(bands), seeds, seeds)
summary = facts.summary_facts(calibration, correctness, tests, correlation, uncertainty, abstention_run, repeated)
facts.glue_facts(summary)

# %%
tables.formatted(tables.summary_display(summary))

# %% [markdown]
# The first claim at a glance: each model's conventional calibration error (ECE, equal-mass bins)
# with its 95% interval, against the tolerance (dashed).

# %%
figures.interval_dots(model_intervals, {"ece_equal_mass": "ECE equal-mass"}, "calibration error (ECE, equal-mass bins)",
                      reference=analysis.ECE_TOLERANCE);

# %% [markdown]
# In words: the claim that the MSPs are miscalibrated {glue:text}`calibration_verdict`
# ({glue:text}`calibration_evidence`). The claim that they still predict correctness
# {glue:text}`correctness_verdict`, counting a model when every one of its MSP cells is significant
# ({glue:text}`correctness_evidence`). Across models there is {glue:text}`correlations_verdict`
# ({glue:text}`correlations_evidence`). The abstention claim {glue:text}`abstention_verdict`
# ({glue:text}`abstention_evidence`).

# %% [markdown]
# ## Exercises

# %% [markdown] tags=["exercise"] answer=["above_on_truthfulqa"]
# Which verdicts hold on a single dataset? Re-run this chapter with `datasets = ["truthfulqa"]`
# (the parameters cell) and compare the table with the one above. Without re-running: compute the
# calibration verdict by interval on TruthfulQA alone with 200 resamples and store the number of the
# paper's models whose ECE interval lies above the tolerance in `above_on_truthfulqa`.

# %% tags=["solution", "hide-input"]
# The calibration verdict by interval on TruthfulQA alone, 200 resamples.
truthfulqa = answers[answers["dataset"] == "truthfulqa"]
verdicts = testing.calibration_verdicts(bootstrap.question_bootstrap(truthfulqa, 200))
above_on_truthfulqa = int(verdicts[verdicts["model"].isin(PAPER_MODELS)]["above"].sum())
tables.formatted(verdicts[["model", "estimate", "lo", "hi", "above"]], decimals=4,
                 headers={"estimate": "ECE", "lo": "low", "hi": "high", "above": "above the tolerance"})

# %% [markdown] tags=["exercise"] answer=["yi_width_200", "yi_width_all"]
# How many resamples does a stable interval need? Compare the width of Yi 34B's ECE interval from
# the first 200 resamples (`yi_width_200`) with its width from all of them (`yi_width_all`).

# %% tags=["solution", "hide-input"]
# Yi 34B's equal-mass ECE interval from the first 200 resamples against all of them.
ece = bootstrap.replicate_matrix(boot, "ece_equal_mass")
yi_width_200 = yi_width_all = float("nan")
if "Yi-34b" in ece:
    lo_200, hi_200 = bootstrap.percentile_interval(ece["Yi-34b"].iloc[:200])
    lo_all, hi_all = bootstrap.percentile_interval(ece["Yi-34b"])
    yi_width_200, yi_width_all = float(hi_200 - lo_200), float(hi_all - lo_all)
    print(f"200 resamples: [{lo_200:.4f}, {hi_200:.4f}]; all: [{lo_all:.4f}, {hi_all:.4f}]")
