"""Chapter parameters of the wrong type or value are refused with a message naming the parameter."""

from __future__ import annotations

import pytest

from helpers.data.parameters import CHECKS, check_parameters


@pytest.mark.parametrize("name, value, expected", [
    ("datasets", 5, "parameter datasets: expected None, a name or a list of names out of"),
    ("datasets", ["arc", "gsm8k"], "unknown: ['gsm8k']"),
    ("limit", "abc", "parameter limit: expected a whole number of at least 1, got 'abc' (str)"),
    ("limit", -5, "parameter limit: expected a whole number of at least 1, got -5 (int)"),
    ("limit", True, "got True (bool)"),
    ("k", 0, 'parameter k: expected a whole number of at least 1, or "half", got 0 (int)'),
    ("k", "all", "got 'all' (str)"),
    ("mode", "quick", "parameter mode: expected one of ['fast', 'faithful']"),
    ("scores_dir", 3, "parameter scores_dir: expected None or a text"),
    ("phrasings", ["third"], "unknown: ['third']"),
])
def test_wrong_values_name_the_parameter(name, value, expected):
    with pytest.raises(ValueError) as error:
        check_parameters(**{name: value})
    assert expected in str(error.value)


@pytest.mark.parametrize("parameters", [
    {"models": None, "datasets": None, "published_dir": None, "scores_dir": None},
    {"models": "Mistral", "datasets": ["arc", "mmlu"], "k": "half", "limit": 200},
    {"k": 20, "mode": "faithful", "device": "cpu", "batch_size": 8, "phrasings": ["first"]},
])
def test_good_values_pass(parameters):
    assert check_parameters(**parameters) is None


def test_an_unknown_parameter_is_named():
    with pytest.raises(ValueError, match=r"parameter limt: not a parameter this book knows; known: \["):
        check_parameters(limt=3)
    assert "limit" in CHECKS
