"""The per-user cache: shared-readable files, ~ expanded, read-only caches, and a corrupt or
foreign mnist1d cache file regenerated instead of returned."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import dlcore as dl
from dlcore import data


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_tilde_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DLCORE_CACHE", "~/mycache")
    assert data.cache_dir() == tmp_path / "mycache"


def test_cache_files_are_readable_by_others(cache):
    old = os.umask(0o022)
    try:
        dl.load("mnist1d")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((cache / "mnist1d_v1.npz").stat().st_mode)
    assert mode & 0o044 == 0o044, oct(mode)


@pytest.mark.parametrize("content", [b"not a zip file", b""])
def test_a_corrupt_mnist1d_cache_is_regenerated(cache, content):
    reference = dl.load("mnist1d")
    (cache / "mnist1d_v1.npz").write_bytes(content)
    again = dl.load("mnist1d")
    assert np.array_equal(again.x_train.numpy(), reference.x_train.numpy())


def test_a_foreign_npz_is_not_returned(cache):
    reference = dl.load("mnist1d")
    with open(cache / "mnist1d_v1.npz", "wb") as fh:
        np.savez(fh, x=np.zeros((3, 2)), y=np.zeros(3))
    again = dl.load("mnist1d")
    assert again.x_train.shape == (4000, 40)
    assert np.array_equal(again.y_test.numpy(), reference.y_test.numpy())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_a_read_only_cache_still_loads(cache):
    cache.mkdir(parents=True)
    cache.chmod(0o555)
    try:
        assert dl.load("mnist1d").x_train.shape == (4000, 40)
    finally:
        cache.chmod(0o755)


def test_a_cache_that_cannot_be_created_still_loads(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    monkeypatch.setenv("DLCORE_CACHE", str(blocker / "cache"))
    assert dl.load("mnist1d").x_test.shape == (1000, 40)


@pytest.mark.parametrize(
    "y, n, error, match",
    [
        ("onehot", 2, ValueError, "1-D tensor of integer labels"),
        ("float", 2, ValueError, "1-D tensor of integer labels"),
        ("negative", 2, ValueError, "negative labels"),
        ("ok", 2.0, TypeError, "n_per_class must be an int"),
    ],
)
def test_take_per_class_refuses_labels_it_would_mix(y, n, error, match):
    import torch

    x = torch.randn(20, 3)
    labels = torch.arange(20) % 2
    y = {
        "onehot": torch.eye(2)[labels],
        "float": labels.float(),
        "negative": labels - 1,
        "ok": labels,
    }[y]
    with pytest.raises(error, match=match):
        dl.take_per_class(x, y, n)
