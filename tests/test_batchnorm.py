"""dlcore.batchnorm: float64 parity with torch.nn.functional.batch_norm in training and
evaluation mode (running buffers included), gradcheck of the hand-written backward pass,
the layer wrapper against nn.BatchNorm2d, and one test per argument check."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcore.batchnorm import BatchNorm, BatchNormFunction, batch_norm

F64 = torch.float64


def random_case(seed: int, image: bool):
    """Random shape, data with non-trivial mean and scale, parameters and buffers."""
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w = (torch.randint(2, 7, (4,), generator=gen)).tolist()
    shape = (n, c, h, w) if image else (n, c)
    x = (torch.randn(shape, generator=gen, dtype=F64) * 3 + 2).requires_grad_()
    weight = torch.randn(c, generator=gen, dtype=F64).requires_grad_()
    bias = torch.randn(c, generator=gen, dtype=F64).requires_grad_()
    rm = torch.randn(c, generator=gen, dtype=F64)
    rv = torch.rand(c, generator=gen, dtype=F64) + 0.5
    momentum = float(torch.rand((), generator=gen))
    eps = 10.0 ** -int(torch.randint(2, 7, (), generator=gen))
    return x, weight, bias, rm, rv, momentum, eps, gen


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("image", [False, True])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_matches_torch(seed, image, training, affine):
    x, weight, bias, rm, rv, momentum, eps, gen = random_case(seed, image)
    if not affine:
        weight = bias = None
    rm_ours, rv_ours, rm_torch, rv_torch = rm.clone(), rv.clone(), rm.clone(), rv.clone()
    ours = batch_norm(x, rm_ours, rv_ours, weight, bias, training, momentum, eps)
    theirs = F.batch_norm(x, rm_torch, rv_torch, weight, bias, training, momentum, eps)
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, theirs)
    assert torch.allclose(rm_ours, rm_torch) and torch.allclose(rv_ours, rv_torch)
    if not training:
        assert torch.equal(rm_ours, rm) and torch.equal(rv_ours, rv)
    else:
        assert not torch.allclose(rm_ours, rm)  # the buffers really moved
    upstream = torch.randn(x.shape, generator=gen, dtype=F64)
    inputs = (x,) if weight is None else (x, weight, bias)
    for a, b in zip(
        torch.autograd.grad(ours, inputs, upstream), torch.autograd.grad(theirs, inputs, upstream)
    ):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("seed", range(3))
def test_three_dimensional_input_and_no_buffers(seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 3, 7, generator=gen, dtype=F64)
    torch.testing.assert_close(
        batch_norm(x, None, None, training=True), F.batch_norm(x, None, None, training=True)
    )


def test_repeated_updates_match_torch():
    gen = torch.Generator().manual_seed(0)
    rm, rv = torch.zeros(5, dtype=F64), torch.ones(5, dtype=F64)
    rm_t, rv_t = rm.clone(), rv.clone()
    for _ in range(30):
        x = torch.randn(8, 5, generator=gen, dtype=F64) * 2 + 1
        batch_norm(x, rm, rv, training=True)
        F.batch_norm(x, rm_t, rv_t, training=True)
    assert torch.allclose(rm, rm_t) and torch.allclose(rv, rv_t)


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4, 3), (4, 2, 5)])
def test_gradcheck_manual_backward(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=gen, dtype=F64).requires_grad_()
    w = torch.randn(shape[1], generator=gen, dtype=F64).requires_grad_()
    b = torch.randn(shape[1], generator=gen, dtype=F64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, w, b: BatchNormFunction.apply(x, w, b, 1e-5)[0], (x, w, b)
    )
    assert torch.autograd.gradcheck(
        lambda x, w, b: batch_norm(x, None, None, w, b, training=True), (x, w, b)
    )
    rm, rv = torch.zeros(shape[1], dtype=F64), torch.ones(shape[1], dtype=F64)
    assert torch.autograd.gradcheck(
        lambda x, w, b: batch_norm(x, rm, rv, w, b, training=False), (x, w, b)
    )


def test_backward_gradient_orthogonal_to_shift_and_scale():
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(32, 4, generator=gen, dtype=F64) * 5 + 3).requires_grad_()
    (dx,) = torch.autograd.grad(
        batch_norm(x, None, None, training=True, eps=1e-12),
        x,
        torch.randn(32, 4, generator=gen, dtype=F64),
    )
    torch.testing.assert_close(dx.sum(0), torch.zeros(4, dtype=F64), atol=1e-12, rtol=1e-5)
    torch.testing.assert_close(
        ((x - x.mean(0)) * dx).sum(0), torch.zeros(4, dtype=F64), atol=1e-9, rtol=1e-5
    )


@pytest.mark.parametrize("training", [True, False])
def test_layer_matches_torch_layer(training):
    torch.manual_seed(0)
    ours, theirs = BatchNorm(3).double(), nn.BatchNorm2d(3).double()
    with torch.no_grad():
        for layer in (ours, theirs):
            layer.weight.copy_(torch.tensor([0.5, 1.5, -1.0]))
            layer.bias.copy_(torch.tensor([0.1, 0.0, 2.0]))
    ours.train(training)
    theirs.train(training)
    for _ in range(4):
        x = torch.randn(4, 3, 5, 5, dtype=F64) * 2 + 1
        torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    assert set(dict(ours.named_buffers())) >= {"running_mean", "running_var"}


def test_layer_without_affine_has_no_parameters():
    assert list(BatchNorm(4, affine=False).parameters()) == []


def test_weight_rescaling_leaves_training_output_unchanged():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(16, 6, generator=gen, dtype=F64)
    w = torch.randn(5, 6, generator=gen, dtype=F64)
    a = batch_norm(x @ w.T, None, None, training=True, eps=1e-12)
    b = batch_norm(x @ (7.0 * w).T, None, None, training=True, eps=1e-12)
    torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- bad input


def ok():
    return torch.randn(4, 3), torch.zeros(3), torch.ones(3)


def test_x_not_a_tensor():
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        batch_norm([[1.0, 2.0]], None, None, training=True)


def test_x_wrong_rank():
    with pytest.raises(ValueError, match="x must have shape"):
        batch_norm(torch.randn(5), torch.zeros(5), torch.ones(5))


def test_x_integer():
    with pytest.raises(TypeError, match="floating-point"):
        batch_norm(torch.ones(4, 3, dtype=torch.long), torch.zeros(3), torch.ones(3))


@pytest.mark.parametrize("name", ["running_mean", "running_var", "weight", "bias"])
def test_vector_wrong_shape(name):
    x, rm, rv = ok()
    args = {"running_mean": rm, "running_var": rv, "weight": torch.ones(3), "bias": torch.zeros(3)}
    args[name] = torch.ones(4)
    with pytest.raises(ValueError, match=f"{name} must have shape \\(3,\\)"):
        batch_norm(x, args["running_mean"], args["running_var"], args["weight"], args["bias"])


def test_vector_not_a_tensor():
    x, rm, _ = ok()
    with pytest.raises(TypeError, match="running_var must be a torch.Tensor"):
        batch_norm(x, rm, [1.0, 1.0, 1.0])


def test_only_one_running_buffer():
    x, rm, _ = ok()
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        batch_norm(x, rm, None, training=True)


def test_eval_needs_running_statistics():
    x, _, _ = ok()
    with pytest.raises(ValueError, match="evaluation mode"):
        batch_norm(x, None, None, training=False)


def test_training_not_bool():
    x, rm, rv = ok()
    with pytest.raises(TypeError, match="training must be True or False"):
        batch_norm(x, rm, rv, training="yes")


@pytest.mark.parametrize(
    "momentum, error, message",
    [
        (-0.1, ValueError, "momentum must be in \\[0, 1\\]"),
        (1.5, ValueError, "momentum must be in \\[0, 1\\]"),
        (float("nan"), ValueError, "momentum must be a finite number in \\[0, 1\\]"),
        ("0.1", TypeError, "momentum must be a number"),
        (True, TypeError, "momentum must be a number"),
    ],
)
def test_bad_momentum(momentum, error, message):
    x, rm, rv = ok()
    with pytest.raises(error, match=f"batch_norm: {message}"):
        batch_norm(x, rm, rv, training=True, momentum=momentum)


@pytest.mark.parametrize(
    "eps, error, message",
    [
        (0.0, ValueError, "eps must be > 0"),
        (-1e-5, ValueError, "eps must be > 0"),
        (float("inf"), ValueError, "eps must be a finite number > 0"),
        ("1e-5", TypeError, "eps must be a number"),
    ],
)
def test_bad_eps(eps, error, message):
    x, rm, rv = ok()
    with pytest.raises(error, match=f"batch_norm: {message}"):
        batch_norm(x, rm, rv, eps=eps)


def test_one_value_per_channel_in_training():
    with pytest.raises(ValueError, match="more than one value per channel"):
        batch_norm(torch.randn(1, 3), torch.zeros(3), torch.ones(3), training=True)
    # evaluation mode is fine with a single example, as in torch
    assert batch_norm(torch.randn(1, 3), torch.zeros(3), torch.ones(3)).shape == (1, 3)


@pytest.mark.parametrize("num_features", [0, -2])
def test_layer_bad_num_features(num_features):
    with pytest.raises(ValueError, match="num_features must be >= 1"):
        BatchNorm(num_features)


def test_layer_num_features_not_int():
    with pytest.raises(TypeError, match="num_features must be an int"):
        BatchNorm(3.0)


def test_training_backward_is_differentiable_once_only_as_documented():
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    y = batch_norm(
        x,
        rm,
        rv,
        torch.ones(3, dtype=torch.float64),
        torch.zeros(3, dtype=torch.float64),
        training=True,
    )
    (g,) = torch.autograd.grad((y**3).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|twice"):
        g.sum().backward()


# ----------------------------------------------------------------------------- layer norm

from dlcore.batchnorm import LayerNorm, layer_norm  # noqa: E402


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(seed, affine):
    gen = torch.Generator().manual_seed(seed)
    ndim = int(torch.randint(1, 5, (), generator=gen))
    shape = tuple(torch.randint(1, 5, (ndim,), generator=gen).tolist())
    k = int(torch.randint(1, ndim + 1, (), generator=gen))
    norm_shape = shape[-k:]
    x = (torch.randn(shape, generator=gen, dtype=F64) * 3 + 1).requires_grad_()
    w = torch.randn(norm_shape, generator=gen, dtype=F64).requires_grad_() if affine else None
    b = torch.randn(norm_shape, generator=gen, dtype=F64).requires_grad_() if affine else None
    eps = 10.0 ** -int(torch.randint(2, 7, (), generator=gen))
    ours = layer_norm(x, norm_shape, w, b, eps)
    ref = F.layer_norm(x, norm_shape, w, b, eps)
    torch.testing.assert_close(ours, ref)
    g = torch.randn(shape, generator=gen, dtype=F64)
    inputs = [t for t in (x, w, b) if t is not None]
    torch.testing.assert_close(
        torch.autograd.grad(ours, inputs, g), torch.autograd.grad(ref, inputs, g)
    )
    assert torch.autograd.gradcheck(
        lambda *a: layer_norm(a[0], norm_shape, *a[1:], eps=eps), tuple(inputs), fast_mode=True
    )


def test_layer_norm_module_matches_torch():
    torch.manual_seed(0)
    ours, ref = LayerNorm(6), nn.LayerNorm(6)
    x = torch.randn(3, 5, 6)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(x=[1.0], normalized_shape=1), TypeError, "x must be a torch.Tensor"),
        (dict(normalized_shape=(4,)), ValueError, "last 1 dimensions of x must be"),
        (dict(normalized_shape=()), TypeError, "normalized_shape must be"),
        (dict(normalized_shape="3"), TypeError, "normalized_shape must be"),
        (dict(normalized_shape=3, weight=torch.ones(4)), ValueError, "weight must have shape"),
        (dict(normalized_shape=3, eps=0.0), ValueError, "eps must be > 0"),
        (dict(normalized_shape=3, eps=float("nan")), ValueError, "eps must be a finite number > 0"),
    ],
)
def test_layer_norm_bad_input(kwargs, error, match):
    args = dict(x=torch.randn(2, 3))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        layer_norm(**args)
