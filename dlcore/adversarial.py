"""Optimising the input instead of the weights: adversarial attacks and class visualisation.

Attacks (inputs in [0, 1]; ``L`` is the summed cross-entropy of labels ``y``):

- ``fgsm``: one step ``x' = clip_[0,1](x + eps * sign(dL/dx))`` (Goodfellow et al. 2015).
- ``pgd``: repeated signed steps, each projected back onto the L-inf ball
  ``|x' - x| <= eps`` and onto [0, 1] (Kurakin et al. 2017; Madry et al. 2018);
  ``targeted=True`` *lowers* the loss of the target classes ``y`` instead.

Gradient ascent on the input (Simonyan et al. 2014; Mordvintsev et al. 2015):

- ``ascend``: the loop with the usual regularisers (jitter, blur, L2 penalty, clamping).
- ``class_visualization``: ascend a class score starting from noise.
- ``dream``: ascend the energy of one layer's activations starting from a real input.

Every function runs the model in eval mode and restores the mode it found; gradients are
taken with ``torch.autograd.grad``, so the model's parameter ``.grad`` fields are untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import (
    check_module,
    check_number,
    check_positive_int,
    check_tensor,
    eval_mode,
    model_device,
)
from .introspection import capture_outputs
from .transforms import _spatial_dims, gaussian_blur

__all__ = [
    "input_gradient",
    "fgsm",
    "pgd",
    "AscentConfig",
    "ascend",
    "class_visualization",
    "dream",
]

_RANGE_TOL = 1e-6  # inputs may overshoot [0, 1] by float rounding, not more


# ----------------------------------------------------------------------------- checks


def _check_xy(fn: str, x: Tensor, y: Tensor, unit_range: bool = True) -> tuple[Tensor, Tensor]:
    check_tensor(x, fn, "x")
    check_tensor(y, fn, "y")
    if x.dim() < 2:
        raise ValueError(
            f"{fn}: x must be a batch (N, ...) with at least 2 dimensions, "
            f"got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{fn}: x must be a floating-point tensor, got {x.dtype}")
    if y.dim() != 1 or y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(
            f"{fn}: y must be a 1-D tensor of integer class labels, "
            f"got {y.dtype} with shape {tuple(y.shape)}"
        )
    if len(x) != len(y):
        raise ValueError(f"{fn}: x has {len(x)} examples but y has {len(y)} labels")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{fn}: x holds NaN or infinite values")
    if unit_range and x.numel() and (x.min() < -_RANGE_TOL or x.max() > 1 + _RANGE_TOL):
        raise ValueError(
            f"{fn}: x must lie in [0, 1] (the book scales inputs to [0, 1]), got values in "
            f"[{x.min().item():.3g}, {x.max().item():.3g}]; rescale the data first"
        )
    return x, y


# ----------------------------------------------------------------------------- attacks


def _grad_of_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """dL/dx with L the *summed* cross-entropy, so each row's gradient is its own example's."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)  # touches no parameter's .grad
    return grad


