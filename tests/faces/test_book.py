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
                                   "abstention", "summary", "recalibration", "selective", "one_shot",
                                   "own_model"]


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


EXERCISE = """
# %% [markdown] tags=["exercise"] answer=["squared"]
# ## Exercises
#
# Compute the square of `value` into `squared`.

# %% tags=["solution", "hide-input"]
# the solution's own words
squared = value ** 2

# %% tags=["solution", "hide-input"]
print("squared is", squared)
"""


def test_exercises_become_numbered_blocks_with_folded_solutions(tiny_book):
    (tiny_book / "notebooks" / "one.py").write_text(CHAPTER + EXERCISE)
    assert book.execute("one", {"value": 3}, inputs="a", root=tiny_book)
    out = tiny_book / "book" / "executed" / "one.ipynb"
    cells = nbformat.read(out, as_version=4).cells
    assert [c.cell_type for c in cells[-6:]] == ["markdown", "markdown", "markdown", "code", "code", "markdown"]
    heading, exercise, start, first, second, end = cells[-6:]
    assert heading.source == "## Exercises"
    assert exercise.source == "````{exercise}\n:label: one-exercise-1\n\nCompute the square of `value` into `squared`.\n````"
    assert start.source == "```{solution-start} one-exercise-1\n:class: dropdown\n```"
    assert end.source == "```{solution-end}\n```"
    # the solution's code is shown (inside the folded solution) and its output kept
    assert first.metadata["tags"] == second.metadata["tags"] == ["solution"]
    assert "".join(o["text"] for o in second.outputs) == "squared is 9\n"
    assert "msp-exercise-answers" not in "".join(c.source for c in cells)
    assert json.loads(out.with_suffix(".answers.json").read_text()) == {"1": {"squared": 9.0}}


def test_an_exercise_must_name_its_answer(tiny_book):
    (tiny_book / "notebooks" / "one.py").write_text(CHAPTER + EXERCISE.replace(' answer=["squared"]', ""))
    with pytest.raises(ValueError, match=r"one\.py: exercise 1 names no answer"):
        book.execute("one", inputs="a", root=tiny_book)
    (tiny_book / "notebooks" / "one.py").write_text(CHAPTER + EXERCISE.replace('["squared"]', '["cubed"]'))
    with pytest.raises(RuntimeError, match=r"one\.py: exercise 1's answer `cubed` is not defined"):
        book.execute("one", inputs="a", root=tiny_book)


def otter_tests(notebook: Path) -> dict:
    """The checks otter assign stored in a student notebook, as otter's own test objects."""
    from otter.test_files import OKTestFile

    specs = nbformat.read(notebook, as_version=4).metadata["otter"]["tests"]
    return {name: OKTestFile.from_spec(spec) for name, spec in specs.items()}


def passes(test, environment: dict) -> bool:
    test.run(dict(environment))
    return test.passed_all


def test_student_notebooks_keep_the_exercise_and_checks_but_no_solution(tiny_book):
    (tiny_book / "notebooks" / "one.py").write_text(CHAPTER + EXERCISE)
    book.execute("one", {"value": 3}, inputs="a", root=tiny_book)
    (path,) = book.student_notebooks(tiny_book / "student", root=tiny_book)
    assert path == tiny_book / "student" / "one" / "student" / "one.ipynb"
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "Compute the square of `value` into `squared`." in text and "print(\"value is\", value)" in text
    assert "value ** 2" not in text and "the solution's own words" not in text and "squared is" not in text
    assert "squared = ..." in text and 'grader.check("one-exercise-1")' in text
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")
    (check,) = otter_tests(path).values()
    assert passes(check, {"squared": 9}) and passes(check, {"squared": 9.001})
    assert not passes(check, {"squared": ...}) and not passes(check, {"squared": 6}) and not passes(check, {})
    # the teacher's copy: the solutions, and the zip `otter run` grades with
    solutions = nbformat.read(tiny_book / "student" / "one" / "autograder" / "one.ipynb", as_version=4)
    assert "squared = value ** 2" in "\n".join(c.source for c in solutions.cells)
    assert list((tiny_book / "student" / "one" / "autograder").glob("one-autograder_*.zip"))


