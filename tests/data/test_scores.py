"""The score cache (``helpers.data.scores``) on its own: key folders, atomic chunks, which key is shown,
and the lock, including a writer killed with ``kill -9``. No model and no torch here: scoring into the
cache (resume, two processes on one key, changed keys) is tested in ``tests/scoring/test_runner.py``."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from helpers.data import locations, schema, scores
from helpers.data.method import SCORING_VERSION, is_current, method_settings

#: the engine part of a key, as the hf backend writes it (the runner adds it to the method's settings)
ENGINE = {"dtype": "auto", "load_in_4bit": False}


def _key(**changes) -> scores.ScoreKey:
    base = dict(name="tiny", model_id="tiny", revision="r1", dataset="arc", phrasing="first", shots=0,
                settings={**method_settings(), **ENGINE})
    return scores.ScoreKey(**{**base, **changes})


def _record(qid: int, grade: str = "correct") -> dict:
    return {"qid": qid, "question_id": f"arc/test/{qid}", "grade": grade, "correct": grade == "correct",
            "msp": np.float32(0.5), "max_logit": np.float32(3.0), "letter_probs": [0.5, 0.25]}


def test_key_folder_is_readable_and_manifest_holds_the_key(tmp_path):
    key = _key(name="SmolLM2-135M-Instruct")
    store = scores.ScoreStore(key, tmp_path)
    assert store.path.name.startswith("SmolLM2-135M-Instruct__arc__first__0shot__")
    with store.locked():
        store.write_chunk([_record(0), _record(1)])
    assert json.loads((store.path / scores.MANIFEST).read_text()) == key.manifest()
    assert store.done_positions() == {0, 1}
    assert _key(revision="r2").dirname() != key.dirname() != _key(settings={"x": 1}).dirname()


def test_bad_key_values_are_named():
    with pytest.raises(ValueError, match="unknown dataset 'squad'"):
        _key(dataset="squad")
    with pytest.raises(ValueError, match="unknown phrasing 'third'"):
        _key(phrasing="third")


def test_chunks_are_numbered_in_order_and_empty_ones_skipped(tmp_path):
    with scores.ScoreStore(_key(), tmp_path).locked() as store:
        assert store.write_chunk([]) is None
        first = store.write_chunk([_record(0)])
        second = store.write_chunk([_record(1)])
    assert (first.name, second.name) == ("part-000000.parquet", "part-000001.parquet")
    assert [p.name for p in store.parts()] == [first.name, second.name]


def test_load_scored_is_the_tidy_table(tmp_path):
    with scores.ScoreStore(_key(), tmp_path).locked() as store:
        store.write_chunk([_record(3, "wrong"), _record(1)])
        store.write_chunk([_record(1)])  # a duplicate position is read once
    with scores.ScoreStore(_key(settings={"template_hash": "stale"}), tmp_path).locked() as store:
        store.write_chunk([_record(7)])  # made with other prompt templates: not shown
    scored = scores.load_scored(tmp_path)
    assert list(scored.columns[:len(schema.COLUMNS)]) == list(schema.COLUMNS)
    assert scored.qid.tolist() == [1, 3]
    assert set(scored.source) == {"scored"} and set(scored.model) == {"tiny"}
    assert scored.grade.tolist() == ["correct", "wrong"] and scored.msp.dtype == np.float64
    assert scored.grade_max_logit.tolist() == ["correct", "wrong"]  # one answer: both signals, one grade
    assert "letter_probs" in scored.columns
    empty = scores.load_scored(tmp_path / "empty")
    assert len(empty) == 0 and list(empty.columns) == list(schema.COLUMNS)


def test_one_key_per_cell_current_method_and_fullest(tmp_path):
    """The shown key: current method only (template, max new tokens, block, scoring version), then
    the one with most answers; file times play no part and keys are never mixed."""
    now = method_settings()
    stale = [{**now, "scoring_version": SCORING_VERSION - 1}, {**now, "max_new_tokens": 5},
             {**now, "block": 7}, {**now, "template_hash": "old"}]
    for settings in stale:  # full, but made another way: never shown
        with scores.ScoreStore(_key(settings=settings), tmp_path).locked() as store:
            store.write_chunk([_record(q) for q in range(10)])
    complete = _key(settings={**now, "dtype": "float32"})
    with scores.ScoreStore(complete, tmp_path).locked() as store:
        store.write_chunk([_record(q) for q in range(5)])
    partial = _key(settings={**now, "dtype": "bfloat16"})
    with scores.ScoreStore(partial, tmp_path).locked() as store:
        store.write_chunk([_record(q, "wrong") for q in (5, 6)])  # written last, newer files
    early, late = 1_000_000_000, 2_000_000_000  # fixed file times (2001 and 2033)
    for stamps in ((late, early), (early, late)):  # whichever is newer, the fuller key is shown
        for key, stamp in zip((complete, partial), stamps):
            for part in scores.ScoreStore(key, tmp_path).parts():
                os.utime(part, (stamp, stamp))
        shown = scores.shown_keys(tmp_path)
        assert [m["settings"]["dtype"] for _, m in shown] == ["float32"]
        scored = scores.load_scored(tmp_path)
        assert scored.qid.tolist() == [0, 1, 2, 3, 4] and set(scored.grade) == {"correct"}
    assert is_current(now) and not any(is_current(s) for s in stale)


def test_two_models_under_one_name_are_refused(tmp_path):
    for revision in ("r1", "r2"):
        with scores.ScoreStore(_key(revision=revision), tmp_path).locked() as store:
            store.write_chunk([_record(0)])
    with pytest.raises(scores.AmbiguousNameError, match=r"(?s)one name.*tiny: tiny__arc.*, tiny__arc"):
        scores.load_scored(tmp_path)
    # the same revision made another way (stale) is no second model
    # a second revision whose answers were made another way (stale) is never shown: no clash
    clean = tmp_path / "clean"
    for key in (_key(revision="r1"), _key(revision="r2", settings={"template_hash": "old"})):
        with scores.ScoreStore(key, clean).locked() as store:
            store.write_chunk([_record(0)])
    assert scores.load_scored(clean).qid.tolist() == [0]


def test_nothing_is_written_through_a_link(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store = scores.ScoreStore(_key(), tmp_path / "cache")
    store.path.parent.mkdir()
    store.path.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(scores.CacheLinkError, match="key folder is a symbolic link"):
        with store.locked():
            pass
    store.path.unlink()
    with store.locked():
        store.write_chunk([_record(0)])
        (store.path / "part-000001.parquet").symlink_to(elsewhere / "x.parquet")
        with pytest.raises(scores.CacheLinkError, match=r"holds symbolic links \['part-000001.parquet'\]"):
            store.write_chunk([_record(1)])
    assert not any(elsewhere.iterdir())


def test_malformed_manifest_is_named(tmp_path):
    folder = tmp_path / "broken__arc__first__0shot__0"
    folder.mkdir()
    (folder / scores.MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match=r"broken__arc__first__0shot__0/manifest\.json: malformed manifest"):
        scores.cached_keys(tmp_path)


def test_the_committed_smollm2_cache_is_shown():
    """``data/scores/`` in the repository: the SmolLM2 answers the book shows, made with today's method."""
    committed = locations.repository_root() / "data" / "scores"
    shown = scores.shown_keys(committed)
    assert len(shown) == 10
    assert {m["name"] for _, m in shown} == {"SmolLM2-135M-Instruct"}
    assert sorted((m["dataset"], m["phrasing"]) for _, m in shown) == [
        (d, ph) for d in ("arc", "hellaswag", "mmlu", "truthfulqa", "winogrande") for ph in ("first", "second")]
    assert all(scores.positions_in(path) == set(range(200)) for path, _ in shown)
    assert all(m["settings"] == {**method_settings(), **ENGINE} for _, m in shown)


