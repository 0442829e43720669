"""Data sets of the book, behind one entry point: ``load(name)``.

Offline (default): ``digits`` (scikit-learn's 8x8 digits), ``mnist1d`` (generated
locally by the ``mnist1d`` package), ``photo`` (a sample photograph shipped with
scikit-learn), ``corpus`` (the Python language reference, a frozen copy of
``pydoc_data.topics``, split by document), and synthetic sequence tasks (``recall``, ``adding``,
``reverse``). ``fashion_mnist`` (the book's real images) comes from the per-user cache,
a folder named by ``$DLCORE_FASHION_MNIST``, Debian's package ``dataset-fashion-mnist``,
or one checksummed download. Online, opt-in: ``mnist``, downloaded once into the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._checks import check_positive_int
from .seeding import make_generator

__all__ = [
    "Dataset",
    "Corpus",
    "load",
    "known_datasets",
    "cache_dir",
    "fashion_mnist_source",
    "fashion_mnist_sources",
    "take_per_class",
    "DIGITS_TEST_SIZE",
]

DIGITS_TEST_SIZE = 500  # fixed test split of the 1,797 digits (stratified, seed 0)


@dataclass
class Dataset:
    """A train/test split of tensors. ``x_*`` are float32, ``y_*`` int64 class labels
    (or float targets for regression tasks)."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: list[str] = field(default_factory=list)

    @property
    def train(self) -> tuple[Tensor, Tensor]:
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[Tensor, Tensor]:
        return self.x_test, self.y_test

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: train x{tuple(self.x_train.shape)} y{tuple(self.y_train.shape)}, "
            f"test x{tuple(self.x_test.shape)} y{tuple(self.y_test.shape)})"
        )


@dataclass
class Corpus:
    """A character-level text corpus split by document: ``train`` and ``test`` hold the
    concatenated training and test documents as integer codes (no test document, and no
    paragraph of one, occurs in training)."""

    text: str  # every document, training documents first
    chars: list[str]
    train: Tensor  # (n_train,) int64 codes
    test: Tensor  # (n_test,) int64 codes
    train_documents: list[str] = field(default_factory=list)  # document names, in order
    test_documents: list[str] = field(default_factory=list)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> Tensor:
        lookup = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - lookup.keys())
        if unknown:
            raise ValueError(f"Corpus.encode: characters not in the vocabulary: {unknown[:10]}")
        return torch.tensor([lookup[c] for c in text], dtype=torch.long)

    def decode(self, codes: Tensor | list[int]) -> str:
        """The text of ``codes`` (a 1-D tensor or a list of ints in [0, vocab_size))."""
        if isinstance(codes, Tensor):
            if codes.dim() != 1 or codes.is_floating_point() or codes.dtype == torch.bool:
                raise ValueError(
                    f"Corpus.decode: codes must be a 1-D integer tensor, got shape "
                    f"{tuple(codes.shape)} and {codes.dtype}"
                )
            codes = codes.tolist()
        if isinstance(codes, (str, bytes)):
            raise TypeError(
                "Corpus.decode: codes must be integer codes, got a string "
                "(Corpus.encode turns text into codes)"
            )
        out = []
        for i in codes:
            code = check_positive_int(i, "Corpus.decode", "each code", minimum=0)
            if code >= self.vocab_size:
                raise ValueError(
                    f"Corpus.decode: code {code} is outside the vocabulary [0, {self.vocab_size})"
                )
            out.append(self.chars[code])
        return "".join(out)

    def __repr__(self) -> str:
        return (
            f"Corpus({len(self.text):,} characters, vocabulary {self.vocab_size}, "
            f"train {len(self.train):,} ({len(self.train_documents)} documents), "
            f"test {len(self.test):,} ({len(self.test_documents)} documents))"
        )


