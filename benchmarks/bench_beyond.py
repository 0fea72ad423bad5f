"""Wall time of the analyses of the chapters beyond the paper, on the full published data, with the
chapters' default sizes: the recalibration table and its k sweep, the selective-answering bootstrap
of correlations (1000 resamples over questions), the conformal k sweep, and the paired one-shot
bootstrap (1000 resamples per model). Targets: each < 5 min on one core.
"""

import time

from helpers.analysis import one_shot, recalibration, selective
from helpers.data.published import load_published

TARGET = 300


def timed(label: str, function) -> None:
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:7.1f} s   (target < {TARGET} s)  {'OK' if seconds < TARGET else 'MISSED'}")


def main() -> None:
    zero = load_published(shots=0)
    one = load_published(shots=1)
    paired = one_shot.paired_answers(zero, one)
    timed("recalibration table, k = 20", lambda: recalibration.recalibration_table(zero, 20))
    timed("recalibration sweep, 7 values of k", lambda: recalibration.recalibration_sweep(zero))
    timed("selective bootstrap correlations, 1000 draws", lambda: selective.bootstrap_correlations(zero))
    timed("conformal sweep, 6 values of k", lambda: selective.conformal_sweep(zero))
    timed("one-shot paired bootstrap, 1000 draws", lambda: one_shot.paired_differences(paired))


if __name__ == "__main__":
    main()
