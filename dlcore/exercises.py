"""Check cells for coding exercises: test a reader's answer and say what is wrong.

A coding exercise in a chapter has a stub (the function's signature and ``raise
NotImplementedError``) in the student edition, the reference solution in the book, and
after it a *check cell* that calls :func:`check_function` (or :func:`check_close`). In the
book the check passes on the reference solution; in the student edition it tests the
reader's own function and names the first thing that is wrong (not implemented, wrong
type, wrong shape, a constant factor, a sign, a transposition, the first wrong value,
a wrong gradient) without printing the solution. ``wrong_answers`` proves that a check
can fail: each of them must be rejected, or the check itself raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "ExerciseCheckFailed",
    "ExerciseNotDone",
    "attempt",
    "check_close",
    "check_function",
    "exercise",
    "require",
    "must_reject",
]


class ExerciseCheckFailed(AssertionError):
    """The reader's answer is wrong; the message says how."""


class ExerciseNotDone(ExerciseCheckFailed):
    """The reader's function still raises ``NotImplementedError`` (the stub)."""


def attempt(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call the reader's ``fn``; a stub that is not filled in yet gives a clear message."""
    if not callable(fn):
        raise TypeError(f"attempt: fn must be a function, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        name = getattr(fn, "__name__", "the function")
        raise ExerciseNotDone(
            f"{name} is not implemented yet: replace the `raise NotImplementedError` in its "
            "cell with your code, run that cell, then run this check again."
        ) from None


def _as_tensor(value: Any) -> Tensor | None:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    try:
        import numpy as np

        if isinstance(value, (np.ndarray, np.generic)):
            return torch.as_tensor(value)
    except ImportError:  # pragma: no cover - numpy comes with torch
        pass
    return None


def _diagnose(got: Tensor, expected: Tensor, name: str, rtol: float, atol: float) -> str | None:
    """None when close; else a sentence about the first thing that is wrong."""
    if tuple(got.shape) != tuple(expected.shape):
        if (
            got.dim() == 2
            and tuple(got.shape[::-1]) == tuple(expected.shape)
            and torch.allclose(got.T.to(expected.dtype), expected, rtol=rtol, atol=atol)
        ):
            return f"{name} looks transposed: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        return f"{name} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    g = got.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    if not torch.isfinite(g).all():
        return f"{name} contains NaN or infinity"
    if torch.allclose(g, e, rtol=rtol, atol=atol):
        return None
    if torch.allclose(g, -e, rtol=rtol, atol=atol):
        return f"{name} has the wrong sign everywhere"
    denom = (e * e).sum()
    if denom > 0:
        factor = float((g * e).sum() / denom)
        if factor != 0 and torch.allclose(g, factor * e, rtol=rtol, atol=atol):
            return f"{name} is off by a constant factor of {factor:.4g}"
    err = (g - e).abs()
    index = (
        tuple(int(i) for i in torch.unravel_index(torch.argmax(err), err.shape))
        if err.dim()
        else ()
    )
    at = f" at index {index}" if index else ""
    return (
        f"{name} is wrong{at}: got {float(g[index]):.6g}, expected {float(e[index]):.6g} "
        f"(largest error {float(err.max()):.3g}; {int((err > atol + rtol * e.abs()).sum())} "
        f"of {err.numel()} values off)"
    )


def check_close(
    got: Any, expected: Any, name: str = "your answer", rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    """Raise :class:`ExerciseCheckFailed` unless ``got`` equals ``expected`` within tolerances."""
    exp = _as_tensor(expected)
    if exp is None:
        raise TypeError(
            f"check_close: expected must be a tensor or a number, got {type(expected).__name__}"
        )
    value = _as_tensor(got)
    if value is None:
        raise ExerciseCheckFailed(
            f"{name} should be a tensor or a number, got {type(got).__name__}"
            + (" (did you forget a return statement?)" if got is None else "")
        )
    problem = _diagnose(value, exp, name, rtol, atol)
    if problem:
        raise ExerciseCheckFailed(problem)


def _describe(args: Sequence[Any]) -> str:
    parts = [f"shape {tuple(a.shape)}" if isinstance(a, Tensor) else repr(a) for a in args]
    return ", ".join(parts)


def _run_cases(
    fn: Callable,
    reference: Callable,
    cases: Sequence[Sequence[Any]],
    grad: bool,
    rtol: float,
    atol: float,
) -> None:
    name = getattr(fn, "__name__", "your function")
    for args in cases:
        args = tuple(args)
        inputs = tuple(
            a.detach().clone().requires_grad_(grad and a.is_floating_point())
            if isinstance(a, Tensor)
            else a
            for a in args
        )
        got = attempt(fn, *inputs)
        expected = reference(*args)
        label = f"{name}({_describe(args)})"
        check_close(got, expected, name=label, rtol=rtol, atol=atol)
        if not grad:
            continue
        leaves = [a for a in inputs if isinstance(a, Tensor) and a.requires_grad]
        if not isinstance(got, Tensor) or not got.requires_grad:
            raise ExerciseCheckFailed(
                f"{label} is not differentiable: build it from torch "
                "operations (no .detach(), .item() or NumPy inside)"
            )
        weights = torch.randn(
            got.shape, generator=torch.Generator().manual_seed(0), dtype=got.dtype
        )
        ours = torch.autograd.grad((got * weights).sum(), leaves, allow_unused=True)
        ref_inputs = tuple(
            a.detach().clone().requires_grad_(True)
            if isinstance(a, Tensor) and a.is_floating_point()
            else a
            for a in args
        )
        ref_out = reference(*ref_inputs)
        ref_leaves = [a for a in ref_inputs if isinstance(a, Tensor) and a.requires_grad]
        theirs = torch.autograd.grad(
            (ref_out * weights.to(ref_out.dtype)).sum(), ref_leaves, allow_unused=True
        )
        for k, (a, b) in enumerate(zip(ours, theirs)):
            a = torch.zeros_like(leaves[k]) if a is None else a
            b = torch.zeros_like(ref_leaves[k]) if b is None else b
            check_close(
                a,
                b,
                name=f"the gradient of {label} with respect to argument {k + 1}",
                rtol=rtol,
                atol=atol,
            )


def check_function(
    fn: Callable,
    reference: Callable,
    cases: Sequence[Sequence[Any]],
    grad: bool = False,
    wrong_answers: Sequence[Callable] = (),
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> str:
    """Check the reader's ``fn`` against ``reference`` (e.g. PyTorch's function) on each
    tuple of arguments in ``cases``; with ``grad=True`` also the gradients (autograd).

    Each function in ``wrong_answers`` must fail the same check (this shows the check can
    fail). Returns a short confirmation; raises :class:`ExerciseCheckFailed` on a wrong answer.
    """
    if not callable(fn) or not callable(reference):
        raise TypeError("check_function: fn and reference must be functions")
    if not cases:
        raise ValueError("check_function: cases must hold at least one tuple of arguments")
    for wrong in wrong_answers:
        try:
            _run_cases(wrong, reference, cases, grad, rtol, atol)
        except ExerciseCheckFailed:
            continue
        raise AssertionError(
            f"check_function: the wrong answer {getattr(wrong, '__name__', wrong)!r} "
            "passed this check, so the check cannot tell right from wrong"
        )
    _run_cases(fn, reference, cases, grad, rtol, atol)
    name = getattr(fn, "__name__", "your function")
    return f"{name}: all {len(cases)} checks passed" + (" (values and gradients)" if grad else "")


@contextmanager
def exercise(name: str) -> Iterator[None]:
    """A block that checks the reader's ``name``: a stub still raising NotImplementedError
    inside it becomes :class:`ExerciseNotDone` naming ``name``."""
    if not isinstance(name, str) or not name:
        raise TypeError("exercise: name must be a non-empty string")
    try:
        yield
    except NotImplementedError:
        raise ExerciseNotDone(
            f"{name} is not implemented yet: replace the `raise NotImplementedError` in its "
            "cell with your code, run that cell, then run this check again."
        ) from None


def require(condition: bool, message: str) -> None:
    """Raise :class:`ExerciseCheckFailed` with ``message`` unless ``condition`` holds."""
    if not isinstance(message, str):
        raise TypeError("require: message must be a string")
    if not condition:
        raise ExerciseCheckFailed(message)


def must_reject(check: Callable[[Any], Any], wrong: Any) -> None:
    """Show that ``check`` can fail: it must reject the ``wrong`` answer, else AssertionError."""
    if not callable(check):
        raise TypeError("must_reject: check must be a function that takes an answer")
    try:
        check(wrong)
    except ExerciseCheckFailed:
        return
    raise AssertionError(
        f"must_reject: the wrong answer {getattr(wrong, '__name__', wrong)!r} "
        "passed the check, so the check cannot tell right from wrong"
    )
