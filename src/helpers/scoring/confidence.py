"""Where the confidence is read: the token of the response that carries the answer (METHODS §6).

Shared by every backend that re-tokenises its response with a Hugging Face tokenizer, as the paper
did; imports no torch.
"""

from __future__ import annotations


def answer_token_index(tokenizer, response: str, char_index: int, *, first_token: bool = False) -> int:
    """Index of the token containing ``response[char_index]`` when the response is re-tokenised
    (``add_special_tokens=False``, offset mapping), -1 if ``char_index`` is -1 or in no token (METHODS §6).
    ``first_token``: the paper's Llama 3 branch, which always returned token 0 when a position exists."""
    if char_index < 0:
        return -1
    if first_token:
        return 0
    offsets = tokenizer(response, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
    for i, (start, end) in enumerate(offsets):
        if start <= char_index < end:
            return i
    return -1
