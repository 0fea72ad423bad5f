"""The seam between runner and engine (``helpers.scoring.backend``): the registry, and the Backend
protocol as the runner relies on it, checked by behaviour on the hf backend with the tiny model."""

from __future__ import annotations

import json
import math

import pytest
import torch

from helpers.scoring import backend as backend_mod
from helpers.scoring import runner
from helpers.scoring.backend import Answer, Backend, OutOfMemory, Request, get_backend
from helpers.scoring.hf import MODES, HFBackend, prompt_ids
from helpers.scoring.specs import ScoringError
from tiny_model import tiny_questions


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(ScoringError, match=r"unknown backend 'nope'; known backends: hf, openai, vllm$"):
        get_backend("nope", "org/model", mode="fast")


def make_fake(model, **options):
    """A backend factory for the registry test: records what it was called with."""
    return {"model": model, **options}


def test_registry_entries_are_module_and_factory(monkeypatch):
    monkeypatch.setitem(backend_mod.BACKENDS, "fake", f"{__name__}:make_fake")
    assert get_backend("fake", "m", batch_size=3) == {"model": "m", "batch_size": 3}
    with pytest.raises(ScoringError, match="known backends: fake, hf, openai, vllm"):
        get_backend("nope", "m")


def test_hf_backend_from_the_registry(tiny_model_dir):
    scorer = get_backend("hf", tiny_model_dir, mode="faithful", batch_size=3, device="cpu")
    assert isinstance(scorer, HFBackend) and isinstance(scorer, Backend)
    assert scorer.name == "hf" and scorer.batch_size == 3 and scorer.mode == "faithful"
    assert scorer.spec.kind == "folder" and scorer.spec.name == tiny_model_dir.name
    fast = get_backend("hf", tiny_model_dir, batch_size=3, decode_batch=16, device="cpu")
    assert fast.mode == "fast" and fast.batch_size == 16  # fast mode decodes more answers at once


@pytest.mark.parametrize("mode", MODES)
def test_hf_backend_keeps_the_protocol(tiny_lm, mode):
    """What the runner relies on: ``prepare`` gives an order (a permutation of the requests), and
    ``answer`` one :class:`Answer` per request, in order, whatever the batch it comes in."""
    questions = tiny_questions(10)
    requests = [Request(q, "first") for q in questions]
    scorer = HFBackend(tiny_lm, mode=mode, batch_size=4)
    order = scorer.prepare(requests)
    assert sorted(order) == list(range(len(requests)))
    if mode == "faithful":
        assert order == list(range(len(requests)))  # the paper's order (fast mode: see the next test)
    whole = scorer.answer([requests[i] for i in order])
    assert len(whole) == len(requests) and all(isinstance(a, Answer) for a in whole)
    for i, a in zip(order, whole):
        n = len(questions[i].options)
        assert isinstance(a.response, str) and isinstance(a.answer_token, int) and a.answer_token >= -1
        assert isinstance(a.msp, float) and isinstance(a.max_logit, float)
        assert len(a.letter_probs) == n and all(isinstance(p, float) for p in a.letter_probs)
        if a.answer_token < 0:
            assert a.msp == 0 and a.max_logit == 0 and all(math.isnan(p) for p in a.letter_probs)
        else:
            assert 0 < a.msp <= 1 and math.isfinite(a.max_logit)
            assert all(0 <= p <= a.msp + 1e-6 for p in a.letter_probs)  # MSP is the max over the vocabulary
            assert sum(a.letter_probs) <= 1 + 1e-6
        rec = runner.record(questions[i], a)  # the runner grades it
        assert rec["qid"] == i and rec["grade"] in ("correct", "wrong", "unparseable")
    # batches of any size, in the prepared order, give the same answers
    pieces = [a for start in range(0, len(order), 3)
              for a in scorer.answer([requests[i] for i in order[start:start + 3]])]
    for x, y in zip(whole, pieces, strict=True):
        assert (x.response, x.answer_token) == (y.response, y.answer_token)
        assert x.msp == pytest.approx(y.msp, abs=1e-5)
    # requests never prepared are answered too (prepared on the way)
    fresh = HFBackend(tiny_lm, mode=mode, batch_size=4).answer([requests[order[0]]])
    assert fresh[0].response == whole[0].response


def test_prepare_orders_fast_mode_by_prompt_length(tiny_lm):
    questions = tiny_questions(10)
    requests = [Request(q, "second") for q in questions]
    scorer = HFBackend(tiny_lm, mode="fast")
    order = scorer.prepare(requests)
    lengths = [len(ids) for ids in prompt_ids(tiny_lm, questions, "second")]
    assert [lengths[i] for i in order] == sorted(lengths)
    assert scorer.prepare([]) == []


def test_key_settings_and_record_extras(tiny_lm):
    scorer = HFBackend(tiny_lm, mode="faithful")
    assert scorer.key_settings() == {"dtype": "auto", "load_in_4bit": False}
    extras = scorer.record_extras()
    assert extras == {"model_id": tiny_lm.spec.model_id, "revision": tiny_lm.spec.revision, "mode": "faithful",
                      "dtype": "float32", "device": "cpu"}
    json.dumps([scorer.key_settings(), extras])  # both go into JSON manifests and parquet columns


def test_hf_backend_reports_out_of_memory_as_such(tiny_lm, monkeypatch):
    def forward(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    scorer = HFBackend(tiny_lm, mode="faithful")
    requests = [Request(q, "first") for q in tiny_questions(2)]
    scorer.prepare(requests)
    monkeypatch.setattr(tiny_lm.model, "forward", forward)
    with pytest.raises(OutOfMemory, match="CUDA out of memory"):
        scorer.answer(requests)


def test_every_registered_backend_is_a_module_and_factory():
    import importlib

    assert sorted(backend_mod.BACKENDS) == ["hf", "openai", "vllm"]
    for entry in backend_mod.BACKENDS.values():
        module, factory = entry.split(":")
        assert callable(getattr(importlib.import_module(module), factory))  # vllm imports the engine lazily


def test_the_vllm_backend_without_vllm_says_where_it_runs():
    """The book's environment has no vLLM distribution: the backend names the environment to use."""
    from helpers.scoring.vllm import engine_version

    with pytest.raises(ScoringError, match="make vllm-env"):
        engine_version()
