"""Small helpers for the chapters as notebooks: glue, showing source code, tables.

``glue`` is myst-nb's glue when myst-nb is installed (the book build and the tests),
and a no-op elsewhere (Colab), so the same chapter runs in both places.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ._checks import eval_mode, model_device
from .introspection import capture_outputs

__all__ = ["glue", "check", "show_source", "markdown_table", "show_table", "layer_table"]


def glue(name: str, value: Any, display: bool = False, markdown: bool = False) -> Any:
    """Store ``value`` under ``name`` for the book's ``{glue}`` roles; return ``value``.

    Numbers are converted to plain Python floats/ints first, so format specs such as
    ``{glue:text}`key:.1%``` work whatever produced them (NumPy, torch). With
    ``markdown=True`` a string is glued as Markdown, for ``{glue:md}`key``` (no quotes).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"glue: name must be an identifier-like string, got {name!r}")
    if markdown and not isinstance(value, str):
        raise TypeError(f"glue: markdown=True needs a string value, got {type(value).__name__}")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"glue: {name!r} is a tensor with {value.numel()} elements; glue a scalar"
            )
        value = value.item()
    elif hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()  # NumPy scalar
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab or a plain Python: nothing to glue into
        return value
    if markdown:
        from IPython.display import Markdown  # installed wherever myst-nb is

        myst_glue(name, Markdown(value), display=display)
        return value
    myst_glue(name, value, display=display)
    return value


def _as_number(name: str, what: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"check: {what} of {name!r} is a tensor with {value.numel()} elements; "
                "pass a scalar"
            )
        value = value.item()
    elif hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()  # NumPy scalar
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"check: {what} of {name!r} must be a number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"check: {what} of {name!r} is NaN")
    return value


def check(name: str, value: Any, lo: float | None = None, hi: float | None = None) -> float:
    """Glue a claimed number and its accepted range, and assert that it lies in the range.

    One call does what a chapter's claim needs: ``value`` is glued as ``name``, the bounds
    as ``name_lo`` and ``name_hi`` (so the prose quotes the very bounds that are asserted:
    ``{glue:text}`name_lo:.0%`-{glue:text}`name_hi:.0%```), and an ``AssertionError``
    naming the claim stops the build when ``lo <= value <= hi`` fails. A missing bound is
    open (``lo=None`` is minus infinity); at least one bound is required. Returns ``value``
    as a float.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"check: name must be an identifier-like string, got {name!r}")
    if lo is None and hi is None:
        raise ValueError(f"check: {name!r} needs a bound: give lo, hi or both")
    number = _as_number(name, "value", value)
    low = -math.inf if lo is None else _as_number(name, "lo", lo)
    high = math.inf if hi is None else _as_number(name, "hi", hi)
    if low > high:
        raise ValueError(f"check: {name!r} has lo={low} above hi={high}")
    glue(name, number)
    if lo is not None:
        glue(f"{name}_lo", low)
    if hi is not None:
        glue(f"{name}_hi", high)
    if not low <= number <= high:
        raise AssertionError(f"claim {name!r} fails: {number!r} is outside [{low!r}, {high!r}]")
    return number


def show_source(obj: Any) -> Any:
    """Display the source code of a function or class (the library's own, not a copy)."""
    source = textwrap.dedent(inspect.getsource(obj))
    module = inspect.getmodule(obj)
    origin = f"# from {module.__name__}" if module is not None else ""
    text = f"```python\n{origin}\n{source}```"
    try:
        from IPython.display import Markdown
    except ImportError:
        print(source)
        return None
    return Markdown(text)


def markdown_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table; floats are shown with 4 significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def show_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> Any:
    """Display :func:`markdown_table` as rendered Markdown in a notebook."""
    text = markdown_table(rows, headers)
    try:
        from IPython.display import Markdown
    except ImportError:
        print(text)
        return None
    return Markdown(text)


def layer_table(
    model: nn.Module, input_shape: Sequence[int]
) -> list[tuple[str, str, tuple[int, ...] | str, int]]:
    """Run one input of ``input_shape`` (batch included) through ``model`` and list, for
    every leaf module in call order: name, type, output shape and parameter count."""
    leaves = [(name, m) for name, m in model.named_modules() if len(list(m.children())) == 0]
    with capture_outputs(leaves) as calls, eval_mode(model), torch.no_grad():
        model(torch.zeros(*input_shape, device=model_device(model)))
    rows: list[tuple[str, str, tuple[int, ...] | str, int]] = []
    for name, mod, out in calls:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else "-"
        rows.append(
            (name, type(mod).__name__, shape, sum(p.numel() for p in mod.parameters(recurse=False)))
        )
    return rows
