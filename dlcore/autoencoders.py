"""Autoencoders: PCA as a reconstruction, linear / nonlinear / denoising autoencoders,
principal angles between subspaces, a sequence-to-sequence RNN autoencoder, and greedy
layer-wise pretraining with stacked denoising autoencoders.

An autoencoder maps an input x to a code z = f(x) (the encoder) and back to a
reconstruction x_hat = g(z) (the decoder), trained to make x_hat close to x.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_ndim, check_positive_int, check_tensor
from .models import ACTIVATIONS, mlp
from .seeding import effective_seed, make_generator
from .training import fit
from .transforms import corrupt

__all__ = [
    "pca_basis",
    "pca_reconstruct",
    "principal_angles",
    "Autoencoder",
    "linear_autoencoder",
    "mlp_autoencoder",
    "Denoising",
    "Seq2SeqAutoencoder",
    "pretrain_layerwise",
]


# ----------------------------------------------------------------------------- PCA


def _check_matrix(x: Tensor, fn: str, name: str) -> Tensor:
    check_ndim(check_tensor(x, fn, name), fn, name, 2, "(N, D): one row per example")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: {name} must be a floating-point tensor, got {x.dtype}")
    return x


def pca_basis(x: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Mean (D,) and the top-``k`` principal directions (k, D), orthonormal rows, of ``x`` (N, D).

    The directions are the leading right singular vectors of the centred data x - mean.
    """
    _check_matrix(x, "pca_basis", "x")
    check_positive_int(k, "pca_basis", "k", minimum=0)
    n, d = x.shape
    if k > min(n, d):
        raise ValueError(f"pca_basis: k must be at most min(N, D) = {min(n, d)}, got {k}")
    mean = x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)  # vh: (min(N, D), D)
    return mean, vh[:k]


def pca_reconstruct(x: Tensor, mean: Tensor, components: Tensor) -> Tensor:
    """Project ``x`` (N, D) onto the affine subspace mean + span(components): (N, D).

    x_hat = mean + (x - mean) V^T V for orthonormal rows V (k, D).
    """
    _check_matrix(x, "pca_reconstruct", "x")
    check_ndim(mean, "pca_reconstruct", "mean", 1, "(D,)")
    check_ndim(components, "pca_reconstruct", "components", 2, "(k, D)")
    d = x.shape[1]
    if mean.shape[0] != d or components.shape[1] != d:
        raise ValueError(
            f"pca_reconstruct: x has {d} features but mean has {mean.shape[0]} and "
            f"components have {components.shape[1]}"
        )
    code = (x - mean) @ components.T  # (N, k)
    return mean + code @ components


def principal_angles(a: Tensor, b: Tensor) -> Tensor:
    """Principal angles (radians, ascending) between span of the columns of ``a`` (D, p) and ``b`` (D, q).

    With orthonormal bases Qa, Qb, cos(theta_i) are the singular values of Qa^T Qb. Small
    angles come from arcsin of the singular values of Qb - Qa Qa^T Qb (more accurate there).
    Returns min(p, q) angles; the bases need not be orthonormal, only of full column rank.
    """
    for name, m in (("a", a), ("b", b)):
        check_ndim(m, "principal_angles", name, 2, "(D, k): one basis vector per column")
        if not m.is_floating_point():
            raise TypeError(
                f"principal_angles: {name} must be a floating-point tensor, got {m.dtype}"
            )
        if m.shape[1] == 0 or m.shape[1] > m.shape[0]:
            raise ValueError(
                f"principal_angles: {name} must have between 1 and D={m.shape[0]} columns, "
                f"got {m.shape[1]}"
            )
        if not torch.isfinite(m).all():
            raise ValueError(f"principal_angles: {name} must be finite (no NaN or inf)")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"principal_angles: a lives in dimension {a.shape[0]} but b in {b.shape[0]}"
        )
    if b.shape[1] > a.shape[1]:
        a, b = b, a  # the angles are symmetric; let b be the smaller subspace
    dtype = torch.promote_types(a.dtype, b.dtype)
    qa = torch.linalg.qr(a.to(dtype)).Q  # (D, p) orthonormal columns
    qb = torch.linalg.qr(b.to(dtype)).Q  # (D, q), q <= p
    cos = torch.linalg.svdvals(qa.T @ qb).clamp(max=1.0)  # descending cosines: ascending angles
    sin = torch.linalg.svdvals(qb - qa @ (qa.T @ qb)).clamp(max=1.0).flip(0)  # ascending sines
    small = sin.pow(2) <= 0.5
    return torch.where(small, torch.arcsin(sin), torch.arccos(cos))


