"""Scoring: MSP / Max Logit definitions, faithful == fast, early stopping, errors (METHODS §4-§6)."""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
import torch

from helpers import grading, prompts, scoring
from tiny_model import tiny_lm, tiny_model_dir, tiny_questions  # noqa: F401  (fixtures)


# ----------------------------------------------------------------------------- pure pieces

def test_step_confidences_hand_computed():
    logits = torch.tensor([[0.0, math.log(3.0), -1e9], [2.0, 2.0, 2.0]])
    out = scoring.step_confidences(logits, [1, 0])
    # row 0: probabilities (1/4, 3/4, 0); row 1: uniform thirds
    np.testing.assert_allclose(out[0], [0.75, math.log(3.0), 0.75, 0.25], rtol=1e-6)
    np.testing.assert_allclose(out[1], [1 / 3, 2.0, 1 / 3, 1 / 3], rtol=1e-6)
    assert out.dtype == np.float32


def test_step_confidences_float32_saturates_and_overflow_is_guarded():
    # other mass exp(-20) ~ 2e-9 < float32 resolution: the paper's formula gives exactly 1.0
    assert scoring.step_confidences(torch.tensor([[20.0, 0.0]]), [0])[0, 0] == np.float32(1.0)
    # exp(1000) overflows: NaN with the paper's formula, guarded by the equal stable softmax
    out = scoring.step_confidences(torch.tensor([[1000.0, 999.0]]), [0, 1])
    np.testing.assert_allclose(out[0], [1 / (1 + math.exp(-1)), 1000.0, 1 / (1 + math.exp(-1)),
                                        1 / (1 + math.e)], rtol=1e-6)


def test_readable_name():
    assert scoring.readable_name("HuggingFaceTB/SmolLM2-135M-Instruct") == "SmolLM2-135M-Instruct"
    assert scoring.readable_name("/x/y/SmolLM2-135M-Instruct.Q4_1.gguf") == "SmolLM2-135M-Instruct"
    assert scoring.readable_name("/x/mistral-7b-instruct-v0.2.Q4_K_M.gguf") == "mistral-7b-instruct-v0.2"
    assert scoring.readable_name("models/my-model/") == "my-model"


@pytest.mark.parametrize("model, message", [
    ("no-such-model", "unknown model"),
    ("a/b/c", "unknown model"),
])
def test_resolve_model_errors(model, message):
    with pytest.raises(scoring.ScoringError, match=message):
        scoring.resolve_model(model)


