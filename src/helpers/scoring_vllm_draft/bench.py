"""Throughput and peak memory of three routes to the same answers, one route per process:

- ``transformers``: the book's fast mode (``helpers.scoring.score_questions(..., mode="fast")``);
- ``offline``: :class:`~.offline.OfflineEngine` (vLLM in-process);
- ``server``: a :class:`~.server.VllmServer` and the :class:`~.client.ChatClient` with
  ``--concurrency`` requests in flight.

``python -m helpers.scoring_vllm_draft.bench --backend offline --n 100`` prints one JSON object:
questions per second of the scoring itself (model loading and server start-up reported apart), CPU
seconds of this process, and peak resident memory (this process; for the server, the sampled peak
of the server's process group plus this process). The first ``--n`` ARC questions, first phrasing,
SmolLM2-135M-Instruct in float32 unless ``--model`` names another folder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
import warnings


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _questions(n: int, skip: int = 0):
    from helpers.datasets import load_questions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_questions("arc", start=0, limit=n + skip)


def _model_folder(model: str | None):
    from helpers.scoring import converted_gguf, smollm2_gguf
    from helpers.scoring_vllm_draft.folder import vllm_model_folder

    return vllm_model_folder(model or converted_gguf(smollm2_gguf()))


def bench_transformers(n: int, model: str | None, threads: int | None) -> dict:
    import torch

    from helpers.scoring import load_model, score_questions

    if threads:
        torch.set_num_threads(threads)
    t0 = time.monotonic()
    lm = load_model(_model_folder(model), device="cpu", dtype="float32")
    load = time.monotonic() - t0
    qs = _questions(n)
    score_questions(lm, qs[:1], "first", mode="fast")  # warm-up
    t0, c0 = time.monotonic(), _cpu()
    records = score_questions(lm, qs, "first", mode="fast")
    took, cpu = time.monotonic() - t0, _cpu() - c0
    return {"start_seconds": load, "seconds": took, "cpu_seconds": cpu, "threads": torch.get_num_threads(),
            "answered": sum(r["answer_token"] >= 0 for r in records), "peak_rss_mib": _peak_mib()}


def bench_offline(n: int, model: str | None, threads: int | None) -> dict:
    from helpers.scoring_vllm_draft.offline import OfflineEngine

    t0 = time.monotonic()
    engine = OfflineEngine(_model_folder(model))
    start = time.monotonic() - t0
    try:
        qs = _questions(n, skip=1)
        engine.answer_questions(qs[n:], "first")  # warm-up on a question outside the set
        t0, c0 = time.monotonic(), _cpu()
        answers = engine.answer_questions(qs[:n], "first")
        took, cpu = time.monotonic() - t0, _cpu() - c0
    finally:
        engine.close()
    return {"start_seconds": start, "seconds": took, "cpu_seconds": cpu,
            "generated_tokens": sum(len(a.token_ids) for a in answers),
            "answered": sum(a.answer_token >= 0 for a in answers), "peak_rss_mib": _peak_mib()}


def bench_server(n: int, model: str | None, threads: int | None, concurrency: int) -> dict:
    from helpers.prompts import build_prompt
    from helpers.scoring_vllm_draft.client import ChatClient
    from helpers.scoring_vllm_draft.server import VllmServer

    server = VllmServer(_model_folder(model), name="bench")
    peak = {"server": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["server"] = max(peak["server"], server.group_rss_bytes())
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        start = server.start()
        qs = _questions(n, skip=1)
        client = ChatClient(server.base_url, "bench", concurrency=concurrency)
        client.answer([build_prompt(q, "first") for q in qs[n:]], [q.options for q in qs[n:]])
        t0, c0 = time.monotonic(), _cpu()
        result = client.answer([build_prompt(q, "first") for q in qs[:n]], [q.options for q in qs[:n]])
        took, cpu = time.monotonic() - t0, _cpu() - c0
        fingerprint = result.answers[0].system_fingerprint if result.answers[0] else None
    finally:
        stopped = server.stop()
        stop.set()
        sampler.join()
    return {"start_seconds": start, "seconds": took, "client_cpu_seconds": cpu, "concurrency": concurrency,
            "failed": len(result.errors), "answered": sum(a is not None and a.answer_token >= 0
                                                          for a in result.answers),
            "system_fingerprint": fingerprint, "stop_seconds": stopped,
            "peak_rss_mib": peak["server"] / 2**20 + _peak_mib(), "server_peak_rss_mib": peak["server"] / 2**20}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m helpers.scoring_vllm_draft.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", required=True, choices=("transformers", "offline", "server"))
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--model", help="a transformers model folder (default: SmolLM2-135M-Instruct)")
    ap.add_argument("--threads", type=int, help="torch threads of the transformers route")
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    if args.backend == "transformers":
        out = bench_transformers(args.n, args.model, args.threads)
    elif args.backend == "offline":
        out = bench_offline(args.n, args.model, args.threads)
    else:
        out = bench_server(args.n, args.model, args.threads, args.concurrency)
    out = {"backend": args.backend, "n": args.n, "questions_per_second": args.n / out["seconds"], **out,
           "load_average": [load0, os.getloadavg()[0]]}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
