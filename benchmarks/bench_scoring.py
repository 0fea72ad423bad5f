"""Questions per second of fast mode, faithful mode and the paper's own code path, on the same questions;
with ``--backends``, of the hf, vllm and openai backends.

    python benchmarks/bench_scoring.py [--models tiny,smollm2] [--n 100] [--batch-size 8] [--repeats 2]
    .venv-vllm/bin/python benchmarks/bench_scoring.py --backends hf,vllm,openai [--model ID] [--n 100]

- **paper**: the authors' ``generate_text.py`` as written: ``hf.paper_generate`` (greedy
  ``generate``, ``max_new_tokens=100``, batches of ``--batch-size`` in the paper's order, left padding,
  the batch running until its last row ends), every step's scores stacked into one (steps, batch,
  vocab) float32 tensor as the paper did, the confidences of the answer token read from it and
  graded by ``runner.record``;
- **faithful**: ``runner.score_questions`` with the hf backend in faithful mode (the same generation;
  confidences computed only at the answer step);
- **fast**: the same with the hf backend in fast mode (prompts in groups of ``--batch-size``, up to
  ``hf.DECODE_BATCH`` answers decoded together, per-sequence stopping).

Backends (``--backends``, run in ``.venv-vllm``, which has vLLM): each route in a fresh process on
the same questions, float32, the paper's two signals only (no option likelihood), timed after a
warm-up question outside the set, model loading and server start reported apart:

- **hf**: the hf backend in fast mode;
- **vllm**: the vllm backend (vLLM's offline engine, in-process);
- **openai**: the openai backend with ``--concurrency`` requests in flight against a local vLLM
  OpenAI-compatible server (``scoring.vllm_server``) started for the run and stopped by its PID; its
  peak memory is the server's process group (sampled) plus the client's;
- **paper** (only with a CUDA GPU): the authors' way as below, so that on real hardware the paper's
  way, hf fast and vllm stand side by side. ``--model`` takes a 0.5-8B Hugging Face id there.

Target (issue "Score a new model"): fast >= 5x the paper's way, with identical grades and MSPs
(1e-5). Each run is a fresh process (its peak resident memory, ``ru_maxrss``, is its own; model
loading is not timed). The methods run interleaved (fast, faithful, paper, paper, faithful, fast, ...)
and the best time of each is kept, so a burst of load from another process does not decide the
ratio; the load average is printed before each model. The time spent in the model's forward passes
over the prompts (which every method must make) is measured too: it bounds what any decoding
shortcut can gain, and is printed when the target is missed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

N_QUESTIONS = 100
TARGET = 5.0
METHODS = ("fast", "faithful", "paper")


def _questions(n: int, datasets_dir: str | None):
    """The same n questions for every method: equal shares of the five datasets (paper order)."""
    from helpers.data.datasets import load_questions
    from helpers.data.vocabulary import DATASETS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the local HellaSwag substitution
        per = -(-n // len(DATASETS))
        qs = [q for d in DATASETS for q in load_questions(d, source=datasets_dir, limit=per)]
    return qs[:n]


def _paper_way(lm, questions, phrasing: str, batch_size: int) -> list[dict]:
    """The authors' generate + compute_confidence_levels on stacked scores (METHODS §4-§6)."""
    import torch

    from helpers.scoring import grading, hf, runner
    from helpers.scoring.backend import Answer
    from helpers.scoring.confidence import answer_token_index

    letter_ids = hf.check_letters(lm.tokenizer, max(len(q.options) for q in questions))
    eos = set(lm.eos_ids)
    first_token = lm.quirks.first_token_confidence
    out = []
    for start in range(0, len(questions), batch_size):
        batch = questions[start:start + batch_size]
        generated, scores = hf.paper_generate(lm, hf.prompt_ids(lm, batch, phrasing))
        stacked = torch.stack(list(scores), dim=0).to(torch.float32)
        for b, (q, tokens) in enumerate(zip(batch, generated)):
            response = lm.tokenizer.decode(tokens, skip_special_tokens=True)
            # this row's own steps: up to and including its EOS (the rest are the batch's padding)
            own = next((i + 1 for i, t in enumerate(tokens) if t in eos), len(tokens))
            idx = answer_token_index(lm.tokenizer, response, grading.answer_char_index(response, q.options),
                                     first_token=first_token)
            if 0 <= idx < own:
                row = hf.step_confidences(stacked[idx, b:b + 1], letter_ids)[0]
                answer = Answer(response, idx, float(row[0]), float(row[1]),
                                tuple(float(x) for x in row[2:2 + len(q.options)]))
            else:
                answer = Answer(response, idx, 0.0, 0.0, (float("nan"),) * len(q.options))
            out.append(runner.record(q, answer))
    return out


