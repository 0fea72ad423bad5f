"""A vLLM server started with ``--logprobs-mode raw_logits``: Max Logit through the client, and the
client's report when the server dies in the middle of a batch."""

from __future__ import annotations

import math
import threading
import time

import pytest
from draft_common import PHRASING, SERVED_NAME

from helpers import prompts
from helpers.scoring_vllm_draft import client as cl
from helpers.scoring_vllm_draft.server import VllmServer

LOGIT_TOL = 1e-3


@pytest.fixture(scope="module")
def raw_server(vllm_dir, tf_records, tmp_path_factory):
    srv = VllmServer(vllm_dir, name=SERVED_NAME, logprobs_mode="raw_logits",
                     log_path=tmp_path_factory.mktemp("raw-server") / "server.log")
    srv.start()
    yield srv
    srv.stop()
    assert srv.group_rss_bytes() == 0


def _prompts(questions, phrasing=PHRASING):
    return [prompts.build_prompt(q, phrasing) for q in questions], [q.options for q in questions]


def test_max_logit_from_a_raw_logit_server(raw_server, questions, tf_records, letter_ids):
    client = cl.ChatClient(raw_server.base_url, SERVED_NAME, values_are="raw_logits", letter_ids=letter_ids)
    result = client.answer(*_prompts(questions))
    assert result.complete, result.errors
    worst = 0.0
    for a, r in zip(result.answers, tf_records):
        assert a.response.startswith(r["response"]) and a.answer_token == r["answer_token"]
        assert math.isnan(a.msp) and all(math.isnan(p) for p in a.letter_probs)
        worst = max(worst, abs(a.max_logit - float(r["max_logit"])))
        # the answer token is the greedy choice: no option letter has a larger logit
        assert max(a.letter_logits) <= a.max_logit + 1e-5
        assert a.values_are == "raw_logits" and all(v > 0 for v in a.values)  # logits, not log-probabilities
    print("raw-logit server vs transformers, max abs difference of Max Logit:", worst)
    assert worst <= LOGIT_TOL


def test_server_killed_mid_run_reports_the_unfinished_prompts(raw_server, questions):
    # last in this module: it kills the server
    texts, options = _prompts(questions)
    texts2, options2 = _prompts(questions, "second")
    texts, options = texts + texts2, options + options2
    client = cl.ChatClient(raw_server.base_url, SERVED_NAME, values_are="raw_logits", concurrency=2,
                           max_retries=2, backoff=0.2, timeout=60)
    done: list[int] = []
    killed = threading.Event()

    def on_done(i: int) -> None:
        done.append(i)
        if len(done) >= 3 and not killed.is_set():
            killed.set()
            raw_server.kill()

    t0 = time.monotonic()
    result = client.answer(texts, options, on_done=on_done)
    elapsed = time.monotonic() - t0
    assert killed.is_set() and raw_server.process.poll() is not None
    answered = [i for i, a in enumerate(result.answers) if a is not None]
    assert 3 <= len(answered) < len(texts) - 10
    assert set(answered) | set(result.failed) == set(range(len(texts)))
    assert not set(answered) & set(result.failed)
    assert all("gave up after 3 attempts" in result.errors[i] for i in result.failed)
    assert all(result.answers[i].max_logit > 0 for i in answered)
    assert elapsed < 120
