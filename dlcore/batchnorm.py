"""Batch normalisation from tensor primitives, with a hand-written backward pass.

For each channel c, over the batch (and the spatial positions of an image batch),
``y = weight[c] * (x - mean) / sqrt(var + eps) + bias[c]``. Training uses the mini-batch
mean and *biased* variance, and updates the running estimates in place,
``running = (1 - momentum) * running + momentum * batch`` with the *unbiased* variance;
evaluation uses the running estimates. Equals ``torch.nn.functional.batch_norm`` in values
and first derivatives. The training-mode backward pass is written by hand and is
differentiable once only: second derivatives (``create_graph=True``, as in a gradient
penalty) raise an error, where PyTorch's own batch norm supports them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ._checks import check_number, check_positive_int, check_tensor

__all__ = ["batch_norm", "BatchNormFunction", "BatchNorm", "layer_norm", "LayerNorm"]


def _stat_shape(x: Tensor) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector (C,) against x (N, C, *)."""
    return (1, x.shape[1]) + (1,) * (x.dim() - 2)


def _reduce_dims(x: Tensor) -> tuple[int, ...]:
    """Every dimension except the channel dimension 1."""
    return (0,) + tuple(range(2, x.dim()))


class BatchNormFunction(torch.autograd.Function):
    """Training-mode normalisation ``y = weight * x_hat + bias`` with batch statistics,
    and its backward pass written out by hand (see the batch-norm chapter):

    ``dx = inv_std / m * (m * g - sum(g) - x_hat * sum(g * x_hat))`` with ``g = dy * weight``,
    sums over the m = N * H * W values of each channel. Returns ``(y, mean, biased var)``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, eps: float):
        dims = _reduce_dims(x)
        shape = _stat_shape(x)
        mean = x.mean(dim=dims)  # (C,)
        centred = x - mean.reshape(shape)
        var = (centred * centred).mean(dim=dims)  # (C,) biased: divides by m
        inv_std = 1.0 / torch.sqrt(var + eps)  # (C,)
        x_hat = centred * inv_std.reshape(shape)  # (N, C, *) zero mean, unit variance
        y = x_hat * weight.reshape(shape) + bias.reshape(shape)
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor, _dmean: Tensor, _dvar: Tensor):
        x_hat, inv_std, weight = ctx.saved_tensors
        dims = _reduce_dims(x_hat)
        shape = _stat_shape(x_hat)
        m = x_hat.numel() // x_hat.shape[1]  # values per channel
        dweight = (dy * x_hat).sum(dim=dims)  # (C,)
        dbias = dy.sum(dim=dims)  # (C,)
        g = dy * weight.reshape(shape)  # gradient with respect to x_hat
        g_sum = g.sum(dim=dims).reshape(shape)
        gx_sum = (g * x_hat).sum(dim=dims).reshape(shape)
        dx = (inv_std.reshape(shape) / m) * (m * g - g_sum - x_hat * gx_sum)
        return dx, dweight, dbias, None


def _check_vector(v: Tensor | None, fn: str, name: str, channels: int) -> None:
    if v is None:
        return
    check_tensor(v, fn, name)
    if v.shape != (channels,):
        raise ValueError(
            f"{fn}: {name} must have shape ({channels},), one value per channel, got {tuple(v.shape)}"
        )


def batch_norm(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of x: (N, C) or (N, C, H, W) (any (N, C, *)), per channel.

    ``training=True``: normalise with the batch mean and biased variance (backward pass by
    :class:`BatchNormFunction`) and, when given, update ``running_mean`` / ``running_var``
    (shape (C,)) in place with the unbiased variance. ``training=False``: normalise with
    the running estimates. ``weight`` / ``bias`` (C,) default to 1 and 0.
    """
    fn = "batch_norm"
    check_tensor(x, fn, "x")
    if x.dim() < 2:
        raise ValueError(
            f"{fn}: x must have shape (N, C) or (N, C, H, W), got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{fn}: x must be a floating-point tensor, got {x.dtype}")
    c = x.shape[1]
    for name, v in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        _check_vector(v, fn, name, c)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: give both running_mean and running_var, or neither")
    if not isinstance(training, bool):
        raise TypeError(f"{fn}: training must be True or False, got {type(training).__name__}")
    momentum = check_number(momentum, fn, "momentum", lo=0.0, hi=1.0)
    eps = check_number(eps, fn, "eps", lo=0.0, lo_open=True)

    shape = _stat_shape(x)
    w = weight if weight is not None else x.new_ones(c)
    b = bias if bias is not None else x.new_zeros(c)
    if not training:
        if running_mean is None or running_var is None:  # both or neither (checked above)
            raise ValueError(
                f"{fn}: evaluation mode (training=False) needs running_mean and running_var"
            )
        scale = w / torch.sqrt(running_var + eps)  # (C,) an affine map per channel
        return (x - running_mean.reshape(shape)) * scale.reshape(shape) + b.reshape(shape)

    m = x.numel() // c  # values per channel
    if m < 2:
        raise ValueError(
            f"{fn}: training mode needs more than one value per channel to compute a variance, "
            f"got x of shape {tuple(x.shape)}"
        )
    y, mean, var = BatchNormFunction.apply(x, w, b, float(eps))
    if running_mean is not None and running_var is not None:  # both or neither (checked above)
        with torch.no_grad():
            running_mean.mul_(1.0 - momentum).add_(momentum * mean.to(running_mean.dtype))
            unbiased = var * (m / (m - 1))  # the running estimate uses the unbiased variance
            running_var.mul_(1.0 - momentum).add_(momentum * unbiased.to(running_var.dtype))
    return y


