"""The authors' printed tables (``figs/*.tex`` at the pinned commit) as one tidy frame of numbers.

Their ``plot_data.py:make_table`` writes each table as a booktabs ``tabular``: a header, then one
line ``name & cell & … \\\\`` per model (or per dataset in ``dataset.tex``), each number formatted as
``str(round(x, precision)).replace('-0.0', '0.0')`` with ``x`` a numpy float (precision 2 for the
calibration table, 1 for every other one) and ``--`` where a model has no value (GPT has no Max
Logit, METHODS §6). ``score_table.tex`` was then edited by hand (``\\textbf{…}`` marks the best
method, ``\\offset`` and ``~`` pad the last column), and the counts of significant cells were filled
in afterwards: the code writes the placeholder ``2/2`` (METHODS §8.3), which is left next to GPT's
missing Max Logit in the per-dataset tables and everywhere in ``auroc_table``.

The tables (file stem → what it holds, METHODS section):

- ``auroc_table_plus_fig`` and ``auroc_table``: per model, Q&A accuracy, MSP and Max Logit AUROC,
  each the mean over the model's 10 cells, and the count ``x/10`` of cells with p < 1e-4 (§8.1–8.3);
  ``auroc_table`` has the same numbers with placeholder counts ``2/2``;
- ``{dataset}_auroc_table``: the same per dataset, means over 2 cells, counts ``x/2``;
- ``calibration_table_quantile``: per model, the calibration error of its pooled MSPs (§8.6);
- ``dataset``: per dataset, accuracy and MSP / Max Logit AUROC over the models' cells (§8.5);
- ``score_table`` (k = 20), ``score_table_k=10``, ``score_table_k=half`` and ``{dataset}_score_table``
  (k = 20): per model and penalty (Balanced 1, Conservative 2), the test score of Base (no
  abstention) and of the MSP and Max Logit thresholds (§8.7);
- ``pct_abstained_table`` and ``{dataset}_pct_abstained_table`` (k = 20): the % abstained there.

:func:`printed_numbers` gives one row per printed cell. Template artefacts (METHODS §8.3, §8.7) are
kept and named in the ``artefact`` column: a count whose denominator is not the number of cells the
table averages over (the placeholders of ``auroc_table``), a count next to a ``--`` AUROC (GPT Max
Logit in the per-dataset tables), and the literal ``0`` of Base in the %-abstained tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.published import FIGS, FIGS_PATTERN, published_dir
from helpers.data.vocabulary import DATASET_REGISTRY, DATASETS, PHRASINGS, model_table

#: digits after the point the authors' ``make_table`` rounds to, per kind of table
PRECISION = {"auroc": 1, "calibration": 2, "dataset": 1, "score": 1, "pct_abstained": 1}
#: the printed name of a wrong-answer penalty (METHODS §8.7 step 3)
PENALTY_KEYS = {"balanced": 1, "conservative": 2}
#: printed cell for "no value"
MISSING = "--"

_SIGNALS = ("msp", "max_logit")
_SCORE_COLUMNS = [(penalty, method) for penalty in PENALTY_KEYS for method in ("base", *_SIGNALS)]
#: per kind: the header line as printed (whitespace collapsed) and the key of each number column
LAYOUTS = {
    "auroc": (r"LLM & Q\&A Accuracy & AUROC & $p < 10^{-4}$ & AUROC & $p < 10^{-4}$",
              [("accuracy",), ("auroc", "msp"), ("n_sig", "msp"), ("auroc", "max_logit"),
               ("n_sig", "max_logit")]),
    "calibration": ("LLM & Expected calibration error", [("calibration_error",)]),
    "dataset": (r"& Q\&A Accuracy & MSP AUROC & Max Logit AUROC",
                [("accuracy",), ("auroc", "msp"), ("auroc", "max_logit")]),
    "score": ("LLM & Base & MSP & Max Logit & Base & MSP & Max Logit",
              [("score", *c) for c in _SCORE_COLUMNS]),
    "pct_abstained": ("LLM & Base & MSP & Max Logit & Base & MSP & Max Logit",
                      [("pct_abstained", *c) for c in _SCORE_COLUMNS]),
}
#: per kind: the group line above the header, when the table has one
GROUP_LINES = {
    "auroc": r"& & \multicolumn{2}{c}{MSP} & \multicolumn{2}{c}{Max Logit}",
    "score": r"& \multicolumn{3}{c}{Balanced} & \multicolumn{3}{c}{Conservative}",
    "pct_abstained": r"& \multicolumn{3}{c}{Balanced} & \multicolumn{3}{c}{Conservative}",
}

COLUMNS = ["table", "kind", "line", "row", "model", "dataset", "k", "column", "quantity", "signal",
           "penalty", "printed", "value", "decimals", "precision", "out_of", "bold", "artefact"]

_DATASET = "|".join(DATASETS)
_STEM = re.compile(
    rf"(?:(?P<dataset>{_DATASET})_)?(?P<kind>auroc_table(?P<plus_fig>_plus_fig)?|score_table|pct_abstained_table)"
    r"(?:_k=(?P<k>\d+|half))?"
)
_NUMBER = re.compile(r"-?\d+(?:\.(?P<fraction>\d+))?")
_COUNT = re.compile(r"(?P<n>\d+)/(?P<of>\d+)")
_BOLD = re.compile(r"\\textbf\{([^{}]*)\}")
_TABULAR = re.compile(r"\\begin\{tabular\}\{(?P<spec>[lcr]+)\}")


class PrintedFormatError(ValueError):
    """A printed table that does not follow the authors' layout; the message names file and line."""