def input_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Gradient of the cross-entropy of labels ``y`` w.r.t. the input: (N, ...) like ``x``.

    Row ``i`` is ``d CE(model(x)_i, y_i) / d x_i``. The model runs in eval mode.
    """
    fn = "input_gradient"
    check_module(model, fn)
    x, y = _check_xy(fn, x, y, unit_range=False)
    device = model_device(model, x.device)
    with eval_mode(model):
        return _grad_of_loss(model, x.to(device), y.to(device))


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Fast gradient sign method: ``clip_[0,1](x + eps * sign(d CE(model(x), y) / dx))``.

    x: (N, ...) in [0, 1]; y: (N,) labels whose loss the step raises. Returns a detached
    tensor shaped like ``x`` with ``|x' - x| <= eps`` everywhere.
    """
    fn = "fgsm"
    check_module(model, fn)
    x, y = _check_xy(fn, x, y)
    eps = check_number(eps, fn, "eps", lo=0.0)
    device = model_device(model, x.device)
    x, y = x.to(device), y.to(device)
    with eval_mode(model):
        grad = _grad_of_loss(model, x, y)
    return (x + eps * grad.sign()).clamp(0.0, 1.0).detach()


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int,
    step_size: float,
    targeted: bool = False,
    generator: torch.Generator | None = None,
    random_start: bool = True,
) -> Tensor:
    """Projected gradient descent in the L-inf ball: ``steps`` signed steps of ``step_size``.

    Untargeted: each step raises the cross-entropy of the true labels ``y``. Targeted: ``y``
    holds the wanted classes and each step lowers their cross-entropy. After every step the
    input is projected onto ``[x - eps, x + eps]`` and onto [0, 1]. With ``random_start``
    the search starts at a uniform random point of the ball (drawn from ``generator``).
    Returns a detached tensor shaped like ``x``.
    """
    fn = "pgd"
    check_module(model, fn)
    x, y = _check_xy(fn, x, y)
    eps = check_number(eps, fn, "eps", lo=0.0)
    step_size = check_number(step_size, fn, "step_size", lo=0.0, lo_open=True)
    check_positive_int(steps, fn, "steps")
    if not isinstance(targeted, bool):
        raise TypeError(f"{fn}: targeted must be True or False, got {type(targeted).__name__}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{fn}: generator must be a torch.Generator, got {type(generator).__name__}"
        )
    device = model_device(model, x.device)
    x, y = x.to(device), y.to(device)
    lo, hi = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)  # the feasible box, per pixel
    x_adv = x.clone()
    if random_start and eps > 0:
        where = generator.device if generator is not None else torch.device("cpu")
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=where).to(device)
        x_adv = torch.max(torch.min(x + eps * (2 * noise - 1), hi), lo)
    direction = -1.0 if targeted else 1.0  # descend the target's loss, ascend the true one's
    with eval_mode(model):
        for _ in range(steps):
            grad = _grad_of_loss(model, x_adv, y)
            x_adv = x_adv + direction * step_size * grad.sign()
            x_adv = torch.max(torch.min(x_adv, hi), lo)  # project: eps-ball and [0, 1] at once
    return x_adv.detach()


# ----------------------------------------------------------------------------- ascent on the input


@dataclass
class AscentConfig:
    """Settings of gradient ascent on the input (class visualisation, dreams).

    Each step moves the input by ``lr`` in root-mean-square per example (the gradient is
    normalised), so ``lr`` is in input units whatever the size of the score.
    """

    steps: int = 100
    lr: float = 0.05
    l2: float = 0.0  # penalty l2 * ||x||^2 subtracted from the score
    jitter: int = 0  # random circular shift of up to +-jitter pixels per step
    blur_sigma: float = 0.0  # Gaussian blur (pixels) of the input every blur_every steps
    blur_every: int = 1
    clamp: tuple[float, float] | None = None  # keep the input in [lo, hi] after every step


