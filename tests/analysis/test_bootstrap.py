"""helpers.analysis.bootstrap: the vectorised bootstrap against a plain loop over materialised
resamples (rng.choice + claims / sklearn), pairing of the draws, intervals, the cache key and the
cache file; then the real data (the paper's r = 0.8313 and 0.9094 as point estimates)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers.analysis.correlations import correlation_table
from helpers.analysis import cells as cell_tables
from helpers.data import vocabulary
from helpers.analysis import bootstrap as bs
from helpers.data import analysis_cache
from helpers.data.schema import conform

OPEN = ["Falcon-7b", "Llama-7b", "Mistral", "Yi-6b", "Llama3-70b"]
API = ["gpt-4-turbo"]


def synthetic(n_questions=None, seed=7, models=OPEN + API) -> pd.DataFrame:
    """A small tidy table of paper-model keys: MSP rounded to 2 decimals (ties), a share of
    MSP == 1.0 (most for Llama3-70b), unparseable answers (wrong, confidence 0), GPT without Max Logit."""
    n_questions = n_questions or {"arc": 30, "mmlu": 24}
    rng = np.random.default_rng(seed)
    parts = []
    for m, model in enumerate(models):
        ability = 0.3 + 0.1 * m
        for dataset, n in n_questions.items():
            for phrasing in ("first", "second"):
                correct = rng.random(n) < ability
                msp = np.clip(0.35 + 0.3 * correct + rng.normal(0, 0.2, n), 0.05, 1.0).round(2)
                ones = rng.random(n) < (0.4 if model == "Llama3-70b" else 0.1)
                msp[ones] = 1.0
                grade = np.where(correct, "correct", "wrong").astype(object)
                unparseable = (~correct) & (rng.random(n) < 0.1)
                grade[unparseable] = "unparseable"
                msp[unparseable] = 0.0
                logit = (10 + 8 * msp + rng.normal(0, 1, n)).round(1)
                logit[unparseable] = 0.0
                parts.append(pd.DataFrame({
                    "source": "published", "model": model, "dataset": dataset, "phrasing": phrasing,
                    "shots": 0, "qid": np.arange(n) * 3 + 1, "grade": grade, "correct": correct,
                    "msp": msp, "max_logit": np.nan if model in API else logit}))
    return conform(pd.concat(parts, ignore_index=True))


def loop_bootstrap(answers: pd.DataFrame, n_resamples: int, seed: int):
    """The plain way: materialise each resample (rng.choice of question positions per dataset, in
    the table's dataset order), then the claims functions (sklearn AUROC, metrics calibration)."""
    rng = np.random.default_rng(seed)
    datasets = vocabulary.dataset_order(answers["dataset"].astype(str).unique())
    qids = {d: np.unique(answers.loc[answers["dataset"] == d, "qid"]) for d in datasets}
    cells, models, correlations = [], [], []
    for b in range(n_resamples):
        parts = []
        for d in datasets:
            drawn = qids[d][rng.choice(len(qids[d]), len(qids[d]))]
            rows = answers[answers["dataset"] == d]
            copies = pd.DataFrame({"qid": drawn, "copy": np.arange(len(drawn))})
            parts.append(copies.merge(rows, on="qid").assign(qid=lambda t: t["copy"]).drop(columns="copy"))
        resampled = conform(pd.concat(parts, ignore_index=True))
        cell = cell_tables.cell_table(resampled)
        summary = cell_tables.model_summary(resampled, cell)
        summary["overconfidence"] = summary["mean_msp"] - summary["frac_correct"]
        cells.append(cell.assign(resample=b))
        models.append(summary.assign(resample=b))
        correlations.append(correlation_table(summary, bs.PAIRS).assign(resample=b))
    return (pd.concat(cells, ignore_index=True), pd.concat(models, ignore_index=True),
            pd.concat(correlations, ignore_index=True))


@pytest.fixture(scope="module")
def small():
    return synthetic()


@pytest.fixture(scope="module")
def small_boot(small):
    return bs.question_bootstrap(small, n_resamples=12, seed=11, chunk=5, workers=2)


@pytest.fixture(scope="module")
def small_loop(small):
    return loop_bootstrap(small, 12, 11)


# --- the draw -----------------------------------------------------------------------------------

def test_question_draws_are_rng_choice_per_resample_and_dataset():
    draws = list(bs.question_draws({"arc": 5, "mmlu": 3}, n_resamples=2, seed=4))
    rng = np.random.default_rng(4)
    expected = [{"arc": rng.choice(5, 5), "mmlu": rng.choice(3, 3)} for _ in range(2)]
    for got, want in zip(draws, expected):
        assert list(got) == ["arc", "mmlu"]
        for d in want:
            np.testing.assert_array_equal(got[d], want[d])


def test_question_counts_are_multiplicities_of_the_draws():
    counts = bs.question_counts({"arc": 5, "mmlu": 3}, n_resamples=4, seed=4)
    draws = list(bs.question_draws({"arc": 5, "mmlu": 3}, n_resamples=4, seed=4))
    assert counts["arc"].shape == (4, 5) and (counts["arc"].sum(axis=1) == 5).all()
    for b, draw in enumerate(draws):
        np.testing.assert_array_equal(counts["mmlu"][b], np.bincount(draw["mmlu"], minlength=3))


def test_question_ids_are_sorted_per_dataset_in_paper_order(small):
    qids = bs.question_ids(small)
    assert list(qids) == ["arc", "mmlu"]
    np.testing.assert_array_equal(qids["mmlu"], np.arange(24) * 3 + 1)


# --- exactness against the loop -------------------------------------------------------------------

def test_cell_replicates_equal_the_loop(small_boot, small_loop):
    loop_cells = small_loop[0]
    got = small_boot.cell_replicates.merge(loop_cells, on=["resample", *bs.CELL], suffixes=("", "_loop"))
    assert len(got) == len(small_boot.cell_replicates) == 12 * len(small_boot.cell_point)
    np.testing.assert_allclose(got["accuracy"], got["accuracy_loop"], rtol=1e-12)
    np.testing.assert_allclose(got["auroc"], got["auroc_loop"], rtol=1e-12, equal_nan=True)


def test_auroc_replicate_equals_sklearn_on_the_materialised_resample(small, small_boot):
    # resample 0 of one cell by hand: rng.choice, repeat the drawn answers, roc_auc_score
    rng = np.random.default_rng(11)
    arc = rng.choice(30, 30)
    cell = small[(small["model"] == "Mistral") & (small["dataset"] == "arc") & (small["phrasing"] == "second")]
    cell = cell.set_index("qid").loc[np.unique(small.loc[small["dataset"] == "arc", "qid"])[arc]]
    want = 100 * roc_auc_score(cell["correct"], cell["max_logit"])
    rep = small_boot.cell_replicates
    got = rep[(rep["resample"] == 0) & (rep["model"] == "Mistral") & (rep["dataset"] == "arc")
              & (rep["phrasing"] == "second") & (rep["signal"] == "max_logit")]["auroc"].item()
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("statistic", bs.MODEL_STATISTICS)
def test_model_replicates_equal_the_loop(small_boot, small_loop, statistic):
    loop_models = small_loop[1]
    got = small_boot.model_replicates.merge(loop_models, on=["resample", "model"], suffixes=("", "_loop"))
    assert len(got) == 12 * 6
    # overconfidence: claims averages the float32 MSPs in float32 (about 1e-7 off)
    atol = 1e-6 if statistic == "overconfidence" else 1e-12
    np.testing.assert_allclose(got[statistic], got[f"{statistic}_loop"], rtol=1e-10, atol=atol, equal_nan=True)


def test_correlation_replicates_equal_the_loop(small_boot, small_loop):
    loop_corr = small_loop[2]
    got = small_boot.correlation_replicates.merge(loop_corr, on=["resample", "x", "y"], suffixes=("", "_loop"))
    assert len(got) == 12 * len(bs.PAIRS)
    assert (got["n"] == got["n_loop"]).all()
    np.testing.assert_allclose(got["pearson_r"], got["pearson_r_loop"], rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got["spearman_rho"], got["spearman_rho_loop"], rtol=1e-9, equal_nan=True)


def test_point_estimates_equal_the_claims_tables(small, small_boot):
    summary = cell_tables.model_summary(small).set_index("model")
    point = small_boot.model_point.set_index("model").loc[summary.index]
    for statistic in bs.CALIBRATION_VARIANTS + ("accuracy", "auroc_msp", "auroc_max_logit"):
        np.testing.assert_allclose(point[statistic], summary[statistic], rtol=1e-12, equal_nan=True)
    table = correlation_table(summary.reset_index(), bs.PAIRS)
    np.testing.assert_allclose(small_boot.correlation_point["pearson_r"], table["pearson_r"], rtol=1e-12)
    np.testing.assert_allclose(small_boot.correlation_point["spearman_rho"], table["spearman_rho"], rtol=1e-12)


def test_chunk_and_workers_do_not_change_the_result(small, small_boot):
    other = bs.question_bootstrap(small, n_resamples=12, seed=11, chunk=12, workers=1)
    pd.testing.assert_frame_equal(other.model_replicates, small_boot.model_replicates)
    pd.testing.assert_frame_equal(other.correlation_replicates, small_boot.correlation_replicates)


def test_the_seed_changes_the_draw(small, small_boot):
    other = bs.question_bootstrap(small, n_resamples=12, seed=12, chunk=5)
    assert not np.allclose(other.model_replicates["accuracy"], small_boot.model_replicates["accuracy"])


def test_partial_coverage_cells_use_only_their_questions(small):
    # a model answering only part of arc: its cells hold its questions, weighted by the same draw
    part = small[(small["model"] == "Mistral") & (small["qid"] < 40)].assign(model="Own-model")
    table = conform(pd.concat([small, part], ignore_index=True))
    boot = bs.question_bootstrap(table, n_resamples=6, seed=3)
    loop = loop_bootstrap(table, 6, 3)[0]
    got = boot.cell_replicates.merge(loop, on=["resample", *bs.CELL], suffixes=("", "_loop"))
    own = got[got["model"] == "Own-model"]
    assert len(own) == 6 * 8   # 13 questions of arc and 13 of mmlu, 2 phrasings, 2 signals
    np.testing.assert_allclose(own["accuracy"], own["accuracy_loop"], rtol=1e-12)
    np.testing.assert_allclose(own["auroc"], own["auroc_loop"], rtol=1e-12, equal_nan=True)
    # scored models never enter the correlations
    without = correlation_table(cell_tables.model_summary(small), bs.PAIRS)
    np.testing.assert_array_equal(boot.correlation_point["n"], without["n"])
    np.testing.assert_allclose(boot.correlation_point["pearson_r"], without["pearson_r"], rtol=1e-12)


# --- pairing ------------------------------------------------------------------------------------

def test_every_cell_of_a_resample_uses_the_same_question_counts(small, small_boot):
    # accuracy of every cell in resample b = count-weighted accuracy with question_counts' row b
    counts = bs.question_counts({"arc": 30, "mmlu": 24}, n_resamples=12, seed=11)
    qids = bs.question_ids(small)
    rep = small_boot.cell_replicates
    msp = rep[rep["signal"] == "msp"]
    for row in msp.itertuples():
        cell = small[(small["model"] == row.model) & (small["dataset"] == row.dataset)
                     & (small["phrasing"] == row.phrasing)]
        w = counts[row.dataset][row.resample][np.searchsorted(qids[row.dataset], cell["qid"])]
        assert row.accuracy == pytest.approx(100 * (w * cell["correct"]).sum() / w.sum(), rel=1e-12)


def test_a_copy_of_a_model_moves_with_it(small):
    copy = small[small["model"] == "Mistral"].assign(model="Llama-13b")
    boot = bs.question_bootstrap(conform(pd.concat([small, copy], ignore_index=True)), n_resamples=10, seed=5)
    wide = boot.model_replicates.set_index(["resample", "model"])
    for statistic in bs.MODEL_STATISTICS:
        a = wide.xs("Mistral", level="model")[statistic]
        b = wide.xs("Llama-13b", level="model")[statistic]
        np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    # and the paired difference of the two is exactly zero in every resample
    diff = bs.replicate_matrix(boot, "accuracy")
    assert (diff["Mistral"] - diff["Llama-13b"]).abs().max() == 0


# --- intervals ----------------------------------------------------------------------------------

def test_percentile_interval_by_hand():
    assert bs.percentile_interval(np.arange(101.0)) == pytest.approx((2.5, 97.5), rel=1e-12)
    assert bs.percentile_interval([np.nan, 1.0, 3.0], confidence=0.5) == pytest.approx((1.5, 2.5), rel=1e-12)
    lo, hi = bs.percentile_interval([np.nan])
    assert np.isnan(lo) and np.isnan(hi)
    with pytest.raises(ValueError, match="confidence"):
        bs.percentile_interval([1.0], confidence=1.0)


def test_model_intervals_are_percentiles_of_the_replicates(small_boot):
    table = bs.model_intervals(small_boot).set_index(["model", "statistic"])
    values = small_boot.model_replicates.loc[small_boot.model_replicates["model"] == "Yi-6b", "auroc_msp"]
    row = table.loc[("Yi-6b", "auroc_msp")]
    assert (row["lo"], row["hi"]) == tuple(np.percentile(values, [2.5, 97.5]))
    assert row["bias"] == pytest.approx(values.mean() - row["estimate"])
    assert row["n_valid"] == 12
    assert table.loc[("gpt-4-turbo", "auroc_max_logit"), "n_valid"] == 0


def test_correlation_intervals_rows(small_boot):
    table = bs.correlation_intervals(small_boot)
    assert len(table) == 2 * len(bs.PAIRS)
    assert set(table["method"]) == {"pearson", "spearman"}
    first = table.iloc[0]
    values = small_boot.correlation_replicates.query("x == 'accuracy' and y == 'auroc_msp'")["pearson_r"]
    assert (first["lo"], first["hi"]) == tuple(np.percentile(values, [2.5, 97.5]))


def test_paired_difference_intervals_uses_the_same_resamples(small_boot):
    table = bs.paired_difference_intervals(small_boot).set_index("model")
    assert "gpt-4-turbo" not in table.index
    diff = bs.replicate_matrix(small_boot, "auroc_msp")["Yi-6b"] - bs.replicate_matrix(small_boot,
                                                                                      "auroc_max_logit")["Yi-6b"]
    assert (table.at["Yi-6b", "lo"], table.at["Yi-6b", "hi"]) == tuple(np.percentile(diff, [2.5, 97.5]))
    assert table.at["Yi-6b", "share_positive"] == (diff > 0).mean()


def test_signal_difference_replicates_by_hand(small_boot):
    diff = bs.signal_difference_replicates(small_boot)
    rep = small_boot.cell_replicates
    one = rep[(rep["resample"] == 3) & (rep["model"] != "gpt-4-turbo")]
    wide = one.pivot(index=["model", "dataset", "phrasing"], columns="signal", values="auroc")
    assert diff.loc[3] == pytest.approx((wide["msp"] - wide["max_logit"]).mean(), rel=1e-12)
    point = small_boot.cell_point
    wide = point[point["model"] != "gpt-4-turbo"].pivot(index=["model", "dataset", "phrasing"],
                                                        columns="signal", values="auroc")
    assert diff.loc[-1] == pytest.approx((wide["msp"] - wide["max_logit"]).mean(), rel=1e-12)
    assert len(diff) == 13


def test_row_correlations_match_scipy_and_handle_degenerate_rows():
    x = np.array([[1.0, 2, 3, 4], [1, 1, 1, 1], [1, 2, np.nan, 4]])
    y = np.array([[2.0, 1, 4, 3], [1, 2, 3, 4], [3, 1, 2, 5]])
    n, r, rho = bs.row_correlations(x, y)
    assert list(n) == [4, 4, 3]
    assert r[0] == pytest.approx(0.6) and rho[0] == pytest.approx(0.6)
    assert np.isnan(r[1]) and np.isnan(rho[1])   # constant x
    assert r[2] == pytest.approx(np.corrcoef([1, 2, 4], [3, 1, 5])[0, 1])


# --- cache key and cache file ---------------------------------------------------------------------

def test_bootstrap_key_depends_on_data_and_settings_not_on_row_order(small):
    key = bs.bootstrap_key(small, 100, 1)
    assert key == bs.bootstrap_key(small.sample(frac=1, random_state=0), 100, 1)
    assert key != bs.bootstrap_key(small, 101, 1)
    assert key != bs.bootstrap_key(small, 100, 2)
    changed = small.copy()
    changed.loc[0, "msp"] = np.float32(0.5) if changed.loc[0, "msp"] != 0.5 else np.float32(0.25)
    assert key != bs.bootstrap_key(changed, 100, 1)
    assert len(key) == 64 and int(key, 16) >= 0


def test_frames_round_trip_through_the_cache(small_boot, tmp_path):
    key = "ab" * 32
    path = analysis_cache.write_frames(tmp_path / "cache", key, bs.bootstrap_frames(small_boot))
    assert path.name == f"{key}.zip"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.name]   # no temporary file left
    back = bs.bootstrap_from_frames(analysis_cache.read_frames(tmp_path / "cache", key))
    assert (back.n_resamples, back.seed) == (12, 11)
    for name in ("model_replicates", "correlation_replicates", "cell_point"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(small_boot, name), check_dtype=False)


