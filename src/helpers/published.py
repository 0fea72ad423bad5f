"""The authors' published per-question results, as the tidy per-answer table.

The results (MIT licence, Copyright (c) 2024 Ben Plaut) live in the authors' repository at a pinned
commit, in two folders: ``main_results/`` (zero-shot, used for every claim) and
``one_shot_results/`` (one in-context example). One file holds 500 answers of one run::

    {dataset}_{model}-q{START}to{END}_no_abst_{norm|raw}_logits_{first|second}_prompt[_few_shot_1].txt

with a header ``grade confidence_level`` and one ``Grade value`` line per question; line *i* is
question START + *i* of the dataset's shuffled order (METHODS §2, §6). ``norm`` files hold the MSP,
``raw`` files the Max Logit of the same answers (API models have ``norm`` files only).
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import table
from .locations import data_dir
from .models import API_MODELS

RESULTS_REPOSITORY = "bplaut/llm-calibration-and-correctness-prediction"
RESULTS_COMMIT = "c176fdd333ed3915c14c031e8ac3baf30698be22"
ARCHIVE_URL = f"https://github.com/{RESULTS_REPOSITORY}/archive/{RESULTS_COMMIT}.tar.gz"
#: sha256 of the sorted ``folder/name git-blob-sha1`` lines of both folders at RESULTS_COMMIT
#: (see :func:`content_digest`); git blob hashes do not depend on how the archive was packed.
RESULTS_DIGEST = "d4b360f82ff9bc0d9b60e755206e42bd374a7b4a222f56de16dd723db342e927"
#: the authors' printed tables: ``figs/*.tex`` at RESULTS_COMMIT (their figures, PDFs, are not kept)
FIGS, FIGS_PATTERN = "figs", "*.tex"
#: :func:`content_digest` of ``figs/*.tex`` at RESULTS_COMMIT
FIGS_DIGEST = "b75aad24685cad09b7b5aab6d519a46fb7c146047c4b87bcd08679fb22bc3654"

FOLDERS = {"main_results": 0, "one_shot_results": 1}
HEADER = "grade confidence_level"
GRADE_WORDS = {"Correct": "correct", "Wrong": "wrong", "Unparseable": "unparseable"}
# Bump when the parsed table changes shape, so that old parquet caches are not reused.
PARSER_VERSION = "1"

_NAME = re.compile(
    r"(?P<dataset>[a-z]+)_(?P<model>.+)-q(?P<start>\d+)to(?P<end>\d+)_no_abst_"
    r"(?P<kind>norm|raw)_logits_(?P<phrasing>first|second)_prompt(?P<few_shot>_few_shot_1)?\.txt"
)


class PublishedFormatError(ValueError):
    """A result file that does not follow the authors' format; the message names file and line."""


@dataclass(frozen=True)
class ResultFile:
    """One result file and what its name says about it."""

    path: Path
    dataset: str
    model: str
    start: int
    end: int
    kind: str  # 'norm' (MSP) or 'raw' (Max Logit)
    phrasing: str
    shots: int

    @property
    def run(self) -> tuple:
        """What identifies the run; a ``norm`` file and its ``raw`` twin share it."""
        return (self.model, self.dataset, self.phrasing, self.shots, self.start)


def parse_file_name(path: Path, shots: int) -> ResultFile:
    """Read dataset, model, question range, signal, phrasing from a result file's name.

    ``shots`` is what the file's folder implies; the name's ``_few_shot_1`` suffix must agree.
    """
    path = Path(path)
    m = _NAME.fullmatch(path.name)
    if m is None:
        raise PublishedFormatError(f"{path}: file name does not follow the scheme "
                                   "{dataset}_{model}-q{START}to{END}_no_abst_{norm|raw}_logits_"
                                   "{first|second}_prompt[_few_shot_1].txt")
    if m["dataset"] not in table.DATASETS:
        raise PublishedFormatError(f"{path}: unknown dataset {m['dataset']!r}; "
                                   f"expected one of {list(table.DATASETS)}")
    if bool(m["few_shot"]) != bool(shots):
        raise PublishedFormatError(f"{path}: the _few_shot_1 suffix does not match the folder "
                                   f"({'one-shot' if shots else 'zero-shot'})")
    start, end = int(m["start"]), int(m["end"])
    if end <= start:
        raise PublishedFormatError(f"{path}: empty question range q{start}to{end}")
    return ResultFile(path, m["dataset"], m["model"], start, end, m["kind"], m["phrasing"], shots)


