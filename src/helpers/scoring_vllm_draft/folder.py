"""A model folder that vLLM loads as plain (unquantised) weights.

A transformers folder converted from a GGUF file may keep a ``quantization_config`` entry in its
``config.json`` (older transformers versions wrote one for GGUF-dequantised models). vLLM reads that
entry and treats the folder as GGUF-quantised, which fails or picks the wrong loader, although the
safetensors in the folder hold plain dequantised tensors. :func:`vllm_model_folder` gives a folder
without the entry: the folder itself when it has none, else a sibling copy whose files are links to
the original's except ``config.json``, rewritten without it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

CONFIG = "config.json"
DROPPED_KEYS = ("quantization_config",)


class ModelFolderError(ValueError):
    """A folder that is not a saved transformers model."""


def _config(folder: Path) -> dict:
    path = folder / CONFIG
    if not path.is_file():
        raise ModelFolderError(f"{folder} has no {CONFIG} (not a saved transformers model)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelFolderError(f"{path} is not valid JSON: {exc}") from exc


def needs_copy(folder: str | Path) -> bool:
    """True if ``folder``'s config holds an entry that makes vLLM treat it as quantised."""
    return any(k in _config(Path(folder)) for k in DROPPED_KEYS)


def vllm_model_folder(folder: str | Path, target: str | Path | None = None) -> Path:
    """A folder with ``folder``'s model that vLLM loads as unquantised weights.

    ``folder`` itself when its ``config.json`` has no ``quantization_config``; else ``target``
    (default: the sibling ``<name>-vllm``), made once: every file of ``folder`` linked (a hard link,
    or a copy across file systems) except ``config.json``, written without that entry. A target that
    already holds the cleaned config is reused. Returns the folder to pass to vLLM.
    """
    source = Path(folder).resolve()
    config = _config(source)
    if not any(k in config for k in DROPPED_KEYS):
        return source
    out = Path(target) if target is not None else source.with_name(source.name + "-vllm")
    cleaned = {k: v for k, v in config.items() if k not in DROPPED_KEYS}
    if (out / CONFIG).is_file() and _config(out) == cleaned:
        return out
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for path in source.iterdir():
        if path.name == CONFIG or not path.is_file():
            continue
        try:
            os.link(path, tmp / path.name)
        except OSError:
            shutil.copy2(path, tmp / path.name)
    (tmp / CONFIG).write_text(json.dumps(cleaned, indent=2, sort_keys=True) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
