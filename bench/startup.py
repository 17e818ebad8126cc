"""Start-up time (issue 18): ``import facesearch`` and ``facesearch --help``, each in fresh processes.

Targets: ``import facesearch`` under 0.3 s and ``facesearch --help`` under 0.5 s, heavy libraries
(numpy, SQLAlchemy, ONNX Runtime, OpenCV, dlib, Pillow, FAISS, FastAPI, Jinja2, ...) loaded only on
first use. Each command runs ``--runs`` times (after one warm-up run that fills the OS file cache);
the median and the best wall time are reported, and the median CPU time (user + system), which a busy
machine inflates less than wall time. ``--src DIR`` times another checkout's ``src/``
(e.g. the main branch's, to compare before and after in one run on one machine):

    python bench/startup.py
    python bench/startup.py --src ../main/src --runs 9

Results: a table on stdout and ``bench/out/startup.json``. A busy machine inflates every time:
compare rows of one run, and read the best as the closest to an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMANDS = {
    "import facesearch": [sys.executable, "-c", "import facesearch"],
    "facesearch --help": [sys.executable, "-m", "facesearch", "--help"],
    "python (empty)": [sys.executable, "-c", "pass"],
}
TARGETS_S = {"import facesearch": 0.3, "facesearch --help": 0.5}


def time_command(command: list[str], src: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall times and CPU times (user + system) of RUNS fresh processes running COMMAND."""
    # compiled once, as an installed package is (pip writes its .pyc files): the warm-up run fills a
    # bytecode cache of this checkout's own, even where PYTHONDONTWRITEBYTECODE is set
    cache = HERE / "out" / "pycache" / src.as_posix().strip("/").replace("/", "_")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(src), "COLUMNS": "120", "PYTHONPYCACHEPREFIX": str(cache)}
    subprocess.run(command, env=env, capture_output=True, check=True)  # warm-up: bytecode and file caches
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, action="append", help="a checkout's src/ folder (repeatable)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    sources = args.src or [HERE.parent / "src"]
    rows = []
    for src in sources:
        for name, command in COMMANDS.items():
            walls, cpus = time_command(command, src.resolve(), args.runs)
            rows.append(
                {
                    "src": str(src),
                    "command": name,
                    "median_s": statistics.median(walls),
                    "best_s": min(walls),
                    "cpu_median_s": statistics.median(cpus),
                    "target_s": TARGETS_S.get(name),
                }
            )
    print(f"{'src':<24} {'command':<20} {'median s':>9} {'best s':>8} {'CPU s':>7} {'target s':>9}")
    for row in rows:
        target = f"{row['target_s']:.1f}" if row["target_s"] else "-"
        print(
            f"{row['src'][-24:]:<24} {row['command']:<20} {row['median_s']:>9.3f} {row['best_s']:>8.3f} "
            f"{row['cpu_median_s']:>7.3f} {target:>9}"
        )
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "startup.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