def test_data_locations_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("MSP_SCORES_DIR", raising=False)
    monkeypatch.delenv("MSP_DATA_DIR", raising=False)
    repo = Path(__file__).resolve().parents[2]
    assert locations.repository_root() == repo
    assert locations.scores_dir() == repo / "data" / "scores"
    assert locations.models_dir() == repo / "data" / "models"
    monkeypatch.setenv("MSP_DATA_DIR", str(tmp_path / "d"))
    assert locations.scores_dir() == tmp_path / "d" / "scores"
    monkeypatch.setenv("MSP_SCORES_DIR", str(tmp_path))
    assert locations.scores_dir() == tmp_path and locations.scores_dir("x") == Path("x")


# A writer that writes two chunks, then stops half-way through the third (its temporary file written,
# not yet moved into place) and waits there, holding the lock, until it is killed.
_WRITER = textwrap.dedent("""
    import os, sys
    from helpers.data import scores
    key = scores.ScoreKey(**{key!r})
    real_replace, chunks = os.replace, []
    def replace(src, dst):
        if str(dst).endswith(".parquet"):
            if len(chunks) == 2:
                print("paused", flush=True)
                sys.stdin.readline()  # never answered: killed here
            chunks.append(dst)
        real_replace(src, dst)
    os.replace = replace
    with scores.ScoreStore(key, {out!r}).locked() as store:
        for first in range(0, 6, 2):
            store.write_chunk([{{"qid": q, "grade": "correct", "correct": True, "msp": 0.5, "max_logit": 1.0}}
                               for q in (first, first + 1)])
    print("done")
""")


def test_a_writer_killed_mid_chunk_leaves_whole_chunks_and_frees_the_lock(tmp_path):
    key = _key()
    code = _WRITER.format(key=key.manifest(), out=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line == "paused\n", proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = scores.ScoreStore(key, tmp_path)
    assert len(list(store.path.glob(".*.tmp"))) == 1  # the third chunk, cut off before its move
    assert store.done_positions() == {0, 1, 2, 3}
    with open(store.path / scores.LOCK) as handle:  # the dead writer's lock is gone
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(handle, fcntl.LOCK_UN)
    with store.locked():  # the next writer clears the leftover and continues the numbering
        assert not list(store.path.glob(".*.tmp"))
        store.write_chunk([_record(4), _record(5)])
    assert [p.name for p in store.parts()] == [f"part-00000{i}.parquet" for i in range(3)]
    assert scores.load_scored(tmp_path).qid.tolist() == list(range(6))