def list_result_files(root: Path, shots: int | None = 0) -> list[ResultFile]:
    """All result files under ``root`` for ``shots`` (0, 1, or None for both), sorted by name."""
    files = []
    for folder, folder_shots in FOLDERS.items():
        if shots is not None and folder_shots != shots:
            continue
        directory = Path(root) / folder
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: folder of published results not found")
        files += [parse_file_name(p, folder_shots) for p in sorted(directory.iterdir()) if p.is_file()]
    return files


def _check_file(rf: ResultFile, text: str) -> str:
    """Check header and line count; return the data lines (each ending with a newline)."""
    header, _, body = text.partition("\n")
    if header.rstrip("\r") != HEADER:
        raise PublishedFormatError(f"{rf.path}:1: header is {header!r}, expected {HEADER!r}")
    if body and not body.endswith("\n"):
        body += "\n"
    n = body.count("\n")
    if n != rf.end - rf.start:
        raise PublishedFormatError(f"{rf.path}: {n} data lines for the range q{rf.start}to{rf.end} "
                                   f"(expected {rf.end - rf.start})")
    return body


def _diagnose(rf: ResultFile, body: str) -> None:
    """Find and raise the first malformed data line of a file (the slow, exact path)."""
    for lineno, line in enumerate(body.splitlines(), start=2):
        fields = line.split(" ")
        if len(fields) != 2:
            raise PublishedFormatError(f"{rf.path}:{lineno}: expected 'grade confidence', got {line!r}")
        grade, value = fields
        if grade not in GRADE_WORDS:
            raise PublishedFormatError(f"{rf.path}:{lineno}: unknown grade {grade!r}; "
                                       f"expected one of {list(GRADE_WORDS)}")
        try:
            number = float(value)
        except ValueError:
            raise PublishedFormatError(f"{rf.path}:{lineno}: confidence {value!r} is not a number") from None
        if not np.isfinite(number):
            raise PublishedFormatError(f"{rf.path}:{lineno}: confidence {value!r} is not finite")


