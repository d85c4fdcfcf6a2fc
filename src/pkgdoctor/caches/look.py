"""Looking at package caches: one bounded walk per cache, sizes from ``lstat``.

Hostile input is normal here: a cache is a big tree that others write. Every walk uses its
own stack (no recursion), never follows a symbolic link (``lstat`` only: a link is counted as
a link, never entered), never opens anything but a regular file (a FIFO is never opened:
``files.read_regular`` for JSON, an ``O_NONBLOCK`` open checked with ``fstat`` for package
archives), and stops at :class:`Budget`'s limits — entries, depth and time, for the whole
command. A cache whose walk stopped has ``complete`` False: its numbers are lower bounds and
the output says so. Nothing is written.
"""

from __future__ import annotations

import os
import stat
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from pkgdoctor._typed import loads
from pkgdoctor.caches import locate
from pkgdoctor.caches.facts import (
    BrokenPackage,
    Cache,
    CacheFacts,
    Linkage,
    Location,
    Part,
    Usage,
)
from pkgdoctor.files import NotRegularFile, read_regular
from pkgdoctor.snapshot.model import CondaFacts

#: Entries (files, directories, links) looked at by one run, all caches together. A walk
#: of 2,000,000 entries takes ~10 s warm on this machine's disk; a 50 GB conda pkgs/
#: directory holds ~1,000,000 files. Past it every number is a lower bound.
MAX_ENTRIES = 2_000_000
#: Seconds one run may spend walking, all caches together (``--time-limit``).
TIME_LIMIT = 30.0
#: Directory depth below a cache's root: conda packages nest ~15 levels (site-packages
#: of a noarch package inside lib/pythonX.Y), pip's wheels/ 5; deeper is not walked.
MAX_DEPTH = 64
#: ``info/paths.json`` of the largest packages (qt, ~10,000 files) is a few MB.
PATHS_JSON_LIMIT = 64 << 20
INDEX_JSON_LIMIT = 1 << 20
#: Files listed as missing in a finding's evidence (the count says how many in all).
MISSING_SHOWN = 20
# conda's package file extensions and the suffix of a download in progress
# (conda/base/constants.py: CONDA_PACKAGE_EXTENSIONS, PARTIAL_EXTENSION).
CONDA_EXTENSIONS = (".conda", ".tar.bz2")
PARTIAL = ".partial"
# pip's cache (pip/_internal/commands/cache.py): "http" (pip < 23.3) and "http-v2" hold HTTP
# responses, "wheels" the wheels pip built; ``pip cache purge`` removes both kinds.
_PIP_PARTS = {
    "http": "HTTP responses",
    "http-v2": "HTTP responses",
    "wheels": "built wheels",
    "selfcheck.json": "pip's legacy version check",
}
_PIP_OTHER = "pip's version check (selfcheck/), other"


@dataclass
class Budget:
    """What is left to one run: entries and time (a monotonic deadline)."""

    entries: int = MAX_ENTRIES
    deadline: float = field(default_factory=lambda: time.monotonic() + TIME_LIMIT)

    def spent(self) -> bool:
        return self.entries <= 0 or time.monotonic() > self.deadline


@dataclass
class Walked:
    """One walk's result."""

    usage: Usage = field(default_factory=Usage)
    # Usage under each direct child of the root (by name); files at the top are under "".
    children: dict[str, Usage] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # relative paths of files and links
    shared: bool = False  # some regular file has a link count above 1
    links_out: set[str] = field(default_factory=set)  # symbolic link targets (uv's archives)


