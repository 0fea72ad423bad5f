"""Execute the book's chapters with papermill, skipping those whose inputs have not changed.

A chapter is ``notebooks/<name>.py`` (jupytext percent format, the source of truth) and is listed
in ``_toc.yml`` as ``book/executed/<name>``. Running it converts the source to a notebook in a
temporary folder, executes that with papermill (parameters injected after the cell tagged
``parameters``) and moves the result to ``book/executed/<name>.ipynb``, which the book renders
with execution off. Next to it a stamp records the hash of what the run depended on: the chapter
source, its parameters, the helpers package and the input data. A chapter is run again only when
that hash changes.

    python -m helpers.book run [NAME ...] [-p NAME KEY VALUE ...] [--force]
    python -m helpers.book student [--out DIR]   # classroom copies without the solution cells
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

EXECUTED = Path("book") / "executed"
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
        jupytext.write(jupytext.read(source), converted)
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
        os.replace(executed, out)
    stamp.write_text(json.dumps({"key": key, "parameters": parameters}, indent=1))
    return True


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


def student_notebooks(out: Path, root: Path | None = None) -> list[Path]:
    """Write a classroom copy of every chapter to ``out``: notebooks without outputs, with the cells
    tagged ``solution`` removed (the cells tagged ``exercise`` stay, as the students' prompts)."""
    root = _book_root(root)
    import jupytext

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in chapters(root):
        nb = jupytext.read(root / SOURCES / f"{name}.py")
        nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        path = out / f"{name}.ipynb"
        jupytext.write(nb, path)
        written.append(path)
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
