"""Where extension modules live on ``sys.path`` and what their file names promise.

An extension module ``pkg.mod`` is a file ``pkg/mod<suffix>`` in a ``sys.path`` entry, where
``<suffix>`` is one of the interpreter's ``importlib.machinery.EXTENSION_SUFFIXES``. On
CPython/Linux a suffix looks like ``.cpython-311-x86_64-linux-gnu.so`` (PEP 3149 tag plus
platform triplet), ``.abi3.so`` (PEP 384 stable ABI) or plain ``.so``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator

from pkgdoctor._fields import Fact, fact
from pkgdoctor.listings import Listings

# PEP 3149 tags: "cpython-311", "cpython-313t", "cpython-37m", "cpython-311d", optionally
# followed by the platform triplet; PyPy's "pypy310-pp73-x86_64-linux-gnu".
_CPYTHON_TAG = re.compile(
    r"^cpython-(?P<ver>\d)(?P<minor>\d+)(?P<flags>[a-z]*)(?:-(?P<triplet>.+))?$"
)
_PYPY_TAG = re.compile(r"^pypy(?P<ver>\d)(?P<minor>\d+)-pp\d+(?:-(?P<triplet>.+))?$")


@fact
class ExtensionTag(Fact):
    """What an extension module's file name says about the interpreter it was built for."""

    tag: str  # the text between the module name and ".so" ("" for a bare ".so")
    implementation: str | None = None  # "cpython", "pypy"; None for abi3 and bare .so
    version: tuple[int, int] | None = None
    flags: str = ""  # PEP 3149 ABI flags: "t" free-threaded, "d" debug, "m" pymalloc (<3.8)
    triplet: str | None = None  # "x86_64-linux-gnu", "loongarch64-linux-gnu", ...
    stable_abi: bool = False

    @property
    def python(self) -> str | None:
        if self.implementation is None or self.version is None:
            return None
        name = "CPython" if self.implementation == "cpython" else "PyPy"
        return f"{name} {self.version[0]}.{self.version[1]}{self.flags}"


@fact
class ExtensionFile(Fact):
    """An extension module file found on ``sys.path``."""

    path: str
    module: str  # dotted name it would be imported as
    tag: ExtensionTag
    root: str  # the sys.path entry it was found under
    # Other names in the same directory that could provide the same module: "mod.py",
    # "mod.cpython-312-x86_64-linux-gnu.so", "mod" (a package directory).
    siblings: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return os.path.basename(self.path)

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path)


def parse_extension_filename(filename: str) -> tuple[str, ExtensionTag] | None:
    """Split ``_foo.cpython-311-x86_64-linux-gnu.so`` into ``("_foo", tag)``.

    Returns None for files that cannot be extension modules: the part before the first dot
    must be a Python identifier (so ``libfoo.so.1`` and ``libgfortran-3b4c.so`` are
    libraries, not modules).

    >>> parse_extension_filename("_umath.cpython-310-loongarch64-linux-gnu.so")[1].triplet
    'loongarch64-linux-gnu'
    """
    if not filename.endswith(".so"):
        return None
    stem, _, rest = filename[:-3].partition(".")
    if not stem.isidentifier():
        return None
    if rest == "":
        return stem, ExtensionTag("")
    if rest == "abi3":
        return stem, ExtensionTag("abi3", stable_abi=True)
    match = _CPYTHON_TAG.match(rest)
    if match:
        version = (int(match["ver"]), int(match["minor"]))
        return stem, ExtensionTag(rest, "cpython", version, match["flags"], match["triplet"])
    match = _PYPY_TAG.match(rest)
    if match:
        version = (int(match["ver"]), int(match["minor"]))
        return stem, ExtensionTag(rest, "pypy", version, "", match["triplet"])
    if "." in rest:
        return None
    return stem, ExtensionTag(rest)


# How deep below a ``sys.path`` entry the walk goes: a directory this many levels down is
# not entered (a ``too-deep`` scan problem, reported as ``path-too-deep``). Real packages nest
# far less: the deepest package in the environments we measured is moto's
# ``moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.
# resource_output_transformer``, 11 levels. 64 leaves more than five times that room, and
# keeps a runaway tree (1000 nested directories) from costing a ``stat`` and a listing per
# level without bound, and its paths well below PATH_MAX.
MAX_DEPTH = 64

