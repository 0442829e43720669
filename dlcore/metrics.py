"""Metrics and losses: what a model's outputs are scored with.

Every function here checks its inputs and refuses shapes that would silently broadcast:
``accuracy`` for classifiers (and sequences), the sequence losses and accuracies of the
recurrent and attention chapters, reconstruction error and loss for autoencoders, and the
multi-task loss and per-head accuracy for :class:`dlcore.representations.MultiHead`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_number, check_tensor

__all__ = [
    "accuracy",
    "token_accuracy",
    "sequence_accuracy",
    "sequence_cross_entropy",
    "reconstruction_error",
    "reconstruction_loss",
    "multitask_loss",
    "head_accuracy",
]


def _check_scores(
    fn: str, outputs: object, targets: object, *, min_dim: int = 2, layout: str = "(N, C)"
) -> tuple[Tensor, Tensor]:
    """Scores (..., C) and integer labels of shape scores.shape[:-1], non-empty; else a clear error."""
    if not isinstance(outputs, Tensor) or not isinstance(targets, Tensor):
        raise TypeError(
            f"{fn}: outputs and targets must be tensors, got "
            f"{type(outputs).__name__} and {type(targets).__name__}"
        )
    if outputs.dim() < min_dim:
        raise ValueError(
            f"{fn}: outputs must have shape {layout} with a class dimension last, "
            f"got shape {tuple(outputs.shape)}"
        )
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(
            f"{fn}: targets must be integer class labels, got {targets.dtype}"
            " (one-hot targets: use targets.argmax(dim=-1))"
        )
    if tuple(targets.shape) != tuple(outputs.shape[:-1]):
        raise ValueError(
            f"{fn}: targets of shape {tuple(targets.shape)} do not match outputs "
            f"of shape {tuple(outputs.shape)}; expected targets of shape "
            f"{tuple(outputs.shape[:-1])}"
        )
    if targets.numel() == 0:
        raise ValueError(f"{fn}: the batch is empty (shape {tuple(targets.shape)})")
    return outputs, targets


def accuracy(outputs: Tensor, targets: Tensor) -> float:
    """Fraction of rows whose arg-max output equals the integer target.

    ``outputs``: (N, C) scores (or (N, T, C) for sequences); ``targets``: (N,) (or (N, T))
    integer class labels. Shapes that would silently broadcast are refused.
    """
    _check_scores("accuracy", outputs, targets)
    return (outputs.argmax(dim=-1) == targets).float().mean().item()


def token_accuracy(logits: Tensor, targets: Tensor) -> float:
    """Fraction of positions predicted correctly: logits (N, L, C), targets (N, L)."""
    _check_scores("token_accuracy", logits, targets, min_dim=3, layout="(N, L, C)")
    return (logits.argmax(dim=-1) == targets).float().mean().item()


def sequence_accuracy(logits: Tensor, targets: Tensor) -> float:
    """Fraction of sequences with every position correct: logits (N, L, C), targets (N, L)."""
    _check_scores("sequence_accuracy", logits, targets, min_dim=3, layout="(N, L, C)")
    return (logits.argmax(dim=-1) == targets).flatten(1).all(dim=1).float().mean().item()


def sequence_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy over every position: logits (N, L, C), targets (N, L)."""
    _check_scores("sequence_cross_entropy", logits, targets, min_dim=3, layout="(N, L, C)")
    return F.cross_entropy(logits.flatten(0, -2), targets.flatten())


def _check_pair(fn: str, a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    check_tensor(a, fn, name_a)
    check_tensor(b, fn, name_b)
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: {name_a} has shape {tuple(a.shape)} but {name_b} has {tuple(b.shape)}"
        )
    if a.numel() == 0:
        raise ValueError(f"{fn}: {name_a} is empty")


def reconstruction_error(x: Tensor, x_hat: Tensor) -> float:
    """Mean squared error per example, summed over features: mean_n ||x_n - x_hat_n||^2."""
    _check_pair("reconstruction_error", x, x_hat, "x", "x_hat")
    diff = (x - x_hat).flatten(1) if x.dim() > 1 else (x - x_hat).unsqueeze(1)
    return diff.pow(2).sum(dim=1).mean().item()


