"""Option log-likelihoods, the way lm-evaluation-harness scores ``multiple_choice`` tasks.

For each option, the model reads ``context + continuation`` once and the log-probabilities of the
continuation's tokens are summed (lm-eval's ``acc``); ``acc_norm`` divides that sum by the option's
length in characters. As in lm-eval:

- the continuation is ``delimiter + option``; the delimiter is ``" "`` for a plain prompt and ``""``
  when the context went through a chat template (lm-eval drops its target delimiter with
  ``--apply_chat_template``, the answer starting the assistant turn);
- whitespace ending the context is moved to the start of the continuation, then the whole text is
  tokenised and the context's own token count splits it (:func:`encode_pair`), so a template's
  ``"assistant\\n"`` contributes its newline token to every option alike;
- the length used for normalising is that of the option text, without delimiter or moved whitespace.

Here the context is the paper's prompt as the book sends it (through the chat template), so the
option's text answers where the paper's models wrote a letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: lm-eval's default ``target_delimiter``, used when no chat template formats the context
PLAIN_DELIMITER = " "
CHAT_DELIMITER = ""


def split_context(context: str, continuation: str) -> tuple[str, str]:
    """lm-eval's move of the context's trailing whitespace to the continuation."""
    n = len(context) - len(context.rstrip())
    if n:
        return context[:-n], context[-n:] + continuation
    return context, continuation


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) as lm-eval's causal ``_encode_pair``: the whole text tokenised
    with the tokenizer's default special tokens, split at the length of the context's own encoding."""
    if not context:
        raise ValueError("the context must not be empty")
    context, continuation = split_context(context, continuation)
    whole = list(tokenizer(context + continuation)["input_ids"])
    n_context = len(tokenizer(context)["input_ids"])
    return whole[:n_context], whole[n_context:]


@dataclass(frozen=True)
class OptionScore:
    """An option's continuation tokens, their log-probabilities, the sum (lm-eval ``acc``), the sum
    over the option's length in characters (``acc_norm``), and whether every token was the argmax."""

    option: str
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    greedy: bool

    @property
    def total(self) -> float:
        return float(sum(self.logprobs))

    @property
    def normalised(self) -> float:
        return self.total / max(len(self.option), 1)


def choice(scores: Sequence[OptionScore], *, normalised: bool = False) -> int:
    """Index of the option with the highest (length-normalised) log-likelihood, first on ties."""
    values = [s.normalised if normalised else s.total for s in scores]
    return max(range(len(values)), key=values.__getitem__)