UNREADABLE = "unreadable"
TOO_DEEP = "too-deep"


@fact
class ScanProblem(Fact):
    """A directory the walk for extension modules did not look into: it could not be read
    (``kind`` ``unreadable``), or it lies :data:`MAX_DEPTH` levels below its ``sys.path``
    entry (``too-deep``)."""

    path: str
    reason: str
    kind: str = UNREADABLE


def iter_extensions(
    roots: Iterable[str],
    problems: list[ScanProblem] | None = None,
    listings: Listings | None = None,
    visited: list[tuple[str, os.stat_result | None]] | None = None,
    max_depth: int = MAX_DEPTH,
) -> Iterator[ExtensionFile]:
    """Every extension module file importable from the ``sys.path`` entries ``roots``.

    Only directories that could be packages are entered (their names are identifiers), the
    way the import system walks them; ``numpy.libs`` or ``foo-1.0.dist-info`` are not. Each
    real directory is visited once, even when reachable twice through links or nested
    ``sys.path`` entries. Unreadable directories, and directories ``max_depth`` levels below
    a root (not entered), are recorded in ``problems``; every path looked at, with its
    ``stat`` (None if there is nothing), in ``visited``.

    The walk is depth first, a directory's own files before its subdirectories, each in
    name order; it keeps its own stack, so that no tree can exhaust Python's.
    """
    seen: set[tuple[int, int]] = set()
    listings = listings or Listings()
    for root in roots:
        # (directory, dotted package name, levels below the root), popped from the end.
        stack: list[tuple[str, str, int]] = [(root, "", 0)]
        while stack:
            directory, package, depth = stack.pop()
            if not _first_visit(directory, seen, visited):
                continue
            if depth >= max_depth:
                if problems is not None:
                    reason = f"{depth} levels below {root}: deeper than pkgdoctor looks"
                    problems.append(ScanProblem(directory, reason, TOO_DEEP))
                continue
            listed = _directory(directory, problems, listings)
            if listed is None:
                continue
            found, by_stem, subdirs = listed
            for path, stem, tag in sorted(found):
                module = f"{package}.{stem}" if package else stem
                name = os.path.basename(path)
                siblings = tuple(sorted(n for n in by_stem[stem] if n != name))
                yield ExtensionFile(path, module, tag, root, siblings)
            for name in sorted(subdirs, reverse=True):  # reversed: the first is popped first
                module = f"{package}.{name}" if package else name
                stack.append((os.path.join(directory, name), module, depth + 1))


def _first_visit(
    directory: str,
    seen: set[tuple[int, int]],
    visited: list[tuple[str, os.stat_result | None]] | None,
) -> bool:
    """Whether ``directory`` is a directory not seen before (not a second way into it, as a
    link loop would be); it is then seen. Its ``stat`` goes to ``visited``."""
    try:
        st = os.stat(directory)
    except OSError:
        if visited is not None:
            visited.append((directory, None))
        return False
    if visited is not None:
        visited.append((directory, st))
    key = (st.st_dev, st.st_ino)
    if key in seen or not stat.S_ISDIR(st.st_mode):
        return False
    seen.add(key)
    return True


def _directory(
    directory: str, problems: list[ScanProblem] | None, listings: Listings
) -> tuple[list[tuple[str, str, ExtensionTag]], dict[str, list[str]], list[str]] | None:
    """(extension files, names by stem, package subdirectories) of one directory; None
    when it cannot be listed (a problem)."""
    entries = listings.entries(directory)
    if isinstance(entries, OSError):
        if problems is not None:
            problems.append(ScanProblem(directory, entries.strerror or str(entries)))
        return None
    subdirs = []
    found: list[tuple[str, str, ExtensionTag]] = []
    by_stem: dict[str, list[str]] = {}
    for name, is_dir in entries.items():
        stem = name.partition(".")[0]
        by_stem.setdefault(stem, []).append(name)
        if is_dir:
            if name.isidentifier() and name != "__pycache__":
                subdirs.append(name)
            continue
        parsed = parse_extension_filename(name)
        if parsed is not None:
            found.append((os.path.join(directory, name), *parsed))
    return found, by_stem, subdirs
