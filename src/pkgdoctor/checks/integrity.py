"""Integrity: are the files each distribution's RECORD lists still there, and unchanged?

A RECORD (PEP 376; "Recording installed projects" in the PyPA specifications) lists every
file an installer wrote as ``path,hash,size``, paths relative to the site directory and
hashes as ``<algorithm>=<urlsafe-base64 digest without '=' padding>`` (PEP 376, PEP 427).

- ``record-missing-file`` (always): one ``stat`` per entry. pip records the ``.pyc`` files it
  compiled, and deleting ``__pycache__`` is harmless, so those are not reported.
- ``record-hash-mismatch`` (``--deep``): every hashed entry is read and hashed again, on
  every core. Scripts whose ``#!`` line was rewritten after the install (a relocated venv,
  conda's prefix replacement) are reported as notes, and a file that another distribution
  overwrote with its own copy as a warning: both are explained, not corruption.

Hashing uses threads, not processes: ``hashlib`` releases the GIL while it hashes more than
2 KiB, and reads release it too, so threads reach every core without pickling a byte
(``benchmarks/bench_deep.py --executors`` measures both). The largest files start first, so
that one huge file (``libtorch_cpu.so``) does not begin last and set the wall time alone.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any, Protocol

from pkgdoctor import codes
from pkgdoctor.cache import directory_validator
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.inventory import Distribution, RecordEntry, record_hash

AREA = "Integrity"

# This family's finding codes, defined in pkgdoctor.codes.
MISSING_FILE = codes.RECORD_MISSING_FILE
HASH_MISMATCH = codes.RECORD_HASH_MISMATCH

MAX_LISTED = 20  # files named in one finding's evidence; the count says how many in all
CHUNK = 1 << 20  # read size for large files (1 MiB)
SHEBANG_NOTE = "shebang rewritten?"
_MISSING_LIBRARY = "ext-missing-library"  # its finding explains missing bundled libraries
OVERWRITTEN_NOTE = "overwritten by another distribution"
PUBLISHED_NOTE = "published this way"
_MAX_WHEEL_MEMBER = 1 << 30  # a wheel member larger than this is not read to compare
_B64 = re.compile(r"[A-Za-z0-9_-]*")  # urlsafe base64 alphabet (RFC 4648, section 5)
# Importable code: a module or an extension / bundled shared library (``x.so``, ``x.so.1``).
_CODE = re.compile(r"\.(py|so|so(\.\d+)+)$")
# Metadata files that pip, importlib.metadata or the import of plugins read (core metadata,
# PEP 376, PEP 427, entry points); licences and the like beside them are documentation.
_VITAL_METADATA = {
    "METADATA", "PKG-INFO", "RECORD", "WHEEL", "entry_points.txt", "top_level.txt",
    "requires.txt", "installed-files.txt", "direct_url.json", "SOURCES.txt",
}  # fmt: skip
# Where installers put scripts, relative to site-packages (``--prefix/bin``, Windows' Scripts).
_SCRIPT_DIRS = {"bin", "scripts"}


# --- progress -------------------------------------------------------------------------------


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


def check(ctx: Context) -> list[Finding]:
    findings: list[Finding] = []
    jobs: list[HashJob] = []
    examined = 0
    for dist in ctx.inventory.distributions:
        record = dist.record_path
        missing: list[str] = []
        if not ctx.options.deep:
            count, missing = _missing_by_listing(ctx, dist)
            examined += count
            if missing:
                findings.append(_missing(ctx, dist, record, missing))
            continue
        for entry, path in dist.files():
            if _skipped(entry):
                continue
            examined += 1
            try:
                path, st = _locate(dist, entry, path)
            except (FileNotFoundError, NotADirectoryError):
                missing.append(entry.path)
                continue
            except (OSError, ValueError):  # unreadable, name too long, NUL in a garbage row
                continue
            if (
                ctx.options.deep
                and entry.hash
                and stat.S_ISREG(st.st_mode)
                and path != record
                and _algorithm(entry.hash) is not None
            ):
                jobs.append(HashJob(dist, entry, path, st.st_size))
        if missing:
            findings.append(_missing(ctx, dist, record, missing))
    ctx.examined[AREA] = examined
    if jobs:
        # Options.progress is wired by the CLI (a bar on stderr); absent in tests and pipes.
        progress: ProgressFactory | None = ctx.options.progress
        results = hash_files(jobs, progress=progress)
        findings += _mismatches(ctx, results)
    return findings


_NAME_MAX = 255  # the longest file name Linux file systems allow (stat: ENAMETOOLONG)


def _missing_by_listing(ctx: Context, dist: Distribution) -> tuple[int, list[str]]:
    """(entries checked, entries missing) of one RECORD, from the cache while neither the
    RECORD nor any directory its files are in has changed since."""
    check = ctx.record_validator(dist)
    stored = ctx.cache.get(_PRESENCE, dist.record_path, check) if check else None
    if stored is not None:
        checked, missing, directories = stored
        if all(directory_validator(d) == v for d, v in directories):
            return checked, list(missing)
    consulted: set[str] = set()
    checked, missing, complete = _scan_record(ctx, dist, consulted)
    if check is not None and complete:
        directories = tuple((d, directory_validator(d)) for d in sorted(consulted))
        if all(v is None or ctx.settled(v[0]) for _, v in directories):
            verdict = (checked, tuple(missing), directories)
            ctx.cache.put(_PRESENCE, dist.record_path, verdict, check)
    return checked, missing


# Cache section of record-missing-file verdicts: RECORD identity -> (entries checked, entries
# missing, (directory, (mtime_ns, inode, device) or None) for every directory consulted).
# A file created, deleted or renamed changes its directory's mtime, so the verdict holds
# while every one of those directories is unchanged.
_PRESENCE = "record-presence"


def _scan_record(
    ctx: Context, dist: Distribution, consulted: set[str]
) -> tuple[int, list[str], bool]:
    """(entries checked, entries missing, whether directory listings alone answered) of
    one RECORD, answered from directory listings shared with the other checks: a set lookup
    per file instead of a ``stat``. Every directory listed is added to ``consulted``.

    This runs for every file of every distribution on a cold ``check``, so it is one tight
    loop; the rare cases (a name the directory listing cannot answer for) go to ``_listed``.
    """
    listings = ctx.listings
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
        found, listed = _listed(ctx, dist, entry, path, consulted)
        complete = complete and listed
        if not found:
            missing.append(rel)
    return checked, missing, complete


def _listed(
    ctx: Context, dist: Distribution, entry: RecordEntry, path: str, consulted: set[str]
) -> tuple[bool, bool]:
    """Whether a RECORD entry is on disk (where ``pip install --target`` may have moved it),
    and whether directory listings (added to ``consulted``) gave that answer."""
    if "\0" in path or (
        len(path) > _NAME_MAX and any(len(part) > _NAME_MAX for part in path.split("/"))
    ):
        return True, True  # a garbage row, not a file name: nothing to say (stat refuses it)
    answered = True
    for candidate in (
        (path, _target_layout(dist, entry)) if entry.path.startswith("..") else (path,)
    ):
        consulted.add(candidate.rpartition("/")[0])
        listed = ctx.listings.exists(candidate)
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
    try:
        return path, os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if not entry.path.startswith(".."):
            raise
    moved = _target_layout(dist, entry)
    if moved == path:
        raise FileNotFoundError(path)
    return moved, os.stat(moved)


def _target_layout(dist: Distribution, entry: RecordEntry) -> str:
    """Where ``pip install --target`` really put a file that RECORD places outside the site.

    pip installs into a staging ``--home`` (``lib/python``, ``bin``...) and then moves all of
    it into the target directory, without rewriting RECORD: ``../../bin/f2py`` is in fact
    ``TARGET/bin/f2py`` (https://github.com/pypa/pip/issues/7658).
    """
    parts = entry.path.replace("\\", "/").split("/")
    while parts and parts[0] == "..":
        parts.pop(0)
    return os.path.normpath(os.path.join(dist.site_dir, *parts))


def reconcile(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Fold ``record-missing-file`` into ``ext-missing-library`` when one cause explains both.

    A deleted ``numpy.libs`` makes extension modules unloadable (``ext-missing-library``,
    which names the libraries and where RECORD put them) *and* leaves RECORD entries
    without files. When every missing file lies in a directory of those libraries, the list
    becomes evidence of the extension finding (``record_missing``) instead of a second one.
    """
    library_dirs: dict[str, set[str]] = {}
    for finding in findings:
        if finding.code != _MISSING_LIBRARY or not finding.distribution:
            continue
        libraries = finding.evidence.get("missing")
        for info in libraries.values() if isinstance(libraries, dict) else ():
            recorded = info.get("recorded_in_record_as") if isinstance(info, dict) else None
            if isinstance(recorded, str):
                directory = posixpath.dirname(recorded.replace("\\", "/"))
                library_dirs.setdefault(finding.distribution, set()).add(directory)
    folded: dict[str, Finding] = {}
    kept = []
    for finding in findings:
        dirs = library_dirs.get(finding.distribution or "")
        if (
            finding.code == MISSING_FILE.code
            and dirs
            and set(finding.evidence["missing_in"]) <= dirs
        ):
            folded[finding.distribution or ""] = finding
        else:
            kept.append(finding)
    result = []
    for finding in kept:
        mine = folded.get(finding.distribution or "") if finding.code == _MISSING_LIBRARY else None
        if mine is not None:
            evidence = {
                **finding.evidence,
                "record_missing": mine.evidence["missing"],
                "record_missing_count": mine.evidence["missing_count"],
            }
            finding = replace(finding, evidence=evidence)
        result.append(finding)
    return result


def _skipped(entry: RecordEntry) -> bool:
    """``.pyc`` files (pip records the bytecode it compiled) and directory entries."""
    return entry.path.endswith((".pyc", "/", "\\"))


def _absolute(dist: Distribution, rel: str) -> str:
    return os.path.normpath(os.path.join(dist.site_dir, rel))


def _inside(path: str, directory: str) -> bool:
    return path.startswith(os.path.normpath(directory).rstrip(os.sep) + os.sep)


def _vital(dist: Distribution, rel: str) -> bool:
    """Importable code inside the site directory, or metadata that tools read."""
    path = _absolute(dist, rel)
    if _inside(path, dist.metadata_dir):
        return os.path.basename(path) in _VITAL_METADATA
    return _inside(path, dist.site_dir) and _CODE.search(rel) is not None


def _missing(ctx: Context, dist: Distribution, record: str, missing: list[str]) -> Finding:
    """One finding per distribution; an error when code or metadata is gone."""
    vital = [rel for rel in missing if _vital(dist, rel)]
    count = len(missing)
    if count == 1:
        if vital:
            metadata = _inside(_absolute(dist, vital[0]), dist.metadata_dir)
            kind = "metadata" if metadata else "code"
        else:
            kind = "not code: a script, data or documentation"
        message = f"{dist} is missing {missing[0]}, a file its RECORD lists ({kind})."
    else:
        if vital:
            kind = (
                "all code or metadata" if len(vital) == count else f"{len(vital)} code or metadata"
            )
        else:
            kind = "none of them code: scripts, data or documentation"
        message = f"{dist} is missing {count} files its RECORD lists ({kind}): {missing[0]} …"
    evidence: dict[str, Any] = {
        "missing": missing[:MAX_LISTED],
        "missing_count": count,
        "code_or_metadata": vital[:MAX_LISTED],
        "missing_in": sorted({posixpath.dirname(rel.replace("\\", "/")) for rel in missing}),
        "record": record,
    }
    return MISSING_FILE.finding(
        message,
        severity=Severity.ERROR if vital else Severity.WARNING,
        distribution=dist.name,
        path=dist.metadata_dir,
        evidence=evidence,
        fix=ctx.pip_reinstall(dist),
    )


# --- hashing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HashJob:
    """A RECORD entry to hash: whose, which, where, and its size on disk when listed."""

    dist: Distribution
    entry: RecordEntry
    path: str  # absolute
    size: int  # from stat: for scheduling and progress only


@dataclass(frozen=True)
class HashResult:
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
        return _normal(entry.hash) == self.digest


def _algorithm(recorded: str) -> str | None:
    """The hashlib name in ``sha256=<digest>``; None when it cannot be checked.

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


def _normal(recorded: str) -> str:
    name, _, digest = recorded.partition("=")
    return f"{name.strip().lower()}={digest.strip().rstrip('=')}"


def record_digest(algorithm: str, data: bytes) -> str:
    """A digest as RECORD writes it.

    >>> record_digest("sha256", b"")
    'sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hr8FU'
    """
    import hashlib

    return record_hash(hashlib.new(algorithm, data))


_buffers = threading.local()


def _hash_one(job: HashJob, progress: Progress | None) -> HashResult:
    import hashlib

    entry = job.entry
    assert entry.hash is not None
    algorithm = _algorithm(entry.hash)
    assert algorithm is not None
    hasher = hashlib.new(algorithm)
    size = 0
    head = b""
    try:
        # os.open/os.read, not open(): no file object per file. Most files are small, and
        # their per-file overhead (which holds the GIL) is what limits the threads.
        fd = os.open(job.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            if job.size < CHUNK:
                # One read of the size stat gave, plus one byte to see whether it grew.
                data = os.read(fd, job.size + 1)
                head = data[:2]
                while data:
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

    def work() -> None:
        # Each thread takes the next job; one future per thread, not per file, keeps the
        # overhead off the many small files.
        while True:
            with lock:
                job = next(queue, None)
            if job is None:
                return
            result = _hash_one(job, bar)
            results.append(result)  # list.append is atomic

    count = max(1, min(workers or os.cpu_count() or 1, len(ordered)))
    try:
        if count == 1:
            work()
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=count, thread_name_prefix="hash") as pool:
                for future in [pool.submit(work) for _ in range(count)]:
                    future.result()
    finally:
        if bar is not None:
            bar.close()
    return results


def _script(result: HashResult) -> bool:
    """A script: under a scripts directory outside site-packages, or starting with ``#!``."""
    parts = result.job.entry.path.replace("\\", "/").split("/")
    under_scripts = parts[0] == ".." and any(p.lower() in _SCRIPT_DIRS for p in parts[:-1])
    return under_scripts or result.shebang


def _mismatches(ctx: Context, results: Iterable[HashResult]) -> list[Finding]:
    by_dist: dict[str, list[HashResult]] = {}
    for result in results:
        if not result.matches:
            by_dist.setdefault(result.job.dist.metadata_dir, []).append(result)
    if not by_dist:
        return []
    others = _other_owners(ctx, [r for group in by_dist.values() for r in group])
    findings = []
    for group in by_dist.values():
        group.sort(key=lambda r: r.job.entry.path)
        findings.append(_mismatch(ctx, group, others, _published(group)))
    return findings


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
    import json
    from urllib.parse import unquote, urlsplit

    from pkgdoctor.archive import ArchiveError, WheelArchive

    dist = group[0].job.dist
    try:
        url = json.loads(dist.read_text("direct_url.json") or "null")["url"]
        parts = urlsplit(url)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None, set()
    wheel = unquote(parts.path)
    if parts.scheme != "file" or not wheel.endswith(".whl") or not os.path.isfile(wheel):
        return None, set()
    same = set()
    try:
        with WheelArchive(wheel) as archive:
            for result in group:
                entry = result.job.entry
                algorithm = _algorithm(entry.hash or "")
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


def _other_owners(
    ctx: Context, results: Iterable[HashResult]
) -> dict[str, list[tuple[Distribution, RecordEntry]]]:
    """For each mismatched file, the other distributions whose RECORD lists it too."""
    wanted = {r.job.path: r.job.dist for r in results}
    others: dict[str, list[tuple[Distribution, RecordEntry]]] = {}
    for dist in [*ctx.inventory.distributions, *ctx.inventory.shadowed]:
        for entry, path in dist.files():
            owner = wanted.get(path)
            if owner is not None and owner is not dist:
                others.setdefault(path, []).append((dist, entry))
    return others


def _mismatch(
    ctx: Context,
    group: list[HashResult],
    others: dict[str, list[tuple[Distribution, RecordEntry]]],
    published: tuple[str | None, set[str]],
) -> Finding:
    dist = group[0].job.dist
    files: list[dict[str, Any]] = []
    severities = []
    for result in group:
        entry = result.job.entry
        item: dict[str, Any] = {
            "path": entry.path,
            "recorded_hash": entry.hash,
            "actual_hash": result.digest,
            "recorded_size": entry.size,
            "actual_size": result.size,
        }
        owners = [
            d
            for d, e in others.get(result.job.path, ())
            if e.hash and _normal(e.hash) == result.digest
        ]
        if entry.path in published[1]:
            item["note"] = PUBLISHED_NOTE
            severities.append(Severity.INFO)
        elif owners:
            item["note"] = f"{OVERWRITTEN_NOTE}: {owners[0]}"
            severities.append(Severity.WARNING)
        elif _script(result):
            item["note"] = SHEBANG_NOTE
            severities.append(Severity.INFO)
        else:
            severities.append(Severity.ERROR)
        files.append(item)
    severity = max(severities)
    count = len(group)
    files_text = "A file" if count == 1 else f"{count} files"
    if severity is Severity.ERROR:
        why = "edited in place or corrupted"
    elif severity is Severity.WARNING:
        why = "another distribution installed its own copy over it"
    elif all(entry.get("note") == PUBLISHED_NOTE for entry in files):
        why = (
            "published this way: the wheel it was installed from has the same content under "
            "the same wrong RECORD"
        )
    else:
        why = "only scripts: their #! line was probably rewritten when the environment moved"
    message = (
        f"{files_text} of {dist} {'differs' if count == 1 else 'differ'} from the hash in its "
        f"RECORD ({why}): {group[0].job.entry.path}" + (" …" if count > 1 else "") + "."
    )
    evidence: dict[str, Any] = {
        "files": files[:MAX_LISTED],
        "file_count": count,
        "record": dist.record_path,
    }
    if published[0] is not None:
        evidence["installed_from"] = published[0]
    if count > MAX_LISTED:
        evidence["files_omitted"] = count - MAX_LISTED
    fix = ctx.pip_reinstall(dist)
    if published[0] is not None and all(e.get("note") == PUBLISHED_NOTE for e in files):
        fix = (
            f"Nothing to repair here: {os.path.basename(published[0])} ships a RECORD that does "
            f"not match its own files; report it to the maintainers of {dist.name}"
        )
    return HASH_MISMATCH.finding(
        message,
        severity=severity,
        distribution=dist.name,
        path=dist.metadata_dir,
        evidence=evidence,
        fix=fix,
    )
