"""Fixtures of the vLLM backend tests. They run in the vLLM environment (``make vllm-test``), against
a real engine and real servers on 127.0.0.1, and compare with the book's transformers scoring of
SmolLM2-135M-Instruct (float32) on the first 20 ARC questions. Without vLLM installed (the book's
environment) this folder is not collected."""

from __future__ import annotations

import importlib.util
import warnings

import pytest
from draft_common import N_QUESTIONS, PHRASING

if importlib.util.find_spec("vllm") is None:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def converted_dir():
    """SmolLM2-135M-Instruct as a float32 transformers folder (converted once from its GGUF file)."""
    from helpers.scoring import converted_gguf, smollm2_gguf

    return converted_gguf(smollm2_gguf())


@pytest.fixture(scope="session")
def vllm_dir(converted_dir):
    from helpers.scoring_vllm_draft.folder import vllm_model_folder

    return vllm_model_folder(converted_dir)


@pytest.fixture(scope="session")
def questions(datasets_dir):
    from helpers.datasets import load_questions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_questions("arc", source=datasets_dir, limit=N_QUESTIONS)


@pytest.fixture(scope="session")
def tf_lm(converted_dir):
    """The transformers model, run on one thread: the reference shares the CPU with vLLM's engine
    and servers, and OpenMP threads waiting for each other on a shared CPU are slower than one."""
    import torch

    from helpers.scoring import load_model

    torch.set_num_threads(1)
    return load_model(converted_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tf_records(tf_lm, questions):
    """The book's own scoring (transformers, fast mode) of the questions."""
    from helpers.scoring import score_questions

    return score_questions(tf_lm, questions, PHRASING, mode="fast")


@pytest.fixture(scope="session")
def tf_options(tf_lm, questions):
    """Option log-likelihoods by a transformers forward pass (``tf_reference.option_logprobs``)."""
    from tf_reference import option_logprobs

    from helpers import prompts

    contexts = [prompts.chat_text(tf_lm.tokenizer, prompts.build_prompt(q, PHRASING)) for q in questions]
    return option_logprobs(tf_lm, contexts, [q.options for q in questions])


@pytest.fixture(scope="session")
def letter_ids(tf_lm):
    from helpers.scoring import check_letters

    return check_letters(tf_lm.tokenizer, 5)