# ----------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """Per-user cache folder: ``$DLCORE_CACHE``, else ``$XDG_CACHE_HOME/dlcore``, else ``~/.cache/dlcore``."""
    env = os.environ.get("DLCORE_CACHE", "").strip()
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        path = Path(base).expanduser() / "dlcore"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only location: loaders then work without caching
        pass
    return path


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write via a temporary file and rename, so parallel readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600: a class's shared cache must be readable
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ----------------------------------------------------------------------------- offline sets


def _digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.images.astype(np.float32) / 16.0  # (1797, 8, 8), pixel values 0..16 -> [0, 1]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=0
    )
    return Dataset(
        "digits",
        torch.from_numpy(x_tr).unsqueeze(1),  # (1297, 1, 8, 8)
        torch.from_numpy(y_tr),
        torch.from_numpy(x_te).unsqueeze(1),  # (500, 1, 8, 8)
        torch.from_numpy(y_te),
        [str(d) for d in range(10)],
    )


MNIST1D_SHAPES = {"x": (4000, 40), "y": (4000,), "x_test": (1000, 40), "y_test": (1000,)}


def _read_mnist1d_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing, corrupt or not ours."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in MNIST1D_SHAPES if k in z.files}
    except Exception:  # truncated or foreign files raise zip, pickle or OS errors
        return None
    if set(arrays) != set(MNIST1D_SHAPES):
        return None
    if any(arrays[k].shape != shape for k, shape in MNIST1D_SHAPES.items()):
        return None
    return arrays


def _mnist1d() -> Dataset:
    path = cache_dir() / "mnist1d_v1.npz"
    arrays = _read_mnist1d_cache(path) if path.exists() else None
    if arrays is None:  # missing, or a corrupt/foreign file: generate (deterministic) again
        from mnist1d.data import get_dataset_args, make_dataset

        state = np.random.get_state()  # mnist1d reseeds NumPy's global generator
        try:
            raw = make_dataset(get_dataset_args())  # default: 4,000 train / 1,000 test, seed 42
        finally:
            np.random.set_state(state)
        arrays = {k: np.asarray(raw[k]) for k in MNIST1D_SHAPES}

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                # mypy matches **arrays against savez's allow_pickle: bool
                np.savez(fh, **arrays)  # type: ignore[arg-type]

        try:
            _atomic_write(path, write)
        except OSError:  # a read-only cache: use the data without caching it
            pass
    return Dataset(
        "mnist1d",
        torch.from_numpy(arrays["x"].astype(np.float32)),  # (4000, 40)
        torch.from_numpy(arrays["y"].astype(np.int64)),
        torch.from_numpy(arrays["x_test"].astype(np.float32)),  # (1000, 40)
        torch.from_numpy(arrays["y_test"].astype(np.int64)),
        [str(d) for d in range(10)],
    )


def _photo(which: str = "china.jpg", gray: bool = True) -> Tensor:
    from sklearn.datasets import load_sample_image

    if which not in ("china.jpg", "flower.jpg"):
        raise ValueError(f"load('photo'): which must be 'china.jpg' or 'flower.jpg', got {which!r}")
    if not isinstance(gray, bool):
        raise TypeError(f"load('photo'): gray must be True or False, got {gray!r}")
    rgb = torch.from_numpy(load_sample_image(which).astype(np.float32) / 255.0)  # (H, W, 3)
    if not gray:
        return rgb.permute(2, 0, 1).contiguous()  # (3, H, W)
    weights = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601 luma
    return rgb @ weights  # (H, W)


