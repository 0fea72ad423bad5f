"""The project's own wiring: pinned environments agree, the book's configuration is as required."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_conda_environment_mirrors_the_pins():
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(p for p in pip if "==" in p) == sorted(pins)
    assert all("==" in p for p in pins)
    assert "jupyter-book==1.0.4.post1" in pins and "torch==2.13.0" in pins


def test_book_renders_without_executing():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert "book/references.bib" in config["bibtex_bibfiles"]


def test_each_command_line_runs_main_after_defining_everything():
    """`python -m helpers.X` executes the module top to bottom: a function defined below the
    `if __name__ == "__main__"` block does not exist yet when main() runs."""
    import ast

    for name in ("book", "score", "tables"):
        body = ast.parse((REPO / "src" / "helpers" / f"{name}.py").read_text()).body
        guards = [i for i, node in enumerate(body) if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
        assert guards == [len(body) - 1], name
