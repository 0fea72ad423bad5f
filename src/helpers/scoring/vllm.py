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
(``VLLM_ENABLE_V1_MULTIPROCESSING=0``, set here when unset); the cache key says
``signals: "one pass"``.

**Two passes.** With an executor whose workers are other processes (tensor or pipeline parallelism,
or ``VLLM_ENABLE_V1_MULTIPROCESSING`` not 0) those records are out of this process's reach, so the
backend runs two engines on the same model instead (:func:`signals_mode` chooses; ``signals=`` /
``--vllm-signals`` forces either): pass 1, an engine with ``logprobs_mode="raw_logprobs"``, generates
the answers, and MSP = exp(log-probability) of the greedy token at the answer position, the letters'
probabilities from ``logprob_token_ids``; pass 2, an engine with ``logprobs_mode="raw_logits"``,
reads each prompt plus pass 1's generated tokens before the answer position (``max_tokens=1``) and
gives the raw logit of the token it picks there, Max Logit. Pass 2's greedy token must be pass 1's,
else the backend stops with an error. Both engines stay loaded, so on a GPU each gets half of
``gpu_memory_utilization`` (default 0.9, so 0.45 each); on a CPU each has its own
``VLLM_CPU_KVCACHE_SPACE``. The cache key says ``signals: "two passes"``.

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
#: the values of ``signals=`` (``--vllm-signals``)
SIGNALS = ("auto", "one-pass", "two-pass")
#: ``gpu_memory_utilization`` when not given (vLLM's default), halved between two engines
GPU_MEMORY_UTILIZATION = 0.9


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


def signals_mode(signals: str = "auto", engine_args: dict | None = None,
                 environ: dict | None = None) -> str:
    """``"one pass"`` or ``"two passes"`` (module docstring): ``auto`` picks one pass unless the engine's
    workers run in other processes (``tensor_parallel_size`` or ``pipeline_parallel_size`` > 1, or
    ``VLLM_ENABLE_V1_MULTIPROCESSING`` set and not 0), where the one-pass logits processor cannot report.

    >>> signals_mode(), signals_mode(engine_args={"tensor_parallel_size": 2})
    ('one pass', 'two passes')
    >>> signals_mode("two-pass"), signals_mode(environ={"VLLM_ENABLE_V1_MULTIPROCESSING": "1"})
    ('two passes', 'two passes')
    """
    if signals not in SIGNALS:
        raise ScoringError(f"signals (--vllm-signals) must be one of {', '.join(SIGNALS)}, got {signals!r}")
    engine_args, environ = engine_args or {}, os.environ if environ is None else environ
    reasons = [f"{k}={engine_args[k]}" for k in ("tensor_parallel_size", "pipeline_parallel_size")
               if (engine_args.get(k) or 1) > 1]
    multiprocessing = environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    if multiprocessing not in ("0", "false", "False"):
        reasons.append(f"VLLM_ENABLE_V1_MULTIPROCESSING={multiprocessing}")
    if signals == "one-pass" and reasons:
        raise ScoringError(f"one pass needs the engine in this process, but {', '.join(reasons)} runs it in "
                           "worker processes: use --vllm-signals two-pass (or auto)")
    return "two passes" if signals == "two-pass" or (signals == "auto" and reasons) else "one pass"