def corpus_documents() -> dict[str, str]:
    """The documents of ``load("corpus")``: topic name -> text, in sorted name order.

    The source is a frozen copy of ``pydoc_data.topics`` (the Python language reference:
    prose, grammar rules and code examples), so the corpus does not change with the Python
    version. Cleaning: printable ASCII and newlines only; every paragraph (text between blank
    lines, compared with whitespace collapsed) is kept only at its first occurrence, because
    the topics repeat whole sections of each other.
    """
    import base64
    import json
    import lzma
    import re

    from ._corpus_text import SHA256, TOPICS_LZMA_B85

    payload = lzma.decompress(base64.b85decode("".join(TOPICS_LZMA_B85)))
    if hashlib.sha256(payload).hexdigest() != SHA256:
        raise RuntimeError(
            "load('corpus'): the frozen topics in dlcore/_corpus_text.py are damaged"
        )
    topics = json.loads(payload)
    seen: set[str] = set()
    documents = {}
    for name in sorted(topics):
        text = "".join(c for c in topics[name] if c == "\n" or 32 <= ord(c) < 127)
        paragraphs = []
        for paragraph in re.split(r"\n[ \t]*\n", text):
            key = " ".join(paragraph.split())
            if key and key not in seen:
                seen.add(key)
                paragraphs.append(paragraph.strip("\n"))
        if paragraphs:
            documents[name] = "\n\n".join(paragraphs) + "\n\n"
    return documents


