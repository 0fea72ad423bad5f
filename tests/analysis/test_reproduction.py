"""helpers.analysis.reproduction: rounding, the comparison on hand-made cases, then every printed
number of the paper against the published answers, as loaded today and at full precision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.analysis import abstention, metrics
from helpers.data import published as pub
from helpers.analysis import reproduction as rp
from helpers.data import printed as pr
from helpers.data.schema import COLUMNS, conform

# --------------------------------------------------------------------------------------------
# rounding as the authors printed


@pytest.mark.parametrize("value, precision, authors, python", [
    (0.15, 1, "0.2", "0.1"),        # numpy scales to 1.5 and rounds half to even; 0.15 is 0.1499… in binary
    (-0.05, 1, "0.0", "-0.1"),      # numpy gives -0.0, printed 0.0
    (-0.04, 1, "0.0", "0.0"),       # -0.0 becomes 0.0
    (0.30000001, 2, "0.3", "0.3"),  # str() drops the trailing zero
    (0.2244, 2, "0.22", "0.22"),
    (48.75, 1, "48.8", "48.8"),     # exact half: both round to even
    (-112.94, 1, "-112.9", "-112.9"),
    (100.0, 1, "100.0", "100.0"),
    (float("nan"), 1, "--", "--"),
])
def test_rounding(value, precision, authors, python):
    assert rp.printed_form(value, precision) == authors
    assert rp.python_rounded_form(value, precision) == python


# --------------------------------------------------------------------------------------------
# the signal views


def _tidy(rows) -> pd.DataFrame:
    """Tidy table from (model, dataset, phrasing, qid, grade, msp, max_logit) tuples."""
    df = pd.DataFrame(rows, columns=["model", "dataset", "phrasing", "qid", "grade", "msp", "max_logit"])
    return conform(df.assign(source="published", shots=0, correct=df["grade"] == "correct"))


def test_signal_answers_keep_one_signal_and_its_grades():
    answers = _tidy([("Yi-6b", "arc", "first", 0, "correct", 0.9, 20.0),
                     ("Yi-6b", "arc", "first", 1, "wrong", 0.4, 10.0)])
    answers["grade_max_logit"] = pd.Categorical(["wrong", "wrong"], categories=answers["grade"].cat.categories)
    msp = rp.signal_answers(answers, "msp")
    assert msp["max_logit"].isna().all() and msp["msp"].tolist() == pytest.approx([0.9, 0.4])
    assert msp["correct"].tolist() == [True, False] and msp["grade"].astype(str).tolist() == ["correct", "wrong"]
    logit = rp.signal_answers(answers, "max_logit")
    assert logit["msp"].isna().all() and logit["max_logit"].tolist() == [20.0, 10.0]
    assert logit["correct"].tolist() == [False, False] and logit["grade"].astype(str).tolist() == ["wrong", "wrong"]
    # without a grade_max_logit column the shared grade serves both signals
    shared = rp.signal_answers(answers.drop(columns="grade_max_logit"), "max_logit")
    assert shared["correct"].tolist() == [True, False]
    assert answers["correct"].tolist() == [True, False]  # the input is not changed
    with pytest.raises(ValueError, match="signal='entropy'"):
        rp.signal_answers(answers, "entropy")


# --------------------------------------------------------------------------------------------
# our numbers on a small table


def _synthetic(seed: int = 0) -> pd.DataFrame:
    """Yi-6b (both signals) and gpt-4-turbo (MSP only) on arc and mmlu, 30 answers per phrasing."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in ("Yi-6b", "gpt-4-turbo"):
        for dataset in ("arc", "mmlu"):
            for phrasing in ("first", "second"):
                for qid in range(30):
                    msp = float(rng.uniform(0.2, 1.0))
                    grade = "correct" if rng.uniform() < msp else "wrong"
                    logit = float(np.round(20 * msp + rng.normal(0, 2), 2)) if model == "Yi-6b" else np.nan
                    rows.append((model, dataset, phrasing, qid, grade, msp, logit))
    return _tidy(rows)


def _none(value):
    """None for a missing key (our_numbers stores them as NaN)."""
    return None if pd.isna(value) else value


