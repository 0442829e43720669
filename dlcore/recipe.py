"""The modern recipe for a feed-forward image classifier, as one configuration, and an ablation.

A :class:`Recipe` (a frozen dataclass) says which ingredients are switched on: enough
training data, ReLU, convolution + max pooling, batch normalisation, dropout, weight decay,
Adam or SGD with momentum, data augmentation. :func:`build_model` and :func:`make_optimizer` turn it into a
torch model and an optimiser (torch layers: this is about practice; the chapters before
build each layer from scratch). :func:`train_recipe` trains it once with :func:`dlcore.fit`
on a class-balanced subset of the training images, and :func:`run_ablation` does that for
several recipes and seeds, returning an :class:`Ablation` with per-seed accuracies and
training times. Switch an ingredient off with ``dataclasses.replace(recipe, dropout=0.0)``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_number
from .data import take_per_class
from .models import ACTIVATIONS, mlp
from .seeding import make_generator, seed_everything
from .training import History, count_parameters, evaluate, fit
from .transforms import RandomAffine, random_affine_matrices

__all__ = [
    "Recipe",
    "RunResult",
    "Ablation",
    "build_model",
    "make_optimizer",
    "train_recipe",
    "run_ablation",
]

MODELS = ("cnn", "mlp")
POOLINGS = ("max", "avg", "stride")
OPTIMIZERS = ("adam", "momentum", "sgd")
SCHEDULES = ("cosine", "constant")
# plain SGD's default equals momentum's effective step size eta / (1 - 0.9)
DEFAULT_LR = {"adam": 3e-3, "momentum": 0.1, "sgd": 1.0}


@dataclass(frozen=True)
class Recipe:
    """Which ingredients a run uses. The defaults are the full recipe of the book's
    modern-practice chapter (500 Fashion-MNIST images, 20 epochs of 10 mini-batches).

    model: ``"cnn"`` (two conv blocks, then a hidden linear layer) or ``"mlp"`` (two hidden
    linear layers of ``mlp_width`` on the flattened pixels). pooling: ``"max"`` or ``"avg"``
    2x2 pooling after each conv (H -> floor(H/2)), or ``"stride"`` (stride-2 convolutions, no
    pooling layer; H -> ceil(H/2), one more row and column for odd H). optimizer:
    ``"adam"``, ``"momentum"`` (SGD, momentum 0.9) or ``"sgd"`` (plain); ``lr=None`` picks
    a default per optimiser (plain SGD's is ten times momentum's: the same effective step); schedule ``"cosine"`` anneals it to 0 over the epochs.
    weight_decay is an L2 penalty (``lambda/2 * ||w||^2`` added to the loss, through the
    optimiser). augment: random affine distortions of at most ``rotation``/``shear``
    degrees, ``shift`` pixels and ``scale`` relative size. data_fraction: the share of the
    training images a run keeps (per class when the run draws a class-balanced subset), in
    (0, 1]; "enough data" is an ingredient too.
    """

    model: str = "cnn"
    activation: str = "relu"
    pooling: str = "max"
    batchnorm: bool = True
    dropout: float = 0.3
    weight_decay: float = 5e-4
    optimizer: str = "momentum"
    lr: float | None = None
    schedule: str = "cosine"
    augment: bool = True
    rotation: float = 8.0
    shift: float = 1.0
    scale: float = 0.05
    shear: float = 5.0
    label_smoothing: float = 0.0
    channels: tuple[int, int] = (8, 16)
    hidden: int = 64
    mlp_width: int = 128
    epochs: int = 20
    batch_size: int = 50
    data_fraction: float = 1.0

    def __post_init__(self) -> None:
        def choice(name: str, options: Sequence[str]) -> None:
            value = getattr(self, name)
            if value not in options:
                raise ValueError(f"Recipe: {name} must be one of {tuple(options)}, got {value!r}")

        def number(name: str, low: float, high: float | None = None) -> None:
            """value in [low, high), or value >= low when high is None"""
            check_number(getattr(self, name), "Recipe", name, lo=low, hi=high, hi_open=True)

        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Recipe: {name} must be a positive int, got {value!r}")

        choice("model", MODELS)
        choice("activation", sorted(ACTIVATIONS))
        choice("pooling", POOLINGS)
        choice("optimizer", OPTIMIZERS)
        choice("schedule", SCHEDULES)
        if not isinstance(self.batchnorm, bool) or not isinstance(self.augment, bool):
            raise TypeError("Recipe: batchnorm and augment must be True or False")
        random_affine_matrices(1, (8, 8), self.rotation, self.shift, self.scale, self.shear)
        number("dropout", 0.0, 1.0)
        number("weight_decay", 0.0)
        number("label_smoothing", 0.0, 1.0)
        number("data_fraction", 0.0)
        if not 0 < self.data_fraction <= 1:
            raise ValueError(f"Recipe: data_fraction must be in (0, 1], got {self.data_fraction}")
        if self.lr is not None:
            number("lr", 0.0)
            if self.lr == 0:
                raise ValueError("Recipe: lr must be > 0 (or None for the default)")
        if (
            not isinstance(self.channels, tuple)
            or len(self.channels) != 2
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.channels)
        ):
            raise ValueError(
                f"Recipe: channels must be a pair of positive ints, got {self.channels!r}"
            )
        for name in ("hidden", "mlp_width", "epochs", "batch_size"):
            positive_int(name)

    @property
    def learning_rate(self) -> float:
        """``lr``, or the default of the optimiser when ``lr`` is None."""
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    def changes(self, base: Recipe | None = None) -> str:
        """The fields that differ from ``base`` (default: the full recipe), e.g. ``'dropout=0.0'``."""
        base = Recipe() if base is None else base
        diffs = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(base, f.name)
        ]
        return ", ".join(diffs) if diffs else "(none)"


def _check_recipe(recipe: object, fn: str) -> Recipe:
    if not isinstance(recipe, Recipe):
        raise TypeError(f"{fn}: recipe must be a dlcore.recipe.Recipe, got {type(recipe).__name__}")
    return recipe


def _check_image_shape(shape: object, fn: str) -> tuple[int, int, int]:
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 3
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape)
    ):
        raise ValueError(f"{fn}: image_shape must be (C, H, W) positive ints, got {shape!r}")
    return tuple(shape)


def build_model(
    recipe: Recipe, image_shape: tuple[int, int, int] = (1, 8, 8), n_classes: int = 10
) -> nn.Sequential:
    """The network of ``recipe`` for images (N, C, H, W) -> (N, n_classes) logits.

    cnn: 2 x [conv 3x3 -> (BatchNorm2d) -> act -> pool 2x2 (or a stride-2 conv)] -> flatten
    -> linear(hidden) -> (BatchNorm1d) -> act -> dropout -> linear(n_classes).
    mlp: flatten -> 2 x [linear(mlp_width) -> (BatchNorm1d) -> act -> dropout] -> linear.
    """
    fn = "build_model"
    recipe = _check_recipe(recipe, fn)
    c, h, w = _check_image_shape(image_shape, fn)
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"{fn}: n_classes must be an int >= 2, got {n_classes!r}")
    act = ACTIVATIONS[recipe.activation]

    def dense(sizes: list[int]) -> nn.Sequential:  # flatten -> hidden layers -> logits
        return mlp(sizes, recipe.activation, recipe.dropout, "batch" if recipe.batchnorm else None)

    if recipe.model == "mlp":
        width = recipe.mlp_width
        return dense([c * h * w, width, width, n_classes])

    if h < 4 or w < 4:
        raise ValueError(f"{fn}: the cnn halves the image twice and needs H, W >= 4, got {(h, w)}")
    layers: list[nn.Module] = []
    c_in = c
    for c_out in recipe.channels:
        stride = 2 if recipe.pooling == "stride" else 1
        layers.append(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not recipe.batchnorm)
        )
        if recipe.batchnorm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(act())
        if recipe.pooling == "max":
            layers.append(nn.MaxPool2d(2))
        elif recipe.pooling == "avg":
            layers.append(nn.AvgPool2d(2))
        c_in = c_out
        if stride == 2:  # a 3x3 conv with stride 2 and padding 1 gives ceil(H / 2)
            h, w = (h + 1) // 2, (w + 1) // 2
        else:  # a 2x2 pooling window gives floor(H / 2)
            h, w = h // 2, w // 2
    features = c_in * h * w  # (N, c2, H/4, W/4) flattened
    return nn.Sequential(*layers, *dense([features, recipe.hidden, n_classes]))


def make_optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    """Adam, SGD with momentum 0.9, or plain SGD, with the recipe's step size and L2 penalty.

    The L2 penalty is applied to weights only (not to biases or batch-norm scales/shifts).
    """
    recipe = _check_recipe(recipe, "make_optimizer")
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"make_optimizer: model must be a torch.nn.Module, got {type(model).__name__}"
        )
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [
        {"params": decay, "weight_decay": recipe.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    lr = recipe.learning_rate
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr)
    momentum = 0.9 if recipe.optimizer == "momentum" else 0.0
    return torch.optim.SGD(groups, lr=lr, momentum=momentum)


@dataclass
class RunResult:
    """One training run: test accuracy, wall-clock training seconds, parameters, number of
    training images, the trained model and its per-epoch history. A run whose step size was
    chosen on a validation split (:func:`run_ablation` with ``val``) also records the chosen
    ``lr``, its ``val_accuracy``, the validation accuracy of every step size tried
    (``val_by_lr``), and ``seconds`` is then the training time of the whole grid."""

    accuracy: float
    seconds: float
    parameters: int
    n_train: int
    model: nn.Module = field(repr=False)
    history: History = field(repr=False)
    lr: float = float("nan")
    val_accuracy: float = float("nan")
    val_by_lr: dict[float, float] = field(default_factory=dict)


def _pair(data: object, fn: str, name: str) -> tuple[Tensor, Tensor]:
    if not (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, Tensor) for t in data)
    ):
        raise TypeError(f"{fn}: {name} must be a pair (x, y) of tensors, e.g. dataset.{name}")
    x, y = data
    if x.dim() != 4:
        raise ValueError(f"{fn}: {name} images must be (N, C, H, W), got shape {tuple(x.shape)}")
    if len(x) != len(y):
        raise ValueError(f"{fn}: {name} has {len(x)} images but {len(y)} labels")
    return x, y


def train_recipe(
    recipe: Recipe,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    seed: int = 0,
    n_per_class: int | None = None,
    device: torch.device | str | None = None,
) -> RunResult:
    """Train ``recipe`` once and return its test accuracy and training time.

    ``seed`` (plus ``$DLCORE_SEED``) fixes everything random in the run: the subset of
    ``n_per_class`` training images per class (all images when None), the initial weights,
    the order of the mini-batches, the distortions of the augmentation and the dropout masks.
    ``recipe.data_fraction < 1`` keeps that share of the subset: with the same seed, the
    first ``round(data_fraction * n_per_class)`` images of every class of the full subset.
    """
    fn = "train_recipe"
    recipe = _check_recipe(recipe, fn)
    x, y = _pair(train, fn, "train")
    x_test, y_test = _pair(test, fn, "test")
    if (
        n_per_class is not None
    ):  # one seed draws nested subsets: the fewer images are among the more
        x, y = take_per_class(x, y, max(1, round(recipe.data_fraction * n_per_class)), seed=seed)
    elif recipe.data_fraction < 1:
        keep = max(1, round(recipe.data_fraction * len(x)))
        chosen = torch.randperm(len(x), generator=make_generator(seed))[:keep]
        x, y = x[chosen], y[chosen]
    n_classes = int(max(y.max(), y_test.max())) + 1
    seed_everything(seed)  # initial weights and dropout masks
    image_shape = cast(tuple[int, int, int], tuple(x.shape[1:]))  # build_model checks (C, H, W)
    model = build_model(recipe, image_shape, n_classes)
    loss_fn = (
        F.cross_entropy
        if recipe.label_smoothing == 0
        else (
            lambda out, target: F.cross_entropy(out, target, label_smoothing=recipe.label_smoothing)
        )
    )
    augment = (
        RandomAffine(recipe.rotation, recipe.shift, recipe.scale, recipe.shear, seed=seed)
        if recipe.augment
        else None
    )
    optimizer = make_optimizer(recipe, model)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
        if recipe.schedule == "cosine"
        else None
    )  # stepped once per epoch, down to 0
    start = time.perf_counter()
    history = fit(
        model,
        (x, y),
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        optimizer=optimizer,
        loss_fn=loss_fn,
        device=device,
        seed=seed,
        augment=augment,
        scheduler=scheduler,
        progress=False,
    )
    seconds = time.perf_counter() - start
    _, acc = evaluate(model, (x_test, y_test))
    return RunResult(
        acc, seconds, count_parameters(model), len(x), model, history, recipe.learning_rate
    )


@dataclass
class Ablation:
    """Results of :func:`run_ablation`: ``runs[name][i]`` is the run of recipe ``name`` with
    ``seeds[i]``."""

    recipes: dict[str, Recipe]
    seeds: list[int]
    runs: dict[str, list[RunResult]]

    def accuracies(self, name: str) -> Tensor:
        """(n_seeds,) float64 test accuracies of recipe ``name``, in the order of ``seeds``."""
        if name not in self.runs:
            raise KeyError(f"Ablation: no recipe named {name!r}; known: {list(self.runs)}")
        return torch.tensor([r.accuracy for r in self.runs[name]], dtype=torch.float64)

    def seconds(self, name: str) -> Tensor:
        """(n_seeds,) float64 training seconds (wall clock) of recipe ``name``."""
        if name not in self.runs:
            raise KeyError(f"Ablation: no recipe named {name!r}; known: {list(self.runs)}")
        return torch.tensor([r.seconds for r in self.runs[name]], dtype=torch.float64)

    def step_sizes(self, name: str) -> Tensor:
        """(n_seeds,) float64 step sizes recipe ``name`` trained with (chosen on validation
        when the ablation was tuned)."""
        if name not in self.runs:
            raise KeyError(f"Ablation: no recipe named {name!r}; known: {list(self.runs)}")
        return torch.tensor([r.lr for r in self.runs[name]], dtype=torch.float64)

    def rows(
        self, baseline: str | None = None
    ) -> list[tuple[str, str, int, str, str, str, float, str]]:
        """One row per recipe: name, what changed, parameters, mean accuracy +- sample standard
        deviation over seeds, [min, max], mean difference to ``baseline`` in the same seeds
        (paired) +- its standard deviation, mean seconds per run, step size of each seed."""
        baseline = next(iter(self.runs)) if baseline is None else baseline
        base = self.accuracies(baseline)
        base_recipe = self.recipes[baseline]
        out = []
        for name, runs in self.runs.items():
            acc = self.accuracies(name)
            diff = acc - base
            std = acc.std().item() if len(acc) > 1 else float("nan")
            dstd = diff.std().item() if len(acc) > 1 else float("nan")
            out.append(
                (
                    name,
                    self.recipes[name].changes(base_recipe) if name != baseline else "(baseline)",
                    runs[0].parameters,
                    f"{acc.mean().item():.1%} ± {std:.1%}",
                    f"{acc.min().item():.1%} – {acc.max().item():.1%}",
                    "—"
                    if name == baseline
                    else f"{100 * diff.mean().item():+.1f} ± {100 * dstd:.1f}",
                    round(self.seconds(name).mean().item(), 2),
                    " / ".join(f"{lr:.3g}" for lr in self.step_sizes(name).tolist()),
                )
            )
        return out

    HEADERS = (
        "recipe",
        "changed",
        "parameters",
        "test accuracy (mean ± sd)",
        "range",
        "paired difference (points)",
        "seconds per run",
        "step size per seed",
    )


def run_ablation(
    recipes: Mapping[str, Recipe],
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    seeds: Sequence[int] = (0, 1, 2),
    n_per_class: int | None = None,
    device: torch.device | str | None = None,
    val: tuple[Tensor, Tensor] | None = None,
    lr_factors: Sequence[float] | None = None,
) -> Ablation:
    """Train every recipe with every seed (the same seeds, hence the same training subsets,
    for every recipe, so differences can be compared seed by seed).

    With ``val`` and ``lr_factors``, every recipe and seed is trained once per step size
    ``recipe.learning_rate * f`` (f in ``lr_factors``); the run with the highest accuracy on
    ``val`` is kept (the first on a tie) and only that run is evaluated on ``test``.
    """
    fn = "run_ablation"
    if not isinstance(recipes, Mapping) or not recipes:
        raise TypeError(f"{fn}: recipes must be a non-empty dict name -> Recipe")
    for name, recipe in recipes.items():
        if not isinstance(name, str):
            raise TypeError(f"{fn}: recipe names must be strings, got {name!r}")
        _check_recipe(recipe, fn)
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise ValueError(f"{fn}: seeds must be a non-empty sequence of ints, got {seeds!r}")
    if (val is None) != (lr_factors is None):
        raise ValueError(f"{fn}: give val and lr_factors together (tuning needs both), or neither")
    if lr_factors is None or val is None:  # both or neither (checked above)
        runs = {
            name: [train_recipe(recipe, train, test, seed, n_per_class, device) for seed in seeds]
            for name, recipe in recipes.items()
        }
        return Ablation(dict(recipes), seeds, runs)
    factors = list(lr_factors)
    if not factors:
        raise ValueError(
            f"{fn}: lr_factors must be a non-empty sequence of positive numbers, got {factors!r}"
        )
    factors = [
        check_number(f, fn, f"each of lr_factors (got {factors!r})", lo=0.0, lo_open=True)
        for f in factors
    ]
    x_test, y_test = _pair(test, fn, "test")
    runs = {}
    for name, recipe in recipes.items():
        runs[name] = []
        for seed in seeds:
            grid = [
                train_recipe(
                    dataclasses.replace(recipe, lr=recipe.learning_rate * f),
                    train,
                    val,
                    seed,
                    n_per_class,
                    device,
                )
                for f in factors
            ]
            best = max(grid, key=lambda r: r.accuracy)  # max keeps the first of equal runs
            _, test_acc = evaluate(best.model, (x_test, y_test))  # the test set, once per seed
            runs[name].append(
                dataclasses.replace(
                    best,
                    accuracy=test_acc,
                    seconds=sum(r.seconds for r in grid),
                    val_accuracy=best.accuracy,
                    val_by_lr={r.lr: r.accuracy for r in grid},
                )
            )
    return Ablation(dict(recipes), seeds, runs)
