"""Looking at extension modules: every one on ``sys.path``, its ELF facts, and what the loader
model resolves for each ``DT_NEEDED``, transitively through the libraries the environment
brings (vendored ``*.libs``, RPATH and ``LD_LIBRARY_PATH`` directories).

System libraries (found through the ld.so cache or default directories) are trusted to be
consistent with each other and not descended into; their ELF facts are still read, because
the symbol versions an extension needs are checked against the library that would be loaded.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pkgdoctor.cache import Cache, directory_validator
from pkgdoctor.elf import ELFError, ELFFile
from pkgdoctor.extmodules import (
    ExtensionFile,
    ScanProblem,
    iter_extensions,
    parse_extension_filename,
)
from pkgdoctor.listings import Listings
from pkgdoctor.loader import ElfCache, Loader, LoaderConfig, default_dirs, split_path_list
from pkgdoctor.optional_imports import ModuleImports, judge_all, read_importers
from pkgdoctor.snapshot.model import (
    Candidate,
    Distribution,
    Extension,
    ExtensionFacts,
    Inventory,
    Link,
    Resolution,
    link_gaps,
)
from pkgdoctor.target.facts import Target

# Cache section of the sys.path walk: roots -> ((path, (mtime_ns, inode, device) or None)
# for every directory the walk looked at, the files found as (path, module, root, siblings)).
# A name added, removed or renamed changes its directory's mtime, so the files found stay
# the same while every one of those directories does.
_WALK = "extension-walk"


class ExtensionLooker:
    """Builds :class:`Extension` facts; shared by ``check`` (every module on ``sys.path``)
    and ``why`` (the modules an import touched)."""

    def __init__(
        self,
        target: Target,
        cache: Cache,
        listings: Listings,
        settled: Callable[[int], bool] = lambda _: False,
    ) -> None:
        self.target = target
        self.cache = cache
        self.listings = listings
        self.settled = settled
        self._identities: dict[str, tuple[int, int, int, int] | None] = {}
        self._stats: dict[str, os.stat_result | OSError] = {}
        self.elf_cache = ElfCache(cache, self._stat)
        self.elf: dict[str, ELFFile | str] = {}
        self.loader = self._loader()
        self._executable = self._executable_elf()
        # Everything besides the files that decides a lookup: the loader's configuration.
        self._config_key = repr((self.loader.config, self._executable and self._executable[0]))

    # --- the loader model of the target ---

    def _loader(self) -> Loader:
        interp = self.target.interpreter
        binary = interp.binary
        libc = interp.libc.family if interp.libc else "glibc"
        machine, elf_class, little = (
            (binary.machine, binary.elf_class, binary.little_endian) if binary else (0, 0, True)
        )
        config = LoaderConfig(
            libc=libc,
            machine=machine,
            elf_class=elf_class,
            little_endian=little,
            ld_library_path=split_path_list(self.target.environ.get("LD_LIBRARY_PATH")),
            default_dirs=default_dirs(
                libc, interp.multiarch, elf_class, binary.interpreter if binary else None
            ),
            system_known=self.target.system_is_host and binary is not None,
        )
        loader = Loader(config, self.elf_cache)
        real = interp.real_executable
        exe = self.elf_cache.read(real) if real else None
        if real and isinstance(exe, ELFFile):
            preloaded = {}
            for name in exe.needed:
                resolution = loader.resolve(name, [(real, exe)])
                if resolution.path:
                    preloaded[name] = resolution.path
            loader = Loader(dataclasses.replace(config, preloaded=preloaded), self.elf_cache)
        return loader

    def _executable_elf(self) -> tuple[str, ELFFile] | None:
        """The interpreter's own ELF file: it heads every loader chain (its RPATH counts)."""
        real = self.target.interpreter.real_executable
        if not real:
            return None
        elf = self._read(real)
        return (real, elf) if isinstance(elf, ELFFile) else None

    @property
    def system_known(self) -> bool:
        return self.loader.config.system_known

    def _read(self, path: str) -> ELFFile | ELFError | OSError:
        elf = self.elf_cache.read(path)
        if path not in self.elf:
            self.elf[path] = elf if isinstance(elf, ELFFile) else _reason(elf)
        return elf

    # --- one module ---

    def look(self, file: ExtensionFile) -> Extension:
        """The facts of one extension module file."""
        elf = self._read(file.path)
        stem = file.filename.partition(".")[0]
        package_siblings = tuple(
            s
            for s in file.siblings
            if s == stem and os.path.isfile(os.path.join(file.directory, stem, "__init__.py"))
        )
        links: tuple[Link, ...] = ()
        binary = self.target.interpreter.binary
        if isinstance(elf, ELFFile) and (
            binary is None
            or (elf.machine, elf.elf_class, elf.little_endian)
            == (binary.machine, binary.elf_class, binary.little_endian)
        ):
            links = self._cached_links(file.path, elf)
        return Extension(file, package_siblings, links)

    def _cached_links(self, path: str, elf: ELFFile) -> tuple[Link, ...]:
        """:meth:`_links`, from the cache while the module, every library it resolved to and
        every directory (and ld.so.cache) its lookups searched keep their identity: a file
        added to or removed from a searched directory changes that directory's mtime."""
        key = (path, self._config_key)
        stored = self.cache.decoded(_LINKS, key, None, _links_entry)
        if stored is not None:
            identities, links = stored
            if all(self._identity(p) == i for p, i in identities):
                for requester, res in links:
                    self._read(requester)
                    if res.path is not None:
                        self._read(res.path)
                return links
        links = self._links(path, elf)
        files = {path}
        directories: set[str] = set()
        for requester, res in links:
            files.add(requester)
            directories.update(res.searched)
            if res.path is not None:
                files.add(res.path)
        identities = tuple((p, self._identity(p)) for p in sorted(files | directories))
        # The "racy" rule for the directories: a name added within one timestamp tick of
        # the lookup would not change the mtime (files are known by size and inode too).
        if all(i is None or self.settled(i[0]) for p, i in identities if p in directories):
            self.cache.put(_LINKS, key, (identities, _links_to_tuple(links)))
        return links

    def _stat(self, path: str) -> os.stat_result:
        """``os.stat``, once per path and run (the ELF cache and the links cache both ask)."""
        found = self._stats.get(path)
        if found is None:
            try:
                found = os.stat(path)
            except (OSError, ValueError) as exc:
                found = exc if isinstance(exc, OSError) else OSError(str(exc))
            self._stats[path] = found
        if isinstance(found, OSError):
            raise found
        return found

    def _identity(self, path: str) -> tuple[int, int, int, int] | None:
        """(mtime_ns, size, inode, device) of a file or directory, once per run."""
        if path not in self._identities:
            try:
                st = self._stat(path)
                self._identities[path] = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
            except OSError:
                self._identities[path] = None
        return self._identities[path]

    def _links(self, path: str, elf: ELFFile) -> tuple[Link, ...]:
        """Every DT_NEEDED of ``elf`` and of the non-system libraries it brings in, resolved
        like the loader would (:meth:`pkgdoctor.loader.Loader.walk`), depth first. The
        libraries found are read too: their symbol versions are what the check compares."""
        start: list[tuple[str, ELFFile]] = [self._executable] if self._executable else []
        links: list[Link] = []
        for chain, resolutions in self.loader.walk([*start, (path, elf)], _not_system):
            requester = chain[-1][0]
            for res in resolutions:
                links.append(Link(requester, self._resolution(res)))
                if res.path is not None:
                    self._read(res.path)
        return tuple(links)

    def _resolution(self, res: Resolution) -> Resolution:
        """The loader's answer, with the searched directories that do not exist when the
        library was not found (a deleted ``numpy.libs``: bundled, not a system library)."""
        if res.found:
            return res
        absent = tuple(d for d in res.searched if not os.path.isdir(d))
        return dataclasses.replace(res, absent=absent)

    def facts(
        self, modules: Sequence[Extension], problems: Sequence[ScanProblem] = ()
    ) -> ExtensionFacts:
        return ExtensionFacts(
            modules=tuple(modules),
            scan_problems=tuple(problems),
            elf=dict(self.elf),
            executable=self._executable[0] if self._executable else None,
            system_known=self.system_known,
        )