def test_our_numbers_use_each_signals_grades():
    answers = _synthetic()
    flip = (answers["model"] == "Yi-6b") & (answers["dataset"] == "arc") & (answers["phrasing"] == "first") & (
        answers["qid"] == 3)
    raw_grade = answers["grade"].copy()
    raw_grade[flip] = "wrong" if answers.loc[flip, "grade"].iloc[0] == "correct" else "correct"
    ours = rp.our_numbers(answers.assign(grade_max_logit=raw_grade), kinds=("auroc", "dataset", "calibration"))
    assert list(ours.columns) == rp.OUR_COLUMNS
    got = {(r.kind, _none(r.model), _none(r.dataset), r.column): (r.ours, r.out_of) for r in ours.itertuples()}
    yi = answers[answers["model"] == "Yi-6b"]
    raw_correct = (raw_grade[yi.index] == "correct").to_numpy()
    # accuracy: the MSP cells (norm grades); Max Logit AUROC: the raw grades, mean over the two phrasings
    arc = (yi["dataset"] == "arc").to_numpy()
    assert got[("auroc", "Yi-6b", "arc", ("accuracy",))][0] == pytest.approx(100 * yi.loc[arc, "correct"].mean())
    per_phrasing = [metrics.auroc_pct(yi.loc[arc & (yi["phrasing"] == ph).to_numpy(), "max_logit"],
                                      raw_correct[arc & (yi["phrasing"] == ph).to_numpy()]) for ph in ("first", "second")]
    assert got[("auroc", "Yi-6b", "arc", ("auroc", "max_logit"))][0] == pytest.approx(np.mean(per_phrasing))
    assert got[("auroc", "Yi-6b", None, ("n_sig", "msp"))][1] == 4  # 2 datasets x 2 phrasings
    assert got[("auroc", "Yi-6b", "arc", ("n_sig", "max_logit"))][1] == 2
    assert not any(k[1] == "gpt-4-turbo" and "max_logit" in k[3] for k in got)  # GPT has no Max Logit
    # the dataset table's accuracy averages all six arc cells: Yi MSP x 2, Yi Max Logit x 2 (raw grades), GPT x 2
    cells = [100 * answers[(answers["dataset"] == "arc") & (answers["phrasing"] == ph) & (answers["model"] == m)][
        "correct"].mean() for m in ("Yi-6b", "gpt-4-turbo") for ph in ("first", "second")]
    raw_cells = [100 * raw_correct[arc & (yi["phrasing"] == ph).to_numpy()].mean() for ph in ("first", "second")]
    assert got[("dataset", None, "arc", ("accuracy",))][0] == pytest.approx(np.mean(cells + raw_cells))
    calibration = metrics.calibration_error(answers.loc[answers["model"] == "gpt-4-turbo", "msp"],
                                            answers.loc[answers["model"] == "gpt-4-turbo", "correct"])
    assert got[("calibration", "gpt-4-turbo", None, ("calibration_error",))][0] == pytest.approx(calibration)


def test_our_abstention_numbers_are_the_abstention_table():
    answers = _synthetic()
    ours = rp.our_numbers(answers, ks=(20,), kinds=("score", "pct_abstained"))
    table = abstention.abstention_table(answers, ks=(20,))
    got = {(r.kind, r.model, _none(r.dataset), r.k, r.column): r.ours for r in ours.itertuples()}
    for r in table.itertuples():
        dataset = None if r.scope == "overall" else r.scope
        name = rp.PENALTY_NAMES[r.penalty]
        assert got[("score", r.model, dataset, 20, ("score", name, r.signal))] == r.score
        assert got[("pct_abstained", r.model, dataset, 20, ("pct_abstained", name, r.signal))] == r.pct_abstained
        if r.signal == "msp":
            assert got[("score", r.model, dataset, 20, ("score", name, "base"))] == r.base_score
    # 3 scopes x 2 penalties x (2 MSP + 1 Max Logit runs) x (score, % abstained) + a Base per MSP run
    assert len(ours) == 3 * 2 * (3 * 2 + 2)


def test_a_scored_model_changes_none_of_our_paper_numbers():
    answers = _synthetic()
    mine = _synthetic(seed=1)
    mine = mine[mine["model"] == "Yi-6b"].assign(model="Tiny-test", source="scored")
    mine["msp"] = mine["msp"].clip(upper=0.99)
    both = pd.concat([answers, conform(mine)], ignore_index=True)
    alone = rp.our_numbers(answers, ks=(20,))
    joined = rp.our_numbers(both, ks=(20,))
    joined = joined[joined["model"] != "Tiny-test"].reset_index(drop=True)
    pd.testing.assert_frame_equal(joined, alone)