@dataclass(frozen=True)
class TableSpec:
    """What a table's file stem says: its kind (a key of :data:`LAYOUTS`), dataset (None: all
    five) and training size k (20, 10 or 'half' for the abstention tables, else None)."""

    stem: str
    kind: str
    dataset: str | None
    k: int | str | None


def table_spec(stem: str) -> TableSpec | None:
    """The :class:`TableSpec` of a ``figs/`` file stem, or None for a file that is no number table
    (``prompts``)."""
    if stem == "calibration_table_quantile":
        return TableSpec(stem, "calibration", None, None)
    if stem == "dataset":
        return TableSpec(stem, "dataset", None, None)
    m = _STEM.fullmatch(stem)
    if m is None:
        return None
    kind = m["kind"].removesuffix("_plus_fig").removesuffix("_table")
    if kind == "auroc":
        if m["k"] is not None or (m["plus_fig"] and m["dataset"]):
            return None
        return TableSpec(stem, "auroc", m["dataset"], None)
    if m["dataset"] and m["k"] is not None:  # the per-dataset abstention tables exist for k = 20 only
        return None
    k = 20 if m["k"] is None else ("half" if m["k"] == "half" else int(m["k"]))
    return TableSpec(stem, kind, m["dataset"], k)


def _names() -> tuple[dict[str, str], dict[str, str]]:
    """(printed model name -> model key, printed dataset name -> dataset key)."""
    models = model_table()
    return (dict(zip(models["name"], models["model"])),
            {d.name: key for key, d in DATASET_REGISTRY.items()})


def _collapse(line: str) -> str:
    """A LaTeX line without its row end ``\\\\`` and with runs of whitespace as one space."""
    line = line.strip()
    line = line.removesuffix("\\\\").strip()
    return " ".join(line.split())


def _cell(text: str) -> tuple[str, bool]:
    """A printed cell without its formatting (``\\textbf{}``, ``\\offset``, ``~``), and whether bold."""
    bold = bool(_BOLD.search(text))
    text = _BOLD.sub(r"\1", text).replace("\\offset", "").replace("~", "")
    return text.strip(), bold


def _find(lines: list[str], name: str, prefix: str, start: int = 0) -> int:
    for i in range(start, len(lines)):
        if lines[i].strip().startswith(prefix):
            return i
    raise PrintedFormatError(f"{name}: no line starting with {prefix!r}"
                             + (f" after line {start}" if start else ""))


