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
# cannot be read as frequencies. That is the paper's second claim {cite}`plaut2024probabilities`. Ranking quality is measured by the
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
resamples = 1000  # question-bootstrap resamples behind every interval (cached on disk)

# %% tags=["hide-input"]
from helpers.analysis import bootstrap, testing
from helpers.analysis import cells as analysis
from helpers.analysis.scored import chance_level_models, coverage
from helpers.data.analysis_cache import frame_store
from helpers.data.answers import load_answers
from helpers.data.locations import analysis_cache_dir
from helpers.data.parameters import check_parameters
from helpers.report import facts, figures, tables

check_parameters(models=models, datasets=datasets, published_dir=published_dir,
                 scores_dir=scores_dir, resamples=resamples)

answers = load_answers(published_dir, scores_dir, shots=0, models=models, datasets=datasets)

# %% [markdown]
# ## Confidence of right and wrong answers
#
# For each model, the cumulative distribution of the MSP over its correct answers (green) and over
# its wrong answers (orange; unparseable answers count as wrong with MSP 0). Where the orange curve
# lies above the green one, wrong answers have lower MSPs: the wider the gap, the better the MSP
# tells the two apart.

# %%
figures.msp_ecdfs(answers);

# %% [markdown]
# ## AUROC per model
#
# The AUROC of each model, averaged over its cells (every dataset × phrasing), for both signals. In
# brackets: in how many of those cells a Mann-Whitney U test rejects "correct and wrong answers
# have the same confidence distribution" at the paper's threshold (the column header gives it). The
# paper uses the two-sided test and this strict threshold without further multiple-comparison
# correction; the AUROC is the U statistic divided by the number of (correct, wrong) pairs, so the
# test and the AUROC measure the same thing.
# Models we scored ourselves are marked "ours"; they are shown for comparison and take no part in
# the verdict, which is about the paper's models.

# %%
cells = analysis.cell_table(answers)
per_model = analysis.model_metrics(cells)
tables.formatted(tables.auroc_display(per_model))

# %% [markdown]
# The same per-model numbers with 95% intervals from a bootstrap over questions
# ({glue:text}`resamples` resamples, the questions of each dataset drawn with replacement, the same
# draw for every model and signal):

# %%
boot = bootstrap.cached_question_bootstrap(answers, resamples, store=frame_store(analysis_cache_dir()))
model_intervals = bootstrap.model_intervals(boot)
chance_level = chance_level_models(model_intervals)
tables.formatted(tables.interval_grid(model_intervals, tables.AUROC_INTERVAL_COLUMNS))

# %%
figures.interval_dots(model_intervals, {"auroc_msp": "MSP", "auroc_max_logit": "Max Logit"},
                      "mean AUROC over the model's cells (%)", reference=50);

# %% [markdown]
# ## Corrected for the number of tests
#
# The paper runs {glue:text}`n_tests` Mann-Whitney tests (every paper model, dataset, phrasing and
# signal) and counts those with a two-sided p below {glue:text}`significance`, without correcting
# for their number. Since the hypothesis is directional (right answers more confident), the
# corrected counts use one-sided p-values, adjusted over all {glue:text}`n_tests` tests with Holm's
# method (the family-wise error rate stays below {glue:text}`alpha:.2f`) and with
# Benjamini-Hochberg's (the expected share of false discoveries stays below it):

# %%
corrected = testing.corrected_cell_pvalues(cells)
tables.formatted(tables.corrected_counts_display(testing.significant_cell_counts(corrected)))

# %% [markdown]
# ## MSP against Max Logit, paired
#
# The paper compares the two signals with an unpaired t-test of all MSP cells against all Max Logit
# cells. The MSP side includes both GPT models, which have no Max Logit and the highest AUROCs. The
# paired comparison uses only the cells where a model has both signals, the same questions on both
# sides: a Wilcoxon signed-rank test of the per-cell differences, and a paired bootstrap interval
# of their mean. The paper's test is kept below, on all cells and without the GPT cells.

# %%
wilcoxon = testing.signal_wilcoxon_test(cells)
difference = testing.signal_difference_interval(boot)
t_tests = testing.signal_t_tests(cells)
gpt_share = testing.gpt_gap_share(cells)
tables.formatted(tables.paired_signal_display(wilcoxon, difference, t_tests))

# %% [markdown]
# Per model, the same paired difference, averaged over the model's cells, with its 95% interval
# and the share of resamples in which the MSP is ahead:

# %%
tables.formatted(tables.paired_difference_display(bootstrap.paired_difference_intervals(boot)))

# %% [markdown]
# ## AUROC per dataset
#
# The same numbers per dataset: the mean over the phrasings and, in brackets, the significant
# cells out of the dataset's cells (one per phrasing). First the MSP, then the Max Logit.

# %%
per_dataset = analysis.model_metrics(cells, by_dataset=True)
tables.formatted(tables.auroc_grid_display(per_dataset, "msp"))

# %%
tables.formatted(tables.auroc_grid_display(per_dataset, "max_logit"))

# %% tags=["hide-input"]
facts.glue_facts(facts.correctness_facts(per_model, cells, coverage(answers)),
                 facts.correctness_test_facts(corrected, wilcoxon, difference, t_tests, gpt_share, model_intervals,
                                              resamples, chance_level))