# --------------------------------------------------------------------------------------------
# the comparison on a hand-made table

AUROC = r"""\begin{tabular}{lccccc}
\toprule
& & \multicolumn{2}{c}{MSP} & \multicolumn{2}{c}{Max Logit} \\ 
LLM & Q\&A Accuracy & AUROC & $p < 10^{-4}$ & AUROC & $p < 10^{-4}$ \\ 
\cmidrule(lr){1-1} \cmidrule(lr){2-2} \cmidrule(lr){3-4} \cmidrule(lr){5-6} 
Falcon 7B & 25.3 & 50.1 & 0/2 & 50.9 & 1/2\\
GPT4 Turbo & 95.7 & 88.9 & 2/2 & -- & 2/2\\
Yi 6B & 68.1 & 75.3 & 2/2 & 65.1 & 2/2\\
\bottomrule
\end{tabular}
"""


def _ours(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=rp.OUR_COLUMNS).astype({"ours": float, "out_of": "Int64"})


@pytest.fixture
def small_comparison():
    printed = pr.parse_printed_table(AUROC, "arc_auroc_table.tex")
    ours = _ours([
        ("auroc", "Falcon-7b", "arc", None, ("accuracy",), 25.31, pd.NA),           # matches
        ("auroc", "Falcon-7b", "arc", None, ("auroc", "msp"), 50.15, pd.NA),        # numpy 50.2, Python 50.1
        ("auroc", "Falcon-7b", "arc", None, ("n_sig", "msp"), 0.0, 2),              # matches
        ("auroc", "Falcon-7b", "arc", None, ("auroc", "max_logit"), 50.96, pd.NA),  # 51.0: differs
        ("auroc", "Falcon-7b", "arc", None, ("n_sig", "max_logit"), 2.0, 2),        # 2/2: differs
        ("auroc", "gpt-4-turbo", None, None, ("accuracy",), 95.7, pd.NA),           # another table's number
        ("auroc", "gpt-4-turbo", "arc", None, ("auroc", "msp"), 88.94, pd.NA),
        ("auroc", "gpt-4-turbo", "arc", None, ("n_sig", "msp"), 2.0, 2),
        ("auroc", "Yi-6b", "arc", None, ("accuracy",), 68.1, pd.NA),
        ("auroc", "Yi-6b", "arc", None, ("auroc", "msp"), 75.3, pd.NA),
        ("auroc", "Yi-6b", "arc", None, ("n_sig", "msp"), 2.0, 2),
        ("auroc", "Yi-6b", "arc", None, ("auroc", "max_logit"), -0.04, pd.NA),    # prints 0.0
        ("auroc", "Yi-6b", "arc", None, ("n_sig", "max_logit"), 2.0, 2),
    ])
    return rp.printed_comparison(printed, ours)


def _row(comparison, row, column):
    found = comparison[(comparison["row"] == row) & (comparison["column"] == column)]
    assert len(found) == 1
    return found.iloc[0]


def test_comparison_by_hand(small_comparison):
    c = small_comparison
    assert list(c.columns) == rp.COMPARISON_COLUMNS and len(c) == 15
    ok = _row(c, "Falcon 7B", ("accuracy",))
    assert (ok["ours"], ok["ours_rounded"], bool(ok["match"]), ok["compared"]) == (25.31, "25.3", True, True)
    assert pd.isna(ok["reason"])
    half = _row(c, "Falcon 7B", ("auroc", "msp"))
    assert (half["ours_rounded"], half["other_rounding"], bool(half["match"])) == ("50.2", "50.1", False)
    assert half["reason"] == "ours rounds to 50.2; matches with Python's round instead of numpy's"
    assert _row(c, "Falcon 7B", ("auroc", "max_logit"))["reason"] == "ours rounds to 51.0"
    count = _row(c, "Falcon 7B", ("n_sig", "max_logit"))
    assert (count["printed"], count["ours_rounded"], bool(count["match"])) == ("1/2", "2/2", False)
    assert bool(_row(c, "Falcon 7B", ("n_sig", "msp"))["match"])
    # a printed number we have no value for (ours is for the overall table only)
    gpt = _row(c, "GPT4 Turbo", ("accuracy",))
    assert (gpt["ours_rounded"], gpt["reason"]) == ("--", "no value of ours") and np.isnan(gpt["ours"])
    # '--' where we have no value either: a match
    dash = _row(c, "GPT4 Turbo", ("auroc", "max_logit"))
    assert (dash["printed"], dash["ours_rounded"], bool(dash["match"])) == ("--", "--", True)
    # the template's count beside '--' is not compared
    artefact = _row(c, "GPT4 Turbo", ("n_sig", "max_logit"))
    assert not artefact["compared"] and pd.isna(artefact["match"])
    assert artefact["reason"].startswith("not compared, template artefact: count printed for a signal")
    # -0.04 is printed 0.0, not 65.1
    assert _row(c, "Yi 6B", ("auroc", "max_logit"))["ours_rounded"] == "0.0"


