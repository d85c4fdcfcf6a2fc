#!/usr/bin/env python3
"""Benchmark ``pkgdoctor check`` against ``pip check`` on one large, realistic environment.

Run it by hand from the dev venv (it is not a pytest test)::

    .venv/bin/python benchmarks/bench_check.py            # full: real wheels + synthetic layer
    .venv/bin/python benchmarks/bench_check.py --no-real  # quick: synthetic layer only

The environment is built once under ``benchmarks/.work/check-env`` and reused while its marker
file matches the parameters (``--rebuild`` forces a new one). It is a real venv of the running
interpreter (``python -m venv --without-pip``) holding two layers:

* real wheels from the package registry, installed with pip (numpy, pandas, pillow, lxml,
  cryptography, h5py, aiohttp, pydantic, ... and what pip resolves for them), plus pip
  itself so that ``ENV/bin/python -m pip check`` can run as a user would run it;
* ``--synthetic N`` distributions ``synthpkgNNN``, each with a ``*.dist-info`` (METADATA with
  ``Requires-Dist`` lines, INSTALLER, WHEEL, RECORD with sha256 hashes) and ``--modules-per-
  package K`` real ELF extension modules compiled with gcc; every 5th one also bundles
  ``synthpkgNNN.libs/libsynthNNN.so``, found through ``RUNPATH $ORIGIN/../synthpkgNNN.libs``.

Each tool is then run once to warm up and ``--rounds R`` times, alternating (pkgdoctor, pip,
[uv], pkgdoctor, pip, ...) so that drift hits all of them alike. Reported: min and median wall
time per tool and the ratio median(pip check) / median(pkgdoctor check); above 1 means
pkgdoctor is faster. The timed commands run with cached bytecode, as installed tools do (see
``timing_environ``): PYTHONDONTWRITEBYTECODE is dropped and PYTHONPYCACHEPREFIX points into
the work directory.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_WORK = HERE / ".work"  # git-ignored
MARKER = "bench-check-marker.json"  # inside the env, written last: a half-built env has none
BUILD_FORMAT = 1  # bump when the way the environment is built changes
TARGET = 2.0  # issue 3: a full check at least twice as fast as pip check (the aim is 10x)

# The registry layer: packages with compiled extensions (and their dependencies), chosen so
# that the whole download stays under 100 MB (~99 MB when written). Left out for their size:
# scipy (~35 MB), pyarrow (~40 MB), llvmlite, torch; sqlalchemy and brotli to stay under 100.
REAL_PACKAGES = (
    "numpy", "pandas", "pillow", "matplotlib", "lxml", "cryptography", "h5py", "shapely",
    "pycryptodome", "pyyaml", "msgpack", "orjson", "ujson", "simplejson", "markupsafe",
    "jinja2", "requests", "charset-normalizer", "aiohttp", "frozenlist", "multidict", "yarl",
    "pydantic", "pydantic-core", "regex", "psutil", "cffi", "greenlet", "lz4", "protobuf",
    "kiwisolver", "contourpy", "fonttools", "pyzmq", "tornado", "websockets", "httptools",
    "watchfiles", "bcrypt", "pynacl", "rpds-py", "jsonschema", "xxhash", "mmh3", "bitarray",
    "ruamel.yaml", "wrapt", "httpx", "click", "rich", "flask", "pytest", "tqdm", "joblib",
    "threadpoolctl", "platformdirs", "filelock", "fsspec",
)  # fmt: skip
# Real distributions the synthetic ones may require (those that ended up installed).
REQUIRABLE = (
    "numpy", "requests", "jinja2", "attrs", "click", "packaging", "pyyaml", "idna",
    "typing-extensions", "urllib3", "markupsafe", "six", "certifi", "pydantic", "rich",
)  # fmt: skip
LIB_EVERY = 5  # every 5th synthetic package bundles a shared library
TIMEOUT = 900.0  # seconds, for any one command

EXT_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define STR(a) #a
#define XSTR(a) STR(a)

#ifdef SYNTH_LIB
extern long synth_lib_value(void);
#endif

static PyObject *value(PyObject *self, PyObject *unused) {
#ifdef SYNTH_LIB
    return PyLong_FromLong(synth_lib_value());
#else
    return PyLong_FromLong(-1);
#endif
}

static PyMethodDef methods[] = {
    {"value", value, METH_NOARGS, "The bundled library's number, or -1 without one."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, XSTR(MODNAME), "pkgdoctor benchmark module", -1, methods,
};

PyMODINIT_FUNC XCAT(PyInit_, MODNAME)(void) { return PyModule_Create(&module); }
"""

LIB_SOURCE = r"""
long synth_lib_value(void) { return LIB_VALUE; }
"""

CHECK_IMPORTS = r"""
import importlib, json, sys
failures = []
for name, expected in json.loads(sys.argv[1]):
    try:
        got = importlib.import_module(name).value()
    except Exception as exc:
        failures.append(f"{name}: {type(exc).__name__}: {exc}")
        continue
    if got != expected:
        failures.append(f"{name}: value() is {got}, expected {expected}")
print(json.dumps(failures))
"""

