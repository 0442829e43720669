"""Transforms of image batches: random affine distortions for data augmentation, the
corruption of a denoising autoencoder's input, a Gaussian blur, and placing small images on a
larger canvas. Each takes a batch and returns a new one; none changes its input.

**Random affine distortions** (rotation, shift, scale, shear). Each image gets its own 2x3 matrix ``theta`` that maps output coordinates to input
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

from ._checks import (
    check_choice,
    check_number,
    check_positive_int,
    check_probability,
    check_tensor,
)
from .seeding import make_generator

__all__ = [
    "random_affine_matrices",
    "affine_transform",
    "random_affine",
    "RandomAffine",
    "corrupt",
    "gaussian_blur",
    "place_on_canvas",
]


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
    p = check_number(p, fn, "p", lo=0.0)
    if p > 1:
        raise ValueError(f"{fn}: p must be in [0, 1], got {p}")
    rotation = check_number(rotation, fn, "rotation", lo=0.0, hi=180.0, hi_open=True)
    shift = check_number(shift, fn, "shift", lo=0.0)
    scale = check_number(scale, fn, "scale", lo=0.0, hi=1.0, hi_open=True)
    shear = check_number(shear, fn, "shear", lo=0.0, hi=90.0, hi_open=True)
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
    theta = torch.stack(
        [
            torch.stack([a11, a12, tx], dim=1),
            torch.stack([a21, a22, ty], dim=1),
        ],
        dim=1,
    )  # (n, 2, 3)
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
        raise ValueError(
            f"{fn}: theta must have shape ({x.shape[0]}, 2, 3), got {tuple(theta.shape)}"
        )
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
    theta = random_affine_matrices(
        len(x), (x.shape[-2], x.shape[-1]), rotation, shift, scale, shear, p, generator
    )
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
        return random_affine(
            x, self.rotation, self.shift, self.scale, self.shear, self.p, self.generator
        )


def corrupt(
    x: Tensor,
    level: float,
    kind: str = "mask",
    generator: torch.Generator | None = None,
) -> Tensor:
    """A corrupted copy of ``x``: ``mask`` zeroes each entry with probability ``level``;
    ``gaussian`` adds N(0, level^2) noise; ``saltpepper`` sets a ``level`` fraction to 0 or 1.

    Noise is drawn on the CPU from ``generator`` (reproducible on any device), then moved.
    """
    check_tensor(x, "corrupt", "x")
    check_choice(kind, "corrupt", "kind", ("mask", "gaussian", "saltpepper"))
    if kind == "gaussian":  # a standard deviation
        level = check_number(level, "corrupt", "level", lo=0.0)
    else:  # the probability of corrupting an entry
        level = check_probability(
            level, "corrupt", f"level (a probability for kind={kind!r})", one=True
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"corrupt: generator must be a torch.Generator, got {type(generator).__name__}"
        )
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + level * noise
    hit = (torch.rand(x.shape, generator=generator) < level).to(
        x.device
    )  # which entries to corrupt
    if kind == "mask":
        return x.masked_fill(hit, 0.0)
    salt = (torch.rand(x.shape, generator=generator) < 0.5).to(x.device, x.dtype)
    return torch.where(hit, salt, x)


def _spatial_dims(x: Tensor) -> tuple[int, ...]:
    """(N, L) and (N, C, L) signals have one spatial dim; (N, C, H, W) images have two."""
    return (-1,) if x.dim() <= 3 else (-2, -1)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Blur the spatial dims of ``x`` ((N, L), (N, C, L) or (N, C, H, W)) with a Gaussian.

    Separable kernel of radius ``ceil(2 sigma)``, edge values replicated; ``sigma = 0`` is
    the identity.
    """
    fn = "gaussian_blur"
    check_tensor(x, fn, "x")
    if x.dim() not in (2, 3, 4):
        raise ValueError(
            f"{fn}: x must be (N, L), (N, C, L) or (N, C, H, W), got shape {tuple(x.shape)}"
        )
    sigma = check_number(sigma, fn, "sigma", lo=0.0)
    if sigma == 0:
        return x
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()  # (2r+1,)
    out = x
    for dim in _spatial_dims(x):
        moved = out.movedim(dim, -1)  # (..., L)
        flat = moved.reshape(-1, 1, moved.shape[-1])  # (M, 1, L)
        flat = F.pad(flat, (radius, radius), mode="replicate")
        flat = F.conv1d(flat, kernel.view(1, 1, -1))  # (M, 1, L)
        out = flat.reshape(moved.shape).movedim(-1, dim)
    return out


def place_on_canvas(x: Tensor, size: int, seed: int = 0) -> Tensor:
    """Paste every image of x: (N, C, h, w) at its own uniformly random position on a zero
    canvas: (N, C, size, size). ``seed`` (plus ``$DLCORE_SEED``) fixes the positions."""
    fn = "place_on_canvas"
    check_tensor(x, fn, "x")
    if x.dim() != 4:
        raise ValueError(f"{fn}: x must be (N, C, H, W), got shape {tuple(x.shape)}")
    check_positive_int(size, fn, "size")
    n, c, h, w = x.shape
    if size < max(h, w):
        raise ValueError(f"{fn}: size={size} is smaller than the images ({h}x{w})")
    gen = make_generator(seed)
    top = torch.randint(0, size - h + 1, (n,), generator=gen)  # (N,) first row of each image
    left = torch.randint(0, size - w + 1, (n,), generator=gen)  # (N,) first column
    rows = (top[:, None] + torch.arange(h))[:, :, None]  # (N, h, 1) canvas rows
    cols = (left[:, None] + torch.arange(w))[:, None, :]  # (N, 1, w) canvas columns
    canvas = x.new_zeros(n, c, size, size)
    idx = torch.arange(n)[:, None, None]
    canvas.permute(0, 2, 3, 1)[idx, rows, cols] = x.permute(0, 2, 3, 1)  # (N, h, w, C) blocks
    return canvas
