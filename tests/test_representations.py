"""Tests of dlcore.representations: linear probes, layer features, class selection,
multi-task heads and losses, 2-D embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcore.metrics import head_accuracy, multitask_loss
from dlcore.representations import (
    MultiHead,
    ProbeResult,
    embed_2d,
    layer_features,
    linear_probe,
    plot_embedding,
    select_classes,
)


def _blobs(
    n_per_class: int = 40, n_classes: int = 3, dim: int = 5, spread: float = 0.3, seed: int = 0
):
    gen = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(n_classes, dim, generator=gen)
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    x = centres[y] + spread * torch.randn(len(y), dim, generator=gen)
    return x, y


# ----------------------------------------------------------------------------- probes


def test_probe_separable_problem_is_perfect():
    train, test = _blobs(seed=0), _blobs(seed=0)
    test = (
        test[0] + 0.05 * torch.randn(test[0].shape, generator=torch.Generator().manual_seed(1)),
        test[1],
    )
    result = linear_probe(train, test)
    assert isinstance(result, ProbeResult)
    assert result.train_accuracy == 1.0 and result.test_accuracy == 1.0


def test_probe_flattens_features_and_learns_only_linear_structure():
    # XOR of the signs: no linear probe can beat chance by much; adding the product feature can.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(800, 2, generator=gen)
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long()
    lin = linear_probe((x[:600], y[:600]), (x[600:], y[600:])).test_accuracy
    richer = torch.cat([x, (x[:, 0] * x[:, 1]).unsqueeze(1)], dim=1).reshape(800, 3, 1)  # (N, 3, 1)
    better = linear_probe((richer[:600], y[:600]), (richer[600:], y[600:])).test_accuracy
    assert lin < 0.65 and better > 0.9


def test_probe_matches_sklearn_directly():
    from sklearn.linear_model import LogisticRegression

    x, y = _blobs(spread=3.0, seed=2)
    ours = linear_probe((x, y), (x, y), C=0.5, standardize=False)
    sk = LogisticRegression(C=0.5, max_iter=1000).fit(x.double().numpy(), y.numpy())
    assert ours.train_accuracy == pytest.approx(sk.score(x.double().numpy(), y.numpy()))


def test_probe_bad_input():
    x, y = _blobs()
    with pytest.raises(TypeError, match="train must be a pair"):
        linear_probe(x, (x, y))
    with pytest.raises(TypeError, match="train features must be a torch.Tensor"):
        linear_probe((x.numpy(), y), (x, y))
    with pytest.raises(ValueError, match="train labels has 10 labels"):
        linear_probe((x, y[:10]), (x, y))
    with pytest.raises(TypeError, match="integer class labels"):
        linear_probe((x, y.float()), (x, y))
    with pytest.raises(ValueError, match="dimensions"):
        linear_probe((x, y), (x[:, :3], y))
    with pytest.raises(ValueError, match="two classes"):
        linear_probe((x[:5], torch.zeros(5, dtype=torch.long)), (x, y))
    with pytest.raises(ValueError, match="C must be > 0"):
        linear_probe((x, y), (x, y), C=0)
    with pytest.raises(ValueError, match="test features must be"):
        linear_probe((x, y), (torch.zeros(3), y[:3]))


# ----------------------------------------------------------------------------- layer features


def test_layer_features_default_reads_every_activation():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 7), nn.ReLU(), nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 2)
    )
    x = torch.randn(9, 3, 4)
    feats = layer_features(model, x, batch_size=4)  # several batches
    assert list(feats) == ["input", "2", "4"]
    assert feats["input"].shape == (9, 12)
    torch.testing.assert_close(feats["2"], model[:3](x))
    torch.testing.assert_close(feats["4"], model[:5](x))


def test_layer_features_named_layers_restores_mode_and_removes_hooks():
    from dlcore import Mnist1dCNN

    torch.manual_seed(0)
    cnn = Mnist1dCNN(channels=4)
    cnn.train()
    x = torch.randn(6, 40)
    feats = layer_features(cnn, x, ["features.1", "features"])
    assert feats["features.1"].shape == (6, 4 * 19)
    assert feats["features"].shape == (6, 4 * 5)
    assert cnn.training
    assert all(not m._forward_hooks for m in cnn.modules())


def test_layer_features_bad_input():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with pytest.raises(TypeError, match="model"):
        layer_features(lambda x: x, torch.zeros(2, 3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        layer_features(model, [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="not in the model"):
        layer_features(model, torch.zeros(2, 3), ["7"])
    with pytest.raises(TypeError, match="sequence of module names"):
        layer_features(model, torch.zeros(2, 3), "1")
    with pytest.raises(ValueError, match="no activation modules"):
        layer_features(nn.Linear(3, 2), torch.zeros(2, 3))


# ----------------------------------------------------------------------------- classes, heads


def test_select_classes_relabels_in_given_order():
    x = torch.arange(10).float().unsqueeze(1)
    y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    xs, ys = select_classes(x, y, [3, 1])
    assert ys.tolist() == [1, 0, 1, 0]
    assert xs.flatten().tolist() == [1.0, 3.0, 6.0, 8.0]


def test_select_classes_bad_input():
    y = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="do not occur"):
        select_classes(torch.zeros(3, 1), y, [5])
    with pytest.raises(ValueError, match="without repeats"):
        select_classes(torch.zeros(3, 1), y, [1, 1])
    with pytest.raises(ValueError, match="rows"):
        select_classes(torch.zeros(4, 1), y, [1])
    with pytest.raises(ValueError, match="y must have 1 dimensions"):
        select_classes(torch.zeros(3, 1), y.unsqueeze(1), [1])


def test_multihead_loss_and_metric():
    torch.manual_seed(0)
    net = MultiHead(nn.Sequential(nn.Linear(4, 6), nn.ReLU()), 6, [3, 2])
    x = torch.randn(5, 4)
    logits = net(x)
    assert logits.shape == (5, 5)
    targets = torch.tensor([[0, 1], [1, -1], [2, 0], [0, -1], [1, 1]])
    loss = multitask_loss([3, 2], weights=[1.0, 0.5])(logits, targets)
    mask = targets[:, 1] >= 0
    expected = F.cross_entropy(logits[:, :3], targets[:, 0]) + 0.5 * F.cross_entropy(
        logits[mask, 3:], targets[mask, 1]
    )
    torch.testing.assert_close(loss, expected)
    loss.backward()  # differentiable through both heads
    assert all(p.grad is not None for p in net.parameters())
    # a task with no labels at all contributes nothing
    unlabelled = targets.clone()
    unlabelled[:, 1] = -1
    torch.testing.assert_close(
        multitask_loss([3, 2])(logits, unlabelled), F.cross_entropy(logits[:, :3], targets[:, 0])
    )
    acc1 = head_accuracy([3, 2], head=1)(logits, targets)
    pred = logits[mask, 3:].argmax(1)
    assert acc1 == pytest.approx((pred == targets[mask, 1]).float().mean().item())
    assert head_accuracy([3, 2], 0)(logits, targets[:, 0]) == pytest.approx(
        (logits[:, :3].argmax(1) == targets[:, 0]).float().mean().item()
    )


def test_multitask_bad_input():
    with pytest.raises(ValueError, match="head_sizes"):
        MultiHead(nn.Identity(), 3, [])
    with pytest.raises(ValueError, match="weights"):
        multitask_loss([2, 2], weights=[1.0])
    with pytest.raises(ValueError, match="targets must be"):
        multitask_loss([2, 2])(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="logits must be"):
        multitask_loss([2, 2])(torch.zeros(3, 5), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="head must be"):
        head_accuracy([2, 2], head=2)


def test_multihead_trains_with_fit():
    from dlcore import fit, predict

    x, y = _blobs(n_per_class=30, n_classes=4, seed=3)
    targets = torch.stack([y, y % 2], dim=1)
    torch.manual_seed(0)
    net = MultiHead(nn.Sequential(nn.Linear(5, 16), nn.ReLU()), 16, [4, 2])
    fit(
        net,
        (x, targets),
        epochs=30,
        batch_size=32,
        loss_fn=multitask_loss([4, 2]),
        metric=head_accuracy([4, 2]),
        progress=False,
        device="cpu",
        optimizer=torch.optim.Adam(net.parameters(), lr=1e-2),
    )
    logits = predict(net, x)
    assert head_accuracy([4, 2], 0)(logits, targets) > 0.95
    assert head_accuracy([4, 2], 1)(logits, targets) > 0.95


# ----------------------------------------------------------------------------- embeddings


def test_embed_2d_pca_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    x, _ = _blobs(dim=6, seed=4)
    z = embed_2d(x, "pca")
    ref = PCA(2).fit_transform(x.double().numpy())
    assert z.shape == (len(x), 2)
    for j in range(2):
        assert np.allclose(np.abs(z[:, j].numpy()), np.abs(ref[:, j]), atol=1e-4)


def test_embed_2d_tsne_shape_and_bad_method():
    x, _ = _blobs(n_per_class=10, seed=5)
    assert embed_2d(x, "tsne", seed=0).shape == (30, 2)
    with pytest.raises(ValueError, match="method"):
        embed_2d(x, "umap")
    with pytest.raises(TypeError, match="features"):
        embed_2d(x.numpy())


def test_plot_embedding_returns_figure():
    import matplotlib

    matplotlib.use("Agg")
    x, y = _blobs(seed=6)
    fig = plot_embedding({"a": embed_2d(x), "b": embed_2d(x * 2)}, y, title="t")
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "a"
    with pytest.raises(ValueError, match="points 'a'"):
        plot_embedding({"a": torch.zeros(5)}, y[:5], title="t")
