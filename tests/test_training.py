"""The training loop learns a tiny problem, records history correctly and checks its input."""

import math

import pytest
import torch
from torch import nn

import dlcore as dl


def blobs(n=200, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.randn(n, 2, generator=gen) * 0.5 + (y[:, None] * 2.0 - 1.0) * 1.5
    return x, y


def test_fit_learns_a_separable_problem_and_history_is_consistent():
    torch.manual_seed(0)
    x, y = blobs()
    model = nn.Linear(2, 2)
    h = dl.fit(
        model,
        (x, y),
        test=blobs(100, seed=1),
        epochs=5,
        batch_size=16,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        progress=False,
        device="cpu",
    )
    assert h.epochs == 5
    assert len(h.train_metric) == len(h.test_loss) == len(h.seconds) == 5
    assert h.test_metric[-1] > 0.95
    assert h.train_loss[-1] < h.train_loss[0]
    loss, acc = dl.evaluate(model, blobs(100, seed=1))
    assert loss == pytest.approx(h.test_loss[-1]) and acc == pytest.approx(h.test_metric[-1])
    assert all(s > 0 for s in h.seconds) and h.total_seconds == pytest.approx(sum(h.seconds))


def test_fit_is_deterministic_for_a_seed():
    def run(seed):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
        return dl.fit(
            model, blobs(), epochs=2, batch_size=10, seed=seed, progress=False, device="cpu"
        ).train_loss

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_fit_without_test_data_and_regression_metric():
    x = torch.randn(64, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    model = nn.Linear(3, 1)
    h = dl.fit(
        model,
        (x, y[:, None]),
        loss_fn=nn.functional.mse_loss,
        metric=None,
        epochs=30,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        progress=False,
        device="cpu",
    )
    assert math.isnan(h.test_loss[0]) and math.isnan(h.train_metric[0])
    assert h.train_loss[-1] < 1e-3


def test_augment_is_applied_to_training_batches_only():
    seen = []

    def augment(xb):
        seen.append(len(xb))
        return xb

    x, y = blobs(40)
    dl.fit(
        nn.Linear(2, 2),
        (x, y),
        test=(x, y),
        epochs=2,
        batch_size=16,
        augment=augment,
        progress=False,
        device="cpu",
    )
    assert seen == [16, 16, 8] * 2


def test_predict_restores_training_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.train()
    out = dl.predict(model, torch.randn(5, 2))
    assert out.shape == (5, 2) and model.training


def test_fit_prints_one_line_per_epoch_outside_jupyter(capsys):
    dl.fit(nn.Linear(2, 2), blobs(20), epochs=3, progress=True, device="cpu")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("epoch 3/3") and "\r" not in "".join(lines)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(train=torch.randn(4, 2)), TypeError, "pair"),
        (
            dict(train=(torch.randn(4, 2), torch.zeros(3, dtype=torch.long))),
            ValueError,
            "4 inputs but 3 targets",
        ),
        (dict(epochs=0), ValueError, "epochs must be >= 1"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(test=[1, 2, 3]), TypeError, "test must be a pair"),
    ],
)
def test_fit_refuses_bad_input(kwargs, error, message):
    args = dict(train=blobs(4), progress=False, device="cpu")
    args.update(kwargs)
    train = args.pop("train")
    with pytest.raises(error, match=message):
        dl.fit(nn.Linear(2, 2), train, **args)


def test_fit_refuses_a_dataset_object_with_a_hint():
    with pytest.raises(TypeError, match="dataset.train"):
        dl.fit(nn.Linear(64, 10), dl.load("digits"), progress=False)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        dl.fit(lambda x: x, blobs(4))


# ----------------------------------------------------------------------------- student mistakes


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(train=(torch.randn(4, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.long))),
            TypeError,
            "inputs are torch.float64 but the model's parameters are torch.float32",
        ),
        (dict(train=(torch.randn(4, 2), torch.zeros(4))), TypeError, "integer class labels"),
        (
            dict(train=(torch.randn(4, 2), torch.tensor([0, 1, 2, 1]))),
            ValueError,
            "labels run from 0 to 2, but the model has 2 outputs",
        ),
        (
            dict(train=(torch.randn(4, 2), torch.tensor([0, -1, 1, 1]))),
            ValueError,
            "labels run from -1",
        ),
        (dict(clip_grad_norm=-1.0), ValueError, "clip_grad_norm must be > 0"),
        (dict(clip_grad_norm=float("nan")), ValueError, "clip_grad_norm"),
        (dict(epochs=2.5), TypeError, "epochs must be an int"),
        (dict(device="tpu"), ValueError, "unknown device"),
        (dict(device=3), TypeError, "device must be a string"),
    ],
)
def test_fit_names_the_commonest_mistakes(kwargs, error, message):
    args = dict(train=blobs(4), progress=False, device="cpu")
    args.update(kwargs)
    train = args.pop("train")
    with pytest.raises(error, match=message):
        dl.fit(nn.Linear(2, 2), train, **args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_fit_on_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match="'cuda' was requested but torch sees no CUDA GPU"):
        dl.fit(nn.Linear(2, 2), blobs(4), device="cuda", progress=False)


def test_fit_accepts_numpy_integers():
    import numpy as np

    h = dl.fit(
        nn.Linear(2, 2),
        blobs(8),
        epochs=np.int64(2),
        batch_size=np.int32(4),
        progress=False,
        device="cpu",
    )
    assert h.epochs == 2


