"""The paper's tables from the tidy per-answer table: cells, models, datasets, correlations, calibration.

A *cell* is model × dataset × phrasing × signal (METHODS §7); every table here is a mean of cell
values or, for the calibration table, a pooling of a model's answers, exactly as METHODS §8.1–8.6.
Inputs are tidy tables (``helpers.table``) of a single ``shots`` value; outputs are small DataFrames
with the authors' model and dataset keys.

Our own scored models (any key outside the paper's 14, :func:`is_scored`) get rows in the per-cell
and per-model tables, but every statistic *across* models — correlations, the t-test over cells,
the verdict counts of the chapters — is computed over the paper's models only, so adding a model of
ours never changes a number of the paper. The ``scored_*`` functions place our models next to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from helpers import metrics
from helpers.models import PAPER_MODELS, display_name, model_table
from helpers.table import DATASETS, PHRASINGS, SIGNALS

#: p-value below which a cell counts as significant in the paper's tables (METHODS §8.3)
SIGNIFICANCE = 1e-4
#: p-value below which a correlation across models is called significant in our prose
CORRELATION_ALPHA = 0.05
#: a conventional ECE (equal-mass, weighted, every answer counted) above this counts as miscalibrated
ECE_TOLERANCE = 0.05
#: AUROC (percent) of a confidence that carries no information about correctness
CHANCE = 50.0

CELL = ["model", "dataset", "phrasing", "signal"]

#: the (x, y) pairs of the paper's correlation figures (METHODS §8.4)
ACCURACY_PAIRS = (("accuracy", "auroc_msp"), ("accuracy", "auroc_max_logit"),
                  ("accuracy", "calibration_error_uniform_cells"))
#: size pairs (models of known size only, METHODS §8.4)
SIZE_PAIRS = (("params_b", "accuracy"), ("params_b", "auroc_msp"), ("params_b", "auroc_max_logit"),
              ("params_b", "calibration_error_uniform_cells"))


def is_scored(model: str) -> bool:
    """True for a model outside the paper's 14 (one we scored ourselves); the one test used everywhere.

    Published rows carry the authors' keys; our scored models are keyed by their checkpoint name,
    which never equals one of those keys.
    """
    return str(model) not in PAPER_MODELS


def model_label(model: str, note: str = "") -> str:
    """The model's display name for tables, with 'ours' (for our scored models) and ``note`` in
    brackets when there is either, e.g. 'SmolLM2-135M-Instruct (ours; arc only)'."""
    notes = [n for n in ("ours" if is_scored(model) else "", note) if n]
    return display_name(model) + (f" ({'; '.join(notes)})" if notes else "")


def split_scored(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of the paper's models, rows of our scored models) of any table with a ``model`` column,
    by :func:`is_scored`; rows keep their index."""
    scored = table["model"].astype(str).map(is_scored).to_numpy(dtype=bool)
    return table[~scored], table[scored]


def model_order(models: Iterable[str]) -> list[str]:
    """The given model keys in display order: the paper's 14 in its order, then others alphabetically."""
    models = set(map(str, models))
    return [m for m in PAPER_MODELS if m in models] + sorted(models - set(PAPER_MODELS))


def dataset_order(datasets: Iterable[str]) -> list[str]:
    """The given dataset keys in the paper's order, then any others alphabetically."""
    datasets = set(map(str, datasets))
    return [d for d in DATASETS if d in datasets] + sorted(datasets - set(DATASETS))


