"""Datasets (METHODS §2): local files and the online path give the same questions in the paper's order.

Three kinds of test: tiny hand-written copies of every format (layout, gold rules, errors, the online
path through a fake ``datasets.load_dataset``), a literal replay of the paper's loop, and the real copies.
"""

import bz2
import copy
import csv
import json
import random
import warnings
from pathlib import Path

import datasets as hf_datasets
import pytest

from helpers.data import datasets as ds
from helpers.data.datasets import (
    ONLINE, DatasetSubstitutionWarning, Question, answer_index, dataset_size, example_for,
    load_questions, n_questions, shuffle_options,
)

IGNORE_HELLASWAG_WARNING = pytest.mark.filterwarnings(
    "ignore::helpers.data.datasets.DatasetSubstitutionWarning")

# ----------------------------------------------------------------------------- tiny copies, both layouts

ARC_FILES = {  # local file name -> (HF split, records)
    "Train": ("train", [
        {"id": "t1", "question": {"stem": "Warmest?", "choices": [
            {"text": "ice", "label": "A"}, {"text": "fire", "label": "B"}, {"text": "snow", "label": "C"}]},
         "answerKey": "B"},
        {"id": "t2", "question": {"stem": "Count?", "choices": [
            {"text": "one", "label": "1"}, {"text": "two", "label": "2"}, {"text": "three", "label": "3"},
            {"text": "four", "label": "4"}]}, "answerKey": "3"}]),
    "Test": ("test", [
        {"id": "s1", "question": {"stem": "Sky?", "choices": [
            {"text": "blue", "label": "A"}, {"text": "green", "label": "B"}]}, "answerKey": "A"}]),
    "Dev": ("validation", [
        {"id": "d1", "question": {"stem": "Wet?", "choices": [
            {"text": "sand", "label": "A"}, {"text": "rock", "label": "B"}, {"text": "rain", "label": "C"},
            {"text": "dust", "label": "D"}, {"text": "salt", "label": "E"}]}, "answerKey": "C"}]),
}
TQA = [{"question": "Is the earth flat?", "mc1_targets": {"No.": 1, "Yes.": 0, "Maybe.": 0},
        "mc2_targets": {"No.": 1, "Yes.": 0}},
       {"question": "Who wrote it?", "mc1_targets": {"Nobody knows.": 1, "Me.": 0}, "mc2_targets": {}}]
MMLU = {  # written out of alphabetical order on purpose
    "zoology": [["Legs of a spider?", "6", "8", "10", "4", "B"]],
    "algebra": [["1+1?", "2", "3", "4", "5", "A"], ["Line one\nline two?", "a", "b", "c", "d", "D"]],
}
WINO = {"train_debiased": ("train", [
            {"qID": "w1", "sentence": "The cup beat the jug because _ was big.", "option1": "cup",
             "option2": "jug", "answer": "1"},
            {"qID": "w2", "sentence": "Anna helped Bea since _ was kind.", "option1": "Anna",
             "option2": "Bea", "answer": "2"}]),
        "dev": ("validation", [
            {"qID": "w3", "sentence": "The ball hit the wall and _ broke.", "option1": "ball",
             "option2": "wall", "answer": "2"}])}
HELLASWAG = [("Baking cookies", "A woman mixes flour. she", "1",
              ["eats the bowl.", "adds sugar.", "sings loudly.", "leaves forever."]),
             ("Surfing", "A man paddles out: then he", "3",
              ["flies away.", "falls asleep.", "reads.", "stands on the board."])]


