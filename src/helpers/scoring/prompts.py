"""The paper's prompts, character for character (METHODS §3, ``take_qa_test.py:Test.make_prompt``).

``build_prompt`` fills one of two templates: an instruction, a context (``"\\n\\nQuestion:"`` /
``"Now here is the question:"`` zero-shot, or a worked example one-shot), then the question block
(question, then ``"A. option"`` lines). ``chat_text`` wraps a prompt as the single user turn of a
chat template (METHODS §3, ``generate_text.py:Generator.prepare_for_chat``).
"""

from __future__ import annotations

import warnings

from helpers.data.datasets import Question
from helpers.data.method import (DROP_LAST_CHAR, LETTERS, ONE_SHOT_CONTEXT, OPTION_LINE, TEMPLATES,
                                 ZERO_SHOT_CONTEXT)
from helpers.data.vocabulary import PHRASINGS


def question_block(q: Question) -> str:
    """The question, then one ``"A. option"`` line per option in shown order (``make_question``)."""
    lines = [OPTION_LINE.format(letter=LETTERS[i], option=o) for i, o in enumerate(q.options)]
    return q.question + "\n" + "\n".join(lines)


def build_prompt(q: Question, phrasing: str, example: Question | None = None, *,
                 model: str | None = None) -> str:
    """The paper's prompt for ``q``: zero-shot if ``example`` is None, else one-shot with that example
    and its gold letter. For ``model='Falcon-7b'`` the first phrasing drops its last character."""
    if phrasing not in TEMPLATES:
        raise ValueError(f"unknown phrasing {phrasing!r}; valid: {', '.join(PHRASINGS)}")
    context = (ZERO_SHOT_CONTEXT[phrasing] if example is None else
               ONE_SHOT_CONTEXT.format(example=question_block(example), letter=LETTERS[example.gold]))
    prompt = TEMPLATES[phrasing].format(context=context, question=question_block(q))
    return prompt[:-1] if phrasing == "first" and model in DROP_LAST_CHAR else prompt


def chat_text(tokenizer, prompt: str) -> str:
    """``prompt`` as one user turn through the tokenizer's chat template, with the generation prompt
    appended (no system message); the plain prompt, with a warning, if the tokenizer has no template."""
    if not getattr(tokenizer, "chat_template", None):
        warnings.warn(f"{type(tokenizer).__name__} has no chat template; using the plain prompt",
                      stacklevel=2)
        return prompt
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
