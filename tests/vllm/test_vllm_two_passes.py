"""The vllm backend's two passes (a log-probabilities engine, then a raw-logits engine) against the hf
backend on the same 20 questions. The engines run in worker processes
(``VLLM_ENABLE_V1_MULTIPROCESSING=1``), the case where the one-pass logits processor cannot report,
so the backend's automatic choice is tested too."""

from __future__ import annotations

import os

import numpy as np
import pytest

from helpers.scoring import runner
from helpers.scoring.specs import smollm2_gguf

from vllm_common import PHRASING, assert_agrees_with_hf

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def backend(hf_records):
    # the reference comes first: once started, the engines bind this process's threads
    from helpers.scoring.vllm import load_backend

    before = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1"
    try:
        engine = load_backend(str(smollm2_gguf()))  # signals="auto"
        yield engine
        engine.close()
    finally:
        if before is None:
            os.environ.pop("VLLM_ENABLE_V1_MULTIPROCESSING")
        else:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = before


@pytest.fixture(scope="module")
def vllm_records(backend, questions):
    return runner.score_questions(backend, questions, PHRASING)


def test_worker_processes_get_two_passes_in_the_key(backend):
    assert backend.signals == "two passes" and backend.logit_llm is not None
    assert backend.key_settings()["signals"] == "two passes"


def test_two_passes_give_the_grades_and_confidences_of_hf(vllm_records, hf_records, questions):
    assert_agrees_with_hf(vllm_records, hf_records, questions, "vllm two passes vs hf")
    answered = [r for r in vllm_records if r["answer_token"] >= 0]
    assert len(answered) >= 15
    # Max Logit is a raw logit, not a log-probability: positive here, and above log(MSP)
    assert all(float(r["max_logit"]) > 0 > np.log(float(r["msp"])) for r in answered)
