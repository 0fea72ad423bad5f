"""The option-likelihood signal (``scoring.likelihood``) and the hf backend's option log-likelihoods,
against a brute-force loop over full forward passes of the tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.data.method import LETTERS
from helpers.scoring import hf, likelihood, runner
from helpers.scoring.backend import Answer, Request
from helpers.scoring.hf import HFBackend
from tiny_model import tiny_questions


def test_option_signal_by_hand():
    # p = e^-1 / (e^-1 + e^-2) for the first option
    assert likelihood.option_signal([-1.0, -2.0], ["a", "b"]) == (0, pytest.approx(1 / (1 + math.e ** -1), abs=1e-7))
    # normalised: -6/3 = -2 beats -3/1 = -3 although -6 < -3
    chosen, p = likelihood.option_signal([-6.0, -3.0], ["abc", "d"], normalised=True)
    assert chosen == 0 and p == pytest.approx(1 / (1 + math.e ** -1), abs=1e-7)
    assert likelihood.option_signal([-3.0, -3.0, -3.0], ["x", "y", "z"]) == (0, pytest.approx(1 / 3))
    with pytest.raises(ValueError, match="2 log-likelihoods for 3 options"):
        likelihood.option_signal([-1.0, -2.0], ["a", "b", "c"])


def test_option_tokens_split_the_whole_text_at_the_contexts_length(tiny_lm):
    tok = tiny_lm.tokenizer
    own, pairs = likelihood.option_tokens(tok, "Which colour is the sky?\n", ["blue", "red green"])
    assert own == tok("Which colour is the sky?\n")["input_ids"]
    for option, (ctx, cont) in zip(["blue", "red green"], pairs):
        whole = tok("Which colour is the sky?\n" + option)["input_ids"]
        assert ctx + cont == whole and len(ctx) == len(own)
        assert tok.decode(cont) == option


def _brute_force(lm, context: str, option: str) -> float:
    """Sum over the option's tokens of log p(token | everything before), each from its own full
    forward pass of the whole prefix (float64 log-softmax)."""
    own = lm.tokenizer(context)["input_ids"]
    whole = lm.tokenizer(context + option)["input_ids"]
    total = 0.0
    with torch.no_grad():
        for j in range(len(own), len(whole)):
            logits = lm.model(input_ids=torch.tensor([whole[:j]])).logits[0, -1].double()
            total += float(torch.log_softmax(logits, -1)[whole[j]])
    return total


def test_hf_option_logliks_match_a_brute_force_loop(tiny_lm):
    questions = tiny_questions(8)
    for q in questions[:4]:
        context = hf.prompt_text(tiny_lm, q, "first")
        got = hf.option_logliks(tiny_lm, context, q.options)
        want = [_brute_force(tiny_lm, context, o) for o in q.options]
        np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("mode", ["fast", "faithful"])
def test_the_backends_option_logliks_in_both_modes(tiny_lm, mode):
    """Fast mode reads them from the prompts' prefilled caches (with the shared prefix), faithful
    mode from its own pass: both equal the brute-force loop."""
    questions = tiny_questions(10)
    backend = HFBackend(tiny_lm, mode=mode, batch_size=3, decode_batch=4)
    records = runner.score_questions(backend, questions, "second")
    for q, r in zip(questions, records):
        want = [_brute_force(tiny_lm, hf.prompt_text(tiny_lm, q, "second"), o) for o in q.options]
        np.testing.assert_allclose(r["option_logliks"], want, atol=1e-4)
        for variant in likelihood.VARIANTS:
            norm = variant.endswith("_norm")
            values = np.array(want) / (np.array([len(o) for o in q.options]) if norm else 1)
            p = np.exp(values - values.max()) / np.exp(values - values.max()).sum()
            assert r[variant] == pytest.approx(p.max(), abs=1e-4)
            assert r[f"correct_{variant}"] == (int(np.argmax(values)) == q.gold)
            assert r[f"grade_{variant}"] == ("correct" if r[f"correct_{variant}"] else "wrong")


def test_without_option_likelihood_the_record_has_no_such_columns(tiny_lm):
    backend = HFBackend(tiny_lm, batch_size=4, option_likelihood=False)
    record = runner.score_questions(backend, tiny_questions(3), "first")[0]
    assert "option_logliks" not in record and "option_likelihood" not in record


def test_record_of_given_logliks():
    q = tiny_questions(3)[2]  # 4 options, gold 2
    logliks = (-9.0, -8.0, -1.0, -2.0)
    r = runner.record(q, Answer("C.", 0, 0.5, 3.0, (0.1, 0.2, 0.5, 0.1), logliks, "fp_1"))
    p = np.exp(np.array(logliks) - max(logliks))
    assert r["option_likelihood"] == pytest.approx(p.max() / p.sum(), abs=1e-6)
    assert r["correct_option_likelihood"] and r["grade_option_likelihood"] == "correct"
    lengths = np.array([len(o) for o in q.options])
    norm = np.array(logliks) / lengths
    assert r["correct_option_likelihood_norm"] == (int(np.argmax(norm)) == q.gold)
    assert r["system_fingerprint"] == "fp_1"


def test_the_committed_smollm2_answers_carry_the_option_likelihood():
    """``data/scores/``: every committed SmolLM2-135M-Instruct answer has both signals, and each
    option-likelihood value is the softmax of its stored log-likelihoods."""
    from helpers.data import locations, scores

    committed = scores.load_scored(locations.repository_root() / "data" / "scores")
    smol = committed[committed.model == "SmolLM2-135M-Instruct"]
    assert len(smol) == 2000 and smol.option_likelihood.notna().all()
    assert smol.groupby(["dataset", "phrasing"], observed=True).size().eq(200).all()
    for row in smol.sample(50, random_state=0).itertuples():
        # the summed variant needs no option texts (only the per-character one divides by their lengths)
        chosen, p = likelihood.option_signal(row.option_logliks, [""] * len(row.option_logliks))
        assert row.option_likelihood == pytest.approx(p, abs=1e-6)
        assert row.correct_option_likelihood == (LETTERS[chosen] == row.gold_letter)

