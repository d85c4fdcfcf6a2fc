"""The Snapshot: everything pkgdoctor saw of one environment, as one frozen value.

The look layer (:mod:`pkgdoctor.look`: the live probe or the static reader, then the file
readers) builds it; every check is a pure function of it; ``snapshot`` writes it as JSON
(:mod:`pkgdoctor.snapshot.codec`), ``check --from`` reads it back, ``diff`` and ``export`` work
on it. Nothing here reads a file: the derived views (``Inventory.owners``,
``Distribution.files``) are computed from the recorded facts alone.

Sections:

- ``target``: the interpreter and its ``sys.path`` as the probe or the static reader saw them
  (:class:`pkgdoctor.target.facts.Target`);
- ``inventory``: every distribution on ``sys.path`` (metadata fields, requirements, RECORD rows
  with which of them are missing and, with ``--deep``, which differ; WHEEL tags, INSTALLER,
  ``direct_url.json``, REQUESTED);
- ``paths``: the effective ``sys.path`` with the origin of each entry, what each entry provides
  at the top level, the ``.pth`` files, the PEP 668 marker;
- ``extensions``: every extension module on ``sys.path`` with its ELF facts and what the
  loader model resolved for each ``DT_NEEDED``, transitively through the libraries the
  environment brings.

Later areas (conda records, pip/conda configuration, GPU driver facts) add sections the same
way: a frozen dataclass here, a reader in the look layer, a codec entry.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shlex
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any, NamedTuple

from pkgdoctor._fields import Fact, fact
from pkgdoctor.elf import ELFFile
from pkgdoctor.extmodules import ExtensionFile, ScanProblem
from pkgdoctor.optional_imports import ModuleImports
from pkgdoctor.target.facts import Target

#: The version of the snapshot document (``schema/snapshot-v1.json``); also part of every
#: cache key, so that a cache written by another layout is a miss, never misread.
SCHEMA_VERSION = 1

# PEP 503 normalization (packaging.utils.canonicalize_name), inlined because it is needed for
# every distribution on the fast path and packaging's import costs more than the whole scan.
_NORMALIZE = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 normalized name: ``Foo.Bar_baz`` → ``foo-bar-baz``."""
    return _NORMALIZE.sub("-", name).lower()


# --- distributions --------------------------------------------------------------------------

_B64 = re.compile(r"[A-Za-z0-9_-]*")  # urlsafe base64 alphabet (RFC 4648, section 5)


