"""Figures in one house style, from the small tables of ``helpers.analysis``.

Every function returns a matplotlib ``Figure``. Models are labelled with their display names; models
outside the paper's 14 (our scored models) are drawn in black with a star marker so they stand out.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from helpers.analysis.abstention import run_rows
from helpers.analysis.cells import split_scored
from helpers.analysis.correlations import linear_fit
from helpers.data.vocabulary import (DATASETS, PAPER_MODELS, SIGNAL_NAMES, dataset_name, display_name, is_scored,
                                     model_order, model_table)
from helpers.report.words import penalty_name

SCORED_COLOR = "black"
SCORED_MARKER = "*"
PAPER_MARKER = "o"
#: outcome -> colour in correct-vs-wrong figures
OUTCOME_COLORS = {"correct": "#2a9d8f", "wrong": "#e76f51"}


#: the widest a figure is drawn (inches): a little under the book's text column (about 690 px), so
#: that it is shown at about its size there, and its fonts stay readable when a phone halves it
COLUMN_WIDTH = 6.2


def use_house_style() -> None:
    """Set the book's seaborn theme (applied on import; call again after changing rcParams): fonts
    sized for figures at most :data:`COLUMN_WIDTH` wide, shown as SVG in notebooks (sharp at any
    width, on a phone too)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=1.15,
                  rc={"figure.dpi": 100, "savefig.dpi": 200, "savefig.bbox": "tight",
                      "axes.titlesize": "medium", "legend.fontsize": "small", "legend.title_fontsize": "small",
                      "svg.fonttype": "path"})
    try:
        from IPython import get_ipython
    except ImportError:  # no notebook here: nothing to configure
        return
    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("svg")


use_house_style()

#: family -> the seaborn palette its models take shades of (smallest model lightest)
FAMILY_PALETTES = {"Falcon": "Greys", "Llama 2": "Blues", "Llama 3": "Purples", "Mistral": "Oranges",
                   "SOLAR": "PuRd", "Yi": "Greens", "GPT": "Reds"}


def model_colors(models: Sequence[str]) -> dict[str, object]:
    """A colour per model, the same in every figure: the paper's models in shades of one hue per
    family (:data:`FAMILY_PALETTES`, darker for larger models), black for ours.

    >>> colors = model_colors(["Llama-7b", "Llama-70b", "mine"])
    >>> colors["mine"], colors["Llama-7b"] != colors["Llama-70b"]
    ('black', True)
    """
    table = model_table()
    fixed = {}
    for family, part in table.groupby("family", sort=False):
        shades = sns.color_palette(FAMILY_PALETTES.get(family, "Greys"), len(part) + 2)[2:]
        fixed |= dict(zip(part.sort_values("params_b", kind="stable")["model"], shades))
    return {m: fixed.get(m, SCORED_COLOR) for m in models}


def _label_points(ax, xs, ys, labels, bold=()) -> None:
    """Label scatter points without overlaps (adjustText moves the labels, with a line to their point)."""
    from adjustText import adjust_text

    texts = [ax.text(x, y, label, fontsize="small", fontweight="bold" if label in bold else "normal")
             for x, y, label in zip(xs, ys, labels)]
    adjust_text(texts, x=list(xs), y=list(ys), ax=ax, expand=(1.3, 1.6),
                arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.6})


