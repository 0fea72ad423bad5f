"""The five multiple-choice datasets in the paper's question order and option order (METHODS §2).

Two sources give the same rows, in the Hugging Face (HF) schema, to one normalisation per dataset:

- **online** (``source=None`` and no ``MSP_DATASETS_DIR``, or ``source=ONLINE``): ``datasets.load_dataset``
  with the paper's ids, configs and splits, concatenated in the paper's order;
- **local** (a folder, by default ``$MSP_DATASETS_DIR``): the original data files, read into the HF schema
  (``arc_challenge/``, ``truthfulqa/``, ``mmlu/test/``, ``winogrande/``, ``hellaswag/``).
  HellaSwag there is the *validation* split in a derived text format, not the paper's train split:
  a :class:`DatasetSubstitutionWarning` says so whenever it is read.

Then, as the paper's ``take_qa_test.py`` does: ``random.seed(2549900867)``, one ``random.shuffle`` of the
whole concatenated list (the question order; only the first 6000 are used for HellaSwag, MMLU and
WinoGrande), and one ``random.shuffle`` of the options of every question processed. The paper ran
500-question ranges in separate processes, each re-seeding, so the options of question *i* depend on
where its range starts; :func:`load_questions` replays exactly that for any ``start``/``limit``.
Gold follows the option text through the shuffle (``options.index(gold text)``, as the paper: with
duplicate option texts the first copy is gold).

Question ids are ``{dataset}/{split}/{key}`` with the HF split name; the key is ARC's own ``id`` and,
for the other datasets (whose HF rows carry no id), the row index within the split, so both sources
give the same ids (HellaSwag aside: ``validation`` locally, ``train`` online).
"""

from __future__ import annotations

import bz2
import csv
import json
import os
import random
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from string import ascii_uppercase

from helpers.data.method import BLOCK, SEED
from helpers.data.vocabulary import DATASET_REGISTRY, DATASETS

#: ``source`` value that forces the online Hugging Face path even when ``MSP_DATASETS_DIR`` is set
ONLINE = "huggingface"
#: environment variable naming the local folder used when ``source`` is None
ENV_DIR = "MSP_DATASETS_DIR"


@dataclass(frozen=True)
class Question:
    """One question as shown to the model (options already in the paper's shuffled order)."""

    dataset: str
    question_id: str        # f"{dataset}/{split}/{original id or row index}"
    position: int           # index in the paper's shuffled question order (the published qid)
    question: str
    options: tuple[str, ...]
    gold: int               # index of the correct option in ``options``


class DatasetSubstitutionWarning(UserWarning):
    """The local copy of a dataset is not the split the paper used (HellaSwag)."""


# ----------------------------------------------------------------------------- gold and fields

def answer_index(answer: object, offset: int = 0) -> int:
    """The paper's ``Test.make_index``: a capital letter -> its 0-based index, a digit -> ``int - offset``."""
    text = str(answer)
    if len(text) == 1 and text in ascii_uppercase:
        return ascii_uppercase.index(text)
    if len(text) == 1 and text.isdigit():
        return int(text) - offset
    raise ValueError(f"unknown answer format {text!r} (expected a capital letter or a digit)")


@dataclass(frozen=True)
class _Item:
    """A question before the option shuffle: options in dataset order, gold index into them."""

    question_id: str
    question: str
    options: tuple[str, ...]
    gold: int


# Per dataset: HF row -> (question, options, gold, original id or None). METHODS §2 fields and gold rules.
def _arc(row: dict) -> tuple:
    return row["question"], row["choices"]["text"], answer_index(row["answerKey"], 1), row["id"]


def _hellaswag(row: dict) -> tuple:
    return row["ctx"], row["endings"], answer_index(row["label"]), None


def _mmlu(row: dict) -> tuple:
    return row["question"], row["choices"], int(row["answer"]), None


def _truthfulqa(row: dict) -> tuple:
    targets = row["mc1_targets"]
    return row["question"], targets["choices"], list(targets["labels"]).index(1), None


def _winogrande(row: dict) -> tuple:
    return row["sentence"], [row["option1"], row["option2"]], answer_index(row["answer"], 1), None


_FIELDS: dict[str, Callable[[dict], tuple]] = {
    "arc": _arc, "hellaswag": _hellaswag, "mmlu": _mmlu, "truthfulqa": _truthfulqa,
    "winogrande": _winogrande,
}


def _normalise(dataset: str, split: str, index: int, where: str, row: dict) -> _Item:
    """One HF-schema row as an ``_Item``; errors name ``where`` (file and line, or HF split and row)."""
    try:
        question, options, gold, key = _FIELDS[dataset](row)
        options = tuple(str(o) for o in options)
        if not 0 <= gold < len(options):
            raise ValueError(f"gold index {gold} outside the {len(options)} options")
        if len(options) > len(ascii_uppercase):
            raise ValueError(f"{len(options)} options, more than there are letters")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad {dataset} row ({type(exc).__name__}: {exc})") from exc
    return _Item(f"{dataset}/{split}/{index if key is None else key}", str(question), options, gold)