def reconstruction_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """The training loss behind :func:`reconstruction_error`, as a differentiable tensor.

    Argument order is (output, target), the order ``dl.fit`` calls its ``loss_fn`` with.
    """
    _check_pair("reconstruction_loss", x_hat, x, "x_hat", "x")
    return (x_hat - x).pow(2).flatten(1).sum(dim=1).mean()


def _head_sizes(fn: str, head_sizes: object) -> list[int]:
    if (
        isinstance(head_sizes, (str, bytes))
        or not isinstance(head_sizes, Sequence)
        or not head_sizes
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in head_sizes)
    ):
        raise ValueError(
            f"{fn}: head_sizes must be a non-empty sequence of positive ints, got {head_sizes!r}"
        )
    return list(head_sizes)


def _split(fn: str, logits: Tensor, targets: Tensor, sizes: list[int]) -> tuple[Tensor, ...]:
    check_tensor(logits, fn, "logits")
    check_tensor(targets, fn, "targets")
    if logits.dim() != 2 or logits.shape[-1] != sum(sizes):
        raise ValueError(
            f"{fn}: logits must be (N, {sum(sizes)}) for heads {sizes}, "
            f"got shape {tuple(logits.shape)}"
        )
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError(
            f"{fn}: targets must be integer labels (-1 = unlabelled), got {targets.dtype}"
        )
    return torch.split(logits, sizes, dim=-1)


def multitask_loss(
    head_sizes: Sequence[int], weights: Sequence[float] | None = None
) -> Callable[[Tensor, Tensor], Tensor]:
    """A loss for :class:`MultiHead`: sum_t weight_t * cross_entropy(head_t, y[:, t]).

    Targets are (N, tasks) int64; a label of -1 means "unlabelled for this task" and is
    skipped. A batch with no label for any weighted head gives a zero loss that still
    back-propagates (zero gradients), so ``dl.fit`` can train on through it.
    """
    fn = "multitask_loss"
    sizes = _head_sizes(fn, head_sizes)
    w = [1.0] * len(sizes) if weights is None else list(weights)
    if len(w) != len(sizes):
        raise ValueError(f"{fn}: {len(w)} weights for {len(sizes)} heads")
    w = [check_number(value, fn, f"each of weights (got {w})", lo=0.0) for value in w]

    def loss(logits: Tensor, targets: Tensor) -> Tensor:
        outs = _split(fn, logits, targets, sizes)
        if targets.dim() != 2 or tuple(targets.shape) != (logits.shape[0], len(sizes)):
            raise ValueError(
                f"{fn}: targets must be (N, {len(sizes)}) = ({logits.shape[0]}, "
                f"{len(sizes)}), got {tuple(targets.shape)}"
            )
        total = logits.sum() * 0.0  # zero, but on the graph: an unlabelled batch still backprops
        for t, (out, wt) in enumerate(zip(outs, w, strict=True)):
            labels = targets[:, t]
            if bool((labels >= sizes[t]).any()) or bool((labels < -1).any()):
                raise ValueError(
                    f"{fn}: labels of task {t} must be in [0, {sizes[t]}) or -1, "
                    f"got values from {labels.min().item()} to {labels.max().item()}"
                )
            if wt and bool((labels >= 0).any()):
                total = total + wt * F.cross_entropy(out, labels, ignore_index=-1)
        return total

    return loss


def head_accuracy(head_sizes: Sequence[int], head: int = 0) -> Callable[[Tensor, Tensor], float]:
    """A metric for :class:`MultiHead`: accuracy of head ``head`` on the labelled rows (NaN
    when no row of the batch is labelled for that head)."""
    fn = "head_accuracy"
    sizes = _head_sizes(fn, head_sizes)
    if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < len(sizes):
        raise ValueError(f"{fn}: head must be an int in [0, {len(sizes)}), got {head!r}")

    def metric(logits: Tensor, targets: Tensor) -> float:
        out = _split(fn, logits, targets, sizes)[head]
        y = targets[:, head] if targets.dim() == 2 else targets
        if tuple(y.shape) != (logits.shape[0],):
            raise ValueError(
                f"{fn}: targets must be (N,) or (N, {len(sizes)}) with N = "
                f"{logits.shape[0]}, got {tuple(targets.shape)}"
            )
        mask = y >= 0
        if not bool(mask.any()):
            return float("nan")
        return (out[mask].argmax(dim=-1) == y[mask]).float().mean().item()

    return metric