ENV_FACTS = r"""
import importlib.machinery, json, sys, sysconfig
paths = sysconfig.get_paths()
print(json.dumps({
    "version": sys.version.split()[0],
    "purelib": paths["purelib"],
    "platlib": paths["platlib"],
    "include": paths["include"],
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
    "extension_suffixes": importlib.machinery.EXTENSION_SUFFIXES,
    "platform": sysconfig.get_platform(),
    "cache_tag": sys.implementation.cache_tag,
}))
"""


class BenchError(Exception):
    """A failure that ends the benchmark: its first line is the one-line reason."""


@dataclass(frozen=True)
class Work:
    """Where everything the benchmark makes lives (``--work-dir``, default benchmarks/.work)."""

    root: Path

    @property
    def env(self) -> Path:
        return self.root / "check-env"

    @property
    def wheels(self) -> Path:
        """Downloaded wheels, kept across rebuilds."""
        return self.root / "wheels"

    @property
    def build(self) -> Path:
        """C sources and compiled objects of the synthetic layer."""
        return self.root / "build"

    @property
    def pycache(self) -> Path:
        """PYTHONPYCACHEPREFIX of the timed commands."""
        return self.root / "pycache"


def say(message: str) -> None:
    """Progress goes to stderr, so that ``--json`` keeps stdout for the document."""
    print(f"bench_check: {message}", file=sys.stderr, flush=True)


def tail(text: str, lines: int = 25) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept)


def build_environ() -> dict[str, str]:
    """The environment of the build's commands: without PYTHONPYCACHEPREFIX, with which pip
    would compile the environment's bytecode under that prefix and list it in RECORD as files
    outside the environment (a real layout, but not the self-contained environment this
    benchmark describes)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}


def run(cmd: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; on failure raise with ``what`` and the tail of the command's own message."""
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=TIMEOUT, env=build_environ()
        )
    except FileNotFoundError:
        raise BenchError(f"{what} failed: {cmd[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what} failed: no answer after {TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        raise BenchError(
            f"{what} failed (exit status {proc.returncode}): {' '.join(cmd)}\n"
            + tail(proc.stderr + proc.stdout)
        )
    return proc


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Params:
    synthetic: int
    modules_per_package: int
    real: bool

    def marker(self) -> dict[str, Any]:
        """What a reusable environment's marker must say, field for field."""
        return {
            "format": BUILD_FORMAT,
            "python": sys.version,
            "base_executable": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
            "synthetic": self.synthetic,
            "modules_per_package": self.modules_per_package,
            "real_packages": sorted(REAL_PACKAGES) if self.real else [],
        }


@dataclass
class BuildInfo:
    reused: bool
    seconds: float  # the build's own duration, also when the environment was reused
    download_bytes: int  # the wheels installed from the registry layer (pip's included)
    wheels: int
    real_distributions: dict[str, str] = field(default_factory=dict)  # name -> version


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def env_facts(env: Path) -> dict[str, Any]:
    proc = run([str(env_python(env)), "-c", ENV_FACTS], "querying the environment's python")
    facts: dict[str, Any] = json.loads(proc.stdout)
    return facts


