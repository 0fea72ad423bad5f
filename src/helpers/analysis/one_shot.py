"""One example in the prompt: the authors' one-shot results against their zero-shot results.

The one-shot answers (``helpers.published.load_published(dir, shots=1)``, METHODS §8.8) come from the
same pipeline with one solved example before the question (prompt in METHODS §3). Their coverage is
partial: 12 models (no Llama 3); Falcon 7B and 40B answered only the first 500-1000 questions per
dataset and no TruthfulQA; GPT-4's HellaSwag first phrasing lacks questions 1500-1999. Comparisons
are therefore made on the same questions: :func:`paired_answers` joins the two on (model, dataset,
phrasing, qid); every one-shot answer has its zero-shot twin, so the paired one-shot answers are all
the one-shot answers.

**Mis-keyed questions, kept as data.** The authors' ``make_question`` shuffles a dataset's option
list in place, so a question already used earlier in the same process (as the example or as a main
question) is shown with its options reshuffled but graded against its original gold index: roughly
(i − start)/N of the main questions are mis-keyed in one-shot runs (≈9% ARC, 18-27% TruthfulQA, ≈2%
MMLU, <1% HellaSwag, none in WinoGrande, whose options are rebuilt each time; METHODS §8.8). The
published grades and confidences are used as they are; part of the one-shot accuracy drop is this
bug, not the example, and it cannot be undone from the result files (they hold no options).

Units follow ``helpers.claims``: accuracy, AUROC and unparseable share in percent; calibration
errors as fractions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.analysis import abstention, cells, correlations, metrics, significance
from helpers.data import vocabulary
from helpers.analysis import selective
from helpers.data.method import SEED

KEY = ["model", "dataset", "phrasing", "qid"]
SHOTS = (0, 1)
#: the per-model measures compared by :func:`paired_differences`
MEASURES = ("accuracy", "unparseable_pct", "auroc_msp", "auroc_max_logit", "ece_equal_mass",
            "calibration_error_paper")
N_BOOT = 1000


def _sort_models(df: pd.DataFrame, keys: tuple[str, ...] = ("model",)) -> pd.DataFrame:
    """Rows in display order of models (``vocabulary.model_order``), then datasets in the paper's order."""
    rank = {"model": {m: i for i, m in enumerate(vocabulary.model_order(df["model"]))}}
    if "dataset" in keys:
        rank["dataset"] = {d: i for i, d in enumerate(vocabulary.dataset_order(df["dataset"]))}
    order = df.assign(**{f"_{k}": df[k].map(rank[k]) for k in keys})
    order = order.sort_values([f"_{k}" for k in keys], kind="stable")
    return order.drop(columns=[f"_{k}" for k in keys]).reset_index(drop=True)


def paired_answers(zero: pd.DataFrame, one: pd.DataFrame) -> pd.DataFrame:
    """Zero- and one-shot answers to the same questions: inner join on model, dataset, phrasing and
    qid. Columns: model, dataset, phrasing, qid, then grade_0, correct_0, msp_0, max_logit_0 (zero-shot)
    and grade_1, correct_1, msp_1, max_logit_1 (one-shot); rows sorted by the key."""
    columns = ["grade", "correct", "msp", "max_logit"]
    parts = []
    for shots, table in zip(SHOTS, (zero, one)):
        if "shots" in table and (table["shots"] != shots).any():
            raise ValueError(f"the {'zero' if shots == 0 else 'one'}-shot table holds other shots values")
        part = table[KEY + columns].copy()
        for col in ("model", "dataset", "phrasing"):
            part[col] = part[col].astype(str)
        part["grade"] = part["grade"].astype(str)
        parts.append(part.rename(columns={c: f"{c}_{shots}" for c in columns}))
    out = parts[0].merge(parts[1], on=KEY, how="inner", validate="one_to_one")
    return out.sort_values(KEY, kind="stable").reset_index(drop=True)


