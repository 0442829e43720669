"""Lint: ruff (check and format) over the Python code, ruff over the chapters' code cells;
mypy over dlcore; codespell over the prose."""

import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PYTHON_PATHS = ["dlcore", "tests", "_ext", "tools", "conftest.py", "run.py"]
PROSE = ["chapters", "index.md", "README.md", "CONTRIBUTING.md", "dlcore", "_ext", "tools"]
# Notebook style: imports where they are first needed, a bare expression to display it,
# a trailing ';' to hide a figure's repr, names reused from cell to cell.
NOTEBOOK_IGNORES = "E402,B018,E703,F811,E741,I001"


def tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (it is in requirements.txt)")
    return path


def test_the_python_code_is_formatted():
    out = subprocess.run(
        [tool("ruff"), "format", "--check", *PYTHON_PATHS], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, (
        "run: .venv/bin/ruff format " + " ".join(PYTHON_PATHS) + "\n" + out.stdout
    )


def test_ruff_is_clean_on_the_python_code():
    out = subprocess.run(
        [tool("ruff"), "check", *PYTHON_PATHS], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_is_clean_on_the_chapters_code_cells(tmp_path):
    for chapter in sorted((ROOT / "chapters").glob("*.md")):
        nb = jupytext.read(chapter)
        jupytext.write(nb, tmp_path / f"{chapter.stem}.py", fmt="py:percent")
    out = subprocess.run(
        [
            tool("ruff"),
            "check",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--extend-ignore",
            NOTEBOOK_IGNORES,
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout.replace(str(tmp_path), "chapters") + out.stderr


# The settings ([tool.mypy] in pyproject.toml: files = ["dlcore"]) come from the repository root.
def test_mypy_is_clean_on_dlcore():
    out = subprocess.run([tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# dlcore/_corpus_text.py is a frozen copy of the Python documentation (code, grammar), not our prose.
def test_codespell_finds_no_misspellings():
    out = subprocess.run(
        [tool("codespell"), "--skip", "*.png,*.pyc,_corpus_text.py", *PROSE],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