def test_totals_and_mismatches_by_hand(small_comparison):
    totals = rp.match_totals(small_comparison)
    assert totals["table"].tolist() == ["arc_auroc_table", "all"]
    row = totals.iloc[0].to_dict()
    assert row == {"table": "arc_auroc_table", "n_cells": 15, "n_artefacts": 1, "n_missing": 1, "n_numbers": 13,
                   "n_matched": 8, "n_missing_matched": 1, "n_mismatched": 5}
    assert totals.iloc[1].drop("table").tolist() == totals.iloc[0].drop("table").tolist()
    wrong = rp.mismatches(small_comparison)
    assert sorted(zip(wrong["row"], wrong["column"])) == [
        ("Falcon 7B", ("auroc", "max_logit")), ("Falcon 7B", ("auroc", "msp")), ("Falcon 7B", ("n_sig", "max_logit")),
        ("GPT4 Turbo", ("accuracy",)), ("Yi 6B", ("auroc", "max_logit"))]


def test_a_value_where_the_paper_prints_dashes():
    printed = pr.parse_printed_table(AUROC, "arc_auroc_table.tex")
    ours = _ours([("auroc", "gpt-4-turbo", "arc", None, ("auroc", "max_logit"), 61.0, pd.NA)])
    row = _row(rp.printed_comparison(printed, ours), "GPT4 Turbo", ("auroc", "max_logit"))
    assert (bool(row["match"]), row["reason"]) == (False, "ours is 61.0, the paper prints --")


# --------------------------------------------------------------------------------------------
# the real data


def exact_answers(root) -> pd.DataFrame:
    """A reference reader, independent of ``parse_published``'s joins: the zero-shot answers at the
    files' full precision with each signal's own grades, ``grade`` from the ``norm`` files and
    ``grade_max_logit`` from their ``raw`` twins (the ``norm`` grade for API models)."""
    files = pub.list_result_files(root, shots=0)
    codes, values, offsets = pub._read_files(files)
    twin = {rf.run: i for i, rf in enumerate(files) if rf.kind == "raw"}
    frames = []
    for i, rf in enumerate(files):
        if rf.kind != "norm":
            continue
        rows = slice(offsets[i], offsets[i + 1])
        raw = slice(offsets[twin[rf.run]], offsets[twin[rf.run] + 1]) if rf.run in twin else None
        frames.append(pd.DataFrame({
            "model": rf.model, "dataset": rf.dataset, "phrasing": rf.phrasing, "shots": rf.shots,
            "qid": np.arange(rf.start, rf.end), "norm_code": codes[rows], "msp": values[rows],
            "max_logit": values[raw] if raw is not None else np.nan,
            "raw_code": codes[raw] if raw is not None else codes[rows]}))
    df = pd.concat(frames, ignore_index=True)
    words = list(pub.GRADE_WORDS.values())
    df["grade"] = pd.Categorical.from_codes(df.pop("norm_code"), categories=words)
    df["grade_max_logit"] = pd.Categorical.from_codes(df.pop("raw_code"), categories=words)
    df["correct"] = (df["grade"] == "correct").to_numpy()
    df["correct_max_logit"] = (df["grade_max_logit"] == "correct").to_numpy()
    df["source"] = "published"
    for col, dtype in COLUMNS.items():
        df[col] = df[col].astype(dtype)
    return df[list(COLUMNS)]


@pytest.fixture(scope="module")
def printed(published_dir):
    return pr.printed_numbers(pr.figs_dir(published_dir))


@pytest.fixture(scope="module")
def exact(published_dir):
    return exact_answers(published_dir)


