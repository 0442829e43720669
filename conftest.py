"""Collect the chapters (MyST-Markdown jupytext notebooks) as nbmake tests.

nbmake only collects ``.ipynb`` files. Here each ``chapters/*.md`` with a jupytext
header becomes one nbmake test item: the text notebook is read with jupytext in
memory (no ``.ipynb`` is written into the tree) and executed by nbmake's runner
with the chapter folder as working directory, exactly as in the book build.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jupytext
import pytest
from nbmake import nb_run
from nbmake.pytest_items import NotebookFailedException, NotebookFile, NotebookItem

CHAPTERS = Path(__file__).parent / "chapters"


def is_chapter(path: Path) -> bool:
    """A Markdown file in chapters/ whose header declares a Jupyter kernel."""
    if path.suffix != ".md" or path.parent.resolve() != CHAPTERS.resolve():
        return False
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "kernelspec" in head


class _JupytextFormat:
    """Stands in for the ``nbformat`` module inside nbmake's runner: reads text notebooks."""

    def __getattr__(self, name):  # everything else is nbformat's
        import nbformat

        return getattr(nbformat, name)

    @staticmethod
    def read(path, as_version=4):
        return jupytext.read(path, as_version=as_version)


GLUE_ROLE = re.compile(r"\{glue(?::[a-z]+)?\}`([^`]+)`")


def missing_glue_keys(nb) -> list[str]:
    """Keys that the prose uses in ``{glue}`` roles but no executed cell glued."""
    used = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for ref in GLUE_ROLE.findall(cell.source):
                if "::" not in ref:  # keys glued in another document are the build's job
                    used.add(ref.split(":")[0].strip())
    glued = {
        out.get("metadata", {}).get("scrapbook", {}).get("name")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    }
    return sorted(used - glued)


def duplicate_glue_keys(nb) -> list[str]:
    """Keys glued more than once (the book build warns, and -W makes that an error)."""
    names = [
        out.get("metadata", {}).get("scrapbook", {}).get("name")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    ]
    names = [n for n in names if n]
    return sorted({n for n in names if names.count(n) > 1})


class ChapterItem(NotebookItem):
    def runtest(self):
        option = self.config.option
        run = nb_run.NotebookRun(
            Path(self.filename),
            option.nbmake_timeout,
            verbose=bool(option.verbose),
            kernel=option.nbmake_kernel,
        )
        original = nb_run.nbformat
        nb_run.nbformat = _JupytextFormat()
        try:
            result = run.execute()
        finally:
            nb_run.nbformat = original
        if result.error is not None:
            raise NotebookFailedException(result)
        missing = missing_glue_keys(result.nb)
        if missing:
            raise MissingGlueError(
                f"{self.filename}: the prose uses glue keys that no cell glued: {missing}"
            )
        twice = duplicate_glue_keys(result.nb)
        if twice:
            raise MissingGlueError(f"{self.filename}: glue keys glued more than once: {twice}")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, MissingGlueError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)


class MissingGlueError(Exception):
    pass


class ChapterFile(NotebookFile):
    def collect(self):
        yield ChapterItem.from_parent(self, filename=str(Path(self.fspath)))


def pytest_collect_file(parent, file_path: Path):
    if is_chapter(file_path):
        return ChapterFile.from_parent(parent, path=file_path)
    return None


# Tests that execute chapters, build notebooks or drive a browser: minutes, not seconds.
# ``python3 run.py unit`` (pytest -m "not slow") runs everything else in well under a minute.
SLOW_MODULES = {
    "test_notebooks.py",
    "test_browser.py",
    "test_chapter_collection.py",
    "test_determinism.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if isinstance(item, ChapterItem) or Path(str(item.fspath)).name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: executes chapters or notebooks, or drives a browser")
    if getattr(config.option, "overwrite", False):
        raise pytest.UsageError("--overwrite would write JSON over the chapters' Markdown sources")
    # Two chapters executing at once on a 2-core machine: one thread each avoids
    # oversubscription (and makes CPU numbers independent of the core count).
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers and int(workers) > 1:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
