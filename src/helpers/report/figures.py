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
from helpers.data.vocabulary import PAPER_MODELS, SIGNAL_NAMES, display_name, is_scored, model_order
from helpers.report.words import penalty_name

SCORED_COLOR = "black"
SCORED_MARKER = "*"
PAPER_MARKER = "o"
#: outcome -> colour in correct-vs-wrong figures
OUTCOME_COLORS = {"correct": "#2a9d8f", "wrong": "#e76f51"}


def use_house_style() -> None:
    """Set the book's seaborn theme (applied on import; call again after changing rcParams)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind",
                  rc={"figure.dpi": 100, "savefig.bbox": "tight", "axes.titlesize": "medium",
                      "legend.fontsize": "small", "legend.title_fontsize": "small"})


use_house_style()


def model_colors(models: Sequence[str]) -> dict[str, object]:
    """A colour per model: a fixed colour per paper model (stable across figures), black for ours."""
    palette = sns.color_palette("tab20", len(PAPER_MODELS))
    fixed = dict(zip(PAPER_MODELS, palette))
    return {m: fixed.get(m, SCORED_COLOR) for m in models}


def reliability_diagram(reliability: pd.DataFrame, title: str | None = None) -> Figure:
    """Fraction correct against mean MSP per bin, one line per model, with the diagonal of perfect
    calibration (``reliability`` from ``cells.reliability_table``)."""
    fig, ax = plt.subplots(figsize=(7, 6))
    models = model_order(reliability["model"].unique())
    colors = model_colors(models)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for model in models:
        part = reliability[reliability["model"] == model].sort_values("mean_conf")
        scored = is_scored(model)
        ax.plot(part["mean_conf"], part["frac_correct"], color=colors[model],
                marker=SCORED_MARKER if scored else PAPER_MARKER, markersize=9 if scored else 4,
                linewidth=2.5 if scored else 1.3, label=display_name(model))
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean MSP in bin", ylabel="fraction of answers correct",
           title=title)
    ax.set_aspect("equal")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return fig


def _ecdf(values: np.ndarray, n_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """ECDF as a step curve, thinned to at most ``n_points`` quantiles (plot size, not accuracy)."""
    values = np.sort(values)
    if values.size > n_points:
        values = np.quantile(values, np.linspace(0, 1, n_points))
    return values, np.linspace(0, 1, values.size)


def _model_panels(models: Sequence[str], ncols: int, height: float, xlabel: str, ylabel: str):
    """A grid of one panel per model (titled, scored models starred); unused panels hidden; x labels
    on the lowest panel of each column, y labels on the first column."""
    ncols = min(ncols, len(models))
    nrows = int(np.ceil(len(models) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, height * nrows), sharey=True,
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(models):
            ax.set_visible(False)
            continue
        model = models[i]
        ax.set_title(display_name(model) + (f" {SCORED_MARKER}" if is_scored(model) else ""))
        if i + ncols >= len(models):
            ax.set_xlabel(xlabel)
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
    return fig, list(axes.flat[:len(models)])


def msp_ecdfs(answers: pd.DataFrame, signal: str = "msp", ncols: int = 4) -> Figure:
    """Per model, the ECDFs of the confidence of correct and of wrong answers (unparseable = wrong).

    The further the wrong answers' curve lies above the correct answers' curve, the better the
    signal separates them; one panel per model, scored models' titles marked with a star.
    """
    models = model_order(answers["model"].astype(str).unique())
    fig, axes = _model_panels(models, ncols, 2.7, "MSP" if signal == "msp" else "Max Logit",
                              "share of answers ≤ x")
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
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    colors = model_colors(data["model"])
    for _, row in data.iterrows():
        scored = is_scored(row["model"])
        ax.scatter(row[x], row[y], color=colors[row["model"]], s=140 if scored else 45,
                   marker=SCORED_MARKER if scored else PAPER_MARKER, zorder=3,
                   edgecolor="white", linewidth=0.5)
        ax.annotate(display_name(row["model"]), (row[x], row[y]), textcoords="offset points",
                    xytext=(4, 4), fontsize="x-small", fontweight="bold" if scored else "normal")
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
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.2))
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
    fig, ax = plt.subplots(figsize=(1.3 * grid.shape[1] + 2.5, 0.42 * grid.shape[0] + 1.2))
    shown = grid.rename(index=display_name)
    sns.heatmap(shown, annot=True, fmt=fmt, cmap=cmap, cbar_kws={"label": label}, ax=ax, linewidths=0.5)
    ax.set_xlabel("")
    ax.set_ylabel("")
    return fig


def msp_histograms(answers: pd.DataFrame, bins: int = 20, ncols: int = 5) -> Figure:
    """Per model, the histogram of its MSPs (share of answers per bin on [0, 1], last bin closed)."""
    models = model_order(answers["model"].astype(str).unique())
    nrows = -(-len(models) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.0 * nrows), sharex=True, sharey=True,
                             squeeze=False)
    edges = np.linspace(0, 1, bins + 1)
    colors = model_colors(models)
    for ax, model in zip(axes.flat, models):
        msp = answers.loc[answers["model"] == model, "msp"].to_numpy(dtype=float)
        ax.hist(msp, bins=edges, weights=np.full(len(msp), 1 / max(len(msp), 1)), color=colors[model])
        ax.set_title(display_name(model))
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
    fig, axes = plt.subplots(len(penalties), len(splits), figsize=(5.2 * len(splits), 3.6 * len(penalties)),
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
            ax.set_title(f"{split}, {penalty_name(penalty)} score")
            ax.set_ylabel("score" if col == 0 else "")
            if row == len(penalties) - 1:
                ax.set_xlabel(xlabel)
    axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.tight_layout()
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
                       sharex=False, height=0.3 * len(order) + 1.5, aspect=1.1)
    for ax in grid.axes.flat:
        ax.axvline(0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("score − Base (points)")
        ax.set_ylabel("")
    grid.set_titles("{col_name} score")
    sns.move_legend(grid, "upper center", bbox_to_anchor=(0.45, 0.0), ncol=2, title=None, frameon=False)
    return grid.figure


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
    fig, axes = plt.subplots(1, len(kinds), figsize=(2.6 * len(kinds), 2.9), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        part = rows[rows["kind"] == kind]
        printed, ours = part["printed"].astype(float), part["ours"].astype(float)
        low, high = min(printed.min(), ours.min()), max(printed.max(), ours.max())
        ax.plot([low, high], [low, high], color="grey", linewidth=1, linestyle="--")
        colors = np.where(part["match"].fillna(False).astype(bool), OUTCOME_COLORS["correct"], OUTCOME_COLORS["wrong"])
        ax.scatter(ours, printed, s=10, c=colors, alpha=0.8, linewidths=0)
        ax.set_title(f"{PRINTED_KINDS[kind]}\n{len(part)} numbers", fontsize="small")
        ax.set_xlabel("ours (unrounded)")
    axes[0][0].set_ylabel("printed in the paper")
    fig.tight_layout()
    return fig
