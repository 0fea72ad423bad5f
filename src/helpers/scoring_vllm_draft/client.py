"""The paper's answers and confidences from an OpenAI-compatible chat server (vLLM's or another).

Each prompt is one user message to ``POST /v1/chat/completions`` with ``temperature: 0,
max_tokens: 100, logprobs: true, top_logprobs: 5, seed: 2549900867`` (the paper's GPT settings; its
``top_p: 0`` is rejected by vLLM, which wants ``0 < top_p <= 1``, and adds nothing under
``temperature: 0``). The response's ``logprobs.content`` lists the generated tokens (``token`` = the
token's text, EOS included, e.g. ``"<|im_end|>"``) with one value each. Those values are
log-probabilities, or raw logits for a vLLM server started with ``--logprobs-mode raw_logits``;
the response does not say which, so the caller does (``values_are``): MSP = exp(value) at the
answer token for log-probabilities, Max Logit = the value for raw logits, the other one NaN. With
``letter_ids`` (a vLLM extension, ``logprob_token_ids``) the step values of the option letters are
returned too; otherwise the letters found among the top 5 are used.

Option log-likelihoods (:meth:`ChatClient.option_scores`) use ``POST /v1/completions`` with
``echo: true, max_tokens: 0, logprobs: 1``: the prompt's tokens come back with their
log-probabilities and character offsets, and those at or after the context's end are summed.

Requests run ``concurrency`` at a time. 429, 5xx, time-outs and refused or dropped connections are
retried with exponential back-off (``Retry-After`` honoured); a prompt still failing after
``max_retries`` is reported in :attr:`BatchResult.errors`, the others still answered. 401/403
(:class:`AuthenticationError`) and 404 (:class:`ModelNotFoundError`, :class:`EndpointNotFoundError`)
stop the batch at once. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from helpers.prompts import LETTERS
from helpers.scoring_vllm_draft.answers import Answer, answer_position, exp32
from helpers.scoring_vllm_draft.likelihood import CHAT_DELIMITER, OptionScore, split_context

PAPER_SEED = 2549900867
VALUES = ("logprobs", "raw_logits")
RETRY_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
NAN = float("nan")


class ClientError(RuntimeError):
    """A request the server refused; ``status`` is the HTTP status (None for no answer)."""

    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status, self.body = status, body


class FatalError(ClientError):
    """An error that no other prompt of the batch would escape: the batch stops."""

    partial: BatchResult | None = None


class AuthenticationError(FatalError):
    """401/403: missing or wrong API key."""


class ModelNotFoundError(FatalError):
    """404 naming the model: the server does not serve a model of that name."""


class EndpointNotFoundError(FatalError):
    """404 for the path: the base URL is not an OpenAI-compatible ``/v1`` endpoint."""


class RetriesExhausted(ClientError):
    """A retryable failure (429, 5xx, time-out, connection) that outlasted the retries."""


@dataclass
class BatchResult:
    """Per prompt an :class:`Answer` (or :class:`OptionScore` list), None where it failed;
    ``errors`` maps each failed prompt's index to the reason."""

    answers: list
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[int]:
        return sorted(self.errors)

    @property
    def complete(self) -> bool:
        return not self.errors


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
    if not isinstance(err, dict):
        return False
    return (err.get("param") == "model" or err.get("code") == "model_not_found"
            or "model" in str(err.get("message", "")).lower())