# A source yields (split, where, HF-schema row) in the paper's concatenation order.
Rows = Iterable[tuple[str, str, dict]]


# ----------------------------------------------------------------------------- online (Hugging Face)

def _hub_rows(dataset: str) -> Rows:
    """The paper's ``load_dataset`` calls, splits concatenated in its order (needs network access).

    The ids are the paper's; the Hub redirects these legacy names to their current repositories.
    """
    import datasets  # heavy import, only for the online path

    spec = DATASET_REGISTRY[dataset]
    for split in spec.splits:
        args = (spec.hf_id,) if spec.config is None else (spec.hf_id, spec.config)
        for i, row in enumerate(datasets.load_dataset(*args, split=split)):
            yield split, f"{spec.hf_id} {split} row {i}", row


# ----------------------------------------------------------------------------- local files

def _file(folder: Path, relative: str) -> Path:
    path = folder / relative
    if not path.is_file():
        raise FileNotFoundError(f"missing dataset file {path}")
    return path


def _jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    """(``"path, line n"``, parsed object) for every non-blank line of a JSON Lines file."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}, line {n}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: malformed JSON ({exc})") from exc


def _converted(where: str, convert: Callable[[dict], dict], obj: object) -> dict:
    try:
        return convert(obj)
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ValueError(f"{where}: unexpected record layout ({type(exc).__name__}: {exc})") from exc


def _arc_row(obj: dict) -> dict:
    """AI2 ARC record -> HF ``ai2_arc`` row (``question.stem`` -> ``question``, choices flattened)."""
    choices = obj["question"]["choices"]
    return {"id": obj["id"], "question": obj["question"]["stem"],
            "choices": {"text": [c["text"] for c in choices], "label": [c["label"] for c in choices]},
            "answerKey": obj["answerKey"]}


def _local_arc(folder: Path) -> Rows:
    for split, name in (("train", "Train"), ("test", "Test"), ("validation", "Dev")):
        for where, obj in _jsonl(_file(folder, f"arc_challenge/ARC-Challenge-{name}.jsonl")):
            yield split, where, _converted(where, _arc_row, obj)


def _local_winogrande(folder: Path) -> Rows:
    for split, name in (("train", "train_debiased"), ("validation", "dev")):
        for where, obj in _jsonl(_file(folder, f"winogrande/{name}.jsonl")):
            yield split, where, obj


def _truthfulqa_row(obj: dict) -> dict:
    """TruthfulQA ``mc_task.json`` record -> HF ``truthful_qa/multiple_choice`` row (order kept)."""
    targets = obj["mc1_targets"]
    return {"question": obj["question"],
            "mc1_targets": {"choices": list(targets), "labels": list(targets.values())}}


def _local_truthfulqa(folder: Path) -> Rows:
    path = _file(folder, "truthfulqa/mc_task.json")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}, line {exc.lineno}: malformed JSON ({exc.msg})") from exc
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON array of questions")
    for i, obj in enumerate(records):
        where = f"{path}, item {i}"
        yield "validation", where, _converted(where, _truthfulqa_row, obj)


def _local_mmlu(folder: Path) -> Rows:
    """The 57 headerless subject CSVs concatenated in alphabetical order (the order of HF ``all``)."""
    paths = sorted((folder / "mmlu" / "test").glob("*_test.csv"))
    if not paths:
        raise FileNotFoundError(f"no *_test.csv files in {folder / 'mmlu' / 'test'}")
    for path in paths:
        subject = path.name.removesuffix("_test.csv")
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            for record in reader:
                where = f"{path}, line {reader.line_num}"
                if len(record) != 6:
                    raise ValueError(f"{where}: expected 6 fields (question, 4 choices, answer), "
                                     f"got {len(record)}")
                try:
                    answer = "ABCD".index(record[5])
                except ValueError:
                    raise ValueError(f"{where}: answer {record[5]!r} is not one of A, B, C, D") from None
                yield "test", where, {"question": record[0], "subject": subject,
                                      "choices": record[1:5], "answer": answer}


def _local_hellaswag(folder: Path) -> Rows:
    """``hellaswag_val_full.txt.bz2``: 6 lines per question (``activity_label: ctx``, label, 4 endings).

    This is HellaSwag's **validation** split with WikiHow markers stripped, not the paper's train split.
    The activity label is split off at the first ``": "``; the rest is HF's ``ctx``.
    """
    path = _file(folder, "hellaswag/hellaswag_val_full.txt.bz2")
    warnings.warn(f"{path} holds HellaSwag's validation split in a derived text format; the paper used "
                  "the train split (Rowan/hellaswag), so these are not the paper's questions",
                  DatasetSubstitutionWarning)
    with bz2.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 6:
        raise ValueError(f"{path}, line {len(lines)}: file ends inside a question "
                         f"({len(lines)} lines, not a multiple of 6)")
    for q in range(len(lines) // 6):
        first, label, *endings = lines[6 * q: 6 * q + 6]
        where = f"{path}, line {6 * q + 1}"
        activity, sep, ctx = first.partition(": ")
        if not sep:
            raise ValueError(f"{where}: expected 'activity label: context'")
        yield "validation", where, {"activity_label": activity, "ctx": ctx, "endings": endings,
                                    "label": label}


_LOCAL: dict[str, Callable[[Path], Rows]] = {
    "arc": _local_arc, "hellaswag": _local_hellaswag, "mmlu": _local_mmlu,
    "truthfulqa": _local_truthfulqa, "winogrande": _local_winogrande,
}


# ----------------------------------------------------------------------------- order and options

def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")


def _resolve(source: str | Path | None) -> str:
    """``ONLINE`` or the absolute local folder chosen by ``source`` / ``$MSP_DATASETS_DIR``."""
    if source is None:
        source = os.environ.get(ENV_DIR) or ONLINE
    if source == ONLINE:
        return ONLINE
    folder = Path(source).expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder {folder} does not exist")
    return str(folder)


@lru_cache(maxsize=8)
def _ordered(dataset: str, source: str) -> tuple[tuple[_Item, ...], tuple]:
    """All items in the paper's shuffled order, and the RNG state right after that shuffle."""
    rows = _hub_rows(dataset) if source == ONLINE else _LOCAL[dataset](Path(source))
    counts: dict[str, int] = {}
    items = []
    for split, where, row in rows:
        index = counts[split] = counts.get(split, -1) + 1
        items.append(_normalise(dataset, split, index, where, row))
    rng = random.Random(SEED)
    rng.shuffle(items)
    return tuple(items), rng.getstate()


