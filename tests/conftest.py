"""Shared fixtures. Tests on the real data read its location from the environment (the Makefile sets
it) and fail, rather than skip, when it is missing: a green run must mean the real data were checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _required_dir(var: str, marker: str) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"environment variable {var} is not set: these tests need the real data "
                    f"(run them through `make test`, or set {var})")
    path = Path(value)
    if not (path / marker).exists():
        pytest.fail(f"{var}={value} does not hold {marker}/")
    return path


@pytest.fixture(scope="session")
def published_dir() -> Path:
    """The authors' published results: a folder with main_results/ and one_shot_results/."""
    return _required_dir("MSP_PUBLISHED_DIR", "main_results")


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """Local copies of the five datasets (arc_challenge/, hellaswag/, mmlu/, truthfulqa/, winogrande/)."""
    return _required_dir("MSP_DATASETS_DIR", "arc_challenge")


@pytest.fixture(scope="session")
def published(published_dir):
    """The zero-shot published answers as the tidy table (parsed once, then read from the cache)."""
    from helpers.data.published import load_published

    return load_published(published_dir, shots=0)


# Tests never reach a model hub: every model they load is built locally or shipped by a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
