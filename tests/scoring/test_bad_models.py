"""Models that cannot be scored are refused at load time with the file and the reason; the command
line says why when nothing can be scored, shows undefined numbers as n/a, and GGUF conversion is
safe to run twice at once."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from helpers import score
from helpers.data import scores
from helpers.scoring import hf
from helpers.scoring.specs import ScoringError, smollm2_gguf


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny model folder, to damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def edit_config(folder: Path, **values) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **values}))


def test_an_unknown_model_type_names_the_config(model_copy):
    edit_config(model_copy, model_type="no-such-architecture")
    with pytest.raises(ScoringError, match=r"config.json: model_type 'no-such-architecture' is not one"):
        hf.load_model(model_copy, device="cpu")


def test_a_malformed_config_value_names_the_config(model_copy):
    edit_config(model_copy, num_attention_heads="four")
    with pytest.raises(ScoringError, match=r"config.json: a value is malformed"):
        hf.load_model(model_copy, device="cpu")


def test_a_config_that_is_not_json_names_the_config(model_copy):
    (model_copy / "config.json").write_text("{model_type: llama")
    with pytest.raises(ScoringError, match=r"config.json: not a readable JSON file"):
        hf.load_model(model_copy, device="cpu")


def test_a_missing_tokenizer_is_named(model_copy):
    for name in hf.TOKENIZER_FILES + ("special_tokens_map.json", "chat_template.jinja"):
        (model_copy / name).unlink(missing_ok=True)
    with pytest.raises(ScoringError, match=r"no tokenizer file \(one of tokenizer.json"):
        hf.load_model(model_copy, device="cpu")


def test_truncated_weights_are_named(model_copy):
    weights = next(model_copy.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ScoringError, match=rf"{weights.name}: damaged safetensors file"):
        hf.load_model(model_copy, device="cpu")


def test_a_fake_gguf_file_is_named(tmp_path):
    fake = tmp_path / "model.Q4_0.gguf"
    fake.write_bytes(b"not a model at all" * 100)
    with pytest.raises(ScoringError, match=r"model.Q4_0.gguf: not a GGUF file"):
        hf.load_model(fake, device="cpu", models_dir=tmp_path / "models")


def test_a_damaged_gguf_file_is_named(tmp_path):
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(hf.GGUF_MAGIC + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with pytest.raises(ScoringError, match=r"damaged.gguf: cannot read the GGUF file"):
        hf.converted_gguf(damaged, tmp_path / "models")


@pytest.mark.slow
def test_two_first_conversions_at_once_convert_once_quietly_and_leave_no_partial(tmp_path, capfd):
    models = tmp_path / "models"
    leftover = models / f"{smollm2_gguf().stem}-{hf.file_sha256(smollm2_gguf())[:12]}.partial"
    leftover.mkdir(parents=True)
    (leftover / "half-written").write_text("left by a killed conversion")
    results, errors = [], []

    def convert():
        try:
            results.append(hf.converted_gguf(smollm2_gguf(), models))
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=convert) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    assert (results[0] / "config.json").is_file()
    assert sorted(p.name for p in models.iterdir() if not p.name.startswith(".")) == [results[0].name]
    assert capfd.readouterr().err == ""  # no progress bar: a chapter fails on any stderr output


def test_start_beyond_the_dataset_says_why(tiny_model_dir, datasets_dir, tmp_path, capsys):
    argv = ["--model", str(tiny_model_dir), "--datasets", "truthfulqa", "--start", "5000", "--limit", "5",
            "--device", "cpu", "--scores-dir", str(tmp_path), "--datasets-dir", str(datasets_dir)]
    assert score.main(argv) == 2
    assert capsys.readouterr().err == ("error: --start 5000 is beyond the last question of truthfulqa "
                                       "(817 questions, positions from 0)\n")


def test_a_paper_models_name_is_refused_before_loading(tiny_model_dir, tmp_path, capsys):
    argv = ["--model", str(tiny_model_dir), "--name", "Mistral", "--scores-dir", str(tmp_path)]
    assert score.main(argv) == 2
    assert "the name 'Mistral' is one of the paper's model keys" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_run_with_undefined_aurocs_prints_n_a(tiny_model_dir, datasets_dir, tmp_path, capsys):
    argv = ["--model", str(tiny_model_dir), "--datasets", "arc", "--phrasings", "first", "--limit", "1",
            "--device", "cpu", "--scores-dir", str(tmp_path), "--datasets-dir", str(datasets_dir)]
    assert score.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["dataset", "phrasing", "n", "accuracy", "auroc_msp", "auroc_max_logit",
                              "unparseable", "mode"]
    assert out[1].split()[:3] == ["arc", "first", "1"] and out[1].split()[4:6] == ["n/a", "n/a"]
    assert len(scores.load_scored(tmp_path)) == 1