def shot_answers(paired: pd.DataFrame, shots: int) -> pd.DataFrame:
    """The paired answers of one shots value as a tidy-like table (model, dataset, phrasing, shots,
    qid, grade, correct, msp, max_logit) for ``helpers.claims``."""
    out = paired[KEY].assign(shots=shots)
    for col in ("grade", "correct", "msp", "max_logit"):
        out[col] = paired[f"{col}_{shots}"].to_numpy()
    return out[["model", "dataset", "phrasing", "shots", "qid", "grade", "correct", "msp", "max_logit"]]


# --- count-weighted measures (a bootstrap resample without copying the answers) -------------------

class _Cell:
    """One dataset × phrasing cell of one model and shots value, pre-sorted for weighted AUROC."""

    def __init__(self, conf: np.ndarray, correct: np.ndarray):
        order = np.argsort(conf, kind="stable")
        self.order = order
        _, self.block = np.unique(conf[order], return_inverse=True)
        self.n_blocks = int(self.block.max()) + 1 if conf.size else 0
        self.correct = correct[order]

    def auroc(self, counts: np.ndarray) -> float:
        """AUROC in percent (ties 1/2) of the cell's answers, answer i counted counts[i] times."""
        w = counts[self.order].astype(np.float64)
        right = np.bincount(self.block, weights=w * self.correct, minlength=self.n_blocks)
        wrong = np.bincount(self.block, weights=w * ~self.correct, minlength=self.n_blocks)
        n_right, n_wrong = right.sum(), wrong.sum()
        if n_right == 0 or n_wrong == 0:
            return float("nan")
        below = np.cumsum(wrong) - wrong
        return float(100 * np.sum(right * (below + wrong / 2)) / (n_right * n_wrong))


def _sorted_calibration_error(values: np.ndarray, correct: np.ndarray, counts: np.ndarray, bins: str,
                              n_bins: int, weighted: bool, last_bin_closed: bool) -> float:
    """:func:`weighted_calibration_error` on confidences already sorted ascending."""
    total = int(counts.sum())
    if total == 0:
        return float("nan")
    if bins == "uniform":
        edges = np.linspace(0, 1, n_bins + 1)
    elif bins == "quantile":
        # numpy's "linear" quantile step by step: virtual index (n − 1)·q, neighbours, two-sided lerp
        cum = np.cumsum(counts)
        q = np.linspace(0, 1, n_bins + 1)
        virtual = (total - 1) * q
        low = np.floor(virtual)
        gamma = virtual - low
        low = low.astype(np.int64).clip(0, total - 1)
        high = np.minimum(low + 1, total - 1)
        v_low = values[np.searchsorted(cum, low, side="right")]
        v_high = values[np.searchsorted(cum, high, side="right")]
        diff = v_high - v_low
        edges = np.where(gamma >= 0.5, v_high - diff * (1 - gamma), v_low + diff * gamma)
        edges[0], edges[-1] = 0.0, 1.0
    else:
        raise ValueError(f"bins must be 'quantile' or 'uniform', got {bins!r}")
    idx = np.searchsorted(edges, values, side="right") - 1
    if last_bin_closed:
        idx[values == edges[-1]] = n_bins - 1
    inside = (idx >= 0) & (idx < n_bins)
    w = counts[inside].astype(np.float64)
    n = np.bincount(idx[inside], weights=w, minlength=n_bins)
    conf_sum = np.bincount(idx[inside], weights=w * values[inside], minlength=n_bins)
    right_sum = np.bincount(idx[inside], weights=w * correct[inside], minlength=n_bins)
    full = n > 0
    if not full.any():
        return float("nan")
    gap = np.abs(right_sum[full] / n[full] - conf_sum[full] / n[full])
    return float(np.average(gap, weights=n[full] if weighted else None))