def _run(method: str, model: str, n: int, batch_size: int, datasets_dir: str | None, phrasing: str):
    """In a fresh process: load, time one method; (records, seconds, peak RSS MiB, forward stats)."""
    import torch

    from helpers.scoring import hf, runner

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    lm = hf.load_model(model, device="cpu")
    questions = _questions(n, datasets_dir)
    forward, calls = lm.model.forward, {"n": 0, "prompt_s": 0.0, "prompt_tokens": 0}

    def counted(*args, **kwargs):
        ids = kwargs["input_ids"]
        t0 = time.perf_counter()
        out = forward(*args, **kwargs)
        calls["n"] += 1
        if ids.shape[1] > 1:
            calls["prompt_s"] += time.perf_counter() - t0
            calls["prompt_tokens"] += ids.numel()
        return out

    lm.model.forward = counted
    if method == "fast":
        _ = lm.dot_tokens  # a one-off per loaded model, as the conversion of a GGUF file
    t0 = time.perf_counter()
    if method == "paper":
        records = _paper_way(lm, questions, phrasing, batch_size)
    else:
        records = runner.score_questions(hf.HFBackend(lm, mode=method, batch_size=batch_size), questions, phrasing)
    seconds = time.perf_counter() - t0
    slim = [{"qid": r["qid"], "grade": r["grade"], "msp": float(r["msp"])} for r in records]
    return slim, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, calls


def bench(model: str, n: int, batch_size: int, datasets_dir: str | None, repeats: int,
          phrasing: str = "first") -> dict:
    """Per method: records of its first run, best seconds, peak MiB, forward stats of the best run,
    and for fast/faithful (same grades as paper, max |dMSP|)."""
    ctx = mp.get_context("spawn")
    runs: dict[str, list] = {m: [] for m in METHODS}
    for r in range(repeats):
        for method in (METHODS if r % 2 == 0 else METHODS[::-1]):
            with ctx.Pool(1) as pool:
                runs[method].append(pool.apply(_run, (method, model, n, batch_size, datasets_dir, phrasing)))
    results = {}
    for method, done in runs.items():
        best = min(done, key=lambda x: x[1])
        results[method] = {"records": done[0][0], "seconds": best[1], "rss": max(x[2] for x in done),
                           "calls": best[3]}
    base = results["paper"]["records"]
    for method in ("fast", "faithful"):
        recs = results[method]["records"]
        results[method]["same_grades"] = len(recs) == len(base) and all(
            a["grade"] == b["grade"] for a, b in zip(recs, base))
        results[method]["max_dmsp"] = max(abs(a["msp"] - b["msp"]) for a, b in zip(recs, base))
    return results


