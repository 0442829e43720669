"""Attention from tensor primitives: scaled dot-product attention (equal to
``torch.nn.functional.scaled_dot_product_attention``), additive (Bahdanau) attention in a
recurrent encoder-decoder, multi-head self-attention, a pre-norm Transformer block and a
small causal Transformer language model.

Scaled dot-product attention, for queries q (..., L, E), keys k (..., S, E), values v (..., S, Ev):
``softmax(q k^T / sqrt(E) + mask) v``: each query takes a weighted mean of the values, the
weights saying how well the query matches each key.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import check_ndim, check_number, check_positive_int, check_tensor
from .batchnorm import LayerNorm

__all__ = [
    "softmax",
    "causal_mask",
    "attention_weights",
    "scaled_dot_product_attention",
    "AdditiveAttention",
    "AttentionSeq2Seq",
    "MultiHeadSelfAttention",
    "TransformerBlock",
    "TransformerLM",
]


# ----------------------------------------------------------------------------- the function


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, shifted by the maximum so exp cannot overflow.

    Entries equal to -inf get weight 0; a slice that is -inf everywhere gets all zeros
    (not NaN), which is what PyTorch's attention returns for a query that may attend nowhere.
    """
    top = x.amax(dim=dim, keepdim=True).detach()  # softmax(x - c) = softmax(x) for any c
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    e = torch.exp(x - top)  # exp(-inf) = 0: masked entries drop out
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))


def causal_mask(
    length: int, source_length: int | None = None, device: torch.device | str | None = None
) -> Tensor:
    """Boolean (L, S) mask, True where query i may attend to key j, i.e. j <= i
    (the top-left aligned lower triangle that ``is_causal=True`` means in PyTorch)."""
    check_positive_int(length, "causal_mask", "length", minimum=0)
    s = (
        length
        if source_length is None
        else check_positive_int(source_length, "causal_mask", "source_length", minimum=0)
    )
    return torch.ones(length, s, dtype=torch.bool, device=device).tril()


def _check_qkv(fn: str, q: Tensor, k: Tensor, v: Tensor) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(t, fn, name)
        if t.dim() < 2:
            raise ValueError(
                f"{fn}: {name} must have at least 2 dimensions (..., length, features), "
                f"got shape {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise TypeError(f"{fn}: {name} must be a floating-point tensor, got {t.dtype}")
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(
            f"{fn}: q, k and v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"{fn}: q and k must have the same head dimension (last), got q "
            f"{tuple(q.shape)} (E={q.shape[-1]}) and k {tuple(k.shape)} (E={k.shape[-1]})"
        )
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(
            f"{fn}: k and v must agree in every dimension but the last (one value "
            f"per key), got k {tuple(k.shape)} and v {tuple(v.shape)}"
        )
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"{fn}: the batch dimensions of q {tuple(q.shape[:-2])} and k "
            f"{tuple(k.shape[:-2])} do not broadcast"
        ) from None


def attention_weights(
    q: Tensor,
    k: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """The attention probabilities ``softmax(q k^T * scale + mask)``: (..., L, S), rows sum to 1.

    ``scale`` defaults to 1/sqrt(E). ``attn_mask`` broadcasts to (..., L, S): boolean True =
    may attend, or a float mask added to the scores. ``is_causal`` masks keys after the query.
    """
    fn = "scaled_dot_product_attention"
    _check_qkv(fn, q, k, k)
    if not isinstance(is_causal, bool):
        raise TypeError(f"{fn}: is_causal must be a bool, got {type(is_causal).__name__}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{fn}: give attn_mask or is_causal=True, not both")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    else:
        scale = check_number(scale, fn, "scale")
    length, source = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., L, S): how well query i matches key j
    if is_causal:
        attn_mask = causal_mask(length, source, device=q.device)
    if attn_mask is not None:
        check_tensor(attn_mask, fn, "attn_mask")
        try:
            torch.broadcast_shapes(attn_mask.shape, scores.shape)
        except RuntimeError:
            raise ValueError(
                f"{fn}: attn_mask of shape {tuple(attn_mask.shape)} does not broadcast "
                f"to the scores' shape {tuple(scores.shape)} (..., L, S)"
            ) from None
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, -math.inf)  # False = may not attend
        elif attn_mask.is_floating_point():
            scores = scores + attn_mask.to(scores.dtype)  # e.g. -inf blocks, a bias shifts
        else:
            raise TypeError(
                f"{fn}: attn_mask must be boolean (True = may attend) or floating "
                f"point (added to the scores), got {attn_mask.dtype}"
            )
    return softmax(scores, dim=-1)


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    *,
    scale: float | None = None,
) -> Tensor:
    """``softmax(q k^T / sqrt(E) + mask) v``; equals ``F.scaled_dot_product_attention``.

    q: (..., L, E), k: (..., S, E), v: (..., S, Ev) -> (..., L, Ev). ``attn_mask`` broadcasts
    to (..., L, S): boolean (True = may attend) or float (added to the scores); ``is_causal``
    lets query i see keys 0..i only. Give one of the two, not both.
    """
    _check_qkv("scaled_dot_product_attention", q, k, v)
    return attention_weights(q, k, attn_mask, is_causal, scale) @ v  # (..., L, S) @ (..., S, Ev)


