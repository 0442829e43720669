"""Tests of dlcore.autoencoders: PCA reconstruction, principal angles, the autoencoder
builders, corruption, the sequence-to-sequence autoencoder and layer-wise pretraining."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from dlcore.autoencoders import (
    Autoencoder,
    Denoising,
    Seq2SeqAutoencoder,
    linear_autoencoder,
    mlp_autoencoder,
    pca_basis,
    pca_reconstruct,
    pretrain_layerwise,
    principal_angles,
)
from dlcore.metrics import (
    reconstruction_error,
    sequence_accuracy,
    sequence_cross_entropy,
    token_accuracy,
)
from dlcore.transforms import corrupt


def _data(n: int = 50, d: int = 7, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=torch.float64) @ torch.randn(
        d, d, generator=gen, dtype=torch.float64
    )


# ----------------------------------------------------------------------------- PCA


@pytest.mark.parametrize("n,d", [(50, 7), (6, 10), (30, 3)])
def test_pca_full_rank_reconstructs_exactly(n, d):
    x = _data(n, d)
    k = min(n, d)
    mean, comps = pca_basis(x, k)
    assert comps.shape == (k, d) and mean.shape == (d,)
    assert reconstruction_error(x, pca_reconstruct(x, mean, comps)) < 1e-18


def test_pca_components_orthonormal_and_match_sklearn():
    from sklearn.decomposition import PCA

    x = _data(80, 9, seed=1)
    mean, comps = pca_basis(x, 4)
    torch.testing.assert_close(comps @ comps.T, torch.eye(4, dtype=x.dtype), atol=1e-12, rtol=1e-5)
    sk = PCA(4).fit(x.numpy())
    x_hat = torch.from_numpy(sk.inverse_transform(sk.transform(x.numpy())))
    torch.testing.assert_close(pca_reconstruct(x, mean, comps), x_hat, atol=1e-10, rtol=1e-5)


def test_pca_error_decreases_with_k_and_equals_discarded_variance():
    x = _data(60, 8, seed=2)
    errors = [reconstruction_error(x, pca_reconstruct(x, *pca_basis(x, k))) for k in range(9)]
    assert all(a >= b - 1e-9 for a, b in zip(errors, errors[1:], strict=False))
    eig = torch.linalg.eigvalsh(torch.cov(x.T, correction=0)).flip(0)  # descending
    for k in range(9):
        assert math.isclose(errors[k], eig[k:].sum().item(), rel_tol=1e-8, abs_tol=1e-10)


def test_pca_beats_random_subspace():
    x = _data(100, 10, seed=3)
    mean, comps = pca_basis(x, 3)
    q = torch.linalg.qr(torch.randn(10, 3, dtype=x.dtype)).Q.T
    assert reconstruction_error(x, pca_reconstruct(x, mean, comps)) < reconstruction_error(
        x, pca_reconstruct(x, mean, q)
    )


def test_pca_bad_input():
    with pytest.raises(TypeError, match="x"):
        pca_basis([[1.0, 2.0]], 1)
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        pca_basis(torch.zeros(3, 4, 5), 1)
    with pytest.raises(TypeError, match="floating-point"):
        pca_basis(torch.zeros(3, 4, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="k must be at most"):
        pca_basis(torch.zeros(3, 4), 4)
    with pytest.raises(TypeError, match="k must be an int"):
        pca_basis(torch.zeros(3, 4), 1.5)
    with pytest.raises(ValueError, match="features"):
        pca_reconstruct(torch.zeros(3, 4), torch.zeros(5), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="x_hat"):
        reconstruction_error(torch.zeros(3, 4), torch.zeros(3, 5))


# ----------------------------------------------------------------------------- principal angles


def test_angles_same_subspace_zero_and_basis_invariant():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(12, 4, generator=gen, dtype=torch.float64)
    mix = torch.randn(4, 4, generator=gen, dtype=torch.float64) + 4 * torch.eye(
        4, dtype=torch.float64
    )
    angles = principal_angles(a, a @ mix)  # same span, another (non-orthogonal) basis
    assert angles.shape == (4,)
    assert angles.abs().max() < 1e-7


def test_angles_orthogonal_subspaces_ninety_degrees():
    eye = torch.eye(6, dtype=torch.float64)
    angles = principal_angles(eye[:, :2], eye[:, 2:5])
    torch.testing.assert_close(angles, torch.full((2,), math.pi / 2, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(5))
def test_angles_match_scipy(seed):
    gen = torch.Generator().manual_seed(seed)
    d = int(torch.randint(3, 12, (1,), generator=gen))
    p, q = (int(v) for v in torch.randint(1, d + 1, (2,), generator=gen))
    a = torch.randn(d, p, generator=gen, dtype=torch.float64)
    b = torch.randn(d, q, generator=gen, dtype=torch.float64)
    ours = principal_angles(a, b).numpy()
    ref = np.sort(scipy.linalg.subspace_angles(a.numpy(), b.numpy()))
    np.testing.assert_allclose(ours, ref, atol=1e-7)  # scipy is only sqrt(eps)-accurate near 0
    np.testing.assert_allclose(principal_angles(b, a).numpy(), ours, atol=1e-12)  # symmetric


def test_small_angle_is_accurate():
    theta = 1e-9  # arccos of a cosine would round this to 0
    a = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    b = torch.tensor([[math.cos(theta)], [math.sin(theta)]], dtype=torch.float64)
    assert math.isclose(principal_angles(a, b).item(), theta, rel_tol=1e-6)


def test_angles_bad_input():
    with pytest.raises(TypeError, match="b must be a torch.Tensor"):
        principal_angles(torch.zeros(3, 1), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="a must have 2 dimensions"):
        principal_angles(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="dimension"):
        principal_angles(torch.zeros(3, 1), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="columns"):
        principal_angles(torch.zeros(3, 4), torch.zeros(3, 1))
    with pytest.raises(TypeError, match="floating-point"):
        principal_angles(torch.ones(3, 1, dtype=torch.long), torch.ones(3, 1))
    with pytest.raises(ValueError, match="finite"):
        principal_angles(torch.full((3, 1), float("nan")), torch.ones(3, 1))


# ----------------------------------------------------------------------------- autoencoders


def test_builders_shapes_and_code_size():
    x = torch.rand(5, 1, 8, 8)
    lin = linear_autoencoder(64, 3)
    assert isinstance(lin, Autoencoder)
    assert lin(x).shape == x.shape and lin.encode(x).shape == (5, 3)
    mlp = mlp_autoencoder(64, [32, 16], 4)
    assert mlp(x).shape == x.shape and mlp.encode(x).shape == (5, 4)
    out = mlp(x)
    assert out.min() >= 0 and out.max() <= 1  # sigmoid output
    assert mlp_autoencoder(64, [], 100, code_activation="relu").encode(x).shape == (5, 100)


def test_linear_autoencoder_is_linear_map():
    torch.manual_seed(0)
    ae = linear_autoencoder(6, 2, bias=False).double()
    x, y = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    torch.testing.assert_close(ae(2 * x + 3 * y), 2 * ae(x) + 3 * ae(y))
    product = ae.decoder.weight @ ae.encoder.weight  # (6, 6) of rank 2
    assert torch.linalg.matrix_rank(product) == 2


def test_linear_autoencoder_at_pca_solution_has_pca_error():
    x = _data(40, 6, seed=4)
    mean, comps = pca_basis(x, 3)
    ae = linear_autoencoder(6, 3).double()
    mix = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 3.0]], dtype=torch.float64)
    with torch.no_grad():  # any invertible mix of the components: same reconstructions
        ae.encoder.weight.copy_(mix @ comps)
        ae.encoder.bias.copy_(-(mix @ comps) @ mean)
        ae.decoder.weight.copy_(comps.T @ torch.linalg.inv(mix))
        ae.decoder.bias.copy_(mean)
    torch.testing.assert_close(ae(x), pca_reconstruct(x, mean, comps), atol=1e-10, rtol=1e-5)
    assert principal_angles(ae.decoder.weight, comps.T).max() < 1e-7


def test_builders_bad_input():
    with pytest.raises(ValueError, match="code_size"):
        linear_autoencoder(64, 0)
    with pytest.raises(TypeError, match="n_in"):
        linear_autoencoder(64.0, 2)
    with pytest.raises(TypeError, match="hidden"):
        mlp_autoencoder(64, 32, 4)
    with pytest.raises(ValueError, match="activation"):
        mlp_autoencoder(64, [32], 4, activation="swishy")
    with pytest.raises(ValueError, match="out_activation"):
        mlp_autoencoder(64, [32], 4, out_activation="softmax")


def test_corrupt_mask_rate_and_generator():
    x = torch.ones(200, 50)
    a = corrupt(x, 0.3, "mask", torch.Generator().manual_seed(1))
    b = corrupt(x, 0.3, "mask", torch.Generator().manual_seed(1))
    assert torch.equal(a, b)  # same generator state, same corruption
    assert abs((a == 0).float().mean().item() - 0.3) < 0.02
    assert torch.equal(corrupt(x, 0.0, "mask"), x)
    assert torch.equal(corrupt(x, 0.0, "gaussian"), x)
    g = corrupt(torch.zeros(400, 50), 0.5, "gaussian", torch.Generator().manual_seed(0))
    assert abs(g.std().item() - 0.5) < 0.02
    sp = corrupt(torch.full((100, 100), 0.5), 1.0, "saltpepper", torch.Generator().manual_seed(0))
    assert set(sp.unique().tolist()) == {0.0, 1.0}


def test_corrupt_bad_input():
    with pytest.raises(ValueError, match="level"):
        corrupt(torch.ones(3), 1.5, "mask")
    with pytest.raises(ValueError, match="level"):
        corrupt(torch.ones(3), -0.1, "gaussian")
    with pytest.raises(ValueError, match="kind"):
        corrupt(torch.ones(3), 0.1, "blur")
    with pytest.raises(TypeError, match="generator"):
        corrupt(torch.ones(3), 0.1, "mask", generator=0)
    with pytest.raises(TypeError, match="level"):
        corrupt(torch.ones(3), "0.1")
    with pytest.raises(TypeError, match="x"):
        corrupt([1.0], 0.1)


def test_denoising_corrupts_only_in_training():
    ae = linear_autoencoder(10, 10, bias=False)
    with torch.no_grad():
        ae.encoder.weight.copy_(torch.eye(10))
        ae.decoder.weight.copy_(torch.eye(10))
    dae = Denoising(ae, 0.5, "mask", torch.Generator().manual_seed(0))
    x = torch.ones(20, 10)
    dae.train()
    assert (dae(x) == 0).any()
    dae.eval()
    assert torch.equal(dae(x), x)
    with pytest.raises(ValueError, match="level"):
        Denoising(ae, 2.0)


def test_denoising_fits_and_beats_identity():
    """A denoising autoencoder trained on low-rank data removes masking noise."""
    from dlcore import fit

    gen = torch.Generator().manual_seed(0)
    x = torch.sigmoid(torch.randn(400, 2, generator=gen) @ torch.randn(2, 16, generator=gen))
    dae = Denoising(mlp_autoencoder(16, [32], 8), 0.3, "mask", torch.Generator().manual_seed(1))
    fit(
        dae,
        (x, x),
        epochs=25,
        batch_size=100,
        loss_fn=F.mse_loss,
        metric=None,
        progress=False,
        device="cpu",
        optimizer=torch.optim.Adam(dae.parameters(), lr=2e-2),
    )
    noisy = corrupt(x, 0.3, "mask", torch.Generator().manual_seed(2))
    dae.eval()
    with torch.no_grad():
        assert reconstruction_error(x, dae(noisy)) < 0.5 * reconstruction_error(x, noisy)


# ----------------------------------------------------------------------------- seq2seq


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_seq2seq_shapes_and_modes(cell):
    torch.manual_seed(0)
    model = Seq2SeqAutoencoder(5, hidden_size=8, embed_size=4, cell=cell, reverse=True)
    x = torch.randint(0, 5, (3, 6))
    model.train()
    assert model(x).shape == (3, 6, 5)
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (3, 6, 5)
    state = model.encode(x)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (1, 3, 8)  # one fixed-size vector per sequence


def test_seq2seq_greedy_equals_teacher_forcing_when_predictions_are_right():
    """In eval mode the decoder is fed its own predictions; where they equal the targets,
    the logits equal the teacher-forced ones."""
    torch.manual_seed(0)
    model = Seq2SeqAutoencoder(4, hidden_size=6, embed_size=3).double()
    x = torch.randint(0, 4, (5, 3))
    model.eval()
    with torch.no_grad():
        greedy = model(x)
        fed = greedy.argmax(-1)  # pretend these were the targets
        state = model.encode(x)
        start = torch.full((5, 1), 4, dtype=torch.long)
        out, _ = model.decoder(model.embed(torch.cat([start, fed[:, :-1]], 1)), state)
        torch.testing.assert_close(model.readout(out), greedy, atol=1e-12, rtol=1e-5)


def test_seq2seq_learns_to_copy_short_sequences():
    from dlcore import fit, predict

    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (256, 3), generator=gen)
    torch.manual_seed(0)
    model = Seq2SeqAutoencoder(4, hidden_size=24, embed_size=8)
    fit(
        model,
        (x, x),
        epochs=25,
        batch_size=64,
        loss_fn=sequence_cross_entropy,
        metric=token_accuracy,
        progress=False,
        device="cpu",
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
    )
    assert sequence_accuracy(predict(model, x), x) > 0.9


def test_sequence_metrics():
    targets = torch.tensor([[0, 1], [1, 1]])
    logits = F.one_hot(torch.tensor([[0, 1], [1, 0]]), 2).float()
    assert token_accuracy(logits, targets) == 0.75
    assert sequence_accuracy(logits, targets) == 0.5
    assert sequence_cross_entropy(logits * 50, targets).item() > 1.0


def test_seq2seq_bad_input():
    with pytest.raises(ValueError, match="n_symbols"):
        Seq2SeqAutoencoder(1)
    with pytest.raises(ValueError, match="cell"):
        Seq2SeqAutoencoder(4, cell="transformer")
    model = Seq2SeqAutoencoder(4)
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="int64"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        model(torch.full((2, 3), 4, dtype=torch.long))


# ----------------------------------------------------------------------------- pretraining


def test_pretrain_layerwise_shapes_and_determinism():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 12, generator=gen)
    a = pretrain_layerwise(x, [12, 8, 4], epochs=2, seed=3, device="cpu")
    b = pretrain_layerwise(x, [12, 8, 4], epochs=2, seed=3, device="cpu")
    assert [tuple(layer.weight.shape) for layer in a] == [(8, 12), (4, 8)]
    for la, lb in zip(a, b, strict=True):
        assert torch.equal(la.weight, lb.weight)


def test_pretrain_layerwise_leaves_global_rng_alone():
    x = torch.rand(32, 6)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    pretrain_layerwise(x, [6, 3], epochs=1, device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_pretrain_layerwise_bad_input():
    x = torch.rand(10, 6)
    with pytest.raises(ValueError, match="sizes"):
        pretrain_layerwise(x, [6])
    with pytest.raises(ValueError, match="sizes\\[0\\]"):
        pretrain_layerwise(x, [5, 3])
    with pytest.raises(ValueError, match="activation"):
        pretrain_layerwise(x, [6, 3], activation="softsign")
    with pytest.raises(ValueError, match="epochs"):
        pretrain_layerwise(x, [6, 3], epochs=0)
    with pytest.raises(TypeError, match="x"):
        pretrain_layerwise(x.numpy(), [6, 3])