def test_student_notebooks_read_as_the_book_glued_values_filled_in(tiny_book):
    glued = ('\n# %%\nfrom myst_nb import glue\nglue("share", 12.345, display=False)\nglue("who", "Ann", display=False)\n'
             '\n# %% [markdown]\n# A share of {glue:text}`share:.1f`% for {glue:text}`who`.\n#\n'
             '# :::{container} note\n# A side note.\n# :::\n')
    (tiny_book / "notebooks" / "one.py").write_text(CHAPTER + glued + EXERCISE)
    book.execute("one", {"value": 3}, inputs="a", root=tiny_book)
    (path,) = book.student_notebooks(tiny_book / "student", root=tiny_book)
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    assert "A share of 12.3% for Ann.\n\nA side note." in text
    assert "{glue" not in text and ":::" not in text


def solution_lines(name: str) -> set[str]:
    """Lines of a chapter's solution cells that appear nowhere else in it."""
    cells = chapter_cells(name)
    elsewhere = {line.strip() for c in cells if "solution" not in c.metadata.get("tags", [])
                 for line in c.source.splitlines()}
    return {line.strip() for c in tagged(cells, "solution") for line in c.source.splitlines()
            if line.strip() and line.strip() not in elsewhere}


@pytest.fixture(scope="module")
def student_book(tmp_path_factory):
    """The student copies of the book's chapters (from the answers the last chapter runs recorded)."""
    return book.student_notebooks(tmp_path_factory.mktemp("student"), root=REPO)


@pytest.mark.parametrize("name", book.chapters(REPO))
def test_student_chapters_have_no_solution_and_checks_that_tell_right_from_unfilled(student_book, name):
    (path,) = [p for p in student_book if p.stem == name]
    lines = {line.strip() for c in nbformat.read(path, as_version=4).cells for line in c.source.splitlines()}
    leaked = sorted(solution_lines(name) & lines)
    assert leaked == [], f"{name}: solution text in the student notebook: {leaked}"
    answers = book.recorded_answers(name, REPO)
    checks = otter_tests(path)
    assert sorted(checks) == sorted(book.exercise_label(name, int(n)) for n in answers)
    for number, values in answers.items():
        check = checks[book.exercise_label(name, int(number))]
        assert passes(check, values), f"{name} exercise {number}: the solution's answers fail the check"
        assert not passes(check, {v: ... for v in values}), f"{name} exercise {number}: unfilled passes"
        for variable in values:  # every answer is checked: one wrong value fails the exercise
            assert not passes(check, values | {variable: "wrong"}), f"{name} exercise {number}: {variable}"


@pytest.mark.slow
def test_teacher_grading_run_reports_each_check(student_book, tmp_path):
    """``otter run`` on a filled-in notebook (the solutions) and on an unfilled one (the student copy)."""
    folder = student_book[0].parents[1]
    name = folder.name
    (autograder,) = (folder / "autograder").glob(f"{name}-autograder_*.zip")
    scores = {}
    for kind, notebook in (("filled", folder / "autograder" / f"{name}.ipynb"), ("unfilled", student_book[0])):
        out = tmp_path / kind
        out.mkdir()
        run = subprocess.run([Path(sys.executable).parent / "otter", "run", "-a", autograder, "-o", out, notebook],
                             cwd=REPO, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        results = json.loads((out / "results.json").read_text())["tests"]
        scores[kind] = {t["name"]: t["score"] for t in results if "score" in t and t["name"] != "Public Tests"}
    answers = book.recorded_answers(name, REPO)
    labels = {book.exercise_label(name, int(n)): len(v) for n, v in answers.items()}
    assert scores["filled"] == {label: float(points) for label, points in labels.items()}
    assert scores["unfilled"] == {label: 0.0 for label in labels}


@pytest.mark.parametrize("name", book.chapters(REPO))
def test_every_chapter_has_an_exercise_with_a_solution(name):
    cells = chapter_cells(name)
    exercises, solutions = tagged(cells, "exercise"), tagged(cells, "solution")
    assert exercises and all(c.cell_type == "markdown" and c.source.strip() for c in exercises)
    assert solutions and all(c.cell_type == "code" and c.source.strip() for c in solutions)
    assert cells.index(exercises[0]) < cells.index(solutions[0])  # the question comes first
    assert not tagged(exercises, "solution")  # the students' copy keeps every exercise
    assert all(book.answer_names(c) for c in exercises)  # each exercise names what its check compares


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
