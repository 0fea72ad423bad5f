"""A tiny Llama-architecture chat model with random weights and a byte-level BPE tokenizer trained in
memory, saved to a temporary folder: the offline stand-in for a Hugging Face model in the scoring tests.

Shared by the tests of tests/scoring and tests/faces (``tests/`` is on ``sys.path``: ``from tiny_model import ...``).

``lean`` scales the output rows of a few tokens (option letters, ".", EOS) so that greedy answers
often contain ``"X."`` and stop; with ``lean=0`` the model answers gibberish.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.data.datasets import Question

CHAT_TEMPLATE = ("{% for m in messages %}<|user|>\n{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")

CORPUS = [
    "Below is a multiple-choice question. Choose the letter which best answers the question.",
    "Keep your response as brief as possible; just state the letter corresponding to your answer,",
    "followed by a period, with no explanation. Question: Response: Answer:",
    "You will be asked a multiple-choice question. Respond with the letter which corresponds to the "
    "correct answer, followed by a period. There is no need to provide an explanation, so your "
    "response should be very short. Now here is the question:",
    "A. B. C. D. E. The answer is A. The answer is B. I think C. Maybe D. red green blue yellow",
    "Which colour is the sky? What is two plus two? Paris London Rome Madrid four five six seven",
]


def build_tiny_model(folder: Path, *, lean: float = 4.0, seed: int = 0) -> Path:
    """Train the tokenizer, initialise the model and save both (with a chat template) to ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>", "<|user|>", "<|assistant|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(CORPUS * 3, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = CHAT_TEMPLATE

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        favoured = [tokenizer.convert_tokens_to_ids(t) for t in ["A", "B", "C", "D", ".", "</s>"]]
        model.lm_head.weight[favoured] *= lean if lean else 1.0
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_questions(n: int = 12, dataset: str = "arc") -> list[Question]:
    """Synthetic questions with 2 to 5 options (positions 0..n-1)."""
    stems = ["Which colour is the sky?", "What is two plus two?", "Where is Paris?",
             "Pick the largest number.", "Which city is in Italy?"]
    pool = ["red", "green", "blue", "yellow", "four", "five", "six", "London", "Rome", "Madrid"]
    out = []
    for i in range(n):
        k = 2 + i % 4
        options = tuple(pool[(i + j) % len(pool)] for j in range(k))
        out.append(Question(dataset, f"{dataset}/test/{i}", i, stems[i % len(stems)] + " " * (i % 3),
                            options, i % k))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A saved tiny model leaning towards letter answers."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    from helpers.scoring.hf import load_model

    return load_model(tiny_model_dir, device="cpu")
