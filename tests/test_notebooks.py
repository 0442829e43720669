"""Colab notebooks: MyST turned into plain Markdown, two editions, and a run outside the repo."""

import ast
import importlib.util
import os
import re
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
    labels = {
        "chapter-convolution": ("chapters/01_convolution", "", "Convolution"),
        "doc:chapters/01_convolution": ("chapters/01_convolution", "", "Convolution"),
    }
    return bn.Context(
        glue=glue or {}, book_url="https://book.example/", labels=labels, docname="chapters/02_x"
    )


def test_roles_become_plain_markdown():
    ctx = context({"acc": 0.9234, "n": 12345})
    text = (
        "Accuracy {glue:text}`acc:.1%` with {glue:text}`n:,` parameters; missing "
        "{glue:text}`nope:.2f`; see {ref}`chapter-convolution` and {doc}`01_convolution`, "
        "{ref}`the intro <chapter-convolution>` and {math}`x^2`."
    )
    out = bn.convert_roles(text, ctx)
    assert "Accuracy 92.3% with 12,345 parameters" in out
    assert "(computed in the book)" in out
    assert "[Convolution](https://book.example/chapters/01_convolution.html)" in out
    assert "[the intro](https://book.example/chapters/01_convolution.html)" in out
    assert "$x^2$" in out and "{" not in out


def test_directives_become_plain_markdown():
    text = (
        "(my-label)=\n# Title\n\n```{admonition} Learning goals\n:class: tip\n\n- one\n- two\n```\n\n"
        "```{exercise} Stride\n:label: ex-stride\n\nWhat is it?\n```\n"
    )
    out = bn.convert_directives(text, [0])
    assert "(my-label)=" not in out and ":class:" not in out and ":label:" not in out
    assert "> **Learning goals**" in out and "> - one" in out
    assert "### Exercise 1: Stride\n\nWhat is it?" in out
    assert "```" not in out


def solution_code(nb):
    flags = bn.solution_cells(nb)
    return [
        c.source
        for c, inside in zip(nb.cells, flags)
        if inside
        and c.cell_type == "code"
        and "student-stub" not in c.get("metadata", {}).get("tags", [])
    ]


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
        for leftover in (
            "{exercise}",
            "{solution-start}",
            "{solution-end}",
            "{glue",
            "{ref}",
            "{admonition}",
            ":label:",
        ):
            assert leftover not in markdown, leftover
    student_code = [c.source for c in student.cells if c.cell_type == "code"]
    assert not any(sol in student_code for sol in solutions)
    full_code = [
        c.source.split("\n", 1)[-1] if c.source.startswith("# Figure: ") else c.source
        for c in full.cells
        if c.cell_type == "code"
    ]
    assert all(sol in full_code for sol in solutions)
    # every solution leaves a place for the reader's answer: stubs, a code cell, or prose
    places = sum(
        c.source.startswith(("**Your solution:**", "**Your answer:**"))
        for c in student.cells
        if c.cell_type == "markdown"
    )
    assert places == nb_solutions(nb) >= 3
    stubs = [c for c in nb.cells if "student-stub" in c.get("metadata", {}).get("tags", [])]
    assert all(c.source in student_code and c.source not in full_code for c in stubs)
    assert all("remove-cell" in c.metadata.get("tags", []) for c in stubs), (
        "a student-stub cell must also be tagged remove-cell (the book shows the solution)"
    )


def nb_solutions(nb) -> int:
    return sum(
        len([k for k, _ in bn._split_solution_segments(c.source) if k == "start"])
        for c in nb.cells
        if c.cell_type == "markdown"
    )


def test_student_edition_stubs_answers_and_checks():
    text = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

```{exercise} Code
:label: t-ex-code

Write `f`.
```

````{solution-start} t-ex-code
:class: dropdown
````

Reference:

```{code-cell} ipython3
:tags: [student-stub, remove-cell]
def f(x):
    raise NotImplementedError
```

```{code-cell} ipython3
def f(x):
    return 2 * x
```

````{solution-end}
````

```{code-cell} ipython3
:tags: [check]
assert f(1) == 2
```

```{exercise} Prose
:label: t-ex-prose

Why? See {ref}`t-ex-code`.
```

````{solution-start} t-ex-prose
:class: dropdown
````

Because.

