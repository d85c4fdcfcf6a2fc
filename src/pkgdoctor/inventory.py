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

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from pkgdoctor._fields import restore
from pkgdoctor._typed import loads
from pkgdoctor.cache import Cache, validator
from pkgdoctor.files import NotRegularFile, irregular_kind, read_regular
from pkgdoctor.snapshot.model import (
    NOT_REGULAR,
    Distribution,
    Integrity,
    Inventory,
    RecordEntry,
    normalize,
)

_METADATA_DIR = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+?)(?:-py\d[^-]*)?(?:-[^-]+)?\.(dist|egg)-info$"
)
_MAX_METADATA_BYTES = 16 * 1024 * 1024  # a METADATA file larger than this is not read
_SMALL_FILES = ("WHEEL", "INSTALLER", "REQUESTED", "direct_url.json")
_MAX_SMALL_FILE = 1 << 20  # WHEEL, INSTALLER, direct_url.json: larger is not what a tool wrote
# email.feedparser's line ends (NLCRE_crack) and header lines (headerRE): a field name is
# printable ASCII without space or colon, followed by a colon.
_LINES = re.compile(r"\r\n|\r|\n")
_FIELD = re.compile(r"[\041-\071\073-\176]*:")

__all__ = ["Distribution", "Inventory", "RecordEntry", "discover", "normalize"]


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
            dist = read_distribution(os.path.join(entry, name), entry, cache, site_real=real)
            if dist is None:
                continue
            if dist.key in seen_keys:
                shadowed.append(dist)
            else:
                seen_keys.add(dist.key)
                winners.append(dist)
    return Inventory(tuple(winners), tuple(shadowed), tuple(leftovers), tuple(unreadable))


def read_distribution(
    metadata_dir: str, site_dir: str, cache: Cache | None = None, *, site_real: str | None = None
) -> Distribution | None:
    """One distribution; None for a ``.egg-info`` *file* of no interest or a vanished dir."""
    base = os.path.basename(metadata_dir)
    dist_info = base.endswith(".dist-info")
    real = site_real if site_real is not None else os.path.realpath(site_dir)
    if not os.path.isdir(metadata_dir):
        if dist_info:
            return None
        # A legacy single-file egg-info (distutils) is PKG-INFO itself.
        return _from_metadata_file(metadata_dir, metadata_dir, site_dir, base, real)
    meta_name = "METADATA" if dist_info else "PKG-INFO"
    meta_path = os.path.join(metadata_dir, meta_name)
    if cache is None or cache.path is None:
        return _from_metadata_file(meta_path, metadata_dir, site_dir, base, real, cache)
    # The whole distribution is cached while its directory and every file in it keep their
    # identity (a file added, removed, renamed or rewritten changes one of them).
    check = _directory_identity(metadata_dir)
    key = (metadata_dir, site_dir, real)
    stored = (
        cache.decoded(
            "distribution",
            key,
            check,
            lambda data: _distribution_from_tuple(data, metadata_dir, site_dir, real),
        )
        if check
        else None
    )
    if stored is not None:
        return stored
    dist = _from_metadata_file(meta_path, metadata_dir, site_dir, base, real, cache)
    if check is not None:
        cache.put("distribution", key, _distribution_to_tuple(dist), check)
    return dist


def _directory_identity(directory: str) -> tuple[Any, ...] | None:
    """The identity of a metadata directory and of every file in it; None if unreadable."""
    try:
        st = os.stat(directory)
        files = []
        with os.scandir(directory) as it:
            for entry in it:
                est = entry.stat(follow_symlinks=True)
                files.append((entry.name, est.st_size, est.st_mtime_ns, est.st_ino))
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_dev, tuple(sorted(files)))


