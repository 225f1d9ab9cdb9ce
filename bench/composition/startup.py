"""Start-up of the `videofoundry` command: how long before a command does its work.

    .venv/bin/python -m bench.composition.startup [--runs 7]

Runs each case several times and prints the best and median wall time and the best CPU time,
next to an empty Python start-up as the floor. The cases: `compose --help` and `render --help`;
`compose` and `render` stopped by a mistake in their arguments, found on entering the command
body (compose) or while parsing (render: the storyboard does not exist), which is the whole
start-up of the command; and `compose` on a missing clip, which also loads the composition
engine (PyAV, NumPy) and fails at the first probe, the moment real work starts.

The commands run with Python's bytecode cache on, as an installed package has it: a shell with
PYTHONDONTWRITEBYTECODE set (this machine's) would compile every module of the project at each
start, 40-60 ms of CPU that no installation pays.
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
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
MISSING = "/nonexistent.mp4"
CASES = {
    "python -c pass (the floor)": [sys.executable, "-c", "pass"],
    "videofoundry compose --help": [VF, "compose", "--help"],
    "videofoundry render --help": [VF, "render", "--help"],
    "videofoundry compose, up to the command body": [
        *(VF, "compose", MISSING, "-o", "/dev/null", "--aspect", "wrong")
    ],
    "videofoundry render, up to the command body": [VF, "render", "/nonexistent.yaml", "-o", "x"],
    "videofoundry compose, engine loaded, up to the first probe": [
        *(VF, "compose", MISSING, "-o", "/dev/null")
    ],
}


def once(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False, env=ENV)
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
        once(cmd)  # warm the file cache and write the bytecode
        runs = [once(cmd) for _ in range(args.runs)]
        walls = [w for w, _ in runs]
        print(
            f"| {name} | {min(walls):.3f} s | {statistics.median(walls):.3f} s | "
            f"{min(c for _, c in runs):.3f} s |"
        )
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
