"""Execute the book's chapters with papermill, skipping those whose inputs have not changed.

A chapter is ``notebooks/<name>.py`` (jupytext percent format, the source of truth) and is listed
in ``_toc.yml`` as ``book/executed/<name>``. Running it converts the source to a notebook in a
temporary folder, executes that with papermill (parameters injected after the cell tagged
``parameters``) and moves the result to ``book/executed/<name>.ipynb``, which the book renders
with execution off. Next to it a stamp records the hash of what the run depended on: the chapter
source, its parameters, the helpers package and the input data. A chapter is run again only when
that hash changes.

    python -m helpers.book run [NAME ...] [-p NAME KEY VALUE ...] [--force]
    python -m helpers.book student [--out DIR]   # classroom copies without the solutions, with checks

Exercises are written solution-first. A markdown cell tagged ``exercise`` is one exercise (a
heading at its top stays outside it); its ``answer`` metadata names the variables the solution
computes, e.g. ``# %% [markdown] tags=["exercise"] answer=["gap_closed"]``. The code cells tagged
``solution`` that follow it are its solution. In the executed notebook the exercise becomes a
numbered sphinx-exercise ``exercise`` and its solution cells sit, code and output, inside a
``solution`` dropdown; the values of the answers are recorded next to it
(``<name>.answers.json``). ``student`` turns each chapter into an otter-grader master notebook
(a question per exercise, the solution cells as its solution, a check per answer comparing a digest
of the student's value with the solution's) and runs ``otter assign`` on it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

EXECUTED = Path("book") / "executed"
EXERCISE, SOLUTION = "exercise", "solution"
SOURCES = Path("notebooks")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def _book_root(root: Path | None) -> Path:
    """The folder holding _toc.yml and notebooks/: ``root``, or the current folder."""
    return Path(root) if root is not None else Path.cwd()


def chapters(root: Path | None = None) -> list[str]:
    """Names of the chapters that ``_toc.yml`` lists from ``book/executed/``, in book order."""
    root = _book_root(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    prefix = EXECUTED.as_posix() + "/"
    return [f[len(prefix):].removesuffix(".ipynb") for f in files if f.startswith(prefix)]


def _tree_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def inputs_digest(root: Path | None = None) -> str:
    """Hash of what every chapter reads: the helpers package, the published results, the score cache."""
    root = _book_root(root)
    from helpers.data.locations import scores_dir
    from helpers.data.published import content_digest, published_dir

    helpers = list((root / "src" / "helpers").rglob("*.py"))
    scores = [p for p in scores_dir().rglob("*") if p.is_file() and p.suffix in (".parquet", ".json")]
    return hashlib.sha256(" ".join([
        _tree_digest(helpers), content_digest(published_dir()), _tree_digest(scores),
    ]).encode()).hexdigest()


def chapter_key(name: str, parameters: dict, inputs: str, root: Path | None = None) -> str:
    """Hash of a chapter's source, its parameters and the inputs digest."""
    root = _book_root(root)
    source = (root / SOURCES / f"{name}.py").read_bytes()
    return hashlib.sha256(source + json.dumps(parameters, sort_keys=True).encode() + inputs.encode()).hexdigest()


def output_problems(notebook_path: Path) -> list[str]:
    """Error outputs and stderr streams of an executed notebook, as readable lines (none: clean)."""
    import nbformat

    nb = nbformat.read(notebook_path, as_version=4)
    problems = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
            elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                problems.append(f"cell {index}: stderr: {output.get('text', '').strip()[:300]}")
    return problems


