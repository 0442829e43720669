"""Sphinx extension: Colab-ready notebooks of every chapter, in two editions, and links to them.

At the end of the build, every chapter (a MyST-Markdown jupytext notebook) is written as an
output-free ``.ipynb`` into ``<html>/notebooks/full/`` and ``<html>/notebooks/student/``:

- MyST-only syntax becomes plain Markdown that Colab renders (exercises become bold
  headings, glued numbers become the values of the book's own run, cross-references become
  links to the book's pages, admonitions become block quotes);
- a first cell installs ``dlcore`` at the commit the book was built from when it is not
  importable (``$DLCORE_SOURCE`` overrides where it comes from);
- the student edition replaces each solution (prose and code) by an empty cell.

Each chapter page gets "Open in Colab" and download links for both editions, placed under
its title. Configuration (``_config.yml``, ``sphinx.config``): ``book_pages_branch``, the
branch that publishes ``_build/html`` (default ``gh-pages``); the repository URL comes from
``repository.url`` and the book's address from ``html.baseurl``.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
from docutils import nodes
from sphinx.util import logging
from sphinx.util.console import red as _red

logger = logging.getLogger(__name__)

CHAPTER_PREFIX = "chapters/"
EDITIONS = ("full", "student")

# ----------------------------------------------------------------------------- Markdown

_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}\s*(?P<arg>.*)$")
_ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<body>[^`]*)`")
_TARGET = re.compile(r"^\(([\w.-]+)\)=\s*$")


@dataclass
class Context:
    """What the Markdown conversion needs to know about the book."""

    glue: dict[str, object]  # glue key -> value of the book's run
    book_url: str  # e.g. https://example.org/book/ (ends with /)
    labels: dict[str, tuple[str, str, str]]  # label -> (docname, anchor, title)
    docname: str = ""
    references: dict[str, Reference] | None = None  # bibtex key -> the work
    cited: list[str] = field(default_factory=list)  # keys this chapter cites
    exercises: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (docname, "2.3")
    macros: dict[str, str] = field(default_factory=dict)  # TeX macros of the book's MathJax
    version: str = ""  # dlcore's version, checked by the install cell


@dataclass
class Reference:
    """One work of references.bib, as the notebooks print it (no Sphinx there)."""

    authors: list[str]  # last names
    year: str
    full: str  # "Authors (year). Title. Venue."

    def short(self) -> str:
        if len(self.authors) == 1:
            return self.authors[0]
        if len(self.authors) == 2:
            return f"{self.authors[0]} and {self.authors[1]}"
        return f"{self.authors[0]} et al."


def read_references(path: Path) -> dict[str, Reference]:
    """Parse the book's BibTeX file into plain-text references (pybtex, which Sphinx uses)."""
    if not path.exists():
        return {}
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = list(entry.persons.get("author", []))
        etal = bool(people) and " ".join(people[-1].last_names) == "others"
        people = people[:-1] if etal else people
        last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
        last = last + ["others"] if etal and len(last) < 3 else last
        names = ", ".join(
            f"{' '.join(p.last_names)}, {' '.join(n[0] + '.' for n in p.first_names + p.middle_names if n)}".strip(
                ", "
            )
            for p in people
        ).replace("{", "").replace("}", "") + (" et al." if etal else "")
        f = entry.fields
        title = f.get("title", "").replace("{", "").replace("}", "")
        venue = (
            f.get("journal")
            or f.get("booktitle")
            or f.get("school")
            or f.get("publisher")
            or f.get("howpublished", "")
        )
        venue = venue.replace("{", "").replace("}", "").replace("\\url", "")
        year = f.get("year", "")
        full = f"{names} ({year}). {title}." + (f" *{venue}*." if venue else "")
        out[key] = Reference(authors=last or [key], year=year, full=full)
    return out


_CITE_KEYS = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")


