"""The seam between the runner and an engine: what the runner asks of a backend, and the registry.

A backend answers the paper's prompts greedily and reports, per prompt, the response and the
confidence at the token that carries the answer (METHODS §4-§6); the runner (``scoring.runner``)
batches, grades, caches and shows progress, and knows no engine. In the spirit of
lm-evaluation-harness's ``LM`` interface, one module per engine: ``scoring.hf`` (Hugging Face
``transformers``), ``scoring.vllm`` (vLLM's offline engine), ``scoring.openai`` (any OpenAI-compatible
chat endpoint). :func:`get_backend` answers an unknown name with the list of known ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from helpers.data.datasets import Question
from helpers.scoring.specs import ModelSpec, ScoringError


@dataclass(frozen=True)
class Request:
    """One prompt to answer: a question in one phrasing, zero-shot or with a one-shot example."""

    question: Question
    phrasing: str
    example: Question | None = None


@dataclass(frozen=True)
class Answer:
    """A backend's answer to one request (METHODS §6).

    ``response``: the generated text (special tokens skipped); ``answer_token``: index of the token
    carrying the answer, −1 when none was found; ``msp`` and ``max_logit`` at that token (0 when none;
    ``max_logit`` NaN when the engine exposes no logits); ``letter_probs``: the probabilities of the
    option letters A, B, … there (NaN when none); ``option_logliks``: each option's summed
    log-likelihood after the prompt (``scoring.likelihood``), empty when the backend does not compute
    them; ``system_fingerprint``: the server's, for a remote backend.
    """

    response: str
    answer_token: int
    msp: float
    max_logit: float
    letter_probs: tuple[float, ...]
    option_logliks: tuple[float, ...] = ()
    system_fingerprint: str | None = None


class OutOfMemory(RuntimeError):
    """A batch did not fit in the device's memory; the runner retries it in halves."""


@runtime_checkable
class Backend(Protocol):
    """What the runner needs from an engine."""

    #: registry name ('hf', 'vllm', 'openai')
    name: str
    #: the model being scored (its readable name, id and revision key the cache)
    spec: ModelSpec
    #: how many requests the runner passes to :meth:`answer` at once (halved on :class:`OutOfMemory`)
    batch_size: int
    #: the most tokens an answer may have (METHODS §4); the runner sets it and records it in the key
    max_new_tokens: int

    def key_settings(self) -> dict:
        """The engine's settings that change answers (they enter the cache key): every backend but
        ``hf`` names itself (``backend``), its engine and version (``engine``) and its numeric settings,
        so an answer is never reused across backends; ``hf`` keeps its original keys."""

    def record_extras(self) -> dict:
        """Columns stored with every answer (model id, revision, engine mode, dtype, device, ...)."""

    def prepare(self, requests: Sequence[Request]) -> list[int]:
        """Called once with all requests of a run before any :meth:`answer`: the order in which to
        answer them (indices into ``requests``); may precompute what every batch shares."""

    def answer(self, requests: Sequence[Request]) -> list[Answer]:
        """Answer one batch, in order; raises :class:`OutOfMemory` when it does not fit."""


#: backend name -> "module:factory" of a callable ``factory(model, **options) -> Backend``
BACKENDS = {"hf": "helpers.scoring.hf:load_backend", "vllm": "helpers.scoring.vllm:load_backend",
            "openai": "helpers.scoring.openai:load_backend"}


def get_backend(backend: str, model: str, **options) -> Backend:
    """The backend named ``backend`` loaded for ``model`` with its ``options``; an unknown name raises
    :class:`ScoringError` listing the known ones."""
    if backend not in BACKENDS:
        raise ScoringError(f"unknown backend {backend!r}; known backends: {', '.join(sorted(BACKENDS))}")
    module, factory = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), factory)(model, **options)
