"""Selective answering: answer the most confident questions, abstain on the rest.

Every metric is a pure function of ``(conf, correct)``: a confidence per answer (MSP or Max Logit)
and whether the answer is right. Unparseable answers arrive as wrong with confidence 0 (METHODS §5)
and are treated like any other wrong answer.

**Order and ties.** Answers are answered in descending confidence. Answers of equal confidence are
one block: a threshold ``t`` answers every answer with ``conf >= t`` (the rule of the paper's
abstention experiment, METHODS §8.7), so the risk-coverage curve (:func:`risk_coverage_curve`) has
one point per distinct confidence. Quantities that need a prefix of *n* answers ending inside a
block (AURC, AUGRC, accuracy at a coverage) take the expectation over a random order within the
block: the first *j* answers of a block of *m* answers holding *w* wrong ones contain *j·w/m* wrong
answers in expectation. Without ties this is the usual sorted-prefix definition; with ties it does
not depend on how a sort happens to break them.

With N answers, C of them correct and W = N − C wrong, and W(n) the (expected) number of wrong
answers among the n most confident ones:

- selective risk at n: W(n)/n; coverage n/N; generalized risk W(n)/N (Traub et al. 2024);
- AURC = (1/N) Σ_{n=1..N} W(n)/n (Geifman, Uziel & El-Yaniv 2019, "Bias-reduced uncertainty
  estimation for deep neural classifiers", ICLR);
- E-AURC = AURC − AURC of the oracle that answers every correct answer first (same paper);
- AUGRC = (1/N) Σ_{n=1..N} W(n)/N (Traub, Bungert, Lüth, Baumgartner, Jaeger 2024, "Overcoming
  common flaws in the evaluation of selective classification systems", NeurIPS). It equals
  [W(W+1)/2 + W·C·(1 − AUROC)]/N² exactly (AUROC with ties 1/2), which tends to their closed form
  (1 − acc)·[(1 − acc)/2 + acc·(1 − AUROC)];
- PRR (Malinin 2019, PhD thesis; Malinin & Gales 2021, "Uncertainty estimation in autoregressive
  structured prediction", ICLR): (A_random − A)/(A_random − A_oracle) over the prediction-rejection
  curve, the error rate over *all* N answers when rejected answers are replaced by the truth, i.e.
  the generalized risk; with A = AUGRC this is exactly 2·AUROC − 1 for right/wrong answers, so it
  adds nothing to AUROC here. :func:`selective_prediction_rejection_ratio` is the variant on the
  selective-risk curve (as in LM-Polygraph, Fadeeva et al. 2023), which does not reduce to AUROC.

Conformal selective answering (:func:`ltt_threshold`) follows "Learn then Test" (Angelopoulos,
Bates, Candès, Jordan & Lei 2021, arXiv 2110.01052) with exact binomial p-values and a
fixed-sequence (default) or Bonferroni correction; see there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import special, stats

from helpers.analysis import abstention, cells, correlations, metrics, testing
from helpers.data import vocabulary
from helpers.data.method import SEED

#: the fixed coverages of :func:`selective_metrics` (accuracy among the most confident 50/80/90%)
COVERAGES = (0.5, 0.8, 0.9)
#: target selective risk (share wrong among answered) and allowed failure probability of the guarantee
TARGET_RISK = 0.1
DELTA = 0.1
#: step between the coverages of the conformal candidate thresholds, and where they start
#: (:func:`candidate_coverages`: at START_FACTOR times the fewest answers that can be certified)
GRID_STEP = 0.01
START_FACTOR = 2.0
Correction = Literal["fixed_sequence", "bonferroni"]


def _arrays(conf, correct) -> tuple[np.ndarray, np.ndarray]:
    """The paired inputs, through the one validator (``metrics.paired``), not empty and finite."""
    conf, correct = metrics.paired(conf, correct, nonempty=True)
    if not np.isfinite(conf).all():
        raise ValueError("conf holds NaN or infinite values")
    return conf, correct


class _Blocks(NamedTuple):
    """Tie blocks in descending confidence: value, size, wrong answers, answers and wrong answers
    before the block (sizes may be weighted by integer counts; empty blocks are dropped)."""

    value: np.ndarray
    size: np.ndarray
    wrong: np.ndarray
    n_before: np.ndarray
    wrong_before: np.ndarray

    @property
    def n(self) -> float:
        return float(self.size.sum())

    @property
    def n_wrong(self) -> float:
        return float(self.wrong.sum())


class _Sorted(NamedTuple):
    """Distinct confidences in descending order and each answer's position among them."""

    value: np.ndarray
    inverse: np.ndarray
    wrong: np.ndarray


def _sorted(conf: np.ndarray, correct: np.ndarray) -> _Sorted:
    negative, inverse = np.unique(-conf, return_inverse=True)
    return _Sorted(-negative, inverse.reshape(-1), ~correct)


def _blocks_of(sorted_: _Sorted, counts=None) -> _Blocks:
    """Tie blocks of sorted answers, each answer counted ``counts`` times (default once)."""
    k = sorted_.value.size
    if counts is None:
        size = np.bincount(sorted_.inverse, minlength=k).astype(np.float64)
        wrong = np.bincount(sorted_.inverse, weights=sorted_.wrong, minlength=k)
    else:
        w = np.asarray(counts, dtype=np.float64)
        size = np.bincount(sorted_.inverse, weights=w, minlength=k)
        wrong = np.bincount(sorted_.inverse, weights=w * sorted_.wrong, minlength=k)
    keep = size > 0
    size, wrong, value = size[keep], wrong[keep], sorted_.value[keep]
    n_before = np.cumsum(size) - size
    wrong_before = np.cumsum(wrong) - wrong
    return _Blocks(value, size, wrong, n_before, wrong_before)


