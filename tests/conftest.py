"""Shared fixtures. Tests on the real data read its location from the environment (the Makefile sets
it) and fail, rather than skip, when it is missing: a green run must mean the real data were checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _required_dir(var: str, marker: str) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"environment variable {var} is not set: these tests read local copies of the data "
                    f"(run them through `make test` with a local copy configured, or set {var})")
    path = Path(value)
    if not (path / marker).exists():
        pytest.fail(f"{var}={value} does not hold {marker}/")
    return path


@pytest.fixture(scope="session")
def published_dir() -> Path:
    """The authors' published results (main_results/, one_shot_results/, figs/), found as the book
    finds them: ``MSP_PUBLISHED_DIR`` if set, else the copy ``make test`` downloaded into
    data/published (downloaded now if missing). Fails, naming what to do, when neither can be had."""
    from helpers.data.published import published_dir as find

    try:
        return find()
    except (OSError, ValueError) as exc:
        pytest.fail(f"the authors' results cannot be had ({exc}): run `make test` with network access "
                    "(it downloads them into data/published), or set MSP_PUBLISHED_DIR to a local copy")


@pytest.fixture(scope="session")
def datasets_dir():
    """Where the tests read the five datasets: the local copy ``MSP_DATASETS_DIR`` if set, else the
    Hugging Face datasets the paper used, through the ``datasets`` library and its cache
    (``helpers.data.datasets.ONLINE``); pass it as ``source=``."""
    from helpers.data.datasets import ONLINE

    value = os.environ.get("MSP_DATASETS_DIR")
    return _required_dir("MSP_DATASETS_DIR", "arc_challenge") if value else ONLINE


@pytest.fixture(scope="session")
def local_datasets_dir() -> Path:
    """The local copy of the datasets, for the tests that read its files directly."""
    return _required_dir("MSP_DATASETS_DIR", "arc_challenge")


@pytest.fixture(scope="session")
def published(published_dir):
    """The zero-shot published answers as the tidy table (parsed once, then read from the cache)."""
    from helpers.data.published import load_published

    return load_published(published_dir, shots=0)


# Tests never reach a model hub: every model they load is built locally or shipped by a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
