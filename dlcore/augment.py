"""Data augmentation by small random affine distortions (rotation, shift, scale, shear).

Each image gets its own 2x3 matrix ``theta`` that maps output coordinates to input
coordinates (both in [-1, 1]); ``affine_grid`` turns it into a sampling grid and
``grid_sample`` reads the input there (bilinear, zeros outside the image)::

    theta = [R(angle) @ Shear(shear) @ diag(1/scale) | shift]

so a positive ``scale - 1`` enlarges the digit and ``shift`` moves it by a fraction of
the image size. Use :class:`RandomAffine` as ``dl.fit(..., augment=RandomAffine(...))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_tensor
from .seeding import make_generator

__all__ = ["random_affine_matrices", "affine_transform", "random_affine", "RandomAffine"]


def _check_range(fn: str, name: str, value: float, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{fn}: {name} must be a number, got {type(value).__name__}")
    if value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper})" if upper is not None else ">= 0"
        raise ValueError(f"{fn}: {name} must be {bound}, got {value}")
    return float(value)


def random_affine_matrices(
    n: int,
    size: tuple[int, int],
    rotation: float = 0.0,
    shift: float = 0.0,
    scale: float = 0.0,
    shear: float = 0.0,
    p: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``n`` random 2x3 matrices for ``affine_grid``: (n, 2, 3), float32 on the CPU.

    Each parameter is drawn uniformly from [-max, max]: rotation and shear in degrees,
    shift in pixels of an image of ``size = (H, W)``, scale as a relative change (0.1:
    between 0.9x and 1.1x). Each matrix is distorted with probability ``p`` and is the
    identity otherwise.
    """
    fn = "random_affine_matrices"
    p = _check_range(fn, "p", p)
    if p > 1:
        raise ValueError(f"{fn}: p must be in [0, 1], got {p}")
    rotation = _check_range(fn, "rotation", rotation, 180.0)
    shift = _check_range(fn, "shift", shift)
    scale = _check_range(fn, "scale", scale, 1.0)
    shear = _check_range(fn, "shear", shear, 90.0)
    h, w = size

    def uniform(limit: float) -> Tensor:  # (n,) uniform in [-limit, limit]
        return (2 * torch.rand(n, generator=generator) - 1) * limit

    angle = uniform(math.radians(rotation))
    shear_t = torch.tan(uniform(math.radians(shear)))
    zoom = 1 + uniform(scale)  # > 1 enlarges the content
    tx, ty = uniform(2 * shift / w), uniform(2 * shift / h)  # pixels -> [-1, 1] coordinates
    cos, sin = torch.cos(angle), torch.sin(angle)
    # A = R @ [[1, shear], [0, 1]] @ diag(1 / zoom): output coordinates -> input coordinates
    a11, a12 = cos / zoom, (cos * shear_t - sin) / zoom
    a21, a22 = sin / zoom, (sin * shear_t + cos) / zoom
    theta = torch.stack([
        torch.stack([a11, a12, tx], dim=1),
        torch.stack([a21, a22, ty], dim=1),
    ], dim=1)  # (n, 2, 3)
    if p < 1:  # leave a random fraction 1 - p of the images undistorted
        keep = torch.rand(n, generator=generator) >= p
        theta[keep] = torch.eye(2, 3)
    return theta


def affine_transform(x: Tensor, theta: Tensor) -> Tensor:
    """Resample images x: (N, C, H, W) with matrices theta: (N, 2, 3) (bilinear, zero fill)."""
    fn = "affine_transform"
    check_tensor(x, fn, "x")
    check_tensor(theta, fn, "theta")
    if x.dim() != 4:
        raise ValueError(f"{fn}: x must have 4 dimensions (N, C, H, W), got shape {tuple(x.shape)}")
    if theta.shape != (x.shape[0], 2, 3):
        raise ValueError(f"{fn}: theta must have shape ({x.shape[0]}, 2, 3), got {tuple(theta.shape)}")
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (N, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_affine(
    x: Tensor,
    rotation: float = 10.0,
    shift: float = 1.0,
    scale: float = 0.1,
    shear: float = 10.0,
    p: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Distort the images of x: (N, C, H, W), each by its own random small affine map.

    rotation, shear: maximum angle in degrees; shift: maximum shift in pixels; scale:
    maximum relative size change; p: probability that an image is distorted at all.
    All strengths zero (or p = 0) returns x unchanged (up to rounding).
    """
    check_tensor(x, "random_affine", "x")
    if x.dim() != 4:
        raise ValueError(
            f"random_affine: x must have 4 dimensions (N, C, H, W), got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"random_affine: x must be a floating-point tensor, got {x.dtype}")
    theta = random_affine_matrices(len(x), tuple(x.shape[-2:]), rotation, shift, scale, shear, p,
                                   generator)
    return affine_transform(x, theta)


@dataclass
class RandomAffine:
    """A callable augmentation for ``dl.fit(..., augment=RandomAffine(seed=0))``.

    Holds its own generator, seeded once from ``seed`` (plus ``$DLCORE_SEED``), so a
    training run draws the same distortions every time it is repeated.
    """

    rotation: float = 10.0
    shift: float = 1.0
    scale: float = 0.1
    shear: float = 10.0
    p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        # check the ranges now, not at the first batch
        random_affine_matrices(1, (8, 8), self.rotation, self.shift, self.scale, self.shear, self.p)
        self.generator = make_generator(self.seed)

    def __call__(self, x: Tensor) -> Tensor:
        return random_affine(x, self.rotation, self.shift, self.scale, self.shear, self.p,
                             self.generator)
