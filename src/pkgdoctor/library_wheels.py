"""Shared libraries that a well-known PyPI distribution ships, for a fix that says how to get one.

Each entry was checked against the real wheel's file list (``pip download NAME --no-deps``,
manylinux_2_28_x86_64, 2026-11-30). All of them put the libraries in the wheel's
``NAME-VERSION.data/data/lib/``, which pip installs into ``<prefix>/lib`` (the ``data`` scheme
of sysconfig): a directory the dynamic loader searches only when something points it there
(an RPATH, ``LD_LIBRARY_PATH``; conda's python has ``$ORIGIN/../lib``). Only names seen in a
wheel belong here: a fix must never invent a package.
"""

from __future__ import annotations

# soname -> the distribution whose wheel ships it.
LIBRARY_DISTRIBUTIONS: dict[str, str] = {
    # tbb 2023.2.0: tbb-2023.2.0.data/data/lib/libtbb.so.12 (numba's tbbpool needs it)
    "libtbb.so.12": "tbb",
    # tbb 2023.2.0: tbb-2023.2.0.data/data/lib/libtbbmalloc.so.2
    "libtbbmalloc.so.2": "tbb",
    # tcmlib 1.6.0 (a requirement of tbb): tcmlib-1.6.0.data/data/lib/libtcm.so.1
    "libtcm.so.1": "tcmlib",
    # intel-openmp 2026.2.0: intel_openmp-2026.2.0.data/data/lib/libiomp5.so
    "libiomp5.so": "intel-openmp",
    # mkl 2026.2.0: mkl-2026.2.0.data/data/lib/libmkl_rt.so.3 (.so.2 was older mkl; not checked)
    "libmkl_rt.so.3": "mkl",
}

# Where those wheels install the libraries, relative to the environment's prefix.
WHEEL_LIBRARY_DIR = "lib"


def distribution_for(soname: str) -> str | None:
    """The PyPI distribution whose wheel ships ``soname``, if it is a known one.

    >>> distribution_for("libtbb.so.12")
    'tbb'
    >>> distribution_for("libfoo.so.1") is None
    True
    """
    return LIBRARY_DISTRIBUTIONS.get(soname)
