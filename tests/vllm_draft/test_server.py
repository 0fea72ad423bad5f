"""vLLM's OpenAI-compatible server (log-probabilities) and the client, against the book's scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
from draft_common import PHRASING, SERVED_NAME

from helpers import prompts
from helpers.scoring_vllm_draft import client as cl
from helpers.scoring_vllm_draft.answers import to_record
from helpers.scoring_vllm_draft.server import VllmServer

MSP_TOL, LETTER_TOL = 1e-4, 1e-4


@pytest.fixture(scope="module")
def server(vllm_dir, tf_records, tf_options, tmp_path_factory):
    # the references come first: they and the server would compete for the CPU
    srv = VllmServer(vllm_dir, name=SERVED_NAME, log_path=tmp_path_factory.mktemp("server") / "server.log")
    srv.start()
    yield srv
    took = srv.stop()
    assert srv.process.returncode == 0, srv.log_tail()
    assert took < 30 and srv.group_rss_bytes() == 0  # SIGTERM stopped it, engine process included


def _prompts(questions):
    return [prompts.build_prompt(q, PHRASING) for q in questions], [q.options for q in questions]


def test_server_lists_the_model(server):
    assert server.ready_seconds > 0
    assert cl.ChatClient(server.base_url, SERVED_NAME).models() == [SERVED_NAME]


def test_chat_answers_match_transformers(server, questions, tf_records, letter_ids, tf_lm):
    client = cl.ChatClient(server.base_url, SERVED_NAME, letter_ids=letter_ids, concurrency=8,
                           extra_body={"return_token_ids": True})
    client.check_model()
    result = client.answer(*_prompts(questions))
    assert result.complete, result.errors
    worst_msp = worst_letters = 0.0
    for q, a, r in zip(questions, result.answers, tf_records):
        assert a.response.startswith(r["response"]) and a.finish_reason == "stop"
        assert a.response == tf_lm.tokenizer.decode(a.token_ids, skip_special_tokens=True)
        assert a.tokens[-1] == "<|im_end|>" and "".join(a.tokens[:-1]) == a.response
        assert a.answer_token == r["answer_token"]
        rec = to_record(q, a)
        assert (rec["parsed"], rec["grade"]) == (r["parsed"], r["grade"])
        assert math.isnan(a.max_logit)  # log-probabilities carry no raw logit
        worst_msp = max(worst_msp, abs(a.msp - float(r["msp"])))
        worst_letters = max(worst_letters, float(np.max(np.abs(np.subtract(a.letter_probs, r["letter_probs"])))))
        assert a.system_fingerprint and a.system_fingerprint.startswith("vllm-")
    print("server vs transformers, max abs differences: msp", worst_msp, "letters", worst_letters)
    assert worst_msp <= MSP_TOL and worst_letters <= LETTER_TOL
    assert len({a.system_fingerprint for a in result.answers}) == 1


def test_letters_from_the_top5_without_letter_ids(server, questions, tf_records):
    client = cl.ChatClient(server.base_url, SERVED_NAME, concurrency=8)
    result = client.answer(*_prompts(questions[:8]))
    assert result.complete
    seen = 0
    for a, r in zip(result.answers, tf_records):
        for got, want in zip(a.letter_probs, r["letter_probs"]):
            if not math.isnan(got):  # letters outside the top 5 are unknown
                assert got == pytest.approx(want, abs=LETTER_TOL)
                seen += 1
        assert a.msp == pytest.approx(float(r["msp"]), abs=MSP_TOL)
    assert seen >= 16


def test_option_loglikelihoods_through_echo(server, questions, tf_options, tf_lm):
    client = cl.ChatClient(server.base_url, SERVED_NAME, concurrency=8)
    qs = questions[:10]
    contexts = [prompts.chat_text(tf_lm.tokenizer, prompts.build_prompt(q, PHRASING)) for q in qs]
    result = client.option_scores(contexts, [q.options for q in qs])
    assert result.complete, result.errors
    worst = 0.0
    for row, ref in zip(result.answers, tf_options):
        for s, r in zip(row, ref):
            assert len(s.logprobs) == len(r["token_ids"]) and s.greedy == r["greedy"]
            worst = max(worst, abs(s.total - sum(r["logprobs"])))
    print("echo option log-likelihoods vs transformers, max abs difference of sums:", worst)
    assert worst <= 1e-3


def test_wrong_model_name_is_a_clear_error(server, questions):
    client = cl.ChatClient(server.base_url, "no-such-model", concurrency=2)
    with pytest.raises(cl.ModelNotFoundError, match=f"'no-such-model' is not served.*{SERVED_NAME}"):
        client.check_model()
    with pytest.raises(cl.ModelNotFoundError, match="no-such-model.*does not exist") as info:
        client.answer(*_prompts(questions[:4]))
    assert info.value.status == 404
    partial = info.value.partial
    assert all(a is None for a in partial.answers) and partial.failed == [0, 1, 2, 3]


def test_wrong_base_url_is_a_clear_error(server):
    client = cl.ChatClient(server.base_url.removesuffix("/v1"), SERVED_NAME)
    with pytest.raises(cl.EndpointNotFoundError, match="404 .*/models.*base URL"):
        client.models()


def test_a_refused_prompt_fails_alone(server, questions):
    texts, options = _prompts(questions[:3])
    texts[1] = texts[1] * 30  # longer than the model's 1024 tokens: 400
    result = cl.ChatClient(server.base_url, SERVED_NAME, concurrency=3).answer(texts, options)
    assert result.failed == [1] and "400" in result.errors[1] and "maximum context length" in result.errors[1]
    assert result.answers[0] is not None and result.answers[2] is not None
