"""Convolution from tensor primitives: ``unfold`` to cut out patches, ``matmul`` to weigh them.

Like every deep-learning library, these compute *cross-correlation*,
``out[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x[n, c, i*s + u, j*s + v]``,
and equal ``torch.nn.functional.conv1d`` / ``conv2d`` (no dilation, no groups).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import check_ndim, check_tensor, to_pair

__all__ = ["conv1d", "conv2d", "zero_pad2d", "Conv2d"]


def zero_pad2d(x: Tensor, padding: tuple[int, int]) -> Tensor:
    """Zero-pad the last two dimensions of ``x`` by ``padding = (ph, pw)`` on each side."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    h, w = x.shape[-2:]
    out = x.new_zeros(*x.shape[:-2], h + 2 * ph, w + 2 * pw)
    out[..., ph : ph + h, pw : pw + w] = x  # differentiable: the gradient flows back to x
    return out


def _check_common(fn: str, x: Tensor, weight: Tensor, bias: Tensor | None, spatial: int) -> None:
    check_tensor(x, fn, "x")
    check_tensor(weight, fn, "weight")
    letters = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
    wletters = (
        "(out_channels, in_channels, k)" if spatial == 1 else "(out_channels, in_channels, kh, kw)"
    )
    check_ndim(x, fn, "x", spatial + 2, letters)
    check_ndim(weight, fn, "weight", spatial + 2, wletters)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"{fn}: weight has {weight.shape[1]} input channels but x has {x.shape[1]} "
            f"(x shape {tuple(x.shape)}, weight shape {tuple(weight.shape)})"
        )
    if bias is not None:
        check_tensor(bias, fn, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"{fn}: bias must have shape ({weight.shape[0]},), one per output channel, "
                f"got {tuple(bias.shape)}"
            )
    if x.dtype != weight.dtype:
        raise TypeError(f"{fn}: x is {x.dtype} but weight is {weight.dtype}; use one dtype")


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """2-D cross-correlation. x: (N, C, H, W) or (C, H, W); weight: (O, C, kh, kw);
    returns (N, O, OH, OW) with OH = (H + 2 ph - kh) // sh + 1 (likewise OW)."""
    fn = "conv2d"
    check_tensor(x, fn, "x")
    if x.dim() == 3:  # unbatched, as torch allows
        return conv2d(x.unsqueeze(0), weight, bias, stride, padding).squeeze(0)
    _check_common(fn, x, weight, bias, spatial=2)
    sh, sw = to_pair(stride, fn, "stride", minimum=1)
    ph, pw = to_pair(padding, fn, "padding", minimum=0)
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"{fn}: kernel {kh}x{kw} is larger than the padded input {h + 2 * ph}x{w + 2 * pw}"
        )
    x = zero_pad2d(x, (ph, pw))
    patches = x.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, C, OH, OW, kh, kw)
    oh, ow = patches.shape[2], patches.shape[3]
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(
        n, oh, ow, c * kh * kw
    )  # one row per position
    out = patches @ weight.reshape(o, c * kh * kw).T  # (N, OH, OW, O)
    if bias is not None:
        out = out + bias
    return out.permute(0, 3, 1, 2)  # (N, O, OH, OW)


def conv1d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
) -> Tensor:
    """1-D cross-correlation. x: (N, C, L) or (C, L); weight: (O, C, k);
    returns (N, O, OL) with OL = (L + 2 p - k) // s + 1."""
    fn = "conv1d"
    check_tensor(x, fn, "x")
    if x.dim() == 2:
        return conv1d(x.unsqueeze(0), weight, bias, stride, padding).squeeze(0)
    _check_common(fn, x, weight, bias, spatial=1)
    s, _ = to_pair(stride, fn, "stride", minimum=1)
    p, _ = to_pair(padding, fn, "padding", minimum=0)
    if isinstance(stride, (tuple, list)) or isinstance(padding, (tuple, list)):
        raise TypeError(f"{fn}: stride and padding must be ints for a 1-D convolution")
    length = x.shape[2]
    o, c, k = weight.shape
    if k > length + 2 * p:
        raise ValueError(
            f"{fn}: kernel size {k} is larger than the padded input length {length + 2 * p}"
        )
    # Treat the sequence as an image of height 1 and reuse the 2-D machinery.
    out = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, stride=(1, s), padding=(0, p))
    return out.squeeze(2)  # (N, O, OL)


class Conv2d(nn.Module):
    """A convolutional layer using :func:`conv2d`, initialised like ``torch.nn.Conv2d``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        kh, kw = to_pair(kernel_size, "Conv2d", "kernel_size", minimum=1)
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # torch's default
        if self.bias is not None:
            bound = 1 / math.sqrt(in_channels * kh * kw)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)