def walk(
    root: str,
    budget: Budget,
    *,
    names: bool = False,
    links: bool = False,
    key: Callable[[str], str] | None = None,
) -> Walked:
    """Files and bytes under ``root``, each inode once; links are never followed. The
    counts are kept by ``key(relative path)`` of each file (default: the root's child it
    is under, "" for a file at the top)."""
    out = Walked()
    counts: dict[str, list[int]] = {}
    seen: set[tuple[int, int]] = set()
    complete = True
    stack: list[tuple[str, str, int]] = [(root, "", 0)]
    checked = 0
    while stack:
        path, rel, depth = stack.pop()
        if budget.spent():
            complete = False
            break
        try:
            iterator = os.scandir(path)
        except OSError:
            complete = False
            continue
        with iterator:
            for entry in iterator:
                budget.entries -= 1
                checked += 1
                if checked % 4096 == 0 and budget.spent():
                    complete = False
                    stack.clear()
                    break
                name = f"{rel}/{entry.name}" if rel else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                top = name.split("/", 1)[0] if rel or stat.S_ISDIR(st.st_mode) else ""
                if stat.S_ISDIR(st.st_mode):
                    if depth + 1 >= MAX_DEPTH:
                        complete = False
                        continue
                    if key is None:
                        counts.setdefault(top, [0, 0])
                    stack.append((entry.path, name, depth + 1))
                elif stat.S_ISREG(st.st_mode):
                    if names:
                        out.names.add(name)
                    if st.st_nlink > 1:
                        out.shared = True
                        inode = (st.st_dev, st.st_ino)
                        if inode in seen:
                            continue
                        seen.add(inode)
                    count = counts.setdefault(key(name) if key else top, [0, 0])
                    count[0] += 1
                    count[1] += st.st_size
                elif stat.S_ISLNK(st.st_mode):
                    if names:
                        out.names.add(name)
                    if links:
                        try:
                            target = os.readlink(entry.path)
                        except OSError:
                            continue
                        out.links_out.add(os.path.normpath(os.path.join(path, target)))
                # FIFOs, sockets, devices: never opened, not counted.
    out.children = {k: Usage(v[0], v[1], complete) for k, v in counts.items()}
    out.usage = Usage(
        sum(v[0] for v in counts.values()), sum(v[1] for v in counts.values()), complete
    )
    return out


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _absent(location: Location) -> Cache | None:
    """The cache as absent or unreadable, or None when it is a directory to walk."""
    if location.path is None:
        return Cache(location, exists=False)
    try:
        st = os.lstat(location.path)
    except FileNotFoundError:
        return Cache(location, exists=False)
    except OSError as exc:
        return Cache(location, exists=False, problem=exc.strerror or str(exc))
    if stat.S_ISLNK(st.st_mode):
        # A cache directory that is a link (~/.cache on another disk): follow this one,
        # the user's own choice of place; nothing below it is followed.
        if not _is_dir(os.path.realpath(location.path)):
            return Cache(location, exists=False, problem="a link to no directory")
        return None
    if not stat.S_ISDIR(st.st_mode):
        return Cache(location, exists=False, problem="not a directory")
    return None


def _root(path: str) -> str:
    return os.path.realpath(path) if os.path.islink(path) else path


# --- pip and uv --------------------------------------------------------------------------------


def pip_cache(location: Location, budget: Budget) -> Cache:
    absent = _absent(location)
    if absent is not None or location.path is None:
        return absent or Cache(location, exists=False)
    walked = walk(_root(location.path), budget, key=_pip_part)
    parts = walked.children
    return Cache(
        location,
        exists=True,
        total=walked.usage,
        parts=tuple(
            Part(name, usage, name in _PIP_PARTS, _PIP_PARTS.get(name, _PIP_OTHER))
            for name, usage in sorted(parts.items())
        ),
    )


def _pip_part(name: str) -> str:
    """What ``pip cache purge`` removes (``remove_cache_items(["*"])``,
    pip/_internal/commands/cache.py): every file under ``http``/``http-v2``, the wheels
    under ``wheels`` and, since pip 24, the directories left without a wheel (their
    ``origin.json``) and the legacy ``selfcheck.json``. (An older pip leaves ``origin.json``
    files behind: a few hundred bytes each.)"""
    top = name.split("/", 1)[0]
    if top in ("http", "http-v2", "wheels"):
        return top
    return "selfcheck.json" if name == "selfcheck.json" else "other"