# Cache section of the libraries each module links: (module, loader configuration) ->
# ((path, identity) of everything the lookups depended on, the links).
_LINKS = "extension-links"


def _links_to_tuple(links: Sequence[Link]) -> tuple[Any, ...]:
    return tuple(
        (
            requester,
            res.name,
            res.path,
            res.via,
            res.searched,
            tuple((c.path, c.reason) for c in res.skipped),
            res.system,
            res.absent,
        )
        for requester, res in links
    )


def _links_entry(stored: Any) -> tuple[tuple[tuple[str, Any], ...], tuple[Link, ...]]:
    identities, rows = stored
    links = []
    for requester, name, path, via, searched, skipped, system, absent in rows:
        resolution = Resolution(
            name=str(name),
            path=path,
            via=str(via),
            searched=tuple(searched),
            skipped=tuple(Candidate(str(p), str(r)) for p, r in skipped),
            system=bool(system),
            absent=tuple(absent),
        )
        links.append(Link(str(requester), resolution))
    return tuple((str(p), i) for p, i in identities), tuple(links)


def _not_system(res: Resolution) -> bool:
    """System libraries are trusted to be consistent with each other: not descended into."""
    return not res.system


def _reason(error: ELFError | OSError) -> str:
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)


# --- every module on sys.path ---------------------------------------------------------------