def weighted_calibration_error(conf, correct, counts, bins: metrics.Binning = "quantile", n_bins: int = 10,
                               weighted: bool = False, last_bin_closed: bool = False) -> float:
    """``metrics.calibration_error`` of the answers each repeated counts[i] times, without repeating
    them: the quantile edges are those of ``np.quantile`` (linear interpolation) on the repeated
    sample, found from cumulative counts. Same arguments and result (to rounding) as
    ``metrics.calibration_error(np.repeat(conf, counts), np.repeat(correct, counts), ...)``."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    counts = np.asarray(counts, dtype=np.int64)
    if not conf.shape == correct.shape == counts.shape or conf.ndim != 1:
        raise ValueError("conf, correct and counts must be 1-d and equally long")
    order = np.argsort(conf, kind="stable")
    return _sorted_calibration_error(conf[order], correct[order], counts[order], bins, n_bins, weighted,
                                     last_bin_closed)


class _ModelShots:
    """One model's paired answers, prepared to compute the :data:`MEASURES` of both shots for any counts."""

    def __init__(self, rows: pd.DataFrame):
        self.n = len(rows)
        cell = (rows["dataset"] + "/" + rows["phrasing"]).to_numpy()
        names, self.cell_id = np.unique(cell, return_inverse=True)
        self.cells = [np.flatnonzero(self.cell_id == c) for c in range(len(names))]
        self.data = {}
        for shots in SHOTS:
            correct = rows[f"correct_{shots}"].to_numpy(dtype=bool)
            unparseable = (rows[f"grade_{shots}"] == "unparseable").to_numpy()
            msp = rows[f"msp_{shots}"].to_numpy(dtype=np.float64)
            logit = rows[f"max_logit_{shots}"].to_numpy(dtype=np.float64)
            has_logit = not np.isnan(logit).all()
            order = np.argsort(msp, kind="stable")
            self.data[shots] = {
                "correct": correct, "unparseable": unparseable, "msp_order": order,
                "msp_sorted": msp[order], "correct_sorted": correct[order],
                "msp_cells": [_Cell(msp[i], correct[i]) for i in self.cells],
                "logit_cells": [_Cell(logit[i], correct[i]) for i in self.cells] if has_logit else None,
            }

    def measures(self, counts: np.ndarray) -> dict[int, dict[str, float]]:
        out = {}
        w = counts.astype(np.float64)
        n_cell = np.bincount(self.cell_id, weights=w, minlength=len(self.cells))
        for shots, d in self.data.items():
            right_cell = np.bincount(self.cell_id, weights=w * d["correct"], minlength=len(self.cells))
            with np.errstate(invalid="ignore", divide="ignore"):
                acc = 100 * right_cell / n_cell
            sorted_counts = counts[d["msp_order"]]
            out[shots] = {
                "accuracy": float(np.nanmean(acc)),
                "unparseable_pct": float(100 * np.average(d["unparseable"], weights=w)),
                "auroc_msp": float(np.nanmean([c.auroc(counts[i]) for c, i in zip(d["msp_cells"], self.cells)])),
                "auroc_max_logit": float("nan") if d["logit_cells"] is None else
                float(np.nanmean([c.auroc(counts[i]) for c, i in zip(d["logit_cells"], self.cells)])),
                "ece_equal_mass": _sorted_calibration_error(d["msp_sorted"], d["correct_sorted"], sorted_counts,
                                                            "quantile", 10, True, True),
                "calibration_error_paper": _sorted_calibration_error(d["msp_sorted"], d["correct_sorted"],
                                                                     sorted_counts, "quantile", 10, False, False),
            }
        return out


