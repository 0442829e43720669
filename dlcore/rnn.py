"""Recurrent networks from tensor primitives: the vanilla (tanh) RNN cell, the LSTM cell,
the layers that unroll them in time, and a character-level language model with a sampler.

One step of each cell, for a batch ``x: (N, I)`` and hidden state ``h: (N, H)``:

* RNN:  ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``, equal to ``torch.nn.RNNCell``.
* LSTM: ``[i, f, g, o] = x W_ih^T + b_ih + h W_hh^T + b_hh`` split in four (that order),
  ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)``, ``h' = sigmoid(o) * tanh(c')``,
  equal to ``torch.nn.LSTMCell``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_number, check_positive_int, check_tensor, eval_mode, model_device

__all__ = [
    "rnn_cell", "lstm_cell", "lstm_gates", "LSTMGates", "rnn_layer", "lstm_layer",
    "RNN", "LSTM", "set_forget_bias", "SequenceClassifier", "CharLM", "sample", "sample_text",
    "batchify", "stream_bits", "ngram_log2_probs", "next_char_windows",
]


# ----------------------------------------------------------------------------- checks


def _check_cell_args(fn: str, x: Tensor, h: Tensor | None, w_ih: Tensor, w_hh: Tensor,
                     b_ih: Tensor | None, b_hh: Tensor | None, gates: int) -> int:
    """Check the shapes of one cell step; return the hidden size H."""
    check_tensor(x, fn, "x")
    check_tensor(w_ih, fn, "w_ih")
    check_tensor(w_hh, fn, "w_hh")
    if x.dim() not in (1, 2):
        raise ValueError(f"{fn}: x must be (N, input_size) or (input_size,), got shape {tuple(x.shape)}")
    rows = f"{gates} * hidden_size" if gates > 1 else "hidden_size"
    if w_hh.dim() != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape ({rows}, hidden_size), got {tuple(w_hh.shape)}")
    hidden = w_hh.shape[1]
    if w_ih.dim() != 2 or w_ih.shape[0] != gates * hidden:
        raise ValueError(
            f"{fn}: w_ih must have shape ({gates * hidden}, input_size) to match w_hh "
            f"{tuple(w_hh.shape)} (hidden_size {hidden}), got {tuple(w_ih.shape)}"
        )
    if w_ih.shape[1] != x.shape[-1]:
        raise ValueError(
            f"{fn}: x has {x.shape[-1]} input features but w_ih expects {w_ih.shape[1]} "
            f"(x shape {tuple(x.shape)}, w_ih shape {tuple(w_ih.shape)})"
        )
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None:
            check_tensor(b, fn, name)
            if b.shape != (gates * hidden,):
                raise ValueError(f"{fn}: {name} must have shape ({gates * hidden},), got {tuple(b.shape)}")
    if h is not None:
        check_tensor(h, fn, "h")
        expected = (hidden,) if x.dim() == 1 else (x.shape[0], hidden)
        if tuple(h.shape) != expected:
            what = "hidden size" if h.shape[-1] != hidden else "batch size"
            raise ValueError(
                f"{fn}: h must have shape {expected} (batch of x, hidden_size {hidden} from w_hh), "
                f"got {tuple(h.shape)}: wrong {what}"
            )
    for name, t in (("w_ih", w_ih), ("w_hh", w_hh), ("h", h), ("b_ih", b_ih), ("b_hh", b_hh)):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{fn}: x is {x.dtype} but {name} is {t.dtype}; use one dtype")
    return hidden


def _preactivation(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor,
                   b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor:
    z = x @ w_ih.T + h @ w_hh.T  # (N, G*H)
    if b_ih is not None:
        z = z + b_ih
    if b_hh is not None:
        z = z + b_hh
    return z


# ----------------------------------------------------------------------------- cells


def rnn_cell(x: Tensor, h: Tensor | None, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One tanh-RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    x: (N, I) or (I,); h: (N, H), (H,) or None (zeros); w_ih: (H, I); w_hh: (H, H);
    returns h': same leading shape as x, last dimension H.
    """
    hidden = _check_cell_args("rnn_cell", x, h, w_ih, w_hh, b_ih, b_hh, gates=1)
    if h is None:
        h = x.new_zeros(*x.shape[:-1], hidden)
    return torch.tanh(_preactivation(x, h, w_ih, w_hh, b_ih, b_hh))


