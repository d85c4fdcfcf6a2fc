"""Looking at what each RECORD lists: is every file still there, and (``--deep``) unchanged?

A RECORD (PEP 376; "Recording installed projects" in the PyPA specifications) lists every
file an installer wrote as ``path,hash,size``, paths relative to the site directory and
hashes as ``<algorithm>=<urlsafe-base64 digest without '=' padding>`` (PEP 376, PEP 427).

- Presence, always: answered from directory listings shared with the other readers (a set
  lookup per file, not a ``stat``), cached with the identities of those directories. pip
  records the ``.pyc`` files it compiled, and deleting ``__pycache__`` is harmless, so those
  are not looked for.
- Content, with ``--deep``: every hashed entry is read and hashed again, on every core.

Hashing uses threads, not processes: ``hashlib`` releases the GIL while it hashes more than
2 KiB, and reads release it too, so threads reach every core without pickling a byte
(``benchmarks/bench_deep.py --executors`` measures both). The largest files start first, so
that one huge file (``libtorch_cpu.so``) does not begin last and set the wall time alone.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, Protocol

from pkgdoctor._fields import Fact, fact
from pkgdoctor.cache import Cache, Validator, directory_validator, validator
from pkgdoctor.inventory import record_hash
from pkgdoctor.listings import Listings
from pkgdoctor.snapshot.model import (
    Distribution,
    HashedFile,
    Integrity,
    Inventory,
    RecordEntry,
    normal_hash,
    record_algorithm,
    record_locations,
)

CHUNK = 1 << 20  # read size for large files (1 MiB)
_MAX_WHEEL_MEMBER = 1 << 30  # a wheel member larger than this is not read to compare


def collect(
    inventory: Inventory,
    *,
    deep: bool,
    cache: Cache,
    listings: Listings,
    settled: Callable[[int], bool],
    progress: ProgressFactory | None = None,
) -> Inventory:
    """``inventory`` with the integrity facts of every distribution filled in."""
    looked: dict[int, Integrity] = {}
    jobs: list[HashJob] = []
    for dist in inventory.all:
        checked, missing = _presence(dist, cache, listings, settled)
        looked[id(dist)] = Integrity(checked=checked, missing=tuple(missing), deep=deep)
        if deep:
            jobs += _jobs(dist, set(missing))
    if jobs:
        # A bar on stderr when the CLI asks for it (a terminal); absent in tests and pipes.
        results = hash_files(jobs, progress=progress)
        hashed: dict[int, int] = {}
        differing: dict[int, list[HashResult]] = {}
        for result in results:
            key = id(result.job.dist)
            hashed[key] = hashed.get(key, 0) + 1
            if not result.matches:
                differing.setdefault(key, []).append(result)
        for group in differing.values():
            group.sort(key=lambda r: r.job.entry.path)
        for dist in inventory.all:
            key = id(dist)
            group = differing.get(key, [])
            installed_from, same = _published(group) if group else (None, set())
            looked[key] = dataclasses.replace(
                looked[key],
                hashed=hashed.get(key, 0),
                differing=tuple(
                    HashedFile(r.job.entry.path, r.job.path, r.digest or "", r.size, r.shebang)
                    for r in group
                ),
                installed_from=installed_from,
                published=tuple(sorted(same)),
            )

    def filled(dist: Distribution) -> Distribution:
        return dist.with_integrity(looked[id(dist)])

    return dataclasses.replace(
        inventory,
        distributions=tuple(filled(d) for d in inventory.distributions),
        shadowed=tuple(filled(d) for d in inventory.shadowed),
    )


def _skipped(entry: RecordEntry) -> bool:
    """``.pyc`` files (pip records the bytecode it compiled) and directory entries."""
    return entry.path.endswith((".pyc", "/", "\\"))


def _jobs(dist: Distribution, missing: set[str]) -> list[HashJob]:
    jobs = []
    record = dist.record_path
    for entry, path in dist.files():
        if _skipped(entry) or entry.path in missing or not entry.hash:
            continue
        if record_algorithm(entry.hash) is None:
            continue
        try:
            path, st = _locate(dist, entry, path)
        except (OSError, ValueError):  # unreadable, name too long, NUL in a garbage row
            continue
        if stat.S_ISREG(st.st_mode) and path != record:
            jobs.append(HashJob(dist, entry, path, st.st_size))
    return jobs


def _record_validator(dist: Distribution) -> Validator | None:
    try:
        return validator(os.stat(dist.record_path))
    except OSError:
        return None


# --- presence -------------------------------------------------------------------------------

_NAME_MAX = 255  # the longest file name Linux file systems allow (stat: ENAMETOOLONG)


def _presence(
    dist: Distribution, cache: Cache, listings: Listings, settled: Callable[[int], bool]
) -> tuple[int, list[str]]:
    """(entries checked, entries missing) of one RECORD, from the cache while neither the
    RECORD nor any directory its files are in has changed since."""
    if dist.record is None:
        return 0, []
    check = _record_validator(dist)
    stored = cache.decoded(_PRESENCE, dist.record_path, check, _presence_entry) if check else None
    if stored is not None:
        checked, missing, directories = stored
        if all(directory_validator(d) == v for d, v in directories):
            return checked, missing
    consulted: set[str] = set()
    checked, missing, complete = _scan_record(listings, dist, consulted)
    if check is not None and complete:
        directories = tuple((d, directory_validator(d)) for d in sorted(consulted))
        if all(v is None or settled(v[0]) for _, v in directories):
            verdict = (checked, tuple(missing), directories)
            cache.put(_PRESENCE, dist.record_path, verdict, check)
    return checked, missing


# Cache section of record-missing-file verdicts: RECORD identity -> (entries checked, entries
# missing, (directory, (mtime_ns, inode, device) or None) for every directory consulted).
# A file created, deleted or renamed changes its directory's mtime, so the verdict holds
# while every one of those directories is unchanged.
_PRESENCE = "record-presence"


def _presence_entry(stored: Any) -> tuple[int, list[str], tuple[tuple[str, Any], ...]]:
    checked, missing, directories = stored
    return int(checked), [str(m) for m in missing], tuple((str(d), v) for d, v in directories)


def _scan_record(
    listings: Listings, dist: Distribution, consulted: set[str]
) -> tuple[int, list[str], bool]:
    """(entries checked, entries missing, whether directory listings alone answered) of
    one RECORD, answered from directory listings shared with the other checks: a set lookup
    per file instead of a ``stat``. Every directory listed is added to ``consulted``.

    This runs for every file of every distribution on a cold ``check``, so it is one tight
    loop; the rare cases (a name the directory listing cannot answer for) go to ``_listed``.
    """
    checked = 0
    missing: list[str] = []
    complete = True
    last_dir = None
    names: dict[str, bool] | OSError | None = None
    for entry, path in dist.files():
        rel = entry.path
        if rel.endswith((".pyc", "/", "\\")):
            continue
        checked += 1
        directory, _, name = path.rpartition("/")
        if directory != last_dir:
            last_dir, names = directory, listings.entries(directory)
            consulted.add(directory)
        if isinstance(names, dict) and name in names:
            continue
        found, listed = _listed(listings, dist, entry, path, consulted)
        complete = complete and listed
        if not found:
            missing.append(rel)
    return checked, missing, complete


def _listed(
    listings: Listings, dist: Distribution, entry: RecordEntry, path: str, consulted: set[str]
) -> tuple[bool, bool]:
    """Whether a RECORD entry is on disk (where ``pip install --target`` may have moved it),
    and whether directory listings (added to ``consulted``) gave that answer."""
    if "\0" in path or (
        len(path) > _NAME_MAX and any(len(part) > _NAME_MAX for part in path.split("/"))
    ):
        return True, True  # a garbage row, not a file name: nothing to say (stat refuses it)
    answered = True
    # Only where the row may be (record_locations): a row outside was never given here.
    for candidate in _candidates(dist, entry, path):
        consulted.add(candidate.rpartition("/")[0])
        listed = listings.exists(candidate)
        if listed is None:  # the directory cannot be listed: ask for the file itself
            answered = False
            try:
                os.stat(candidate)
                return True, False
            except (FileNotFoundError, NotADirectoryError):
                continue
            except (OSError, ValueError):
                return True, False  # unreadable is not missing
        if listed:
            return True, answered
    return False, answered


def _locate(dist: Distribution, entry: RecordEntry, path: str) -> tuple[str, os.stat_result]:
    """The file of a RECORD entry and its ``stat``; raises ``OSError`` as ``os.stat`` does."""
    candidates = _candidates(dist, entry, path)
    if not candidates:  # outside: Distribution.files() never gives such a row
        raise ValueError(entry.path)
    for candidate in candidates[:-1]:
        try:
            return candidate, os.stat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return candidates[-1], os.stat(candidates[-1])


def _candidates(dist: Distribution, entry: RecordEntry, path: str) -> tuple[str, ...]:
    """Where a RECORD entry's file may be, ``path`` (from :meth:`Distribution.files`) first:
    also where ``pip install --target`` moved it, for a row starting with ``..``
    (:func:`pkgdoctor.snapshot.model.record_locations` decides both)."""
    if not entry.path.startswith(".."):
        return (path,)
    return record_locations(dist.site_dir, entry.path)


# --- hashing --------------------------------------------------------------------------------


class Progress(Protocol):
    """Told how ``--deep`` hashing advances; the CLI supplies one (a bar on a terminal).

    ``advance`` is called from the hashing threads, after each chunk read: an
    implementation must be thread-safe (rich's ``Progress.advance`` is).
    """

    def advance(self, nbytes: int) -> None: ...

    def close(self) -> None: ...


# Called once the work is known, with (total bytes, files); returns None to show nothing.
ProgressFactory = Callable[[int, int], "Progress | None"]

LARGE_BYTES = 200 * 1000 * 1000  # below this, hashing takes a second or two: no bar


def terminal_progress(stream: IO[str], min_bytes: int = LARGE_BYTES) -> ProgressFactory:
    """A factory of rich progress bars on ``stream``, shown only on a terminal for big jobs.

    >>> import io
    >>> terminal_progress(io.StringIO())(10**9, 100) is None  # not a terminal
    True
    """

    def factory(total: int, files: int) -> Progress | None:
        if total < min_bytes or not stream.isatty():
            return None
        return _RichBar(stream, total, files)

    return factory


class _RichBar:
    def __init__(self, stream: IO[str], total: int, files: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn(f"hashing {files} files"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=True,
        )
        self._task = self._progress.add_task("hash", total=total)
        self._progress.start()

    def advance(self, nbytes: int) -> None:
        self._progress.advance(self._task, nbytes)

    def close(self) -> None:
        self._progress.stop()


# --- the check ------------------------------------------------------------------------------


@fact
class HashJob(Fact):
    """A RECORD entry to hash: whose, which, where, and its size on disk when listed."""

    dist: Distribution | None  # None: a file of another installer (a conda record)
    entry: RecordEntry
    path: str  # absolute
    size: int  # from stat: for scheduling and progress only


@fact
class HashResult(Fact):
    job: HashJob
    digest: str | None  # "<algorithm>=<urlsafe b64, no padding>"; None when unreadable
    size: int  # bytes read
    shebang: bool  # the file starts with "#!"

    @property
    def matches(self) -> bool:
        entry = self.job.entry
        assert entry.hash is not None
        if self.digest is None:
            return True  # could not be read: nothing proven either way
        if entry.size is not None and entry.size != self.size:
            return False
        return normal_hash(entry.hash) == self.digest


def record_digest(algorithm: str, data: bytes) -> str:
    """A digest as RECORD writes it.

    >>> record_digest("sha256", b"")
    'sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hr8FU'
    """
    import hashlib

    return record_hash(hashlib.new(algorithm, data))


_buffers = threading.local()


class Stopped(Exception):
    """Hashing was told to stop (the run is interrupted): the file is left half read."""


def _hash_one(job: HashJob, progress: Progress | None, stop: threading.Event) -> HashResult:
    import hashlib

    entry = job.entry
    assert entry.hash is not None
    algorithm = record_algorithm(entry.hash)
    assert algorithm is not None
    hasher = hashlib.new(algorithm)
    size = 0
    head = b""
    try:
        # os.open/os.read, not open(): no file object per file. Most files are small, and
        # their per-file overhead (which holds the GIL) is what limits the threads.
        # O_NONBLOCK and the fstat: the file was a regular one when it was listed, but a
        # FIFO put there since would block the open, a device be read without end.
        fd = os.open(job.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return HashResult(job, None, 0, False)
            if job.size < CHUNK:
                # One read of the size stat gave, plus one byte to see whether it grew.
                data = os.read(fd, job.size + 1)
                head = data[:2]
                while data:
                    if stop.is_set():  # it grew since (see below)
                        raise Stopped(job.path)
                    hasher.update(data)
                    size += len(data)
                    data = os.read(fd, CHUNK)
                if progress is not None:
                    progress.advance(size)
            else:
                buffer = getattr(_buffers, "buffer", None)
                if buffer is None:
                    buffer = _buffers.buffer = bytearray(CHUNK)
                view = memoryview(buffer)
                while n := os.readv(fd, [buffer]):
                    # Between chunks: an interrupted run does not wait for the rest of a
                    # 400 MB file (a thread cannot be stopped from outside).
                    if stop.is_set():
                        raise Stopped(job.path)
                    if not size:
                        head = bytes(view[:2])
                    hasher.update(view[:n])  # releases the GIL (> 2 KiB)
                    size += n
                    if progress is not None:
                        progress.advance(n)
        finally:
            os.close(fd)
    except OSError:
        return HashResult(job, None, 0, False)
    return HashResult(job, record_hash(hasher), size, head == b"#!")


def hash_files(
    jobs: Sequence[HashJob],
    *,
    workers: int | None = None,
    progress: ProgressFactory | None = None,
) -> list[HashResult]:
    """Hash ``jobs`` on ``workers`` threads (default: every core), largest files first.

    The result order is not the job order. Unreadable files get ``digest=None``.
    """
    ordered = sorted(jobs, key=lambda job: job.size, reverse=True)
    bar = progress(sum(job.size for job in ordered), len(ordered)) if progress else None
    results: list[HashResult] = []
    queue: Iterator[HashJob] = iter(ordered)
    lock = threading.Lock()
    stop = threading.Event()

    def work() -> None:
        # Each thread takes the next job; one future per thread, not per file, keeps the
        # overhead off the many small files. ``stop`` (set when the run is interrupted) is
        # looked at between files and, in _hash_one, between chunks of a large one.
        while not stop.is_set():
            with lock:
                job = next(queue, None)
            if job is None:
                return
            try:
                result = _hash_one(job, bar, stop)
            except Stopped:
                return
            results.append(result)  # list.append is atomic

    count = max(1, min(workers or os.cpu_count() or 1, len(ordered)))
    try:
        if count == 1:
            work()
        else:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="hash")
            try:
                for future in [pool.submit(work) for _ in range(count)]:
                    future.result()
            except BaseException:
                # Interrupted (Ctrl-C, SIGTERM): not ``with pool``, whose exit would wait for
                # every queued file. The threads stop within one chunk; nothing waits.
                stop.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
    finally:
        if bar is not None:
            bar.close()
    return results


def _published(group: list[HashResult]) -> tuple[str | None, set[str]]:
    """(the local wheel a distribution was installed from, the mismatched entries that are
    the same in that wheel): a RECORD that was already wrong when it was published.

    pip keeps the wheel's RECORD rows for the files it copies unchanged, so a wheel built
    with a wrong RECORD stays wrong once installed. That can be told only when the wheel is
    still here: ``direct_url.json`` (PEP 610) names a ``file:`` URL of a ``.whl``. The file
    is read in place through :class:`pkgdoctor.archive.WheelArchive` (the hardened reader
    ``audit-wheel`` uses), only the members compared, each hashed as it streams; a wheel that
    is damaged or unsafe to read says nothing (no note), like a wheel that is gone.
    """
    import hashlib
    from urllib.parse import unquote, urlsplit

    from pkgdoctor.archive import ArchiveError, WheelArchive

    dist = group[0].job.dist
    url = (dist.direct_url or {}).get("url") if dist is not None else None
    if not isinstance(url, str):
        return None, set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, set()
    wheel = unquote(parts.path)
    if parts.scheme != "file" or not wheel.endswith(".whl") or not os.path.isfile(wheel):
        return None, set()
    same = set()
    try:
        with WheelArchive(wheel) as archive:
            for result in group:
                entry = result.job.entry
                algorithm = record_algorithm(entry.hash or "")
                member = archive.member(entry.path)
                # No member: a script, a .data file (placed elsewhere by the installer).
                if member is None or algorithm is None or member.size > _MAX_WHEEL_MEMBER:
                    continue
                hasher = hashlib.new(algorithm)
                with archive.open(entry.path) as stream:
                    for chunk in stream.chunks():
                        hasher.update(chunk)
                if record_hash(hasher) == result.digest:
                    same.add(entry.path)
    except ArchiveError:
        return wheel, set()
    return wheel, same
