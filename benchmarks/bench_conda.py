#!/usr/bin/env python3
"""Time what pkgdoctor reads of a conda environment against what conda doctor's missing-files
check does on the same prefix, with rattler's record reader.

Run it by hand from the test venv (it needs the test requirements: py-rattler and
conda-package-handling build the environment offline, as the tests do)::

    .venv-test/bin/python benchmarks/bench_conda.py                # 300 packages x 40 files
    .venv-test/bin/python benchmarks/bench_conda.py --packages 1000 --rounds 11

The environment (``benchmarks/.work/conda-env``) is built once by ``tests/conda_env.py``:
the tests' own python packaged as conda-forge does, and ``--packages`` generated packages of
``--files`` modules each, solved and installed by rattler from a local channel. Timed, in
this process, median of ``--rounds`` after one warm-up:

* **pkgdoctor**: ``look.conda.collect`` (every record parsed, every file's presence from the
  directory listings, history, pinned, environments.txt);
* **peer**: what ``conda doctor``'s missing-files check does — read every record (here with
  rattler's Rust reader, ``PrefixRecord.from_path``, faster than conda's own Python) and ask
  ``os.path.exists`` for each listed file.

The target: pkgdoctor at most 1.5x the peer (it keeps more of each record, and works
without rattler).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

TARGET_RATIO = 1.5


def build(work: Path, packages: int, files: int) -> Path:
    from conda_env import SITE, Channels

    env = work / "env"
    marker = work / f"built-{packages}x{files}"
    if marker.exists() and (env / "conda-meta").is_dir():
        return env
    shutil.rmtree(work, ignore_errors=True)
    channels = Channels(work)
    channels.python()
    names = []
    for i in range(packages):
        modules = {f"{SITE}/pkg{i}/mod{j}.py": f"x = {j}\n".encode() for j in range(files)}
        channels.package("conda-forge", f"pkg{i}", "1.0", "py_0", modules)
        names.append(f"pkg{i}")
    channels.create(env, ["python", *names])
    marker.touch()
    return env


def pkgdoctor(env: Path) -> float:
    from pkgdoctor.look import conda
    from pkgdoctor.target.static import read_static

    target = read_static(str(env), "benchmark")
    started = time.perf_counter()
    facts = conda.collect(target)
    elapsed = time.perf_counter() - started
    assert facts is not None and facts.records
    return elapsed


def peer(env: Path) -> float:
    import rattler

    prefix = str(env)
    started = time.perf_counter()
    missing = 0
    for path in glob.glob(os.path.join(prefix, "conda-meta", "*.json")):
        record = rattler.PrefixRecord.from_path(path)
        for name in map(str, record.files):
            if not name.endswith((".pyc", ".pyo")) and not os.path.exists(f"{prefix}/{name}"):
                missing += 1
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=300)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "conda-env")
    args = parser.parse_args()
    env = build(args.work, args.packages, args.files)
    records = len(list((env / "conda-meta").glob("*.json")))
    pkgdoctor(env), peer(env)  # warm-up: the page cache and imports
    ours = [pkgdoctor(env) for _ in range(args.rounds)]
    theirs = [peer(env) for _ in range(args.rounds)]
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"environment: {env} ({records} records)")
    print(f"pkgdoctor look.conda.collect   {a * 1000:7.1f} ms")
    print(f"peer: rattler records + exists {b * 1000:7.1f} ms")
    ratio = a / b
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"ratio {ratio:.2f}x (target <= {TARGET_RATIO}x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