def test_cache_computes_once_and_misses_are_none(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"table": pd.DataFrame({"a": [1, 2]})}

    key = "0123456789abcdef"
    assert analysis_cache.read_frames(tmp_path / "absent", key) is None
    first = analysis_cache.cached_frames(tmp_path, key, compute)
    second = analysis_cache.cached_frames(tmp_path, key, compute)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first["table"], second["table"])


def test_cache_refuses_symbolic_links_and_bad_keys(tmp_path):
    real = tmp_path / "real"
    analysis_cache.write_frames(real, "f" * 16, {"t": pd.DataFrame({"a": [1]})})
    link = tmp_path / "link"
    os.symlink(real, link)
    with pytest.raises(ValueError, match="symbolic link"):
        analysis_cache.read_frames(link, "f" * 16)
    with pytest.raises(ValueError, match="symbolic link"):
        analysis_cache.write_frames(link, "f" * 16, {"t": pd.DataFrame({"a": [1]})})
    os.symlink(real / f"{'f' * 16}.zip", real / f"{'e' * 16}.zip")
    with pytest.raises(ValueError, match="symbolic link"):
        analysis_cache.read_frames(real, "e" * 16)
    with pytest.raises(ValueError, match="hex"):
        analysis_cache.read_frames(real, "../../etc")
    with pytest.raises(ValueError, match="frame name"):
        analysis_cache.write_frames(real, "f" * 16, {"a/b": pd.DataFrame()})


