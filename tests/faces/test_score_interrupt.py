"""Ctrl-C during ``python -m helpers.score``: the finished answers are kept, the command says how many
and how to resume, exits 130 without a traceback, and the same command then resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from helpers.data import scores
from tiny_model import tiny_model_dir  # noqa: F401  (fixture)


def test_ctrl_c_keeps_the_finished_answers_and_the_run_resumes(tiny_model_dir, datasets_dir, tmp_path):
    argv = [sys.executable, "-m", "helpers.score", "--model", str(tiny_model_dir), "--datasets", "arc",
            "--phrasings", "first", "--limit", "2000", "--device", "cpu", "--scores-dir", str(tmp_path),
            "--datasets-dir", str(datasets_dir)]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 600
    while not list(tmp_path.glob("*/part-*.parquet")) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before it could be interrupted"
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert "interrupted: every finished batch is saved" in err and "run the same command again to resume" in err
    kept = scores.load_scored(tmp_path).set_index("qid")
    saved = len(kept)
    assert 0 < saved < 2000 and f"({saved} answers of the run under way" in err
    # the same command picks up where it stopped: the saved answers stay, only the missing ones are
    # scored, and nothing half-written is left behind
    argv[argv.index("2000")] = "100"
    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    after = scores.load_scored(tmp_path).set_index("qid")
    assert set(after.index) == set(kept.index) | set(range(100))
    assert after.loc[kept.index, "response"].equals(kept["response"])
    assert not list(tmp_path.glob("*/.*.tmp"))