def _corpus(max_chars: int | None = None, test_every: int = 10) -> Corpus:
    """The Python language reference as a character corpus, split by document.

    Every ``test_every``-th document (the 6th, 16th, ... in name order) goes to the test
    set, the rest to training. ``max_chars`` keeps only the first characters of the
    documents in name order (for quick experiments).
    """
    from ._checks import check_positive_int

    if max_chars is not None:
        check_positive_int(max_chars, "load('corpus')", "max_chars")
    check_positive_int(test_every, "load('corpus')", "test_every", minimum=2)
    documents = corpus_documents()
    names, pieces, budget = [], [], max_chars
    for name, text in documents.items():
        if budget is not None:
            if budget <= 0:
                break
            text = text[:budget]
            budget -= len(text)
        names.append(name)
        pieces.append(text)
    is_test = [i % test_every == test_every // 2 for i in range(len(names))]
    train_text = "".join(t for t, flag in zip(pieces, is_test) if not flag)
    test_text = "".join(t for t, flag in zip(pieces, is_test) if flag)
    text = train_text + test_text
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    codes = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    return Corpus(
        text,
        chars,
        codes[: len(train_text)],
        codes[len(train_text) :],
        [n for n, flag in zip(names, is_test) if not flag],
        [n for n, flag in zip(names, is_test) if flag],
    )


# ----------------------------------------------------------------------------- synthetic tasks


def _check_synthetic(
    name: str, n_train: object, n_test: object, seed: object, **sizes: tuple[object, int]
) -> None:
    """The options of a synthetic set: n_train, n_test >= 1, an int seed, and each size >= its minimum."""
    fn = f"load({name!r})"
    check_positive_int(n_train, fn, "n_train")
    check_positive_int(n_test, fn, "n_test")
    check_positive_int(seed, fn, "seed", minimum=0)
    for option, (value, minimum) in sizes.items():
        check_positive_int(value, fn, option, minimum=minimum)


def _recall(
    n_train: int = 2000, n_test: int = 500, lag: int = 20, n_symbols: int = 4, seed: int = 0
) -> Dataset:
    """Remember the first symbol of a sequence through ``lag`` random distractors.

    x: (N, lag + 1) int64, first token in [0, n_symbols), distractors in
    [n_symbols, 2 n_symbols); y: (N,) the first token. Chance accuracy is 1 / n_symbols.
    """
    _check_synthetic("recall", n_train, n_test, seed, lag=(lag, 1), n_symbols=(n_symbols, 2))
    gen = make_generator(seed)
    n = n_train + n_test
    first = torch.randint(0, n_symbols, (n, 1), generator=gen)
    rest = torch.randint(n_symbols, 2 * n_symbols, (n, lag), generator=gen)
    x = torch.cat([first, rest], dim=1)
    y = first[:, 0].clone()
    names = [str(i) for i in range(n_symbols)]
    return Dataset(f"recall(lag={lag})", x[:n_train], y[:n_train], x[n_train:], y[n_train:], names)


def _adding(n_train: int = 2000, n_test: int = 500, length: int = 50, seed: int = 0) -> Dataset:
    """The adding problem (Hochreiter & Schmidhuber 1997): sum the two marked values.

    x: (N, length, 2) float32, channel 0 uniform values, channel 1 a 0/1 marker with
    exactly two ones; y: (N,) the sum of the two marked values.
    """
    _check_synthetic("adding", n_train, n_test, seed, length=(length, 2))
    gen = make_generator(seed)
    n = n_train + n_test
    values = torch.rand(n, length, generator=gen)
    marks = torch.zeros(n, length)
    idx = torch.argsort(torch.rand(n, length, generator=gen), dim=1)[:, :2]
    marks.scatter_(1, idx, 1.0)
    x = torch.stack([values, marks], dim=2)
    y = (values * marks).sum(dim=1)
    return Dataset(f"adding(length={length})", x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _reverse(
    n_train: int = 2000, n_test: int = 500, length: int = 8, n_symbols: int = 10, seed: int = 0
) -> Dataset:
    """Sequences of digits and their reverses. x, y: (N, length) int64 in [0, n_symbols)."""
    _check_synthetic("reverse", n_train, n_test, seed, length=(length, 2), n_symbols=(n_symbols, 2))
    gen = make_generator(seed)
    n = n_train + n_test
    x = torch.randint(0, n_symbols, (n, length), generator=gen)
    y = x.flip(1)
    names = [str(i) for i in range(n_symbols)]
    return Dataset(
        f"reverse(length={length})", x[:n_train], y[:n_train], x[n_train:], y[n_train:], names
    )


# ----------------------------------------------------------------------------- online sets

_IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
ONLINE_SOURCES: dict[str, dict] = {
    "mnist": {
        "url": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "md5": (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
        "classes": [str(d) for d in range(10)],
    },
    "fashion_mnist": {
        "url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "md5": (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
        "classes": [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
    },
}


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _urlopen(url: str, timeout: float = 30.0):  # a seam the tests replace
    return urllib.request.urlopen(url, timeout=timeout)


def _download(name: str, filename: str, expected_md5: str) -> Path:
    folder = cache_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    if target.exists() and _md5(target) == expected_md5:
        return target
    url = ONLINE_SOURCES[name]["url"] + filename
    try:
        with _urlopen(url) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise ConnectionError(
            f"load({name!r}): could not download {url} ({err}). This data set needs the internet "
            f"once; offline, use load('digits') or load('mnist1d') instead, or copy the four "
            f"files {', '.join(_IDX_FILES)} into {folder}."
        ) from None

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(payload)

    _atomic_write(target, write)
    got = _md5(target)
    if got != expected_md5:
        target.unlink()
        raise ValueError(
            f"load({name!r}): {filename} has MD5 {got}, expected {expected_md5}; the download "
            "was corrupted or the source changed. The file was deleted; try again."
        )
    return target


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


# Fashion-MNIST (Xiao et al. 2017): the SHA-256 of each file's *decompressed* bytes, so the
# original download and Debian's recompressed copy (package dataset-fashion-mnist) agree.
FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FASHION_ENV = "DLCORE_FASHION_MNIST"  # a folder holding the four .gz files
FASHION_SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)  # Debian: dataset-fashion-mnist
_fashion_arrays: dict[str, tuple[str, tuple[np.ndarray, ...]]] = {}  # per-process memo


def _verified_raw(path: Path, filename: str) -> bytes | None:
    """The decompressed bytes of ``path`` when they match Fashion-MNIST's digest, else None."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError):
        return None
    return raw if hashlib.sha256(raw).hexdigest() == FASHION_SHA256[filename] else None


def _idx_from_bytes(raw: bytes) -> np.ndarray:
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_mnist_sources() -> list[tuple[str, Path]]:
    """Where ``load("fashion_mnist")`` looks, in order: the per-user cache, the folder named
    by ``$DLCORE_FASHION_MNIST``, the system copy of Debian's ``dataset-fashion-mnist``."""
    sources = [("the per-user cache", cache_dir() / "fashion_mnist")]
    env = os.environ.get(FASHION_ENV, "").strip()
    if env:
        sources.append((f"${FASHION_ENV}", Path(env).expanduser()))
    sources += [("the system copy", Path(d)) for d in FASHION_SYSTEM_DIRS]
    return sources


def _fashion_files() -> tuple[str, tuple[bytes, ...]]:
    """The four files' decompressed bytes and where they came from (downloading if needed)."""
    problems = []
    for label, folder in fashion_mnist_sources():
        paths = [folder / f for f in _IDX_FILES]
        if not all(p.exists() for p in paths):
            continue
        checked = [_verified_raw(p, f) for p, f in zip(paths, _IDX_FILES)]
        verified = [r for r in checked if r is not None]
        if len(verified) == len(checked):
            return f"{label} ({folder})", tuple(verified)
        bad = [str(p) for p, r in zip(paths, checked) if r is None]
        problems.append(f"{', '.join(bad)} failed the checksum (corrupted or not Fashion-MNIST)")
    folder = cache_dir() / "fashion_mnist"
    base = ONLINE_SOURCES["fashion_mnist"]["url"]
    raws: list[bytes] = []
    for filename in _IDX_FILES:
        url = base + filename
        try:
            with _urlopen(url) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError) as err:
            found = (" Found but unusable: " + "; ".join(problems) + ".") if problems else ""
            raise FileNotFoundError(
                "load('fashion_mnist'): the data set is not on this machine and could not be "
                f"downloaded ({err}).{found} Provide it in one of three ways: (1) install "
                "Debian's package: sudo apt-get install dataset-fashion-mnist; (2) copy the four "
                f"files {', '.join(_IDX_FILES)} into {folder} or into a folder named by "
                f"${FASHION_ENV}; (3) connect to the internet once, and the files are "
                f"downloaded into {folder} with checksums."
            ) from None
        try:
            raw = gzip.decompress(payload)
        except (OSError, EOFError):
            raw = b""
        if hashlib.sha256(raw).hexdigest() != FASHION_SHA256[filename]:
            raise ValueError(
                f"load('fashion_mnist'): the download of {url} failed its checksum (corrupted, "
                "or the source changed); nothing was saved. Try again, or use another source."
            )
        raws.append(raw)
    folder.mkdir(parents=True, exist_ok=True)
    for filename, raw in zip(_IDX_FILES, raws):
        target = folder / filename
        if target.exists():  # a file someone put there by hand: keep it, do not overwrite
            continue

        def write(tmp: str, raw: bytes = raw) -> None:
            with gzip.open(tmp, "wb") as fh:
                fh.write(raw)

        try:
            _atomic_write(target, write)
        except OSError:  # a read-only cache: use the data without caching it
            break
    return f"a download from {base} (saved in {folder})", tuple(raws)


def fashion_mnist_source() -> str:
    """Make sure Fashion-MNIST is available; return where it comes from (for ``run.py``)."""
    source, arrays = _fashion_arrays.get("fashion_mnist") or _fashion_load_arrays()
    return source


def _fashion_load_arrays() -> tuple[str, tuple[np.ndarray, ...]]:
    source, raws = _fashion_files()
    entry = (source, tuple(_idx_from_bytes(r) for r in raws))
    _fashion_arrays["fashion_mnist"] = entry
    return entry


def _fashion_mnist() -> Dataset:
    """Fashion-MNIST: 60,000 + 10,000 grey 28x28 images of 10 kinds of clothing, in [0, 1]."""
    source, (x_tr, y_tr, x_te, y_te) = (
        _fashion_arrays.get("fashion_mnist") or _fashion_load_arrays()
    )

    def images(a: np.ndarray) -> Tensor:
        return torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)

    def labels(a: np.ndarray) -> Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return Dataset(
        "fashion_mnist",
        images(x_tr),
        labels(y_tr),
        images(x_te),
        labels(y_te),
        list(ONLINE_SOURCES["fashion_mnist"]["classes"]),
    )


def _online(name: str) -> Dataset:
    source = ONLINE_SOURCES[name]
    paths = [_download(name, f, md5) for f, md5 in zip(_IDX_FILES, source["md5"])]
    x_tr, y_tr, x_te, y_te = (_read_idx(p) for p in paths)

    def images(a: np.ndarray) -> Tensor:
        return torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)

    def labels(a: np.ndarray) -> Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return Dataset(name, images(x_tr), labels(y_tr), images(x_te), labels(y_te), source["classes"])