def test_cache_entry_of_another_key_is_refused_and_garbage_is_a_miss(tmp_path):
    analysis_cache.write_frames(tmp_path, "a" * 16, {"t": pd.DataFrame({"a": [1]})})
    os.replace(tmp_path / f"{'a' * 16}.zip", tmp_path / f"{'b' * 16}.zip")
    with pytest.raises(ValueError, match="holds key"):
        analysis_cache.read_frames(tmp_path, "b" * 16)
    (tmp_path / f"{'c' * 16}.zip").write_bytes(b"not a zip")
    assert analysis_cache.read_frames(tmp_path, "c" * 16) is None


# --- the real data ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_boot(published):
    return bs.question_bootstrap(published, n_resamples=100)


def test_real_point_estimates_are_the_papers(real_boot, published):
    point = real_boot.correlation_point.set_index(["x", "y"])
    assert round(point.at[("accuracy", "auroc_msp"), "pearson_r"], 4) == 0.8313
    assert point.at[("accuracy", "auroc_max_logit"), "pearson_r"] == pytest.approx(0.9094, abs=1e-4)
    assert round(point.at[("accuracy", "calibration_error_uniform_cells"), "pearson_r"], 3) == -0.209
    assert list(point["n"]) == [14, 12, 14, 12, 12, 12, 12]
    summary = cell_tables.model_summary(published).set_index("model")
    models = real_boot.model_point.set_index("model").loc[summary.index]
    for statistic in ("accuracy", "auroc_msp", "auroc_max_logit", *bs.CALIBRATION_VARIANTS):
        np.testing.assert_allclose(models[statistic], summary[statistic], rtol=1e-12, equal_nan=True)


