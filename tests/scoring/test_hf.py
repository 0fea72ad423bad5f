"""The Hugging Face backend (``helpers.scoring.hf``): MSP / Max Logit definitions, faithful == fast,
early stopping, out-of-memory handling, the paper's special cases, loading (METHODS §1, §3-§6).

Most tests run the tiny offline model of ``tests/tiny_model.py``; one (slow) runs SmolLM2-135M."""

from __future__ import annotations

import dataclasses
import math
import random
import warnings

import numpy as np
import pytest
import torch

from helpers.data.method import LETTERS, TEMPLATES
from helpers.scoring import grading, hf, prompts, runner
from helpers.scoring.backend import Request
from helpers.scoring.confidence import answer_token_index
from helpers.scoring.hf import HFBackend
from helpers.scoring.specs import ScoringError, smollm2_gguf
from tiny_model import tiny_questions


def score(lm, questions, phrasing, examples=None, **backend):
    """The runner's records of ``questions`` answered by ``HFBackend(lm, **backend)``."""
    return runner.score_questions(HFBackend(lm, **backend), questions, phrasing, examples=examples)


def _same(a: list[dict], b: list[dict]) -> None:
    """Identical grades, parsed letters and answer tokens; MSP within 1e-5, Max Logit within 1e-4."""
    for x, y in zip(a, b, strict=True):
        assert (x["qid"], x["grade"], x["parsed"], x["answer_token"]) == \
               (y["qid"], y["grade"], y["parsed"], y["answer_token"])
        assert x["msp"] == pytest.approx(y["msp"], abs=1e-5)
        assert x["max_logit"] == pytest.approx(y["max_logit"], abs=1e-4)
        np.testing.assert_allclose(x["letter_probs"], y["letter_probs"], atol=1e-5)


# ----------------------------------------------------------------------------- pure pieces

def test_step_confidences_hand_computed():
    logits = torch.tensor([[0.0, math.log(3.0), -1e9], [2.0, 2.0, 2.0]])
    out = hf.step_confidences(logits, [1, 0])
    # row 0: probabilities (1/4, 3/4, 0); row 1: uniform thirds
    np.testing.assert_allclose(out[0], [0.75, math.log(3.0), 0.75, 0.25], rtol=1e-6)
    np.testing.assert_allclose(out[1], [1 / 3, 2.0, 1 / 3, 1 / 3], rtol=1e-6)
    assert out.dtype == np.float32


def test_step_confidences_float32_saturates_and_overflow_is_guarded():
    # other mass exp(-20) ~ 2e-9 < float32 resolution: the paper's formula gives exactly 1.0
    assert hf.step_confidences(torch.tensor([[20.0, 0.0]]), [0])[0, 0] == np.float32(1.0)
    # exp(1000) overflows: NaN with the paper's formula, guarded by the equal stable softmax
    out = hf.step_confidences(torch.tensor([[1000.0, 999.0]]), [0, 1])
    np.testing.assert_allclose(out[0], [1 / (1 + math.exp(-1)), 1000.0, 1 / (1 + math.exp(-1)),
                                        1 / (1 + math.e)], rtol=1e-6)


def test_letters_must_be_single_tokens():
    class SplitsLetters:
        def encode(self, text, add_special_tokens=False):
            return [7, 8] if text == "C" else [ord(text)]

    assert hf.check_letters(SplitsLetters(), 2) == [65, 66]
    with pytest.raises(ScoringError, match=r"'C' is 2 tokens.*single token"):
        hf.check_letters(SplitsLetters(), 3)


def test_common_prefix():
    assert hf.common_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert hf.common_prefix([[1, 2], [1, 2]]) == 1  # each row keeps a token of its own
    assert hf.common_prefix([[3], [1, 2]]) == 0
    assert hf.common_prefix([]) == 0


# ----------------------------------------------------------------------------- the answer token

