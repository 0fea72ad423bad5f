"""The Hugging Face ``transformers`` backend: greedy answers, MSP and Max Logit (METHODS §1, §3-§6).

Two modes give the same grades and confidences:

- **faithful** = the paper's ``generate_text.py`` (:func:`paper_generate`): ``model.generate`` greedy,
  ``max_new_tokens=100``, batches of ``batch_size`` questions in the given order, left padding,
  ``output_scores=True``; the response is decoded with ``skip_special_tokens=True``, parsed
  (``grading.parse_answer``), the character carrying the answer (``grading.answer_char_index``) mapped
  to a token by re-tokenising the response with an offset mapping, and that generation step's logits
  give MSP = max exp(s)/sum(exp(s)) over the full vocabulary in float32 and Max Logit = max s. No
  position found: both are 0.
- **fast** (:func:`generate_fast`): questions sorted by prompt length; the instruction prefix shared
  by all prompts of a phrasing computed once; prompts run through the model in groups of
  ``batch_size`` (little padding), their caches joined so that up to ``decode_batch`` answers are
  generated together with a KV cache; each sequence stops at EOS, at 100 tokens, or as soon as its
  answer and answer token are settled (:func:`answer_settled`). Its ``response`` is the text generated
  up to that point.

The paper's special cases, keyed on the Hugging Face checkpoint id (``vocabulary.model_table``), apply
in both modes: Falcon models get the raw prompt (no chat template) and Falcon-7b's first-phrasing
prompt loses its last character (``prompts.build_prompt``); for Llama 3 the confidence is that of the
first generated token (METHODS §6). A model loaded from a local folder or GGUF file is never treated
as one of these; a tokenizer without a chat template always gets the raw prompt.

Both modes also compute the second signal, the options' log-likelihoods after the prompt
(``scoring.likelihood``; ``option_likelihood=False`` skips it): fast mode reads them from each
prefilled group's cache before decoding (:func:`prefilled_logliks`), so the prompt runs once for
both signals; faithful mode runs the prompt again for them (:func:`option_logliks`).

Scores are the raw next-token logits (greedy decoding with no logits processor, METHODS §4). One
deliberate difference to the paper: an answer token index beyond the sequence's own generated tokens
(possible only when re-tokenising yields more tokens than were generated) gives confidence 0 in both
modes, where the paper read the logits of a padding step, which depend on the batch.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import io
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from helpers.data.datasets import Question
from helpers.data.locations import models_dir as models_dir_default
from helpers.data.method import MAX_NEW_TOKENS
from helpers.scoring import grading, likelihood, prompts
from helpers.scoring.backend import Answer, OutOfMemory, Request
from helpers.scoring.confidence import answer_token_index
from helpers.scoring.specs import ModelSpec, PaperQuirks, ScoringError, file_sha256, paper_quirks, resolve_model

MODES = ("fast", "faithful")
#: fast mode: answers generated together after their prompts ran in groups of ``batch_size``
DECODE_BATCH = 64


# ----------------------------------------------------------------------------- loading

@dataclass
class LoadedModel:
    """A model ready to score, with what identifies it in the cache."""

    spec: ModelSpec
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    dtype: str              # as requested ('auto' = the checkpoint's); part of the cache key
    load_in_4bit: bool
    load_warnings: list[str] = field(default_factory=list)  # captured while loading, not printed

    @property
    def quirks(self) -> PaperQuirks:
        return paper_quirks(self.spec.model_id) if self.spec.kind == "hub" else PaperQuirks()

    @functools.cached_property
    def dot_tokens(self) -> frozenset[int]:
        """Ids of the tokens whose text holds a ``"."`` (no ``"X."`` can be complete without one)."""
        texts = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))],
                                            skip_special_tokens=True)
        return frozenset(i for i, t in enumerate(texts) if "." in t)

    @property
    def eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]


def _device_choice(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise ScoringError(f"unknown device {device!r}; valid: auto, cpu, cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ScoringError("device 'cuda' asked for but no CUDA GPU is available")
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def _torch_dtype(dtype: str | None) -> torch.dtype | str:
    if dtype in (None, "auto"):
        return "auto"
    try:
        value = getattr(torch, dtype)
    except AttributeError:
        value = None
    if not isinstance(value, torch.dtype):
        raise ScoringError(f"unknown dtype {dtype!r}; valid: auto, float32, float16, bfloat16")
    return value


@contextlib.contextmanager
def quiet_loading() -> Iterator[list[str]]:
    """Load without writing to stderr: transformers' progress bars off and its logging at errors only
    for the duration; warnings raised meanwhile, including on first import (e.g. tqdm's "IProgress
    not found" in a notebook), captured into the yielded list instead of printed."""
    captured: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from transformers.utils import logging as hf_logging

        verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            with contextlib.redirect_stderr(io.StringIO()) as stray:  # progress bars written directly
                yield captured
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
            captured.extend(f"{w.category.__name__}: {w.message}" for w in caught)
            captured.extend(line for line in stray.getvalue().splitlines() if line.strip())


GGUF_MAGIC = b"GGUF"


def converted_gguf(path: Path, models_dir: str | Path | None = None) -> Path:
    """A transformers folder converted once from the GGUF file ``path`` (dequantised weights), under
    ``data/models/<stem>-<sha12>/``, keyed by the file's hash; later loads read it in a fraction of a second.

    Converted under a lock, so two first runs at once convert once; a ``.partial`` folder left by an
    interrupted conversion is removed. A file that is not GGUF raises :class:`ScoringError`."""
    path = Path(path)
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ScoringError(f"{path}: not a GGUF file (it does not start with the bytes 'GGUF')")
    models_dir = Path(models_dir) if models_dir else models_dir_default()
    target = models_dir / f"{path.stem}-{file_sha256(path)[:12]}"
    if (target / "config.json").is_file():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(models_dir / f".{target.name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").is_file():  # converted by another process meanwhile
            return target
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            with quiet_loading():
                tokenizer, model = _read_gguf(path)
        except Exception as exc:  # noqa: BLE001 - the reader fails in many ways on a damaged file
            raise ScoringError(f"{path}: cannot read the GGUF file ({type(exc).__name__}: {exc})") from exc
        # the loaded weights are plain dequantised tensors: forget the GGUF origin so they can be saved
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        with quiet_loading():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        tmp.rename(target)
    return target


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json", "spiece.model")


def check_model_folder(folder: Path) -> None:
    """Refuse, naming the file and the reason, a model folder that cannot load: ``config.json`` that is
    not JSON, has no or an unknown ``model_type`` or a malformed value; no tokenizer file; a
    ``.safetensors`` file whose header or size is damaged."""
    with quiet_loading():  # first imports of transformers and tqdm write to stderr in a notebook
        from safetensors import safe_open
        from transformers import AutoConfig
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config = folder / "config.json"
    try:
        values = json.loads(config.read_text())
    except (OSError, ValueError) as exc:
        raise ScoringError(f"{config}: not a readable JSON file ({exc})") from None
    model_type = values.get("model_type") if isinstance(values, dict) else None
    if model_type not in CONFIG_MAPPING:
        raise ScoringError(f"{config}: model_type {model_type!r} is not one transformers knows")
    try:
        with quiet_loading():
            AutoConfig.from_pretrained(folder)
    except Exception as exc:  # noqa: BLE001 - a malformed value raises anything from TypeError on
        raise ScoringError(f"{config}: a value is malformed ({type(exc).__name__}: {exc})") from None
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ScoringError(f"{folder}: no tokenizer file (one of {', '.join(TOKENIZER_FILES)})")
    for weights in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(weights, framework="pt") as f:
                for name in f.keys():
                    f.get_slice(name)
            with open(weights, "rb") as f:
                header = int.from_bytes(f.read(8), "little")
                needed = 8 + header + _tensor_bytes(json.loads(f.read(header)))
            if weights.stat().st_size < needed:
                raise ValueError(f"{weights.stat().st_size} bytes where the header promises {needed}")
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise ScoringError(f"{weights}: damaged safetensors file ({exc})") from None


def _tensor_bytes(header: dict) -> int:
    """Bytes of tensor data a safetensors header describes (the largest end offset)."""
    return max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)


