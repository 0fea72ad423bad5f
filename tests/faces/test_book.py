"""The chapter runner (papermill, skip when unchanged) and a full build of the book on the real data."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from helpers import book

REPO = Path(__file__).resolve().parents[2]
#: the parameters every chapter takes (book.execute and ``-p NAME KEY VALUE`` set them), with their defaults
COMMON_PARAMETERS = {"models": None, "datasets": None, "published_dir": None, "scores_dir": None}

CHAPTER = """# %% [markdown]
# # A chapter

# %% tags=["parameters"]
value = 1

# %%
print("value is", value)

# %%
import matplotlib.pyplot as plt
plt.plot([0, 1], [1, 0]);
"""


@pytest.fixture
def tiny_book(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "one.py").write_text(CHAPTER)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                       "  - file: book/executed/one\n  - file: book/other\n")
    return tmp_path


def outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_chapters_come_from_the_toc(tiny_book):
    assert book.chapters(tiny_book) == ["one"]
    assert book.chapters(REPO) == ["data", "reproduction", "calibration", "correctness", "correlations",
                                   "abstention", "own_model"]


def chapter_cells(name: str) -> list:
    """The cells of a chapter, read from its source as jupytext reads it for papermill."""
    return jupytext.read(REPO / "notebooks" / f"{name}.py").cells


def tagged(cells: list, tag: str) -> list:
    return [c for c in cells if tag in c.metadata.get("tags", [])]


def parameters(cell) -> dict:
    """The names and values of a parameters cell, which must be plain ``name = literal`` lines (so
    that papermill's injected cell, placed right after it, replaces them)."""
    values = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), \
            ast.unparse(node)
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("name", book.chapters(REPO))
def test_every_chapter_has_a_parameters_cell_first(name):
    cells = chapter_cells(name)
    (cell,) = tagged(cells, "parameters")
    assert cell is next(c for c in cells if c.cell_type == "code")  # nothing runs before the parameters
    values = parameters(cell)
    # the reproduction chapter is about the paper's models only: it takes no folder of ours
    common = {k: v for k, v in COMMON_PARAMETERS.items() if not (name == "reproduction" and k == "scores_dir")}
    assert {k: values.get(k, "absent") for k in common} == common


def test_the_own_model_chapter_takes_what_scoring_needs():
    (cell,) = tagged(chapter_cells("own_model"), "parameters")
    values = parameters(cell)
    assert {k: values.get(k, "absent") for k in ("model", "phrasings", "limit", "mode", "device")} == \
        {"model": None, "phrasings": None, "limit": 200, "mode": "fast", "device": "auto"}


