"""The paper's greedy answers, MSP and Max Logit from vLLM's offline engine, in one pass.

vLLM returns per generated token either log-probabilities or raw logits, chosen once per engine by
``LLM(logprobs_mode=...)`` (``"raw_logprobs"``, the default, or ``"raw_logits"``; no per-request
choice). MSP needs the first, Max Logit the second, so vLLM's own outputs alone would need two
engines. This engine gets both in one pass with a logits processor, :class:`StepStats`, which sees
every decoding step's raw logits (before sampling) and records, for the requests that ask for it,
the paper's float32 MSP (``exp(s) / sum(exp(s))`` over the full vocabulary, as
``helpers.scoring.step_stats``), the Max Logit, the argmax token and the option letters'
probabilities. It reports through this process's memory, so the engine must run in-process
(``VLLM_ENABLE_V1_MULTIPROCESSING=0``, which this module sets). Each request also asks vLLM for the
log-probabilities of the sampled token and the letters (``SamplingParams(logprob_token_ids=...)``),
kept in :attr:`Answer.values` as a cross-check.

Calls used (vLLM 0.32): ``LLM(model=folder, dtype="float32", max_model_len=..., enforce_eager=True,
logprobs_mode="raw_logprobs", logits_processors=[StepStats])``; ``LLM.generate`` with
``TokensPrompt(prompt_token_ids=ids)`` (the book's tokenizer and chat template make the ids) and
``SamplingParams(temperature=0, max_tokens=100, logprob_token_ids=letter_ids,
extra_args={...})``. Option log-likelihoods (:meth:`OfflineEngine.option_scores`) use
``SamplingParams(max_tokens=1, prompt_logprobs=0, skip_reading_prefix_cache=False)``.
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from helpers import prompts
from helpers.scoring_vllm_draft.answers import Answer, answer_position
from helpers.scoring_vllm_draft.likelihood import CHAT_DELIMITER, OptionScore, encode_pair

MAX_NEW_TOKENS = 100
STATS_KEY = "msp_step_stats"


class EngineError(RuntimeError):
    """The engine could not give the signals asked for."""


def _letter_ids(tokenizer, n: int) -> list[int]:
    ids = []
    for letter in prompts.LETTERS[:n]:
        encoded = tokenizer.encode(letter, add_special_tokens=False)
        if len(encoded) != 1:
            raise EngineError(f"option letter {letter!r} is {len(encoded)} tokens for this tokenizer; "
                              "MSP needs every answer letter to be a single token")
        ids.append(encoded[0])
    return ids


def step_row(logits, letter_ids: Sequence[int]) -> tuple[float, float, int, list[float]]:
    """(MSP, Max Logit, argmax token, letter probabilities) of one step's logits (vocab,), float32,
    with the paper's formula; the max-subtracted softmax where exp overflows."""
    import torch

    s = logits.float()
    e = torch.exp(s)
    p = e / e.sum()
    if not torch.isfinite(p).all():
        p = torch.softmax(s, dim=-1)
    top, arg = s.max(dim=-1)
    letters = p[list(letter_ids)].tolist() if letter_ids else []
    return float(p.max()), float(top), int(arg), letters


def _processor_class():
    from vllm.v1.sample.logits_processor import LogitsProcessor
    from vllm.v1.sample.logits_processor.builtin import process_dict_updates

    class StepStats(LogitsProcessor):
        """Records each step's :func:`step_row` for requests whose ``extra_args`` hold
        ``{STATS_KEY: key, "letter_ids": [...]}``; leaves the logits unchanged."""

        store: dict[str, dict[int, tuple]] = {}

        def __init__(self, vllm_config, device, is_pin_memory):
            self.rows: dict[int, tuple[str, list[int], list[int]]] = {}

        def is_argmax_invariant(self) -> bool:
            # False so that it also runs for greedy requests (vLLM skips argmax-invariant processors there)
            return False

        @classmethod
        def validate_params(cls, params) -> None:
            args = params.extra_args or {}
            if STATS_KEY in args and not isinstance(args[STATS_KEY], str):
                raise ValueError(f"extra_args[{STATS_KEY!r}] must be a string")

        def update_state(self, batch_update) -> None:
            process_dict_updates(self.rows, batch_update, self._new)

        @classmethod
        def _new(cls, params, _prompt_ids, output_ids):
            args = params.extra_args or {}
            if STATS_KEY not in args:
                return None
            cls.store.setdefault(args[STATS_KEY], {})
            return args[STATS_KEY], list(args.get("letter_ids", ())), output_ids

        def apply(self, logits):
            for row, (key, letter_ids, output_ids) in self.rows.items():
                # the step this row's logits decide: one per token generated so far (a partly
                # prefilled prompt's row is rewritten by the step that really samples)
                self.store[key][len(output_ids)] = step_row(logits[row], letter_ids)
            return logits

    return StepStats


