"""Execute chapters outside the book build: glued values, wall time and peak memory.

    python tools/execute.py timings [CHAPTER ...]      Markdown table: seconds, peak memory, device
    python tools/execute.py determinism [CHAPTER ...]  run each chapter twice, compare glued values
    python tools/execute.py lock N -- COMMAND ...        run COMMAND once N cores are free
                                                      (the sweep's lock files; for experiments)
    python tools/execute.py sweep SEEDS [--threads 1,2] [CHAPTER ...]
                                                      every chapter for every seed offset and
                                                      thread count: a pass/fail table

CHAPTER is a path such as chapters/01_convolution.md (default: every chapter). Each
chapter runs in a fresh kernel with ``chapters/`` as working directory, as in the build.
Glue keys containing ``timing`` hold wall-clock measurements and are exempt from the
determinism check.

SEEDS is a list of ``DLCORE_SEED`` offsets such as ``0-4`` or ``0,3,7`` (``python3 run.py
seeds 0-4 --threads 1,2`` calls ``sweep``). The sweep runs on the CPU, as many chapters at
once as there are free cores: every run holds one core per thread through lock files shared
by all sweeps on the machine, so two people (or helpers) sweeping at once take turns instead
of slowing each other down. It prints a table chapter x run and, for each failure, the first
failing line and its error; the table is also written to ``artifacts/seeds.md``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS, BUDGET_MB = 60, 2048


def run_one(path: Path) -> dict:
    """Execute one chapter (in this process's child kernel); return glue values and costs."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.read(path)
    start = time.perf_counter()
    error = None
    try:
        NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    except CellExecutionError:
        error = first_error(nb)
    seconds = time.perf_counter() - start
    glue = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            scrap = out.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name"):  # myst-nb glue: the value sits under the scrapbook's prefix
                key = scrap.get("mime_prefix", "") + "text/plain"
                glue[scrap["name"]] = out.get("data", {}).get(key)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, once it exited
    return {"seconds": seconds, "peak_mb": peak_kb / 1024, "glue": glue, "error": error}


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_error(nb) -> str:
    """The first error of an executed notebook: the failing source line and the message."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                lines = [ANSI.sub("", x) for x in out.get("traceback", [])]
                text = "\n".join(lines)
                arrow = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("---->")]
                where = arrow[0].removeprefix("---->").strip() if arrow else ""
                where = re.sub(r"^\d+\s*", "", where)
                message = f"{out.get('ename')}: {out.get('evalue')}"
                return f"{where}  ->  {message}" if where else message
    return "error (no traceback)"


def run_isolated(path: Path, env: dict | None = None, allow_failure: bool = False) -> dict:
    """run_one in a fresh Python process, so peak memory is this chapter's alone."""
    out = subprocess.run(
        [sys.executable, __file__, "_one", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{path.name} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["error"] and not allow_failure:
        raise RuntimeError(f"{path.name} failed: {result['error']}")
    return result


def parse_seeds(spec: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,3,7"`` -> [0, 3, 7]; ranges and lists mix."""
    seeds: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        m = re.fullmatch(r"(-?\d+)-(-?\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if b < a:
                raise ValueError(f"seeds: range {part!r} runs backwards")
            seeds.extend(range(a, b + 1))
        elif re.fullmatch(r"-?\d+", part):
            seeds.append(int(part))
        else:
            raise ValueError(f"seeds: {part!r} is not a seed or a range like 0-4")
    return seeds


class CoreTokens:
    """One lock file per CPU core, shared by every sweep on the machine (flock).

    Fair: a request first takes the queue lock and keeps it until it holds all the cores it
    asked for, so a two-thread run is not starved by a stream of one-thread runs.
    """

    def __init__(self, n: int):
        folder = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / f"dlcore-cores-{os.getuid()}"
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"core{i}" for i in range(n)]
        self.queue = folder / "queue"
        self.guard = threading.Lock()

    def acquire(self, k: int) -> list:
        k = min(k, len(self.paths))
        with self.guard, open(self.queue, "a") as queue:
            fcntl.flock(queue, fcntl.LOCK_EX)  # wait for our turn (blocking)
            try:
                held: list = []
                while len(held) < k:
                    for path in self.paths:
                        if len(held) == k:
                            break
                        if any(f.name == str(path) for f in held):
                            continue
                        f = open(path, "a")
                        try:
                            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        except BlockingIOError:
                            f.close()
                            continue
                        held.append(f)
                    if len(held) < k:
                        time.sleep(0.3)
                return held
            finally:
                fcntl.flock(queue, fcntl.LOCK_UN)

    @staticmethod
    def release(held: list) -> None:
        for f in held:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()


def sweep(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    seeds = parse_seeds(argv[0])
    threads, rest = [1], argv[1:]
    if rest[:1] == ["--threads"]:
        if len(rest) < 2:
            raise SystemExit("sweep: --threads needs a list such as 1,2")
        threads, rest = [int(t) for t in rest[1].split(",")], rest[2:]
    paths = chapters(rest)
    runs = [(s, t) for t in threads for s in seeds]
    tokens = CoreTokens(os.cpu_count() or 1)
    results: dict = {}
    start = time.perf_counter()

    def job(path: Path, seed: int, nthreads: int):
        env = dict(
            os.environ,
            DLCORE_SEED=str(seed),
            DLCORE_DEVICE="cpu",
            OMP_NUM_THREADS=str(nthreads),
            MKL_NUM_THREADS=str(nthreads),
        )
        held = tokens.acquire(nthreads)
        try:
            try:
                r = run_isolated(path, env=env, allow_failure=True)
            except RuntimeError as exc:  # the kernel died, or the chapter could not start
                r = {"seconds": float("nan"), "peak_mb": float("nan"), "error": str(exc)[-300:]}
        finally:
            tokens.release(held)
        results[(path.stem, seed, nthreads)] = r
        status = "pass" if not r["error"] else f"FAIL: {r['error']}"
        print(
            f"{path.stem} seed {seed} threads {nthreads}: {r['seconds']:.0f} s, {status}",
            file=sys.stderr,
            flush=True,
        )

    jobs = [(p, s, t) for p in paths for (s, t) in runs]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for f in [pool.submit(job, *j) for j in jobs]:
            f.result()
    elapsed = time.perf_counter() - start

    head = [f"seed {s}, {t} thr" for (s, t) in runs]
    lines = ["| chapter | " + " | ".join(head) + " |", "|---|" + "---|" * len(runs)]
    failures = []
    for path in paths:
        cells = []
        for s, t in runs:
            r = results[(path.stem, s, t)]
            cost = f"{r['seconds']:.0f} s, {r['peak_mb']:.0f} MB"
            cells.append(f"pass ({cost})" if not r["error"] else f"**FAIL** ({cost})")
            if r["error"]:
                failures.append(f"- {path.stem}, seed {s}, {t} thread(s): {r['error']}")
        lines.append(f"| {path.stem} | " + " | ".join(cells) + " |")
    n_fail = len(failures)
    summary = (
        f"{len(jobs) - n_fail} passed, {n_fail} failed "
        f"({len(jobs)} chapter runs in {elapsed / 60:.1f} min, "
        f"`python3 run.py seeds {argv[0]} --threads {','.join(map(str, threads))}`)"
    )
    text = "\n".join(lines + ([""] + failures if failures else []) + ["", summary])
    print(text)
    out = ROOT / "artifacts" / "seeds.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")
    return 1 if failures else 0


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
        rows.append(
            f"| {path.stem} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {device} | {'yes' if ok else '**no**'} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    table = "\n".join(
        [
            f"Measured with `python tools/execute.py timings` on {device}, "
            f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={threads}.",
            "",
            "| chapter | seconds | peak memory (MB) | device | within budget |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
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
        diff = {
            k: (a["glue"].get(k), b["glue"].get(k))
            for k in keys
            if a["glue"].get(k) != b["glue"].get(k)
        }
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
    if argv and argv[0] == "sweep":
        return sweep(argv[1:])
    if len(argv) >= 4 and argv[0] == "lock" and argv[2] == "--":
        n = int(argv[1])
        tokens = CoreTokens(os.cpu_count() or 1)
        held = tokens.acquire(n)
        try:
            env = dict(os.environ, OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))
            return subprocess.run(argv[3:], env=env).returncode
        finally:
            tokens.release(held)
    if not argv or argv[0] not in ("timings", "determinism"):
        print(__doc__)
        return 2
    paths = chapters(argv[1:])
    return timings(paths) if argv[0] == "timings" else determinism(paths)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
