"""vLLM's offline engine against the book's transformers scoring, on SmolLM2-135M-Instruct (float32)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from draft_common import PHRASING
from tf_reference import teacher_forced_logits

from helpers import scoring
from helpers.scoring_vllm_draft.answers import exp32, to_record
from helpers.scoring_vllm_draft.likelihood import choice

MSP_TOL, LOGIT_TOL, LETTER_TOL = 1e-4, 1e-3, 1e-4


@pytest.fixture(scope="module")
def engine(vllm_dir, tf_records, tf_options):
    # the references come first: once started, the engine limits this process's torch threads
    from helpers.scoring_vllm_draft.offline import OfflineEngine

    eng = OfflineEngine(vllm_dir)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def offline_answers(engine, questions):
    return engine.answer_questions(questions, PHRASING)


def test_prompt_ids_are_the_books(engine, tf_lm, questions):
    assert engine.prompt_ids(questions, PHRASING) == scoring.prompt_ids(tf_lm, questions, PHRASING)


def test_answers_match_transformers(engine, offline_answers, tf_records, tf_lm, questions):
    worst = {"msp": 0.0, "max_logit": 0.0, "letters": 0.0, "step_logprob": 0.0}
    ids = engine.prompt_ids(questions, PHRASING)
    for q, a, r, prompt in zip(questions, offline_answers, tf_records, ids):
        # the same greedy sequence: every vLLM token is transformers' argmax given the ones before
        logits = teacher_forced_logits(tf_lm, prompt, a.token_ids)
        assert logits.argmax(dim=-1).tolist() == a.token_ids, q.question_id
        assert a.finish_reason == "stop" and a.token_ids[-1] in tf_lm.eos_ids
        assert a.response == tf_lm.tokenizer.decode(a.token_ids, skip_special_tokens=True)
        assert a.response.startswith(r["response"])  # fast mode stops once the answer is settled
        lp = torch.log_softmax(logits.double(), dim=-1)[torch.arange(len(a.token_ids)), a.token_ids]
        worst["step_logprob"] = max(worst["step_logprob"], float((lp - torch.tensor(a.values)).abs().max()))
        # the same answer token, parse and confidences
        assert a.answer_token == r["answer_token"], q.question_id
        rec = to_record(q, a)
        assert (rec["parsed"], rec["grade"]) == (r["parsed"], r["grade"])
        worst["msp"] = max(worst["msp"], abs(a.msp - float(r["msp"])))
        worst["max_logit"] = max(worst["max_logit"], abs(a.max_logit - float(r["max_logit"])))
        worst["letters"] = max(worst["letters"],
                               float(np.max(np.abs(np.subtract(a.letter_probs, r["letter_probs"])))))
        assert rec["letter_mass"] == pytest.approx(float(r["letter_mass"]), abs=len(q.options) * LETTER_TOL)
        # vLLM's own log-probability of the answer token gives the same MSP
        assert exp32(a.values[a.answer_token]) == pytest.approx(a.msp, abs=1e-5)
    print("offline vs transformers, max abs differences:", worst)
    assert worst["msp"] <= MSP_TOL and worst["max_logit"] <= LOGIT_TOL
    assert worst["letters"] <= LETTER_TOL and worst["step_logprob"] <= 1e-4
    assert sum(a.answer_token >= 0 for a in offline_answers) >= 15
    assert len({a.response for a in offline_answers}) >= 15  # not one canned answer


def test_max_logit_is_the_answer_tokens_logit(offline_answers, tf_lm, engine, questions):
    ids = engine.prompt_ids(questions[:5], PHRASING)
    for a, prompt in zip(offline_answers[:5], ids):
        logits = teacher_forced_logits(tf_lm, prompt, a.token_ids)[a.answer_token]
        assert a.max_logit == pytest.approx(float(logits[a.token_ids[a.answer_token]]), abs=LOGIT_TOL)
        assert a.msp == pytest.approx(float(torch.softmax(logits.double(), -1).max()), abs=MSP_TOL)


def test_repeated_batches_give_identical_numbers(engine, offline_answers, questions):
    again = engine.answer_questions(questions[:6], PHRASING)
    for a, b in zip(offline_answers[:6], again):
        assert (a.token_ids, a.msp, a.max_logit, a.letter_probs) == (b.token_ids, b.msp, b.max_logit,
                                                                     b.letter_probs)
    assert not engine.processor.store  # step statistics are dropped once read


def test_option_loglikelihoods_match_transformers(engine, questions, tf_options):
    scores, counts = engine.question_option_scores(questions, PHRASING)
    worst_sum = worst_norm = 0.0
    for q, row, ref in zip(questions, scores, tf_options):
        assert [s.option for s in row] == list(q.options)
        for s, r in zip(row, ref):
            assert list(s.token_ids) == r["token_ids"]
            assert s.greedy == r["greedy"]
            worst_sum = max(worst_sum, abs(s.total - sum(r["logprobs"])))
            worst_norm = max(worst_norm, abs(s.normalised - sum(r["logprobs"]) / len(r["option"])))
        ref_sums = [sum(r["logprobs"]) for r in ref]
        assert choice(row) == max(range(len(ref_sums)), key=ref_sums.__getitem__)
    print("option log-likelihoods, max abs differences: sum", worst_sum, "normalised", worst_norm, counts)
    assert worst_sum <= 1e-3 and worst_norm <= 1e-4
    assert counts["requests"] == sum(len(q.options) for q in questions)
    assert counts["cached_tokens"] > 0  # the options shared their context's cached blocks
    assert all(math.isfinite(s.total) and s.total < 0 for row in scores for s in row)
