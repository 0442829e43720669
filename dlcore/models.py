"""Small reference models that several chapters train (built from torch layers).

Chapters that teach a layer build it from scratch first; the models here are the
ones later chapters reuse as ready-made baselines.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._checks import check_choice, check_positive_int, check_probability

__all__ = ["mlp", "DigitsCNN", "Mnist1dCNN", "LeNet5", "InceptionBlock", "ACTIVATIONS"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


def mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    dropout: float = 0.0,
    norm: str | None = None,
    flatten: bool = True,
    out_activation: str | None = None,
) -> nn.Sequential:
    """The book's one fully connected builder: ``sizes[0] -> ... -> sizes[-1]``.

    Each hidden layer is ``Linear [-> norm] -> activation [-> Dropout(dropout)]``, with
    ``norm`` one of None, ``"batch"`` (``BatchNorm1d``) or ``"layer"`` (``LayerNorm``). The
    last Linear is followed by ``out_activation`` (default: nothing, i.e. logits). ``flatten``
    puts an ``nn.Flatten`` first so images (N, C, H, W) can go in directly.
    """
    fn = "mlp"
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(
            f"{fn}: sizes must be a sequence of ints such as [784, 100, 10], "
            f"got {type(sizes).__name__}"
        )
    if len(sizes) < 2:
        raise ValueError(
            f"{fn}: sizes needs at least an input and an output size, got {list(sizes)}"
        )
    for size in sizes:
        check_positive_int(size, fn, f"sizes (got {list(sizes)}): each size")
    check_choice(activation, fn, "activation", sorted(ACTIVATIONS))
    if out_activation is not None:
        check_choice(out_activation, fn, "out_activation", sorted(ACTIVATIONS))
    check_choice(norm, fn, "norm", (None, "batch", "layer"))
    dropout = check_probability(dropout, fn, "dropout")
    if not isinstance(flatten, bool):
        raise TypeError(f"{fn}: flatten must be True or False, got {flatten!r}")
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if norm == "batch":
                layers.append(nn.BatchNorm1d(b))
            elif norm == "layer":
                layers.append(nn.LayerNorm(b))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        elif out_activation is not None:
            layers.append(ACTIVATIONS[out_activation]())
    return nn.Sequential(*layers)


class DigitsCNN(nn.Module):
    """A LeNet-style CNN for the 8x8 ``digits``: (N, 1, 8, 8) -> (N, 10) logits.

    conv 3x3 (pad 1) -> ReLU -> max-pool 2 -> conv 3x3 (pad 1) -> ReLU -> max-pool 2 -> linear.
    """

    def __init__(self, channels: tuple[int, int] = (16, 32), n_classes: int = 10) -> None:
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, c1, 4, 4)
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, c2, 2, 2)
        )
        self.classifier = nn.Linear(c2 * 2 * 2, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class Mnist1dCNN(nn.Module):
    """The 1-D CNN of the MNIST-1D paper (Greydanus & Kobak): (N, 40) or (N, 1, 40) -> (N, 10).

    Three conv layers of ``channels`` filters (kernel 5, 3, 3; stride 2; padding 1), ReLU,
    then a linear layer on the flattened (channels x 5) feature map.
    """

    def __init__(self, channels: int = 25, n_classes: int = 10, length: int = 40) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=1),
            nn.ReLU(),  # (N, C, 19)
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),  # (N, C, 10)
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),  # (N, C, 5)
        )
        out_len = length
        for k in (5, 3, 3):
            out_len = (out_len + 2 - k) // 2 + 1
        self.classifier = nn.Linear(channels * out_len, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)  # (N, 40) -> (N, 1, 40)
        return self.classifier(self.features(x).flatten(1))


# ----------------------------------------------------------------------------- landmark architectures


class LeNet5(nn.Module):
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998): (N, 1, 32, 32) -> (N, 10) logits.

    C1 conv 5x5 (6) -> S2 pool 2 -> C3 conv 5x5 (16) -> S4 pool 2 -> C5 conv 5x5 (120)
    -> F6 linear (84) -> output linear (10). Modernised in three places: C3 sees all six
    S2 maps (the paper used a sparse connection table), pooling has no trainable
    coefficients, and the output layer is linear instead of radial-basis units.
    ``activation`` is ``"tanh"`` (the paper's squashing) or ``"relu"``; ``pool`` is
    ``"avg"`` (the paper's subsampling) or ``"max"``.
    """

    def __init__(self, n_classes: int = 10, activation: str = "tanh", pool: str = "avg") -> None:
        super().__init__()
        if activation not in ("tanh", "relu"):
            raise ValueError(f"LeNet5: activation must be 'tanh' or 'relu', got {activation!r}")
        if pool not in ("avg", "max"):
            raise ValueError(f"LeNet5: pool must be 'avg' or 'max', got {pool!r}")
        act = ACTIVATIONS[activation]
        pooling = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5),
            act(),  # C1: (N, 6, 28, 28)
            pooling(2),  # S2: (N, 6, 14, 14)
            nn.Conv2d(6, 16, 5),
            act(),  # C3: (N, 16, 10, 10)
            pooling(2),  # S4: (N, 16, 5, 5)
            nn.Conv2d(16, 120, 5),
            act(),  # C5: (N, 120, 1, 1)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (N, 120)
            nn.Linear(120, 84),
            act(),  # F6: (N, 84)
            nn.Linear(84, n_classes),  # output: (N, 10)
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (32, 32):
            raise ValueError(
                f"LeNet5: expects 32x32 images (N, 1, 32, 32), got shape {tuple(x.shape)}"
            )
        return self.classifier(self.features(x))


class InceptionBlock(nn.Module):
    """An inception module of GoogLeNet (Szegedy et al. 2014): four parallel branches whose
    outputs are concatenated along the channels, (N, C, H, W) -> (N, c1 + c3 + c5 + pool_proj, H, W).

    1x1 conv (c1) | 1x1 conv (c3_reduce) -> 3x3 conv (c3) | 1x1 conv (c5_reduce) -> 5x5 conv (c5)
    | 3x3 max-pool (stride 1) -> 1x1 conv (pool_proj); every conv is followed by a ReLU.
    The defaults are the paper's block "3a" (192 channels in, 256 out).
    """

    def __init__(
        self,
        in_channels: int = 192,
        c1: int = 64,
        c3_reduce: int = 96,
        c3: int = 128,
        c5_reduce: int = 16,
        c5: int = 32,
        pool_proj: int = 32,
    ) -> None:
        super().__init__()

        def conv(cin: int, cout: int, k: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU())

        self.branch1 = conv(in_channels, c1, 1)
        self.branch3 = nn.Sequential(conv(in_channels, c3_reduce, 1), conv(c3_reduce, c3, 3))
        self.branch5 = nn.Sequential(conv(in_channels, c5_reduce, 1), conv(c5_reduce, c5, 5))
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv(in_channels, pool_proj, 1)
        )
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)]
        return torch.cat(branches, dim=1)  # (N, c1 + c3 + c5 + pool_proj, H, W)