class BatchNorm(nn.Module):
    """Layer form of :func:`batch_norm` for (N, C) or (N, C, H, W) inputs: learnable
    ``weight`` (1) and ``bias`` (0) per channel, running estimates as buffers."""

    running_mean: Tensor  # buffers (registered in __init__)
    running_var: Tensor

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "BatchNorm", "num_features")
        self.eps, self.momentum = eps, momentum
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        return batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


def layer_norm(
    x: Tensor,
    normalized_shape: int | tuple[int, ...] | list[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalisation: normalise each example over its last ``len(normalized_shape)``
    dimensions, ``y = weight * (x - mean) / sqrt(var + eps) + bias`` (biased variance).

    ``x``: (*, *normalized_shape); ``weight``, ``bias``: ``normalized_shape``. Unlike batch
    norm, the statistics are per example, so training and evaluation compute the same thing
    and a batch of one works. Equals ``torch.nn.functional.layer_norm``.
    """
    fn = "layer_norm"
    check_tensor(x, fn, "x")
    if isinstance(normalized_shape, int) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (tuple, list, torch.Size)) or not normalized_shape:
        raise TypeError(
            f"{fn}: normalized_shape must be an int or a non-empty tuple of ints, "
            f"got {normalized_shape!r}"
        )
    shape = tuple(check_positive_int(d, fn, "normalized_shape") for d in normalized_shape)
    k = len(shape)
    if x.dim() < k or tuple(x.shape[-k:]) != shape:
        raise ValueError(
            f"{fn}: the last {k} dimensions of x must be {shape}, got x of shape {tuple(x.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            check_tensor(t, fn, name)
            if tuple(t.shape) != shape:
                raise ValueError(f"{fn}: {name} must have shape {shape}, got {tuple(t.shape)}")
    eps = check_number(eps, fn, "eps", lo=0.0, lo_open=True)
    dims = tuple(range(-k, 0))
    mean = x.mean(dim=dims, keepdim=True)  # (*, 1, ..., 1)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)  # biased, as torch
    y = (x - mean) / torch.sqrt(var + eps)  # (*, *normalized_shape)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


class LayerNorm(nn.Module):
    """``nn.LayerNorm`` built on :func:`layer_norm` (learned ``weight`` = 1, ``bias`` = 0)."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape))

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