def cited_keys(text: str) -> list[str]:
    """Citation keys in order of first use."""
    keys: list[str] = []
    for body in _CITE_KEYS.findall(text):
        for key in body.split(","):
            key = key.strip()
            if key and key not in keys:
                keys.append(key)
    return keys


def format_citation(role: str, body: str, ctx: Context) -> str:
    refs = ctx.references or {}
    keys = [k.strip() for k in body.split(",") if k.strip()]
    found = [refs[k] for k in keys if k in refs]
    if len(found) != len(keys):
        return body
    if role in ("cite:t", "cite:ts"):
        return "; ".join(f"{r.short()} ({r.year})" for r in found)
    return "(" + "; ".join(f"{r.short()}, {r.year}" for r in found) + ")"


_EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise\}")


def chapter_number(docname: str) -> int | None:
    """``chapters/02_pooling`` -> 2; the unnumbered introduction (00) -> None."""
    m = re.match(r"(\d+)_", docname.split("/")[-1])
    return int(m.group(1)) or None if m else None


def exercise_numbers(docname: str, text: str) -> dict[str, tuple[str, str]]:
    """Each exercise label of a chapter -> (docname, the number the book shows, e.g. "2.3")."""
    out, k, lines = {}, 0, text.split("\n")
    chapter = chapter_number(docname)
    for i, line in enumerate(lines):
        if not _EXERCISE.match(line):
            continue
        k += 1
        number = f"{chapter}.{k}" if chapter else str(k)
        for option in lines[i + 1 : i + 8]:
            m = re.match(r"^:label:\s*(\S+)", option)
            if m:
                out[m.group(1)] = (docname, number)
                break
    return out


def expand_macros(text: str, macros: dict[str, str]) -> str:
    """Replace the book's own TeX macros (MathJax config) so Jupyter and Colab render them."""
    for name, expansion in macros.items():
        text = re.sub(r"\\" + re.escape(name) + r"(?![A-Za-z])", lambda _m, e=expansion: e, text)
    return text


def format_glue(value: object, spec: str) -> str:
    try:
        return format(value, spec) if spec else str(value)
    except (TypeError, ValueError):
        return str(value)


def _page_url(ctx: Context, docname: str, anchor: str = "") -> str:
    return f"{ctx.book_url}{docname}.html" + (f"#{anchor}" if anchor else "")


def convert_roles(text: str, ctx: Context) -> str:
    """Turn MyST roles into plain Markdown."""

    def replace(m: re.Match) -> str:
        role, body = m.group("role"), m.group("body")
        if role.startswith("glue"):
            key, _, spec = body.partition(":")
            key = key.split("::")[-1].strip()
            if key in ctx.glue:
                return format_glue(ctx.glue[key], spec)
            return "(computed in the book)"
        explicit = re.match(r"^(?P<text>.*?)\s*<(?P<target>[^>]+)>$", body)
        text_part, target = (
            (explicit.group("text"), explicit.group("target")) if explicit else (None, body)
        )
        if role in ("ref", "numref") and target in ctx.exercises:
            docname, number = ctx.exercises[target]
            text = text_part or f"Exercise {number}"
            if docname == ctx.docname:
                return f"[{text}](#{target})"
            return f"[{text}]({_page_url(ctx, docname, target)})"
        if role in ("ref", "numref"):
            if target in ctx.labels:
                docname, anchor, title = ctx.labels[target]
                return f"[{text_part or title or target}]({_page_url(ctx, docname, anchor)})"
            return text_part or target
        if role == "doc":
            base = ctx.docname.rsplit("/", 1)[0] + "/" if "/" in ctx.docname else ""
            docname = (
                target.lstrip("/")
                if target.startswith("/") or target.startswith("chapters/")
                else base + target
            )
            title = ctx.labels.get(f"doc:{docname}", ("", "", docname))[2]
            return f"[{text_part or title}]({_page_url(ctx, docname)})"
        if role == "math":
            return f"${body}$"
        if role.startswith("cite"):
            return format_citation(role, body, ctx)
        return text_part or body  # {eq}, {cite}, {term}, ...

    return _ROLE.sub(replace, text)


