"""Libraries the loader takes from outside the environment for a name that a file installed
in it also has: a system CUDA on ``LD_LIBRARY_PATH`` in front of the ``nvidia-*`` wheels'
copies (pytorch/pytorch#111469), a library found through ld.so.cache.

The loader model (:mod:`pkgdoctor.loader`) has already said which file each ``DT_NEEDED`` name
resolves to. This reads, for the few names whose file lies outside the environment while an
installed distribution's RECORD lists a file of that name, what a report needs to name both
files and prove a break: the file a symlink leads to (``libcublas.so.12.1.3.1``), the
``version.json`` of a CUDA toolkit above it, whether the installed copy is the same file, and
the dynamic symbols the requesting objects need from that name which the installed copy
defines and the outside file does not (``__nvJitLinkAddData_12_4``).

Bounded: at most :data:`MAX_OUTSIDE` outside files, :data:`MAX_SYMBOL_READS` symbol tables,
content compared only up to :data:`MAX_COMPARE` bytes, version.json read up to
:data:`MAX_VERSION_JSON` bytes. Which names matter (the CUDA family) is the check's business
(:mod:`pkgdoctor.checks.gpu_shadows`); this module knows no library by name.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable, Mapping

from pkgdoctor._typed import loads
from pkgdoctor.elf import DynamicSymbol, ELFError, ELFFile, read_elf
from pkgdoctor.files import read_regular
from pkgdoctor.snapshot.model import ExtensionFacts, Inventory, LibraryCopy, OutsideLibrary

MAX_OUTSIDE = 32
MAX_COPIES = 4  # installed copies compared per outside file
MAX_SYMBOL_READS = 24
MAX_COMPARE = 64 * 1024 * 1024  # libcublasLt is ~500 MB: not hashed, its symbols still read
MAX_VERSION_JSON = 256 * 1024  # CUDA 12's version.json: ~3 KB
MAX_LISTED = 20
_STB_GLOBAL = 1  # gABI "Symbol Binding": an undefined STB_WEAK reference may stay unbound


def collect(facts: ExtensionFacts, inventory: Inventory, prefix: str) -> tuple[OutsideLibrary, ...]:
    """The outside libraries of ``facts``' lookups that an installed file shares a name with."""
    prefix = os.path.normpath(prefix)

    def inside(path: str) -> bool:
        normal = os.path.normpath(path)
        return inventory.owner(normal) is not None or normal.startswith(prefix + os.sep)

    wanted: dict[tuple[str, str], dict[str, None]] = {}
    for module in facts.modules:
        for requester, res in module.links:
            # "loaded": the interpreter's own libraries, mapped before anything is imported.
            if res.path is None or res.via == "loaded" or inside(res.path):
                continue
            if inside(requester):
                wanted.setdefault((res.name, res.path), {})[requester] = None
    if not wanted:
        return ()
    names = {name for name, _ in wanted}
    copies: dict[str, list[str]] = {}
    for dist in inventory.distributions:
        for _, path in dist.files():
            base = posixpath.basename(path)
            if base in names:
                copies.setdefault(base, []).append(path)
    reader = _Symbols()
    result: list[OutsideLibrary] = []
    for (name, path), requesters in sorted(wanted.items()):
        found = copies.get(name)
        if not found or len(result) >= MAX_OUTSIDE:
            continue
        result.append(_outside(name, path, tuple(requesters), found[:MAX_COPIES], reader))
    return tuple(result)


def _outside(
    name: str, path: str, requesters: tuple[str, ...], copies: list[str], reader: _Symbols
) -> OutsideLibrary:
    real = os.path.realpath(path)
    toolkit, toolkit_file = _toolkit(path, real)
    compared = []
    for copy in copies:
        lacking, needed_by = _lacking(name, path, copy, requesters, reader)
        compared.append(
            LibraryCopy(
                path=copy,
                identical=_same_bytes(path, copy),
                lacking=tuple(lacking[:MAX_LISTED]),
                lacking_count=len(lacking),
                needed_by=needed_by,
            )
        )
    return OutsideLibrary(
        name=name,
        path=path,
        requesters=requesters,
        real_name=posixpath.basename(real) if posixpath.basename(real) != name else None,
        toolkit=toolkit,
        toolkit_file=toolkit_file,
        copies=tuple(compared),
        complete=reader.complete,
    )