def extension_roots(target: Target, include_stdlib: bool) -> list[str]:
    """The ``sys.path`` entries to look for extension modules in.

    The standard library (its directory, ``lib-dynload`` and zip) is left out unless asked
    for; ``site-packages`` below the stdlib directory is still its own entry.
    """
    stdlib: set[str] = set()
    for directory in target.stdlib:
        stdlib.update({directory, os.path.join(directory, "lib-dynload")})
    roots = []
    for entry in target.sys_path:
        normalized = os.path.normpath(entry)
        if not include_stdlib and (normalized in stdlib or entry.endswith(".zip")):
            continue
        roots.append(normalized)
    return roots


def collect(
    target: Target,
    include_stdlib: bool,
    cache: Cache,
    listings: Listings,
    settled: Callable[[int], bool],
    inventory: Inventory,
) -> ExtensionFacts:
    """Every extension module on the target's ``sys.path`` (stdlib only if asked)."""
    return complete(look_all(target, include_stdlib, cache, listings, settled), inventory, cache)


def look_all(
    target: Target,
    include_stdlib: bool,
    cache: Cache,
    listings: Listings,
    settled: Callable[[int], bool],
) -> ExtensionFacts:
    """Every extension module and what it links, without how it is imported (that needs the
    inventory: :func:`complete`). Needs nothing else of the look: it can run beside it."""
    looker = ExtensionLooker(target, cache, listings, settled)
    problems: list[ScanProblem] = []
    files = extension_files(extension_roots(target, include_stdlib), cache, listings, problems,
                            settled)  # fmt: skip
    return looker.facts([looker.look(f) for f in files], problems)


def complete(
    facts: ExtensionFacts, inventory: Inventory, cache: Cache | None = None
) -> ExtensionFacts:
    """``facts`` with how each unlinkable module is imported (:func:`with_importers`) and,
    with NumPy 2 installed, which NumPy headers the modules of numpy's dependents were
    compiled against (:func:`pkgdoctor.look.numpy_abi.with_numpy_headers`)."""
    from pkgdoctor.look.numpy_abi import with_numpy_headers

    modules = with_importers(facts.modules, facts.elf, inventory)
    modules = with_numpy_headers(modules, inventory, cache)
    return dataclasses.replace(facts, modules=tuple(modules))


