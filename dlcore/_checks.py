"""Argument checks shared by the from-scratch layers.

Every public function in dlcore checks its inputs here, at the boundary, so a
student gets a message that names the argument instead of a stack trace from
deep inside ``unfold`` or ``matmul``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_tensor", "check_ndim", "to_pair", "check_positive_int"]


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
    """Raise unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return value


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