_STEP_STATS = None


def step_stats_processor():
    """The :class:`StepStats` logits-processor class (made once; importing vLLM on first use)."""
    global _STEP_STATS
    if _STEP_STATS is None:
        _STEP_STATS = _processor_class()
    return _STEP_STATS


class OfflineEngine:
    """A vLLM engine on a model folder (float32, eager, in-process) answering the paper's prompts.

    ``folder``: a transformers folder vLLM can load (``folder.vllm_model_folder``); the book's
    tokenizer is read from it. ``kv_cache_gib`` sets ``VLLM_CPU_KVCACHE_SPACE`` when unset.
    """

    def __init__(self, folder: str | Path, *, max_model_len: int = 1024, kv_cache_gib: int = 1,
                 **llm_kwargs):
        if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0") not in ("0", "false", "False"):
            raise EngineError("VLLM_ENABLE_V1_MULTIPROCESSING must be 0: the step statistics are "
                              "recorded in the engine's process, which must be this one")
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
        from transformers import AutoTokenizer
        from vllm import LLM

        self.folder = Path(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self.processor = step_stats_processor()
        self.llm = LLM(model=str(self.folder), dtype="float32", max_model_len=max_model_len,
                       enforce_eager=True, logprobs_mode="raw_logprobs",
                       logits_processors=[self.processor], **llm_kwargs)
        self.max_model_len = max_model_len

    # ------------------------------------------------------------------ prompts

    def chat_text(self, q, phrasing: str, example=None) -> str:
        """The paper's prompt for ``q`` as one user turn of the tokenizer's chat template."""
        return prompts.chat_text(self.tokenizer, prompts.build_prompt(q, phrasing, example))

    def prompt_ids(self, questions: Sequence, phrasing: str) -> list[list[int]]:
        """Token ids of the chat prompts, with the tokenizer's default special tokens (as the book)."""
        texts = [self.chat_text(q, phrasing) for q in questions]
        return [list(ids) for ids in self.tokenizer(texts)["input_ids"]]

    # ------------------------------------------------------------------ answers

    def answer(self, prompt_ids: Sequence[Sequence[int]], options: Sequence[Sequence[str]], *,
               max_tokens: int = MAX_NEW_TOKENS, first_token: bool = False) -> list[Answer]:
        """Greedy answers to the prompts (token ids) with MSP, Max Logit and letter probabilities
        at the answer token; ``options[i]`` are prompt i's option texts."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if len(prompt_ids) != len(options):
            raise ValueError(f"{len(prompt_ids)} prompts but {len(options)} option lists")
        letters = _letter_ids(self.tokenizer, max((len(o) for o in options), default=0))
        keys = [uuid.uuid4().hex for _ in prompt_ids]
        params = [SamplingParams(temperature=0, max_tokens=max_tokens,
                                 logprob_token_ids=letters[:len(opts)],
                                 extra_args={STATS_KEY: key, "letter_ids": letters[:len(opts)]})
                  for key, opts in zip(keys, options)]
        store = self.processor.store
        try:
            outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompt_ids],
                                        params, use_tqdm=False)
            return [self._answer(out.outputs[0], store.get(key, {}), opts, letters[:len(opts)],
                                 first_token) for out, key, opts in zip(outputs, keys, options)]
        finally:
            for key in keys:
                store.pop(key, None)

    def _answer(self, completion, steps: dict, options, letter_ids, first_token: bool) -> Answer:
        ids = list(completion.token_ids)
        if sorted(steps) != list(range(len(ids))) or any(steps[i][2] != t for i, t in enumerate(ids)):
            raise EngineError("the recorded step statistics do not match the generated tokens "
                              f"({len(steps)} steps for {len(ids)} tokens)")
        tokens, values = [], []
        for step, token in zip(completion.logprobs, ids):
            entry = step[token]
            tokens.append(entry.decoded_token or "")
            values.append(float(entry.logprob))
        response = self.tokenizer.decode(ids, skip_special_tokens=True)
        char, idx = answer_position(response, tokens, options, first_token=first_token)
        if 0 <= idx < len(ids):
            msp, max_logit, _, letter_probs = steps[idx]
        else:
            msp, max_logit, letter_probs = 0.0, 0.0, [float("nan")] * len(options)
        return Answer(response, tokens, ids, char, idx, msp, max_logit, list(letter_probs),
                      completion.finish_reason, values, "logprobs")

    def answer_questions(self, questions: Sequence, phrasing: str, **kwargs) -> list[Answer]:
        """:meth:`answer` on the paper's zero-shot prompts of ``questions``."""
        return self.answer(self.prompt_ids(questions, phrasing), [q.options for q in questions], **kwargs)

    # ------------------------------------------------------------------ option log-likelihoods

    def option_scores(self, contexts: Sequence[str], options: Sequence[Sequence[str]], *,
                      delimiter: str = CHAT_DELIMITER) -> tuple[list[list[OptionScore]], dict]:
        """lm-eval style log-likelihood of every option after its context (``likelihood``).

        One request per option (prompt = context + continuation, ``prompt_logprobs=0``), reading the
        prefix cache so options after the first share their context's cached blocks. Prompt
        log-probabilities are returned only for positions computed in that request, so an option
        whose cached blocks reach into its continuation (options sharing leading tokens) is run
        again without the cache. Returns the scores and counts (``requests``, ``rerun``,
        ``cached_tokens``).
        """
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        pairs = [[encode_pair(self.tokenizer, c, delimiter + o) for o in opts]
                 for c, opts in zip(contexts, options)]
        flat = [(i, k, ctx, cont) for i, row in enumerate(pairs) for k, (ctx, cont) in enumerate(row)]
        for i, k, ctx, cont in flat:
            if not cont:
                raise ValueError(f"option {k} of context {i} has no tokens")
        cached = SamplingParams(temperature=0, max_tokens=1, prompt_logprobs=0, detokenize=False,
                                skip_reading_prefix_cache=False)
        fresh = SamplingParams(temperature=0, max_tokens=1, prompt_logprobs=0, detokenize=False,
                               skip_reading_prefix_cache=True)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=ctx + cont) for _, _, ctx, cont in flat],
                                    cached, use_tqdm=False)
        values = [_continuation_logprobs(o.prompt_logprobs, ctx, cont)
                  for o, (_, _, ctx, cont) in zip(outputs, flat)]
        counts = {"requests": len(flat), "cached_tokens": sum(o.num_cached_tokens or 0 for o in outputs)}
        redo = [j for j, v in enumerate(values) if v is None]
        if redo:
            again = self.llm.generate([TokensPrompt(prompt_token_ids=flat[j][2] + flat[j][3]) for j in redo],
                                      fresh, use_tqdm=False)
            for j, o in zip(redo, again):
                values[j] = _continuation_logprobs(o.prompt_logprobs, flat[j][2], flat[j][3])
                if values[j] is None:
                    raise EngineError("prompt log-probabilities missing without the prefix cache")
        counts["rerun"] = len(redo)
        out: list[list[OptionScore]] = [[None] * len(opts) for opts in options]  # type: ignore[list-item]
        for (i, k, _, cont), (lps, greedy) in zip(flat, values):
            out[i][k] = OptionScore(options[i][k], tuple(cont), tuple(lps), greedy)
        return out, counts

    def question_option_scores(self, questions: Sequence, phrasing: str) -> tuple[list[list[OptionScore]], dict]:
        """:meth:`option_scores` with the chat prompts of ``questions`` as contexts."""
        return self.option_scores([self.chat_text(q, phrasing) for q in questions],
                                  [q.options for q in questions])

    def close(self) -> None:
        """Shut the engine down and free its memory."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        try:
            llm.llm_engine.engine_core.shutdown()
        finally:
            self.llm = None
            del llm
            gc.collect()

    def __enter__(self) -> OfflineEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _continuation_logprobs(prompt_logprobs, context: Sequence[int], continuation: Sequence[int]):
    """(log-probabilities of the continuation tokens, all of them the argmax) from a request's
    ``prompt_logprobs``; None if any position was not computed (read from the prefix cache)."""
    if prompt_logprobs is None:
        return None
    n = len(context)
    lps, greedy = [], True
    for j, token in enumerate(continuation):
        entry = prompt_logprobs[n + j] if n + j < len(prompt_logprobs) else None
        if not entry or token not in entry:
            return None
        lps.append(float(entry[token].logprob))
        greedy = greedy and entry[token].rank == 1
    return lps, greedy