class ChatClient:
    """Client of one model on an OpenAI-compatible server at ``base_url`` (ending in ``/v1``)."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 values_are: str = "logprobs", concurrency: int = 8, timeout: float = 300.0,
                 max_retries: int = 4, backoff: float = 1.0, max_backoff: float = 30.0,
                 max_tokens: int = 100, top_logprobs: int = 5, seed: int | None = PAPER_SEED,
                 letter_ids: Sequence[int] | None = None, extra_body: dict | None = None):
        if values_are not in VALUES:
            raise ValueError(f"values_are must be one of {VALUES}, got {values_are!r}")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.model, self.api_key, self.values_are = model, api_key, values_are
        self.concurrency, self.timeout = concurrency, timeout
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.max_tokens, self.top_logprobs, self.seed = max_tokens, top_logprobs, seed
        self.letter_ids = list(letter_ids) if letter_ids is not None else None
        self.extra_body = dict(extra_body or {})

    # ------------------------------------------------------------------ HTTP

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        """One request with retries; raises :class:`ClientError` subclasses."""
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
                    raise AuthenticationError(f"{status} from {url}: {_message(text)} "
                                              "(check the API key)", status, text) from None
                if status == 404:
                    msg = _message(text)
                    if _names_model(text):
                        raise ModelNotFoundError(f"model {self.model!r} is not served at "
                                                 f"{self.base_url}: {msg}", status, text) from None
                    raise EndpointNotFoundError(f"404 for {url}: {msg} (is the base URL the "
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
                raise RetriesExhausted(f"{reason} (gave up after {attempt + 1} attempts)")
            if wait is None:
                wait = min(self.max_backoff, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2)
            time.sleep(wait)
            attempt += 1

    def models(self) -> list[str]:
        """Ids of the models the server serves (``GET /v1/models``)."""
        return [m.get("id") for m in self._request("GET", "/models").get("data", [])]

    def check_model(self) -> None:
        """Raise :class:`ModelNotFoundError` unless the server lists ``self.model``."""
        served = self.models()
        if self.model not in served:
            raise ModelNotFoundError(f"model {self.model!r} is not served at {self.base_url}; "
                                     f"it serves: {', '.join(map(str, served)) or 'nothing'}", 404)

    # ------------------------------------------------------------------ batches

    def _run(self, n: int, work: Callable[[int], object],
             on_done: Callable[[int], None] | None = None) -> BatchResult:
        result = BatchResult([None] * n)
        stop = threading.Event()
        fatal: list[FatalError] = []
        lock = threading.Lock()

        def task(i: int) -> None:
            if stop.is_set():
                with lock:
                    result.errors[i] = f"not sent: {fatal[0]}" if fatal else "not sent"
                return
            try:
                value = work(i)
            except FatalError as exc:
                with lock:
                    fatal.append(exc)
                    result.errors[i] = str(exc)
                stop.set()
            except ClientError as exc:
                with lock:
                    result.errors[i] = str(exc)
            else:
                result.answers[i] = value
                if on_done is not None:
                    on_done(i)

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(task, range(n)))
        if fatal:
            fatal[0].partial = result
            raise fatal[0]
        return result

    def chat_body(self, prompt: str, n_options: int) -> dict:
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "temperature": 0, "max_tokens": self.max_tokens, "logprobs": True,
                "top_logprobs": self.top_logprobs}
        if self.seed is not None:
            body["seed"] = self.seed
        if self.letter_ids is not None:
            ids = self.letter_ids[:n_options]
            body["logprob_token_ids"], body["top_logprobs"] = ids, len(ids)
        return {**body, **self.extra_body}

    def answer(self, prompts: Sequence[str], options: Sequence[Sequence[str]], *,
               first_token: bool = False, on_done: Callable[[int], None] | None = None) -> BatchResult:
        """Answers to the user prompts ``prompts`` (``options[i]``: prompt i's option texts);
        ``on_done(i)`` is called as each prompt is answered (from a worker thread)."""
        if len(prompts) != len(options):
            raise ValueError(f"{len(prompts)} prompts but {len(options)} option lists")

        def work(i: int) -> Answer:
            body = self._request("POST", "/chat/completions", self.chat_body(prompts[i], len(options[i])))
            return self.parse_chat(body, options[i], first_token=first_token)

        return self._run(len(prompts), work, on_done)

    def parse_chat(self, body: dict, options: Sequence[str], *, first_token: bool = False) -> Answer:
        """An :class:`Answer` from a chat-completion response body."""
        try:
            choice = body["choices"][0]
            response = choice["message"].get("content") or ""
            content = (choice.get("logprobs") or {}).get("content") or []
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ClientError(f"unexpected response shape: {exc}: {str(body)[:300]}") from None
        tokens = [c.get("token", "") for c in content]
        values = [float(c.get("logprob", NAN)) for c in content]
        char, idx = answer_position(response, tokens, options, first_token=first_token)
        letters = LETTERS[:len(options)]
        raw = self.values_are == "raw_logits"
        msp = NAN if raw else 0.0
        max_logit = 0.0 if raw else NAN
        letter_probs, letter_logits = [NAN] * len(options), None
        if 0 <= idx < len(content):
            value = values[idx]
            top = {t.get("token"): float(t.get("logprob", NAN)) for t in content[idx].get("top_logprobs") or []}
            found = [top.get(x, NAN) for x in letters]
            if raw:
                max_logit, letter_logits = value, found
            else:
                msp = exp32(value)
                letter_probs = [exp32(v) if v == v else NAN for v in found]
        return Answer(response, tokens, choice.get("token_ids"), char, idx, msp, max_logit, letter_probs,
                      choice.get("finish_reason"), values, self.values_are,
                      body.get("system_fingerprint"), letter_logits)

    # ------------------------------------------------------------------ option log-likelihoods

    def option_scores(self, contexts: Sequence[str], options: Sequence[Sequence[str]], *,
                      delimiter: str = CHAT_DELIMITER) -> BatchResult:
        """lm-eval style log-likelihoods of every option after its (text) context, one
        ``/v1/completions`` echo request per option; ``answers[i]`` is context i's list of
        :class:`OptionScore` (its ``token_ids`` empty: the server returns token texts)."""
        if self.values_are != "logprobs":
            raise ValueError("option log-likelihoods need a server returning log-probabilities")
        flat = [(i, k) for i, opts in enumerate(options) for k in range(len(opts))]

        def work(j: int) -> OptionScore:
            i, k = flat[j]
            context, continuation = split_context(contexts[i], delimiter + options[i][k])
            body = self._request("POST", "/completions", {
                "model": self.model, "prompt": context + continuation, "max_tokens": 0, "echo": True,
                "logprobs": 1, "temperature": 0, **self.extra_body})
            return _echo_score(body, options[i][k], len(context), len(context + continuation))

        flat_result = self._run(len(flat), work)
        out = BatchResult([[None] * len(o) for o in options])
        for j, (i, k) in enumerate(flat):
            out.answers[i][k] = flat_result.answers[j]
            if j in flat_result.errors:
                out.errors[i] = f"option {k}: {flat_result.errors[j]}"
        for i in out.errors:
            out.answers[i] = None
        return out


def _echo_score(body: dict, option: str, context_chars: int, prompt_chars: int) -> OptionScore:
    try:
        lp = body["choices"][0]["logprobs"]
        offsets, values, tops = lp["text_offset"], lp["token_logprobs"], lp.get("top_logprobs") or []
    except (KeyError, IndexError, TypeError) as exc:
        raise ClientError(f"no echoed log-probabilities in the response: {exc}") from None
    picked = [j for j, off in enumerate(offsets) if context_chars <= off < prompt_chars]
    if not picked or any(values[j] is None for j in picked):
        raise ClientError("the echoed prompt has no scored tokens after the context")
    greedy = True
    for j in picked:
        top = tops[j] if j < len(tops) and tops[j] else {}
        if top and values[j] < max(top.values()) - 1e-6:
            greedy = False
    return OptionScore(option, (), tuple(float(values[j]) for j in picked), greedy)


# ---------------------------------------------------------------------- command line

def main(argv: Sequence[str] | None = None) -> int:
    """Answer dataset questions through a server; one JSON line per answer on stdout (or --out)."""
    import warnings

    from helpers.datasets import load_questions
    from helpers.prompts import build_prompt
    from helpers.scoring_vllm_draft.answers import to_record

    ap = argparse.ArgumentParser(prog="python -m helpers.scoring_vllm_draft.client", description=main.__doc__)
    ap.add_argument("--base-url", required=True, help="the server's /v1 endpoint, e.g. http://127.0.0.1:8000/v1")
    ap.add_argument("--model", required=True, help="the served model name")
    ap.add_argument("--api-key")
    ap.add_argument("--dataset", default="arc")
    ap.add_argument("--phrasing", default="first", choices=("first", "second"))
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--logprobs-are", default="logprobs", choices=VALUES,
                    help="what the server's logprob fields hold: raw_logits for a vLLM server started "
                         "with --logprobs-mode raw_logits (then Max Logit is recorded, MSP is not)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--letter-ids", help="token ids of A,B,C,... (vLLM's logprob_token_ids), comma-separated")
    ap.add_argument("--out", help="JSON-lines file (default: stdout)")
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        questions = load_questions(args.dataset, start=args.start, limit=args.limit)
    client = ChatClient(args.base_url, args.model, api_key=args.api_key, values_are=args.logprobs_are,
                        concurrency=args.concurrency, max_retries=2,
                        letter_ids=[int(x) for x in args.letter_ids.split(",")] if args.letter_ids else None)
    try:
        client.check_model()
        result = client.answer([build_prompt(q, args.phrasing) for q in questions], [q.options for q in questions])
    except ClientError as exc:  # the model missing, a key refused, the server unreachable
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = open(args.out, "w") if args.out else sys.stdout
    try:
        for q, a in zip(questions, result.answers):
            if a is None:
                continue
            rec = to_record(q, a)
            rec.update(system_fingerprint=a.system_fingerprint, logprobs_are=args.logprobs_are)
            out.write(json.dumps({k: (float(v) if hasattr(v, "dtype") else v) for k, v in rec.items()}) + "\n")
    finally:
        if args.out:
            out.close()
    for i in result.failed:
        print(f"not answered: {questions[i].question_id}: {result.errors[i]}", file=sys.stderr)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
