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
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data import schema
from helpers.data.locations import data_dir
from helpers.data.vocabulary import API_MODELS, DATASET_REGISTRY, DATASETS, PAPER_MODELS

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
PARSER_VERSION = "2"

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
    if m["dataset"] not in DATASETS:
        raise PublishedFormatError(f"{path}: unknown dataset {m['dataset']!r}; "
                                   f"expected one of {list(DATASETS)}")
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
        if rf.kind == "norm" and not 0 <= number <= 1:
            raise PublishedFormatError(f"{rf.path}:{lineno}: MSP {value!r} is outside [0, 1]")


def _text(rf: ResultFile) -> str:
    """The file's text; ``PublishedFormatError`` naming the file and the line of a non-ASCII byte."""
    data = rf.path.read_bytes()
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise PublishedFormatError(f"{rf.path}:{line}: byte {data[exc.start]:#04x} is not ASCII text") from None


def check_coverage(files: list[ResultFile]) -> None:
    """Every run's question ranges must be present once: no two files of a run (model, dataset,
    phrasing, signal, shots) overlap, and zero-shot runs cover every question of their dataset
    (METHODS §2) without gaps, in both phrasings and every signal, for each of the paper's models
    (one-shot runs are partial in the pinned data: no Llama 3, part of Falcon, a gap in GPT-4
    HellaSwag). Raises ``PublishedFormatError`` listing what is missing or doubled."""
    runs: dict[tuple, list[ResultFile]] = {}
    for rf in files:
        runs.setdefault((rf.model, rf.dataset, rf.phrasing, rf.kind, rf.shots), []).append(rf)
    problems = []
    for (model, dataset, phrasing, kind, shots), group in sorted(runs.items()):
        group = sorted(group, key=lambda rf: rf.start)
        end = 0
        for rf in group:
            if rf.start < end:
                problems.append(f"doubled: {rf.path.name} overlaps questions {rf.start}-{end} of another file")
            elif rf.start > end and shots == 0:
                problems.append(f"missing: {model} {dataset} {phrasing} {kind} questions {end}-{rf.start}")
            end = max(end, rf.end)
        size = DATASET_REGISTRY[dataset].n_questions
        if shots == 0 and end < size:
            problems.append(f"missing: {model} {dataset} {phrasing} {kind} questions {end}-{size}")
    if any(rf.shots == 0 for rf in files):
        present = {rf.model for rf in files if rf.shots == 0}
        for model in PAPER_MODELS:
            if model not in present:
                problems.append(f"missing: every zero-shot file of model {model}")
        for model in sorted(present):
            for dataset in DATASETS:
                for phrasing in ("first", "second"):
                    for kind in ("norm",) + (() if model in API_MODELS else ("raw",)):
                        if (model, dataset, phrasing, kind, 0) not in runs:
                            problems.append(f"missing: {model} {dataset} {phrasing} {kind} (no file)")
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise PublishedFormatError("published results do not cover the questions once each:\n  "
                                   + "\n  ".join(shown))


