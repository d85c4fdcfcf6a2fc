#!/usr/bin/env python3
"""How ``pkgdoctor check`` grows with the number of distributions: time and memory.

Run it by hand from the dev venv (it is not a pytest test)::

    .venv/bin/python benchmarks/bench_scale.py                    # 1000, 3000, 10000
    .venv/bin/python benchmarks/bench_scale.py --sizes 500,20000  # other sizes

For each size N a venv of the running interpreter (with pip, for ``pip check``) gets N
synthetic distributions ``scaleNNNNN``: a ``*.dist-info`` (METADATA with two ``Requires-Dist``
lines, one behind an environment marker; INSTALLER; WHEEL; RECORD) and a package of two
modules. The environments are built once under ``benchmarks/.work/scale-N`` and reused.

Timed, alternating, each after one warm-up: ``pkgdoctor check --no-cache`` (everything parsed
anew), ``pkgdoctor check`` (the per-user cache warm) and ``ENV/bin/python -m pip check``. Each
run's peak resident memory comes from ``wait4``. Growth is linear when time per 1000
distributions and memory per distribution stay flat as N grows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE))

from bench_check import pkgdoctor_executable, timing_environ  # noqa: E402  (a sibling script)

MARKER = "bench-scale-marker.json"
FORMAT = 1


def say(message: str) -> None:
    print(f"bench_scale: {message}", file=sys.stderr, flush=True)


def build(n: int) -> Path:
    """A venv with ``n`` synthetic distributions (reused while its marker matches)."""
    env = WORK / f"scale-{n}"
    marker = env / MARKER
    expected = {"format": FORMAT, "n": n, "python": sys.version}
    if marker.exists() and json.loads(marker.read_text()) == expected:
        return env
    say(f"building {env} ({n} distributions)")
    shutil.rmtree(env, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    python = str(env / "bin" / "python")
    site = Path(
        subprocess.run([python, "-c", purelib], check=True, capture_output=True, text=True)
        .stdout.strip()
    )  # fmt: skip
    for i in range(n):
        name = f"scale{i:05d}"
        package = site / name
        package.mkdir()
        (package / "__init__.py").write_text(f'"""{name}"""\n')
        (package / "core.py").write_text("VALUE = 1\n")
        info = site / f"{name}-1.0.{i}.dist-info"
        info.mkdir()
        requires = [f"Requires-Dist: scale{(i + 1) % n:05d}>=1.0"]
        requires.append(f'Requires-Dist: scale{(i + 7) % n:05d}; python_version < "3"')
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.{i}\n"
            + "\n".join(requires)
            + "\n\n"
        )
        (info / "INSTALLER").write_text("pip\n")
        (info / "WHEEL").write_text(
            "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        rows = [f"{name}/__init__.py,,", f"{name}/core.py,,"]
        rows += [f"{info.name}/{f},," for f in ("METADATA", "INSTALLER", "WHEEL", "RECORD")]
        (info / "RECORD").write_text("\n".join(rows) + "\n")
    # Old enough that pkgdoctor's cache trusts the directories (it ignores changes < 2 s old).
    past = time.time() - 60
    for directory in [site, *(p for p in site.iterdir() if p.is_dir())]:
        os.utime(directory, (past, past))
    marker.write_text(json.dumps(expected))
    subprocess.run(["sync"], check=False)
    return env


def timed(cmd: Sequence[str], environ: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one run of ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environ)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode not in (0,):
        raise SystemExit(f"bench_scale: {' '.join(cmd)} exited {proc.returncode}:\n{err.decode()}")
    return wall, usage.ru_maxrss


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,3000,10000", help="comma-separated N values")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per tool and size")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    pkgdoctor = pkgdoctor_executable(None)
    environ = timing_environ(WORK / "pycache")
    environ["PKGDOCTOR_CACHE_DIR"] = str(WORK / "scale-cache")
    rows = []
    for n in sizes:
        env = build(n)
        check = [pkgdoctor, "check", "--prefix", str(env), "--json"]
        tools = {
            "pkgdoctor --no-cache": [*check, "--no-cache"],
            "pkgdoctor (warm)": check,
            "pip check": [str(env / "bin" / "python"), "-m", "pip", "check"],
        }
        results: dict[str, list[tuple[float, int]]] = {k: [] for k in tools}
        for cmd in tools.values():
            timed(cmd, environ)  # warm-up (and fills pkgdoctor's cache)
        for r in range(args.rounds):
            say(f"N={n} round {r + 1}/{args.rounds}")
            for label, cmd in tools.items():
                results[label].append(timed(cmd, environ))
        for label, runs in results.items():
            median = statistics.median(t for t, _ in runs)
            rss = max(m for _, m in runs)
            rows.append((n, label, median, rss))
    header = ("N", "tool", "median (s)", "ms per 1000", "peak RSS", "KiB/dist")
    print("{:>6}  {:22} {:>10} {:>12} {:>10} {:>9}".format(*header))
    for n, label, median, rss in rows:
        print(
            f"{n:>6}  {label:22} {median:>10.3f} {median * 1e6 / n:>12.1f} "
            f"{rss / 1024:>8.1f} MB {rss / n:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
