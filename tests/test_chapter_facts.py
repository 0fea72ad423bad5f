"""Every name a chapter's prose glues is a field of the facts that chapter glues (``report.facts``),
so a renamed field fails here rather than when the book is built."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

from helpers import book
from helpers.report import facts

REPO = Path(__file__).resolve().parents[1]
GLUED = re.compile(r"\{glue(?::[a-z]+)?\}`([A-Za-z_][A-Za-z0-9_]*)")


def chapter_cells(name: str):
    return jupytext.read(REPO / "notebooks" / f"{name}.py").cells


def glued_names(name: str) -> set[str]:
    """The names the chapter's markdown refers to with a glue role."""
    return {m for cell in chapter_cells(name) if cell.cell_type == "markdown" for m in GLUED.findall(cell.source)}


def direct_glue_calls(name: str) -> int:
    """Calls of ``glue(...)`` in the chapter's code (facts are glued through ``facts.glue_facts``)."""
    count = 0
    for cell in chapter_cells(name):
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "glue":
                count += 1
    return count


CHAPTERS = book.chapters(REPO)


def test_every_chapter_has_its_facts():
    assert set(CHAPTERS) == set(facts.CHAPTER_FACTS)


@pytest.mark.parametrize("name", CHAPTERS)
def test_glued_names_are_fields_of_the_chapters_facts(name):
    fields = facts.field_names(*facts.CHAPTER_FACTS[name])
    names = glued_names(name)
    assert names, f"{name}: no glued number found in its prose"
    assert names <= fields, f"{name} glues names its facts lack: {sorted(names - fields)}"
    assert direct_glue_calls(name) == 0, f"{name} glues outside its facts"


def test_the_check_catches_a_misspelt_name(tmp_path, monkeypatch):
    fields = facts.field_names(facts.CorrectnessFacts)
    assert "verdict" in fields and "verdikt" not in fields
    assert GLUED.findall("the claim {glue:text}`verdikt` and {glue}`n_models`") == ["verdikt", "n_models"]