def test_fit_stops_on_a_nan_loss_naming_epoch_and_batch():
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=1e30)
    x, y = blobs(64)
    with pytest.raises(FloatingPointError, match=r"at epoch \d+, batch \d+"):
        dl.fit(
            model,
            (x * 1e10, y),
            epochs=5,
            batch_size=8,
            optimizer=opt,
            progress=False,
            device="cpu",
        )


def test_fit_trains_batch_norm_when_the_last_batch_holds_one_example():
    model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    h = dl.fit(model, blobs(9), epochs=1, batch_size=4, progress=False, device="cpu")
    assert h.epochs == 1


@pytest.mark.parametrize(
    "outputs, targets, error, message",
    [
        (
            torch.randn(6, 3),
            torch.zeros(6, 1, dtype=torch.long),
            ValueError,
            "do not match outputs",
        ),
        (torch.randn(6), torch.zeros(6, dtype=torch.long), ValueError, "class dimension"),
        (torch.randn(6, 3), torch.eye(3)[[0, 1, 2, 0, 1, 2]], TypeError, "one-hot"),
        (torch.randn(0, 3), torch.zeros(0, dtype=torch.long), ValueError, "empty"),
        ([1, 2], torch.zeros(2, dtype=torch.long), TypeError, "must be tensors"),
    ],
)
def test_accuracy_refuses_shapes_that_would_broadcast(outputs, targets, error, message):
    with pytest.raises(error, match=message):
        dl.accuracy(outputs, targets)


def test_accuracy_of_sequences():
    out = torch.zeros(2, 3, 4)
    out[..., 1] = 1.0
    assert dl.accuracy(out, torch.ones(2, 3, dtype=torch.long)) == 1.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: dl.evaluate(m, blobs(4), batch_size=-1), "evaluate: batch_size must be >= 1"),
        (lambda m: dl.evaluate(m, blobs(4), batch_size=0), "evaluate: batch_size"),
        (lambda m: dl.predict(m, torch.randn(4, 2), batch_size=0), "predict: batch_size"),
        (lambda m: dl.predict(m, torch.randn(0, 2)), "predict: x is empty"),
        (
            lambda m: dl.evaluate(m, (torch.randn(3, 2), torch.zeros(2, dtype=torch.long))),
            "evaluate: data has 3 inputs but 2 targets",
        ),
    ],
)
def test_evaluate_and_predict_check_their_input(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(nn.Linear(2, 2))


def test_fit_reinit_owns_the_runs_randomness():
    x = torch.rand(40, 6)
    y = (x.sum(1) > 3).long()

    def run(pre_seed):
        torch.manual_seed(pre_seed)  # a different model and global state before each run
        model = torch.nn.Sequential(
            torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 2)
        )
        before = torch.get_rng_state()
        dl.fit(
            model,
            (x, y),
            epochs=2,
            batch_size=8,
            seed=3,
            reinit=True,
            device="cpu",
            progress=False,
            optimizer=None,
        )
        return model, before

    (a, _), (b, _) = run(0), run(1)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)
    # without reinit the two starting points differ, and so do the results
    torch.manual_seed(0)
    c = torch.nn.Linear(6, 2)
    torch.manual_seed(1)
    d = torch.nn.Linear(6, 2)
    dl.fit(c, (x, y), epochs=1, seed=3, device="cpu", progress=False)
    dl.fit(d, (x, y), epochs=1, seed=3, device="cpu", progress=False)
    assert not torch.equal(c.weight, d.weight)


def test_fit_reinit_leaves_the_global_random_state_alone_and_refuses_custom_parameters():
    model = torch.nn.Linear(3, 2)
    data = (torch.rand(4, 3), torch.tensor([0, 1, 0, 1]))
    state = torch.get_rng_state()
    dl.fit(model, data, epochs=1, reinit=True, device="cpu", progress=False)
    assert torch.equal(state, torch.get_rng_state())

    class Scale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.w

    with pytest.raises(ValueError, match="fit: reinit=True needs reset_parameters"):
        dl.fit(
            torch.nn.Sequential(Scale(), torch.nn.Linear(3, 2)),
            (torch.rand(4, 3), torch.tensor([0, 1, 0, 1])),
            reinit=True,
            progress=False,
        )
    with pytest.raises(TypeError, match="fit: reinit must be True or False"):
        dl.fit(model, (torch.rand(4, 3), torch.tensor([0, 1, 0, 1])), reinit=1, progress=False)


def test_fit_clips_the_gradient_norm_it_is_given():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    seen = []

    x, y = torch.rand(16, 5) * 100, torch.rand(16, 1) * 100

    class Spy(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item())
            return super().step(closure)

    opt = Spy(model.parameters(), lr=0.0)
    dl.fit(
        model,
        (x, y),
        epochs=1,
        batch_size=4,
        optimizer=opt,
        loss_fn=torch.nn.functional.mse_loss,
        metric=None,
        clip_grad_norm=0.5,
        device="cpu",
        progress=False,
    )
    assert len(seen) == 4 and seen == pytest.approx([0.5] * 4, rel=1e-4)  # every raw norm >> 0.5


def test_fit_steps_the_scheduler_once_per_epoch():
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
    dl.fit(
        model,
        (torch.rand(10, 2), torch.randint(0, 2, (10,))),
        epochs=2,
        batch_size=5,
        optimizer=opt,
        scheduler=sched,
        device="cpu",
        progress=False,
    )
    assert sched.last_epoch == 2 and opt.param_groups[0]["lr"] == pytest.approx(1 / 3)