def _distribution_to_tuple(dist: Distribution) -> tuple[Any, ...]:
    return (
        dist.name,
        dist.version,
        dist.requires,
        dist.requires_python,
        dist.provides_extra,
        dist.metadata_version,
        dist.problems,
        dist.summary,
        dist.wheel_tags,
        dist.wheel_build,
        dist.installer,
        dist.requested,
        None if dist.direct_url is None else json.dumps(dist.direct_url),
        None if dist.record is None else tuple(tuple(row) for row in dist.record),
        tuple(sorted(dist.top_level_names)),
        tuple(tuple(row) for row in dist.outside),
        tuple(sorted(dist.roots)),
    )


def _distribution_from_tuple(
    data: Any, metadata_dir: str, site_dir: str, site_real: str
) -> Distribution:
    (
        name,
        version,
        requires,
        requires_python,
        provides_extra,
        metadata_version,
        problems,
        summary,
        wheel_tags,
        wheel_build,
        installer,
        requested,
        direct_url,
        record,
        top_level,
        outside,
        roots,
    ) = data
    return restore(
        Distribution,
        name=str(name),
        version=version,
        metadata_dir=metadata_dir,
        site_dir=site_dir,
        requires=tuple(requires),
        requires_python=requires_python,
        provides_extra=tuple(provides_extra),
        metadata_version=metadata_version,
        problems=tuple(problems),
        summary=summary,
        wheel_tags=tuple(wheel_tags),
        wheel_build=wheel_build,
        installer=installer,
        requested=bool(requested),
        direct_url=None if direct_url is None else json.loads(direct_url),
        record=None if record is None else _record_rows(record),
        site_real=site_real,
        integrity=Integrity(),
        # Pure functions of the rows, computed when they were read: kept with them.
        top_level_names=frozenset(top_level),
        outside=_record_rows(outside),
        roots=frozenset(map(str, roots)),
    )