def _read_gguf(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return tokenizer, AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                           dtype=torch.float32)


def load_model(model: str | Path, *, device: str = "auto", dtype: str | None = None,
               load_in_4bit: bool = False, trust_remote_code: bool = False,
               revision: str | None = None, name: str | None = None,
               models_dir: str | Path | None = None) -> LoadedModel:
    """Load a causal LM and its tokenizer from a Hub id, a local folder or a GGUF file (METHODS §1).

    GPU when available (``device_map="auto"``), else CPU; ``load_in_4bit`` quantises with bitsandbytes
    as the paper did (GPU only). Tokenizer: ``padding_side="left"``, pad token = EOS when missing.
    Writes nothing to stderr (:func:`quiet_loading`).
    """
    spec = resolve_model(model, revision=revision, name=name)
    where = _device_choice(device)
    source = converted_gguf(spec.path, models_dir) if spec.kind == "gguf" else (spec.path or spec.model_id)
    if spec.kind == "folder":
        check_model_folder(spec.path)
    kwargs: dict = {"dtype": _torch_dtype(dtype), "trust_remote_code": trust_remote_code}
    if spec.kind == "hub":
        kwargs["revision"] = spec.revision
    if load_in_4bit:
        if where != "cuda" or importlib.util.find_spec("bitsandbytes") is None:
            raise ScoringError("load_in_4bit needs a CUDA GPU and the bitsandbytes package")
        with quiet_loading():
            from transformers import BitsAndBytesConfig
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True)
    if where == "cuda":
        kwargs["device_map"] = "auto"
    try:
        with quiet_loading() as captured:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(source, padding_side="left",
                                                      trust_remote_code=trust_remote_code,
                                                      **({"revision": spec.revision} if spec.kind == "hub" else {}))
            lm = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ScoringError(f"cannot load model {spec.model_id!r} from {source}: {type(exc).__name__}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    lm.eval()
    if where == "cpu":
        lm.to("cpu")
    return LoadedModel(spec, lm, tokenizer, next(lm.parameters()).device, dtype or "auto", load_in_4bit,
                       captured)


def check_letters(tokenizer, n_options: int) -> list[int]:
    """Token ids of the option letters A, B, ... (the first ``n_options``), each of which must be one token.

    MSP is the probability of the single token that carries the answer letter; if a letter took several
    tokens, the step's distribution would be over letter fragments and the option-letter probabilities
    could not be read off one softmax.
    """
    ids = []
    for letter in prompts.LETTERS[:n_options]:
        encoded = tokenizer.encode(letter, add_special_tokens=False)
        if len(encoded) != 1:
            raise ScoringError(
                f"option letter {letter!r} is {len(encoded)} tokens ({encoded}) for this tokenizer; MSP "
                "needs every answer letter to be a single token, so that one generation step's softmax "
                "gives the probability of the answer (and of every other option letter)")
        ids.append(encoded[0])
    return ids


# ----------------------------------------------------------------------------- confidences

def step_stats(logits: torch.Tensor, letter_ids: Sequence[int]) -> torch.Tensor:
    """Per row of ``logits`` (batch, vocab): [MSP, Max Logit, p(letter_1), ...] in float32 (METHODS §6).

    MSP = max_v exp(s_v) / sum_u exp(s_u) over the full vocabulary, without max-subtraction, as the
    paper computed it; this equals 1.0 exactly when the other tokens' mass is below float32 resolution.
    Where exp overflows (a logit above ~88 - ln V, far beyond real chat models' logits) the paper's
    formula gives NaN; there the mathematically equal max-subtracted softmax is used instead.
    """
    s = logits.float()
    e = torch.exp(s)
    probs = e / torch.sum(e, dim=-1, keepdim=True)
    bad = ~torch.isfinite(probs).all(dim=-1)
    if bad.any():
        probs[bad] = torch.softmax(s[bad], dim=-1)
    return torch.cat([probs.max(dim=-1).values[:, None], s.max(dim=-1).values[:, None],
                      probs[:, list(letter_ids)]], dim=1)


def step_confidences(logits: torch.Tensor, letter_ids: Sequence[int]) -> np.ndarray:
    """:func:`step_stats` as a float32 numpy array."""
    return step_stats(logits, letter_ids).cpu().numpy()


# ----------------------------------------------------------------------------- fast-mode stopping

def early_stop_supported(tokenizer) -> bool:
    """Fast mode may stop before EOS only for tokenizers whose pre-tokenizer splits the text into
    independent pieces and that have no normalizer (byte-level BPE like GPT-2, Llama 3, SmolLM2)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and backend.normalizer is None and backend.pre_tokenizer is not None


def _settle_state(tokenizer, generated: Sequence[int], n_options: int) -> tuple[bool, bool]:
    """(the text without the last token holds an ``"X."``, the answer is settled): see
    :func:`answer_settled`."""
    if len(generated) < 2:
        return False, False
    text = tokenizer.decode(list(generated[:-1]), skip_special_tokens=True)
    hit = grading.letter_period(text, n_options)
    if hit is None:
        return False, False
    pieces = tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)
    holding = [i for i, (_, (start, end)) in enumerate(pieces) if start <= hit[0] < end]
    return True, bool(holding) and len(pieces) - holding[0] - 1 >= 2


def answer_settled(tokenizer, generated: Sequence[int], n_options: int) -> bool:
    """True when no continuation can change the parsed answer, its answer token or that token's index.

    Argument: (1) the response decoded without the last generated token already holds an ``"X."``
    match (rule 1); one token of margin absorbs decoding that rewrites the end of the text (an
    incomplete UTF-8 sequence, clean-up of spaces), so that text is a prefix of every later decoding;
    (2) a match can only appear earlier if it is created across the end of the text, i.e. later than
    the one found, so the earliest match stays; (3) in that shorter text the pre-token holding the
    match is followed by two more pre-tokens, so that pre-token's extent (regex splitting looks at most
    one character ahead) and hence its tokens and all tokens before it are fixed, BPE merges never
    crossing pre-tokens. Tokenizers without that structure never stop early (see
    :func:`early_stop_supported`).
    """
    return _settle_state(tokenizer, generated, n_options)[1]


# ----------------------------------------------------------------------------- generation

def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def prompt_text(lm: LoadedModel, q: Question, phrasing: str, example: Question | None = None) -> str:
    """The text the model reads: the paper's prompt (with its Falcon-7b quirk) as one chat turn, or
    raw for the paper's Falcon models and for tokenizers without a chat template (METHODS §3)."""
    quirks = lm.quirks
    prompt = prompts.build_prompt(q, phrasing, example, model=quirks.paper_key)
    return prompt if quirks.raw_prompt else prompts.chat_text(lm.tokenizer, prompt)