@pytest.fixture(scope="module")
def comparisons(printed, published, exact):
    """The comparison on three tables, each step changing one thing: with both shortcuts of
    ``with_shortcuts`` (float32, every cell graded by the norm files); full precision, still norm
    grades; the tidy table (full precision, per-signal grades). What the first step repairs is due
    to float32, what the second repairs to the grades."""
    shared = published.assign(grade_max_logit=published["grade"], correct_max_logit=published["correct"])
    tables = {"today": rp.with_shortcuts(published), "float64, norm grades": shared, "exact": published}
    return {name: rp.printed_reproduction(printed, answers) for name, answers in tables.items()}


def _keys(frame: pd.DataFrame) -> set[tuple]:
    return set(zip(frame["table"], frame["row"], frame["column"]))


def test_the_tidy_table_holds_the_files_at_full_precision_with_per_signal_grades(published, exact, published_dir):
    key = ["model", "dataset", "phrasing", "qid"]
    assert len(exact) == len(published)
    for col in key + ["grade", "grade_max_logit"]:
        assert (exact[col].astype(str).to_numpy() == published[col].astype(str).to_numpy()).all(), col
    assert exact["msp"].dtype == np.float64 and published["msp"].dtype == np.float64
    for signal in ("msp", "max_logit"):
        np.testing.assert_array_equal(exact[signal].to_numpy(), published[signal].to_numpy())
        shortcut = rp.with_shortcuts(published)[signal].to_numpy()
        np.testing.assert_array_equal(exact[signal].astype(np.float32).astype(np.float64).to_numpy(), shortcut)
    # the Max Logit grades differ on the six Falcon-7b lines where norm and raw files disagree
    differ = exact[exact["grade"] != exact["grade_max_logit"]]
    report = pub.grade_disagreements(published_dir)
    assert sorted(zip(differ["dataset"].astype(str), differ["qid"])) == sorted(zip(report["dataset"], report["qid"]))
    assert set(differ["model"]) == {"Falcon-7b"} and len(differ) == 6


def test_float32_loses_digits_of_gpt_msps_only(published, exact):
    gpt = exact["model"].isin(["gpt-3.5-turbo", "gpt-4-turbo"]).to_numpy()
    for signal in ("msp", "max_logit"):  # open models' values are float32 (MSP) or fp16 (logits) already
        values = exact.loc[~gpt, signal].to_numpy()
        np.testing.assert_array_equal(values.astype(np.float32).astype(np.float64), values)
    for model, n_exact, n_float32 in (("gpt-3.5-turbo", 35_645, 35_644), ("gpt-4-turbo", 14_329, 14_301)):
        msp = exact.loc[exact["model"] == model, "msp"].to_numpy()
        assert (len(np.unique(msp)), len(np.unique(msp.astype(np.float32)))) == (n_exact, n_float32)
        assert len(np.unique(published.loc[published["model"] == model, "msp"])) == n_exact
    # GPT-4's new ties are in its WinoGrande cells
    wino = exact[(exact["model"] == "gpt-4-turbo") & (exact["dataset"] == "winogrande")]
    for phrasing, lost in (("first", 7), ("second", 3)):
        msp = wino.loc[wino["phrasing"] == phrasing, "msp"].to_numpy()
        assert len(np.unique(msp)) - len(np.unique(msp.astype(np.float32))) == lost


def test_every_printed_number_matches_at_full_precision_with_per_signal_grades(comparisons, printed):
    comparison = comparisons["exact"]
    assert rp.mismatches(comparison).empty
    totals = rp.match_totals(comparison).set_index("table")
    assert (totals["n_mismatched"] == 0).all()
    assert (totals["n_matched"] == totals["n_numbers"]).all()
    assert (totals["n_missing_matched"] == totals["n_missing"]).all()
    assert (totals["n_artefacts"] + totals["n_missing"] + totals["n_numbers"] == totals["n_cells"]).all()
    assert totals.loc["all"].to_dict() == {"n_cells": 1695, "n_artefacts": 206, "n_missing": 72, "n_numbers": 1417,
                                           "n_matched": 1417, "n_missing_matched": 72, "n_mismatched": 0}
    assert len(totals) == printed["table"].nunique() + 1


def test_no_printed_number_depends_on_the_rounding_rule(comparisons):
    compared = comparisons["exact"][comparisons["exact"]["compared"]]
    assert (compared["ours_rounded"] == compared["other_rounding"]).all()