class LSTMGates(NamedTuple):
    """Everything one LSTM step computes, each (N, H): the three gates in (0, 1), the
    candidate ``g`` in (-1, 1), the new cell state ``c`` and the new hidden state ``h``."""

    i: Tensor  # input gate: how much of the candidate to write
    f: Tensor  # forget gate: how much of the old cell state to keep
    g: Tensor  # candidate values (tanh)
    o: Tensor  # output gate: how much of tanh(c) to show as h
    c: Tensor
    h: Tensor


def lstm_gates(x: Tensor, hc: tuple[Tensor, Tensor] | None, w_ih: Tensor, w_hh: Tensor,
               b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> LSTMGates:
    """One LSTM step, returning the gates as well (see :func:`lstm_cell` for the shapes)."""
    fn = "lstm_cell"
    if hc is not None and not (isinstance(hc, (tuple, list)) and len(hc) == 2):
        raise TypeError(f"{fn}: hc must be a pair (h, c) of tensors or None, got {type(hc).__name__}")
    h, c = (None, None) if hc is None else hc
    hidden = _check_cell_args(fn, x, h, w_ih, w_hh, b_ih, b_hh, gates=4)
    if (h is None) != (c is None):
        raise TypeError(f"{fn}: hc must hold two tensors (h, c), got one None")
    if h is not None and c is not None:  # both or neither (checked above)
        check_tensor(c, fn, "c")
        if c.shape != h.shape:
            raise ValueError(f"{fn}: c must have the shape of h {tuple(h.shape)}, got {tuple(c.shape)}")
    if h is None or c is None:  # both None (checked above)
        h = x.new_zeros(*x.shape[:-1], hidden)
        c = x.new_zeros(*x.shape[:-1], hidden)
    z = _preactivation(x, h, w_ih, w_hh, b_ih, b_hh)  # (N, 4H)
    zi, zf, zg, zo = z.chunk(4, dim=-1)  # PyTorch's gate order: i, f, g, o
    i, f, g, o = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)
    c_new = f * c + i * g  # keep part of the old memory, write part of the candidate
    h_new = o * torch.tanh(c_new)  # show part of the memory
    return LSTMGates(i, f, g, o, c_new, h_new)


