"""The prompts character for character against METHODS §3, and chat formatting with a real tokenizer.
(The template hash that keys the cache is tested with the templates, in tests/data/test_method.py.)"""

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from helpers.data.datasets import Question
from helpers.scoring.prompts import build_prompt, chat_text, question_block

Q = Question("arc", "arc/test/x", 0, "What is 2+2?", ("3", "4", "5"), 1)
EX = Question("arc", "arc/test/y", 1, "Pick red.", ("blue", "red"), 1)
Q_BLOCK = "What is 2+2?\nA. 3\nB. 4\nC. 5"
EX_BLOCK = "Pick red.\nA. blue\nB. red"

# METHODS §3, copied verbatim (Python repr), with {Q} to fill
FIRST = ('Below is a multiple-choice question. Choose the letter which best answers the question. Keep your '
         'response as brief as possible; just state the letter corresponding to your answer, followed by a '
         'period, with no explanation. \n\nQuestion:\n            \n{Q}\n\nResponse:\n\n')
SECOND = ('You will be asked a multiple-choice question. Respond with the letter which corresponds to the '
          'correct answer, followed by a period. There is no need to provide an explanation, so your '
          'response should be very short. Now here is the question:\n\n{Q}\n\nAnswer:\n')
ONE_SHOT = ('\n\nFirst, here is an example question and the corresponding correct response.\n\nExample '
            'question:\n{Q_ex}\nCorrect response: {letter}.\n\nNow for the actual question:')


def test_question_block():
    assert question_block(Q) == Q_BLOCK
    five = Question("arc", "arc/test/z", 2, "Q", ("a", "b", "c", "d", "e"), 4)
    assert question_block(five) == "Q\nA. a\nB. b\nC. c\nD. d\nE. e"


def test_zero_shot_prompts_verbatim():
    assert build_prompt(Q, "first") == FIRST.replace("{Q}", Q_BLOCK)
    assert build_prompt(Q, "second") == SECOND.replace("{Q}", Q_BLOCK)
    first = build_prompt(Q, "first")
    assert "no explanation. \n\nQuestion:\n" + " " * 12 + "\n" + Q_BLOCK in first
    assert first.endswith("\n\nResponse:\n\n")
    assert build_prompt(Q, "second").endswith("C. 5\n\nAnswer:\n")


def test_one_shot_prompts_verbatim():
    shot = ONE_SHOT.replace("{Q_ex}", EX_BLOCK).replace("{letter}", "B")
    first = FIRST.replace("\n\nQuestion:", shot).replace("{Q}", Q_BLOCK)
    second = SECOND.replace("Now here is the question:", shot).replace("{Q}", Q_BLOCK)
    assert build_prompt(Q, "first", EX) == first
    assert build_prompt(Q, "second", EX) == second
    assert "very short. \n\nFirst, here is an example" in second
    assert "Correct response: B.\n\nNow for the actual question:\n            \nWhat is 2+2?" in first


def test_falcon_7b_drops_the_last_character_of_the_first_phrasing_only():
    plain = build_prompt(Q, "first")
    assert build_prompt(Q, "first", model="Falcon-7b") == plain[:-1]
    assert build_prompt(Q, "first", model="Falcon-7b").endswith("Response:\n")
    assert build_prompt(Q, "first", model="Falcon-40b") == plain
    assert build_prompt(Q, "second", model="Falcon-7b") == build_prompt(Q, "second")


def test_unknown_phrasing():
    with pytest.raises(ValueError, match="'third'.*first, second"):
        build_prompt(Q, "third")


@pytest.fixture(scope="module")
def tokenizer_without_template():
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([Q_BLOCK, FIRST], trainers.WordLevelTrainer(special_tokens=["[UNK]", "<s>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="<s>")


def _with_template(tokenizer):
    tok = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer, unk_token="[UNK]",
                                  bos_token="<s>")
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
                         "<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    return tok


def test_chat_text_is_one_user_turn_with_generation_prompt(tokenizer_without_template):
    tok = _with_template(tokenizer_without_template)
    prompt = build_prompt(Q, "first")
    assert chat_text(tok, prompt) == "<s><|user|>\n" + prompt + "<|end|>\n<|assistant|>\n"


def test_chat_text_without_template_warns_and_returns_the_prompt(tokenizer_without_template):
    prompt = build_prompt(Q, "second")
    with pytest.warns(UserWarning, match="no chat template"):
        assert chat_text(tokenizer_without_template, prompt) == prompt
