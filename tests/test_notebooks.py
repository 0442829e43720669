"""Colab notebooks: MyST turned into plain Markdown, two editions, and a run outside the repo."""

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("book_notebooks", ROOT / "_ext" / "book_notebooks.py")
bn = importlib.util.module_from_spec(spec)
sys.modules["book_notebooks"] = bn  # dataclasses look the module up
spec.loader.exec_module(bn)

CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))


def context(glue=None):
    labels = {"chapter-convolution": ("chapters/01_convolution", "", "Convolution"),
              "doc:chapters/01_convolution": ("chapters/01_convolution", "", "Convolution")}
    return bn.Context(glue=glue or {}, book_url="https://book.example/", labels=labels,
                      docname="chapters/02_x")


def test_roles_become_plain_markdown():
    ctx = context({"acc": 0.9234, "n": 12345})
    text = ("Accuracy {glue:text}`acc:.1%` with {glue:text}`n:,` parameters; missing "
            "{glue:text}`nope:.2f`; see {ref}`chapter-convolution` and {doc}`01_convolution`, "
            "{ref}`the intro <chapter-convolution>` and {math}`x^2`.")
    out = bn.convert_roles(text, ctx)
    assert "Accuracy 92.3% with 12,345 parameters" in out
    assert "(computed in the book)" in out
    assert "[Convolution](https://book.example/chapters/01_convolution.html)" in out
    assert "[the intro](https://book.example/chapters/01_convolution.html)" in out
    assert "$x^2$" in out and "{" not in out


def test_directives_become_plain_markdown():
    text = ("(my-label)=\n# Title\n\n```{admonition} Learning goals\n:class: tip\n\n- one\n- two\n```\n\n"
            "```{exercise} Stride\n:label: ex-stride\n\nWhat is it?\n```\n")
    out = bn.convert_directives(text, [0])
    assert "(my-label)=" not in out and ":class:" not in out and ":label:" not in out
    assert "> **Learning goals**" in out and "> - one" in out
    assert "### Exercise 1: Stride\n\nWhat is it?" in out
    assert "```" not in out


def solution_code(nb):
    flags = bn.solution_cells(nb)
    return [c.source for c, inside in zip(nb.cells, flags) if inside and c.cell_type == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_editions_are_valid_and_the_student_one_has_no_solution_code(path):
    nb = jupytext.read(path)
    solutions = solution_code(nb)
    assert solutions, f"{path.name} has no executed solution code"
    ctx = context()
    full = bn.make_edition(nb, "full", ctx, "dlcore")
    student = bn.make_edition(nb, "student", ctx, "dlcore")
    for edition in (full, student):
        nbformat.validate(edition)
        assert all(not c.get("outputs") for c in edition.cells if c.cell_type == "code")
        markdown = "\n".join(c.source for c in edition.cells if c.cell_type == "markdown")
        for leftover in ("{exercise}", "{solution-start}", "{solution-end}", "{glue", "{ref}",
                         "{admonition}", ":label:"):
            assert leftover not in markdown, leftover
    student_code = [c.source for c in student.cells if c.cell_type == "code"]
    assert not any(sol in student_code for sol in solutions)
    full_code = [c.source for c in full.cells if c.cell_type == "code"]
    assert all(sol in full_code for sol in solutions)
    assert student_code.count("# your solution here\n") >= 3


def _names(source: str, ctx_type) -> set[str]:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx_type)} | (
        {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
         if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        if ctx_type is ast.Store else set()) | (
        {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        if ctx_type is ast.Store else set())


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_later_cells_do_not_use_names_defined_only_in_solutions(path):
    nb = jupytext.read(path)
    flags = bn.solution_cells(nb)
    defined_outside: set[str] = set()
    defined_in_solutions: set[str] = set()
    for cell, inside in zip(nb.cells, flags):
        if cell.cell_type != "code":
            continue
        if inside:
            defined_in_solutions |= _names(cell.source, ast.Store) - defined_outside
        else:
            used = _names(cell.source, ast.Load)
            leaked = (used & defined_in_solutions) - defined_outside
            assert not leaked, f"{path.name}: a non-solution cell uses {sorted(leaked)}, defined in a solution"
            defined_outside |= _names(cell.source, ast.Store)


def fresh_venv_without_dlcore(where: Path) -> Path:
    """A new virtual environment that sees this environment's packages (torch, ...) through
    a .pth file, but not dlcore: the editable install's own .pth is not processed there."""
    venv.EnvBuilder(with_pip=False).create(where)
    py = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "book_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    check = subprocess.run([py, "-c", "import torch, nbclient; import dlcore"], capture_output=True,
                           text=True, cwd=where)
    assert "No module named 'dlcore'" in check.stderr, check.stderr
    return py


def test_generated_notebooks_run_outside_the_repository(tmp_path):
    chapter = ROOT / "chapters" / "01_convolution.md"
    nb = jupytext.read(chapter)
    py = fresh_venv_without_dlcore(tmp_path / "venv")
    work = tmp_path / "reader"
    work.mkdir()
    for edition in bn.EDITIONS:
        target = work / f"{edition}.ipynb"
        nbformat.write(bn.make_edition(nb, edition, context(), "dlcore"), target)
    # The install cell points at a copy of this checkout instead of the git URL (a copy, so
    # that pip's build leaves nothing behind in the repository).
    source = tmp_path / "dlcore-src"
    shutil.copytree(ROOT / "dlcore", source / "dlcore", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    env = dict(os.environ, DLCORE_SOURCE=str(source), DLCORE_CACHE=str(tmp_path / "cache"),
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_BUILD_ISOLATION="1")
    env.pop("PYTHONPATH", None)
    script = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "for name in sys.argv[1:]:\n"
        "    nb = nbformat.read(name, 4)\n"
        "    NotebookClient(nb, timeout=600, kernel_name='python3').execute()\n"
        "    print('ran', name, 'cells:', len(nb.cells))\n"
    )
    # pip is the one from this environment (the fresh venv has none of its own).
    result = subprocess.run([py, "-c", script, "full.ipynb", "student.ipynb"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ran full.ipynb" in result.stdout and "ran student.ipynb" in result.stdout
    assert not (work / "dlcore").exists()
