"""Executing a chapter twice on the CPU gives identical glued values (a sample chapter)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_chapter_glues_identical_values_twice():
    env = dict(os.environ, DLCORE_DEVICE="cpu")
    out = subprocess.run(
        [sys.executable, "tools/execute.py", "determinism", "chapters/01_convolution.md"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "identical" in out.stdout