def shuffle_options(options: Iterable[str], gold: int, rng: random.Random) -> tuple[tuple[str, ...], int]:
    """The paper's ``make_question``: one ``rng.shuffle`` of the options; gold = first index of its text."""
    shuffled = list(options)
    gold_text = shuffled[gold]
    rng.shuffle(shuffled)
    return tuple(shuffled), shuffled.index(gold_text)


def dataset_size(dataset: str, *, source: str | Path | None = None) -> int:
    """Number of rows in the concatenated splits of ``dataset``, before keeping the first 6000."""
    _check_dataset(dataset)
    return len(_ordered(dataset, _resolve(source))[0])


def n_questions(dataset: str, *, source: str | Path | None = None) -> int:
    """How many questions of ``dataset`` the paper's runs cover (the first 6000, or all)."""
    size, used = dataset_size(dataset, source=source), DATASET_REGISTRY[dataset].used
    return size if used is None else min(used, size)


def load_questions(dataset: str, *, source: str | Path | None = None, start: int = 0,
                   limit: int | None = None, block: int = BLOCK) -> list[Question]:
    """Questions ``start .. start+limit`` (clipped to the questions used) in the paper's order (METHODS §2).

    Options are shuffled as in the paper's per-process loop: for every ``block``-question range
    ``[b, b+block)`` the RNG is seeded with 2549900867, the whole list shuffled, then the options of
    questions ``b, b+1, ...`` shuffled in turn; so a question's options do not depend on ``start``.
    ``source``: None (``$MSP_DATASETS_DIR`` if set, else online), ``ONLINE``, or a local folder; the
    rows of a (dataset, source) pair are read once per process and cached.
    """
    _check_dataset(dataset)
    if start < 0 or (limit is not None and limit < 0) or block < 1:
        raise ValueError(f"need start >= 0, limit >= 0 and block >= 1 (got start={start}, "
                         f"limit={limit}, block={block})")
    items, state = _ordered(dataset, _resolve(source))
    end = n_questions(dataset, source=source)
    if limit is not None:
        end = min(end, start + limit)
    questions = []
    rng = random.Random()
    for block_start in range(start - start % block, end, block):
        rng.setstate(state)
        for position in range(block_start, min(block_start + block, end)):
            item = items[position]
            options, gold = shuffle_options(item.options, item.gold, rng)
            if position >= start:
                questions.append(Question(dataset, item.question_id, position, item.question,
                                          options, gold))
    return questions


def example_for(question: Question, pool: list[Question]) -> Question:
    """The one-shot example for ``question`` (METHODS §3): ``random.sample`` of one other question of
    ``pool``, its options shuffled once more, as the paper's ``make_prompt``/``make_question`` do.

    Deterministic per question (RNG seeded with the paper's seed and the question id). The paper drew
    from the whole dataset (also beyond the 6000 used) with the same global RNG stream as the option
    shuffles, so its exact examples, and its in-place re-shuffle bug (METHODS §8.8), are not reproduced;
    and the main questions keep their zero-shot option order.
    """
    others = [q for q in pool if q.question_id != question.question_id]
    if not others:
        raise ValueError(f"no other question in the pool to use as an example for {question.question_id}")
    rng = random.Random(f"{SEED}/{question.question_id}")
    (example,) = rng.sample(others, 1)
    options, gold = shuffle_options(example.options, example.gold, rng)
    return replace(example, options=options, gold=gold)