def report(name: str, r: dict, n: int, batch_size: int, repeats: int) -> tuple[bool, bool]:
    """Print one model's table and verdict; (target met, answers identical)."""
    import torch

    from helpers.scoring import hf

    paper_s = r["paper"]["seconds"]
    print(f"\n{name}: {n} questions, first phrasing, batch size {batch_size} (fast: up to "
          f"{hf.DECODE_BATCH} answers decoded together), {torch.get_num_threads()} torch threads, "
          f"best of {repeats} run(s) each")
    print(f"{'method':<10}{'seconds':>9}{'q/s':>8}{'x paper':>9}{'peak MiB':>10}{'forwards':>10}"
          f"{'prompt s':>10}  identical to paper")
    identical = True
    for method in ("paper", "faithful", "fast"):
        m = r[method]
        same = ""
        if method != "paper":
            same = f"grades {'yes' if m['same_grades'] else 'NO'}, max |dMSP| {m['max_dmsp']:.1e}"
            identical &= m["same_grades"] and m["max_dmsp"] <= 1e-5
        print(f"{method:<10}{m['seconds']:>9.2f}{n / m['seconds']:>8.1f}{paper_s / m['seconds']:>9.1f}"
              f"{m['rss']:>10.0f}{m['calls']['n']:>10}{m['calls']['prompt_s']:>10.2f}  {same}")
    ratio = paper_s / r["fast"]["seconds"]
    ok = ratio >= TARGET and identical
    print(f"target: fast >= {TARGET:.0f}x the paper's way with identical grades and MSPs: "
          f"{'OK' if ok else 'MISSED'} ({ratio:.1f}x{'' if identical else ', answers differ'})")
    fast = r["fast"]["calls"]
    bound = paper_s / fast["prompt_s"] if fast["prompt_s"] else float("inf")
    if not ok and bound < TARGET:
        print(f"why: fast mode spends {fast['prompt_s']:.1f} of {r['fast']['seconds']:.1f} s in the forward "
              f"passes over the prompts ({fast['prompt_tokens']} tokens after the shared prefix, matrix "
              f"products at the CPU's float32 rate), which every method must make; with the paper's way "
              f"at {paper_s:.1f} s, no decoding shortcut can exceed {bound:.1f}x here.")
    per_call = {m: r[m]["seconds"] / max(r[m]["calls"]["n"], 1) for m in ("paper", "fast")}
    if per_call["paper"] < 0.005:
        print(f"overhead-bound: one forward pass costs {1000 * per_call['paper']:.1f} ms (paper) / "
              f"{1000 * per_call['fast']:.1f} ms (fast) whatever the batch, dispatch of a model this small "
              f"rather than arithmetic; the ratio is about that of the forward passes "
              f"({r['paper']['calls']['n']} vs {fast['n']}), which fast mode cuts by decoding up to "
              f"{hf.DECODE_BATCH} answers together, and the per-question Python work (prompt "
              f"building, parsing, re-tokenising) is the same in every method.")
    return ok, identical


# ----------------------------------------------------------------------------- backends

ROUTES = ("hf", "vllm", "openai", "paper")


def _backend_route(route: str, model: str, n: int, datasets_dir: str | None, concurrency: int) -> dict:
    """In this process: time one route on the questions; its records, seconds, start-up, peak MiB."""
    import threading

    from helpers.scoring import runner

    questions = _questions(n + 1, datasets_dir)
    warm, timed = questions[n:], questions[:n]
    peak = {"server": 0}
    server = None
    t0 = time.perf_counter()
    if route == "hf":
        from helpers.scoring.hf import load_backend

        backend = load_backend(model, dtype="float32", option_likelihood=False)
        _ = backend.lm.dot_tokens
    elif route == "vllm":
        from helpers.scoring.vllm import load_backend

        backend = load_backend(model, option_likelihood=False)
    elif route == "openai":
        from helpers.scoring import openai
        from helpers.scoring.vllm import model_folder
        from helpers.scoring.specs import resolve_model
        from helpers.scoring.vllm_server import VllmServer

        server = VllmServer(model_folder(resolve_model(model)), name="bench")
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak["server"] = max(peak["server"], server.group_rss_bytes())
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        server.start()
        backend = openai.load_backend("bench", base_url=server.base_url, concurrency=concurrency, batch_size=n)
    else:
        records, seconds, rss, _ = _run("paper", model, n, 8, datasets_dir, "first")
        return {"records": records, "seconds": seconds, "start_seconds": 0.0, "peak_mib": rss}
    start = time.perf_counter() - t0
    try:
        runner.score_questions(backend, warm, "first")
        t0 = time.perf_counter()
        records = runner.score_questions(backend, timed, "first")
        seconds = time.perf_counter() - t0
    finally:
        if server is not None:
            server.stop()
            stop.set()
            sampler.join()
    slim = [{"qid": r["qid"], "grade": r["grade"], "msp": float(r["msp"])} for r in records]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"records": slim, "seconds": seconds, "start_seconds": start, "peak_mib": own + peak["server"] / 2**20}