def prompt_ids(lm: LoadedModel, questions: Sequence[Question], phrasing: str,
               examples: dict[str, Question] | None = None) -> list[list[int]]:
    """Token ids of the prompts, with the tokenizer's default special tokens (METHODS §3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing chat template is reported once, by the caller
        texts = [prompt_text(lm, q, phrasing, None if examples is None else examples[q.question_id])
                 for q in questions]
    return [list(ids) for ids in lm.tokenizer(texts)["input_ids"]]


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.tensor(r)
            mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


def _generation_config(lm: LoadedModel, max_new_tokens: int):
    from transformers import GenerationConfig

    return GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens, num_beams=1,
                            eos_token_id=lm.eos_ids, pad_token_id=lm.tokenizer.pad_token_id,
                            bos_token_id=lm.tokenizer.bos_token_id, output_scores=True,
                            return_dict_in_generate=True, renormalize_logits=False)


def _valid_steps(generated: Sequence[int], eos_ids: Iterable[int]) -> int:
    eos = set(eos_ids)
    for i, t in enumerate(generated):
        if t in eos:
            return i + 1
    return len(generated)


@torch.inference_mode()
def paper_generate(lm: LoadedModel, ids: Sequence[Sequence[int]],
                   max_new_tokens: int = MAX_NEW_TOKENS) -> tuple[list[list[int]], tuple[torch.Tensor, ...]]:
    """The paper's ``Generator.generate`` on one batch (METHODS §4): left padding, greedy ``generate``
    with ``max_new_tokens`` and ``output_scores``; the whole batch runs until every row has ended.
    Returns the generated ids per row and the per-step logits (each (batch, vocab))."""
    input_ids, mask = _left_pad(ids, lm.tokenizer.pad_token_id, lm.device)
    out = lm.model.generate(input_ids=input_ids, attention_mask=mask,
                            generation_config=_generation_config(lm, max_new_tokens))
    return out.sequences[:, input_ids.shape[1]:].tolist(), out.scores


def generate_faithful(lm: LoadedModel, ids: Sequence[Sequence[int]], letter_ids: Sequence[int],
                      max_new_tokens: int = MAX_NEW_TOKENS):
    """:func:`paper_generate` per row: (generated ids, step -> confidences, n_valid); the confidences
    are computed only at the step asked for."""
    generated, scores = paper_generate(lm, ids, max_new_tokens)
    return [(g, (lambda step, b=b: step_confidences(scores[step][b:b + 1], letter_ids)[0]),
             _valid_steps(g, lm.eos_ids)) for b, g in enumerate(generated)]


def _plain_layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """(keys, values) per layer of a plain dynamic KV cache; None for other caches (sliding windows,
    state-space layers, ...), whose prefix cannot be shared or joined."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    if type(cache) is not DynamicCache or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None
    return [(layer.keys, layer.values) for layer in cache.layers]