def with_importers(
    modules: Sequence[Extension], elf: Mapping[str, ELFFile | str], inventory: Inventory
) -> list[Extension]:
    """``modules``, with how their distributions import them for those the loader cannot
    link (a library not found, a symbol version not defined): a module imported only under
    ``except ImportError`` is optional (numba's TBB layer). Each distribution's ``.py`` files
    are read once, for all its modules at once, and only those that mention one."""
    wanted: dict[str, tuple[Distribution, list[str]]] = {}
    for module in modules:
        if not _cannot_link(module, elf):
            continue
        dist = inventory.owner(module.file.path)
        if dist is not None:
            wanted.setdefault(dist.metadata_dir, (dist, []))[1].append(module.file.module)
    judged: dict[tuple[str, str], ModuleImports] = {}
    for key, (dist, names) in wanted.items():
        files = ((entry.path, path) for entry, path in dist.files())
        for name, found in judge_all(names, read_importers(files, names)).items():
            judged[key, name] = found
    result = []
    for module in modules:
        dist = inventory.owner(module.file.path) if judged else None
        imports = judged.get((dist.metadata_dir, module.file.module)) if dist else None
        result.append(dataclasses.replace(module, importers=imports) if imports else module)
    return result


def _cannot_link(module: Extension, elf: Mapping[str, ELFFile | str]) -> bool:
    """Whether a library is not found, or lacks a symbol version an object needs from it."""
    missing, gaps = link_gaps(module, elf)
    return bool(missing or gaps)


def extension_files(
    roots: Sequence[str],
    cache: Cache,
    listings: Listings,
    problems: list[ScanProblem],
    settled: Callable[[int], bool],
) -> list[ExtensionFile]:
    """Every extension module on the roots, from the cache while no directory changed."""
    key = tuple(roots)
    stored = cache.decoded(_WALK, key, None, _walk_entry)
    if stored is not None:
        directories, files = stored
        if all(directory_validator(path) == identity for path, identity in directories):
            return files
    visited: list[tuple[str, os.stat_result | None]] = []
    files = list(iter_extensions(key, problems, listings, visited))
    directories = tuple(
        (path, (st.st_mtime_ns, st.st_ino, st.st_dev) if st else None) for path, st in visited
    )
    if not problems and all(i is None or settled(i[0]) for _, i in directories):
        found = tuple((f.path, f.module, f.root, f.siblings) for f in files)
        cache.put(_WALK, key, (directories, found))
    return files


def _walk_entry(
    stored: Any,
) -> tuple[tuple[tuple[str, Any], ...], list[ExtensionFile]]:
    directories, found = stored
    files = []
    for path, module, root, siblings in found:
        parsed = parse_extension_filename(os.path.basename(path))
        if parsed is None:  # a file name this release does not take for an extension
            raise ValueError(path)
        files.append(ExtensionFile(path, module, parsed[1], root, tuple(siblings)))
    return tuple((str(p), i) for p, i in directories), files


def extension_file(path: str, root: str) -> ExtensionFile | None:
    """An :class:`ExtensionFile` for a path that did not come from a ``sys.path`` walk."""
    name = os.path.basename(path)
    parsed = parse_extension_filename(name)
    if parsed is None:
        return None
    stem, tag = parsed
    rel = os.path.relpath(os.path.dirname(path), root)
    package = "" if rel == "." else rel.replace(os.sep, ".")
    try:
        siblings = tuple(
            sorted(
                n
                for n in os.listdir(os.path.dirname(path))
                if n.partition(".")[0] == stem and n != name
            )
        )
    except OSError:
        siblings = ()
    module = f"{package}.{stem}" if package else stem
    return ExtensionFile(path, module, tag, root, siblings)