# ----------------------------------------------------------------------------- additive attention


class AdditiveAttention(nn.Module):
    """Bahdanau et al.'s score ``e_tj = w^T tanh(W_q s_t + W_k h_j)`` between queries s (N, T, Q)
    and keys h (N, S, K); returns the contexts ``sum_j a_tj h_j`` (N, T, K) and the weights
    a = softmax_j(e) (N, T, S)."""

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        for name, v in (
            ("query_size", query_size),
            ("key_size", key_size),
            ("hidden_size", hidden_size),
        ):
            check_positive_int(v, "AdditiveAttention", name)
        self.w_q = nn.Linear(query_size, hidden_size, bias=False)
        self.w_k = nn.Linear(key_size, hidden_size)
        self.w = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, query: Tensor, keys: Tensor) -> tuple[Tensor, Tensor]:
        check_ndim(query, "AdditiveAttention", "query", 3, "(N, T, query_size)")
        check_ndim(keys, "AdditiveAttention", "keys", 3, "(N, S, key_size)")
        hidden = torch.tanh(
            self.w_q(query).unsqueeze(2) + self.w_k(keys).unsqueeze(1)
        )  # (N, T, S, A)
        weights = softmax(self.w(hidden).squeeze(-1), dim=-1)  # (N, T, S): each row sums to 1
        return weights @ keys, weights  # contexts (N, T, K)


class AttentionSeq2Seq(nn.Module):
    """An LSTM encoder-decoder whose decoder looks at every encoder state through
    :class:`AdditiveAttention` (Bahdanau et al. 2015's score; the context enters the read-out
    after each decoder step, as in Luong et al. 2015, so teacher-forced training runs all
    steps in parallel).

    Same interface as :class:`dlcore.autoencoders.Seq2SeqAutoencoder`: x (N, L) int64 tokens,
    target ``x`` or ``x.flip(1)`` (``reverse``), teacher forcing in training mode, greedy
    decoding in eval mode; returns logits (N, L, n_symbols). The decoder starts from the
    encoder's final state; its state s_t queries the encoder states h_1..h_L and the read-out
    sees [s_t, context_t]. ``last_weights`` keeps the last call's weights, (N, L_out, L_in).
    """

    def __init__(
        self,
        n_symbols: int,
        hidden_size: int = 32,
        embed_size: int = 16,
        attention_size: int | None = None,
        reverse: bool = False,
    ) -> None:
        super().__init__()
        fn = "AttentionSeq2Seq"
        check_positive_int(n_symbols, fn, "n_symbols", minimum=2)
        check_positive_int(hidden_size, fn, "hidden_size")
        check_positive_int(embed_size, fn, "embed_size")
        attention_size = hidden_size if attention_size is None else attention_size
        check_positive_int(attention_size, fn, "attention_size")
        self.n_symbols, self.reverse = n_symbols, reverse
        self.embed = nn.Embedding(n_symbols + 1, embed_size)  # index n_symbols = start token
        self.encoder = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.decoder = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.attention = AdditiveAttention(hidden_size, hidden_size, attention_size)
        self.readout = nn.Linear(2 * hidden_size, n_symbols)
        self.last_weights: Tensor | None = None

    def _read(self, out: Tensor, keys: Tensor) -> Tensor:
        context, weights = self.attention(out, keys)  # (N, T, H), (N, T, L)
        self._weights.append(weights.detach())
        return self.readout(torch.cat([out, context], dim=-1))  # (N, T, n_symbols)

    def forward(self, x: Tensor) -> Tensor:
        check_ndim(x, "AttentionSeq2Seq", "x", 2, "(N, L) of integer tokens")
        if x.dtype != torch.long:
            raise TypeError(f"AttentionSeq2Seq: x must hold int64 tokens, got {x.dtype}")
        if x.numel() and (x.min() < 0 or x.max() >= self.n_symbols):
            raise ValueError(f"AttentionSeq2Seq: tokens of x must be in [0, {self.n_symbols})")
        n, length = x.shape
        keys, state = self.encoder(self.embed(x))  # keys: every encoder state (N, L, H)
        start = torch.full((n, 1), self.n_symbols, dtype=torch.long, device=x.device)
        self._weights: list[Tensor] = []
        if self.training:  # teacher forcing: all steps at once
            target = x.flip(1) if self.reverse else x
            out, _ = self.decoder(self.embed(torch.cat([start, target[:, :-1]], dim=1)), state)
            logits = self._read(out, keys)
        else:  # greedy decoding: feed back the model's own prediction
            steps, token = [], start
            for _ in range(length):
                out, state = self.decoder(self.embed(token), state)  # (N, 1, H)
                steps.append(self._read(out, keys))
                token = steps[-1].argmax(dim=-1)
            logits = torch.cat(steps, dim=1)
        self.last_weights = torch.cat(self._weights, dim=1)  # (N, L_out, L_in)
        return logits