def _sorted(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    orders = {"model": model_order(df["model"]) if "model" in df else [], "dataset": list(DATASETS),
              "phrasing": list(PHRASINGS), "signal": list(SIGNALS)}
    out = df.copy()
    for key in keys:
        out[key] = pd.Categorical(out[key].astype(str), categories=orders[key], ordered=True)
    out = out.sort_values(list(keys), kind="stable").reset_index(drop=True)
    for key in keys:
        out[key] = out[key].astype(str)
    return out


def _single_shots(answers: pd.DataFrame) -> None:
    shots = answers["shots"].unique()
    if len(shots) > 1:
        raise ValueError(f"answers mix shots {sorted(shots)}; pass one shots value at a time")


def _long(answers: pd.DataFrame) -> pd.DataFrame:
    """One row per answer and signal with its confidence ``conf``; rows without that signal dropped."""
    parts = []
    for signal in SIGNALS:
        part = answers[["model", "dataset", "phrasing", "grade", "correct", signal]]
        part = part[part[signal].notna()].rename(columns={signal: "conf"})
        parts.append(part.assign(signal=signal))
    out = pd.concat(parts, ignore_index=True)
    for col in ("model", "dataset", "phrasing"):
        out[col] = out[col].astype(str)
    return out


def cell_table(answers: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (model × dataset × phrasing × signal; METHODS §7, §8.1–8.3).

    Columns: model, dataset, phrasing, signal, n, n_correct, n_unparseable, accuracy (percent,
    unparseable = wrong), auroc (percent, positive = correct, ties 1/2, NaN if all answers are
    correct or all wrong), mw_u, mw_p_two_sided (the paper's), mw_p_one_sided (correct > wrong).
    A signal's cell exists only where the signal has values (GPT models have no Max Logit).
    """
    _single_shots(answers)
    rows = []
    for (model, dataset, phrasing, signal), cell in _long(answers).groupby(CELL, sort=False):
        conf = cell["conf"].to_numpy()
        correct = cell["correct"].to_numpy()
        mw = metrics.mann_whitney(conf, correct)
        rows.append((model, dataset, phrasing, signal, len(cell), int(correct.sum()),
                     int((cell["grade"] == "unparseable").sum()), metrics.accuracy_pct(correct),
                     metrics.auroc_pct(conf, correct), mw.u, mw.p_two_sided, mw.p_one_sided))
    columns = CELL + ["n", "n_correct", "n_unparseable", "accuracy", "auroc", "mw_u",
                      "mw_p_two_sided", "mw_p_one_sided"]
    return _sorted(pd.DataFrame(rows, columns=columns), CELL)


def model_metrics(cells: pd.DataFrame, by_dataset: bool = False) -> pd.DataFrame:
    """Per model (or per model × dataset), means over its cells, as the paper's AUROC tables (§8.1–8.3).

    accuracy = mean accuracy of the model's MSP cells (10 for the full data; 2 per dataset);
    auroc_msp / auroc_max_logit = mean AUROC of its cells of that signal (NaN without that signal);
    n_sig_* = number of those cells with two-sided Mann-Whitney p < 1e-4, out of n_cells_*;
    n_above_* = number of those significant cells whose AUROC is above 50% (right answers more
    confident, not less).
    """
    keys = ["model", "dataset"] if by_dataset else ["model"]
    sig = cells["mw_p_two_sided"] < SIGNIFICANCE
    table = cells.assign(sig=sig, above=sig & (cells["auroc"] > CHANCE))
    wide = table.pivot_table(index=keys, columns="signal", values=["accuracy", "auroc", "sig", "above"],
                             aggfunc={"accuracy": "mean", "auroc": "mean", "sig": ["sum", "count"],
                                      "above": "sum"})
    out = pd.DataFrame(index=wide.index)
    out["accuracy"] = wide[("accuracy", "mean", "msp")]
    for signal in SIGNALS:
        has = ("auroc", "mean", signal) in wide.columns
        out[f"auroc_{signal}"] = wide[("auroc", "mean", signal)] if has else np.nan
        out[f"n_sig_{signal}"] = wide[("sig", "sum", signal)] if has else 0
        out[f"n_above_{signal}"] = wide[("above", "sum", signal)] if has else 0
        out[f"n_cells_{signal}"] = wide[("sig", "count", signal)] if has else 0
    for signal in SIGNALS:
        absent = out[f"n_cells_{signal}"].fillna(0) == 0
        for count in ("n_sig", "n_above"):
            out[f"{count}_{signal}"] = out[f"{count}_{signal}"].where(~absent).astype("Int64")
        out[f"n_cells_{signal}"] = out[f"n_cells_{signal}"].fillna(0).astype("Int64")
    return _sorted(out.reset_index(), keys)


def dataset_metrics(cells: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, as the paper's dataset table (METHODS §8.5).

    accuracy = mean over all (model, phrasing, signal) cells, so a model with both signals weighs
    twice as much as a GPT model; auroc_msp / auroc_max_logit = mean over that signal's cells.
    """
    accuracy = cells.groupby("dataset")["accuracy"].mean()
    auroc = cells.pivot_table(index="dataset", columns="signal", values="auroc", aggfunc="mean")
    out = pd.DataFrame({"accuracy": accuracy})
    for signal in SIGNALS:
        out[f"auroc_{signal}"] = auroc[signal] if signal in auroc else np.nan
    return _sorted(out.reset_index(), ["dataset"])


def calibration_by_model(answers: pd.DataFrame) -> pd.DataFrame:
    """Calibration of MSP per model (METHODS §8.4, §8.6), errors as fractions.

    calibration_error_paper: the model's answers pooled over its cells, 10 quantile bins, half-open
    (MSP == 1.0 dropped), unweighted mean over non-empty bins — the paper's table value.
    calibration_error_uniform_cells: 10 uniform half-open bins, unweighted, per cell, then the mean
    over the model's cells — the value of the paper's calibration-vs-accuracy figure.
    ece_equal_mass / ece_equal_width: conventional count-weighted ECE over the pooled answers, last
    bin closed (every answer counted), with the paper's quantile bins / 10 equal-width bins.
    share_msp_one: fraction of the model's answers with MSP == 1.0. n: answers pooled.
    mean_msp, frac_correct: pooled means; overconfidence = mean_msp − frac_correct (> 0: the model
    is on average more confident than accurate).
    """
    _single_shots(answers)
    data = answers[["model", "dataset", "phrasing", "correct", "msp"]].copy()
    data["model"] = data["model"].astype(str)
    per_cell = (data.groupby(["model", "dataset", "phrasing"], observed=True)
                .apply(lambda c: metrics.calibration_error(c["msp"], c["correct"], bins="uniform"),
                       include_groups=False)
                .groupby("model").mean())
    rows = []
    for model, pooled in data.groupby("model", sort=False):
        conf, correct = pooled["msp"].to_numpy(), pooled["correct"].to_numpy()
        rows.append({
            "model": model,
            "n": len(pooled),
            "calibration_error_paper": metrics.calibration_error(conf, correct),
            "calibration_error_uniform_cells": per_cell[model],
            "ece_equal_mass": metrics.calibration_error(conf, correct, "quantile", weighted=True,
                                                        last_bin_closed=True),
            "ece_equal_width": metrics.calibration_error(conf, correct, "uniform", weighted=True,
                                                         last_bin_closed=True),
            "share_msp_one": metrics.share_equal(conf, 1.0),
            "mean_msp": float(conf.mean()),
            "frac_correct": float(correct.mean()),
        })
    out = pd.DataFrame(rows)
    out["overconfidence"] = out["mean_msp"] - out["frac_correct"]
    return _sorted(out, ["model"])


def reliability_table(answers: pd.DataFrame, bins: metrics.Binning = "quantile",
                      last_bin_closed: bool = False) -> pd.DataFrame:
    """Reliability-diagram data per model: its pooled MSPs in 10 bins (METHODS §8.6).

    Defaults are the paper's diagram (quantile bins per model, half-open). Columns: model, bin,
    lower, upper, count, mean_conf, frac_correct; empty bins are left out.
    """
    _single_shots(answers)
    parts = []
    for model, pooled in answers.groupby(answers["model"].astype(str), sort=False):
        table = metrics.reliability_bins(pooled["msp"], pooled["correct"], bins,
                                         last_bin_closed=last_bin_closed)
        parts.append(table[table["count"] > 0].assign(model=model))
    out = pd.concat(parts, ignore_index=True)
    return _sorted(out[["model"] + [c for c in out.columns if c != "model"]], ["model"])


def model_summary(answers: pd.DataFrame, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """``model_metrics`` joined with ``calibration_by_model`` and the model size ``params_b``
    (billions; NaN where unknown, e.g. GPT and models outside the paper)."""
    cells = cell_table(answers) if cells is None else cells
    sizes = model_table().set_index("model")["params_b"]
    out = model_metrics(cells).merge(calibration_by_model(answers), on="model", how="left")
    out["params_b"] = out["model"].map(sizes).astype(float)
    return out


def correlation_table(models: pd.DataFrame, pairs: Sequence[tuple[str, str]] = ACCURACY_PAIRS,
                      include_scored: bool = False) -> pd.DataFrame:
    """One row per (x, y) pair: x, y, n, pearson_r, pearson_p, spearman_rho, spearman_p (METHODS §8.4).

    The unit is the model (one row of ``models`` each), the paper's models only unless
    ``include_scored``; models lacking x or y (GPT for Max Logit, unknown sizes) are left out,
    which gives the paper's n = 14 for MSP and n = 12 for Max Logit.
    """
    data = models if include_scored else split_scored(models)[0]
    rows = [(x, y, *metrics.correlation(data[x], data[y])) for x, y in pairs]
    return pd.DataFrame(rows, columns=["x", "y", *metrics.Correlation._fields])


def leave_one_out(models: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Pearson r of y on x over the paper's models with each one left out in turn (scored models
    never count): model, r_without, change = r_without − r over all of them; largest |change| first."""
    paper = split_scored(models)[0].reset_index(drop=True)
    r_all = metrics.correlation(paper[x], paper[y]).pearson_r
    r_without = [metrics.correlation(paper.drop(index=i)[x], paper.drop(index=i)[y]).pearson_r
                 for i in range(len(paper))]
    out = pd.DataFrame({"model": paper["model"].astype(str), "r_without": r_without})
    out["change"] = out["r_without"] - r_all
    return out.sort_values("change", key=lambda c: -c.abs(), kind="stable").reset_index(drop=True)


def linear_fit(models: pd.DataFrame, x: str, y: str):
    """The least-squares line of y on x over the paper's models having both values
    (``scipy.stats.linregress``, as the paper's figures, METHODS §8.4); None with fewer than three
    such models or a constant x or y. Our scored models never enter the fit."""
    data = split_scored(models)[0][[x, y]].dropna()
    if len(data) < 3 or data[x].nunique() < 2 or data[y].nunique() < 2:
        return None
    return stats.linregress(data[x], data[y])


def signal_auroc_t_test(cells: pd.DataFrame) -> dict[str, float]:
    """Pooled-variance two-sample t-test, one-sided, of all MSP cell AUROCs > all Max Logit cell
    AUROCs of the paper's models (METHODS §8.3, the paper's option 4; scored models' cells left out).
    Returns means, counts, t and p (NaN with fewer than two cells of either signal)."""
    cells = split_scored(cells)[0]
    msp = cells.loc[cells["signal"] == "msp", "auroc"].dropna()
    logit = cells.loc[cells["signal"] == "max_logit", "auroc"].dropna()
    t = p = float("nan")
    if len(msp) >= 2 and len(logit) >= 2:
        test = stats.ttest_ind(msp, logit, equal_var=True, alternative="greater")
        t, p = float(test.statistic), float(test.pvalue)
    return {"mean_msp": float(msp.mean()), "mean_max_logit": float(logit.mean()),
            "n_msp": len(msp), "n_max_logit": len(logit), "t": t, "p": p}


def significant_models(models: pd.DataFrame, signal: str = "msp") -> list[str]:
    """Models whose every cell of ``signal`` has p < 1e-4 (``models`` from ``model_metrics``)."""
    full = (models[f"n_cells_{signal}"] > 0) & (models[f"n_sig_{signal}"] == models[f"n_cells_{signal}"])
    return models.loc[full.fillna(False).astype(bool), "model"].tolist()


def above_chance(models: pd.DataFrame, signal: str = "msp") -> pd.Series:
    """Whether each model's ``signal`` is distinguishable from chance (rows of :func:`model_metrics`).

    Our rule: the mean AUROC of its cells is above 50% AND a strict majority of those cells are
    significantly above chance (two-sided Mann-Whitney p < 1e-4 with AUROC > 50%, ``n_above_*``).
    A mean above 50% alone is not enough: with few answers per cell a mean of, say, 51% arises
    from noise. False where the model lacks the signal. Boolean Series aligned with ``models``.
    """
    n_cells = models[f"n_cells_{signal}"].fillna(0).astype(int)
    n_above = models[f"n_above_{signal}"].fillna(0).astype(int)
    mean_above = (models[f"auroc_{signal}"] > CHANCE).fillna(False).astype(bool)
    return mean_above & (n_cells > 0) & (2 * n_above > n_cells)


def msp_beats_max_logit(models: pd.DataFrame) -> tuple[int, int]:
    """(n_both, n_msp_better): how many models (rows of :func:`model_metrics`) have both mean
    AUROCs, and how many of them have a strictly higher mean AUROC with the MSP than the Max Logit."""
    both = models.dropna(subset=["auroc_msp", "auroc_max_logit"])
    return len(both), int((both["auroc_msp"] > both["auroc_max_logit"]).sum())


def n_below_chance(cells: pd.DataFrame) -> int:
    """How many cells (rows of :func:`cell_table`) have an AUROC below 50% (wrong answers more
    confident than right ones); cells without an AUROC are not counted."""
    return int((cells["auroc"] < CHANCE).sum())


def sidedness_changes(cells: pd.DataFrame, alpha: float = SIGNIFICANCE) -> int:
    """How many cells change verdict (p < alpha or not) between the paper's two-sided Mann-Whitney
    test and the one-sided test of the directional hypothesis conf(correct) > conf(wrong)
    (METHODS §8.3); cells without p-values count as not significant under both."""
    return int(((cells["mw_p_one_sided"] < alpha) != (cells["mw_p_two_sided"] < alpha)).sum())


def extremes(values: pd.Series, name: str) -> dict[str, object]:
    """The smallest and largest of ``values`` (indexed by model key, NaN ignored) and whose they are:
    {name_min, name_min_model, name_max, name_max_model}, model as display name."""
    values = values.dropna()
    if values.empty:
        raise ValueError(f"{name}: no values to take the extremes of")
    return {f"{name}_min": float(values.min()), f"{name}_min_model": display_name(values.idxmin()),
            f"{name}_max": float(values.max()), f"{name}_max_model": display_name(values.idxmax())}


def power_of_ten(value: float) -> str:
    """A power of ten in print, e.g. 1e-4 -> '10⁻⁴'; any other value as '{value:g}'."""
    exponent = round(float(np.log10(value))) if value > 0 else None
    if exponent is None or not np.isclose(10.0 ** exponent, value, rtol=1e-9, atol=0):
        return f"{value:g}"
    return "10" + str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def exceptions(models: Iterable[str]) -> str:
    """'there is no exception', 'the exception is A' or 'the exceptions are A and B' (display names)."""
    names = [display_name(m) for m in models]
    if not names:
        return "there is no exception"
    return f"the exception{'s are' if len(names) > 1 else ' is'} {join_words(names)}"


def names_or(models: Iterable[str], none: str = "none") -> str:
    """Display names joined as 'a, b and c' (:func:`join_words`), or ``none`` when there are none."""
    return join_words([display_name(m) for m in models]) or none


def correctness_summary(models: pd.DataFrame, cells: pd.DataFrame) -> dict[str, object]:
    """The numbers of the correctness chapter's verdict, over the paper's models (rows of
    :func:`model_metrics` and :func:`cell_table`; scored models are left out, METHODS §8.3):

    n_models; n_supported / supported_models (every MSP cell p < 1e-4, :func:`significant_models`),
    unsupported (:func:`exceptions` among the rest), verdict; n_above_chance and not_above_chance
    (:func:`above_chance`; :func:`exceptions` words),
    n_mean_above (mean MSP AUROC > 50% alone); auroc_min/_max and their models (mean MSP AUROC,
    :func:`extremes`); n_logit_models, n_msp_better (:func:`msp_beats_max_logit`); the t-test
    (mean_msp, mean_max_logit, n_msp_cells, n_logit_cells, t_p; :func:`signal_auroc_t_test`);
    n_cells (all the paper models' cells, both signals), n_below_chance, n_sidedness_differs.
    """
    paper = split_scored(models)[0]
    paper_cells = split_scored(cells)[0]
    supported = significant_models(paper, "msp")
    chance = above_chance(paper, "msp")
    n_both, n_better = msp_beats_max_logit(paper)
    t_test = signal_auroc_t_test(paper_cells)
    return {
        "n_models": len(paper),
        "n_supported": len(supported),
        "verdict": verdict(len(supported), len(paper)),
        "supported_models": names_or(supported),
        "unsupported": exceptions(m for m in paper["model"] if m not in supported),
        "n_above_chance": int(chance.sum()),
        "not_above_chance": exceptions(paper.loc[~chance, "model"]),
        "n_mean_above": int((paper["auroc_msp"] > CHANCE).sum()),
        **extremes(paper.set_index("model")["auroc_msp"], "auroc"),
        "n_logit_models": n_both,
        "n_msp_better": n_better,
        "mean_msp": t_test["mean_msp"], "mean_max_logit": t_test["mean_max_logit"],
        "n_msp_cells": t_test["n_msp"], "n_logit_cells": t_test["n_max_logit"], "t_p": t_test["p"],
        "n_cells": len(paper_cells),
        "n_below_chance": n_below_chance(paper_cells),
        "n_sidedness_differs": sidedness_changes(paper_cells),
    }


def calibration_summary(calibration: pd.DataFrame, tolerance: float = ECE_TOLERANCE) -> dict[str, object]:
    """The numbers of the calibration chapter's verdict, over the paper's models (rows of
    :func:`calibration_by_model`; scored models left out), errors as fractions, shares in percent:

    tolerance, tolerance_pct; n_models, n_miscalibrated (:func:`miscalibrated_models`), verdict;
    n_overconfident (mean MSP > accuracy) and overconfidence_min/_max with models (percentage points);
    paper_min/_max and ece_min/_max with models (the paper's recipe, the equal-mass weighted ECE);
    most_ones_model / most_ones_share (largest share of MSP == 1.0); changed_model, changed_paper,
    changed_ece (largest |paper − ECE|); rank_rho (Spearman ρ of the two measures across models).
    """
    paper = split_scored(calibration)[0].set_index("model")
    overconfidence = 100 * paper["overconfidence"]
    gap = (paper["calibration_error_paper"] - paper["ece_equal_mass"]).abs()
    most_ones, changed = paper["share_msp_one"].idxmax(), gap.idxmax()
    n_miscalibrated = len(miscalibrated_models(paper.reset_index(), tolerance))
    return {
        "tolerance": tolerance, "tolerance_pct": 100 * tolerance,
        "n_models": len(paper), "n_miscalibrated": n_miscalibrated,
        "verdict": verdict(n_miscalibrated, len(paper)),
        "n_overconfident": int((overconfidence > 0).sum()),
        **extremes(overconfidence, "overconfidence"),
        **extremes(paper["calibration_error_paper"], "paper"),
        **extremes(paper["ece_equal_mass"], "ece"),
        "most_ones_model": display_name(most_ones),
        "most_ones_share": float(100 * paper.loc[most_ones, "share_msp_one"]),
        "changed_model": display_name(changed),
        "changed_paper": float(paper.loc[changed, "calibration_error_paper"]),
        "changed_ece": float(paper.loc[changed, "ece_equal_mass"]),
        "rank_rho": metrics.correlation(paper["calibration_error_paper"], paper["ece_equal_mass"]).spearman_rho,
    }


def family_trend(models: pd.DataFrame, family: str, columns: Sequence[str]) -> pd.DataFrame:
    """The paper's models of one family (``helpers.models`` ``family``, e.g. 'Llama 2') present in
    ``models``, smallest first: model, params_b and ``columns``."""
    sizes = model_table().set_index("model")
    keys = sizes.index[sizes["family"] == family]
    rows = models[models["model"].isin(keys)][["model", *columns]]
    rows = rows.assign(params_b=rows["model"].map(sizes["params_b"]).astype(float))
    return rows.sort_values("params_b", kind="stable")[["model", "params_b", *columns]].reset_index(drop=True)


def trend_words(values: Sequence[float]) -> str:
    """'rises', 'falls' (strictly, in the given order), 'does not move in one direction', or
    'cannot be compared' with fewer than two values."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return "cannot be compared"
    steps = np.diff(values)
    return "rises" if (steps > 0).all() else "falls" if (steps < 0).all() else "does not move in one direction"


def describe_family_trend(models: pd.DataFrame, family: str, labels: dict[str, str]) -> str:
    """One sentence on how ``labels``' columns change with size within a model family, e.g.
    'Within Llama 2 (7, 13 and 70 billion parameters), accuracy rises (40.6, 46.7 and 58.3) and MSP
    AUROC rises (…).'; 'No Llama 2 model is in this run.' without any."""
    trend = family_trend(models, family, list(labels))
    if trend.empty:
        return f"No {family} model is in this run."
    sizes = join_words([f"{v:g}" for v in trend["params_b"]])
    parts = [f"{label} {trend_words(trend[column])} ({join_words([f'{v:.1f}' for v in trend[column]])})"
             for column, label in labels.items()]
    return f"Within {family} ({sizes} billion parameters), {join_words(parts)}."


def describe_correlation(r: float, p: float, alpha: float = CORRELATION_ALPHA) -> str:
    """Words for a correlation: 'no significant correlation' when p >= alpha, else its strength
    (|r| < 0.3 weak, < 0.7 moderate, else strong) and sign, e.g. 'a strong positive correlation'."""
    if not np.isfinite(r) or not np.isfinite(p) or p >= alpha:
        return "no significant correlation"
    strength = "weak" if abs(r) < 0.3 else "moderate" if abs(r) < 0.7 else "strong"
    return f"a {strength} {'positive' if r > 0 else 'negative'} correlation"


def correlation_stats(n: int, r: float, p: float, rho: float | None = None) -> str:
    """The numbers behind a correlation in words: 'r = 0.83, p = 2.3e-04, n = 14' (Pearson; with
    '; Spearman ρ = 0.84' when ``rho`` is given), or 'n = 2, too few models for a correlation'
    when r is not finite (fewer than three pairs or a constant sample)."""
    if not np.isfinite(r):
        return f"n = {n}, too few models for a correlation"
    p_text = f"{p:.1e}" if p < 0.001 else f"{p:.2g}"
    text = f"r = {r:.2f}, p = {p_text}, n = {n}"
    return text + (f"; Spearman ρ = {rho:.2f}" if rho is not None and np.isfinite(rho) else "")


def miscalibrated_models(calibration: pd.DataFrame, tolerance: float = ECE_TOLERANCE) -> list[str]:
    """Models (rows of ``calibration_by_model``) whose conventional ECE (equal-mass, weighted, every
    answer counted) exceeds ``tolerance``: on average their MSP is off by more than that fraction."""
    return calibration.loc[calibration["ece_equal_mass"] > tolerance, "model"].tolist()


def verdict(n_support: int, n_total: int) -> str:
    """Words for how many of ``n_total`` models support a claim: 'holds for every model',
    'holds for k of n models' or 'does not hold for any model'."""
    if n_total > 0 and n_support == n_total:
        return "holds for every model" if n_total > 1 else "holds for the model"
    if n_support == 0:
        return "does not hold for any model"
    return f"holds for {n_support} of {n_total} models"


# --- our scored models next to the paper's ------------------------------------------------------

def join_words(words: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    words = list(words)
    return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]


def coverage(answers: pd.DataFrame) -> pd.DataFrame:
    """Per model, which answers it has: datasets (keys in the paper's order), n_answers, and
    n_possible = the sum over the table's datasets of the most answers any model has there (the
    paper's models answer every question in both phrasings); complete = n_answers == n_possible.
    ``covers`` says it in words: 'all 42,814 answers', '2,000 of 42,814 answers, on all 5 datasets'
    or '560 of 42,814 answers, on arc and hellaswag only'.
    """
    counts = (answers.assign(model=answers["model"].astype(str), dataset=answers["dataset"].astype(str))
              .groupby(["model", "dataset"]).size())
    counts = counts[counts > 0]
    n_possible = int(counts.groupby("dataset").max().sum())
    all_datasets = dataset_order(counts.index.get_level_values("dataset"))
    rows = []
    for model, per_dataset in counts.groupby("model"):
        datasets = dataset_order(per_dataset.index.get_level_values("dataset"))
        n = int(per_dataset.sum())
        where = (f"on all {len(datasets)} datasets" if datasets == all_datasets
                 else f"on {join_words(datasets)} only")
        covers = f"all {n:,} answers" if n == n_possible else f"{n:,} of {n_possible:,} answers, {where}"
        rows.append((model, ", ".join(datasets), n, n_possible, n == n_possible, covers))
    out = pd.DataFrame(rows, columns=["model", "datasets", "n_answers", "n_possible", "complete", "covers"])
    return _sorted(out, ["model"])


def scored_facts(table: pd.DataFrame, coverage_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The scored models' rows of a per-model table, with ``name`` (display name), ``n_paper`` (how
    many of the paper's models the table holds) and, given ``coverage_table`` (:func:`coverage`),
    its ``covers`` words."""
    paper, scored = split_scored(table)
    out = scored.assign(name=scored["model"].map(display_name), n_paper=len(paper))
    if coverage_table is not None:
        out = out.merge(coverage_table[["model", "covers"]], on="model", how="left")
    return out.reset_index(drop=True)


def _n_paper_beyond(table: pd.DataFrame, column: str, values: pd.Series, larger: bool) -> list[int]:
    """For each value, how many of the paper's models have a strictly larger (or smaller) ``column``."""
    paper = split_scored(table)[0][column].dropna().to_numpy()
    return [int((paper > v).sum() if larger else (paper < v).sum()) for v in values]


def scored_calibration(calibration: pd.DataFrame, tolerance: float = ECE_TOLERANCE,
                       coverage_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our scored models next to the paper's calibration (rows of :func:`calibration_by_model`):
    ece (conventional, equal-mass), paper_error (the paper's recipe), mean_msp_pct and accuracy_pct,
    status ('miscalibrated' when ece > tolerance, as :func:`miscalibrated_models`, else 'calibrated
    within the tolerance') and n_paper_worse, the paper's models with a larger ECE."""
    out = scored_facts(calibration, coverage_table)
    return out.assign(
        ece=out["ece_equal_mass"], paper_error=out["calibration_error_paper"],
        mean_msp_pct=100 * out["mean_msp"], accuracy_pct=100 * out["frac_correct"],
        status=np.where(out["ece_equal_mass"] > tolerance, "miscalibrated", "calibrated within the tolerance"),
        n_paper_worse=_n_paper_beyond(calibration, "ece_equal_mass", out["ece_equal_mass"], larger=True))


def scored_correctness(models: pd.DataFrame, coverage_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our scored models next to the paper's AUROCs (rows of :func:`model_metrics`): auroc_msp,
    n_sig_msp and n_above_msp of n_cells_msp, auroc_max_logit, chance ('distinguishable from
    chance' or 'not distinguishable from chance', by :func:`above_chance`) and n_paper_lower, the
    paper's models with a lower mean MSP AUROC."""
    out = scored_facts(models, coverage_table)
    chance = above_chance(out, "msp") if len(out) else pd.Series(dtype=bool)
    return out.assign(chance=np.where(chance, "distinguishable from chance", "not distinguishable from chance"),
                      n_paper_lower=_n_paper_beyond(models, "auroc_msp", out["auroc_msp"], larger=False))


def scored_overview(models: pd.DataFrame, cells: pd.DataFrame,
                    coverage_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`scored_correctness` with, per scored model, n_answers (all its answers), n_per_cell
    (fewest answers in one of its dataset × phrasing cells), unparseable_pct (percent of its
    answers the parser could not read), from its MSP cells (rows of :func:`cell_table`), and
    n_per_cell_paper (fewest answers in a cell of the paper's models; NaN without them)."""
    msp = cells[cells["signal"] == "msp"]
    by_model = msp.groupby("model")
    counts = pd.DataFrame({"n_answers": by_model["n"].sum(), "n_per_cell": by_model["n"].min(),
                           "unparseable_pct": 100 * by_model["n_unparseable"].sum() / by_model["n"].sum()})
    out = scored_correctness(models, coverage_table)
    paper_cells = split_scored(msp)[0]
    return out.merge(counts, left_on="model", right_index=True, how="left").assign(
        n_per_cell_paper=paper_cells["n"].min() if len(paper_cells) else np.nan)


def models_and_scored(models: Sequence[str] | None, present: Iterable[str]) -> list[str] | None:
    """The models a chapter about our scored models shows: None (all) when ``models`` is None, else
    ``models`` plus every scored model among ``present``, in display order (:func:`model_order`)."""
    if models is None:
        return None
    return model_order({*([models] if isinstance(models, str) else models),
                        *(m for m in map(str, present) if is_scored(m))})


def scored_positions(models: pd.DataFrame, x: str, y: str,
                     coverage_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Where each scored model with both values sits against the paper models' line of y on x
    (:func:`linear_fit`): x_value, y_value, predicted (the line at its x), residual = y − predicted,
    distance = |residual|, side ('above'/'below' the line), r_paper (Pearson r over the paper's
    models) and r_with (over the paper's models plus this one model). NaN predictions when there
    is no line."""
    out = scored_facts(models, coverage_table).dropna(subset=[x, y]).reset_index(drop=True)
    fit = linear_fit(models, x, y)
    predicted = fit.intercept + fit.slope * out[x] if fit is not None else np.nan
    paper = split_scored(models)[0]
    r_with = [metrics.correlation(pd.concat([paper[x], pd.Series([vx])]),
                                  pd.concat([paper[y], pd.Series([vy])])).pearson_r
              for vx, vy in zip(out[x], out[y])]
    out = out.assign(x_value=out[x], y_value=out[y], predicted=predicted)
    out = out.assign(residual=out["y_value"] - out["predicted"],
                     r_paper=metrics.correlation(paper[x], paper[y]).pearson_r, r_with=r_with)
    return out.assign(distance=out["residual"].abs(), side=np.where(out["residual"] >= 0, "above", "below"))


def describe_each(facts: pd.DataFrame, template: str, none: str = "") -> str:
    """One sentence per row of ``facts``, ``template.format(**row)``, joined by spaces; ``none``
    when there are no rows (e.g. no scored model in the chapter)."""
    if facts.empty:
        return none
    return " ".join(template.format(**row) for row in facts.to_dict("records"))
