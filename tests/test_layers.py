"""The floors of ``helpers`` import one way (data <- scoring, data <- analysis <- report), read from the
code's own import statements, function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "helpers"

#: floor -> the helpers floors it may import
MAY_IMPORT = {
    "data": {"data"},
    "analysis": {"data", "analysis"},
    "report": {"data", "analysis", "report"},
    "scoring": {"data", "scoring"},
}
#: floor -> third-party or standard modules it must never import
NEVER = {
    "data": {"torch", "transformers", "matplotlib", "seaborn", "scipy", "sklearn", "statsmodels"},
    "analysis": {"torch", "transformers", "matplotlib", "seaborn", "os", "pathlib", "shutil", "myst_nb"},
    "report": {"torch", "transformers"},
    "scoring": {"matplotlib", "seaborn", "myst_nb"},
}
#: the only scoring modules that may import an engine
ENGINES = {"hf.py", "vllm.py"}


def imports(path: Path) -> set[str]:
    """Absolute dotted names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["helpers", *path.relative_to(PACKAGE).parent.parts]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def floor_of(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if floor_of(p) is not None)


def test_every_floor_has_modules():
    assert {floor_of(p) for p in MODULES} == set(MAY_IMPORT)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path):
    floor = floor_of(path)
    found = imports(path)
    helpers_floors = {name.split(".")[1] for name in found if name.startswith("helpers.") and name.count(".") >= 1}
    helpers_floors &= set(MAY_IMPORT) | {"score", "tables", "book"}
    assert helpers_floors <= MAY_IMPORT[floor], f"{path.name} ({floor}) imports floors {helpers_floors - MAY_IMPORT[floor]}"
    top = {name.split(".")[0] for name in found}
    assert not top & NEVER[floor], f"{path.name} ({floor}) imports {top & NEVER[floor]}"
    if floor == "scoring" and path.name not in ENGINES:
        assert not top & {"torch", "transformers", "vllm"}, f"{path.name} imports an engine"


def test_the_rule_reader_sees_imports_inside_functions(tmp_path):
    module = PACKAGE / "analysis" / "metrics.py"
    assert "numpy" in imports(module) and "scipy" in imports(module)
    hf = imports(PACKAGE / "scoring" / "hf.py")
    assert "torch" in hf and "transformers" in hf  # imported inside functions there
