"""Chapter execution time: every chapter of the book executed by papermill on the full data.

Targets: the four claim chapters together in under 2 minutes; every chapter of the book together in
under 4 minutes. Executes a copy of the book in a
temporary folder, so the executed chapters of the working tree are left as they are.
"""

import tempfile
import time
from pathlib import Path

from helpers import book

CLAIMS = ("calibration", "correctness", "correlations", "abstention")


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
    total = sum(times.values())
    print(f"every chapter together: {total:.1f} s (target < 240 s) {'OK' if total < 240 else 'MISSED'}")


if __name__ == "__main__":
    main()