# ----------------------------------------------------------------------------- autoencoders


class Autoencoder(nn.Module):
    """``decoder(encoder(x))``, reshaped to the shape of ``x``.

    The encoder sees ``x`` flattened to (N, D); ``encode`` returns the code (N, k).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x.flatten(1))  # (N, D) -> (N, k)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)  # (N, k) -> (N, D)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)).view_as(x)


def linear_autoencoder(n_in: int, code_size: int, bias: bool = True) -> Autoencoder:
    """Encoder x -> W1 x + b1 (code_size), decoder z -> W2 z + b2 (n_in); no nonlinearity."""
    check_positive_int(n_in, "linear_autoencoder", "n_in")
    check_positive_int(code_size, "linear_autoencoder", "code_size")
    return Autoencoder(nn.Linear(n_in, code_size, bias=bias), nn.Linear(code_size, n_in, bias=bias))


def mlp_autoencoder(
    n_in: int,
    hidden: Sequence[int],
    code_size: int,
    activation: str = "relu",
    code_activation: str = "identity",
    out_activation: str = "sigmoid",
) -> Autoencoder:
    """Encoder n_in -> hidden... -> code_size, decoder the mirror image back to n_in.

    ``activation`` follows every hidden layer, ``code_activation`` the code layer and
    ``out_activation`` the output (sigmoid keeps reconstructions in [0, 1] like the pixels).
    """
    fn = "mlp_autoencoder"
    check_positive_int(n_in, fn, "n_in")
    check_positive_int(code_size, fn, "code_size")
    if isinstance(hidden, int) or not all(isinstance(h, int) and h >= 1 for h in hidden):
        raise TypeError(f"{fn}: hidden must be a sequence of positive ints, got {hidden!r}")
    for name, act in (
        ("activation", activation),
        ("code_activation", code_activation),
        ("out_activation", out_activation),
    ):
        if act not in ACTIVATIONS:
            raise ValueError(f"{fn}: {name} must be one of {sorted(ACTIVATIONS)}, got {act!r}")

    sizes = [n_in, *hidden, code_size]
    encoder = mlp(sizes, activation, flatten=False, out_activation=code_activation)
    decoder = mlp(sizes[::-1], activation, flatten=False, out_activation=out_activation)
    return Autoencoder(encoder, decoder)


class Denoising(nn.Module):
    """Wraps an autoencoder: in training mode the input is corrupted before encoding, in
    eval mode it is not. Trained with clean targets, it learns to undo the corruption."""

    def __init__(
        self,
        autoencoder: nn.Module,
        level: float,
        kind: str = "mask",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        corrupt(torch.zeros(1), level, kind, generator)  # validates the arguments
        self.autoencoder = autoencoder
        self.level, self.kind, self.generator = level, kind, generator

    def encode(self, x: Tensor) -> Tensor:
        encode = cast(Callable[[Tensor], Tensor], self.autoencoder.encode)
        return encode(x)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            x = corrupt(x, self.level, self.kind, self.generator)
        return self.autoencoder(x)


# ----------------------------------------------------------------------------- seq2seq


class Seq2SeqAutoencoder(nn.Module):
    """A recurrent encoder-decoder for integer sequences (Sutskever et al. 2014).

    The encoder RNN reads x (N, L) and its final state is the code, one fixed-size vector
    per sequence. The decoder RNN starts from that state and emits the target one token at
    a time, fed its previous token (a start token first). In training mode it is fed the
    true previous token (teacher forcing), which is computable from x because the target
    is ``x`` itself (``reverse=False``) or ``x.flip(1)``; in eval mode it decodes greedily,
    fed its own predictions. Returns logits (N, L, n_symbols).
    """

    def __init__(
        self,
        n_symbols: int,
        hidden_size: int = 64,
        embed_size: int = 16,
        cell: str = "gru",
        reverse: bool = False,
    ) -> None:
        super().__init__()
        fn = "Seq2SeqAutoencoder"
        check_positive_int(n_symbols, fn, "n_symbols", minimum=2)
        check_positive_int(hidden_size, fn, "hidden_size")
        check_positive_int(embed_size, fn, "embed_size")
        if cell not in ("gru", "lstm"):
            raise ValueError(f"{fn}: cell must be 'gru' or 'lstm', got {cell!r}")
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.n_symbols, self.reverse = n_symbols, reverse
        self.embed = nn.Embedding(n_symbols + 1, embed_size)  # index n_symbols = start token
        self.encoder = rnn(embed_size, hidden_size, batch_first=True)
        self.decoder = rnn(embed_size, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, n_symbols)

    def _check(self, x: Tensor) -> None:
        check_ndim(x, "Seq2SeqAutoencoder", "x", 2, "(N, L) of integer tokens")
        if x.dtype != torch.long:
            raise TypeError(f"Seq2SeqAutoencoder: x must hold int64 tokens, got {x.dtype}")
        if x.numel() and (x.min() < 0 or x.max() >= self.n_symbols):
            raise ValueError(f"Seq2SeqAutoencoder: tokens of x must be in [0, {self.n_symbols})")

    def encode(self, x: Tensor):
        """The code: the encoder's final state, (1, N, hidden) (a pair for an LSTM)."""
        self._check(x)
        _, state = self.encoder(self.embed(x))
        return state

    def forward(self, x: Tensor) -> Tensor:
        state = self.encode(x)
        n, length = x.shape
        start = torch.full((n, 1), self.n_symbols, dtype=torch.long, device=x.device)
        if self.training:  # teacher forcing: feed the true previous target tokens
            target = x.flip(1) if self.reverse else x
            inputs = torch.cat([start, target[:, :-1]], dim=1)  # (N, L)
            out, _ = self.decoder(self.embed(inputs), state)  # (N, L, hidden)
            return self.readout(out)
        logits, token = [], start
        for _ in range(length):  # greedy decoding: feed back the model's own prediction
            out, state = self.decoder(self.embed(token), state)  # (N, 1, hidden)
            step = self.readout(out)  # (N, 1, n_symbols)
            logits.append(step)
            token = step.argmax(dim=-1)
        return torch.cat(logits, dim=1)


