"""Which of the target's files the OS package manager owns: dpkg (Debian, Ubuntu), apk
(Alpine) and rpm (Fedora, RHEL, openSUSE: its SQLite database of binary headers, the
default since rpm 4.16; the older Berkeley DB and NDB formats are not read).

A distribution whose metadata directory a package of the OS installed (``python3-gi`` owns
``/usr/lib/python3/dist-packages/PyGObject-3.42.2.egg-info``) is the OS's: the checks give
its fixes through that manager (``apt install --reinstall python3-gi``), never ``pip`` or
``rm`` on its files, and the rows of its RECORD that the OS packaging moved or dropped are
not missing files (:class:`pkgdoctor.snapshot.model.OsPackages`).

Whose database. The OS that owns ``{root}/usr`` keeps its database under the same root:
``{root}/var/lib/dpkg``, ``{root}/lib/apk/db``, ``{root}/var/lib/rpm``. So the root is
taken from the target's prefix when the prefix is ``{root}/usr`` — ``/usr`` is this
machine's (root ``/``), a ``--prefix /srv/x/usr`` is the tree at ``/srv/x`` (a chroot, an
image unpacked for inspection) and only ``/srv/x/var/lib/dpkg`` is read for it, never
this machine's. A live venv adds its base interpreter's prefix (its
``--system-site-packages`` directories are the OS's); a static one does not, since its
``pyvenv.cfg`` may name another machine's ``/usr``.
Any other prefix (a venv, conda, ``/opt/python3.12``, ``/usr/local``: Debian policy 9.1.2
leaves ``/usr/local`` to the administrator) has no OS database, and nothing is read.

Only what the checks can ask about is kept: the direct children of the site directories
under that root and of its ``bin``, and the RECORD rows found missing. The answer is cached
with the identity of the database (dpkg renames every ``.list`` file into ``info/`` when it
installs or removes a package, which changes the directory's mtime).
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import lzma
import os
import re
import shutil
import sqlite3
import stat
import struct
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from pkgdoctor.cache import Cache, directory_validator, validator
from pkgdoctor.files import irregular_kind, read_regular
from pkgdoctor.snapshot.model import (
    MANAGERS,
    Inventory,
    OsCandidate,
    OsPackage,
    OsPackages,
    normalize,
    record_locations,
)
from pkgdoctor.target.facts import Target

#: dpkg's status file: 620 KB for the 710 packages of this machine; a full desktop with
#: 5,000 packages is ~6 MB.
MAX_STATUS_BYTES = 64 << 20
#: One ``info/*.list`` file: the largest here (a kernel's headers) is ~1.5 MB.
MAX_LIST_BYTES = 64 << 20
#: All ``.list`` files together: 7 MB for this machine's 710 packages.
MAX_LISTS_TOTAL = 512 << 20
#: apk's ``installed`` database: ~50 lines a package, ~1 MB for 1,000 packages.
MAX_APK_BYTES = 256 << 20
#: One apt ``Packages`` index, decompressed: Debian 12 main/amd64 is 50 MB.
MAX_PACKAGES_BYTES = 256 << 20
#: How long ``lz4cat`` may take to decompress one apt index (it takes ~0.1 s).
LZ4_TIMEOUT = 30.0
#: rpm's ``rpmdb.sqlite`` (all its rows' blobs together, too). Not measured here (this
#: machine has no rpm); a header is tens of KB, so even 10,000 packages stay far below.
MAX_RPMDB_BYTES = 1 << 30
#: One rpm header blob: the largest (a kernel's, a texlive's) are a few MB.
MAX_RPM_HEADER_BYTES = 64 << 20
#: More packages than this is no rpm database (the same bound as dpkg's .list files).
MAX_RPM_PACKAGES = 200_000
#: How long reading rpm's database may take (the synthetic ones of the tests: milliseconds).
RPMDB_TIMEOUT = 30.0
#: More ``.list`` files than this is no dpkg database (Debian has ~65,000 binary packages).
MAX_LIST_FILES = 200_000

_CACHE_SECTION = "os-packages"
_INDEX_SECTION = "os-package-index"

# PEP 508's name (its "names" section gives this regex): the distribution a requirement names.
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
# A requirement used only with an extra: the OS package never asked for it.
_EXTRA_MARKER = re.compile(r";.*\bextra\s*==")
_APT_LIST = re.compile(r"_Packages(\.gz|\.xz|\.bz2|\.lz4)?$")


def os_root(target: Target) -> list[str]:
    """The roots whose OS database describes the target's files (see the module's
    docstring): ``["/"]`` for ``/usr/bin/python3``, ``["/srv/x"]`` for ``--prefix
    /srv/x/usr``, ``[]`` for a venv of its own or ``/usr/local``.

    >>> from pkgdoctor.target.facts import Interpreter
    >>> i = Interpreter("cpython", (3, 11, 2), None, None, (), None, None, None)
    >>> os_root(Target("static", "/srv/x/usr", "/usr", i, (), (), ()))
    ['/srv/x']
    """
    prefixes = [target.prefix]
    if target.mode == "live":
        prefixes.append(target.base_prefix)
    roots = []
    for prefix in prefixes:
        prefix = os.path.normpath(prefix)
        if prefix == "/usr" or prefix.endswith("/usr"):
            root = prefix[: -len("/usr")] or "/"
            if root not in roots:
                roots.append(root)
    return roots


def _under(root: str, path: str) -> str | None:
    """``path`` as the OS database writes it (absolute from ``root``), if below ``root/usr``."""
    path = os.path.normpath(path)
    usr = os.path.join(root, "usr")
    if not path.startswith(usr + "/"):
        return None
    return path if root == "/" else path[len(root) :]


def collect(
    target: Target, inventory: Inventory, cache: Cache, settled: Callable[[int], bool]
) -> OsPackages | None:
    """What the OS package manager of the target's root owns of its site directories and
    ``bin``, and which OS package would provide each distribution an OS-owned distribution
    requires and lacks; None when the target's prefix has no OS database."""
    from pkgdoctor.inventory import site_entries

    for root in os_root(target):
        manager = _manager(root)
        if manager is None:
            continue
        dirs: set[str] = set()
        for entry in site_entries(target.sys_path, target.stdlib):
            relative = _under(root, entry)
            if relative is not None:
                dirs.add(relative)
        if not dirs:
            continue
        for prefix in (target.prefix, target.base_prefix):
            relative = _under(root, os.path.join(prefix, "bin"))
            if relative is not None:
                dirs.add(relative)
        wanted = set()
        differing = []
        for dist in inventory.all:
            for rel in dist.integrity.missing:
                found = record_locations(dist.site_dir, rel)
                relative = _under(root, found[0]) if found else None
                if relative is not None:
                    wanted.add(relative)
            for hashed in dist.integrity.differing:
                relative = _under(root, hashed.located)
                if relative is not None:
                    wanted.add(relative)
                    differing.append(hashed.located)
        packages, owned = _owned(manager, root, dirs, wanted, cache, settled)
        facts = OsPackages(
            manager=manager,
            root=root,
            packages={p.name: p for p in packages},
            owned=owned,
        )
        # rpm's per-file digests are not read (yet): its differing files stay reported.
        if differing and manager != "rpm":  # --deep found files that differ from their RECORD
            facts = dataclasses.replace(facts, intact=_intact(facts, differing))
        lacking = _lacking(inventory, facts)
        if lacking:
            candidates = _candidates(manager, root, lacking, cache, settled)
            facts = dataclasses.replace(facts, candidates=candidates)
        return facts
    return None