@torch.inference_mode()
def prefix_cache(lm: LoadedModel, prefix: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """Per layer (keys, values) of the shared prompt prefix (batch of one); None for an empty prefix
    or a model whose cache is not a plain dynamic one."""
    if not prefix:
        return None
    out = lm.model(input_ids=torch.tensor([list(prefix)], device=lm.device), use_cache=True,
                   logits_to_keep=1)
    return _plain_layers(out.past_key_values)


@dataclass
class _Prefilled:
    """Prompts run through the model, laid out [prefix | padding | rest] (the padding masked)."""

    cache: object
    mask: torch.Tensor          # (rows, width)
    next_position: torch.Tensor  # (rows,)
    logits: torch.Tensor        # (rows, vocab): the first generation step


def _prefill(lm: LoadedModel, rows: Sequence[Sequence[int]], prefix_len: int, prefix_kv) -> _Prefilled:
    """One forward pass over ``rows`` whose first ``prefix_len`` tokens are the cached ``prefix_kv``.
    Positions are counted as ``generate`` counts them (cumulative sum of the attention mask), so the
    layout equals the left-padded one without the padding's computation."""
    from transformers.cache_utils import DynamicCache

    n = len(rows)
    input_ids, mask = _left_pad([r[prefix_len:] for r in rows], lm.tokenizer.pad_token_id, lm.device)
    if prefix_len:
        mask = torch.cat([torch.ones((n, prefix_len), dtype=torch.long, device=lm.device), mask], dim=1)
        cache = DynamicCache([(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in prefix_kv])
    else:
        cache = None
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    out = lm.model(input_ids=input_ids, attention_mask=mask, position_ids=positions[:, prefix_len:],
                   past_key_values=cache, use_cache=True, logits_to_keep=1)
    return _Prefilled(out.past_key_values, mask, positions[:, -1] + 1, out.logits[:, -1, :])


def _join(parts: Sequence[_Prefilled], prefix_len: int) -> _Prefilled | None:
    """One batch from several prefilled groups: each group's padding widened (zeros, masked) between
    prefix and rest to the widest group. None if a group's cache is not plain."""
    from transformers.cache_utils import DynamicCache

    layers = [_plain_layers(p.cache) for p in parts]
    if any(lay is None for lay in layers):
        return None
    width = max(p.mask.shape[1] for p in parts)

    def widen(t: torch.Tensor, dim: int) -> torch.Tensor:
        extra = width - t.shape[dim]
        if not extra:
            return t
        shape = list(t.shape)
        shape[dim] = extra
        return torch.cat([t.narrow(dim, 0, prefix_len), t.new_zeros(shape),
                          t.narrow(dim, prefix_len, t.shape[dim] - prefix_len)], dim=dim)

    joined = [(torch.cat([widen(lay[i][0], 2) for lay in layers]),
               torch.cat([widen(lay[i][1], 2) for lay in layers])) for i in range(len(layers[0]))]
    return _Prefilled(DynamicCache(joined), torch.cat([widen(p.mask, 1) for p in parts]),
                      torch.cat([p.next_position for p in parts]), torch.cat([p.logits for p in parts]))


@torch.inference_mode()
def generate_fast(lm: LoadedModel, ids: Sequence[Sequence[int]], letter_ids: Sequence[int],
                  n_options: Sequence[int], prefix_len: int = 0, prefix_kv=None, *,
                  prefill_batch: int = 8, max_new_tokens: int = MAX_NEW_TOKENS,
                  continuations: Sequence[Sequence[Sequence[int]]] | None = None):
    """Greedy decoding with per-sequence stopping; same output layout as :func:`generate_faithful`.
    With ``continuations`` (per row, the options' token ids after its prompt), returns (rows, the
    options' summed log-likelihoods per row), read from each prefilled group's cache before decoding
    (:func:`prefilled_logliks`), so the prompt is computed once for both signals.

    The prompts (best sorted by length) go through the model in groups of ``prefill_batch``; the
    groups' caches are joined and all rows decoded together (a model whose cache cannot be joined
    decodes group by group). The first ``prefix_len`` tokens of every row are the shared prefix whose
    per-layer cache is ``prefix_kv``. Per step, only [MSP, Max Logit, letter probabilities] of the
    active rows are kept (on the device, converted once at the end). The answer-settled check runs
    only when the token that just joined the text it examines holds a ``"."`` (an ``"X."`` cannot
    appear otherwise: decoding creates neither letters nor dots at the junction), or once an
    ``"X."`` was found.
    """
    if min(len(r) - prefix_len for r in ids) < 1:
        raise ValueError("every prompt needs at least one token after the shared prefix")
    groups = [list(range(i, min(i + prefill_batch, len(ids)))) for i in range(0, len(ids), prefill_batch)]
    parts = [_prefill(lm, [ids[i] for i in g], prefix_len, prefix_kv) for g in groups]
    logliks = None
    if continuations is not None:
        logliks = [None] * len(ids)
        for g, part in zip(groups, parts):
            if _plain_layers(part.cache) is None:
                values = [[_full_loglik(lm, ids[i], c) for c in continuations[i]] for i in g]
            else:
                values = prefilled_logliks(lm, part, [continuations[i] for i in g])
            for i, v in zip(g, values):
                logliks[i] = v
    state = parts[0] if len(parts) == 1 else _join(parts, prefix_len)
    if state is None:
        rows = [row for g, part in zip(groups, parts) for row in
                _decode(lm, part, letter_ids, [n_options[i] for i in g], max_new_tokens)]
    else:
        rows = _decode(lm, state, letter_ids, n_options, max_new_tokens)
    return rows if continuations is None else (rows, logliks)


def _decode(lm: LoadedModel, state: _Prefilled, letter_ids: Sequence[int], n_options: Sequence[int],
            max_new_tokens: int):
    n = state.logits.shape[0]
    stats = torch.zeros((n, max_new_tokens, 2 + len(letter_ids)), dtype=torch.float32, device=lm.device)
    generated: list[list[int]] = [[] for _ in range(n)]
    matched = [False] * n
    active = list(range(n))
    rows = torch.arange(n, device=lm.device)
    eos = set(lm.eos_ids)
    dots = lm.dot_tokens if early_stop_supported(lm.tokenizer) else None
    cache, mask, position, logits = state.cache, state.mask, state.next_position, state.logits
    for step in range(max_new_tokens):
        stats[rows, step] = step_stats(logits, letter_ids)
        nxt = torch.argmax(logits, dim=-1)
        keep = []
        for j, (b, token) in enumerate(zip(active, nxt.tolist())):
            tokens = generated[b]
            tokens.append(token)
            if token in eos or len(tokens) >= max_new_tokens:
                continue
            if dots is not None and len(tokens) >= 2 and (matched[b] or tokens[-2] in dots):
                matched[b], settled = _settle_state(lm.tokenizer, tokens, n_options[b])
                if settled:
                    continue
            keep.append(j)
        if not keep:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=lm.device)
            cache.batch_select_indices(index)
            mask, nxt, position, rows = mask[index], nxt[index], position[index], rows[index]
            active = [active[j] for j in keep]
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=torch.long, device=lm.device)], dim=1)
        out = lm.model(input_ids=nxt[:, None], attention_mask=mask, position_ids=position[:, None],
                       past_key_values=cache, use_cache=True)
        cache, logits, position = out.past_key_values, out.logits[:, -1, :], position + 1
    table = stats.cpu().numpy()
    return [(generated[b], table[b].__getitem__, _valid_steps(generated[b], eos)) for b in range(n)]


