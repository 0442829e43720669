"""The training loop every chapter uses: any model, loss and optimiser, on any device.

``fit`` returns a :class:`History` with one entry per epoch (losses, metric, seconds).
Progress is a single line that updates in place in Jupyter (and is stored once, in
its final state, in the built HTML); outside Jupyter it prints one line per epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .device import get_device
from .seeding import make_generator

__all__ = ["History", "fit", "evaluate", "predict", "accuracy", "count_parameters"]

Metric = Callable[[Tensor, Tensor], float]


def accuracy(outputs: Tensor, targets: Tensor) -> float:
    """Fraction of rows whose arg-max output equals the integer target."""
    return (outputs.argmax(dim=-1) == targets).float().mean().item()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class History:
    """Per-epoch record of a training run (``test_*`` are NaN when no test data was given)."""

    metric_name: str = "accuracy"
    train_loss: list[float] = field(default_factory=list)
    train_metric: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_metric: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # wall time of each epoch

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    def __repr__(self) -> str:
        if not self.epochs:
            return "History(empty)"
        return (
            f"History({self.epochs} epochs, final train loss {self.train_loss[-1]:.4f}, "
            f"test {self.metric_name} {self.test_metric[-1]:.4f}, {self.total_seconds:.1f} s)"
        )


def _as_pair(data: object, argument: str) -> tuple[Tensor, Tensor]:
    if hasattr(data, "x_train") and hasattr(data, "y_train"):
        raise TypeError(
            f"fit: {argument} must be a pair (x, y); for a dlcore Dataset pass "
            f"dataset.train or dataset.test"
        )
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"fit: {argument} must be a pair (x, y) of tensors, got {type(data).__name__}")
    x, y = data
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"fit: {argument} must hold two tensors, got {type(x).__name__}, {type(y).__name__}")
    if len(x) != len(y):
        raise ValueError(f"fit: {argument} has {len(x)} inputs but {len(y)} targets")
    if len(x) == 0:
        raise ValueError(f"fit: {argument} is empty")
    return x, y


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Model outputs for ``x`` in eval mode, in batches, returned on the CPU."""
    device = _model_device(model)
    was_training = model.training
    model.eval()
    try:
        outs = [model(x[i: i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
    metric: Metric | None = accuracy,
    batch_size: int = 1024,
) -> tuple[float, float]:
    """Mean loss and mean metric over ``data`` (eval mode, no gradients)."""
    x, y = _as_pair(data, "data")
    device = _model_device(model)
    was_training = model.training
    model.eval()
    total_loss, total_metric = 0.0, 0.0
    try:
        for i in range(0, len(x), batch_size):
            xb, yb = x[i: i + batch_size].to(device), y[i: i + batch_size].to(device)
            out = model(xb)
            total_loss += loss_fn(out, yb).item() * len(xb)
            if metric is not None:
                total_metric += metric(out, yb) * len(xb)
    finally:
        model.train(was_training)
    n = len(x)
    return total_loss / n, (total_metric / n if metric is not None else float("nan"))


def fit(
    model: nn.Module,
    train: tuple[Tensor, Tensor],
    *,
    epochs: int = 10,
    batch_size: int = 64,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
    metric: Metric | None = accuracy,
    metric_name: str = "accuracy",
    test: tuple[Tensor, Tensor] | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    augment: Callable[[Tensor], Tensor] | None = None,
    clip_grad_norm: float | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` on ``train = (x, y)`` with mini-batch gradient steps.

    Each epoch visits the training set once in a random order drawn from ``seed``
    (plus ``$DLCORE_SEED``). ``optimizer`` defaults to Adam with lr 1e-3. ``augment``
    transforms each input batch (training only). The model is moved to ``device``
    (default: :func:`dlcore.get_device`). Returns the per-epoch :class:`History`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"fit: model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive int, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"fit: batch_size must be a positive int, got {batch_size!r}")
    x, y = _as_pair(train, "train")
    test_pair = _as_pair(test, "test") if test is not None else None

    device = get_device() if device is None else torch.device(device)
    model.to(device)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = x.to(device), y.to(device)
    gen = make_generator(seed)
    history = History(metric_name=metric_name)
    bar = _Progress(epochs, metric_name) if progress else None

    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x), generator=gen).to(device)
        seen, loss_sum, metric_sum = 0, 0.0, 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i: i + batch_size]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb)
            out = model(xb)
            loss = loss_fn(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            if metric is not None:
                metric_sum += metric(out.detach(), yb) * len(idx)
            seen += len(idx)
        if scheduler is not None:
            scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        history.train_loss.append(loss_sum / seen)
        history.train_metric.append(metric_sum / seen if metric is not None else float("nan"))
        if test_pair is not None:
            t_loss, t_metric = evaluate(model, test_pair, loss_fn, metric)
        else:
            t_loss, t_metric = float("nan"), float("nan")
        history.test_loss.append(t_loss)
        history.test_metric.append(t_metric)
        history.seconds.append(time.perf_counter() - start)
        if bar is not None:
            bar.update(history)
    return history


class _Progress:
    """One status line: updated in place in Jupyter, one printed line per epoch elsewhere."""

    def __init__(self, epochs: int, metric_name: str) -> None:
        self.epochs = epochs
        self.metric_name = metric_name
        self.handle = None
        if _in_jupyter():
            from IPython.display import display

            self.handle = display(_ProgressView("starting…", 0.0), display_id=True)

    def update(self, h: History) -> None:
        e = h.epochs
        parts = [f"epoch {e}/{self.epochs}", f"train loss {h.train_loss[-1]:.4f}"]
        if h.train_metric[-1] == h.train_metric[-1]:  # not NaN
            parts.append(f"train {self.metric_name} {h.train_metric[-1]:.3f}")
        if h.test_loss[-1] == h.test_loss[-1]:
            parts.append(f"test loss {h.test_loss[-1]:.4f}")
        if h.test_metric[-1] == h.test_metric[-1]:
            parts.append(f"test {self.metric_name} {h.test_metric[-1]:.3f}")
        parts.append(f"{h.total_seconds:.1f} s")
        line = " · ".join(parts)
        if self.handle is not None:
            self.handle.update(_ProgressView(line, e / self.epochs))
        else:
            print(line, flush=True)


class _ProgressView:
    def __init__(self, line: str, fraction: float) -> None:
        self.line, self.fraction = line, fraction

    def __repr__(self) -> str:
        filled = int(round(20 * self.fraction))
        return f"[{'#' * filled}{'.' * (20 - filled)}] {self.line}"

    def _repr_html_(self) -> str:
        pct = int(round(100 * self.fraction))
        return (
            f'<div class="dlcore-progress" style="font-family:monospace;font-size:0.85em">'
            f'<progress value="{pct}" max="100" style="width:10em;vertical-align:middle" '
            f'aria-label="training progress"></progress> {self.line}</div>'
        )


def _in_jupyter() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
