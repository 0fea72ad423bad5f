"""Recalibration with a few labels: maps from confidence to probability of being right, fitted on
the k labelled answers per dataset of the paper's abstention experiment, judged on the rest.

**Labelled answers.** ``abstention.pooled_splits(answers, signal, k)`` gives, per model × dataset,
the paper's pooled and shuffled answers (both phrasings, METHODS §8.7 steps 1-2): the first k train,
the other N − k test. By default (``scope="model"``) one map per model is fitted on its 5 × k
training answers, as the paper's overall abstention tables choose one threshold on them;
``scope="dataset"`` fits one map per model × dataset on its k answers. Every number "after" is on
the model's pooled test answers; "before" (method ``"none"``) is the raw confidence on the same answers.

**Maps** (each returns probabilities; ``conf`` is MSP or, where stated, Max Logit):

- ``platt``: Platt (1999) scaling, sigmoid(a·x + b) with x = logit(MSP) (or the raw Max Logit),
  fitted by scikit-learn's ``LogisticRegression`` with its defaults (lbfgs, L2 penalty C = 1 on a,
  intercept not penalised) — the penalty keeps the fit finite when the training answers are
  separable. Strictly increasing for a > 0 (keeps AUROC), decreasing for a < 0.
- ``temperature``: one temperature T on logit(MSP), sigmoid(logit(MSP)/T) — temperature scaling
  (Guo et al. 2017) of the two-class distribution (MSP, 1 − MSP); T minimises the training log loss
  over [TEMPERATURE_BOUNDS] (``scipy.optimize.minimize_scalar``, bounded, on log T). Strictly
  increasing, so AUROC is kept. MSP only.
- ``isotonic``: ``IsotonicRegression(out_of_bounds='clip', y_min=0, y_max=1)`` (Zadrozny & Elkan
  2002): non-decreasing step function; merges answers into ties, so AUROC can change.
- ``histogram``: histogram binning (Zadrozny & Elkan 2001): the training confidences in
  HISTOGRAM_BINS equal-mass bins (:func:`histogram_map`), each bin predicting its training accuracy.

**Clipping.** logit(MSP) needs MSP in (0, 1): MSP is clipped to [EPS, 1 − EPS] with EPS = 2⁻²⁵
(≈ 3.0e-8), half the float32 spacing just below 1. MSP == 1.0 exactly (float32 saturation, 27% of
Llama 3 70B's answers, METHODS §6) becomes logit ≈ 17.3, while the largest float32 below 1
(1 − 2⁻²⁴) stays apart at ≈ 16.6, so clipping merges no two distinct published MSPs (the smallest
positive published MSP is 0.054; only the exact 0s of unparseable answers move). Log loss clips
predicted probabilities to the same [EPS, 1 − EPS], so a wrong answer at probability 1 costs
−ln EPS ≈ 17.3 nats instead of infinity.

**Degenerate training sets.** When a map's training answers are all right or all wrong, nothing
relates confidence to correctness; every method then predicts the constant (n_correct + 1)/(n + 2)
(Laplace's rule of succession, also the target Platt used for such a class) for every answer, and
the fit is counted in ``n_degenerate``. A constant has AUROC 50%.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from helpers.analysis import abstention, cells, metrics, significance
from helpers.data import vocabulary
from helpers.data.method import SEED

#: clipping of probabilities before logit and log loss (module docstring)
EPS = 2.0 ** -25
#: search interval of the temperature
TEMPERATURE_BOUNDS = (1e-2, 1e2)
#: bins of histogram binning
HISTOGRAM_BINS = 10
#: bins of the binned measures (ECE, Murphy decomposition)
N_BINS = 10
#: methods per signal: the raw confidence ("none"), then the maps
METHODS = {"msp": ("none", "platt", "temperature", "isotonic", "histogram"),
           "max_logit": ("none", "platt", "isotonic", "histogram")}
#: labelled answers per dataset of the sweep (the paper's 10, 20 and half among them)
SWEEP_KS = (10, 20, 50, 100, 200, 500, "half")

Method = Literal["none", "platt", "temperature", "isotonic", "histogram"]
Scope = Literal["model", "dataset"]


def _arrays(conf, correct) -> tuple[np.ndarray, np.ndarray]:
    """The paired inputs, through the one validator (``metrics.paired``), not empty."""
    return metrics.paired(conf, correct, nonempty=True)


def clipped_logit(prob) -> np.ndarray:
    """logit(p) = ln(p / (1 − p)) of p clipped to [EPS, 1 − EPS] (module docstring)."""
    p = np.clip(np.asarray(prob, dtype=np.float64), EPS, 1 - EPS)
    return special.logit(p)


# --- maps --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CalibrationMap:
    """A fitted map from confidence to probability: call it on confidences.

    ``method``; ``params`` (e.g. a, b of Platt; T; bin edges and values); ``degenerate`` (True when
    the training answers were all right or all wrong and the Laplace constant is used).
    """

    method: str
    params: dict
    degenerate: bool
    _apply: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def __call__(self, conf) -> np.ndarray:
        return self._apply(np.asarray(conf, dtype=np.float64))


def laplace_constant_map(method: str, correct) -> CalibrationMap:
    """The fallback for one-class training answers: (n_correct + 1)/(n + 2) everywhere."""
    correct = np.asarray(correct, dtype=bool)
    value = (correct.sum() + 1) / (correct.size + 2)
    return CalibrationMap(method, {"constant": float(value)}, True, lambda c: np.full(c.shape, value))


def _one_class(correct: np.ndarray) -> bool:
    return bool(correct.all() or not correct.any())


def platt_map(conf, correct, on_logit: bool = True) -> CalibrationMap:
    """Platt scaling: sigmoid(a·x + b), x = logit(clipped conf) (``on_logit``, for MSP) or the raw
    confidence (Max Logit), by ``LogisticRegression()`` with scikit-learn's defaults (module docstring)."""
    conf, correct = _arrays(conf, correct)
    if _one_class(correct):
        return laplace_constant_map("platt", correct)
    transform = clipped_logit if on_logit else (lambda c: c)
    fit = LogisticRegression().fit(transform(conf)[:, None], correct)
    a, b = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    return CalibrationMap("platt", {"a": a, "b": b, "on_logit": on_logit}, False,
                          lambda c: special.expit(a * transform(c) + b))


