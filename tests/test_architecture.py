"""The habits the tree must keep, checked by the tools that own them: import-linter for the layers,
ruff for lint and import order, mypy for the engine's types. Each contract also fails when broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import PROJECT

BIN = Path(sys.executable).parent
PACKAGES = ("personatwin", "assets", "resources", "personatwin_dag")


def run_tool(name: str, *args: str, cwd: Path = PROJECT, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """One of the project's tools from this environment; a missing tool fails the test (never skips it)."""
    exe = BIN / name
    assert exe.exists(), f"{name} is not installed in {BIN}: scripts/setup installs the test extras"
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else None
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_import_contracts_hold():
    """Layers (code location -> assets -> resources -> engine; the engine's pipeline layers), no Dagster in
    the engine, and no stage asset importing another."""
    out = run_tool("lint-imports")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    """A copy of the code and its contracts, to break on purpose."""
    for pkg in PACKAGES:
        shutil.copytree(PROJECT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize("module, line, broken", [
    ("personatwin/core/schema.py", "from personatwin.publish import report  # reverse import",
     "personatwin.core is not allowed to import personatwin.publish"),
    ("personatwin/measure/risk.py", "import personatwin.release.auto_adjust  # reverse import",
     "personatwin.measure is not allowed to import personatwin.release"),
    ("personatwin/protect/noise.py", "import dagster  # the engine must not know Dagster",
     "The engine never imports Dagster"),
    ("assets/export.py", "from assets import auto_adjust  # one stage asset importing another",
     "No stage asset module imports another"),
    ("resources/key.py", "import assets.common  # resources below assets",
     "resources is not allowed to import assets"),
])
def test_a_reverse_import_breaks_a_contract(tree_copy, module, line, broken):
    """import-linter is no formality: adding one forbidden import to a copy of the tree fails it."""
    target = tree_copy / module
    target.write_text(target.read_text() + "\n" + line + "\n")
    out = run_tool("lint-imports", cwd=tree_copy, pythonpath=tree_copy)
    assert out.returncode != 0, out.stdout[-3000:]
    assert broken in out.stdout.replace("\n", " "), out.stdout[-3000:]


def test_ruff_is_clean():
    """Lint and import order (pyproject [tool.ruff]) over the whole project."""
    out = run_tool("ruff", "check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout[-4000:]


@pytest.mark.slow
def test_mypy_is_clean_on_the_engine():
    """The engine's type hints hold (pyproject [tool.mypy]: files = personatwin)."""
    out = run_tool("mypy", "--cache-dir", os.devnull)
    assert out.returncode == 0, out.stdout[-4000:]
