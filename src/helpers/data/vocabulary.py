"""The book's vocabulary: datasets, phrasings, grades, signals, penalties and models, with their names.

Every other module takes its keys, orders and display names from here (METHODS §1, §2, §8.7), so a
name is written once. Model keys are the authors' file-name keys for the paper's 14 models; any
other key is a model we scored ourselves (:func:`is_scored`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

# ----------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class Dataset:
    """One of the paper's datasets (METHODS §2): key, display name, options per question as printed,
    where the paper loaded it from (Hugging Face id, config, splits concatenated in this order, how
    many shuffled questions it used; None = all) and how many questions its results cover."""

    key: str
    name: str
    options: str
    hf_id: str
    config: str | None
    splits: tuple[str, ...]
    used: int | None
    n_questions: int


DATASET_REGISTRY: dict[str, Dataset] = {d.key: d for d in (
    Dataset("arc", "ARC-Challenge", "3–5", "ai2_arc", "ARC-Challenge", ("train", "test", "validation"), None, 2590),
    Dataset("hellaswag", "HellaSwag", "4", "Rowan/hellaswag", None, ("train",), 6000, 6000),
    Dataset("mmlu", "MMLU", "4", "cais/mmlu", "all", ("test",), 6000, 6000),
    Dataset("truthfulqa", "TruthfulQA", "2–13", "truthful_qa", "multiple_choice", ("validation",), None, 817),
    Dataset("winogrande", "WinoGrande", "2", "winogrande", "winogrande_debiased", ("train", "validation"), 6000, 6000),
)}
#: dataset keys in the paper's order
DATASETS = tuple(DATASET_REGISTRY)

# ----------------------------------------------------------------------------- answers

#: the two prompt phrasings (METHODS §3)
PHRASINGS = ("first", "second")
#: an answer's grade; unparseable counts as wrong everywhere (METHODS §5)
GRADES = ("correct", "wrong", "unparseable")
#: where a row of the tidy table comes from
SOURCES = ("published", "scored")

#: confidence signals (METHODS §6) -> display name
SIGNAL_NAMES = {"msp": "MSP", "max_logit": "Max Logit"}
SIGNALS = tuple(SIGNAL_NAMES)
#: the second confidence signal of our scored rows (``scoring.likelihood``): the softmax over the
#: options of their summed, or per-character, log-likelihoods; absent from the paper's results
OPTION_SIGNAL_NAMES = {"option_likelihood": "Option likelihood",
                       "option_likelihood_norm": "Option likelihood per character"}
OPTION_SIGNALS = tuple(OPTION_SIGNAL_NAMES)

#: points lost per wrong answer in the abstention score (METHODS §8.7) -> name of the rule
PENALTY_NAMES = {1: "balanced", 2: "conservative"}
PENALTIES = tuple(PENALTY_NAMES)

# ----------------------------------------------------------------------------- models

# key, display name, checkpoint, parameters in billions (NaN: unknown), family, access (METHODS §1)
_MODELS = [
    ("Falcon-7b", "Falcon 7B", "tiiuae/falcon-7b-instruct", 7, "Falcon", "open"),
    ("Falcon-40b", "Falcon 40B", "tiiuae/falcon-40b-instruct", 40, "Falcon", "open"),
    ("Llama-7b", "Llama 2 7B", "meta-llama/Llama-2-7b-chat-hf", 7, "Llama 2", "open"),
    ("Llama-13b", "Llama 2 13B", "meta-llama/Llama-2-13b-chat-hf", 13, "Llama 2", "open"),
    ("Llama-70b", "Llama 2 70B", "meta-llama/Llama-2-70b-chat-hf", 70, "Llama 2", "open"),
    ("Llama3-8b", "Llama 3 8B", "meta-llama/Meta-Llama-3-8B-Instruct", 8, "Llama 3", "open"),
    ("Llama3-70b", "Llama 3 70B", "meta-llama/Meta-Llama-3-70B-Instruct", 70, "Llama 3", "open"),
    ("Mistral", "Mistral 7B", "mistralai/Mistral-7B-Instruct-v0.2", 7, "Mistral", "open"),
    ("Mixtral", "Mixtral 8x7B", "mistralai/Mixtral-8x7B-Instruct-v0.1", 46.7, "Mistral", "open"),
    ("Solar", "SOLAR 10.7B", "upstage/SOLAR-10.7B-Instruct-v1.0", 10.7, "SOLAR", "open"),
    ("Yi-6b", "Yi 6B", "01-ai/Yi-6B-Chat", 6, "Yi", "open"),
    ("Yi-34b", "Yi 34B", "01-ai/Yi-34B-Chat", 34, "Yi", "open"),
    ("gpt-3.5-turbo", "GPT3.5 Turbo", "gpt-3.5-turbo-0125", float("nan"), "GPT", "api"),
    ("gpt-4-turbo", "GPT4 Turbo", "gpt-4-0125-preview", float("nan"), "GPT", "api"),
]

#: the paper's model keys, in its table order (GPT last, then by series, then size)
PAPER_MODELS = tuple(m[0] for m in _MODELS)
#: models served through an API that exposes token probabilities but no logits (no Max Logit)
API_MODELS = frozenset(m[0] for m in _MODELS if m[5] == "api")
_NAMES = {m[0]: m[1] for m in _MODELS}


def model_table() -> pd.DataFrame:
    """One row per paper model: model (key), name, checkpoint, params_b, family, access ('open'/'api').

    API models (GPT) expose no logits, so they have MSP but no Max Logit.
    """
    return pd.DataFrame(_MODELS, columns=["model", "name", "checkpoint", "params_b", "family", "access"])


def display_name(model: str) -> str:
    """The paper's display name for a model key; other keys (our scored models) are returned as is."""
    return _NAMES.get(str(model), str(model))


def dataset_name(dataset: str) -> str:
    """The display name of a dataset key ('arc' -> 'ARC-Challenge'); other keys are returned as is."""
    entry = DATASET_REGISTRY.get(str(dataset))
    return entry.name if entry else str(dataset)


def is_scored(model: str) -> bool:
    """True for a model outside the paper's 14 (one we scored ourselves); the one test used everywhere."""
    return str(model) not in PAPER_MODELS


def model_order(models: Iterable[str]) -> list[str]:
    """The given model keys in display order: the paper's 14 in its order, then others alphabetically."""
    models = set(map(str, models))
    return [m for m in PAPER_MODELS if m in models] + sorted(models - set(PAPER_MODELS))


def dataset_order(datasets: Iterable[str]) -> list[str]:
    """The given dataset keys in the paper's order, then any others alphabetically."""
    datasets = set(map(str, datasets))
    return [d for d in DATASETS if d in datasets] + sorted(datasets - set(DATASETS))