def bench_backends(routes: list[str], model: str, n: int, datasets_dir: str | None, concurrency: int) -> int:
    """Each route in a fresh process (``--route``); prints the table of q/s, ratios to hf fast, peak
    memory and agreement with hf; 1 if a route's grades differ from hf's."""
    import json
    import subprocess

    results = {}
    for route in routes:
        cmd = [sys.executable, __file__, "--route", route, "--model", model, "--n", str(n),
               "--concurrency", str(concurrency)] + (["--datasets-dir", datasets_dir] if datasets_dir else [])
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "VLLM_CONFIGURE_LOGGING": "0"})
        if done.returncode != 0:
            print(f"{route}: failed\n{done.stderr[-3000:]}")
            return 1
        results[route] = json.loads(done.stdout.strip().splitlines()[-1])
    base = results.get("hf")
    print(f"\n{n} questions (equal shares of the five datasets), first phrasing, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; openai: {concurrency} concurrent requests")
    print(f"{'route':<8}{'seconds':>9}{'q/s':>8}{'x hf':>7}{'start s':>9}{'peak MiB':>10}  same grades as hf, max |dMSP|")
    same_all = True
    for route, r in results.items():
        agree = ""
        if base is not None and route != "hf":
            same = [a["grade"] for a in r["records"]] == [b["grade"] for b in base["records"]]
            dmsp = max(abs(a["msp"] - b["msp"]) for a, b in zip(r["records"], base["records"]))
            agree = f"{'yes' if same else 'NO'}, {dmsp:.1e}"
            same_all &= same
        ratio = base["seconds"] / r["seconds"] if base else float("nan")
        print(f"{route:<8}{r['seconds']:>9.2f}{n / r['seconds']:>8.2f}{ratio:>7.2f}{r['start_seconds']:>9.1f}"
              f"{r['peak_mib']:>10.0f}  {agree}")
    return 0 if same_all else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="tiny,smollm2")
    p.add_argument("--n", type=int, default=N_QUESTIONS)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--datasets-dir", default=None)
    p.add_argument("--backends", help="comma-separated routes: hf, vllm, openai (and paper with a GPU)")
    p.add_argument("--model", default="smollm2", help="--backends: a Hugging Face id, folder or GGUF file")
    p.add_argument("--concurrency", type=int, default=8, help="--backends: requests in flight (openai)")
    p.add_argument("--route", choices=ROUTES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.backends or args.route:
        from helpers.scoring.specs import smollm2_gguf

        model = str(smollm2_gguf()) if args.model == "smollm2" else args.model
        if args.route:
            import json

            print(json.dumps(_backend_route(args.route, model, args.n, args.datasets_dir, args.concurrency)))
            return 0
        routes = [r.strip() for r in args.backends.split(",") if r.strip()]
        import torch

        if torch.cuda.is_available() and "paper" not in routes:
            routes = ["paper", *routes]
        unknown = sorted(set(routes) - set(ROUTES))
        if unknown:
            p.error(f"unknown route(s) {unknown}; valid: {', '.join(ROUTES)}")
        return bench_backends(routes, model, args.n, args.datasets_dir, args.concurrency)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers.scoring import hf
    from helpers.scoring.specs import smollm2_gguf

    verdicts = {}
    for name in args.models.split(","):
        if name == "tiny":
            from tiny_model import build_tiny_model

            with hf.quiet_loading():
                model = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="tiny-llama-"))))
        else:
            model = str(smollm2_gguf()) if name == "smollm2" else name
            hf.load_model(model, device="cpu")  # convert a GGUF once, outside the timing
        print(f"\nload average before {name}: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} CPUs", flush=True)
        r = bench(model, args.n, args.batch_size, args.datasets_dir, args.repeats)
        verdicts[name] = report(name, r, args.n, args.batch_size, args.repeats)
    print("\n" + ", ".join(f"{k}: {'OK' if ok else 'MISSED'}{'' if same else ' (ANSWERS DIFFER)'}"
                            for k, (ok, same) in verdicts.items()))
    # a missed speed target is reported, not a failure; different answers are
    return 0 if all(same for _, same in verdicts.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
