"""Every chapter parses as the book build reads it (myst-nb), e.g. no bad YAML in a code
cell's options such as an unquoted colon inside a figure's alt text."""

from pathlib import Path

import pytest
from myst_nb.core.read import read_myst_markdown_notebook

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.md"))


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_parses_as_the_build_reads_it(path):
    read_myst_markdown_notebook(path.read_text(encoding="utf-8"))
