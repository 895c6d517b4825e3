"""Notebooks hold markdown and short calls into the library, never logic."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_LINES = 10


def test_numbered_notebooks_exist():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(len(NOTEBOOKS))]
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_markdown_and_short_calls(path):
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["cell_type"] == "markdown" and "What it does" in "".join(cells[0]["source"])
    assert "What it needs" in "".join(cells[0]["source"])
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        assert len(src.strip().splitlines()) <= MAX_LINES, f"{path.name}: a code cell is longer than {MAX_LINES} lines"
        tree = ast.parse(src)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.Lambda)), (
                f"{path.name}: logic ({type(node).__name__}) belongs in the library:\n{src}"
            )
        assert not cell.get("outputs"), f"{path.name}: commit notebooks without outputs"


ALLOWED_IMPORTS = {"cryolatent": "cl", "numpy": "np", "plotly": None}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_only_the_front_door(path):
    """`import cryolatent as cl` (and numpy/plotly): no reaching into the package's modules."""
    imported = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.ImportFrom):
                imported.append(f"from {node.module} import ...")
            elif isinstance(node, ast.Import):
                imported += [f"import {a.name}" + (f" as {a.asname}" if a.asname else "") for a in node.names]
    allowed = {f"import {m}" + (f" as {a}" if a else "") for m, a in ALLOWED_IMPORTS.items()}
    assert "import cryolatent as cl" in imported, path.name
    assert set(imported) <= allowed, f"{path.name}: {sorted(set(imported) - allowed)}"
