"""conda's match specs and versions: the one module that knows their syntax and order.

conda's ``MatchSpec`` (``numpy >=1.23.5,<2.0a0``, ``conda-forge::numpy==1.26.4=py311_0``,
``__glibc >=2.17``) and ``VersionOrder`` are not PEP 440: ``1.0a0 < 1.0``, ``1.1.0_1``, and
``*`` globs. pkgdoctor does not re-implement them: they are judged by rattler (py-rattler,
the conda library under pixi; the ``conda`` extra, ``pip install 'pkgdoctor[conda]'``),
imported only when a conda environment is checked. Without it every verdict is None ("not
judged") and the checks say once that it is missing; the name of a spec is still read here
(the part every form starts with), which conda's history and records need.
"""

from __future__ import annotations

import functools
import re
import shlex
import sys
from typing import Any

# A spec's name: after an optional ``channel[/subdir]::``, up to the first space or operator.
_NAME = re.compile(r"^\s*(?:\S+::)?([A-Za-z0-9_.\-]+)")
INSTALL_HINT = "pip install 'pkgdoctor[conda]'"


def spec_name(spec: str) -> str | None:
    """The package name a match spec is about, lower case.

    >>> spec_name("conda-forge::NumPy >=1.26")
    'numpy'
    >>> spec_name("python >=3.11,<3.12.0a0")
    'python'
    >>> spec_name("libblas=3.9.0=20_linux64_openblas")
    'libblas'
    >>> spec_name("https://conda.anaconda.org/conda-forge/linux-64::numpy")
    'numpy'
    """
    match = _NAME.match(spec)
    return match.group(1).lower() if match else None


@functools.lru_cache(maxsize=1)
def _rattler() -> Any:
    try:
        import rattler
    except ImportError:
        return None
    return rattler


def available() -> bool:
    """Whether match specs can be judged here (py-rattler is importable)."""
    return _rattler() is not None


@functools.lru_cache(maxsize=4096)
def parse_error(spec: str) -> str | None:
    """Why ``spec`` is not a match spec conda would accept; None when it is one (or when it
    cannot be judged here)."""
    rattler = _rattler()
    if rattler is None:
        return None
    try:
        rattler.MatchSpec(spec)
    except Exception as exc:  # rattler raises its own exception types
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


@functools.lru_cache(maxsize=16384)
def matches(
    spec: str,
    name: str,
    version: str,
    build: str = "",
    build_number: int = 0,
    subdir: str = "noarch",
) -> bool | None:
    """Whether the package ``name version build`` satisfies ``spec``; None when it cannot be
    judged (no py-rattler, or a spec it cannot read). Cached: an environment's records
    repeat the same few specs (``python >=3.11,<3.12.0a0``) hundreds of times."""
    rattler = _rattler()
    if rattler is None:
        return None
    try:
        match_spec = rattler.MatchSpec(spec)
        record = rattler.PackageRecord(
            name=name,
            version=version,
            build=rattler.BuildString(build or "0"),
            build_number=build_number,
            subdir=subdir or "noarch",
        )
        return bool(match_spec.matches(record))
    except Exception:
        return None


def matches_version(spec: str, version: str) -> bool | None:
    """Whether ``version`` satisfies the version part of ``spec`` (its name and build left
    aside: pip's distribution has no conda build); None when it cannot be judged."""
    rattler = _rattler()
    if rattler is None:
        return None
    try:
        version_spec = rattler.MatchSpec(spec).version
        if version_spec is None:
            return True
        return bool(rattler.VersionSpec(str(version_spec)).matches(rattler.Version(version)))
    except Exception:
        return None


def install_command() -> str | None:
    """The command that adds py-rattler to the pkgdoctor that is running (not to the target:
    pkgdoctor judges, the target is only looked at), as it was installed: pipx and uv keep a
    tool in its own environment (``~/.local/share/pipx/venvs/pkgdoctor``,
    ``~/.local/share/uv/tools/pkgdoctor``, which has no pip: ``uv pip install --python``),
    anything else gets pip for this interpreter. The uv and pip forms were run on a pkgdoctor
    installed from a checkout, which no index has. None
    where py-rattler has no wheels: before Python 3.10 (its ``Requires-Python``)."""
    if sys.version_info < (3, 10):
        return None
    prefix = sys.prefix
    if "/pipx/venvs/" in prefix:
        return "pipx inject pkgdoctor py-rattler"
    if "/uv/tools/" in prefix:
        # Into the tool's environment as it is: ``uv tool install 'pkgdoctor[conda]'`` would
        # look pkgdoctor up on the index, and fail for one installed from a checkout.
        python = shlex.quote(sys.executable or f"{prefix}/bin/python")
        return f"uv pip install --python {python} " + shlex.quote("py-rattler>=0.28")
    return f"{shlex.quote(sys.executable or 'python3')} -m {INSTALL_HINT}"
