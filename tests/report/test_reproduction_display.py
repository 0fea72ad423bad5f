"""How the reproduction chapter shows the comparison of printed numbers with ours."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.analysis import reproduction
from helpers.report import facts, tables


def comparison(rows) -> pd.DataFrame:
    """A comparison frame (``reproduction.printed_comparison``) from (table, row, column, printed,
    ours, ours_rounded, compared) tuples."""
    frame = pd.DataFrame(rows, columns=["table", "row", "column", "printed", "ours", "ours_rounded", "compared"])
    match = [(p == o) if c else pd.NA for p, o, c in zip(frame["printed"], frame["ours_rounded"], frame["compared"])]
    return frame.assign(kind="auroc", model=frame["row"], dataset=None, k=None, other_rounding=frame["ours_rounded"],
                        match=pd.array(match, dtype="boolean"),
                        reason=["" if m is True else "ours rounds to " + o for m, o in zip(match, frame["ours_rounded"])]
                        )[reproduction.COMPARISON_COLUMNS]


SMALL = comparison([
    ("auroc_table_plus_fig", "Yi 6B", ("accuracy",), "52.1", 52.14, "52.1", True),
    ("auroc_table_plus_fig", "Yi 6B", ("auroc", "msp"), "66.8", 66.84, "66.8", True),
    ("auroc_table_plus_fig", "GPT4 Turbo", ("auroc", "max_logit"), "--", np.nan, "--", True),
    ("arc_auroc_table", "Yi 6B", ("auroc", "msp"), "70.0", 69.94, "69.9", True),
    ("auroc_table", "Yi 6B", ("n_sig", "msp"), "2/2", 10.0, "10/10", False),
])


def test_table_names_and_column_labels():
    assert tables.table_name("auroc_table_plus_fig") == "AUROC, overall"
    assert tables.table_name("arc_auroc_table") == "AUROC, ARC-Challenge"
    assert tables.table_name("winogrande_pct_abstained_table") == "% abstained, WinoGrande"
    assert tables.table_name("mmlu_score_table") == "score, MMLU"
    assert tables.column_label(("auroc", "msp")) == "MSP AUROC"
    assert tables.column_label(("n_sig", "max_logit")) == "Max Logit cells p < 10⁻⁴"
    assert tables.column_label(("score", "conservative", "base")) == "conservative Base"
    assert tables.column_label(("accuracy",)) == "accuracy"


def test_totals_are_shown_overall_first_and_the_sum_last():
    shown = tables.reproduction_display(reproduction.match_totals(SMALL))
    assert list(shown.index) == ["AUROC, overall", "AUROC, overall (plain copy)", "AUROC, ARC-Challenge", "all tables"]
    assert shown.loc["all tables", "numbers printed"] == 3 and shown.loc["all tables", "same digits"] == 2
    assert shown.loc["all tables", "not compared (artefacts)"] == 1
    assert shown.loc["AUROC, overall", "'--' where we have none"] == 1


def test_side_by_side_and_mismatches():
    grid = tables.side_by_side(SMALL, "auroc_table_plus_fig")
    assert grid.loc["Yi 6B", "MSP AUROC"] == "66.8 | 66.8 ✓"
    assert grid.loc["GPT4 Turbo", "Max Logit AUROC"] == "-- | -- ✓"
    shown = tables.mismatch_display(reproduction.mismatches(SMALL))
    assert shown.to_dict("records") == [{"table": "AUROC, ARC-Challenge", "model": "Yi 6B", "column": "MSP AUROC",
                                         "printed": "70.0", "ours": "69.9", "ours, unrounded": 69.94,
                                         "reason": "ours rounds to 69.9"}]


def test_reproduction_facts_count_and_say_it():
    exact = SMALL[SMALL["table"] != "arc_auroc_table"]
    result = facts.reproduction_facts(exact, SMALL)
    assert (result.n_numbers, result.n_matched, result.n_missing, result.n_artefacts) == (2, 2, 1, 1)
    assert result.verdict == "every printed number is reproduced to its last digit"
    assert result.n_shortcut_mismatched == 1
    assert result.shortcut_examples == "Yi 6B in the table 'AUROC, ARC-Challenge' (70.0 printed, 69.9 with the shortcuts)"
    partly = facts.reproduction_facts(SMALL, SMALL)
    assert partly.verdict == "2 of the 3 printed numbers are reproduced to their last digit"
