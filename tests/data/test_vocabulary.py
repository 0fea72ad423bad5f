"""The book's vocabulary (``helpers.data.vocabulary``): keys, orders and display names (METHODS §1, §2)."""

from __future__ import annotations

import math

import pytest

from helpers.data.vocabulary import (
    API_MODELS, DATASET_REGISTRY, DATASETS, GRADES, PAPER_MODELS, PENALTIES, PENALTY_NAMES, PHRASINGS,
    SIGNAL_NAMES, SIGNALS, SOURCES, dataset_name, dataset_order, display_name, is_scored, model_order,
    model_table,
)


def test_fixed_vocabularies():
    assert DATASETS == ("arc", "hellaswag", "mmlu", "truthfulqa", "winogrande")
    assert PHRASINGS == ("first", "second")
    assert GRADES == ("correct", "wrong", "unparseable")
    assert SOURCES == ("published", "scored")
    assert SIGNALS == ("msp", "max_logit") and SIGNAL_NAMES == {"msp": "MSP", "max_logit": "Max Logit"}
    assert PENALTIES == (1, 2) and PENALTY_NAMES == {1: "balanced", 2: "conservative"}


def test_dataset_registry_is_the_papers_loading():
    assert tuple(DATASET_REGISTRY) == DATASETS
    assert all(entry.key == key for key, entry in DATASET_REGISTRY.items())
    rows = {d.key: (d.name, d.options, d.hf_id, d.config, d.splits, d.used) for d in DATASET_REGISTRY.values()}
    assert rows == {
        "arc": ("ARC-Challenge", "3–5", "ai2_arc", "ARC-Challenge", ("train", "test", "validation"), None),
        "hellaswag": ("HellaSwag", "4", "Rowan/hellaswag", None, ("train",), 6000),
        "mmlu": ("MMLU", "4", "cais/mmlu", "all", ("test",), 6000),
        "truthfulqa": ("TruthfulQA", "2–13", "truthful_qa", "multiple_choice", ("validation",), None),
        "winogrande": ("WinoGrande", "2", "winogrande", "winogrande_debiased", ("train", "validation"), 6000),
    }
    with pytest.raises(AttributeError):  # frozen: one registry for every module
        DATASET_REGISTRY["arc"].used = 10


def test_dataset_names_and_order():
    assert [dataset_name(d) for d in DATASETS] == ["ARC-Challenge", "HellaSwag", "MMLU", "TruthfulQA",
                                                   "WinoGrande"]
    assert dataset_name("boolq") == "boolq"
    assert dataset_order(["winogrande", "boolq", "arc", "anli"]) == ["arc", "winogrande", "anli", "boolq"]


def test_model_table_is_the_papers_fourteen():
    table = model_table()
    assert list(table.columns) == ["model", "name", "checkpoint", "params_b", "family", "access"]
    assert tuple(table.model) == PAPER_MODELS and len(PAPER_MODELS) == 14
    assert table.checkpoint.is_unique and table.name.is_unique
    assert set(table.loc[table.access == "api", "model"]) == API_MODELS == {"gpt-3.5-turbo", "gpt-4-turbo"}
    assert set(table.access) == {"open", "api"}
    assert table.loc[table.access == "api", "params_b"].isna().all()
    assert table.loc[table.access == "open", "params_b"].notna().all()
    assert dict(zip(table.model, table.family))["Llama3-70b"] == "Llama 3"
    assert set(table.family) == {"Falcon", "Llama 2", "Llama 3", "Mistral", "SOLAR", "Yi", "GPT"}
    table.loc[0, "name"] = "changed"  # a fresh table every call
    assert model_table().loc[0, "name"] == "Falcon 7B"


def test_paper_keys_are_the_published_keys(published):
    assert set(published.model.astype(str)) == set(PAPER_MODELS)


def test_display_names():
    assert display_name("Llama3-70b") == "Llama 3 70B"
    assert display_name("gpt-4-turbo") == "GPT4 Turbo"
    assert display_name("Mixtral") == "Mixtral 8x7B"
    assert display_name("SmolLM2-135M-Instruct") == "SmolLM2-135M-Instruct"  # ours: the key itself
    names = model_table().set_index("model")["name"]
    assert all(display_name(m) == names[m] for m in PAPER_MODELS)


def test_is_scored_and_model_order():
    assert not any(is_scored(m) for m in PAPER_MODELS)
    assert is_scored("SmolLM2-135M-Instruct") and is_scored("mistral")  # keys are case-sensitive
    mixed = ["Tiny-test", "gpt-4-turbo", "Falcon-40b", "Alpha", "Falcon-7b", "Mistral"]
    assert model_order(mixed) == ["Falcon-7b", "Falcon-40b", "Mistral", "gpt-4-turbo", "Alpha", "Tiny-test"]
    assert model_order(PAPER_MODELS[::-1]) == list(PAPER_MODELS)
    assert model_order([]) == []
    assert math.isnan(model_table().set_index("model").loc["gpt-3.5-turbo", "params_b"])
