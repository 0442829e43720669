"""The training loop every chapter uses: any model, loss and optimiser, on any device.

``fit`` returns a :class:`History` with one entry per epoch (losses, metric, seconds).
Progress is a single line that updates in place in Jupyter (and is stored once, in
its final state, in the built HTML); outside Jupyter it prints one line per epoch.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import (
    check_module,
    check_number,
    check_pair,
    check_positive_int,
    eval_mode,
    model_device,
)
from .device import get_device
from .metrics import accuracy
from .seeding import effective_seed, make_generator

__all__ = ["History", "Evaluation", "fit", "evaluate", "predict", "count_parameters"]

Metric = Callable[[Tensor, Tensor], float]


class Evaluation(NamedTuple):
    """What :func:`evaluate` returns: the mean loss and the mean metric (NaN without a metric).
    A tuple, so ``loss, acc = evaluate(...)`` works too."""

    loss: float
    metric: float


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


def _check_dtypes(model: nn.Module, x: Tensor, y: Tensor, loss_fn: Callable, argument: str) -> None:
    """The two commonest student mistakes, named before they become a torch stack trace."""
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    if param is not None and x.is_floating_point() and x.dtype != param.dtype:
        raise TypeError(
            f"fit: {argument} inputs are {x.dtype} but the model's parameters are "
            f"{param.dtype}; convert one of them (e.g. x.float() or model.double())"
        )
    if loss_fn is F.cross_entropy and y.is_floating_point() and y.dim() == 1:
        raise TypeError(
            f"fit: {argument} targets are {y.dtype}; cross-entropy needs integer class "
            "labels (y.long())"
        )


def _check_labels(out: Tensor, y: Tensor, loss_fn: Callable, argument: str) -> None:
    if loss_fn is not F.cross_entropy or y.is_floating_point() or out.dim() < 2:
        return
    n_classes = out.shape[1]
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= n_classes:
        raise ValueError(
            f"fit: {argument} labels run from {low} to {high}, but the model has "
            f"{n_classes} outputs (labels must lie in 0..{n_classes - 1})"
        )


def _has_batch_norm(model: nn.Module) -> bool:
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) or type(m).__name__ == "BatchNorm"
        for m in model.modules()
    )


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Model outputs for ``x`` in eval mode, in batches, returned on the CPU."""
    check_module(model, "predict")
    if not isinstance(x, Tensor):
        raise TypeError(f"predict: x must be a tensor, got {type(x).__name__}")
    if len(x) == 0:
        raise ValueError("predict: x is empty")
    batch_size = check_positive_int(batch_size, "predict", "batch_size")
    device = model_device(model)
    with eval_mode(model):
        outs = [model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(outs)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
    metric: Metric | None = accuracy,
    batch_size: int = 1024,
) -> Evaluation:
    """Mean loss and mean metric over ``data`` (eval mode, no gradients), each example
    weighing the same whatever the batch size."""
    check_module(model, "evaluate")
    batch_size = check_positive_int(batch_size, "evaluate", "batch_size")
    x, y = check_pair(data, "evaluate", "data")
    device = model_device(model)
    total_loss, total_metric = 0.0, 0.0
    with eval_mode(model):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
            out = model(xb)
            total_loss += loss_fn(out, yb).item() * len(xb)
            if metric is not None:
                total_metric += metric(out, yb) * len(xb)
    n = len(x)
    return Evaluation(total_loss / n, total_metric / n if metric is not None else float("nan"))


def _reinitialise(model: nn.Module, seed: int) -> None:
    """Re-draw every parameter of ``model`` from ``seed`` (global random state left as it was)."""

    def owns_parameters(m: nn.Module) -> bool:
        return any(True for _ in m.parameters(recurse=False))

    missing = [
        name or type(m).__name__
        for name, m in model.named_modules()
        if owns_parameters(m) and not callable(getattr(m, "reset_parameters", None))
    ]
    if missing:
        raise ValueError(
            f"fit: reinit=True needs reset_parameters() on every module with "
            f"parameters; {missing} have none (initialise the model yourself)"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(effective_seed(seed, "fit"))
        for m in model.modules():
            if owns_parameters(m):
                m.reset_parameters()  # type: ignore[operator]


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
    reinit: bool = False,
) -> History:
    """Train ``model`` on ``train = (x, y)`` with mini-batch gradient steps.

    Each epoch visits the training set once in a random order drawn from ``seed``
    (plus ``$DLCORE_SEED``). ``optimizer`` defaults to Adam with lr 1e-3. ``augment``
    transforms each input batch (training only). The model is moved to ``device``
    (default: :func:`dlcore.get_device`). Returns the per-epoch :class:`History`.

    ``reinit=True`` makes the run own all of its randomness: before training, every module
    with parameters is re-initialised (its ``reset_parameters()``) from the same ``seed``,
    so ``fit(model, ..., seed=k, reinit=True)`` gives the same run whatever happened to the
    model and to the global random state before.
    """
    check_module(model, "fit")
    if not isinstance(reinit, bool):
        raise TypeError(f"fit: reinit must be True or False, got {reinit!r}")
    epochs = check_positive_int(epochs, "fit", "epochs")
    batch_size = check_positive_int(batch_size, "fit", "batch_size")
    if clip_grad_norm is not None:
        clip_grad_norm = check_number(clip_grad_norm, "fit", "clip_grad_norm", lo=0.0, lo_open=True)
    x, y = check_pair(train, "fit", "train")
    test_pair = check_pair(test, "fit", "test") if test is not None else None
    _check_dtypes(model, x, y, loss_fn, "train")
    if test_pair is not None:
        _check_dtypes(model, *test_pair, loss_fn, "test")

    if device is None:
        device = get_device()
    elif isinstance(device, str):
        device = get_device(device)  # a clear error for "cuda" without a GPU
    elif isinstance(device, torch.device):
        device = get_device(str(device)) if device.type != "cpu" else device
    else:
        raise TypeError(
            f"fit: device must be a string or torch.device, got {type(device).__name__}"
        )
    if reinit:
        _reinitialise(model, seed)
    model.to(device)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = x.to(device), y.to(device)
    effective_seed(seed, "fit")  # a bad seed is reported as fit's argument
    gen = make_generator(operator.index(seed))
    history = History(metric_name=metric_name)
    bar = _Progress(epochs, metric_name) if progress else None

    bn = _has_batch_norm(model)
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x), generator=gen).to(device)
        seen, loss_sum, metric_sum = 0, 0.0, 0.0
        starts = list(range(0, len(x), batch_size))
        if bn and len(starts) > 1 and len(x) - starts[-1] == 1:
            starts.pop()  # batch norm cannot train on a batch of one: merge it into the last
        for b, i in enumerate(starts):
            end = starts[b + 1] if b + 1 < len(starts) else len(x)
            idx = order[i:end]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb)
            out = model(xb)
            if epoch == 0 and b == 0:
                _check_labels(out, y, loss_fn, "train")
            loss = loss_fn(out, yb)
            if not torch.isfinite(loss).all():
                raise FloatingPointError(
                    f"fit: the loss became {loss.item()} at epoch {epoch + 1}, batch {b + 1}; "
                    "training stopped. Usually the step size is too large (or the data holds "
                    "NaN/inf): lower the learning rate, or clip gradients (clip_grad_norm=...)."
                )
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