def _from_metadata_file(
    meta_path: str,
    metadata_dir: str,
    site_dir: str,
    base: str,
    site_real: str,
    cache: Cache | None = None,
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
    is_dir = metadata_dir != meta_path
    dist_info = base.endswith(".dist-info")
    if not dist_info and is_dir:
        requires = tuple(egg_info_requirements(_read(os.path.join(metadata_dir, "requires.txt"))))
    extra: dict[str, Any] = {}
    if is_dir:
        extra = _metadata_files(metadata_dir, dist_info, cache, problems)
    return Distribution(
        name=name or dir_name,
        version=version or dir_version,
        metadata_dir=metadata_dir,
        site_dir=site_dir,
        site_real=site_real,
        requires=requires,
        requires_python=_first(headers, "requires-python"),
        provides_extra=tuple(headers.get("provides-extra", ())),
        metadata_version=_first(headers, "metadata-version"),
        summary=_first(headers, "summary"),
        problems=tuple(problems),
        **extra,
    )


def _metadata_files(
    metadata_dir: str, dist_info: bool, cache: Cache | None, problems: list[str]
) -> dict[str, Any]:
    """RECORD, WHEEL, INSTALLER, REQUESTED and direct_url.json of a metadata directory."""
    try:
        names = set(os.listdir(metadata_dir))
    except OSError:
        names = set()
    for name in ("RECORD" if dist_info else "installed-files.txt", *_SMALL_FILES):
        if name in names:
            # Never opened (a FIFO would block pip too, at `pip uninstall` or `pip show -f`).
            kind = irregular_kind(os.path.join(metadata_dir, name))
            if kind is not None:
                problems.append(f"{name} is {kind}{NOT_REGULAR}")
    fields: dict[str, Any] = {"record": _record(metadata_dir, dist_info, names, cache)}
    if "WHEEL" in names:
        wheel = _small(os.path.join(metadata_dir, "WHEEL")) or ""
        tags, build = [], None
        for line in wheel.splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "tag":
                tags.append(value.strip())
            elif key == "build":
                build = value.strip() or None
        fields["wheel_tags"] = tuple(tags)
        fields["wheel_build"] = build
    if "INSTALLER" in names:
        text = _small(os.path.join(metadata_dir, "INSTALLER"))
        fields["installer"] = (text.strip() or None) if text is not None else None
    fields["requested"] = "REQUESTED" in names
    if "direct_url.json" in names:
        fields["direct_url"] = _direct_url(os.path.join(metadata_dir, "direct_url.json"), problems)
    return fields


def _direct_url(path: str, problems: list[str]) -> Mapping[str, Any] | None:
    """direct_url.json (PEP 610), parsed; a problem when it is not a JSON object with a url."""
    text = _small(path)
    if text is None:
        return None
    try:
        data = loads(text)
    except ValueError:  # not JSON, or "[[[[..." nested past the parser's limit
        problems.append("direct_url.json is not JSON")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        problems.append("direct_url.json has no url (PEP 610)")
        return None
    return data


def _record(
    metadata_dir: str, dist_info: bool, names: set[str], cache: Cache | None
) -> tuple[RecordEntry, ...] | None:
    """RECORD rows (dist-info) or installed-files.txt paths (egg-info); None if absent.

    Parsed rows are cached with the file's identity: parsing every RECORD is most of what
    reading an environment costs.
    """
    name = "RECORD" if dist_info else "installed-files.txt"
    if name not in names:
        return None
    path = os.path.join(metadata_dir, name)
    check = None
    if cache is not None and cache.path is not None:
        try:
            check = validator(os.stat(path))
        except OSError:
            return None
        stored = cache.decoded("record", path, check, _record_rows)
        if stored is not None:
            return stored
    try:
        text = read_regular(path, _MAX_METADATA_BYTES).decode("utf-8", "surrogateescape")
    except OSError:
        return None
    if dist_info:
        rows = tuple(parse_record(text))
    else:
        # installed-files.txt paths are relative to the egg-info directory itself.
        rel = os.path.basename(metadata_dir)
        rows = tuple(
            RecordEntry(os.path.normpath(os.path.join(rel, line.strip())), None, None)
            for line in text.splitlines()
            if line.strip()
        )
    if check is not None and cache is not None:
        cache.put("record", path, tuple(tuple(row) for row in rows), check)
    return rows


def _record_rows(stored: Any) -> tuple[RecordEntry, ...]:
    # ``_make`` refuses a row of another length (a miss); tens of thousands of rows per run
    # make this the hot path of a warm check, so the fields are not checked one by one.
    return tuple(map(RecordEntry._make, stored))


def _metadata_entry(stored: Any) -> tuple[dict[str, list[str]], list[str]]:
    headers, problems = stored
    if not isinstance(headers, dict):
        raise TypeError("headers")
    return headers, [str(p) for p in problems]


def _small(path: str) -> str | None:
    try:
        return read_regular(path, _MAX_SMALL_FILE).decode("utf-8", "surrogateescape")
    except OSError:
        return None


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
            stored = cache.decoded("metadata", meta_path, check, _metadata_entry)
            if stored is not None:
                return stored[0], stored[1], True
    try:
        data = read_regular(meta_path, _MAX_METADATA_BYTES)
    except FileNotFoundError:
        return {}, [f"{name} is missing"], False
    except NotRegularFile:
        return {}, [f"{name} is {irregular_kind(meta_path) or 'no file'}{NOT_REGULAR}"], False
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
        return read_regular(path, _MAX_METADATA_BYTES).decode("utf-8", "replace")
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
    csv_errors: tuple[type[Exception], ...] = ()
    if '"' not in text and "\r" not in text:
        # Nothing quoted and only LF line ends: CSV is a plain split. This is nearly every
        # RECORD, tens of thousands of rows per run, and several times faster than csv.
        rows: Iterable[list[str]] = (line.split(",") for line in text.split("\n") if line)
    else:
        # newline="": quoted fields may hold line breaks, and only CR/LF end a row
        # (splitlines() would also split at \f, \x1c, \u2028... that a name can contain).
        import csv  # the rare RECORD with quoted names: csv is not imported otherwise
        import io

        rows = csv.reader(io.StringIO(text, newline=""))
        csv_errors = (csv.Error,)
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
    except csv_errors:
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