def reliability_diagram(reliability: pd.DataFrame, title: str | None = None, ncols: int = 3) -> Figure:
    """Fraction correct against mean MSP per bin, a panel per model (small multiples, so that the
    confident models piled up near 1 stay apart), each with the diagonal of perfect calibration
    (``reliability`` from ``cells.reliability_table``)."""
    models = model_order(reliability["model"].unique())
    colors = model_colors(models)
    ncols = min(ncols, len(models))
    nrows = -(-len(models) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, 1.9 * nrows + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    for ax, model in zip(axes.flat, models):
        part = reliability[reliability["model"] == model].sort_values("mean_conf")
        scored = is_scored(model)
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.plot(part["mean_conf"], part["frac_correct"], color=colors[model],
                marker=SCORED_MARKER if scored else PAPER_MARKER, markersize=7 if scored else 3.5,
                linewidth=2 if scored else 1.5)
        ax.set_title(display_name(model), fontsize="small", fontweight="bold" if scored else "normal")
        ax.set(xlim=(0, 1), ylim=(0, 1), xticks=[0, 0.5, 1], yticks=[0, 0.5, 1])
        ax.tick_params(labelsize="small")
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    fig.supxlabel("mean MSP in bin (dashed: perfect calibration)", fontsize="medium")
    fig.supylabel("fraction correct", fontsize="medium")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _ecdf(values: np.ndarray, n_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """ECDF as a step curve, thinned to at most ``n_points`` quantiles (plot size, not accuracy)."""
    values = np.sort(values)
    if values.size > n_points:
        values = np.quantile(values, np.linspace(0, 1, n_points))
    return values, np.linspace(0, 1, values.size)


def _model_panels(models: Sequence[str], ncols: int, height: float, xlabel: str, ylabel: str,
                  sharex: bool = False):
    """A grid of one panel per model (titled, scored models starred); unused panels hidden; the axis
    labels once for the whole figure. ``height``: of a panel, in inches."""
    ncols = min(ncols, len(models))
    nrows = int(np.ceil(len(models) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, height * nrows + 0.6), sharey=True,
                             sharex=sharex, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(models):
            ax.set_visible(False)
            continue
        model = models[i]
        ax.set_title(display_name(model) + (f" {SCORED_MARKER}" if is_scored(model) else ""), fontsize="small")
        ax.tick_params(labelsize="small")
    fig.supxlabel(xlabel, fontsize="medium")
    fig.supylabel(ylabel, fontsize="medium")
    return fig, list(axes.flat[:len(models)])


def msp_ecdfs(answers: pd.DataFrame, signal: str = "msp", ncols: int = 3) -> Figure:
    """Per model, the ECDFs of the confidence of correct and of wrong answers (unparseable = wrong).

    The further the wrong answers' curve lies above the correct answers' curve, the better the
    signal separates them; one panel per model, scored models' titles marked with a star.
    """
    models = model_order(answers["model"].astype(str).unique())
    fig, axes = _model_panels(models, ncols, 1.8, "MSP" if signal == "msp" else "Max Logit",
                              "share of answers ≤ x", sharex=signal == "msp")
    model_col = answers["model"].astype(str)
    for ax, model in zip(axes, models):
        part = answers.loc[model_col == model, [signal, "correct"]].dropna()
        for outcome, mask in (("correct", part["correct"]), ("wrong", ~part["correct"])):
            if mask.any():
                x, y = _ecdf(part.loc[mask, signal].to_numpy())
                ax.step(x, y, where="post", color=OUTCOME_COLORS[outcome], label=outcome)
    axes[0].legend(loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def scatter_with_fit(models: pd.DataFrame, x: str, y: str, xlabel: str | None = None,
                     ylabel: str | None = None, title: str | None = None) -> Figure:
    """One point per model (labelled), the least-squares line, and Pearson r, its p and n printed.

    Line, r, p and n are the paper's models' (``correlations.linear_fit``, ``correlations.correlation_table``);
    our scored models are drawn as labelled stars next to them but never enter the fit. Models
    lacking x or y are left out.
    """
    data = models[["model", x, y]].dropna()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH * 0.9, 5.0))
    colors = model_colors(data["model"])
    for _, row in data.iterrows():
        scored = is_scored(row["model"])
        ax.scatter(row[x], row[y], color=colors[row["model"]], s=160 if scored else 55,
                   marker=SCORED_MARKER if scored else PAPER_MARKER, zorder=3,
                   edgecolor="black" if not scored else "white", linewidth=0.4)
    names = [display_name(m) for m in data["model"]]
    _label_points(ax, data[x].to_numpy(), data[y].to_numpy(), names,
                  bold={display_name(m) for m in data["model"] if is_scored(m)})
    fit = linear_fit(data, x, y)
    if fit is not None:
        paper = split_scored(data)[0]
        xs = np.linspace(data[x].min(), data[x].max(), 2)
        ax.plot(xs, fit.intercept + fit.slope * xs, color="grey", linewidth=1.2)
        stats_line = f"Pearson r = {fit.rvalue:.2f}, p = {fit.pvalue:.2g}, n = {len(paper)}"
        if len(paper) < len(data):
            stats_line += " paper models\n(stars: our scored models, not in the fit)"
        title = f"{title}\n{stats_line}" if title else stats_line
    ax.set(xlabel=xlabel or x, ylabel=ylabel or y, title=title)
    return fig


def auroc_dots(model_metrics: pd.DataFrame) -> Figure:
    """Mean AUROC per model for MSP and Max Logit (``cells.model_metrics``), with the 50% chance line."""
    order = model_order(model_metrics["model"])
    data = model_metrics.set_index("model").reindex(order)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.35 * len(order) + 1.2))
    rows = np.arange(len(order))
    for (column, name, marker), shift in zip((("auroc_msp", "MSP", "o"), ("auroc_max_logit", "Max Logit", "D")),
                                             (-0.15, 0.15)):
        if data[column].notna().any():
            ax.scatter(data[column], rows + shift, marker=marker, s=40, label=name, zorder=3)
    ax.axvline(50, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(rows, [display_name(m) for m in order])
    ax.invert_yaxis()
    ax.set(xlabel="mean AUROC over the model's cells (%)", ylabel="")
    for label, model in zip(ax.get_yticklabels(), order):
        if is_scored(model):
            label.set_fontweight("bold")
    ax.legend(frameon=False)
    return fig


# --- the data chapter -------------------------------------------------------------------------

def grid_heatmap(grid: pd.DataFrame, label: str, fmt: str = ".1f", cmap: str = "viridis") -> Figure:
    """A model × dataset grid (e.g. accuracy in percent) as an annotated heat-map."""
    fig, ax = plt.subplots(figsize=(min(COLUMN_WIDTH, 1.1 * grid.shape[1] + 2.8), 0.42 * grid.shape[0] + 1.2))
    shown = grid.rename(index=display_name)
    sns.heatmap(shown, annot=True, fmt=fmt, cmap=cmap, cbar_kws={"label": label}, ax=ax, linewidths=0.5)
    ax.set_xlabel("")
    ax.set_ylabel("")
    return fig


def msp_histograms(answers: pd.DataFrame, bins: int = 20, ncols: int = 3) -> Figure:
    """Per model, the histogram of its MSPs (share of answers per bin on [0, 1], last bin closed)."""
    models = model_order(answers["model"].astype(str).unique())
    nrows = -(-len(models) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, 1.7 * nrows + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    edges = np.linspace(0, 1, bins + 1)
    colors = model_colors(models)
    for ax, model in zip(axes.flat, models):
        msp = answers.loc[answers["model"] == model, "msp"].to_numpy(dtype=float)
        ax.hist(msp, bins=edges, weights=np.full(len(msp), 1 / max(len(msp), 1)), color=colors[model])
        ax.set_title(display_name(model), fontsize="small")
        ax.tick_params(labelsize="small")
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    fig.supxlabel("maximum softmax probability (MSP)")
    fig.supylabel("share of answers")
    fig.tight_layout()
    return fig


# --- the abstention chapter -------------------------------------------------------------------

def score_curves(curves: pd.DataFrame, xlabel: str = "threshold on the MSP") -> Figure:
    """Score against the threshold (``abstention.abstention_curves``, one signal): a column per split
    (train, test), a row per penalty if the table has a ``penalty`` column; one line per model, a dot
    at the threshold chosen on the training answers. The leftmost point (−0.0001) never abstains."""
    curves = curves if "penalty" in curves else curves.assign(penalty=1)
    penalties = sorted(curves["penalty"].unique())
    splits = [s for s in ("train", "test") if s in set(curves["split"])]
    models = model_order(curves["model"].unique())
    colors = model_colors(models)
    fig, axes = plt.subplots(len(penalties), len(splits), figsize=(COLUMN_WIDTH, 2.9 * len(penalties) + 0.8),
                             sharex=True, squeeze=False)
    for row, penalty in enumerate(penalties):
        for col, split in enumerate(splits):
            ax = axes[row, col]
            part = curves[(curves["penalty"] == penalty) & (curves["split"] == split)]
            for model in models:
                line = part[part["model"] == model].sort_values("threshold")
                scored = is_scored(model)
                ax.plot(line["threshold"], line["score"], color=colors[model], linewidth=2.2 if scored else 1.3,
                        label=display_name(model))
                chosen = line[line["chosen"]]
                ax.scatter(chosen["threshold"], chosen["score"], color=colors[model], edgecolor="black",
                           marker=SCORED_MARKER if scored else PAPER_MARKER, s=110 if scored else 35, zorder=3)
            ax.set_title(f"{split}, {penalty_name(penalty)} score", fontsize="small")
            ax.set_ylabel("score" if col == 0 else "")
            if row == len(penalties) - 1:
                ax.set_xlabel(xlabel)
    fig.tight_layout()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False,
               fontsize="small")
    return fig


def abstention_gains(table: pd.DataFrame, k=20, scope: str = "overall") -> Figure:
    """Per model, score minus Base with the learnt MSP and Max Logit thresholds (one panel per
    penalty) for one run of ``abstention.abstention_table``; zero = no better than always answering."""
    rows = run_rows(table, k, scope)
    data = rows.assign(gain=rows["score"] - rows["base_score"], signal=rows["signal"].map(SIGNAL_NAMES),
                       label=rows["model"].map(display_name), setting=rows["penalty"].map(penalty_name))
    order = [display_name(m) for m in model_order(data["model"].unique())]
    signals = [s for s in SIGNAL_NAMES.values() if s in set(data["signal"])]
    grid = sns.catplot(data=data, y="label", x="gain", hue="signal", col="setting", kind="point",
                       order=order, hue_order=signals, linestyle="none",
                       dodge=0.3 if len(signals) > 1 else False, markers=["o", "D"][:len(signals)],
                       sharex=False, height=0.3 * len(order) + 1.5,
                       aspect=COLUMN_WIDTH / 2 / (0.3 * len(order) + 1.5))
    for ax in grid.axes.flat:
        ax.axvline(0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("score − Base (points)")
        ax.set_ylabel("")
    grid.set_titles("{col_name} score")
    sns.move_legend(grid, "upper center", bbox_to_anchor=(0.45, 0.0), ncol=2, title=None, frameon=False)
    return grid.figure


def gain_heatmaps(table: pd.DataFrame, by: str = "scope", k=20, signal: str = "msp") -> Figure:
    """Score minus Base (points) with learnt ``signal`` thresholds, a heat-map per penalty: a row per
    model and a column per dataset (``by="scope"``: each dataset its own run, training size ``k``)
    or per training size (``by="k"``: over all datasets) of ``abstention.abstention_table``."""
    rows = table[table["signal"] == signal]
    rows = rows[(rows["k"].astype(str) == str(k)) & (rows["scope"] != "overall")] if by == "scope" \
        else rows[rows["scope"] == "overall"]
    rows = rows.assign(gain=rows["score"] - rows["base_score"], column=rows[by].astype(str))
    columns = [d for d in DATASETS if d in set(rows["column"])] if by == "scope" else \
        list(dict.fromkeys(rows["column"]))
    penalties = sorted(rows["penalty"].unique())
    models = model_order(rows["model"].unique())
    # per dataset: the panels one above the other, so that five columns of numbers fit a phone too
    shape = (len(penalties), 1) if by == "scope" else (1, len(penalties))
    fig, axes = plt.subplots(*shape, figsize=(COLUMN_WIDTH, (0.3 * len(models) + 1.2) * shape[0] + 0.6),
                             sharex=by == "scope", sharey=by != "scope", squeeze=False)
    limit = max(float(rows["gain"].abs().max()), 1e-9)
    for ax, penalty in zip(axes.flat, penalties):
        grid = rows[rows["penalty"] == penalty].pivot_table(index="model", columns="column", values="gain",
                                                            aggfunc="first").reindex(index=models, columns=columns)
        grid = grid.rename(index=display_name, columns=dataset_name if by == "scope" else (lambda c: f"k = {c}"))
        grid = grid.round(1) + 0.0  # no "-0.0"
        sns.heatmap(grid, annot=True, fmt=".1f", cmap="RdBu", vmin=-limit, vmax=limit, center=0, cbar=False,
                    ax=ax, linewidths=0.5, annot_kws={"fontsize": "small"})
        ax.set_title(f"{penalty_name(penalty)} score", fontsize="medium")
        ax.set(xlabel="", ylabel="")
        ax.tick_params(labelsize="small")
        plt.setp(ax.get_xticklabels(), rotation=30 if by == "scope" else 0, ha="right" if by == "scope" else "center",
                 rotation_mode="anchor")
    fig.suptitle(f"{SIGNAL_NAMES[signal]} threshold: score − Base (points; blue: gain, red: loss)", fontsize="small")
    fig.tight_layout()
    return fig


# --- the reproduction chapter -----------------------------------------------------------------

#: kind of printed table -> (panel title, axis unit)
PRINTED_KINDS = {"auroc": "AUROC tables (accuracy, AUROC, %)", "calibration": "calibration error",
                 "dataset": "dataset table (%)", "score": "scores (points)", "pct_abstained": "% abstained"}


def printed_against_ours(comparison) -> Figure:
    """Every compared printed number (``reproduction.printed_comparison``; counts and '--' left out)
    against our unrounded value, one panel per kind of table, with the diagonal: a number the paper
    prints as we compute it lies on the line, to within its rounding."""
    rows = comparison[comparison["compared"] & (comparison["printed"] != "--")
                      & ~comparison["printed"].str.contains("/", regex=False)]
    kinds = [k for k in PRINTED_KINDS if k in set(rows["kind"])]
    ncols = min(3, len(kinds))
    nrows = -(-len(kinds) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, 2.6 * nrows + 0.4), squeeze=False)
    for ax in axes.flat[len(kinds):]:
        ax.set_visible(False)
    for ax, kind in zip(axes.flat, kinds):
        part = rows[rows["kind"] == kind]
        printed, ours = part["printed"].astype(float), part["ours"].astype(float)
        low, high = min(printed.min(), ours.min()), max(printed.max(), ours.max())
        ax.plot([low, high], [low, high], color="grey", linewidth=1, linestyle="--")
        colors = np.where(part["match"].fillna(False).astype(bool), OUTCOME_COLORS["correct"], OUTCOME_COLORS["wrong"])
        ax.scatter(ours, printed, s=10, c=colors, alpha=0.8, linewidths=0)
        ax.set_title(f"{PRINTED_KINDS[kind]}\n{len(part)} numbers", fontsize="small")
        ax.set_xlabel("ours (unrounded)")
    for row in axes:
        row[0].set_ylabel("printed in the paper")
    fig.tight_layout()
    return fig


# --- intervals and repeated splits ---------------------------------------------------------------

def interval_dots(intervals: pd.DataFrame, statistics: dict[str, str], xlabel: str, scale: float = 1.0,
                  reference: float | None = None, name: str = "statistic") -> Figure:
    """Per model (rows, display order) the estimate of each statistic of ``statistics`` (key ->
    legend label) with its interval as an error bar (long ``intervals``: model, ``name``, estimate,
    lo, hi, e.g. ``bootstrap.model_intervals``), values times ``scale``; a dashed line at
    ``reference`` (e.g. chance or a tolerance)."""
    rows = intervals[intervals[name].isin(list(statistics)) & intervals["estimate"].notna()]
    order = model_order(rows["model"].unique())
    position = {m: i for i, m in enumerate(order)}
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.3))
    shifts = np.linspace(-0.2, 0.2, len(statistics)) if len(statistics) > 1 else [0.0]
    for (key, label), shift, marker in zip(statistics.items(), shifts, "oDsv^"):
        part = rows[rows[name] == key]
        if part.empty:
            continue
        y = part["model"].map(position).to_numpy(float) + shift
        est, lo, hi = (scale * part[c].to_numpy(float) for c in ("estimate", "lo", "hi"))
        ax.errorbar(est, y, xerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)], fmt=marker,
                    markersize=5, capsize=2, linewidth=1, label=label)
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(order)), [display_name(m) for m in order])
    for label, model in zip(ax.get_yticklabels(), order):
        if is_scored(model):
            label.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set(xlabel=xlabel, ylabel="")
    if len(statistics) > 1:
        ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def scatter_with_intervals(models: pd.DataFrame, intervals: pd.DataFrame, x: str, y: str,
                           xlabel: str | None = None, ylabel: str | None = None) -> Figure:
    """:func:`scatter_with_fit` with each model's 95% interval of x and of y as error bars
    (``intervals``: ``bootstrap.model_intervals``; statistics without intervals, e.g. size, get none)."""
    fig = scatter_with_fit(models, x, y, xlabel, ylabel)
    ax = fig.axes[0]
    data = models[["model", x, y]].dropna()
    wide = {s: intervals[intervals["statistic"] == s].set_index("model") for s in (x, y)}
    for _, row in data.iterrows():
        err = []
        for s in (x, y):
            table = wide[s]
            if row["model"] in table.index:
                lo, hi = table.at[row["model"], "lo"], table.at[row["model"], "hi"]
                err.append([[max(row[s] - lo, 0)], [max(hi - row[s], 0)]])
            else:
                err.append(None)
        ax.errorbar(row[x], row[y], xerr=err[0], yerr=err[1], fmt="none", ecolor="grey", elinewidth=0.8,
                    capsize=1.5, zorder=2)
    return fig