def _blocks(conf: np.ndarray, correct: np.ndarray) -> _Blocks:
    return _blocks_of(_sorted(conf, correct))


def _harmonic_gap(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """H_stop − H_start = Σ_{j=start+1..stop} 1/j, by the digamma function."""
    return special.digamma(stop + 1) - special.digamma(start + 1)


def _aurc(b: _Blocks) -> float:
    """(1/N) Σ_n W(n)/n summed block by block: within a block of m answers (w wrong) after N_b
    answers (W_b wrong), Σ_{j=1..m} (W_b + j·w/m)/(N_b + j) = W_b·ΔH + w − (w/m)·N_b·ΔH."""
    gap = _harmonic_gap(b.n_before, b.n_before + b.size)
    return float(np.sum(b.wrong_before * gap + b.wrong - b.wrong / b.size * b.n_before * gap) / b.n)


def _augrc(b: _Blocks) -> float:
    """(1/N²) Σ_n W(n) summed block by block: Σ_{j=1..m} (W_b + j·w/m) = m·W_b + w(m + 1)/2."""
    return float(np.sum(b.size * b.wrong_before + b.wrong * (b.size + 1) / 2) / b.n ** 2)


def _oracle_aurc(n: float, n_right: float) -> float:
    return float(((n - n_right) - n_right * _harmonic_gap(np.float64(n_right), np.float64(n))) / n)


def _accuracy_at(b: _Blocks, coverage: np.ndarray) -> np.ndarray:
    """1 − W(n)/n at n = ⌈coverage·N⌉, W(n) inside its block in expectation."""
    n = np.clip(np.ceil(coverage * b.n - 1e-9), 1, b.n)
    block = np.searchsorted(b.n_before + b.size, n, side="left")
    wrong = b.wrong_before[block] + (n - b.n_before[block]) * b.wrong[block] / b.size[block]
    return 1 - wrong / n


def _auroc(b: _Blocks) -> float:
    """AUROC (fraction, positive = correct, ties 1/2) from the descending tie blocks."""
    w_total, n = b.n_wrong, b.n
    if w_total == 0 or w_total == n:
        return float("nan")
    right = b.size - b.wrong
    wrong_below = w_total - b.wrong_before - b.wrong
    return float(np.sum(right * (wrong_below + b.wrong / 2)) / ((n - w_total) * w_total))


def _metrics_of(b: _Blocks, coverages: Sequence[float]) -> dict[str, float]:
    n, w = b.n, b.n_wrong
    area, generalized = _aurc(b), _augrc(b)
    oracle = _oracle_aurc(n, n - w)
    one_class = w == 0 or w == n
    out = {
        "n": int(round(n)), "accuracy": 1 - w / n, "auroc": _auroc(b),
        "aurc": area, "aurc_oracle": oracle, "e_aurc": area - oracle, "augrc": generalized,
        # (random − AUGRC) / (random − oracle): random = W(N + 1)/(2N²), oracle = W(W + 1)/(2N²)
        "prr": float("nan") if one_class else
        (w * (n + 1) / (2 * n * n) - generalized) / (w * (n - w) / (2 * n * n)),
        "prr_selective": float("nan") if one_class else (w / n - area) / (w / n - oracle),
    }
    accuracy = _accuracy_at(b, np.asarray(coverages, dtype=np.float64))
    for c, value in zip(coverages, accuracy):
        out[f"acc_at_{round(100 * c)}"] = float(value)
    return out


def expected_wrong_by_prefix(conf, correct) -> np.ndarray:
    """W(n) for n = 1..N: the expected number of wrong answers among the n most confident answers,
    ties in random order (module docstring). Element n − 1 belongs to n."""
    conf, correct = _arrays(conf, correct)
    b = _blocks(conf, correct)
    block = np.repeat(np.arange(len(b.size)), b.size.astype(np.int64))
    n = np.arange(1, conf.size + 1)
    return b.wrong_before[block] + (n - b.n_before[block]) * (b.wrong[block] / b.size[block])


def risk_coverage_curve(conf, correct) -> pd.DataFrame:
    """The risk-coverage curve: one row per distinct confidence, highest first, for the rule "answer
    iff conf >= threshold" (so tied answers are answered or abstained on together).

    Columns: threshold, n_answered, n_wrong (among answered), coverage = n_answered / N, risk =
    n_wrong / n_answered (selective risk, Geifman & El-Yaniv 2017), generalized_risk = n_wrong / N
    (Traub et al. 2024). The last row answers everything (coverage 1, risk = error rate).
    """
    conf, correct = _arrays(conf, correct)
    b = _blocks(conf, correct)
    answered = (b.n_before + b.size).astype(np.int64)
    wrong = (b.wrong_before + b.wrong).astype(np.int64)
    return pd.DataFrame({"threshold": b.value, "n_answered": answered, "n_wrong": wrong,
                         "coverage": answered / conf.size, "risk": wrong / answered,
                         "generalized_risk": wrong / conf.size})


def aurc(conf, correct) -> float:
    """Area under the risk-coverage curve, (1/N) Σ_{n=1..N} W(n)/n, ties in expectation (Geifman,
    Uziel & El-Yaniv 2019). A fraction in [0, 1]; lower is better."""
    return _aurc(_blocks(*_arrays(conf, correct)))


def oracle_aurc(correct) -> float:
    """AURC of the oracle ordering (every correct answer first) of N answers with C correct, in
    closed form: (1/N) Σ_{n=C+1..N} (n − C)/n = [(N − C) − C·(H_N − H_C)]/N, H the harmonic
    numbers (H_n = ψ(n + 1) + γ). Geifman et al. (2019) approximate it by r + (1 − r)·ln(1 − r),
    r the error rate, which it approaches as N grows."""
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 1 or correct.size == 0:
        raise ValueError(f"correct must be 1-d and non-empty, got shape {correct.shape}")
    return _oracle_aurc(float(correct.size), float(correct.sum()))


def e_aurc(conf, correct) -> float:
    """Excess AURC: :func:`aurc` − :func:`oracle_aurc` at the same accuracy (Geifman et al. 2019).
    Never negative: no order has fewer wrong answers in any prefix than the oracle."""
    return aurc(conf, correct) - oracle_aurc(correct)


def augrc(conf, correct) -> float:
    """Area under the generalized-risk-coverage curve, (1/N) Σ_{n=1..N} W(n)/N, ties in expectation
    (Traub et al. 2024): the share of answers that are wrong *and* answered, averaged over coverages.
    Equals [W(W+1)/2 + W·C·(1 − AUROC)]/N² (module docstring). Lower is better."""
    return _augrc(_blocks(*_arrays(conf, correct)))


def accuracy_at_coverage(conf, correct, coverage: float | Sequence[float]):
    """Accuracy among the ⌈coverage·N⌉ most confident answers (ties in expectation, module docstring),
    a fraction; one value per coverage when ``coverage`` is a sequence. Coverage must lie in (0, 1]."""
    cov = np.asarray(coverage, dtype=np.float64)
    if ((cov <= 0) | (cov > 1)).any():
        raise ValueError(f"coverage must lie in (0, 1], got {coverage}")
    out = _accuracy_at(_blocks(*_arrays(conf, correct)), np.atleast_1d(cov))
    return float(out[0]) if cov.ndim == 0 else out


def prediction_rejection_ratio(conf, correct) -> float:
    """Prediction-rejection ratio (Malinin 2019; Malinin & Gales 2021) on the generalized-risk
    curve: (AUGRC_random − AUGRC)/(AUGRC_random − AUGRC_oracle), with AUGRC_random = W(N+1)/(2N²)
    (random order) and AUGRC_oracle = W(W+1)/(2N²) (wrong answers last). 1 = oracle, 0 = random.
    For right/wrong answers it equals 2·AUROC − 1 exactly. NaN when all answers are right or all wrong."""
    conf, correct = _arrays(conf, correct)
    n, w = conf.size, int((~correct).sum())
    if w in (0, n):
        return float("nan")
    random_area = w * (n + 1) / (2 * n * n)
    oracle_area = w * (w + 1) / (2 * n * n)
    return float((random_area - augrc(conf, correct)) / (random_area - oracle_area))


def selective_prediction_rejection_ratio(conf, correct) -> float:
    """Prediction-rejection ratio on the selective-risk curve (the LM-Polygraph variant, Fadeeva et
    al. 2023): (AURC_random − AURC)/(AURC_random − AURC_oracle), AURC_random = W/N (a random order
    has expected risk W/N at every n). 1 = oracle, 0 = random. NaN when all answers are right or all wrong."""
    conf, correct = _arrays(conf, correct)
    n, w = conf.size, int((~correct).sum())
    if w in (0, n):
        return float("nan")
    random_area = w / n
    return float((random_area - aurc(conf, correct)) / (random_area - oracle_aurc(correct)))


def selective_metrics(conf, correct, coverages: Sequence[float] = COVERAGES) -> dict[str, float]:
    """Every selective-answering number of one set of answers (fractions): n, accuracy, auroc,
    aurc, aurc_oracle, e_aurc, augrc, prr, prr_selective and acc_at_<100·coverage> per coverage."""
    return _metrics_of(_blocks(*_arrays(conf, correct)), coverages)


# --- per model ------------------------------------------------------------------------------------

class _PreparedModel(NamedTuple):
    """One model's answers sorted once, so that any resample (integer counts per answer) is cheap."""

    model: str
    rows: np.ndarray                 # positions in the answers table
    pooled: _Sorted
    cells: list[tuple[np.ndarray, _Sorted]]   # (positions within the model's rows, sorted cell)
    cell_id: np.ndarray
    correct: np.ndarray


def _prepare(answers: pd.DataFrame, signal: str) -> list[_PreparedModel]:
    if signal not in ("msp", "max_logit"):
        raise ValueError(f"signal={signal!r}: expected 'msp' or 'max_logit'")
    if "shots" in answers and answers["shots"].nunique() > 1:
        raise ValueError("answers mix shots values; pass one at a time")
    conf_all = answers[signal].to_numpy(dtype=np.float64)
    correct_all = answers["correct"].to_numpy(dtype=bool)
    model_code, model_names = pd.factorize(answers["model"])
    dataset_code, _ = pd.factorize(answers["dataset"])
    phrasing_code, _ = pd.factorize(answers["phrasing"])
    cell_all = 2 * dataset_code.astype(np.int64) + phrasing_code
    code_of = {str(name): code for code, name in enumerate(model_names)}
    out = []
    for model in vocabulary.model_order(code_of):
        rows = np.flatnonzero(model_code == code_of[model])
        conf, correct = conf_all[rows], correct_all[rows]
        if np.isnan(conf).all():
            continue
        if np.isnan(conf).any():
            raise ValueError(f"{signal} is missing for some but not all answers of {model!r}")
        _, cell_id = np.unique(cell_all[rows], return_inverse=True)
        cells = [(at, _sorted(conf[at], correct[at])) for at in
                 (np.flatnonzero(cell_id == c) for c in range(cell_id.max() + 1))]
        out.append(_PreparedModel(model, rows, _sorted(conf, correct), cells, cell_id, correct))
    return out


def _model_row(m: _PreparedModel, signal: str, counts, coverages) -> dict:
    """:func:`selective_by_model`'s row of one prepared model; ``counts`` per answer of the model."""
    values = _metrics_of(_blocks_of(m.pooled, counts), coverages)
    w = np.ones(m.correct.size) if counts is None else np.asarray(counts, dtype=np.float64)
    n_cell = np.bincount(m.cell_id, weights=w)
    right_cell = np.bincount(m.cell_id, weights=w * m.correct)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy_cells = np.nanmean(right_cell / n_cell)
    aurocs = [_auroc(_blocks_of(sorted_, None if counts is None else counts[at])) for at, sorted_ in m.cells]
    return {"model": m.model, "signal": signal, **values, "accuracy_cells": float(accuracy_cells),
            "auroc_cells": float(np.nanmean(aurocs)) if not np.isnan(aurocs).all() else float("nan")}


def selective_by_model(answers: pd.DataFrame, signal: str = "msp", row_counts=None,
                       coverages: Sequence[float] = COVERAGES) -> pd.DataFrame:
    """Per model, :func:`selective_metrics` of all its answers pooled (both phrasings, every dataset,
    each answer weighing the same), plus the paper's per-cell means: accuracy_cells and auroc_cells
    (fractions; mean over the model's dataset × phrasing cells, as METHODS §8.1-8.2).

    Columns: model, signal, n, accuracy, auroc, aurc, aurc_oracle, e_aurc, augrc, prr, prr_selective,
    acc_at_50, acc_at_80, acc_at_90, accuracy_cells, auroc_cells. Models without the signal (GPT for
    Max Logit) are left out. ``row_counts``: how often each row of ``answers`` is drawn (a bootstrap
    resample, e.g. :func:`question_resample_counts`); None = once each; the result equals that of
    the answers repeated that often.
    """
    if row_counts is not None:
        row_counts = np.asarray(row_counts, dtype=np.int64)
        if row_counts.shape != (len(answers),) or (row_counts < 0).any():
            raise ValueError("row_counts must hold one non-negative integer per answer")
    rows = [_model_row(m, signal, None if row_counts is None else row_counts[m.rows], coverages)
            for m in _prepare(answers, signal)
            if row_counts is None or row_counts[m.rows].sum() > 0]
    return pd.DataFrame(rows)


class QuestionResampler:
    """Bootstrap draws over questions within datasets, as a count per row of ``answers``.

    Per dataset, the distinct qids present (over all models) are drawn with replacement as many
    times as there are; every answer to a drawn question (every model, both phrasings) is repeated
    as often as its question was drawn, so one draw serves every model and phrasing. The question
    index is built once; :meth:`draw` is cheap.
    """

    def __init__(self, answers: pd.DataFrame):
        self.n_rows = len(answers)
        dataset_code, _ = pd.factorize(answers["dataset"], sort=True)
        qid = answers["qid"].to_numpy(dtype=np.int64)
        self.groups = []
        for code in range(dataset_code.max() + 1 if len(answers) else 0):
            rows = np.flatnonzero(dataset_code == code)
            questions, position = np.unique(qid[rows], return_inverse=True)
            self.groups.append((rows, position, questions.size))

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One resample: how often each row is drawn."""
        counts = np.zeros(self.n_rows, dtype=np.int64)
        for rows, position, n_questions in self.groups:
            counts[rows] = np.bincount(rng.integers(0, n_questions, n_questions), minlength=n_questions)[position]
        return counts


def question_resample_counts(answers: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """One bootstrap draw over questions within datasets (:class:`QuestionResampler`), as a count
    per row of ``answers``."""
    return QuestionResampler(answers).draw(rng)


#: (x, y) pairs across models for :func:`bootstrap_correlations`: accuracy against each selective number
ACCURACY_PAIRS = tuple(("accuracy", y) for y in ("aurc", "e_aurc", "augrc", "prr", "prr_selective", "auroc"))


def bootstrap_correlations(answers: pd.DataFrame, signal: str = "msp",
                           pairs: Sequence[tuple[str, str]] = ACCURACY_PAIRS, n_boot: int = 1000,
                           seed: int = SEED, level: float = 0.95) -> pd.DataFrame:
    """Correlations across the paper's models (scored models left out) of columns of
    :func:`selective_by_model`, with percentile intervals from a seeded bootstrap over questions
    within datasets (:class:`QuestionResampler`, ``numpy.random.default_rng(seed)``).

    Columns: x, y, n, pearson_r, pearson_low, pearson_high, spearman_rho, spearman_low,
    spearman_high (Pearson as the paper, ``metrics.correlation``; bounds at (1 ± level)/2).
    """
    paper = cells.split_scored(answers)[0]
    prepared = _prepare(paper, signal)

    def correlations(counts):
        table = pd.DataFrame([_model_row(m, signal, None if counts is None else counts[m.rows], COVERAGES)
                              for m in prepared])
        return [metrics.correlation(table[x], table[y]) for x, y in pairs]

    point = correlations(None)
    rng = np.random.default_rng(seed)
    resampler = QuestionResampler(paper)
    draws = np.array([[(c.pearson_r, c.spearman_rho) for c in correlations(resampler.draw(rng))]
                      for _ in range(n_boot)]).reshape(n_boot, len(pairs), 2)
    lo, hi = np.nanquantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    rows = [(x, y, c.n, c.pearson_r, lo[i, 0], hi[i, 0], c.spearman_rho, lo[i, 1], hi[i, 1])
            for i, ((x, y), c) in enumerate(zip(pairs, point))]
    return pd.DataFrame(rows, columns=["x", "y", "n", "pearson_r", "pearson_low", "pearson_high",
                                       "spearman_rho", "spearman_low", "spearman_high"])


def risk_coverage_by_model(answers: pd.DataFrame, signal: str = "msp",
                           coverages: Sequence[float] | None = None) -> pd.DataFrame:
    """Risk-coverage curves per model (pooled answers). Without ``coverages``: every point of
    :func:`risk_coverage_curve`; with them: the expected risk 1 − :func:`accuracy_at_coverage` and
    generalized risk at each coverage (columns model, signal, coverage, risk, generalized_risk)."""
    conf_all = answers[signal].to_numpy(dtype=np.float64)
    correct_all = answers["correct"].to_numpy(dtype=bool)
    frames = []
    for m in _prepare(answers, signal):
        conf, correct = conf_all[m.rows], correct_all[m.rows]
        if coverages is None:
            curve = risk_coverage_curve(conf, correct)
        else:
            cov = np.asarray(coverages, dtype=np.float64)
            risk = 1 - np.atleast_1d(accuracy_at_coverage(conf, correct, cov))
            n = np.ceil(cov * conf.size - 1e-9).clip(1, conf.size)
            curve = pd.DataFrame({"coverage": cov, "risk": risk, "generalized_risk": risk * n / conf.size})
        frames.append(curve.assign(model=m.model, signal=signal))
    out = pd.concat(frames, ignore_index=True)
    return out[["model", "signal", *[c for c in out.columns if c not in ("model", "signal")]]]


def paper_comparison(answers: pd.DataFrame, signal: str = "msp", k: abstention.K = 20) -> pd.DataFrame:
    """:func:`selective_by_model` next to the paper's numbers per model: paper_accuracy and
    paper_auroc (percent, mean over cells, ``cells.model_metrics``), and from the paper's abstention
    experiment with k labelled answers per dataset (overall run, ``abstention.abstention_scores``)
    base_score, score_balanced (penalty 1) and score_conservative (penalty 2), points per 100 questions."""
    table = selective_by_model(answers, signal)
    models = cells.model_metrics(cells.cell_table(answers))[["model", "accuracy", f"auroc_{signal}"]]
    models = models.rename(columns={"accuracy": "paper_accuracy", f"auroc_{signal}": "paper_auroc"})
    splits = abstention.pooled_splits(answers, signal, k)
    runs = {name: abstention.abstention_scores(answers, signal, k, penalty, splits=splits).set_index("model")
            for penalty, name in vocabulary.PENALTY_NAMES.items()}
    scores = pd.DataFrame({"base_score": runs["balanced"]["base_score"],
                           **{f"score_{name}": run["score"] for name, run in runs.items()}})
    scores = scores.rename_axis("model").reset_index()
    return table.merge(models, on="model", how="left").merge(scores, on="model", how="left")


#: pairs for :func:`cross_model_correlations` on :func:`paper_comparison`
PAPER_PAIRS = tuple((x, y) for y in ("aurc", "e_aurc", "augrc", "prr_selective")
                    for x in ("paper_accuracy", "paper_auroc", "score_balanced", "score_conservative"))


def cross_model_correlations(table: pd.DataFrame, pairs: Sequence[tuple[str, str]] = PAPER_PAIRS) -> pd.DataFrame:
    """Correlation across the paper's models (scored models left out) of each (x, y) pair of columns:
    x, y, n, pearson_r, pearson_p, spearman_rho, spearman_p (``metrics.correlation``), and the 95%
    Fisher z interval of pearson_r, fisher_lo and fisher_hi (``testing.fisher_z_interval``)."""
    table = correlations.correlation_table(table, pairs)
    bounds = [testing.fisher_z_interval(r, n) for r, n in zip(table["pearson_r"], table["n"])]
    return table.assign(fisher_lo=[lo for lo, _ in bounds], fisher_hi=[hi for _, hi in bounds])


# --- conformal selective answering ----------------------------------------------------------------

def binomial_p_value(n_wrong: int, n_answered: int, target_risk: float) -> float:
    """p-value of H0 "selective risk > target_risk" from n_wrong wrong among n_answered answered
    labelled answers: P(Binomial(n_answered, target_risk) <= n_wrong), exact (the test behind the
    Clopper-Pearson bound; LTT's binomial p-value). 1 when nothing is answered."""
    if n_answered == 0:
        return 1.0
    return float(stats.binom.cdf(n_wrong, n_answered, target_risk))


def clopper_pearson_upper(n_wrong: int, n_answered: int, delta: float) -> float:
    """One-sided Clopper-Pearson upper confidence bound, at level 1 − delta, on the risk from n_wrong
    wrong of n_answered: the Beta(n_wrong + 1, n_answered − n_wrong) quantile 1 − delta (1 when all
    are wrong or none is answered). p-value <= delta exactly when this bound is <= the target."""
    if n_answered == 0 or n_wrong >= n_answered:
        return 1.0
    return float(stats.beta.ppf(1 - delta, n_wrong + 1, n_answered - n_wrong))


def coverage_thresholds(conf, coverages: Sequence[float], weights=None) -> np.ndarray:
    """For each coverage c, the highest threshold t whose rule "answer iff conf >= t" answers at
    least a share c of ``conf`` (weighted by ``weights`` when given); one threshold per coverage."""
    conf = np.asarray(conf, dtype=np.float64)
    w = np.ones_like(conf) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(-conf, kind="stable")
    share = np.cumsum(w[order]) / w.sum()
    at = np.searchsorted(share, np.asarray(coverages, dtype=np.float64) - 1e-12, side="left")
    return conf[order][np.clip(at, 0, conf.size - 1)]


def candidate_coverages(n_labelled: int, target_risk: float = TARGET_RISK, delta: float = DELTA,
                        step: float = GRID_STEP, start_factor: float = START_FACTOR) -> np.ndarray:
    """The coverages of the candidate thresholds, from c_0 up to 1 by ``step`` (and 1 itself).

    n_min = ⌈ln delta / ln(1 − target_risk)⌉ is the fewest answered labelled answers that can reject
    H0 at level delta even with none of them wrong (22 for 10% and 0.1); no smaller coverage can
    ever be certified. The sequence starts at c_0 = min(n_labelled, start_factor·n_min)/n_labelled,
    i.e. where about twice that many labelled answers are expected, since a fixed-sequence test
    stops at its first failure and one started at exactly n_min fails about half the time by
    chance. Depends on the number of labels only, never on their values (so validity is kept; the
    start only changes power); empty when n_min > n_labelled.
    """
    n_min = math.ceil(math.log(delta) / math.log(1 - target_risk))
    if n_min > n_labelled:
        return np.array([])
    start = max(n_min, min(n_labelled, start_factor * n_min)) / n_labelled
    steps = start + step * np.arange(math.ceil((1 - start) / step) + 1)
    return np.append(steps[steps < 1 - 1e-9], 1.0)


class LTTThreshold(NamedTuple):
    """The threshold chosen by :func:`ltt_threshold` and the labelled evidence for it."""

    threshold: float        # +inf: abstain on everything (no candidate certified)
    n_answered: int         # labelled answers with conf >= threshold
    n_wrong: int
    p_value: float          # binomial p-value at the threshold (NaN when abstaining on everything)
    upper_bound: float      # Clopper-Pearson upper bound at level 1 − delta (NaN likewise)
    n_tested: int           # hypotheses tested before stopping
    abstains_all: bool


def ltt_threshold(conf, correct, candidates, target_risk: float = TARGET_RISK, delta: float = DELTA,
                  correction: Correction = "fixed_sequence") -> LTTThreshold:
    """The lowest candidate threshold certified to have selective risk <= target_risk with
    probability >= 1 − delta, from labelled answers (Learn then Test, Angelopoulos et al. 2021).

    Each candidate t is a null hypothesis "risk(t) > target_risk", tested with the exact binomial
    p-value of the labelled answers with conf >= t (:func:`binomial_p_value`; valid conditionally on
    how many are answered, as those are an i.i.d. sample of the answered population). The family-wise
    error is controlled at delta by ``"fixed_sequence"`` (candidates from the highest threshold down,
    each at level delta, stopping at the first that is not rejected) or ``"bonferroni"`` (every
    candidate at delta / #candidates). The candidates must not depend on the labelled answers (e.g.
    :func:`coverage_thresholds` of unlabelled answers at :func:`candidate_coverages`). The lowest
    rejected threshold answers the most; with none rejected the rule abstains on everything.
    """
    conf, correct = _arrays(conf, correct)
    grid = np.unique(np.asarray(candidates, dtype=np.float64))[::-1]
    if correction not in ("fixed_sequence", "bonferroni"):
        raise ValueError(f"correction={correction!r}: expected 'fixed_sequence' or 'bonferroni'")
    sorted_right = np.sort(conf[correct])
    sorted_wrong = np.sort(conf[~correct])
    n_right = sorted_right.size - np.searchsorted(sorted_right, grid, side="left")
    n_wrong = sorted_wrong.size - np.searchsorted(sorted_wrong, grid, side="left")
    n_answered = n_right + n_wrong
    p = np.where(n_answered > 0, stats.binom.cdf(n_wrong, np.maximum(n_answered, 1), target_risk), 1.0)
    if correction == "bonferroni":
        rejected = np.flatnonzero(p <= delta / max(len(grid), 1))
        n_tested = len(grid)
    else:
        fails = np.flatnonzero(p > delta)
        stop = fails[0] if fails.size else len(grid)
        rejected = np.arange(stop)
        n_tested = min(stop + 1, len(grid))
    if rejected.size == 0:
        return LTTThreshold(float("inf"), 0, 0, float("nan"), float("nan"), n_tested, True)
    i = rejected[-1]
    return LTTThreshold(float(grid[i]), int(n_answered[i]), int(n_wrong[i]), float(p[i]),
                        clopper_pearson_upper(int(n_wrong[i]), int(n_answered[i]), delta), n_tested, False)


class CoverageRisk(NamedTuple):
    """Share answered and share wrong among answered, at one threshold."""

    coverage: float
    risk: float  # NaN when nothing is answered


def coverage_and_risk(conf, correct, threshold: float, weights=None) -> CoverageRisk:
    """Coverage (share with conf >= threshold) and selective risk (share wrong among those), each
    answer weighted by ``weights`` when given (e.g. 1 / answers of its dataset, so that every dataset
    weighs the same as in the paper's averages)."""
    conf, correct = _arrays(conf, correct)
    w = np.ones_like(conf) if weights is None else np.asarray(weights, dtype=np.float64)
    answered = conf >= threshold
    covered = w[answered].sum()
    risk = float(w[answered & ~correct].sum() / covered) if covered > 0 else float("nan")
    return CoverageRisk(float(covered / w.sum()), risk)


def _pooled(parts: list[tuple[np.ndarray, np.ndarray]], shares=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(conf, correct, weights): datasets concatenated, the answers of dataset d weighted
    shares[d] / (its answers), so that dataset d weighs shares[d] (default: all the same)."""
    shares = np.ones(len(parts)) if shares is None else np.asarray(shares, dtype=np.float64)
    conf = np.concatenate([c for c, _ in parts])
    correct = np.concatenate([y for _, y in parts])
    weights = np.concatenate([np.full(len(c), s / len(c)) for (c, _), s in zip(parts, shares)])
    return conf, correct, weights


def conformal_abstention(answers: pd.DataFrame, signal: str = "msp", k: abstention.K = 20,
                         target_risk: float = TARGET_RISK, delta: float = DELTA,
                         correction: Correction = "fixed_sequence", step: float = GRID_STEP) -> pd.DataFrame:
    """Conformal selective answering per model, next to the paper's learnt thresholds.

    The labelled answers are those of the paper's abstention experiment (``abstention.pooled_splits``:
    k per dataset, all datasets of the model together, as its overall tables); the candidates are
    :func:`coverage_thresholds` of the model's unlabelled test confidences at
    :func:`candidate_coverages`; :func:`ltt_threshold` picks one. The guarantee is for the mixture of
    datasets the labelled answers are drawn from, so test answers (and the candidates) weigh each
    dataset as the labelled ones do: with k per dataset every dataset weighs the same (as the
    paper's per-dataset averages); with k = 'half', in proportion to its answers.

    One row per model × rule: rule 'ltt' (threshold +inf when abstaining on everything),
    'paper_balanced' and 'paper_conservative' (the paper's thresholds, penalties 1 and 2,
    ``abstention.abstention_scores``). Columns: model, signal, k, n_labelled, rule, threshold,
    abstains_all, n_answered_labelled, n_wrong_labelled, upper_bound, coverage, risk (test;
    risk NaN when nothing is answered), within_target (risk <= target_risk, nullable boolean: NA
    when nothing is answered), target_risk, delta.
    """
    splits = abstention.pooled_splits(answers, signal, k)
    by_model: dict[str, list] = {}
    for (model, _), halves in splits.items():
        by_model.setdefault(model, []).append(halves)
    paper = {name: abstention.abstention_scores(answers, signal, k, penalty, splits=splits).set_index("model")
             for penalty, name in vocabulary.PENALTY_NAMES.items()}
    rows = []
    for model in vocabulary.model_order(by_model):
        trains = [train for train, _ in by_model[model]]
        cal_conf, cal_correct, _ = _pooled(trains)
        # the test answers weighted as the labelled ones are composed: k per dataset -> equal weights
        test_conf, test_correct, test_w = _pooled([test for _, test in by_model[model]],
                                                  [len(c) for _, c in trains])
        coverages = candidate_coverages(cal_conf.size, target_risk, delta, step)
        candidates = coverage_thresholds(test_conf, coverages, test_w) if coverages.size else []
        pick = ltt_threshold(cal_conf, cal_correct, candidates, target_risk, delta, correction)
        base = {"model": model, "signal": signal, "k": k, "n_labelled": cal_conf.size,
                "target_risk": target_risk, "delta": delta}
        if pick.abstains_all:
            test = CoverageRisk(0.0, float("nan"))
        else:
            test = coverage_and_risk(test_conf, test_correct, pick.threshold, test_w)
        rows.append({**base, "rule": "ltt", "threshold": pick.threshold, "abstains_all": pick.abstains_all,
                     "n_answered_labelled": pick.n_answered, "n_wrong_labelled": pick.n_wrong,
                     "upper_bound": pick.upper_bound, "coverage": test.coverage, "risk": test.risk})
        for name, run in paper.items():
            t = float(run.loc[model, "threshold"])
            answered = cal_conf >= t
            test = coverage_and_risk(test_conf, test_correct, t, test_w)
            rows.append({**base, "rule": f"paper_{name}", "threshold": t, "abstains_all": test.coverage == 0,
                         "n_answered_labelled": int(answered.sum()),
                         "n_wrong_labelled": int((answered & ~cal_correct).sum()),
                         "upper_bound": float("nan"), "coverage": test.coverage, "risk": test.risk})
    out = pd.DataFrame(rows)
    within = pd.array(out["risk"] <= target_risk, dtype="boolean")
    within[out["risk"].isna().to_numpy()] = pd.NA
    out["within_target"] = within
    return out


def conformal_sweep(answers: pd.DataFrame, signal: str = "msp", ks: Iterable[abstention.K] = (20, 50, 100, 200, 500, "half"),
                    **kwargs) -> pd.DataFrame:
    """:func:`conformal_abstention` for each k (the labelled answers per dataset), rows stacked."""
    return pd.concat([conformal_abstention(answers, signal, k, **kwargs) for k in ks], ignore_index=True)


# --- intervals per model ----------------------------------------------------------------------------

#: the per-model numbers of :func:`selective_intervals`
INTERVAL_MEASURES = ("accuracy", "auroc", "aurc", "e_aurc", "augrc", "prr", "prr_selective",
                     *(f"acc_at_{round(100 * c)}" for c in COVERAGES))


def _interval_draws(answers: pd.DataFrame, signal: str, n_boot: int, seed: int):
    """(prepared models, draws[n_boot, model, INTERVAL_MEASURES]) of :func:`selective_intervals`."""
    prepared = _prepare(answers, signal)
    resampler = QuestionResampler(answers)
    rng = np.random.default_rng(seed)
    draws = np.full((n_boot, len(prepared), len(INTERVAL_MEASURES)), np.nan)
    for b in range(n_boot):
        counts = resampler.draw(rng)
        for j, m in enumerate(prepared):
            if counts[m.rows].sum() > 0:
                row = _model_row(m, signal, counts[m.rows], COVERAGES)
                draws[b, j] = [row[name] for name in INTERVAL_MEASURES]
    return prepared, draws


def _interval_rows(prepared, draws: np.ndarray, signal: str, level: float) -> pd.DataFrame:
    from helpers.analysis.bootstrap import percentile_interval

    rows = []
    for j, m in enumerate(prepared):
        point = _model_row(m, signal, None, COVERAGES)
        for i, name in enumerate(INTERVAL_MEASURES):
            lo, hi = percentile_interval(draws[:, j, i], level) if len(draws) else (np.nan, np.nan)
            rows.append({"model": m.model, "signal": signal, "measure": name, "estimate": point[name],
                         "lo": lo, "hi": hi, "n_boot": len(draws)})
    return pd.DataFrame(rows, columns=["model", "signal", "measure", "estimate", "lo", "hi", "n_boot"])


def selective_intervals(answers: pd.DataFrame, signal: str = "msp", n_boot: int = 200, seed: int = SEED,
                        level: float = 0.95) -> pd.DataFrame:
    """Percentile intervals of :func:`selective_by_model`'s numbers per model, from a seeded bootstrap
    over questions within datasets (:class:`QuestionResampler` on all of ``answers``: one draw serves
    every model and both phrasings; ``numpy.random.default_rng(seed)``). A resample's value equals
    :func:`selective_by_model` on the answers repeated as drawn. Columns: model, signal, measure
    (:data:`INTERVAL_MEASURES`), estimate (all answers), lo, hi (``bootstrap.percentile_interval`` at
    ``level``), n_boot."""
    prepared, draws = _interval_draws(answers, signal, n_boot, seed)
    return _interval_rows(prepared, draws, signal, level)


def selective_bootstrap(answers: pd.DataFrame, signal: str = "msp", n_boot: int = 200, seed: int = SEED,
                        level: float = 0.95, pairs: Sequence[tuple[str, str]] = ACCURACY_PAIRS
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`selective_intervals`, :func:`bootstrap_correlations`) from one set of resamples: the
    correlations across the paper's models (scored ones left out) of each draw of the intervals.
    When every question a scored model answered is one the paper's models answered (as for every
    model scored on the paper's datasets), the draws, and so both tables, equal those of the two
    functions called apart with the same seed."""
    prepared, draws = _interval_draws(answers, signal, n_boot, seed)
    intervals = _interval_rows(prepared, draws, signal, level)
    paper = [j for j, m in enumerate(prepared) if not vocabulary.is_scored(m.model)]
    column = {name: i for i, name in enumerate(INTERVAL_MEASURES)}
    point = pd.DataFrame([_model_row(prepared[j], signal, None, COVERAGES) for j in paper])
    rows = []
    for x, y in pairs:
        c = metrics.correlation(point[x], point[y])
        boot = np.array([(r.pearson_r, r.spearman_rho) for r in
                         (metrics.correlation(d[paper, column[x]], d[paper, column[y]]) for d in draws)]).reshape(-1, 2)
        lo, hi = np.nanquantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
        rows.append((x, y, c.n, c.pearson_r, lo[0], hi[0], c.spearman_rho, lo[1], hi[1]))
    correlations = pd.DataFrame(rows, columns=["x", "y", "n", "pearson_r", "pearson_low", "pearson_high",
                                               "spearman_rho", "spearman_low", "spearman_high"])
    return intervals, correlations
