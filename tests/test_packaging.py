"""environment.yml declares the same runtime dependencies as pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
# conda-forge name -> PyPI name, where they differ.
CONDA_TO_PIP = {"pytorch": "torch"}
NOT_RUNTIME = {"python", "pip"}


def _split(spec: str) -> tuple[str, str]:
    """``"numpy>=1.24"`` -> ``("numpy", ">=1.24")``; names normalised as in PEP 503."""
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*?)\s*$", spec)
    assert m, spec
    return re.sub(r"[-_.]+", "-", m.group(1)).lower(), m.group(2).replace(" ", "")


def _env() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
            continue
        name, version = _split(dep)
        if name not in NOT_RUNTIME:
            conda[CONDA_TO_PIP.get(name, name)] = version
    return conda, pip


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_matches_pyproject_dependencies():
    conda, _ = _env()
    project = dict(_split(d) for d in _pyproject()["project"]["dependencies"])
    assert sorted(conda) == sorted(project)
    assert conda == project  # same lower bounds too


def test_environment_python_and_editable_install():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "cryolatent"
    assert env["channels"] == ["conda-forge"]
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    requires = _pyproject()["project"]["requires-python"]
    assert python == [f"python{requires}"]
    _, pip = _env()
    assert "-e .[dev]" in pip


def _import_names_of_our_dependencies() -> set[str]:
    """Top-level import names that our dependencies (installed or optional) provide."""
    import importlib.metadata as md
    import sys

    names = set(md.packages_distributions()) | set(sys.stdlib_module_names)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(deps["dependencies"]) + [s for extra in deps["optional-dependencies"].values() for s in extra]
    names |= {_split(s)[0].replace("-", "_") for s in specs}  # napari, playwright, ... even when absent
    return names | {"pyqt5", "PyQt5"}


def test_no_test_folder_or_module_shadows_a_library():
    """``tests/napari/`` once imported as the namespace package ``napari`` and hid the real one."""
    taken = _import_names_of_our_dependencies()
    ours = {p.stem for p in (ROOT / "tests").rglob("*.py")} | {
        p.name for p in (ROOT / "tests").rglob("*") if p.is_dir() and p.name != "__pycache__"
    }
    assert "napari" in taken and "numpy" in taken
    assert not ours & taken, f"test names that shadow a library: {sorted(ours & taken)}"