def gain_band_curves(bands: pd.DataFrame, signal: str = "msp") -> Figure:
    """The k sweep of repeated splits (``abstention_repeats.k_sweep_bands``): per penalty a panel,
    per model the median gain over splits against k (categorical axis, as swept) with its 5–95%
    band shaded; zero = no better than always answering."""
    data = bands[bands["signal"] == signal]
    penalties = sorted(data["penalty"].unique())
    ks = list(dict.fromkeys(data["k"]))
    models = model_order(data["model"].unique())
    colors = model_colors(models)
    fig, axes = plt.subplots(1, len(penalties), figsize=(5.5 * len(penalties), 4.2), squeeze=False)
    for ax, penalty in zip(axes[0], penalties):
        part = data[data["penalty"] == penalty]
        for model in models:
            line = part[part["model"] == model].set_index("k").reindex(ks)
            xs = np.arange(len(ks))
            ax.plot(xs, line["median_gain"], color=colors[model], linewidth=2 if is_scored(model) else 1.2,
                    marker=SCORED_MARKER if is_scored(model) else PAPER_MARKER, markersize=3,
                    label=display_name(model))
            ax.fill_between(xs, line["gain_lo"], line["gain_hi"], color=colors[model], alpha=0.12, linewidth=0)
        ax.axhline(0, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(ks)), [str(k) for k in ks])
        ax.set(xlabel="training answers per dataset (k)", ylabel="score − Base (points)",
               title=f"{penalty_name(penalty)} score")
    axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize="x-small")
    fig.tight_layout()
    return fig


