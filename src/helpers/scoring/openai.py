"""The OpenAI-compatible backend: answers and confidences from any chat-completions endpoint.

This is how the paper scored GPT-3.5 and GPT-4 (the authors' ``openai_generate.py``): each prompt is
one user message to ``POST {base_url}/chat/completions`` with ``temperature: 0, max_tokens: 100,
logprobs: true, top_logprobs: 5, top_p: 0`` and a fixed seed; MSP = exp(logprob) of the token that
carries the answer, no Max Logit. It works with OpenAI itself, vLLM's server
(``python -m vllm.entrypoints.openai.api_server``), SGLang and llama.cpp's server.

- ``top_p: 0`` is the paper's; servers that accept only ``0 < top_p <= 1`` (vLLM) answer it with
  400. The backend then sends :data:`TOP_P_FALLBACK`, the closest accepted value (under
  ``temperature: 0`` decoding is greedy either way), and records the value sent in the cache key.
- The answer token: the response's ``logprobs.content`` lists the generated tokens' texts; the
  character carrying the answer (``grading.answer_char_index``) is located in those texts laid end to
  end (:func:`token_spans`), its token's value read there, the option letters' among its
  ``top_logprobs`` (NaN when not among them).
- The values are log-probabilities, or raw logits from a vLLM server run with ``--logprobs-mode
  raw_logits``; nothing in a response says which, so the user does (``logprobs_are``). Log-
  probabilities: MSP = exp(value) in float32, Max Logit NaN (as for the paper's GPT). Raw logits:
  Max Logit = the value, MSP NaN.
- Requests run ``concurrency`` at a time. 429, 5xx, time-outs and refused or dropped connections are
  retried with exponential back-off (``Retry-After`` honoured) up to ``max_retries`` times; 401/403 and
  404 (a wrong model name or base URL) raise at once with a message saying what to fix. Each answer
  keeps the server's ``system_fingerprint``.
- No option likelihood: a chat endpoint returns no log-probabilities of given text.

Standard library only.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from helpers.data.method import LETTERS, MAX_NEW_TOKENS, SEED
from helpers.scoring import grading, prompts
from helpers.scoring.backend import Answer, Request
from helpers.scoring.specs import ModelSpec, ScoringError, readable_name

VALUES = ("logprobs", "raw_logits")
TOP_LOGPROBS = 5
PAPER_TOP_P = 0
#: sent instead of ``top_p: 0`` to servers that refuse it: the closest value they accept
TOP_P_FALLBACK = 1e-9
RETRY_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
NAN = float("nan")
REPLACEMENT = "\ufffd"  # how a token holding part of a multi-byte character decodes on its own


class ClientError(ScoringError):
    """A request the server refused or never answered; ``status`` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status, self.body = status, body


class AuthenticationError(ClientError):
    """401/403: a missing or wrong API key."""


class ModelNotFoundError(ClientError):
    """The server serves no model of that name."""


class EndpointNotFoundError(ClientError):
    """404 for the path: the base URL is not an OpenAI-compatible ``/v1`` endpoint."""


class RetriesExhausted(ClientError):
    """A retryable failure (429, 5xx, time-out, connection) that outlasted the retries."""


def _message(body: str) -> str:
    try:
        err = json.loads(body).get("error", {})
        return err.get("message") if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        return body.strip()[:500]


def _names_model(body: str) -> bool:
    """True if a 404 body blames the model (vLLM: ``param: "model"``; OpenAI: ``code:
    "model_not_found"``), not the path (``{"detail": "Not Found"}``)."""
    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(err, dict) and (err.get("param") == "model" or err.get("code") == "model_not_found"
                                      or "model" in str(err.get("message", "")).lower())


class ChatClient:
    """HTTP client of one OpenAI-compatible server at ``base_url`` (ending in ``/v1``)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 300.0,
                 max_retries: int = 5, backoff: float = 1.0, max_backoff: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.api_key, self.timeout = api_key, timeout
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff

    def request(self, method: str, path: str, body: dict | None = None, *, model: str = "") -> dict:
        """One request, retried on 429/5xx/time-outs/connection errors with exponential back-off."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = self.base_url + path
        attempt = 0
        while True:
            wait, reason = None, ""
            try:
                req = urllib.request.Request(url, data=data, method=method, headers=headers)
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                text = exc.read().decode(errors="replace")
                status = exc.code
                if status in (401, 403):
                    raise AuthenticationError(f"{status} from {url}: {_message(text)} (check the API key: "
                                              "--api-key-env names the variable holding it)", status, text) from None
                if status == 404:
                    if _names_model(text):
                        raise ModelNotFoundError(f"model {model!r} is not served at {self.base_url}: "
                                                 f"{_message(text)} (check --model)", status, text) from None
                    raise EndpointNotFoundError(f"404 for {url}: {_message(text)} (is --base-url the "
                                                "server's /v1 endpoint?)", status, text) from None
                if status not in RETRY_STATUS:
                    raise ClientError(f"{status} from {url}: {_message(text)}", status, text) from None
                reason = f"HTTP {status}: {_message(text)}"
                after = exc.headers.get("Retry-After") if exc.headers else None
                if after and after.strip().isdigit():
                    wait = float(after)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    socket.timeout, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            except ValueError as exc:  # a 200 whose body is not JSON
                reason = f"malformed response: {exc}"
            if attempt >= self.max_retries:
                raise RetriesExhausted(f"{url}: {reason} (gave up after {attempt + 1} attempts; the answers "
                                       "finished so far are saved, run again to resume)")
            if wait is None:
                wait = min(self.max_backoff, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2)
            time.sleep(wait)
            attempt += 1

    def models(self) -> list[str]:
        """Ids of the models the server serves (``GET /v1/models``)."""
        return [m.get("id") for m in self.request("GET", "/models").get("data", [])]


