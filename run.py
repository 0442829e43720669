#!/usr/bin/env python3
"""The book's two commands, with nothing but Python 3.10+ and pip required.

    python3 run.py book    build the HTML book (executes every chapter)
    python3 run.py test    run the dlcore unit tests and execute every chapter
                           (with DLCORE_SEED=1: the build used the default seeds)
    python3 run.py unit    only the dlcore unit tests and lint (no chapter runs): < 1 minute
    python3 run.py seeds 0-4 --threads 1,2 [CHAPTER ...]
                           execute every chapter (or those named) for each seed offset
                           and thread count; print a pass/fail table

Both create ``.venv`` and install ``requirements.txt`` plus ``dlcore`` on first use and
skip the installation when nothing changed since, so the second run is fast.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".dlcore-installed"


def say(msg: str) -> None:
    print(f"[run.py] {msg}", flush=True)


# One BLAS/OpenMP thread per kernel unless the reader chooses otherwise: the tests run two
# chapters at once on two cores, idle-spinning threads make a busy machine crawl, and the
# book's CPU numbers come out the same in the build and in the tests.
THREAD_DEFAULTS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(*cmd: str | os.PathLike, env_extra: dict[str, str] | None = None) -> None:
    say(" ".join(str(c) for c in cmd))
    env = {**THREAD_DEFAULTS, **os.environ, **(env_extra or {})}
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env)
    if result.returncode != 0:
        say(f"failed with exit code {result.returncode}")
        sys.exit(result.returncode)


def ensure_env() -> None:
    if sys.version_info < (3, 10):  # noqa: UP036 - run.py may be started by any python3
        sys.exit("run.py: the book needs Python 3.10 or newer")
    if not PY.exists():
        say(f"creating a virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    wanted = digest.hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    say("installing requirements.txt and dlcore (a few minutes the first time)")
    run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", "requirements.txt")
    run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", "-e", ".")
    run(
        PY,
        "-m",
        "ipykernel",
        "install",
        "--sys-prefix",
        "--name",
        "python3",
        "--display-name",
        "Python 3 (ipykernel)",
    )
    STAMP.write_text(wanted + "\n")


def ensure_data() -> None:
    """Fashion-MNIST, the book's real images: from the cache, the system copy or one download."""
    probe = (
        "from dlcore.data import fashion_mnist_source as s; "
        "print('[run.py] Fashion-MNIST comes from', s())"
    )
    result = subprocess.run([str(PY), "-c", probe], cwd=ROOT)
    if result.returncode != 0:
        sys.exit("run.py: Fashion-MNIST is needed by the image chapters; see the message above")


def book(extra: list[str]) -> None:
    ensure_data()
    run(BIN / "jupyter-book", "build", ".", "--all", "-W", "-n", "--keep-going", *extra)
    say(f"done: open {ROOT / '_build' / 'html' / 'index.html'} in a browser")


# The book publishes the numbers of the default seeds; the tests execute every chapter again
# with another seed offset, so each CI run checks every claim with two sets of random draws.
TEST_SEED_OFFSET = "1"


def test(extra: list[str]) -> None:
    seed = os.environ.get("DLCORE_SEED") or TEST_SEED_OFFSET
    say(f"chapters execute with DLCORE_SEED={seed} (the book build used the default seeds)")
    run(PY, "-m", "pytest", "-n", "auto", "--durations=15", *extra, env_extra={"DLCORE_SEED": seed})


def unit(extra: list[str]) -> None:
    run(PY, "-m", "pytest", "-n", "auto", "-m", "not slow", "tests", *extra)


def seeds(extra: list[str]) -> None:
    if not extra:
        sys.exit("usage: python3 run.py seeds 0-4 [--threads 1,2] [chapters/NN_name.md ...]")
    run(PY, "tools/execute.py", "sweep", *extra)


def main(argv: list[str]) -> None:
    commands = {"book": book, "test": test, "unit": unit, "seeds": seeds}
    if not argv or argv[0] not in commands:
        sys.exit(__doc__)
    ensure_env()
    commands[argv[0]](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