# the two numbers today's table misses, and what each fix alone repairs
GRADES = ("hellaswag_auroc_table", "Falcon 7B", ("auroc", "max_logit"))
FLOAT32 = ("winogrande_pct_abstained_table", "GPT3.5 Turbo", ("pct_abstained", "balanced", "msp"))


def test_todays_table_misses_two_numbers_one_per_cause(comparisons):
    today = rp.mismatches(comparisons["today"])
    assert _keys(today) == {GRADES, FLOAT32}
    # full precision repairs the float32 one; the Max Logit grades then repair the other
    assert _keys(rp.mismatches(comparisons["float64, norm grades"])) == {GRADES}
    assert rp.mismatches(comparisons["exact"]).empty
    by_key = today.set_index(["table", "row", "column"])
    grades, float32 = by_key.loc[GRADES], by_key.loc[FLOAT32]
    assert (grades["printed"], grades["ours_rounded"]) == ("49.9", "50.0")
    assert (float32["printed"], float32["ours_rounded"]) == ("48.8", "48.7")
    assert grades["reason"] == "ours rounds to 50.0" and float32["reason"] == "ours rounds to 48.7"
    totals = rp.match_totals(comparisons["today"]).set_index("table")
    assert (totals.loc["all", "n_numbers"], totals.loc["all", "n_matched"]) == (1417, 1415)
    assert totals.loc[totals["n_mismatched"] > 0, "n_mismatched"].to_dict() == {
        "hellaswag_auroc_table": 1, "winogrande_pct_abstained_table": 1, "all": 2}


def _moved(comparisons, before: str, after: str) -> pd.DataFrame:
    """Rows of ``after`` whose unrounded value differs from ``before``'s (same printed cells, same order)."""
    return comparisons[after][(comparisons[before]["ours"] - comparisons[after]["ours"]).abs() > 0]


def test_which_unrounded_numbers_each_cause_moves(comparisons):
    # norm grades for Max Logit: Falcon-7b's Max Logit numbers, and the dataset table, which averages all cells
    grades = _moved(comparisons, "float64, norm grades", "exact")
    falcon = grades["model"] == "Falcon-7b"
    assert (grades.loc[falcon, "column"].map(lambda c: c[-1] == "max_logit")).all()
    assert set(grades.loc[~falcon, "table"]) == {"dataset"}
    assert len(grades) == 15
    # float32: GPT MSP numbers only (AUROC and calibration of GPT-4, GPT-3.5 WinoGrande abstention), and
    # the dataset table's MSP AUROC of WinoGrande through GPT-4
    float32 = _moved(comparisons, "today", "float64, norm grades")
    gpt = float32["model"].isin(["gpt-3.5-turbo", "gpt-4-turbo"])
    assert (float32.loc[gpt, "column"].map(lambda c: c[-1] in ("msp", "calibration_error"))).all()
    assert float32.loc[~gpt, ["table", "row"]].values.tolist() == [["dataset", "WinoGrande"]]
    assert len(float32) == 8
    # the two causes move disjoint sets of numbers
    assert _keys(_moved(comparisons, "today", "exact")) == _keys(grades) | _keys(float32)
    assert not _keys(grades) & _keys(float32)


def test_the_float32_mismatch_is_one_answer_at_the_threshold(exact):
    """GPT-3.5 WinoGrande, balanced, MSP threshold: one test answer's MSP lies just below the threshold
    in the file and just above it in float32, so it is answered instead of abstained on."""
    wino = exact[exact["dataset"] == "winogrande"]
    run = abstention.abstention_scores(wino, "msp", 20, 1)
    threshold = run.set_index("model").loc["gpt-3.5-turbo", "threshold"]
    (_, _), (test_conf, _) = abstention.pooled_splits(wino[wino["model"] == "gpt-3.5-turbo"], "msp", 20)[
        ("gpt-3.5-turbo", "winogrande")]
    below = test_conf < threshold
    assert (below != (test_conf.astype(np.float32) < threshold)).sum() == 1
    assert 100 / len(test_conf) == pytest.approx(
        run.set_index("model").loc["gpt-3.5-turbo", "pct_abstained"]
        - abstention.abstention_scores(wino.astype({"msp": np.float32}), "msp", 20, 1)
        .set_index("model").loc["gpt-3.5-turbo", "pct_abstained"])
