"""dlcore.metrics: values against direct computations, and a clear error for every shape
that would broadcast, every empty batch and every label type a student might pass."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import dlcore as dl
from dlcore.metrics import (
    accuracy,
    head_accuracy,
    multitask_loss,
    reconstruction_error,
    reconstruction_loss,
    sequence_accuracy,
    sequence_cross_entropy,
    token_accuracy,
)


@st.composite
def scores_and_labels(draw, ndim=2):
    """Random (N, C) or (N, L, C) scores with integer labels of the matching shape."""
    n = draw(st.integers(1, 6))
    c = draw(st.integers(2, 5))
    shape = (n, c) if ndim == 2 else (n, draw(st.integers(1, 4)), c)
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randint(0, c, shape[:-1], generator=g)


@settings(max_examples=40, deadline=None)
@given(scores_and_labels())
def test_accuracy_is_the_fraction_of_correct_argmaxes(data):
    out, y = data
    expected = sum(int(out[i].argmax()) == int(y[i]) for i in range(len(y))) / len(y)
    assert accuracy(out, y) == pytest.approx(expected)


@settings(max_examples=40, deadline=None)
@given(scores_and_labels(ndim=3))
def test_token_and_sequence_accuracy_count_positions_and_whole_sequences(data):
    out, y = data
    right = out.argmax(-1) == y  # (N, L)
    assert token_accuracy(out, y) == pytest.approx(right.float().mean().item())
    assert token_accuracy(out, y) == pytest.approx(accuracy(out, y))
    whole = [bool(right[i].all()) for i in range(len(y))]
    assert sequence_accuracy(out, y) == pytest.approx(sum(whole) / len(whole))
    assert sequence_cross_entropy(out, y).item() == pytest.approx(
        F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).item(), rel=1e-6
    )


@pytest.mark.parametrize(
    "fn", [accuracy, token_accuracy, sequence_accuracy, sequence_cross_entropy]
)
@pytest.mark.parametrize(
    "outputs, targets, error, message",
    [
        (torch.zeros(6, 3, 4), torch.zeros(6, 1, dtype=torch.long), ValueError, "do not match"),
        (torch.zeros(6, 3, 4), torch.zeros(6, 3), TypeError, "integer class labels"),
        (torch.zeros(6, 3, 4), torch.zeros(6, 3, 4, dtype=torch.long), ValueError, "do not match"),
        (torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.long), ValueError, "empty"),
        ([[0.0, 1.0]], torch.zeros(1, dtype=torch.long), TypeError, "must be tensors"),
    ],
)
def test_every_metric_refuses_broadcasting_float_labels_and_empty_batches(
    fn, outputs, targets, error, message
):
    with pytest.raises(error, match=f"{fn.__name__}: .*{message}"):
        fn(outputs, targets)


def test_accuracy_refuses_one_dimensional_outputs_and_one_hot_targets():
    with pytest.raises(ValueError, match="accuracy: outputs must have shape"):
        accuracy(torch.zeros(6), torch.zeros(6, dtype=torch.long))
    with pytest.raises(TypeError, match="one-hot"):
        accuracy(torch.zeros(6, 3), F.one_hot(torch.zeros(6, dtype=torch.long), 3).float())


def test_sequence_metrics_need_a_time_dimension():
    with pytest.raises(ValueError, match=r"token_accuracy: outputs must have shape \(N, L, C\)"):
        token_accuracy(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))


def test_reconstruction_error_and_loss_agree_and_check_shapes():
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(5, 1, 4, 4, generator=g), torch.rand(5, 1, 4, 4, generator=g)
    expected = ((x - x_hat) ** 2).reshape(5, -1).sum(1).mean().item()
    assert reconstruction_error(x, x_hat) == pytest.approx(expected)
    assert reconstruction_loss(x_hat, x).item() == pytest.approx(expected)
    x_hat.requires_grad_(True)
    reconstruction_loss(x_hat, x).backward()
    torch.testing.assert_close(x_hat.grad, 2 * (x_hat - x).detach() / 5)
    with pytest.raises(ValueError, match="reconstruction_loss: x_hat has shape"):
        reconstruction_loss(x_hat, x[:, :, :2])
    with pytest.raises(ValueError, match="reconstruction_error: x is empty"):
        reconstruction_error(torch.zeros(0, 3), torch.zeros(0, 3))
    with pytest.raises(TypeError, match="reconstruction_error: x_hat must be a torch.Tensor"):
        reconstruction_error(x, x_hat.detach().numpy())


def test_multitask_loss_skips_unlabelled_rows_and_weighs_heads():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 5, generator=g)
    y = torch.tensor([[0, 2], [1, -1], [-1, 0], [0, 1], [-1, -1], [1, 2]])
    loss = multitask_loss([2, 3], weights=[1.0, 0.5])(logits, y)
    first = F.cross_entropy(logits[[0, 1, 3, 5], :2], y[[0, 1, 3, 5], 0])
    second = F.cross_entropy(logits[[0, 2, 3, 5], 2:], y[[0, 2, 3, 5], 1])
    assert loss.item() == pytest.approx((first + 0.5 * second).item(), rel=1e-6)
    assert head_accuracy([2, 3], 1)(logits, y) == pytest.approx(
        (logits[[0, 2, 3, 5], 2:].argmax(1) == y[[0, 2, 3, 5], 1]).float().mean().item()
    )
    assert math.isnan(head_accuracy([2, 3], 0)(logits[4:5], y[4:5]))


def test_an_unlabelled_batch_gives_a_zero_loss_that_fit_trains_through():
    model = torch.nn.Linear(3, 5)
    loss = multitask_loss([2, 3])(model(torch.rand(4, 3)), torch.full((4, 2), -1))
    loss.backward()  # no "does not require grad" error
    assert loss.item() == 0.0 and model.weight.grad.abs().sum() == 0
    x = torch.rand(8, 3)
    y = torch.full((8, 2), -1)
    y[:4, 0] = torch.tensor([0, 1, 0, 1])  # the second batch of 4 is unlabelled
    dl.fit(
        model,
        (x, y),
        epochs=1,
        batch_size=4,
        loss_fn=multitask_loss([2, 3]),
        metric=None,
        device="cpu",
        progress=False,
    )


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: multitask_loss([2, 0]), ValueError, "head_sizes must be"),
        (lambda: multitask_loss(3), ValueError, "head_sizes must be"),
        (
            lambda: multitask_loss([2, 3], weights=[1.0, float("nan")]),
            ValueError,
            r"each of weights \(got \[1.0, nan\]\) must be a finite number >= 0",
        ),
        (lambda: multitask_loss([2, 3], weights=[1.0, -1.0]), ValueError, "must be >= 0, got -1"),
        (
            lambda: multitask_loss([2, 3])(torch.zeros(4, 5), torch.zeros(4, 2)),
            TypeError,
            "integer labels",
        ),
        (
            lambda: multitask_loss([2, 3])(torch.zeros(4, 5), torch.full((4, 2), 3)),
            ValueError,
            r"labels of task 0 must be in \[0, 2\) or -1",
        ),
        (
            lambda: multitask_loss([2, 3])(torch.zeros(4, 5), torch.full((4, 2), -2)),
            ValueError,
            "or -1",
        ),
        (
            lambda: multitask_loss([2, 3])(torch.zeros(4, 6), torch.zeros(4, 2, dtype=torch.long)),
            ValueError,
            r"logits must be \(N, 5\)",
        ),
        (lambda: head_accuracy([2, 3], head=2), ValueError, "head must be an int in"),
        (lambda: head_accuracy([2, 3], head=True), ValueError, "head must be an int in"),
    ],
)
def test_multitask_helpers_refuse_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_evaluate_returns_a_named_tuple_weighting_every_example_the_same():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.rand(10, 4), torch.randint(0, 3, (10,))
    result = dl.evaluate(model, (x, y), batch_size=3)  # batches of 3, 3, 3, 1
    assert isinstance(result, dl.Evaluation)
    with torch.no_grad():
        out = model(x)
    assert result.loss == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-6)
    assert result.metric == pytest.approx(accuracy(out, y))
    loss, acc = result
    assert (loss, acc) == (result.loss, result.metric)
    assert math.isnan(dl.evaluate(model, (x, y), metric=None).metric)


def test_predict_returns_the_models_outputs_in_eval_mode_on_the_cpu():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    x = torch.rand(7, 4)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    model.train()
    torch.testing.assert_close(dl.predict(model, x, batch_size=2), expected)
    assert model.training