@torch.inference_mode()
def option_logliks(lm: LoadedModel, context: str, options: Sequence[str], prefix: Sequence[int] = (),
                   prefix_kv=None) -> list[float]:
    """Summed log-likelihood of each option after ``context`` (``likelihood.option_tokens``): float32
    log-softmax over the full vocabulary at each of the option's tokens, summed in float64.

    The context runs once (after the cached shared prefix ``prefix``, whose per-layer cache is
    ``prefix_kv``, when the context starts with it) and the options run together on its cache
    (:func:`prefilled_logliks`); a model whose cache is not a plain dynamic one, or an option whose
    tokens merge with the context's, runs in full.
    """
    own, pairs = likelihood.option_tokens(lm.tokenizer, context, options)
    shared = len(prefix) if prefix_kv is not None and len(prefix) < len(own) and own[:len(prefix)] == list(prefix) else 0
    state = _prefill(lm, [own], shared, prefix_kv if shared else None)
    joins = [c == own for c, _ in pairs]
    fast = prefilled_logliks(lm, state, [[cont for (c, cont), j in zip(pairs, joins) if j]])[0] \
        if _plain_layers(state.cache) is not None and any(joins) else []
    it = iter(fast)
    return [next(it) if j and fast else _full_loglik(lm, c, cont) for (c, cont), j in zip(pairs, joins)]