def bibliography_markdown(ctx: Context, keys: list[str]) -> str:
    refs = ctx.references or {}
    entries = sorted((refs[k] for k in keys if k in refs), key=lambda r: (r.authors[0], r.year))
    return "\n".join(f"- {r.full}" for r in entries)


def convert_directives(text: str, counter: list[int], ctx: Context | None = None) -> str:
    """Turn fenced MyST directives into plain Markdown (exercises, admonitions, ...)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            if not _TARGET.match(lines[i]):
                out.append(lines[i])
            i += 1
            continue
        fence, name, arg = m.group("fence"), m.group("name"), m.group("arg").strip()
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        options = dict(re.findall(r"^:([\w-]+):\s*(.*)$", "\n".join(lines[i + 1 : j]), re.M))
        body = [ln for ln in lines[i + 1 : j] if not re.match(r"^:[\w-]+:", ln)]
        body_text = convert_directives("\n".join(body).strip("\n"), counter, ctx)
        if name == "exercise":
            counter[0] += 1
            label = options.get("label", "").strip()
            number = (ctx.exercises.get(label, ("", ""))[1] if ctx is not None else "") or str(
                counter[0]
            )
            title = f"Exercise {number}" + (f": {arg}" if arg else "")
            anchor = f'<a id="{label}"></a>\n\n' if label else ""
            out.append(f"{anchor}### {title}\n\n{body_text}")
        elif name in ("solution-start", "solution"):
            out.append("**Solution.**" + (f"\n\n{body_text}" if body_text else ""))
        elif name == "solution-end":
            pass
        elif name in (
            "admonition",
            "note",
            "tip",
            "warning",
            "important",
            "hint",
            "caution",
            "seealso",
            "attention",
            "danger",
            "error",
        ):
            title = arg if name == "admonition" else name.capitalize()
            quoted = "\n".join(f"> {ln}" if ln else ">" for ln in body_text.split("\n"))
            out.append(f"> **{title}**\n>\n{quoted}")
        elif name in ("math",):
            out.append(f"$$\n{body_text}\n$$")
        elif name == "bibliography":
            out.append(bibliography_markdown(ctx, ctx.cited) if ctx is not None else "")
        else:
            out.append(body_text)
        i = j + 1
    return "\n".join(out)


def myst_to_markdown(text: str, ctx: Context, counter: list[int]) -> str:
    return expand_macros(convert_roles(convert_directives(text, counter, ctx), ctx), ctx.macros)


# ----------------------------------------------------------------------------- editions

_SOLUTION_MARK = re.compile(r"^(`{3,}|:{3,})\{(solution-start|solution-end)\}")


def _split_solution_segments(source: str) -> list[tuple[str, str]]:
    """Split Markdown into ('text' | 'start' | 'end', chunk) pieces at solution fences."""
    lines = source.split("\n")
    pieces: list[tuple[str, str]] = []
    buf: list[str] = []
    i = 0
    while i < len(lines):
        m = _SOLUTION_MARK.match(lines[i])
        if not m:
            buf.append(lines[i])
            i += 1
            continue
        if buf:
            pieces.append(("text", "\n".join(buf)))
            buf = []
        fence = m.group(1)
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        pieces.append(
            ("start" if m.group(2) == "solution-start" else "end", "\n".join(lines[i : j + 1]))
        )
        i = j + 1
    if buf:
        pieces.append(("text", "\n".join(buf)))
    return pieces


def solution_cells(nb) -> list[bool]:
    """For each cell, whether it lies (wholly) inside a gated solution."""
    inside, flags = False, []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            starts_inside = inside
            for kind, _ in _split_solution_segments(cell.source):
                inside = {"start": True, "end": False}.get(kind, inside)
            flags.append(starts_inside and inside)
        else:
            flags.append(inside)
    return flags


STUB_TAG = "student-stub"  # a code cell inside a solution: the student edition's starting point
CHECK_TAG = "check"  # a code cell after a solution that tests the reader's answer
HIDDEN_TAGS = ("remove-cell", "remove-input", STUB_TAG)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _code_cell(cell):
    """A copy of a chapter's code cell for a notebook edition: the figure's alt text kept
    (as metadata and as a first comment line, since the notebook carries no output)."""
    source = cell.source
    meta = {}
    alt = (cell.get("metadata", {}).get("mystnb", {}) or {}).get("image", {}).get("alt")
    if alt:
        source = f"# Figure: {alt}\n{source}"
        meta["mystnb"] = {"image": {"alt": alt}}
    tags = [t for t in _tags(cell) if t not in HIDDEN_TAGS]
    if tags:
        meta["tags"] = tags
    new = nbformat.v4.new_code_cell(source)
    new.metadata.update(meta)
    return new


def make_edition(nb, edition: str, ctx: Context, install_source: str):
    """An output-free notebook of ``edition`` ('full' or 'student') for Colab.

    The student edition replaces each solution: by its ``student-stub`` code cells where the
    chapter has them (a coding exercise: the function's signature and a ``raise
    NotImplementedError``), by an empty code cell for another code answer, and by a Markdown
    answer cell for a prose answer. Check cells (tag ``check``, after the solution) stay in
    both editions: in the book they test the reference solution, here the reader's own.
    """
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    new = nbformat.v4.new_notebook()
    new.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    title = (
        "student edition: each solution is replaced by a place for yours, and the check "
        "cells test it"
        if edition == "student"
        else "full edition"
    )
    new.cells.append(
        nbformat.v4.new_markdown_cell(
            f"*A chapter of the executable textbook, {title}; the book's page for it is "
            f"[here]({_page_url(ctx, ctx.docname)}). Numbers in the text are those of the book's "
            "own run; your run computes its own. Run the first cell once: it installs the book's "
            "helper package.*"
        )
    )
    new.cells.append(nbformat.v4.new_code_cell(install_cell_source(install_source, ctx.version)))
    counter = [0]
    inside = False
    solution: dict = {}  # the current solution: its code cells and stubs
    for cell in nb.cells:
        if cell.cell_type == "code":
            stub = STUB_TAG in _tags(cell)
            if inside:
                solution["code"] += 0 if stub else 1
                if stub:
                    solution["stubs"] += 1
                    if edition == "student":
                        new.cells.append(_code_cell(cell))
                    continue
                if edition == "student":
                    continue
            elif stub:
                raise ValueError(f"{ctx.docname}: a '{STUB_TAG}' cell must lie inside a solution")
            new.cells.append(_code_cell(cell))
            continue
        if cell.cell_type != "markdown":
            continue
        kept: list[str] = []
        for kind, chunk in _split_solution_segments(cell.source):
            if kind == "start":
                inside = True
                solution = {"code": 0, "stubs": 0, "at": None}
                if edition == "student":
                    _flush(new, kept, ctx, counter)
                    kept = []
                    solution["at"] = len(new.cells)
                else:
                    kept.append(chunk)
            elif kind == "end":
                inside = False
                if edition == "student":
                    _flush(new, kept, ctx, counter)
                    kept = []
                    _answer_cells(new, solution)
            elif not (inside and edition == "student"):
                kept.append(chunk)
        _flush(new, kept, ctx, counter)
    nbformat.validate(new)
    return new


def _answer_cells(nb, solution: dict) -> None:
    """Where a solution was: a heading, and the stubs (already placed), an empty code cell,
    or a Markdown cell for a prose answer."""
    at = solution["at"]
    if solution["stubs"]:
        nb.cells.insert(
            at,
            nbformat.v4.new_markdown_cell(
                "**Your solution:** fill in the function below, then run the check cell after it."
            ),
        )
    elif solution["code"]:
        nb.cells.insert(at, nbformat.v4.new_markdown_cell("**Your solution:**"))
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell("# your code here\n"))
    else:
        nb.cells.insert(
            at,
            nbformat.v4.new_markdown_cell(
                "**Your answer:** *(double-click this cell and write here)*"
            ),
        )


def _flush(nb, chunks: list[str], ctx: Context, counter: list[int]) -> None:
    text = myst_to_markdown("\n".join(chunks), ctx, counter).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    if text:
        nb.cells.append(nbformat.v4.new_markdown_cell(text))


INSTALL_TEMPLATE = """\
# Set-up: install the book's helper package `dlcore` when it is missing (on Colab, say),
# at the version this notebook was made with. Elsewhere this cell only checks the version.
import importlib.util
import os
import subprocess
import sys

