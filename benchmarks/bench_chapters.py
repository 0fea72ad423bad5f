"""Chapter execution time: every chapter of the book executed by papermill on the full data.

Target: the four claim chapters together in under 2 minutes on 2 cores. Executes in place
(book/executed/), as `make book` does, but regardless of whether anything changed.
"""

import time

from helpers import book

CLAIMS = ("calibration", "correctness", "correlations", "abstention")


def main() -> None:
    inputs = book.inputs_digest()
    times = {}
    for name in book.chapters():
        start = time.perf_counter()
        book.execute(name, force=True, inputs=inputs)
        times[name] = time.perf_counter() - start
        print(f"{name:14s} {times[name]:6.1f} s", flush=True)
    claims = sum(times[n] for n in CLAIMS if n in times)
    print(f"four claim chapters together: {claims:.1f} s (target < 120 s) {'OK' if claims < 120 else 'MISSED'}")


if __name__ == "__main__":
    main()