def read_marker(env: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((env / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def reusable(env: Path, params: Params) -> BuildInfo | None:
    marker = read_marker(env)
    if marker is None or not env_python(env).exists():
        return None
    if any(marker.get(key) != value for key, value in params.marker().items()):
        return None
    return BuildInfo(
        reused=True,
        seconds=float(marker.get("build_seconds", 0.0)),
        download_bytes=int(marker.get("download_bytes", 0)),
        wheels=int(marker.get("wheels", 0)),
        real_distributions=dict(marker.get("real_distributions", {})),
    )


# --------------------------------------------------------------------------- registry layer


def pip_command() -> list[str]:
    """A pip >= 22.3 (for ``--python``) to drive the build: this python's, or the dev venv's."""
    candidates = [sys.executable, str(REPO / ".venv" / "bin" / "python")]
    for python in dict.fromkeys(candidates):
        try:
            proc = subprocess.run(
                [python, "-m", "pip", "--version"], capture_output=True, text=True, timeout=60
            )
        except OSError:
            continue
        match = re.match(r"pip (\d+)\.(\d+)", proc.stdout)
        if proc.returncode == 0 and match and (int(match[1]), int(match[2])) >= (22, 3):
            return [python, "-m", "pip"]
    raise BenchError(
        "no pip >= 22.3 found (needed for 'pip --python'): run this script with the dev "
        "venv's python, e.g. .venv/bin/python benchmarks/bench_check.py"
    )


def install_registry_layer(work: Work, params: Params) -> BuildInfo:
    """Install the wheels into ``env`` from .work/wheels, downloading them first if need be.

    A rebuild installs from the cached wheels without asking the registry (same versions,
    no download); only when they do not satisfy the list is ``pip download`` run. pip itself
    always goes in, so that ``ENV/bin/python -m pip check`` works.
    """
    pip = [*pip_command(), "--python", str(env_python(work.env))]
    packages = [*REAL_PACKAGES, "pip"] if params.real else ["pip"]
    report = work.root / "install-report.json"
    install = [
        *pip, "install", "--no-index", "--find-links", str(work.wheels),
        "--only-binary=:all:", "--report", str(report), *packages,
    ]  # fmt: skip
    work.wheels.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if any(work.wheels.glob("*.whl")):
        say(f"installing {len(packages)} packages from the cached wheels in {work.wheels} ...")
        cached = subprocess.run(
            install, capture_output=True, text=True, timeout=TIMEOUT, env=build_environ()
        )
        if cached.returncode == 0:
            say(f"installed in {time.perf_counter() - start:.1f} s")
        else:
            say("the cached wheels do not satisfy the list: downloading")
    if not report.exists():
        say(f"downloading {len(packages)} packages and their dependencies into {work.wheels} ...")
        run(
            [*pip, "download", "--only-binary=:all:", "--dest", str(work.wheels), *packages],
            "pip download (the registry layer)",
        )
        say(f"downloaded in {time.perf_counter() - start:.1f} s; installing them with pip ...")
        start = time.perf_counter()
        run(install, "pip install (the registry layer)")
        say(f"installed in {time.perf_counter() - start:.1f} s")
    installed = json.loads(report.read_text("utf-8")).get("install", [])
    report.unlink()
    size = 0
    versions: dict[str, str] = {}
    for item in installed:
        url = item.get("download_info", {}).get("url", "")
        if url.startswith("file:"):
            size += os.path.getsize(unquote(urlparse(url).path))
        metadata = item.get("metadata", {})
        versions[normalize(metadata.get("name", "?"))] = metadata.get("version", "?")
    return BuildInfo(False, 0.0, size, len(installed), versions)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------- synthetic layer


def compiler() -> str:
    cc = os.environ.get("CC", "gcc").split()[0]
    if shutil.which(cc) is None:
        raise BenchError(
            f"{cc} not found on PATH: the synthetic layer compiles a tiny C extension "
            "(apt-get install gcc, or set CC), or skip it with --synthetic 0"
        )
    return cc


def compile_all(jobs: list[list[str]]) -> None:
    """Run the compiler commands, as many at once as there are cores."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for future in [pool.submit(run, job, "compiling the synthetic extension") for job in jobs]:
            future.result()


def synth_name(i: int) -> str:
    return f"synthpkg{i:03d}"


def synth_version(i: int) -> str:
    return f"1.{i % 10}.{i}"


def requirements(i: int, n: int, real: dict[str, str]) -> list[str]:
    """Requires-Dist lines: two synthetic siblings, one real dist, an extra, a marker."""
    reqs = []
    for j in dict.fromkeys(((i + 1) % n, (i * 7 + 3) % n)):
        if j != i:
            reqs.append(f"{synth_name(j)}>=1.0,<2")
    requirable = [name for name in REQUIRABLE if name in real]
    if requirable:
        name = requirable[i % len(requirable)]
        major = re.match(r"\d+", real[name])
        reqs.append(f"{name}>={major[0] if major else 0}")
    if "pytest" in real:
        reqs.append('pytest>=7; extra == "test"')
    reqs.append('pywin32>=300; sys_platform == "win32"')
    return reqs


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def build_synthetic_layer(
    work: Work, facts: dict[str, Any], params: Params, real: dict[str, str]
) -> None:
    n, k = params.synthetic, params.modules_per_package
    if n == 0:
        return
    cc = compiler()
    include = Path(facts["include"])
    if not (include / "Python.h").exists():
        raise BenchError(f"Python.h not found in {include}: install this Python's headers")
    site = Path(facts["platlib"])
    ext_suffix: str = facts["ext_suffix"]
    if work.build.exists():
        shutil.rmtree(work.build)
    work.build.mkdir(parents=True)
    (work.build / "ext.c").write_text(EXT_SOURCE, "utf-8")
    (work.build / "lib.c").write_text(LIB_SOURCE, "utf-8")
    cflags = ["-shared", "-fPIC", "-O2", f"-I{include}"]
    with_lib = [i for i in range(n) if i % LIB_EVERY == 0] if k else []

    # One plain extension per module name (PyInit_modJ must match), shared by every package.
    say(f"compiling {k} extension modules and {len(with_lib)} bundled libraries with {cc} ...")
    ext_c, lib_c = str(work.build / "ext.c"), str(work.build / "lib.c")
    jobs = [
        [cc, *cflags, f"-DMODNAME=mod{j}", "-o", str(work.build / f"mod{j}.so"), ext_c]
        for j in range(k)
    ]
    for i in with_lib:
        jobs.append(
            [cc, "-shared", "-fPIC", "-O2", f"-DLIB_VALUE={i}", f"-Wl,-soname,libsynth{i:03d}.so",
             "-o", str(work.build / f"libsynth{i:03d}.so"), lib_c]
        )  # fmt: skip
    compile_all(jobs)
    # The packages with a library get their own mod0, linked to it through RUNPATH.
    jobs = []
    for i in with_lib:
        jobs.append(
            [cc, *cflags, "-DMODNAME=mod0", "-DSYNTH_LIB", "-o",
             str(work.build / f"mod0-lib{i:03d}.so"), ext_c,
             f"-L{work.build}", "-Wl,--no-as-needed", f"-lsynth{i:03d}",
             f"-Wl,-rpath,$ORIGIN/../{synth_name(i)}.libs", "-Wl,--enable-new-dtags"]
        )  # fmt: skip
    compile_all(jobs)

    say(f"writing {n} synthetic distributions into {site} ...")
    tag = "cp{}{}".format(*sys.version_info[:2])
    wheel_tag = f"{tag}-{tag}-" + re.sub(r"[-.]", "_", facts["platform"])
    for i in range(n):
        name, version = synth_name(i), synth_version(i)
        pkg = site / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text(
            f'"""Synthetic package {i} of pkgdoctor\'s check benchmark."""\n\n'
            f'__version__ = "{version}"\n',
            "utf-8",
        )
        for j in range(k):
            source = f"mod0-lib{i:03d}.so" if (j == 0 and i in with_lib) else f"mod{j}.so"
            shutil.copyfile(work.build / source, pkg / f"mod{j}{ext_suffix}")
        if i in with_lib:
            libs = site / f"{name}.libs"
            libs.mkdir()
            shutil.copyfile(work.build / f"libsynth{i:03d}.so", libs / f"libsynth{i:03d}.so")
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        meta = [
            "Metadata-Version: 2.1",
            f"Name: {name}",
            f"Version: {version}",
            f"Summary: Synthetic distribution {i} of pkgdoctor's check benchmark",
            "Requires-Python: >=3.8",
            "Provides-Extra: test",
        ]
        meta += [f"Requires-Dist: {req}" for req in requirements(i, n, real)]
        (info / "METADATA").write_text("\n".join(meta) + "\n\n", "utf-8")
        (info / "INSTALLER").write_text("pkgdoctor-bench\n", "utf-8")
        (info / "top_level.txt").write_text(name + "\n", "utf-8")
        (info / "WHEEL").write_text(
            "Wheel-Version: 1.0\nGenerator: bench_check\nRoot-Is-Purelib: false\n"
            f"Tag: {wheel_tag}\n",
            "utf-8",
        )
    # Byte-compile like an installer does, then record every file with its hash.
    run(
        [str(env_python(work.env)), "-m", "compileall", "-q", "-j", "0",
         *(str(site / synth_name(i)) for i in range(n))],
        "byte-compiling the synthetic packages",
    )  # fmt: skip
    for i in range(n):
        write_record(site, synth_name(i), synth_version(i))

    # A healthy environment, really: every synthetic extension module imports and works.
    expected = [
        [f"{synth_name(i)}.mod{j}", i if (j == 0 and i in with_lib) else -1]
        for i in range(n)
        for j in range(k)
    ]
    proc = run(
        [str(env_python(work.env)), "-c", CHECK_IMPORTS, json.dumps(expected)],
        "importing the synthetic extension modules",
    )
    failures = json.loads(proc.stdout)
    if failures:
        raise BenchError(
            f"{len(failures)} synthetic extension modules do not import:\n"
            + tail("\n".join(failures))
        )


def write_record(site: Path, name: str, version: str) -> None:
    info = f"{name}-{version}.dist-info"
    rows: list[tuple[str, str, str]] = []
    for top in (name, f"{name}.libs", info):
        for directory, _dirs, files in sorted(os.walk(site / top)):
            for filename in sorted(files):
                path = Path(directory) / filename
                data = path.read_bytes()
                rows.append((path.relative_to(site).as_posix(), record_hash(data), str(len(data))))
    rows.append((f"{info}/RECORD", "", ""))
    with open(site / info / "RECORD", "w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, lineterminator="\n").writerows(rows)


# --------------------------------------------------------------------------- the environment


def build_env(work: Work, params: Params) -> BuildInfo:
    start = time.perf_counter()
    env = work.env
    if params.synthetic:
        compiler()  # fail before the download, not after
    if env.exists():
        say(f"removing the old environment {env} ...")
        shutil.rmtree(env)
    env.parent.mkdir(parents=True, exist_ok=True)
    say(f"creating a venv of {sys.executable} at {env} ...")
    run([sys.executable, "-m", "venv", "--without-pip", str(env)], "python -m venv")
    info = install_registry_layer(work, params)
    facts = env_facts(env)
    build_synthetic_layer(work, facts, params, info.real_distributions)
    info.seconds = time.perf_counter() - start
    marker = {
        **params.marker(),
        "build_seconds": round(info.seconds, 1),
        "download_bytes": info.download_bytes,
        "wheels": info.wheels,
        "real_distributions": info.real_distributions,
    }
    (env / MARKER).write_text(json.dumps(marker, indent=2) + "\n", "utf-8")
    say(f"built in {info.seconds:.1f} s")
    os.sync()  # the write-back of ~500 MB just written would slow the first timed rounds
    return info


@dataclass(frozen=True)
class Counts:
    distributions: int  # *.dist-info directories
    extension_modules: int  # importable: identifier names in package dirs, extension suffix
    shared_objects: int  # every *.so and *.so.N file, libraries included


def count(facts: dict[str, Any]) -> Counts:
    suffixes = tuple(facts["extension_suffixes"])
    roots = list(dict.fromkeys([facts["purelib"], facts["platlib"]]))
    dists = sum(1 for root in roots for e in os.scandir(root) if e.name.endswith(".dist-info"))
    modules = shared = 0
    for root in roots:
        for directory, dirs, files in os.walk(root):
            rel = os.path.relpath(directory, root)
            importable = rel == "." or all(part.isidentifier() for part in rel.split(os.sep))
            for filename in files:
                if re.search(r"\.so(\.\d+)*$", filename):
                    shared += 1
                stem = filename.partition(".")[0]
                if importable and stem.isidentifier() and filename.endswith(suffixes):
                    modules += 1
            dirs.sort()
    return Counts(dists, modules, shared)


# --------------------------------------------------------------------------- timing


@dataclass
class Tool:
    key: str
    label: str
    command: list[str]
    environ: dict[str, str] = field(default_factory=dict)
    ok_status: tuple[int, ...] = (0,)
    times: list[float] = field(default_factory=list)
    note: str = ""

    def once(self) -> subprocess.CompletedProcess[str]:
        start = time.perf_counter()
        proc = subprocess.run(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            timeout=TIMEOUT, env=self.environ,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        if proc.returncode not in self.ok_status:
            raise BenchError(
                f"{self.label} exited with status {proc.returncode}: {' '.join(self.command)}\n"
                + tail(proc.stderr)
            )
        self.times.append(elapsed)
        return proc

    def summary(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "runs": len(self.times),
            "times": [round(t, 4) for t in self.times],
            "min": min(self.times) if self.times else None,
            "median": statistics.median(self.times) if self.times else None,
            "note": self.note or None,
        }


def timing_environ(pycache: Path) -> dict[str, str]:
    """The environment every timed command runs in: bytecode cached, as for installed tools.

    A shell with PYTHONDONTWRITEBYTECODE=1 would make an editable pkgdoctor (no ``.pyc`` next
    to its sources) compile every module on each run, while pip in ENV reads the ``.pyc``
    files its installer wrote: ~50 ms of unfairness. So that variable is dropped and all
    bytecode of every tool goes to ``.work/pycache`` (PYTHONPYCACHEPREFIX), written by the
    warm-up runs and read by the timed ones, without writing into the source tree.
    """
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environ["PYTHONPYCACHEPREFIX"] = str(pycache)
    return environ


def pkgdoctor_executable(option: str | None) -> str:
    if option:
        return option
    for candidate in (
        Path(sys.executable).with_name("pkgdoctor"),
        REPO / ".venv" / "bin" / "pkgdoctor",
    ):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("pkgdoctor")
    if found is None:
        raise BenchError("pkgdoctor not found: install it (pip install -e .) or pass --pkgdoctor")
    return found


def pkgdoctor_report(pkgdoctor: str, work: Work) -> dict[str, Any]:
    """The warm-up run, read: every finding pkgdoctor reports on the (healthy) environment,
    and what it says it examined."""
    cmd = [pkgdoctor, "check", "--prefix", str(work.env), "--json", "--fail-on", "info"]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=TIMEOUT, env=timing_environ(work.pycache)
    )
    if proc.returncode not in (0, 1):
        raise BenchError(
            f"pkgdoctor check failed (exit status {proc.returncode}): {' '.join(cmd)}\n"
            + tail(proc.stderr)
        )
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
        report["findings"] = list(report["findings"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"pkgdoctor check --json printed no report: {exc}") from None
    return report


def show_findings(findings: list[dict[str, Any]]) -> None:
    errors = [f for f in findings if f.get("severity") == "error"]
    say(
        f"pkgdoctor reports {len(findings)} findings ({len(errors)} errors) on this healthy "
        "environment" + (":" if findings else ".")
    )
    for finding in findings:
        evidence = json.dumps(finding.get("evidence"), sort_keys=True)
        if len(evidence) > 400:
            evidence = evidence[:400] + " ..."
        say(f"  [{finding.get('severity')}] {finding.get('code')}: {finding.get('message')}")
        say(f"      path: {finding.get('path')}  distribution: {finding.get('distribution')}")
        say(f"      evidence: {evidence}")
    if errors:
        say("  each error above is a false positive: the environment is healthy (a pkgdoctor bug)")


def cpu_seconds() -> tuple[float, float, float]:
    """(wall clock, CPU busy on the whole machine, CPU used by our finished children)."""
    busy = 0.0
    try:
        with open("/proc/stat", encoding="ascii") as stream:
            fields = [int(x) for x in stream.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal: all but idle and iowait
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        busy = float("nan")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), busy, children.ru_utime + children.ru_stime


def benchmark(tools: list[Tool], rounds: int) -> float:
    """Warm up, then time ``rounds`` alternating rounds; return the share of the machine's CPU
    that other processes used meanwhile (0.0 quiet; 0.5 = one of two cores busy elsewhere)."""
    for tool in tools:
        say(f"warm-up: {tool.label}")
        tool.once()
        tool.times.clear()
    wall0, busy0, ours0 = cpu_seconds()
    for r in range(rounds):
        say(f"round {r + 1}/{rounds}")
        for tool in tools:
            tool.once()
    wall1, busy1, ours1 = cpu_seconds()
    others = (busy1 - busy0) - (ours1 - ours0)
    return max(0.0, others) / ((wall1 - wall0) * (os.cpu_count() or 1))


# --------------------------------------------------------------------------- output


def human_bytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def print_table(
    env: Path, facts: dict[str, Any], counts: Counts, build: BuildInfo, tools: list[Tool],
    skipped: list[Tool], ratios: tuple[float, float], findings: list[dict[str, Any]],
    other_load: float, examined: int | None,
) -> None:  # fmt: skip
    built = "reused, built earlier in" if build.reused else "built in"
    print(f"environment  {env}  ({built} {build.seconds:.1f} s)")
    print(
        f"  python {facts['version']}: {counts.distributions} distributions, "
        f"{counts.extension_modules} extension modules, {counts.shared_objects} .so files"
    )
    print(f"  registry layer: {build.wheels} wheels, {human_bytes(build.download_bytes)}")
    print()
    width = max(len(t.label) for t in [*tools, *skipped])
    print(f"{'tool':<{width}}  {'runs':>4}  {'min (s)':>8}  {'median (s)':>10}")
    for tool in tools:
        summary = tool.summary()
        print(
            f"{tool.label:<{width}}  {summary['runs']:>4}  {summary['min']:>8.3f}  "
            f"{summary['median']:>10.3f}"
        )
    for tool in skipped:
        print(f"{tool.label:<{width}}  {'-':>4}  {tool.note}")
    print()
    ratio, cold_ratio = ratios
    target = "met" if ratio >= TARGET else "NOT met"
    print(
        f"pip check / pkgdoctor check (median): {ratio:.2f}x with the cache warm "
        f"(target >= {TARGET:g}x: {target}), {cold_ratio:.2f}x with --no-cache"
    )
    uv = next((t for t in tools if t.key == "uv"), None)
    if uv is not None:
        uv_ratio = statistics.median(uv.times) / statistics.median(tools[0].times)
        print(f"uv pip check / pkgdoctor check (median): {uv_ratio:.2f}x")
    errors = sum(1 for f in findings if f.get("severity") == "error")
    print(f"pkgdoctor findings on this healthy environment: {len(findings)} ({errors} errors)")
    if examined is not None:
        print(f"pkgdoctor says it examined {examined} extension modules")
    busy = "  - the machine was busy: timings are noisy" if other_load > 0.1 else ""
    print(
        f"CPU used by other processes while timing: {other_load:.0%} of {os.cpu_count()} "
        f"cores{busy}"
    )


# --------------------------------------------------------------------------- main


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_check.py",
        description="""\
Time 'pkgdoctor check --prefix ENV --json' against 'ENV/bin/python -m pip check'
(and 'uv pip check' when uv is on PATH) on a large, healthy environment built under
benchmarks/.work/check-env: a venv of this python holding real wheels from the
package registry plus N synthetic distributions with real ELF extension modules
(every 5th bundling a library found through RUNPATH $ORIGIN/../NAME.libs).""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""\
how to read the output:
  min and median are wall-clock seconds of one whole command (interpreter start-up
  included), over R alternating runs after one warm-up each. The ratio is
  median(pip check) / median(pkgdoctor check): above 1x pkgdoctor is faster. The
  environment is healthy, so any pkgdoctor finding printed is a false positive.
  Timed commands run with bytecode cached under WORK/pycache (PYTHONPYCACHEPREFIX;
  PYTHONDONTWRITEBYTECODE is dropped), as installed tools run. The share of CPU
  that other processes used while timing is printed: above 10% the numbers are noisy.

examples:
  .venv/bin/python benchmarks/bench_check.py                 build (first time) and time
  .venv/bin/python benchmarks/bench_check.py --no-real       quick: synthetic layer only
  .venv/bin/python benchmarks/bench_check.py --synthetic 400 --rounds 11 --json
  .venv/bin/python benchmarks/bench_check.py --rebuild       throw the environment away

the first full build downloads ~99 MB of wheels (kept in WORK/wheels) and takes about a
minute or two; later runs reuse WORK/check-env while its marker matches the parameters.
exit status: 0 done (even if pkgdoctor reported findings: they are printed), 2 failure.""",
    )
    parser.add_argument(
        "--synthetic", type=non_negative, default=150, metavar="N",
        help="synthetic distributions synthpkgNNN to add (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--modules-per-package", type=non_negative, default=3, metavar="K",
        help="extension modules in each synthetic package (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=non_negative, default=7, metavar="R",
        help="timed runs of each tool, after one warm-up (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--rebuild", action="store_true",
        help="build the environment anew even if the existing one matches",
    )  # fmt: skip
    parser.add_argument(
        "--no-real", action="store_true",
        help="skip the registry layer (pip alone goes in, for pip check): a quick run",
    )  # fmt: skip
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON document with every timing instead of the table",
    )  # fmt: skip
    parser.add_argument(
        "--work-dir", default=str(DEFAULT_WORK), metavar="DIR",
        help="where the environment, wheel cache and build files go (default: benchmarks/.work)",
    )  # fmt: skip
    parser.add_argument(
        "--pkgdoctor", metavar="PATH",
        help="the pkgdoctor executable to time (default: the one beside this python)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds == 0:
        build_parser().error("--rounds must be at least 1")
    params = Params(args.synthetic, args.modules_per_package, not args.no_real)
    try:
        return bench(args, params)
    except BenchError as exc:
        print(f"bench_check: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench_check: interrupted", file=sys.stderr)
        return 130


def bench(args: argparse.Namespace, params: Params) -> int:
    if not sys.platform.startswith("linux"):
        raise BenchError(f"this benchmark builds ELF files and runs on Linux, not {sys.platform}")
    work = Work(Path(args.work_dir).resolve())
    env = work.env
    pkgdoctor = pkgdoctor_executable(args.pkgdoctor)
    build = None if args.rebuild else reusable(env, params)
    if build is None:
        build = build_env(work, params)
    else:
        say(f"reusing {env} (its marker matches; --rebuild to start over)")
    facts = env_facts(env)
    counts = count(facts)
    python = str(env_python(env))

    environ = timing_environ(work.pycache)
    report = pkgdoctor_report(pkgdoctor, work)
    findings: list[dict[str, Any]] = report["findings"]
    show_findings(findings)
    examined = report.get("examined", {}).get("Extension modules")
    if examined is not None and examined != counts.extension_modules:
        say(
            f"note: pkgdoctor examined {examined} extension modules, this script counts "
            f"{counts.extension_modules}"
        )
    pkgdoctor_tool = Tool(
        "pkgdoctor",
        "pkgdoctor check --prefix ENV --json",
        [pkgdoctor, "check", "--prefix", str(env), "--json"],
        environ,
        ok_status=(0, 1),  # 1: it reported errors, shown above; the timing still counts
    )
    cold_tool = Tool(
        "pkgdoctor_no_cache",
        "pkgdoctor check --prefix ENV --json --no-cache",
        [*pkgdoctor_tool.command, "--no-cache"],
        environ,
        ok_status=(0, 1),
    )
    pip_tool = Tool("pip", "ENV/bin/python -m pip check", [python, "-m", "pip", "check"], environ)
    snapshot_file = work.root / "snapshot.json.gz"
    snapshot_tool = Tool(
        "pkgdoctor_snapshot",
        "pkgdoctor snapshot --prefix ENV --no-cache -o WORK/snapshot.json.gz",
        [pkgdoctor, "snapshot", "--prefix", str(env), "--no-cache", "-o", str(snapshot_file)],
        environ,
    )
    from_tool = Tool(
        "pkgdoctor_from",
        "pkgdoctor check --from WORK/snapshot.json.gz --json",
        [pkgdoctor, "check", "--from", str(snapshot_file), "--json"],
        environ,
        ok_status=(0, 1),
    )
    # Floors: what any Python command line pays before it does anything, on pkgdoctor's own
    # interpreter; `check --from` must at least parse options and read gzipped JSON.
    own_python = script_interpreter(pkgdoctor)
    startup_tool = Tool("floor_startup", "PYTHON -c pass", [own_python, "-c", "pass"], environ)
    floor_tool = Tool(
        "floor_imports",
        "PYTHON -c 'import argparse, gzip, json'",
        [own_python, "-c", "import argparse, gzip, json"],
        environ,
    )
    tools = [pkgdoctor_tool, cold_tool, pip_tool, snapshot_tool, from_tool]
    tools += [startup_tool, floor_tool]
    skipped: list[Tool] = []
    uv = shutil.which("uv")
    uv_tool = Tool("uv", "uv pip check --python ENV/bin/python", [], environ)
    if uv:
        uv_tool.command = [uv, "pip", "check", "--python", python]
        tools.append(uv_tool)
    else:
        uv_tool.note = "uv is not on PATH: not timed (this script does not install it)"
        skipped.append(uv_tool)
    # A healthy environment for pip too: its check must pass, or the build went wrong.
    proc = subprocess.run(
        pip_tool.command, capture_output=True, text=True, timeout=TIMEOUT, env=environ
    )
    if proc.returncode != 0:
        raise BenchError(
            "pip check fails on the benchmark environment (try --rebuild):\n"
            + tail(proc.stdout + proc.stderr)
        )

    # The snapshot file must exist before the first `check --from`.
    subprocess.run(snapshot_tool.command, capture_output=True, timeout=TIMEOUT, env=environ)
    other_load = benchmark(tools, args.rounds)
    ratio = statistics.median(pip_tool.times) / statistics.median(pkgdoctor_tool.times)
    cold_ratio = statistics.median(pip_tool.times) / statistics.median(cold_tool.times)
    targets = snapshot_targets(
        pkgdoctor_tool, cold_tool, pip_tool, snapshot_tool, from_tool, uv_tool, snapshot_file
    )

    if args.json:
        document = {
            "benchmark": "check",
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "cpu_share_used_by_other_processes": round(other_load, 3),
            },
            "parameters": {
                "synthetic": params.synthetic,
                "modules_per_package": params.modules_per_package,
                "real": params.real,
                "rounds": args.rounds,
            },
            "environment": {
                "path": str(env),
                "python": facts["version"],
                "distributions": counts.distributions,
                "extension_modules": counts.extension_modules,
                "shared_objects": counts.shared_objects,
                "pkgdoctor_examined_extension_modules": examined,
                "reused": build.reused,
                "build_seconds": round(build.seconds, 1),
                "download_bytes": build.download_bytes,
                "wheels": build.wheels,
            },
            "tools": {tool.key: tool.summary() for tool in [*tools, *skipped]},
            "ratio_pip_over_pkgdoctor_median": round(ratio, 3),
            "ratio_pip_over_pkgdoctor_no_cache_median": round(cold_ratio, 3),
            "issue_8_targets": [
                {"what": what, "value": round(value, 3), "target": limit, "met": value <= limit}
                for what, value, limit in targets
            ],
            "snapshot_gzip_bytes": snapshot_file.stat().st_size,
            "pkgdoctor_findings": findings,
        }
        print(json.dumps(document, indent=2))
    else:
        print_table(
            env, facts, counts, build, tools, skipped, (ratio, cold_ratio), findings, other_load,
            examined,
        )  # fmt: skip
        print("\nissue 8 targets (medians; ratios of wall time, lower is better):")
        for what, value, limit in targets:
            verdict = "met" if value <= limit else "NOT met"
            print(f"  {what:44} {value:8.3f}  (target <= {limit}: {verdict})")
        pip_ms = statistics.median(pip_tool.times) * 1000
        print("\nfloors on this machine (medians), against what the targets allow:")
        for what, tool in (
            ("interpreter start-up (PYTHON -c pass)", startup_tool),
            ("import argparse, gzip, json", floor_tool),
        ):
            print(f"  {what:44} {statistics.median(tool.times) * 1000:8.1f} ms")
        print(f"  {'warm check allowed (0.1x pip check)':44} {pip_ms * 0.1:8.1f} ms")
        print(f"  {'check --from allowed (0.5x that)':44} {pip_ms * 0.05:8.1f} ms")
        print(f"  {'cold check allowed (0.3x pip check)':44} {pip_ms * 0.3:8.1f} ms")
    return 0


def script_interpreter(script: str) -> str:
    """The interpreter a console script runs on (its ``#!`` line), else this one."""
    try:
        with open(script, "rb") as f:
            first = f.readline(4096)
    except OSError:
        return sys.executable
    if first.startswith(b"#!"):
        command = first[2:].decode("utf-8", "replace").split()
        if command and os.path.isfile(command[0]):
            return command[0]
    return sys.executable


def snapshot_targets(
    warm: Tool, cold: Tool, pip: Tool, snapshot: Tool, replay: Tool, uv: Tool, file: Path
) -> list[tuple[str, float, float]]:
    """The speed targets of part 4 (issue 8), as (what, measured, limit)."""
    median = statistics.median
    rows = [
        ("warm check / pip check", median(warm.times) / median(pip.times), 0.1),
        ("cold check (--no-cache) / pip check", median(cold.times) / median(pip.times), 0.3),
        ("snapshot (--no-cache) / cold check", median(snapshot.times) / median(cold.times), 1.2),
        ("check --from / warm check", median(replay.times) / median(warm.times), 0.5),
        ("snapshot .json.gz size (MB)", file.stat().st_size / 1e6, 1.0),
    ]
    if uv.times:
        rows.insert(1, ("warm check / uv pip check", median(warm.times) / median(uv.times), 5.0))
    return rows


if __name__ == "__main__":
    sys.exit(main())
