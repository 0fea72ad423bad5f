"""Loader speed: cold parse of all published result files and warm load from the parquet cache.

Targets: cold parse of all files (zero-shot and one-shot) < 10 s, warm load < 1 s.
"""

import tempfile
import time

from helpers.data.published import list_result_files, load_published, published_dir


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main() -> None:
    root = published_dir()
    files = list_result_files(root, shots=None)
    lines = sum(f.end - f.start for f in files)
    with tempfile.TemporaryDirectory() as cache:
        answers, cold = timed(lambda: load_published(root, shots=None, cache_dir=cache))
        _, warm = timed(lambda: load_published(root, shots=None, cache_dir=cache))
        _, warm0 = timed(lambda: load_published(root, shots=0, cache_dir=cache))
    print(f"{len(files):,} files, {lines:,} data lines -> {len(answers):,} answers (norm + raw joined)")
    print(f"cold parse, all files:       {cold:6.2f} s   (target < 10 s)  {'OK' if cold < 10 else 'MISSED'}")
    print(f"warm load, all answers:      {warm:6.2f} s   (target < 1 s)   {'OK' if warm < 1 else 'MISSED'}")
    print(f"(first zero-shot load:       {warm0:6.2f} s, parses main_results/ into its own cache entry)")


if __name__ == "__main__":
    main()
