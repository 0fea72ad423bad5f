"""Build the commit that the launch buttons (Colab, Binder) open: the tree of REF plus the executed
chapters at ``book/executed/<chapter>.ipynb``, each with a first cell that sets the book's code up on
Colab. Prints the commit's id; nothing is checked out, no branch is moved.

    python .github/launch_notebooks.py [--root .] [--git-dir .] [--ref HEAD]
    git push --force origin "$(python .github/launch_notebooks.py):refs/heads/notebooks"

The executed chapters are build products (``make book``) and are not committed on main; the deploy
workflow publishes this commit as the branch named in ``_config.yml`` (``repository.branch``), where
Binder builds its image from ``environment.yml`` and ``postBuild`` and Colab reads the notebooks.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

SETUP_TAG = "launch-setup"
SETUP = '''\
# On Colab, run this cell first: it fetches the book's code and installs it (a few minutes).
# On Binder, or in a clone of the repository with its environment, it does nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("helpers") is None:
    subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}", "{url}", "msp-book"],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", "msp-book"], check=True)
    sys.path.insert(0, os.path.abspath("msp-book/src"))
'''


def chapters(root: Path) -> list[str]:
    """The chapters that ``_toc.yml`` lists from ``book/executed/``, in book order."""
    sys.path.insert(0, str(root / "src"))
    from helpers.book import chapters as toc_chapters

    return toc_chapters(root)


def launch_notebook(path: Path, url: str, branch: str) -> bytes:
    """An executed chapter with the Colab set-up cell in front (outputs kept)."""
    nb = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_code_cell(SETUP.format(url=url, branch=branch), metadata={"tags": [SETUP_TAG]})
    cell.pop("id", None)
    nb.cells.insert(0, cell)
    nbformat.validate(nb)
    return (nbformat.writes(nb) + "\n").encode()


def _git(git_dir: Path, *args: str, env: dict | None = None, data: bytes | None = None) -> str:
    run = subprocess.run(["git", "-C", str(git_dir), *args], input=data, capture_output=True, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {run.stderr.decode().strip()}")
    return run.stdout.decode().strip()


def build_commit(root: Path, git_dir: Path, ref: str = "HEAD") -> str:
    """Write the launch commit into ``git_dir``'s object store; return its id."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    url, branch = config["repository"]["url"], config["repository"]["branch"]
    names = chapters(root)
    missing = [n for n in names if not (root / "book" / "executed" / f"{n}.ipynb").exists()]
    if missing:
        raise FileNotFoundError(f"executed chapters missing in {root / 'book' / 'executed'}: {missing} "
                                f"(run `make book` first)")
    source = _git(git_dir, "rev-parse", "--verify", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="launch-index-") as tmp:
        env = dict(os.environ, GIT_INDEX_FILE=str(Path(tmp) / "index"))
        env.setdefault("GIT_AUTHOR_NAME", "msp-book")
        env.setdefault("GIT_AUTHOR_EMAIL", "msp-book@users.noreply.github.com")
        env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
        env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
        _git(git_dir, "read-tree", source, env=env)
        for name in names:
            blob = _git(git_dir, "hash-object", "-w", "--stdin",
                        data=launch_notebook(root / "book" / "executed" / f"{name}.ipynb", url, branch))
            _git(git_dir, "update-index", "--add", "--cacheinfo", f"100644,{blob},book/executed/{name}.ipynb",
                 env=env)
        tree = _git(git_dir, "write-tree", env=env)
        message = f"Executed chapters for the launch buttons, built from {source}"
        return _git(git_dir, "commit-tree", tree, "-m", message, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the built checkout (with _config.yml, _toc.yml, book/executed/)")
    parser.add_argument("--git-dir", type=Path, default=None, help="repository to write into (default: root)")
    parser.add_argument("--ref", default="HEAD", help="commit whose tree is published (default: HEAD)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    print(build_commit(root, (args.git_dir or root).resolve(), args.ref))
    return 0


if __name__ == "__main__":
    sys.exit(main())