def test_answer_token_index_uses_offsets(tiny_lm):
    tok = tiny_lm.tokenizer
    response = "The answer is B. red"
    c = grading.answer_char_index(response, ("red", "blue"))
    assert c == response.index("B.")
    idx = answer_token_index(tok, response, c)
    start, end = tok(response, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"][idx]
    assert start <= c < end
    assert answer_token_index(tok, response, -1) == -1
    assert answer_token_index(tok, response, len(response) + 5) == -1  # in no token
    assert answer_token_index(tok, response, c, first_token=True) == 0


def _canned(monkeypatch, lm, response: str, steps: np.ndarray, n_valid: int) -> None:
    """Faithful generation replaced by one canned response per row, with per-step confidences ``steps``."""
    ids = lm.tokenizer.encode(response, add_special_tokens=False)
    monkeypatch.setattr(hf, "generate_faithful", lambda lm_, rows, letter_ids, max_new_tokens:
                        [(ids, steps.__getitem__, n_valid) for _ in rows])


def _answer(lm, q, **backend):
    return HFBackend(lm, mode="faithful", **backend).answer([Request(q, "first")])[0]


def test_an_answer_without_position_has_zero_confidence(tiny_lm, monkeypatch):
    q = tiny_questions(1)[0]
    steps = np.full((3, 2 + len(q.options)), 0.5, np.float32)
    _canned(monkeypatch, tiny_lm, "zzz", steps, 3)
    answer = _answer(tiny_lm, q)
    assert answer.response == "zzz" and answer.answer_token == -1
    assert answer.msp == 0 and answer.max_logit == 0 and all(math.isnan(p) for p in answer.letter_probs)
    rec = runner.record(q, answer)
    assert rec["grade"] == "unparseable" and rec["parsed"] is None and not rec["correct"]
    assert rec["msp"] == 0 and rec["max_logit"] == 0 and rec["answer_token"] == -1
    # a position past this sequence's own steps (only padding steps follow) also gives 0
    _canned(monkeypatch, tiny_lm, "A. red", steps, 0)
    answer = _answer(tiny_lm, q)
    assert runner.record(q, answer)["parsed"] == "A" and answer.answer_token == 0 and answer.msp == 0


def test_llama3_confidence_is_the_first_generated_token(tiny_lm, monkeypatch):
    q = tiny_questions(1)[0]
    steps = np.arange(32, dtype=np.float32).reshape(8, 4) / 40
    _canned(monkeypatch, tiny_lm, "I pick B. red", steps, 8)
    normal = _answer(tiny_lm, q)
    as_llama3 = dataclasses.replace(tiny_lm, spec=dataclasses.replace(
        tiny_lm.spec, kind="hub", model_id="meta-llama/Meta-Llama-3-8B-Instruct"))
    first = _answer(as_llama3, q)
    assert normal.answer_token > 0 and first.answer_token == 0
    assert normal.msp == steps[normal.answer_token, 0]
    assert first.msp == steps[0, 0] and first.max_logit == steps[0, 1]
    assert first.letter_probs == tuple(float(x) for x in steps[0, 2:2 + len(q.options)])
    _canned(monkeypatch, tiny_lm, "zzz", steps, 8)
    none = _answer(as_llama3, q)
    assert none.answer_token == -1 and none.msp == 0


# ----------------------------------------------------------------------------- tiny model

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


@pytest.mark.parametrize("mode", hf.MODES)
def test_msp_is_softmax_of_an_independent_forward(tiny_lm, mode):
    questions = tiny_questions(6)
    records = score(tiny_lm, questions, "first", mode=mode, batch_size=3)
    checked = 0
    for q, rec in zip(questions, records):
        if rec["answer_token"] < 0:
            continue
        text = prompts.chat_text(tiny_lm.tokenizer, prompts.build_prompt(q, "first"))
        logits = _greedy_by_hand(tiny_lm, text, rec["answer_token"] + 1)[-1]
        probs = torch.softmax(logits, dim=-1)
        assert rec["msp"] == pytest.approx(float(probs.max()), abs=1e-5)
        assert rec["max_logit"] == pytest.approx(float(logits.max()), abs=1e-4)
        letters = [tiny_lm.tokenizer.convert_tokens_to_ids(x) for x in LETTERS[:len(q.options)]]
        np.testing.assert_allclose(rec["letter_probs"], probs[letters].numpy(), atol=1e-5)
        assert rec["letter_mass"] == pytest.approx(float(probs[letters].sum()), abs=1e-5)
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("phrasing", TEMPLATES)
def test_faithful_equals_fast_on_the_tiny_model(tiny_lm, phrasing):
    questions = tiny_questions(20)
    faithful = score(tiny_lm, questions, phrasing, mode="faithful", batch_size=4)
    fast = score(tiny_lm, questions, phrasing, mode="fast", batch_size=3)
    _same(faithful, fast)
    no_prefix = score(tiny_lm, questions, phrasing, mode="fast", batch_size=5, reuse_prefix=False)
    _same(faithful, no_prefix)
    # the comparison covers letter answers and early stops, not only gibberish
    assert sum(r["grade"] != "unparseable" for r in faithful) >= 10
    assert sum(len(y["response"]) < len(x["response"]) for x, y in zip(faithful, fast)) >= 1
    # one prompt group per question and a decode batch of 2: the cache-joining and its absence agree
    small = score(tiny_lm, questions, phrasing, mode="fast", batch_size=1, decode_batch=2)
    _same(faithful, small)


def test_answer_settled_never_changes_the_answer(tiny_lm):
    """Property: whenever a generated prefix is 'settled', the full response has the same parsed
    answer, answer character and answer token index."""
    tok = tiny_lm.tokenizer
    pieces = ["A", "B", "C", "D", ".", " ", "\n", "A.", " B", "red", " Paris", "'s", "..", "é", "DNA"]
    options = ("red", "blue", "x y", "Paris")
    rng = random.Random(1)
    settled_seen = 0
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(2, 12)))
        ids = tok.encode(text, add_special_tokens=False)
        full = tok.decode(ids, skip_special_tokens=True)
        want = (grading.parse_answer(full, 4, options), grading.answer_char_index(full, options))
        for k in range(1, len(ids)):
            if hf.answer_settled(tok, ids[:k], 4):
                part = tok.decode(ids[:k], skip_special_tokens=True)
                got = (grading.parse_answer(part, 4, options), grading.answer_char_index(part, options))
                assert got == want, (text, k)
                assert answer_token_index(tok, part, got[1]) == answer_token_index(tok, full, want[1]), (text, k)
                settled_seen += 1
                break
    assert settled_seen >= 50


