"""dlcore._checks, the one home of argument checks: NaN and infinity never pass a number
check, bools are not numbers, NumPy integers are ints, and each message names the function
and the argument."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore._checks import (
    check_choice,
    check_module,
    check_number,
    check_pair,
    check_positive_int,
    check_probability,
    eval_mode,
    model_device,
)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10), st.floats(0, 10))
def test_check_number_accepts_exactly_the_finite_numbers_in_range(value, lo, width):
    hi = lo + width
    inside = math.isfinite(value) and lo <= value <= hi
    if inside:
        assert check_number(value, "f", "x", lo=lo, hi=hi) == value
    else:
        with pytest.raises(ValueError, match="^f: x must be"):
            check_number(value, "f", "x", lo=lo, hi=hi)


@pytest.mark.parametrize("value", [True, "1.0", None, [1.0], torch.ones(2)])
def test_check_number_refuses_what_is_not_one_number(value):
    with pytest.raises(TypeError, match="f: x must be a number"):
        check_number(value, "f", "x")


def test_check_number_open_bounds_numpy_scalars_and_infinity():
    assert check_number(np.float32(0.5), "f", "x", lo=0, lo_open=True) == 0.5
    with pytest.raises(ValueError, match=r"f: x must be > 0, got 0"):
        check_number(0.0, "f", "x", lo=0, lo_open=True)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        check_number(1.0, "f", "x", lo=0, hi=1, hi_open=True)
    assert check_number(math.inf, "f", "x", lo=0, allow_inf=True) == math.inf
    with pytest.raises(ValueError, match="finite"):
        check_number(math.nan, "f", "x", allow_inf=True)
    assert check_probability(1.0, "f", "p", one=True) == 1.0
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        check_probability(1.0, "f", "p")


@settings(max_examples=100, deadline=None)
@given(st.integers(-5, 5), st.integers(0, 3))
def test_check_positive_int_accepts_python_and_numpy_ints_at_or_above_the_minimum(value, minimum):
    for candidate in (value, np.int64(value), np.int32(value)):
        if value >= minimum:
            assert check_positive_int(candidate, "f", "n", minimum) == value
        else:
            with pytest.raises(ValueError, match=f"f: n must be >= {minimum}"):
                check_positive_int(candidate, "f", "n", minimum)


@pytest.mark.parametrize("value", [True, 2.0, "3", None, np.float64(2.0)])
def test_check_positive_int_refuses_non_integers(value):
    with pytest.raises(TypeError, match="f: n must be an int"):
        check_positive_int(value, "f", "n")


def test_check_choice_module_and_pair():
    assert check_choice("relu", "f", "act", ["relu", "tanh"]) == "relu"
    with pytest.raises(ValueError, match=r"f: act must be one of \['relu', 'tanh'\], got 'ReLU'"):
        check_choice("ReLU", "f", "act", ["relu", "tanh"])
    with pytest.raises(ValueError, match="one of"):
        check_choice(["relu"], "f", "act", {"relu": 1})
    with pytest.raises(TypeError, match="f: model must be a torch.nn.Module, got function"):
        check_module(lambda x: x, "f")
    x, y = torch.zeros(3, 2), torch.zeros(3)
    assert check_pair((x, y), "f", "train")[0] is x
    for bad, message in [
        ((x, y[:2]), "3 inputs but 2 targets"),
        ((x[:0], y[:0]), "is empty"),
        ((x,), "must be a pair"),
        ((x, [0, 1, 2]), "two tensors"),
    ]:
        with pytest.raises(
            (TypeError, ValueError), match=f"f: train .*{message}|f: train {message}"
        ):
            check_pair(bad, "f", "train")


def test_model_device_and_eval_mode_restore_state_even_after_an_error():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    assert model_device(model) == torch.device("cpu")
    assert model_device(torch.nn.ReLU(), torch.device("meta")) == torch.device("meta")
    model.train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training and not model[1].training
        raise RuntimeError("inside")
    assert model.training and model[1].training
    model.eval()
    with eval_mode(model):
        pass
    assert not model.training
