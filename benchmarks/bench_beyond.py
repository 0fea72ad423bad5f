"""Wall time of the analyses of the chapters beyond the paper, on the full published data: the
recalibration table and its k sweep, the selective-answering bootstrap of correlations (1000
resamples over questions), the conformal k sweep, and the paired one-shot bootstrap (1000 resamples
per model), each < 5 min on one core; then the same analyses at the chapters' default sizes and the
three chapters executed by papermill, together < 90 s (their share of the book's 4 minutes).
"""

import tempfile
import time
from pathlib import Path

from helpers import book
from helpers.analysis import one_shot, recalibration, selective
from helpers.data.published import load_published

CHAPTERS = ("recalibration", "selective", "one_shot")
CHAPTERS_TARGET = 90

TARGET = 300


def timed(label: str, function, target: float = TARGET) -> float:
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    print(f"{label:<52} {seconds:7.1f} s   (target < {target} s)  {'OK' if seconds < target else 'MISSED'}",
          flush=True)
    return seconds


def main() -> None:
    zero = load_published(shots=0)
    one = load_published(shots=1)
    paired = one_shot.paired_answers(zero, one)
    timed("recalibration table, k = 20", lambda: recalibration.recalibration_table(zero, 20))
    timed("recalibration sweep, 7 values of k", lambda: recalibration.recalibration_sweep(zero))
    timed("selective bootstrap correlations, 1000 draws", lambda: selective.bootstrap_correlations(zero))
    timed("conformal sweep, 6 values of k", lambda: selective.conformal_sweep(zero))
    timed("one-shot paired bootstrap, 1000 draws", lambda: one_shot.paired_differences(paired))
    # the chapters' default sizes
    timed("chapter: calibration intervals, 2 maps, 50 draws",
          lambda: recalibration.measure_intervals(zero, 20, ("none", "platt"), n_boot=50))
    timed("chapter: k sweep of the ECE, 5 values of k",
          lambda: recalibration.recalibration_sweep(zero, (10, 50, 100, 200, "half"), signals=("msp",),
                                                    only=("ece_equal_mass",)))
    timed("chapter: selective bootstrap, 100 draws", lambda: selective.selective_bootstrap(zero, n_boot=100))
    timed("chapter: one-shot paired bootstrap, 100 draws", lambda: one_shot.paired_differences(paired, n_boot=100))
    with tempfile.TemporaryDirectory(prefix="bench-beyond-") as tmp:
        root = book.copy_book(Path(tmp), Path.cwd())
        inputs = book.inputs_digest(Path.cwd())
        total = sum(timed(f"chapter {name} (papermill)",
                          lambda name=name: book.execute(name, force=True, inputs=inputs, root=root))
                    for name in CHAPTERS)
    print(f"{'the three chapters together':<52} {total:7.1f} s   (target < {CHAPTERS_TARGET} s)  "
          f"{'OK' if total < CHAPTERS_TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