def token_spans(pieces: Sequence[str], text: str) -> list[tuple[int, int]]:
    """The character span ``(start, end)`` in ``text`` of each token, given each token's own text.

    Tokens are laid end to end along ``text``. A token text that continues ``text`` at the current
    position covers it (with any whitespace ``text`` has there and the token text lacks). A token
    holding part of a multi-byte character (its text has U+FFFD) is placed once the next matching token
    is found, each split character going to the token holding its first byte. A token whose text is
    not there (EOS, absent from the response) gets an empty span.

    >>> token_spans(["B", ".", " The", "<|im_end|>"], "B. The")
    [(0, 1), (1, 2), (2, 6), (6, 6)]
    """
    spans: list[tuple[int, int] | None] = [None] * len(pieces)
    pos = 0
    pending: list[int] = []

    def place_pending(end: int) -> None:
        cursor, in_fragment = pos, False
        for k, i in enumerate(pending):
            start = cursor
            for ch in pieces[i]:
                if ch == REPLACEMENT:
                    if not in_fragment and cursor < end:
                        cursor += 1
                    in_fragment = True
                    continue
                in_fragment = False
                found = text.find(ch, cursor, end)
                if found != -1:
                    cursor = found + 1
            spans[i] = (start, end if k == len(pending) - 1 else cursor)
        pending.clear()

    for i, piece in enumerate(pieces):
        if not piece:
            spans[i] = (pos, pos)
            continue
        at = _match(text, piece, pos, slack=sum(len(pieces[j]) for j in pending) + 4 if pending else 0)
        if at is None:
            if REPLACEMENT in piece:
                pending.append(i)
            else:
                spans[i] = (pos, pos)
            continue
        if pending:
            place_pending(at)
            pos = at
        spans[i] = (pos, at + len(piece))
        pos = at + len(piece)
    if pending:
        place_pending(len(text))
    return [s if s is not None else (pos, pos) for s in spans]


def _match(text: str, piece: str, pos: int, slack: int) -> int | None:
    if text.startswith(piece, pos):
        return pos
    k = pos
    while k < len(text) and text[k].isspace():
        k += 1
    if k > pos and text.startswith(piece, k):
        return k
    if slack:
        found = text.find(piece, pos, pos + slack + len(piece))
        if found != -1:
            return found
    return None


def answer_token(pieces: Sequence[str], response: str, options: Sequence[str]) -> int:
    """Index of the generated token holding the character that carries the answer; -1 if none."""
    char = grading.answer_char_index(response, options)
    if char < 0:
        return -1
    return next((i for i, (a, b) in enumerate(token_spans(pieces, response)) if a <= char < b), -1)


def exp32(value: float) -> float:
    """exp in float32 (an MSP from a log-probability, saturating at 1.0 as the paper's float32 did)."""
    return float(np.exp(np.float32(value))) if math.isfinite(value) else 0.0


def parse_chat(body: dict, options: Sequence[str], logprobs_are: str = "logprobs") -> Answer:
    """An :class:`Answer` from a chat-completion response body (module docstring)."""
    try:
        choice = body["choices"][0]
        response = choice["message"].get("content") or ""
        content = (choice.get("logprobs") or {}).get("content") or []
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ClientError(f"unexpected response shape ({exc}): {str(body)[:300]}") from None
    pieces = [c.get("token", "") for c in content]
    idx = answer_token(pieces, response, options)
    raw = logprobs_are == "raw_logits"
    msp, max_logit, letters = (NAN, 0.0, (NAN,) * len(options)) if raw else (0.0, NAN, (NAN,) * len(options))
    if 0 <= idx < len(content):
        value = float(content[idx].get("logprob", NAN))
        top = {t.get("token"): float(t.get("logprob", NAN)) for t in content[idx].get("top_logprobs") or []}
        if raw:
            max_logit = value
        else:
            msp = exp32(value)
            letters = tuple(exp32(top[x]) if x in top else NAN for x in LETTERS[:len(options)])
    elif idx >= 0:
        idx = -1
    return Answer(response, idx, msp, max_logit, letters, (), body.get("system_fingerprint") or "")


