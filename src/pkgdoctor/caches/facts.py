"""What ``pkgdoctor cache`` found: frozen facts, built by :mod:`pkgdoctor.caches.look` and
judged by :mod:`pkgdoctor.caches.judge`.

Sizes are apparent sizes from ``lstat`` (``st_size``), each inode counted once per cache
(a file hard-linked twice inside a cache is one file). A walk that stopped at a limit
(entries, depth, time) leaves ``complete`` False: its numbers are lower bounds.
"""

from __future__ import annotations

from typing import Any

from pkgdoctor._fields import Fact, fact


@fact
class Usage(Fact):
    """Files and bytes; ``complete`` False when a limit stopped the count (a lower bound)."""

    files: int = 0
    bytes: int = 0
    complete: bool = True

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.files + other.files, self.bytes + other.bytes, self.complete and other.complete
        )

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "bytes": self.bytes, "complete": self.complete}


@fact
class Part(Fact):
    """A named part of a cache (pip's ``http-v2``, conda's unused packages) and whether the
    cache's own clean-up command removes it."""

    name: str
    usage: Usage
    reclaimable: bool
    what: str = ""  # in words: "HTTP responses", "built wheels"


@fact
class Location(Fact):
    """Where a tool keeps its cache, and what decided it (a variable, a file, a default)."""

    tool: str  # "pip", "uv", "conda", "rattler"
    path: str | None  # None: the tool's cache is off (``disabled`` says by what)
    source: str  # "PIP_CACHE_DIR", "default: $XDG_CACHE_HOME/pip", ...
    disabled: str | None = None


@fact
class BrokenPackage(Fact):
    """An entry of a conda ``pkgs/`` directory conda cannot use as it is."""

    path: str  # the extracted directory or the package file
    kind: str  # "no-index", "no-paths", "missing-files", "bad-archive"
    detail: str
    missing: tuple[str, ...] = ()  # files ``info/paths.json`` lists that are not there
    missing_count: int = 0
    in_use: bool = False  # some file of it has a link count above 1 (an environment's)


@fact
class Cache(Fact):
    """One cache: where, how big, what its tool's clean-up command would free."""

    location: Location
    exists: bool
    total: Usage = Usage()
    parts: tuple[Part, ...] = ()
    layout: str | None = None  # conda pkgs/: "conda", "rattler", "unknown"
    packages: int = 0  # conda: extracted package directories
    tarballs: int = 0  # conda: package files (.conda, .tar.bz2)
    broken: tuple[BrokenPackage, ...] = ()
    problem: str | None = None  # the directory could not be read (permission, not a dir)

    @property
    def reclaimable(self) -> Usage:
        out = Usage()
        for part in self.parts:
            if part.reclaimable:
                out = out + part.usage
        return Usage(out.files, out.bytes, out.complete and self.total.complete)


@fact
class Linkage(Fact):
    """How a conda environment's files relate to the package cache they came from."""

    prefix: str
    sources: tuple[str, ...] = ()  # pkgs/ directories its records were linked from
    hardlinked: Usage = Usage()  # the same inode as the cache's file: shared on disk
    copied: Usage = Usage()  # a file of its own (copied, or rewritten at link time)
    softlinks: int = 0
    missing: int = 0  # listed by a record, not in the prefix
    no_source: int = 0  # records whose extracted package is no longer in any cache
    records: int = 0


@fact
class CacheFacts(Fact):
    """Everything ``pkgdoctor cache`` looked at."""

    prefix: str  # the target environment
    caches: tuple[Cache, ...] = ()
    linkage: Linkage | None = None  # for a conda environment
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
