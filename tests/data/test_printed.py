"""helpers.data.printed: small tables written here in the authors' layout, malformed ones, then the
real printed tables of the pinned commit."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers.data import printed as pr
from helpers.data.printed import PrintedFormatError, parse_printed_table
from helpers.data.vocabulary import DATASETS, PAPER_MODELS

AUROC = r"""\begin{table*}[h]
\centering
\caption{AUROC results for ARC-Challenge.}
\begin{tabular}{lccccc}
\toprule
& & \multicolumn{2}{c}{MSP} & \multicolumn{2}{c}{Max Logit} \\ 
LLM & Q\&A Accuracy & AUROC & $p < 10^{-4}$ & AUROC & $p < 10^{-4}$ \\ 
\cmidrule(lr){1-1} \cmidrule(lr){2-2} \cmidrule(lr){3-4} \cmidrule(lr){5-6} 
Falcon 7B & 25.3 & 50.4 & 0/2 & 50.9 & 1/2\\
GPT4 Turbo & 95.7 & 88.9 & 2/2 & -- & 2/2\\
\bottomrule
\end{tabular}
\end{table*}
"""

SCORE = r"""\begin{table}[tb]
\newcommand\offset{~~~~~~}
\begin{tabular}{lrrrrrr}
\toprule
& \multicolumn{3}{c}{Balanced} & \multicolumn{3}{c}{Conservative} \\ 
LLM & Base & MSP & Max Logit & Base & MSP & Max Logit \\ 
\cmidrule(lr){1-1}\cmidrule(lr){2-4}\cmidrule(lr){5-7}
Falcon 7B & -41.9 & -1.1 & \textbf{-0.3}\offset & -112.9 & -2.7 & \textbf{-1.0}\offset\\
GPT4 Turbo & 73.3 & \textbf{73.6} & --~~\offset & 60.0 & \textbf{65.2} & --~~\offset \\
\bottomrule
\end{tabular}
\end{table}
"""

PCT = r"""\begin{tabular}{lcccccc}
\toprule
& \multicolumn{3}{c}{Balanced} & \multicolumn{3}{c}{Conservative} \\ 
LLM & Base & MSP & Max Logit & Base & MSP & Max Logit \\ 
\cmidrule(lr){1-1}\cmidrule(lr){2-4}\cmidrule(lr){5-7} 
Yi 6B & 0 & 0.0 & 100.0 & 0 & 85.9 & 99.8\\
\bottomrule
\end{tabular}
"""

CALIBRATION = r"""\begin{tabular}{lc}
\toprule
LLM & Expected calibration error \\ 
\cmidrule(lr){1-1} \cmidrule(lr){2-2} 
Llama 2 7B & 0.3\\
Llama 3 70B & 0.22\\
\bottomrule
\end{tabular}
"""

DATASET = r"""\begin{tabular}{lccc}
\toprule
 & Q\&A Accuracy & MSP AUROC & Max Logit AUROC \\ 
