"""Tests of dlcore.deep: initialisations, deep and residual MLPs, per-layer measurements."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcore.deep import (
    INITS,
    ResidualBlock,
    ResidualMLP,
    benchmark,
    deep_mlp,
    init_linear_,
    init_std,
    layer_gradient_norms,
    linear_layers,
    residual_mlp,
    weight_change,
    weight_snapshot,
)
from dlcore.training import count_parameters


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- initialisation


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("naive", lambda i, o: 1 / (3 * i)),
        ("xavier", lambda i, o: 2 / (i + o)),
        ("he", lambda i, o: 2 / i),
    ],
)
@pytest.mark.parametrize(("fan_in", "fan_out"), [(1, 1), (64, 10), (300, 700)])
def test_init_std_formula(scheme, expected, fan_in, fan_out):
    assert math.isclose(init_std(scheme, fan_in, fan_out) ** 2, expected(fan_in, fan_out))


@pytest.mark.parametrize("scheme", INITS)
def test_init_linear_has_the_right_variance(scheme):
    layer = nn.Linear(800, 600)
    init_linear_(layer, scheme, generator=gen(1))
    want = init_std(scheme, 800, 600) ** 2
    got = layer.weight.detach().double().var().item()
    assert abs(got / want - 1) < 0.02  # 480,000 samples: relative std of the estimate ~0.2%
    assert abs(layer.weight.detach().double().mean().item()) < 0.01 * math.sqrt(want)
    assert torch.equal(layer.bias, torch.zeros(600))


def test_torch_default_linear_has_the_naive_variance():
    layer = nn.Linear(1000, 500)
    ratio = layer.weight.detach().double().var().item() / init_std("naive", 1000, 500) ** 2
    assert abs(ratio - 1) < 0.02


def test_init_linear_matches_torch_init_with_same_generator():
    layer, ref = nn.Linear(70, 40), torch.empty(40, 70)
    init_linear_(layer, "he", generator=gen(3))
    nn.init.kaiming_normal_(ref, nonlinearity="relu", generator=gen(3))
    torch.testing.assert_close(layer.weight, ref)
    init_linear_(layer, "xavier", generator=gen(3))
    nn.init.xavier_normal_(ref, generator=gen(3))
    torch.testing.assert_close(layer.weight, ref)


def test_init_linear_is_deterministic_and_covers_every_layer():
    a = init_linear_(deep_mlp(5, 7, 3, 2), "he", generator=gen(4))
    b = init_linear_(deep_mlp(5, 7, 3, 2), "he", generator=gen(4))
    for la, lb in zip(linear_layers(a), linear_layers(b), strict=True):
        assert torch.equal(la.weight, lb.weight)
    c = init_linear_(deep_mlp(5, 7, 3, 2), "he", generator=gen(5))
    assert not torch.equal(linear_layers(a)[0].weight, linear_layers(c)[0].weight)


def test_init_linear_keeps_dtype():
    layer = nn.Linear(10, 10).double()
    init_linear_(layer, "xavier", generator=gen(0))
    assert layer.weight.dtype == torch.float64


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("depth", [1, 4, 12])
def test_deep_mlp_shapes_and_layers(activation, depth):
    model = deep_mlp(64, 32, depth, 10, activation, "he", generator=gen(0))
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 10)
    layers = linear_layers(model)
    assert len(layers) == depth + 1
    assert [(la.in_features, la.out_features) for la in layers] == [(64, 32)] + [(32, 32)] * (
        depth - 1
    ) + [(32, 10)]
    assert (
        sum(isinstance(m, nn.Module) and type(m).__name__.lower() == activation for m in model)
        == depth
    )


def test_deep_mlp_without_flatten():
    model = deep_mlp(40, 16, 3, 10, flatten=False)
    assert model(torch.randn(4, 40)).shape == (4, 10)
    assert not isinstance(model[0], nn.Flatten)


@pytest.mark.parametrize("depth", [1, 2, 7])
def test_residual_mlp_shapes_and_same_parameters_as_plain(depth):
    res = residual_mlp(64, 24, depth, 10, "relu", "he", generator=gen(0))
    plain = deep_mlp(64, 24, depth, 10, "relu", "he", generator=gen(0))
    assert res(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    assert isinstance(res, ResidualMLP)
    assert len(res.blocks) == depth - 1
    assert count_parameters(res) == count_parameters(plain)
    assert [la.weight.shape for la in linear_layers(res)] == [
        la.weight.shape for la in linear_layers(plain)
    ]


def test_residual_block_forward_is_h_plus_branch():
    block = ResidualBlock(6, "tanh").double()
    h = torch.randn(4, 6, dtype=torch.float64, generator=gen(1))
    torch.testing.assert_close(block(h), h + block.linear(torch.tanh(h)))


def test_residual_mlp_branch_scale():
    depth = 9
    scaled = residual_mlp(16, 200, depth, 3, "relu", "he", generator=gen(2))
    unscaled = residual_mlp(16, 200, depth, 3, "relu", "he", generator=gen(2), branch_scale=1.0)
    for bs, bu in zip(scaled.blocks, unscaled.blocks, strict=True):
        torch.testing.assert_close(bs.linear.weight, bu.linear.weight / math.sqrt(depth))
    assert torch.equal(scaled.stem.weight, unscaled.stem.weight)
    assert torch.equal(scaled.head.weight, unscaled.head.weight)
    # branch_scale=0: every block is the identity at initialisation
    zero = residual_mlp(16, 20, depth, 3, "relu", "he", generator=gen(2), branch_scale=0.0)
    x = torch.randn(5, 16, generator=gen(3))
    torch.testing.assert_close(zero(x), zero.head(torch.relu(zero.stem(x))))


def test_residual_mlp_variance_grows_as_predicted():
    # With He init and ReLU, each unscaled block multiplies E[h^2] by 2 (on average).
    x = torch.randn(2000, 32, generator=gen(4))
    growth = []
    for seed in range(6):
        net = residual_mlp(32, 512, 4, 2, "relu", "he", generator=gen(seed), branch_scale=1.0)
        with torch.no_grad():
            h0 = net.stem(x)
            growth.append((net.blocks(h0).pow(2).mean() / h0.pow(2).mean()).item())
    assert 5 < sum(growth) / len(growth) < 12  # theory 2**3 = 8


# ----------------------------------------------------------------------------- gradient norms


def manual_norms(weights, biases, x, y, act, dact):
    """Hand-written backward pass of an MLP with mean cross-entropy (float64)."""
    a, inputs, zs = x, [], []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inputs.append(a)
        z = a @ w.T + b
        zs.append(z)
        a = act(z) if i < len(weights) - 1 else z
    delta = (torch.softmax(zs[-1], 1) - F.one_hot(y, zs[-1].shape[1])) / len(x)
    signals, grads = [delta], [delta.T @ inputs[-1]]
    for i in range(len(weights) - 2, -1, -1):
        delta = (delta @ weights[i + 1]) * dact(zs[i])
        signals.insert(0, delta)
        grads.insert(0, delta.T @ inputs[i])
    return torch.stack([g.norm() for g in grads]), torch.stack([s.norm() for s in signals])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    ("activation", "act", "dact"),
    [
        ("tanh", torch.tanh, lambda z: 1 - torch.tanh(z) ** 2),
        ("sigmoid", torch.sigmoid, lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))),
        ("relu", torch.relu, lambda z: (z > 0).double()),
    ],
)
def test_layer_gradient_norms_match_manual_backprop(seed, activation, act, dact):
    g = gen(seed)
    n_in, width, depth, n_out, n = (int(v) for v in torch.randint(2, 9, (5,), generator=g))
    model = deep_mlp(
        n_in, width, depth, n_out, activation, "xavier", generator=g, flatten=False
    ).double()
    with torch.no_grad():  # non-zero biases, so the test covers them
        for layer in linear_layers(model):
            layer.bias.normal_(0, 0.3, generator=g)
    x = torch.randn(n, n_in, dtype=torch.float64, generator=g)
    y = torch.randint(0, n_out, (n,), generator=g)
    layers = linear_layers(model)
    want_w, want_z = manual_norms(
        [la.weight for la in layers], [la.bias for la in layers], x, y, act, dact
    )
    got_w = layer_gradient_norms(model, x, y)
    got_z = layer_gradient_norms(model, x, y, wrt="output")
    assert got_w.dtype == torch.float64 and got_w.shape == (depth + 1,)
    torch.testing.assert_close(got_w, want_w.detach())
    torch.testing.assert_close(got_z, want_z.detach())


def test_layer_gradient_norms_on_residual_net_and_custom_loss():
    model = residual_mlp(5, 8, 4, 3, generator=gen(0)).double()
    x = torch.randn(6, 5, dtype=torch.float64, generator=gen(1))
    target = torch.randn(6, 3, dtype=torch.float64, generator=gen(2))
    got = layer_gradient_norms(model, x, target, loss_fn=F.mse_loss)
    loss = F.mse_loss(model(x), target)
    ref = torch.autograd.grad(loss, [la.weight for la in linear_layers(model)])
    torch.testing.assert_close(got, torch.stack([r.norm() for r in ref]))
    assert len(got) == 5


def test_layer_gradient_norms_leaves_grad_untouched():
    model = deep_mlp(4, 5, 2, 3, generator=gen(0))
    layer_gradient_norms(model, torch.randn(7, 4), torch.randint(0, 3, (7,)))
    assert all(p.grad is None for p in model.parameters())


# ----------------------------------------------------------------------------- weight change


def test_weight_change_measures_each_layer():
    model = deep_mlp(4, 6, 3, 2, generator=gen(0))
    snap = weight_snapshot(model)
    assert torch.equal(weight_change(model, snap), torch.zeros(4, dtype=torch.float64))
    layers = linear_layers(model)
    with torch.no_grad():
        layers[1].weight.mul_(1.5)  # moves by half its norm
        layers[3].weight.add_(1.0)
    rel = weight_change(model, snap)
    torch.testing.assert_close(rel[[0, 2]], torch.zeros(2, dtype=torch.float64))
    assert math.isclose(rel[1].item(), 0.5, rel_tol=1e-6)
    absolute = weight_change(model, snap, relative=False)
    assert math.isclose(absolute[3].item(), math.sqrt(layers[3].weight.numel()), rel_tol=1e-6)
    assert math.isclose(absolute[1].item(), 0.5 * snap[1].double().norm().item(), rel_tol=1e-6)


def test_weight_snapshot_is_a_copy():
    model = deep_mlp(4, 6, 1, 2, generator=gen(0))
    snap = weight_snapshot(model)
    with torch.no_grad():
        linear_layers(model)[0].weight.zero_()
    assert snap[0].abs().sum() > 0 and not snap[0].requires_grad


# ----------------------------------------------------------------------------- benchmark


def test_benchmark_calls_and_returns_positive_seconds():
    calls = []
    seconds = benchmark(lambda: calls.append(sum(range(1000))), repeats=4, warmup=2)
    assert len(calls) == 6
    assert math.isfinite(seconds) and seconds > 0


# ----------------------------------------------------------------------------- bad input


def test_bad_init_arguments():
    with pytest.raises(ValueError, match="scheme must be one of"):
        init_std("glorot", 3, 3)
    with pytest.raises(ValueError, match="fan_in must be >= 1"):
        init_std("he", 0, 3)
    with pytest.raises(TypeError, match="fan_out must be an int"):
        init_std("he", 3, 2.5)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        init_linear_(torch.zeros(3), "he")
    with pytest.raises(ValueError, match="scheme must be one of"):
        init_linear_(nn.Linear(2, 2), "kaiming")
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        init_linear_(nn.Linear(2, 2), "he", generator=0)
    with pytest.raises(ValueError, match="no nn.Linear layers"):
        init_linear_(nn.ReLU(), "he")


@pytest.mark.parametrize("build", [deep_mlp, residual_mlp])
def test_bad_model_arguments(build):
    with pytest.raises(ValueError, match="depth must be >= 1"):
        build(4, 4, 0, 2)
    with pytest.raises(TypeError, match="depth must be an int"):
        build(4, 4, 2.0, 2)
    with pytest.raises(TypeError, match="width must be an int"):
        build(4, True, 2, 2)
    with pytest.raises(ValueError, match="in_features must be >= 1"):
        build(-1, 4, 2, 2)
    with pytest.raises(ValueError, match="activation must be one of"):
        build(4, 4, 2, 2, activation="swish")
    with pytest.raises(ValueError, match="init must be one of"):
        build(4, 4, 2, 2, init="orthogonal")


def test_bad_branch_scale():
    with pytest.raises(ValueError, match="residual_mlp: branch_scale must be >= 0"):
        residual_mlp(4, 4, 3, 2, branch_scale=-0.5)
    with pytest.raises(ValueError, match="residual_mlp: branch_scale must be a finite number >= 0"):
        residual_mlp(4, 4, 3, 2, branch_scale=float("nan"))
    with pytest.raises(TypeError, match="branch_scale must be a number"):
        residual_mlp(4, 4, 3, 2, branch_scale="small")


def test_bad_gradient_norm_arguments():
    model = deep_mlp(4, 5, 2, 3)
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        layer_gradient_norms(model, x.numpy(), y)
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        layer_gradient_norms(model, x, [0, 1])
    with pytest.raises(ValueError, match="x has 6 rows but y has 5"):
        layer_gradient_norms(model, x, y[:5])
    with pytest.raises(ValueError, match="x is empty"):
        layer_gradient_norms(model, x[:0], y[:0])
    with pytest.raises(ValueError, match="wrt must be 'weight' or 'output'"):
        layer_gradient_norms(model, x, y, wrt="bias")
    with pytest.raises(ValueError, match="no nn.Linear layers"):
        layer_gradient_norms(nn.Sequential(nn.ReLU()), x, y)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        layer_gradient_norms("model", x, y)

    class Twice(nn.Module):  # one layer used twice: "output" is ambiguous
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, t):
            return self.lin(self.lin(t))

    with pytest.raises(ValueError, match="exactly once"):
        layer_gradient_norms(Twice(), x, torch.randint(0, 4, (6,)), wrt="output")


def test_bad_weight_change_arguments():
    model = deep_mlp(4, 5, 2, 3)
    snap = weight_snapshot(model)
    with pytest.raises(TypeError, match="snapshot must be a list"):
        weight_change(model, snap[0])
    with pytest.raises(ValueError, match="snapshot has 2 tensors but the model has 3"):
        weight_change(model, snap[:2])
    with pytest.raises(ValueError, match=r"snapshot\[1\] has shape \(5, 4\)"):
        weight_change(model, [snap[0], torch.zeros(5, 4), snap[2]])
    with pytest.raises(TypeError, match=r"snapshot\[2\] must be a torch.Tensor"):
        weight_change(model, [snap[0], snap[1], "w"])
    with pytest.raises(ValueError, match="no nn.Linear layers"):
        weight_snapshot(nn.Sequential(nn.Tanh()))


def test_bad_benchmark_arguments():
    with pytest.raises(TypeError, match="fn must be callable"):
        benchmark(42)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        benchmark(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup must be >= 0"):
        benchmark(lambda: None, warmup=-1)