def _manager(root: str) -> str | None:
    if os.path.isfile(os.path.join(root, "var/lib/dpkg/status")):
        return "dpkg"
    if os.path.isfile(os.path.join(root, "lib/apk/db/installed")):
        return "apk"
    if os.path.isfile(os.path.join(root, _RPMDB)):
        return "rpm"
    return None


def _lacking(inventory: Inventory, facts: OsPackages) -> list[str]:
    """The normalized names that OS-owned distributions require and the target lacks (their
    markers not judged, except that a requirement of an extra is left out: the OS package
    is looked up for a few names too many, never for too few)."""
    names: dict[str, None] = {}
    for dist in inventory.distributions:
        if facts.package_of(dist) is None:
            continue
        for text in dist.requires:
            match = _REQUIREMENT_NAME.match(text)
            if match is None or _EXTRA_MARKER.search(text):
                continue
            key = normalize(match[1])
            if inventory.get(key) is None:
                names[key] = None
    return sorted(names)


# --- who owns what --------------------------------------------------------------------------


def _owned(
    manager: str,
    root: str,
    dirs: set[str],
    wanted: set[str],
    cache: Cache,
    settled: Callable[[int], bool],
) -> tuple[list[OsPackage], dict[str, tuple[str, ...]]]:
    database = _database_files(manager, root)
    check = tuple(_identity(path) for path in database)
    key = (manager, root, tuple(sorted(dirs)), tuple(sorted(wanted)))
    stored = cache.decoded(_CACHE_SECTION, key, check, _decode_owned)
    if stored is not None:
        return stored
    if manager == "dpkg":
        packages, owned = _read_dpkg(root, dirs, wanted)
    elif manager == "rpm":
        packages, owned = _read_rpm(root, dirs, wanted)
    else:
        packages, owned = _read_apk(root, dirs, wanted)
    if all(v is not None and settled(v[1]) for v in check):
        cache.put(
            _CACHE_SECTION,
            key,
            (
                tuple((p.name, p.version, p.source) for p in packages),
                tuple((path, names) for path, names in owned.items()),
            ),
            check,
        )
    return packages, owned


