"""The backend-independent pieces: the vLLM-loadable folder, token spans, the lm-eval split."""

from __future__ import annotations

import json
import math

import pytest

from helpers.scoring_vllm_draft import answers, folder, likelihood


# ----------------------------------------------------------------------------- model folder

def _saved(path, config: dict):
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    (path / "model.safetensors").write_bytes(b"weights")
    (path / "tokenizer.json").write_text("{}")
    return path


def test_clean_folder_is_used_as_it_is(tmp_path):
    src = _saved(tmp_path / "m", {"model_type": "llama"})
    assert folder.vllm_model_folder(src) == src.resolve()
    assert not folder.needs_copy(src)


def test_quantization_config_is_dropped_in_a_linked_copy(tmp_path):
    src = _saved(tmp_path / "m", {"model_type": "llama", "quantization_config": {"quant_method": "gguf"},
                                  "vocab_size": 7})
    assert folder.needs_copy(src)
    out = folder.vllm_model_folder(src)
    assert out == tmp_path / "m-vllm"
    assert json.loads((out / "config.json").read_text()) == {"model_type": "llama", "vocab_size": 7}
    assert (out / "model.safetensors").read_bytes() == b"weights"
    assert (out / "model.safetensors").stat().st_ino == (src / "model.safetensors").stat().st_ino  # linked
    assert "quantization_config" in json.loads((src / "config.json").read_text())  # source untouched
    mtime = (out / "config.json").stat().st_mtime_ns
    assert folder.vllm_model_folder(src) == out and (out / "config.json").stat().st_mtime_ns == mtime
    assert not list(tmp_path.glob("*.partial"))


def test_folder_errors(tmp_path):
    with pytest.raises(folder.ModelFolderError, match="no config.json"):
        folder.vllm_model_folder(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(folder.ModelFolderError, match="not valid JSON"):
        folder.vllm_model_folder(tmp_path)


def test_converted_smollm2_loads_without_copy(converted_dir, vllm_dir):
    assert "quantization_config" not in json.loads((converted_dir / "config.json").read_text())
    assert vllm_dir == converted_dir.resolve()


# ----------------------------------------------------------------------------- token spans

def test_spans_of_plain_tokens_and_eos():
    pieces = ["B", ".", " The", " sun", "<|im_end|>"]
    spans = answers.token_spans(pieces, "B. The sun")
    assert spans == [(0, 1), (1, 2), (2, 6), (6, 10), (10, 10)]
    assert answers.token_at(spans, 0) == 0 and answers.token_at(spans, 7) == 3
    assert answers.token_at(spans, -1) == -1 and answers.token_at(spans, 10) == -1


def test_split_character_belongs_to_the_token_with_its_first_byte():
    # "é" split over two tokens that each decode to U+FFFD on their own
    text = "caf\u00e9 A. x"
    pieces = ["caf", "\ufffd", "\ufffd", " A", ".", " x"]
    spans = answers.token_spans(pieces, text)
    assert spans[1] == (3, 4) and spans[2] == (4, 4)
    assert spans[3] == (4, 6) and answers.token_at(spans, text.index("A.")) == 3
    mixed = ["ca", "f\ufffd", "\ufffd A", ".", " x"]
    spans = answers.token_spans(mixed, text)
    assert answers.token_at(spans, text.index("A.")) == 2
    assert answers.token_at(spans, 3) == 1


def test_sentencepiece_pieces_without_leading_spaces():
    spans = answers.token_spans(["I", "think", "C", "."], "I think C.")
    assert answers.token_at(spans, "I think C.".index("C.")) == 2
    assert spans[1] == (1, 7)


def test_answer_position_follows_methods_6():
    opts = ("red", "blue", "green")
    tokens = ["The", " answer", " is", " B", ".", "<|im_end|>"]
    response = "The answer is B."
    assert answers.answer_position(response, tokens, opts) == (14, 3)
    assert answers.answer_position(response, tokens, opts, first_token=True) == (14, 0)
    assert answers.answer_position("none", ["none"], opts) == (-1, -1)
    # no "X.": the option text or bare letter that comes first ("A" of "Answer" here)
    assert answers.answer_position("Answer: blue", ["Answer", ":", " blue"], opts) == (0, 0)


def test_exp32_saturates_like_float32():
    assert answers.exp32(-1e-9) == 1.0 and answers.exp32(float("-inf")) == 0.0
    assert answers.exp32(math.log(0.25)) == pytest.approx(0.25, rel=1e-7)


# ----------------------------------------------------------------------------- lm-eval split

def test_context_whitespace_moves_to_the_continuation():
    assert likelihood.split_context("Q?\nassistant\n", "Paris") == ("Q?\nassistant", "\nParis")
    assert likelihood.split_context("Answer:", " Paris") == ("Answer:", " Paris")


def test_encode_pair_on_the_chat_prompt(tf_lm, questions):
    from helpers import prompts

    tok = tf_lm.tokenizer
    context = prompts.chat_text(tok, prompts.build_prompt(questions[0], "first"))
    assert context.endswith("<|im_start|>assistant\n")
    ctx, cont = likelihood.encode_pair(tok, context, questions[0].options[0])
    assert ctx + cont == tok(context + questions[0].options[0])["input_ids"]
    assert ctx == tok(context.rstrip())["input_ids"]
    assert tok.decode(cont) == "\n" + questions[0].options[0]


def test_option_score_normalises_by_characters():
    s = likelihood.OptionScore("abcd", (1, 2), (-1.0, -3.0), False)
    assert s.total == -4.0 and s.normalised == -1.0
    t = likelihood.OptionScore("ab", (3,), (-3.0,), True)
    assert likelihood.choice([s, t]) == 1 and likelihood.choice([s, t], normalised=True) == 0
