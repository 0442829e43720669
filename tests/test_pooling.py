"""max_pool2d / avg_pool2d equal torch's in float64: values, gradients, gradcheck; bad input is refused."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore.pooling import AvgPool2d, MaxPool2d, avg_pool2d, max_pool2d

POOLS = {"max": (max_pool2d, F.max_pool2d), "avg": (avg_pool2d, F.avg_pool2d)}


def random_pool_case(gen: torch.Generator, max_batch: int = 3, max_side: int = 10):
    """Random shape, kernel (square or not), stride (None, int or pair) and padding."""
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))
    n, c = r(1, max_batch), r(1, max_batch + 1)
    kh, kw = r(1, 4), r(1, 4)
    ph, pw = r(0, kh // 2), r(0, kw // 2)
    h, w = r(max(1, kh - 2 * ph), max_side), r(max(1, kw - 2 * pw), max_side)
    kernel = kh if (kh == kw and r(0, 1)) else (kh, kw)
    stride = [None, r(1, 3), (r(1, 3), r(1, 3))][r(0, 2)]
    padding = ph if (ph == pw and r(0, 1)) else (ph, pw)
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    return x, kernel, stride, padding


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(40))
def test_pooling_matches_torch_values_and_gradients(kind, seed):
    ours_fn, ref_fn = POOLS[kind]
    gen = torch.Generator().manual_seed(seed)
    x, kernel, stride, padding = random_pool_case(gen)
    ours = ours_fn(x, kernel, stride, padding)
    ref = ref_fn(x, kernel, stride, padding)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    (grad_ours,) = torch.autograd.grad(ours, x, g)
    (grad_ref,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(grad_ours, grad_ref)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["max", "avg"]),
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    data=st.data(),
)
def test_pooling_matches_torch_on_any_shape(kind, n, c, kh, kw, data):
    """Shapes drawn field by field, so a failure shrinks to the smallest failing case."""
    ph, pw = data.draw(st.integers(0, kh // 2)), data.draw(st.integers(0, kw // 2))
    h = data.draw(st.integers(max(1, kh - 2 * ph), 10))
    w = data.draw(st.integers(max(1, kw - 2 * pw), 10))
    stride = data.draw(
        st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))
    )
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    ours_fn, ref_fn = POOLS[kind]
    ours, ref = ours_fn(x, (kh, kw), stride, (ph, pw)), ref_fn(x, (kh, kw), stride, (ph, pw))
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    torch.testing.assert_close(
        torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(ref, x, g)[0]
    )


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(6))
def test_pooling_gradcheck(kind, seed):
    ours_fn, _ = POOLS[kind]
    gen = torch.Generator().manual_seed(1000 + seed)
    x, kernel, stride, padding = random_pool_case(gen, max_batch=1, max_side=7)  # small: fast
    assert torch.autograd.gradcheck(lambda a: ours_fn(a, kernel, stride, padding), (x,))


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_default_stride_is_kernel_size_and_unbatched_input(kind):
    ours_fn, ref_fn = POOLS[kind]
    x = torch.randn(3, 9, 8, dtype=torch.float64)  # (C, H, W)
    torch.testing.assert_close(ours_fn(x, 2), ref_fn(x, 2))
    torch.testing.assert_close(ours_fn(x, (3, 2)), ref_fn(x, (3, 2), (3, 2)))
    assert ours_fn(x, 4).shape == (3, 2, 2)


def test_worked_example():
    x = torch.tensor([[1.0, 2, 5, 0], [3, 4, 1, 1], [0, 0, 2, 2], [8, 0, 2, 6]]).view(1, 1, 4, 4)
    assert max_pool2d(x, 2).flatten().tolist() == [4, 5, 8, 6]
    assert avg_pool2d(x, 2).flatten().tolist() == [2.5, 1.75, 2, 3]


def test_max_pool_gradient_goes_to_the_maximum_only():
    x = torch.tensor([[1.0, 2], [4, 3]]).view(1, 1, 2, 2).requires_grad_()
    max_pool2d(x, 2).sum().backward()
    assert x.grad.flatten().tolist() == [0, 0, 1, 0]


def test_overlapping_windows_accumulate_gradients_like_torch():
    x = torch.randn(2, 2, 7, 7, dtype=torch.float64, requires_grad=True)
    (g1,) = torch.autograd.grad(max_pool2d(x, 3, 1).sum(), x)
    (g2,) = torch.autograd.grad(F.max_pool2d(x, 3, 1).sum(), x)
    torch.testing.assert_close(g1, g2)
    assert g1.max() > 1  # some entries win several windows


def test_modules_match_torch_layers():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(MaxPool2d(2)(x), torch.nn.MaxPool2d(2)(x))
    torch.testing.assert_close(AvgPool2d(3, 2, 1)(x), torch.nn.AvgPool2d(3, 2, 1)(x))
    assert "kernel_size=2" in repr(MaxPool2d(2))
    assert sum(p.numel() for p in MaxPool2d(2).parameters()) == 0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d])
def test_rejects_non_tensor(fn):
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        fn([[1.0, 2.0]], 2)


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("shape", [(8,), (8, 8), (1, 1, 1, 8, 8)])
def test_rejects_wrong_rank(fn, shape):
    with pytest.raises(ValueError, match=r"x must have 4 dimensions \(N, C, H, W\)"):
        fn(torch.zeros(shape), 2)


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d])
def test_rejects_kernel_larger_than_input(fn):
    with pytest.raises(ValueError, match="kernel_size 5x5 is larger than the"):
        fn(torch.zeros(1, 1, 4, 4), 5)
    with pytest.raises(ValueError, match="kernel_size 2x5 is larger than the"):
        fn(torch.zeros(1, 1, 4, 4), (2, 5))


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d])
def test_rejects_zero_stride_and_kernel(fn):
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        fn(torch.zeros(1, 1, 4, 4), 2, 0)
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        fn(torch.zeros(1, 1, 4, 4), 2, (1, 0))
    with pytest.raises(ValueError, match="kernel_size must be >= 1, got 0"):
        fn(torch.zeros(1, 1, 4, 4), 0)


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d])
def test_rejects_bad_types_and_padding(fn):
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        fn(torch.zeros(1, 1, 4, 4), 2.0)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        fn(torch.zeros(1, 1, 4, 4), (2, 2, 2))
    with pytest.raises(ValueError, match="padding must be >= 0"):
        fn(torch.zeros(1, 1, 4, 4), 2, 2, -1)
    with pytest.raises(ValueError, match="at most half the kernel size"):
        fn(torch.zeros(1, 1, 4, 4), 2, 2, 2)
    with pytest.raises(TypeError, match="floating-point"):
        fn(torch.zeros(1, 1, 4, 4, dtype=torch.long), 2)


def test_ties_route_the_gradient_like_torch():
    # after a ReLU many windows are all zeros: the gradient goes to the first entry, as in torch
    x = torch.relu(torch.randn(2, 3, 8, 8, dtype=torch.float64) - 1.0).requires_grad_()
    g = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    (ours,) = torch.autograd.grad(max_pool2d(x, 2), x, g)
    (ref,) = torch.autograd.grad(F.max_pool2d(x, 2), x, g)
    torch.testing.assert_close(ours, ref)
