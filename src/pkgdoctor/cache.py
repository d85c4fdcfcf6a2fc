"""A per-user cache of what pkgdoctor read from files, so that a second ``check`` is cheap.

Every entry is keyed on the identity of the file it came from — path, size, modification
time in nanoseconds, inode and device — and used only while all of those are unchanged: a
file that is rewritten, replaced or touched is read again. Pure results (a requirement
string parsed for a given marker environment) are keyed on their inputs alone.

The cache lives outside every target, in ``$PKGDOCTOR_CACHE_DIR``, else
``$XDG_CACHE_HOME/pkgdoctor``, else ``~/.cache/pkgdoctor``; one file per target. It is an
optimisation only: a cache that cannot be read or written is ignored, and ``--no-cache``
turns it off. The format is :mod:`marshal` (plain tuples, strings and numbers; no code is
ever loaded from it), behind a version number and a checksum: a file whose bytes changed
after pkgdoctor wrote it (a bad disk, a truncated copy, a hand edit) is ignored whole, so a
cache can make a run slower but never change a verdict.
"""

from __future__ import annotations

import marshal
import os
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: The layout of the cache file and of its entries. Bump it when an entry's shape changes, or
#: when a reader starts refusing what it used to accept (3: the checksum; 4: truncated PT_LOAD,
#: PN_XNUM; RECORD rows outside the install scheme are no longer looked at; 5: a
#: distribution's rows outside are kept with it; 6: and its roots).
FORMAT = 6
#: What a cache file starts with: a magic, then the CRC-32 of the marshal payload that follows.
#: CRC-32 catches every burst of up to 32 flipped bits and other damage with odds of 2**-32;
#: the cache is the user's own file (mode 0700 directory), so there is no adversary to
#: outguess, and zlib's CRC reads the ~3 MB of a large environment's cache in ~1 ms.
MAGIC = b"pkgdoctor-cache\n"
#: The largest cache file read: a 10,000-distribution environment writes ~60 MB.
MAX_BYTES = 512 << 20
Validator = tuple[int, int, int, int]  # size, mtime_ns, inode, device


def stamp() -> tuple[int, int, str, str]:
    """What a cache file must have been written by to be read: this cache layout, the
    snapshot schema, pkgdoctor's release and packaging's (whose verdicts are memoized). A
    file with any other stamp is ignored whole, so an upgrade can never read stale entries."""
    import packaging  # the package's __init__ only: its version, no parser

    from pkgdoctor import __version__
    from pkgdoctor.snapshot.model import SCHEMA_VERSION

    return (FORMAT, SCHEMA_VERSION, __version__, packaging.__version__)


def default_directory() -> str:
    explicit = os.environ.get("PKGDOCTOR_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pkgdoctor")


