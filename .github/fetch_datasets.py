"""Download the five multiple-choice datasets, as the tests read them (``MSP_DATASETS_DIR``), from
the public copies at the pinned commits listed in ``.github/datasets.lock``, checking every file's
sha256. Files already present with the right content are kept.

    python .github/fetch_datasets.py data/datasets
"""

from __future__ import annotations

import hashlib
import sys
import time
import urllib.request
from pathlib import Path

LOCK = Path(__file__).with_name("datasets.lock")


def entries(lock: Path = LOCK) -> list[tuple[str, str, str]]:
    """(sha256, relative path, url) for every file of the lock."""
    rows = []
    for line in lock.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            sha, path, url = line.split()
            rows.append((sha, path, url))
    return rows


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(dest: Path, lock: Path = LOCK) -> int:
    """Fill ``dest``; return how many files were downloaded. Raises on a wrong checksum."""
    downloaded = 0
    for digest, relative, url in entries(lock):
        target = dest / relative
        if target.is_file() and sha256(target) == digest:
            continue
        for attempt in range(4):
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    data = response.read()
                break
            except OSError:
                if attempt == 3:
                    raise
                time.sleep(2 ** attempt)
        found = hashlib.sha256(data).hexdigest()
        if found != digest:
            raise ValueError(f"{url}: sha256 {found}, expected {digest}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
        downloaded += 1
    return downloaded


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    count = fetch(Path(sys.argv[1]))
    print(f"{sys.argv[1]}: {count} files downloaded, {len(entries()) - count} already there")
