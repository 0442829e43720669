"""Plotting helpers with one consistent style. Each returns the matplotlib Figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .training import History

__all__ = ["use_book_style", "plot_history", "show_images", "show_filters", "plot_signals"]

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]


def use_book_style() -> None:
    """The book's figure style; in Jupyter also sharp (retina) inline figures."""
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": plt.cycler(color=PALETTE),
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "legend.frameon": False,
            "image.cmap": "gray",
            "savefig.bbox": "tight",
        }
    )
    try:
        from IPython import get_ipython

        if get_ipython() is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("retina")
    except ImportError:
        pass


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().float().numpy()
    return np.asarray(a)


def plot_history(
    histories: History | Mapping[str, History],
    title: str = "Learning curves",
    metric: bool = True,
) -> Figure:
    """Loss (and metric) per epoch; training solid, test dashed; one colour per run."""
    if isinstance(histories, History):
        histories = {"": histories}
    ncols = 2 if metric else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 3.4), squeeze=False)
    metric_name = next(iter(histories.values())).metric_name
    for i, (label, h) in enumerate(histories.items()):
        colour = PALETTE[i % len(PALETTE)]
        epochs = np.arange(1, h.epochs + 1)
        prefix = f"{label} " if label else ""
        axes[0, 0].plot(epochs, h.train_loss, color=colour, label=f"{prefix}train")
        if not np.all(np.isnan(h.test_loss)):
            axes[0, 0].plot(epochs, h.test_loss, "--", color=colour, label=f"{prefix}test")
        if metric:
            axes[0, 1].plot(epochs, h.train_metric, color=colour, label=f"{prefix}train")
            if not np.all(np.isnan(h.test_metric)):
                axes[0, 1].plot(epochs, h.test_metric, "--", color=colour, label=f"{prefix}test")
    axes[0, 0].set(xlabel="epoch", ylabel="loss (mean per example)", title="Loss")
    axes[0, 0].legend()
    if metric:
        axes[0, 1].set(xlabel="epoch", ylabel=metric_name, title=metric_name.capitalize())
        axes[0, 1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_images(
    images,
    labels: Sequence | None = None,
    ncols: int = 10,
    title: str | None = None,
    cmap: str = "gray",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    size: float = 1.1,
) -> Figure:
    """A grid of images, (N, H, W) or (N, 1, H, W) or (N, 3, H, W), with optional labels."""
    arr = _np(images)
    if arr.ndim == 4:
        arr = arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1)
    if arr.ndim not in (3, 4):
        raise ValueError(f"show_images: images must be (N, H, W) or (N, C, H, W), got {arr.shape}")
    n = len(arr)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if title else 0)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(arr[i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_filters(weight, title: str = "Filters", ncols: int = 8) -> Figure:
    """Convolution filters (out, in, kh, kw): first input channel, symmetric colour scale
    (red positive, blue negative)."""
    w = _np(weight)
    if w.ndim != 4:
        raise ValueError(f"show_filters: weight must be (out, in, kh, kw), got {w.shape}")
    lim = float(np.abs(w).max()) or 1.0
    return show_images(
        w[:, 0],
        labels=[f"#{i}" for i in range(len(w))],
        ncols=ncols,
        title=title,
        cmap="RdBu_r",
        vmin=-lim,
        vmax=lim,
    )


def plot_signals(
    signals,
    labels: Sequence | None = None,
    ncols: int = 5,
    title: str | None = None,
    xlabel: str = "position",
    ylabel: str = "value",
) -> Figure:
    """A grid of 1-D signals (N, L), e.g. MNIST-1D examples."""
    arr = _np(signals)
    if arr.ndim != 2:
        raise ValueError(f"plot_signals: signals must be (N, L), got {arr.shape}")
    n = len(arr)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(2.2 * ncols, 1.7 * nrows + 0.4),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        ax.plot(arr[i], color=PALETTE[0], lw=1.4)
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=9)
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
        if i // ncols == nrows - 1:
            ax.set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
