"""Learned representations: features of every hidden layer, linear probes on them, and
the helpers of the transfer and multi-task experiments.

A *linear probe* (Alain & Bengio 2016) is a logistic-regression classifier trained on
frozen features; its test accuracy measures how linearly decodable the labels are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import check_ndim, check_positive_int, check_tensor, eval_mode, model_device
from .introspection import capture_outputs
from .models import ACTIVATIONS

__all__ = [
    "ProbeResult",
    "linear_probe",
    "layer_features",
    "select_classes",
    "MultiHead",
    "embed_2d",
    "plot_embedding",
]


@dataclass
class ProbeResult:
    """Accuracies of a linear probe and the fitted scikit-learn classifier."""

    train_accuracy: float
    test_accuracy: float
    classifier: object


def _as_numpy_features(f: Tensor, fn: str, name: str) -> np.ndarray:
    check_tensor(f, fn, name)
    if f.dim() < 2:
        raise ValueError(
            f"{fn}: {name} must be (N, ...) features with N rows, got shape {tuple(f.shape)}"
        )
    return f.detach().flatten(1).cpu().double().numpy()


def _as_numpy_labels(y: Tensor, fn: str, name: str, n: int) -> np.ndarray:
    check_ndim(y, fn, name, 1, "(N,) integer class labels")
    if y.is_floating_point():
        raise TypeError(f"{fn}: {name} must hold integer class labels, got {y.dtype}")
    if len(y) != n:
        raise ValueError(f"{fn}: {name} has {len(y)} labels but the features have {n} rows")
    return y.detach().cpu().numpy()


def linear_probe(
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    C: float = 1.0,
    max_iter: int = 1000,
    standardize: bool = True,
) -> ProbeResult:
    """Fit multinomial logistic regression on ``train = (features, labels)``, score on ``test``.

    Features (N, ...) are flattened to (N, D) and (by default) standardised with the
    training mean and standard deviation. ``C`` is the inverse L2 penalty (scikit-learn).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fn = "linear_probe"
    for name, pair in (("train", train), ("test", test)):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(
                f"{fn}: {name} must be a pair (features, labels), got {type(pair).__name__}"
            )
    f_tr = _as_numpy_features(train[0], fn, "train features")
    y_tr = _as_numpy_labels(train[1], fn, "train labels", len(f_tr))
    f_te = _as_numpy_features(test[0], fn, "test features")
    y_te = _as_numpy_labels(test[1], fn, "test labels", len(f_te))
    if f_tr.shape[1] != f_te.shape[1]:
        raise ValueError(
            f"{fn}: train features have {f_tr.shape[1]} dimensions but test features {f_te.shape[1]}"
        )
    if len(np.unique(y_tr)) < 2:
        raise ValueError(f"{fn}: train labels must contain at least two classes")
    if not C > 0:
        raise ValueError(f"{fn}: C must be > 0, got {C}")
    steps = [StandardScaler()] if standardize else []
    clf = make_pipeline(*steps, LogisticRegression(C=C, max_iter=max_iter))
    clf.fit(f_tr, y_tr)
    return ProbeResult(float(clf.score(f_tr, y_tr)), float(clf.score(f_te, y_te)), clf)


@torch.no_grad()
def layer_features(
    model: nn.Module,
    x: Tensor,
    layers: Sequence[str] | None = None,
    batch_size: int = 1024,
) -> dict[str, Tensor]:
    """Outputs of named sub-modules of ``model`` for input ``x``, flattened to (N, D), on the CPU.

    ``layers`` are names from ``model.named_modules()``; by default every activation module
    (ReLU, tanh, ...), i.e. each hidden layer. The dict starts with ``"input"``: x flattened.
    """
    fn = "layer_features"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}: model must be a torch.nn.Module, got {type(model).__name__}")
    check_tensor(x, fn, "x")
    modules = dict(model.named_modules())
    if layers is None:
        kinds = tuple(ACTIVATIONS[k] for k in ACTIVATIONS if k != "identity")
        layers = [name for name, m in modules.items() if isinstance(m, kinds)]
        if not layers:
            raise ValueError(f"{fn}: model has no activation modules; name the layers to read")
    else:
        if isinstance(layers, str):
            raise TypeError(f"{fn}: layers must be a sequence of module names, not one string")
        unknown = [name for name in layers if name not in modules]
        if unknown:
            raise ValueError(f"{fn}: layers {unknown} not in the model; known: {list(modules)[1:]}")
    device = model_device(model)
    keep = lambda out: out.detach().flatten(1).cpu()  # noqa: E731
    with (
        capture_outputs({name: modules[name] for name in layers}, keep=keep) as calls,
        eval_mode(model),
    ):
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size].to(device))
    store: dict[str, list[Tensor]] = {name: [] for name in layers}
    for name, _module, out in calls:
        store[name].append(cast(Tensor, out))  # a tensor output, flattened by keep
    return {"input": x.flatten(1).cpu(), **{name: torch.cat(store[name]) for name in layers}}