def execute(name: str, parameters: dict | None = None, force: bool = False, inputs: str | None = None,
            root: Path | None = None) -> bool:
    """Execute one chapter unless its stamp is current; return True if it ran.

    Raises ``RuntimeError`` naming the chapter and cell when execution fails or leaves error or
    stderr output; the previous executed notebook is then left untouched.
    """
    import jupytext
    import nbformat
    import papermill

    root = _book_root(root)
    parameters = parameters or {}
    source = root / SOURCES / f"{name}.py"
    if not source.exists():
        raise FileNotFoundError(f"{source}: chapter source not found (listed in _toc.yml)")
    out = root / EXECUTED / f"{name}.ipynb"
    stamp = out.with_suffix(".stamp.json")
    key = chapter_key(name, parameters, inputs or inputs_digest(root), root)
    if not force and out.exists() and stamp.exists() and json.loads(stamp.read_text()).get("key") == key:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"chapter-{name}-") as tmp:
        converted = Path(tmp) / f"{name}.ipynb"
        executed = Path(tmp) / f"{name}.executed.ipynb"
        nb = jupytext.read(source)
        nb.cells.append(_answers_cell(nb.cells, source))
        jupytext.write(nb, converted)
        # The kernel inherits our environment; an MPLBACKEND such as Agg there would keep figures
        # out of the notebook, so the kernel always gets the inline backend.
        saved = os.environ.get("MPLBACKEND")
        os.environ["MPLBACKEND"] = INLINE_BACKEND
        try:
            papermill.execute_notebook(converted, executed, parameters=parameters, kernel_name="python3",
                                       language="python", cwd=str(root), progress_bar=False)
        except papermill.PapermillExecutionError as error:
            raise RuntimeError(f"{source}: cell {error.exec_count} raised {error.ename}: {error.evalue}") from None
        finally:
            if saved is None:
                os.environ.pop("MPLBACKEND")
            else:
                os.environ["MPLBACKEND"] = saved
        problems = output_problems(executed)
        if problems:
            raise RuntimeError(f"{source}: executed with unclean output:\n  " + "\n  ".join(problems))
        answers = _take_answers(executed, source)
        nb = nbformat.read(executed, as_version=4)
        nb.cells = exercise_blocks(nb.cells, name)
        nbformat.write(nb, executed)
        answers_path = out.with_suffix(".answers.json")
        answers_path.with_suffix(".tmp").write_text(json.dumps(answers, indent=1))
        os.replace(answers_path.with_suffix(".tmp"), answers_path)
        os.replace(executed, out)
    stamp.write_text(json.dumps({"key": key, "parameters": parameters}, indent=1))
    return True


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def exercises(cells: list) -> list[tuple[int, list[int]]]:
    """The chapter's exercises in order: (index of the cell tagged ``exercise``, indexes of the
    ``solution`` code cells right after it)."""
    found = []
    for i, cell in enumerate(cells):
        if EXERCISE in _tags(cell):
            j, solutions = i + 1, []
            while j < len(cells) and SOLUTION in _tags(cells[j]) and EXERCISE not in _tags(cells[j]):
                solutions.append(j)
                j += 1
            found.append((i, solutions))
    return found


def answer_names(cell) -> list[str]:
    """The variables an exercise's solution computes (its cell's ``answer`` metadata: a name or a list)."""
    names = cell.get("metadata", {}).get("answer", [])
    return [names] if isinstance(names, str) else list(names)


def exercise_label(name: str, number: int) -> str:
    return f"{name}-exercise-{number}"


_ANSWERS_MARK = "msp-exercise-answers:"


def _answers_cell(cells: list, source: Path):
    """A last cell that prints the value of every exercise's answers (taken out after the run)."""
    import nbformat

    names = {}
    for number, (i, solutions) in enumerate(exercises(cells), 1):
        if solutions and not answer_names(cells[i]):
            raise ValueError(f"{source}: exercise {number} names no answer for its check: give its cell an "
                             f"answer, e.g. `# %% [markdown] tags=[\"exercise\"] answer=[\"result\"]`")
        names[str(number)] = answer_names(cells[i])
    code = ("import json as _json\nfrom helpers.report.exercises import canonical_answer as _canonical\n"
            f"_names = {names!r}\n"
            "print(" + repr(_ANSWERS_MARK) + " + _json.dumps({n: {a: (_canonical(globals()[a]) if a in globals() "
            "else {'missing': a}) for a in names} for n, names in _names.items()}))")
    return nbformat.v4.new_code_cell(code, metadata={"tags": ["msp-answers"]})


