"""CSV export of the paper's numbers: ``python -m helpers.tables --out DIR [--include-scored]``.

Writes cells.csv, models.csv, datasets.csv, correlations.csv and abstention.csv for the zero-shot
answers of the paper's 14 models, and their uncertainty: model_intervals.csv and cell_intervals.csv
(95% question-bootstrap intervals, ``--resamples`` resamples, cached on disk), cell_tests.csv (the
per-cell Mann-Whitney p-values with Holm and Benjamini-Hochberg corrections, one-sided) and
correlation_uncertainty.csv (Fisher z, bootstrap over questions and over models, permutation
p-values, leave-one-model-out and leave-one-family-out ranges); and one CSV per chapter beyond the
paper: recalibration.csv, selective.csv and one_shot.csv (the one-shot answers against the zero-shot
ones on the same questions). With ``--include-scored``, our own scored models (found in the
scores folder) get their rows in cells.csv, models.csv and abstention.csv (and in the three files
beyond the paper) too, next to the paper's,
whose numbers do not change; datasets.csv and correlations.csv always stay the paper's (means and
correlations over its models). A scored model's overall abstention rows average over the datasets it
has answers for (those with per-dataset rows); model_intervals.csv and cell_intervals.csv get
their rows too, while cell_tests.csv and correlation_uncertainty.csv stay the paper's. Model and
dataset values are the authors' keys; accuracy and AUROC in percent, calibration errors as
fractions, all unrounded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from helpers.analysis import bootstrap, testing
from helpers.analysis import cells as cells_mod
from helpers.analysis.abstention import abstention_table
from helpers.analysis.correlations import correlation_table
from helpers.data.analysis_cache import frame_store
from helpers.data.answers import load_answers
from helpers.data.locations import analysis_cache_dir
from helpers.data.published import check_copy, published_dir

#: file name -> its columns, in order
COLUMNS = {
    "cells.csv": ["model", "dataset", "phrasing", "signal", "n", "n_correct", "n_unparseable",
                  "accuracy", "auroc", "mw_u", "mw_p_two_sided", "mw_p_one_sided"],
    "models.csv": ["model", "accuracy", "auroc_msp", "auroc_max_logit", "n_sig_msp", "n_sig_max_logit",
                   "calibration_error_paper", "calibration_error_uniform_cells", "ece_weighted"],
    "datasets.csv": ["dataset", "accuracy", "auroc_msp", "auroc_max_logit"],
    "correlations.csv": ["x", "y", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"],
    "abstention.csv": ["k", "scope", "penalty", "model", "signal", "threshold", "base_score", "score",
                       "pct_abstained"],
    "model_intervals.csv": ["model", "statistic", "estimate", "lo", "hi", "bias", "n_valid"],
    "cell_intervals.csv": ["model", "dataset", "phrasing", "signal", "statistic", "estimate", "lo", "hi", "bias",
                           "n_valid"],
    "cell_tests.csv": ["model", "dataset", "phrasing", "signal", "auroc", "p_two_sided", "p_one_sided", "p_holm",
                       "p_bh", "sig_paper", "sig_holm", "sig_bh"],
    "correlation_uncertainty.csv": ["x", "y", "method", "n", "estimate", "p", "fisher_lo", "fisher_hi",
                                    "question_lo", "question_hi", "model_lo", "model_hi", "permutation_p",
                                    "lomo_min", "lomo_max", "lofo_min", "lofo_max"],
}


def export_tables(answers: pd.DataFrame, resamples: int = bootstrap.N_RESAMPLES,
                  store: bootstrap.Store | None = None) -> dict[str, pd.DataFrame]:
    """The CSV tables (file name -> DataFrame with exactly ``COLUMNS[name]``).

    cells, models and abstention hold every model of ``answers``; datasets and correlations are over
    the paper's models only (``vocabulary.is_scored``). models.csv ``ece_weighted`` is the conventional
    count-weighted ECE with the paper's equal-mass bins and every answer counted
    (``cells.calibration_by_model`` ``ece_equal_mass``). The intervals come from one question
    bootstrap of ``resamples`` resamples (``bootstrap.cached_question_bootstrap`` through ``store``).
    """
    cells = cells_mod.cell_table(answers)
    summary = cells_mod.model_summary(answers, cells)
    models = summary.rename(columns={"ece_equal_mass": "ece_weighted"})
    boot = bootstrap.cached_question_bootstrap(answers, resamples, store=store)
    tables = {
        "cells.csv": cells,
        "models.csv": models,
        "datasets.csv": cells_mod.dataset_metrics(cells_mod.split_scored(cells)[0]),
        "correlations.csv": correlation_table(models),
        "abstention.csv": abstention_table(answers, ks=(20, 10, "half")),
        "model_intervals.csv": bootstrap.model_intervals(boot),
        "cell_intervals.csv": bootstrap.cell_intervals(boot),
        "cell_tests.csv": testing.corrected_cell_pvalues(cells),
        "correlation_uncertainty.csv": testing.correlation_uncertainty(summary, boot),
    }
    return {name: table[COLUMNS[name]] for name, table in tables.items()}


def write_tables(tables: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Write each table as ``out/<name>`` (created if needed); return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        table.to_csv(out / name, index=False)
        paths.append(out / name)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.tables", description=__doc__.replace("``", ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the CSV files into")
    parser.add_argument("--published-dir", type=Path, default=None,
                        help="folder with the authors' main_results/ (default: env MSP_PUBLISHED_DIR, "
                             "else data/published)")
    parser.add_argument("--include-scored", action="store_true",
                        help="add our own scored models' rows to cells.csv, models.csv and abstention.csv "
                             "(datasets.csv and correlations.csv stay the paper's 14 models; the paper "
                             "models' rows are unchanged)")
    parser.add_argument("--resamples", type=int, default=bootstrap.N_RESAMPLES,
                        help="question-bootstrap resamples behind the intervals (default %(default)s; results "
                             "are cached in the data folder's cache/analysis/)")
    parser.add_argument("--scores-dir", type=Path, default=None,
                        help="folder of our own scored answers, read with --include-scored (default: env "
                             "MSP_SCORES_DIR, else data/scores)")
    args = parser.parse_args(argv)
    if args.resamples < 1:
        parser.error(f"--resamples must be at least 1, got {args.resamples}")
    check_copy(published_dir(args.published_dir))
    answers = load_answers(args.published_dir, args.scores_dir, shots=0, include_scored=args.include_scored)
    tables = export_tables(answers, resamples=args.resamples, store=frame_store(analysis_cache_dir()))
    for path in write_tables(tables, args.out):
        print(path)
    one = load_answers(args.published_dir, args.scores_dir, shots=1, include_scored=args.include_scored)
    for path in write_tables(export_beyond_tables(answers, one), args.out):
        print(path)


# --- the chapters beyond the paper: one CSV per chapter ---------------------------------------------

#: file name -> its columns, in order (written next to :data:`COLUMNS`'s files)
BEYOND_COLUMNS = {
    "recalibration.csv": ["k", "model", "signal", "method", "n_train", "n_test", "n_degenerate", "accuracy",
                          "ece_equal_mass", "ece_equal_width", "smece", "brier", "reliability", "resolution",
                          "uncertainty", "log_loss", "auroc", "auroc_change"],
    "selective.csv": ["model", "signal", "n", "accuracy", "auroc", "aurc", "aurc_oracle", "e_aurc", "augrc",
                      "prr", "prr_selective", "acc_at_50", "acc_at_80", "acc_at_90"],
    "one_shot.csv": ["model", "shots", "n_answers", "n_questions", "accuracy", "unparseable_pct", "auroc_msp",
                     "auroc_max_logit", "ece_equal_mass", "calibration_error_paper"],
}


def export_beyond_tables(zero: pd.DataFrame, one: pd.DataFrame, k=20) -> dict[str, pd.DataFrame]:
    """The per-model numbers of the three chapters beyond the paper (file name -> DataFrame with
    exactly ``BEYOND_COLUMNS[name]``): recalibration.csv (``recalibration.recalibration_table`` with
    k labelled answers per dataset, MSP and Max Logit; fractions), selective.csv
    (``selective.selective_by_model`` of each signal, all answers; fractions) and one_shot.csv
    (``one_shot.paired_measures`` of the ``zero``- and ``one``-shot answers to the same questions;
    accuracy, AUROC and unparseable share in percent, calibration errors as fractions)."""
    from helpers.analysis import one_shot, recalibration, selective

    signals = [s for s in ("msp", "max_logit") if zero[s].notna().any()]
    tables = {
        "recalibration.csv": recalibration.recalibration_table(zero, k, signals=signals),
        "selective.csv": pd.concat([selective.selective_by_model(zero, s) for s in signals], ignore_index=True),
        "one_shot.csv": one_shot.paired_measures(one_shot.paired_answers(zero, one)),
    }
    return {name: table[BEYOND_COLUMNS[name]] for name, table in tables.items()}


if __name__ == "__main__":
    main()