def engine_key(version: str, dtype: str, max_model_len: int, signals: str, engine_args: dict) -> dict:
    """The vllm backend's cache-key settings: the engine, the numbers' settings (those of
    :data:`NUMERIC_ARGS` that are set) and how the signals were read (:func:`signals_mode`)."""
    numeric = {k: engine_args[k] for k in NUMERIC_ARGS if k in engine_args}
    return {"backend": VllmBackend.name, "engine": version, "dtype": dtype, "max_model_len": max_model_len,
            "signals": signals, **numeric}


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
                 option_likelihood: bool = True, models_dir: str | Path | None = None, signals: str = "auto",
                 **engine_args):
        if batch_size < 1:
            raise ScoringError(f"batch_size must be >= 1, got {batch_size}")
        self.version = engine_version()
        self.engine_args = {k: v for k, v in engine_args.items() if v is not None}
        self.signals = signals_mode(signals, self.engine_args)
        if self.signals == "one pass":
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
        self.spec, self.batch_size, self.max_new_tokens = spec, batch_size, max_new_tokens
        self.dtype = "float32" if dtype in (None, "auto") else dtype
        self.max_model_len, self.option_likelihood = max_model_len, option_likelihood
        self.folder = model_folder(spec, models_dir)
        self.logit_llm = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from transformers import AutoTokenizer
            from vllm import LLM

            self.tokenizer = AutoTokenizer.from_pretrained(
                self.folder, **({"revision": spec.revision} if spec.kind == "hub" else {}))
            common = dict(model=self.folder, dtype=self.dtype, max_model_len=max_model_len, enforce_eager=True,
                          **({"revision": spec.revision} if spec.kind == "hub" else {}))
            if self.signals == "one pass":
                self.processor = step_stats_processor()
                self.llm = LLM(**common, logprobs_mode="raw_logprobs", logits_processors=[self.processor],
                               **self.engine_args)
            else:  # both engines stay loaded: each gets half of the GPU memory given to the backend
                args = dict(self.engine_args)
                args["gpu_memory_utilization"] = args.get("gpu_memory_utilization", GPU_MEMORY_UTILIZATION) / 2
                self.llm = LLM(**common, logprobs_mode="raw_logprobs", **args)
                self.logit_llm = LLM(**common, logprobs_mode="raw_logits", **args)
        self._ids: dict[Request, list[int]] = {}

    @property
    def quirks(self) -> PaperQuirks:
        return paper_quirks(self.spec.model_id) if self.spec.kind == "hub" else PaperQuirks()

    def key_settings(self) -> dict:
        return engine_key(self.version, self.dtype, self.max_model_len, self.signals, self.engine_args)

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
        if any(r not in self._ids for r in requests):
            self.prepare(requests)
        letters = letter_ids(self.tokenizer, max(len(r.question.options) for r in requests))
        if self.signals == "one pass":
            answered = self._one_pass(requests, letters)
        else:
            answered = self._two_passes(requests, letters)
        logliks = self.option_logliks(requests) if self.option_likelihood else [()] * len(requests)
        out = []
        for r, (response, idx, row), ll in zip(requests, answered, logliks):
            n = len(r.question.options)
            if row is None:
                out.append(Answer(response, idx, 0.0, 0.0, (float("nan"),) * n, tuple(ll)))
            else:
                msp, max_logit, letter_probs = row
                out.append(Answer(response, idx, float(np.float32(msp)), float(np.float32(max_logit)),
                                  tuple(float(x) for x in letter_probs[:n]), tuple(ll)))
        return out

    def _response(self, r: Request, ids: Sequence[int]) -> tuple[str, int]:
        """The response text and the index of its answer token (valid when ``0 <= index < len(ids)``)."""
        response = self.tokenizer.decode(list(ids), skip_special_tokens=True)
        idx = answer_token_index(self.tokenizer, response, grading.answer_char_index(response, r.question.options),
                                 first_token=self.quirks.first_token_confidence)
        return response, idx

    def _one_pass(self, requests: Sequence[Request], letters: list[int]) -> list[tuple]:
        """(response, answer index, (MSP, Max Logit, letter probabilities) or None) from the logits
        processor's records."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

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
        out = []
        for r, o, st in zip(requests, outputs, steps):
            ids = list(o.outputs[0].token_ids)
            if sorted(st) != list(range(len(ids))) or any(st[i][2] != t for i, t in enumerate(ids)):
                raise ScoringError(f"the recorded step statistics do not match the generated tokens ({len(st)} "
                                   f"steps for {len(ids)} tokens): the logits processor must run in this process")
            response, idx = self._response(r, ids)
            # the engine stops at EOS: every generated token is a valid step
            out.append((response, idx, (st[idx][0], st[idx][1], st[idx][3]) if 0 <= idx < len(ids) else None))
        return out

    def _two_passes(self, requests: Sequence[Request], letters: list[int]) -> list[tuple]:
        """As :meth:`_one_pass` from two engines (module docstring): MSP and the letters' probabilities
        from pass 1's log-probabilities, Max Logit from pass 2's raw logit on pass 1's tokens."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [SamplingParams(temperature=0, max_tokens=self.max_new_tokens,  # the greedy token's included
                                 logprob_token_ids=letters[:len(r.question.options)]) for r in requests]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=self._ids[r]) for r in requests],
                                    params, use_tqdm=False)
        out, at = [], []
        for i, (r, o) in enumerate(zip(requests, outputs)):
            completion = o.outputs[0]
            ids = list(completion.token_ids)
            response, idx = self._response(r, ids)
            row = None
            if 0 <= idx < len(ids):
                step = completion.logprobs[idx]
                n = len(r.question.options)
                row = [_exp(step[ids[idx]].logprob), None, [_exp(step[t].logprob) for t in letters[:n]]]
                at.append((i, ids[:idx], ids[idx]))
            out.append((response, idx, row))
        if at:
            second = self.logit_llm.generate(
                [TokensPrompt(prompt_token_ids=self._ids[requests[i]] + prefix) for i, prefix, _ in at],
                SamplingParams(temperature=0, max_tokens=1, logprobs=0, detokenize=False), use_tqdm=False)
            for (i, prefix, token), o in zip(at, second):
                (picked,) = o.outputs[0].token_ids
                if picked != token:
                    raise ScoringError(f"question {requests[i].question.question_id}: the raw-logits engine picks "
                                       f"token {picked} after {len(prefix)} generated tokens, the log-probabilities "
                                       f"engine picked {token}: the two passes disagree")
                out[i][2][1] = o.outputs[0].logprobs[0][picked].logprob
        return [(response, idx, None if row is None else tuple(row)) for response, idx, row in out]

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
        """Shut the engines down and free their memory."""
        for attr in ("llm", "logit_llm"):
            llm = getattr(self, attr, None)
            setattr(self, attr, None)
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


def _exp(logprob: float) -> float:
    """A probability from vLLM's float32 log-probability."""
    return float(np.exp(np.float32(logprob)))


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
                 trust_remote_code: bool = False, signals: str = "auto", **engine_args) -> VllmBackend:
    """:class:`VllmBackend` of ``model`` (Hub id, folder or GGUF file); ``mode`` and ``device`` are the
    ``hf`` backend's and ignored here (the engine picks its device); ``signals``: :func:`signals_mode`."""
    if load_in_4bit:
        raise ScoringError("--load-in-4bit is the hf backend's; for vLLM pass a quantized checkpoint")
    if trust_remote_code:
        engine_args["trust_remote_code"] = True
    return VllmBackend(resolve_model(model, revision=revision, name=name), batch_size=batch_size,
                       max_new_tokens=max_new_tokens, dtype=dtype, option_likelihood=option_likelihood,
                       models_dir=models_dir, signals=signals, **engine_args)
