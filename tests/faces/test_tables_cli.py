"""The CSV export (``python -m helpers.tables``) on the published zero-shot answers."""

import pandas as pd
import pytest

from helpers import tables
from scored_rows import TINY, with_tiny

ROWS = {"cells.csv": 260, "models.csv": 14, "datasets.csv": 5, "correlations.csv": 3,
        # k in (20, 10, half) x scope (overall + 5 datasets) x penalty (1, 2) x 26 model-signals
        "abstention.csv": 3 * 6 * 2 * (14 + 12)}


@pytest.fixture(scope="module")
def written_dir(published_dir, tmp_path_factory, monkeypatch_module):
    out = tmp_path_factory.mktemp("tables")
    monkeypatch_module.setenv("MSP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch_module.setenv("MSP_SCORES_DIR", str(tmp_path_factory.mktemp("no-scores")))
    tables.main(["--out", str(out), "--published-dir", str(published_dir)])
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
    monkeypatch.setattr(tables, "export_tables", lambda answers: {"x.csv": pd.DataFrame({"a": [answers]})})
    tables.main(["--out", str(tmp_path), *argv])
    assert calls == [{"shots": 0, "include_scored": include}]


def test_help_says_which_files_stay_the_papers(capsys):
    with pytest.raises(SystemExit):
        tables.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--include-scored" in text and "datasets.csv and correlations.csv stay the paper's 14 models" in text


@pytest.fixture(scope="module")
def written_with_scored(published, tmp_path_factory):
    out = tmp_path_factory.mktemp("tables-scored")
    answers = with_tiny(published)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tables, "load_answers",
                   lambda *args, include_scored, **kwargs: answers if include_scored else published)
        tables.main(["--out", str(out), "--include-scored"])
    return {name: (out / name).read_text().splitlines() for name in tables.COLUMNS}


def test_cli_with_scored_models_adds_their_rows_and_changes_no_paper_row(written_dir, written_with_scored):
    for name in tables.COLUMNS:
        plain = (written_dir / name).read_text().splitlines()
        joined = written_with_scored[name]
        ours = [line for line in joined if f",{TINY}," in f",{line}"]
        assert [line for line in joined if line not in ours] == plain, name
        if name in ("datasets.csv", "correlations.csv"):
            assert ours == [], name
        else:
            assert ours, name
    assert len([line for line in written_with_scored["models.csv"] if line.startswith(TINY)]) == 1
