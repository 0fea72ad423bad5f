"""Reading the answer out of a response, and grading it (METHODS §5 and §6).

All searches are ``str.find`` over the whole response (substrings anywhere, e.g. ``"DNA."`` contains
``"A."``); the earliest position wins, ties going to the earlier target in the list.
"""

from __future__ import annotations

from collections.abc import Sequence

from helpers.data.method import LETTERS


def _earliest(text: str, targets: Sequence[str]) -> tuple[int, int] | None:
    """(position, target index) of the earliest occurrence of any target in ``text``; None if none."""
    found = [(pos, i) for i, t in enumerate(targets) if (pos := text.find(t)) != -1]
    return min(found) if found else None


def _letters(n_options: int) -> str:
    if not 0 < n_options <= len(LETTERS):
        raise ValueError(f"n_options must be between 1 and {len(LETTERS)}, got {n_options}")
    return LETTERS[:n_options]


def letter_period(response: str, n_options: int) -> tuple[int, int] | None:
    """Rule 1 (METHODS §5): (position, option index) of the earliest ``"X."`` among the first
    ``n_options`` letters, case-sensitive and anywhere (``"DNA."`` holds ``"A."``); None if none."""
    return _earliest(response, [f"{x}." for x in _letters(n_options)])


def parse_answer(response: str, n_options: int, options: Sequence[str]) -> int | None:
    """The option the response picks, as ``Test.determine_llm_answer`` reads it (METHODS §5).

    Letters are restricted to the first ``n_options``. 1. earliest ``"X."`` (case-sensitive);
    2. else the option whose text occurs earliest, case-insensitively; 3. else the earliest bare
    capital letter (e.g. the ``A`` of ``Answer``); 4. else None (unparseable).
    """
    letters = _letters(n_options)
    for hit in (letter_period(response, n_options),
                _earliest(response.lower(), [o.lower() for o in options]),
                _earliest(response, list(letters))):
        if hit is not None:
            return hit[1]
    return None


def answer_char_index(response: str, options: Sequence[str]) -> int:
    """Character index whose token carries the confidence (METHODS §6, ``compute_confidence_levels``).

    The start of the earliest ``"X."`` among the first ``len(options)`` letters; else of the earliest
    option text (case-sensitive) or bare letter, whichever comes first; -1 if none occurs.
    """
    hit = letter_period(response, len(options)) or _earliest(response, [*options, *_letters(len(options))])
    return -1 if hit is None else hit[0]


def grade(answer: int | None, gold: int) -> str:
    """``'correct'`` if the parsed option is gold, ``'unparseable'`` if None, else ``'wrong'`` (§5)."""
    if answer is None:
        return "unparseable"
    return "correct" if answer == gold else "wrong"