def test_real_intervals_contain_the_estimates_and_are_narrow(real_boot):
    corr = bs.correlation_intervals(real_boot).set_index(["x", "y", "method"])
    msp = corr.loc[("accuracy", "auroc_msp", "pearson")]
    logit = corr.loc[("accuracy", "auroc_max_logit", "pearson")]
    # resampling questions moves r by about ±0.015 (±0.02 for Max Logit)
    assert 0.80 < msp["lo"] < 0.8313 < msp["hi"] < 0.86
    assert 0.87 < logit["lo"] < 0.9094 < logit["hi"] < 0.94
    models = bs.model_intervals(real_boot, statistics=("accuracy", "auroc_msp", "auroc_max_logit"))
    models = models[models["n_valid"] > 0]
    assert len(models) == 14 + 14 + 12
    assert ((models["lo"] <= models["estimate"]) & (models["estimate"] <= models["hi"])).all()
    accuracy = models[models["statistic"] == "accuracy"]
    assert (accuracy["hi"] - accuracy["lo"]).between(0.8, 2.0).all()   # accuracy ± 0.4 to 0.9 points


def test_real_resamples_are_paired_across_models(real_boot, published):
    # in resample b every cell's accuracy is the accuracy over the same drawn questions
    qids = bs.question_ids(published)
    counts = bs.question_counts({d: len(q) for d, q in qids.items()}, n_resamples=3, seed=bs.SEED)
    rep = real_boot.cell_replicates
    rep = rep[(rep["resample"] < 3) & (rep["dataset"] == "truthfulqa") & (rep["signal"] == "msp")]
    assert len(rep) == 3 * 14 * 2
    for row in rep.itertuples():
        cell = published[(published["model"] == row.model) & (published["dataset"] == "truthfulqa")
                         & (published["phrasing"] == row.phrasing)]
        w = counts["truthfulqa"][row.resample][np.searchsorted(qids["truthfulqa"], cell["qid"])]
        assert row.accuracy == pytest.approx(100 * (w * cell["correct"].to_numpy()).sum() / w.sum(), rel=1e-12)


def test_real_msp_minus_max_logit_is_paired(real_boot):
    diff = bs.signal_difference_replicates(real_boot)
    assert diff.loc[-1] == pytest.approx(2.1863, abs=1e-4)   # mean over the 120 paired cells
    lo, hi = bs.percentile_interval(diff.drop(index=-1))
    assert 1.8 < lo < 2.1863 < hi < 2.6
