"""Mistakes a student makes, each answered by a ValueError/TypeError naming the function and
the argument, never by a silently wrong result (issue: dlcore by concept, every bad input a
clear error). One test per family; the modules' own tests cover the rest."""

import pytest
import torch

import dlcore as dl
from dlcore import rnn
from dlcore.adversarial import fgsm
from dlcore.representations import select_classes
from dlcore.transforms import corrupt, random_affine

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def corpus():
    return dl.load("corpus")


@pytest.mark.parametrize(
    "codes, error, message",
    [
        ([-1], ValueError, "each code must be >= 0"),
        ([10**6], ValueError, "outside the vocabulary"),
        (torch.tensor([[1, 2]]), ValueError, "1-D integer tensor"),
        (torch.tensor([1.0]), ValueError, "1-D integer tensor"),
        ("abc", TypeError, "Corpus.encode turns text into codes"),
        ([1.5], TypeError, "each code must be an int"),
    ],
)
def test_corpus_decode_refuses_codes_outside_the_vocabulary(corpus, codes, error, message):
    with pytest.raises(error, match=f"Corpus.decode: .*{message}|Corpus.decode: {message}"):
        corpus.decode(codes)


def test_corpus_decode_round_trips(corpus):
    text = "def f(x):\n    return x"
    assert corpus.decode(corpus.encode(text)) == text
    assert corpus.decode(corpus.encode(text).tolist()) == text


def test_select_classes_refuses_unlabelled_rows_and_negative_classes():
    x = torch.rand(5, 2)
    with pytest.raises(ValueError, match="select_classes: y holds negative labels"):
        select_classes(x, torch.tensor([0, 1, -1, 1, 2]), [0, 1])
    with pytest.raises(ValueError, match="select_classes: each of classes must be >= 0"):
        select_classes(x, torch.tensor([0, 1, 2, 1, 2]), [0, -1])
    with pytest.raises(TypeError, match="select_classes: y must hold integer class labels"):
        select_classes(x, torch.tensor([0.0, 1, 2, 1, 2]), [0, 1])
    xs, ys = select_classes(x, torch.tensor([0, 1, 2, 1, 2]), [2, 1])
    assert ys.tolist() == [1, 0, 1, 0] and torch.equal(xs, x[1:])


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("recall", dict(n_train=-5), "n_train must be >= 1"),
        ("recall", dict(lag=0), "lag must be >= 1"),
        ("recall", dict(n_symbols=1), "n_symbols must be >= 2"),
        ("adding", dict(length=1), "length must be >= 2"),
        ("adding", dict(n_test=0), "n_test must be >= 1"),
        ("reverse", dict(length=1), "length must be >= 2"),
        ("reverse", dict(seed=-1), "seed must be >= 0"),
        ("corpus", dict(max_chars=-5), "max_chars must be >= 1"),
    ],
)
def test_synthetic_set_options_are_checked(name, options, message):
    with pytest.raises(ValueError, match=f"load\\('{name}'\\): {message}"):
        dl.load(name, **options)


def test_photo_gray_must_be_a_bool():
    with pytest.raises(TypeError, match=r"load\('photo'\): gray must be True or False"):
        dl.load("photo", gray="no")


def test_recurrent_layers_refuse_empty_sequences_and_multi_layer_states():
    for module in (rnn.RNN(3, 4), rnn.LSTM(3, 4, batch_first=True)):
        name = type(module).__name__
        with pytest.raises(
            ValueError, match=f"{name}: x holds sequences of length 0|{name}: x holds no sequences"
        ):
            module(torch.zeros(0, 2, 3) if not module.batch_first else torch.zeros(2, 0, 3))
        with pytest.raises(
            ValueError, match=f"{name}: x holds no sequences|{name}: x holds sequences of length 0"
        ):
            module(torch.zeros(5, 0, 3) if not module.batch_first else torch.zeros(0, 5, 3))
    with pytest.raises(ValueError, match=r"RNN: hx must have shape \(1, N, hidden_size\)"):
        rnn.RNN(3, 4)(torch.zeros(5, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"LSTM: c0 must have shape \(1, N, hidden_size\)"):
        rnn.LSTM(3, 4)(torch.zeros(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(3, 2, 4)))
    with pytest.raises(TypeError, match="LSTM: hx must be a pair"):
        rnn.LSTM(3, 4)(torch.zeros(5, 2, 3), torch.zeros(1, 2, 4))


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: random_affine(torch.rand(2, 1, 8, 8), rotation=NAN),
            "rotation must be a finite number",
        ),
        (lambda: random_affine(torch.rand(2, 1, 8, 8), shift=INF), "shift must be a finite number"),
        (lambda: corrupt(torch.rand(2, 4), NAN, "gaussian"), "level must be a finite number"),
        (lambda: corrupt(torch.rand(2, 4), NAN, "mask"), "must be a finite number"),
        (lambda: corrupt(torch.rand(2, 4), 1.5, "mask"), r"must be in \[0, 1\]"),
        (lambda: dl.mlp([4, 3], dropout=NAN), "dropout must be a finite number"),
        (lambda: dl.mlp([4, 0, 3]), "each size must be >= 1"),
        (lambda: dl.mlp([4, 3], norm="group"), "norm must be one of"),
    ],
)
def test_nan_and_infinity_fail_every_range_check(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_fgsm_refuses_nan_pixels():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x = torch.rand(3, 1, 2, 2)
    x[0, 0, 0, 0] = NAN
    with pytest.raises(ValueError, match="fgsm: x holds NaN or infinite values"):
        fgsm(model, x, torch.tensor([0, 1, 0]), 0.1)


def test_mlp_norm_options_build_the_layers_they_name():
    with pytest.raises(TypeError, match="mlp: sizes must be a sequence of ints"):
        dl.mlp(4)
    batch = dl.mlp([4, 8, 3], norm="batch", dropout=0.2, activation="tanh")
    layer = dl.mlp([4, 8, 3], norm="layer", flatten=False, out_activation="sigmoid")
    assert [type(m).__name__ for m in batch] == [
        "Flatten",
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Dropout",
        "Linear",
    ]
    assert [type(m).__name__ for m in layer] == ["Linear", "LayerNorm", "ReLU", "Linear", "Sigmoid"]