def test_resolve_model_folder_without_config(tmp_path):
    with pytest.raises(scoring.ScoringError, match="no config.json"):
        scoring.resolve_model(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(scoring.ScoringError, match="not a .gguf"):
        scoring.resolve_model(tmp_path / "weights.bin")


def test_letters_must_be_single_tokens():
    class SplitsLetters:
        def encode(self, text, add_special_tokens=False):
            return [7, 8] if text == "C" else [ord(text)]

    assert scoring.check_letters(SplitsLetters(), 2) == [65, 66]
    with pytest.raises(scoring.ScoringError, match=r"'C' is 2 tokens.*single token"):
        scoring.check_letters(SplitsLetters(), 3)


def test_common_prefix():
    assert scoring.common_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert scoring.common_prefix([[1, 2], [1, 2]]) == 1  # each row keeps a token of its own
    assert scoring.common_prefix([[3], [1, 2]]) == 0


# ----------------------------------------------------------------------------- tiny model

def test_answer_token_index_uses_offsets(tiny_lm):
    tok = tiny_lm.tokenizer
    response = "The answer is B. red"
    c = grading.answer_char_index(response, ("red", "blue"))
    assert c == response.index("B.")
    idx = scoring.answer_token_index(tok, response, c)
    start, end = tok(response, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"][idx]
    assert start <= c < end
    assert scoring.answer_token_index(tok, response, -1) == -1


def test_answer_record_without_position_has_zero_confidence(tiny_lm):
    q = tiny_questions(1)[0]
    steps = np.ones((3, 2 + len(q.options)), np.float32) * 0.5
    rec = scoring.answer_record(q, "zzz", steps.__getitem__, 3, tiny_lm.tokenizer)
    assert rec["grade"] == "unparseable" and rec["parsed"] is None and not rec["correct"]
    assert rec["msp"] == 0 and rec["max_logit"] == 0 and rec["answer_token"] == -1
    # a position past this sequence's own steps (only padding steps follow) also gives 0
    rec = scoring.answer_record(q, "A. red", steps.__getitem__, 0, tiny_lm.tokenizer)
    assert rec["parsed"] == "A" and rec["msp"] == 0


def _greedy_by_hand(lm, text: str, n_steps: int) -> list[torch.Tensor]:
    """Full forward passes without cache: the logits of each greedy step, float64."""
    ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
    out = []
    with torch.no_grad():
        for _ in range(n_steps):
            logits = lm.model(input_ids=ids).logits[0, -1].double()
            out.append(logits)
            ids = torch.cat([ids, logits.argmax().view(1, 1)], dim=1)
    return out


@pytest.mark.parametrize("mode", scoring.MODES)
def test_msp_is_softmax_of_an_independent_forward(tiny_lm, mode):
    questions = tiny_questions(6)
    records = scoring.score_questions(tiny_lm, questions, "first", mode=mode, batch_size=3)
    checked = 0
    for q, rec in zip(questions, records):
        if rec["answer_token"] < 0:
            continue
        text = prompts.chat_text(tiny_lm.tokenizer, prompts.build_prompt(q, "first"))
        logits = _greedy_by_hand(tiny_lm, text, rec["answer_token"] + 1)[-1]
        probs = torch.softmax(logits, dim=-1)
        assert rec["msp"] == pytest.approx(float(probs.max()), abs=1e-5)
        assert rec["max_logit"] == pytest.approx(float(logits.max()), abs=1e-4)
        letters = [tiny_lm.tokenizer.convert_tokens_to_ids(x) for x in prompts.LETTERS[:len(q.options)]]
        np.testing.assert_allclose(rec["letter_probs"], probs[letters].numpy(), atol=1e-5)
        assert rec["letter_mass"] == pytest.approx(float(probs[letters].sum()), abs=1e-5)
        checked += 1
    assert checked >= 3


def test_records_carry_parse_and_gold(tiny_lm):
    questions = tiny_questions(8)
    for q, rec in zip(questions, scoring.score_questions(tiny_lm, questions, "second")):
        parsed = grading.parse_answer(rec["response"], len(q.options), q.options)
        assert rec["parsed"] == (None if parsed is None else prompts.LETTERS[parsed])
        assert rec["grade"] == grading.grade(parsed, q.gold)
        assert rec["gold_letter"] == prompts.LETTERS[q.gold]
        assert rec["n_options"] == len(q.options) == len(rec["letter_probs"])
        assert (rec["qid"], rec["question_id"]) == (q.position, q.question_id)


def _same(a: list[dict], b: list[dict]) -> None:
    for x, y in zip(a, b, strict=True):
        assert (x["qid"], x["grade"], x["parsed"], x["answer_token"]) == \
               (y["qid"], y["grade"], y["parsed"], y["answer_token"])
        assert x["msp"] == pytest.approx(y["msp"], abs=1e-5)
        assert x["max_logit"] == pytest.approx(y["max_logit"], abs=1e-4)
        np.testing.assert_allclose(x["letter_probs"], y["letter_probs"], atol=1e-5)


@pytest.mark.parametrize("phrasing", prompts.TEMPLATES)
def test_faithful_equals_fast_on_the_tiny_model(tiny_lm, phrasing):
    questions = tiny_questions(20)
    faithful = scoring.score_questions(tiny_lm, questions, phrasing, mode="faithful", batch_size=4)
    fast = scoring.score_questions(tiny_lm, questions, phrasing, mode="fast", batch_size=3)
    _same(faithful, fast)
    no_prefix = scoring.score_questions(tiny_lm, questions, phrasing, mode="fast", batch_size=5,
                                        reuse_prefix=False)
    _same(faithful, no_prefix)
    # the comparison covers letter answers and early stops, not only gibberish
    assert sum(r["grade"] != "unparseable" for r in faithful) >= 10
    assert sum(len(y["response"]) < len(x["response"]) for x, y in zip(faithful, fast)) >= 1
    # one prompt group per question and a decode batch of 2: the cache-joining and its absence agree
    small = scoring.score_questions(tiny_lm, questions, phrasing, mode="fast", batch_size=1, decode_batch=2)
    _same(faithful, small)


def test_answer_settled_never_changes_the_answer(tiny_lm):
    """Property: whenever a generated prefix is 'settled', the full response has the same parsed
    answer, answer character and answer token index."""
    tok = tiny_lm.tokenizer
    pieces = ["A", "B", "C", "D", ".", " ", "\n", "A.", " B", "red", " Paris", "'s", "..", "é", "DNA"]
    rng = random.Random(1)
    settled_seen = 0
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(2, 12)))
        ids = tok.encode(text, add_special_tokens=False)
        full = tok.decode(ids, skip_special_tokens=True)
        want = (grading.parse_answer(full, 4, ("red", "blue", "x y", "Paris")),
                grading.answer_char_index(full, ("red", "blue", "x y", "Paris")))
        for k in range(1, len(ids)):
            if scoring.answer_settled(tok, ids[:k], 4):
                part = tok.decode(ids[:k], skip_special_tokens=True)
                got = (grading.parse_answer(part, 4, ("red", "blue", "x y", "Paris")),
                       grading.answer_char_index(part, ("red", "blue", "x y", "Paris")))
                assert got == want, (text, k)
                assert (scoring.answer_token_index(tok, part, got[1])
                        == scoring.answer_token_index(tok, full, want[1])), (text, k)
                settled_seen += 1
                break
    assert settled_seen >= 50


