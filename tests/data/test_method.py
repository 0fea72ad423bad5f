"""The paper's fixed method as constants (``helpers.data.method``): values from METHODS §2-§4, the
template hash that keys the score cache, and which cache settings count as today's method."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from string import ascii_uppercase

import pytest

from helpers.data import method
from helpers.data.method import METHOD_FIELDS, is_current, method_settings, template_hash


def test_constants_of_the_method():
    assert method.SEED == 2549900867          # take_qa_test.py: random.seed(2549900867)
    assert method.BLOCK == 500                # the published files cover q0to500, q500to1000, ...
    assert method.MAX_NEW_TOKENS == 100       # generate_text.py: max_new_tokens=100
    assert method.LETTERS == ascii_uppercase
    assert method.DROP_LAST_CHAR == ("Falcon-7b",)
    assert set(method.TEMPLATES) == set(method.ZERO_SHOT_CONTEXT) == {"first", "second"}
    assert method.OPTION_LINE.format(letter="B", option="red") == "B. red"


def test_template_hash_is_stable_and_tracks_every_template_part(monkeypatch):
    h = template_hash()
    assert re.fullmatch(r"[0-9a-f]{12}", h) and template_hash() == h
    changes = [
        lambda: monkeypatch.setitem(method.TEMPLATES, "second",
                                    method.TEMPLATES["second"].replace("Answer:", "A:")),
        lambda: monkeypatch.setitem(method.ZERO_SHOT_CONTEXT, "first", "\n\nQ:"),
        lambda: monkeypatch.setattr(method, "ONE_SHOT_CONTEXT", method.ONE_SHOT_CONTEXT + " "),
        lambda: monkeypatch.setattr(method, "OPTION_LINE", "{letter}) {option}"),
        lambda: monkeypatch.setattr(method, "LETTERS", "abcdefghijklmnopqrstuvwxyz"),
        lambda: monkeypatch.setattr(method, "DROP_LAST_CHAR", ("Falcon-7b", "Falcon-40b")),
    ]
    seen = {h}
    for change in changes:
        change()
        assert template_hash() not in seen  # each part changes the hash, differently
        seen.add(template_hash())
        monkeypatch.undo()
        assert template_hash() == h


def test_template_hash_is_the_same_in_every_process():
    code = "from helpers.data.method import template_hash; print(template_hash())"
    for seed in ("0", "1"):
        run = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, check=True)
        assert run.stdout.strip() == template_hash()


def test_method_settings_hold_exactly_the_method_fields():
    now = method_settings()
    assert tuple(now) == METHOD_FIELDS
    assert now == {"template_hash": template_hash(), "max_new_tokens": 100, "block": 500,
                   "scoring_version": method.SCORING_VERSION}
    assert method_settings(max_new_tokens=5, block=7) == {**now, "max_new_tokens": 5, "block": 7}


def test_is_current_compares_the_method_fields_only():
    now = method_settings()
    assert is_current(now)
    assert is_current({**now, "dtype": "bfloat16", "load_in_4bit": True})  # engine choices are not the method
    for field, other in [("template_hash", "0" * 12), ("max_new_tokens", 5), ("block", 7),
                         ("scoring_version", method.SCORING_VERSION + 1)]:
        assert not is_current({**now, field: other}), field
        assert not is_current({k: v for k, v in now.items() if k != field}), field
    assert not is_current({})


@pytest.mark.parametrize("name, value", [
    ("TEMPLATES", {"first": "{context}{question}", "second": "{context}{question}"}),
    ("SCORING_VERSION", method.SCORING_VERSION + 1),
])
def test_keys_written_before_a_code_change_are_stale(monkeypatch, name, value):
    written = method_settings()
    monkeypatch.setattr(method, name, value)
    assert not is_current(written)
    assert is_current(method_settings())
