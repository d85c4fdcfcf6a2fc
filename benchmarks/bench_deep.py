#!/usr/bin/env python3
"""Benchmark ``pkgdoctor check --deep`` (hashing every RECORD entry) against ``sha256sum``.

Run it by hand from the dev venv (it is not a pytest test)::

    .venv/bin/python benchmarks/bench_deep.py              # build (first time) and time
    .venv/bin/python benchmarks/bench_deep.py --executors  # also: threads vs processes

The environment is built once under ``benchmarks/.work/deep-env`` and reused while its marker
file matches the parameters (``--rebuild`` forces a new one). It is a real venv of the running
interpreter (``python -m venv --without-pip``) with torch 2.13.0 (the CPU build, a wheel that
lies on this machine's disk: the version is pinned with its ``+cpu`` label so that pip can
never fall back to the CUDA build and its gigabytes of ``nvidia-*`` packages), numpy, scipy,
pandas and pillow, installed with ``pip --python ENV install``.

The files are exactly those ``--deep`` hashes, read from the RECORDs by this script: rows
with a hash, but not ``.pyc`` files nor the RECORD itself. ``sha256sum`` gets the same list
through ``xargs -0``, once in one process and once with ``xargs -P $(nproc)``. Each command
runs once to warm the page cache, then ``--rounds R`` times, alternating. Reported: total
bytes and files, min and median wall time, MB/s over the median, and the ratios.
``pkgdoctor check`` without ``--deep`` is timed too: the difference is the cost of hashing.

Helpers shared with ``bench_check.py`` (running a command, a timed tool, the CPU load of
other processes) are imported from it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_check import (  # noqa: E402  (a sibling script, not a package)
    ENV_FACTS,
    TIMEOUT,
    BenchError,
    Tool,
    benchmark,
    pip_command,
    pkgdoctor_executable,
    run,
    tail,
    timing_environ,
)

DEFAULT_WORK = HERE / ".work"  # git-ignored
MARKER = "bench-deep-marker.json"  # inside the env, written last: a half-built env has none
BUILD_FORMAT = 1  # bump when the way the environment is built changes
# "+cpu": only the wheel on this machine's disk has it; a plain "==2.13.0" could resolve to
# the registry's CUDA build, which pulls several GB of nvidia-* wheels.
PACKAGES = ("torch==2.13.0+cpu", "numpy", "scipy", "pandas", "pillow")
CHUNK = 1 << 20  # read size of the process-pool hasher (as pkgdoctor's)


def say(message: str) -> None:
    """Progress goes to stderr, so that ``--json`` keeps stdout for the document."""
    print(f"bench_deep: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Work:
    root: Path

    @property
    def env(self) -> Path:
        return self.root / "deep-env"

    @property
    def file_list(self) -> Path:
        """The hashed files, NUL-separated, for ``xargs -0 -a``."""
        return self.root / "deep-files.bin"

    @property
    def pycache(self) -> Path:
        return self.root / "pycache"


# --------------------------------------------------------------------------- environment


def marker() -> dict[str, Any]:
    return {
        "format": BUILD_FORMAT,
        "python": sys.version,
        "base_executable": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        "packages": list(PACKAGES),
    }


def reusable(work: Work) -> float | None:
    """The build's duration when the existing environment matches, else None."""
    try:
        data = json.loads((work.env / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not (work.env / "bin" / "python").exists():
        return None
    if any(data.get(key) != value for key, value in marker().items()):
        return None
    return float(data.get("build_seconds", 0.0))


def build_env(work: Work) -> float:
    start = time.perf_counter()
    if work.env.exists():
        say(f"removing {work.env}")
        run(["rm", "-rf", str(work.env)], "removing the old environment")
    work.root.mkdir(parents=True, exist_ok=True)
    say(f"creating {work.env}")
    run([sys.executable, "-m", "venv", "--without-pip", str(work.env)], "python -m venv")
    pip = [*pip_command(), "--python", str(work.env / "bin" / "python")]
    say(f"installing {' '.join(PACKAGES)} (torch is ~190 MB; a few minutes the first time) ...")
    run([*pip, "install", "--only-binary=:all:", *PACKAGES], "pip install")
    seconds = time.perf_counter() - start
    run(["sync"], "sync")  # write-back of ~1 GB must not slow the first timed rounds
    (work.env / MARKER).write_text(json.dumps({**marker(), "build_seconds": seconds}), "utf-8")
    say(f"built in {seconds:.1f} s")
    return seconds


def env_facts(env: Path) -> dict[str, Any]:
    proc = run([str(env / "bin" / "python"), "-c", ENV_FACTS], "querying the environment")
    facts: dict[str, Any] = json.loads(proc.stdout)
    return facts


@dataclass(frozen=True)
class HashedFile:
    path: str
    size: int
    recorded: str  # "sha256=..." as in the RECORD


def hashed_files(facts: dict[str, Any]) -> list[HashedFile]:
    """Every file ``--deep`` hashes, in RECORD order: hashed rows, no .pyc, no RECORD."""
    files: list[HashedFile] = []
    seen: set[str] = set()
    for site in dict.fromkeys((facts["purelib"], facts["platlib"])):
        for record in sorted(Path(site).glob("*.dist-info/RECORD")):
            with record.open(newline="", encoding="utf-8") as stream:
                rows = list(csv.reader(stream))
            for row in rows:
                if len(row) < 2 or not row[1] or row[0].endswith(".pyc"):
                    continue
                path = os.path.normpath(os.path.join(site, row[0]))
                if path == str(record) or path in seen or not os.path.isfile(path):
                    continue
                seen.add(path)
                files.append(HashedFile(path, os.path.getsize(path), row[1]))
    if not files:
        raise BenchError(f"no hashed RECORD entries under {facts['purelib']} (try --rebuild)")
    return files


# --------------------------------------------------------------------------- in-process


def hash_path(path: str) -> str:
    """sha256 of one file in 1 MiB chunks: the process-pool worker."""
    hasher = hashlib.sha256()
    with open(path, "rb", buffering=0) as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def executors(files: list[HashedFile], rounds: int) -> dict[str, dict[str, Any]]:
    """Hash the files in this process: pkgdoctor's threads (all cores, one) vs processes."""
    from pkgdoctor.inventory import Distribution, RecordEntry
    from pkgdoctor.look.records import HashJob, hash_files

    dist = Distribution("bench", "0", "/nonexistent.dist-info", "/")
    jobs = [HashJob(dist, RecordEntry(f.path, f.recorded, f.size), f.path, f.size) for f in files]
    paths = [f.path for f in sorted(files, key=lambda f: f.size, reverse=True)]
    cores = os.cpu_count() or 1

    def threads() -> None:
        results = hash_files(jobs)
        bad = [r.job.path for r in results if not r.matches]
        if bad:
            raise BenchError(f"{len(bad)} files do not match their RECORD, e.g. {bad[0]}")

    def one_thread() -> None:
        hash_files(jobs, workers=1)

    def processes() -> None:
        with ProcessPoolExecutor(max_workers=cores) as pool:
            list(pool.map(hash_path, paths, chunksize=16))

    variants = {
        f"threads ({cores}, pkgdoctor's hash_files)": threads,
        "one thread (hash_files, workers=1)": one_thread,
        f"processes ({cores}, ProcessPoolExecutor, chunksize 16)": processes,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for name, variant in variants.items():
        say(f"warm-up: {name}")
        variant()
    for r in range(rounds):
        say(f"executors: round {r + 1}/{rounds}")
        for name, variant in variants.items():
            start = time.perf_counter()
            variant()
            times[name].append(time.perf_counter() - start)
    return {
        name: {"runs": len(t), "min": min(t), "median": statistics.median(t), "times": t}
        for name, t in times.items()
    }


# --------------------------------------------------------------------------- timing


def deep_report(tool: Tool, environ: dict[str, str]) -> dict[str, Any]:
    """One ``--deep --json`` run, read: the environment is healthy, so findings are news."""
    proc = subprocess.run(
        tool.command, capture_output=True, text=True, timeout=TIMEOUT, env=environ
    )
    if proc.returncode not in (0, 1):
        raise BenchError(
            f"pkgdoctor check --deep failed (exit status {proc.returncode})\n" + tail(proc.stderr)
        )
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except ValueError as exc:
        raise BenchError(f"pkgdoctor check --deep --json printed no report: {exc}") from None
    return report


def rate(size: int, seconds: float | None) -> str:
    return f"{size / seconds / 1e6:8.0f}" if seconds else f"{'-':>8}"


def print_table(
    work: Work, facts: dict[str, Any], build_seconds: float, reused: bool,
    files: list[HashedFile], tools: list[Tool], hashing: set[str],
    findings: list[dict[str, Any]], other_load: float,
    executor_times: dict[str, dict[str, Any]] | None,
) -> None:  # fmt: skip
    total = sum(f.size for f in files)
    largest = max(files, key=lambda f: f.size)
    built = "reused, built earlier in" if reused else "built in"
    cores = os.cpu_count()
    print(f"environment  {work.env}  ({built} {build_seconds:.1f} s)")
    print(f"  python {facts['version']}: {', '.join(PACKAGES)} and their dependencies")
    print(f"  hashed RECORD entries: {len(files)} files, {total / 1e6:.1f} MB")
    print(f"  largest: {os.path.basename(largest.path)} ({largest.size / 1e6:.1f} MB)")
    print()
    width = max(len(t.label) for t in tools)
    print(f"{'command':<{width}}  {'runs':>4}  {'min (s)':>8}  {'median (s)':>10}  {'MB/s':>8}")
    for tool in tools:
        s = tool.summary()
        speed = rate(total, s["median"]) if tool.key in hashing else f"{'-':>8}"
        times = f"{s['runs']:>4}  {s['min']:>8.3f}  {s['median']:>10.3f}"
        print(f"{tool.label:<{width}}  {times}  {speed}")
    print("(MB/s: hashed bytes / median wall time; start-up and the other checks included)")
    print()
    median = {t.key: statistics.median(t.times) for t in tools}
    deep = median["deep"]
    hashing_alone = max(deep - median["plain"], 1e-9)
    print(f"sha256sum in 1 process / pkgdoctor --deep (median):  {median['sha1'] / deep:.2f}x")
    print(f"sha256sum, xargs -P {cores} / pkgdoctor --deep (median): {median['shaP'] / deep:.2f}x")
    print(
        f"hashing alone (--deep minus plain check): {hashing_alone:.3f} s, "
        f"{total / hashing_alone / 1e6:.0f} MB/s"
    )
    errors = sum(1 for f in findings if f.get("severity") == "error")
    print(
        f"pkgdoctor --deep findings on this healthy environment: {len(findings)} ({errors} errors)"
    )
    busy = "  - the machine was busy: timings are noisy" if other_load > 0.1 else ""
    print(f"CPU used by other processes while timing: {other_load:.0%} of {cores} cores{busy}")
    if executor_times:
        print()
        print("in-process hashing of the same files (no start-up, no other checks):")
        w = max(len(k) for k in executor_times)
        for name, t in executor_times.items():
            speed = rate(total, t["median"]).strip()
            print(f"  {name:<{w}}  min {t['min']:.3f} s  median {t['median']:.3f} s  {speed} MB/s")


# --------------------------------------------------------------------------- main


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_deep.py",
        description="""\
Time 'pkgdoctor check --prefix ENV --deep --json' against sha256sum over exactly the
files --deep hashes (the RECORD entries with a hash, .pyc and RECORD left out), given
to sha256sum through xargs -0 in one process and with xargs -P $(nproc). ENV is a venv
of this python under benchmarks/.work/deep-env with torch 2.13.0 (CPU build), numpy,
scipy, pandas and pillow: about 1 GB in some 20,000 hashed files.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""\
how to read the output:
  min and median are wall-clock seconds of one whole command (start-up included), over
  R alternating runs after one warm-up each, with a warm page cache: this measures
  hashing speed, not the disk. MB/s is hashed bytes / median. A ratio above 1x means
  pkgdoctor --deep is faster than that sha256sum command. 'pkgdoctor check' without
  --deep is timed too: the difference is what hashing costs. One file (libtorch_cpu.so,
  hundreds of MB) can only be hashed on one core, by any tool: it bounds the wall time.
  With --executors the same files are also hashed inside this process with pkgdoctor's
  threads, one thread, and a process pool, to show which executor is faster.

examples:
  .venv/bin/python benchmarks/bench_deep.py                 build (first time) and time
  .venv/bin/python benchmarks/bench_deep.py --rounds 9 --executors
  .venv/bin/python benchmarks/bench_deep.py --json          one JSON document on stdout

the first build installs ~400 MB of wheels (torch from this machine's disk, the rest
from the package registry) and takes a few minutes; later runs reuse the environment
while its marker matches. exit status: 0 done (findings are printed), 2 failure.""",
    )
    parser.add_argument(
        "--rounds", type=positive, default=5, metavar="R",
        help="timed runs of each command, after one warm-up (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--xargs-n", type=positive, default=256, metavar="N",
        help="files per sha256sum process with xargs -P (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--executors", action="store_true",
        help="also hash in-process: threads (pkgdoctor's) vs one thread vs processes",
    )  # fmt: skip
    parser.add_argument(
        "--rebuild", action="store_true", help="build the environment anew even if it matches"
    )
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON document with every timing instead of the table",
    )  # fmt: skip
    parser.add_argument(
        "--work-dir", default=str(DEFAULT_WORK), metavar="DIR",
        help="where the environment and the file list go (default: benchmarks/.work)",
    )  # fmt: skip
    parser.add_argument(
        "--pkgdoctor", metavar="PATH",
        help="the pkgdoctor executable to time (default: the one beside this python)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return bench(args)
    except BenchError as exc:
        print(f"bench_deep: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench_deep: interrupted", file=sys.stderr)
        return 130


def bench(args: argparse.Namespace) -> int:
    if not sys.platform.startswith("linux"):
        raise BenchError(f"this benchmark needs Linux (sha256sum, xargs), not {sys.platform}")
    for tool in ("sha256sum", "xargs"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            raise BenchError(f"{tool} not found on PATH (apt-get install coreutils findutils)")
    work = Work(Path(args.work_dir).resolve())
    pkgdoctor = pkgdoctor_executable(args.pkgdoctor)
    build_seconds = None if args.rebuild else reusable(work)
    reused = build_seconds is not None
    if build_seconds is None:
        build_seconds = build_env(work)
    else:
        say(f"reusing {work.env} (its marker matches; --rebuild to start over)")
    facts = env_facts(work.env)
    files = hashed_files(facts)
    work.file_list.write_bytes(b"".join(os.fsencode(f.path) + b"\0" for f in files))
    total = sum(f.size for f in files)
    say(f"{len(files)} hashed files, {total / 1e6:.1f} MB")

    environ = timing_environ(work.pycache)
    cores = str(os.cpu_count() or 1)
    listing = ["xargs", "-0", "-a", str(work.file_list)]
    deep = Tool(
        "deep", "pkgdoctor check --prefix ENV --deep --json",
        [pkgdoctor, "check", "--prefix", str(work.env), "--deep", "--json"], environ,
        ok_status=(0, 1),  # 1: it reported errors, printed below; the timing still counts
    )  # fmt: skip
    tools = [
        deep,
        Tool("sha1", "xargs -0 sha256sum", [*listing, "sha256sum"], environ),
        Tool(
            "shaP",
            f"xargs -0 -P {cores} -n {args.xargs_n} sha256sum",
            [*listing, "-P", cores, "-n", str(args.xargs_n), "sha256sum"],
            environ,
        ),
        Tool(
            "plain",
            "pkgdoctor check --prefix ENV --json (no --deep)",
            [pkgdoctor, "check", "--prefix", str(work.env), "--json"],
            environ,
            ok_status=(0, 1),
        ),
    ]
    report = deep_report(deep, environ)
    findings: list[dict[str, Any]] = list(report.get("findings", []))
    for finding in findings:
        severity, code = finding.get("severity"), finding.get("code")
        say(f"  finding [{severity}] {code}: {finding.get('message')}")
    examined = report.get("examined", {}).get("Integrity")
    say(f"pkgdoctor examined {examined} RECORD entries")
    other_load = benchmark(tools, args.rounds)
    executor_times = executors(files, args.rounds) if args.executors else None

    if args.json:
        document = {
            "benchmark": "deep",
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "cpu_share_used_by_other_processes": round(other_load, 3),
            },
            "environment": {
                "path": str(work.env),
                "python": facts["version"],
                "packages": list(PACKAGES),
                "reused": reused,
                "build_seconds": round(build_seconds, 1),
                "hashed_files": len(files),
                "hashed_bytes": total,
                "pkgdoctor_examined_record_entries": examined,
            },
            "tools": {t.key: {**t.summary(), "label": t.label} for t in tools},
            "executors": executor_times,
            "pkgdoctor_findings": findings,
        }
        print(json.dumps(document, indent=2))
    else:
        print_table(
            work, facts, build_seconds, reused, files, tools, {"deep", "sha1", "shaP"},
            findings, other_load, executor_times,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