\cmidrule(lr){1-1} \cmidrule(lr){2-2} \cmidrule(lr){3-3} \cmidrule(lr){4-4}
ARC-Challenge & 69.5 & 71.9 & 67.2\\
WinoGrande & 59.3 & 57.9 & 54.5\\
\bottomrule
\end{tabular}
"""


def cell(table: pd.DataFrame, row: str, column: tuple) -> pd.Series:
    found = table[(table["row"] == row) & (table["column"] == column)]
    assert len(found) == 1, (row, column)
    return found.iloc[0]


# --------------------------------------------------------------------------------------------
# file stems


@pytest.mark.parametrize("stem, kind, dataset, k", [
    ("auroc_table_plus_fig", "auroc", None, None),
    ("auroc_table", "auroc", None, None),
    ("truthfulqa_auroc_table", "auroc", "truthfulqa", None),
    ("calibration_table_quantile", "calibration", None, None),
    ("dataset", "dataset", None, None),
    ("score_table", "score", None, 20),
    ("score_table_k=10", "score", None, 10),
    ("score_table_k=half", "score", None, "half"),
    ("pct_abstained_table", "pct_abstained", None, 20),
    ("mmlu_score_table", "score", "mmlu", 20),
    ("winogrande_pct_abstained_table", "pct_abstained", "winogrande", 20),
])
def test_table_spec(stem, kind, dataset, k):
    spec = pr.table_spec(stem)
    assert (spec.kind, spec.dataset, spec.k) == (kind, dataset, k)


@pytest.mark.parametrize("stem", ["prompts", "boolq_score_table", "arc_score_table_k=10", "auroc_table_k=10",
                                  "arc_auroc_table_plus_fig", "score_table_k=third"])
def test_files_that_are_no_number_table(stem):
    assert pr.table_spec(stem) is None


# --------------------------------------------------------------------------------------------
# small tables


def test_auroc_table_cells_and_keys():
    table = parse_printed_table(AUROC, "figs/arc_auroc_table.tex")
    assert list(table.columns) == pr.COLUMNS
    assert len(table) == 10
    assert table["column"].tolist()[:5] == [("accuracy",), ("auroc", "msp"), ("n_sig", "msp"),
                                            ("auroc", "max_logit"), ("n_sig", "max_logit")]
    assert set(table["model"]) == {"Falcon-7b", "gpt-4-turbo"} and set(table["dataset"]) == {"arc"}
    acc = cell(table, "Falcon 7B", ("accuracy",))
    assert (acc["printed"], acc["value"], acc["decimals"], acc["precision"], acc["line"]) == ("25.3", 25.3, 1, 1, 9)
    assert pd.isna(acc["signal"]) and pd.isna(acc["penalty"]) and acc["k"] is None
    count = cell(table, "Falcon 7B", ("n_sig", "max_logit"))
    assert (count["printed"], count["value"], count["out_of"], count["decimals"], count["signal"]) == \
        ("1/2", 1.0, 2, 0, "max_logit")
    assert pd.isna(count["artefact"])
    # GPT has no Max Logit: '--' is kept as NaN, and the template's count next to it is an artefact
    missing = cell(table, "GPT4 Turbo", ("auroc", "max_logit"))
    assert missing["printed"] == "--" and math.isnan(missing["value"]) and pd.isna(missing["decimals"])
    assert pd.isna(missing["artefact"])
    assert "does not have" in cell(table, "GPT4 Turbo", ("n_sig", "max_logit"))["artefact"]
    assert pd.isna(cell(table, "GPT4 Turbo", ("n_sig", "msp"))["artefact"])


def test_overall_auroc_table_with_two_cell_counts_marks_placeholders():
    table = parse_printed_table(AUROC, "figs/auroc_table.tex")  # overall: 10 cells per model
    counts = table[table["quantity"] == "n_sig"]
    assert counts["artefact"].str.startswith("placeholder count: denominator 2").all()
    assert table["dataset"].isna().all()


def test_score_table_strips_bold_and_padding():
    table = parse_printed_table(SCORE, "score_table.tex")
    assert len(table) == 12 and set(table["k"]) == {20}
    best = cell(table, "Falcon 7B", ("score", "balanced", "max_logit"))
    assert (best["printed"], best["value"], best["bold"], best["penalty"], best["signal"]) == \
        ("-0.3", -0.3, True, 1, "max_logit")
    base = cell(table, "Falcon 7B", ("score", "conservative", "base"))
    assert (base["value"], base["bold"], base["penalty"]) == (-112.9, False, 2) and pd.isna(base["signal"])
    assert cell(table, "GPT4 Turbo", ("score", "conservative", "max_logit"))["printed"] == "--"
    assert table["artefact"].isna().all()


def test_pct_abstained_base_is_an_artefact():
    table = parse_printed_table(PCT, "hellaswag_pct_abstained_table.tex")
    base = table[table["column"].map(lambda c: c[2] == "base")]
    assert base["printed"].tolist() == ["0", "0"] and base["decimals"].tolist() == [0, 0]
    assert base["artefact"].str.contains("literal 0").all()
    assert table.loc[table["column"].map(lambda c: c[2] != "base"), "artefact"].isna().all()
    assert cell(table, "Yi 6B", ("pct_abstained", "balanced", "msp"))["printed"] == "0.0"
    assert set(table["dataset"]) == {"hellaswag"}


def test_calibration_table_keeps_the_printed_digits():
    table = parse_printed_table(CALIBRATION, "calibration_table_quantile.tex")
    # str(round(0.30, 2)) prints '0.3': one decimal printed, precision 2
    row = cell(table, "Llama 2 7B", ("calibration_error",))
    assert (row["printed"], row["decimals"], row["precision"], row["model"]) == ("0.3", 1, 2, "Llama-7b")
    assert cell(table, "Llama 3 70B", ("calibration_error",))["decimals"] == 2


def test_dataset_table_rows_are_datasets():
    table = parse_printed_table(DATASET, "dataset.tex")
    assert table["dataset"].tolist() == ["arc"] * 3 + ["winogrande"] * 3
    assert table["model"].isna().all()
    assert cell(table, "WinoGrande", ("auroc", "max_logit"))["value"] == 54.5


# --------------------------------------------------------------------------------------------
# malformed tables: the error names file and line


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize("text, message", [
    (_replace(AUROC, "50.4 & 0/2", "50.4 & 0/2 & 7"), r"arc_auroc_table\.tex:9: 7 cells, expected 6"),
    (_replace(AUROC, "& 25.3 &", "& 25.3 % &"), r"arc_auroc_table\.tex:9: \('accuracy',\) cell '25.3 %' is neither"),
    (_replace(AUROC, "& 25.3 &", "& 25.35 &"), r"arc_auroc_table\.tex:9: '25.35' has 2 decimals; the table is rounded to 1"),
    (_replace(AUROC, "& 0/2 &", "& 0.5 &"), r"arc_auroc_table\.tex:9: \('n_sig', 'msp'\) cell '0.5' is not a count"),
    (_replace(AUROC, "& 0/2 &", "& 3/2 &"), r"arc_auroc_table\.tex:9: count '3/2' exceeds"),
    (_replace(AUROC, "Falcon 7B &", "Falcon 8B &"), r"arc_auroc_table\.tex:9: unknown model 'Falcon 8B'"),
    (_replace(AUROC, "GPT4 Turbo &", "Falcon 7B &"), r"arc_auroc_table\.tex:10: row 'Falcon 7B' appears twice"),
    (_replace(AUROC, "& 1/2\\\\", "& 1/2"), r"arc_auroc_table\.tex:9: a table row must end with"),
    (_replace(AUROC, "LLM & Q\\&A Accuracy", "Model & Q\\&A Accuracy"), r"arc_auroc_table\.tex:7: header is"),
    (_replace(AUROC, "{MSP} & \\multicolumn{2}{c}{Max Logit}", "{Max Logit} & \\multicolumn{2}{c}{MSP}"),
     r"arc_auroc_table\.tex:6: group header is"),
    (_replace(AUROC, "{lccccc}", "{lcccc}"), r"arc_auroc_table\.tex:4: expected a tabular of 6 columns"),
    (_replace(AUROC, "\\bottomrule\n", ""), r"arc_auroc_table\.tex: no line starting with '\\\\bottomrule'"),
    (AUROC.split("\\begin{tabular}")[0], r"arc_auroc_table\.tex: no line starting with '\\\\begin\{tabular\}'"),
])
def test_malformed_auroc_table(text, message):
    with pytest.raises(PrintedFormatError, match=message):
        parse_printed_table(text, "figs/arc_auroc_table.tex")


def test_malformed_score_and_dataset_tables():
    with pytest.raises(PrintedFormatError, match=r"score_table\.tex:5: group header is"):
        parse_printed_table(_replace(SCORE, "{Balanced} & \\multicolumn{3}{c}{Conservative}",
                                     "{Conservative} & \\multicolumn{3}{c}{Balanced}"), "score_table.tex")
    with pytest.raises(PrintedFormatError, match=r"dataset\.tex:5: unknown dataset 'ARC'"):
        parse_printed_table(_replace(DATASET, "ARC-Challenge", "ARC"), "dataset.tex")
    with pytest.raises(PrintedFormatError, match=r"dataset\.tex:5: table has no rows"):
        parse_printed_table(DATASET.replace("ARC-Challenge & 69.5 & 71.9 & 67.2\\\\\n", "")
                            .replace("WinoGrande & 59.3 & 57.9 & 54.5\\\\\n", ""), "dataset.tex")
    # a ValueError like every format error of the project
    with pytest.raises(ValueError, match=r"prompts\.tex: not one of the authors' number tables"):
        parse_printed_table(SCORE, "figs/prompts.tex")
    with pytest.raises(PrintedFormatError, match=r"score_table_k=10\.tex:1: expected a tabular of 7"):
        parse_printed_table(CALIBRATION, "score_table_k=10.tex")


def test_folder_without_tables(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="folder of printed tables not found"):
        pr.printed_numbers(tmp_path / "figs")
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "prompts.tex").write_text("\\begin{figure}\n")
    with pytest.raises(FileNotFoundError, match="no printed tables"):
        pr.printed_numbers(tmp_path / "figs")
    (tmp_path / "main_results").mkdir()
    (tmp_path / "figs").rename(tmp_path / "other")
    with pytest.raises(FileNotFoundError, match="no folder of printed tables"):
        pr.figs_dir(tmp_path)


def test_a_folder_of_small_tables(tmp_path):
    for name, text in {"arc_auroc_table.tex": AUROC, "score_table.tex": SCORE, "dataset.tex": DATASET,
                       "prompts.tex": "\\begin{figure}\n"}.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "frac-correct_vs_msp_quantile.pdf").write_bytes(b"%PDF")
    table = pr.printed_numbers(tmp_path)
    assert table["table"].unique().tolist() == ["arc_auroc_table", "dataset", "score_table"]
    assert len(table) == 10 + 6 + 12


# --------------------------------------------------------------------------------------------
# the real printed tables


@pytest.fixture(scope="module")
def printed(published_dir):
    return pr.printed_numbers(pr.figs_dir(published_dir))


def test_figs_folder_from_the_environment(published_dir, monkeypatch):
    monkeypatch.setenv("MSP_PUBLISHED_DIR", str(published_dir))
    assert pr.figs_dir() == published_dir / "figs"
    assert len(pr.table_files(pr.figs_dir())) == 23  # every .tex but prompts.tex


# cells per table: 14 models x 5 (AUROC) or 6 (abstention) or 1 (calibration); 5 datasets x 3
REAL_CELLS = {
    **{f"{d}_auroc_table": 70 for d in DATASETS}, "auroc_table": 70, "auroc_table_plus_fig": 70,
    **{f"{d}_score_table": 84 for d in DATASETS}, **{f"{d}_pct_abstained_table": 84 for d in DATASETS},
    "score_table": 84, "score_table_k=10": 84, "score_table_k=half": 84, "pct_abstained_table": 84,
    "calibration_table_quantile": 14, "dataset": 15,
}


def test_real_cells_per_table(printed):
    assert printed.groupby("table").size().to_dict() == REAL_CELLS
    assert len(printed) == 1695


def test_real_rows_are_the_papers_models_in_order(printed):
    for table, rows in printed.groupby("table", sort=False):
        if table == "dataset":
            assert rows["dataset"].unique().tolist() == list(DATASETS)
        else:
            assert rows["model"].unique().tolist() == list(PAPER_MODELS), table
            assert rows["model"].notna().all()


def test_real_missing_values_are_gpt_max_logit(printed):
    missing = printed[printed["printed"] == "--"]
    assert set(missing["model"]) == {"gpt-3.5-turbo", "gpt-4-turbo"}
    assert set(missing["signal"]) == {"max_logit"} and missing["value"].isna().all()
    assert printed.loc[printed["printed"] != "--", "value"].notna().all()
    # 2 per per-dataset AUROC table (the counts beside are numbers), 4 in the overall one, 4 per abstention table
    per_table = missing.groupby("table").size()
    assert per_table["auroc_table_plus_fig"] == 4 and per_table["arc_auroc_table"] == 2
    assert per_table["auroc_table"] == 2 and per_table["score_table_k=half"] == 4
    assert len(missing) == 72


def test_real_artefacts(printed):
    artefacts = printed[printed["artefact"].notna()]
    per_table = artefacts.groupby("table").size().to_dict()
    assert per_table == {"auroc_table": 28, **{f"{d}_auroc_table": 2 for d in DATASETS},
                         "pct_abstained_table": 28, **{f"{d}_pct_abstained_table": 28 for d in DATASETS}}
    # auroc_table: every count is the template's 2/2
    placeholders = artefacts[artefacts["table"] == "auroc_table"]
    assert set(placeholders["printed"]) == {"2/2"} and set(placeholders["quantity"]) == {"n_sig"}
    # per dataset: the GPT Max Logit count beside '--'
    gpt = artefacts[artefacts["table"].str.endswith("_auroc_table") & (artefacts["table"] != "auroc_table")]
    assert set(gpt["model"]) == {"gpt-3.5-turbo", "gpt-4-turbo"} and set(gpt["printed"]) == {"2/2"}
    assert set(gpt["signal"]) == {"max_logit"}
    base = artefacts[artefacts["quantity"] == "pct_abstained"]
    assert set(base["printed"]) == {"0"} and base["column"].map(lambda c: c[2] == "base").all()
    # the plus_fig table's counts are real: denominators 10, nothing marked
    plus = printed[(printed["table"] == "auroc_table_plus_fig") & (printed["quantity"] == "n_sig")]
    assert plus["artefact"].isna().all() and set(plus["out_of"].dropna()) == {10}


def test_real_precision_and_metadata(printed):
    assert set(printed.loc[printed["kind"] == "calibration", "precision"]) == {2}
    numbers = printed[printed["quantity"] != "n_sig"]
    assert set(numbers.loc[numbers["kind"] != "calibration", "precision"]) == {1}
    assert (printed["decimals"].dropna() <= printed.loc[printed["decimals"].notna(), "precision"]).all()
    ks = printed.groupby("table")["k"].first()
    assert (ks["score_table"], ks["score_table_k=10"], ks["score_table_k=half"], ks["arc_score_table"]) == \
        (20, 10, "half", 20)
    assert ks["auroc_table_plus_fig"] is None
    # only the hand-edited score table has bold cells
    assert printed.groupby("table")["bold"].sum()[lambda s: s > 0].index.tolist() == ["score_table"]


# hand-checked against the .tex files: (table, row, column, printed)
SPOT_CHECKS = [
    ("auroc_table_plus_fig", "Falcon 40B", ("n_sig", "msp"), "7/10"),
    ("auroc_table_plus_fig", "GPT4 Turbo", ("accuracy",), "86.6"),
    ("auroc_table_plus_fig", "Llama 2 70B", ("n_sig", "max_logit"), "8/10"),
    ("auroc_table", "SOLAR 10.7B", ("auroc", "max_logit"), "65.2"),
    ("arc_auroc_table", "Llama 3 70B", ("accuracy",), "92.3"),
    ("arc_auroc_table", "Llama 3 70B", ("auroc", "msp"), "89.7"),
    ("arc_auroc_table", "Llama 3 70B", ("auroc", "max_logit"), "82.3"),
    ("hellaswag_auroc_table", "Falcon 7B", ("auroc", "max_logit"), "49.9"),
    ("mmlu_auroc_table", "Falcon 7B", ("auroc", "max_logit"), "49.4"),
    ("truthfulqa_auroc_table", "Falcon 7B", ("accuracy",), "19.8"),
    ("truthfulqa_auroc_table", "Falcon 7B", ("auroc", "msp"), "59.5"),
    ("truthfulqa_auroc_table", "Falcon 7B", ("auroc", "max_logit"), "58.1"),
    ("truthfulqa_auroc_table", "SOLAR 10.7B", ("n_sig", "msp"), "1/2"),
    ("winogrande_auroc_table", "Falcon 7B", ("auroc", "max_logit"), "50.2"),
    ("calibration_table_quantile", "Mistral 7B", ("calibration_error",), "0.4"),
    ("calibration_table_quantile", "Llama 3 70B", ("calibration_error",), "0.22"),
    ("dataset", "TruthfulQA", ("accuracy",), "45.8"),
    ("dataset", "ARC-Challenge", ("auroc", "max_logit"), "67.2"),
    ("score_table", "Llama 3 70B", ("score", "conservative", "msp"), "46.5"),
    ("score_table", "Falcon 7B", ("score", "conservative", "base"), "-112.9"),
    ("score_table_k=10", "Mixtral 8x7B", ("score", "conservative", "msp"), "4.9"),
    ("score_table_k=half", "Falcon 7B", ("score", "balanced", "msp"), "0.0"),
    ("pct_abstained_table", "Llama 3 70B", ("pct_abstained", "conservative", "max_logit"), "25.4"),
    ("arc_score_table", "Mistral 7B", ("score", "balanced", "msp"), "35.2"),
    ("arc_pct_abstained_table", "Falcon 7B", ("pct_abstained", "balanced", "max_logit"), "100.0"),
    ("hellaswag_score_table", "Yi 34B", ("score", "conservative", "msp"), "36.2"),
    ("hellaswag_pct_abstained_table", "GPT4 Turbo", ("pct_abstained", "balanced", "msp"), "0.5"),
    ("mmlu_score_table", "Falcon 40B", ("score", "conservative", "msp"), "-19.8"),
    ("mmlu_pct_abstained_table", "Falcon 7B", ("pct_abstained", "balanced", "base"), "0"),
    ("truthfulqa_score_table", "Llama 2 7B", ("score", "conservative", "max_logit"), "-0.9"),
    ("truthfulqa_pct_abstained_table", "Yi 6B", ("pct_abstained", "balanced", "base"), "0"),
    ("winogrande_score_table", "GPT3.5 Turbo", ("score", "balanced", "msp"), "20.1"),
    ("winogrande_pct_abstained_table", "GPT3.5 Turbo", ("pct_abstained", "balanced", "msp"), "48.8"),
]


@pytest.mark.parametrize("table, row, column, expected", SPOT_CHECKS)
def test_real_spot_checks(printed, table, row, column, expected):
    found = cell(printed[printed["table"] == table], row, column)
    assert found["printed"] == expected
    if "/" in expected:
        assert (found["value"], found["out_of"]) == tuple(float(x) for x in expected.split("/"))
    else:
        assert found["value"] == float(expected)


def test_every_real_table_is_spot_checked():
    assert {t for t, *_ in SPOT_CHECKS} == set(REAL_CELLS)
