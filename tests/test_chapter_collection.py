"""The conftest that turns chapters into nbmake tests: collection and the glue-key check."""

from pathlib import Path

import nbformat.v4 as nbf

import conftest

ROOT = Path(__file__).resolve().parents[1]


def test_every_chapter_in_the_toc_is_collected_as_a_notebook():
    chapters = sorted((ROOT / "chapters").glob("*.md"))
    assert chapters, "no chapters found"
    assert all(conftest.is_chapter(p) for p in chapters)
    assert not conftest.is_chapter(ROOT / "index.md")
    toc = (ROOT / "_toc.yml").read_text()
    for p in chapters:
        assert f"chapters/{p.stem}" in toc, f"{p.name} is not in _toc.yml"


def _glued(name):
    return nbf.new_output(
        "display_data",
        data={"text/plain": "1"},
        metadata={"scrapbook": {"name": name, "mime_prefix": ""}},
    )


def test_missing_glue_keys_reports_prose_keys_that_no_cell_glued():
    nb = nbf.new_notebook()
    nb.cells = [
        nbf.new_markdown_cell(
            "Accuracy {glue:text}`acc:.1%`, loss {glue}`loss`, "
            "elsewhere {glue:text}`other.md::key`."
        ),
        nbf.new_code_cell("glue('acc', 0.5)", outputs=[_glued("acc")]),
    ]
    assert conftest.missing_glue_keys(nb) == ["loss"]
    nb.cells[1].outputs.append(_glued("loss"))
    assert conftest.missing_glue_keys(nb) == []
