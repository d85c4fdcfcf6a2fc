"""Looking up an undefined symbol (``why``, after ld.so said "undefined symbol: NAME"): which
library defines it, and whether that library is in the failing module's lookup scope.

glibc looks a module's undefined symbols up in the global scope (the interpreter and the
libraries it needs) and then in the module's own ``DT_NEEDED`` closure (``dlopen`` with
``RTLD_LOCAL``; glibc ``elf/dl-lookup.c``, ``_dl_lookup_symbol_x``). So the scope is read
first: a library there that defines the symbol means the message has another cause. Then
the directories a library could come from, in the loader's order: ``LD_LIBRARY_PATH``, the
requester's and module's RPATH/RUNPATH, the directories of the libraries the module loads,
the environment's ``lib/``, and (only when none of those defines it) the system's: the
directories of ``/etc/ld.so.cache`` and the loader's defaults.

Bounded: at most :data:`MAX_LIBRARIES` files and :data:`MAX_SYMBOLS` dynamic symbols read in
all (every one of the 431 libraries of this machine's ``/usr/lib/x86_64-linux-gnu``, 297,000
symbols, reads in 0.6 s), and the search stops after :data:`MAX_DEFINITIONS` definitions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pkgdoctor.elf import ELFError, ELFFile, read_elf
from pkgdoctor.loader import expand_search_path
from pkgdoctor.snapshot.model import Extension, ExtensionFacts, SymbolDefinition, SymbolSearch

if TYPE_CHECKING:
    from pkgdoctor.look.extensions import ExtensionLooker
    from pkgdoctor.look.imports import ImportOutcome

MAX_DIRECTORY_ENTRIES = 100_000  # /usr/lib/x86_64-linux-gnu: ~2,000 on a full desktop
MAX_LIBRARIES = 1000
MAX_SYMBOLS = 4_000_000
MAX_DEFINITIONS = 8

# glibc's message (elf/dl-lookup.c, _dl_lookup_symbol_x): "OBJECT: undefined symbol: NAME"
# with ", version VERSION" when the reference is versioned; musl's (ldso/dynlink.c,
# do_relocs): "Error relocating OBJECT: NAME: symbol not found".
_UNDEFINED = re.compile(
    r"(?P<object>/[^\n:]+): undefined symbol: (?P<symbol>[^\s,]+)(?:, version (?P<version>\S+))?"
    r"|Error relocating (?P<musl_object>/[^\n:]+): (?P<musl_symbol>[^\s:]+): symbol not found"
)
# glibc's message when a library lacks a symbol version an object needs (elf/dl-version.c,
# match_symbol): "LIBRARY: version `VERSION' not found (required by OBJECT)".
_VERSION_MISSING = re.compile(
    r"(?P<library>/[^\n:]+): version `(?P<version>[^']+)' not found \(required by "
    r"(?P<object>[^)\n]+)\)"
)
# STB_GLOBAL, STB_WEAK: what a lookup may bind to (gABI "Symbol Binding").
_BINDABLE = (1, 2)


def undefined_symbols(outcome: ImportOutcome) -> list[tuple[str, str, str | None]]:
    """(object, symbol, version) of each "undefined symbol" in the import's error chain."""
    found: dict[tuple[str, str, str | None], None] = {}
    for exc in outcome.chain:
        for item in parse_undefined(str(exc.get("message", ""))):
            found[item] = None
    return list(found)


def parse_undefined(message: str) -> list[tuple[str, str, str | None]]:
    """(object, symbol, version) of each undefined symbol a loader's message names.

    >>> parse_undefined("/e/m.so: undefined symbol: foo_fn, version LIBFOO_2")
    [('/e/m.so', 'foo_fn', 'LIBFOO_2')]
    >>> parse_undefined("Error relocating /e/m.so: foo_fn: symbol not found")
    [('/e/m.so', 'foo_fn', None)]
    """
    result = []
    for match in _UNDEFINED.finditer(message):
        if match["object"]:
            result.append((match["object"], match["symbol"], match["version"]))
        else:
            result.append((match["musl_object"], match["musl_symbol"], None))
    return result


def missing_versions(outcome: ImportOutcome) -> list[tuple[str, str, str]]:
    """(object, library, version) of each "version `V' not found" in the error chain."""
    found: dict[tuple[str, str, str], None] = {}
    for exc in outcome.chain:
        for match in _VERSION_MISSING.finditer(str(exc.get("message", ""))):
            found[match["object"], match["library"], match["version"]] = None
    return list(found)


def with_symbol_searches(
    facts: ExtensionFacts,
    looker: ExtensionLooker,
    looked: Sequence[tuple[ImportOutcome, Sequence[Extension]]],
) -> ExtensionFacts:
    """``facts`` with a :class:`SymbolSearch` for every undefined symbol a failed import
    reported, for the module that brought the object in."""
    searches = []
    for outcome, modules in looked:
        for requester, symbol, version in undefined_symbols(outcome):
            module = _module_of(requester, modules)
            if module is not None:
                searches.append(search(looker, module, requester, symbol, version))
        for requester, library, version in missing_versions(outcome):
            module = _module_of(requester, modules)
            if module is not None:
                searches.append(search_version(looker, module, requester, library, version))
    if not searches:
        return facts
    return replace(facts, symbol_searches=(*facts.symbol_searches, *searches))


def _module_of(requester: str, modules: Sequence[Extension]) -> Extension | None:
    for module in modules:
        if module.file.path == requester:
            return module
    for module in modules:
        if any(res.path == requester for _, res in module.links):
            return module
    return None


