"""Transformers reference computations for the vLLM backend tests (float32 forward passes)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from helpers.scoring_vllm_draft.likelihood import CHAT_DELIMITER, encode_pair


@torch.inference_mode()
def teacher_forced_logits(lm, prompt_ids: Sequence[int], generated: Sequence[int]) -> torch.Tensor:
    """(len(generated), vocab) float32: the logits that predicted each generated token, from one
    forward pass over the prompt followed by the generated tokens."""
    ids = torch.tensor([list(prompt_ids) + list(generated[:-1])])
    return lm.model(input_ids=ids, logits_to_keep=len(generated)).logits[0].float()


@torch.inference_mode()
def option_logprobs(lm, contexts: Sequence[str], options: Sequence[Sequence[str]],
                    delimiter: str = CHAT_DELIMITER) -> list[list[dict]]:
    """Per context and option: continuation token ids, their log-probabilities (float64 log-softmax
    of the float32 logits) and whether each was the argmax. The context runs once; the options'
    continuations then run together (right-padded) on copies of its KV cache."""
    out = []
    pad = lm.tokenizer.pad_token_id
    for context, opts in zip(contexts, options):
        pairs = [encode_pair(lm.tokenizer, context, delimiter + o) for o in opts]
        ctx = pairs[0][0]
        assert all(p[0] == ctx for p in pairs), "options split the context differently"
        conts = [p[1] for p in pairs]
        first = lm.model(input_ids=torch.tensor([ctx]), use_cache=True, logits_to_keep=1)
        cache = first.past_key_values
        cache.batch_repeat_interleave(len(opts))
        width = max(len(c) for c in conts)
        ids = torch.tensor([c + [pad] * (width - len(c)) for c in conts])
        mask = torch.tensor([[1] * (len(ctx) + len(c)) + [0] * (width - len(c)) for c in conts])
        more = lm.model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True).logits
        row = []
        for k, (option, cont) in enumerate(zip(opts, conts)):
            logits = torch.cat([first.logits[0, -1:], more[k, :len(cont) - 1]]).double()
            lp = torch.log_softmax(logits, dim=-1)
            row.append({"option": option, "token_ids": cont,
                        "logprobs": [float(lp[j, t]) for j, t in enumerate(cont)],
                        "greedy": all(int(logits[j].argmax()) == t for j, t in enumerate(cont))})
        out.append(row)
    return out