def _take_answers(path: Path, source: Path) -> dict:
    """Remove the answers cell from an executed notebook; return {exercise number: {name: value}}."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cell = nb.cells.pop()
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    answers = json.loads(text.split(_ANSWERS_MARK, 1)[1])
    for number, values in answers.items():
        for key, value in values.items():
            if value == {"missing": key}:
                raise RuntimeError(f"{source}: exercise {number}'s answer `{key}` is not defined after the chapter ran")
    nbformat.write(nb, path)
    return answers


def _heading_and_text(text: str) -> tuple[str, str]:
    """Split the heading lines at the top of an exercise cell from the exercise itself."""
    lines = text.strip("\n").split("\n")
    k = 0
    while k < len(lines) and (lines[k].startswith("#") or (k and not lines[k].strip())):
        k += 1
    return "\n".join(lines[:k]).strip(), "\n".join(lines[k:]).strip()


def exercise_blocks(cells: list, name: str) -> list:
    """The cells of an executed chapter with each exercise as a numbered sphinx-exercise
    ``exercise`` (label ``<name>-exercise-<n>``) and its solution cells, source shown and output kept,
    between gated ``solution-start`` / ``solution-end`` directives folded as a dropdown."""
    import nbformat

    markdown = nbformat.v4.new_markdown_cell
    found = dict(exercises(cells))
    solution_cells = {j for js in found.values() for j in js}
    out, number = [], 0
    for i, cell in enumerate(cells):
        if i in solution_cells:
            continue
        if i not in found:
            out.append(cell)
            continue
        number += 1
        label = exercise_label(name, number)
        heading, text = _heading_and_text(cell.source)
        if heading:
            out.append(markdown(heading))
        out.append(markdown(f"````{{exercise}}\n:label: {label}\n\n{text}\n````", metadata={"tags": [EXERCISE]}))
        if found[i]:
            out.append(markdown(f"```{{solution-start}} {label}\n:class: dropdown\n```"))
            for j in found[i]:
                solution = cells[j]
                solution.metadata["tags"] = [t for t in _tags(solution) if t not in ("hide-input", "hide-cell")]
                out.append(solution)
            out.append(markdown("```{solution-end}\n```"))
    return out


def copy_book(dest: Path, root: Path | None = None) -> Path:
    """Copy what building the book needs (configuration, ``book/`` without executed chapters,
    ``notebooks/``) to ``dest``, e.g. to execute and build it elsewhere; return ``dest``."""
    root, dest = _book_root(root), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for item in ("_config.yml", "_toc.yml"):
        shutil.copy(root / item, dest / item)
    for folder in ("book", "notebooks"):
        shutil.copytree(root / folder, dest / folder, ignore=shutil.ignore_patterns("executed"),
                        dirs_exist_ok=True)
    return dest


_GLUE = re.compile(r"\{glue(?::text)?\}`([A-Za-z_][A-Za-z0-9_]*)(?::([^`]*))?`")
_FENCE = re.compile(r"^:::+(\{[^}]*\}.*)?$")


def glued_values(name: str, root: Path | None = None) -> dict[str, str]:
    """The values chapter ``name``'s last run glued for its prose: {name: their text/plain repr}."""
    import nbformat

    nb = nbformat.read(_book_root(root) / EXECUTED / f"{name}.ipynb", as_version=4)
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                values[scrap["name"]] = output["data"].get(scrap.get("mime_prefix", "") + "text/plain", "")
    return values


def plain_markdown(text: str, values: dict[str, str]) -> str:
    r"""Book-only MyST in a chapter's markdown as a notebook shows it: glued values filled in (with
    their format, e.g. ``{glue:text}`share:.1f``` -> '12.3'), ``:::`` fences dropped.

    >>> plain_markdown("Runs {glue:text}`n:,` times; {glue:text}`who`.\n:::{container} x\nmore\n:::", {"n": "1234", "who": "'Ann'"})
    'Runs 1,234 times; Ann.\nmore'
    """
    import ast

    def fill(match):
        if match.group(1) not in values:
            return match.group(0)
        value = ast.literal_eval(values[match.group(1)]) if values[match.group(1)] else ""
        return format(value, match.group(2) or "")

    lines = [line for line in _GLUE.sub(fill, text).split("\n") if not _FENCE.match(line.strip())]
    return "\n".join(lines)


def recorded_answers(name: str, root: Path | None = None) -> dict[str, dict]:
    """The answers the last run of chapter ``name`` recorded: {exercise number: {variable: value}}."""
    path = _book_root(root) / EXECUTED / f"{name}.answers.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no recorded answers; run the chapter first (make chapters)")
    return json.loads(path.read_text())


def check_code(variable: str, value: object) -> str:
    """The students' check of one answer: its digest against the solution's (nothing to read off)."""
    from helpers.report.exercises import answer_digest

    return (f"from helpers.report.exercises import answer_digest\n"
            f"assert answer_digest({variable}) == {answer_digest(value)!r}, "
            f"{'`' + variable + '` differs from the solution'!r}")


