"""A fresh clone with no local copy of the results: the tests obtain them as the book does, by
downloading the pinned archive (served here by a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import tarfile
import threading
from functools import partial
from pathlib import Path

from helpers.data.published import FIGS, FOLDERS, RESULTS_COMMIT

REPO = Path(__file__).resolve().parents[2]


def pinned_archive(published_dir: Path, folder: Path) -> Path:
    """The repository archive as the forge serves it: one top folder holding the result folders and
    the printed tables."""
    archive = folder / f"{RESULTS_COMMIT}.tar.gz"
    top = f"llm-calibration-and-correctness-prediction-{RESULTS_COMMIT}"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for name in (*FOLDERS, FIGS):
            tar.add(published_dir / name, arcname=f"{top}/{name}")
    return archive


def test_the_data_tests_download_the_pinned_results_when_no_copy_is_configured(published_dir, tmp_path):
    archive = pinned_archive(published_dir, tmp_path)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("MSP_PUBLISHED_DIR", "MSP_DATASETS_DIR")}
    env.update(MSP_DATA_DIR=str(data), MSP_RESULTS_URL=f"http://127.0.0.1:{server.server_port}/{archive.name}")
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "tests/data/test_published_checks.py::test_the_pinned_results_cover_every_question_once",
                              "tests/data/test_published_copy.py::test_the_listing_is_the_pinned_digest"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "2 passed" in run.stdout
    assert all((data / "published" / name).is_dir() for name in (*FOLDERS, FIGS))


def test_without_data_or_network_the_tests_fail_and_say_how(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MSP_PUBLISHED_DIR", "MSP_DATASETS_DIR")}
    env.update(MSP_DATA_DIR=str(tmp_path / "data"), MSP_RESULTS_URL="http://127.0.0.1:9/nothing.tar.gz")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/data/test_published_checks.py::test_the_pinned_results_cover_every_question_once"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1
    assert "the authors' results cannot be had" in run.stdout and "MSP_PUBLISHED_DIR" in run.stdout
    assert "skipped" not in run.stdout