def _bucket(name: str) -> tuple[str, int] | None:
    """``wheels-v5`` → ("wheels", 5): uv names each bucket with its format version
    (uv-cache's ``CacheBucket::to_str``)."""
    stem, dash, version = name.rpartition("-v")
    return (stem, int(version)) if dash and stem and version.isdigit() else None


def uv_cache(location: Location, budget: Budget) -> Cache:
    """uv's cache: ``uv cache clean`` removes all of it; ``uv cache prune`` removes at least
    the buckets of older uv versions (a bucket whose name has a lower ``-vN`` than another
    of the same name) — and unreferenced entries, which are not counted here, so prune's
    part is a lower bound (https://docs.astral.sh/uv/concepts/cache/#clearing-the-cache)."""
    absent = _absent(location)
    if absent is not None or location.path is None:
        return absent or Cache(location, exists=False)
    walked = walk(_root(location.path), budget)
    newest: dict[str, int] = {}
    for child in walked.children:
        parsed = _bucket(child)
        if parsed:
            newest[parsed[0]] = max(newest.get(parsed[0], 0), parsed[1])
    stale = Usage()
    current = Usage()
    for child, usage in walked.children.items():
        parsed = _bucket(child)
        if parsed and parsed[1] < newest[parsed[0]]:
            stale = stale + usage
        else:
            current = current + usage
    parts = (
        Part("current", current, False, "entries of the current uv version"),
        Part("stale", stale, True, "buckets of older uv versions"),
    )
    return Cache(location, exists=True, total=walked.usage, parts=parts)


# --- conda -----------------------------------------------------------------------------------


@dataclass
class _Package:
    name: str
    usage: Usage
    shared: bool
    broken: BrokenPackage | None


def conda_cache(location: Location, budget: Budget) -> Cache:
    """A conda package cache (``pkgs/``), in conda's layout (``NAME-VER-BUILD/`` beside its
    ``.conda``/``.tar.bz2``, ``info/repodata_record.json``, ``urls.txt``) or rattler's
    (pixi, mamba 2: ``NAME-VER-BUILD/`` and ``NAME-VER-BUILD.lock``, no package files kept).

    Reclaimable as ``conda clean`` decides (conda/cli/main_clean.py): ``--packages`` removes
    an extracted package (a directory with ``info/``) none of whose files has a link count
    above 1 — no environment hard-links it any more; ``--tarballs`` removes every package
    file (``.conda``, ``.tar.bz2``, and ``.partial`` downloads) with a link count of 1.
    """
    absent = _absent(location)
    if absent is not None or location.path is None:
        return absent or Cache(location, exists=False)
    root = _root(location.path)
    try:
        with os.scandir(root) as iterator:
            entries = []
            for entry in iterator:
                budget.entries -= 1
                entries.append(entry)
                if budget.entries <= 0:
                    break
    except OSError as exc:
        return Cache(location, exists=False, problem=exc.strerror or str(exc))
    names = {e.name for e in entries}
    unused = in_use = tarballs = fetched = other = Usage()
    complete = True
    packages = archives = 0
    broken: list[BrokenPackage] = []
    layout = "unknown"
    if "urls.txt" in names:
        layout = "conda"  # conda's PACKAGE_CACHE_MAGIC_FILE
    elif ".cache.lock" in names or any(
        n.endswith(".lock") and n[: -len(".lock")] in names for n in names
    ):
        layout = "rattler"
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if entry.name.startswith("."):  # conda's .trash, rattler's bookkeeping
                other = other + walk(entry.path, budget).usage
                continue
            package = _package(entry.path, entry.name, names, budget)
            complete = complete and package.usage.complete
            if package.broken is not None:
                broken.append(package.broken)
            if package.broken is not None and package.broken.kind == "not-a-package":
                other = other + package.usage
                broken.pop()
                continue
            packages += 1
            if package.shared:
                in_use = in_use + package.usage
            elif _is_dir(os.path.join(entry.path, "info")):
                unused = unused + package.usage
            else:  # conda clean --packages leaves a directory without info/
                other = other + package.usage
        elif stat.S_ISREG(st.st_mode):
            base = entry.name[: -len(PARTIAL)] if entry.name.endswith(PARTIAL) else entry.name
            usage = Usage(1, st.st_size)
            if base.endswith(CONDA_EXTENSIONS):
                archives += 1
                if entry.name == base and not budget.spent():
                    problem = archive_problem(entry.path)
                    if problem is not None:
                        broken.append(BrokenPackage(entry.path, "bad-archive", problem))
                stem = next(base[: -len(e)] for e in CONDA_EXTENSIONS if base.endswith(e))
                if st.st_nlink > 1:
                    in_use = in_use + usage
                elif stem in names and entry.name == base:
                    tarballs = tarballs + usage
                else:  # not extracted (or a .partial download): conda fetches it again
                    fetched = fetched + usage
            else:
                other = other + usage
    if budget.entries <= 0:
        complete = False
    total = unused + in_use + tarballs + fetched + other
    total = Usage(total.files, total.bytes, complete and total.complete)
    parts = (
        Part("unused packages", unused, True, "extracted, no environment links them"),
        Part("tarballs", tarballs, True, "package files whose package is extracted"),
        Part("tarballs only", fetched, True, "package files not extracted (or .partial)"),
        Part("in use", in_use, False, "extracted, hard-linked into environments"),
        Part("other", other, False, "bookkeeping, partial extractions"),
    )
    return Cache(
        location,
        exists=True,
        total=total,
        parts=tuple(p for p in parts if p.usage.files or p.name == "unused packages"),
        layout=layout,
        packages=packages,
        tarballs=archives,
        broken=tuple(broken),
    )


