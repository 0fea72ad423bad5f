"""The openai backend's pieces without vLLM: the answer token in the response's token texts, a
response body read as MSP or Max Logit, and the HTTP client's retries and errors against a real
HTTP server on 127.0.0.1 (``http.server``) answering from a script. The backend against a real
vLLM server is in ``tests/vllm/test_openai_server.py``."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from helpers.scoring import openai
from helpers.scoring.backend import Request
from tiny_model import tiny_questions


@pytest.mark.parametrize("pieces, text, spans", [
    (["B", ".", " The", " ball", "<|im_end|>"], "B. The ball", [(0, 1), (1, 2), (2, 6), (6, 11), (11, 11)]),
    (["The", " answer", " is", " C", "."], "The answer is C.", [(0, 3), (3, 10), (10, 13), (13, 15), (15, 16)]),
    # a SentencePiece token decoded alone loses its leading space: the space goes to it
    (["A", ".", "Paris"], "A. Paris", [(0, 1), (1, 2), (2, 8)]),
    # two tokens holding the bytes of one character: the first takes it
    (["B", ".", " caf", "\ufffd", "\ufffd"], "B. café", [(0, 1), (1, 2), (2, 6), (6, 7), (7, 7)]),
])
def test_token_spans(pieces, text, spans):
    assert openai.token_spans(pieces, text) == spans


def _body(tokens, logprobs, tops, fingerprint="fp_test"):
    content = [{"token": t, "logprob": lp, "top_logprobs": [{"token": k, "logprob": v} for k, v in top.items()]}
               for t, lp, top in zip(tokens, logprobs, tops)]
    return {"system_fingerprint": fingerprint,
            "choices": [{"message": {"content": "".join(t for t in tokens if not t.startswith("<|"))},
                         "logprobs": {"content": content}}]}


def test_a_response_read_as_log_probabilities_and_as_raw_logits():
    options = ("red", "blue", "green")
    tops = [{"B": -0.4, "A": -1.5, "Z": -3.0}, {".": -0.01}, {"<|im_end|>": -0.1}]
    body = _body(["B", ".", "<|im_end|>"], [-0.4, -0.01, -0.1], tops)
    a = openai.parse_chat(body, options)
    assert a.response == "B." and a.answer_token == 0 and math.isnan(a.max_logit)
    assert a.msp == pytest.approx(float(np.exp(np.float32(-0.4))))
    assert a.letter_probs[:2] == pytest.approx((np.exp(-1.5), np.exp(-0.4))) and math.isnan(a.letter_probs[2])
    assert a.system_fingerprint == "fp_test" and a.option_logliks == ()
    raw = openai.parse_chat(_body(["B", ".", "<|im_end|>"], [31.5, 29.0, 20.0], tops), options, "raw_logits")
    assert raw.max_logit == 31.5 and math.isnan(raw.msp) and all(math.isnan(x) for x in raw.letter_probs)
    none = openai.parse_chat(_body(["I", " don't", " know"], [-1.0, -1.0, -1.0], [{}, {}, {}]), options)
    assert none.answer_token == -1 and none.msp == 0.0


class Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next (status, body) of the server's script."""

    def _reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append((self.command, self.path, json.loads(self.rfile.read(length)) if length else None))
        status, body = self.server.script.pop(0) if self.server.script else self.server.default
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    httpd.script, httpd.seen = [], []
    httpd.default = (200, {"data": [{"id": "m"}]})
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd):
    return f"http://127.0.0.1:{httpd.server_address[1]}/v1"


ANSWER = _body(["A", ".", "<|im_end|>"], [-0.2, -0.01, -0.1], [{"A": -0.2}, {}, {}])


def test_429_and_5xx_are_retried_with_back_off(server):
    models = (200, {"data": [{"id": "m"}]})
    top_p_refused = (400, {"error": {"message": "top_p must be in (0, 1], got 0.0.", "param": "top_p"}})
    server.script = [models, top_p_refused, (429, {"error": {"message": "slow down"}}),
                     (503, {"error": {"message": "busy"}}), (200, ANSWER)]
    backend = openai.OpenAIBackend(_url(server), "m", backoff=0.01, concurrency=1)
    assert backend.top_p == openai.TOP_P_FALLBACK and backend.key_settings()["top_p"] == openai.TOP_P_FALLBACK
    (answer,) = backend.answer([Request(tiny_questions(1)[0], "first")])
    assert answer.response == "A." and answer.system_fingerprint == "fp_test"
    posts = [body for method, path, body in server.seen if method == "POST"]
    assert len(posts) == 4 and posts[-1]["top_p"] == openai.TOP_P_FALLBACK
    assert posts[-1]["logprobs"] is True and posts[-1]["top_logprobs"] == 5 and posts[-1]["temperature"] == 0
    assert posts[-1]["seed"] == 2549900867 and posts[-1]["messages"][0]["role"] == "user"


def test_retries_end_with_a_clear_error(server):
    server.default = (502, {"error": {"message": "bad gateway"}})
    client = openai.ChatClient(_url(server), max_retries=2, backoff=0.01)
    with pytest.raises(openai.RetriesExhausted, match="HTTP 502: bad gateway .gave up after 3 attempts"):
        client.request("GET", "/models")
    assert len(server.seen) == 3


@pytest.mark.parametrize("status, body, error, message", [
    (401, {"error": {"message": "Incorrect API key"}}, openai.AuthenticationError, "check the API key"),
    (404, {"error": {"message": "The model `x` does not exist.", "param": "model"}}, openai.ModelNotFoundError,
     "not served at"),
    (404, {"detail": "Not Found"}, openai.EndpointNotFoundError, "is --base-url the server's /v1 endpoint"),
])
def test_401_and_404_are_not_retried(server, status, body, error, message):
    server.default = (status, body)
    with pytest.raises(error, match=message):
        openai.ChatClient(_url(server), max_retries=3, backoff=0.01).request("POST", "/chat/completions", {}, model="x")
    assert len(server.seen) == 1


def test_a_model_the_server_does_not_list(server):
    with pytest.raises(openai.ModelNotFoundError, match="'other' is not served at .*it serves: m"):
        openai.OpenAIBackend(_url(server), "other")


def test_the_api_key_comes_from_the_named_variable(server, monkeypatch):
    with pytest.raises(openai.ScoringError, match="MSP_TEST_KEY: the environment variable is not set"):
        openai.load_backend("m", base_url=_url(server), api_key_env="MSP_TEST_KEY")
    with pytest.raises(openai.ScoringError, match="needs --base-url"):
        openai.load_backend("m")