def parse_printed_table(text: str, name: str) -> pd.DataFrame:
    """The numbers of one printed table, given its text and its file name (whose stem says which
    table it is, :func:`table_spec`). Columns :data:`COLUMNS`, one row per number cell:

    table (file stem), kind, line (1-based, in the file), row (name as printed), model (the
    authors' model key; none in ``dataset.tex``), dataset (dataset key; none for tables over all
    five), k (training answers of the abstention tables: 20, 10 or 'half'; None otherwise), column
    (stable key, e.g. ``('auroc', 'msp')``, ``('n_sig', 'max_logit')``, ``('score', 'balanced',
    'base')``), quantity (its first element), signal ('msp', 'max_logit'; none for accuracy,
    calibration and Base), penalty (1 balanced, 2 conservative; None outside the abstention
    tables), printed (the cell as printed, formatting removed), value (float; the count for
    ``x/n``; NaN for ``--``), decimals (digits after the point as printed; 0 for counts; NA for
    ``--``), precision (the digits the authors rounded to, :data:`PRECISION`; 0 for counts), out_of
    (n of a count ``x/n``), bold, artefact (why a cell is a template artefact). Missing model,
    dataset, signal and artefact are NaN.

    Raises :class:`PrintedFormatError` (a ``ValueError``) naming file and line on a layout other than
    the authors': unknown table, header or row name, wrong number of cells, a cell that is not a
    number, a count or ``--``, more digits than the table's precision, a repeated row.
    """
    stem = Path(name).name.removesuffix(".tex")
    spec = table_spec(stem)
    if spec is None:
        raise PrintedFormatError(f"{name}: not one of the authors' number tables (file stem {stem!r})")
    header_text, keys = LAYOUTS[spec.kind]
    lines = text.splitlines()
    begin = _find(lines, name, "\\begin{tabular}")
    tabular = _TABULAR.search(lines[begin])
    if tabular is None or len(tabular["spec"]) != 1 + len(keys):
        raise PrintedFormatError(f"{name}:{begin + 1}: expected a tabular of {1 + len(keys)} columns, "
                                 f"got {lines[begin].strip()!r}")
    top = _find(lines, name, "\\toprule", begin)
    rule = _find(lines, name, "\\cmidrule", top)
    bottom = _find(lines, name, "\\bottomrule", rule)
    header = rule - 1
    if header <= top or _collapse(lines[header]) != header_text:
        raise PrintedFormatError(f"{name}:{header + 1}: header is {lines[header].strip()!r}, "
                                 f"expected {header_text!r}")
    if spec.kind in GROUP_LINES and (header - 1 <= top or _collapse(lines[header - 1]) != GROUP_LINES[spec.kind]):
        raise PrintedFormatError(f"{name}:{header}: group header is {lines[header - 1].strip()!r}, "
                                 f"expected {GROUP_LINES[spec.kind]!r}")
    model_keys, dataset_keys = _names()
    precision = PRECISION[spec.kind]
    # cells a table entry averages over: 5 datasets x 2 phrasings overall, 2 phrasings per dataset
    n_cells = len(PHRASINGS) * (1 if spec.dataset else len(DATASETS))
    records, seen = [], set()
    for i in range(rule + 1, bottom):
        raw = lines[i].strip()
        if not raw:
            continue
        where = f"{name}:{i + 1}"
        if not raw.endswith("\\\\"):
            raise PrintedFormatError(f"{where}: a table row must end with '\\\\', got {raw!r}")
        cells = [c.strip() for c in raw.removesuffix("\\\\").split("&")]
        if len(cells) != 1 + len(keys):
            raise PrintedFormatError(f"{where}: {len(cells)} cells, expected {1 + len(keys)} "
                                     f"(name and {len(keys)} numbers): {raw!r}")
        row = _cell(cells[0])[0]
        if spec.kind == "dataset":
            if row not in dataset_keys:
                raise PrintedFormatError(f"{where}: unknown dataset {row!r}; expected one of {list(dataset_keys)}")
            model, dataset = None, dataset_keys[row]
        else:
            if row not in model_keys:
                raise PrintedFormatError(f"{where}: unknown model {row!r}; expected one of {list(model_keys)}")
            model, dataset = model_keys[row], spec.dataset
        if row in seen:
            raise PrintedFormatError(f"{where}: row {row!r} appears twice")
        seen.add(row)
        row_records = []
        for key, cell in zip(keys, cells[1:]):
            printed, bold = _cell(cell)
            record = {"table": stem, "kind": spec.kind, "line": i + 1, "row": row, "model": model,
                      "dataset": dataset, "k": spec.k, "column": key, "quantity": key[0],
                      "signal": next((s for s in key[1:] if s in _SIGNALS), None),
                      "penalty": PENALTY_KEYS[key[1]] if key[0] in ("score", "pct_abstained") else None,
                      "printed": printed, "value": np.nan, "decimals": pd.NA, "precision": precision,
                      "out_of": pd.NA, "bold": bold, "artefact": None}
            count, number = _COUNT.fullmatch(printed), _NUMBER.fullmatch(printed)
            if printed == MISSING:
                pass
            elif key[0] == "n_sig":
                if count is None:
                    raise PrintedFormatError(f"{where}: {key} cell {printed!r} is not a count 'x/n' or {MISSING!r}")
                n, out_of = int(count["n"]), int(count["of"])
                if n > out_of:
                    raise PrintedFormatError(f"{where}: count {printed!r} exceeds its denominator")
                record.update(value=float(n), decimals=0, precision=0, out_of=out_of)
                if out_of != n_cells:
                    record["artefact"] = (f"placeholder count: denominator {out_of}, but the table averages "
                                          f"{n_cells} cells")
            elif number is not None:
                decimals = len(number["fraction"] or "")
                if decimals > precision:
                    raise PrintedFormatError(f"{where}: {printed!r} has {decimals} decimals; the table is "
                                             f"rounded to {precision}")
                record.update(value=float(printed), decimals=decimals)
                if key[0] == "pct_abstained" and key[2] == "base":
                    record["artefact"] = "literal 0 written for Base, which never abstains"
            else:
                raise PrintedFormatError(f"{where}: {key} cell {printed!r} is neither a number nor {MISSING!r}")
            row_records.append(record)
        # a count printed for a signal whose AUROC is missing (GPT Max Logit per dataset)
        auroc = {r["column"][1]: r["printed"] for r in row_records if r["quantity"] == "auroc"}
        for r in row_records:
            if r["quantity"] == "n_sig" and auroc.get(r["signal"]) == MISSING and r["printed"] != MISSING:
                r["artefact"] = r["artefact"] or "count printed for a signal the model does not have (AUROC --)"
        records += row_records
    if not records:
        raise PrintedFormatError(f"{name}:{rule + 2}: table has no rows")
    out = pd.DataFrame(records, columns=COLUMNS)
    for col in ("decimals", "precision", "out_of", "penalty"):
        out[col] = out[col].astype("Int64")
    for col in ("model", "dataset", "signal", "artefact"):  # missing: NaN
        out[col] = out[col].astype("str")
    return out