def _decode_owned(value: Any) -> tuple[list[OsPackage], dict[str, tuple[str, ...]]]:
    packages, owned = value
    return (
        [OsPackage(str(n), _opt(v), _opt(s)) for n, v, s in packages],
        {str(path): tuple(str(n) for n in names) for path, names in owned},
    )


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _database_files(manager: str, root: str) -> list[str]:
    if manager == "dpkg":
        return [os.path.join(root, "var/lib/dpkg/status"), os.path.join(root, "var/lib/dpkg/info")]
    if manager == "rpm":
        # Only the database: the ``immutable`` reading ignores SQLite's write-ahead log,
        # which rpm checkpoints into the database (changing its identity) when it closes.
        return [os.path.join(root, _RPMDB)]
    return [os.path.join(root, "lib/apk/db/installed")]


def _identity(path: str) -> tuple[int, int, int, int] | None:
    """What changes when ``path`` (a file, or a directory's entries) changes."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if os.path.isdir(path):
        found = directory_validator(path)
        return None if found is None else (0, *found)
    return validator(st)


def _keep(line: str, dirs: set[str], wanted: set[str]) -> bool:
    return line in wanted or os.path.dirname(line) in dirs


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    """The fields of each stanza of a deb822 file (dpkg's status), continuation lines left
    out (no field read here has any)."""
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line[:1] not in (" ", "\t", "#"):
                name, sep, value = line.partition(":")
                if sep:
                    fields[name] = value.strip()
        if fields:
            yield fields


def _source_name(field: str | None) -> str | None:
    """``pygobject`` from dpkg's ``Source: pygobject (3.42.2-3)``."""
    return field.split(" ", 1)[0] if field else None


def _read_dpkg(
    root: str, dirs: set[str], wanted: set[str]
) -> tuple[list[OsPackage], dict[str, tuple[str, ...]]]:
    """dpkg's ``info/PACKAGE[:ARCH].list`` files (one installed path a line, directories
    included) for ownership; ``status`` for the versions and sources."""
    info = os.path.join(root, "var/lib/dpkg/info")
    try:
        status = read_regular(os.path.join(root, "var/lib/dpkg/status"), MAX_STATUS_BYTES)
    except OSError:  # unreadable, or not a regular file: ownership without versions
        status = b""
    versions: dict[str, tuple[str | None, str | None]] = {}
    for fields in _stanzas(status.decode("utf-8", "replace")):
        name = fields.get("Package")
        if name and fields.get("Status", "").endswith(" installed"):
            versions[name] = (fields.get("Version"), _source_name(fields.get("Source")))
    try:
        names = sorted(n for n in os.listdir(info) if n.endswith(".list"))[:MAX_LIST_FILES]
    except OSError:
        names = []
    needles = [d.encode("utf-8", "surrogateescape") + b"/" for d in dirs]
    needles += [w.encode("utf-8", "surrogateescape") for w in wanted]
    owned: dict[str, list[str]] = {}
    budget = MAX_LISTS_TOTAL
    for name in names:
        try:
            data = read_regular(os.path.join(info, name), min(MAX_LIST_BYTES, budget))
        except OSError:
            continue
        budget -= len(data)
        if budget <= 0:
            break  # no real database is this large: what was read is kept
        # Most packages own nothing of Python's: one search of the bytes tells.
        if not any(needle in data for needle in needles):
            continue
        package = name[: -len(".list")].split(":", 1)[0]
        for line in data.decode("utf-8", "surrogateescape").splitlines():
            if _keep(line, dirs, wanted):
                owned.setdefault(_absolute(root, line), []).append(package)
    return _finish(owned, versions)


def _read_apk(
    root: str, dirs: set[str], wanted: set[str]
) -> tuple[list[OsPackage], dict[str, tuple[str, ...]]]:
    """apk's ``installed`` database: ``P:`` starts a package, ``V:`` its version, ``o:``
    its origin (the aport), ``F:`` a directory (relative to the root), ``R:`` a file in the
    last ``F:`` (apk-tools' "Installed database V2" format)."""
    try:
        raw = read_regular(os.path.join(root, "lib/apk/db/installed"), MAX_APK_BYTES)
    except OSError:
        raw = b""
    versions: dict[str, tuple[str | None, str | None]] = {}
    owned: dict[str, list[str]] = {}
    package = directory = ""
    for line in raw.decode("utf-8", "surrogateescape").splitlines():
        tag, value = line[:2], line[2:]
        if tag == "P:":
            package, directory = value, ""
            versions[package] = (None, None)
        elif tag == "V:" and package:
            versions[package] = (value, versions[package][1])
        elif tag == "o:" and package:
            versions[package] = (versions[package][0], value)
        elif tag == "F:":
            directory = "/" + value.strip("/")
            if package and _keep(directory, dirs, wanted):
                owned.setdefault(_absolute(root, directory), []).append(package)
        elif tag == "R:" and package:
            path = f"{directory.rstrip('/')}/{value}"
            if _keep(path, dirs, wanted):
                owned.setdefault(_absolute(root, path), []).append(package)
    return _finish(owned, versions)


_RPMDB = "var/lib/rpm/rpmdb.sqlite"
# rpm's header tags and types (rpm's include/rpm/rpmtag.h; the format: lib/header.c).
_RPMTAG_NAME, _RPMTAG_VERSION, _RPMTAG_RELEASE, _RPMTAG_EPOCH = 1000, 1001, 1002, 1003
_RPMTAG_SOURCERPM = 1044
_RPMTAG_DIRINDEXES, _RPMTAG_BASENAMES, _RPMTAG_DIRNAMES = 1116, 1117, 1118
_RPM_INT32, _RPM_STRING, _RPM_STRING_ARRAY, _RPM_I18NSTRING = 4, 6, 8, 9
_RPM_TAGS = frozenset(
    {_RPMTAG_NAME, _RPMTAG_VERSION, _RPMTAG_RELEASE, _RPMTAG_EPOCH, _RPMTAG_SOURCERPM}
    | {_RPMTAG_DIRINDEXES, _RPMTAG_BASENAMES, _RPMTAG_DIRNAMES}
)
# A source rpm's file name: NAME-VERSION-RELEASE.src.rpm (neither VERSION nor RELEASE
# contains "-", rpm's rule), NAME the source package.
_SOURCE_RPM = re.compile(r"^(.+)-[^-]+-[^-]+\.(?:no)?src\.rpm$")


class _BadHeader(ValueError):
    """An rpm header blob that does not hold what its index says."""


def _rpm_header(blob: bytes) -> dict[int, int | str | list[str] | list[int]]:
    """The tags of :data:`_RPM_TAGS` in one header of rpm's ``Packages`` table: the header
    without its 8-byte magic (lib/header.c, headerImport): big-endian int32 ``il`` (index
    entries) and ``dl`` (data bytes), ``il`` entries of 16 bytes (tag, type, offset, count),
    then the ``dl`` bytes of data. Every offset and count is checked against ``dl``.

    :raises _BadHeader: when it is not such a header.
    """
    if len(blob) < 8:
        raise _BadHeader("short")
    il, dl = struct.unpack_from(">ii", blob)
    # rpm itself refuses more than 0xffff index entries (lib/header_internal.h, hdrchkTags).
    if not 0 <= il <= 0xFFFF or dl < 0 or 8 + 16 * il + dl > len(blob):
        raise _BadHeader("index or data past the blob")
    start = 8 + 16 * il
    data = blob[start : start + dl]
    found: dict[int, int | str | list[str] | list[int]] = {}
    for tag, kind, offset, count in struct.iter_unpack(">iiii", blob[8:start]):
        if tag not in _RPM_TAGS:
            continue
        # A tag twice would be parsed twice: each of the few wanted is parsed once.
        if tag in found or not 0 <= offset <= dl or not 0 <= count <= dl - offset:
            raise _BadHeader(f"tag {tag} twice or past the data")
        if kind == _RPM_INT32:
            if offset + 4 * count > dl:
                raise _BadHeader(f"tag {tag} past the data")
            ints = list(struct.unpack_from(f">{count}i", data, offset))
            found[tag] = ints[0] if tag == _RPMTAG_EPOCH and ints else ints
        elif kind in (_RPM_STRING, _RPM_STRING_ARRAY, _RPM_I18NSTRING):
            # ``count`` NUL-terminated strings one after the other (one for STRING and
            # I18NSTRING, whose first is the untranslated text).
            wanted = count if kind == _RPM_STRING_ARRAY else 1
            parts = data[offset:].split(b"\0", wanted)
            if len(parts) <= wanted:
                raise _BadHeader(f"tag {tag} unterminated")
            strings = [p.decode("utf-8", "surrogateescape") for p in parts[:wanted]]
            found[tag] = strings if kind == _RPM_STRING_ARRAY else strings[0]
        else:
            raise _BadHeader(f"tag {tag} of type {kind}")
    return found


def _rpm_headers(root: str) -> Iterator[dict[int, int | str | list[str] | list[int]]]:
    """Each well-formed header of ``root``'s rpm database, read only (SQLite's
    ``immutable``: no lock, no journal written, nothing of another machine's tree changed),
    within :data:`MAX_RPM_PACKAGES`, :data:`MAX_RPMDB_BYTES` and :data:`RPMDB_TIMEOUT`; a
    malformed header is left out."""
    path = os.path.join(root, _RPMDB)
    # Never opened unless a regular file: SQLite would wait on a FIFO forever.
    if irregular_kind(path) is not None or not os.path.isfile(path):
        return
    with contextlib.suppress(OSError):
        if os.path.getsize(path) > MAX_RPMDB_BYTES:
            return
    deadline = time.monotonic() + RPMDB_TIMEOUT
    # Opened here without blocking and checked to be a regular file; SQLite then opens that
    # same file through /proc/self/fd, so a FIFO swapped in after the check is never opened.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        held = f"/proc/self/fd/{fd}"
        opened = held if os.path.exists(held) else os.path.abspath(path)
        yield from _rpm_rows(opened, deadline)
    finally:
        os.close(fd)  # only now: SQLite may open its file when first asked for a page


def _rpm_rows(
    opened: str, deadline: float
) -> Iterator[dict[int, int | str | list[str] | list[int]]]:
    try:
        connection = sqlite3.connect(
            f"file:{urllib.parse.quote(opened)}?mode=ro&immutable=1", uri=True
        )
    except sqlite3.Error:
        return
    try:
        # SQLite calls this every 10,000 virtual-machine steps: a non-zero answer interrupts.
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        rows = connection.execute(
            "SELECT blob FROM Packages WHERE length(blob) <= ? LIMIT ?",
            (MAX_RPM_HEADER_BYTES, MAX_RPM_PACKAGES),
        )
        total = 0
        for (blob,) in rows:
            if time.monotonic() > deadline:
                break
            if not isinstance(blob, bytes):
                continue
            total += len(blob)
            if total > MAX_RPMDB_BYTES:
                break
            try:
                yield _rpm_header(blob)
            except (_BadHeader, struct.error):
                continue
    except sqlite3.Error:
        return  # not rpm's database, corrupt, or out of time: what was read is kept
    finally:
        connection.close()


def _rpm_strings(header: dict[int, int | str | list[str] | list[int]], tag: int) -> list[str]:
    value = header.get(tag)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _rpm_string(header: dict[int, int | str | list[str] | list[int]], tag: int) -> str | None:
    value = header.get(tag)
    return value if isinstance(value, str) else None


def _rpm_source(header: dict[int, int | str | list[str] | list[int]]) -> str | None:
    """``pygobject3`` from ``SOURCERPM: pygobject3-3.46.0-2.fc39.src.rpm``."""
    match = _SOURCE_RPM.match(_rpm_string(header, _RPMTAG_SOURCERPM) or "")
    return match[1] if match else None


def _read_rpm(
    root: str, dirs: set[str], wanted: set[str]
) -> tuple[list[OsPackage], dict[str, tuple[str, ...]]]:
    """rpm's headers: a file is ``DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]``; the version
    is ``[EPOCH:]VERSION-RELEASE`` (rpm's EVR)."""
    versions: dict[str, tuple[str | None, str | None]] = {}
    owned: dict[str, list[str]] = {}
    for header in _rpm_headers(root):
        name = _rpm_string(header, _RPMTAG_NAME)
        if not name:
            continue
        version, release = (
            _rpm_string(header, _RPMTAG_VERSION),
            _rpm_string(header, _RPMTAG_RELEASE),
        )
        epoch = header.get(_RPMTAG_EPOCH)
        evr = f"{version}-{release}" if version and release else version
        if evr and isinstance(epoch, int):
            evr = f"{epoch}:{evr}"
        versions[name] = (evr, _rpm_source(header))
        dirnames = _rpm_strings(header, _RPMTAG_DIRNAMES)
        indexes = header.get(_RPMTAG_DIRINDEXES)
        indexes = indexes if isinstance(indexes, list) else []
        for index, base in zip(indexes, _rpm_strings(header, _RPMTAG_BASENAMES), strict=False):
            if not isinstance(index, int) or not 0 <= index < len(dirnames):
                continue
            path = dirnames[index] + base
            if _keep(path, dirs, wanted):
                owned.setdefault(_absolute(root, path), []).append(name)
    return _finish(owned, versions)


def _rpm_index(root: str) -> dict[str, str]:
    """Installed package → its source package."""
    index = {}
    for header in _rpm_headers(root):
        name = _rpm_string(header, _RPMTAG_NAME)
        if name:
            index[name] = _rpm_source(header) or name
    return index


def _absolute(root: str, path: str) -> str:
    """A path of the OS database as the target sees it."""
    return os.path.normpath(path if root == "/" else root + path)


def _finish(
    owned: dict[str, list[str]], versions: dict[str, tuple[str | None, str | None]]
) -> tuple[list[OsPackage], dict[str, tuple[str, ...]]]:
    result = {path: tuple(dict.fromkeys(names)) for path, names in owned.items()}
    used = sorted({n for names in result.values() for n in names})
    packages = [OsPackage(n, *versions.get(n, (None, None))) for n in used]
    return packages, result


# --- files that differ from RECORD and not from the OS's checksums (--deep) ------------------


def _intact(facts: OsPackages, paths: list[str]) -> tuple[str, ...]:
    """Those of ``paths`` (files whose content differs from their RECORD row) that the OS
    installed as they are: their content has the checksum the OS database records (dpkg's
    ``info/PACKAGE.md5sums``, apk's ``Z:`` lines), or the OS records none for them (a
    symbolic link, a conffile). The OS packaging changed them after the build wrote RECORD
    (Debian strips extension modules: dh_strip), so they are not damage."""
    expected: dict[str, str | None] = {}
    by_package: dict[str, list[str]] = {}
    for path in paths:
        package = facts.owner(path)
        if package is not None:
            by_package.setdefault(package.name, []).append(path)
    for name, owned in by_package.items():
        sums = (
            _dpkg_md5sums(facts.root, name, owned)
            if facts.manager == "dpkg"
            else _apk_sha1s(facts.root, owned)
        )
        for path in owned:
            expected[path] = sums.get(path)
    intact = []
    for path, checksum in expected.items():
        if checksum is None or _file_digest(path, checksum) == checksum:
            intact.append(path)
    return tuple(sorted(intact))


def _dpkg_md5sums(root: str, package: str, paths: list[str]) -> dict[str, str]:
    """``md5  path`` lines of the package's ``md5sums`` (``PACKAGE:ARCH.md5sums`` for a
    Multi-Arch: same package), for ``paths``; the algorithm is in the value (``md5:HEX``)."""
    info = os.path.join(root, "var/lib/dpkg/info")
    try:
        names = [
            n
            for n in os.listdir(info)
            if n == f"{package}.md5sums" or (n.startswith(f"{package}:") and n.endswith(".md5sums"))
        ]
    except OSError:
        return {}
    wanted = set(paths)
    found = {}
    for name in names:
        try:
            data = read_regular(os.path.join(info, name), MAX_LIST_BYTES)
        except OSError:
            continue
        for line in data.decode("utf-8", "surrogateescape").splitlines():
            digest, _, relative = line.partition("  ")
            path = _absolute(root, "/" + relative)
            if path in wanted:
                found[path] = f"md5:{digest.strip().lower()}"
    return found


def _apk_sha1s(root: str, paths: list[str]) -> dict[str, str]:
    """apk's ``Z:Q1<base64 SHA-1>`` line after each ``R:`` file, for ``paths``."""
    import base64

    try:
        raw = read_regular(os.path.join(root, "lib/apk/db/installed"), MAX_APK_BYTES)
    except OSError:
        return {}
    wanted = set(paths)
    found = {}
    directory = path = ""
    for line in raw.decode("utf-8", "surrogateescape").splitlines():
        tag, value = line[:2], line[2:]
        if tag == "F:":
            directory, path = "/" + value.strip("/"), ""
        elif tag == "R:":
            path = _absolute(root, f"{directory.rstrip('/')}/{value}")
        elif tag == "Z:" and path in wanted and value.startswith("Q1"):
            with contextlib.suppress(ValueError):  # not base64: no checksum to compare
                found[path] = "sha1:" + base64.b64decode(value[2:]).hex()
    return found


def _file_digest(path: str, checksum: str) -> str | None:
    """``ALGORITHM:HEX`` of the regular file ``path`` (never blocking on a FIFO), in the
    algorithm of ``checksum``; None when it cannot be read."""
    import hashlib
    import stat

    algorithm = checksum.partition(":")[0]
    # An integrity check, not security: FIPS builds refuse md5 without this flag.
    hasher = hashlib.new(algorithm, usedforsecurity=False)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        while chunk := os.read(fd, 1 << 20):
            hasher.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return f"{algorithm}:{hasher.hexdigest()}"


# --- which OS package provides a distribution -----------------------------------------------


def _candidates(
    manager: str,
    root: str,
    names: list[str],
    cache: Cache,
    settled: Callable[[int], bool],
) -> dict[str, OsCandidate]:
    """The OS package to install for each of ``names``, and how it was found: from the
    manager's own database (a package built from a source of that name), then from apt's
    package lists, else by the distribution's naming policy (said so: unverified). Cached
    with the identity of every file read: reading apt's lists costs ~0.3 s."""
    files = _database_files(manager, root)[:1]
    if manager == "dpkg":
        files += _apt_lists(root)
    check = tuple((path, _identity(path)) for path in files)
    key = (manager, root, tuple(names))
    stored = cache.decoded(_INDEX_SECTION, key, check, _decode_candidates)
    if stored is not None:
        return stored
    policy = MANAGERS[manager].python_prefix
    indexes: list[tuple[str, dict[str, str]]] = []
    if manager == "dpkg":
        indexes.append(("dpkg's status", _dpkg_index(root)))
    elif manager == "rpm":
        indexes.append(("rpm's database", _rpm_index(root)))
    else:
        indexes.append(("apk's installed database", _apk_index(root)))
    found = {}
    lists = iter(files[1:])
    for name in names:
        candidate = _candidate(name, policy, indexes, manager)
        # apt's lists are read only when dpkg's status does not know the name, one by one.
        while not candidate.verified:
            path = next(lists, None)
            if path is None:
                break
            index = _apt_index(path, names, policy)
            indexes.append((f"apt's list {os.path.basename(path)}", index))
            candidate = _candidate(name, policy, indexes, manager)
        found[name] = candidate
    if all(v is not None and settled(v[1]) for _, v in check):
        value = tuple((n, c.package, c.how, c.verified) for n, c in found.items())
        cache.put(_INDEX_SECTION, key, value, check)
    return found


def _decode_candidates(value: Any) -> dict[str, OsCandidate]:
    return {str(n): OsCandidate(str(p), str(h), bool(v)) for n, p, h, v in value}


def _candidate(
    name: str, policy: str, indexes: list[tuple[str, dict[str, str]]], manager: str
) -> OsCandidate:
    # Debian's Python policy (section 4.3) names the package of module foo python3-foo, and
    # many sources after the upstream project (pycairo) or python-NAME; Alpine's py3-NAME.
    sources = set(_sources(name))
    exact = f"{policy}{name}"
    for where, index in indexes:
        if exact in index:
            return OsCandidate(exact, f"{where} lists {exact}", True)
        built = sorted(
            (p for p, source in index.items() if normalize(source) in sources),
            key=lambda p: (len(p), p),
        )
        built = [p for p in built if p.startswith(policy) and not p.endswith(_NOT_RUNTIME)]
        if built:
            source = index[built[0]]
            return OsCandidate(
                built[0], f"{where} lists {built[0]}, built from the source package {source}", True
            )
    checked = ", ".join(where for where, _ in indexes) or f"no {manager} index"
    naming = {
        "dpkg": "Debian's Python policy",
        "rpm": "Fedora's Python packaging guidelines",
    }.get(manager, "Alpine's naming of Python packages")
    return OsCandidate(
        exact,
        f"{naming} names it {exact}; {checked} did not confirm that name",
        False,
    )


# Binary packages of a source that are not the module itself.
_NOT_RUNTIME = ("-dbg", "-dev", "-doc", "-tests")


def _dpkg_index(root: str) -> dict[str, str]:
    """Binary package → source package, for every package dpkg knows (installed or not)."""
    try:
        raw = read_regular(os.path.join(root, "var/lib/dpkg/status"), MAX_STATUS_BYTES)
    except OSError:
        return {}
    index = {}
    for fields in _stanzas(raw.decode("utf-8", "replace")):
        name = fields.get("Package")
        if name:
            index[name] = _source_name(fields.get("Source")) or name
    return index


def _apk_index(root: str) -> dict[str, str]:
    """Installed package → its origin (the aport it was built from)."""
    try:
        raw = read_regular(os.path.join(root, "lib/apk/db/installed"), MAX_APK_BYTES)
    except OSError:
        return {}
    index = {}
    package = ""
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith("P:"):
            package = line[2:]
            index[package] = package
        elif line.startswith("o:") and package:
            index[package] = line[2:]
    return index


def _apt_lists(root: str) -> list[str]:
    directory = os.path.join(root, "var/lib/apt/lists")
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names if _APT_LIST.search(n)]


