"""``python -m helpers.score``: argument errors, an end-to-end run on the tiny model, the summary."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import score
from helpers.data import scores
from helpers.report.tables import run_summary
from tiny_model import tiny_model_dir  # noqa: F401  (fixture)


@pytest.mark.parametrize("argv, message", [
    (["--datasets", "arc,squad"], "unknown dataset(s) ['squad']; valid: arc, hellaswag"),
    (["--phrasings", "third"], "unknown phrasing(s) ['third']; valid: first, second"),
    (["--limit", "0"], "--limit and --batch-size must be >= 1"),
])
def test_argument_errors(argv, message):
    with pytest.raises(SystemExit, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        score.parse_args(["--model", "x/y", *argv])


def test_unknown_model_is_a_clear_error(tmp_path, capsys):
    assert score.main(["--model", str(tmp_path / "missing.gguf"), "--scores-dir", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_unknown_backend_names_the_known_ones(tmp_path, capsys):
    assert score.main(["--model", "org/model", "--backend", "nope", "--scores-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: unknown backend 'nope'; known backends: hf, openai, vllm\n"
    assert not any(tmp_path.iterdir())


def test_mode_choice_is_checked():
    result = subprocess.run([sys.executable, "-m", "helpers.score", "--model", "x/y", "--mode", "quick"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice: 'quick'" in result.stderr


def test_scores_real_questions_and_prints_a_summary(tiny_model_dir, datasets_dir, tmp_path, capsys):
    argv = ["--model", str(tiny_model_dir), "--datasets", "arc,winogrande", "--phrasings", "second",
            "--limit", "6", "--device", "cpu", "--batch-size", "4", "--scores-dir", str(tmp_path),
            "--datasets-dir", str(datasets_dir)]
    assert score.main(argv) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "auroc_msp" in out and "winogrande" in out
    scored = scores.load_scored(tmp_path)
    assert sorted(scored.groupby("dataset", observed=True).size().items()) == [("arc", 6), ("winogrande", 6)]
    assert set(scored.model) == {tiny_model_dir.name}
    assert scored.qid.max() == 5 and scored.question_id.str.startswith(("arc/", "winogrande/")).all()
    table = run_summary(scored, tiny_model_dir.name)
    assert table.n.tolist() == [6, 6]
    assert table.accuracy.tolist() == [round(100 * scored[scored.dataset == d].correct.mean(), 2)
                                       for d in ("arc", "winogrande")]


@pytest.mark.slow
def test_own_model_chapter_scores_without_stderr(tiny_model_dir, published_dir, datasets_dir, tmp_path,
                                                 monkeypatch):
    """The own-model chapter scoring a model that is not cached yet: a real run inside the chapter,
    which the book's runner fails on any stderr output."""
    import shutil
    from pathlib import Path

    from helpers import book

    repo = Path(__file__).resolve().parents[2]
    root = tmp_path / "book"
    shutil.copytree(repo / "notebooks", root / "notebooks")
    shutil.copy(repo / "_toc.yml", root / "_toc.yml")
    scores_dir = tmp_path / "scores"
    monkeypatch.setenv("MSP_SCORES_DIR", str(scores_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    params = {"model": str(tiny_model_dir), "limit": 3, "datasets": ["arc"], "phrasings": ["first"]}
    assert book.execute("own_model", params, inputs="t", root=root) is True
    scored = scores.load_scored(scores_dir)
    assert scored.qid.tolist() == [0, 1, 2] and set(scored.model) == {tiny_model_dir.name}
    assert book.output_problems(root / "book" / "executed" / "own_model.ipynb") == []
