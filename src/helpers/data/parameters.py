"""The parameters a chapter accepts, checked before anything runs: a wrong type or value raises a
``ValueError`` that names the parameter, what it expects and what it got."""

from __future__ import annotations

from collections.abc import Callable

from helpers.data.vocabulary import DATASETS, PHRASINGS


def _keys(valid: tuple[str, ...] | None) -> Callable[[object], str | None]:
    """None, a name, or a list of names (each in ``valid`` when given)."""
    def check(value):
        if value is None:
            return None
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return "None, a name or a list of names" + (f" out of {list(valid)}" if valid else "")
        unknown = [v for v in value if valid is not None and v not in valid]
        return f"names out of {list(valid)}; unknown: {unknown}" if unknown else None
    return check


def _positive_int(value) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else "a whole number of at least 1"


def _optional_text(value) -> str | None:
    return None if value is None or isinstance(value, str) else "None or a text (a path or an id)"


def _one_of(*choices: str) -> Callable[[object], str | None]:
    return lambda value: None if value in choices else f"one of {list(choices)}"


def _k(value) -> str | None:
    return None if value == "half" or _positive_int(value) is None else 'a whole number of at least 1, or "half"'


#: parameter name -> its check (None when the value is fine, else what it expects)
CHECKS: dict[str, Callable[[object], str | None]] = {
    "models": _keys(None),
    "example_models": _keys(None),
    "datasets": _keys(DATASETS),
    "phrasings": _keys(PHRASINGS),
    "published_dir": _optional_text,
    "scores_dir": _optional_text,
    "model": _optional_text,
    "k": _k,
    "limit": _positive_int,
    "batch_size": _positive_int,
    "resamples": _positive_int,
    "mode": _one_of("fast", "faithful"),
    "device": _one_of("auto", "cpu", "cuda"),
}


def check_parameters(**parameters) -> None:
    """Check a chapter's parameters by name (:data:`CHECKS`); raise ``ValueError`` for the first one
    that is wrong, e.g. "parameter limit: expected a whole number of at least 1, got 'abc' (str)".

    >>> check_parameters(limit=200, datasets=["arc"])
    """
    for name, value in parameters.items():
        if name not in CHECKS:
            raise ValueError(f"parameter {name}: not a parameter this book knows; known: {sorted(CHECKS)}")
        expected = CHECKS[name](value)
        if expected is not None:
            raise ValueError(f"parameter {name}: expected {expected}, got {value!r} ({type(value).__name__})")