def _apt_index(path: str, names: list[str], policy: str) -> dict[str, str]:
    """Binary package → source package, from one apt ``Packages`` index, for the packages
    that could provide ``names``: ``POLICY-NAME``, and those built from the sources
    :func:`_sources` names. Searched as bytes (``bytes.find``: 50 MB in milliseconds), not
    parsed: a stanza is the lines between blank lines, its first line ``Package:``
    (deb822, as dpkg-scanpackages and apt-ftparchive write it)."""
    data = _decompressed(path)
    if not data:
        return {}
    index = {}
    for name in names:
        exact = f"Package: {policy}{name}\n".encode()
        if data.startswith(exact) or b"\n" + exact in data:
            index[f"{policy}{name}"] = f"{policy}{name}"
        for source in _sources(name):
            # "Source: pycairo", or "Source: pycairo (1.20.1-5)" for a rebuild: one search,
            # then the character after the name tells.
            pattern = f"\nSource: {source}".encode()
            at = data.find(pattern)
            while at >= 0:
                end = at + len(pattern)
                if data[end : end + 1] in (b"\n", b" "):
                    start = data.rfind(b"\n\n", 0, at)
                    start = start + 2 if start >= 0 else 0
                    line = data[start : data.find(b"\n", start)]
                    if line.startswith(b"Package: "):
                        index[line[9:].decode("utf-8", "replace").strip()] = source
                at = data.find(pattern, end)
    return index


