"""Run every chapter as a plain Python script and tabulate time and memory per chapter.

For machines where Jupyter is not installed (e.g. a GPU box with only PyTorch):

    python tools/run_as_scripts.py convert DIR   # here: chapters -> DIR/*.py (needs jupytext)
    python tools/run_as_scripts.py run DIR       # there: run each script, print a Markdown table

Each script runs in its own process with ``chapters/`` as working directory and the
non-interactive matplotlib backend; glue and show_source fall back to plain Python.
"""

from __future__ import annotations

import json
import os
import resource
import runpy
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def convert(target: Path) -> None:
    import jupytext

    target.mkdir(parents=True, exist_ok=True)
    for chapter in sorted((ROOT / "chapters").glob("*.md")):
        nb = jupytext.read(chapter)
        jupytext.write(nb, target / f"{chapter.stem}.py", fmt="py:percent")
        print("wrote", target / f"{chapter.stem}.py")


def run_one(script: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import torch

    os.chdir(ROOT / "chapters")
    start = time.perf_counter()
    runpy.run_path(str(script), run_name="__main__")
    seconds = time.perf_counter() - start
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "gpu_mb": gpu_mb,
            }
        )
    )


def run_all(folder: Path) -> int:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    rows, failed = [], 0
    for script in sorted(folder.glob("*.py")):
        proc = subprocess.run(
            [sys.executable, __file__, "_one", str(script.resolve())],
            capture_output=True,
            text=True,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )
        if proc.returncode != 0:
            failed += 1
            rows.append(f"| {script.stem} | failed | | | {device} |")
            print(
                f"--- {script.stem} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}",
                file=sys.stderr,
            )
        else:
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(
                f"| {script.stem} | {r['seconds']:.1f} | {r['rss_mb']:.0f} | {r['gpu_mb']:.0f} | {device} |"
            )
        print(rows[-1], flush=True)
    print(
        "\n| chapter | seconds | peak RAM (MB) | peak GPU memory (MB) | device |\n|---|---|---|---|---|"
    )
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    verb, arg = sys.argv[1], Path(sys.argv[2])
    if verb == "convert":
        convert(arg)
    elif verb == "_one":
        run_one(arg)
    elif verb == "run":
        sys.exit(run_all(arg))
    else:
        sys.exit(__doc__)
