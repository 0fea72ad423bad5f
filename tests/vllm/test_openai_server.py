"""The openai backend against a real vLLM OpenAI-compatible server started on 127.0.0.1 and stopped
by its PID (one server for the module): the same answers as the hf backend, a wrong model name, and
a server stopped mid-run (the run resumes, nothing lost)."""

from __future__ import annotations

import math
import subprocess
import threading
import time

import numpy as np
import pytest

from helpers.data import locations, scores
from helpers.scoring import openai, runner
from helpers.scoring.vllm_server import VllmServer

from vllm_common import LETTER_TOL, MSP_TOL, PHRASING

pytestmark = pytest.mark.vllm

SERVED = "smollm2-test"


class Running:
    """The module's server, restartable on the same port."""

    def __init__(self, folder, log):
        self.folder, self.log = folder, log
        self.server = VllmServer(folder, name=SERVED, log_path=log)
        self.server.start()

    def restart(self):
        self.server = VllmServer(self.folder, name=SERVED, port=self.server.port, log_path=self.log)
        self.server.start()


@pytest.fixture(scope="module")
def running(smollm2_folder, hf_records, tmp_path_factory):
    # the reference comes first: it and the server would compete for the CPU
    holder = Running(smollm2_folder, tmp_path_factory.mktemp("server") / "server.log")
    yield holder
    took = holder.server.stop()
    assert took < 30 and holder.server.group_rss_bytes() == 0  # SIGTERM stopped it, engine process included


def _backend(running, **kw):
    return openai.load_backend(SERVED, base_url=running.server.base_url, concurrency=8, **kw)


def test_same_answers_as_hf(running, questions, hf_records):
    backend = _backend(running)
    assert backend.top_p == openai.TOP_P_FALLBACK  # vLLM refuses the paper's top_p: 0 with 400
    assert backend.key_settings()["top_p"] == openai.TOP_P_FALLBACK
    records = runner.score_questions(backend, questions, PHRASING)
    worst_msp = worst_letters = 0.0
    for q, o, h in zip(questions, records, hf_records):
        assert (o["parsed"], o["grade"]) == (h["parsed"], h["grade"]), q.question_id
        assert o["response"].startswith(h["response"])
        assert math.isnan(o["max_logit"])  # log-probabilities carry no raw logit, as for the paper's GPT
        worst_msp = max(worst_msp, abs(float(o["msp"]) - float(h["msp"])))
        found = ~np.isnan(o["letter_probs"])  # letters outside the top 5 are unknown
        assert found.sum() >= 2
        worst_letters = max(worst_letters, float(np.max(np.abs(np.subtract(o["letter_probs"], h["letter_probs"])[found]))))
        assert o["system_fingerprint"] == records[0]["system_fingerprint"]
        assert "option_likelihood" not in o
    print("openai (vLLM server) vs hf, max abs differences: msp", worst_msp, "letters", worst_letters)
    assert worst_msp <= MSP_TOL and worst_letters <= LETTER_TOL


def test_a_wrong_model_name_is_a_clear_error(running, tmp_path):
    with pytest.raises(openai.ModelNotFoundError, match=f"'nope' is not served at .*it serves: {SERVED}"):
        openai.load_backend("nope", base_url=running.server.base_url)
    # the openai backend needs only the book's environment: its command line runs there
    book_python = locations.repository_root() / ".venv" / "bin" / "python"
    assert book_python.is_file(), f"{book_python} missing: make .venv/.installed"
    cli = subprocess.run([str(book_python), "-m", "helpers.score", "--backend", "openai", "--model", "nope",
                          "--base-url", running.server.base_url, "--limit", "2", "--scores-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 2 and "error: model 'nope' is not served" in cli.stderr
    assert not any(tmp_path.iterdir())


def test_a_server_stopped_mid_run_loses_nothing(running, questions, tmp_path):
    backend = _backend(running, batch_size=2, max_retries=2, backoff=0.2)
    outcome = {}

    def run():
        try:
            runner.score_cached(backend, questions, PHRASING, scores_dir=tmp_path, chunk_size=2)
        except openai.ClientError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("*/part-000001.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    running.server.stop()  # SIGTERM by PID, mid-run
    worker.join(300)
    assert isinstance(outcome.get("error"), openai.RetriesExhausted), outcome
    assert "run again to resume" in str(outcome["error"])
    saved = scores.load_scored(tmp_path)
    assert 4 <= len(saved) < len(questions)
    running.restart()
    runner.score_cached(_backend(running, batch_size=2), questions, PHRASING, scores_dir=tmp_path, chunk_size=2)
    done = scores.load_scored(tmp_path)
    assert done.qid.tolist() == list(range(len(questions)))
    rows = [p for p in tmp_path.glob("*/part-*.parquet")]
    import pandas as pd

    assert len(pd.concat([pd.read_parquet(p) for p in rows])) == len(questions)  # none written twice
    kept = done.set_index("qid").loc[saved.qid]
    np.testing.assert_array_equal(kept.msp.to_numpy(), saved.msp.to_numpy())
