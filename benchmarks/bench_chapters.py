"""Chapter execution time: every chapter of the book executed by papermill on the full data.

Targets: every chapter but the three beyond the paper in under 3 minutes, and every chapter in under
4 minutes, with the default 1,000 bootstrap resamples and
1,000 abstention splits (the four claim chapters, reported on their own too, in under 2 minutes).
Executes a copy of the book in a temporary folder, so the executed chapters of the working tree are
left as they are; the bootstrap and the repeated splits come from the analysis cache when an earlier
run stored them (run twice to see both: the first run of a fresh checkout computes them).
"""

import tempfile
import time
from pathlib import Path

from helpers import book

CLAIMS = ("calibration", "correctness", "correlations", "abstention")
BEYOND = ("recalibration", "selective", "one_shot")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-chapters-") as tmp:
        root = book.copy_book(Path(tmp), Path.cwd())
        inputs = book.inputs_digest(Path.cwd())
        times = {}
        for name in book.chapters(root):
            start = time.perf_counter()
            book.execute(name, force=True, inputs=inputs, root=root)
            times[name] = time.perf_counter() - start
            print(f"{name:14s} {times[name]:6.1f} s", flush=True)
    claims = sum(times[n] for n in CLAIMS if n in times)
    print(f"four claim chapters together: {claims:.1f} s (target < 120 s) {'OK' if claims < 120 else 'MISSED'}")
    before = sum(t for n, t in times.items() if n not in BEYOND)
    print(f"every chapter but the three beyond the paper: {before:.1f} s (target < 180 s) "
          f"{'OK' if before < 180 else 'MISSED'}")
    total = sum(times.values())
    print(f"all {len(times)} chapters together: {total:.1f} s (target < 240 s) {'OK' if total < 240 else 'MISSED'}")


if __name__ == "__main__":
    main()
