"""dlcore.rnn against PyTorch in float64: cells, unrolled layers, modules, sampler, checks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcore.rnn import (
    LSTM,
    RNN,
    lstm_cell,
    lstm_gates,
    lstm_layer,
    rnn_cell,
    rnn_layer,
    set_forget_bias,
)
from dlcore.sequence_models import (
    CharLM,
    SequenceClassifier,
    batchify,
    ngram_log2_probs,
    sample,
    sample_text,
    stream_bits,
)

DT = torch.float64


def random_sizes(seed: int) -> tuple[torch.Generator, int, int, int]:
    gen = torch.Generator().manual_seed(seed)
    n, i, h = (int(v) for v in torch.randint(1, 7, (3,), generator=gen))
    return gen, n, i, h


def randn(gen: torch.Generator, *shape: int, grad: bool = False) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=DT).requires_grad_(grad)


def torch_cell(kind: str, i: int, h: int, bias: bool, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return (nn.RNNCell if kind == "rnn" else nn.LSTMCell)(i, h, bias=bias).double()


def cell_weights(cell: nn.Module) -> tuple:
    return cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh


# ----------------------------------------------------------------------------- cells


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("bias", [True, False])
def test_rnn_cell_values_and_gradients_equal_torch(seed: int, bias: bool) -> None:
    gen, n, i, h = random_sizes(seed)
    ref = torch_cell("rnn", i, h, bias, seed)
    x, h0 = randn(gen, n, i, grad=True), randn(gen, n, h, grad=True)
    ours = rnn_cell(x, h0, *cell_weights(ref))
    theirs = ref(x, h0)
    torch.testing.assert_close(ours, theirs)
    w = randn(gen, n, h)  # a random linear loss checks every gradient entry
    inputs = [x, h0, *(p for p in ref.parameters())]
    g_ours = torch.autograd.grad((ours * w).sum(), inputs)
    g_theirs = torch.autograd.grad((theirs * w).sum(), inputs)
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_values_and_gradients_equal_torch(seed: int, bias: bool) -> None:
    gen, n, i, h = random_sizes(seed)
    ref = torch_cell("lstm", i, h, bias, seed)
    x = randn(gen, n, i, grad=True)
    h0, c0 = randn(gen, n, h, grad=True), randn(gen, n, h, grad=True)
    h1, c1 = lstm_cell(x, (h0, c0), *cell_weights(ref))
    h2, c2 = ref(x, (h0, c0))
    assert torch.allclose(h1, h2) and torch.allclose(c1, c2)
    wh, wc = randn(gen, n, h), randn(gen, n, h)
    inputs = [x, h0, c0, *(p for p in ref.parameters())]
    g_ours = torch.autograd.grad((h1 * wh).sum() + (c1 * wc).sum(), inputs)
    g_theirs = torch.autograd.grad((h2 * wh).sum() + (c2 * wc).sum(), inputs)
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_cells_accept_no_state_and_unbatched_input(kind: str) -> None:
    gen, n, i, h = random_sizes(3)
    ref = torch_cell(kind, i, h, True, 0)
    x = randn(gen, n, i)
    fn = rnn_cell if kind == "rnn" else lstm_cell
    ours, theirs = fn(x, None, *cell_weights(ref)), ref(x)
    if kind == "lstm":
        assert all(torch.allclose(a, b) for a, b in zip(ours, theirs))
    else:
        torch.testing.assert_close(ours, theirs)
    # a single example without batch dimension, as torch allows
    x1 = randn(gen, i)
    ours1, theirs1 = fn(x1, None, *cell_weights(ref)), ref(x1)
    if kind == "lstm":
        assert ours1[0].shape == (h,) and torch.allclose(ours1[0], theirs1[0])
    else:
        assert ours1.shape == (h,) and torch.allclose(ours1, theirs1)


@pytest.mark.parametrize("seed", range(3))
def test_cells_pass_gradcheck(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    n, i, h = (
        int(v) for v in torch.randint(1, 4, (3,), generator=gen)
    )  # small: gradcheck is O(size^2)
    args = [
        randn(gen, n, i, grad=True),
        randn(gen, n, h, grad=True),
        randn(gen, h, i, grad=True),
        randn(gen, h, h, grad=True),
        randn(gen, h, grad=True),
        randn(gen, h, grad=True),
    ]
    assert torch.autograd.gradcheck(rnn_cell, args)
    x, h0, c0 = (
        randn(gen, n, i, grad=True),
        randn(gen, n, h, grad=True),
        randn(gen, n, h, grad=True),
    )
    w = [
        randn(gen, 4 * h, i, grad=True),
        randn(gen, 4 * h, h, grad=True),
        randn(gen, 4 * h, grad=True),
        randn(gen, 4 * h, grad=True),
    ]
    assert torch.autograd.gradcheck(
        lambda x, h0, c0, *w: lstm_cell(x, (h0, c0), *w), [x, h0, c0, *w]
    )


def test_lstm_gates_are_the_cell_internals() -> None:
    gen, n, i, h = random_sizes(5)
    ref = torch_cell("lstm", i, h, True, 1)
    x, h0, c0 = randn(gen, n, i), randn(gen, n, h), randn(gen, n, h)
    g = lstm_gates(x, (h0, c0), *cell_weights(ref))
    for gate in (g.i, g.f, g.o):
        assert ((gate > 0) & (gate < 1)).all()
    torch.testing.assert_close(g.c, g.f * c0 + g.i * g.g)
    torch.testing.assert_close(g.h, g.o * torch.tanh(g.c))


# ----------------------------------------------------------------------------- layers


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_layer_equals_nn_lstm(seed: int, batch_first: bool) -> None:
    gen, n, i, h = random_sizes(seed)
    t = int(torch.randint(1, 9, (1,), generator=gen))
    torch.manual_seed(seed)
    ref = nn.LSTM(i, h, batch_first=batch_first).double()
    x = randn(gen, *((n, t, i) if batch_first else (t, n, i)), grad=True)
    h0, c0 = randn(gen, n, h, grad=True), randn(gen, n, h, grad=True)
    weights = (ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0)
    out1, (h1, c1) = lstm_layer(x, (h0, c0), *weights, batch_first=batch_first)
    out2, (h2, c2) = ref(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
    assert torch.allclose(out1, out2) and torch.allclose(h1, h2[0]) and torch.allclose(c1, c2[0])
    w = randn(gen, *out1.shape)
    inputs = [x, h0, c0, *ref.parameters()]
    for a, b in zip(
        torch.autograd.grad((out1 * w).sum() + c1.sum(), inputs),
        torch.autograd.grad((out2 * w).sum() + c2.sum(), inputs),
    ):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch_first", [False, True])
def test_rnn_layer_equals_nn_rnn(seed: int, batch_first: bool) -> None:
    gen, n, i, h = random_sizes(seed)
    t = int(torch.randint(1, 9, (1,), generator=gen))
    torch.manual_seed(seed)
    ref = nn.RNN(i, h, batch_first=batch_first).double()
    x = randn(gen, *((n, t, i) if batch_first else (t, n, i)), grad=True)
    h0 = randn(gen, n, h, grad=True)
    weights = (ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0)
    out1, h1 = rnn_layer(x, h0, *weights, batch_first=batch_first)
    out2, h2 = ref(x, h0.unsqueeze(0))
    assert torch.allclose(out1, out2) and torch.allclose(h1, h2[0])
    inputs = [x, h0, *ref.parameters()]
    for a, b in zip(
        torch.autograd.grad(out1.sum(), inputs), torch.autograd.grad(out2.sum(), inputs)
    ):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("batch_first", [False, True])
def test_modules_are_drop_in_for_torch_layers(batch_first: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    pairs = [
        (nn.LSTM(3, 5, batch_first=batch_first), LSTM(3, 5, batch_first=batch_first)),
        (nn.RNN(3, 5, batch_first=batch_first), RNN(3, 5, batch_first=batch_first)),
    ]
    x = torch.randn(2, 6, 3, generator=gen, dtype=DT)
    for ref, ours in pairs:
        ref.double()
        ours.double()
        ours.load_state_dict(ref.state_dict())  # same parameter names and shapes
        out1, s1 = ours(x)
        out2, s2 = ref(x)
        torch.testing.assert_close(out1, out2)
        for a, b in zip(torch.utils._pytree.tree_leaves(s1), torch.utils._pytree.tree_leaves(s2)):
            assert a.shape == b.shape and torch.allclose(a, b)
        # continuing from a given state, and one unbatched sequence
        out1, _ = ours(x, s2)
        out2, _ = ref(x, s2)
        torch.testing.assert_close(out1, out2)
        torch.testing.assert_close(ours(x[0])[0], ref(x[0])[0])
        ref.load_state_dict(ours.state_dict())  # and back


def test_module_initialisation_matches_torch_scale() -> None:
    torch.manual_seed(0)
    m = LSTM(4, 16)
    bound = 16**-0.5
    for p in m.parameters():
        assert p.abs().max() <= bound and p.abs().max() > 0.5 * bound


def test_set_forget_bias() -> None:
    torch.manual_seed(0)
    for lstm in (nn.LSTM(3, 4), LSTM(3, 4), nn.LSTMCell(3, 4)):
        set_forget_bias(lstm, 2.5)
        b_ih = getattr(lstm, "bias_ih_l0", getattr(lstm, "bias_ih", None))
        b_hh = getattr(lstm, "bias_hh_l0", getattr(lstm, "bias_hh", None))
        total = (b_ih + b_hh).detach()
        torch.testing.assert_close(total[4:8], torch.full((4,), 2.5))
        assert not torch.allclose(total[:4], torch.full((4,), 2.5))
    with pytest.raises(TypeError, match="LSTM"):
        set_forget_bias(nn.RNN(3, 4), 1.0)


# ----------------------------------------------------------------------------- models, sampler


def test_sequence_classifier_shapes() -> None:
    torch.manual_seed(0)
    tokens = torch.randint(0, 8, (5, 7))
    for cell in ("rnn", "lstm", "gru"):
        m = SequenceClassifier(4, 6, 3, cell=cell, vocab_size=8)
        assert m(tokens).shape == (5, 3)
    m = SequenceClassifier(2, 6, 10, readout="all", seq_len=20)
    assert m(torch.randn(4, 20, 2)).shape == (4, 10)
    assert m.head.in_features == 6 * 20


def test_char_lm_and_sampler() -> None:
    torch.manual_seed(0)
    lm = CharLM(12, embed_size=4, hidden_size=8)
    x = torch.randint(0, 12, (3, 9))
    logits = lm(x)
    assert logits.shape == (3, 9, 12)
    # carrying the state over two halves equals one pass over the whole sequence
    first, state = lm.forward_with_state(x[:, :4])
    second, _ = lm.forward_with_state(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), logits, atol=1e-6, rtol=1e-5)

    prompt = torch.tensor([1, 2, 3])
    a = sample(lm, prompt, 30, 1.0, torch.Generator().manual_seed(7))
    b = sample(lm, prompt, 30, 1.0, torch.Generator().manual_seed(7))
    c = sample(lm, prompt, 30, 1.0, torch.Generator().manual_seed(8))
    assert (
        a.shape == (30,) and a.dtype == torch.long and torch.equal(a, b) and not torch.equal(a, c)
    )
    assert ((a >= 0) & (a < 12)).all()
    assert lm.training  # the sampler restores the mode


def test_sampler_temperature_zero_is_greedy_and_low_temperature_concentrates() -> None:
    torch.manual_seed(0)
    lm = CharLM(6, embed_size=3, hidden_size=5)
    with torch.no_grad():
        lm.head.bias.copy_(torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]))
        lm.head.weight.mul_(0.01)
    greedy = sample(lm, torch.tensor([0]), 20, temperature=0)
    assert torch.equal(greedy, torch.ones(20, dtype=torch.long))
    gen = torch.Generator().manual_seed(0)
    cold = sample(lm, torch.tensor([0]), 100, 0.2, gen)
    hot = sample(lm, torch.tensor([0]), 100, 5.0, gen)
    assert (cold == 1).float().mean() > 0.95  # p(1) ~ e^5 / (e^5 + 5)
    assert (hot == 1).float().mean() < 0.4  # close to uniform


def test_sample_text_round_trip() -> None:
    class TinyCorpus:
        chars = list("ab c")

        def encode(self, s):
            return torch.tensor([self.chars.index(ch) for ch in s])

        def decode(self, codes):
            return "".join(self.chars[int(i)] for i in codes)

    torch.manual_seed(0)
    text = sample_text(
        CharLM(4, 2, 3), TinyCorpus(), "ab", 10, 1.0, torch.Generator().manual_seed(0)
    )
    assert text.startswith("ab") and len(text) == 12 and set(text) <= set("ab c")


# ----------------------------------------------------------------------------- bad input


def _weights(h: int, i: int, gates: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(gates * h, i, dtype=DT), torch.randn(gates * h, h, dtype=DT)


def test_wrong_hidden_size_and_batch_raise() -> None:
    x = torch.randn(3, 5, dtype=DT)
    w_ih, w_hh = _weights(4, 5, 1)
    with pytest.raises(ValueError, match="wrong hidden size"):
        rnn_cell(x, torch.randn(3, 6, dtype=DT), w_ih, w_hh)
    with pytest.raises(ValueError, match="wrong batch size"):
        rnn_cell(x, torch.randn(2, 4, dtype=DT), w_ih, w_hh)
    w_ih, w_hh = _weights(4, 5, 4)
    with pytest.raises(ValueError, match="wrong hidden size"):
        lstm_cell(x, (torch.randn(3, 6, dtype=DT), torch.randn(3, 6, dtype=DT)), w_ih, w_hh)
    with pytest.raises(ValueError, match="c must have the shape of h"):
        lstm_cell(x, (torch.randn(3, 4, dtype=DT), torch.randn(2, 4, dtype=DT)), w_ih, w_hh)


def test_wrong_weight_shapes_raise() -> None:
    x = torch.randn(3, 5, dtype=DT)
    with pytest.raises(ValueError, match="w_hh must have shape"):
        rnn_cell(x, None, torch.randn(4, 5, dtype=DT), torch.randn(4, 3, dtype=DT))
    with pytest.raises(ValueError, match="w_ih must have shape"):
        rnn_cell(x, None, torch.randn(3, 5, dtype=DT), torch.randn(4, 4, dtype=DT))
    with pytest.raises(ValueError, match="5 input features but w_ih expects 6"):
        rnn_cell(x, None, torch.randn(4, 6, dtype=DT), torch.randn(4, 4, dtype=DT))
    with pytest.raises(ValueError, match=r"w_hh must have shape \(4 \* hidden_size"):
        lstm_cell(x, None, torch.randn(16, 5, dtype=DT), torch.randn(4, 4, dtype=DT))  # RNN weights
    w_ih, w_hh = _weights(4, 5, 4)
    with pytest.raises(ValueError, match=r"b_ih must have shape \(16,\)"):
        lstm_cell(x, None, w_ih, w_hh, torch.randn(4, dtype=DT))
    with pytest.raises(ValueError, match=r"b_hh must have shape \(16,\)"):
        lstm_cell(x, None, w_ih, w_hh, None, torch.randn(15, dtype=DT))


def test_wrong_types_and_ranks_raise() -> None:
    x = torch.randn(3, 5, dtype=DT)
    w_ih, w_hh = _weights(4, 5, 1)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        rnn_cell(x.tolist(), None, w_ih, w_hh)
    with pytest.raises(TypeError, match="w_hh must be a torch.Tensor"):
        rnn_cell(x, None, w_ih, None)
    with pytest.raises(ValueError, match="x must be"):
        rnn_cell(x.unsqueeze(0), None, w_ih, w_hh)
    with pytest.raises(TypeError, match="float32"):
        rnn_cell(x.float(), None, w_ih, w_hh)
    w_ih, w_hh = _weights(4, 5, 4)
    with pytest.raises(TypeError, match="hc must be a pair"):
        lstm_cell(x, torch.zeros(3, 4, dtype=DT), w_ih, w_hh)
    with pytest.raises(TypeError, match="one None"):
        lstm_cell(x, (torch.zeros(3, 4, dtype=DT), None), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"3 dimensions \(N, T, input_size\)"):
        lstm_layer(torch.randn(2, 3, 4, 5, dtype=DT), None, w_ih, w_hh, batch_first=True)
    w_ih, w_hh = _weights(4, 5, 1)
    with pytest.raises(ValueError, match=r"\(T, N, input_size\)"):
        rnn_layer(torch.randn(5, dtype=DT), None, w_ih, w_hh)


def test_bad_module_and_sampler_arguments_raise() -> None:
    with pytest.raises(ValueError, match="hidden_size must be >= 1"):
        LSTM(3, 0)
    with pytest.raises(ValueError, match="cell must be one of"):
        SequenceClassifier(3, 4, 2, cell="transformer")
    with pytest.raises(ValueError, match="needs seq_len"):
        SequenceClassifier(3, 4, 2, readout="all")
    with pytest.raises(ValueError, match="readout must be"):
        SequenceClassifier(3, 4, 2, readout="mean")
    lm = CharLM(5, 2, 3)
    prompt = torch.tensor([0, 1])
    with pytest.raises(TypeError, match="forward_with_state"):
        sample(nn.Linear(2, 2), prompt, 3)
    with pytest.raises(ValueError, match="prompt must be a non-empty 1-D int64"):
        sample(lm, torch.tensor([], dtype=torch.long), 3)
    with pytest.raises(ValueError, match="prompt must be"):
        sample(lm, torch.tensor([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="temperature"):
        sample(lm, prompt, 3, temperature=-1.0)
    with pytest.raises(TypeError, match="generator"):
        sample(lm, prompt, 3, generator=0)
    with pytest.raises(ValueError, match="length must be >= 0"):
        sample(lm, prompt, -1)


# ----------------------------------------------------------------------------- language models


def naive_ngram_prob(
    train: list[int], context: list[int], c: int, order: int, V: int, alpha: float | None
) -> float:
    """The same n-gram probabilities from Python dictionaries, one query at a time."""

    def counts(k):  # C(k-gram), C(context of k-1 followed by something), followers
        grams, ctx, follow = {}, {}, {}
        for i in range(k - 1, len(train)):
            g = tuple(train[i - k + 1 : i + 1])
            grams[g] = grams.get(g, 0) + 1
            ctx[g[:-1]] = ctx.get(g[:-1], 0) + 1
            follow.setdefault(g[:-1], set()).add(g[-1])
        return grams, ctx, follow

    if alpha is not None:
        grams, ctx, _ = counts(order)
        h = tuple(context[-(order - 1) :]) if order > 1 else ()
        return (grams.get(h + (c,), 0) + alpha) / (ctx.get(h, 0) + alpha * V)
    p = 1.0 / V
    for k in range(1, order + 1):
        if k - 1 > len(context):
            break
        grams, ctx, follow = counts(k)
        h = tuple(context[len(context) - (k - 1) :]) if k > 1 else ()
        if ctx.get(h, 0) > 0:
            t = len(follow[h])
            p = (grams.get(h + (c,), 0) + t * p) / (ctx[h] + t)
    return p


@pytest.mark.parametrize("alpha", [None, 0.5])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_equals_dictionary_counts_and_normalises(order: int, alpha: float | None) -> None:
    gen = torch.Generator().manual_seed(order)
    V = 4
    train = torch.randint(0, V, (60,), generator=gen)
    test = torch.randint(0, V, (12,), generator=gen)
    ours = ngram_log2_probs(train, test, order, V, alpha=alpha)
    for i in range(len(test)):
        context = test[max(0, i - order + 1) : i].tolist()
        if alpha is not None and len(context) < order - 1:
            continue  # add-alpha scores the first positions with an all-zero count
        expected = naive_ngram_prob(train.tolist(), context, int(test[i]), order, V, alpha)
        assert ours[i].item() == pytest.approx(math.log2(expected), rel=1e-12)
    # for a fixed context, the probabilities of all V next codes sum to one
    context = test[: order - 1]
    probs = [
        2
        ** ngram_log2_probs(train, torch.cat([context, torch.tensor([c])]), order, V, alpha=alpha)[
            -1
        ].item()
        for c in range(V)
    ]
    assert sum(probs) == pytest.approx(1.0, abs=1e-12)


def test_ngram_handles_unseen_codes_and_checks_arguments() -> None:
    train, test = torch.tensor([0, 1, 0, 1, 0, 1]), torch.tensor([2, 2, 0])
    assert torch.isfinite(ngram_log2_probs(train, test, 3, 3)).all()
    with pytest.raises(ValueError, match="codes outside"):
        ngram_log2_probs(train, test, 2, 2)
    with pytest.raises(ValueError, match="alpha"):
        ngram_log2_probs(train, test, 2, 3, alpha=0.0)
    with pytest.raises(ValueError, match="1-D int64"):
        ngram_log2_probs(train.float(), test, 2, 3)
    with pytest.raises(ValueError, match="too large"):
        ngram_log2_probs(train, test, 40, 300)
    with pytest.raises(TypeError, match="order must be an int"):
        ngram_log2_probs(train, test, 2.0, 3)


def test_batchify_and_stream_bits_equal_one_unrolled_pass() -> None:
    torch.manual_seed(0)
    codes = torch.randint(0, 7, (103,))
    streams = batchify(codes, 4)  # (4, 25)
    assert streams.shape == (4, 25) and torch.equal(streams[1], codes[25:50])
    lm = CharLM(7, embed_size=5, hidden_size=6)
    with torch.no_grad():
        logits = lm(streams[:, :-1])
        whole = F.cross_entropy(
            logits.reshape(-1, 7), streams[:, 1:].reshape(-1)
        ).item() / math.log(2)
    for chunk in (1, 5, 24, 100):  # carried state: the same predictions, whatever the chunk
        assert stream_bits(lm, streams, chunk) == pytest.approx(whole, rel=1e-5)
    opt = torch.optim.SGD(lm.parameters(), lr=0.1)
    before = [p.detach().clone() for p in lm.parameters()]
    stream_bits(lm, streams, 8, optimizer=opt, clip_grad_norm=1.0)
    assert any(not torch.equal(a, b) for a, b in zip(before, lm.parameters()))
    with pytest.raises(ValueError, match="too few"):
        batchify(codes[:5], 4)
    with pytest.raises(ValueError, match="1-D"):
        batchify(streams, 2)
    with pytest.raises(ValueError, match="int64"):
        stream_bits(lm, streams.float(), 8)
    with pytest.raises(TypeError, match="forward_with_state"):
        stream_bits(nn.Linear(2, 2), streams, 8)


def test_corpus_is_split_by_document_without_shared_paragraphs() -> None:
    import sys

    import dlcore as dl
    from dlcore.data import corpus_documents

    corpus = dl.load("corpus")
    docs = corpus_documents()
    assert set(corpus.train_documents).isdisjoint(corpus.test_documents)
    assert corpus.test_documents == [n for i, n in enumerate(docs) if i % 10 == 5]
    train_text = corpus.decode(corpus.train)
    assert train_text == "".join(docs[n] for n in corpus.train_documents)
    paragraphs = lambda text: {" ".join(p.split()) for p in text.split("\n\n")} - {""}
    assert paragraphs(train_text).isdisjoint(paragraphs(corpus.decode(corpus.test)))
    assert corpus.text == train_text + corpus.decode(corpus.test)
    if sys.version.split()[0] == "3.11.7":  # the frozen copy is this Python's own topics
        import json
        from pydoc_data.topics import topics

        from dlcore._corpus_text import SHA256

        payload = json.dumps(dict(sorted(topics.items())), ensure_ascii=True, sort_keys=True)
        import hashlib

        assert hashlib.sha256(payload.encode("ascii")).hexdigest() == SHA256


def test_next_char_windows_values() -> None:
    from dlcore.sequence_models import next_char_windows

    codes = torch.arange(11)
    x, y = next_char_windows(codes, 3)  # (11 - 1) // 3 = 3 windows
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    x, y = next_char_windows(codes, 10)  # the largest window: one row
    assert x.tolist() == [list(range(10))] and y.tolist() == [list(range(1, 11))]
    gen = torch.Generator().manual_seed(0)
    for length, window in ((50, 1), (97, 8), (64, 7)):
        codes = torch.randint(0, 30, (length,), generator=gen)
        x, y = next_char_windows(codes, window)
        n = (length - 1) // window
        assert x.shape == y.shape == (n, window) and x.dtype == torch.long
        assert torch.equal(x.flatten(), codes[: n * window])
        assert torch.equal(y.flatten(), codes[1 : n * window + 1])
    x, _ = next_char_windows(torch.arange(5, dtype=torch.int32), 2)
    assert x.dtype == torch.int32


def test_next_char_windows_rejects_bad_input() -> None:
    from dlcore.sequence_models import next_char_windows

    codes = torch.arange(10)
    with pytest.raises(TypeError, match="next_char_windows: codes must be a torch.Tensor"):
        next_char_windows(list(range(10)), 3)
    with pytest.raises(TypeError, match="next_char_windows: codes must be an integer"):
        next_char_windows(codes.float(), 3)
    with pytest.raises(TypeError, match="next_char_windows: codes must be an integer"):
        next_char_windows(codes > 4, 3)
    with pytest.raises(ValueError, match="next_char_windows: codes must be a 1-D"):
        next_char_windows(codes.view(2, 5), 3)
    with pytest.raises(ValueError, match="next_char_windows: window must be >= 1"):
        next_char_windows(codes, 0)
    with pytest.raises(TypeError, match="next_char_windows: window must be an int"):
        next_char_windows(codes, 2.0)
    with pytest.raises(ValueError, match="next_char_windows: window must be < len"):
        next_char_windows(codes, 10)
    with pytest.raises(ValueError, match="next_char_windows: window must be < len"):
        next_char_windows(codes, 25)
