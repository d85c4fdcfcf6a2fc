"""A model of the dynamic loader: which file ``DT_NEEDED: libfoo.so.1`` resolves to.

glibc's ld.so (``elf/dl-load.c``, ``_dl_map_object``; man ld.so(8)) searches, for a name
without a slash requested by object O:

1. ``DT_RPATH`` of O, then of the objects that loaded O up to the executable — but only if O
   has no ``DT_RUNPATH``;
2. ``LD_LIBRARY_PATH``;
3. ``DT_RUNPATH`` of O (O's own, never its loaders');
4. ``/etc/ld.so.cache``;
5. the default directories.

Files of another class or machine found on the way are skipped, and the search goes on.
A name already loaded in the process is reused without a search: ``_dl_map_object`` first
compares it (``_dl_name_match_p``) with the names each loaded object was requested by and
with its ``DT_SONAME``.

musl (``ldso/dynlink.c``, ``load_library``) first compares the name with the ``shortname``
of each loaded object (the file name it was found under; musl ignores ``DT_SONAME``), then
searches ``LD_LIBRARY_PATH``, then the search path of O and of each of its loaders
(``needed_by``) — RUNPATH if the object has one, else RPATH (``decode_dyn``): musl inherits
both — then ``/etc/ld-musl-<arch>.path`` or ``/lib:/usr/local/lib:/usr/lib``; the names of
libc's parts resolve to musl itself.

Both loaders map dependencies breadth first (glibc ``_dl_map_object_deps``, musl
``load_deps``): when the needs of an object are looked up, every object of its loading chain
and every direct need of those loaders is already loaded. That is the part of "already
loaded" the model counts (``via="loaded"``); siblings loaded earlier depend on order, so they
are not counted. The model looks a name up among loaded objects only when the search fails:
found or not is the same, only the path reported may differ.

Where the files are is a :class:`ObjectSource`: the file system (:class:`ElfCache`) for
``check``, a wheel's members at their installed locations for ``audit-wheel``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import field
from typing import Any, Protocol

from pkgdoctor._fields import Fact, fact, restore
from pkgdoctor.cache import Cache, validator
from pkgdoctor.elf import ELFError, ELFFile, VersionNeed, read_elf
from pkgdoctor.ldcache import LdCache, LdCacheError, read_ld_cache
from pkgdoctor.snapshot.model import Candidate, Resolution

# Names musl satisfies with its own libc.so (ldso/dynlink.c: "reserved" names).
_MUSL_BUILTIN = {
    "libc.so",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libm.so.6",
    "libutil.so.1",
    "libxnet.so",
    "libcrypt.so.1",
}


_Step = tuple[str, tuple[str, ...]]  # (how the loader got there, directories in order)
Chain = Sequence[tuple[str, ELFFile]]  # (path, ELF) from the first object loaded down


class ObjectSource(Protocol):
    """Where the loader model looks for files, in the style of pypa/installer's WheelSource:
    the file system (:class:`ElfCache`), or a wheel's members where they would be installed
    (:class:`pkgdoctor.wheelaudit.facts.InstalledMembers`). Paths are absolute."""

    def exists(self, path: str) -> bool:
        """Whether a file (of any kind) is at ``path``: the loader would try to open it."""
        ...

    def read(self, path: str) -> ELFFile | ELFError | OSError:
        """The parsed ELF file at ``path``, or the error reading it."""
        ...


@fact
class LoaderConfig(Fact):
    """Everything the loader model needs to know about the system it runs on."""

    libc: str  # "glibc" or "musl"
    machine: int
    elf_class: int
    little_endian: bool
    ld_library_path: tuple[str, ...] = ()
    default_dirs: tuple[str, ...] = ()
    ld_cache_path: str | None = "/etc/ld.so.cache"
    # False when the system directories of the machine the environment runs on are not the
    # ones here (a tree copied from another architecture): only RPATH/RUNPATH lookups inside
    # the environment can then be judged.
    system_known: bool = True
    # sonames the interpreter process has already loaded (its own DT_NEEDED), and their paths
    preloaded: Mapping[str, str] = field(default_factory=dict)


def default_dirs(
    libc: str, multiarch: str | None, elf_class: int, program_interpreter: str | None = None
) -> tuple[str, ...]:
    """The loader's built-in directories, liberal on purpose (missing one means a false alarm).

    glibc compiles in ``/lib64:/usr/lib64`` (or ``/lib:/usr/lib``); Debian and Ubuntu add the
    multiarch directories through ``/etc/ld.so.conf.d``, which the cache covers, but a
    cache can be stale, so they are listed here too. musl reads
    ``/etc/ld-musl-<arch>.path`` (its dynamic linker's name gives ``<arch>``) and otherwise
    uses ``/lib:/usr/local/lib:/usr/lib``.
    """
    if libc == "musl":
        name = os.path.basename(program_interpreter or "")
        if name.startswith("ld-musl-") and name.endswith(".so.1"):
            arch = name[len("ld-musl-") : -len(".so.1")]
            try:
                with open(f"/etc/ld-musl-{arch}.path", encoding="utf-8", errors="replace") as f:
                    configured = f.read().replace("\n", ":")
            except OSError:
                configured = ""
            configured_dirs = tuple(d for d in split_path_list(configured) if d != ".")
            if configured_dirs:
                return configured_dirs
        return ("/lib", "/usr/local/lib", "/usr/lib")
    dirs: list[str] = []
    if multiarch:
        dirs += [f"/lib/{multiarch}", f"/usr/lib/{multiarch}"]
    dirs += ["/lib64", "/usr/lib64"] if elf_class == 64 else []
    dirs += ["/lib", "/usr/lib"]
    return tuple(dirs)


def split_path_list(value: str | None) -> tuple[str, ...]:
    """Split ``LD_LIBRARY_PATH``/RPATH; an empty element means the working directory."""
    if not value:
        return ()
    return tuple(part or "." for part in value.replace(";", ":").split(":"))


class Loader:
    """Resolves ``DT_NEEDED`` names for a target, with per-run caches.

    >>> loader = Loader(LoaderConfig("glibc", 62, 64, True))  # doctest: +SKIP
    >>> loader.resolve("libm.so.6", [ext]).path  # doctest: +SKIP
    '/lib/x86_64-linux-gnu/libm.so.6'
    """

    def __init__(self, config: LoaderConfig, source: ObjectSource | None = None) -> None:
        self.config = config
        self.source: ObjectSource = source if source is not None else ElfCache()
        self._resolved: dict[tuple[str, tuple[_Step, ...]], Resolution] = {}
        self._loaded: dict[tuple[str, ...], dict[str, Resolution]] = {}
        self._system_dirs = {os.path.normpath(d) for d in config.default_dirs}
        self._cache: LdCache | None = None
        self._cache_read = False

    @property
    def ld_cache(self) -> LdCache | None:
        if not self._cache_read:
            self._cache_read = True
            if (
                self.config.ld_cache_path
                and self.config.system_known
                and self.config.libc == "glibc"
            ):
                try:
                    self._cache = read_ld_cache(self.config.ld_cache_path)
                except (OSError, LdCacheError):
                    self._cache = None
            if self._cache is not None:
                self._system_dirs.update(os.path.dirname(e.path) for e in self._cache.entries)
        return self._cache

    def read(self, path: str) -> ELFFile | ELFError | OSError:
        """The parsed ELF file at ``path`` (cached), or the error reading it."""
        return self.source.read(path)

    def is_system_path(self, path: str) -> bool:
        """Whether ``path`` lies in a directory the system's loader configuration names."""
        _ = self.ld_cache
        return os.path.dirname(os.path.normpath(path)) in self._system_dirs

    def resolve(self, name: str, chain: Chain) -> Resolution:
        """Where ``name``, needed by ``chain[-1]``, would be found.

        ``chain`` is the sequence of (path, ELF) from the first object loaded by the
        interpreter (an extension module) down to the object that needs ``name``.
        """
        if "/" in name:
            return self._resolve_path(name, chain)
        if self.config.libc == "musl":
            result = self._resolve_musl(name, chain)
        else:
            result = self._resolve_glibc(name, chain)
        if result.found:
            return result
        loaded = self._already_loaded(name, chain)
        if loaded is not None:
            return Resolution(name, loaded.path, "loaded", result.searched, result.skipped,
                              loaded.system)  # fmt: skip
        preloaded = self.config.preloaded.get(name)
        if preloaded is not None:
            return Resolution(name, preloaded, "loaded", result.searched, result.skipped, True)
        return result

    def _already_loaded(self, name: str, chain: Chain) -> Resolution | None:
        """The object of the loading chain, or direct need of one of its loaders, that is
        loaded under ``name`` before ``chain[-1]``'s needs are looked up (module docstring)."""
        return self._loaded_names(chain).get(name)

    def _loaded_names(self, chain: Chain) -> dict[str, Resolution]:
        """Every name an object is loaded under when ``chain[-1]``'s needs are looked up.

        glibc matches the name an object was requested by and its ``DT_SONAME``
        (``_dl_name_match_p``, and the ``l_soname_added`` case of ``_dl_map_object``); musl
        only the file name it was found under (``shortname`` in ``load_library``), which for
        a search result is the requested name. Memoized per chain, built from its prefix.
        """
        key = tuple(path for path, _ in chain)
        names = self._loaded.get(key)
        if names is not None:
            return names
        glibc = self.config.libc != "musl"
        names = dict(self._loaded_names(chain[:-1])) if len(chain) > 1 else {}
        if len(chain) > 1:
            # All needs of chain[-2] were mapped before chain[-1]'s (breadth first).
            loader_chain = chain[:-1]
            for need in loader_chain[-1][1].needed:
                found = self.resolve(need, loader_chain)
                if found.path is None:
                    continue
                names.setdefault(need, found)
                lib = self.read(found.path) if glibc else None
                if isinstance(lib, ELFFile) and lib.soname:
                    names.setdefault(lib.soname, found)
        path, obj = chain[-1]
        if glibc and obj.soname:
            names.setdefault(obj.soname, Resolution(obj.soname, path, "loaded",
                                                    system=self.is_system_path(path)))  # fmt: skip
        self._loaded[key] = names
        return names

    def walk(
        self, chain: Chain, descend: Callable[[Resolution], bool]
    ) -> Iterator[tuple[Chain, tuple[Resolution, ...]]]:
        """Every object ``chain[-1]`` brings in, depth first, each once, with its chain and
        the resolution of each of its ``DT_NEEDED`` names (found or not), in order.

        ``descend`` says whether to follow a found library into its own needs (``check``
        trusts system libraries to be consistent with each other).
        """
        stack: list[Chain] = [list(chain)]
        visited = {chain[-1][0]}
        while stack:
            current = stack.pop()
            results = []
            for name in current[-1][1].needed:
                res = self.resolve(name, current)
                results.append(res)
                if res.path and res.path not in visited and descend(res):
                    visited.add(res.path)
                    lib = self.read(res.path)
                    if isinstance(lib, ELFFile):
                        stack.append([*current, (res.path, lib)])
            yield current, tuple(results)

    def _resolve_path(self, name: str, chain: Chain) -> Resolution:
        base = os.path.dirname(chain[-1][0]) if chain else "."
        path = os.path.normpath(os.path.join(base, name))
        found, skipped = self.accepts(path)
        return Resolution(name, found, "path", (), tuple(skipped))

    def _resolve_glibc(self, name: str, chain: Chain) -> Resolution:
        requester_path, requester = chain[-1]
        steps: list[_Step] = []
        if requester.runpath is None:
            for path, obj in reversed(chain):
                if obj.rpath is not None and obj.runpath is None:
                    steps.append(("rpath", expand_search_path(obj.rpath, path)))
        steps.append(("LD_LIBRARY_PATH", self.config.ld_library_path))
        if requester.runpath is not None:
            steps.append(("runpath", expand_search_path(requester.runpath, requester_path)))
        return self._memoized(name, steps, self._search_glibc)

    def _search_glibc(self, name: str, steps: Sequence[_Step]) -> Resolution:
        search = _Search(self, name)
        for via, dirs in steps:
            if found := search.directories(dirs, via):
                return found
        if not self.config.system_known:
            return search.result(None, "unknown")
        cache = self.ld_cache
        if cache is not None:
            search.searched.append(self.config.ld_cache_path or "ld.so.cache")
            for entry in cache.lookup(name):
                if found := search.file(entry.path, "ld.so.cache", system=True):
                    return found
        return search.directories(self.config.default_dirs, "default", system=True) or (
            search.result(None, "not found")
        )

    def _resolve_musl(self, name: str, chain: Chain) -> Resolution:
        if name in _MUSL_BUILTIN or name.startswith(("libc.musl-", "ld-musl-")):
            return Resolution(name, None, "libc", system=True)
        steps: list[_Step] = [("LD_LIBRARY_PATH", self.config.ld_library_path)]
        for path, obj in reversed(chain):
            # One search path per object: DT_RUNPATH overrides DT_RPATH (decode_dyn).
            if obj.runpath is not None:
                steps.append(("runpath", expand_search_path(obj.runpath, path)))
            elif obj.rpath is not None:
                steps.append(("rpath", expand_search_path(obj.rpath, path)))
        return self._memoized(name, steps, self._search_musl)

    def _search_musl(self, name: str, steps: Sequence[_Step]) -> Resolution:
        search = _Search(self, name)
        for via, dirs in steps:
            if found := search.directories(dirs, via):
                return found
        if not self.config.system_known:
            return search.result(None, "unknown")
        return search.directories(self.config.default_dirs, "default", system=True) or (
            search.result(None, "not found")
        )

    def _memoized(
        self,
        name: str,
        steps: list[_Step],
        search: Callable[[str, Sequence[_Step]], Resolution],
    ) -> Resolution:
        """The same name searched along the same directories resolves the same way."""
        key = (name, tuple(steps))
        result = self._resolved.get(key)
        if result is None:
            result = self._resolved[key] = search(name, steps)
        return result

    def accepts(self, path: str) -> tuple[str | None, list[Candidate]]:
        """Whether the loader would take ``path``: it exists and, if it is a valid ELF
        file, matches our machine (a damaged file is taken, and fails to load)."""
        if not self.source.exists(path):
            return None, []
        elf = self.read(path)
        if isinstance(elf, OSError):
            reason = elf.strerror or str(elf)
            return None, [Candidate(path, reason)]
        if isinstance(elf, ELFError):
            # glibc passes over a file only for another ELF class or machine (open_verify in
            # elf/dl-load.c returns -1 with ENOENT); any other file it opens ends the search:
            # a damaged one fails dlopen ("invalid ELF header", "cannot read file data") or is
            # mapped and crashes (a truncated PT_LOAD). So the lookup finds it, and ``check``
            # reports the library as not loadable (``ext-invalid-elf``).
            return path, []
        cfg = self.config
        if (elf.machine, elf.elf_class, elf.little_endian) != (
            cfg.machine,
            cfg.elf_class,
            cfg.little_endian,
        ):
            return None, [Candidate(path, f"built for {elf.architecture}")]
        return path, []


class _Search:
    """One lookup in progress: what was tried and skipped, for the evidence."""

    def __init__(self, loader: Loader, name: str) -> None:
        self.loader = loader
        self.name = name
        self.searched: list[str] = []
        self.skipped: list[Candidate] = []

    def result(self, path: str | None, via: str, *, system: bool = False) -> Resolution:
        return Resolution(self.name, path, via, tuple(self.searched), tuple(self.skipped), system)

    def file(self, path: str, via: str, *, system: bool | None = None) -> Resolution | None:
        found, skipped = self.loader.accepts(path)
        self.skipped += skipped
        if found is None:
            return None
        in_system = self.loader.is_system_path(found) if system is None else system
        return self.result(found, via, system=in_system)

    def directories(
        self, dirs: Sequence[str], via: str, *, system: bool | None = None
    ) -> Resolution | None:
        for directory in dirs:
            self.searched.append(directory)
            found = self.file(os.path.join(directory, self.name), via, system=system)
            if found is not None:
                return found
        return None


class ElfCache:
    """Parsed ELF files for one run: each file is read once, errors are kept, not raised.

    With a persistent :class:`~pkgdoctor.cache.Cache`, a file whose size, mtime, inode and
    device are unchanged since an earlier run is not parsed again.
    """

    def __init__(
        self,
        cache: Cache | None = None,
        stat: Callable[[str], os.stat_result] = os.stat,
    ) -> None:
        self._files: dict[str, ELFFile | ELFError | OSError] = {}
        self._cache = cache if cache is not None and cache.path is not None else None
        self._stat = stat  # the look layer shares one stat per path and run

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def read(self, path: str) -> ELFFile | ELFError | OSError:
        result = self._files.get(path)
        if result is None:
            result = self._read(path)
            self._files[path] = result
        return result

    def _read(self, path: str) -> ELFFile | ELFError | OSError:
        cache = self._cache
        check = None
        if cache is not None:
            try:
                check = validator(self._stat(path))
            except OSError as exc:
                return exc
            stored = cache.decoded("elf", path, check, lambda data: _elf_from_tuple(path, data))
            if stored is not None:
                return stored
        try:
            elf = read_elf(path)
        except (ELFError, OSError) as exc:
            return exc
        if cache is not None:
            cache.put("elf", path, _elf_to_tuple(elf), check)
        return elf


def _elf_to_tuple(elf: ELFFile) -> tuple[Any, ...]:
    needs = tuple((need.file, need.versions) for need in elf.version_needs)
    return (
        elf.elf_class,
        elf.little_endian,
        elf.osabi,
        elf.file_type,
        elf.machine,
        elf.flags,
        elf.interpreter,
        elf.soname,
        elf.needed,
        elf.rpath,
        elf.runpath,
        needs,
        elf.version_definitions,
    )


def _elf_from_tuple(path: str, data: tuple[Any, ...]) -> ELFFile:
    (
        elf_class,
        little,
        osabi,
        file_type,
        machine,
        flags,
        interp,
        soname,
        needed,
        rpath,
        runpath,
        needs,
        definitions,
    ) = data
    return restore(
        ELFFile,
        path=path,
        elf_class=elf_class,
        little_endian=little,
        osabi=osabi,
        file_type=file_type,
        machine=machine,
        flags=flags,
        interpreter=interp,
        soname=soname,
        needed=tuple(needed),
        rpath=rpath,
        runpath=runpath,
        version_needs=tuple(restore(VersionNeed, file=f, versions=tuple(v)) for f, v in needs),
        version_definitions=tuple(definitions),
        symbols=None,
        x86_isa_needed=None,
    )


def expand_search_path(raw: str, object_path: str) -> tuple[str, ...]:
    """Expand ``$ORIGIN`` (the directory of the object) in an RPATH/RUNPATH string.

    ``$LIB`` and ``$PLATFORM`` are expanded to each of their usual values; a directory with a
    token the loader would not expand is kept verbatim (and so will not be found).
    """
    origin = os.path.dirname(os.path.abspath(object_path))
    result: list[str] = []
    for part in split_path_list(raw):
        part = part.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        if "$LIB" in part or "${LIB}" in part:
            for lib in ("lib", "lib64"):
                result.append(part.replace("${LIB}", lib).replace("$LIB", lib))
        else:
            result.append(part)
    return tuple(os.path.normpath(p) for p in result)
