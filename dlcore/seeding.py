"""One call seeds Python, NumPy and torch.

``$DLCORE_SEED``, when set, is *added* to every seed a chapter asks for, so anyone
can re-run a chapter with other seeds and check that its claims still hold.
"""

from __future__ import annotations

import operator
import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "effective_seed", "make_generator"]


def effective_seed(seed: int, _caller: str = "effective_seed") -> int:
    """``seed`` plus the offset in ``$DLCORE_SEED`` (0 when unset). NumPy integers are accepted."""
    if isinstance(seed, bool):
        raise TypeError(f"{_caller}: seed must be an int, got {seed!r}")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"{_caller}: seed must be an int, got {type(seed).__name__}") from None
    offset = os.environ.get("DLCORE_SEED", "").strip()
    if offset:
        try:
            return seed + int(offset)
        except ValueError:
            raise ValueError(f"DLCORE_SEED must be an integer, got {offset!r}") from None
    return seed


def seed_everything(seed: int = 0) -> int:
    """Seed ``random``, ``numpy`` and ``torch`` (all devices); return the seed actually used."""
    used = effective_seed(seed, "seed_everything")
    random.seed(used)
    np.random.seed(used % 2**32)
    torch.manual_seed(used)
    return used


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded with ``effective_seed(seed)``, for explicit randomness."""
    gen = torch.Generator(device=device)
    gen.manual_seed(effective_seed(seed, "make_generator"))
    return gen
