"""Figures in one house style, from the small tables of ``helpers.claims``.

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
from scipy import stats

from helpers.claims import model_order
from helpers.models import PAPER_MODELS, display_name

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


def is_scored(model: str) -> bool:
    """True for a model outside the paper's 14 (one of ours)."""
    return model not in PAPER_MODELS


def model_colors(models: Sequence[str]) -> dict[str, object]:
    """A colour per model: a fixed colour per paper model (stable across figures), black for ours."""
    palette = sns.color_palette("tab20", len(PAPER_MODELS))
    fixed = dict(zip(PAPER_MODELS, palette))
    return {m: fixed.get(m, SCORED_COLOR) for m in models}


def reliability_diagram(reliability: pd.DataFrame, title: str | None = None) -> Figure:
    """Fraction correct against mean MSP per bin, one line per model, with the diagonal of perfect
    calibration (``reliability`` from ``claims.reliability_table``)."""
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


def msp_ecdfs(answers: pd.DataFrame, signal: str = "msp", ncols: int = 4) -> Figure:
    """Per model, the ECDFs of the confidence of correct and of wrong answers (unparseable = wrong).

    The further the wrong answers' curve lies above the correct answers' curve, the better the
    signal separates them; one panel per model, scored models' titles marked with a star.
    """
    models = model_order(answers["model"].astype(str).unique())
    nrows = int(np.ceil(len(models) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.7 * nrows), sharey=True,
                             squeeze=False, sharex=signal == "msp")
    model_col = answers["model"].astype(str)
    for ax, model in zip(axes.flat, models):
        part = answers.loc[model_col == model, [signal, "correct"]].dropna()
        for outcome, mask in (("correct", part["correct"]), ("wrong", ~part["correct"])):
            if mask.any():
                x, y = _ecdf(part.loc[mask, signal].to_numpy())
                ax.step(x, y, where="post", color=OUTCOME_COLORS[outcome], label=outcome)
        ax.set_title(display_name(model) + (f" {SCORED_MARKER}" if is_scored(model) else ""))
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of answers ≤ x")
    for ax in axes[-1, :]:
        ax.set_xlabel("MSP" if signal == "msp" else "Max Logit")
    axes.flat[0].legend(loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def scatter_with_fit(models: pd.DataFrame, x: str, y: str, xlabel: str | None = None,
                     ylabel: str | None = None, title: str | None = None) -> Figure:
    """One point per model (labelled), the least-squares line, and Pearson r, its p and n printed.

    Models lacking x or y are left out, as in ``claims.correlation_table``.
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
                    xytext=(4, 4), fontsize="x-small")
    if len(data) >= 3:
        fit = stats.linregress(data[x], data[y])
        xs = np.linspace(data[x].min(), data[x].max(), 2)
        ax.plot(xs, fit.intercept + fit.slope * xs, color="grey", linewidth=1.2)
        ax.text(0.02, 0.97, f"Pearson r = {fit.rvalue:.2f}, p = {fit.pvalue:.2g}, n = {len(data)}",
                transform=ax.transAxes, va="top", fontsize="small",
                bbox={"facecolor": "white", "edgecolor": "lightgrey", "boxstyle": "round"})
    ax.set(xlabel=xlabel or x, ylabel=ylabel or y, title=title)
    return fig


def auroc_dots(model_metrics: pd.DataFrame) -> Figure:
    """Mean AUROC per model for MSP and Max Logit (``claims.model_metrics``), with the 50% chance line."""
    data = model_metrics.melt(id_vars="model", value_vars=["auroc_msp", "auroc_max_logit"],
                              var_name="signal", value_name="auroc").dropna()
    data["signal"] = data["signal"].map({"auroc_msp": "MSP", "auroc_max_logit": "Max Logit"})
    order = model_order(data["model"].unique())
    data["label"] = data["model"].map(display_name)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.2))
    sns.pointplot(data=data, y="label", x="auroc", hue="signal", order=[display_name(m) for m in order],
                  linestyle="none", dodge=0.3, markers=["o", "D"], ax=ax)
    ax.axvline(50, color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="mean AUROC over the model's cells (%)", ylabel="")
    scored = {display_name(m) for m in order if is_scored(m)}
    for label in ax.get_yticklabels():
        if label.get_text() in scored:
            label.set_fontweight("bold")
    ax.legend(title=None, frameon=False)
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
