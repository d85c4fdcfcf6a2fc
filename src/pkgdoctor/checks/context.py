"""What every check receives: the target's facts and lazily built, shared helpers."""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

from pkgdoctor.cache import Cache, Validator, validator
from pkgdoctor.elf import ELFFile
from pkgdoctor.inventory import Distribution, Inventory, discover, site_entries
from pkgdoctor.listings import Listings
from pkgdoctor.loader import ElfCache, Loader, LoaderConfig, default_dirs, split_path_list
from pkgdoctor.optional_imports import ModuleImports, judge_all, read_importers
from pkgdoctor.target.facts import Target

if TYPE_CHECKING:
    from pkgdoctor.checks.integrity import ProgressFactory

T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    """What the user asked to be looked at."""

    include_stdlib: bool = False
    deep: bool = False  # hash every RECORD entry
    cwd: str | None = None  # the directory the user runs Python from (module shadowing)
    progress: ProgressFactory | None = None  # draws long --deep runs on a terminal


class Context:
    """The target plus the helpers checks share (file ownership, the loader model)."""

    def __init__(
        self, target: Target, options: Options | None = None, cache: Cache | None = None
    ) -> None:
        self.target = target
        self.options = options or Options()
        self.cache = cache or Cache(None)  # in memory only, unless the caller gives one
        self.elf_cache = ElfCache(self.cache)
        self.listings = Listings()
        # What the checks looked at, by area, for the report: {"Extension modules": 141}.
        self.examined: dict[str, int] = {}
        # Wall clock at the start, in the file systems' unit: a directory modified since
        # (or just before: coarse timestamps) may have changed under a cached answer.
        self.started_ns = time.time_ns()
        self._record_validators: dict[str, Validator | None] = {}
        self._module_imports: dict[tuple[str, str], ModuleImports] = {}

    @property
    def python(self) -> str:
        """How to call the target interpreter in a fix, quoted for a POSIX shell."""
        exe = self.target.interpreter.executable
        return shlex.quote(exe) if exe else "python"

    def pip_reinstall(self, dist: Distribution | None, *, no_deps: bool = True) -> str:
        what = shlex.quote(dist.requirement) if dist else "PACKAGE"
        deps = " --no-deps" if no_deps else ""
        return f"{self.python} -m pip install --force-reinstall{deps} {what}"

    def extension_roots(self) -> list[str]:
        """The ``sys.path`` entries to look for extension modules in.

        The standard library (its directory, ``lib-dynload`` and zip) is left out unless asked
        for; ``site-packages`` below the stdlib directory is still its own entry.
        """
        stdlib: set[str] = set()
        for directory in self.target.stdlib:
            stdlib.update({directory, os.path.join(directory, "lib-dynload")})
        roots = []
        for entry in self.target.sys_path:
            normalized = os.path.normpath(entry)
            if not self.options.include_stdlib and (normalized in stdlib or entry.endswith(".zip")):
                continue
            roots.append(normalized)
        return roots

    def owner(self, path: str) -> Distribution | None:
        """The distribution whose RECORD lists ``path``.

        Answering needs every RECORD parsed, which a healthy environment otherwise does not
        need when the cache is warm; so a lone question (a ``.pth`` file's owner) is
        answered from the cache while no RECORD on the path has changed.
        """
        path = os.path.normpath(path)
        if "owners" in self.inventory.__dict__:  # the index exists: use it
            return self.inventory.owners.get(path)
        fingerprint = self._records_fingerprint
        stored = self.cache.get("owner", path, fingerprint) if fingerprint else None
        if stored is not None:
            return next((d for d in self._all_distributions if d.metadata_dir == stored[0]), None)
        owner = self.inventory.owners.get(path)
        if fingerprint:
            self.cache.put("owner", path, (owner.metadata_dir if owner else None,), fingerprint)
        return owner

    @functools.cached_property
    def _all_distributions(self) -> list[Distribution]:
        return [*self.inventory.distributions, *self.inventory.shadowed]

    @functools.cached_property
    def _records_fingerprint(self) -> str | None:
        """A digest of the identities of every RECORD (None if one cannot be read)."""
        import hashlib

        digest = hashlib.sha256()
        for dist in self._all_distributions:
            check = self.record_validator(dist)
            if check is None:
                return None
            digest.update(repr((dist.record_path, check)).encode("utf-8", "surrogateescape"))
        return digest.hexdigest()

    def record_validator(self, dist: Distribution) -> Validator | None:
        """The identity of a distribution's RECORD (None when it cannot be read)."""
        path = dist.record_path
        if path not in self._record_validators:
            try:
                self._record_validators[path] = validator(os.stat(path))
            except OSError:
                self._record_validators[path] = None
        return self._record_validators[path]

    def from_record(self, dist: Distribution, section: str, compute: Callable[[], T]) -> T:
        """``compute()``, a pure function of ``dist``'s RECORD (plain data: tuples, strings,
        numbers), cached while the RECORD file is unchanged."""
        check = self.record_validator(dist)
        if check is None:
            return compute()
        stored = self.cache.get(section, dist.record_path, check)
        if stored is None:
            stored = compute()
            self.cache.put(section, dist.record_path, stored, check)
        return cast(T, stored)

    def settled(self, mtime_ns: int) -> bool:
        """Whether a file system object modified at ``mtime_ns`` is old enough for an answer
        about it to be cached: two seconds before this run started, so that a change made
        during the run, or within one coarse timestamp of it, always shows in the mtime."""
        return mtime_ns < self.started_ns - 2_000_000_000

    @functools.cached_property
    def inventory(self) -> Inventory:
        """Every distribution on the target's sys.path, read once per run."""
        return discover(site_entries(self.target.sys_path, self.target.stdlib), self.cache)

    @functools.cached_property
    def externally_managed(self) -> str | None:
        """The PEP 668 ``EXTERNALLY-MANAGED`` marker of the target (None in a venv, which is
        exempt, or when there is none): where a fix must not say ``pip install``."""
        if self.target.is_venv:
            return None
        for directory in self.target.stdlib:
            marker = os.path.join(directory, "EXTERNALLY-MANAGED")
            if os.path.isfile(marker):
                return marker
        return None

    def module_imports(
        self, dist: Distribution, modules: Iterable[str]
    ) -> dict[str, ModuleImports]:
        """Every import of each of ``modules`` in ``dist``'s own Python files, guarded or not.

        Asked only for modules that have a loader problem, all of a distribution's at once
        (each file is read once); the reading is the look layer's part
        (:func:`~pkgdoctor.optional_imports.read_importers`), the verdict is pure.
        """
        wanted = [
            m for m in dict.fromkeys(modules) if (dist.metadata_dir, m) not in self._module_imports
        ]
        if wanted:
            sources = read_importers(((e.path, p) for e, p in dist.files()), wanted)
            for module, imports in judge_all(wanted, sources).items():
                self._module_imports[dist.metadata_dir, module] = imports
        return {m: self._module_imports[dist.metadata_dir, m] for m in modules}

    @functools.cached_property
    def loader(self) -> Loader:
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
        exe = self.executable_elf
        if exe is not None:
            chain = [(exe[0], exe[1])]
            preloaded = {}
            for name in exe[1].needed:
                resolution = loader.resolve(name, chain)
                if resolution.path:
                    preloaded[name] = resolution.path
            loader = Loader(dataclasses.replace(config, preloaded=preloaded), self.elf_cache)
        return loader

    @functools.cached_property
    def executable_elf(self) -> tuple[str, ELFFile] | None:
        """The interpreter's own ELF file: it heads every loader chain (its RPATH counts)."""
        real = self.target.interpreter.real_executable
        if not real:
            return None
        elf = self.elf_cache.read(real)
        return (real, elf) if isinstance(elf, ELFFile) else None