def lstm_cell(x: Tensor, hc: tuple[Tensor, Tensor] | None, w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step; returns ``(h', c')``.

    x: (N, I) or (I,); hc: a pair (h, c) of (N, H) tensors, or None (zeros);
    w_ih: (4H, I); w_hh: (4H, H); biases (4H,). Gate order i, f, g, o as in PyTorch.
    """
    out = lstm_gates(x, hc, w_ih, w_hh, b_ih, b_hh)
    return out.h, out.c


# ----------------------------------------------------------------------------- unrolled layers


def _time_major(fn: str, x: Tensor, batch_first: bool) -> tuple[Tensor, bool]:
    """Return x as (T, N, I) and whether it came without a batch dimension."""
    check_tensor(x, fn, "x")
    if x.dim() == 2:  # (T, I): one unbatched sequence
        if len(x) == 0:
            raise ValueError(f"{fn}: x is a sequence of length 0; a recurrent layer needs at "
                             f"least one time step")
        return x.unsqueeze(1), True
    if x.dim() != 3:
        layout = "(N, T, input_size)" if batch_first else "(T, N, input_size)"
        raise ValueError(f"{fn}: x must have 3 dimensions {layout}, got shape {tuple(x.shape)}")
    if x.shape[1 if batch_first else 0] == 0:
        raise ValueError(f"{fn}: x holds sequences of length 0 (shape {tuple(x.shape)}); "
                         f"a recurrent layer needs at least one time step")
    if x.shape[0 if batch_first else 1] == 0:
        raise ValueError(f"{fn}: x holds no sequences (batch of size 0, shape {tuple(x.shape)})")
    return (x.transpose(0, 1) if batch_first else x), False


def _stack_outputs(outputs: list[Tensor], batch_first: bool, unbatched: bool) -> Tensor:
    out = torch.stack(outputs)  # (T, N, H)
    if unbatched:
        return out[:, 0]
    return out.transpose(0, 1) if batch_first else out


def rnn_layer(x: Tensor, h0: Tensor | None, w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None,
              batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """Unroll :func:`rnn_cell` over time; returns ``(outputs, h_T)``.

    x: (T, N, I), or (N, T, I) with ``batch_first``; h0: (N, H) or None;
    outputs: every hidden state, (T, N, H) or (N, T, H); h_T: (N, H) (``nn.RNN``'s h_n[0]).
    """
    xs, unbatched = _time_major("rnn_layer", x, batch_first)
    if unbatched and h0 is not None:
        h0 = h0.unsqueeze(0)
    h = h0
    outputs = []
    for x_t in xs:  # the same weights at every step
        h = rnn_cell(x_t, h, w_ih, w_hh, b_ih, b_hh)
        outputs.append(h)
    assert h is not None  # _time_major guarantees at least one time step
    return _stack_outputs(outputs, batch_first, unbatched), (h[0] if unbatched else h)


def lstm_layer(x: Tensor, hc0: tuple[Tensor, Tensor] | None, w_ih: Tensor, w_hh: Tensor,
               b_ih: Tensor | None = None, b_hh: Tensor | None = None,
               batch_first: bool = False) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Unroll :func:`lstm_cell` over time; returns ``(outputs, (h_T, c_T))``.

    x: (T, N, I), or (N, T, I) with ``batch_first``; hc0: a pair of (N, H) or None;
    outputs: (T, N, H) or (N, T, H); h_T, c_T: (N, H) (``nn.LSTM``'s h_n[0], c_n[0]).
    """
    xs, unbatched = _time_major("lstm_layer", x, batch_first)
    if unbatched and hc0 is not None:
        hc0 = (hc0[0].unsqueeze(0), hc0[1].unsqueeze(0))
    hc = hc0
    outputs = []
    for x_t in xs:
        hc = lstm_cell(x_t, hc, w_ih, w_hh, b_ih, b_hh)
        outputs.append(hc[0])
    assert hc is not None  # _time_major guarantees at least one time step
    h, c = hc
    if unbatched:
        h, c = h[0], c[0]
    return _stack_outputs(outputs, batch_first, unbatched), (h, c)


class _Recurrent(nn.Module):
    """Parameters named and initialised like PyTorch's one-layer ``nn.RNN`` / ``nn.LSTM``,
    so ``load_state_dict`` works in both directions."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 batch_first: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        check_positive_int(input_size, name, "input_size")
        check_positive_int(hidden_size, name, "hidden_size")
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        g = self.gates * hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(g, hidden_size))
        if bias:
            self.bias_ih_l0 = nn.Parameter(torch.empty(g))
            self.bias_hh_l0 = nn.Parameter(torch.empty(g))
        else:
            self.register_parameter("bias_ih_l0", None)
            self.register_parameter("bias_hh_l0", None)
        bound = 1.0 / math.sqrt(hidden_size)  # PyTorch's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        return self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, batch_first={self.batch_first}"


def _one_layer_state(fn: str, state: Tensor, name: str) -> Tensor:
    """The (N, H) state of a one-layer recurrent module given as (1, N, H) (or (1, H) unbatched)."""
    check_tensor(state, fn, name)
    if state.dim() not in (2, 3) or state.shape[0] != 1:
        raise ValueError(f"{fn}: {name} must have shape (1, N, hidden_size): one layer, as in "
                         f"torch.nn.{fn} with num_layers=1; got shape {tuple(state.shape)}")
    return state[0]


class RNN(_Recurrent):
    """A one-layer tanh RNN built on :func:`rnn_layer`; same interface as ``nn.RNN``:
    ``out, h_n = rnn(x, h0)`` with h0, h_n of shape (1, N, H)."""

    gates = 1

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _time_major("RNN", x, self.batch_first)  # errors named after the module called
        h0 = None if hx is None else _one_layer_state("RNN", hx, "hx")
        out, h = rnn_layer(x, h0, *self._weights(), batch_first=self.batch_first)
        return out, h.unsqueeze(0)


class LSTM(_Recurrent):
    """A one-layer LSTM built on :func:`lstm_layer`; same interface as ``nn.LSTM``:
    ``out, (h_n, c_n) = lstm(x, (h0, c0))`` with states of shape (1, N, H)."""

    gates = 4

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        _time_major("LSTM", x, self.batch_first)  # errors named after the module called
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("LSTM: hx must be a pair (h0, c0) of tensors (1, N, H), or None")
        hc0 = None if hx is None else (_one_layer_state("LSTM", hx[0], "h0"),
                                       _one_layer_state("LSTM", hx[1], "c0"))
        out, (h, c) = lstm_layer(x, hc0, *self._weights(), batch_first=self.batch_first)
        return out, (h.unsqueeze(0), c.unsqueeze(0))


@torch.no_grad()
def set_forget_bias(lstm: nn.Module, value: float) -> None:
    """Make the total forget-gate bias (b_ih + b_hh, rows H..2H) of a one-layer
    ``nn.LSTM`` / :class:`LSTM` / ``nn.LSTMCell`` equal ``value``."""
    w_hh = getattr(lstm, "weight_hh_l0", getattr(lstm, "weight_hh", None))
    b_ih = getattr(lstm, "bias_ih_l0", getattr(lstm, "bias_ih", None))
    b_hh = getattr(lstm, "bias_hh_l0", getattr(lstm, "bias_hh", None))
    if w_hh is None or b_ih is None or b_hh is None or w_hh.shape[0] != 4 * w_hh.shape[1]:
        raise TypeError(f"set_forget_bias: expected an LSTM with biases, got {type(lstm).__name__}")
    hidden = w_hh.shape[1]
    b_ih[hidden: 2 * hidden] = value
    b_hh[hidden: 2 * hidden] = 0.0


# ----------------------------------------------------------------------------- models

_CELLS: dict[str, type[nn.Module]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _recurrent(cell: str, input_size: int, hidden_size: int, fn: str) -> nn.Module:
    if cell not in _CELLS:
        raise ValueError(f"{fn}: cell must be one of {sorted(_CELLS)}, got {cell!r}")
    return _CELLS[cell](input_size, hidden_size, batch_first=True)


class SequenceClassifier(nn.Module):
    """Sequence -> one recurrent layer -> linear classifier (PyTorch's fast recurrent layers).

    x: (N, T, input_size) floats, or (N, T) int64 tokens when ``vocab_size`` is given (they
    are embedded into ``input_size`` dimensions first). The read-out sees the last hidden
    state (``readout="last"``) or all T of them concatenated (``readout="all"``, needs
    ``seq_len``). Returns (N, n_classes) logits.
    """

    def __init__(self, input_size: int, hidden_size: int, n_classes: int, cell: str = "lstm",
                 vocab_size: int | None = None, readout: str = "last",
                 seq_len: int | None = None) -> None:
        super().__init__()
        fn = "SequenceClassifier"
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("n_classes", n_classes)):
            check_positive_int(v, fn, name)
        if readout not in ("last", "all"):
            raise ValueError(f"{fn}: readout must be 'last' or 'all', got {readout!r}")
        steps = 1  # hidden states the read-out sees
        if readout == "all":
            if seq_len is None:
                raise ValueError(f"{fn}: readout='all' needs seq_len (the number of time steps)")
            check_positive_int(seq_len, fn, "seq_len")
            steps = seq_len
        self.embed = nn.Embedding(vocab_size, input_size) if vocab_size is not None else None
        self.rnn = _recurrent(cell, input_size, hidden_size, fn)
        self.readout = readout
        self.head = nn.Linear(hidden_size * steps, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.embed is not None:
            x = self.embed(x)  # (N, T) codes -> (N, T, input_size)
        out, _ = self.rnn(x)  # (N, T, H)
        features = out.flatten(1) if self.readout == "all" else out[:, -1]
        return self.head(features)


class CharLM(nn.Module):
    """Character-level language model: embedding -> recurrent layer -> logits for the
    next character at every position. (N, T) codes -> (N, T, vocab_size)."""

    def __init__(self, vocab_size: int, embed_size: int = 32, hidden_size: int = 64,
                 cell: str = "lstm") -> None:
        super().__init__()
        fn = "CharLM"
        for name, v in (("vocab_size", vocab_size), ("embed_size", embed_size),
                        ("hidden_size", hidden_size)):
            check_positive_int(v, fn, name)
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = _recurrent(cell, embed_size, hidden_size, fn)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward_with_state(self, x: Tensor, state=None) -> tuple[Tensor, object]:
        """Logits (N, T, V) and the final recurrent state, starting from ``state``."""
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_state(x)[0]


def _forward_with_state(model: nn.Module) -> Callable[..., tuple[Tensor, Any]]:
    """The model's ``forward_with_state(x, state)`` (checked present by the caller)."""
    return cast(Callable[..., tuple[Tensor, Any]], model.forward_with_state)


@torch.no_grad()
def sample(model: nn.Module, prompt: Tensor, length: int, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> Tensor:
    """Sample ``length`` codes after ``prompt`` (1-D int64) from ``model.forward_with_state``.

    Each next code is drawn from ``softmax(logits / temperature)``; ``temperature=0``
    takes the most likely code. Returns the (length,) new codes, on the CPU.
    """
    fn = "sample"
    if not hasattr(model, "forward_with_state"):
        raise TypeError(f"{fn}: model must have forward_with_state(x, state), like CharLM; "
                        f"got {type(model).__name__}")
    check_tensor(prompt, fn, "prompt")
    if prompt.dim() != 1 or len(prompt) == 0 or prompt.dtype != torch.long:
        raise ValueError(f"{fn}: prompt must be a non-empty 1-D int64 tensor of codes, "
                         f"got shape {tuple(prompt.shape)} and {prompt.dtype}")
    check_positive_int(length, fn, "length", minimum=0)
    temperature = check_number(temperature, fn, "temperature", lo=0.0)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{fn}: generator must be a torch.Generator or None, "
                        f"got {type(generator).__name__}")
    forward_with_state = _forward_with_state(model)
    device = model_device(model)
    with eval_mode(model):
        logits, state = forward_with_state(prompt.to(device).unsqueeze(0))  # read the prompt
        codes = []
        for _ in range(length):
            last = logits[0, -1].float().cpu()  # (V,)
            if temperature == 0:
                nxt = int(last.argmax())
            else:
                probs = F.softmax(last / temperature, dim=-1)
                nxt = int(torch.multinomial(probs, 1, generator=generator))
            codes.append(nxt)
            step = torch.tensor([[nxt]], device=device)
            logits, state = forward_with_state(step, state)  # carry the state forward
    return torch.tensor(codes, dtype=torch.long)


def sample_text(model: nn.Module, corpus, prompt: str, length: int, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> str:
    """:func:`sample` with strings: ``prompt`` plus ``length`` sampled characters."""
    codes = sample(model, corpus.encode(prompt), length, temperature, generator)
    return prompt + corpus.decode(codes)


# ----------------------------------------------------------------------------- streams


def batchify(codes: Tensor, n_streams: int) -> Tensor:
    """Cut a 1-D stream of codes into ``n_streams`` equal consecutive pieces, one per row:
    (L,) -> (n_streams, L // n_streams); the last ``L % n_streams`` codes are dropped."""
    fn = "batchify"
    check_tensor(codes, fn, "codes")
    if codes.dim() != 1:
        raise ValueError(f"{fn}: codes must be a 1-D stream, got shape {tuple(codes.shape)}")
    check_positive_int(n_streams, fn, "n_streams")
    length = len(codes) // n_streams
    if length < 2:
        raise ValueError(f"{fn}: {len(codes)} codes are too few for {n_streams} streams of 2 or more")
    return codes[: n_streams * length].view(n_streams, length)


def stream_bits(model: nn.Module, streams: Tensor, chunk: int,
                optimizer: torch.optim.Optimizer | None = None, clip_grad_norm: float | None = None,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> float:
    """One pass over ``streams`` (N, L) in chunks of ``chunk`` steps, predicting each next code.

    The recurrent state is carried from one chunk to the next and detached (truncated BPTT).
    With an ``optimizer`` every chunk is a training step; without one the pass evaluates.
    Returns the mean cross-entropy in bits per character.
    """
    fn = "stream_bits"
    if not hasattr(model, "forward_with_state"):
        raise TypeError(f"{fn}: model must have forward_with_state(x, state), like CharLM; "
                        f"got {type(model).__name__}")
    check_tensor(streams, fn, "streams")
    if streams.dim() != 2 or streams.dtype != torch.long:
        raise ValueError(f"{fn}: streams must be (n_streams, length) int64 codes, "
                         f"got shape {tuple(streams.shape)} and {streams.dtype}")
    check_positive_int(chunk, fn, "chunk")
    forward_with_state = _forward_with_state(model)
    device = model_device(model)
    model.train(optimizer is not None)
    state, total, count = None, 0.0, 0
    with torch.set_grad_enabled(optimizer is not None):
        for start in range(0, streams.shape[1] - 1, chunk):
            x = streams[:, start:start + chunk + 1].to(device)  # one extra step for the targets
            x, y = x[:, :-1], x[:, 1:]                          # (N, k) inputs and next codes
            logits, state = forward_with_state(x, state)  # (N, k, V)
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                if clip_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            total += loss.item() * y.numel()
            count += y.numel()
    model.eval()
    return total / count / math.log(2)


# ----------------------------------------------------------------------------- n-grams


def _ngram_keys(codes: np.ndarray, k: int, base: int) -> np.ndarray:
    """Integer key of the k-gram ending at each position i >= k - 1 (base-``base`` digits)."""
    n = len(codes) - k + 1
    key = np.zeros(max(n, 0), dtype=np.int64)
    for j in range(k):
        key = key * base + codes[j:j + n]
    return key


def _ngram_counts(train_keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """How often each query key occurs among ``train_keys``."""
    keys, counts = np.unique(train_keys, return_counts=True)
    if len(keys) == 0:
        return np.zeros(len(query))
    idx = np.clip(np.searchsorted(keys, query), 0, len(keys) - 1)
    return np.where(keys[idx] == query, counts[idx], 0).astype(np.float64)


def ngram_log2_probs(train: Tensor, test: Tensor, order: int, vocab_size: int,
                     alpha: float | None = None) -> Tensor:
    """log2 P(test[i] | the ``order - 1`` codes before it) under a count-based n-gram model.

    ``alpha`` given: add-alpha smoothing of the order-n counts,
    ``P(c | h) = (C(h c) + alpha) / (C(h) + alpha V)``. ``alpha=None``: Witten-Bell
    interpolation of all orders 1..n, ``P(c | h) = (C(h c) + T(h) P(c | h')) / (C(h) + T(h))``
    with ``T(h)`` the number of distinct codes seen after ``h`` and ``h'`` the context one code
    shorter (uniform below order 1). The first positions use the context they have.
    Returns a (len(test),) float64 tensor.
    """
    fn = "ngram_log2_probs"
    for name, t in (("train", train), ("test", test)):
        check_tensor(t, fn, name)
        if t.dim() != 1 or t.dtype != torch.long:
            raise ValueError(f"{fn}: {name} must be a 1-D int64 tensor of codes, "
                             f"got shape {tuple(t.shape)} and {t.dtype}")
    check_positive_int(order, fn, "order")
    check_positive_int(vocab_size, fn, "vocab_size")
    if vocab_size ** order >= 2 ** 62:
        raise ValueError(f"{fn}: order {order} is too large for vocab_size {vocab_size}")
    for name, t in (("train", train), ("test", test)):
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
            raise ValueError(f"{fn}: {name} has codes outside [0, vocab_size={vocab_size})")
    if alpha is not None:
        alpha = check_number(alpha, fn, "alpha", lo=0.0, lo_open=True)
    tr, te = train.numpy().astype(np.int64), test.numpy().astype(np.int64)
    n, V = len(te), vocab_size
    p = np.full(n, 1.0 / V)                                  # order 0: uniform
    for k in ([order] if alpha is not None else range(1, order + 1)):
        full = _ngram_keys(tr, k, V)                         # every k-gram of the training text
        query = _ngram_keys(te, k, V)                        # the k-gram ending at each test position
        c_hc = np.zeros(n)
        c_hc[k - 1:] = _ngram_counts(full, query)            # C(h c)
        if k == 1:
            c_h, types = np.full(n, float(len(tr))), np.full(n, float(len(np.unique(tr))))
        else:
            c_h, types = np.zeros(n), np.zeros(n)
            c_h[k - 1:] = _ngram_counts(_ngram_keys(tr[:-1], k - 1, V), query // V)  # C(h)
            types[k - 1:] = _ngram_counts(np.unique(full) // V, query // V)          # T(h)
        if alpha is not None:
            p = (c_hc + alpha) / (c_h + alpha * V)
        else:
            p = np.where(c_h > 0, (c_hc + types * p) / np.maximum(c_h + types, 1.0), p)
    return torch.from_numpy(np.log2(p))


# ----------------------------------------------------------------------------- windows


def next_char_windows(codes: Tensor, window: int) -> tuple[Tensor, Tensor]:
    """Cut a 1-D stream of codes into non-overlapping windows and their next-code targets.

    With ``n = (len(codes) - 1) // window``, returns ``inputs, targets``, both ``(n, window)``
    int64: ``inputs[j] = codes[j*window : (j+1)*window]`` and ``targets`` the same windows
    shifted by one code, so ``targets[j, t]`` is the code that follows ``inputs[j, t]``. The
    last ``len(codes) - 1 - n*window`` codes are dropped. Both are views of ``codes``.
    """
    fn = "next_char_windows"
    check_tensor(codes, fn, "codes")
    if codes.dim() != 1:
        raise ValueError(f"{fn}: codes must be a 1-D stream, got shape {tuple(codes.shape)}")
    if codes.dtype.is_floating_point or codes.dtype.is_complex or codes.dtype == torch.bool:
        raise TypeError(f"{fn}: codes must be an integer tensor, got {codes.dtype}")
    check_positive_int(window, fn, "window")
    if window >= len(codes):
        raise ValueError(f"{fn}: window must be < len(codes) = {len(codes)} (one code is kept "
                         f"as the last target), got {window}")
    n = (len(codes) - 1) // window
    return codes[: n * window].view(n, window), codes[1: n * window + 1].view(n, window)