# ----------------------------------------------------------------------------- Transformer


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention on x (N, T, D): project to queries, keys and values, split
    D into ``n_heads`` heads of D / n_heads features, run :func:`scaled_dot_product_attention`
    in every head in parallel, concatenate and project back. Parameters are laid out like
    ``nn.MultiheadAttention`` (``in_proj`` = its in_proj_weight/bias, ``out_proj`` the same)."""

    def __init__(self, d_model: int, n_heads: int, bias: bool = True) -> None:
        super().__init__()
        check_positive_int(d_model, "MultiHeadSelfAttention", "d_model")
        check_positive_int(n_heads, "MultiHeadSelfAttention", "n_heads")
        if d_model % n_heads:
            raise ValueError(
                f"MultiHeadSelfAttention: d_model={d_model} must be divisible by n_heads={n_heads}"
            )
        self.d_model, self.n_heads = d_model, n_heads
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)  # q, k, v stacked
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(
        self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False
    ) -> Tensor:
        check_ndim(x, "MultiHeadSelfAttention", "x", 3, "(N, T, d_model)")
        if x.shape[-1] != self.d_model:
            raise ValueError(
                f"MultiHeadSelfAttention: x has {x.shape[-1]} features, expected {self.d_model}"
            )
        n, t, d = x.shape
        heads = self.in_proj(x).view(n, t, 3, self.n_heads, d // self.n_heads)  # (N, T, 3, h, D/h)
        q, k, v = heads.permute(2, 0, 3, 1, 4)  # each (N, h, T, D/h)
        out = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        return self.out_proj(out.transpose(1, 2).reshape(n, t, d))  # heads side by side: (N, T, D)


class TransformerBlock(nn.Module):
    """A pre-norm Transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))``, the MLP
    D -> d_ff -> D with a GELU. x (N, T, D) -> (N, T, D)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None) -> None:
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        check_positive_int(d_ff, "TransformerBlock", "d_ff")
        self.norm1 = LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads)
        self.norm2 = LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(
        self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False
    ) -> Tensor:
        x = x + self.attn(self.norm1(x), attn_mask=attn_mask, is_causal=is_causal)  # mix positions
        return x + self.mlp(self.norm2(x))  # transform each position on its own


class TransformerLM(nn.Module):
    """A causal Transformer language model: token + learned position embeddings, ``n_layers``
    :class:`TransformerBlock` with ``is_causal=True``, a final layer norm and a linear read-out.
    (N, T) codes, T <= ``block_size`` -> (N, T, vocab_size) logits for the next code."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        block_size: int = 64,
        d_ff: int | None = None,
    ) -> None:
        super().__init__()
        for name, v in (
            ("vocab_size", vocab_size),
            ("block_size", block_size),
            ("n_layers", n_layers),
        ):
            check_positive_int(v, "TransformerLM", name)
        self.vocab_size, self.block_size = vocab_size, block_size
        self.token = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff) for _ in range(n_layers)
        )
        self.norm = LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        check_ndim(x, "TransformerLM", "x", 2, "(N, T) of integer codes")
        if x.shape[1] > self.block_size:
            raise ValueError(
                f"TransformerLM: x has {x.shape[1]} positions but block_size is {self.block_size}"
            )
        h = self.token(x) + self.position(torch.arange(x.shape[1], device=x.device))  # (N, T, D)
        for block in self.blocks:
            h = block(h, is_causal=True)  # position t sees positions 0..t only
        return self.head(self.norm(h))

    def forward_with_state(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """For :func:`dlcore.sequence_models.sample`: the "state" is the context so far (the last
        ``block_size`` codes); returns the logits of the new positions and the new context."""
        context = x if state is None else torch.cat([state, x], dim=1)
        context = context[:, -self.block_size :]
        return self(context)[:, -x.shape[1] :], context