def _read_files(files: list[ResultFile]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse all files at once; return grade codes (index into GRADE_WORDS), values, row offsets."""
    bodies = [_check_file(rf, _text(rf)) for rf in files]
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
    is_msp = np.repeat([rf.kind == "norm" for rf in files], sizes)
    outside = is_msp & ((values < 0) | (values > 1))
    if len(parsed) != offsets[-1] or (codes < 0).any() or not np.isfinite(values).all() or outside.any():
        locate_error()
        raise PublishedFormatError("published results: malformed data line")  # not reached
    return codes.astype(np.int8), values, offsets


def parse_published(root: Path, shots: int | None = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse every result file under ``root`` into (answers, grade disagreements).

    ``answers`` is the tidy table: one row per answer from the ``norm`` files (MSP), with the Max
    Logit of the ``raw`` twin joined on (model, dataset, phrasing, shots, qid); NaN for API models,
    which expose no logits and have no ``raw`` files. Every other ``norm`` file must have its ``raw``
    twin, and every ``raw`` file its ``norm`` twin. Each signal keeps its own file's grade (``grade``
    from the ``norm`` file for the MSP, ``grade_max_logit`` from the ``raw`` file for the Max Logit,
    as the authors' code graded them); where they differ the line is listed in ``disagreements``.
    Unparseable answers count as wrong (METHODS §5).
    """
    files = list_result_files(root, shots)
    check_coverage(files)
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
    raw_codes = codes[norm_rows].copy()  # the Max Logit grade: the raw twin's, where there is one
    if twins:
        raw_codes[at] = codes[raw_rows]
    grade_raw = pd.Categorical.from_codes(raw_codes, categories=list(GRADE_WORDS.values()))
    answers = pd.DataFrame({
        "source": "published", **columns, "qid": qid, "grade": grade,
        "correct": grade == "correct", "msp": values[norm_rows], "max_logit": max_logit,
        "grade_max_logit": grade_raw, "correct_max_logit": grade_raw == "correct",
    })
    report = pd.DataFrame(disagreements, columns=["model", "dataset", "phrasing", "shots", "qid", "line",
                                                  "norm_file", "raw_file", "norm_grade", "raw_grade"])
    return schema.conform(answers), report


def _blob_sha1(data: bytes) -> str:
    """Git's object id of a file's content (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_listing(root: Path, folders=tuple(FOLDERS), pattern: str = "*") -> dict[str, str]:
    """``folder/name`` -> git blob sha1 of every file in ``folders`` under ``root`` whose name matches
    ``pattern`` (``fnmatch``; default every file)."""
    listing = {}
    for folder in folders:
        directory = Path(root) / folder
        if directory.is_dir():
            listing |= {f"{folder}/{p.name}": _blob_sha1(p.read_bytes()) for p in directory.iterdir()
                        if p.is_file() and fnmatch.fnmatchcase(p.name, pattern)}
    return listing


def content_digest(root: Path, folders=tuple(FOLDERS), pattern: str = "*") -> str:
    """sha256 of the sorted lines ``folder/name <git blob sha1>`` of every file in ``folders`` whose
    name matches ``pattern`` (:func:`file_listing`)."""
    lines = sorted(f"{name} {sha}\n" for name, sha in file_listing(root, folders, pattern).items())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


#: ``folder/name git-blob-sha1`` of every result file at RESULTS_COMMIT (its digest is RESULTS_DIGEST)
PINNED_LISTING = Path(__file__).with_name("published_files.txt")


class PublishedCopyWarning(UserWarning):
    """A local copy of the results differs from the pinned commit's files."""


def copy_differences(root: Path) -> list[str]:
    """How a local copy of the results differs from the pinned files (:data:`PINNED_LISTING`), one
    line per file: 'changed: …', 'missing: …' or 'extra: …', sorted by file name; empty when equal
    (checked first by the content digest, :data:`RESULTS_DIGEST`)."""
    if content_digest(root) == RESULTS_DIGEST:
        return []
    pinned = dict(line.split(" ") for line in PINNED_LISTING.read_text().splitlines())
    local = file_listing(root)
    lines = [f"changed: {n}" for n in pinned if n in local and local[n] != pinned[n]]
    lines += [f"missing: {n}" for n in pinned if n not in local]
    lines += [f"extra: {n}" for n in local if n not in pinned]
    return sorted(lines, key=lambda line: line.split(": ", 1)[1])


def check_copy(root: Path, first: int = 5) -> list[str]:
    """:func:`copy_differences`, with a :class:`PublishedCopyWarning` naming the first ``first`` of
    them when there are any. The command lines call it; the data chapter says so in its prose."""
    differences = copy_differences(root)
    if not differences:
        return []
    more = f" and {len(differences) - first} more" if len(differences) > first else ""
    warnings.warn(f"{root}: the results differ from the pinned commit {RESULTS_COMMIT[:12]} in "
                  f"{len(differences)} files ({'; '.join(differences[:first])}{more}); every number built on "
                  "them may differ from the paper's", PublishedCopyWarning, stacklevel=2)
    return differences


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
    ``data/published`` (downloaded from the authors' repository when absent or without ``figs/``;
    env ``MSP_RESULTS_URL`` replaces the archive's address, e.g. for a mirror).
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
        mirror = os.environ.get("MSP_RESULTS_URL")
        download_published(local, **({"url": mirror} if mirror else {}))
    return local


def _readable(path: Path) -> bool:
    """True if ``path`` is a parquet file that can be read (a truncated cache file is rebuilt)."""
    if not path.is_file():
        return False
    try:
        import pyarrow.parquet as pq

        pq.ParquetFile(path).metadata
    except Exception:  # noqa: BLE001 - any unreadable file is simply parsed again
        return False
    return True


def _cached(source, shots, cache_dir) -> tuple[Path, Path]:
    root = published_dir(source)
    cache_dir = Path(cache_dir) if cache_dir is not None else data_dir() / "cache"
    folders = tuple(f for f, s in FOLDERS.items() if shots is None or s == shots)
    key = hashlib.sha256(f"{PARSER_VERSION} {shots} {content_digest(root, folders)}".encode()).hexdigest()[:16]
    answers_path = cache_dir / f"published-{key}.parquet"
    report_path = cache_dir / f"published-{key}-disagreements.parquet"
    if not (_readable(answers_path) and _readable(report_path)):
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
    return schema.conform(pd.read_parquet(answers_path))


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
    check_copy(root)
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