# ----------------------------------------------------------------------------- entry point

_LOADERS: dict[str, Callable] = {
    "digits": _digits,
    "mnist1d": _mnist1d,
    "photo": _photo,
    "corpus": _corpus,
    "recall": _recall,
    "adding": _adding,
    "reverse": _reverse,
    "mnist": lambda: _online("mnist"),
    "fashion_mnist": lambda: _fashion_mnist(),
}


def known_datasets() -> list[str]:
    return list(_LOADERS)


def load(name: str, **options) -> Dataset | Corpus | Tensor:
    """Load a data set by name; ``options`` go to that data set's builder.

    ``digits``, ``mnist1d``, ``mnist``, ``fashion_mnist``, ``recall``, ``adding`` and
    ``reverse`` return a :class:`Dataset`; ``corpus`` a :class:`Corpus`; ``photo`` an
    image tensor in [0, 1] of shape (H, W) (or (3, H, W) with ``gray=False``).
    """
    if not isinstance(name, str):
        raise TypeError(f"load: name must be a string, got {type(name).__name__}")
    key = name.lower().replace("-", "_")
    if key not in _LOADERS:
        raise ValueError(f"load: unknown data set {name!r}; known: {', '.join(known_datasets())}")
    try:
        return _LOADERS[key](**options)
    except TypeError as err:
        if "unexpected keyword" in str(err) or "positional argument" in str(err):
            raise TypeError(f"load({name!r}): {err}") from None
        raise