def ascend(
    objective: Callable[[Tensor], Tensor],
    x0: Tensor,
    config: AscentConfig | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gradient *ascent* on the input: maximise ``objective(x) - l2 * ||x||^2`` per example.

    ``objective`` maps a batch (N, ...) to N scores. Each step: shift by a random jitter,
    take the normalised gradient step, then blur and clamp as ``config`` says. Returns the
    final (detached) input, shaped like ``x0``.
    """
    fn = "ascend"
    if not callable(objective):
        raise TypeError(f"{fn}: objective must be callable, got {type(objective).__name__}")
    check_tensor(x0, fn, "x0")
    if x0.dim() < 2 or not x0.is_floating_point():
        raise ValueError(
            f"{fn}: x0 must be a floating-point batch (N, ...), got {x0.dtype} "
            f"with shape {tuple(x0.shape)}"
        )
    cfg = AscentConfig() if config is None else config
    if not isinstance(cfg, AscentConfig):
        raise TypeError(f"{fn}: config must be an AscentConfig, got {type(cfg).__name__}")
    check_positive_int(cfg.steps, fn, "config.steps")
    check_positive_int(cfg.blur_every, fn, "config.blur_every")
    check_positive_int(cfg.jitter, fn, "config.jitter", minimum=0)
    lr = check_number(cfg.lr, fn, "config.lr", lo=0.0, lo_open=True)
    l2 = check_number(cfg.l2, fn, "config.l2", lo=0.0)
    check_number(cfg.blur_sigma, fn, "config.blur_sigma", lo=0.0)
    if cfg.clamp is not None and not (len(cfg.clamp) == 2 and cfg.clamp[0] < cfg.clamp[1]):
        raise ValueError(
            f"{fn}: config.clamp must be None or a pair (lo, hi) with lo < hi, got {cfg.clamp!r}"
        )
    dims = _spatial_dims(x0)
    x = x0.detach().clone()
    for step in range(cfg.steps):
        x.requires_grad_(True)
        if cfg.jitter > 0:
            shifts = torch.randint(-cfg.jitter, cfg.jitter + 1, (len(dims),), generator=generator)
            seen = torch.roll(x, shifts=tuple(int(s) for s in shifts), dims=dims)
        else:
            seen = x
        scores = objective(seen)
        if scores.shape != (len(x),):
            raise ValueError(
                f"{fn}: objective must return one score per example, shape "
                f"({len(x)},), got {tuple(scores.shape)}"
            )
        total = scores.sum() - l2 * x.pow(2).sum()
        (grad,) = torch.autograd.grad(total, x)
        rms = grad.flatten(1).pow(2).mean(1).sqrt().clamp(min=1e-12)  # (N,)
        with torch.no_grad():
            x = x + lr * grad / rms.view(-1, *([1] * (x.dim() - 1)))
            if cfg.blur_sigma > 0 and (step + 1) % cfg.blur_every == 0:
                x = gaussian_blur(x, cfg.blur_sigma)
            if cfg.clamp is not None:
                x = x.clamp(*cfg.clamp)
    return x.detach()


def class_visualization(
    model: nn.Module,
    classes: Sequence[int] | Tensor,
    x0: Tensor,
    config: AscentConfig | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Inputs that maximise the logit of ``classes[i]``, found by :func:`ascend` from ``x0[i]``.

    x0: (N, ...) starting points (usually noise), one per class; returns (N, ...).
    """
    fn = "class_visualization"
    check_module(model, fn)
    check_tensor(x0, fn, "x0")
    cls = torch.as_tensor(classes, dtype=torch.long).reshape(-1)
    if len(cls) != len(x0):
        raise ValueError(f"{fn}: {len(cls)} classes but x0 has {len(x0)} starting points")
    device = model_device(model, x0.device)
    cls, x0 = cls.to(device), x0.to(device)

    def score(x: Tensor) -> Tensor:
        return model(x).gather(1, cls.view(-1, 1)).squeeze(1)  # (N,) logit of each target

    with eval_mode(model):
        return ascend(score, x0, config, generator)


def dream(
    model: nn.Module,
    layer: nn.Module,
    x: Tensor,
    config: AscentConfig | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A "dream": change ``x`` to raise the mean squared activation of ``layer`` (a submodule
    of ``model``), amplifying whatever that layer already responds to. Returns (N, ...)."""
    fn = "dream"
    check_module(model, fn)
    check_module(layer, fn)
    if not any(m is layer for m in model.modules()):
        raise ValueError(f"{fn}: layer must be a submodule of model")
    check_tensor(x, fn, "x")
    with capture_outputs([layer]) as calls, eval_mode(model):

        def energy(inp: Tensor) -> Tensor:
            calls.clear()
            model(inp)
            out = cast(Tensor, calls[-1].output)  # the layer's output (a tensor)
            return out.flatten(1).pow(2).mean(1)  # (N,)

        return ascend(energy, x.to(model_device(model, x.device)), config, generator)
