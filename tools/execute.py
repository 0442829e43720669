"""Execute chapters outside the book build: glued values, wall time and peak memory.

    python tools/execute.py timings [CHAPTER ...]      Markdown table: seconds, peak memory, device
    python tools/execute.py determinism [CHAPTER ...]  run each chapter twice, compare glued values

CHAPTER is a path such as chapters/01_convolution.md (default: every chapter). Each
chapter runs in a fresh kernel with ``chapters/`` as working directory, as in the build.
Glue keys containing ``timing`` hold wall-clock measurements and are exempt from the
determinism check.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS, BUDGET_MB = 60, 2048


def run_one(path: Path) -> dict:
    """Execute one chapter (in this process's child kernel); return glue values and costs."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    glue = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                glue[name] = out.get("data", {}).get("text/plain")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, once it exited
    return {"seconds": seconds, "peak_mb": peak_kb / 1024, "glue": glue}


def run_isolated(path: Path) -> dict:
    """run_one in a fresh Python process, so peak memory is this chapter's alone."""
    out = subprocess.run([sys.executable, __file__, "_one", str(path)], capture_output=True,
                         text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{path.name} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def device_name() -> str:
    import dlcore

    return dlcore.describe_device()


def chapters(args: list[str]) -> list[Path]:
    if args:
        return [Path(a).resolve() for a in args]
    return sorted((ROOT / "chapters").glob("*.md"))


def timings(paths: list[Path]) -> int:
    device = device_name()
    rows, over = [], []
    for path in paths:
        r = run_isolated(path)
        ok = r["seconds"] <= BUDGET_SECONDS and r["peak_mb"] <= BUDGET_MB
        if not ok:
            over.append(path.stem)
        rows.append(f"| {path.stem} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {device} | {'yes' if ok else '**no**'} |")
        print(rows[-1], file=sys.stderr, flush=True)
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    table = "\n".join([
        f"Measured with `python tools/execute.py timings` on {device}, "
        f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={threads}.",
        "",
        "| chapter | seconds | peak memory (MB) | device | within budget |",
        "|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    out = ROOT / "artifacts" / "timings.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")
    return 1 if over else 0


def determinism(paths: list[Path]) -> int:
    failures = 0
    for path in paths:
        a, b = run_isolated(path), run_isolated(path)
        keys = sorted(k for k in a["glue"] if "timing" not in k)
        diff = {k: (a["glue"].get(k), b["glue"].get(k)) for k in keys if a["glue"].get(k) != b["glue"].get(k)}
        if set(a["glue"]) != set(b["glue"]):
            diff["<keys>"] = (sorted(a["glue"]), sorted(b["glue"]))
        status = "identical" if not diff else f"DIFFERENT: {diff}"
        print(f"{path.stem}: {len(keys)} glued values {status}", flush=True)
        failures += bool(diff)
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "_one":
        print(json.dumps(run_one(Path(argv[1]))))
        return 0
    if not argv or argv[0] not in ("timings", "determinism"):
        print(__doc__)
        return 2
    paths = chapters(argv[1:])
    return timings(paths) if argv[0] == "timings" else determinism(paths)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