def test_execute_then_skip_until_something_changes(tiny_book, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tiny_book / "book" / "executed" / "one.ipynb"
    assert book.execute("one", inputs="a", root=tiny_book) is True
    assert "value is 1" in outputs(out)
    images = [o for c in nbformat.read(out, as_version=4).cells for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) == 1  # figures reach the notebook even when MPLBACKEND is set (Agg in tests)
    stamp = json.loads(out.with_suffix(".stamp.json").read_text())
    assert stamp["parameters"] == {}
    assert book.execute("one", inputs="a", root=tiny_book) is False  # nothing changed
    assert book.execute("one", {"value": 2}, inputs="a", root=tiny_book) is True  # parameters changed
    assert "value is 2" in outputs(out)
    assert book.execute("one", {"value": 2}, inputs="b", root=tiny_book) is True  # input data changed
    source = tiny_book / "notebooks" / "one.py"
    source.write_text(CHAPTER.replace("value is", "the value is"))
    assert book.execute("one", {"value": 2}, inputs="b", root=tiny_book) is True  # source changed
    assert "the value is 2" in outputs(out)
    assert book.execute("one", {"value": 2}, inputs="b", root=tiny_book, force=True) is True


def test_failing_chapter_names_the_cell_and_keeps_the_last_good_output(tiny_book):
    book.execute("one", inputs="a", root=tiny_book)
    out = tiny_book / "book" / "executed" / "one.ipynb"
    before = out.read_bytes()
    (tiny_book / "notebooks" / "one.py").write_text(CHAPTER + "\n# %%\nraise ValueError('broken on purpose')\n")
    with pytest.raises(RuntimeError, match=r"one\.py: cell \d+ raised ValueError: broken on purpose"):
        book.execute("one", inputs="a", root=tiny_book)
    assert out.read_bytes() == before


def test_stderr_output_counts_as_failure(tiny_book):
    (tiny_book / "notebooks" / "one.py").write_text(
        CHAPTER + "\n# %%\nimport warnings\nwarnings.warn('noisy')\n")
    with pytest.raises(RuntimeError, match=r"(?s)unclean output:.*stderr.*noisy"):
        book.execute("one", inputs="a", root=tiny_book)
    assert not (tiny_book / "book" / "executed" / "one.ipynb").exists()


def test_unknown_chapter_is_refused(tiny_book, monkeypatch, capsys):
    monkeypatch.chdir(tiny_book)
    monkeypatch.setattr(book, "chapters", lambda root=None: ["one"])
    with pytest.raises(SystemExit):
        book.main(["run", "two"])
    assert "unknown chapter(s) ['two']" in capsys.readouterr().err


def test_student_copies_drop_solutions(tiny_book):
    source = tiny_book / "notebooks" / "one.py"
    source.write_text(CHAPTER + '\n# %% [markdown] tags=["exercise"]\n# Plot value squared.\n'
                      '\n# %% tags=["solution"]\nprint(value ** 2)\n')
    (path,) = book.student_notebooks(tiny_book / "student", root=tiny_book)
    nb = nbformat.read(path, as_version=4)
    text = "".join(c.source for c in nb.cells)
    assert "Plot value squared." in text and "value ** 2" not in text
    assert "print(\"value is\", value)" in text
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", book.chapters(REPO))
def test_every_chapter_has_an_exercise_with_a_solution(name):
    cells = chapter_cells(name)
    exercises, solutions = tagged(cells, "exercise"), tagged(cells, "solution")
    assert exercises and all(c.cell_type == "markdown" and c.source.strip() for c in exercises)
    assert solutions and all(c.cell_type == "code" and c.source.strip() for c in solutions)
    assert cells.index(exercises[0]) < cells.index(solutions[0])  # the question comes first
    assert not tagged(exercises, "solution")  # the students' copy keeps every exercise


@pytest.mark.slow
def test_whole_book_executes_and_renders(published_dir, tmp_path):
    """Every chapter runs with papermill on the real data; the HTML pages have figures and no errors."""
    root = book.copy_book(tmp_path / "book-root", REPO)
    env = dict(os.environ, MSP_PUBLISHED_DIR=str(published_dir), MPLBACKEND="Agg",
               MSP_DATA_DIR=str(REPO / "data"), MSP_SCORES_DIR=str(REPO / "data" / "scores"))
    run = subprocess.run([sys.executable, "-m", "helpers.book", "run"], cwd=root, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for name in book.chapters(root):
        assert f"{name}: executed" in run.stdout
    build = subprocess.run([Path(sys.executable).parent / "jupyter-book", "build", str(root),
                            "--path-output", str(tmp_path / "out"), "--warningiserror", "--nitpick",
                            "--keep-going"], env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    html = tmp_path / "out" / "_build" / "html"
    assert (html / "book" / "intro.html").exists()
    for name in book.chapters(root):
        page = (html / "book" / "executed" / f"{name}.html").read_text()
        assert len(re.findall(r"<img [^>]*src=\"[^\"]*_images/", page)) >= 1, f"{name}: no figure"
        assert "Traceback" not in page and "output stderr" not in page and "output error" not in page, name
        assert "{glue" not in page, f"{name}: unresolved glue"