class _Symbols:
    """Dynamic symbol tables, each read once, at most :data:`MAX_SYMBOL_READS` of them."""

    def __init__(self) -> None:
        self._read: dict[str, tuple[DynamicSymbol, ...] | None] = {}
        self.complete = True

    def of(self, path: str) -> tuple[DynamicSymbol, ...] | None:
        if path in self._read:
            return self._read[path]
        if len(self._read) >= MAX_SYMBOL_READS:
            self.complete = False
            return None
        try:
            elf: ELFFile | None = read_elf(path, symbols=True)
        except (ELFError, OSError, ValueError):
            elf = None
        symbols = elf.symbols if elf is not None else None
        self._read[path] = symbols
        return symbols


def _lacking(
    name: str, outside: str, copy: str, requesters: Iterable[str], reader: _Symbols
) -> tuple[list[str], tuple[str, ...]]:
    """The symbols ``requesters`` need from ``name`` that ``copy`` defines and ``outside``
    does not. A reference versioned for ``name`` (``vn_file``, as CUDA's libraries version
    theirs: ``__nvJitLinkAddData_12_4@libnvJitLink.so.12``) is needed from it; an unversioned
    one counts only where the copy defines it (another library may define it too)."""
    theirs = reader.of(outside)
    ours = reader.of(copy)
    if theirs is None or ours is None:
        return [], ()
    have = _defined(theirs)
    give = _defined(ours)
    lacking: dict[str, None] = {}
    needed_by: dict[str, None] = {}
    for requester in requesters:
        for sym in reader.of(requester) or ():
            if sym.defined or sym.binding != _STB_GLOBAL:
                continue
            if sym.library not in (name, None) or (sym.library is None and sym.version):
                continue
            key = (sym.name, sym.version)
            if key in give and key not in have:
                lacking[f"{sym.name}@{sym.version}" if sym.version else sym.name] = None
                needed_by[requester] = None
    return list(lacking), tuple(needed_by)


def _defined(symbols: Iterable[DynamicSymbol]) -> set[tuple[str, str | None]]:
    """(name, version) and (name, None) of every symbol a lookup can bind to."""
    found: set[tuple[str, str | None]] = set()
    for sym in symbols:
        if sym.defined and sym.binding in (1, 2):  # STB_GLOBAL, STB_WEAK
            found.add((sym.name, sym.version))
            found.add((sym.name, None))
    return found


def _same_bytes(a: str, b: str) -> bool | None:
    """Whether two files hold the same bytes; None when they are too large to compare or
    not both regular files (opened without blocking, then judged by what was opened)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        first = os.open(a, flags)
    except OSError:
        return None
    try:
        second = os.open(b, flags)
    except OSError:
        os.close(first)
        return None
    try:
        first_stat, second_stat = os.fstat(first), os.fstat(second)
        if not (stat.S_ISREG(first_stat.st_mode) and stat.S_ISREG(second_stat.st_mode)):
            return None  # a FIFO, a device: nothing to compare
        if os.path.samestat(first_stat, second_stat):
            return True
        size = first_stat.st_size
        if size != second_stat.st_size:
            return False
        if size > MAX_COMPARE:
            return None
        offset = 0
        while offset < size:
            chunk = os.pread(first, 1 << 20, offset)
            if not chunk or chunk != os.pread(second, 1 << 20, offset):
                return not chunk and offset >= size
            offset += len(chunk)
        return True
    except OSError:
        return None
    finally:
        os.close(first)
        os.close(second)


def _toolkit(path: str, real: str) -> tuple[dict[str, str], str | None]:
    """The component versions of the ``version.json`` a CUDA toolkit (11.1 and later) keeps
    at its top (``/usr/local/cuda-12.1/version.json``: ``{"cuda": {"name": "CUDA SDK",
    "version": "12.1.1"}, "libcublas": {"name": ..., "version": "12.1.3.1"}, ...}``), looked
    for up to three directories above the library as found and as its symlinks lead
    (``lib64`` -> ``targets/x86_64-linux/lib``)."""
    seen: set[str] = set()
    for start in (path, real):
        directory = posixpath.dirname(start)
        for _ in range(3):
            directory = posixpath.dirname(directory)
            candidate = posixpath.join(directory, "version.json")
            if candidate in seen:
                continue
            seen.add(candidate)
            versions = _read_versions(candidate)
            if versions:
                return versions, candidate
    return {}, None


def _read_versions(path: str) -> dict[str, str]:
    try:
        data = read_regular(path, MAX_VERSION_JSON)
    except (OSError, ValueError):
        return {}
    try:
        doc = loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}  # not JSON (nested too deeply included)
    if not isinstance(doc, Mapping):
        return {}
    versions = {}
    for key, value in list(doc.items())[:200]:
        if isinstance(value, Mapping) and isinstance(value.get("version"), str):
            versions[str(key)] = value["version"]
    return versions
