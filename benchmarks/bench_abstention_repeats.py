"""Wall time of the repeated-split abstention runs on the full zero-shot data
(``analysis.abstention_repeats``): the main overall run, k = 20, both signals and both penalties,
over 1,000 seeds; then the k sweep (5, 10, 20, 50, 100, 200, 'half') over its default 200 seeds.

Targets: main run < 60 s; sweep < 60 s. About half of the main run is the paper's own shuffle
(Python's ``random.shuffle`` of ~43,000 pooled answers per seed), which is kept so that seed s
reproduces ``helpers.abstention.pooled_splits(..., seed=s)`` exactly. The load average is printed
first: other processes on the same cores slow every number down.
"""

import os
import time

from helpers.analysis import abstention_repeats
from helpers.data.published import load_published, published_dir

TARGET_MAIN = 60.0
TARGET_SWEEP = 60.0


def main() -> None:
    answers = load_published(published_dir(), shots=0)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {len(answers):,} answers")
    start = time.perf_counter()
    main_run = abstention_repeats.repeated_split_scores(answers, ks=(20,), seeds=range(abstention_repeats.N_SEEDS))
    seconds = time.perf_counter() - start
    print(f"overall run, k = 20, {abstention_repeats.N_SEEDS:,} seeds: {seconds:.1f} s ({len(main_run):,} rows) "
          f"(target < {TARGET_MAIN:.0f} s) {'OK' if seconds < TARGET_MAIN else 'MISSED'}")
    start = time.perf_counter()
    sweep = abstention_repeats.k_sweep_scores(answers)
    seconds = time.perf_counter() - start
    ks = ", ".join(map(str, abstention_repeats.SWEEP_KS))
    print(f"k sweep ({ks}), {abstention_repeats.SWEEP_SEEDS} seeds: {seconds:.1f} s ({len(sweep):,} rows) "
          f"(target < {TARGET_SWEEP:.0f} s) {'OK' if seconds < TARGET_SWEEP else 'MISSED'}")


if __name__ == "__main__":
    main()
