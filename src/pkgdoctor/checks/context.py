"""What every check receives: the target's facts and lazily built, shared helpers."""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pkgdoctor.cache import Cache
from pkgdoctor.elf import ELFFile
from pkgdoctor.inventory import Distribution, Inventory, discover, site_entries
from pkgdoctor.listings import Listings
from pkgdoctor.loader import ElfCache, Loader, LoaderConfig, default_dirs, split_path_list
from pkgdoctor.target.facts import Target

if TYPE_CHECKING:
    from pkgdoctor.checks.integrity import ProgressFactory


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
        """The distribution whose RECORD lists ``path``."""
        return self.inventory.owners.get(os.path.normpath(path))

    @functools.cached_property
    def inventory(self) -> Inventory:
        """Every distribution on the target's sys.path, read once per run."""
        return discover(site_entries(self.target.sys_path, self.target.stdlib), self.cache)

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
