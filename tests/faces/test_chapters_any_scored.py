"""Every chapter runs with any set of scored models: none, one that covers only part of the datasets,
and several; and a chapter given a parameter of the wrong type stops with a message naming it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import book
from helpers.data.scores import shown_keys

REPO = Path(__file__).resolve().parents[2]
CLAIMS = ["data", "calibration", "correctness", "correlations", "abstention"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A copy of the book's sources to execute chapters in, away from book/executed/."""
    return book.copy_book(tmp_path_factory.mktemp("book"), REPO)


@pytest.fixture(scope="module")
def score_folders(tmp_path_factory) -> dict[str, Path]:
    """Score folders: empty; one model on ARC only; that model on every dataset plus a second model
    (a renamed copy of its ARC answers under another id)."""
    committed = [path for path, _ in shown_keys(REPO / "data" / "scores")]
    assert len(committed) == 10, "data/scores/ should hold SmolLM2-135M-Instruct's ten committed keys"
    base = tmp_path_factory.mktemp("scores")
    folders = {name: base / name for name in ("none", "partial", "several")}
    for folder in folders.values():
        folder.mkdir()
    for path in committed:
        shutil.copytree(path, folders["several"] / path.name)
        if "__arc__" in path.name:
            shutil.copytree(path, folders["partial"] / path.name)
            other = folders["several"] / path.name.replace("SmolLM2-135M-Instruct", "Other-model")
            shutil.copytree(path, other)
            manifest = json.loads((other / "manifest.json").read_text())
            manifest.update(name="Other-model", model_id="other/Other-model", revision="main")
            (other / "manifest.json").write_text(json.dumps(manifest))
    return folders


@pytest.mark.slow
@pytest.mark.parametrize("scored", ["none", "partial", "several"])
def test_every_claim_chapter_runs_with_any_scored_models(root, score_folders, published_dir, scored):
    for name in CLAIMS:
        assert book.execute(name, {"scores_dir": str(score_folders[scored])}, force=True, root=root), name
        assert book.output_problems(root / book.EXECUTED / f"{name}.ipynb") == []


@pytest.mark.slow
def test_the_own_model_chapter_runs_on_a_partial_model_without_scoring(root, score_folders, published_dir):
    parameters = {"scores_dir": str(score_folders["partial"]), "datasets": ["arc"], "limit": 200}
    assert book.execute("own_model", parameters, force=True, root=root)


@pytest.mark.slow
def test_a_parameter_of_the_wrong_type_is_named(root, published_dir):
    with pytest.raises(RuntimeError, match=r"parameter limit: expected a whole number of at least 1, got 'abc'"):
        book.execute("own_model", {"limit": "abc"}, force=True, root=root)
