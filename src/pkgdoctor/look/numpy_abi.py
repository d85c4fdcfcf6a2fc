"""Looking at which NumPy headers extension modules were compiled against
(:mod:`pkgdoctor.numpy_abi`): read only where it can matter, once per file.

It matters only when NumPy 2 is installed (a module built against 2.x runs under 1.x), and
only for modules of distributions that require numpy (``why`` passes the modules its import
touched, whoever owns them). numpy's own modules are never judged. Each file is read in
chunks, at most :data:`MAX_BYTES`, and the verdict kept in the cache under the file's
identity: a warm ``check`` reads nothing again.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Callable, Sequence

from pkgdoctor import elf, numpy_abi
from pkgdoctor.cache import Cache, validator
from pkgdoctor.snapshot.model import Distribution, Extension, Inventory, normalize

_SECTION = "numpy-headers"
#: The most read of one file. Extension modules that call import_array are at most tens of
#: MB (scipy's largest, 2025: ~9 MB); a larger file is left unjudged (None).
MAX_BYTES = 256 << 20
_CHUNK = 4 << 20
_RODATA = frozenset({".rodata"})
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def numpy_installed_major(inventory: Inventory) -> int | None:
    dist = inventory.get("numpy")
    return numpy_abi.major(dist.version) if dist is not None else None


def requires_numpy(dist: Distribution) -> bool:
    """Whether any Requires-Dist line (any marker, any extra) names numpy."""
    for text in dist.requires:
        match = _NAME.match(text)
        if match and normalize(match[1]) == "numpy":
            return True
    return False


def with_numpy_headers(
    modules: Sequence[Extension],
    inventory: Inventory,
    cache: Cache | None = None,
    *,
    every_owner: bool = False,
) -> list[Extension]:
    """``modules``, each with :attr:`Extension.numpy_headers` when NumPy 2 is installed and
    the module's distribution requires numpy (``every_owner``: whoever owns it, even nobody).
    """
    major = numpy_installed_major(inventory)
    if major is None or major < 2:
        return list(modules)
    numpy = inventory.get("numpy")
    if every_owner:
        skip = {path for _, path in numpy.files()} if numpy is not None else set()
        judged = None
    else:
        # Where the distributions that require numpy put their files (the first component
        # of their RECORD rows, cached with them): no RECORD is read and no index of every
        # file's owner built, which a warm check of a large environment never needs.
        judged = {
            (os.path.normpath(dist.site_dir), root)
            for dist in inventory.all
            if dist.key != "numpy" and requires_numpy(dist)
            for root in dist.roots
        }
        if not judged:
            return list(modules)
        skip = set()
    result = []
    for module in modules:
        path = os.path.normpath(module.file.path)
        base = os.path.normpath(module.file.root)
        top = path[len(base) + 1 :].split("/", 1)[0] if path.startswith(base + "/") else ""
        if path in skip or (judged is not None and (base, top) not in judged):
            result.append(module)
            continue
        headers = _cached(module.file.path, cache)
        result.append(dataclasses.replace(module, numpy_headers=headers))
    return result


def _cached(path: str, cache: Cache | None) -> int:
    """0 (no NumPy C-API import, or not readable), 1 or 2, from the cache while the file is
    unchanged."""
    try:
        check = validator(os.stat(path))
    except (OSError, ValueError):
        return 0
    if cache is not None:
        stored = cache.decoded(_SECTION, path, check, _decode)
        if stored is not None:
            return stored
    found = read_headers_major(path)
    value = found or 0
    if cache is not None:
        cache.put(_SECTION, path, value, check)
    return value


def _decode(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value not in (0, 1, 2):
        raise ValueError(value)
    return value


def read_headers_major(path: str, limit: int = MAX_BYTES) -> int | None:
    """:func:`pkgdoctor.numpy_abi.headers_major` of a file, read in chunks (a marker cut by
    a chunk's end is found through the overlap kept); None past ``limit`` bytes or when the
    file cannot be read."""
    return _scan(path, limit, os.pread)


def _scan(path: str, limit: int, pread: Callable[[int, int, int], bytes]) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        # The markers are string literals: a linker puts them in .rodata, a small part of the
        # file. Without readable section headers, the whole file.
        ranges = elf.section_extents(
            lambda length, offset: pread(fd, length, offset), info.st_size, _RODATA
        )
        found: set[bytes] = set()
        for start, length in ranges or [(0, info.st_size)]:
            # A marker's NULs may be the bytes just outside a section (a string at the very
            # start of .rodata follows the previous section's last byte).
            tail = b""
            offset, end = max(start - 1, 0), min(start + length + 1, info.st_size)
            while offset < end:
                chunk = pread(fd, min(_CHUNK, end - offset), offset)
                if not chunk:
                    break
                found |= numpy_abi.markers(tail + chunk)
                tail = chunk[-numpy_abi.OVERLAP :]
                offset += len(chunk)
        return numpy_abi.judge(found)
    except OSError:
        return None
    finally:
        os.close(fd)
