"""Where the project keeps data on disk (each overridable by an environment variable)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Downloads and caches: env ``MSP_DATA_DIR``, else ``./data``."""
    return Path(os.environ.get("MSP_DATA_DIR") or Path.cwd() / "data")


def scores_dir() -> Path:
    """Per-answer scores of our own model runs: env ``MSP_SCORES_DIR``, else ``data/scores``."""
    return Path(os.environ.get("MSP_SCORES_DIR") or data_dir() / "scores")
