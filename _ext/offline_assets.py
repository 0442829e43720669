"""Sphinx extension: serve MathJax from the build itself, so the book reads offline.

It also removes a duplicated inline script that would log a console error on every page.

MathJax 3 comes from the ``django-static-mathjax`` wheel on PyPI (plain static files; it
does not need Django). The ``es5`` folder is copied to ``_static/mathjax`` and
``mathjax_path`` points there, so no page loads anything from a CDN.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

MATHJAX_PATH = "mathjax/tex-chtml.js"


def mathjax_source() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            "offline_assets: the MathJax files are missing; "
            "pip install django-static-mathjax (it is in requirements.txt)"
        )
    es5 = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").exists():
        raise ExtensionError(f"offline_assets: {es5 / 'tex-chtml.js'} not found")
    return es5


def use_local_mathjax(app, config) -> None:
    mathjax_source()  # fail early, with a clear message, if the files are missing
    config.mathjax_path = MATHJAX_PATH


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    if not (target / "tex-chtml.js").exists():
        shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated inline scripts: sphinx-thebe registers its configuration twice under
    Jupyter Book 1.x, which redeclares a ``const`` and logs a console error on every page."""
    seen, kept = set(), []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", str(script)) or "", attributes.get("body"))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("config-inited", use_local_mathjax)
    app.connect("html-page-context", dedupe_scripts)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