def log_loss(conf, correct) -> float:
    """Mean negative log-likelihood, −mean(y ln p + (1 − y) ln(1 − p)), p = conf clipped to
    [EPS, 1 − EPS] (natural log; as ``sklearn.metrics.log_loss`` for p inside the clip)."""
    conf, correct = _arrays(conf, correct)
    p = np.clip(conf, EPS, 1 - EPS)
    return float(-np.mean(np.where(correct, np.log(p), np.log1p(-p))))


def temperature_map(conf, correct) -> CalibrationMap:
    """Temperature scaling on logit(MSP): sigmoid(logit(MSP)/T), T in TEMPERATURE_BOUNDS minimising
    the training log loss (bounded scalar search on ln T, xatol 1e-6)."""
    conf, correct = _arrays(conf, correct)
    if _one_class(correct):
        return laplace_constant_map("temperature", correct)
    z = clipped_logit(conf)
    lo, hi = (math.log(b) for b in TEMPERATURE_BOUNDS)
    best = optimize.minimize_scalar(lambda log_t: log_loss(special.expit(z / math.exp(log_t)), correct),
                                    bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    t = float(math.exp(best.x))
    return CalibrationMap("temperature", {"T": t}, False, lambda c: special.expit(clipped_logit(c) / t))


def isotonic_map(conf, correct) -> CalibrationMap:
    """Isotonic regression of correctness on confidence, ``IsotonicRegression(out_of_bounds='clip',
    y_min=0, y_max=1)``: the non-decreasing step function of least squares (= the PAV algorithm)."""
    conf, correct = _arrays(conf, correct)
    if _one_class(correct):
        return laplace_constant_map("isotonic", correct)
    fit = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(conf, correct.astype(float))
    return CalibrationMap("isotonic", {"x": fit.X_thresholds_.tolist(), "y": fit.y_thresholds_.tolist()},
                          False, lambda c: fit.predict(c))


def histogram_map(conf, correct, n_bins: int = HISTOGRAM_BINS) -> CalibrationMap:
    """Histogram binning: the sorted training confidences cut into ``n_bins`` groups of (nearly)
    equal size; a border falls midway between the last confidence of one group and the first of the
    next, and groups whose border would split equal confidences are merged, so every bin holds
    training answers. A confidence is mapped to the training accuracy of its bin (values at a
    border go to the upper bin; beyond the extremes to the first/last bin)."""
    conf, correct = _arrays(conf, correct)
    if _one_class(correct):
        return laplace_constant_map("histogram", correct)
    order = np.argsort(conf, kind="stable")
    x, y = conf[order], correct[order]
    groups = np.array_split(np.arange(x.size), min(n_bins, x.size))
    borders = [(x[g[-1]] + x[h[0]]) / 2 for g, h in zip(groups[:-1], groups[1:]) if x[g[-1]] < x[h[0]]]
    borders = np.asarray(borders)
    which = np.searchsorted(borders, x, side="right")
    values = np.bincount(which, weights=y, minlength=borders.size + 1) / np.bincount(which, minlength=borders.size + 1)
    return CalibrationMap("histogram", {"borders": borders.tolist(), "values": values.tolist()}, False,
                          lambda c: values[np.searchsorted(borders, c, side="right")])


def calibration_map(method: Method, conf, correct, signal: str = "msp") -> CalibrationMap:
    """The map of ``method`` fitted on (conf, correct); Platt works on logit(MSP) for ``signal="msp"``
    and on the raw value otherwise; ``temperature`` is for MSP only; ``none`` is the identity."""
    if method == "none":
        return CalibrationMap("none", {}, False, lambda c: c)
    if method == "platt":
        return platt_map(conf, correct, on_logit=signal == "msp")
    if method == "temperature":
        if signal != "msp":
            raise ValueError("temperature scaling works on logit(MSP); not defined for Max Logit")
        return temperature_map(conf, correct)
    if method == "isotonic":
        return isotonic_map(conf, correct)
    if method == "histogram":
        return histogram_map(conf, correct)
    raise ValueError(f"method={method!r}: expected one of none, platt, temperature, isotonic, histogram")


# --- measures ----------------------------------------------------------------------------------------

def brier_score(conf, correct) -> float:
    """Brier (1950) score, mean((p − y)²), y = 1 for a right answer."""
    conf, correct = _arrays(conf, correct)
    return float(np.mean((conf - correct) ** 2))


def brier_decomposition(conf, correct, bins: metrics.Binning = "quantile", n_bins: int = N_BINS) -> dict[str, float]:
    """Murphy (1973) decomposition of the Brier score over bins of the forecast.

    Bins as ``metrics.reliability_bins(conf, correct, bins, n_bins, last_bin_closed=True)`` (every
    answer counted; default the paper's 10 equal-mass bins). With n_k answers in bin k, mean
    forecast f̄_k, accuracy ō_k and overall accuracy ō:
    reliability = Σ n_k (f̄_k − ō_k)² / N, resolution = Σ n_k (ō_k − ō)² / N, uncertainty = ō(1 − ō),
    and brier = reliability − resolution + uncertainty + within_bin, where within_bin = WBV − WBC
    (Stephenson, Coelho & Jolliffe 2008: within-bin variance of the forecasts minus twice their
    within-bin covariance with the outcomes, over N). within_bin = 0 when every bin holds a single
    forecast value (binned forecasts), where Murphy's identity is exact.
    Keys: brier, reliability, resolution, uncertainty, within_bin.
    """
    conf, correct = _arrays(conf, correct)
    table = metrics.reliability_bins(conf, correct, bins, n_bins, last_bin_closed=True)
    table = table[table["count"] > 0]
    n, base = conf.size, correct.mean()
    count = table["count"].to_numpy()
    reliability = float(np.sum(count * (table["mean_conf"] - table["frac_correct"]) ** 2) / n)
    resolution = float(np.sum(count * (table["frac_correct"] - base) ** 2) / n)
    uncertainty = float(base * (1 - base))
    brier = brier_score(conf, correct)
    return {"brier": brier, "reliability": reliability, "resolution": resolution, "uncertainty": uncertainty,
            "within_bin": brier - (reliability - resolution + uncertainty)}


# smooth ECE: Błasiok & Nakkiran (2023), "Smooth ECE: principled reliability diagrams via kernel
# smoothing", as implemented by their package relplot 1.0.3 (relplot.smECE), reproduced here with
# numpy so that the analysis layer does not import relplot's plotting modules; the tests compare
# both on the same inputs.

def _round_to_grid(f: np.ndarray, y: np.ndarray, points: int) -> np.ndarray:
    """Linear interpolation of the masses y at positions f onto a grid of ``points`` on [0, 1]."""
    values = np.zeros(points)
    cell = (f * (points - 1)).astype(int).clip(0, points - 2)
    frac = f * (points - 1) - cell
    np.add.at(values, cell, (1 - frac) * y)
    np.add.at(values, cell + 1, frac * y)
    return values


def _reflected_gaussian(f: np.ndarray, y: np.ndarray, x_eval: np.ndarray, sigma: float) -> np.ndarray:
    """Σ_i y_i K_σ(x − f_i) with a Gaussian kernel reflected at 0 and 1, on a grid, interpolated at x_eval."""
    points = max(2000, round(20 / sigma)) // 2 + 1
    values = _round_to_grid(f, y, points)
    t = np.linspace(0, 1, points)
    kernel = np.exp(-(t - 0.5) ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
    extended = np.concatenate([values[::-1][:-1], values, values[::-1][1:]])
    smoothed = np.convolve(extended, kernel, "valid")[points // 2: points // 2 + points]
    step = 1 / (points - 1)
    cell = (x_eval * (points - 1)).astype(int).clip(0, points - 2)
    frac = (x_eval - cell * step) / step
    return smoothed[cell] * (1 - frac) + smoothed[cell + 1] * frac


def _kernel_smooth(f: np.ndarray, y: np.ndarray, x_eval: np.ndarray, sigma: float, eps: float = 1e-4):
    """(Nadaraya-Watson smooth of y at x_eval, kernel density + eps) with the reflected Gaussian."""
    density = _reflected_gaussian(f, np.ones_like(y), x_eval, sigma) + eps
    return _reflected_gaussian(f, y, x_eval, sigma) / density, density


def smooth_ece_at(conf, correct, sigma: float) -> float:
    """smECE at bandwidth sigma: ∫ |r̂_σ(t)| δ̂_σ(t) dt / ∫ δ̂_σ(t) dt on a grid of max(200, 10/σ)
    points, r̂_σ the kernel-smoothed residual conf − correct and δ̂_σ the kernel density of conf
    (reflected Gaussian kernel; Błasiok & Nakkiran 2023; relplot.smECE_sigma)."""
    conf, correct = _arrays(conf, correct)
    t = np.linspace(0, 1, max(round(10 / sigma), 200))
    residual, density = _kernel_smooth(conf, conf - correct, t, sigma)
    return float(np.sum(np.abs(residual) * density) / np.sum(density))


def smooth_ece_bandwidth(conf, correct, eps: float = 0.001) -> float:
    """The bandwidth σ* of smECE: the fixed point σ = smECE_σ, found as relplot does (σ = 1 if
    smECE_1 <= 1, else 10 bisection steps on (0, 1], keeping the end where σ >= smECE_σ)."""
    def small_enough(alpha: float) -> bool:
        return alpha < eps or alpha < smooth_ece_at(conf, correct, alpha)

    if small_enough(1.0):
        return 1.0
    start, end = 1.0, 0.0
    for _ in range(10):
        mid = (start + end) / 2
        if small_enough(mid):
            end = mid
        else:
            start = mid
    return start


def smooth_ece(conf, correct) -> float:
    """Smooth ECE (Błasiok & Nakkiran 2023): :func:`smooth_ece_at` at the automatically chosen
    bandwidth :func:`smooth_ece_bandwidth`; binning-free, a fraction. Equals ``relplot.smECE``.
    Confidences must be probabilities in [0, 1]."""
    conf, correct = _arrays(conf, correct)
    if conf.min() < 0 or conf.max() > 1:
        raise ValueError("smooth ECE needs probabilities in [0, 1]")
    return smooth_ece_at(conf, correct, smooth_ece_bandwidth(conf, correct))


def probability_measures(conf, correct, n_bins: int = N_BINS) -> dict[str, float]:
    """Every calibration and scoring number of probabilities on labelled answers (fractions):
    mean_conf, accuracy, ece_equal_mass, ece_equal_width (``metrics.calibration_error`` with
    ``weighted=True, last_bin_closed=True``), smece, brier, reliability, resolution, uncertainty,
    within_bin (:func:`brier_decomposition`, equal-mass bins), log_loss, auroc (fraction)."""
    conf, correct = _arrays(conf, correct)
    out = {"mean_conf": float(conf.mean()), "accuracy": float(correct.mean())}
    for name, bins in (("ece_equal_mass", "quantile"), ("ece_equal_width", "uniform")):
        out[name] = metrics.calibration_error(conf, correct, bins, n_bins, weighted=True, last_bin_closed=True)
    out["smece"] = smooth_ece(conf, correct)
    out.update(brier_decomposition(conf, correct, "quantile", n_bins))
    out["log_loss"] = log_loss(conf, correct)
    out["auroc"] = metrics.auroc_pct(conf, correct) / 100
    return out


# --- per model ---------------------------------------------------------------------------------------

MEASURES = ("mean_conf", "accuracy", "ece_equal_mass", "ece_equal_width", "smece", "brier", "reliability",
            "resolution", "uncertainty", "within_bin", "log_loss", "auroc")


def _fit_and_apply(method: str, parts, signal: str, scope: Scope):
    """Recalibrated test confidences of one model (datasets concatenated) and how many fits were degenerate."""
    if scope == "model":
        train_c = np.concatenate([tr[0] for tr, _ in parts])
        train_y = np.concatenate([tr[1] for tr, _ in parts])
        fitted = calibration_map(method, train_c, train_y, signal)
        return np.concatenate([fitted(te[0]) for _, te in parts]), int(fitted.degenerate), 1
    if scope == "dataset":
        maps = [calibration_map(method, tr[0], tr[1], signal) for tr, _ in parts]
        return (np.concatenate([m(te[0]) for m, (_, te) in zip(maps, parts)]),
                sum(m.degenerate for m in maps), len(maps))
    raise ValueError(f"scope={scope!r}: expected 'model' or 'dataset'")


def _by_model(splits: abstention.Splits) -> dict[str, list]:
    """Each model's (train, test) halves, datasets in the paper's order, models in display order."""
    out = {}
    for model in vocabulary.model_order(m for m, _ in splits):
        datasets = vocabulary.dataset_order(d for m, d in splits if m == model)
        out[model] = [splits[(model, d)] for d in datasets]
    return out


def recalibration_table(answers: pd.DataFrame, k: abstention.K = 20, signals: Sequence[str] = ("msp", "max_logit"),
                        scope: Scope = "model", seed: int = SEED) -> pd.DataFrame:
    """Before and after recalibration, per model, signal and method, on the test answers.

    One row per model × signal × method of :data:`METHODS` ("none" = the raw confidence; for Max
    Logit, which is no probability, only accuracy and auroc are given there). Columns: model, signal,
    method, k, scope, n_train (labelled answers), n_test, n_fits, n_degenerate (fits on one-class
    training answers, module docstring), the :data:`MEASURES` of :func:`probability_measures`, and
    auroc_change = auroc − auroc of "none" (0 for strictly increasing maps).
    """
    rows = []
    for signal in signals:
        splits = abstention.pooled_splits(answers, signal, k, seed)
        for model, parts in _by_model(splits).items():
            test_c = np.concatenate([te[0] for _, te in parts])
            test_y = np.concatenate([te[1] for _, te in parts])
            base = {"model": model, "signal": signal, "k": k, "scope": scope,
                    "n_train": sum(len(tr[0]) for tr, _ in parts), "n_test": test_y.size}
            before_auroc = metrics.auroc_pct(test_c, test_y) / 100
            for method in METHODS[signal]:
                if method == "none":
                    row = {**base, "method": method, "n_fits": 0, "n_degenerate": 0}
                    if signal == "msp":
                        row.update(probability_measures(test_c, test_y))
                    else:
                        row.update({"accuracy": float(test_y.mean()), "auroc": before_auroc})
                else:
                    prob, n_degenerate, n_fits = _fit_and_apply(method, parts, signal, scope)
                    row = {**base, "method": method, "n_fits": n_fits, "n_degenerate": n_degenerate,
                           **probability_measures(prob, test_y)}
                rows.append(row)
    out = pd.DataFrame(rows)
    out = out.reindex(columns=["model", "signal", "method", "k", "scope", "n_train", "n_test", "n_fits",
                               "n_degenerate", *MEASURES])
    before = out[out["method"] == "none"].set_index(["model", "signal"])["auroc"]
    out["auroc_change"] = out["auroc"] - pd.MultiIndex.from_frame(out[["model", "signal"]]).map(before)
    out["k"] = out["k"].astype(object)
    return out


def recalibration_sweep(answers: pd.DataFrame, ks: Iterable[abstention.K] = SWEEP_KS, **kwargs) -> pd.DataFrame:
    """:func:`recalibration_table` for each k, stacked (the test answers shrink as k grows)."""
    return pd.concat([recalibration_table(answers, k, **kwargs) for k in ks], ignore_index=True)


def still_miscalibrated(table: pd.DataFrame, tolerance: float = cells.ECE_TOLERANCE,
                        measure: str = "ece_equal_mass") -> pd.DataFrame:
    """Per k × signal × method of a recalibration table, over the paper's models (scored ones left
    out): n_models, n_miscalibrated (``measure`` > tolerance, as ``significance.miscalibrated_models``),
    models (their keys, comma-separated), worst (largest ``measure``) and tolerance."""
    paper = cells.split_scored(table)[0].dropna(subset=[measure])
    rows = []
    for (k, signal, method), group in paper.groupby(["k", "signal", "method"], sort=False):
        bad = group[group[measure] > tolerance]
        rows.append({"k": k, "signal": signal, "method": method, "n_models": len(group),
                     "n_miscalibrated": len(bad), "models": ", ".join(vocabulary.model_order(bad["model"])),
                     "worst": float(group[measure].max()), "tolerance": tolerance})
    return pd.DataFrame(rows)


def accuracy_error_correlation(table: pd.DataFrame, measure: str = "ece_equal_mass") -> pd.DataFrame:
    """Per k × signal × method, the correlation across the paper's models of test accuracy with
    ``measure`` (``metrics.correlation``): k, signal, method, n, pearson_r, pearson_p, spearman_rho,
    spearman_p."""
    paper = cells.split_scored(table)[0].dropna(subset=[measure])
    rows = [(k, signal, method, *metrics.correlation(group["accuracy"], group[measure]))
            for (k, signal, method), group in paper.groupby(["k", "signal", "method"], sort=False)]
    return pd.DataFrame(rows, columns=["k", "signal", "method", *metrics.Correlation._fields])


# --- reliability diagrams ---------------------------------------------------------------------------

MESH_POINTS = 200
N_BOOT_CURVE = 200


def smooth_reliability_curve(conf, correct, n_boot: int = N_BOOT_CURVE, seed: int = SEED,
                             level: float = 0.95, mesh_points: int = MESH_POINTS) -> pd.DataFrame:
    """The smoothed reliability diagram of relplot (Błasiok & Nakkiran 2023) as numbers.

    At the smECE bandwidth σ*, on a mesh of ``mesh_points`` in [0, 1]: mu = kernel (Nadaraya-Watson,
    reflected Gaussian) estimate of P(correct | conf = t), as ``relplot.prepare_rel_diagram`` without
    its band; density = kernel density of conf; lower/upper = percentile band at ``level`` of mu over
    ``n_boot`` bootstrap resamples of the answers (``numpy.random.default_rng(seed)``; relplot's own
    band uses unseeded bagging of the same smoother). Columns: t, mu, lower, upper, density, sigma.
    """
    conf, correct = _arrays(conf, correct)
    sigma = smooth_ece_bandwidth(conf, correct)
    t = np.linspace(0, 1, mesh_points)
    y = correct.astype(np.float64)
    mu, _ = _kernel_smooth(conf, y, t, sigma)
    density = _reflected_gaussian(conf, np.full(conf.size, 1 / conf.size), t, sigma)
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, t.size))
    for i in range(n_boot):
        pick = rng.integers(0, conf.size, conf.size)
        boots[i], _ = _kernel_smooth(conf[pick], y[pick], t, sigma)
    lower, upper = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2], axis=0) if n_boot else (np.nan, np.nan)
    return pd.DataFrame({"t": t, "mu": mu, "lower": lower, "upper": upper, "density": density, "sigma": sigma})


