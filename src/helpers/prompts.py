"""The paper's prompts, character for character (METHODS §3, ``take_qa_test.py:Test.make_prompt``).

``build_prompt`` fills one of two templates: an instruction, a context (``"\\n\\nQuestion:"`` /
``"Now here is the question:"`` zero-shot, or a worked example one-shot), then the question block
(question, then ``"A. option"`` lines). ``chat_text`` wraps a prompt as the single user turn of a
chat template (METHODS §3, ``generate_text.py:Generator.prepare_for_chat``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from string import ascii_uppercase

from helpers.datasets import Question
from helpers.table import PHRASINGS

LETTERS = ascii_uppercase

#: instruction + ``{context}`` + question block; note the 12-space line and the trailing newlines
TEMPLATES: dict[str, str] = {
    "first": ("Below is a multiple-choice question. Choose the letter which best answers the question. "
              "Keep your response as brief as possible; just state the letter corresponding to your "
              "answer, followed by a period, with no explanation. {context}\n            \n"
              "{question}\n\nResponse:\n\n"),
    "second": ("You will be asked a multiple-choice question. Respond with the letter which corresponds "
               "to the correct answer, followed by a period. There is no need to provide an explanation, "
               "so your response should be very short. {context}\n\n{question}\n\nAnswer:\n"),
}
ZERO_SHOT_CONTEXT: dict[str, str] = {"first": "\n\nQuestion:", "second": "Now here is the question:"}
ONE_SHOT_CONTEXT = ("\n\nFirst, here is an example question and the corresponding correct response."
                    "\n\nExample question:\n{example}\nCorrect response: {letter}.\n\n"
                    "Now for the actual question:")
OPTION_LINE = "{letter}. {option}"
#: models whose first-phrasing prompt loses its last newline (the paper's Falcon-7b special case)
DROP_LAST_CHAR = ("Falcon-7b",)


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


def template_hash() -> str:
    """12 hex digits of SHA-256 over every template string; changes whenever a prompt would change."""
    parts = [TEMPLATES, ZERO_SHOT_CONTEXT, ONE_SHOT_CONTEXT, OPTION_LINE, LETTERS, DROP_LAST_CHAR]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
