"""The CSV export (``python -m helpers.tables``) on the published zero-shot answers."""

import pandas as pd
import pytest

from helpers import tables

ROWS = {"cells.csv": 260, "models.csv": 14, "datasets.csv": 5, "correlations.csv": 3,
        # k in (20, 10, half) x scope (overall + 5 datasets) x penalty (1, 2) x 26 model-signals
        "abstention.csv": 3 * 6 * 2 * (14 + 12)}


@pytest.fixture(scope="module")
def written(published_dir, tmp_path_factory, monkeypatch_module):
    out = tmp_path_factory.mktemp("tables")
    monkeypatch_module.setenv("MSP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch_module.setenv("MSP_SCORES_DIR", str(tmp_path_factory.mktemp("no-scores")))
    tables.main(["--out", str(out), "--published-dir", str(published_dir)])
    return {name: pd.read_csv(out / name) for name in tables.COLUMNS}


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
