"""Start-up cost of the commands people type most, side by side with a bare interpreter.

`plurieval list` and `plurieval show` must stay torch-free and quick: every plugin module is
imported (pluggy discovery) but nothing heavy. tests/spine/test_cli.py checks that no heavy
module is imported; this measures what it costs, as a ratio to `python -c pass` in the same
run (absolute times depend on the machine's load, the ratio much less). Best of N each.

    .venv/bin/python bench/bench_cli.py            # N = 5
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def best_of(argv: list[str], n: int) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="repetitions per command (best is kept)")
    n = parser.parse_args().n
    script = str(Path(sys.executable).with_name("plurieval"))
    bare = best_of([sys.executable, "-c", "pass"], n)
    print(f"{'command':32} {'best s':>8} {'x bare python':>14}")
    print(f"{'python -c pass':32} {bare:8.3f} {1.0:14.1f}")
    for argv in (["list", "metrics"], ["list"], ["show", "diffmean"]):
        t = best_of([script, *argv], n)
        print(f"{'plurieval ' + ' '.join(argv):32} {t:8.3f} {t / bare:14.1f}")


if __name__ == "__main__":
    main()
