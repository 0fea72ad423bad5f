"""CSV export of the paper's numbers: ``python -m helpers.tables --out DIR [--include-scored]``.

Writes cells.csv, models.csv, datasets.csv, correlations.csv and abstention.csv for the zero-shot
answers of the paper's 14 models. With ``--include-scored``, our own scored models (found in the
scores folder) get their rows in cells.csv, models.csv and abstention.csv too, next to the paper's,
whose numbers do not change; datasets.csv and correlations.csv always stay the paper's (means and
correlations over its models). A scored model's overall abstention rows average over the datasets it
has answers for (those with per-dataset rows). Model and dataset values are the authors' keys;
accuracy and AUROC in percent, calibration errors as fractions, all unrounded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from helpers.analysis import cells as cells_mod
from helpers.analysis.abstention import abstention_table
from helpers.analysis.correlations import correlation_table
from helpers.data.answers import load_answers
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
}


def export_tables(answers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The five CSV tables (file name -> DataFrame with exactly ``COLUMNS[name]``).

    cells, models and abstention hold every model of ``answers``; datasets and correlations are over
    the paper's models only (``vocabulary.is_scored``). models.csv ``ece_weighted`` is the conventional
    count-weighted ECE with the paper's equal-mass bins and every answer counted
    (``cells.calibration_by_model`` ``ece_equal_mass``).
    """
    cells = cells_mod.cell_table(answers)
    models = cells_mod.model_summary(answers, cells).rename(columns={"ece_equal_mass": "ece_weighted"})
    tables = {
        "cells.csv": cells,
        "models.csv": models,
        "datasets.csv": cells_mod.dataset_metrics(cells_mod.split_scored(cells)[0]),
        "correlations.csv": correlation_table(models),
        "abstention.csv": abstention_table(answers, ks=(20, 10, "half")),
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
    parser.add_argument("--scores-dir", type=Path, default=None,
                        help="folder of our own scored answers, read with --include-scored (default: env "
                             "MSP_SCORES_DIR, else data/scores)")
    args = parser.parse_args(argv)
    check_copy(published_dir(args.published_dir))
    answers = load_answers(args.published_dir, args.scores_dir, shots=0, include_scored=args.include_scored)
    for path in write_tables(export_tables(answers), args.out):
        print(path)


if __name__ == "__main__":
    main()
