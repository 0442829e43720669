"""Recurrent networks from tensor primitives: the vanilla (tanh) RNN cell, the LSTM cell,
the layers that unroll them in time, and a character-level language model with a sampler.

One step of each cell, for a batch ``x: (N, I)`` and hidden state ``h: (N, H)``:

* RNN:  ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``, equal to ``torch.nn.RNNCell``.
* LSTM: ``[i, f, g, o] = x W_ih^T + b_ih + h W_hh^T + b_hh`` split in four (that order),
  ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)``, ``h' = sigmoid(o) * tanh(c')``,
  equal to ``torch.nn.LSTMCell``.

The models built on torch's own recurrent layers (a sequence classifier, the character
language model, truncated-BPTT streams, n-gram baselines) live in
:mod:`dlcore.sequence_models`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._checks import check_positive_int, check_tensor

__all__ = [
    "rnn_cell",
    "lstm_cell",
    "lstm_gates",
    "LSTMGates",
    "rnn_layer",
    "lstm_layer",
    "RNN",
    "LSTM",
    "set_forget_bias",
]


# ----------------------------------------------------------------------------- checks


def _check_cell_args(
    fn: str,
    x: Tensor,
    h: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    gates: int,
) -> int:
    """Check the shapes of one cell step; return the hidden size H."""
    check_tensor(x, fn, "x")
    check_tensor(w_ih, fn, "w_ih")
    check_tensor(w_hh, fn, "w_hh")
    if x.dim() not in (1, 2):
        raise ValueError(
            f"{fn}: x must be (N, input_size) or (input_size,), got shape {tuple(x.shape)}"
        )
    rows = f"{gates} * hidden_size" if gates > 1 else "hidden_size"
    if w_hh.dim() != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(
            f"{fn}: w_hh must have shape ({rows}, hidden_size), got {tuple(w_hh.shape)}"
        )
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
                raise ValueError(
                    f"{fn}: {name} must have shape ({gates * hidden},), got {tuple(b.shape)}"
                )
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


def _preactivation(
    x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None
) -> Tensor:
    z = x @ w_ih.T + h @ w_hh.T  # (N, G*H)
    if b_ih is not None:
        z = z + b_ih
    if b_hh is not None:
        z = z + b_hh
    return z


# ----------------------------------------------------------------------------- cells


def rnn_cell(
    x: Tensor,
    h: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
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


def lstm_gates(
    x: Tensor,
    hc: tuple[Tensor, Tensor] | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> LSTMGates:
    """One LSTM step, returning the gates as well (see :func:`lstm_cell` for the shapes)."""
    fn = "lstm_cell"
    if hc is not None and not (isinstance(hc, (tuple, list)) and len(hc) == 2):
        raise TypeError(
            f"{fn}: hc must be a pair (h, c) of tensors or None, got {type(hc).__name__}"
        )
    h, c = (None, None) if hc is None else hc
    hidden = _check_cell_args(fn, x, h, w_ih, w_hh, b_ih, b_hh, gates=4)
    if (h is None) != (c is None):
        raise TypeError(f"{fn}: hc must hold two tensors (h, c), got one None")
    if h is not None and c is not None:  # both or neither (checked above)
        check_tensor(c, fn, "c")
        if c.shape != h.shape:
            raise ValueError(
                f"{fn}: c must have the shape of h {tuple(h.shape)}, got {tuple(c.shape)}"
            )
    if h is None or c is None:  # both None (checked above)
        h = x.new_zeros(*x.shape[:-1], hidden)
        c = x.new_zeros(*x.shape[:-1], hidden)
    z = _preactivation(x, h, w_ih, w_hh, b_ih, b_hh)  # (N, 4H)
    zi, zf, zg, zo = z.chunk(4, dim=-1)  # PyTorch's gate order: i, f, g, o
    i, f, g, o = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)
    c_new = f * c + i * g  # keep part of the old memory, write part of the candidate
    h_new = o * torch.tanh(c_new)  # show part of the memory
    return LSTMGates(i, f, g, o, c_new, h_new)


def lstm_cell(
    x: Tensor,
    hc: tuple[Tensor, Tensor] | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
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
            raise ValueError(
                f"{fn}: x is a sequence of length 0; a recurrent layer needs at least one time step"
            )
        return x.unsqueeze(1), True
    if x.dim() != 3:
        layout = "(N, T, input_size)" if batch_first else "(T, N, input_size)"
        raise ValueError(f"{fn}: x must have 3 dimensions {layout}, got shape {tuple(x.shape)}")
    if x.shape[1 if batch_first else 0] == 0:
        raise ValueError(
            f"{fn}: x holds sequences of length 0 (shape {tuple(x.shape)}); "
            f"a recurrent layer needs at least one time step"
        )
    if x.shape[0 if batch_first else 1] == 0:
        raise ValueError(f"{fn}: x holds no sequences (batch of size 0, shape {tuple(x.shape)})")
    return (x.transpose(0, 1) if batch_first else x), False


def _stack_outputs(outputs: list[Tensor], batch_first: bool, unbatched: bool) -> Tensor:
    out = torch.stack(outputs)  # (T, N, H)
    if unbatched:
        return out[:, 0]
    return out.transpose(0, 1) if batch_first else out


def rnn_layer(
    x: Tensor,
    h0: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    batch_first: bool = False,
) -> tuple[Tensor, Tensor]:
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


def lstm_layer(
    x: Tensor,
    hc0: tuple[Tensor, Tensor] | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    batch_first: bool = False,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
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

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, batch_first: bool = False
    ) -> None:
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
        raise ValueError(
            f"{fn}: {name} must have shape (1, N, hidden_size): one layer, as in "
            f"torch.nn.{fn} with num_layers=1; got shape {tuple(state.shape)}"
        )
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

    def forward(
        self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        _time_major("LSTM", x, self.batch_first)  # errors named after the module called
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("LSTM: hx must be a pair (h0, c0) of tensors (1, N, H), or None")
        hc0 = (
            None
            if hx is None
            else (_one_layer_state("LSTM", hx[0], "h0"), _one_layer_state("LSTM", hx[1], "c0"))
        )
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
    b_ih[hidden : 2 * hidden] = value
    b_hh[hidden : 2 * hidden] = 0.0
