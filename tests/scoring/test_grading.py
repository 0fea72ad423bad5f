"""Answer parsing and grading (METHODS §5) and the confidence character (METHODS §6), on hand-made cases."""

import pytest

from helpers.scoring.grading import answer_char_index, grade, letter_period, parse_answer

OPTS4 = ("lightning", "cellular respiration", "air pollution", "condensation")


@pytest.mark.parametrize("response, expected", [
    ("B. cellular respiration", 1),                 # rule 1, the usual case
    ("  D.", 3),
    ("The molecule is DNA.", 0),                    # "DNA." contains "A."
    ("C. is better than A.", 2),                    # earliest "X." wins
    ("Not A, but C. Then B.", 2),                   # rule 1 ignores the bare A
    ("air pollution, i.e. D.", 3),                  # rule 1 beats an earlier option text
    ("CELLULAR RESPIRATION it is", 1),              # rule 2 is case-insensitive
    ("condensation, not lightning", 3),             # rule 2: earliest option text
    ("Answer: none of these", 0),                   # rule 3: the A of "Answer"
    ("I'd go with C", 2),                           # rule 3
    ("b. lowercase letters do not count", None),    # rules 1 and 3 are case-sensitive
    ("", None),
    ("no idea", None),
])
def test_parse_answer_rules(response, expected):
    assert parse_answer(response, 4, OPTS4) == expected


def test_letters_restricted_to_the_first_n():
    opts = ("Sarah", "Maria")
    assert parse_answer("C. Sarah", 2, opts) == 0      # "C." is not a target with 2 options; text is
    assert parse_answer("C. D. E.", 2, opts) is None   # no A./B., no text, no bare A/B
    assert parse_answer("C. D. E.", 5, ("p", "q", "r", "s", "t")) == 2
    assert parse_answer("Clearly, B", 2, opts) == 1    # bare C is not a letter here, B is


def test_option_text_before_bare_letters():
    # "PARIS" holds a bare A, but rule 2 (option text) comes before rule 3
    assert parse_answer("I think PARIS", 2, ("London", "Paris")) == 1
    # equal positions: the option listed first wins, as min() over the paper's list does
    assert parse_answer("paris", 2, ("Par", "Paris")) == 0
    assert parse_answer("paris", 2, ("Paris", "Par")) == 0


def test_parse_answer_rejects_impossible_option_counts():
    with pytest.raises(ValueError, match="n_options"):
        parse_answer("A.", 0, ())
    with pytest.raises(ValueError, match="n_options"):
        parse_answer("A.", 27, ["x"] * 27)


@pytest.mark.parametrize("response, options, expected", [
    ("B. cellular respiration", OPTS4, 0),
    (" The answer is C.", OPTS4, 15),
    ("The molecule is DNA.", OPTS4, 18),
    ("Answer: London", ("Paris", "London"), 0),         # bare A (pos 0) before the text (pos 8)
    ("I think London", ("Paris", "London"), 8),         # option text
    ("paris is it", ("Paris", "London"), -1),           # text search is case-sensitive here
    ("London, so B.", ("Paris", "London"), 11),         # any "X." beats earlier text
    ("C. no", ("Paris", "London"), -1),                 # C is not among the first 2 letters
    ("", OPTS4, -1),
])
def test_answer_char_index(response, options, expected):
    assert answer_char_index(response, options) == expected


def test_parse_and_char_index_differ_where_the_paper_does():
    # the paper parses "Answer: London" as option B (text rule) but reads confidence at the "A"
    assert parse_answer("Answer: London", 2, ("Paris", "London")) == 1
    assert answer_char_index("Answer: London", ("Paris", "London")) == 0


@pytest.mark.parametrize("answer, gold, expected", [
    (1, 1, "correct"), (0, 1, "wrong"), (None, 0, "unparseable"), (0, 0, "correct"),
])
def test_grade(answer, gold, expected):
    assert grade(answer, gold) == expected


@pytest.mark.parametrize("response, n, expected", [
    ("B. cellular", 4, (0, 1)),
    ("The molecule is DNA. Or C.", 4, (18, 0)),     # "DNA." holds "A." and comes first
    ("C. D.", 2, None),                             # only A. and B. count with two options
    ("A B C", 4, None),                             # bare letters are rule 3, not rule 1
])
def test_letter_period(response, n, expected):
    assert letter_period(response, n) == expected