def master_notebook(name: str, root: Path | None = None):
    """Chapter ``name`` as an otter-grader master notebook: a question ``<name>-exercise-<n>`` per
    exercise (the exercise as its prompt, its solution cells as one solution cell whose answers
    start as ``...``), and per recorded answer a check (:func:`check_code`)."""
    import jupytext
    import nbformat

    root = _book_root(root)
    source = root / SOURCES / f"{name}.py"
    nb = jupytext.read(source)
    answers = recorded_answers(name, root)
    values = glued_values(name, root)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = plain_markdown(cell.source, values)
    found = dict(exercises(nb.cells))
    solution_cells = {j for js in found.values() for j in js}
    raw, code = nbformat.v4.new_raw_cell, nbformat.v4.new_code_cell
    config = {"name": name, "init_cell": True, "check_all_cell": True, "export_cell": False,
              "run_tests": False, "generate": {"pdf": False}}
    cells, number = [raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False))], 0
    for i, cell in enumerate(nb.cells):
        if i in solution_cells:
            continue
        if i not in found:
            cells.append(cell)
            continue
        number += 1
        values = answers.get(str(number))
        if values is None or list(values) != answer_names(cell):
            raise RuntimeError(f"{source}: exercise {number}'s recorded answers {values} do not match its cell "
                               f"({answer_names(cell)}); run the chapter again (make chapters)")
        heading, text = _heading_and_text(cell.source)
        if heading:
            cells.append(nbformat.v4.new_markdown_cell(heading))
        label = exercise_label(name, number)
        cells += [raw(f"# BEGIN QUESTION\nname: {label}\npoints: {len(values)}"),
                  nbformat.v4.new_markdown_cell(f"**Exercise {number}.** {text}")]
        if found[i]:
            solution = "\n\n".join(nb.cells[j].source for j in found[i])
            prompt = "".join(f"{variable} = ...\n" for variable in values)
            cells += [raw("# BEGIN SOLUTION"),
                      code(f"{prompt}# BEGIN SOLUTION NO PROMPT\n{solution}\n# END SOLUTION"),
                      raw("# END SOLUTION")]
        cells.append(raw("# BEGIN TESTS"))
        cells += [code(check_code(variable, value)) for variable, value in values.items()]
        cells += [raw("# END TESTS"), raw("# END QUESTION")]
    nb.cells = cells
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    return nb


def student_notebooks(out: Path, root: Path | None = None) -> list[Path]:
    """Write each chapter's otter-grader assignment to ``out/<name>/``: ``student/<name>.ipynb``
    (the exercises and their checks, no solution), ``autograder/`` (the solutions notebook and the
    zip a teacher grades with: ``otter run -a autograder/<name>-autograder_*.zip filled.ipynb``);
    return the students' notebooks."""
    import nbformat
    from otter.assign import main as otter_assign

    root, out = _book_root(root), Path(out).resolve()
    written = []
    for name in chapters(root):
        folder = out / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / "master").mkdir()
        master = folder / "master" / f"{name}.ipynb"
        nbformat.write(master_notebook(name, root), master)
        otter_assign(str(master), str(folder), no_pdfs=True, no_run_tests=True)
        written.append(folder / "student" / f"{name}.ipynb")
    return written


def _value(text: str):
    """A command-line parameter value: JSON when it parses (numbers, lists, null), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.book", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute changed chapters")
    run.add_argument("names", nargs="*", help="chapters to run (default: all in _toc.yml)")
    run.add_argument("-p", "--parameter", nargs=3, action="append", default=[],
                     metavar=("CHAPTER", "NAME", "VALUE"), help="a papermill parameter for one chapter")
    run.add_argument("--force", action="store_true", help="execute even when nothing changed")
    student = sub.add_parser("student", help="write the chapters as notebooks without solutions")
    student.add_argument("--out", type=Path, default=Path("_build") / "student")
    args = parser.parse_args(argv)
    if args.command == "student":
        for path in student_notebooks(args.out):
            print(path)
        return 0

    known = chapters()
    names = args.names or known
    unknown = [n for n in names + [p[0] for p in args.parameter] if n not in known]
    if unknown:
        parser.error(f"unknown chapter(s) {unknown}; _toc.yml lists {known}")
    parameters: dict[str, dict] = {}
    for chapter, key, value in args.parameter:
        parameters.setdefault(chapter, {})[key] = _value(value)
    from helpers.data.published import check_copy, published_dir

    check_copy(published_dir())  # warns, naming files, when a local copy is not the pinned one
    inputs = inputs_digest()
    failed = []
    for name in names:
        try:
            ran = execute(name, parameters.get(name), force=args.force, inputs=inputs)
            print(f"{name}: {'executed' if ran else 'unchanged, not executed'}", flush=True)
        except (RuntimeError, FileNotFoundError) as error:
            failed.append(name)
            print(f"{name}: FAILED\n{error}", file=sys.stderr, flush=True)
    if failed:
        print(f"chapters that failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
