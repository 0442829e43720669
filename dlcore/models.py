"""Small reference models that several chapters train (built from torch layers).

Chapters that teach a layer build it from scratch first; the models here are the
ones later chapters reuse as ready-made baselines.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["mlp", "DigitsCNN", "Mnist1dCNN", "ACTIVATIONS"]

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
    batchnorm: bool = False,
    flatten: bool = True,
) -> nn.Sequential:
    """A fully connected net ``sizes[0] -> ... -> sizes[-1]`` (no activation after the last).

    Hidden layers are Linear [-> BatchNorm1d] -> activation [-> Dropout].
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least an input and an output size, got {list(sizes)}")
    if any((not isinstance(s, int)) or s < 1 for s in sizes):
        raise ValueError(f"mlp: sizes must be positive ints, got {list(sizes)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"mlp: dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class DigitsCNN(nn.Module):
    """A LeNet-style CNN for the 8x8 ``digits``: (N, 1, 8, 8) -> (N, 10) logits.

    conv 3x3 (pad 1) -> ReLU -> max-pool 2 -> conv 3x3 (pad 1) -> ReLU -> max-pool 2 -> linear.
    """

    def __init__(self, channels: tuple[int, int] = (16, 32), n_classes: int = 10) -> None:
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, c1, 4, 4)
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, c2, 2, 2)
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
            nn.Conv1d(1, channels, 5, stride=2, padding=1), nn.ReLU(),         # (N, C, 19)
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),  # (N, C, 10)
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),  # (N, C, 5)
        )
        out_len = length
        for k in (5, 3, 3):
            out_len = (out_len + 2 - k) // 2 + 1
        self.classifier = nn.Linear(channels * out_len, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)  # (N, 40) -> (N, 1, 40)
        return self.classifier(self.features(x).flatten(1))
