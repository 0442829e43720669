"""dlcore.dropout: property tests (mean preserved, drop rate, scaling of the survivors,
eval-mode identity, generator determinism), gradients, the helpers, and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcore.dropout import Dropout, dropout, dropout_ridge, max_norm_, mc_dropout_predict

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_drop_rate_and_mean_preserved(p):
    x = torch.rand(400, 500, generator=gen(0), dtype=F64) + 0.5  # no zeros
    out = dropout(x, p, generator=gen(1))
    n = x.numel()
    rate = (out == 0).double().mean().item()
    assert abs(rate - p) < 5 * (p * (1 - p) / n) ** 0.5  # five standard errors
    # the mean over many elements is preserved within a few standard errors
    std_err = (x.var().item() + x.pow(2).mean().item() * p / (1 - p)) ** 0.5 / n**0.5
    assert abs(out.mean().item() - x.mean().item()) < 5 * std_err


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_survivors_scaled_like_torch(p):
    x = torch.rand(50, 60, generator=gen(2), dtype=F64) + 0.1
    ours = dropout(x, p, generator=gen(3))
    torch.manual_seed(0)
    theirs = F.dropout(x, p, training=True)
    for out in (ours, theirs):
        kept = out != 0
        torch.testing.assert_close(out[kept], x[kept] / (1 - p))


def test_expected_value_per_element():
    # averaging many independent masks recovers x element by element
    x = torch.randn(20, dtype=F64, generator=gen(4))
    avg = torch.stack([dropout(x, 0.5, generator=gen(100 + i)) for i in range(4000)]).mean(0)
    torch.testing.assert_close(avg, x, atol=0.1, rtol=1e-5)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4, 5)])
def test_eval_is_identity(shape):
    x = torch.randn(shape)
    assert dropout(x, 0.7, training=False) is x
    assert dropout(x, 0.0, training=True) is x
    layer = Dropout(0.7).eval()
    assert torch.equal(layer(x), x)


def test_same_seed_same_mask_and_different_seed_different_mask():
    x = torch.randn(100, 100)
    a = dropout(x, 0.5, generator=gen(7))
    b = dropout(x, 0.5, generator=gen(7))
    c = dropout(x, 0.5, generator=gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_layer_uses_its_generator_and_reports_p():
    x = torch.ones(10, 10)
    assert torch.equal(Dropout(0.4, generator=gen(5))(x), dropout(x, 0.4, generator=gen(5)))
    assert "p=0.4" in repr(Dropout(0.4))


def test_gradient_is_the_mask_over_keep_probability():
    x = torch.randn(30, 40, dtype=F64, requires_grad=True)
    out = dropout(x, 0.25, generator=gen(6))
    (grad,) = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(grad, (out != 0).double() / 0.75)


def test_dtype_and_shape_kept():
    x = torch.randn(3, 4, 5, dtype=torch.float32)
    out = dropout(x, 0.5, generator=gen(0))
    assert out.dtype == torch.float32 and out.shape == x.shape


# ----------------------------------------------------------------------------- helpers


def test_mc_predict_changes_only_dropout_layers_and_restores_modes():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), Dropout(0.5), nn.Linear(8, 3)
    )
    model.train()
    running = model[1].running_mean.clone()
    probs = mc_dropout_predict(model, torch.randn(6, 5), samples=7)
    assert probs.shape == (7, 6, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(7, 6))
    assert not torch.allclose(probs[0], probs[1])  # dropout was active
    assert torch.equal(model[1].running_mean, running)  # batch norm was in eval mode
    assert all(m.training for m in model.modules())  # modes restored


def test_mc_predict_needs_dropout():
    with pytest.raises(ValueError, match="no dropout layer"):
        mc_dropout_predict(nn.Linear(3, 2), torch.randn(2, 3))


@pytest.mark.parametrize("samples", [0, -1])
def test_mc_predict_bad_samples(samples):
    with pytest.raises(ValueError, match="samples must be >= 1"):
        mc_dropout_predict(
            nn.Sequential(nn.Linear(3, 2), Dropout()), torch.randn(2, 3), samples=samples
        )


def test_mc_predict_bad_model():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        mc_dropout_predict(lambda x: x, torch.randn(2, 3))


def test_max_norm_bounds_rows_and_leaves_small_rows():
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0, 0, 0], [0.1, 0, 0, 0], [0, 0, 0, 10.0]]))
    max_norm_(nn.Sequential(layer), 2.0)
    torch.testing.assert_close(layer.weight.norm(dim=1), torch.tensor([2.0, 0.1, 2.0]))
    torch.testing.assert_close(layer.weight[0], torch.tensor([1.2, 1.6, 0, 0]))


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (0, ValueError, "must be > 0"),
        (-1.0, ValueError, "must be > 0"),
        (float("nan"), ValueError, "must be a finite number > 0"),
        ("2", TypeError, "must be a number"),
    ],
)
def test_max_norm_bad_value(bad, error, message):
    with pytest.raises(error, match=f"max_norm_: max_norm {message}"):
        max_norm_(nn.Linear(2, 2), bad)


def test_dropout_ridge_matches_expected_loss_minimum():
    g = gen(11)
    x = torch.randn(60, 4, generator=g, dtype=F64) * torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=F64)
    y = torch.randn(60, generator=g, dtype=F64)
    p = 0.3
    w = dropout_ridge(x, y, p).requires_grad_()
    lam = p / (1 - p)
    expected = ((y - x @ w) ** 2).sum() + lam * (w**2 * (x**2).sum(0)).sum()
    (grad,) = torch.autograd.grad(expected, w)
    torch.testing.assert_close(grad, torch.zeros_like(grad), atol=1e-9, rtol=1e-5)
    ols = torch.linalg.lstsq(x, y[:, None]).solution[:, 0]
    torch.testing.assert_close(dropout_ridge(x, y, 0.0), ols)


def test_dropout_ridge_bad_shapes():
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        dropout_ridge(torch.randn(5), torch.randn(5), 0.5)
    with pytest.raises(ValueError, match="y must have 1 dimensions"):
        dropout_ridge(torch.randn(5, 2), torch.randn(5, 1), 0.5)
    with pytest.raises(ValueError, match="5 rows but y has 4"):
        dropout_ridge(torch.randn(5, 2), torch.randn(4), 0.5)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("p", [1.0, 1.5, -0.1, float("nan")])
def test_p_out_of_range(p):
    with pytest.raises(
        ValueError,
        match=r"p \(the probability of dropping a unit\) must be (a finite number )?in \[0, 1\)",
    ):
        dropout(torch.ones(3), p)
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        Dropout(p)
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        dropout_ridge(torch.ones(3, 2), torch.ones(3), p)


@pytest.mark.parametrize("p", ["0.5", None, True])
def test_p_not_a_number(p):
    with pytest.raises(
        TypeError, match=r"p \(the probability of dropping a unit\) must be a number"
    ):
        dropout(torch.ones(3), p)


def test_x_not_a_tensor():
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        dropout([1.0, 2.0], 0.5)


def test_x_not_floating_point():
    with pytest.raises(TypeError, match="floating-point"):
        dropout(torch.ones(3, dtype=torch.long), 0.5)


def test_training_not_bool():
    with pytest.raises(TypeError, match="training must be True or False"):
        dropout(torch.ones(3), 0.5, training=1)


def test_generator_wrong_type():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        dropout(torch.ones(3), 0.5, generator=42)
