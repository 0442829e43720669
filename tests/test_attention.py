"""dlcore.attention: float64 parity of scaled_dot_product_attention with
torch.nn.functional.scaled_dot_product_attention over random shapes, boolean and float masks
and is_causal (values, gradients, gradcheck); multi-head self-attention against
nn.MultiheadAttention; the Transformer block and language model; one test per argument check."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcore.attention import (
    AdditiveAttention,
    AttentionSeq2Seq,
    MultiHeadSelfAttention,
    TransformerBlock,
    TransformerLM,
    attention_weights,
    causal_mask,
    scaled_dot_product_attention,
    softmax,
)
from dlcore.sequence_models import sample

F64 = torch.float64


def random_qkv(gen: torch.Generator):
    """Random batch dims (0-2 of them), lengths L, S, head dims E, Ev; inputs need grad."""
    batch = torch.randint(
        1, 4, (int(torch.randint(0, 3, (), generator=gen)),), generator=gen
    ).tolist()
    length, source, e, ev = torch.randint(1, 7, (4,), generator=gen).tolist()
    q = torch.randn(*batch, length, e, generator=gen, dtype=F64).requires_grad_()
    k = torch.randn(*batch, source, e, generator=gen, dtype=F64).requires_grad_()
    v = torch.randn(*batch, source, ev, generator=gen, dtype=F64).requires_grad_()
    return q, k, v


def random_mask(kind: str, scores_shape: tuple, gen: torch.Generator):
    """A mask of a random shape that broadcasts to ``scores_shape`` (..., L, S)."""
    shape = [d if torch.rand((), generator=gen) < 0.5 else 1 for d in scores_shape]
    shape = shape[int(torch.randint(0, len(shape) - 1, (), generator=gen)) :]  # drop leading dims
    if kind == "bool":
        return torch.rand(shape, generator=gen) < 0.7
    mask = torch.randn(shape, generator=gen, dtype=F64)
    return mask.masked_fill(torch.rand(shape, generator=gen) < 0.2, -math.inf)


def compare(q, k, v, gen, **kwargs):
    ours = scaled_dot_product_attention(q, k, v, **kwargs)
    theirs = F.scaled_dot_product_attention(q, k, v, **kwargs)
    assert ours.shape == theirs.shape
    assert torch.allclose(ours, theirs), (ours - theirs).abs().max()
    upstream = torch.randn(ours.shape, generator=gen, dtype=F64)
    g_ours = torch.autograd.grad(ours, (q, k, v), upstream)
    g_theirs = torch.autograd.grad(theirs, (q, k, v), upstream)
    for a, b in zip(g_ours, g_theirs):
        assert torch.allclose(a, b), (a - b).abs().max()


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("mask", [None, "bool", "float", "causal"])
def test_matches_torch(seed, mask):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = random_qkv(gen)
    kwargs = {}
    if mask == "causal":
        kwargs["is_causal"] = True
    elif mask is not None:
        scores_shape = tuple(torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])) + (
            q.shape[-2],
            k.shape[-2],
        )
        kwargs["attn_mask"] = random_mask(mask, scores_shape, gen)
    compare(q, k, v, gen, **kwargs)


@pytest.mark.parametrize("seed", range(5))
def test_scale_and_broadcast_batch(seed):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(2, 3, 4, 5, generator=gen, dtype=F64, requires_grad=True)
    k = torch.randn(
        1, 3, 6, 5, generator=gen, dtype=F64, requires_grad=True
    )  # broadcasts over dim 0
    v = torch.randn(1, 3, 6, 2, generator=gen, dtype=F64, requires_grad=True)
    compare(q, k, v, gen, scale=0.3)
    compare(q, k, v, gen)


def test_fully_masked_row_gives_zeros_like_torch():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 4, generator=gen, dtype=F64, requires_grad=True) for _ in range(3))
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False  # query 1 may attend nowhere
    compare(q, k, v, gen, attn_mask=mask)
    assert torch.equal(scaled_dot_product_attention(q, k, v, mask)[1], torch.zeros(4, dtype=F64))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mask", [None, "bool", "float", "causal"])
def test_gradcheck(seed, mask):
    gen = torch.Generator().manual_seed(100 + seed)
    q = torch.randn(2, 3, 4, generator=gen, dtype=F64, requires_grad=True)
    k = torch.randn(2, 5, 4, generator=gen, dtype=F64, requires_grad=True)
    v = torch.randn(2, 5, 3, generator=gen, dtype=F64, requires_grad=True)
    kwargs = {"is_causal": True} if mask == "causal" else {}
    if mask == "bool":
        kwargs["attn_mask"] = torch.rand(3, 5, generator=gen) < 0.7
    if mask == "float":
        kwargs["attn_mask"] = torch.randn(2, 1, 5, generator=gen, dtype=F64)
    fn = lambda q, k, v: scaled_dot_product_attention(q, k, v, **kwargs)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (q, k, v), fast_mode=True)
    assert torch.autograd.gradcheck(fn, (q, k, v))


def test_weights_are_probabilities_and_causal():
    gen = torch.Generator().manual_seed(1)
    q, k = torch.randn(2, 5, 3, generator=gen), torch.randn(2, 5, 3, generator=gen)
    a = attention_weights(q, k, is_causal=True)
    torch.testing.assert_close(a.sum(-1), torch.ones(2, 5))
    assert torch.equal(a.triu(1), torch.zeros_like(a))  # no weight on future keys
    assert torch.equal(
        causal_mask(3, 4), torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]]).bool()
    )


def test_softmax_matches_torch_and_survives_large_inputs():
    x = torch.randn(4, 7, dtype=F64) * 500  # exp would overflow without the shift
    torch.testing.assert_close(softmax(x, dim=-1), torch.softmax(x, dim=-1))
    torch.testing.assert_close(softmax(x, dim=0), torch.softmax(x, dim=0))


# ----------------------------------------------------------------------------- argument checks


def test_bad_input_is_a_clear_error():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    with pytest.raises(ValueError, match="same head dimension"):
        scaled_dot_product_attention(q, torch.randn(2, 5, 3), v)
    with pytest.raises(ValueError, match="k and v must agree"):
        scaled_dot_product_attention(q, k, torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="do not broadcast"):
        scaled_dot_product_attention(torch.randn(3, 3, 4), k, v)
    with pytest.raises(ValueError, match="attn_mask of shape"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(
            q, k, v, attn_mask=torch.ones(3, 5, dtype=torch.bool), is_causal=True
        )
    with pytest.raises(TypeError, match="attn_mask must be boolean"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(3, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        scaled_dot_product_attention(q.tolist(), k, v)
    with pytest.raises(TypeError, match="floating-point"):
        scaled_dot_product_attention(q.long(), k.long(), v.long())
    with pytest.raises(TypeError, match="one dtype"):
        scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        scaled_dot_product_attention(torch.randn(4), k, v)
    with pytest.raises(TypeError, match="is_causal must be a bool"):
        scaled_dot_product_attention(q, k, v, is_causal=1)
    with pytest.raises(TypeError, match="scale must be a number"):
        scaled_dot_product_attention(q, k, v, scale="0.5")


def test_module_argument_checks():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(10, 3)
    with pytest.raises(ValueError, match="expected 8"):
        MultiHeadSelfAttention(8, 2)(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="block_size"):
        TransformerLM(5, d_model=8, n_heads=2, n_layers=1, block_size=4)(
            torch.zeros(1, 5, dtype=torch.long)
        )
    with pytest.raises(TypeError, match="int64"):
        AttentionSeq2Seq(10)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"in \[0, 10\)"):
        AttentionSeq2Seq(10)(torch.full((2, 3), 10))
    with pytest.raises(ValueError, match="query"):
        AdditiveAttention(4, 4, 4)(torch.randn(2, 4), torch.randn(2, 3, 4))


# ----------------------------------------------------------------------------- modules


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_matches_nn_multihead_attention(causal):
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(12, 3).double()
    theirs = nn.MultiheadAttention(12, 3, batch_first=True).double()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.in_proj.weight)
        theirs.in_proj_bias.copy_(ours.in_proj.bias)
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        theirs.out_proj.bias.copy_(ours.out_proj.bias)
    x = torch.randn(2, 5, 12, dtype=F64)
    mask = None if not causal else ~causal_mask(5)  # nn.MultiheadAttention: True = blocked
    expected, _ = theirs(x, x, x, attn_mask=mask, need_weights=False)
    torch.testing.assert_close(ours(x, is_causal=causal), expected)


def test_block_is_permutation_equivariant_and_causal_lm_ignores_the_future():
    torch.manual_seed(0)
    block = TransformerBlock(8, 2).double()
    x = torch.randn(3, 6, 8, dtype=F64)
    perm = torch.randperm(6)
    torch.testing.assert_close(block(x)[:, perm], block(x[:, perm]))
    lm = TransformerLM(7, d_model=8, n_heads=2, n_layers=2, block_size=6).double()
    codes = torch.randint(0, 7, (2, 6))
    changed = codes.clone()
    changed[:, 4:] = (changed[:, 4:] + 1) % 7  # change the last two codes only
    torch.testing.assert_close(
        lm(codes)[:, :4], lm(changed)[:, :4]
    )  # earlier predictions unchanged
    assert not torch.allclose(lm(codes)[:, 4:], lm(changed)[:, 4:])


def test_lm_samples_through_the_rnn_sampler():
    torch.manual_seed(0)
    lm = TransformerLM(7, d_model=8, n_heads=2, n_layers=1, block_size=4)
    codes = sample(
        lm, torch.tensor([1, 2, 3]), 10, temperature=1.0, generator=torch.Generator().manual_seed(0)
    )
    assert codes.shape == (10,) and codes.min() >= 0 and codes.max() < 7
    greedy = sample(lm, torch.tensor([1, 2, 3]), 6, temperature=0)
    with torch.no_grad():  # greedy decoding by hand, on a sliding window of block_size codes
        context = [1, 2, 3]
        for _ in range(6):
            context.append(int(lm(torch.tensor([context[-4:]]))[0, -1].argmax()))
    assert greedy.tolist() == context[3:]


@pytest.mark.parametrize("training", [True, False])
def test_attention_seq2seq_shapes_and_weights(training):
    torch.manual_seed(0)
    model = AttentionSeq2Seq(10, hidden_size=8, embed_size=4, reverse=True).train(training)
    x = torch.randint(0, 10, (3, 5))
    logits = model(x)
    assert logits.shape == (3, 5, 10)
    assert model.last_weights.shape == (3, 5, 5)
    torch.testing.assert_close(model.last_weights.sum(-1), torch.ones(3, 5))


def test_additive_attention_context_is_weighted_mean():
    torch.manual_seed(0)
    att = AdditiveAttention(3, 4, 5)
    query, keys = torch.randn(2, 6, 3), torch.randn(2, 7, 4)
    context, weights = att(query, keys)
    assert context.shape == (2, 6, 4) and weights.shape == (2, 6, 7)
    scores = att.w(torch.tanh(att.w_q(query)[:, :, None] + att.w_k(keys)[:, None])).squeeze(-1)
    torch.testing.assert_close(weights, torch.softmax(scores, -1), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(
        context, torch.einsum("nts,nsk->ntk", weights, keys), atol=1e-6, rtol=1e-5
    )
