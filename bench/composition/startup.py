"""Start-up of the `videofoundry` command: how long before a command does its work.

    .venv/bin/python -m bench.composition.startup [--runs 7]

Runs `compose --help`, `render --help` and `compose` on a missing file (it fails after parsing
its arguments, the moment real work would start) several times and prints the best and median
wall time and the best CPU time of each, next to an empty Python start-up as the floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VF = str(Path(sys.executable).with_name("videofoundry"))
CASES = {
    "python -c pass (the floor)": [sys.executable, "-c", "pass"],
    "videofoundry compose --help": [VF, "compose", "--help"],
    "videofoundry render --help": [VF, "render", "--help"],
    "videofoundry compose (parsing, up to the work)": [
        VF,
        "compose",
        "/nonexistent.mp4",
        "-o",
        "/dev/null",
    ],
}


def once(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print("| command | best wall | median wall | best CPU |")
    print("| --- | ---: | ---: | ---: |")
    for name, cmd in CASES.items():
        once(cmd)  # warm the file cache
        runs = [once(cmd) for _ in range(args.runs)]
        walls = [w for w, _ in runs]
        print(
            f"| {name} | {min(walls):.3f} s | {statistics.median(walls):.3f} s | "
            f"{min(c for _, c in runs):.3f} s |"
        )
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
