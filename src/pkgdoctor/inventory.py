"""Every distribution installed on a target's ``sys.path``, read from its metadata files.

``importlib.metadata`` only sees pkgdoctor's own interpreter, so the target's
``*.dist-info`` (PEP 376, PEP 627, core metadata) and ``*.egg-info`` directories are read
here directly — the same way in live and in static mode. Reading is tolerant: a broken
METADATA, RECORD or WHEEL file becomes a *problem* attached to its distribution (reported
as ``dist-metadata-invalid``), never an exception.

Discovery order follows ``importlib.metadata`` (and so pip): ``sys.path`` order, and within
one directory the order the file system lists it; the first distribution of a normalized
name wins, later ones are *shadowed* (``dist-duplicate``).
"""

from __future__ import annotations

import csv
import functools
import io
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from pkgdoctor.cache import Cache, validator

# PEP 503 normalization (packaging.utils.canonicalize_name), inlined because it is needed for
# every distribution on the fast path and packaging's import costs more than the whole scan.
_NORMALIZE = re.compile(r"[-_.]+")
_METADATA_DIR = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+?)(?:-py\d[^-]*)?(?:-[^-]+)?\.(dist|egg)-info$"
)
_MAX_METADATA_BYTES = 16 * 1024 * 1024  # a METADATA file larger than this is not read
# email.feedparser's line ends (NLCRE_crack) and header lines (headerRE): a field name is
# printable ASCII without space or colon, followed by a colon.
_LINES = re.compile(r"\r\n|\r|\n")
_FIELD = re.compile(r"[\041-\071\073-\176]*:")


def normalize(name: str) -> str:
    """PEP 503 normalized name: ``Foo.Bar_baz`` → ``foo-bar-baz``."""
    return _NORMALIZE.sub("-", name).lower()


class RecordEntry(NamedTuple):
    """One row of a RECORD file (PEP 376): the path as written, its hash and size if given.

    A NamedTuple, not a dataclass: a large environment has tens of thousands of rows, and
    building a tuple costs a fraction of a frozen dataclass's ``__init__``.
    """

    path: str
    hash: str | None  # "sha256=<urlsafe-b64, no padding>" or None
    size: int | None


