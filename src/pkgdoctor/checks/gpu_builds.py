"""What each installed distribution was built for, by the conventions its publishers keep
(names and local versions), and with the Snapshot's framework facts: the CUDA builds of an
environment, for every check of the GPU family.

The CUDA major a distribution is built for:

- NVIDIA's library wheels name it: ``nvidia-cuda-runtime-cu12``, ``nvidia-cudnn-cu11``;
  from CUDA 13 most drop the suffix (``nvidia-cublas 13.1.1.3``) and install under
  ``nvidia/cu13/``: the major is that directory's;
- CuPy names it: ``cupy-cuda12x``, ``cupy-cuda11x`` (``cupy-cuda102`` before 11: ``10``);
- JAX's CUDA plugins name it: ``jax-cuda12-plugin``, ``jax-cuda12-pjrt``;
- PyTorch's index puts it in the local version: ``torch 2.5.1+cu118`` (``cuXY[Z]``: the last
  digit is the minor; ``+cu92`` is CUDA 9.2).
"""

from __future__ import annotations

import re

from pkgdoctor.checks.context import Context
from pkgdoctor.snapshot.model import Distribution, normalize

NVIDIA_WHEEL = re.compile(r"^nvidia-[a-z0-9-]+-cu(\d+)$")
_CUPY = re.compile(r"^cupy-cuda(\d+)(x?)$")
_JAX = re.compile(r"^jax-cuda(\d+)-(?:plugin|pjrt)$")
_LOCAL = re.compile(r"^cu(\d{2,3})$")


def cuda_major(name: str, version: str | None) -> str | None:
    """The CUDA major a distribution is built for, from its name or local version.

    >>> [cuda_major(n, v) for n, v in (("nvidia-cudnn-cu11", "8.9.2.26"),
    ...     ("cupy-cuda12x", "13.3.0"), ("cupy-cuda102", "9.6.0"), ("jax-cuda12-plugin", "0.4.35"),
    ...     ("torch", "2.5.1+cu118"), ("torch", "1.7.1+cu92"), ("torch", "2.5.1+cpu"),
    ...     ("numpy", "2.2.4"))]
    ['11', '12', '10', '12', '11', '9', None, None]
    """
    key = normalize(name)
    match = NVIDIA_WHEEL.match(key)
    if match:
        return match[1]
    match = _CUPY.match(key)
    if match:
        return match[1] if match[2] else match[1][:-1]
    match = _JAX.match(key)
    if match:
        return match[1]
    local = (version or "").partition("+")[2]
    for part in local.lower().split("."):
        match = _LOCAL.match(part)
        if match:
            return match[1][:-1]
    return None


_CUXX_DIR = re.compile(r"^nvidia/cu(\d+)/")


def dist_cuda_major(dist: Distribution) -> str | None:
    """:func:`cuda_major`, and for NVIDIA's suffix-less wheels (CUDA 13 on) the ``cuNN``
    directory their RECORD installs into (``nvidia/cu13/lib/libcublas.so.13``)."""
    major = cuda_major(dist.name, dist.version)
    if major is not None or not dist.key.startswith("nvidia-"):
        return major
    for entry in (dist.record or ())[:64]:
        match = _CUXX_DIR.match(entry.path)
        if match:
            return match[1]
    return None


def built_for(ctx: Context) -> dict[str, str]:
    """The CUDA major of each installed distribution built for one, by key: the framework
    facts first (PyPI's torch 2.14.1 says nothing in its version; ``torch/version.py`` says
    13.0), then names, local versions and NVIDIA's ``cuNN`` directories."""
    found = {}
    for dist in ctx.inventory.distributions:
        major = dist_cuda_major(dist)
        if major is not None:
            found[dist.key] = major
    for build in ctx.snapshot.frameworks or ():
        if build.cuda:
            found[normalize(build.distribution)] = build.cuda.split(".")[0]
    return found


def cuda_builds(ctx: Context) -> list[tuple[str, str, str]]:
    """The installed builds for CUDA, as (distribution, version, CUDA version): the
    frameworks' own facts (``torch/version.py``: ``"13.0"``), else the major their names or
    local versions give (``cupy-cuda12x``: ``"12"``). NVIDIA's library wheels are left out:
    they are what the frameworks load, not what needs the driver."""
    found: list[tuple[str, str, str]] = []
    seen = set()
    for build in ctx.snapshot.frameworks or ():
        if build.cuda:
            found.append((build.distribution, build.version or "?", build.cuda))
            seen.add(normalize(build.distribution))
    for dist in ctx.inventory.distributions:
        if dist.key in seen or dist.key.startswith("nvidia-"):
            continue
        major = cuda_major(dist.name, dist.version)
        if major is not None:
            local = (dist.version or "").partition("+")[2].lower()
            exact = _LOCAL.match(local)
            version = f"{exact[1][:-1]}.{exact[1][-1]}" if exact else major
            found.append((dist.name, dist.version or "?", version))
    return found