def gain_against_abstained(bands: pd.DataFrame, signal: str = "msp") -> Figure:
    """Per model (``abstention_repeats.gain_bands`` of one k), the median gain over splits against
    the median share of test questions abstained on, with their 5–95% ranges as error bars; a panel
    per penalty."""
    data = bands[bands["signal"] == signal]
    penalties = sorted(data["penalty"].unique())
    models = model_order(data["model"].unique())
    colors = model_colors(models)
    fig, axes = plt.subplots(1, len(penalties), figsize=(5.5 * len(penalties), 4.4), squeeze=False)
    for ax, penalty in zip(axes[0], penalties):
        part = data[data["penalty"] == penalty].set_index("model")
        for model in models:
            if model not in part.index:
                continue
            r = part.loc[model]
            scored = is_scored(model)
            ax.errorbar(r["median_pct_abstained"], r["median_gain"],
                        xerr=[[max(r["median_pct_abstained"] - r["pct_abstained_lo"], 0)],
                              [max(r["pct_abstained_hi"] - r["median_pct_abstained"], 0)]],
                        yerr=[[max(r["median_gain"] - r["gain_lo"], 0)], [max(r["gain_hi"] - r["median_gain"], 0)]],
                        fmt=SCORED_MARKER if scored else PAPER_MARKER, color=colors[model],
                        markersize=10 if scored else 5, elinewidth=0.8, capsize=1.5)
            ax.annotate(display_name(model), (r["median_pct_abstained"], r["median_gain"]),
                        textcoords="offset points", xytext=(4, 3), fontsize="x-small")
        ax.axhline(0, color="grey", linestyle="--", linewidth=1)
        ax.set(xlabel="test questions abstained on (%, median over splits)",
               ylabel="score − Base (points, median over splits)", title=f"{penalty_name(penalty)} score")
    fig.tight_layout()
    return fig