@dataclass
class Distribution:
    """An installed distribution: what its metadata directory says."""

    name: str
    version: str | None
    metadata_dir: str
    site_dir: str  # the sys.path entry it was found in
    requires: tuple[str, ...] = ()  # Requires-Dist (egg-info requires.txt converted)
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = ()
    metadata_version: str | None = None
    problems: list[str] = field(default_factory=list)  # why its metadata is invalid

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

    def __str__(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name

    def read_text(self, name: str) -> str | None:
        """A file of the metadata directory as text, or None if it is missing or unreadable."""
        try:
            with open(os.path.join(self.metadata_dir, name), "rb") as f:
                data = f.read(_MAX_METADATA_BYTES)
        except OSError:
            return None
        return data.decode("utf-8", "surrogateescape")

    @property
    def record_path(self) -> str:
        """The file listing what was installed: RECORD, or an egg-info's installed-files.txt."""
        name = "RECORD" if self.is_dist_info else "installed-files.txt"
        return os.path.normpath(os.path.join(self.metadata_dir, name))

    @functools.cached_property
    def record(self) -> tuple[RecordEntry, ...] | None:
        """RECORD rows (dist-info) or installed-files.txt paths (egg-info); None if absent."""
        if self.is_dist_info:
            text = self.read_text("RECORD")
            return None if text is None else tuple(parse_record(text))
        text = self.read_text("installed-files.txt")
        if text is None:
            return None
        # installed-files.txt paths are relative to the egg-info directory itself.
        rel = os.path.basename(self.metadata_dir)
        return tuple(
            RecordEntry(os.path.normpath(os.path.join(rel, line.strip())), None, None)
            for line in text.splitlines()
            if line.strip()
        )

    def files(self) -> tuple[tuple[RecordEntry, str], ...]:
        """Each RECORD entry with its absolute, normalized path."""
        return self._files

    @functools.cached_property
    def _files(self) -> tuple[tuple[RecordEntry, str], ...]:
        base = os.path.normpath(self.site_dir)
        result = []
        for entry in self.record or ():
            rel = entry.path
            # Most rows are plain relative paths ("numpy/core/x.py"): join them by hand;
            # normpath only what could need it (tens of thousands of rows per run).
            if rel[:1] in ("/", ".") or "/." in rel or "//" in rel or "\\" in rel:
                path = os.path.normpath(os.path.join(base, rel))
            else:
                path = f"{base}/{rel}".rstrip("/")
            result.append((entry, path))
        return tuple(result)

    @functools.cached_property
    def wheel_tags(self) -> tuple[str, ...]:
        """The ``Tag:`` lines of the WHEEL file (empty when not installed from a wheel)."""
        text = self.read_text("WHEEL") or ""
        return tuple(
            value.strip()
            for key, _, value in (line.partition(":") for line in text.splitlines())
            if key.strip().lower() == "tag"
        )

    @functools.cached_property
    def installer(self) -> str | None:
        text = self.read_text("INSTALLER")
        return text.strip() or None if text is not None else None

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


@dataclass
class Inventory:
    """The distributions of a target, as the import system and pip see them."""

    distributions: list[Distribution]  # the winners, in discovery order
    shadowed: list[Distribution]  # same normalized name as an earlier one: never used
    leftovers: list[str]  # pip's "~name" directories of an interrupted (un)install
    unreadable: list[tuple[str, str]]  # (directory, reason)

    @functools.cached_property
    def by_key(self) -> dict[str, Distribution]:
        return {d.key: d for d in self.distributions}

    def get(self, name: str) -> Distribution | None:
        return self.by_key.get(normalize(name))

    @functools.cached_property
    def owners(self) -> dict[str, Distribution]:
        """Absolute path of every RECORDed file → the distribution that installed it."""
        index: dict[str, Distribution] = {}
        for dist in [*self.distributions, *self.shadowed]:
            for _, path in dist.files():
                index.setdefault(path, dist)
        return index


def discover(path_entries: Iterable[str], cache: Cache | None = None) -> Inventory:
    """Read every distribution in the directories ``path_entries`` (``sys.path`` order)."""
    winners: list[Distribution] = []
    shadowed: list[Distribution] = []
    leftovers: list[str] = []
    unreadable: list[tuple[str, str]] = []
    seen_dirs: set[str] = set()
    seen_keys: set[str] = set()
    for entry in path_entries:
        real = os.path.realpath(entry)
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        try:
            with os.scandir(entry) as it:
                names = [e.name for e in it]  # file-system order, as importlib.metadata
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            continue
        except OSError as exc:
            unreadable.append((entry, exc.strerror or str(exc)))
            continue
        for name in names:
            if name.startswith("~"):
                leftovers.append(os.path.join(entry, name))
                continue
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            dist = read_distribution(os.path.join(entry, name), entry, cache)
            if dist is None:
                continue
            if dist.key in seen_keys:
                shadowed.append(dist)
            else:
                seen_keys.add(dist.key)
                winners.append(dist)
    return Inventory(winners, shadowed, leftovers, unreadable)


def read_distribution(
    metadata_dir: str, site_dir: str, cache: Cache | None = None
) -> Distribution | None:
    """One distribution; None for a ``.egg-info`` *file* of no interest or a vanished dir."""
    base = os.path.basename(metadata_dir)
    dist_info = base.endswith(".dist-info")
    if not os.path.isdir(metadata_dir):
        if dist_info:
            return None
        # A legacy single-file egg-info (distutils) is PKG-INFO itself.
        return _from_metadata_file(metadata_dir, metadata_dir, site_dir, base)
    meta_name = "METADATA" if dist_info else "PKG-INFO"
    meta_path = os.path.join(metadata_dir, meta_name)
    return _from_metadata_file(meta_path, metadata_dir, site_dir, base, cache)


def _from_metadata_file(
    meta_path: str, metadata_dir: str, site_dir: str, base: str, cache: Cache | None = None
) -> Distribution:
    match = _METADATA_DIR.match(base)
    dir_name = match["name"] if match else base.rsplit(".", 1)[0]
    dir_version = match["version"] if match else None
    headers, problems, readable = _read_metadata(meta_path, cache)
    name = _first(headers, "name")
    version = _first(headers, "version")
    if readable:
        if not name:
            problems.append("no Name field")
        if not version:
            problems.append("no Version field")
    requires = tuple(headers.get("requires-dist", ()))
    if not os.path.basename(metadata_dir).endswith(".dist-info") and os.path.isdir(metadata_dir):
        requires = tuple(egg_info_requirements(_read(os.path.join(metadata_dir, "requires.txt"))))
    return Distribution(
        name=name or dir_name,
        version=version or dir_version,
        metadata_dir=metadata_dir,
        site_dir=site_dir,
        requires=requires,
        requires_python=_first(headers, "requires-python"),
        provides_extra=tuple(headers.get("provides-extra", ())),
        metadata_version=_first(headers, "metadata-version"),
        problems=problems,
    )


def _read_metadata(
    meta_path: str, cache: Cache | None
) -> tuple[dict[str, list[str]], list[str], bool]:
    """(header fields, problems, whether the file could be read) of a METADATA/PKG-INFO."""
    name = os.path.basename(meta_path)
    check = None
    if cache is not None:
        try:
            check = validator(os.stat(meta_path))
        except OSError:
            cache = None  # the reading below says what is wrong
        else:
            stored = cache.get("metadata", meta_path, check)
            if stored is not None:
                return stored[0], list(stored[1]), True
    try:
        with open(meta_path, "rb") as f:
            data = f.read(_MAX_METADATA_BYTES)
    except FileNotFoundError:
        return {}, [f"{name} is missing"], False
    except OSError as exc:
        return {}, [f"{name} cannot be read ({exc.strerror})"], False
    problems: list[str] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{name} is not UTF-8 (byte {exc.start})")
        text = data.decode("utf-8", "replace")
    headers = parse_headers(text)
    if cache is not None:
        cache.put("metadata", meta_path, (headers, tuple(problems)), check)
    return headers, problems, True


def _first(headers: dict[str, list[str]], key: str) -> str | None:
    values = headers.get(key)
    return values[0].strip() or None if values else None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(_MAX_METADATA_BYTES)
    except OSError:
        return ""


def parse_headers(text: str) -> dict[str, list[str]]:
    """The header fields of a core-metadata document (RFC 822 style), keys lower-cased.

    Only the header is read: it ends at the first empty line, where the description body
    begins. Continuation lines (starting with white space) are joined to their field, as
    ``email.parser`` does. Tested against ``packaging.metadata.parse_email`` on real files.

    As in ``email.feedparser``: lines end only at CR, LF or CRLF (not at the other breaks
    ``str.splitlines`` knows); a line of only white space is a continuation line (long
    ``License:`` fields have them), not the end of the header; a line that is neither a field
    nor a continuation ends the header.
    """
    headers: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in _lines(text):
        if not line:
            break
        if line[0] in " \t":
            if last is not None:
                last[-1] += "\n" + line.strip()
            continue
        if not _FIELD.match(line):
            break
        key, _, value = line.partition(":")
        last = headers.setdefault(key.strip().lower(), [])
        last.append(value.strip())
    return headers


def _lines(text: str) -> Iterator[str]:
    """``_LINES.split(text)``, lazily: the header is read, the (long) description is not."""
    start = 0
    for match in _LINES.finditer(text):
        yield text[start : match.start()]
        start = match.end()
    yield text[start:]


def egg_info_requirements(text: str) -> Iterator[str]:
    """``requires.txt`` of an egg-info as PEP 508 strings (setuptools' pkg_resources format).

    ``[extra]``, ``[:marker]`` and ``[extra:marker]`` sections become markers, the way
    ``importlib.metadata`` converts them.
    """
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        extra, _, marker = section.partition(":")
        conditions = []
        if extra:
            conditions.append(f'extra == "{extra}"')
        if marker:
            conditions.append(f"({marker})" if extra else marker)
        yield f"{line}; {' and '.join(conditions)}" if conditions else line


class _Hash(Protocol):
    @property
    def name(self) -> str: ...

    def digest(self) -> bytes: ...


def record_hash(hasher: _Hash) -> str:
    """A ``hashlib`` hash as RECORD writes it: ``name=<urlsafe base64, no padding>`` (PEP 376,
    PEP 427)."""
    import base64

    encoded = base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode("ascii")
    return f"{hasher.name}={encoded}"


def parse_record(text: str) -> list[RecordEntry]:
    """Rows of a RECORD file: ``path,hash,size`` as CSV (PEP 376). Malformed rows are skipped."""
    if '"' not in text and "\r" not in text:
        # Nothing quoted and only LF line ends: CSV is a plain split. This is nearly every
        # RECORD, tens of thousands of rows per run, and several times faster than csv.
        rows: Iterable[list[str]] = (line.split(",") for line in text.split("\n") if line)
    else:
        # newline="": quoted fields may hold line breaks, and only CR/LF end a row
        # (splitlines() would also split at \f, \x1c, \u2028... that a name can contain).
        rows = csv.reader(io.StringIO(text, newline=""))
    entries = []
    try:
        for row in rows:
            if not row or not row[0]:
                continue
            n = len(row)
            digest = (row[1] or None) if n > 1 else None
            size = None
            if n > 2:
                # ASCII digits only: str.isdigit() accepts "²", which int() refuses, and int()
                # refuses more than 4300 digits (sys.get_int_max_str_digits); 20 fit any size.
                text_size = row[2].strip()
                if text_size.isdigit() and text_size.isascii() and len(text_size) <= 20:
                    size = int(text_size)
            entries.append(RecordEntry(row[0], digest, size))
    except csv.Error:
        pass
    return entries


def site_entries(sys_path: Sequence[str], stdlib: Iterable[str]) -> list[str]:
    """The ``sys.path`` entries that can hold distributions (not the stdlib's own dirs)."""
    excluded = set()
    for directory in stdlib:
        excluded.update({os.path.normpath(directory), os.path.join(directory, "lib-dynload")})
    return [
        entry
        for entry in sys_path
        if not entry.endswith(".zip") and os.path.normpath(entry) not in excluded
    ]
