"""conv1d / conv2d equal torch's in float64: values, gradients, gradcheck; bad input is refused."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore.conv import Conv2d, conv1d, conv2d


def random_conv2d_case(gen: torch.Generator):
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))
    n, c, o = r(1, 3), r(1, 4), r(1, 5)
    kh, kw = r(1, 4), r(1, 4)
    ph, pw = r(0, 2), r(0, 2)
    sh, sw = r(1, 3), r(1, 3)
    h, w = r(max(1, kh - 2 * ph), 9), r(max(1, kw - 2 * pw), 9)
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(o, c, kh, kw, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(o, generator=gen, dtype=torch.float64, requires_grad=True)
    return x, weight, bias, (sh, sw), (ph, pw)


@pytest.mark.parametrize("seed", range(40))
def test_conv2d_matches_torch_values_and_gradients(seed):
    gen = torch.Generator().manual_seed(seed)
    x, weight, bias, stride, padding = random_conv2d_case(gen)
    use_bias = seed % 2 == 0
    b = bias if use_bias else None
    ours = conv2d(x, weight, b, stride, padding)
    ref = F.conv2d(x, weight, b, stride, padding)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    inputs = (x, weight, bias) if use_bias else (x, weight)
    grads_ours = torch.autograd.grad(ours, inputs, g)
    grads_ref = torch.autograd.grad(ref, inputs, g)
    for a, r in zip(grads_ours, grads_ref):
        torch.testing.assert_close(a, r)


@st.composite
def conv2d_cases(draw):
    """Shapes drawn field by field, so a failure shrinks to the smallest failing shape."""
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(o, c, kh, kw, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(o, generator=gen, dtype=torch.float64, requires_grad=True)
    return x, weight, bias, (sh, sw), (ph, pw)


@settings(max_examples=60, deadline=None)
@given(conv2d_cases())
def test_conv2d_matches_torch_on_any_shape(case):
    x, weight, bias, stride, padding = case
    ours = conv2d(x, weight, bias, stride, padding)
    ref = F.conv2d(x, weight, bias, stride, padding)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    for a, r in zip(
        torch.autograd.grad(ours, (x, weight, bias), g),
        torch.autograd.grad(ref, (x, weight, bias), g),
        strict=True,
    ):
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize("seed", range(5))
def test_conv2d_gradcheck(seed):
    gen = torch.Generator().manual_seed(100 + seed)
    x, weight, bias, stride, padding = random_conv2d_case(gen)
    assert torch.autograd.gradcheck(
        lambda a, w, b: conv2d(a, w, b, stride, padding), (x, weight, bias)
    )


@pytest.mark.parametrize("seed", range(30))
def test_conv1d_matches_torch(seed):
    gen = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))
    n, c, o, k, p, s = r(1, 3), r(1, 4), r(1, 5), r(1, 5), r(0, 2), r(1, 3)
    length = r(max(1, k - 2 * p), 20)
    x = torch.randn(n, c, length, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(o, c, k, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(o, generator=gen, dtype=torch.float64, requires_grad=True)
    ours, ref = conv1d(x, weight, bias, s, p), F.conv1d(x, weight, bias, s, p)
    torch.testing.assert_close(ours, ref)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    for a, b in zip(
        torch.autograd.grad(ours, (x, weight, bias), g),
        torch.autograd.grad(ref, (x, weight, bias), g),
    ):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda a, w, b: conv1d(a, w, b, s, p), (x, weight, bias))


def test_unbatched_inputs_match_torch():
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    w = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(conv2d(x, w, padding=1), F.conv2d(x, w, padding=1))
    x1, w1 = torch.randn(3, 10, dtype=torch.float64), torch.randn(2, 3, 4, dtype=torch.float64)
    torch.testing.assert_close(conv1d(x1, w1, stride=2), F.conv1d(x1, w1, stride=2))


def test_conv2d_module_matches_torch_layer():
    torch.manual_seed(0)
    ours = Conv2d(3, 4, 3, stride=2, padding=1).double()
    ref = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1).double()
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: conv2d(torch.randn(1, 2, 3, 5, 5), torch.randn(1, 3, 2, 2)),
            ValueError,
            "4 dimensions",
        ),
        (
            lambda: conv2d(torch.randn(1, 3, 5, 5), torch.randn(1, 2, 2, 2)),
            ValueError,
            "weight has 2 input channels but x has 3",
        ),
        (
            lambda: conv2d(torch.randn(1, 1, 3, 3), torch.randn(1, 1, 4, 4)),
            ValueError,
            "larger than the padded input",
        ),
        (
            lambda: conv2d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 2, 2), stride=0),
            ValueError,
            "stride must be >= 1",
        ),
        (
            lambda: conv2d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 2, 2), padding=-1),
            ValueError,
            "padding must be >= 0",
        ),
        (
            lambda: conv2d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 2, 2), stride=1.5),
            TypeError,
            "stride must be an int",
        ),
        (
            lambda: conv2d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 2, 2), torch.randn(2)),
            ValueError,
            "bias must have shape (1,)",
        ),
        (lambda: conv2d([[1.0]], torch.randn(1, 1, 1, 1)), TypeError, "x must be a torch.Tensor"),
        (
            lambda: conv2d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 2, 2, dtype=torch.float64)),
            TypeError,
            "use one dtype",
        ),
        (
            lambda: conv1d(torch.randn(1, 2, 5), torch.randn(1, 3, 2)),
            ValueError,
            "weight has 3 input channels but x has 2",
        ),
        (
            lambda: conv1d(torch.randn(1, 1, 3), torch.randn(1, 1, 5)),
            ValueError,
            "larger than the padded input length",
        ),
        (
            lambda: conv1d(torch.randn(1, 1, 5), torch.randn(1, 1, 2), stride=0),
            ValueError,
            "stride must be >= 1",
        ),
        (lambda: conv1d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 2)), ValueError, "3 dimensions"),
        (lambda: conv2d(torch.randn(5, 5), torch.randn(1, 1, 2, 2)), ValueError, "4 dimensions"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()