def reliability_before_after(answers: pd.DataFrame, method: Method = "platt", k: abstention.K = 20,
                             scope: Scope = "model", n_boot: int = N_BOOT_CURVE, seed: int = SEED,
                             models: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reliability-diagram data of MSP on the test answers, before (raw MSP) and after ``method``.

    Returns (bins, curves): bins = ``metrics.reliability_bins`` (10 equal-mass bins, last closed,
    empty bins left out) with columns model, stage ('before'/'after'), bin, lower, upper, count,
    mean_conf, frac_correct; curves = :func:`smooth_reliability_curve` with model and stage.
    """
    splits = abstention.pooled_splits(answers, "msp", k, seed)
    bins, curves = [], []
    for model, parts in _by_model(splits).items():
        if models is not None and model not in models:
            continue
        before = np.concatenate([te[0] for _, te in parts])
        test_y = np.concatenate([te[1] for _, te in parts])
        after, _, _ = _fit_and_apply(method, parts, "msp", scope)
        for stage, conf in (("before", before), ("after", after)):
            table = metrics.reliability_bins(conf, test_y, "quantile", N_BINS, last_bin_closed=True)
            bins.append(table[table["count"] > 0].assign(model=model, stage=stage))
            curves.append(smooth_reliability_curve(conf, test_y, n_boot, seed).assign(model=model, stage=stage))
    bins_out, curves_out = pd.concat(bins, ignore_index=True), pd.concat(curves, ignore_index=True)
    front = ["model", "stage"]
    return (bins_out[front + [c for c in bins_out.columns if c not in front]],
            curves_out[front + [c for c in curves_out.columns if c not in front]])