@torch.inference_mode()
def prefilled_logliks(lm: LoadedModel, state: _Prefilled, continuations: Sequence[Sequence[Sequence[int]]],
                      chunk: int = 16) -> list[list[float]]:
    """Per prefilled row of ``state``, the summed log-likelihood of each of its ``continuations``
    (token ids following the row's prompt): the row's cache copied to one row per continuation,
    ``chunk`` continuations per forward pass, right-padded (padding after the real tokens never
    reaches them); the first token's log-probability comes from the row's last prompt logits."""
    from transformers.cache_utils import DynamicCache

    layers = _plain_layers(state.cache)
    if layers is None:
        raise ValueError("prefilled_logliks needs a plain dynamic cache")
    first = torch.log_softmax(state.logits.float(), dim=-1)
    flat = [(b, list(c)) for b, row in enumerate(continuations) for c in row]
    out: list[list[float]] = [[] for _ in continuations]
    for start in range(0, len(flat), chunk):
        part = flat[start:start + chunk]
        index = torch.tensor([b for b, _ in part], device=lm.device)
        n, width = len(part), max(len(c) for _, c in part)
        ids = torch.full((n, width), lm.tokenizer.pad_token_id, dtype=torch.long, device=lm.device)
        own = torch.zeros((n, width), dtype=torch.long, device=lm.device)
        for i, (_, c) in enumerate(part):
            ids[i, :len(c)] = torch.tensor(c, device=lm.device)
            own[i, :len(c)] = 1
        cache = DynamicCache([(k.index_select(0, index), v.index_select(0, index)) for k, v in layers])
        mask = torch.cat([state.mask.index_select(0, index), own], dim=1)
        positions = state.next_position.index_select(0, index)[:, None] + torch.arange(width, device=lm.device)[None, :]
        logits = lm.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                          use_cache=True).logits
        lp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, ids[:, 1:, None])[:, :, 0]
        lp = torch.cat([first.index_select(0, index).gather(1, ids[:, :1]), lp], dim=1)
        sums = (lp.double() * own).sum(dim=1).tolist()
        for (b, _), v in zip(part, sums):
            out[b].append(float(v))
    return out