class _Search:
    """One search in progress: a symbol (and its version, if any), or with ``symbol`` None a
    symbol version alone (``DT_VERDEF``)."""

    def __init__(self, looker: ExtensionLooker, symbol: str | None, version: str | None) -> None:
        self.looker = looker
        self.symbol = symbol
        self.version = version
        self.read: set[str] = set()
        self.symbols = 0
        self.complete = True
        self.found: list[SymbolDefinition] = []

    def full(self) -> bool:
        return len(self.found) >= MAX_DEFINITIONS

    def result(self, requester: str, module: Extension, library: str | None = None) -> SymbolSearch:
        """What this search found, as the Snapshot's fact."""
        return SymbolSearch(
            symbol=self.symbol,
            version=self.version,
            requester=requester,
            module=module.file.path,
            defined_in=tuple(self.found),
            libraries_read=len(self.read),
            complete=self.complete,
            library=library,
        )

    def look(self, path: str, via: str) -> None:
        """Read ``path``'s dynamic symbols (once) and note it if it defines the symbol."""
        real = os.path.realpath(path)
        if real in self.read or self.full():
            return
        if len(self.read) >= MAX_LIBRARIES or self.symbols >= MAX_SYMBOLS:
            self.complete = False
            return
        self.read.add(real)
        try:
            elf = read_elf(real, symbols=self.symbol is not None)
        except (ELFError, OSError, ValueError):
            return
        config = self.looker.loader.config
        if config.machine and (elf.machine, elf.elf_class) != (config.machine, config.elf_class):
            return
        if self.symbol is None:
            if self.version in elf.version_definitions:
                self.found.append(SymbolDefinition(path, via, elf.soname, self.version))
            return
        symbols = elf.symbols or ()
        self.symbols += len(symbols)
        for sym in symbols:
            if (
                sym.name == self.symbol
                and sym.defined
                and sym.binding in _BINDABLE
                and (self.version is None or sym.version == self.version)
            ):
                self.found.append(SymbolDefinition(path, via, elf.soname, sym.version))
                return


def search(
    looker: ExtensionLooker, module: Extension, requester: str, symbol: str, version: str | None
) -> SymbolSearch:
    """Where ``symbol`` (``version``), which ``requester`` could not find while ``module``
    loaded, is defined."""
    state = _Search(looker, symbol, version)
    # The lookup scope: the interpreter, what it needs, the module and its closure.
    executable = looker.target.interpreter.real_executable
    scope = [executable] if executable else []
    scope += list(looker.loader.config.preloaded.values())
    scope += [module.file.path, *(res.path for _, res in module.links if res.path)]
    for path in dict.fromkeys(scope):
        state.look(path, "loaded")
    if not any(d.via == "loaded" for d in state.found):
        for directory, via in _directories(looker, module, requester):
            if via == "system" and state.found:
                break  # found in the environment or on LD_LIBRARY_PATH: the system can wait
            for path in _libraries(directory):
                state.look(path, via)
            if state.full():
                break
    return state.result(requester, module)


def search_version(
    looker: ExtensionLooker, module: Extension, requester: str, library: str, version: str
) -> SymbolSearch:
    """Which other file of ``library``'s name defines the symbol ``version`` it lacks: the
    same directories as :func:`search`, only files of that name (a newer copy that comes
    later on the search path)."""
    state = _Search(looker, None, version)
    names = {os.path.basename(library)}
    names.update(res.name for req, res in module.links if res.path == library and req == requester)
    state.look(library, "loaded")
    if not state.found:
        for directory, via in _directories(looker, module, requester):
            for name in sorted(names):
                path = os.path.join(directory, name)
                if os.path.isfile(path):
                    state.look(path, via)
            if state.full():
                break
    return state.result(requester, module, library)


def _directories(
    looker: ExtensionLooker, module: Extension, requester: str
) -> Iterator[tuple[str, str]]:
    """Where a library that defines the symbol may lie, in the loader's order; the system's
    directories last, and only while nothing outside them was found."""
    seen: set[str] = set()

    def new(directory: str) -> bool:
        normal = os.path.normpath(directory)
        if normal in seen:
            return False
        seen.add(normal)
        return True

    config = looker.loader.config
    for directory in config.ld_library_path:
        if new(directory):
            yield directory, "LD_LIBRARY_PATH"
    for path in dict.fromkeys((requester, module.file.path)):
        elf = looker.elf_cache.read(path)
        if not isinstance(elf, ELFFile):
            continue
        for via, raw in (("rpath", elf.rpath), ("runpath", elf.runpath)):
            for directory in expand_search_path(raw, path) if raw else ():
                if new(directory):
                    yield directory, via
    for _, res in module.links:
        if res.path and not res.system and new(os.path.dirname(res.path)):
            yield os.path.dirname(res.path), res.via
    prefix_lib = os.path.join(looker.target.prefix, "lib")
    if new(prefix_lib):
        yield prefix_lib, "environment"
    cache = looker.loader.ld_cache
    system = [os.path.dirname(e.path) for e in cache.entries] if cache is not None else []
    for directory in [*system, *config.default_dirs]:
        if new(directory):
            yield directory, "system"


def _libraries(directory: str) -> list[str]:
    """The shared libraries in ``directory`` (``*.so`` and ``*.so.N``), by name; at most
    :data:`MAX_DIRECTORY_ENTRIES` entries of a directory are listed (a hostile one may hold
    millions)."""
    names = []
    try:
        with os.scandir(directory) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_DIRECTORY_ENTRIES:
                    break
                if entry.name.endswith(".so") or ".so." in entry.name:
                    names.append(entry.name)
    except (OSError, ValueError):
        return []
    return [
        os.path.join(directory, n)
        for n in sorted(names)
        if os.path.isfile(os.path.join(directory, n))
    ]