````{solution-end}
````
"""
    nb = jupytext.reads(text, fmt="md:myst")
    ctx = context()
    ctx.docname = "chapters/02_x"
    ctx.exercises = bn.exercise_numbers("chapters/02_x", text)
    assert ctx.exercises == {
        "t-ex-code": ("chapters/02_x", "2.1"),
        "t-ex-prose": ("chapters/02_x", "2.2"),
    }
    student = bn.make_edition(nb, "student", ctx, "dlcore")
    full = bn.make_edition(nb, "full", ctx, "dlcore")
    s_code = [c.source for c in student.cells if c.cell_type == "code"][1:]
    f_code = [c.source for c in full.cells if c.cell_type == "code"][1:]
    assert s_code == ["def f(x):\n    raise NotImplementedError", "assert f(1) == 2"]
    assert f_code == ["def f(x):\n    return 2 * x", "assert f(1) == 2"]
    md = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    assert "Because." not in md and "**Your answer:**" in md and "fill in the function" in md
    assert '<a id="t-ex-code"></a>' in md and "### Exercise 2.1: Code" in md
    assert "See [Exercise 2.1](#t-ex-code)" in md
    check = [c for c in student.cells if c.cell_type == "code" and c.source.startswith("assert")]
    assert check[0].metadata["tags"] == ["check"]


def test_macros_markdown_glue_and_alt_text():
    ctx = context({"tbl": "| a |\n|---|\n| 1 |"})
    ctx.macros = {"R": "\\mathbb{R}"}
    out = bn.myst_to_markdown("$x \\in \\R^n$, $\\Rightarrow$ {glue:md}`tbl`", ctx, [0])
    assert "\\mathbb{R}^n" in out and "\\Rightarrow" in out and "| 1 |" in out
    cell = nbformat.v4.new_code_cell("plot()")
    cell.metadata["mystnb"] = {"image": {"alt": "A falling curve."}}
    new = bn._code_cell(cell)
    assert new.source.startswith("# Figure: A falling curve.") and new.metadata["mystnb"]


INSTALL_RUNNER = (
    "import sys\n"
    "src = open(sys.argv[1]).read().replace('%matplotlib inline', '')\n"
    "exec(compile(src, 'install-cell', 'exec'))\n"
)


def _run_install_cell(tmp_path, py, source: str, extra_path: str | None = None):
    cell = tmp_path / "cell.py"
    cell.write_text(bn.install_cell_source(source, "0.1.0"))
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1")
    env.pop("PYTHONPATH", None)
    env.pop("DLCORE_SOURCE", None)
    if extra_path:
        env["PYTHONPATH"] = extra_path
    return subprocess.run(
        [py, "-c", INSTALL_RUNNER, str(cell)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_install_cell_explains_a_failed_install(tmp_path):
    py = fresh_venv_without_dlcore(tmp_path / "venv")
    missing = "dlcore @ git+https://github.com/nobody/no-such-repo@0123456789abcdef"
    result = _run_install_cell(tmp_path, py, missing)
    assert result.returncode != 0
    assert "Could not install the book's package dlcore from" in result.stderr
    assert "no-such-repo@0123456789abcdef" in result.stderr and "pip install -e ." in result.stderr


def test_install_cell_names_a_foreign_dlcore(tmp_path):
    py = fresh_venv_without_dlcore(tmp_path / "venv")
    fake = tmp_path / "other" / "dlcore"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '9.9'\n")
    result = _run_install_cell(
        tmp_path, py, "dlcore @ git+https://example.invalid/x@y", extra_path=str(tmp_path / "other")
    )
    assert result.returncode == 0, result.stderr
    assert "is not the book's dlcore 0.1.0" in result.stdout


def _names(source: str, ctx_type) -> set[str]:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    return (
        {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx_type)}
        | (
            {
                a.asname or a.name.split(".")[0]
                for n in ast.walk(tree)
                if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names
            }
            if ctx_type is ast.Store
            else set()
        )
        | (
            {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            if ctx_type is ast.Store
            else set()
        )
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_later_cells_do_not_use_names_defined_only_in_solutions(path):
    nb = jupytext.read(path)
    flags = bn.solution_cells(nb)
    defined_outside: set[str] = set()
    defined_in_solutions: set[str] = set()
    for cell, inside in zip(nb.cells, flags):
        if cell.cell_type != "code":
            continue
        if inside and "student-stub" in cell.get("metadata", {}).get("tags", []):
            defined_outside |= _names(cell.source, ast.Store)  # the student edition keeps stubs
        elif inside:
            defined_in_solutions |= _names(cell.source, ast.Store) - defined_outside
        else:
            used = _names(cell.source, ast.Load)
            own = _names(cell.source, ast.Store)  # names the cell defines itself
            leaked = (used & defined_in_solutions) - defined_outside - own
            assert not leaked, (
                f"{path.name}: a non-solution cell uses {sorted(leaked)}, defined in a solution"
            )
            defined_outside |= _names(cell.source, ast.Store)


def fresh_venv_without_dlcore(where: Path) -> Path:
    """A new virtual environment that sees this environment's packages (torch, ...) through
    a .pth file, but not dlcore: the editable install's own .pth is not processed there."""
    venv.EnvBuilder(with_pip=False).create(where)
    py = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "book_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    check = subprocess.run(
        [py, "-c", "import torch, nbclient; import dlcore"],
        capture_output=True,
        text=True,
        cwd=where,
    )
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
    shutil.copytree(
        ROOT / "dlcore", source / "dlcore", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    env = dict(
        os.environ,
        DLCORE_SOURCE=str(source),
        DLCORE_CACHE=str(tmp_path / "cache"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_BUILD_ISOLATION="1",
    )
    env.pop("PYTHONPATH", None)
    script = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "for name in sys.argv[1:]:\n"
        "    nb = nbformat.read(name, 4)\n"
        "    student = name.startswith('student')\n"
        "    NotebookClient(nb, timeout=600, kernel_name='python3', allow_errors=student).execute()\n"
        "    for c in nb.cells:\n"
        "        for o in c.get('outputs', []):\n"
        "            if o.get('output_type') == 'error':\n"
        "                assert 'check' in c.metadata.get('tags', []), (name, c.source, o['evalue'])\n"
        "                assert o['ename'] in ('ExerciseNotDone', 'ExerciseCheckFailed'), o\n"
        "    print('ran', name, 'cells:', len(nb.cells))\n"
    )
    # pip is the one from this environment (the fresh venv has none of its own).
    result = subprocess.run(
        [py, "-c", script, "full.ipynb", "student.ipynb"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ran full.ipynb" in result.stdout and "ran student.ipynb" in result.stdout
    assert not (work / "dlcore").exists()


def check_errors(nb) -> tuple[list[str], list[str]]:
    """The errors of an executed student edition: (at check cells, anywhere else)."""
    at_checks, elsewhere = [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            text = f"{out['ename']}: {out['evalue']}"
            if "check" in cell.metadata.get("tags", []) and out["ename"] in (
                "ExerciseNotDone",
                "ExerciseCheckFailed",
            ):
                at_checks.append(text)
            else:
                elsewhere.append(f"{text}\n--- in cell:\n{cell.source[:400]}")
    return at_checks, elsewhere


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_student_edition_fails_only_at_its_check_cells(path):
    """The student edition, stubs unfilled, runs to the end; only check cells fail, each with
    the checker's message (the book build runs the same checks on the reference solutions)."""
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    student = bn.make_edition(nb, "student", context(), "dlcore")
    NotebookClient(
        student,
        timeout=600,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    at_checks, elsewhere = check_errors(student)
    assert not elsewhere, (
        f"{path.name}: the student edition fails outside its check cells:\n"
        + "\n\n".join(elsewhere)
    )
    n_checks = sum(
        "check" in c.metadata.get("tags", []) for c in student.cells if c.cell_type == "code"
    )
    n_stubbed = sum(1 for c in nb.cells if "student-stub" in c.get("metadata", {}).get("tags", []))
    if n_stubbed:
        assert at_checks, f"{path.name}: stubs left unfilled, yet no check cell failed"
    assert len(at_checks) <= n_checks


BUILT = ROOT / "_build" / "html" / "notebooks"
BROKEN_TEXT = [
    (re.compile(r"<IPython\.core\.[\w.]+ object"), "an object repr instead of a glued value"),
    (re.compile(r"object at 0x[0-9a-f]+"), "an object repr"),
    (re.compile(r"\\R(?![A-Za-z])"), "the book-only macro \\R"),
    (re.compile(r"\[Exercise\]\("), "a bare exercise link without its number"),
    (re.compile(r"\{(glue|cite|ref|doc|numref|eq)(:[a-z]+)?\}`"), "a MyST role left over"),
    (re.compile(r"^(`{3,}|:{3,})\{", re.M), "a MyST directive left over"),
    (re.compile(r"\(computed in the book\)"), "a glued value missing from the build"),
]


def built_notebooks() -> list[Path]:
    found = sorted(BUILT.glob("*/*.ipynb"))
    if not found and os.environ.get("CI"):
        pytest.fail("CI: the book must be built (run.py book) before the tests")
    return found


@pytest.mark.parametrize("edition", ["full", "student"])
def test_built_notebooks_have_no_broken_text(edition):
    """The notebooks the build wrote (glue values of the book's run) read cleanly in
    Jupyter and Colab: no object reprs, undefined macros, bare links or MyST syntax."""
    paths = [p for p in built_notebooks() if p.parent.name == edition]
    if not paths:
        pytest.skip("the book has not been built here (python3 run.py book)")
    problems = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown":
                continue
            for pattern, what in BROKEN_TEXT:
                m = pattern.search(cell.source)
                if m:
                    problems.append(
                        f"{path.name} cell {i}: {what}: ...{cell.source[max(0, m.start() - 60) : m.end() + 40]!r}"
                    )
    assert not problems, "\n".join(problems[:20])
