"""Fixtures of the tests that need vLLM (marker ``vllm``): they run in the separate environment
``.venv-vllm`` (``make vllm-test``, called by ``make test``), against a real vLLM engine and a real
OpenAI-compatible vLLM server on 127.0.0.1, and compare with the hf backend on SmolLM2-135M-Instruct
(float32) on the first 20 ARC questions. Without vLLM they fail, naming the environment to use."""

from __future__ import annotations

import importlib.util
import warnings

import pytest

from vllm_common import N_QUESTIONS, PHRASING


@pytest.fixture(scope="session", autouse=True)
def vllm_installed():
    if importlib.util.find_spec("vllm") is None:
        pytest.fail("vLLM is not installed in this environment: these tests run in .venv-vllm "
                    "(make vllm-test)")


@pytest.fixture(scope="session")
def smollm2_folder():
    """SmolLM2-135M-Instruct as a float32 transformers folder (converted once from its GGUF file)."""
    from helpers.scoring.hf import converted_gguf
    from helpers.scoring.specs import smollm2_gguf

    return converted_gguf(smollm2_gguf())


@pytest.fixture(scope="session")
def questions(datasets_dir):
    from helpers.data.datasets import load_questions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_questions("arc", source=datasets_dir, limit=N_QUESTIONS)


@pytest.fixture(scope="session")
def hf_records(smollm2_folder, questions):
    """The hf backend's records (fast mode, float32, one thread: it shares the CPU with the engine)."""
    import torch

    from helpers.scoring import runner
    from helpers.scoring.hf import load_backend

    torch.set_num_threads(1)
    backend = load_backend(smollm2_folder, device="cpu", dtype="float32")
    return runner.score_questions(backend, questions, PHRASING)
