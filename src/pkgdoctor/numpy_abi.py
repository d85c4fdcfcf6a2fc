"""NumPy's C-API break between 1.x and 2.x: how to tell, from an extension module's bytes or
from the error its import raised, that it was compiled against NumPy 1.x.

NumPy 2.0 changed the C ABI (``PyArray_Descr`` grew: "numpy.dtype size changed"; the API
table moved from ``numpy.core`` to ``numpy._core``). A module compiled against NumPy 1.x
headers cannot run under NumPy 2; one compiled against 2.x headers runs under both
(https://numpy.org/devdocs/dev/depending_on_numpy.html#numpy-2-abi-handling).

Every module that uses the C API calls ``import_array()`` (or ``import_umath()``), which the
headers expand to ``_import_array`` in ``__multiarray_api.h``: it imports the module that
carries the API table and reads its ``_ARRAY_API`` (``_UFUNC_API``) attribute, by name, so
both names are NUL-terminated strings in the compiled file:

- NumPy 1.16-1.26 headers import ``"numpy.core._multiarray_umath"`` only;
- NumPy 2.x headers import ``"numpy._core._multiarray_umath"`` first and fall back to
  ``"numpy.core._multiarray_umath"`` (numpy/_core/code_generators/generate_numpy_api.py).

So a file with the API attribute name and the 1.x module name but without the 2.x name was
compiled against NumPy 1.x. A module that never calls ``import_array`` (pybind11's own
lookup, numpy used only from Python) has none of them and is left alone: no verdict.

>>> headers_major(b"\\0_ARRAY_API\\0numpy.core._multiarray_umath\\0")
1
>>> headers_major(b"\\0_UFUNC_API\\0numpy._core._multiarray_umath\\0")
2
>>> headers_major(b"\\0PyInit_x\\0") is None
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The attribute names ``_import_array``/``_import_umath`` read (``__multiarray_api.h``,
#: ``__ufunc_api.h`` of both major versions).
API_NAMES = (b"\0_ARRAY_API\0", b"\0_UFUNC_API\0")
#: The module NumPy 2.x headers import first; 1.x headers never name it.
NUMPY2_MODULE = b"\0numpy._core._multiarray_umath\0"
#: The module NumPy 1.16-1.26 headers import (2.x headers name it as a fallback).
NUMPY1_MODULE = b"\0numpy.core._multiarray_umath\0"
#: The longest marker, less one byte: what a chunked scan keeps from one chunk to the next.
OVERLAP = max(len(m) for m in (*API_NAMES, NUMPY2_MODULE, NUMPY1_MODULE)) - 1

#: The last NumPy 1.x release, and the newest Python it has wheels for (NumPy 1.26.0 release
#: notes: "supports Python 3.9-3.12"); ``pip install 'numpy<2'`` cannot work on a later one.
LAST_NUMPY1 = "1.26.4"
LAST_NUMPY1_PYTHON = (3, 12)

# What importing a NumPy-1.x module under NumPy 2 raises, whoever raises it:
# - Cython's type-size check (__Pyx_ImportType): "numpy.dtype size changed, may indicate
#   binary incompatibility. Expected 96 from C header, got 88 from PyObject";
# - NumPy 1.x headers' _import_array: "_ARRAY_API not found", then import_array():
#   "numpy.core.multiarray failed to import" (umath: "numpy.core.umath failed to import");
# - NumPy 2's numpy/core/_multiarray_umath.py shim: "A module that was compiled using
#   NumPy 1.x cannot be run in NumPy 2.x.y as it may crash.";
# - headers before NumPy 1.16 (their NPY_VERSION check): "module compiled against ABI
#   version 0x1000009 but this version of numpy is 0x2000000".
_ABI_ERROR = re.compile(
    r"numpy\.(?:dtype|ndarray|ufunc|generic) size changed"
    r"|compiled against ABI version 0x1[0-9a-f]{6} but this version of numpy is 0x2"
    r"|_(?:ARRAY|UFUNC)_API not found"
    r"|numpy\.core\.(?:multiarray|umath|_multiarray_umath) failed to import"
    r"|compiled using NumPy 1\.x"
)


def headers_major(data: bytes) -> int | None:
    """1 or 2: the NumPy headers a module's bytes were compiled against; None when the module
    does not call NumPy's C-API import (or the markers are not all in ``data``)."""
    return judge(markers(data))


def markers(data: bytes) -> frozenset[bytes]:
    """Which of the marker strings ``data`` holds (a chunked reader unites the chunks')."""
    return frozenset(m for m in (*API_NAMES, NUMPY2_MODULE, NUMPY1_MODULE) if m in data)


def judge(found: Iterable[bytes]) -> int | None:
    """:func:`headers_major` from the markers found in a whole file."""
    present = set(found)
    if not present.intersection(API_NAMES):
        return None
    if NUMPY2_MODULE in present:
        return 2
    if NUMPY1_MODULE in present:
        return 1
    return None


def abi_error(message: str) -> bool:
    """Whether an import error's message is one NumPy's 1.x/2.x ABI break raises.

    >>> abi_error("numpy.dtype size changed, may indicate binary incompatibility.")
    True
    >>> abi_error("No module named 'numpy'")
    False
    """
    return _ABI_ERROR.search(message) is not None


def major(version: str | None) -> int | None:
    """The major number of a version string ("2.2.4" → 2), or None."""
    match = re.match(r"\s*v?(\d+)", version or "")
    return int(match[1]) if match else None