def test_no_early_stop_without_pre_tokenizer(tiny_lm):
    class NoPreTokenizer:
        backend_tokenizer = type("B", (), {"normalizer": None, "pre_tokenizer": None})()

    assert hf.early_stop_supported(tiny_lm.tokenizer)
    assert not hf.early_stop_supported(NoPreTokenizer())
    assert not hf.early_stop_supported(object())


def test_out_of_memory_halves_the_batch(tiny_lm, monkeypatch):
    questions = tiny_questions(8)
    expected = score(tiny_lm, questions, "first", batch_size=8)
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
        got = score(tiny_lm, questions, "first", batch_size=8)
    _same(expected, got)
    assert seen.count(8) == 1 and 4 in seen


@pytest.mark.parametrize("mode", hf.MODES)
def test_other_runtime_errors_propagate(tiny_lm, monkeypatch, mode):
    def forward(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(tiny_lm.model, "forward", forward)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        score(tiny_lm, tiny_questions(2), "first", mode=mode)


def test_unknown_mode_and_bad_batch_sizes(tiny_lm):
    with pytest.raises(ScoringError, match="unknown mode 'quick'; valid: fast, faithful"):
        HFBackend(tiny_lm, mode="quick")
    for bad in ({"batch_size": 0}, {"decode_batch": 0}):
        with pytest.raises(ScoringError, match="must be >= 1"):
            HFBackend(tiny_lm, **bad)


def test_tokenizer_setup(tiny_lm):
    assert tiny_lm.tokenizer.padding_side == "left"
    assert tiny_lm.tokenizer.pad_token == tiny_lm.tokenizer.eos_token  # none was defined
    assert tiny_lm.spec.kind == "folder" and tiny_lm.spec.revision.startswith("files:")
    assert tiny_lm.eos_ids == [tiny_lm.tokenizer.eos_token_id]
    assert all("." in tiny_lm.tokenizer.decode([i]) for i in tiny_lm.dot_tokens)


# ----------------------------------------------------------------------------- the paper's special cases

def test_falcon_gets_the_raw_prompt_without_its_last_character(tiny_lm):
    q = tiny_questions(1)[0]
    as_falcon = dataclasses.replace(tiny_lm, spec=dataclasses.replace(
        tiny_lm.spec, kind="hub", model_id="tiiuae/falcon-7b-instruct"))
    first = hf.prompt_text(as_falcon, q, "first")
    assert first == prompts.build_prompt(q, "first")[:-1] and first.endswith("Response:\n")
    assert hf.prompt_text(as_falcon, q, "second") == prompts.build_prompt(q, "second")
    # the same tokenizer as a local folder: chat template applied, nothing dropped
    assert hf.prompt_text(tiny_lm, q, "first") == prompts.chat_text(
        tiny_lm.tokenizer, prompts.build_prompt(q, "first"))
    # a local folder named like a paper checkpoint is not one of the paper's models
    named = dataclasses.replace(tiny_lm, spec=dataclasses.replace(tiny_lm.spec, model_id="tiiuae/falcon-7b-instruct"))
    assert hf.prompt_text(named, q, "first") == hf.prompt_text(tiny_lm, q, "first")


# ----------------------------------------------------------------------------- one-shot and loading

def test_one_shot_prompts_carry_the_example(tiny_lm):
    questions = tiny_questions(4)
    examples = {q.question_id: questions[(i + 1) % 4] for i, q in enumerate(questions)}
    zero = hf.prompt_ids(tiny_lm, questions, "first")
    one = hf.prompt_ids(tiny_lm, questions, "first", examples)
    text = tiny_lm.tokenizer.decode(one[0])
    assert "Example question:" in text and "Correct response: " in text and len(one[0]) > len(zero[0])
    faithful = score(tiny_lm, questions, "first", examples, mode="faithful")
    fast = score(tiny_lm, questions, "first", examples, mode="fast")
    _same(faithful, fast)


def test_loading_writes_nothing_to_stderr(tiny_model_dir, capfd):
    lm = hf.load_model(tiny_model_dir, device="cpu")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert isinstance(lm.load_warnings, list)
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()  # restored afterwards


def test_loading_in_a_notebook_writes_nothing_to_stderr(tiny_model_dir):
    """In a Jupyter kernel (as in the own-model chapter, whose runner fails on any stderr output)."""
    import nbformat
    from nbclient import NotebookClient

    code = f"from helpers.scoring.hf import load_model\nlm = load_model({str(tiny_model_dir)!r}, device='cpu')"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, kernel_name="python3", timeout=600).execute()
    assert [o.get("text", "") for o in nb.cells[0].outputs if o.get("name") == "stderr"] == []


