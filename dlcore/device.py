"""Choosing the device a chapter runs on: CUDA, then Apple MPS, then the CPU.

The environment variable ``DLCORE_DEVICE`` overrides the choice, for example
``DLCORE_DEVICE=cpu`` to reproduce the book's CPU numbers on a GPU machine.
"""

from __future__ import annotations

import os

import torch

__all__ = ["get_device", "describe_device"]

_VALID = ("cpu", "cuda", "mps")


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on.

    Order: the ``prefer`` argument, then ``$DLCORE_DEVICE``, then CUDA, MPS, CPU.
    A requested accelerator that is not available raises ``ValueError`` rather than
    silently falling back, so a reader who asked for a GPU knows they did not get one.
    """
    requested = prefer if prefer is not None else os.environ.get("DLCORE_DEVICE", "").strip()
    if requested:
        if not isinstance(requested, str):
            raise TypeError(f"get_device: prefer must be a string, got {type(requested).__name__}")
        kind = requested.split(":")[0].lower()
        if kind not in _VALID:
            raise ValueError(
                f"get_device: unknown device {requested!r} (from "
                f"{'prefer' if prefer is not None else 'DLCORE_DEVICE'}); use one of {_VALID}"
            )
        if kind == "cuda" and not torch.cuda.is_available():
            raise ValueError("get_device: 'cuda' was requested but torch sees no CUDA GPU")
        if kind == "mps" and not _mps_available():
            raise ValueError("get_device: 'mps' was requested but Apple MPS is not available")
        return torch.device(requested.lower())
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def describe_device(device: torch.device | None = None) -> str:
    """A one-line human description, e.g. ``'cpu (2 threads)'`` or ``'cuda (NVIDIA H100)'``."""
    device = get_device() if device is None else torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
