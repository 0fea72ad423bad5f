"""Wall time of the CSV export, ``python -m helpers.tables``, on the full zero-shot data (target < 30 s;
the bootstrap behind the intervals is read from the analysis cache when a chapter or an earlier run
stored it, else computed, which adds the bootstrap's time).

Runs the command in a fresh process (so the time includes imports and loading the cached answers)
into a temporary folder, and prints the seconds taken.
"""

import subprocess
import sys
import tempfile
import time


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "helpers.tables", "--out", out], check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
    print(f"helpers.tables CLI (9 CSV files, zero-shot data): {seconds:.1f} s (target < 30 s) "
          f"{'OK' if seconds < 30 else 'MISSED'}")


if __name__ == "__main__":
    main()