def _sources(name: str) -> tuple[str, ...]:
    """The source packages a distribution's OS package may be built from: named after the
    upstream project (pycairo), or python-NAME (Debian: python-cryptography), py-NAME."""
    return (name, f"python-{name}", f"py-{name}")


def _decompressed(path: str) -> bytes | None:
    """The text of an apt index, within :data:`MAX_PACKAGES_BYTES`; None when it cannot be
    read or inflates past that (a decompression bomb is cut off, never held in memory).
    apt keeps its lists lz4-compressed when ``lz4`` is installed (Debian's default); the
    standard library has no lz4, so ``lz4cat`` decompresses those, when it is there."""
    try:
        if path.endswith(".lz4"):
            return _lz4cat(path)
        raw = read_regular(path, MAX_PACKAGES_BYTES)
        if path.endswith(".gz"):
            # wbits 16 + 15: a gzip header (zlib's documented value for gzip streams).
            return _bounded(zlib.decompressobj(16 + zlib.MAX_WBITS), raw)
        if path.endswith(".xz"):
            return _bounded(lzma.LZMADecompressor(), raw)
        if path.endswith(".bz2"):
            return _bounded(bz2.BZ2Decompressor(), raw)
        return raw
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError):
        return None


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def _bounded(decompressor: _Decompressor, raw: bytes) -> bytes | None:
    data = decompressor.decompress(raw, MAX_PACKAGES_BYTES + 1)
    return data if len(data) <= MAX_PACKAGES_BYTES else None


def _lz4cat(path: str) -> bytes | None:
    from pkgdoctor.files import irregular_kind
    from pkgdoctor.target import process

    program = shutil.which("lz4cat")
    if program is None or irregular_kind(path) is not None:
        return None
    child = process.start([program, "--", path], cwd="/", env={"PATH": "/usr/bin:/bin"})
    stdout, stderr = process.Kept(MAX_PACKAGES_BYTES), process.Kept(4096)
    ended = process.collect(
        child, time.monotonic() + LZ4_TIMEOUT, stdout, stderr, stop_on_overflow=True
    )
    if ended.how != "done" or ended.returncode != 0 or stdout.overflowed:
        return None
    return stdout.tail_bytes()  # all of it: nothing was left out
