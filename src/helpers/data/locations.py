"""Where the project keeps data on disk (each overridable by an environment variable)."""

from __future__ import annotations

import os
from pathlib import Path


def repository_root() -> Path:
    """The repository holding this package (this file is ``src/helpers/data/locations.py``)."""
    return Path(__file__).resolve().parents[3]


def data_dir() -> Path:
    """Downloads and caches: env ``MSP_DATA_DIR``, else ``data/`` in the repository."""
    return Path(os.environ.get("MSP_DATA_DIR") or repository_root() / "data")


def scores_dir(scores_dir: str | Path | None = None) -> Path:
    """Per-answer scores of our own model runs: ``scores_dir`` if given, else env ``MSP_SCORES_DIR``,
    else ``scores/`` in the data folder."""
    if scores_dir is not None:
        return Path(scores_dir)
    return Path(os.environ.get("MSP_SCORES_DIR") or data_dir() / "scores")


def models_dir() -> Path:
    """Models converted once for fast loading (e.g. from GGUF): ``models/`` in the data folder."""
    return data_dir() / "models"