def test_no_early_stop_without_pre_tokenizer(tiny_lm):
    class NoPreTokenizer:
        backend_tokenizer = type("B", (), {"normalizer": None, "pre_tokenizer": None})()

    assert scoring.early_stop_supported(tiny_lm.tokenizer)
    assert not scoring.early_stop_supported(NoPreTokenizer())


def test_out_of_memory_halves_the_batch(tiny_lm, monkeypatch):
    questions = tiny_questions(8)
    expected = scoring.score_questions(tiny_lm, questions, "first", batch_size=8)
    real_forward = tiny_lm.model.forward
    seen = []

    def forward(*args, **kwargs):
        batch = kwargs["input_ids"].shape[0]
        seen.append(batch)
        if batch == 8 and seen.count(8) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(tiny_lm.model, "forward", forward)
    with pytest.warns(RuntimeWarning, match="out of memory on a batch of 8; batch size now 4"):
        got = scoring.score_questions(tiny_lm, questions, "first", batch_size=8)
    _same(expected, got)
    assert seen.count(8) == 1 and 4 in seen


def test_other_runtime_errors_propagate(tiny_lm, monkeypatch):
    def forward(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(tiny_lm.model, "forward", forward)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        scoring.score_questions(tiny_lm, tiny_questions(2), "first")


def test_unknown_mode_and_phrasing(tiny_lm):
    with pytest.raises(scoring.ScoringError, match="unknown mode"):
        scoring.score_questions(tiny_lm, tiny_questions(1), "first", mode="quick")
    with pytest.raises(scoring.ScoringError, match="unknown phrasing 'third'"):
        scoring.score_questions(tiny_lm, tiny_questions(1), "third")


def test_tokenizer_setup(tiny_lm):
    assert tiny_lm.tokenizer.padding_side == "left"
    assert tiny_lm.tokenizer.pad_token == tiny_lm.tokenizer.eos_token  # none was defined
    assert tiny_lm.spec.kind == "folder" and tiny_lm.spec.revision.startswith("files:")


# ----------------------------------------------------------------------------- a real model

@pytest.mark.slow
def test_smollm2_faithful_equals_fast(datasets_dir, tmp_path):
    lm = scoring.load_model(scoring.smollm2_gguf(), device="cpu", models_dir=tmp_path)
    assert lm.spec.name == "SmolLM2-135M-Instruct" and lm.spec.revision.startswith("sha256:")
    from helpers.datasets import load_questions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        questions = load_questions("arc", source=datasets_dir, limit=10) + \
            load_questions("winogrande", source=datasets_dir, limit=10)
    for phrasing in prompts.TEMPLATES:
        fast = scoring.score_questions(lm, questions, phrasing, mode="fast", batch_size=8)
        faithful = scoring.score_questions(lm, questions, phrasing, mode="faithful", batch_size=8)
        _same(faithful, fast)
        assert sum(r["grade"] != "unparseable" for r in fast) >= 15


# ----------------------------------------------------------------------------- the paper's special cases

def test_paper_quirks_keyed_on_checkpoint():
    falcon = scoring.paper_quirks("tiiuae/falcon-7b-instruct")
    assert (falcon.paper_key, falcon.raw_prompt, falcon.first_token_confidence) == ("Falcon-7b", True, False)
    assert scoring.paper_quirks("tiiuae/falcon-40b-instruct").raw_prompt
    llama3 = scoring.paper_quirks("meta-llama/Meta-Llama-3-8B-Instruct")
    assert llama3.first_token_confidence and not llama3.raw_prompt
    assert scoring.paper_quirks("HuggingFaceTB/SmolLM2-135M-Instruct") == scoring.PaperQuirks()


def test_falcon_gets_the_raw_prompt_without_its_last_character(tiny_lm):
    import dataclasses

    q = tiny_questions(1)[0]
    as_falcon = dataclasses.replace(tiny_lm, spec=dataclasses.replace(
        tiny_lm.spec, kind="hub", model_id="tiiuae/falcon-7b-instruct"))
    first = scoring.prompt_text(as_falcon, q, "first")
    assert first == prompts.build_prompt(q, "first")[:-1] and first.endswith("Response:\n")
    assert scoring.prompt_text(as_falcon, q, "second") == prompts.build_prompt(q, "second")
    # the same tokenizer as a local folder: chat template applied, nothing dropped
    assert scoring.prompt_text(tiny_lm, q, "first") == prompts.chat_text(
        tiny_lm.tokenizer, prompts.build_prompt(q, "first"))


def test_llama3_confidence_is_the_first_generated_token(tiny_lm):
    q = tiny_questions(1)[0]
    steps = np.arange(12, dtype=np.float32).reshape(3, 4) / 20
    response = "I pick B. red"
    normal = scoring.answer_record(q, response, steps.__getitem__, 3, tiny_lm.tokenizer)
    first = scoring.answer_record(q, response, steps.__getitem__, 3, tiny_lm.tokenizer, first_token=True)
    assert normal["answer_token"] > 0 and first["answer_token"] == 0
    assert first["msp"] == steps[0, 0] and first["max_logit"] == steps[0, 1]
    none = scoring.answer_record(q, "zzz", steps.__getitem__, 3, tiny_lm.tokenizer, first_token=True)
    assert none["answer_token"] == -1 and none["msp"] == 0


# ----------------------------------------------------------------------------- one-shot and loading

def test_one_shot_prompts_carry_the_example(tiny_lm):
    questions = tiny_questions(4)
    examples = {q.question_id: questions[(i + 1) % 4] for i, q in enumerate(questions)}
    zero = scoring.prompt_ids(tiny_lm, questions, "first")
    one = scoring.prompt_ids(tiny_lm, questions, "first", examples)
    text = tiny_lm.tokenizer.decode(one[0])
    assert "Example question:" in text and "Correct response: " in text and len(one[0]) > len(zero[0])
    faithful = scoring.score_questions(tiny_lm, questions, "first", mode="faithful", examples=examples)
    fast = scoring.score_questions(tiny_lm, questions, "first", mode="fast", examples=examples)
    _same(faithful, fast)


def test_loading_writes_nothing_to_stderr(tiny_model_dir, capfd):
    lm = scoring.load_model(tiny_model_dir, device="cpu")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert isinstance(lm.load_warnings, list)
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()  # restored afterwards