@torch.inference_mode()
def _full_loglik(lm: LoadedModel, ctx: Sequence[int], cont: Sequence[int]) -> float:
    ids = torch.tensor([list(ctx) + list(cont)], device=lm.device)
    logits = lm.model(input_ids=ids).logits[0, len(ctx) - 1:-1].float()
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[0, len(ctx):, None])[:, 0]
    return float(logp.double().sum())


def _merged_logliks(lm: LoadedModel, pairs, own: Sequence[int], fast: Sequence[float]) -> list[float]:
    """The options' log-likelihoods in order: those computed on the prompt's cache (``fast``, for
    the options whose context ids are the prompt's), the others in full."""
    it = iter(fast)
    return [next(it) if c == own else _full_loglik(lm, c, cont) for c, cont in pairs]


def common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by all rows, leaving every row one token of its own."""
    if not rows:
        return 0
    first, length = rows[0], min(len(r) for r in rows) - 1
    for r in rows[1:]:
        k = 0
        while k < length and r[k] == first[k]:
            k += 1
        length = k
    return max(length, 0)


# ----------------------------------------------------------------------------- the backend

class HFBackend:
    """The :class:`~helpers.scoring.backend.Backend` of a loaded ``transformers`` model.

    ``mode`` 'fast' (default) or 'faithful' (the paper's loop; same grades and confidences, slower).
    Faithful: batches of ``batch_size`` in the given order. Fast: all requests sorted by prompt length,
    the instruction prefix they share computed once, prompts run in groups of ``batch_size`` and up to
    ``max(decode_batch, batch_size)`` answers generated together.
    """

    name = "hf"

    def __init__(self, lm: LoadedModel, *, mode: str = "fast", batch_size: int = 8,
                 decode_batch: int = DECODE_BATCH, max_new_tokens: int = MAX_NEW_TOKENS,
                 reuse_prefix: bool = True, option_likelihood: bool = True):
        if mode not in MODES:
            raise ScoringError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        if batch_size < 1 or decode_batch < 1:
            raise ScoringError(f"batch_size and decode_batch must be >= 1, got {batch_size}, {decode_batch}")
        self.lm, self.mode, self.prefill_batch = lm, mode, batch_size
        self.max_new_tokens, self.reuse_prefix = max_new_tokens, reuse_prefix
        self.option_likelihood = option_likelihood
        self.batch_size = max(decode_batch, batch_size) if mode == "fast" else batch_size
        self._ids: dict[Request, list[int]] = {}
        self._prefix: tuple[int, object] = (0, None)

    @property
    def spec(self) -> ModelSpec:
        return self.lm.spec

    def key_settings(self) -> dict:
        return {"dtype": self.lm.dtype, "load_in_4bit": self.lm.load_in_4bit}

    def record_extras(self) -> dict:
        return {"model_id": self.lm.spec.model_id, "revision": self.lm.spec.revision, "mode": self.mode,
                "dtype": str(self.lm.model.dtype).removeprefix("torch."), "device": str(self.lm.device)}

    def prepare(self, requests: Sequence[Request]) -> list[int]:
        if not requests:
            return []
        check_letters(self.lm.tokenizer, max(len(r.question.options) for r in requests))
        phrasings = {r.phrasing for r in requests}
        if len(phrasings) > 1:
            raise ScoringError(f"requests in several phrasings {sorted(phrasings)}; prepare one at a time")
        examples = ({r.question.question_id: r.example for r in requests}
                    if any(r.example is not None for r in requests) else None)
        ids = prompt_ids(self.lm, [r.question for r in requests], requests[0].phrasing, examples)
        self._ids = dict(zip(requests, ids))
        fast = self.mode == "fast"
        prefix_len = common_prefix(ids) if (fast and self.reuse_prefix) else 0
        kv = prefix_cache(self.lm, ids[0][:prefix_len]) if prefix_len else None
        self._prefix = (prefix_len, kv) if kv is not None else (0, None)
        return sorted(range(len(ids)), key=lambda i: len(ids[i])) if fast else list(range(len(ids)))

    def answer(self, requests: Sequence[Request]) -> list[Answer]:
        if any(r not in self._ids for r in requests):
            self.prepare(requests)
        lm, ids = self.lm, [self._ids[r] for r in requests]
        letter_ids = check_letters(lm.tokenizer, max(len(r.question.options) for r in requests))
        try:
            logliks: list = [()] * len(requests)
            if self.mode == "fast":
                prefix_len, kv = self._prefix
                pairs = [self._option_tokens(r) for r in requests] if self.option_likelihood else None
                # options whose tokens merge with their prompt's run in full, after the others
                joined = None if pairs is None else [[c for p, c in pp if p == own] for own, pp in pairs]
                rows = generate_fast(lm, ids, letter_ids, [len(r.question.options) for r in requests],
                                     prefix_len, kv, prefill_batch=min(self.prefill_batch, len(ids)),
                                     max_new_tokens=self.max_new_tokens, continuations=joined)
                if pairs is not None:
                    rows, fast = rows
                    logliks = [tuple(_merged_logliks(lm, pp, own, f)) for (own, pp), f in zip(pairs, fast)]
            else:
                rows = generate_faithful(lm, ids, letter_ids, self.max_new_tokens)
                if self.option_likelihood:
                    logliks = [tuple(self._option_logliks(r)) for r in requests]
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise OutOfMemory(str(exc)) from exc
        first_token = lm.quirks.first_token_confidence
        out = []
        for r, (generated, confidences, n_valid), ll in zip(requests, rows, logliks):
            response = lm.tokenizer.decode(generated, skip_special_tokens=True)
            n = len(r.question.options)
            idx = answer_token_index(lm.tokenizer, response, grading.answer_char_index(response, r.question.options),
                                     first_token=first_token)
            if 0 <= idx < n_valid:
                row = np.asarray(confidences(idx), np.float32)
                answer = Answer(response, idx, float(row[0]), float(row[1]), tuple(float(x) for x in row[2:2 + n]), ll)
            else:
                answer = Answer(response, idx, 0.0, 0.0, (float("nan"),) * n, ll)
            out.append(answer)
        return out

    def _context(self, r: Request) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a missing chat template is reported once, by the caller
            return prompt_text(self.lm, r.question, r.phrasing, r.example)

    def _option_tokens(self, r: Request):
        own, pairs = likelihood.option_tokens(self.lm.tokenizer, self._context(r), r.question.options)
        if own != self._ids[r]:
            raise ScoringError(f"{r.question.question_id}: the prompt's tokens differ between the two signals")
        return own, pairs

    def _option_logliks(self, r: Request) -> list[float]:
        context = self._context(r)
        prefix_len, kv = self._prefix
        return option_logliks(self.lm, context, r.question.options, self._ids[r][:prefix_len], kv)


def load_backend(model: str | Path, *, mode: str = "fast", batch_size: int = 8,
                 decode_batch: int = DECODE_BATCH, max_new_tokens: int = MAX_NEW_TOKENS,
                 option_likelihood: bool = True, **load) -> HFBackend:
    """:class:`HFBackend` of ``load_model(model, **load)``."""
    return HFBackend(load_model(model, **load), mode=mode, batch_size=batch_size, decode_batch=decode_batch,
                     max_new_tokens=max_new_tokens, option_likelihood=option_likelihood)
