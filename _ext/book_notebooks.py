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

CHAPTER_PREFIX = "chapters/"
EDITIONS = ("full", "student")

# ----------------------------------------------------------------------------- Markdown

_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}\s*(?P<arg>.*)$")
_ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<body>[^`]*)`")
_TARGET = re.compile(r"^\(([\w.-]+)\)=\s*$")


@dataclass
class Context:
    """What the Markdown conversion needs to know about the book."""

    glue: dict[str, object]          # glue key -> value of the book's run
    book_url: str                    # e.g. https://example.org/book/ (ends with /)
    labels: dict[str, tuple[str, str, str]]  # label -> (docname, anchor, title)
    docname: str = ""
    references: dict[str, Reference] | None = None  # bibtex key -> the work
    cited: list[str] = field(default_factory=list)  # keys this chapter cites


@dataclass
class Reference:
    """One work of references.bib, as the notebooks print it (no Sphinx there)."""

    authors: list[str]  # last names
    year: str
    full: str           # "Authors (year). Title. Venue."

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
            f"{' '.join(p.last_names)}, {' '.join(n[0] + '.' for n in p.first_names + p.middle_names if n)}".strip(", ")
            for p in people).replace("{", "").replace("}", "") + (" et al." if etal else "")
        f = entry.fields
        title = f.get("title", "").replace("{", "").replace("}", "")
        venue = f.get("journal") or f.get("booktitle") or f.get("school") or f.get("publisher") or f.get("howpublished", "")
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
        text_part, target = (explicit.group("text"), explicit.group("target")) if explicit else (None, body)
        if role in ("ref", "numref"):
            if target in ctx.labels:
                docname, anchor, title = ctx.labels[target]
                return f"[{text_part or title or target}]({_page_url(ctx, docname, anchor)})"
            return text_part or target
        if role == "doc":
            base = ctx.docname.rsplit("/", 1)[0] + "/" if "/" in ctx.docname else ""
            docname = target.lstrip("/") if target.startswith("/") or target.startswith("chapters/") else base + target
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
        body = [ln for ln in lines[i + 1: j] if not re.match(r"^:[\w-]+:", ln)]
        body_text = convert_directives("\n".join(body).strip("\n"), counter, ctx)
        if name == "exercise":
            counter[0] += 1
            title = f"Exercise {counter[0]}" + (f": {arg}" if arg else "")
            out.append(f"### {title}\n\n{body_text}")
        elif name in ("solution-start", "solution"):
            out.append("**Solution.**" + (f"\n\n{body_text}" if body_text else ""))
        elif name == "solution-end":
            pass
        elif name in ("admonition", "note", "tip", "warning", "important", "hint", "caution",
                      "seealso", "attention", "danger", "error"):
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
    return convert_roles(convert_directives(text, counter, ctx), ctx)


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
        pieces.append(("start" if m.group(2) == "solution-start" else "end", "\n".join(lines[i: j + 1])))
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


def make_edition(nb, edition: str, ctx: Context, install_source: str):
    """An output-free notebook of ``edition`` ('full' or 'student') for Colab."""
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    new = nbformat.v4.new_notebook()
    new.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    title = "student edition: solutions removed" if edition == "student" else "full edition"
    new.cells.append(nbformat.v4.new_markdown_cell(
        f"*A chapter of the executable textbook, {title}; the book's page for it is "
        f"[here]({_page_url(ctx, ctx.docname)}). Numbers in the text are those of the book's "
        "own run; your run computes its own. Run the first cell once: it installs the book's "
        "helper package.*"))
    new.cells.append(nbformat.v4.new_code_cell(install_cell_source(install_source)))
    counter = [0]
    inside = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if inside and edition == "student":
                continue
            source = cell.source
            new.cells.append(nbformat.v4.new_code_cell(source))
            continue
        if cell.cell_type != "markdown":
            continue
        kept: list[str] = []
        for kind, chunk in _split_solution_segments(cell.source):
            if kind == "start":
                inside = True
                if edition == "student":
                    _flush(new, kept, ctx, counter)
                    kept = []
                    new.cells.append(nbformat.v4.new_markdown_cell("**Your solution:**"))
                    new.cells.append(nbformat.v4.new_code_cell("# your solution here\n"))
                else:
                    kept.append(chunk)
            elif kind == "end":
                inside = False
            elif not (inside and edition == "student"):
                kept.append(chunk)
        _flush(new, kept, ctx, counter)
    nbformat.validate(new)
    return new


def _flush(nb, chunks: list[str], ctx: Context, counter: list[int]) -> None:
    text = myst_to_markdown("\n".join(chunks), ctx, counter).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    if text:
        nb.cells.append(nbformat.v4.new_markdown_cell(text))


INSTALL_TEMPLATE = '''\
# Set-up: install the book's helper package `dlcore` when it is missing (on Colab, say),
# at the version this notebook was made with. Elsewhere this cell does nothing.
import importlib.util
import os
import subprocess
import sys

DLCORE_SOURCE = os.environ.get("DLCORE_SOURCE", "{source}")
if importlib.util.find_spec("dlcore") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", DLCORE_SOURCE])
%matplotlib inline'''


def install_cell_source(source: str) -> str:
    return INSTALL_TEMPLATE.format(source=source)


def git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True)
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
    for edition, label in (("full", "Open in Colab"), ("student", "Open the student edition in Colab")):
        links.append(f'<a class="reference external" href="{colab_url(slug, branch, edition, stem)}">{label}</a>')
    downloads = " · ".join(
        f'<a class="reference download" href="../notebooks/{e}/{stem}.ipynb" download>{e} .ipynb</a>'
        for e in EDITIONS)
    html = ('<p class="book-notebook-links">Run this chapter: ' + " · ".join(links)
            + f" · Download: {downloads}</p>")
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
    source = f"dlcore @ git+{repo_url}@{commit}" if repo_url else "dlcore"
    labels = {}
    std = app.env.domaindata.get("std", {})
    for label, (docname, anchor, title) in std.get("labels", {}).items():
        labels[label] = (docname, anchor, title)
    for docname in app.env.found_docs:
        title_node = app.env.titles.get(docname)
        labels[f"doc:{docname}"] = (docname, "", title_node.astext() if title_node else docname)
    execute_dir = outdir.parent / "jupyter_execute"
    references = read_references(srcdir / "references.bib")
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
                glue[key] = _parse_value(output.get("data", {}).get("text/plain", ""))
        nb = jupytext.read(path)
        ctx = Context(glue=glue, book_url=book_url, labels=labels, docname=docname,
                      references=references,
                      cited=cited_keys(path.read_text(encoding="utf-8")))
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


def setup(app):
    app.add_config_value("book_pages_branch", "gh-pages", "html")
    app.connect("doctree-read", add_links)
    app.connect("build-finished", write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