def _package(path: str, name: str, siblings: set[str], budget: Budget) -> _Package:
    """One extracted package directory: its size, whether an environment shares its files,
    and what makes it unusable (conda's ``PackageCacheData._make_single_record`` needs
    ``info/index.json``; linking needs every file ``info/paths.json`` lists)."""
    walked = walk(path, budget, names=True)
    shared = walked.shared
    has_archive = any(name + ext in siblings for ext in CONDA_EXTENSIONS)

    def broken(kind: str, detail: str, missing: Sequence[str] = ()) -> _Package:
        return _Package(
            name,
            walked.usage,
            shared,
            BrokenPackage(
                path,
                kind,
                detail,
                tuple(sorted(missing)[:MISSING_SHOWN]),
                len(missing),
                in_use=shared,
            ),
        )

    info = os.path.join(path, "info")
    if "info/index.json" not in walked.names:
        if not walked.usage.complete:
            return _Package(name, walked.usage, shared, None)
        # NAME-VERSION-BUILD: conda's dist name has at least two dashes; a directory with
        # another name and no info/ is no package (nothing conda would look at).
        if name.count("-") < 2 and not has_archive:
            return broken("not-a-package", "")
        return broken("no-index", "info/index.json is missing: the extraction did not finish")
    listed = _listed_paths(info)
    if listed is None:
        return broken(
            "no-paths", "neither info/paths.json nor info/files lists the package's files"
        )
    if not walked.usage.complete:
        return _Package(name, walked.usage, shared, None)
    missing = [p for p in listed if p not in walked.names]
    if missing:
        return broken(
            "missing-files",
            f"{len(missing)} of the {len(listed)} files info/paths.json lists are missing",
            missing,
        )
    return _Package(name, walked.usage, shared, None)