def paired_measures(paired: pd.DataFrame) -> pd.DataFrame:
    """Per model and shots value on the paired answers: n_answers, n_questions and the
    :data:`MEASURES`: accuracy and auroc_msp / auroc_max_logit = mean over the model's dataset ×
    phrasing cells (percent, as the paper's tables, METHODS §8.1-8.2; NaN without Max Logit),
    unparseable_pct (percent of all its answers), ece_equal_mass (conventional ECE, equal-mass
    weighted, every answer counted) and calibration_error_paper (the paper's table recipe, §8.6),
    both over the model's pooled answers. Columns: model, shots, n_answers, n_questions, measures."""
    rows = []
    for model, group in paired.groupby("model", sort=False):
        prepared = _ModelShots(group)
        values = prepared.measures(np.ones(len(group), dtype=np.int64))
        n_questions = group[["dataset", "qid"]].drop_duplicates().shape[0]
        for shots in SHOTS:
            rows.append({"model": model, "shots": shots, "n_answers": len(group), "n_questions": n_questions,
                         **values[shots]})
    return _sort_models(pd.DataFrame(rows))


def paired_differences(paired: pd.DataFrame, n_boot: int = N_BOOT, seed: int = SEED,
                       level: float = 0.95) -> pd.DataFrame:
    """One-shot minus zero-shot per model and measure on the same questions, with a paired bootstrap.

    Per model, its questions are resampled with replacement within each dataset
    (``selective.QuestionResampler`` on its rows; both phrasings of a question together) and the same
    draw is used for the zero- and the one-shot answers; models are drawn one after the other from
    ``numpy.random.default_rng(seed)`` in display order. Columns: model, measure, zero, one,
    difference (one − zero), low, high (percentile interval of the difference at ``level``), n_boot.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for model in vocabulary.model_order(paired["model"].unique()):
        group = paired[paired["model"] == model]
        prepared = _ModelShots(group)
        resampler = selective.QuestionResampler(group)
        point = prepared.measures(np.ones(len(group), dtype=np.int64))
        draws = np.full((n_boot, len(MEASURES)), np.nan)
        for b in range(n_boot):
            values = prepared.measures(resampler.draw(rng))
            draws[b] = [values[1][m] - values[0][m] for m in MEASURES]
        lo = hi = np.full(len(MEASURES), np.nan)
        if n_boot:
            present = ~np.isnan(draws).all(axis=0)  # Max Logit is absent for API models
            lo, hi = lo.copy(), hi.copy()
            lo[present], hi[present] = np.nanquantile(draws[:, present], [(1 - level) / 2, (1 + level) / 2], axis=0)
        for j, measure in enumerate(MEASURES):
            zero, one = point[0][measure], point[1][measure]
            rows.append({"model": model, "measure": measure, "zero": zero, "one": one, "difference": one - zero,
                         "low": float(lo[j]), "high": float(hi[j]), "n_boot": n_boot})
    return pd.DataFrame(rows)


# --- the paper's claims with one example ------------------------------------------------------------

def claims_by_shots(paired: pd.DataFrame, tolerance: float = cells.ECE_TOLERANCE,
                    k: abstention.K = 20) -> pd.DataFrame:
    """The paper's claims on the paired answers, one row per shots value (0, 1), over the paper's
    models present (scored models left out):

    n_models; accuracy vs MSP AUROC across models (r_msp, p_msp, n_msp: Pearson, ``linregress``, as
    METHODS §8.4; each model's accuracy and AUROC are means over the cells it has) and vs Max Logit
    AUROC (r_max_logit, p_max_logit, n_max_logit); n_miscalibrated (conventional ECE > tolerance,
    ``significance.miscalibrated_models``), ece_min / ece_max, paper_error_min / paper_error_max (the
    paper's calibration-table recipe); n_cells_msp and n_sig_above_msp (cells with Mann-Whitney
    p < 1e-4 and AUROC > 50%), n_above_chance_msp / n_above_chance_max_logit
    (``significance.above_chance``); n_msp_better (of n_both, models whose mean MSP AUROC beats Max Logit);
    abstention_claim (``abstention.claim_holds`` for k labelled answers per dataset, MSP).
    """
    out = []
    for shots in SHOTS:
        answers = cells.split_scored(shot_answers(paired, shots))[0]
        cell_table = cells.cell_table(answers)
        models = cells.model_metrics(cell_table)
        calibration = cells.calibration_by_model(answers)
        corr = correlations.correlation_table(models, correlations.ACCURACY_PAIRS[:2]).set_index("y")
        msp_cells = cell_table[cell_table["signal"] == "msp"]
        n_both, n_better = significance.msp_beats_max_logit(models)
        table = abstention.abstention_table(answers, ks=(k,))
        out.append({
            "shots": shots, "n_models": len(models),
            "r_msp": corr.loc["auroc_msp", "pearson_r"], "p_msp": corr.loc["auroc_msp", "pearson_p"],
            "n_msp": int(corr.loc["auroc_msp", "n"]),
            "r_max_logit": corr.loc["auroc_max_logit", "pearson_r"],
            "p_max_logit": corr.loc["auroc_max_logit", "pearson_p"],
            "n_max_logit": int(corr.loc["auroc_max_logit", "n"]),
            "n_miscalibrated": len(significance.miscalibrated_models(calibration, tolerance)),
            "ece_min": float(calibration["ece_equal_mass"].min()), "ece_max": float(calibration["ece_equal_mass"].max()),
            "paper_error_min": float(calibration["calibration_error_paper"].min()),
            "paper_error_max": float(calibration["calibration_error_paper"].max()),
            "n_cells_msp": len(msp_cells),
            "n_sig_above_msp": int(((msp_cells["mw_p_two_sided"] < cells.SIGNIFICANCE)
                                    & (msp_cells["auroc"] > cells.CHANCE)).sum()),
            "n_above_chance_msp": int(significance.above_chance(models, "msp").sum()),
            "n_above_chance_max_logit": int(significance.above_chance(models, "max_logit").sum()),
            "n_both": n_both, "n_msp_better": n_better,
            "abstention_claim": abstention.claim_holds(table, k, "msp"),
        })
    return pd.DataFrame(out)


def one_shot_correlations(one: pd.DataFrame) -> pd.DataFrame:
    """Accuracy vs MSP and vs Max Logit AUROC across the paper's models on *all* one-shot answers
    (``correlations.correlation_table`` on ``cells.model_metrics`` of every one-shot cell; each model
    averaged over the cells it has): METHODS §8.8's r = 0.73 over 12 models and r = 0.64 over 10.
    Columns as ``correlations.correlation_table``."""
    return correlations.correlation_table(cells.model_metrics(cells.cell_table(one)), correlations.ACCURACY_PAIRS[:2])


def accuracy_drop_by_dataset(paired: pd.DataFrame) -> pd.DataFrame:
    """Per model × dataset, accuracy in percent (mean of the two phrasings' cells, METHODS §8.1) with
    zero and one example on the same questions: model, dataset, accuracy_0, accuracy_1, difference
    (one − zero). Where the mis-keying bug bites (module docstring), the drop is largest."""
    cells = (paired.groupby(["model", "dataset", "phrasing"], sort=False)[["correct_0", "correct_1"]].mean() * 100)
    per = cells.groupby(["model", "dataset"], sort=False).mean().reset_index()
    per = per.rename(columns={"correct_0": "accuracy_0", "correct_1": "accuracy_1"})
    per["difference"] = per["accuracy_1"] - per["accuracy_0"]
    return _sort_models(per, ("model", "dataset"))


def same_question_counts(zero: pd.DataFrame, one: pd.DataFrame, paired: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model present in either table: answers zero-shot, one-shot and paired (model, n_zero,
    n_one, n_paired); models without one-shot answers (Llama 3) have n_one = n_paired = 0."""
    paired = paired_answers(zero, one) if paired is None else paired
    counts = pd.DataFrame({
        "n_zero": zero.groupby(zero["model"].astype(str)).size(),
        "n_one": one.groupby(one["model"].astype(str)).size(),
        "n_paired": paired.groupby("model").size(),
    }).fillna(0).astype(int).rename_axis("model").reset_index()
    return _sort_models(counts)

