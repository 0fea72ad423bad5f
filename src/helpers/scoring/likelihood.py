"""A second confidence signal: the options' log-likelihoods, the way lm-evaluation-harness and HELM
score multiple choice.

For each option, the model reads the prompt followed by the option's text, and the log-probabilities
of the option's tokens are summed (lm-eval's ``acc``); ``acc_norm`` divides that sum by the option's
length in characters. The signal is the softmax over the options of those values: the answer is
the option with the highest value, its confidence that option's softmax probability
(:func:`option_signal`).

The context is the prompt exactly as the model reads it to write its letter (the paper's prompt
through the chat template, ending with the template's generation prompt, METHODS §3), so the
option's text answers where the paper's models wrote a letter and the context's tokens are those
of the generation's prompt. The option's tokens are found as lm-eval's causal ``_encode_pair`` does
(``lm_eval/api/model.py``): the whole text tokenised, split at the length of the context's own
encoding (:func:`option_tokens`). lm-eval also moves whitespace ending the context into the
continuation and puts a ``" "`` between them; neither applies here: the prompts end with the chat
template's (or the paper's) newline, a token of the prompt, after which the answer starts.
Imports no engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import softmax

#: the two variants of the signal: summed log-likelihood, and summed over the option's characters
VARIANTS = ("option_likelihood", "option_likelihood_norm")


def option_tokens(tokenizer, context: str, options: Sequence[str]) -> tuple[list[int], list[tuple[list[int], list[int]]]]:
    """(the context's own token ids, per option (context ids, option ids)): the text ``context +
    option`` tokenised with the tokenizer's default special tokens and split at the length of the
    context's own encoding. The per-option context ids equal the context's own unless the tokenizer
    merges across the junction."""
    if not context:
        raise ValueError("the context must not be empty")
    own = list(tokenizer(context)["input_ids"])
    pairs = []
    for option in options:
        whole = list(tokenizer(context + option)["input_ids"])
        if len(whole) <= len(own):
            raise ValueError(f"the option {option!r} adds no token after its context")
        pairs.append((whole[:len(own)], whole[len(own):]))
    return own, pairs


def option_signal(logliks: Sequence[float], options: Sequence[str], *, normalised: bool = False) -> tuple[int, float]:
    """(chosen option, its confidence) from the options' summed log-likelihoods: the softmax over
    the options of ``logliks`` (``normalised``: of ``logliks[i] / len(options[i])``, lm-eval's
    ``acc_norm``), its argmax (first on ties) and that probability, float32.

    >>> option_signal([-1.0, -1.0 + np.log(3.0)], ["a", "b"])
    (1, 0.75)
    >>> option_signal([-4.0, -3.0], ["abcd", "x"], normalised=True)
    (0, 0.8807970881462097)
    """
    values = np.asarray(logliks, np.float64)
    if len(values) != len(options) or not len(values):
        raise ValueError(f"{len(values)} log-likelihoods for {len(options)} options")
    if normalised:
        values = values / np.array([max(len(o), 1) for o in options], np.float64)
    p = softmax(values)
    best = int(np.argmax(values))
    return best, float(np.float32(p[best]))