def test_load_errors_are_scoring_errors(tiny_model_dir):
    for bad, message in (({"device": "tpu"}, "unknown device 'tpu'"), ({"dtype": "float8"}, "unknown dtype 'float8'")):
        with pytest.raises(ScoringError, match=message):
            hf.load_model(tiny_model_dir, **bad)


# ----------------------------------------------------------------------------- a real model

@pytest.mark.slow
def test_smollm2_faithful_equals_fast(datasets_dir, tmp_path):
    lm = hf.load_model(smollm2_gguf(), device="cpu", models_dir=tmp_path)
    assert lm.spec.name == "SmolLM2-135M-Instruct" and lm.spec.revision.startswith("sha256:")
    (converted,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]  # converted once, here
    assert converted.name.startswith("SmolLM2-135M-Instruct.Q4_1-") and (converted / "config.json").is_file()
    from helpers.data.datasets import load_questions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        questions = load_questions("arc", source=datasets_dir, limit=10) + \
            load_questions("winogrande", source=datasets_dir, limit=10)
    for phrasing in TEMPLATES:
        fast = score(lm, questions, phrasing, mode="fast", batch_size=8)
        faithful = score(lm, questions, phrasing, mode="faithful", batch_size=8)
        _same(faithful, fast)
        assert sum(r["grade"] != "unparseable" for r in fast) >= 15
