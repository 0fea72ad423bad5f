"""Wall time of the question bootstrap on the full zero-shot data (14 models, 21,407 questions,
2 phrasings, 2 signals): ``analysis.bootstrap.question_bootstrap`` with 1,000 resamples.

Target: < 60 s with the default threads (the design, the point estimates and the replicates
included; loading the cached answers not). Also times the per-resample cost with one thread, on a
shorter run, so a slow machine can be told from a slow code path. The load average is printed first:
other processes on the same cores slow every number down.
"""

import argparse
import os
import time

from helpers.analysis import bootstrap
from helpers.data.published import load_published, published_dir

TARGET = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=bootstrap.N_RESAMPLES)
    parser.add_argument("--workers", type=int, default=bootstrap.WORKERS)
    args = parser.parse_args()
    answers = load_published(published_dir(), shots=0)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {len(answers):,} answers")
    start = time.perf_counter()
    bootstrap.question_bootstrap(answers, n_resamples=100, workers=1)
    one = (time.perf_counter() - start) / 100
    print(f"one thread, 100 resamples (setup included): {100 * one:.1f} s ({1000 * one:.0f} ms per resample)")
    start = time.perf_counter()
    boot = bootstrap.question_bootstrap(answers, n_resamples=args.resamples, workers=args.workers)
    seconds = time.perf_counter() - start
    print(f"question bootstrap, {args.resamples:,} resamples, {args.workers} thread(s): {seconds:.1f} s "
          f"({len(boot.model_replicates):,} model rows, {len(boot.cell_replicates):,} cell rows) "
          f"(target < {TARGET:.0f} s for 1,000) {'OK' if seconds < TARGET * args.resamples / 1000 else 'MISSED'}")


if __name__ == "__main__":
    main()
