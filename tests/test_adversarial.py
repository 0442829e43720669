"""Tests of dlcore.adversarial: attack properties, parity with hand-written formulas, checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcore.adversarial import (
    AscentConfig,
    ascend,
    class_visualization,
    dream,
    fgsm,
    input_gradient,
    pgd,
)
from dlcore.transforms import gaussian_blur


def linear_model(d: int = 12, k: int = 4, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(d, k).double()


def small_cnn(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(4 * 4 * 4, 5),
    ).double()


def batch(n: int = 16, shape: tuple[int, ...] = (12,), k: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g, dtype=torch.float64)
    y = torch.randint(0, k, (n,), generator=g)
    return x, y


def per_example_loss(model: nn.Module, x, y):
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


# ----------------------------------------------------------------------------- input_gradient


def test_input_gradient_matches_softmax_regression_formula():
    model = linear_model()
    x, y = batch()
    p = torch.softmax(model(x), dim=1)
    onehot = F.one_hot(y, 4).double()
    expected = (p - onehot) @ model.weight  # dL_i/dx_i = W^T (p_i - e_y)
    torch.testing.assert_close(
        input_gradient(model, x, y), expected.detach(), atol=1e-12, rtol=1e-5
    )


# ----------------------------------------------------------------------------- fgsm


def test_fgsm_equals_signed_gradient_step():
    model = small_cnn()
    x, y = batch(8, (1, 8, 8), k=5)
    xr = x.clone().requires_grad_(True)
    F.cross_entropy(model(xr), y).backward()
    expected = (x + 0.07 * xr.grad.sign()).clamp(0, 1)
    assert torch.equal(fgsm(model, x, y, 0.07), expected)


@pytest.mark.parametrize("eps", [0.01, 0.1, 0.3])
def test_fgsm_stays_in_eps_ball_and_unit_range(eps):
    model = small_cnn()
    x, y = batch(32, (1, 8, 8), k=5, seed=3)
    x[0] = 0.0  # pixels already at the edges of [0, 1]
    x[1] = 1.0
    xa = fgsm(model, x, y, eps)
    assert xa.shape == x.shape and not xa.requires_grad
    assert (xa - x).abs().max() <= eps + 1e-12
    assert xa.min() >= 0.0 and xa.max() <= 1.0


def test_fgsm_raises_every_loss_of_a_linear_model():
    # The loss is convex in x, so a step along sign(grad) raises it by at least eps * ||grad||_1
    # (no pixel is clamped because x stays inside [0.2, 0.8]).
    model = linear_model()
    x, y = batch()
    x = 0.2 + 0.6 * x
    eps = 0.1
    before = per_example_loss(model, x, y)
    after = per_example_loss(model, fgsm(model, x, y, eps), y)
    g = input_gradient(model, x, y)
    assert torch.all(after >= before + eps * g.abs().sum(1) - 1e-12)


def test_fgsm_raises_the_loss_of_a_cnn():
    model = small_cnn()
    x, y = batch(64, (1, 8, 8), k=5, seed=4)
    before = per_example_loss(model, x, y)
    after = per_example_loss(model, fgsm(model, x, y, 0.05), y)
    assert after.mean() > before.mean()
    assert (after > before).float().mean() > 0.9


def test_fgsm_with_zero_eps_is_the_identity():
    model = small_cnn()
    x, y = batch(4, (1, 8, 8), k=5)
    assert torch.equal(fgsm(model, x, y, 0.0), x)


@pytest.mark.parametrize("training", [True, False])
def test_attacks_leave_mode_and_parameter_gradients_alone(training):
    model = small_cnn(dropout=0.5)
    x, y = batch(8, (1, 8, 8), k=5)
    model.train(training)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.25)
    a = fgsm(model, x, y, 0.1)
    b = fgsm(model, x, y, 0.1)
    assert torch.equal(a, b)  # eval mode inside: dropout does not make the attack random
    pgd(model, x, y, 0.1, steps=3, step_size=0.05, generator=torch.Generator().manual_seed(0))
    dream(model, model[0], x, AscentConfig(steps=2))
    class_visualization(model, [0] * 8, x, AscentConfig(steps=2))
    assert model.training is training
    for p in model.parameters():
        assert torch.equal(p.grad, torch.full_like(p, 0.25))


# ----------------------------------------------------------------------------- pgd


@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_stays_in_eps_ball_and_unit_range(targeted):
    model = small_cnn()
    x, y = batch(32, (1, 8, 8), k=5, seed=5)
    eps = 0.08
    xa = pgd(
        model,
        x,
        y,
        eps,
        steps=7,
        step_size=0.03,
        targeted=targeted,
        generator=torch.Generator().manual_seed(1),
    )
    assert (xa - x).abs().max() <= eps + 1e-12
    assert xa.min() >= 0.0 and xa.max() <= 1.0


def test_pgd_one_step_without_random_start_equals_fgsm():
    model = small_cnn()
    x, y = batch(16, (1, 8, 8), k=5)
    assert torch.equal(
        pgd(model, x, y, 0.1, steps=1, step_size=0.1, random_start=False), fgsm(model, x, y, 0.1)
    )


def test_pgd_raises_the_loss_at_least_as_much_as_fgsm_on_average():
    model = small_cnn()
    x, y = batch(64, (1, 8, 8), k=5, seed=6)
    clean = per_example_loss(model, x, y).mean()
    one = per_example_loss(model, fgsm(model, x, y, 0.1), y).mean()
    many = per_example_loss(
        model,
        pgd(
            model, x, y, 0.1, steps=10, step_size=0.025, generator=torch.Generator().manual_seed(0)
        ),
        y,
    ).mean()
    assert clean < one <= many + 1e-9


def test_targeted_pgd_reaches_every_target_on_a_linear_model():
    # Logit k is 4 * x_k: class k wins once pixel k is the brightest; eps 0.6 from 0.5 allows it.
    model = nn.Linear(5, 5, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(4 * torch.eye(5, dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    x = 0.3 + 0.4 * torch.rand(50, 5, generator=g, dtype=torch.float64)
    target = (
        model(x).argmax(1) + torch.randint(1, 5, (50,), generator=g)
    ) % 5  # never the current class
    xa = pgd(model, x, target, eps=0.6, steps=20, step_size=0.1, targeted=True, generator=g)
    assert torch.equal(model(xa).argmax(1), target)
    assert (xa - x).abs().max() <= 0.6 + 1e-12


def test_targeted_pgd_lowers_the_target_loss():
    model = small_cnn()
    x, y = batch(32, (1, 8, 8), k=5, seed=7)
    target = (y + 1) % 5
    xa = pgd(
        model,
        x,
        target,
        0.2,
        steps=10,
        step_size=0.05,
        targeted=True,
        generator=torch.Generator().manual_seed(0),
    )
    assert per_example_loss(model, xa, target).mean() < per_example_loss(model, x, target).mean()


def test_pgd_random_start_follows_the_generator():
    model = small_cnn()
    x, y = batch(8, (1, 8, 8), k=5)

    def run(seed: int):
        return pgd(
            model, x, y, 0.1, steps=2, step_size=0.01, generator=torch.Generator().manual_seed(seed)
        )

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


# ----------------------------------------------------------------------------- bad input


def test_bad_input_gets_clear_errors():
    model = small_cnn()
    x, y = batch(4, (1, 8, 8), k=5)
    with pytest.raises(ValueError, match="eps"):
        fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match="eps"):
        pgd(model, x, y, -0.1, steps=3, step_size=0.1)
    with pytest.raises(ValueError, match="eps"):
        fgsm(model, x, y, float("nan"))
    with pytest.raises(TypeError, match="eps"):
        fgsm(model, x, y, "0.1")
    with pytest.raises(ValueError, match="4 examples but y has 3"):
        fgsm(model, x, y[:3], 0.1)
    with pytest.raises(ValueError, match="4 examples but y has 5"):
        pgd(model, x, torch.zeros(5, dtype=torch.long), 0.1, steps=2, step_size=0.1)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fgsm(lambda t: t, x, y, 0.1)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        pgd("net", x, y, 0.1, steps=2, step_size=0.1)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        fgsm(model, x.numpy(), y, 0.1)
    with pytest.raises(TypeError, match="integer class labels"):
        fgsm(model, x, y.double(), 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fgsm(model, 2 * x + 0.5, y, 0.1)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, x, y, 0.1, steps=0, step_size=0.1)
    with pytest.raises(ValueError, match="step_size"):
        pgd(model, x, y, 0.1, steps=2, step_size=0.0)
    with pytest.raises(TypeError, match="targeted"):
        pgd(model, x, y, 0.1, steps=2, step_size=0.1, targeted="yes")
    with pytest.raises(TypeError, match="generator"):
        pgd(model, x, y, 0.1, steps=2, step_size=0.1, generator=0)


def test_ascent_bad_input_gets_clear_errors():
    model = small_cnn()
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="config.steps"):
        ascend(lambda t: t.sum((1, 2, 3)), x, AscentConfig(steps=0))
    with pytest.raises(ValueError, match="config.lr"):
        ascend(lambda t: t.sum((1, 2, 3)), x, AscentConfig(lr=-1.0))
    with pytest.raises(ValueError, match="config.clamp"):
        ascend(lambda t: t.sum((1, 2, 3)), x, AscentConfig(clamp=(1.0, 0.0)))
    with pytest.raises(ValueError, match="one score per example"):
        ascend(lambda t: t.sum(), x, AscentConfig(steps=1))
    with pytest.raises(TypeError, match="config must be an AscentConfig"):
        ascend(lambda t: t.sum((1, 2, 3)), x, {"steps": 3})
    with pytest.raises(ValueError, match="2 classes but x0 has 3"):
        class_visualization(model, [0, 1], torch.rand(3, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="submodule"):
        dream(model, nn.ReLU(), x)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(x, -1.0)
    with pytest.raises(ValueError, match="x must be"):
        gaussian_blur(torch.rand(5), 1.0)


# ----------------------------------------------------------------------------- blur and ascent


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7])
def test_gaussian_blur_equals_a_2d_convolution_with_the_outer_product_kernel(sigma):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 9, 7, generator=g, dtype=torch.float64)
    r = max(1, int(torch.tensor(2 * sigma).ceil()))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k1 = torch.exp(-0.5 * (t / sigma) ** 2)
    k1 = k1 / k1.sum()
    k2 = torch.outer(k1, k1).view(1, 1, 2 * r + 1, 2 * r + 1)
    padded = F.pad(x.reshape(6, 1, 9, 7), (r, r, r, r), mode="replicate")
    expected = F.conv2d(padded, k2).reshape(3, 2, 9, 7)
    torch.testing.assert_close(gaussian_blur(x, sigma), expected, atol=1e-12, rtol=1e-5)


def test_gaussian_blur_keeps_constants_and_works_on_signals():
    torch.testing.assert_close(
        gaussian_blur(torch.full((2, 1, 6, 6), 0.3), 1.0), torch.full((2, 1, 6, 6), 0.3)
    )
    s = torch.zeros(1, 21)
    s[0, 10] = 1.0
    out = gaussian_blur(s, 1.0)
    assert torch.isclose(out.sum(), torch.tensor(1.0)) and out[0, 10] < 1.0 and out[0, 9] > 0
    assert torch.equal(gaussian_blur(s, 0.0), s)


def test_class_visualization_raises_the_class_score_and_respects_the_clamp():
    model = small_cnn()
    x0 = 0.5 + 0.01 * torch.randn(
        5, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    cfg = AscentConfig(
        steps=30, lr=0.05, l2=0.01, jitter=1, blur_sigma=0.5, blur_every=3, clamp=(0.0, 1.0)
    )
    v = class_visualization(model, range(5), x0, cfg, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before, after = model(x0).diagonal(), model(v).diagonal()
    assert torch.all(after > before)
    assert v.min() >= 0.0 and v.max() <= 1.0


def test_ascend_is_deterministic_given_a_generator_and_reaches_a_known_optimum():
    # maximise -(x - 0.3)^2 summed: the ascent must settle near 0.3 everywhere.
    x0 = torch.rand(3, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cfg = AscentConfig(steps=400, lr=0.002, jitter=2)
    obj = lambda t: -(t - 0.3).pow(2).sum(1)
    a = ascend(obj, x0, cfg, generator=torch.Generator().manual_seed(5))
    b = ascend(obj, x0, cfg, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert (a - 0.3).abs().max() < 0.01


def test_dream_raises_the_layer_energy():
    model = small_cnn()
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    layer = model[1]  # the ReLU after the convolution
    captured = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    d = dream(model, layer, x, AscentConfig(steps=10, lr=0.02, clamp=(0.0, 1.0)))
    captured.clear()
    with torch.no_grad():
        model(x)
        model(d)
    handle.remove()
    e0, e1 = (c.flatten(1).pow(2).mean(1) for c in captured)
    assert torch.all(e1 > e0)
