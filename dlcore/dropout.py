"""Dropout from tensor primitives, and the two ways of predicting with a dropout net.

Inverted dropout (the form every library uses): during training each element is kept
with probability ``1 - p`` and the survivors are scaled by ``1 / (1 - p)``,
``out = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``, so ``E[out] = x``; at test time
the layer is the identity. Also here: Monte-Carlo averaging of sampled sub-networks,
the max-norm constraint, and the ridge regression that input dropout amounts to.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._checks import check_ndim, check_number, check_positive_int, check_probability, check_tensor

__all__ = ["dropout", "Dropout", "mc_dropout_predict", "max_norm_", "dropout_ridge"]


def dropout(
    x: Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    """Inverted dropout. x: any shape, floating point; returns the same shape.

    Training: ``x * m / (1 - p)`` with an independent ``m ~ Bernoulli(1 - p)`` per element,
    drawn from ``generator`` when given. Not training (or ``p == 0``): ``x`` itself.
    """
    fn = "dropout"
    check_tensor(x, fn, "x")
    p = check_probability(p, fn, "p (the probability of dropping a unit)")
    if not isinstance(training, bool):
        raise TypeError(f"dropout: training must be True or False, got {type(training).__name__}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"dropout: generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(f"dropout: x must be a floating-point tensor, got {x.dtype}")
    if not training or p == 0.0:
        return x
    # uniform numbers drawn where the generator lives, then moved next to x
    where = generator.device if generator is not None else x.device
    u = torch.rand(x.shape, generator=generator, device=where, dtype=x.dtype).to(x.device)
    keep = (u >= p).to(x.dtype)  # 1 with probability 1 - p, else 0
    return x * keep / (1.0 - p)


class Dropout(nn.Module):
    """Layer form of :func:`dropout`: active in ``train()`` mode, the identity in ``eval()``."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability(p, "Dropout", "p (the probability of dropping a unit)")
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _is_dropout(module: nn.Module) -> bool:
    return isinstance(module, (Dropout, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d))


@torch.no_grad()
def mc_dropout_predict(model: nn.Module, x: Tensor, samples: int = 100) -> Tensor:
    """Average of ``softmax(model(x))`` over ``samples`` sampled sub-networks.

    Only the dropout layers are put in training mode (every other layer, e.g. batch
    norm, stays in eval mode); x: (N, ...) on the model's device; returns (samples, N, K)
    probabilities on the CPU, so callers can average the first k for any k.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"mc_dropout_predict: model must be a torch.nn.Module, got {type(model).__name__}"
        )
    check_tensor(x, "mc_dropout_predict", "x")
    check_positive_int(samples, "mc_dropout_predict", "samples")
    modes = {m: m.training for m in model.modules()}
    droppers = [m for m in model.modules() if _is_dropout(m)]
    if not droppers:
        raise ValueError(
            "mc_dropout_predict: model has no dropout layer, so every sample would be the same"
        )
    model.eval()
    for m in droppers:
        m.train()
    try:
        probs = torch.stack([model(x).softmax(dim=-1).cpu() for _ in range(samples)])
    finally:
        for m, mode in modes.items():
            m.training = mode
    return probs


@torch.no_grad()
def max_norm_(model: nn.Module, max_norm: float) -> None:
    """Max-norm constraint, in place: rescale every row of every ``nn.Linear`` weight
    (the incoming weights of one unit) whose Euclidean norm exceeds ``max_norm``."""
    max_norm = check_number(max_norm, "max_norm_", "max_norm", lo=0.0, lo_open=True, allow_inf=True)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            norms = m.weight.norm(dim=1, keepdim=True)  # (out, 1)
            m.weight.mul_(torch.clamp(max_norm / norms.clamp_min(1e-12), max=1.0))


def dropout_ridge(x: Tensor, y: Tensor, p: float) -> Tensor:
    """The weights that minimise the *expected* squared loss of linear regression with
    inverted dropout (rate ``p``) on the inputs: ridge regression with a data-dependent
    penalty, ``w = (X^T X + p/(1-p) diag(X^T X))^{-1} X^T y``. x: (N, D), y: (N,); returns (D,)."""
    fn = "dropout_ridge"
    check_ndim(x, fn, "x", 2, "(N, D)")
    check_ndim(y, fn, "y", 1, "(N,)")
    if len(x) != len(y):
        raise ValueError(f"{fn}: x has {len(x)} rows but y has {len(y)} targets")
    p = check_probability(p, fn, "p (the probability of dropping a unit)")
    gram = x.T @ x  # (D, D)
    penalty = p / (1.0 - p) * torch.diag(torch.diagonal(gram))
    return torch.linalg.solve(gram + penalty, x.T @ y)
