"""dlcore.exercises: the check cells accept right answers and name what is wrong."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlcore.exercises import (
    ExerciseCheckFailed,
    ExerciseNotDone,
    attempt,
    check_close,
    check_function,
)

F64 = torch.float64
X = torch.randn(3, 4, dtype=F64, generator=torch.Generator().manual_seed(0))


def test_right_answers_pass():
    check_close(X.clone(), X)
    check_close(2.0, torch.tensor(2.0))
    msg = check_function(lambda x: torch.tanh(x), torch.tanh, [(X,), (X[:1],)], grad=True)
    assert "2 checks passed" in msg and "gradients" in msg


def stub(x):
    raise NotImplementedError


@pytest.mark.parametrize(
    "got, match",
    [
        (X.T.clone(), "looks transposed"),
        (X[:2], r"has shape \(2, 4\), expected \(3, 4\)"),
        (-X, "wrong sign"),
        (3 * X, "constant factor of 3"),
        (X + torch.eye(3, 4, dtype=F64), r"wrong at index \(0, 0\)"),
        (None, "forget a return"),
        ("0.5", "should be a tensor"),
        (X * float("nan"), "NaN"),
    ],
)
def test_wrong_answers_are_named(got, match):
    with pytest.raises(ExerciseCheckFailed, match=match):
        check_close(got, X)


def test_a_stub_says_it_is_not_done():
    with pytest.raises(ExerciseNotDone, match="stub is not implemented yet"):
        attempt(stub, X)
    with pytest.raises(ExerciseNotDone):
        check_function(stub, torch.tanh, [(X,)])


def test_wrong_gradients_are_caught():
    def detached(x):
        return torch.tanh(x.detach())

    def straight_through(x):  # right values, wrong gradient
        return x + (torch.tanh(x) - x).detach()

    with pytest.raises(ExerciseCheckFailed, match="not differentiable"):
        check_function(detached, torch.tanh, [(X,)], grad=True)
    with pytest.raises(ExerciseCheckFailed, match="the gradient of"):
        check_function(straight_through, torch.tanh, [(X,)], grad=True)


def test_a_check_that_cannot_fail_is_refused():
    with pytest.raises(AssertionError, match="cannot tell right from wrong"):
        check_function(torch.relu, torch.relu, [(X,)], wrong_answers=[lambda x: torch.relu(x)])
    check_function(torch.relu, torch.relu, [(X,)], wrong_answers=[torch.tanh, stub])


def test_conv_example():
    x = torch.randn(1, 1, 5, 5, dtype=F64)
    w = torch.randn(1, 1, 3, 3, dtype=F64)

    def true_conv(x, w):
        return F.conv2d(x, w.flip(-1, -2))

    check_function(
        true_conv,
        lambda x, w: F.conv2d(x, w.flip(-1, -2)),
        [(x, w)],
        grad=True,
        wrong_answers=[F.conv2d],
    )


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: check_function(1, torch.tanh, [(X,)]), TypeError),
        (lambda: check_function(torch.tanh, torch.tanh, []), ValueError),
        (lambda: check_close(X, "x"), TypeError),
        (lambda: attempt(3), TypeError),
    ],
)
def test_bad_input(call, error):
    with pytest.raises(error):
        call()


def test_exercise_block_require_and_must_reject():
    from dlcore.exercises import exercise, must_reject, require

    def check(fn):
        with exercise(getattr(fn, "__name__", "fn")):
            require(fn(2.0) == 4.0, f"{fn.__name__}(2.0) should be 4.0")

    def square(x):
        return x * x

    check(square)
    with pytest.raises(ExerciseNotDone, match="stub is not implemented yet"):
        check(stub)
    with pytest.raises(ExerciseCheckFailed, match=r"should be 4.0"):
        check(lambda x: x)
    must_reject(check, lambda x: x + 1)
    with pytest.raises(AssertionError, match="cannot tell right from wrong"):
        must_reject(check, square)
    with pytest.raises(TypeError):
        require(True, 3)
