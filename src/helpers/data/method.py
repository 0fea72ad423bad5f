"""The paper's method as constants: seed, block size, generation length, the prompt templates.

Everything a scored answer depends on that is fixed by the method lives here (METHODS §2-§4), so the
score cache can tell an answer made with today's method from a stale one (:func:`is_current`)
without knowing how answers are produced.
"""

from __future__ import annotations

import hashlib
import json
from string import ascii_uppercase

#: the paper's seed: question order, option shuffles, the abstention split (METHODS §2, §8.7)
SEED = 2549900867
#: questions per process in the published runs (file names ``q0to500``, ``q500to1000``, ...)
BLOCK = 500
#: the paper's generation length (METHODS §4)
MAX_NEW_TOKENS = 100
#: bump when the confidence computation changes, so old caches are not reused
SCORING_VERSION = 1

#: option letters, in order (METHODS §3)
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

#: the settings of a score-cache key that define the method; a key whose values differ is stale
METHOD_FIELDS = ("template_hash", "max_new_tokens", "block", "scoring_version")


def template_hash() -> str:
    """12 hex digits of SHA-256 over every template string; changes whenever a prompt would change."""
    parts = [TEMPLATES, ZERO_SHOT_CONTEXT, ONE_SHOT_CONTEXT, OPTION_LINE, LETTERS, DROP_LAST_CHAR]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def method_settings(max_new_tokens: int = MAX_NEW_TOKENS, block: int = BLOCK) -> dict:
    """The :data:`METHOD_FIELDS` of a run with these settings (the defaults: today's method)."""
    return {"template_hash": template_hash(), "max_new_tokens": max_new_tokens, "block": block,
            "scoring_version": SCORING_VERSION}


def is_current(settings: dict) -> bool:
    """True if a cache key's ``settings`` were made with today's method (:data:`METHOD_FIELDS` equal
    to :func:`method_settings` with its defaults)."""
    now = method_settings()
    return all(settings.get(f) == now[f] for f in METHOD_FIELDS)
