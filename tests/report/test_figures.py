"""helpers.report.figures: figures are built from small analysis tables and scored models stand out."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis.inputs import synthetic as synthetic_answers
from helpers.analysis import abstention, cells, correlations
from helpers.analysis.coverage import accuracy_grid
from helpers.data.schema import conform
from helpers.report import figures


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


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
    colors = figures.model_colors(["Falcon-7b", "my-model", "Yi-6b"])
    assert colors["my-model"] == figures.SCORED_COLOR
    assert colors["Falcon-7b"] != colors["Yi-6b"]
    # a paper model keeps its colour whatever else is drawn
    assert figures.model_colors(["Yi-6b"])["Yi-6b"] == colors["Yi-6b"]


def test_reliability_diagram_has_a_line_per_model_and_the_diagonal(answers):
    fig = figures.reliability_diagram(cells.reliability_table(answers))
    assert isinstance(fig, Figure)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["perfect calibration", "Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo", "my-model"]
    assert fig.axes[0].get_lines()[5].get_marker() == figures.SCORED_MARKER


def test_msp_ecdfs_one_panel_per_model(answers):
    fig = figures.msp_ecdfs(answers)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo", "my-model *"]
    assert all(len(ax.get_lines()) == 2 for ax in visible)  # correct and wrong


def test_scatter_fits_and_prints_r_p_n_of_the_paper_models_only(answers):
    models = cells.model_summary(answers)
    three = models[models["model"].isin(["Falcon-7b", "Yi-6b", "my-model"])]
    fig = figures.scatter_with_fit(three, "accuracy", "auroc_max_logit")
    # three points but two paper models: no line, no statistics
    assert len(fig.axes[0].get_lines()) == 0 and fig.axes[0].get_title() == ""
    fig = figures.scatter_with_fit(models, "accuracy", "auroc_msp", title="t")
    row = correlations.correlation_table(models).set_index("y").loc["auroc_msp"]
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


def test_auroc_dots_bold_our_models(answers):
    fig = figures.auroc_dots(cells.model_metrics(cells.cell_table(answers)))
    ax = fig.axes[0]
    labels = ax.get_yticklabels()
    assert [t.get_text() for t in labels] == ["Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo", "my-model"]
    assert [t.get_fontweight() for t in labels] == ["normal"] * 4 + ["bold"]
    assert len(ax.collections) == 2  # MSP and Max Logit
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [50]  # the chance line


def test_grid_heatmap_shows_display_names(answers):
    fig = figures.grid_heatmap(accuracy_grid(cells.cell_table(answers)), "accuracy (%)")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo",
                                                            "my-model"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["arc", "mmlu", "overall"]
    assert len(ax.texts) == 5 * 3  # one annotation per cell


def test_msp_histograms_one_panel_per_model(answers):
    fig = figures.msp_histograms(answers, ncols=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo", "my-model"]
    assert len(fig.axes) == 6  # 2 rows x 3 columns, one hidden
    heights = [bar.get_height() for bar in visible[0].patches]
    assert len(heights) == 20 and sum(heights) == pytest.approx(1.0)  # shares of the model's answers


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_answers()


def test_score_curves_figure_has_a_panel_per_split_and_penalty_and_a_dot_per_model(synthetic):
    curves = pd.concat([abstention.abstention_curves(synthetic, "msp", k=4, penalty=p).assign(penalty=p)
                        for p in (1, 2)])
    fig = figures.score_curves(curves)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["train, balanced score", "test, balanced score",
                                               "train, conservative score", "test, conservative score"]
    assert all(len(ax.get_lines()) == 2 and len(ax.collections) == 2 for ax in axes)  # models A and Z
    one = figures.score_curves(abstention.abstention_curves(synthetic, "msp", k=4))  # no penalty column
    assert [ax.get_title() for ax in one.get_axes()] == ["train, balanced score", "test, balanced score"]


def test_gain_figure_works_with_one_signal(synthetic):
    table = abstention.abstention_table(synthetic[synthetic["model"] == "A"], ks=(4,))
    assert set(table["signal"]) == {"msp"}
    fig = figures.abstention_gains(table, k=4)
    assert [ax.get_title() for ax in fig.get_axes()] == ["balanced score", "conservative score"]