# --- the chapters beyond the paper ------------------------------------------------------------

#: stage of a recalibration figure -> colour
STAGE_COLORS = {"before": "#e76f51", "after": "#2a9d8f"}


def recalibration_panels(bins: pd.DataFrame, curves: pd.DataFrame, ncols: int = 4,
                         after_label: str = "after") -> Figure:
    """Reliability diagrams before and after recalibration as small multiples, one panel per model
    (``recalibration.reliability_before_after``): per stage the equal-mass bins as dots, relplot's
    smoothed reliability curve as a line and its bootstrap band shaded; the diagonal dashed."""
    models = model_order(curves["model"].unique())
    fig, axes = _model_panels(models, ncols, 3.0, "confidence", "fraction correct")
    names = {"before": "MSP", "after": after_label}
    for ax, model in zip(axes, models):
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        for stage, color in STAGE_COLORS.items():
            curve = curves[(curves["model"] == model) & (curves["stage"] == stage)]
            dots = bins[(bins["model"] == model) & (bins["stage"] == stage)]
            ax.fill_between(curve["t"], curve["lower"], curve["upper"], color=color, alpha=0.25, linewidth=0)
            ax.plot(curve["t"], curve["mu"], color=color, linewidth=1.5, label=names[stage])
            ax.scatter(dots["mean_conf"], dots["frac_correct"], color=color, s=12, zorder=3)
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.set_aspect("equal")
    axes[0].legend(loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def risk_coverage_figure(curves: pd.DataFrame, signals: Sequence[str] = ("msp", "max_logit")) -> Figure:
    """Selective risk against coverage (``selective.risk_coverage_by_model``), one line per model and
    a panel per signal present; scored models drawn in black and thicker."""
    shown = [s for s in signals if s in set(curves["signal"])]
    fig, axes = plt.subplots(1, len(shown), figsize=(5.4 * len(shown), 4.4), sharey=True, squeeze=False)
    models = model_order(curves["model"].unique())
    colors = model_colors(models)
    for ax, signal in zip(axes[0], shown):
        for model in models:
            line = curves[(curves["model"] == model) & (curves["signal"] == signal)].sort_values("coverage")
            if line.empty:
                continue
            scored = is_scored(model)
            ax.plot(line["coverage"], line["risk"], color=colors[model], linewidth=2.4 if scored else 1.3,
                    linestyle="--" if scored else "-", label=display_name(model))
        ax.set(xlim=(0, 1), ylim=(0, None), xlabel="coverage (share answered)", title=SIGNAL_NAMES[signal])
    axes[0][0].set_ylabel("risk (share wrong among answered)")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def interval_panels(table: pd.DataFrame, labels: dict[str, str], reference: float | None = 0.0,
                    ncols: int = 3, estimate: str = "estimate") -> Figure:
    """One panel per measure (``labels``: measure -> axis label, in panel order) of a long table with
    model, measure, ``estimate``, lo, hi (e.g. ``one_shot.paired_differences`` with
    ``estimate="difference"``): a dot per model with its interval as a bar, the ``reference`` value
    as a dashed line; scored models starred. (:func:`interval_dots` draws several statistics in one
    panel.)"""
    value = estimate
    measures = [m for m in labels if m in set(table["measure"])]
    ncols = min(ncols, len(measures))
    nrows = -(-len(measures) // ncols)
    models = model_order(table["model"].unique())
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 0.32 * len(models) * nrows + 1.2 * nrows),
                             sharey=True, squeeze=False)
    rows = np.arange(len(models))
    colors = model_colors(models)
    for ax, measure in zip(axes.flat, measures):
        part = table[table["measure"] == measure].set_index("model").reindex(models)
        for i, model in enumerate(models):
            row = part.loc[model]
            if pd.isna(row[value]):
                continue
            scored = is_scored(model)
            # a percentile interval need not contain the estimate, so the bar is drawn from low to high
            ax.hlines(i, row["lo"], row["hi"], color=colors[model], linewidth=1.5)
            ax.scatter(row[value], i, marker=SCORED_MARKER if scored else PAPER_MARKER, color=colors[model],
                       s=110 if scored else 25, zorder=3)
        if reference is not None:
            ax.axvline(reference, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(labels[measure])
        ax.set_yticks(rows, [display_name(m) for m in models])
    for ax in axes.flat[len(measures):]:
        ax.set_visible(False)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    return fig
