"""A real CUDA torch environment, built once per test run and shared (read-only) by its tests.

``python3.11 -m venv V && V/bin/python -m pip install --no-compile torch==2.14.1
torchvision==0.29.1``: the CUDA 13 build of torch, torchvision, triton and every ``nvidia-*``
wheel torch requires (about 5 GB on disk). The wheels come from the machine's pip configuration
(this machine's and CI's pip.conf add file:///opt/pypi/simple and file:///opt/pypi-more/simple,
where torch and the big ``nvidia-*`` wheels lie) and from the registry (``cuda-bindings``,
``triton``, ``nvidia-cuda-runtime`` ...); the local index is named on the command line too, so
the build does not depend on which pip.conf is read. What comes from the registry is cached
across runs in a pip cache the tests own (:func:`pip_cache`), never inside the environments
they inspect. A failed install fails every test that asked for the environment: never a skip.

Under pytest-xdist the workers share one build: the first to take the file lock builds, the
others wait and reuse it (a ``complete`` marker says the build finished). The controller (or
the only process, without xdist) removes it when the run ends (``conftest.pytest_sessionfinish``)
so that pytest's three kept runs do not keep 15 GB.

Tests must not change it: a test that needs a broken variant installs its own (small) one
with :func:`new_venv` and :func:`install`, e.g. ``install(venv, "--no-deps", "torch==2.14.1")``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from artefacts import Venv

TORCH = "torch==2.14.1"
TORCHVISION = "torchvision==0.29.1"
# The wheels of torch 2.14.1 on this kind of machine are cp311 only.
PYTHON_VERSION = (3, 11)
# Where this kind of machine keeps the big wheels (see the module docstring).
LOCAL_INDEXES = ("/opt/pypi/simple", "/opt/pypi-more/simple")
ENV_NAME = "cuda-torch-2.14.1"

# Prefixes of environments shared by the run's tests: conftest's replay of a ``check`` must
# not move them out of the way (another worker may be reading them).
SHARED_PREFIXES: set[Path] = set()


def python311() -> str:
    """The interpreter the environment is made with: the tests' own when it is 3.11."""
    if sys.version_info[:2] == PYTHON_VERSION:
        return sys.executable
    found = shutil.which("python3.11")
    if found is None:
        pytest.fail("the CUDA torch environment needs python3.11 (torch 2.14.1's wheels)")
    return found


def pip_cache() -> Path:
    """The tests' own pip cache, kept across runs: ``$PKGDOCTOR_TEST_PIP_CACHE`` or
    ``~/.cache/pkgdoctor-tests/pip`` (pip's cache is safe to share between processes)."""
    configured = os.environ.get("PKGDOCTOR_TEST_PIP_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pkgdoctor-tests" / "pip"


def _run(cmd: list[str], what: str) -> None:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
        )


def new_venv(path: Path) -> Venv:
    """A ``python3.11 -m venv`` with pip inside, as a user makes one."""
    _run([python311(), "-m", "venv", str(path)], "python3.11 -m venv")
    return Venv(path)


def install(venv: Venv, *args: str) -> None:
    """``V/bin/python -m pip install --no-compile ARGS`` with the machine's pip configuration,
    the local indexes named explicitly, and the tests' pip cache."""
    indexes = [f"--extra-index-url=file://{d}" for d in LOCAL_INDEXES if os.path.isdir(d)]
    cache = f"--cache-dir={pip_cache()}"
    command = [str(venv.python), "-m", "pip", "install", "--no-compile", cache, *indexes, *args]
    _run(command, "pip install")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_directory(factory: pytest.TempPathFactory) -> Path:
    """The run's directory every xdist worker (and the controller) sees: ``pytest-N``."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build(shared: Path) -> tuple[Venv, float]:
    """The run's CUDA torch environment under ``shared`` (built by the first caller, reused
    by the others) and the seconds this call spent building it (0 when reused)."""
    prefix = shared / ENV_NAME
    complete = shared / f"{ENV_NAME}.complete"
    with _locked(shared / f"{ENV_NAME}.lock"):
        if complete.exists():
            return Venv(prefix), 0.0
        if prefix.exists():  # a build that died half-way
            shutil.rmtree(prefix)
        start = time.monotonic()
        venv = new_venv(prefix)
        install(venv, TORCH, TORCHVISION)
        complete.write_text(f"{time.monotonic() - start:.1f}\n")
        return venv, time.monotonic() - start


def remove(shared: Path) -> None:
    """The run's environment gone (the controller's end of run)."""
    shutil.rmtree(shared / ENV_NAME, ignore_errors=True)
    (shared / f"{ENV_NAME}.complete").unlink(missing_ok=True)
