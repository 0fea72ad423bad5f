"""Questions per second of fast mode, faithful mode and the paper's own code path, on the same questions.

    python benchmarks/bench_scoring.py [--models tiny,smollm2] [--n 100] [--batch-size 8]

- **paper**: the authors' ``generate_text.py`` as written: ``generate`` (greedy, ``max_new_tokens=100``,
  batched, left padding, no stopping but EOS of the whole batch), all step scores stacked into one
  (steps, batch, vocab) float32 tensor, and their ``min_max_logit``/``token_idx_of_first_target``
  applied to it (re-implemented here verbatim in spirit, as the reference);
- **faithful**: ``helpers.scoring`` faithful mode (the same generation, confidences per step);
- **fast**: ``helpers.scoring`` fast mode.

Each method runs in a fresh process, so its peak resident memory (``ru_maxrss``) is its own; model
loading is not timed. The script checks that the three give identical grades and MSPs (1e-5).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

N_QUESTIONS = 100


def _questions(n: int, datasets_dir: str | None):
    """The same n questions for every method: equal shares of the five datasets (paper order)."""
    from helpers.datasets import load_questions
    from helpers.table import DATASETS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the local HellaSwag substitution
        per = -(-n // len(DATASETS))
        qs = [q for d in DATASETS for q in load_questions(d, source=datasets_dir, limit=per)]
    return qs[:n]


def _paper_way(lm, questions, phrasing: str, batch_size: int) -> list[dict]:
    """The authors' generate + compute_confidence_levels on stacked scores (METHODS §4-§6)."""
    import torch

    from helpers import grading, prompts

    out = []
    for start in range(0, len(questions), batch_size):
        batch = questions[start:start + batch_size]
        texts = [prompts.chat_text(lm.tokenizer, prompts.build_prompt(q, phrasing)) for q in batch]
        inputs = lm.tokenizer(texts, return_tensors="pt", padding=True).to(lm.device)
        with torch.inference_mode():
            gen = lm.model.generate(**inputs, max_new_tokens=100, do_sample=False, output_scores=True,
                                    return_dict_in_generate=True, renormalize_logits=False,
                                    pad_token_id=lm.tokenizer.pad_token_id)
        tokens = [gen.sequences[i][inputs["input_ids"].shape[1]:] for i in range(len(batch))]
        responses = lm.tokenizer.batch_decode(tokens, skip_special_tokens=True)
        scores = torch.stack(list(gen.scores), dim=0).to(torch.float32)
        for i, (q, response) in enumerate(zip(batch, responses)):
            idx = _token_idx(lm.tokenizer, response, grading.answer_char_index(response, q.options))
            part = scores[idx:idx + 1] if idx >= 0 else scores[0:0]
            if len(part) == 0:
                msp = 0.0
            else:
                probs = torch.exp(part) / torch.sum(torch.exp(part), dim=2, keepdim=True)
                msp = float(torch.max(probs, dim=2).values.min(dim=0).values[i])
            parsed = grading.parse_answer(response, len(q.options), q.options)
            out.append({"qid": q.position, "dataset": q.dataset, "grade": grading.grade(parsed, q.gold),
                        "msp": np.float32(msp)})
    return out


def _token_idx(tokenizer, s: str, i: int) -> int:
    if i < 0:
        return -1
    offsets = tokenizer(s, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
    for k, (start, end) in enumerate(offsets):
        if start <= i < end:
            return k
    return -1


def _run(method: str, model: str, n: int, batch_size: int, datasets_dir: str | None, phrasing: str):
    """In a fresh process: load, time one method, return (records, seconds, peak RSS MiB)."""
    import torch
    import transformers

    from helpers import scoring

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    lm = scoring.load_model(model, device="cpu")
    questions = _questions(n, datasets_dir)
    t0 = time.perf_counter()
    if method == "paper":
        records = _paper_way(lm, questions, phrasing, batch_size)
    else:
        records = [{"qid": r["qid"], "grade": r["grade"], "msp": r["msp"]} for r in
                   scoring.score_questions(lm, questions, phrasing, mode=method, batch_size=batch_size)]
        for r, q in zip(records, questions):
            r["dataset"] = q.dataset
    seconds = time.perf_counter() - t0
    return records, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(model: str, n: int, batch_size: int, datasets_dir: str | None, phrasing: str = "first") -> dict:
    ctx = mp.get_context("spawn")
    results = {}
    for method in ("fast", "faithful", "paper"):
        with ctx.Pool(1) as pool:
            results[method] = pool.apply(_run, (method, model, n, batch_size, datasets_dir, phrasing))
    base = results["paper"][0]
    for method in ("fast", "faithful"):
        recs = results[method][0]
        same_grade = [a["grade"] == b["grade"] for a, b in zip(recs, base)]
        diff = max(abs(float(a["msp"]) - float(b["msp"])) for a, b in zip(recs, base))
        results[method] += (all(same_grade) and len(recs) == len(base), diff)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="tiny,smollm2")
    p.add_argument("--n", type=int, default=N_QUESTIONS)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--datasets-dir", default=None)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers import scoring

    ok = True
    for name in args.models.split(","):
        if name == "tiny":
            from tiny_model import build_tiny_model

            model = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="tiny-llama-"))))
        else:
            model = str(scoring.smollm2_gguf()) if name == "smollm2" else name
            scoring.load_model(model, device="cpu")  # convert a GGUF once, outside the timing
        r = bench(model, args.n, args.batch_size, args.datasets_dir)
        paper_s = r["paper"][1]
        print(f"\n{name}: {args.n} questions, batch size {args.batch_size}, first phrasing")
        print(f"{'method':<10}{'seconds':>9}{'q/s':>8}{'x paper':>9}{'peak MiB':>10}  identical to paper")
        for method in ("paper", "faithful", "fast"):
            recs, sec, rss = r[method][:3]
            same = "" if method == "paper" else \
                f"grades {'yes' if r[method][3] else 'NO'}, max |dMSP| {r[method][4]:.1e}"
            print(f"{method:<10}{sec:>9.1f}{len(recs) / sec:>8.2f}{paper_s / sec:>9.1f}{rss:>10.0f}  {same}")
            if method != "paper":
                ok &= bool(r[method][3]) and r[method][4] <= 1e-5
    print("\nall identical" if ok else "\nMISMATCH between methods")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
