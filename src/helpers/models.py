"""The 14 chat models of the paper: display names, checkpoints, sizes, families (METHODS §1)."""

from __future__ import annotations

import pandas as pd

# key, display name, checkpoint, parameters in billions (NaN: unknown), family, access
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


def model_table() -> pd.DataFrame:
    """One row per paper model: key, name, checkpoint, params_b, family, access ('open'/'api').

    API models (GPT) expose no logits, so they have MSP but no Max Logit.
    """
    return pd.DataFrame(_MODELS, columns=["model", "name", "checkpoint", "params_b", "family", "access"])


def display_name(model: str) -> str:
    """The paper's display name for a model key; other keys (our scored models) are returned as is."""
    names = dict((m[0], m[1]) for m in _MODELS)
    return names.get(model, model)