# ----------------------------------------------------------------------------- pretraining


def pretrain_layerwise(
    x: Tensor,
    sizes: Sequence[int],
    activation: str = "sigmoid",
    noise: float = 0.3,
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> list[nn.Linear]:
    """Greedy layer-wise pretraining with stacked denoising autoencoders (Vincent et al. 2008).

    Layer l is the encoder of a one-hidden-layer denoising autoencoder (masking noise
    ``noise``) trained to reconstruct the codes of layers 1..l-1 on ``x`` (N, sizes[0]);
    earlier layers stay fixed. Returns the trained encoder layers sizes[0] -> ... -> sizes[-1].
    """
    fn = "pretrain_layerwise"
    check_tensor(x, fn, "x")
    x = x.flatten(1)
    if len(sizes) < 2 or not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ValueError(f"{fn}: sizes must be at least two positive ints, got {list(sizes)}")
    if x.shape[1] != sizes[0]:
        raise ValueError(f"{fn}: x has {x.shape[1]} features but sizes[0] is {sizes[0]}")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{fn}: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
        )
    check_positive_int(epochs, fn, "epochs")
    act = ACTIVATIONS[activation]()
    layers: list[nn.Linear] = []
    codes = x
    for depth, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        # the first layer reconstructs pixels in [0, 1] (sigmoid); deeper ones reconstruct codes
        out_act = "sigmoid" if depth == 0 else ("identity" if activation == "relu" else activation)
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, global RNG untouched
            torch.manual_seed(effective_seed(seed + depth))
            encoder = nn.Sequential(nn.Linear(a, b), ACTIVATIONS[activation]())
            decoder = nn.Sequential(nn.Linear(b, a), ACTIVATIONS[out_act]())
        dae = Denoising(
            Autoencoder(encoder, decoder), noise, generator=make_generator(seed + 1000 + depth)
        )
        opt = torch.optim.Adam(dae.parameters(), lr=lr)
        fit(
            dae,
            (codes, codes),
            epochs=epochs,
            batch_size=batch_size,
            optimizer=opt,
            loss_fn=F.mse_loss,
            metric=None,
            seed=seed + depth,
            device=device,
            progress=False,
        )
        layer = cast(nn.Linear, encoder[0]).cpu()
        layers.append(layer)
        with torch.no_grad():
            codes = act(layer(codes.cpu()))
    return layers
