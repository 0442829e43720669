"""Training deep networks: deep MLPs with a chosen initialisation, a residual MLP of the
same depth, and two measurements of what happens inside them (per-layer gradient norms
for one batch, and how far each layer's weights moved from their initial values).

Layers are counted as the ``nn.Linear`` modules of a model, in the order they are
registered, which for the models here is the order the forward pass uses them.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_number, check_positive_int, check_tensor, model_device
from .introspection import capture_outputs
from .models import ACTIVATIONS, mlp

__all__ = [
    "INITS",
    "init_std",
    "init_linear_",
    "deep_mlp",
    "ResidualBlock",
    "ResidualMLP",
    "residual_mlp",
    "linear_layers",
    "layer_gradient_norms",
    "weight_snapshot",
    "weight_change",
    "benchmark",
]

INITS = ("naive", "xavier", "he")


def init_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the zero-mean Gaussian weights of one layer.

    naive: ``1/sqrt(3 fan_in)`` (the variance of the old heuristic U(-1/sqrt(fan_in),
    1/sqrt(fan_in)), still torch's default for ``nn.Linear``); xavier (Glorot & Bengio
    2010): ``sqrt(2 / (fan_in + fan_out))``; he (He et al. 2015): ``sqrt(2 / fan_in)``.
    """
    if scheme not in INITS:
        raise ValueError(f"init_std: scheme must be one of {INITS}, got {scheme!r}")
    check_positive_int(fan_in, "init_std", "fan_in")
    check_positive_int(fan_out, "init_std", "fan_out")
    if scheme == "naive":
        return 1.0 / math.sqrt(3.0 * fan_in)
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    return math.sqrt(2.0 / fan_in)


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def init_linear_(
    model: ModuleT, scheme: str = "he", generator: torch.Generator | None = None
) -> ModuleT:
    """Re-initialise, in place, every ``nn.Linear`` in ``model``: weights W ~ N(0, std^2)
    with ``std = init_std(scheme, fan_in, fan_out)``, biases zero. Returns ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"init_linear_: model must be a torch.nn.Module, got {type(model).__name__}"
        )
    if scheme not in INITS:
        raise ValueError(f"init_linear_: scheme must be one of {INITS}, got {scheme!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"init_linear_: generator must be a torch.Generator, got {type(generator).__name__}"
        )
    layers = linear_layers(model)
    if not layers:
        raise ValueError("init_linear_: model has no nn.Linear layers to initialise")
    with torch.no_grad():
        for layer in layers:
            std = init_std(scheme, layer.in_features, layer.out_features)
            w = torch.randn(layer.weight.shape, generator=generator, dtype=layer.weight.dtype)
            layer.weight.copy_(w * std)  # (out, in)
            if layer.bias is not None:
                layer.bias.zero_()
    return model


def _check_sizes(
    fn: str, in_features: int, width: int, depth: int, out_features: int, activation: str, init: str
) -> None:
    check_positive_int(in_features, fn, "in_features")
    check_positive_int(width, fn, "width")
    check_positive_int(depth, fn, "depth")
    check_positive_int(out_features, fn, "out_features")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{fn}: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
        )
    if init not in INITS:
        raise ValueError(f"{fn}: init must be one of {INITS}, got {init!r}")


def deep_mlp(
    in_features: int,
    width: int,
    depth: int,
    out_features: int,
    activation: str = "relu",
    init: str = "he",
    generator: torch.Generator | None = None,
    flatten: bool = True,
) -> nn.Sequential:
    """A plain MLP with ``depth`` hidden layers of ``width`` units (``depth + 1`` Linear
    layers): ``in -> width -> ... -> width -> out``, initialised with ``init``."""
    _check_sizes("deep_mlp", in_features, width, depth, out_features, activation, init)
    model = mlp(
        [in_features] + [width] * depth + [out_features], activation=activation, flatten=flatten
    )
    return init_linear_(model, init, generator)


class ResidualBlock(nn.Module):
    """``h -> h + W act(h) + b`` for ``h`` of shape (N, width) (pre-activation residual
    block, He et al. 2016): the identity path carries the signal and its gradient."""

    def __init__(self, width: int, activation: str = "relu") -> None:
        super().__init__()
        self.act = ACTIVATIONS[activation]()
        self.linear = nn.Linear(width, width)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.linear(self.act(h))


class ResidualMLP(nn.Module):
    """An MLP with skip connections and the same Linear layers as :func:`deep_mlp`:
    stem ``Linear(in, width)``, ``depth - 1`` :class:`ResidualBlock`, then act and
    ``Linear(width, out)``. (N, in) or (N, ...) -> (N, out)."""

    def __init__(
        self,
        in_features: int,
        width: int,
        depth: int,
        out_features: int,
        activation: str = "relu",
        flatten: bool = True,
    ) -> None:
        super().__init__()
        _check_sizes("ResidualMLP", in_features, width, depth, out_features, activation, "he")
        self.flatten = nn.Flatten() if flatten else nn.Identity()
        self.stem = nn.Linear(in_features, width)
        self.blocks = nn.Sequential(*[ResidualBlock(width, activation) for _ in range(depth - 1)])
        self.act = ACTIVATIONS[activation]()
        self.head = nn.Linear(width, out_features)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(self.flatten(x))  # (N, width)
        h = self.blocks(h)  # (N, width), each block adds a correction to h
        return self.head(self.act(h))  # (N, out)


def residual_mlp(
    in_features: int,
    width: int,
    depth: int,
    out_features: int,
    activation: str = "relu",
    init: str = "he",
    generator: torch.Generator | None = None,
    flatten: bool = True,
    branch_scale: float | None = None,
) -> ResidualMLP:
    """:class:`ResidualMLP` with the Linear layers of :func:`deep_mlp` (same shapes, same
    parameter count) initialised with ``init``; the weights inside the residual branches
    are then multiplied by ``branch_scale`` (default ``1/sqrt(depth)``), so that the sum of
    ``depth - 1`` branches cannot blow up the signal: with He init and ReLU each branch adds
    ``branch_scale**2`` times the variance of ``h``, so Var(h) grows by at most
    ``(1 + 1/depth)**depth < e`` instead of ``2**(depth - 1)`` with ``branch_scale=1``."""
    _check_sizes("residual_mlp", in_features, width, depth, out_features, activation, init)
    if branch_scale is None:
        branch_scale = 1.0 / math.sqrt(depth)
    branch_scale = check_number(branch_scale, "residual_mlp", "branch_scale", lo=0.0)
    model = ResidualMLP(in_features, width, depth, out_features, activation, flatten)
    init_linear_(model, init, generator)
    with torch.no_grad():
        for block in model.blocks:
            cast(ResidualBlock, block).linear.weight.mul_(branch_scale)
    return model


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` modules of ``model`` in registration (= forward) order."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"linear_layers: model must be a torch.nn.Module, got {type(model).__name__}"
        )
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def layer_gradient_norms(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
    wrt: str = "weight",
) -> Tensor:
    """Frobenius norm, per Linear layer, of the gradient of ``loss_fn(model(x), y)``
    (one batch) with respect to the layer's weight (``wrt="weight"``: dL/dW_l, shape of W)
    or its output (``wrt="output"``: dL/dz_l, shape (N, out), the back-propagated signal).
    Returns a float64 CPU tensor of shape (L,). ``.grad`` of the parameters is not touched."""
    layers = linear_layers(model)
    if not layers:
        raise ValueError("layer_gradient_norms: model has no nn.Linear layers")
    check_tensor(x, "layer_gradient_norms", "x")
    check_tensor(y, "layer_gradient_norms", "y")
    if len(x) != len(y):
        raise ValueError(f"layer_gradient_norms: x has {len(x)} rows but y has {len(y)}")
    if len(x) == 0:
        raise ValueError("layer_gradient_norms: x is empty")
    if wrt not in ("weight", "output"):
        raise ValueError(f"layer_gradient_norms: wrt must be 'weight' or 'output', got {wrt!r}")
    device = model_device(model)
    with capture_outputs(layers) as calls:
        loss = loss_fn(model(x.to(device)), y.to(device))
    outputs = [cast(Tensor, call.output) for call in calls]  # nn.Linear returns a tensor
    if wrt == "output" and len(outputs) != len(layers):
        raise ValueError(
            "layer_gradient_norms: each Linear layer must be called exactly once "
            f"per forward pass; {len(layers)} layers made {len(outputs)} calls"
        )
    targets = [layer.weight for layer in layers] if wrt == "weight" else outputs
    grads = torch.autograd.grad(loss, targets, allow_unused=True)
    return torch.tensor(
        [0.0 if g is None else g.detach().double().norm().item() for g in grads],
        dtype=torch.float64,
    )


def weight_snapshot(model: nn.Module) -> list[Tensor]:
    """Detached copies of the weight of every Linear layer (to compare with later)."""
    layers = linear_layers(model)
    if not layers:
        raise ValueError("weight_snapshot: model has no nn.Linear layers")
    return [layer.weight.detach().clone() for layer in layers]


def weight_change(model: nn.Module, snapshot: list[Tensor], relative: bool = True) -> Tensor:
    """Per Linear layer, ``||W_now - W_then||_F``, divided by ``||W_then||_F`` when
    ``relative``: how far training moved each layer. Returns float64 CPU, shape (L,)."""
    layers = linear_layers(model)
    if not isinstance(snapshot, (list, tuple)):
        raise TypeError(
            f"weight_change: snapshot must be a list of tensors from weight_snapshot, "
            f"got {type(snapshot).__name__}"
        )
    if len(snapshot) != len(layers):
        raise ValueError(
            f"weight_change: snapshot has {len(snapshot)} tensors but the model has "
            f"{len(layers)} Linear layers"
        )
    changes = []
    for i, (layer, w0) in enumerate(zip(layers, snapshot, strict=True)):
        check_tensor(w0, "weight_change", f"snapshot[{i}]")
        if w0.shape != layer.weight.shape:
            raise ValueError(
                f"weight_change: snapshot[{i}] has shape {tuple(w0.shape)} but layer {i} "
                f"has weight shape {tuple(layer.weight.shape)}"
            )
        w = layer.weight.detach().double().cpu()
        w0 = w0.detach().double().cpu()
        change = (w - w0).norm()
        changes.append((change / w0.norm() if relative else change).item())
    return torch.tensor(changes, dtype=torch.float64)


def benchmark(
    fn: Callable[[], object],
    device: torch.device | str | None = None,
    repeats: int = 5,
    warmup: int = 1,
) -> float:
    """Median wall-clock seconds of one call of ``fn()``, after ``warmup`` untimed calls.
    On a CUDA ``device`` it waits for the GPU to finish before reading the clock."""
    if not callable(fn):
        raise TypeError(f"benchmark: fn must be callable, got {type(fn).__name__}")
    check_positive_int(repeats, "benchmark", "repeats")
    check_positive_int(warmup, "benchmark", "warmup", minimum=0)
    device = torch.device("cpu") if device is None else torch.device(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