def select_classes(x: Tensor, y: Tensor, classes: Sequence[int]) -> tuple[Tensor, Tensor]:
    """The examples whose label is in ``classes``, relabelled 0..len(classes)-1 in that order."""
    fn = "select_classes"
    check_tensor(x, fn, "x")
    check_ndim(y, fn, "y", 1, "(N,) integer class labels")
    if len(x) != len(y):
        raise ValueError(f"{fn}: x has {len(x)} rows but y has {len(y)}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(f"{fn}: y must hold integer class labels, got {y.dtype}")
    if len(y) and int(y.min()) < 0:
        raise ValueError(
            f"{fn}: y holds negative labels (e.g. -1 for 'unlabelled'); drop those "
            f"rows first, e.g. x[y >= 0], y[y >= 0]"
        )
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise TypeError(f"{fn}: classes must be a sequence of ints, got {type(classes).__name__}")
    classes = [check_positive_int(c, fn, "each of classes", minimum=0) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"{fn}: classes must be a non-empty list without repeats, got {classes}")
    missing = [c for c in classes if not bool((y == c).any())]
    if missing:
        raise ValueError(f"{fn}: classes {missing} do not occur in y")
    lookup = torch.full((int(y.max()) + 1,), -1, dtype=torch.long)
    lookup[torch.tensor(classes)] = torch.arange(len(classes))
    keep = lookup[y] >= 0
    return x[keep], lookup[y[keep]]


class MultiHead(nn.Module):
    """A shared ``trunk`` followed by one linear head per task; the heads' logits are
    concatenated to (N, sum(head_sizes)) so that ``dl.fit`` and ``dl.predict`` work unchanged."""

    def __init__(self, trunk: nn.Module, features: int, head_sizes: Sequence[int]) -> None:
        super().__init__()
        if not head_sizes or not all(isinstance(s, int) and s >= 1 for s in head_sizes):
            raise ValueError(f"MultiHead: head_sizes must be positive ints, got {list(head_sizes)}")
        self.trunk = trunk
        self.head_sizes = list(head_sizes)
        self.heads = nn.ModuleList(nn.Linear(features, s) for s in head_sizes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.trunk(x)  # (N, features)
        return torch.cat([head(h) for head in self.heads], dim=1)


def embed_2d(features: Tensor, method: str = "pca", seed: int = 0) -> Tensor:
    """A 2-D embedding (N, 2) of ``features`` (N, D): ``"pca"`` or ``"tsne"`` (scikit-learn)."""
    fn = "embed_2d"
    f = _as_numpy_features(features, fn, "features")
    if method == "pca":
        centred = torch.from_numpy(f - f.mean(axis=0))
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        return (centred @ vh[:2].T).float()
    if method == "tsne":
        from sklearn.manifold import TSNE

        from .seeding import effective_seed

        z = TSNE(
            2, init="pca", perplexity=min(30.0, (len(f) - 1) / 3), random_state=effective_seed(seed)
        ).fit_transform(f)
        return torch.from_numpy(z).float()
    raise ValueError(f"{fn}: method must be 'pca' or 'tsne', got {method!r}")


def plot_embedding(
    points_by_panel: dict[str, Tensor],
    labels: Tensor,
    title: str,
    xlabel: str = "dimension 1",
    ylabel: str = "dimension 2",
):
    """Side-by-side scatter plots of 2-D points (N, 2), one panel per entry, coloured by label."""
    import matplotlib.pyplot as plt

    labels_np = labels.cpu().numpy()
    n = len(points_by_panel)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.9), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (name, z) in zip(axes.flat, points_by_panel.items(), strict=True):
        check_ndim(z, "plot_embedding", f"points {name!r}", 2, "(N, 2)")
        points = z.cpu().numpy()
        for c in np.unique(labels_np):
            sel = labels_np == c
            ax.scatter(
                points[sel, 0],
                points[sel, 1],
                s=9,
                color=cmap(int(c) % 10),
                label=str(c),
                alpha=0.8,
            )
        ax.set(title=name, xlabel=xlabel, ylabel=ylabel)
    axes[0, -1].legend(title="class", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
