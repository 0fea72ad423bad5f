"""helpers.plots: figures are built from small tables and scored models stand out; display tables."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from helpers import claims, plots
from helpers.table import conform


@pytest.fixture(scope="module")
def answers():
    rng = np.random.default_rng(7)
    parts = []
    for model in ("Falcon-7b", "Yi-6b", "Mistral", "gpt-4-turbo", "my-model"):
        for dataset in ("arc", "mmlu"):
            for phrasing in ("first", "second"):
                correct = rng.random(200) < 0.6
                msp = np.clip(0.3 + 0.2 * correct + 0.5 * rng.random(200), 0, 1)
                parts.append(pd.DataFrame({
                    "source": "scored" if model == "my-model" else "published", "model": model,
                    "dataset": dataset, "phrasing": phrasing, "shots": 0, "qid": range(200),
                    "grade": np.where(correct, "correct", "wrong"), "correct": correct, "msp": msp,
                    "max_logit": np.nan if model.startswith("gpt") else 20 * msp,
                }))
    return conform(pd.concat(parts, ignore_index=True))


def test_scored_models_are_marked():
    assert plots.is_scored is claims.is_scored  # one definition, used by the figures too
    colors = plots.model_colors(["Falcon-7b", "my-model", "Yi-6b"])
    assert colors["my-model"] == plots.SCORED_COLOR
    assert colors["Falcon-7b"] != colors["Yi-6b"]


def test_reliability_diagram_has_a_line_per_model_and_the_diagonal(answers):
    fig = plots.reliability_diagram(claims.reliability_table(answers))
    assert isinstance(fig, Figure)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["perfect calibration", "Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo", "my-model"]
    assert fig.axes[0].get_lines()[5].get_marker() == plots.SCORED_MARKER


def test_msp_ecdfs_one_panel_per_model(answers):
    fig = plots.msp_ecdfs(answers)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo", "my-model *"]
    assert all(len(ax.get_lines()) == 2 for ax in visible)  # correct and wrong


def test_scatter_fits_and_prints_r_p_n_of_the_paper_models_only(answers):
    models = claims.model_summary(answers)
    three = models[models["model"].isin(["Falcon-7b", "Yi-6b", "my-model"])]
    fig = plots.scatter_with_fit(three, "accuracy", "auroc_max_logit")
    # three points but two paper models: no line, no statistics
    assert len(fig.axes[0].get_lines()) == 0 and fig.axes[0].get_title() == ""
    fig = plots.scatter_with_fit(models, "accuracy", "auroc_msp", title="t")
    row = claims.correlation_table(models).set_index("y").loc["auroc_msp"]
    assert row["n"] == 4
    assert fig.axes[0].get_title() == (f"t\nPearson r = {row['pearson_r']:.2f}, p = {row['pearson_p']:.2g}, n = 4"
                                       " paper models\n(stars: our scored models, not in the fit)")
    # the line is the paper models' least-squares fit, drawn across every point
    paper = models[models["model"] != "my-model"]
    slope, intercept = np.polyfit(paper["accuracy"], paper["auroc_msp"], 1)
    (line,) = fig.axes[0].get_lines()
    xs, ys = line.get_data()
    assert (xs.min(), xs.max()) == (models["accuracy"].min(), models["accuracy"].max())
    assert ys == pytest.approx(intercept + slope * xs)
    markers = [c.get_paths()[0].vertices.shape[0] for c in fig.axes[0].collections]
    assert len(markers) == 5 and len(set(markers)) == 2  # four circles and one star
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "my-model" in labels and "Falcon 7B" in labels


def test_auroc_display_tables():
    per_dataset = pd.DataFrame({
        "model": ["gpt-4-turbo", "Falcon-7b", "Falcon-7b"], "dataset": ["arc", "mmlu", "arc"],
        "accuracy": [90.0, 30.0, 25.0], "auroc_msp": [85.04, 51.25, 49.0],
        "n_sig_msp": pd.array([2, 0, 1], dtype="Int64"), "n_cells_msp": pd.array([2, 2, 2], dtype="Int64"),
        "auroc_max_logit": [np.nan, 50.0, 48.0], "n_sig_max_logit": pd.array([pd.NA, 0, 0], dtype="Int64"),
        "n_cells_max_logit": pd.array([0, 2, 2], dtype="Int64"),
    })
    grid = plots.auroc_grid_display(per_dataset, "msp")
    assert grid.index.tolist() == ["Falcon 7B", "GPT4 Turbo"] and grid.columns.tolist() == ["arc", "mmlu"]
    assert grid.loc["Falcon 7B", "mmlu"] == "51.2 (0/2)" and grid.loc["GPT4 Turbo", "arc"] == "85.0 (2/2)"
    assert plots.auroc_grid_display(per_dataset, "max_logit").index.tolist() == ["Falcon 7B"]
    table = plots.auroc_display(per_dataset.iloc[:2])
    assert table.loc["GPT4 Turbo", "Max Logit AUROC (p < 10⁻⁴)"] == "–"


def test_bold_rows_marks_only_the_given_rows():
    table = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}, index=["Yi 6B", "mine (ours; this run)"])
    html = plots.bold_rows(table, ["mine (ours; this run)"]).to_html()
    styles = plots.bold_rows(table, ["mine (ours; this run)"])._compute().ctx
    assert {cell for cell, props in styles.items() if ("font-weight", "bold") in props} == {(1, 0), (1, 1)}
    assert "font-weight: bold" in html