def record_algorithm(recorded: str) -> str | None:
    """The hashlib name in a RECORD hash ``sha256=<digest>``; None when it cannot be checked.

    That is: hashlib does not know the algorithm (or refuses it, as md5 under FIPS), it has
    no fixed size (shake_*), or the digest is not urlsafe base64 of that size. Such a RECORD
    row is wrong, not the file: ``dist-metadata-invalid`` is the place to say so.
    """
    name, sep, digest = recorded.partition("=")
    name = name.strip().lower()
    size = _digest_size(name) if sep else 0
    digest = digest.strip().rstrip("=")
    if not size or len(digest) != -(-4 * size // 3) or not _B64.fullmatch(digest):
        return None
    return name


@functools.cache
def _digest_size(name: str) -> int:
    import hashlib  # only --deep hashes: start-up does not pay for these imports

    if name not in hashlib.algorithms_available:
        return 0
    try:
        return hashlib.new(name).digest_size
    except ValueError:  # available but disabled (FIPS)
        return 0


def normal_hash(recorded: str) -> str:
    """A RECORD hash as :func:`pkgdoctor.inventory.record_hash` writes it: the algorithm in
    lower case, no padding (PEP 376 allows either)."""
    name, _, digest = recorded.partition("=")
    return f"{name.strip().lower()}={digest.strip().rstrip('=')}"


# --- where a RECORD row may point -----------------------------------------------------------

# The site directories of sysconfig's install schemes, and the scheme's base:
# "{base}/{lib,lib64}/python{X.Y}[t]/site-packages" (posix_prefix and posix_user: venvs, conda,
# --prefix, --user; PyPy's "pypy{X.Y}"), Debian's "{base}/lib/python3/dist-packages" and
# "{base}/local/lib/python{X.Y}/dist-packages" (base /usr/local then), "{home}/lib/python"
# (posix_home) and "{base}/Lib/site-packages" (nt). Every directory of such a scheme
# (purelib, platlib, scripts, headers) lies within its ``data`` directory, which is the base.
# A base of "/" is not taken (``.+``): every path would be inside it.
_SCHEME_SITE = re.compile(
    r"^(?P<base>.+)/(?:"
    r"(?:lib|lib64)/(?:python\d+(?:\.\d+)?t?|pypy\d+(?:\.\d+)?)/(?:site|dist)-packages"
    r"|lib/python|Lib/site-packages)$"
)
# ``pip install --target T`` installs into the home scheme of a temporary directory H, then
# moves H/lib/python/* and H/* (bin, include, share) into T, and keeps RECORD's rows
# relative to H/lib/python (``../../bin/f2py`` is T/bin/f2py; pypa/pip#7658). H stands here.
_HOME = "/\0home"
_HOME_SITE = _HOME + "/lib/python"


@functools.lru_cache(maxsize=256)
def install_base(site_dir: str) -> str | None:
    """The base of the install scheme whose site directory ``site_dir`` is: the directory
    an installer writes every file of a distribution found there into; None when its
    layout is no scheme's (a ``--target`` or ``PYTHONPATH`` directory).

    >>> install_base("/venv/lib/python3.12/site-packages"), install_base("/opt/libs")
    ('/venv', None)
    """
    match = _SCHEME_SITE.match(os.path.normpath(site_dir))
    return match["base"] if match else None


#: How a distribution's problem says that one of its metadata files is a FIFO, a device or a
#: directory ("RECORD is a FIFO, not a regular file"): nothing was read from it, and pip
#: would block on a FIFO, so a fix removes it first (:func:`not_regular_files`).
NOT_REGULAR = ", not a regular file"


def not_regular_files(problems: Sequence[str]) -> list[str]:
    """The metadata files that ``problems`` say are not regular files.

    >>> not_regular_files(["RECORD is a FIFO, not a regular file", "no Version field"])
    ['RECORD']
    """
    return [p.partition(" is ")[0] for p in problems if p.endswith(NOT_REGULAR)]


def record_locations(site_dir: str, row: str) -> tuple[str, ...]:
    """Where the file of RECORD row ``row`` of a distribution found in ``site_dir`` can be,
    in the order to look; empty when the row lies outside every directory its installer
    could have written to. Pure (no file is looked at), and the one place this is decided:
    the look layer never opens, hashes or ``stat``s a row outside, the integrity check
    reports it (``record-path-outside``).

    Inside is what pip allows when it installs a wheel (``is_within_directory`` in
    ``pip/_internal/operations/install/wheel.py`` refuses "a file ... trying to install
    outside the target directory"): within the site directory or its scheme's base
    (scripts ``../../../bin/x`` of a venv), compared by normalized path as pip does. The
    second place, for rows starting with ``..``: where ``pip install --target`` moved it.

    >>> record_locations("/venv/lib/python3.12/site-packages", "../../../bin/x")
    ('/venv/bin/x',)
    >>> record_locations("/venv/lib/python3.12/site-packages", "../../../../etc/shadow")
    ()
    >>> record_locations("/opt/libs", "../../bin/x")
    ('/opt/libs/bin/x',)
    """
    site = os.path.normpath(site_dir)
    literal = os.path.normpath(os.path.join(site, row))
    base = install_base(site)
    found = [literal] if _within(literal, base or site) else []
    if row.startswith(".."):
        home = os.path.normpath(os.path.join(_HOME_SITE, row))
        for root in (_HOME_SITE, _HOME):
            if _within(home, root):
                moved = site + home[len(root) :]
                if moved not in found:
                    found.append(moved)
                break
    return tuple(found)


def pycache_prefix_row(site_dir: str, row: str) -> bool:
    """Whether RECORD row ``row`` is bytecode that pip compiled under ``sys.pycache_prefix``
    (``PYTHONPYCACHEPREFIX``, PEP 3147's "prefix" variant): CPython writes the ``.pyc`` of
    ``SITE/pkg/m.py`` to ``PREFIX/SITE/pkg/m.<tag>.pyc``, outside the environment, and pip
    lists it in RECORD like any file it wrote. Such a row is legitimate (``pip uninstall``
    removes the file); it is not reported as outside, and not looked at either.

    >>> site = "/venv/lib/python3.12/site-packages"
    >>> pycache_prefix_row(site, "../../../../tmp/pyc" + site + "/a.cpython-312.pyc")
    True
    >>> pycache_prefix_row(site, "../../../../etc/shadow")
    False
    """
    if not row.endswith(".pyc"):
        return False
    site = os.path.normpath(site_dir)
    return os.path.normpath(os.path.join(site, row)).find(site + "/", 1) > 0


def _unusual(row: str) -> bool:
    """Whether RECORD row ``row`` may leave the site directory (anything but a plain relative
    path): only those go through :func:`record_locations`."""
    return row[:1] in ("/", ".") or "/." in row or "//" in row or "\\" in row


def _within(path: str, directory: str) -> bool:
    """Whether the normalized ``path`` is ``directory`` or below it."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


class RecordEntry(NamedTuple):
    """One row of a RECORD file (PEP 376): the path as written, its hash and size if given.

    A NamedTuple, not a dataclass: a large environment has tens of thousands of rows, and
    building a tuple costs a fraction of a frozen dataclass's ``__init__``.
    """

    path: str
    hash: str | None  # "sha256=<urlsafe-b64, no padding>" or None
    size: int | None


class HashedFile(NamedTuple):
    """A RECORD row whose file ``--deep`` read and whose content differs from the row."""

    path: str  # the RECORD path, as written
    located: str  # where the file is (``pip install --target`` moves ``../../bin`` files)
    digest: str  # "sha256=..." of the content, in the RECORD's algorithm
    size: int
    shebang: bool  # the file starts with ``#!``


@fact
class Integrity(Fact):
    """What the look layer found on disk for one distribution's RECORD rows."""

    checked: int = 0  # rows whose presence was checked (``.pyc`` and directories are not)
    missing: tuple[str, ...] = ()  # RECORD paths of rows with no file
    deep: bool = False  # every hashed row was read and hashed
    hashed: int = 0  # rows hashed (with ``deep``)
    differing: tuple[HashedFile, ...] = ()  # rows whose content differs (with ``deep``)
    # The local wheel ``direct_url.json`` names, when it still exists (with ``deep``), and the
    # differing rows whose member in that wheel has the installed content.
    installed_from: str | None = None
    published: tuple[str, ...] = ()


@fact
class Distribution(Fact):
    """An installed distribution: what its metadata directory says, read once."""

    name: str
    version: str | None
    metadata_dir: str
    site_dir: str  # the sys.path entry it was found in
    requires: tuple[str, ...] = ()  # Requires-Dist (egg-info requires.txt converted)
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = ()
    metadata_version: str | None = None
    problems: tuple[str, ...] = ()  # why its metadata is invalid, as read
    summary: str | None = None
    wheel_tags: tuple[str, ...] = ()  # the ``Tag:`` lines of WHEEL (empty: not from a wheel)
    wheel_build: str | None = None  # the ``Build:`` line of WHEEL
    installer: str | None = None  # INSTALLER: "pip", "uv", "conda"...
    requested: bool = False  # REQUESTED exists: the user asked for it by name
    direct_url: Mapping[str, Any] | None = None  # direct_url.json (PEP 610), parsed
    # RECORD rows (dist-info) or installed-files.txt paths (egg-info); None if absent.
    record: tuple[RecordEntry, ...] | None = None
    site_real: str = ""  # realpath of site_dir
    integrity: Integrity = field(default_factory=Integrity)

    @property
    def key(self) -> str:
        return normalize(self.name)

    @property
    def is_dist_info(self) -> bool:
        return self.metadata_dir.endswith(".dist-info")

    @property
    def requirement(self) -> str:
        """``name==version`` for a fix command."""
        return f"{self.name}=={self.version}" if self.version else self.name

    @property
    def editable(self) -> bool:
        """Installed in editable mode (PEP 610 ``dir_info.editable``)."""
        info = (self.direct_url or {}).get("dir_info")
        return isinstance(info, dict) and info.get("editable") is True

    @property
    def direct_url_path(self) -> str | None:
        """The local path of ``direct_url.json``'s ``file:`` URL (PEP 610): the project
        directory of an editable install, a local wheel or directory; None for any other.

        >>> Distribution("x", "1", "", "", direct_url={"url": "file:///src/my%20proj"}).direct_url_path
        '/src/my proj'
        """
        url = (self.direct_url or {}).get("url")
        if not isinstance(url, str) or not url.startswith("file:"):
            return None
        from urllib.parse import unquote, urlsplit  # rarely needed: off the start-up path

        try:
            return unquote(urlsplit(url).path) or None
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name

    @property
    def record_path(self) -> str:
        """The file listing what was installed: RECORD, or an egg-info's installed-files.txt."""
        name = "RECORD" if self.is_dist_info else "installed-files.txt"
        return os.path.normpath(os.path.join(self.metadata_dir, name))

    def files(self) -> tuple[tuple[RecordEntry, str], ...]:
        """Each RECORD entry with its absolute, normalized path (the first of
        :func:`record_locations`), except the rows outside (:attr:`outside`) and bytecode
        under a pycache prefix (:func:`pycache_prefix_row`)."""
        return self._files

    @functools.cached_property
    def outside(self) -> tuple[RecordEntry, ...]:
        """The RECORD rows outside every directory the installer could write to
        (:func:`record_locations`): never looked at. Only the unusual rows are judged (a
        check asks this of every distribution, warm runs included)."""
        base = os.path.normpath(self.site_dir)
        return tuple(
            entry
            for entry in self.record or ()
            if _unusual(entry.path)
            and not record_locations(base, entry.path)
            and not pycache_prefix_row(base, entry.path)
        )

    @functools.cached_property
    def roots(self) -> frozenset[str]:
        """Where this distribution's files could meet another's (``Inventory.shared``): the
        first component of each plain RECORD row (the whole row below ``__pycache__``, which
        every top-level module shares), and ``@`` and the resolved path of each other row
        (scripts, data). Cached with the distribution: a warm check does not read the rows."""
        base = os.path.normpath(self.site_dir)
        result = set()
        for entry in self.record or ():
            rel = entry.path
            if _unusual(rel):
                found = record_locations(base, rel)
                if not found:
                    continue
                if not found[0].startswith(base + "/"):
                    result.add("@" + found[0])
                    continue
                rel = found[0][len(base) + 1 :]
            first = rel.partition("/")[0]
            result.add(rel.rstrip("/") if first == "__pycache__" else first)
        return frozenset(result)

    @functools.cached_property
    def _files(self) -> tuple[tuple[RecordEntry, str], ...]:
        base = os.path.normpath(self.site_dir)
        result = []
        for entry in self.record or ():
            rel = entry.path
            # Most rows are plain relative paths ("numpy/core/x.py"): join them by hand, they
            # cannot leave the site directory; the others go through the rule (tens of
            # thousands of rows per run).
            if _unusual(rel):
                found = record_locations(base, rel)
                if not found:
                    continue  # outside, or bytecode under a pycache prefix: never looked at
                path = found[0]
            else:
                path = f"{base}/{rel}".rstrip("/")
            result.append((entry, path))
        return tuple(result)

    @functools.cached_property
    def top_level_names(self) -> frozenset[str]:
        """Top-level importable names this distribution installs (from RECORD).

        ``numpy/__init__.py`` gives ``numpy``, ``six.py`` gives ``six``,
        ``_cffi_backend.cpython-311-x86_64-linux-gnu.so`` gives ``_cffi_backend``.
        """
        names = set()
        for entry in self.record or ():
            first, sep, _ = entry.path.replace("\\", "/").partition("/")
            if sep:
                if first.isidentifier() and first != "__pycache__":
                    names.add(first)
            elif first.endswith((".py", ".so")):
                stem = first.partition(".")[0]
                if stem.isidentifier():
                    names.add(stem)
        return frozenset(names)

    def with_integrity(self, integrity: Integrity) -> Distribution:
        """This distribution with ``integrity`` filled in; what was derived from its RECORD
        (the cached properties) holds for the copy and is not computed again."""
        copy = dataclasses.replace(self, integrity=integrity)
        for name in _DERIVED_FROM_RECORD:
            if name in self.__dict__:
                copy.__dict__[name] = self.__dict__[name]
        return copy

    @functools.cached_property
    def missing_paths(self) -> frozenset[str]:
        """Absolute paths of the RECORD rows that have no file."""
        missing = set(self.integrity.missing)
        return frozenset(path for entry, path in self.files() if entry.path in missing)


_DERIVED_FROM_RECORD = ("_files", "outside", "roots", "top_level_names")


@fact
class Inventory(Fact):
    """The distributions of a target, as the import system and pip see them."""

    distributions: tuple[Distribution, ...] = ()  # the winners, in discovery order
    shadowed: tuple[Distribution, ...] = ()  # same normalized name as an earlier one
    leftovers: tuple[str, ...] = ()  # pip's "~name" directories of an interrupted (un)install
    unreadable: tuple[tuple[str, str], ...] = ()  # (directory, reason)

    @functools.cached_property
    def by_key(self) -> dict[str, Distribution]:
        return {d.key: d for d in self.distributions}

    def get(self, name: str) -> Distribution | None:
        return self.by_key.get(normalize(name))

    @property
    def all(self) -> tuple[Distribution, ...]:
        return (*self.distributions, *self.shadowed)

    @functools.cached_property
    def owners(self) -> dict[str, Distribution]:
        """Absolute path of every RECORDed file → the (first) distribution that installed it."""
        index: dict[str, Distribution] = {}
        for dist in self.all:
            for _, path in dist.files():
                index.setdefault(path, dist)
        return index

    @functools.cached_property
    def shared(self) -> dict[str, tuple[tuple[Distribution, RecordEntry], ...]]:
        """The paths that the RECORDs of two or more distributions list → each of those
        distributions with its row, the first owner first (rarely more than a few).

        Every check run asks this, so it is built from the rows as written, per site
        directory, without joining tens of thousands of paths: a plain row is its own key;
        only the unusual rows are resolved (``record_locations``)."""
        # Only distributions that share a root (``Distribution.roots``) can share a file.
        meeting: dict[tuple[str, str], list[Distribution]] = {}
        for dist in self.all:
            base = os.path.normpath(dist.site_dir)
            for root in dist.roots:
                meeting.setdefault(("" if root[:1] == "@" else base, root), []).append(dist)
        candidates = {id(d) for group in meeting.values() if len(group) > 1 for d in group}
        by_site: dict[str, dict[str, tuple[Distribution, RecordEntry]]] = {}
        shared: dict[str, list[tuple[Distribution, RecordEntry]]] = {}
        elsewhere = by_site.setdefault("", {})  # resolved rows outside their site directory
        for dist in self.all:
            if id(dist) not in candidates:
                continue
            base = os.path.normpath(dist.site_dir)
            inside = by_site.setdefault(base, {})
            for entry in dist.record or ():
                key = entry.path
                index = inside
                if _unusual(key):
                    found = record_locations(base, key)
                    if not found:
                        continue
                    if found[0].startswith(base + "/"):
                        key = found[0][len(base) + 1 :]
                    else:
                        key, index = found[0], elsewhere
                elif key.endswith("/"):
                    key = key.rstrip("/")
                first = index.setdefault(key, (dist, entry))
                if first[0] is dist:
                    continue  # its own file (or its own row listed twice)
                path = key if index is elsewhere else f"{base}/{key}"
                owners = shared.setdefault(path, [first])
                if all(d is not dist for d, _ in owners):
                    owners.append((dist, entry))
        return {path: tuple(owners) for path, owners in shared.items()}

    def owner(self, path: str) -> Distribution | None:
        return self.owners.get(os.path.normpath(path))


# --- sys.path -------------------------------------------------------------------------------


@fact
class Provision(Fact):
    """How one ``sys.path`` directory provides a top-level name (importlib's FileFinder).

    ``kind`` is ``package`` (a directory with ``__init__``), ``extension``, ``module``
    (``.py``), ``bytecode`` (a sourceless ``.pyc``) or ``namespace`` (a directory without
    ``__init__``: a PEP 420 portion).
    """

    kind: str
    path: str  # the file or directory

    @property
    def regular(self) -> bool:
        return self.kind != "namespace"


@fact
class PathEntry(Fact):
    """One directory of the effective path: the working directory, then ``sys.path``."""

    path: str
    index: int
    origin: str  # "working directory", "PYTHONPATH", "stdlib", "site-packages", "user site",
    # ".pth", "unknown"
    real: str  # realpath
    pth_file: str | None = None
    # What it provides at the top level: every importable name for the stdlib's
    # directories, the names worth checking for the others. Empty for a zip.
    provides: Mapping[str, Provision] = field(default_factory=dict)


@fact
class PthLine(Fact):
    """A meaningful line of a ``.pth`` file: a directory to add, or code to execute."""

    number: int  # 1-based, as site.py reports it
    text: str
    executes: bool


@fact
class PthFile(Fact):
    path: str
    site_dir: str  # as on sys.path
    lines: tuple[PthLine, ...]
    # "a FIFO", "a character device", ...: site.py would block on it at every start (and
    # nothing was read from it); None for a regular file.
    blocking: str | None = None


@fact
class SourceDir(Fact):
    """A directory an install points ``sys.path`` (or an import hook) at, outside the site
    directory: an editable install's source, recorded where site.py or the hook reads it.

    ``kind`` is ``pth`` (a directory line of a ``.pth`` file: PEP 660 path-style editables,
    ``easy-install.pth``, hand-written ones), ``finder`` (a ``MAPPING`` value of setuptools'
    ``__editable___*_finder.py``; ``name`` is the module it maps) or ``egg-link`` (a legacy
    ``setup.py develop`` / ``pip install -e`` ``NAME.egg-link``; ``name`` is its stem).
    """

    path: str  # absolute, normalized
    recorded_in: str  # the .pth, finder or .egg-link file
    kind: str
    exists: bool
    name: str | None = None


@fact
class ExternallyManaged(Fact):
    """The PEP 668 marker of a non-venv interpreter."""

    marker: str
    error: str | None  # its ``Error`` key, on one line


@fact
class PathFacts(Fact):
    """The effective ``sys.path`` and where each entry came from."""

    entries: tuple[PathEntry, ...] = ()
    pythonpath: tuple[str, ...] | None = None  # None when unknown (static mode)
    pth_files: tuple[PthFile, ...] = ()
    cwd: str | None = None
    externally_managed: ExternallyManaged | None = None
    conda: bool = False  # the prefix has conda-meta/
    prefix_real: tuple[str, ...] = ()  # realpath of the prefix and of the base prefix
    # "a FIFO", "a character device", ...: the prefix's pyvenv.cfg, which the interpreter
    # reads at every start (getpath), would block it; None when it is not such a file.
    venv_cfg_blocking: str | None = None
    # Every directory a .pth line, an editable finder or an .egg-link points at, and whether
    # it still exists (site.py skips a missing one silently).
    sources: tuple[SourceDir, ...] = ()

    def from_pythonpath(self, raw: str) -> str:
        """A PYTHONPATH entry as the user's Python sees it (relative: below the cwd)."""
        return os.path.normpath(os.path.join(self.cwd or "", raw))


# --- extension modules ----------------------------------------------------------------------


@fact
class Candidate(Fact):
    """A file with the wanted name that the loader looked at and skipped."""

    path: str
    reason: str  # "aarch64, not x86_64", "not a valid ELF file: ..."


@fact
class Resolution(Fact):
    """The outcome of looking up one ``DT_NEEDED`` name."""

    name: str
    path: str | None  # the file the loader would map; None when not found
    via: str  # "rpath", "LD_LIBRARY_PATH", "runpath", "ld.so.cache", "default", "loaded", ...
    searched: tuple[str, ...] = ()  # directories tried, in order
    skipped: tuple[Candidate, ...] = ()
    system: bool = False  # found in the system's own library directories
    absent: tuple[str, ...] = ()  # searched directories that do not exist (when not found)

    @property
    def found(self) -> bool:
        # musl's libc parts ("libc.so", "libm.so.6", ...) are satisfied by musl itself.
        return self.path is not None or self.via == "libc"


class Link(NamedTuple):
    """One ``DT_NEEDED`` of one object in an extension module's load, as resolved."""

    requester: str  # the object that needs it (the module, or a library it loads)
    resolution: Resolution


@fact
class Extension(Fact):
    """One extension module file and what loading it would involve."""

    file: ExtensionFile
    # Package directories among the siblings that have an ``__init__`` (they win over the
    # file in FileFinder).
    package_siblings: tuple[str, ...] = ()
    # Every DT_NEEDED of the module and of the libraries it brings in (not of system
    # libraries), in load order; empty when the file is not an ELF file of this machine.
    links: tuple[Link, ...] = ()
    # Every import of the module in its distribution's Python sources, and whether each is
    # guarded by ``except ImportError`` (see pkgdoctor.optional_imports). Looked at only for
    # modules the loader cannot link; None: not looked at.
    importers: ModuleImports | None = None
    # The NumPy headers the module was compiled against (pkgdoctor.numpy_abi): 1 or 2, 0 when
    # it does not import NumPy's C API. Looked at only with NumPy 2 installed, for modules of
    # distributions that require numpy (every module an import touched, in `why`); None: not
    # looked at.
    numpy_headers: int | None = None


class VersionGap(NamedTuple):
    """Symbol versions an object needs from a library that the resolved library lacks."""

    requester: str  # the object that needs them
    resolution: Resolution  # the library the loader would map for that DT_NEEDED
    lacking: tuple[str, ...]
    defined: tuple[str, ...]  # what that library does define (its DT_VERDEF names)


def link_gaps(
    module: Extension, elf: Mapping[str, ELFFile | str]
) -> tuple[list[Link], list[VersionGap]]:
    """What ld.so would refuse when loading ``module``, from the recorded facts: the
    ``DT_NEEDED`` names not found (lookups that could not be judged, ``via == "unknown"``,
    left out), and the symbol versions each resolved library does not define. Like
    ``_dl_check_map_versions``, only a library that defines versions is checked."""
    missing: list[Link] = []
    resolved: dict[tuple[str, str], Resolution] = {}
    for link in module.links:
        if not link.resolution.found:
            if link.resolution.via != "unknown":
                missing.append(link)
            continue
        resolved.setdefault((link.requester, link.resolution.name), link.resolution)
    gaps: list[VersionGap] = []
    for requester in dict.fromkeys(link.requester for link in module.links):
        obj = elf.get(requester)
        if not isinstance(obj, ELFFile):
            continue
        for need in obj.version_needs:
            res = resolved.get((requester, need.file))
            lib = elf.get(res.path) if res is not None and res.path is not None else None
            if res is None or not isinstance(lib, ELFFile) or not lib.version_definitions:
                continue
            defined = set(lib.version_definitions)
            lacking = tuple(v for v in need.versions if v not in defined)
            if lacking:
                gaps.append(VersionGap(requester, res, lacking, lib.version_definitions))
    return missing, gaps


@fact
class SymbolDefinition(Fact):
    """A library that defines a symbol some object could not find."""

    path: str
    via: str  # where it lies: "loaded" (in the lookup scope), "LD_LIBRARY_PATH", "rpath", ...
    soname: str | None = None
    version: str | None = None  # the symbol's version there


@fact
class SymbolSearch(Fact):
    """Where an undefined symbol is defined (``why``, after ld.so said "undefined symbol"):
    the libraries of the lookup scope (the interpreter's and the module's ``DT_NEEDED``
    closure) and those of ``LD_LIBRARY_PATH``, the RPATH/RUNPATH directories, the environment
    and the system, read up to the limits of :mod:`pkgdoctor.look.symbols`."""

    # None: a symbol version the loaded library lacks ("version `V' not found"), looked up
    # only in the files of that library's name.
    symbol: str | None
    version: str | None  # the version ld.so asked for ("undefined symbol: x, version V")
    requester: str  # the object whose reference is undefined
    module: str  # the extension module whose import failed
    defined_in: tuple[SymbolDefinition, ...] = ()
    libraries_read: int = 0
    complete: bool = True  # False: a limit stopped the search before every directory
    library: str | None = None  # the library that lacks the version (``symbol`` None)


@fact
class ExtensionFacts(Fact):
    """Every extension module on ``sys.path`` and the ELF facts of every object involved."""

    modules: tuple[Extension, ...] = ()
    scan_problems: tuple[ScanProblem, ...] = ()
    # ELF facts of every module and every library a link resolved to, or why the file
    # could not be read ("[Errno 2] ...", "not an ELF file: ...").
    elf: Mapping[str, ELFFile | str] = field(default_factory=dict)
    executable: str | None = None  # the interpreter's real executable, when an ELF file
    system_known: bool = True  # lookups in system directories describe the target's system
    # Undefined symbols looked up (``why`` only; empty elsewhere).
    symbol_searches: tuple[SymbolSearch, ...] = ()


# --- the environment's own integrity -------------------------------------------------------


@fact
class Shebang(Fact):
    """A script in the environment's ``bin/`` whose ``#!`` line names a Python."""

    script: str  # the file in bin/
    interpreter: str  # the interpreter it names, as written
    exists: bool  # that interpreter exists (links followed)
    real_dir: str  # realpath of the interpreter's directory (normalized path when gone)


@fact
class VenvFacts(Fact):
    """What a venv's own files say about it (``pyvenv.cfg``, ``bin/``): read for every
    target with a ``pyvenv.cfg``, None for the others."""

    cfg: Mapping[str, str] = field(default_factory=dict)  # pyvenv.cfg's key = value lines
    home_exists: bool = True  # pyvenv.cfg's ``home`` directory exists
    python_links: tuple[str, ...] = ()  # bin/python* names (what a re-run of venv writes)
    resolved: str | None = None  # realpath of bin/python (or python3)
    # major.minor of what bin/python runs: the live interpreter's, or read from the name of
    # the file it resolves to (static); None when unknown.
    resolved_version: str | None = None
    # lib/pythonX.Y/site-packages directories of the prefix, with their number of
    # *.dist-info / *.egg-info directories.
    site_dirs: tuple[tuple[str, int], ...] = ()
    shebangs: tuple[Shebang, ...] = ()
    # Interpreters of pyvenv.cfg's major.minor found on this machine (home, pyenv's
    # versions, PATH), the first the best: what to recreate the venv with.
    candidates: tuple[str, ...] = ()

    @property
    def version(self) -> str | None:
        """pyvenv.cfg's ``major.minor``: venv writes ``version``, uv and virtualenv
        ``version_info`` (virtualenv: ``3.11.7.final.0``)."""
        for key in ("version_info", "version"):
            match = re.match(r"(\d+)\.(\d+)", self.cfg.get(key, ""))
            if match:
                return f"{match[1]}.{match[2]}"
        return None


# --- the OS package manager -----------------------------------------------------------------


@fact
class OsManager(Fact):
    """How to work with one OS package manager, for fixes: one place for its commands.

    ``python_prefix`` is how the distribution names the package of a Python module: Debian's
    Python policy (section 4.3, "Module Package Names") ``python3-foo`` for module ``foo``;
    Alpine's ``py3-foo``; Fedora's ``python3-foo``.
    """

    name: str  # the database: "dpkg", "apk", "rpm"
    front: str  # the tool that installs: "apt", "apk", "dnf"
    install: str  # a command with ``{}`` for the package names
    reinstall: str
    python_prefix: str


MANAGERS: Mapping[str, OsManager] = {
    # apt installs through dpkg and fetches what it needs; `--reinstall` unpacks every file
    # of the package again (apt-get(8)).
    "dpkg": OsManager("dpkg", "apt", "apt install {}", "apt install --reinstall {}", "python3-"),
    # `apk fix` reinstalls a package ("--reinstall" is its default, apk-fix(8)).
    "apk": OsManager("apk", "apk", "apk add {}", "apk fix {}", "py3-"),
    # dnf installs through rpm; `reinstall` puts back every file of the installed version
    # (dnf(8)). Fedora's Python packaging guidelines name the package python3-NAME.
    "rpm": OsManager("rpm", "dnf", "dnf install -y {}", "dnf reinstall -y {}", "python3-"),
}


@fact
class OsPackage(Fact):
    """A package of the OS package manager that owns one of the files kept."""

    name: str
    version: str | None = None
    source: str | None = None  # the source package (dpkg's Source:, apk's origin, rpm's SOURCERPM)


@fact
class OsCandidate(Fact):
    """The OS package that would provide a distribution the target lacks."""

    package: str
    how: str  # how the name was found ("apt's list ... lists python3-cairo, built from ...")
    verified: bool  # a database or index of the manager lists it; False: the naming policy


@fact
class OsPackages(Fact):
    """Which of the target's files the OS package manager owns (:mod:`pkgdoctor.look.ospackages`):
    the direct children of its site directories and ``bin`` under the OS's root, and the
    RECORD rows found missing; None in a Snapshot without an OS database (a venv, conda,
    ``/usr/local``, or a snapshot older than these facts)."""

    manager: str  # a key of MANAGERS
    root: str  # the root whose database was read: "/" for this machine
    packages: Mapping[str, OsPackage] = field(default_factory=dict)
    owned: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # path -> packages
    # Normalized name of a distribution that an OS-owned one requires and the target lacks
    # -> the OS package to install.
    candidates: Mapping[str, OsCandidate] = field(default_factory=dict)
    # Files --deep found differing from their RECORD row whose content is what the OS
    # installed (its own checksum matches, or it keeps none for them): its packaging's doing.
    intact: tuple[str, ...] = ()

    @property
    def tool(self) -> OsManager:
        return MANAGERS[self.manager]

    def owner(self, path: str) -> OsPackage | None:
        """The (first) OS package that owns ``path``; None when none does."""
        names = self.owned.get(os.path.normpath(path))
        return self.packages.get(names[0]) if names else None

    def package_of(self, dist: Distribution) -> OsPackage | None:
        """The OS package that installed ``dist``: the owner of its metadata directory."""
        return self.owner(dist.metadata_dir)

    def describe(self, package: OsPackage) -> str:
        """``dpkg package python3-gi 3.42.2-3+b1``."""
        version = f" {package.version}" if package.version else ""
        return f"{self.manager} package {package.name}{version}"

    def install(self, *names: str) -> str:
        """The command that installs ``names``, quoted for a POSIX shell (the names come
        from the OS database, which pkgdoctor does not trust more than the target)."""
        return self.tool.install.format(" ".join(map(shlex.quote, names)))

    def reinstall(self, *names: str) -> str:
        return self.tool.reinstall.format(" ".join(map(shlex.quote, names)))


# --- conda ----------------------------------------------------------------------------------


class CondaPath(NamedTuple):
    """One file of a conda package as its record lists it (``paths_data``, conda's
    ``PathsData``; only ``files`` in records without it).

    ``sha256`` and ``size`` describe the file *as linked into the prefix*: the record's
    ``sha256_in_prefix``/``size_in_bytes`` when conda rewrote it (prefix replacement), else
    the package's own ``sha256``/``size_in_bytes`` for a file linked unchanged; None when
    the record does not say (a prefix placeholder without ``sha256_in_prefix``, a record
    without ``paths_data``). A NamedTuple: an environment lists tens of thousands.
    """

    path: str  # relative to the prefix, "/"-separated, as recorded
    path_type: str  # "hardlink", "softlink", "directory"; "" when only ``files`` lists it
    sha256: str | None  # hex
    size: int | None


@fact
class CondaRecord(Fact):
    """One ``conda-meta/NAME-VERSION-BUILD.json``: a conda package installed in the prefix
    (conda's ``PrefixRecord``; rattler, mamba and pixi write the same format), and what the
    look found of its files."""

    name: str
    version: str
    build: str
    record_file: str  # absolute path of the .json
    build_number: int | None = None
    channel: str | None = None  # as recorded: a URL (conda >= 4.6, rattler) or a name
    subdir: str | None = None  # "linux-64", "noarch"
    url: str | None = None  # the package file it came from
    depends: tuple[str, ...] = ()  # match specs (conda's MatchSpec syntax)
    constrains: tuple[str, ...] = ()
    files: tuple[CondaPath, ...] = ()
    link_type: str | None = None  # "hardlink", "softlink", "copy" (``link.type``)
    link_source: str | None = None  # the extracted package in a pkgs/ cache it was linked from
    noarch: str | None = None  # "python", "generic"
    requested: tuple[str, ...] = ()  # conda's ``requested_spec``, rattler's ``requested_specs``
    problems: tuple[str, ...] = ()  # what is wrong with the record itself, as read
    # What the look found: files in the record that are not in the prefix (their directory
    # does not list them; ``.pyc`` left out, as conda doctor does), and, with ``--deep``,
    # files whose content differs from the record (size or sha256).
    missing: tuple[str, ...] = ()
    altered: tuple[str, ...] = ()

    @property
    def dist_name(self) -> str:
        """``numpy-1.26.4-py311h64a7726_0``: conda's name for the record (its file's stem)."""
        return f"{self.name}-{self.version}-{self.build}"

    @property
    def describe(self) -> str:
        """``numpy 1.26.4 (conda-forge, build py311h64a7726_0)``: the record in a message."""
        return (
            f"{self.name} {self.version} ({self.channel_name or 'an unknown channel'}, "
            f"build {self.build})"
        )

    @property
    def channel_name(self) -> str | None:
        """The channel as conda names it: ``conda-forge`` for
        ``https://conda.anaconda.org/conda-forge/linux-64``, ``pkgs/main`` for
        ``https://repo.anaconda.com/pkgs/main``; a local ``file://`` channel by its last
        directory. See :func:`channel_name`."""
        return channel_name(self.channel) if self.channel else None


#: The channels ``defaults`` stands for on Linux and macOS (conda's ``DEFAULT_CHANNELS_UNIX``,
#: ``conda/base/constants.py``), by :func:`channel_name`.
DEFAULT_CHANNELS = frozenset({"pkgs/main", "pkgs/r", "pkgs/msys2", "pkgs/free", "pkgs/pro"})


def channel_name(channel: str) -> str:
    """The name a recorded channel goes by, wherever it is served from: its last directory
    without a trailing subdir (``conda-forge`` for ``https://conda.anaconda.org/conda-forge/
    linux-64`` and for a mirror's ``https://mirror.example/anaconda/cloud/conda-forge``), and
    the last two for Anaconda's ``pkgs/main``-style channels (``defaults`` and its mirrors,
    conda's ``DEFAULT_CHANNELS_UNIX``). Channel *mixing* is about what was built together,
    not about which server handed it out.

    >>> channel_name("https://conda.anaconda.org/conda-forge/linux-64")
    'conda-forge'
    >>> channel_name("https://repo.anaconda.com/pkgs/main")
    'pkgs/main'
    >>> channel_name("https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/main/")
    'pkgs/main'
    >>> channel_name("conda-forge")
    'conda-forge'
    >>> channel_name("file:///srv/channels/pytorch/")
    'pytorch'
    """
    value = channel.strip().rstrip("/")
    _, sep, rest = value.partition("://")
    parts = [p for p in (rest.partition("/")[2] if sep else value).split("/") if p]
    if parts and _SUBDIR.match(parts[-1]):
        parts.pop()
    if not parts:
        return value
    if len(parts) >= 2 and parts[-2] == "pkgs":
        return "/".join(parts[-2:])
    return parts[-1]


def is_defaults(channel: str) -> bool:
    """Whether ``channel`` (a name, a URL, a mirror's URL) is one of Anaconda's ``defaults``
    channels, or ``defaults`` itself (the name conda expands to them).

    >>> [is_defaults(c) for c in ("defaults", "https://repo.anaconda.com/pkgs/main/", "main")]
    [True, True, True]
    >>> is_defaults("conda-forge"), is_defaults("https://mirror.example/anaconda/pkgs/r")
    (False, True)
    """
    name = channel_name(channel)
    return name == "defaults" or name in DEFAULT_CHANNELS or f"pkgs/{name}" in DEFAULT_CHANNELS


def is_conda_forge(channel: str) -> bool:
    """Whether ``channel`` is conda-forge (by name, or any URL or mirror of it)."""
    return channel_name(channel) == "conda-forge"


# The hosts that serve channels under their plain names with conda's default configuration
# (``channel_alias`` https://conda.anaconda.org, the ``defaults`` channels on
# https://repo.anaconda.com): conda's ``Channel.canonical_name`` is the name there, and the
# channel's base URL anywhere else (``conda/models/channel.py``).
_NAMED_HOSTS = frozenset({"conda.anaconda.org", "repo.anaconda.com", "anaconda.org"})


def conda_channel(channel: str) -> str:
    """How a record's channel is written for conda (``environment.yml``, a match spec's
    ``channel::``), as ``conda env export`` writes it under conda's default configuration:
    by name when Anaconda's servers serve it (``conda-forge``, ``pkgs/main``: the file then
    follows the reader's own mirrors and
    ``channel_alias``), else its base URL (a private server, a mirror, a ``file://``
    channel), without the subdir.

    >>> conda_channel("https://conda.anaconda.org/conda-forge/linux-64")
    'conda-forge'
    >>> conda_channel("https://repo.anaconda.com/pkgs/main/noarch")
    'pkgs/main'
    >>> conda_channel("file:///srv/channels/internal/")
    'file:///srv/channels/internal'
    >>> conda_channel("https://mirror.example/anaconda/pkgs/main/linux-64")
    'https://mirror.example/anaconda/pkgs/main'
    """
    value = channel.strip().rstrip("/")
    if "://" not in value:
        return channel_name(value)  # an old record's name ("conda-forge", "defaults")
    host = urllib.parse.urlsplit(value).hostname or ""
    if host in _NAMED_HOSTS:
        return channel_name(value)
    # channel_name drops a trailing subdir ("linux-64"): the URL ends with the name, or with
    # the name and that subdir.
    if value.endswith("/" + channel_name(value)):
        return value
    return value.rpartition("/")[0]


# conda's platform subdirs (``conda/base/constants.py`` PLATFORMS) and noarch.
_SUBDIR = re.compile(r"^(?:noarch|(?:linux|osx|win|emscripten|wasi|zos|freebsd)-[a-z0-9_]+)$")


@fact
class CondaHistory(Fact):
    """``conda-meta/history``: the revisions conda wrote (``==> DATE <==`` blocks), the specs
    the user asked for as conda sums them up (conda's ``History.get_requested_specs_map``:
    ``# update specs``, ``# remove specs``, ``# neutered specs``), and the lines it could not
    read."""

    revisions: int = 0
    requested: tuple[str, ...] = ()  # match specs, by name, as of the last revision
    commands: tuple[str, ...] = ()  # the last ``# cmd:`` lines (newest last), a few at most
    problems: tuple[str, ...] = ()


@fact
class CondaRegistry(Fact):
    """The user's list of environments (``~/.conda/environments.txt``, conda's
    ``get_user_environments_txt_file``): whether the prefix is on it."""

    path: str
    exists: bool
    lists_prefix: bool


@fact
class CondaFacts(Fact):
    """A conda prefix (it has ``conda-meta/``): its package records, history, pins and
    registration. None in a Snapshot of anything else (or one older than these facts)."""

    prefix: str
    records: tuple[CondaRecord, ...] = ()
    history: CondaHistory | None = None  # None: no conda-meta/history (not made by conda)
    # ``conda-meta/pinned``: (line number, text) of each line that is not blank or a comment;
    # None when there is no such file.
    pinned: tuple[tuple[int, str], ...] | None = None
    pinned_problem: str | None = None  # the file could not be read (not regular, not UTF-8)
    registry: CondaRegistry | None = None
    unreadable: tuple[tuple[str, str], ...] = ()  # (record file, why) not read as a record
    # The files were read and hashed (``--deep``): only then is ``altered`` known.
    deep: bool = False

    def record(self, name: str) -> CondaRecord | None:
        for record in self.records:
            if record.name == name:
                return record
        return None


# --- pip's and conda's configuration --------------------------------------------------------


@fact
class PipConfigFile(Fact):
    """One file pip would try (:func:`pkgdoctor.look.config.pip_files`), in pip's order."""

    level: str  # "global", "user", "site", "PIP_CONFIG_FILE" (pip's names for them)
    path: str
    exists: bool  # False too where PIP_CONFIG_FILE=/dev/null makes pip skip every file
    # (section, key, value) as pip's RawConfigParser reads them: keys lower-case with "-".
    items: tuple[tuple[str, str, str], ...] = ()
    error: str | None = None  # why pip refuses to run with this file; None: it reads it


@fact
class CondaConfigFile(Fact):
    """One ``.condarc`` (or ``condarc.d/*.yml``) conda reads, in conda's search order."""

    level: str  # "system", "root", "user", "env", "CONDARC"
    path: str
    # The keys pkgdoctor uses (look.config.CONDA_KEYS), as plain str / list / dict values.
    values: Mapping[str, Any] = field(default_factory=dict)
    final: tuple[str, ...] = ()  # keys marked ``#!final``: no later file overrides them
    error: str | None = None  # conda ignores a file it cannot parse (with a warning)


@fact
class IndexPage(Fact):
    """What ``check --online`` found for one project on one index (its simple page)."""

    index: str  # the index URL as configured (credentials redacted)
    project: str  # normalized name
    # "found", "missing" (404) or "unreachable" (no answer: the reason is in ``error``)
    status: str
    versions: tuple[str, ...] = ()  # versions with a file there (wheel or sdist names)
    error: str | None = None


@fact
class ConfigFacts(Fact):
    """What pip's and conda's configuration files and variables say (what was *read*; the
    merge is :mod:`pkgdoctor.configuration`'s, the verdicts checks/config.py's). Read with
    the variables of the pkgdoctor process: configuration is the user's, also for a
    ``--static``/``--prefix`` target, whose prefix gives pip's site and conda's env level."""

    pip_files: tuple[PipConfigFile, ...] = ()
    pip_environ: Mapping[str, str] = field(default_factory=dict)  # PIP_* (redacted)
    conda_files: tuple[CondaConfigFile, ...] = ()
    conda_environ: Mapping[str, str] = field(default_factory=dict)  # CONDA_* settings
    # REQUESTS_CA_BUNDLE, SSL_CERT_FILE, CURL_CA_BUNDLE as set
    ca_environ: Mapping[str, str] = field(default_factory=dict)
    # Every certificate path a setting names (the CA variables, pip's cert/client-cert,
    # conda's ssl_verify when a path) -> whether it exists.
    paths: Mapping[str, bool] = field(default_factory=dict)
    # check --online: each configured index's page for the installed and requested
    # projects; None when nothing was fetched (offline).
    online: tuple[IndexPage, ...] | None = None


# --- GPU ------------------------------------------------------------------------------------


@fact
class GpuDevice(Fact):
    """One NVIDIA device as the driver describes it."""

    name: str | None = None  # "NVIDIA H200"
    compute_capability: str | None = None  # "9.0" (nvidia-smi's compute_cap)
    uuid: str | None = None
    bus: str | None = None  # PCI bus location


@fact
class GpuFacts(Fact):
    """The machine's NVIDIA driver and devices (``look/gpu.py``), for the checks of GPU stacks:
    read from ``/sys/module/nvidia/version``, ``/proc/driver/nvidia/``, ``/dev/nvidia*`` and,
    live, ``nvidia-smi``; or recorded on another machine (a snapshot of a GPU node, edited to
    describe one). None in a Snapshot of a tree that is not this machine's, or an older one.
    An empty section (no driver version, no devices) says: this machine has no NVIDIA driver."""

    driver_version: str | None = None  # "550.54.15"
    cuda_driver_version: str | None = None  # the CUDA version the driver supports: "12.4"
    devices: tuple[GpuDevice, ...] = ()
    source: str = ""  # where the facts came from, comma-separated ("/sys/module/nvidia/version")
    device_nodes: tuple[str, ...] = ()  # /dev/nvidiactl, /dev/nvidia0, ... as present
    # NVIDIA_VISIBLE_DEVICES (containers), CUDA_VISIBLE_DEVICES, as set for the target.
    visible: Mapping[str, str] = field(default_factory=dict)
    libcuda: str | None = None  # where ld.so.cache says libcuda.so.1 is; None: not there
    # What says this is a container ("/.dockerenv", "/run/.containerenv", "container=podman",
    # "/proc/1/cgroup: kubepods"); None: nothing does.
    container: str | None = None
    problems: tuple[str, ...] = ()  # what could not be read (nvidia-smi failed: its message)


@fact
class FrameworkBuild(Fact):
    """What one installed GPU framework was built for, read from its own files
    (``look/frameworks.py``), never by importing it: torch's ``torch/version.py``,
    TensorFlow's ``build_info.py``, onnxruntime-gpu's ``build_and_package_info.py`` and the
    ``DT_NEEDED`` of its CUDA provider library, the CUDA fat binaries of its GPU library."""

    distribution: str  # "torch"
    version: str | None  # the distribution's version: "2.5.1+cu124"
    cuda: str | None = None  # the CUDA version it was built with: "12.4"; None: not a CUDA build
    hip: str | None = None  # the ROCm/HIP version of a ROCm build: "6.2.41133"
    cudnn: str | None = None  # "9.1.0"
    # Whether it is a build for an accelerator: True (CUDA or ROCm), False (CPU only), None
    # (the files do not say).
    gpu_build: bool | None = None
    # CUDA sonames its GPU library needs (DT_NEEDED): "libcudart.so.12", "libcublasLt.so.12".
    cuda_libraries: tuple[str, ...] = ()
    # The GPU library whose fat binaries were read, and what they carry: cubins ("sm_80",
    # "sm_90a") and PTX ("compute_90"). Empty when not read.
    gpu_library: str | None = None
    architectures: tuple[str, ...] = ()
    ptx: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # the files the facts were read from
    problems: tuple[str, ...] = ()  # what could not be read, and why


# --- libraries taken from outside the environment -----------------------------------------


@fact
class LibraryCopy(Fact):
    """A file installed in the environment under the name of a library the loader takes from
    outside it, compared with that outside file (``look/library_copies.py``)."""

    path: str
    identical: bool | None = None  # the same bytes (None: too large to compare)
    # Dynamic symbols the environment's objects that get the outside file need from that
    # name, which this copy defines and the outside file does not ("name@version"); the
    # first few, and how many in all.
    lacking: tuple[str, ...] = ()
    lacking_count: int = 0
    needed_by: tuple[str, ...] = ()  # the objects that need those symbols


@fact
class OutsideLibrary(Fact):
    """A ``DT_NEEDED`` name that objects of the environment get from outside it (through
    ``LD_LIBRARY_PATH``, ld.so.cache, the default directories, an absolute RPATH) while a
    file installed in the environment has the same name (``look/library_copies.py``)."""

    name: str  # the DT_NEEDED name: "libnvJitLink.so.12"
    path: str  # the file the loader takes
    requesters: tuple[str, ...] = ()  # the environment's objects whose lookup gave it
    real_name: str | None = None  # the file a symlink leads to: "libnvJitLink.so.12.1.105"
    # The component versions of a CUDA toolkit's version.json above it ({"cuda": "12.1.1",
    # "libnvjitlink": "12.1.105"}), and that file.
    toolkit: Mapping[str, str] = field(default_factory=dict)
    toolkit_file: str | None = None
    copies: tuple[LibraryCopy, ...] = ()
    complete: bool = True  # False: a limit stopped the comparison of symbols


# --- the whole ------------------------------------------------------------------------------


@fact
class Tool(Fact):
    name: str
    version: str
    packaging: str | None = None  # the packaging version that judged requirements


@fact
class Scope(Fact):
    """What was looked at: the options that change the facts."""

    deep: bool = False  # RECORD hashes were verified
    include_stdlib: bool = False  # the stdlib's extension modules are included
    cwd: str | None = None  # the working directory put in front of sys.path


@fact
class Snapshot(Fact):
    """Everything the checks need to know about one environment."""

    target: Target
    scope: Scope
    inventory: Inventory
    paths: PathFacts
    extensions: ExtensionFacts
    tool: Tool | None = None
    venv: VenvFacts | None = None  # the target has a pyvenv.cfg
    os_packages: OsPackages | None = None  # the OS package manager owns the target's files
    conda: CondaFacts | None = None  # the target's prefix is a conda environment
    gpu: GpuFacts | None = None  # the machine's NVIDIA driver and devices
    # What each installed GPU framework was built for (None: an older snapshot).
    frameworks: tuple[FrameworkBuild, ...] | None = None
    config: ConfigFacts | None = None  # pip's and conda's configuration (None: older snapshot)
    created: str | None = None  # ISO 8601, UTC: when it was taken (never used by checks)
    # The identifying lines of the system's os-release(5) (NAME, ID, VERSION_ID, ...); None
    # when not known (another machine's tree, no such file, an older snapshot).
    os_release: Mapping[str, str] | None = None
    schema_version: int = SCHEMA_VERSION
    # Libraries taken from outside the environment under a name one of its files has.
    outside_libraries: tuple[OutsideLibrary, ...] = ()