def read_printed_table(path: str | Path) -> pd.DataFrame:
    """:func:`parse_printed_table` of one ``.tex`` file."""
    path = Path(path)
    return parse_printed_table(path.read_text(encoding="utf-8"), str(path))


def table_files(figs: str | Path) -> list[Path]:
    """The number tables in a ``figs/`` folder (``*.tex`` with a :func:`table_spec`), sorted by name."""
    figs = Path(figs)
    if not figs.is_dir():
        raise FileNotFoundError(f"{figs}: folder of printed tables not found")
    return sorted(p for p in figs.glob(FIGS_PATTERN) if table_spec(p.name.removesuffix(".tex")) is not None)


def figs_dir(source: str | Path | None = None) -> Path:
    """The ``figs/`` folder next to the published results (``published.published_dir``)."""
    figs = published_dir(source) / FIGS
    if not figs.is_dir():
        raise FileNotFoundError(f"{figs}: no folder of printed tables next to the published results")
    return figs


def printed_numbers(figs: str | Path | None = None) -> pd.DataFrame:
    """Every number of every printed table in ``figs`` (default: :func:`figs_dir`), one frame of
    :data:`COLUMNS` (see :func:`parse_printed_table`), tables in file-name order."""
    figs = figs_dir() if figs is None else Path(figs)
    files = table_files(figs)
    if not files:
        raise FileNotFoundError(f"{figs}: no printed tables ({FIGS_PATTERN}) here")
    return pd.concat([read_printed_table(p) for p in files], ignore_index=True)