def validator(st: os.stat_result) -> Validator:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def directory_validator(path: str) -> tuple[int, int, int] | None:
    """What changes when a name is added to, removed from or renamed in the directory
    ``path``, or the directory is replaced: its mtime in nanoseconds, inode and device.
    None when there is no directory (that too is a state an answer can depend on)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_dev)


def inside_cache_directory(root: str) -> bool:
    """Whether the cache directory lies inside ``root`` (a target's tree, where pkgdoctor
    must never write)."""
    directory = os.path.abspath(default_directory())
    root = os.path.abspath(root)
    return directory == root or directory.startswith(root.rstrip("/") + "/")


class Cache:
    """Sections of ``key -> (validator, value)``; only entries used in a run are saved."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._old: dict[str, dict[Any, Any]] = {}
        self._new: dict[str, dict[Any, Any]] = {}
        self.hits = self.misses = 0
        if path is not None:
            self._old = _load(path)

    @classmethod
    def for_target(cls, target_id: str, *, excluded: tuple[str, ...] = ()) -> Cache:
        """The cache file of one target; a disabled cache if it would lie inside ``excluded``
        (the target's own tree: pkgdoctor never writes there)."""
        if any(inside_cache_directory(root) for root in excluded):
            return cls(None)
        directory = os.path.abspath(default_directory())
        # Entries are keyed on absolute paths, so a shared file would still be correct: the
        # name only keeps targets apart, and a checksum is enough for that.
        name = f"{zlib.crc32(target_id.encode('utf-8', 'surrogateescape')):08x}"
        return cls(os.path.join(directory, f"target-{name}.v{FORMAT}.marshal"))

    def get(self, section: str, key: Any, check: Any = None) -> Any:
        """The value stored for ``key`` if its validator equals ``check``, else None."""
        entry = self._new.get(section, {}).get(key)
        if entry is None:
            entry = self._old.get(section, {}).get(key)
        if entry is not None and entry[0] == check:
            self._new.setdefault(section, {})[key] = entry
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def decoded(self, section: str, key: Any, check: Any, decode: Callable[[Any], T]) -> T | None:
        """``decode(value)`` of the entry for ``key``, or None: an entry that does not decode
        (written by a bug, or edited by hand) is a miss, never an exception."""
        value = self.get(section, key, check)
        if value is None:
            return None
        try:
            return decode(value)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            self.hits -= 1
            self.misses += 1
            return None

    def put(self, section: str, key: Any, value: Any, check: Any = None) -> None:
        self._new.setdefault(section, {})[key] = (check, value)

    @property
    def cold(self) -> bool:
        """Nothing stored from an earlier run: everything will be read anew."""
        return not self._old

    def used(self) -> set[str]:
        """The sections this run has used so far (for :meth:`used_since`)."""
        return set(self._new)

    def used_since(self, before: set[str]) -> tuple[list[str], dict[str, dict[Any, Any]] | None]:
        """What this run used since :meth:`used` was ``before``, for :meth:`absorb` in the
        process that saves (a forked child's cache dies with it): the sections and, only if a
        lookup missed, their entries (otherwise the stored ones are still right)."""
        sections = [s for s in self._new if s not in before]
        entries = {s: self._new[s] for s in sections} if self.misses else None
        return sections, entries

    def absorb(self, used: tuple[list[str], dict[str, dict[Any, Any]] | None]) -> None:
        """Take what a forked child used (:meth:`used_since`) into what this run saves."""
        sections, entries = used
        if entries is None:
            for section in sections:  # unchanged: keep what is stored
                self._new.setdefault(section, {}).update(self._old.get(section, {}))
        else:
            self.misses += 1  # something changed: save
            for section, values in entries.items():
                self._new.setdefault(section, {}).update(values)

    def save(self) -> None:
        """Write what this run used, atomically; silently give up when that is impossible."""
        if self.path is None or (self.misses == 0 and self._new.keys() == self._old.keys()):
            return
        try:
            directory = os.path.dirname(self.path)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            data = pack((stamp(), self._new))
            import tempfile  # only when something changed: a warm run writes nothing

            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except (OSError, ValueError):
            pass


def pack(document: Any) -> bytes:
    """The bytes of a cache file holding ``document``: :data:`MAGIC`, the CRC-32 of the
    marshal payload, the payload."""
    payload = marshal.dumps(document)
    return MAGIC + zlib.crc32(payload).to_bytes(4, "big") + payload


def unpack(raw: bytes) -> Any:
    """The document of the cache file bytes ``raw`` (see :func:`pack`).

    :raises ValueError: when the bytes are not a cache file or were changed after :func:`pack`.
    """
    head = len(MAGIC) + 4
    if len(raw) < head or not raw.startswith(MAGIC):
        raise ValueError("not a pkgdoctor cache file")
    payload = memoryview(raw)[head:]
    if zlib.crc32(payload) != int.from_bytes(raw[len(MAGIC) : head], "big"):
        raise ValueError("damaged: the checksum does not match")
    try:
        return marshal.loads(payload)
    except (EOFError, TypeError) as exc:
        raise ValueError(f"damaged: {exc}") from exc


def _load(path: str) -> dict[str, dict[Any, Any]]:
    """The sections of the cache file ``path``; nothing when it is missing, not a regular file
    (a FIFO there must not block the run), too large, damaged or of another stamp."""
    from pkgdoctor.files import read_regular

    try:
        raw = read_regular(path, MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            return {}
        data = unpack(raw)
    except (OSError, ValueError):
        return {}
    if (
        isinstance(data, tuple)
        and len(data) == 2
        and data[0] == stamp()
        and isinstance(data[1], dict)
        and all(isinstance(v, dict) for v in data[1].values())
    ):
        return data[1]
    return {}
