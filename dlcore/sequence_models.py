"""Sequence models built on torch's recurrent layers, and the tools of the character
language model: a sequence classifier (RNN, LSTM or GRU), ``CharLM`` with a sampler, streams
for truncated backpropagation through time, next-character windows, and count-based n-gram
baselines in bits per character.

The from-scratch cells and layers these models are checked against live in :mod:`dlcore.rnn`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_number, check_positive_int, check_tensor, eval_mode, model_device

__all__ = [
    "SequenceClassifier",
    "CharLM",
    "sample",
    "sample_text",
    "batchify",
    "stream_bits",
    "ngram_log2_probs",
    "next_char_windows",
]


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

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        n_classes: int,
        cell: str = "lstm",
        vocab_size: int | None = None,
        readout: str = "last",
        seq_len: int | None = None,
    ) -> None:
        super().__init__()
        fn = "SequenceClassifier"
        for name, v in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("n_classes", n_classes),
        ):
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

    def __init__(
        self, vocab_size: int, embed_size: int = 32, hidden_size: int = 64, cell: str = "lstm"
    ) -> None:
        super().__init__()
        fn = "CharLM"
        for name, v in (
            ("vocab_size", vocab_size),
            ("embed_size", embed_size),
            ("hidden_size", hidden_size),
        ):
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
def sample(
    model: nn.Module,
    prompt: Tensor,
    length: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample ``length`` codes after ``prompt`` (1-D int64) from ``model.forward_with_state``.

    Each next code is drawn from ``softmax(logits / temperature)``; ``temperature=0``
    takes the most likely code. Returns the (length,) new codes, on the CPU.
    """
    fn = "sample"
    if not hasattr(model, "forward_with_state"):
        raise TypeError(
            f"{fn}: model must have forward_with_state(x, state), like CharLM; "
            f"got {type(model).__name__}"
        )
    check_tensor(prompt, fn, "prompt")
    if prompt.dim() != 1 or len(prompt) == 0 or prompt.dtype != torch.long:
        raise ValueError(
            f"{fn}: prompt must be a non-empty 1-D int64 tensor of codes, "
            f"got shape {tuple(prompt.shape)} and {prompt.dtype}"
        )
    check_positive_int(length, fn, "length", minimum=0)
    temperature = check_number(temperature, fn, "temperature", lo=0.0)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{fn}: generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
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


def sample_text(
    model: nn.Module,
    corpus,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> str:
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
        raise ValueError(
            f"{fn}: {len(codes)} codes are too few for {n_streams} streams of 2 or more"
        )
    return codes[: n_streams * length].view(n_streams, length)


def stream_bits(
    model: nn.Module,
    streams: Tensor,
    chunk: int,
    optimizer: torch.optim.Optimizer | None = None,
    clip_grad_norm: float | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> float:
    """One pass over ``streams`` (N, L) in chunks of ``chunk`` steps, predicting each next code.

    The recurrent state is carried from one chunk to the next and detached (truncated BPTT).
    With an ``optimizer`` every chunk is a training step; without one the pass evaluates.
    Returns the mean cross-entropy in bits per character.
    """
    fn = "stream_bits"
    if not hasattr(model, "forward_with_state"):
        raise TypeError(
            f"{fn}: model must have forward_with_state(x, state), like CharLM; "
            f"got {type(model).__name__}"
        )
    check_tensor(streams, fn, "streams")
    if streams.dim() != 2 or streams.dtype != torch.long:
        raise ValueError(
            f"{fn}: streams must be (n_streams, length) int64 codes, "
            f"got shape {tuple(streams.shape)} and {streams.dtype}"
        )
    check_positive_int(chunk, fn, "chunk")
    forward_with_state = _forward_with_state(model)
    device = model_device(model)
    model.train(optimizer is not None)
    state, total, count = None, 0.0, 0
    with torch.set_grad_enabled(optimizer is not None):
        for start in range(0, streams.shape[1] - 1, chunk):
            x = streams[:, start : start + chunk + 1].to(device)  # one extra step for the targets
            x, y = x[:, :-1], x[:, 1:]  # (N, k) inputs and next codes
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
        key = key * base + codes[j : j + n]
    return key


def _ngram_counts(train_keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """How often each query key occurs among ``train_keys``."""
    keys, counts = np.unique(train_keys, return_counts=True)
    if len(keys) == 0:
        return np.zeros(len(query))
    idx = np.clip(np.searchsorted(keys, query), 0, len(keys) - 1)
    return np.where(keys[idx] == query, counts[idx], 0).astype(np.float64)


def ngram_log2_probs(
    train: Tensor, test: Tensor, order: int, vocab_size: int, alpha: float | None = None
) -> Tensor:
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
            raise ValueError(
                f"{fn}: {name} must be a 1-D int64 tensor of codes, "
                f"got shape {tuple(t.shape)} and {t.dtype}"
            )
    check_positive_int(order, fn, "order")
    check_positive_int(vocab_size, fn, "vocab_size")
    if vocab_size**order >= 2**62:
        raise ValueError(f"{fn}: order {order} is too large for vocab_size {vocab_size}")
    for name, t in (("train", train), ("test", test)):
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
            raise ValueError(f"{fn}: {name} has codes outside [0, vocab_size={vocab_size})")
    if alpha is not None:
        alpha = check_number(alpha, fn, "alpha", lo=0.0, lo_open=True)
    tr, te = train.numpy().astype(np.int64), test.numpy().astype(np.int64)
    n, V = len(te), vocab_size
    p = np.full(n, 1.0 / V)  # order 0: uniform
    for k in [order] if alpha is not None else range(1, order + 1):
        full = _ngram_keys(tr, k, V)  # every k-gram of the training text
        query = _ngram_keys(te, k, V)  # the k-gram ending at each test position
        c_hc = np.zeros(n)
        c_hc[k - 1 :] = _ngram_counts(full, query)  # C(h c)
        if k == 1:
            c_h, types = np.full(n, float(len(tr))), np.full(n, float(len(np.unique(tr))))
        else:
            c_h, types = np.zeros(n), np.zeros(n)
            c_h[k - 1 :] = _ngram_counts(_ngram_keys(tr[:-1], k - 1, V), query // V)  # C(h)
            types[k - 1 :] = _ngram_counts(np.unique(full) // V, query // V)  # T(h)
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
        raise ValueError(
            f"{fn}: window must be < len(codes) = {len(codes)} (one code is kept "
            f"as the last target), got {window}"
        )
    n = (len(codes) - 1) // window
    return codes[: n * window].view(n, window), codes[1 : n * window + 1].view(n, window)
