"""The CSV export (``python -m helpers.tables``) on the published zero-shot answers."""

import pandas as pd
import pytest

from helpers import tables
from helpers.data.published import load_published
from scored_rows import TINY, with_tiny

ROWS = {"cells.csv": 260, "models.csv": 14, "datasets.csv": 5, "correlations.csv": 3,
        # k in (20, 10, half) x scope (overall + 5 datasets) x penalty (1, 2) x 26 model-signals
        "abstention.csv": 3 * 6 * 2 * (14 + 12),
        # 14 models x 8 statistics; 260 cells x (accuracy, AUROC); 260 cells; 7 pairs x (Pearson, Spearman)
        "model_intervals.csv": 14 * 8, "cell_intervals.csv": 260 * 2, "cell_tests.csv": 260,
        "correlation_uncertainty.csv": 7 * 2}
RESAMPLES = "40"


@pytest.fixture(scope="module")
def written_dir(published_dir, tmp_path_factory, monkeypatch_module):
    out = tmp_path_factory.mktemp("tables")
    monkeypatch_module.setenv("MSP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch_module.setenv("MSP_SCORES_DIR", str(tmp_path_factory.mktemp("no-scores")))
    tables.main(["--out", str(out), "--published-dir", str(published_dir), "--resamples", RESAMPLES])
    return out


@pytest.fixture(scope="module")
def written(written_dir):
    return {name: pd.read_csv(written_dir / name) for name in tables.COLUMNS}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.mark.parametrize("name", list(tables.COLUMNS))
def test_cli_writes_exact_columns_and_rows(written, name):
    assert list(written[name].columns) == tables.COLUMNS[name]
    assert len(written[name]) == ROWS[name]


def test_cli_values(written):
    models = written["models.csv"].set_index("model")
    assert list(models.index[:2]) == ["Falcon-7b", "Falcon-40b"]
    assert models.loc["gpt-4-turbo", ["auroc_max_logit", "n_sig_max_logit"]].isna().all()
    assert models.loc["Llama3-70b", "n_sig_msp"] == 10
    assert round(models.loc["Llama3-70b", "calibration_error_paper"], 2) == 0.22
    assert round(models.loc["Llama3-70b", "ece_weighted"], 2) == 0.17
    cells = written["cells.csv"]
    arc = cells.query("model == 'Llama3-70b' and dataset == 'arc' and signal == 'msp'")
    assert round(arc["accuracy"].mean(), 1) == 92.3 and round(arc["auroc"].mean(), 1) == 89.7
    corr = written["correlations.csv"].set_index("y")
    assert corr.loc["auroc_msp", "n"] == 14 and round(corr.loc["auroc_msp", "pearson_r"], 2) == 0.83
    assert corr.loc["auroc_max_logit", "n"] == 12 and round(corr.loc["auroc_max_logit", "pearson_r"], 2) == 0.91
    assert set(written["abstention.csv"]["scope"]) == {"overall", "arc", "hellaswag", "mmlu",
                                                       "truthfulqa", "winogrande"}


def test_export_tables_rejects_mixed_shots(published):
    mixed = pd.concat([published.head(10), published.head(10).assign(shots=1)], ignore_index=True)
    with pytest.raises(ValueError, match="shots"):
        tables.export_tables(mixed)


@pytest.mark.parametrize("argv, include", [([], False), (["--include-scored"], True)])
def test_cli_reads_scored_answers_only_when_asked(argv, include, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(tables, "load_answers", lambda *args, **kwargs: calls.append(kwargs) or "answers")
    monkeypatch.setattr(tables, "export_tables", lambda answers, **kwargs: {"x.csv": pd.DataFrame({"a": [answers]})})
    monkeypatch.setattr(tables, "export_beyond_tables", lambda zero, one: {"y.csv": pd.DataFrame({"a": [zero]})})
    tables.main(["--out", str(tmp_path), *argv])
    # the zero-shot answers are loaded once, for the paper's tables and those beyond it
    assert calls == [{"shots": 0, "include_scored": include}, {"shots": 1, "include_scored": include}]


def test_help_says_which_files_stay_the_papers(capsys):
    with pytest.raises(SystemExit):
        tables.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--include-scored" in text and "datasets.csv and correlations.csv stay the paper's 14 models" in text


@pytest.fixture(scope="module")
def written_with_scored(published, published_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tables-scored")
    one = load_published(published_dir, shots=1)
    answers = with_tiny(published)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tables, "load_answers",
                   lambda *args, include_scored, shots, **kwargs: one if shots == 1 else
                   answers if include_scored else published)
        tables.main(["--out", str(out), "--include-scored", "--resamples", RESAMPLES])
    return {name: (out / name).read_text().splitlines() for name in [*tables.COLUMNS, *tables.BEYOND_COLUMNS]}


def test_cli_with_scored_models_adds_their_rows_and_changes_no_paper_row(written_dir, written_with_scored):
    for name in tables.COLUMNS:
        plain = (written_dir / name).read_text().splitlines()
        joined = written_with_scored[name]
        ours = [line for line in joined if f",{TINY}," in f",{line}"]
        assert [line for line in joined if line not in ours] == plain, name
        if name in ("datasets.csv", "correlations.csv", "cell_tests.csv", "correlation_uncertainty.csv"):
            assert ours == [], name
        else:
            assert ours, name
    assert len([line for line in written_with_scored["models.csv"] if line.startswith(TINY)]) == 1


def test_cli_writes_intervals_and_corrected_pvalues(written):
    intervals = written["model_intervals.csv"].set_index(["model", "statistic"])
    acc = intervals.loc[("Llama3-70b", "accuracy")]
    assert acc["lo"] < acc["estimate"] < acc["hi"] and acc["hi"] - acc["lo"] < 2 and acc["n_valid"] == 40
    assert intervals.loc[("gpt-4-turbo", "auroc_max_logit"), "n_valid"] == 0
    tests = written["cell_tests.csv"]
    assert (tests["sig_paper"].sum(), tests["sig_holm"].sum(), tests["sig_bh"].sum()) == (212, 218, 231)
    assert (tests["p_holm"] >= tests["p_one_sided"]).all() and (tests["p_bh"] >= tests["p_one_sided"]).all()
    corr = written["correlation_uncertainty.csv"].set_index(["x", "y", "method"])
    pearson = corr.loc[("accuracy", "auroc_msp", "pearson")]
    assert round(pearson["estimate"], 2) == 0.83 and (round(pearson["fisher_lo"], 2), round(pearson["fisher_hi"], 2)) \
        == (0.54, 0.95)
    assert pd.isna(corr.loc[("accuracy", "auroc_msp", "spearman"), "fisher_lo"])


def test_cli_refuses_a_bad_resample_count(capsys):
    with pytest.raises(SystemExit):
        tables.main(["--out", "x", "--resamples", "0"])
    assert "--resamples must be at least 1, got 0" in capsys.readouterr().err


# --- one CSV per chapter beyond the paper -----------------------------------------------------------

BEYOND_ROWS = {"recalibration.csv": 14 * 5 + 12 * 4, "selective.csv": 14 + 12, "one_shot.csv": 12 * 2}


@pytest.mark.parametrize("name", list(tables.BEYOND_COLUMNS))
def test_cli_writes_one_csv_per_chapter_beyond_the_paper(written_dir, name):
    table = pd.read_csv(written_dir / name)
    assert list(table.columns) == tables.BEYOND_COLUMNS[name]
    assert len(table) == BEYOND_ROWS[name]


def test_cli_beyond_values(written_dir):
    rec = pd.read_csv(written_dir / "recalibration.csv").set_index(["model", "signal", "method"])
    assert (rec["k"] == 20).all()
    assert rec.loc[("Llama3-70b", "msp", "none"), "ece_equal_mass"] == pytest.approx(0.1740, abs=5e-4)
    assert rec.loc[("Llama3-70b", "msp", "platt"), "ece_equal_mass"] == pytest.approx(0.0161, abs=5e-4)
    assert rec.loc[("gpt-4-turbo", "msp", "isotonic"), "auroc_change"] == pytest.approx(-0.0233, abs=5e-4)
    sel = pd.read_csv(written_dir / "selective.csv").set_index(["model", "signal"])
    assert sel.loc[("gpt-4-turbo", "msp"), "aurc"] == pytest.approx(0.0412, abs=5e-5)
    assert ("gpt-4-turbo", "max_logit") not in sel.index
    one = pd.read_csv(written_dir / "one_shot.csv").set_index(["model", "shots"])
    assert "Llama3-70b" not in one.index.get_level_values("model")
    assert one.loc[("gpt-4-turbo", 0), "n_answers"] == 42314
    assert one.loc[("gpt-4-turbo", 1), "accuracy"] == pytest.approx(82.237, abs=5e-3)
    assert one.loc[("gpt-4-turbo", 0), "accuracy"] == pytest.approx(86.658, abs=5e-3)


def test_cli_beyond_with_scored_models_adds_their_rows_and_changes_no_paper_row(written_dir, written_with_scored):
    for name in tables.BEYOND_COLUMNS:
        plain = (written_dir / name).read_text().splitlines()
        joined = written_with_scored[name]
        ours = [line for line in joined if f",{TINY}," in f",{line}"]
        assert [line for line in joined if line not in ours] == plain, name
        # the tiny model has zero-shot answers only, so no one-shot rows
        assert bool(ours) == (name != "one_shot.csv"), name
