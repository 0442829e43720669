"""Pooling from tensor primitives: ``unfold`` cuts out the windows, ``max`` / ``mean`` reduce them.

``out[n, c, i, j] = max_{u, v} x[n, c, i*sh + u, j*sw + v]`` (or the mean over the window),
equal to ``torch.nn.functional.max_pool2d`` / ``avg_pool2d`` (no dilation, no ceil mode).
Padding, when asked for, pads with -inf for the maximum (padding never wins) and with
zeros for the average (which counts them, torch's default ``count_include_pad=True``).
"""

from __future__ import annotations

from torch import Tensor, nn

from ._checks import check_ndim, check_tensor, to_pair

__all__ = ["max_pool2d", "avg_pool2d", "MaxPool2d", "AvgPool2d"]

Size2 = int | tuple[int, int]


def _pad2d(x: Tensor, padding: tuple[int, int], value: float) -> Tensor:
    """Pad the last two dimensions of ``x`` by ``padding = (ph, pw)`` on each side with ``value``."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    h, w = x.shape[-2:]
    out = x.new_full((*x.shape[:-2], h + 2 * ph, w + 2 * pw), value)
    out[..., ph : ph + h, pw : pw + w] = x  # differentiable: the gradient flows back to x
    return out


def _windows(
    fn: str, x: Tensor, kernel_size: Size2, stride: Size2 | None, padding: Size2, fill: float
) -> Tensor:
    """Check the arguments and return every pooling window: (N, C, OH, OW, kh * kw)."""
    check_tensor(x, fn, "x")
    if x.dim() != 3:  # (C, H, W) is allowed, as in torch; anything else must be (N, C, H, W)
        check_ndim(x, fn, "x", 4, "(N, C, H, W) or 3 dimensions (C, H, W)")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: x must be a floating-point tensor, got {x.dtype}")
    kh, kw = to_pair(kernel_size, fn, "kernel_size", minimum=1)
    sh, sw = to_pair(kernel_size if stride is None else stride, fn, "stride", minimum=1)
    ph, pw = to_pair(padding, fn, "padding", minimum=0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(
            f"{fn}: padding ({ph}, {pw}) must be at most half the kernel size ({kh}, {kw})"
        )
    h, w = x.shape[-2:]
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"{fn}: kernel_size {kh}x{kw} is larger than the (padded) input {h + 2 * ph}x{w + 2 * pw}"
        )
    x = _pad2d(x, (ph, pw), fill)
    patches = x.unfold(-2, kh, sh).unfold(-2, kw, sw)  # (..., OH, OW, kh, kw)
    return patches.flatten(-2)  # (..., OH, OW, kh * kw)


def max_pool2d(
    x: Tensor, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0
) -> Tensor:
    """Max pooling. x: (N, C, H, W) or (C, H, W); stride defaults to kernel_size;
    returns (N, C, OH, OW) with OH = (H + 2 ph - kh) // sh + 1 (likewise OW)."""
    patches = _windows("max_pool2d", x, kernel_size, stride, padding, float("-inf"))
    # .max(dim) sends each window's gradient to its (first) largest entry, as torch does
    return patches.max(dim=-1).values


def avg_pool2d(
    x: Tensor, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0
) -> Tensor:
    """Average pooling (zero padding counted in the mean). x: (N, C, H, W) or (C, H, W);
    stride defaults to kernel_size; returns (N, C, OH, OW) as for :func:`max_pool2d`."""
    patches = _windows("avg_pool2d", x, kernel_size, stride, padding, 0.0)
    return patches.mean(dim=-1)


class MaxPool2d(nn.Module):
    """A max-pooling layer calling :func:`max_pool2d` (no parameters)."""

    def __init__(self, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(nn.Module):
    """An average-pooling layer calling :func:`avg_pool2d` (no parameters)."""

    def __init__(self, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
