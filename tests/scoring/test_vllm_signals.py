"""How the vllm backend reads MSP and Max Logit (``helpers.scoring.vllm.signals_mode``) and the cache
key that records it; these need no engine (the engine itself is tested in ``tests/vllm/``)."""

from __future__ import annotations

import pytest

from helpers import score
from helpers.scoring import runner
from helpers.scoring.specs import ScoringError, resolve_model
from helpers.scoring.vllm import engine_key, signals_mode

IN_PROCESS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


@pytest.mark.parametrize("engine_args, environ, expected", [
    ({}, {}, "one pass"),  # unset: the backend runs the engine in-process
    ({}, IN_PROCESS, "one pass"),
    ({"tensor_parallel_size": 1, "pipeline_parallel_size": 1, "data_parallel_size": 4}, IN_PROCESS, "one pass"),
    ({"tensor_parallel_size": 2}, IN_PROCESS, "two passes"),
    ({"pipeline_parallel_size": 4}, {}, "two passes"),
    ({}, {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}, "two passes"),
    ({}, {"VLLM_ENABLE_V1_MULTIPROCESSING": "false"}, "one pass"),
])
def test_auto_takes_two_passes_exactly_when_workers_are_other_processes(engine_args, environ, expected):
    assert signals_mode("auto", engine_args, environ) == expected


def test_two_passes_can_be_forced_and_one_pass_refuses_worker_processes():
    assert signals_mode("two-pass", {}, IN_PROCESS) == "two passes"
    assert signals_mode("one-pass", {"tensor_parallel_size": 1}, IN_PROCESS) == "one pass"
    with pytest.raises(ScoringError, match=r"tensor_parallel_size=2, VLLM_ENABLE_V1_MULTIPROCESSING=1 runs it "
                                           r"in worker processes: use --vllm-signals two-pass"):
        signals_mode("one-pass", {"tensor_parallel_size": 2}, {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"})
    with pytest.raises(ScoringError, match=r"must be one of auto, one-pass, two-pass, got 'both'"):
        signals_mode("both", {}, {})


def test_the_one_pass_key_is_unchanged_and_two_passes_have_their_own():
    args = {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.8, "max_num_seqs": 32}
    one = engine_key("vllm 0.32.0", "float32", 1024, "one pass", args)
    # the settings the one-pass backend has always written (the committed caches' keys)
    assert one == {"backend": "vllm", "engine": "vllm 0.32.0", "dtype": "float32", "max_model_len": 1024,
                   "signals": "one pass", "tensor_parallel_size": 2}
    assert list(one) == ["backend", "engine", "dtype", "max_model_len", "signals", "tensor_parallel_size"]
    two = engine_key("vllm 0.32.0", "float32", 1024, "two passes", args)
    assert two == {**one, "signals": "two passes"}
    spec = resolve_model("org/model")
    keys = [runner.score_key(spec, "arc", "first", settings) for settings in (one, two)]
    assert keys[0].dirname() != keys[1].dirname()


def test_the_command_line_passes_the_choice_on():
    args = score.parse_args(["--model", "x/y", "--backend", "vllm"])
    assert score.backend_options(args)["signals"] == "auto"
    args = score.parse_args(["--model", "x/y", "--backend", "vllm", "--vllm-signals", "two-pass"])
    assert score.backend_options(args)["signals"] == "two-pass"
    with pytest.raises(SystemExit):
        score.parse_args(["--model", "x/y", "--vllm-signals", "three-pass"])
