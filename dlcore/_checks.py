"""Argument checks shared by every dlcore module: the one home of the idioms.

Every public function in dlcore checks its inputs here, at the boundary, so a student gets
a message that names the function and the argument instead of a stack trace from deep
inside ``unfold`` or ``matmul``, and never a silently wrong result: NaN and infinity fail
every number check unless a check says otherwise.
"""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Iterator, Sequence
from typing import SupportsIndex, cast

import torch
from torch import Tensor, nn

__all__ = [
    "check_tensor",
    "check_ndim",
    "check_positive_int",
    "check_number",
    "check_probability",
    "check_choice",
    "check_module",
    "check_pair",
    "to_pair",
    "model_device",
    "eval_mode",
]


def check_tensor(value: object, fn: str, name: str) -> Tensor:
    """Raise ``TypeError`` unless ``value`` is a tensor."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_ndim(value: Tensor, fn: str, name: str, ndim: int, layout: str) -> None:
    """Raise ``ValueError`` unless ``value`` has ``ndim`` dimensions (``layout`` explains them)."""
    check_tensor(value, fn, name)
    if value.dim() != ndim:
        raise ValueError(
            f"{fn}: {name} must have {ndim} dimensions {layout}, got shape {tuple(value.shape)}"
        )


def check_positive_int(value: object, fn: str, name: str, minimum: int = 1) -> int:
    """An int >= ``minimum`` (NumPy integers accepted, ``bool`` refused), else a clear error."""
    if isinstance(value, bool):
        raise TypeError(f"{fn}: {name} must be an int, got bool {value!r}")
    try:
        # int, numpy.int64, a 0-d integer tensor; anything else raises TypeError
        number = operator.index(cast(SupportsIndex, value))
    except TypeError:
        raise TypeError(
            f"{fn}: {name} must be an int, got {type(value).__name__} {value!r}"
        ) from None
    if number < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {number}")
    return number


def check_number(
    value: object,
    fn: str,
    name: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """A real number (``bool`` refused, NumPy scalars accepted) in the given range, as a float.

    NaN is always refused; infinity too unless ``allow_inf``. ``lo``/``hi`` bound the range,
    closed unless ``lo_open``/``hi_open``.
    """
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        raise TypeError(f"{fn}: {name} must be a number, got {type(value).__name__} {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {name} must be a number, got {type(value).__name__}") from None
    if isinstance(value, Tensor) and value.numel() != 1:
        raise TypeError(
            f"{fn}: {name} must be a number, got a tensor of shape {tuple(value.shape)}"
        )
    if lo is not None and hi is not None:
        where = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        where = f"{'>' if lo_open else '>='} {lo:g}"
    elif hi is not None:
        where = f"{'<' if hi_open else '<='} {hi:g}"
    else:
        where = ""
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise ValueError(
            f"{fn}: {name} must be a finite number {where}".rstrip() + f", got {number}"
        )
    if (lo is not None and (number < lo or (lo_open and number == lo))) or (
        hi is not None and (number > hi or (hi_open and number == hi))
    ):
        raise ValueError(f"{fn}: {name} must be {where}, got {number:g}")
    return number


def check_probability(value: object, fn: str, name: str, *, one: bool = False) -> float:
    """A number in [0, 1) (or [0, 1] with ``one=True``)."""
    return check_number(value, fn, name, lo=0.0, hi=1.0, hi_open=not one)


def check_choice(value: object, fn: str, name: str, choices: Sequence[object]) -> object:
    """Raise ``ValueError`` unless ``value`` is one of ``choices`` (listed in the message)."""
    if isinstance(value, bool) and not any(isinstance(c, bool) for c in choices):
        raise ValueError(f"{fn}: {name} must be one of {list(choices)}, got {value!r}")
    try:
        ok = value in choices
    except TypeError:  # unhashable, e.g. a list against a dict of choices
        ok = False
    if not ok:
        raise ValueError(f"{fn}: {name} must be one of {list(choices)}, got {value!r}")
    return value


def check_module(value: object, fn: str, name: str = "model") -> nn.Module:
    """Raise ``TypeError`` unless ``value`` is a ``torch.nn.Module``."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{fn}: {name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def check_pair(data: object, fn: str, name: str) -> tuple[Tensor, Tensor]:
    """A pair ``(x, y)`` of tensors with one row per example, as many inputs as targets, not empty."""
    if hasattr(data, "x_train") and hasattr(data, "y_train"):
        raise TypeError(
            f"{fn}: {name} must be a pair (x, y); for a dlcore Dataset pass "
            f"dataset.train or dataset.test"
        )
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"{fn}: {name} must be a pair (x, y) of tensors, got {type(data).__name__}")
    x, y = data
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(
            f"{fn}: {name} must hold two tensors, got {type(x).__name__}, {type(y).__name__}"
        )
    if x.dim() == 0 or y.dim() == 0:
        raise ValueError(
            f"{fn}: {name} must hold one row per example; got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if len(x) != len(y):
        raise ValueError(f"{fn}: {name} has {len(x)} inputs but {len(y)} targets")
    if len(x) == 0:
        raise ValueError(f"{fn}: {name} is empty")
    return x, y


def to_pair(value: object, fn: str, name: str, minimum: int) -> tuple[int, int]:
    """Turn an int or a pair of ints into a pair, checking each is >= ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        a, b = value
    else:
        a = b = value
    return (
        check_positive_int(a, fn, name, minimum),
        check_positive_int(b, fn, name, minimum),
    )


def model_device(model: nn.Module, default: torch.device | None = None) -> torch.device:
    """The device of the model's first parameter (or buffer); ``default`` (CPU) if it has none."""
    for tensor in model.parameters():
        return tensor.device
    for buffer in model.buffers():
        return buffer.device
    return default if default is not None else torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode (no dropout noise, frozen batch-norm statistics), then
    restore the mode it had, even if the body raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
