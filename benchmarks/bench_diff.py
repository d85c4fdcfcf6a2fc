#!/usr/bin/env python3
"""Time ``pkgdoctor diff A B`` on two snapshots of the ``bench_check.py`` environment.

Run it by hand from the dev venv (it is not a pytest test)::

    .venv/bin/python benchmarks/bench_diff.py              # builds the environment if needed
    .venv/bin/python benchmarks/bench_diff.py --rounds 21

The environment is ``bench_check.py``'s (``benchmarks/.work/check-env``: ~240 distributions,
~660 extension modules), built by that script's code when missing. Two snapshots are taken
with ``pkgdoctor snapshot --prefix ENV -o FILE.json.gz``; a third is the second with a few
realistic changes written into its JSON (one version bumped with a local version, one
distribution removed, one extension module's architecture changed), so that the timed diff has
something to rank and render. Timed (whole commands, start-up included, bytecode cached as in
``bench_check.py``, one warm-up each, then alternating rounds):

* ``pkgdoctor diff A B``: the same environment twice, "No differences that matter";
* ``pkgdoctor diff A C``: the changed copy;
* ``pkgdoctor diff A B --no-cache``: without the memo of the checks' verdicts.

The target (issue: diff) is a median of at most 0.2 s for the first two.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_check import (  # noqa: E402  (a sibling script, not a package)
    DEFAULT_WORK,
    BenchError,
    Params,
    Work,
    build_env,
    cpu_seconds,
    pkgdoctor_executable,
    reusable,
    run,
    timing_environ,
)

TARGET_SECONDS = 0.2


def changed_copy(source: Path, destination: Path) -> list[str]:
    """``source`` with a few changes a real "works here, broken there" pair has."""
    document: dict[str, Any] = json.loads(gzip.decompress(source.read_bytes()))
    dists = document["inventory"]["distributions"]
    said = []
    bumped = next(d for d in dists if d["name"].lower() == "numpy")
    bumped["version"] = f"{bumped['version']}+cu118"
    said.append(f"numpy version {bumped['version']}")
    removed = dists.pop(next(i for i, d in enumerate(dists) if d["name"].startswith("synth")))
    said.append(f"{removed['name']} removed")
    elf = document["extensions"]["elf"]
    for module in document["extensions"]["modules"]:
        path = module["path"]
        if "/synthpkg" in path and isinstance(elf.get(path), dict):
            elf[path]["machine"] = 183  # EM_AARCH64 (System V gABI)
            said.append(f"{Path(path).name} made aarch64")
            break
    destination.write_bytes(gzip.compress(json.dumps(document).encode(), compresslevel=1))
    return said


def timed(command: list[str], environ: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=environ, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise BenchError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr}")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_diff.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11, metavar="R", help="timed runs (11)")
    parser.add_argument("--work-dir", default=str(DEFAULT_WORK), metavar="DIR")
    parser.add_argument("--pkgdoctor", metavar="PATH", help="the pkgdoctor executable to time")
    args = parser.parse_args(argv)
    try:
        work = Work(Path(args.work_dir).resolve())
        params = Params(synthetic=150, modules_per_package=3, real=True)
        if reusable(work.env, params) is None:
            build_env(work, params)
        pkgdoctor = pkgdoctor_executable(args.pkgdoctor)
        environ = timing_environ(work.pycache)
        a, b, c = (work.root / f"diff-{name}.json.gz" for name in "abc")
        for path in (a, b):
            run([pkgdoctor, "snapshot", "--prefix", str(work.env), "-o", str(path)], "snapshot")
        for line in changed_copy(b, c):
            print(f"bench_diff: C: {line}", file=sys.stderr)
        commands = {
            "pkgdoctor diff A B (same environment)": [pkgdoctor, "diff", str(a), str(b)],
            "pkgdoctor diff A C (changed copy)": [pkgdoctor, "diff", str(a), str(c)],
            "pkgdoctor diff A B --no-cache": [pkgdoctor, "diff", str(a), str(b), "--no-cache"],
        }
        proc = subprocess.run(
            commands["pkgdoctor diff A C (changed copy)"],
            capture_output=True,
            text=True,
            check=False,
        )
        print(proc.stdout)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():
            timed(command, environ)  # warm-up: bytecode and the memo
        wall0, busy0, ours0 = cpu_seconds()
        for _ in range(args.rounds):
            for name, command in commands.items():
                times[name].append(timed(command, environ))
        wall1, busy1, ours1 = cpu_seconds()
    except BenchError as exc:
        print(f"bench_diff: error: {exc}", file=sys.stderr)
        return 2
    dists = len(json.loads(gzip.decompress(a.read_bytes()))["inventory"]["distributions"])
    print(f"environment {work.env}: {dists} distributions; snapshot {a.stat().st_size} bytes")
    print(f"{'command':44} {'runs':>5} {'min (s)':>9} {'median (s)':>11}")
    for name, values in times.items():
        print(f"{name:44} {len(values):5} {min(values):9.3f} {statistics.median(values):11.3f}")
    worst = max(statistics.median(times[n]) for n in list(commands)[:2])
    verdict = "met" if worst <= TARGET_SECONDS else "NOT met"
    print(f"target: median <= {TARGET_SECONDS} s: {verdict} ({worst:.3f} s)")
    cores = os.cpu_count() or 1
    others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / ((wall1 - wall0) * cores)
    print(f"CPU used by other processes while timing: {others:.0%} of {cores} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