def _read_files(files: list[ResultFile]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse all files at once; return grade codes (index into GRADE_WORDS), values, row offsets."""
    bodies = [_check_file(rf, rf.path.read_text(encoding="ascii")) for rf in files]
    sizes = np.array([rf.end - rf.start for rf in files], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    def locate_error():
        for rf, body in zip(files, bodies):
            _diagnose(rf, body)

    try:
        parsed = pd.read_csv(io.StringIO("".join(bodies)), sep=" ", header=None, names=["grade", "value"],
                             dtype={"grade": "string", "value": np.float64}, skip_blank_lines=False,
                             na_filter=False, engine="c")
    except (ValueError, pd.errors.ParserError):
        locate_error()
        raise
    codes = pd.Index(list(GRADE_WORDS)).get_indexer(parsed["grade"])
    values = parsed["value"].to_numpy()
    if len(parsed) != offsets[-1] or (codes < 0).any() or not np.isfinite(values).all():
        locate_error()
        raise PublishedFormatError("published results: malformed data line")  # not reached
    return codes.astype(np.int8), values, offsets


def parse_published(root: Path, shots: int | None = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse every result file under ``root`` into (answers, grade disagreements).

    ``answers`` is the tidy table: one row per answer from the ``norm`` files (MSP), with the Max
    Logit of the ``raw`` twin joined on (model, dataset, phrasing, shots, qid); NaN for API models,
    which expose no logits and have no ``raw`` files. Every other ``norm`` file must have its ``raw``
    twin, and every ``raw`` file its ``norm`` twin. Where the twins' grades differ, the ``norm`` grade is kept and the
    line is listed in ``disagreements``. Unparseable answers count as wrong (METHODS §5).
    """
    files = list_result_files(root, shots)
    codes, values, offsets = _read_files(files)
    norm = {rf.run: i for i, rf in enumerate(files) if rf.kind == "norm"}
    raw = {rf.run: i for i, rf in enumerate(files) if rf.kind == "raw"}
    for run, i in raw.items():
        if run not in norm:
            raise PublishedFormatError(f"{files[i].path}: raw file without its norm twin")
    for run, i in norm.items():
        if run not in raw and run[0] not in API_MODELS:
            raise PublishedFormatError(f"{files[i].path}: norm file without its raw twin "
                                       f"(only API models, {sorted(API_MODELS)}, have no logits)")

    def rows(i: int) -> np.ndarray:
        return np.arange(offsets[i], offsets[i + 1])

    order = sorted(norm.values())
    norm_rows = np.concatenate([rows(i) for i in order])
    sizes = np.array([files[i].end - files[i].start for i in order])
    columns = {
        attr: np.repeat([getattr(files[i], attr) for i in order], sizes)
        for attr in ("model", "dataset", "phrasing", "shots")
    }
    qid = np.concatenate([np.arange(files[i].start, files[i].end) for i in order])
    max_logit = np.full(len(norm_rows), np.nan)
    twins = [(k, raw[files[i].run]) for k, i in enumerate(order) if files[i].run in raw]
    disagreements = []
    if twins:
        starts = np.concatenate([[0], np.cumsum(sizes)])
        at = np.concatenate([np.arange(starts[k], starts[k + 1]) for k, _ in twins])
        raw_rows = np.concatenate([rows(j) for _, j in twins])
        max_logit[at] = values[raw_rows]
        differ = np.flatnonzero(codes[norm_rows[at]] != codes[raw_rows])
        file_of = np.repeat([k for k, _ in twins], [len(rows(j)) for _, j in twins])
        words = list(GRADE_WORDS.values())
        for d in differ:
            k = file_of[d]
            nf, rf = files[order[k]], files[raw[files[order[k]].run]]
            row = at[d]
            disagreements.append({
                "model": nf.model, "dataset": nf.dataset, "phrasing": nf.phrasing, "shots": nf.shots,
                "qid": int(qid[row]), "line": int(qid[row] - nf.start + 2),
                "norm_file": nf.path.name, "raw_file": rf.path.name,
                "norm_grade": words[codes[norm_rows[row]]], "raw_grade": words[codes[raw_rows[d]]],
            })
    grade = pd.Categorical.from_codes(codes[norm_rows], categories=list(GRADE_WORDS.values()))
    answers = pd.DataFrame({
        "source": "published", **columns, "qid": qid, "grade": grade,
        "correct": grade == "correct", "msp": values[norm_rows], "max_logit": max_logit,
    })
    report = pd.DataFrame(disagreements, columns=["model", "dataset", "phrasing", "shots", "qid", "line",
                                                  "norm_file", "raw_file", "norm_grade", "raw_grade"])
    return table.conform(answers), report


def _blob_sha1(data: bytes) -> str:
    """Git's object id of a file's content (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def content_digest(root: Path, folders=tuple(FOLDERS), pattern: str = "*") -> str:
    """sha256 of the sorted lines ``folder/name <git blob sha1>`` of every file in ``folders`` whose
    name matches ``pattern`` (``fnmatch``; default every file)."""
    lines = []
    for folder in folders:
        directory = Path(root) / folder
        if directory.is_dir():
            lines += [f"{folder}/{p.name} {_blob_sha1(p.read_bytes())}\n"
                      for p in directory.iterdir() if p.is_file() and fnmatch.fnmatchcase(p.name, pattern)]
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def download_published(dest: Path | None = None, url: str = ARCHIVE_URL,
                       digest: str | None = RESULTS_DIGEST, figs_digest: str | None = FIGS_DIGEST) -> Path:
    """Download the authors' repository archive at the pinned commit, keep only the two result
    folders and the printed tables ``figs/*.tex`` in ``dest`` (default ``data/published``), and
    check the content digests of both (``digest``: the result folders; ``figs_digest``: the tables).

    The archive is fetched and extracted in a temporary folder that is moved into place only
    once complete and verified, so an interrupted download leaves nothing half-written.
    """
    dest = Path(dest) if dest is not None else data_dir() / "published"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".published-") as tmp:
        archive = Path(tmp) / "archive.tar.gz"
        with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out)
        staging = Path(tmp) / "published"
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                table = (len(parts) == 3 and parts[1] == FIGS and fnmatch.fnmatchcase(parts[2], FIGS_PATTERN))
                if len(parts) >= 3 and (parts[1] in FOLDERS or table) and member.isfile():
                    member.name = str(Path(*parts[1:]))
                    tar.extract(member, staging, filter="data")
        for folder in (*FOLDERS, FIGS):
            if not (staging / folder).is_dir():
                raise PublishedFormatError(f"{url}: archive has no {folder}/ folder"
                                           + (f" with {FIGS_PATTERN} files" if folder == FIGS else ""))
        found = content_digest(staging)
        if digest is not None and found != digest:
            raise PublishedFormatError(f"{url}: content digest {found} does not match the pinned {digest}")
        found = content_digest(staging, (FIGS,), FIGS_PATTERN)
        if figs_digest is not None and found != figs_digest:
            raise PublishedFormatError(f"{url}: content digest of {FIGS}/{FIGS_PATTERN} {found} does not "
                                       f"match the pinned {figs_digest}")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    return dest


def published_dir(source: str | Path | None = None) -> Path:
    """Folder of the published results: ``source`` if given, else env ``MSP_PUBLISHED_DIR``, else
    ``data/published`` (downloaded from the authors' repository when absent or without ``figs/``).
    The printed tables are in its ``figs/`` folder."""
    if source is None:
        source = os.environ.get("MSP_PUBLISHED_DIR") or None
    if source is not None:
        source = Path(source)
        if not (source / "main_results").is_dir():
            raise FileNotFoundError(f"{source}: no main_results/ folder of published results here")
        return source
    local = data_dir() / "published"
    if not all((local / folder).is_dir() for folder in (*FOLDERS, FIGS)):
        download_published(local)
    return local


def _cached(source, shots, cache_dir) -> tuple[Path, Path]:
    root = published_dir(source)
    cache_dir = Path(cache_dir) if cache_dir is not None else data_dir() / "cache"
    folders = tuple(f for f, s in FOLDERS.items() if shots is None or s == shots)
    key = hashlib.sha256(f"{PARSER_VERSION} {shots} {content_digest(root, folders)}".encode()).hexdigest()[:16]
    answers_path = cache_dir / f"published-{key}.parquet"
    report_path = cache_dir / f"published-{key}-disagreements.parquet"
    if not (answers_path.exists() and report_path.exists()):
        answers, report = parse_published(root, shots)
        cache_dir.mkdir(parents=True, exist_ok=True)
        for frame, path in ((answers, answers_path), (report, report_path)):
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)
    return answers_path, report_path


def load_published(source: str | Path | None = None, shots: int | None = 0,
                   cache_dir: str | Path | None = None) -> pd.DataFrame:
    """The authors' answers as the tidy table (``shots`` 0: zero-shot, 1: one-shot, None: both).

    Parsed once and cached as parquet in ``cache_dir`` (default ``data/cache``) under a key made of
    the files' content digest, so a changed file is re-parsed and an unchanged one is not.
    """
    answers_path, _ = _cached(source, shots, cache_dir)
    return table.conform(pd.read_parquet(answers_path))


def grade_disagreements(source: str | Path | None = None, shots: int | None = 0,
                        cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Lines where a ``norm`` file and its ``raw`` twin grade the same answer differently.

    The tidy table keeps the ``norm`` grade; this report lists each case with file names and line.
    """
    _, report_path = _cached(source, shots, cache_dir)
    return pd.read_parquet(report_path)


def main() -> None:
    """Obtain the published results (download if needed), parse them into the cache, summarise."""
    root = published_dir()
    for shots in FOLDERS.values():
        answers = load_published(root, shots=shots)
        counts = answers.grade.value_counts()
        print(f"{root} shots={shots}: {len(answers):,} answers of {answers.model.nunique()} models "
              f"({', '.join(f'{counts[g]:,} {g}' for g in counts.index)})")
    report = grade_disagreements(root)
    if len(report):
        print(f"{len(report)} answers whose norm and raw files disagree on the grade (norm grade kept):")
        print(report.to_string(index=False))


if __name__ == "__main__":
    main()