def take_per_class(x: Tensor, y: Tensor, n_per_class: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A class-balanced random subset: ``n_per_class`` examples of every label in ``y``."""
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError("take_per_class: x and y must be tensors")
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)):
        raise TypeError(
            f"take_per_class: n_per_class must be an int, got {type(n_per_class).__name__}"
        )
    if n_per_class < 1:
        raise ValueError(f"take_per_class: n_per_class must be >= 1, got {n_per_class}")
    if y.dim() != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(
            f"take_per_class: y must be a 1-D tensor of integer labels, got shape "
            f"{tuple(y.shape)} and dtype {y.dtype} (one-hot rows: y.argmax(dim=1))"
        )
    if len(x) != len(y):
        raise ValueError(f"take_per_class: x has {len(x)} rows but y has {len(y)}")
    if len(y) and int(y.min()) < 0:
        raise ValueError(
            "take_per_class: y holds negative labels (unlabelled rows?); drop them first"
        )
    gen = make_generator(seed)
    chosen = []
    for label in torch.unique(y):
        idx = torch.nonzero(y == label).flatten()
        if len(idx) < n_per_class:
            raise ValueError(
                f"take_per_class: class {int(label)} has only {len(idx)} examples, "
                f"fewer than n_per_class={n_per_class}"
            )
        chosen.append(idx[torch.randperm(len(idx), generator=gen)[:n_per_class]])
    order = torch.cat(chosen)
    order = order[torch.randperm(len(order), generator=gen)]
    return x[order], y[order]