def write_local(folder: Path) -> Path:
    """The tiny data above in the local layout (the formats of the real copies)."""
    (folder / "arc_challenge").mkdir(parents=True)
    for name, (_, records) in ARC_FILES.items():
        (folder / f"arc_challenge/ARC-Challenge-{name}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in records))
    (folder / "truthfulqa").mkdir()
    (folder / "truthfulqa/mc_task.json").write_text(json.dumps(TQA, indent=2))
    (folder / "mmlu/test").mkdir(parents=True)
    for subject, rows in MMLU.items():
        with open(folder / f"mmlu/test/{subject}_test.csv", "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
    (folder / "winogrande").mkdir()
    for name, (_, records) in WINO.items():
        (folder / f"winogrande/{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "hellaswag").mkdir()
    text = "".join(f"{act}: {ctx}\n{label}\n" + "".join(e + "\n" for e in ends)
                   for act, ctx, label, ends in HELLASWAG)
    (folder / "hellaswag/hellaswag_val_full.txt.bz2").write_bytes(bz2.compress(text.encode()))
    return folder


def hub_rows() -> dict[tuple, dict]:
    """The same tiny data in the Hugging Face schema: (id, config, split) -> columns."""
    def columns(rows):
        return {k: [r[k] for r in rows] for k in rows[0]}

    arc = {split: [{"id": r["id"], "question": r["question"]["stem"],
                    "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                                "label": [c["label"] for c in r["question"]["choices"]]},
                    "answerKey": r["answerKey"]} for r in records]
           for split, records in ARC_FILES.values()}
    tqa = [{"question": r["question"],
            "mc1_targets": {"choices": list(r["mc1_targets"]), "labels": list(r["mc1_targets"].values())}}
           for r in TQA]
    mmlu = [{"question": row[0], "subject": subject, "choices": row[1:5], "answer": "ABCD".index(row[5])}
            for subject in sorted(MMLU) for row in MMLU[subject]]
    wino = {split: [{k: r[k] for k in ("sentence", "option1", "option2", "answer")} for r in records]
            for split, records in WINO.values()}
    hella = [{"ind": i, "activity_label": act, "ctx": ctx, "endings": ends, "label": label}
             for i, (act, ctx, label, ends) in enumerate(HELLASWAG)]
    table = {("ai2_arc", "ARC-Challenge", s): columns(rows) for s, rows in arc.items()}
    table |= {("winogrande", "winogrande_debiased", s): columns(rows) for s, rows in wino.items()}
    table[("truthful_qa", "multiple_choice", "validation")] = columns(tqa)
    table[("cais/mmlu", "all", "test")] = columns(mmlu)
    table[("Rowan/hellaswag", None, "train")] = columns(hella)
    return table


@pytest.fixture
def tiny_dir(tmp_path):
    return write_local(tmp_path / "data")


@pytest.fixture
def fake_hub(monkeypatch):
    """``datasets.load_dataset`` serving the tiny data from memory; records the calls."""
    table, calls = hub_rows(), []

    def load_dataset(path, name=None, *, split):
        calls.append((path, name, split))
        return hf_datasets.Dataset.from_dict(table[(path, name, split)])

    monkeypatch.setattr(hf_datasets, "load_dataset", load_dataset)
    ds._ordered.cache_clear()  # no online rows cached by an earlier test, none left for a later one
    yield calls
    ds._ordered.cache_clear()


def texts(questions):
    """question_id -> (question, gold option text), independent of the option shuffle."""
    return {q.question_id: (q.question, q.options[q.gold]) for q in questions}


def test_local_layout_fields_and_gold_rules(tiny_dir):
    assert texts(load_questions("arc", source=tiny_dir)) == {
        "arc/train/t1": ("Warmest?", "fire"), "arc/train/t2": ("Count?", "three"),  # digit key, offset 1
        "arc/test/s1": ("Sky?", "blue"), "arc/validation/d1": ("Wet?", "rain")}
    assert texts(load_questions("truthfulqa", source=tiny_dir)) == {
        "truthfulqa/validation/0": ("Is the earth flat?", "No."),
        "truthfulqa/validation/1": ("Who wrote it?", "Nobody knows.")}
    assert texts(load_questions("mmlu", source=tiny_dir)) == {  # subjects alphabetical: algebra first
        "mmlu/test/0": ("1+1?", "2"), "mmlu/test/1": ("Line one\nline two?", "d"),
        "mmlu/test/2": ("Legs of a spider?", "8")}
    assert texts(load_questions("winogrande", source=tiny_dir)) == {
        "winogrande/train/0": ("The cup beat the jug because _ was big.", "cup"),
        "winogrande/train/1": ("Anna helped Bea since _ was kind.", "Bea"),
        "winogrande/validation/0": ("The ball hit the wall and _ broke.", "wall")}
    with pytest.warns(DatasetSubstitutionWarning, match="validation split"):
        hella = load_questions("hellaswag", source=tiny_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_questions("hellaswag", source=tiny_dir) == hella  # warned once, when read
    assert texts(hella) == {  # the activity label is split off at the first ": "
        "hellaswag/validation/0": ("A woman mixes flour. she", "adds sugar."),
        "hellaswag/validation/1": ("A man paddles out: then he", "stands on the board.")}
    assert {len(q.options) for q in load_questions("arc", source=tiny_dir)} == {2, 3, 4, 5}


def test_online_path_uses_the_papers_ids_and_gives_the_local_questions(tiny_dir, fake_hub):
    for name in ("arc", "mmlu", "truthfulqa", "winogrande"):
        assert load_questions(name, source=ONLINE) == load_questions(name, source=tiny_dir)
    with pytest.warns(DatasetSubstitutionWarning):
        local = load_questions("hellaswag", source=tiny_dir)
    online = load_questions("hellaswag", source=ONLINE)  # train split online: only the ids differ
    assert [q.question_id for q in online] == [q.question_id.replace("validation", "train") for q in local]
    assert [(q.position, q.question, q.options, q.gold) for q in online] == \
        [(q.position, q.question, q.options, q.gold) for q in local]
    assert fake_hub == [
        ("ai2_arc", "ARC-Challenge", "train"), ("ai2_arc", "ARC-Challenge", "test"),
        ("ai2_arc", "ARC-Challenge", "validation"), ("cais/mmlu", "all", "test"),
        ("truthful_qa", "multiple_choice", "validation"),
        ("winogrande", "winogrande_debiased", "train"), ("winogrande", "winogrande_debiased", "validation"),
        ("Rowan/hellaswag", None, "train")]


def test_source_none_follows_the_environment(tiny_dir, fake_hub, monkeypatch):
    monkeypatch.delenv("MSP_DATASETS_DIR", raising=False)
    load_questions("truthfulqa")
    assert fake_hub == [("truthful_qa", "multiple_choice", "validation")]
    monkeypatch.setenv("MSP_DATASETS_DIR", str(tiny_dir))
    assert load_questions("truthfulqa") == load_questions("truthfulqa", source=tiny_dir)
    assert len(fake_hub) == 1


# ----------------------------------------------------------------------------- the paper's loop, literally

def paper_replay(rows: list[dict], get_q, get_a, get_choices, start: int, end: int) -> list[tuple]:
    """``take_qa_test.py`` for one process: seed, shuffle the list, ``make_question`` for start..end."""
    saved = random.getstate()
    try:
        random.seed(2549900867)
        questions = copy.deepcopy(rows)
        random.shuffle(questions)
        out = []
        for i in range(start, min(end, len(questions))):
            data = questions[i]
            choices = get_choices(data)
            correct_text = choices[get_a(data)]
            random.shuffle(choices)
            out.append((i, get_q(data), tuple(choices), choices.index(correct_text)))
        return out
    finally:
        random.setstate(saved)


def as_tuples(questions):
    return [(q.position, q.question, q.options, q.gold) for q in questions]


def test_block_replay_matches_the_paper_loop_on_tiny_data(tiny_dir):
    rows = [r for _, records in ARC_FILES.values() for r in records]
    get = (lambda x: x["question"]["stem"], lambda x: answer_index(x["answerKey"], 1),
           lambda x: [c["text"] for c in x["question"]["choices"]])
    # block=2: processes [0,2) and [2,4), each re-seeded
    expected = paper_replay(rows, *get, 0, 2) + paper_replay(rows, *get, 2, 4)
    assert as_tuples(load_questions("arc", source=tiny_dir, block=2)) == expected
    assert as_tuples(load_questions("arc", source=tiny_dir, start=3, block=2)) == expected[3:]
    assert as_tuples(load_questions("arc", source=tiny_dir)) == paper_replay(rows, *get, 0, 4)


def test_duplicate_option_texts_take_the_first_copy_as_gold():
    # the paper's choices.index(correct_text): gold moves to the first copy after the shuffle
    outcomes = {shuffle_options(["x", "y", "x"], 2, random.Random(s))[1] for s in range(40)}
    assert outcomes == {0, 1}
    for s in range(40):
        options, gold = shuffle_options(["x", "y", "x"], 2, random.Random(s))
        assert gold == options.index("x")


def test_answer_index():
    assert [answer_index(a) for a in ("A", "B", "E", "0", "3")] == [0, 1, 4, 0, 3]
    assert [answer_index(a, 1) for a in ("C", "1", "4", 2)] == [2, 0, 3, 1]
    for bad in ("a", "AB", "", "10", "?"):
        with pytest.raises(ValueError, match="unknown answer format"):
            answer_index(bad)


# ----------------------------------------------------------------------------- ranges and examples

def test_start_limit_and_clipping(tiny_dir):
    full = load_questions("arc", source=tiny_dir)
    assert [q.position for q in full] == [0, 1, 2, 3]
    assert load_questions("arc", source=tiny_dir, start=1, limit=2) == full[1:3]
    assert load_questions("arc", source=tiny_dir, start=2, limit=100) == full[2:]
    assert load_questions("arc", source=tiny_dir, start=10) == []
    assert load_questions("arc", source=tiny_dir, limit=0) == []
    for bad in ({"start": -1}, {"limit": -1}, {"block": 0}):
        with pytest.raises(ValueError, match="start >= 0"):
            load_questions("arc", source=tiny_dir, **bad)


def test_example_for(tiny_dir):
    pool = load_questions("arc", source=tiny_dir)
    by_id = {q.question_id: q for q in pool}
    for q in pool:
        ex = example_for(q, pool)
        assert ex.question_id != q.question_id
        original = by_id[ex.question_id]
        assert sorted(ex.options) == sorted(original.options)
        assert ex.options[ex.gold] == original.options[original.gold]
        assert example_for(q, pool) == ex  # deterministic
    assert len({example_for(q, pool).question_id for q in pool}) > 1
    with pytest.raises(ValueError, match="no other question"):
        example_for(pool[0], pool[:1])


# ----------------------------------------------------------------------------- bad input

def test_unknown_dataset_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="'squad'.*arc, hellaswag, mmlu, truthfulqa, winogrande"):
        load_questions("squad", source=tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_questions("arc", source=tmp_path / "nowhere")


def test_missing_file_is_named(tiny_dir):
    (tiny_dir / "winogrande/dev.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"winogrande/dev\.jsonl"):
        load_questions("winogrande", source=tiny_dir)
    for path in (tiny_dir / "mmlu/test").iterdir():
        path.unlink()
    with pytest.raises(FileNotFoundError, match="no \\*_test.csv"):
        load_questions("mmlu", source=tiny_dir)


@pytest.mark.parametrize("relative, text, message", [
    ("arc_challenge/ARC-Challenge-Test.jsonl", '{"id": "ok"\n', r"Test\.jsonl, line 1: malformed JSON"),
    ("arc_challenge/ARC-Challenge-Dev.jsonl",
     '\n{"id": "x", "question": {"stem": "s"}, "answerKey": "A"}\n',
     r"Dev\.jsonl, line 2: unexpected record layout \(KeyError"),
    ("arc_challenge/ARC-Challenge-Dev.jsonl",
     '{"id": "x", "question": {"stem": "s", "choices": [{"text": "a", "label": "A"}]}, "answerKey": "Q7"}\n',
     r"Dev\.jsonl, line 1: bad arc row .*unknown answer format 'Q7'"),
    ("arc_challenge/ARC-Challenge-Dev.jsonl",
     '{"id": "x", "question": {"stem": "s", "choices": [{"text": "a", "label": "A"}]}, "answerKey": "C"}\n',
     r"Dev\.jsonl, line 1: bad arc row .*gold index 2 outside the 1 options"),
    ("winogrande/dev.jsonl", '{"sentence": "_", "option1": "a", "option2": "b"}\n',
     r"dev\.jsonl, line 1: bad winogrande row \(KeyError: 'answer'"),
    ("mmlu/test/algebra_test.csv", '"multi\nline",a,b,c,d,A\nq,a,b,c,d\n',
     r"algebra_test\.csv, line 3: expected 6 fields"),
    ("mmlu/test/algebra_test.csv", 'q,a,b,c,d,E\n', r"algebra_test\.csv, line 1: answer 'E'"),
    ("truthfulqa/mc_task.json", '[\n{"question": 1,\n', r"mc_task\.json, line 3: malformed JSON"),
    ("truthfulqa/mc_task.json", '[{"question": "q", "mc1_targets": {"a": 0}}]',
     r"mc_task\.json, item 0: bad truthfulqa row \(ValueError"),
    ("truthfulqa/mc_task.json", '{"question": "q"}', r"mc_task\.json: expected a JSON array"),
])
def test_malformed_input_names_file_and_line(tiny_dir, relative, text, message):
    (tiny_dir / relative).write_text(text)
    dataset = {"arc_challenge": "arc", "winogrande": "winogrande", "mmlu": "mmlu",
               "truthfulqa": "truthfulqa"}[relative.split("/")[0]]
    with pytest.raises(ValueError, match=message):
        load_questions(dataset, source=tiny_dir)


@IGNORE_HELLASWAG_WARNING
@pytest.mark.parametrize("text, message", [
    ("A: ctx\n0\na\nb\nc\n", r"line 5: file ends inside a question"),
    ("A: ctx\n0\na\nb\nc\nd\nno label here\n1\na\nb\nc\nd\n", r"line 7: expected 'activity label: context'"),
    ("A: ctx\nx\na\nb\nc\nd\n", r"line 1: bad hellaswag row .*unknown answer format 'x'"),
])
def test_malformed_hellaswag_names_file_and_line(tiny_dir, text, message):
    (tiny_dir / "hellaswag/hellaswag_val_full.txt.bz2").write_bytes(bz2.compress(text.encode()))
    with pytest.raises(ValueError, match=r"hellaswag_val_full\.txt\.bz2, " + message):
        load_questions("hellaswag", source=tiny_dir)


# ----------------------------------------------------------------------------- the real copies

SIZES = {"arc": (2590, 2590), "hellaswag": (10042, 6000), "mmlu": (14042, 6000),
         "truthfulqa": (817, 817), "winogrande": (10515, 6000)}


@pytest.fixture(scope="module")
def real(datasets_dir):
    """Every used question of the five real copies, loaded once."""
    ds._ordered.cache_clear()  # so that HellaSwag is read (and warns) here whatever ran before
    with pytest.warns(DatasetSubstitutionWarning):
        return {name: load_questions(name, source=datasets_dir) for name in SIZES}


@IGNORE_HELLASWAG_WARNING
@pytest.mark.parametrize("name", SIZES)
def test_real_counts_gold_and_ids(real, datasets_dir, name):
    size, used = SIZES[name]
    questions = real[name]
    assert (dataset_size(name, source=datasets_dir), n_questions(name, source=datasets_dir)) == (size, used)
    assert len(questions) == used
    assert [q.position for q in questions] == list(range(used))
    assert all(q.dataset == name and q.question_id.startswith(f"{name}/") for q in questions)
    assert len({q.question_id for q in questions}) == used
    assert all(0 <= q.gold < len(q.options) and len(q.options) >= 2 for q in questions)
    assert all(isinstance(q, Question) and q.question for q in questions)


@IGNORE_HELLASWAG_WARNING
def test_real_gold_follows_the_answer_text(real):
    """Hand-checked rows of the raw files, wherever the shuffle put them."""
    by_id = {q.question_id: q for qs in real.values() for q in qs}
    expected = {
        "arc/train/Mercury_SC_415702": "dry palms",                           # answerKey A
        "truthfulqa/validation/1":
            "People in the US have the shortest paid vacations among Western countries.",
        "mmlu/test/0": "4",                                                   # abstract_algebra row 1, B
        "winogrande/validation/0": "Maria",                                   # dev.jsonl line 1, answer 2
        "winogrande/validation/1": "Sarah",
        "hellaswag/validation/0": "starts pulling up roofing on a roof.",     # label 3
    }
    assert {k: by_id[k].options[by_id[k].gold] for k in expected} == expected
    assert by_id["hellaswag/validation/0"].question == "A man is sitting on a roof. he"
    assert by_id["mmlu/test/0"].question.startswith("Find the degree for the given field extension")
    assert len(by_id["truthfulqa/validation/1"].options) == 5


@IGNORE_HELLASWAG_WARNING
@pytest.mark.parametrize("name, start, limit", [
    ("arc", 500, 10), ("mmlu", 495, 10), ("winogrande", 5990, 50), ("truthfulqa", 800, None),
    ("hellaswag", 1234, 3)])
def test_real_ranges_equal_slices_of_the_full_order(real, datasets_dir, name, start, limit):
    part = load_questions(name, source=datasets_dir, start=start, limit=limit)
    stop = len(real[name]) if limit is None else start + limit
    assert part == real[name][start:stop]


def test_real_order_is_deterministic_across_reads(real, datasets_dir):
    ds._ordered.cache_clear()  # read and shuffle the files again
    assert load_questions("arc", source=datasets_dir) == real["arc"]
    assert load_questions("mmlu", source=datasets_dir, limit=600) == real["mmlu"][:600]


def test_real_options_depend_on_the_block_start(real, datasets_dir):
    arc = real["arc"]
    assert load_questions("arc", source=datasets_dir, start=500, limit=20, block=250) == arc[500:520]
    moved = load_questions("arc", source=datasets_dir, start=250, limit=20, block=250)
    assert [q.question_id for q in moved] == [q.question_id for q in arc[250:270]]
    assert [q.options for q in moved] != [q.options for q in arc[250:270]]  # re-seeded at 250, not 0
    assert [q.options[q.gold] for q in moved] == [q.options[q.gold] for q in arc[250:270]]


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@IGNORE_HELLASWAG_WARNING
def test_real_data_matches_a_literal_replay_of_the_paper(real, local_datasets_dir):
    datasets_dir = local_datasets_dir
    arc_rows = [r for name in ("Train", "Test", "Dev")
                for r in _jsonl(datasets_dir / f"arc_challenge/ARC-Challenge-{name}.jsonl")]
    arc = paper_replay(arc_rows, lambda x: x["question"]["stem"], lambda x: answer_index(x["answerKey"], 1),
                       lambda x: [c["text"] for c in x["question"]["choices"]], 1000, 1500)
    assert as_tuples(real["arc"][1000:1500]) == arc

    tqa_rows = json.loads((datasets_dir / "truthfulqa/mc_task.json").read_text())
    tqa = paper_replay(tqa_rows, lambda x: x["question"], lambda x: list(x["mc1_targets"].values()).index(1),
                       lambda x: list(x["mc1_targets"]), 500, 1000)
    assert as_tuples(real["truthfulqa"][500:]) == tqa

    wino_rows = [r for name in ("train_debiased", "dev")
                 for r in _jsonl(datasets_dir / f"winogrande/{name}.jsonl")]
    wino = paper_replay(wino_rows, lambda x: x["sentence"], lambda x: int(x["answer"]) - 1,
                        lambda x: [x["option1"], x["option2"]], 5500, 6000)
    assert as_tuples(real["winogrande"][5500:]) == wino
