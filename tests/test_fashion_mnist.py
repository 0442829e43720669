"""dl.load("fashion_mnist"): each source in order (cache, $DLCORE_FASHION_MNIST, the system
copy, one download), checksums of the decompressed bytes, and the offline error; all
without network, on small fake IDX files whose digests replace the real ones."""

from __future__ import annotations

import gzip
import hashlib
import urllib.error

import numpy as np
import pytest
from fake_http import FakeResponse

import dlcore as dl
from dlcore import data


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Four tiny IDX files, their digests installed, no system copy, no network."""
    rng = np.random.default_rng(0)
    raw = {
        "train-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (6, 28, 28))),
        "train-labels-idx1-ubyte.gz": _idx(rng.integers(0, 10, 6)),
        "t10k-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (3, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": _idx(rng.integers(0, 10, 3)),
    }
    monkeypatch.setattr(
        data, "FASHION_SHA256", {f: hashlib.sha256(b).hexdigest() for f, b in raw.items()}
    )
    monkeypatch.setenv("DLCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DLCORE_FASHION_MNIST", raising=False)
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIRS", (str(tmp_path / "system"),))
    monkeypatch.setattr(data, "_fashion_arrays", {})
    calls = []

    def offline(url, timeout=30.0):
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data, "_urlopen", offline)
    return raw, tmp_path, calls


def _write(folder, raw, level=9):
    folder.mkdir(parents=True, exist_ok=True)
    for name, b in raw.items():
        (folder / name).write_bytes(gzip.compress(b, compresslevel=level))


def test_offline_without_a_copy_names_the_three_ways(fake):
    with pytest.raises(FileNotFoundError) as err:
        dl.load("fashion_mnist")
    text = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in text
    assert "DLCORE_FASHION_MNIST" in text and "connect to the internet" in text


def test_the_system_copy_is_used_and_recompression_does_not_matter(fake):
    raw, tmp, calls = fake
    _write(tmp / "system", raw, level=1)  # Debian recompressed the files: other .gz bytes
    d = dl.load("fashion_mnist")
    assert d.x_train.shape == (6, 1, 28, 28) and d.y_test.shape == (3,)
    assert d.classes[0] == "T-shirt/top" and len(d.classes) == 10
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0
    assert "system copy" in data.fashion_mnist_source()
    assert calls == []


def test_the_environment_folder_comes_before_the_system_copy(fake, monkeypatch):
    raw, tmp, _ = fake
    _write(tmp / "mine", raw)
    monkeypatch.setenv("DLCORE_FASHION_MNIST", str(tmp / "mine"))
    assert "$DLCORE_FASHION_MNIST" in data.fashion_mnist_source()


def test_the_cache_comes_first(fake):
    raw, tmp, _ = fake
    _write(tmp / "cache" / "fashion_mnist", raw)
    _write(tmp / "system", raw)
    assert "per-user cache" in data.fashion_mnist_source()


def test_a_corrupt_copy_is_reported_not_used(fake):
    raw, tmp, _ = fake
    bad = dict(raw)
    bad["t10k-labels-idx1-ubyte.gz"] = _idx(np.zeros(3))
    _write(tmp / "system", bad)
    with pytest.raises(FileNotFoundError, match="failed the checksum"):
        dl.load("fashion_mnist")


def test_download_is_checked_and_cached_once(fake, monkeypatch):
    raw, tmp, _ = fake
    calls = []

    def online(url, timeout=30.0):
        calls.append(url)
        return FakeResponse(gzip.compress(raw[url.rsplit("/", 1)[1]]))

    monkeypatch.setattr(data, "_urlopen", online)
    d = dl.load("fashion_mnist")
    assert d.x_test.shape == (3, 1, 28, 28) and len(calls) == 4
    assert all((tmp / "cache" / "fashion_mnist" / f).exists() for f in raw)
    monkeypatch.setattr(data, "_fashion_arrays", {})
    assert "per-user cache" in data.fashion_mnist_source() and len(calls) == 4


def test_a_corrupt_download_fails_its_checksum(fake, monkeypatch):
    monkeypatch.setattr(
        data, "_urlopen", lambda url, timeout=30.0: FakeResponse(gzip.compress(b"not fashion"))
    )
    with pytest.raises(ValueError, match="failed its checksum"):
        dl.load("fashion_mnist")
