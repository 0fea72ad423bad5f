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


def test_families_share_a_hue_and_larger_models_are_darker():
    import seaborn as sns

    colors = figures.model_colors(["Llama-7b", "Llama-13b", "Llama-70b", "Yi-6b"])
    blues = sns.color_palette("Blues", 5)[2:]
    assert [colors[m] for m in ("Llama-7b", "Llama-13b", "Llama-70b")] == blues
    assert sum(colors["Llama-70b"]) < sum(colors["Llama-7b"])  # darker
    assert colors["Yi-6b"] == sns.color_palette("Greens", 4)[2]


def test_reliability_diagram_has_a_panel_per_model_with_the_diagonal(answers):
    fig = figures.reliability_diagram(cells.reliability_table(answers))
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo", "my-model"]
    for ax in panels:
        diagonal, line = ax.get_lines()
        assert list(diagonal.get_xdata()) == [0, 1] and list(diagonal.get_ydata()) == [0, 1]
    assert panels[-1].get_lines()[1].get_marker() == figures.SCORED_MARKER
    assert panels[0].get_lines()[1].get_marker() == figures.PAPER_MARKER


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


def test_gain_heatmaps_show_score_minus_base_per_model_and_dataset(synthetic):
    table = abstention.abstention_table(synthetic, ks=(4,))
    fig = figures.gain_heatmaps(table, by="scope", k=4)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["balanced score", "conservative score"]
    rows = table[(table["signal"] == "msp") & (table["k"].astype(str) == "4") & (table["scope"] != "overall")]
    assert len(rows)
    first = rows[rows["penalty"] == rows["penalty"].min()].iloc[0]
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert f"{first['score'] - first['base_score']:.1f}" in texts
    assert len(fig.axes[0].texts) == rows[rows["penalty"] == rows["penalty"].min()].shape[0]


def test_gain_figure_works_with_one_signal(synthetic):
    table = abstention.abstention_table(synthetic[synthetic["model"] == "A"], ks=(4,))
    assert set(table["signal"]) == {"msp"}
    fig = figures.abstention_gains(table, k=4)
    assert [ax.get_title() for ax in fig.get_axes()] == ["balanced score", "conservative score"]


# ---- intervals and repeated splits -------------------------------------------------------------

INTERVALS = pd.DataFrame({"model": ["Yi-6b", "Falcon-7b", "my-model", "Falcon-7b"],
                          "statistic": ["auroc_msp", "auroc_msp", "auroc_msp", "auroc_max_logit"],
                          "estimate": [70.0, 51.0, 50.5, 52.0], "lo": [69.0, 50.0, 47.0, 50.5],
                          "hi": [71.0, 52.5, 54.0, 53.0]})


def test_interval_dots_draw_one_error_bar_per_model_and_statistic():
    fig = figures.interval_dots(INTERVALS, {"auroc_msp": "MSP", "auroc_max_logit": "Max Logit"}, "AUROC", reference=50)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Falcon 7B", "Yi 6B", "my-model"]
    assert len(ax.containers) == 2                       # one errorbar container per statistic
    msp = ax.containers[0]
    assert msp.lines[0].get_xdata().tolist() == [70.0, 51.0, 50.5]
    assert [t.get_fontweight() for t in ax.get_yticklabels()][-1] == "bold"


def test_scatter_with_intervals_adds_bars_to_the_fit():
    models = pd.DataFrame({"model": ["Yi-6b", "Falcon-7b", "Mistral", "my-model"], "accuracy": [60.0, 30.0, 50.0, 20.0],
                           "auroc_msp": [70.0, 51.0, 65.0, 50.5]})
    fig = figures.scatter_with_intervals(models, INTERVALS, "accuracy", "auroc_msp")
    bars = [c for c in fig.axes[0].containers if c.has_yerr]
    assert len(bars) == 3                                # Mistral has no interval, so no bar
    assert "Pearson r" in fig.axes[0].get_title()


def test_gain_figures_have_a_panel_per_rule():
    bands = pd.DataFrame({"k": [5, 20, 5, 20] * 2, "signal": "msp", "penalty": [1, 1, 1, 1, 2, 2, 2, 2],
                          "model": ["Yi-6b", "Yi-6b", "my-model", "my-model"] * 2,
                          "median_gain": np.arange(8.0), "gain_lo": np.arange(8.0) - 1, "gain_hi": np.arange(8.0) + 1,
                          "median_pct_abstained": 10.0, "pct_abstained_lo": 5.0, "pct_abstained_hi": 20.0})
    curves = figures.gain_band_curves(bands)
    assert [ax.get_title() for ax in curves.axes] == ["balanced score", "conservative score"]
    assert [t.get_text() for t in curves.axes[0].get_xticklabels()] == ["5", "20"]
    scatter = figures.gain_against_abstained(bands[bands["k"] == 20])
    assert len(scatter.axes) == 2 and len(scatter.axes[0].containers) == 2
# --- the chapters beyond the paper -------------------------------------------------------------

def test_recalibration_panels_one_panel_per_model_with_both_stages(answers):
    from helpers.analysis import recalibration

    bins, curves = recalibration.reliability_before_after(answers, "platt", 20, n_boot=5)
    fig = figures.recalibration_panels(bins, curves, after_label="after Platt")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo",
                                                  f"my-model {figures.SCORED_MARKER}"]
    labels = [line.get_label() for line in visible[0].get_lines()]
    assert labels[1:] == ["MSP", "after Platt"]  # after the diagonal
    # per stage: a band and the bins as dots
    assert len(visible[0].collections) == 4


def test_risk_coverage_figure_a_panel_per_signal_and_scored_models_dashed(answers):
    from helpers.analysis import selective

    curves = pd.concat([selective.risk_coverage_by_model(answers, s, coverages=np.linspace(0.1, 1, 10))
                        for s in ("msp", "max_logit")])
    fig = figures.risk_coverage_figure(curves)
    assert [ax.get_title() for ax in fig.axes] == ["MSP", "Max Logit"]
    msp_lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(msp_lines) == ["Falcon 7B", "Mistral 7B", "Yi 6B", "GPT4 Turbo", "my-model"]
    assert msp_lines["my-model"].get_linestyle() == "--" and msp_lines["Yi 6B"].get_linestyle() == "-"
    assert "GPT4 Turbo" not in [line.get_label() for line in fig.axes[1].get_lines()]


def test_interval_panels_a_panel_per_measure_and_bars_from_low_to_high():
    table = pd.DataFrame({"model": ["Yi-6b", "mine", "Yi-6b", "mine"], "measure": ["a", "a", "b", "b"],
                          "difference": [1.0, -2.0, 0.5, np.nan], "lo": [0.2, -3.0, 0.6, np.nan],
                          "hi": [1.5, -1.0, 0.9, np.nan]})
    fig = figures.interval_panels(table, {"b": "B (points)", "a": "A (points)", "c": "absent"}, estimate="difference")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in visible] == ["B (points)", "A (points)"]
    assert [t.get_text() for t in visible[0].get_yticklabels()] == ["Yi 6B", "mine"]
    segments = visible[1].collections[0].get_segments()[0]
    assert segments[:, 0].tolist() == [0.2, 1.5]  # Yi 6B's interval on "a"
    # the interval of "b" does not contain its estimate and is drawn anyway; NaN rows are skipped
    assert visible[0].collections[0].get_segments()[0][:, 0].tolist() == [0.6, 0.9]
    assert len(visible[0].collections) == 2