def _listed_paths(info: str) -> list[str] | None:
    """The files and links a package's ``info/paths.json`` lists (``paths_version`` 1; its
    ``directory`` entries left out), else those of the older ``info/files``; None when
    neither can be read. A link there is not read (it could point anywhere)."""
    try:
        path = os.path.join(info, "paths.json")
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise NotRegularFile(path)
        doc = loads(read_regular(path, PATHS_JSON_LIMIT))
        rows = doc["paths"] if isinstance(doc, dict) else None
        if isinstance(rows, list):
            return [
                r["_path"]
                for r in rows
                if isinstance(r, dict)
                and isinstance(r.get("_path"), str)
                and r.get("path_type") != "directory"
            ]
    except (OSError, NotRegularFile, ValueError, UnicodeDecodeError, KeyError):
        pass  # unreadable, or not JSON (nested too deeply included): info/files then
    try:
        path = os.path.join(info, "files")
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        text = read_regular(path, PATHS_JSON_LIMIT).decode("utf-8")
    except (OSError, NotRegularFile, UnicodeDecodeError):
        return None
    return [line for line in text.splitlines() if line.strip()]


def archive_problem(path: str) -> str | None:
    """Why the package file ``path`` cannot be extracted, or None when it looks whole.

    A ``.conda`` is a zip (https://docs.conda.io/projects/conda-build/en/latest/resources/
    package-spec.html#conda-package-format) with ``metadata.json``, ``info-*.tar.zst`` and
    ``pkg-*.tar.zst``: its central directory, at the end, is read, so a truncated download
    is caught without inflating anything. A ``.tar.bz2`` is only checked for bzip2's magic
    (``BZh``): finding damage further in would mean decompressing all of it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return exc.strerror or str(exc)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not a regular file"
        if path.endswith(".tar.bz2"):
            return None if handle.read(3) == b"BZh" else "not a bzip2 file"
        try:
            with zipfile.ZipFile(handle) as archive:
                members = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            return f"not a valid zip ({exc})"
    if "metadata.json" not in members or not any(
        m.startswith("pkg-") and m.endswith(".tar.zst") for m in members
    ):
        return "a zip without the members of a .conda (metadata.json, pkg-*.tar.zst)"
    return None


# --- a conda environment against its caches ---------------------------------------------------


def linkage(facts: CondaFacts, pkgs_dirs: Sequence[str], budget: Budget) -> Linkage:
    """How much of the environment is hard-linked from a package cache (the same inode as
    the extracted package's file) and how much is a copy of its own. Each record's
    extracted package is its ``link.source``, else ``DIR/NAME-VERSION-BUILD`` in the first
    cache that has it."""
    from pkgdoctor.look.conda import inside

    hard = [0, 0]
    copied = [0, 0]
    softlinks = missing = no_source = 0
    sources: dict[str, None] = {}
    stopped = False
    for record in facts.records:
        source = None
        if record.link_source and _is_dir(record.link_source):
            source = record.link_source
        else:
            for pkgs in pkgs_dirs:
                candidate = os.path.join(pkgs, record.dist_name)
                if _is_dir(candidate):
                    source = candidate
                    break
        if source is None:
            no_source += 1
        else:
            sources[os.path.dirname(source)] = None
        for entry in record.files:
            if entry.path_type == "directory":
                continue
            budget.entries -= 1
            if budget.entries % 4096 == 0 and budget.spent():
                stopped = True
                break
            path = inside(facts.prefix, entry.path)
            if path is None:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                missing += 1
                continue
            if stat.S_ISLNK(st.st_mode):
                softlinks += 1
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            same = False
            if source is not None and st.st_nlink > 1:
                cached = inside(source, entry.path)
                try:
                    other = os.lstat(cached) if cached else None
                except OSError:
                    other = None
                same = other is not None and (other.st_dev, other.st_ino) == (
                    st.st_dev,
                    st.st_ino,
                )
            bucket = hard if same else copied
            bucket[0] += 1
            bucket[1] += st.st_size
        if stopped:
            break
    return Linkage(
        prefix=facts.prefix,
        sources=tuple(sources),
        hardlinked=Usage(hard[0], hard[1], not stopped),
        copied=Usage(copied[0], copied[1], not stopped),
        softlinks=softlinks,
        missing=missing,
        no_source=no_source,
        records=len(facts.records),
    )


@dataclass
class _Prefix:
    prefix: str


def conda_facts(prefix: str) -> CondaFacts | None:
    """The conda facts of ``prefix`` (:func:`pkgdoctor.look.conda.collect`, which reads only
    the target's ``prefix``), also for a conda environment without Python, which has no
    :class:`Target`."""
    from pkgdoctor.look import conda as look_conda
    from pkgdoctor.target.facts import Target

    return look_conda.collect(cast(Target, _Prefix(prefix)))


# --- everything ------------------------------------------------------------------------------


def collect(
    prefix: str,
    conda: CondaFacts | None,
    environ: Mapping[str, str],
    *,
    home: str,
    pip_config: tuple[tuple[str, str] | None, str | None] = (None, None),
    condarc_pkgs_dirs: tuple[Sequence[str], str] | None = None,
    time_limit: float = TIME_LIMIT,
) -> CacheFacts:
    """Every cache of pip, uv and conda (and rattler/pixi's when it exists) for the target
    ``prefix`` (``conda``: its conda facts, None when it is no conda environment).

    The time is shared fairly: each cache (and the environment's linkage) may use the time
    and the entries left divided by the number of those still to look at, so a huge first
    cache cannot leave the others unmeasured."""
    started = time.monotonic()
    end = started + time_limit
    budget = Budget(deadline=end)
    pip = locate.pip_cache(
        environ, home, config_cache_dir=pip_config[0], config_no_cache=pip_config[1]
    )
    root = locate.conda_root_prefix(
        environ, prefix, [p for p in locate.root_candidates(prefix) if _is_dir(p)]
    )
    linked_from: list[str] = []
    if conda is not None:
        for record in conda.records:
            parent = os.path.normpath(os.path.dirname(record.link_source or "/"))
            # Only a directory named like a package cache: link.source comes from the
            # target's own files, and pkgdoctor does not walk where a record merely points.
            if (
                os.path.isabs(parent)
                and os.path.basename(parent) in ("pkgs", "pkgs32")
                and parent not in linked_from
                and _is_dir(parent)
            ):
                linked_from.append(parent)
    # ``condarc_pkgs_dirs``: the merged ``pkgs_dirs`` of every .condarc level and the file
    # that set the first (configuration.conda_settings), as the command line passes it.
    conda_locations = locate.conda_pkgs_dirs(
        environ, home, root, condarc_pkgs_dirs=condarc_pkgs_dirs, linked_from=linked_from
    )
    rattler = locate.rattler_cache(environ, home)
    known = {c.path for c in conda_locations}
    if rattler.path and rattler.path not in known and _is_dir(rattler.path):
        conda_locations.append(rattler)
    todo: list[tuple[Callable[[Location, Budget], Cache], Location]] = [
        (pip_cache, pip),
        (uv_cache, locate.uv_cache(environ, home)),
        *((conda_cache, location) for location in conda_locations),
    ]
    slots = len(todo) + (conda is not None)
    caches: list[Cache] = []
    entries = MAX_ENTRIES
    for look, location in todo:
        now = time.monotonic()
        budget.deadline = now + max(end - now, 0.0) / slots
        budget.entries = entries // slots
        given = budget.entries
        slots -= 1
        caches.append(look(location, budget))
        entries -= given - max(budget.entries, 0)
    link = None
    if conda is not None:
        budget.deadline = end
        budget.entries = entries
        pkgs = [c.location.path for c in caches[2:] if c.exists and c.location.path]
        link = linkage(conda, pkgs, budget)
    notes: list[str] = []
    if any(not c.total.complete for c in caches) or (
        link is not None and not link.hardlinked.complete
    ):
        notes.append(
            f"stopped at a limit ({MAX_ENTRIES:,} entries, {time_limit:g} s, depth "
            f"{MAX_DEPTH}): numbers marked ≥ are lower bounds"
        )
    return CacheFacts(
        prefix=prefix,
        caches=tuple(caches),
        linkage=link,
        notes=tuple(notes),
        seconds=round(time.monotonic() - started, 3),
    )
