"""Data loading: shapes, dtypes, determinism, the unknown-name error, the online path offline."""

import gzip
import hashlib
import urllib.error

import numpy as np
import pytest
import torch
from fake_http import FakeResponse

import dlcore as dl
from dlcore import data


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    # mnist1d is cached; a per-session folder keeps the test independent of ~/.cache.
    monkeypatch.setenv("DLCORE_CACHE", str(tmp_path_factory.getbasetemp() / "dlcore-cache"))


def test_digits_shapes_dtypes_and_split():
    d = dl.load("digits")
    assert d.x_train.shape == (1297, 1, 8, 8) and d.x_test.shape == (500, 1, 8, 8)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0
    assert set(d.y_test.tolist()) == set(range(10))
    again = dl.load("digits")
    assert torch.equal(d.x_test, again.x_test) and torch.equal(d.y_train, again.y_train)


def test_mnist1d_default_split_and_cache_is_deterministic():
    state = np.random.get_state()
    d = dl.load("mnist1d")
    assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40)
    assert d.y_train.dtype == torch.int64 and d.x_train.dtype == torch.float32
    assert np.array_equal(np.random.get_state()[1], state[1]), "loading must not reseed NumPy"
    cached = dl.load("mnist1d")  # second call reads the cache
    assert torch.equal(d.x_train, cached.x_train)
    assert abs(float(torch.cat([d.x_train, d.x_test]).mean())) < 1e-3  # the package standardises


def test_photo_and_corpus():
    photo = dl.load("photo")
    assert photo.ndim == 2 and photo.shape == (427, 640)
    assert 0.0 <= float(photo.min()) and float(photo.max()) <= 1.0
    assert dl.load("photo", gray=False).shape == (3, 427, 640)
    corpus = dl.load("corpus", max_chars=50_000)
    assert len(corpus.train) + len(corpus.test) == 50_000
    assert corpus.decode(corpus.encode("the lambda")) == "the lambda"
    assert torch.equal(corpus.train, dl.load("corpus", max_chars=50_000).train)


def test_synthetic_tasks():
    rec = dl.load("recall", lag=7, n_symbols=3, n_train=50, n_test=10)
    assert rec.x_train.shape == (50, 8)
    assert torch.equal(rec.y_train, rec.x_train[:, 0])
    assert int(rec.x_train[:, 1:].min()) >= 3
    add = dl.load("adding", length=12, n_train=20, n_test=5)
    assert add.x_train.shape == (20, 12, 2)
    assert torch.all(add.x_train[:, :, 1].sum(1) == 2)
    torch.testing.assert_close(add.y_train, (add.x_train[..., 0] * add.x_train[..., 1]).sum(1))
    rev = dl.load("reverse", length=5, n_train=10, n_test=2)
    assert torch.equal(rev.y_train, rev.x_train.flip(1))


def test_synthetic_tasks_follow_dlcore_seed(monkeypatch):
    monkeypatch.delenv("DLCORE_SEED", raising=False)
    a = dl.load("recall", n_train=30, n_test=5).x_train
    monkeypatch.setenv("DLCORE_SEED", "3")
    b = dl.load("recall", n_train=30, n_test=5).x_train
    assert not torch.equal(a, b)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown data set 'cifar'.*digits.*mnist1d"):
        dl.load("cifar")
    with pytest.raises(TypeError, match="name must be a string"):
        dl.load(3)
    with pytest.raises(TypeError, match="load\\('digits'\\)"):
        dl.load("digits", size=3)


def test_take_per_class_is_balanced_and_checked():
    d = dl.load("digits")
    x, y = dl.take_per_class(d.x_train, d.y_train, 5, seed=1)
    assert x.shape == (50, 1, 8, 8)
    assert torch.equal(torch.bincount(y), torch.full((10,), 5))
    with pytest.raises(ValueError, match="n_per_class"):
        dl.take_per_class(d.x_train, d.y_train, 0)
    with pytest.raises(ValueError, match="fewer than n_per_class"):
        dl.take_per_class(d.x_train, d.y_train, 1000)


def test_online_set_offline_gives_a_clear_message(monkeypatch):
    def offline(url, timeout=30.0):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data, "_urlopen", offline)
    with pytest.raises(ConnectionError, match="needs the internet once.*digits"):
        dl.load("mnist")


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_online_set_downloads_checks_and_caches(monkeypatch):
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (6, 28, 28))),
        "train-labels-idx1-ubyte.gz": _idx(rng.integers(0, 10, 6)),
        "t10k-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (3, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": _idx(rng.integers(0, 10, 3)),
    }
    md5s = tuple(hashlib.md5(files[f]).hexdigest() for f in data._IDX_FILES)
    monkeypatch.setitem(data.ONLINE_SOURCES, "mnist", {**data.ONLINE_SOURCES["mnist"], "md5": md5s})
    calls = []

    def fake(url, timeout=30.0):
        calls.append(url)
        return FakeResponse(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data, "_urlopen", fake)
    d = dl.load("mnist")
    assert d.x_train.shape == (6, 1, 28, 28) and d.y_test.shape == (3,)
    assert float(d.x_train.max()) <= 1.0
    assert len(calls) == 4
    dl.load("mnist")
    assert len(calls) == 4, "a second load must come from the cache"

    # A corrupted download is detected and deleted.
    for f in data._IDX_FILES:
        (data.cache_dir() / "mnist" / f).unlink()
    files["t10k-labels-idx1-ubyte.gz"] = _idx(np.zeros(3))
    with pytest.raises(ValueError, match="MD5"):
        dl.load("mnist")
    assert not (data.cache_dir() / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
