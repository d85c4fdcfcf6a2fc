#!/usr/bin/env python3
"""Benchmark ``pkgdoctor wheels -r`` against asking pip the same question one requirement at
a time.

Run it by hand from the dev venv (it is not a pytest test)::

    .venv/bin/python benchmarks/bench_wheels.py                  # 100 requirements, 3 rounds
    .venv/bin/python benchmarks/bench_wheels.py --limit 20 --rounds 2   # a quick look

**The question.** A porter has a 100-line requirements file and a foreign target (default:
a glibc 2.28 aarch64 machine with CPython 3.12). Which file would pip take for each line?
Without pkgdoctor the answer is one ``pip download --only-binary=:all: --no-deps`` per line
with the target options (pip stops at the first line without a wheel, so one run for the
whole file does not answer for every line). pkgdoctor answers for the whole file at once, and
also reads the build backend of every sdist that would be built.

**Fair terms.** Both sides use the same index (``--index-url``, default PyPI) and nothing from
this machine's pip configuration (``--isolated``, ``PIP_CONFIG_FILE=/dev/null``); pip gets the
same expanded platform list pkgdoctor uses (``--platform`` once per tag). Both caches are
private to the benchmark (``.work/wheels-bench``: pkgdoctor's via ``PKGDOCTOR_CACHE_DIR``,
pip's via ``PIP_CACHE_DIR``) and warm: each side runs once before timing. pip's cache keeps
the wheels it downloads; whether it keeps index pages depends on the index's caching headers
(pkgdoctor keeps them for their ``max-age``, else 600 s). Bytecode is cached for both
(``PYTHONPYCACHEPREFIX``), as for installed tools.

**What is timed.** Wall time of the whole pkgdoctor command, and of the sequence of pip
commands, in alternating order over ``--rounds`` rounds. Reported: min and median per side and
median(pip) / median(pkgdoctor); above 1 means pkgdoctor is faster. ``--pip-batch`` also
times one ``pip download`` of the whole file (which answers only when every line has a wheel,
so it is shown for scale, not as an equivalent).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work" / "wheels-bench"  # git-ignored
sys.path.insert(0, str(REPO / "src"))

# 100 widely used projects: pure and binary, some without wheels for most targets.
REQUIREMENTS = (
    "numpy", "scipy", "pandas", "matplotlib", "requests", "urllib3", "certifi", "idna",
    "charset-normalizer", "six", "python-dateutil", "pytz", "tzdata", "pyyaml", "setuptools",
    "wheel", "packaging", "attrs", "click", "jinja2", "markupsafe", "itsdangerous", "werkzeug",
    "flask", "django", "sqlalchemy", "psycopg2-binary", "pymysql", "redis", "celery", "kombu",
    "billiard", "vine", "amqp", "boto3", "botocore", "s3transfer", "jmespath", "cryptography",
    "cffi", "pycparser", "bcrypt", "pynacl", "paramiko", "pyopenssl", "lxml",
    "beautifulsoup4", "soupsieve", "html5lib", "pillow", "imageio", "scikit-learn", "joblib",
    "threadpoolctl", "sympy", "mpmath", "networkx", "tqdm", "rich", "pygments",
    "markdown-it-py", "mdurl", "typing-extensions", "pydantic", "pydantic-core",
    "annotated-types", "fastapi", "starlette", "uvicorn", "h11", "httpx", "httpcore", "anyio",
    "sniffio", "aiohttp", "multidict", "yarl", "frozenlist", "aiosignal", "orjson", "ujson",
    "msgpack", "protobuf", "grpcio", "google-auth", "cachetools", "rsa", "pyasn1",
    "oauthlib", "pytest", "pluggy", "iniconfig", "coverage", "psutil", "regex", "tokenizers",
    "zstandard", "greenlet", "wrapt", "lz4",
)  # fmt: skip
assert len(REQUIREMENTS) == 100 and len(set(REQUIREMENTS)) == 100


def environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_CACHE_DIR=str(WORK / "pip-cache"),
        PKGDOCTOR_CACHE_DIR=str(WORK / "pkgdoctor-cache"),
        PYTHONPYCACHEPREFIX=str(WORK / "pycache"),
    )
    return env


def timed(commands: list[list[str]], env: dict[str, str]) -> float:
    start = time.perf_counter()
    for command in commands:
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)  # fmt: skip
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", default="manylinux_2_28_aarch64")
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--index-url", default="https://pypi.org/simple")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=100, help="use the first N requirements")
    parser.add_argument("--pip-batch", action="store_true", help="also time one pip download")
    args = parser.parse_args()

    from pkgdoctor.wheels.platforms import describe_target

    target = describe_target([args.platform], args.python_version)
    WORK.mkdir(parents=True, exist_ok=True)
    requirements = WORK / "requirements.txt"
    names = REQUIREMENTS[: args.limit]
    requirements.write_text("".join(f"{name}\n" for name in names))
    env = environ()
    target_options = ["--python-version", target.short_version, "--implementation", "cp"]
    for platform in target.platforms:
        target_options += ["--platform", platform]
    for abi in target.abis:
        target_options += ["--abi", abi]
    pkgdoctor = [[sys.executable, "-m", "pkgdoctor", "wheels", "-r", str(requirements),
                  "--platform", args.platform, "--python-version", args.python_version,
                  "--isolated", "--index-url", args.index_url, "--json"]]  # fmt: skip
    downloads = Path(tempfile.mkdtemp(prefix="downloads-", dir=WORK))

    def pip(*reqs: str) -> list[str]:
        return [sys.executable, "-m", "pip", "--isolated", "download", "--no-deps",
                "--only-binary=:all:", "--index-url", args.index_url, *target_options,
                "--dest", str(downloads), *reqs]  # fmt: skip

    sides = {
        "pkgdoctor wheels -r": pkgdoctor,
        "pip download, per requirement": [pip(name) for name in names],
    }
    if args.pip_batch:
        sides["pip download, one run (scale only)"] = [pip(*names)]
    print(f"target: {target.summary()}; {len(names)} requirements; index {args.index_url}")
    print("warming up both caches ...", flush=True)
    for commands in sides.values():
        timed(commands, env)
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for round_number in range(args.rounds):
        for name in order if round_number % 2 == 0 else reversed(order):
            shutil.rmtree(downloads, ignore_errors=True)
            downloads.mkdir()
            times[name].append(timed(sides[name], env))
            print(f"  round {round_number + 1}: {name}: {times[name][-1]:.2f} s", flush=True)
    shutil.rmtree(downloads, ignore_errors=True)
    print()
    for name, values in times.items():
        print(f"{name:36} min {min(values):7.2f} s   median {statistics.median(values):7.2f} s")
    ratio = statistics.median(times[order[1]]) / statistics.median(times[order[0]])
    print(f"\nmedian(pip per requirement) / median(pkgdoctor) = {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
