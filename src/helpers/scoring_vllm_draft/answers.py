"""From a generated token list to the paper's answer signals (METHODS §5, §6), for backends that
return the generated tokens themselves (the vLLM engine, an OpenAI-compatible server).

The transformers backend finds the answer token by re-tokenising the decoded response (the paper's
way). Here the generated tokens are known, so the character that carries the answer
(:func:`helpers.grading.answer_char_index`) is mapped into the tokens' texts laid end to end
(:func:`token_spans`): the answer token is the first generated token whose text region contains
that character. Its step gives MSP (the softmax probability of that token, i.e. of the greedy choice),
Max Logit (its raw logit, the step's largest under greedy decoding) and the probabilities of the
option letters. No answer character, or none inside a token: MSP = Max Logit = 0 and the letter
probabilities are NaN, as in ``helpers.scoring.answer_record``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from helpers import grading
from helpers.prompts import LETTERS

REPLACEMENT = "\ufffd"  # how a token holding part of a multi-byte character decodes on its own


def token_spans(pieces: Sequence[str], text: str) -> list[tuple[int, int]]:
    """The character span ``(start, end)`` in ``text`` of each token, given each token's own text.

    Tokens are laid end to end along ``text``. A token text that continues ``text`` at the current
    position covers it (whitespace that ``text`` has there and the token text lacks, as a
    SentencePiece token decoded alone loses its leading space, is included). A token holding part of
    a multi-byte character (its text has U+FFFD) is placed once the next matching token is found:
    such tokens share the text up to there, their ordinary characters where they are and each split
    character with the token holding its first byte (as a fast tokenizer's offset mapping has it).
    A token whose text is not there (a special token such as EOS, absent from a response decoded
    without special tokens) gets an empty span.
    """
    spans: list[tuple[int, int] | None] = [None] * len(pieces)
    pos = 0
    pending: list[int] = []  # tokens with a character fragment, not yet placed

    def place_pending(end: int) -> None:
        # walk the fragment tokens over text[pos:end]: their ordinary characters match the text, a
        # run of U+FFFD (possibly spread over several tokens) stands for one character, taken by the
        # token where the run starts; what is left before ``end`` goes to the last of them
        cursor, in_fragment = pos, False
        for k, i in enumerate(pending):
            start = cursor
            for ch in pieces[i]:
                if ch == REPLACEMENT:
                    if not in_fragment and cursor < end:
                        cursor += 1
                    in_fragment = True
                    continue
                in_fragment = False
                found = text.find(ch, cursor, end)
                if found != -1:
                    cursor = found + 1
            spans[i] = (start, end if k == len(pending) - 1 else cursor)
        pending.clear()

    for i, piece in enumerate(pieces):
        if not piece:
            spans[i] = (pos, pos)
            continue
        at = _match(text, piece, pos, slack=sum(len(pieces[j]) for j in pending) + 4 if pending else 0)
        if at is None:
            if REPLACEMENT in piece:
                pending.append(i)
            else:
                spans[i] = (pos, pos)
            continue
        if pending:
            place_pending(at)
            pos = at
        spans[i] = (pos, at + len(piece))
        pos = at + len(piece)
    if pending:
        place_pending(len(text))
    return [s if s is not None else (pos, pos) for s in spans]


def _match(text: str, piece: str, pos: int, slack: int) -> int | None:
    """Where ``piece`` continues ``text`` from ``pos``: at ``pos`` or after whitespace only, or (when
    character fragments precede it) within ``slack`` characters. None if not there."""
    if text.startswith(piece, pos):
        return pos
    k = pos
    while k < len(text) and text[k].isspace():
        k += 1
    if k > pos and text.startswith(piece, k):
        return k
    if slack:
        found = text.find(piece, pos, pos + slack + len(piece))
        if found != -1:
            return found
    return None


def token_at(spans: Sequence[tuple[int, int]], char_index: int) -> int:
    """Index of the first token whose span contains ``char_index``; -1 for -1 or if none does."""
    if char_index < 0:
        return -1
    for i, (start, end) in enumerate(spans):
        if start <= char_index < end:
            return i
    return -1


@dataclass
class Answer:
    """One prompt's answer and its signals (see the module docstring).

    ``values`` are the per-step values a backend returned for the generated tokens (log-probabilities
    or raw logits, as ``values_are`` says); ``msp`` / ``max_logit`` are NaN when the backend could not
    give them (a server returning log-probabilities has no raw logits, and the other way round), 0 when
    the answer has no position. ``letter_probs`` has one entry per option letter (NaN if unknown).
    """

    response: str
    tokens: list[str]
    token_ids: list[int] | None
    answer_char: int
    answer_token: int
    msp: float
    max_logit: float
    letter_probs: list[float]
    finish_reason: str | None = None
    values: list[float] = field(default_factory=list)
    values_are: str = "logprobs"
    system_fingerprint: str | None = None
    letter_logits: list[float] | None = None

    @property
    def letter_mass(self) -> float:
        """Sum of the option-letter probabilities (NaN if any is unknown)."""
        return float(np.float32(sum(self.letter_probs))) if self.letter_probs else float("nan")

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["letter_mass"] = self.letter_mass
        return out


def answer_position(response: str, tokens: Sequence[str], options: Sequence[str], *,
                    first_token: bool = False) -> tuple[int, int]:
    """(answer character, answer token index) of a response made of ``tokens`` (METHODS §6).
    ``first_token``: the paper's Llama 3 branch (token 0 whenever an answer character exists)."""
    char = grading.answer_char_index(response, options)
    if char < 0:
        return char, -1
    if first_token:
        return char, 0
    return char, token_at(token_spans(tokens, response), char)


def to_record(q, answer: Answer) -> dict:
    """``answer`` to ``q`` as the book's per-answer record (the keys of
    ``helpers.scoring.answer_record``): parsed letter, grade and the answer step's confidences."""
    n = len(q.options)
    parsed = grading.parse_answer(answer.response, n, q.options)
    g = grading.grade(parsed, q.gold)
    letters = np.asarray(answer.letter_probs[:n], np.float32)
    return {"qid": q.position, "question_id": q.question_id, "grade": g, "correct": g == "correct",
            "msp": np.float32(answer.msp), "max_logit": np.float32(answer.max_logit),
            "response": answer.response, "parsed": None if parsed is None else LETTERS[parsed],
            "gold_letter": LETTERS[q.gold], "n_options": n, "answer_token": answer.answer_token,
            "letter_mass": np.float32(letters.sum()), "letter_probs": [float(x) for x in letters]}


def exp32(value: float) -> float:
    """exp in float32 (an MSP from a log-probability, saturating at 1.0 as the paper's float32 did)."""
    return float(np.exp(np.float32(value))) if math.isfinite(value) else 0.0