class OpenAIBackend:
    """The :class:`~helpers.scoring.backend.Backend` of a model behind an OpenAI-compatible endpoint.

    On creation it checks that the server serves ``model`` (a clear error otherwise) and whether it
    accepts the paper's ``top_p: 0``. ``batch_size`` requests go to the runner's cache at a time,
    ``concurrency`` of them in flight.
    """

    name = "openai"

    def __init__(self, base_url: str, model: str, *, name: str | None = None, api_key: str | None = None,
                 logprobs_are: str = "logprobs", concurrency: int = 8, batch_size: int = 32,
                 max_new_tokens: int = MAX_NEW_TOKENS, seed: int = SEED, timeout: float = 300.0,
                 max_retries: int = 5, backoff: float = 1.0):
        if logprobs_are not in VALUES:
            raise ScoringError(f"--logprobs-are must be one of {', '.join(VALUES)}, got {logprobs_are!r}")
        if concurrency < 1 or batch_size < 1:
            raise ScoringError("concurrency and batch size must be >= 1")
        self.client = ChatClient(base_url, api_key=api_key, timeout=timeout, max_retries=max_retries,
                                 backoff=backoff)
        self.model, self.logprobs_are, self.seed = model, logprobs_are, seed
        self.concurrency, self.batch_size, self.max_new_tokens = concurrency, batch_size, max_new_tokens
        self.spec = ModelSpec(model, "endpoint", name or readable_name(model), "endpoint")
        served = self.client.models()
        if model not in served:
            raise ModelNotFoundError(f"model {model!r} is not served at {self.client.base_url}; it serves: "
                                     f"{', '.join(map(str, served)) or 'nothing'} (check --model)", 404)
        self.top_p = self._accepted_top_p()

    def _accepted_top_p(self) -> float:
        """The paper's ``top_p: 0`` if the server takes it, else :data:`TOP_P_FALLBACK`."""
        try:
            self.client.request("POST", "/chat/completions", {**self.body("Hi"), "max_tokens": 1}, model=self.model)
        except ClientError as exc:
            if exc.status == 400 and "top_p" in (exc.body or str(exc)):
                return TOP_P_FALLBACK
            raise
        return PAPER_TOP_P

    def body(self, prompt: str) -> dict:
        return {"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0,
                "top_p": getattr(self, "top_p", PAPER_TOP_P), "max_tokens": self.max_new_tokens,
                "logprobs": True, "top_logprobs": TOP_LOGPROBS, "seed": self.seed}

    def key_settings(self) -> dict:
        return {"backend": self.name, "engine": f"openai-compatible {self.client.base_url}",
                "logprobs_are": self.logprobs_are, "temperature": 0, "top_p": self.top_p,
                "top_logprobs": TOP_LOGPROBS, "seed": self.seed}

    def record_extras(self) -> dict:
        return {"model_id": self.model, "revision": self.spec.revision, "mode": self.name,
                "dtype": "n/a", "device": self.client.base_url, "backend": self.name}

    def prepare(self, requests: Sequence[Request]) -> list[int]:
        return list(range(len(requests)))

    def answer(self, requests: Sequence[Request], on_done: Callable[[int], None] | None = None) -> list[Answer]:
        """The requests' answers, ``concurrency`` in flight; the first failure that outlasts its
        retries (or is not retryable) is raised once the requests under way have ended."""
        out: list[Answer | None] = [None] * len(requests)
        failures: list[ClientError] = []
        lock = threading.Lock()

        def work(i: int) -> None:
            if failures:
                return
            r = requests[i]
            prompt = prompts.build_prompt(r.question, r.phrasing, r.example)
            try:
                body = self.client.request("POST", "/chat/completions", self.body(prompt), model=self.model)
                out[i] = parse_chat(body, r.question.options, self.logprobs_are)
            except ClientError as exc:
                with lock:
                    failures.append(exc)

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(work, range(len(requests))))
        if failures:
            raise failures[0]
        return out  # type: ignore[return-value]


def load_backend(model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 logprobs_are: str = "logprobs", concurrency: int = 8, batch_size: int = 32,
                 name: str | None = None, max_new_tokens: int = MAX_NEW_TOKENS, max_retries: int = 5,
                 backoff: float = 1.0, timeout: float = 300.0, **ignored) -> OpenAIBackend:
    """:class:`OpenAIBackend` of the served ``model`` at ``base_url``; the key is read from the
    environment variable ``api_key_env`` (none sent without it)."""
    if not base_url:
        raise ScoringError("the openai backend needs --base-url (e.g. https://api.openai.com/v1 or "
                           "http://127.0.0.1:8000/v1)")
    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ScoringError(f"--api-key-env {api_key_env}: the environment variable is not set")
    return OpenAIBackend(base_url, model, name=name, api_key=api_key, logprobs_are=logprobs_are,
                         concurrency=concurrency, batch_size=batch_size, max_new_tokens=max_new_tokens,
                         max_retries=max_retries, backoff=backoff, timeout=timeout)