# %% [markdown]
# ## Verdict
#
# Counting a model as supporting the claim when every one of its MSP cells is significant, the claim
# {glue:text}`verdict` ({glue:text}`n_supported` of the paper's {glue:text}`n_models`:
# {glue:text}`supported_models`); {glue:text}`unsupported`.
#
# A weaker question is whether a model's MSP is better than chance at all. A mean AUROC above 50%
# is not enough for that: with few answers per cell, a mean slightly above 50% can be noise. We
# count a model's MSP as *above chance* when its mean AUROC is above 50% **and** a majority of its
# MSP cells are significantly above 50% (AUROC above 50% with p < {glue:text}`significance`). By
# this rule {glue:text}`n_above_chance` of the {glue:text}`n_models` models are above chance
# ({glue:text}`not_above_chance`), while {glue:text}`n_mean_above` have a mean above 50%. The mean MSP AUROC runs from
# {glue:text}`auroc_min:.1f`% ({glue:text}`auroc_min_model`) to {glue:text}`auroc_max:.1f`%
# ({glue:text}`auroc_max_model`); how this spread relates to the models' accuracy is the subject of
# [the next chapter](correlations.ipynb).
#
# The MSP beats the Max Logit for {glue:text}`n_msp_better` of the {glue:text}`n_logit_models`
# models that have both. Over all the paper models' cells, the mean AUROC is
# {glue:text}`mean_msp:.2f`% for the MSP ({glue:text}`n_msp_cells` cells) against
# {glue:text}`mean_max_logit:.2f`% for the Max Logit ({glue:text}`n_logit_cells` cells); a one-sided
# two-sample t-test, as in the paper, gives p = {glue:text}`t_p:.1e`. The paper reads this as
# evidence that normalising the logits into probabilities improves the ranking.
#
# That test is not paired and not like for like: the GPT models' {glue:text}`n_gpt_cells` MSP cells
# have no Max Logit counterpart, and they make {glue:text}`gpt_share_pct:.0f`% of the gap in means
# ({glue:text}`paper_gap:.2f` points with them, {glue:text}`gap_without_gpt:.2f` without them, where
# the same test gives p = {glue:text}`t_p_without_gpt:.1e`). On the {glue:text}`n_pairs` paired cells
# of the {glue:text}`n_pair_models` models with both signals, the MSP is higher in
# {glue:text}`n_pairs_positive`; the mean difference is {glue:text}`pair_mean:.2f` points (95%
# paired bootstrap interval [{glue:text}`pair_lo:.2f`, {glue:text}`pair_hi:.2f`]) and a one-sided
# Wilcoxon signed-rank test gives p = {glue:text}`wilcoxon_p:.1e`: {glue:text}`paired_verdict`.
#
# Corrected for the {glue:text}`n_tests` tests, {glue:text}`n_sig_holm` cells are significant with
# Holm's correction and {glue:text}`n_sig_bh` with Benjamini-Hochberg's (one-sided, level
# {glue:text}`alpha:.2f`), against {glue:text}`n_sig_paper` by the paper's uncorrected rule; for the
# MSP alone, {glue:text}`n_sig_holm_msp`, {glue:text}`n_sig_bh_msp` and {glue:text}`n_sig_paper_msp`
# of {glue:text}`n_msp_tests`. Counting a model as supporting the claim when every one of its MSP
# cells is significant after Holm's correction, the claim {glue:text}`verdict_holm`
# ({glue:text}`n_supported_holm` of {glue:text}`n_models_tested`; {glue:text}`n_supported_bh` with
# Benjamini-Hochberg's, {glue:text}`n_supported_paper` by the paper's rule).
#
# The paper's test is two-sided although the hypothesis is directional (correct answers should be
# *more* confident). {glue:text}`n_below_chance` of the paper models' {glue:text}`n_cells` cells have
# an AUROC below 50%; switching to the one-sided test changes whether p < {glue:text}`significance`
# in {glue:text}`n_sidedness_differs` of the {glue:text}`n_cells` cells.
#
# :::{container} scored-note
# {glue:text}`scored` {glue:text}`scored_chance`
# :::

# %% [markdown]
# ## Exercises

# %% [markdown] tags=["exercise"] answer=["u_auroc"]
# The AUROC of a cell equals the Mann-Whitney U statistic divided by the number of (correct, wrong)
# pairs. Check it on the first MSP cell of `cells`, using its `mw_u`, `n` and `n_correct` columns:
# store U / pairs, in percent like the `auroc` column, in `u_auroc`.

# %% tags=["solution", "hide-input"]
# U / (n_correct * n_wrong) for the first MSP cell, against its AUROC.
from helpers.data.vocabulary import dataset_name, display_name

cell = cells[cells["signal"] == "msp"].iloc[0]
u_auroc = 100 * cell["mw_u"] / (cell["n_correct"] * (cell["n"] - cell["n_correct"]))
print(f"{display_name(cell['model'])}, {dataset_name(cell['dataset'])}, {cell['phrasing']} phrasing: "
      f"U / pairs = {u_auroc:.6f}, AUROC = {cell['auroc']:.6f}")

# %% [markdown] tags=["exercise"] answer=["hardest_to_predict"]
# Which dataset is hardest to *predict correctness* on, as opposed to hardest to answer? Rank the
# datasets by the mean MSP AUROC over the paper's models in `per_dataset` and store their keys,
# lowest AUROC first, in a list `hardest_to_predict`.

# %% tags=["solution", "hide-input"]
# Mean MSP AUROC per dataset over the paper's models, lowest first.
by_dataset = analysis.split_scored(per_dataset)[0].groupby("dataset", observed=True)["auroc_msp"].mean().sort_values()
hardest_to_predict = [str(d) for d in by_dataset.index]
tables.formatted(by_dataset.rename("mean MSP AUROC (%)"))