DLCORE_SOURCE = os.environ.get("DLCORE_SOURCE", "{source}")
DLCORE_VERSION = "{version}"
if importlib.util.find_spec("dlcore") is None:
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", DLCORE_SOURCE],
                            capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stderr[-1500:])
        raise RuntimeError(
            "Could not install the book's package dlcore from\\n    " + DLCORE_SOURCE + "\\n"
            "(above: what pip said). The repository may be private or the commit not pushed. "
            "Install it another way and run this cell again: from a clone of the book's "
            "repository, `pip install -e .` in its folder; or set the environment variable "
            "DLCORE_SOURCE to a path or URL pip can install. Do not `pip install dlcore` "
            "from the package index: that is an unrelated package.")
import dlcore

if not hasattr(dlcore, "get_device") or getattr(dlcore, "__version__", None) != DLCORE_VERSION:
    print(f"Warning: the importable dlcore ({{getattr(dlcore, '__file__', '?')}}, version "
          f"{{getattr(dlcore, '__version__', 'unknown')}}) is not the book's dlcore "
          f"{{DLCORE_VERSION}}; cells may fail or give other numbers. Install the book's with "
          f"pip install --force-reinstall '{{DLCORE_SOURCE}}'.")
%matplotlib inline"""


def install_cell_source(source: str, version: str = "") -> str:
    return INSTALL_TEMPLATE.format(source=source, version=version)


def dlcore_version(root: Path) -> str:
    m = re.search(
        r'^__version__\s*=\s*"([^"]+)"', (root / "dlcore" / "__init__.py").read_text(), re.M
    )
    return m.group(1) if m else ""


def git_dirty(root: Path) -> bool:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return bool(out.stdout.strip())


def git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


# ----------------------------------------------------------------------------- Sphinx glue


def _repo_slug(url: str) -> str:
    m = re.match(r"https?://github\.com/([^/]+/[^/#?]+?)(?:\.git)?/?$", url or "")
    return m.group(1) if m else ""


def _settings(app):
    repo_url = (app.config.html_theme_options or {}).get("repository_url", "")
    book_url = app.config.html_baseurl or ""
    if book_url and not book_url.endswith("/"):
        book_url += "/"
    return repo_url, _repo_slug(repo_url), app.config.book_pages_branch, book_url


def colab_url(slug: str, branch: str, edition: str, stem: str) -> str:
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{edition}/{stem}.ipynb"


def add_links(app, doctree) -> None:
    docname = app.env.docname
    if not docname.startswith(CHAPTER_PREFIX):
        return
    _, slug, branch, _ = _settings(app)
    stem = docname.split("/")[-1]
    links = []
    for edition, label in (
        ("full", "Open in Colab"),
        ("student", "Open the student edition in Colab"),
    ):
        links.append(
            f'<a class="reference external" href="{colab_url(slug, branch, edition, stem)}">{label}</a>'
        )
    downloads = " · ".join(
        f'<a class="reference download" href="../notebooks/{e}/{stem}.ipynb" download>{e} .ipynb</a>'
        for e in EDITIONS
    )
    html = (
        '<p class="book-notebook-links">Run this chapter: '
        + " · ".join(links)
        + f" · Download: {downloads}</p>"
    )
    raw = nodes.raw("", html, format="html")
    for section in doctree.findall(nodes.section):
        section.insert(1, raw)  # right after the chapter title
        break


def write_notebooks(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    srcdir, outdir = Path(app.srcdir), Path(app.outdir)
    repo_url, _, _, book_url = _settings(app)
    commit = git_commit(srcdir) or "main"
    source = f"dlcore @ git+{repo_url}@{commit}" if repo_url else ""
    if not _repo_slug(repo_url):
        logger.warning(
            "book_notebooks: repository.url %r is not a GitHub repository: the "
            "notebooks' install cell and Colab links cannot work",
            repo_url,
        )
    elif git_dirty(srcdir):
        logger.info(
            _red(
                "book_notebooks: the working tree has uncommitted changes; the "
                f"notebooks install dlcore at {commit[:12]}, which does not hold them"
            )
        )
    labels = {}
    std = app.env.domaindata.get("std", {})
    for label, (docname, anchor, title) in std.get("labels", {}).items():
        labels[label] = (docname, anchor, title)
    for docname in app.env.found_docs:
        title_node = app.env.titles.get(docname)
        labels[f"doc:{docname}"] = (docname, "", title_node.astext() if title_node else docname)
    execute_dir = outdir.parent / "jupyter_execute"
    references = read_references(srcdir / "references.bib")
    version = dlcore_version(srcdir)
    macros = dict(((app.config.mathjax3_config or {}).get("tex", {}) or {}).get("macros", {}) or {})
    exercises = {}
    for docname in app.env.found_docs:
        if docname.startswith(CHAPTER_PREFIX) and (srcdir / f"{docname}.md").exists():
            exercises.update(
                exercise_numbers(docname, (srcdir / f"{docname}.md").read_text(encoding="utf-8"))
            )
    for docname in sorted(app.env.found_docs):
        if not docname.startswith(CHAPTER_PREFIX):
            continue
        path = srcdir / f"{docname}.md"
        if not path.exists():
            continue
        glue_file = execute_dir / f"{docname}.glue.json"
        glue = {}
        if glue_file.exists():
            for key, output in json.loads(glue_file.read_text()).items():
                data = output.get("data", {})
                if "text/markdown" in data:  # glued with markdown=True, for {glue:md}
                    glue[key] = data["text/markdown"]
                else:
                    glue[key] = _parse_value(data.get("text/plain", ""))
        nb = jupytext.read(path)
        ctx = Context(
            glue=glue,
            book_url=book_url,
            labels=labels,
            docname=docname,
            references=references,
            cited=cited_keys(path.read_text(encoding="utf-8")),
            exercises=exercises,
            macros=macros,
            version=version,
        )
        for edition in EDITIONS:
            target = outdir / "notebooks" / edition / f"{path.stem}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(make_edition(nb, edition, ctx, source), target)


def _parse_value(text: str) -> object:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip("'\"")


def fix_download_button(app, pagename, templatename, context, doctree) -> None:
    """The theme's ".ipynb" download serves ``_sources`` (MyST text with no install cell);
    on chapter pages it downloads the full edition instead, which runs anywhere."""
    if not pagename.startswith(CHAPTER_PREFIX):
        return
    stem = pagename.split("/")[-1]
    for group in context.get("header_buttons", []) or []:
        if group.get("label") != "download-buttons":
            continue
        for button in group.get("buttons", []):
            if button.get("label") == "download-notebook-button":
                button["url"] = f"../notebooks/full/{stem}.ipynb"
                button["tooltip"] = "Download the notebook (full edition)"


def setup(app):
    app.add_config_value("book_pages_branch", "gh-pages", "html")
    app.connect("html-page-context", fix_download_button, priority=900)
    app.connect("doctree-read", add_links)
    app.connect("build-finished", write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
