"""ext-undefined-symbol: a symbol ld.so could not find while an import loaded a module
(``why``), judged from where the look layer found it defined
(:class:`pkgdoctor.snapshot.model.SymbolSearch`, :mod:`pkgdoctor.look.symbols`).

A symbol version a loaded library lacks ("version `LIBFOO_2' not found", toolchain versions
aside: ext-glibc-too-new) is judged the same way, among the files of that library's name.

Three answers: a library of the same name as one the module loads defines it, but another
file of that name is found first ("an older libfoo is loaded first"); a library the module
does not link defines it ("linked without -lfoo"); nothing read defines it. When a library
of the lookup scope defines it the message has another cause, and this check says nothing.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from typing import Any

from pkgdoctor import codes
from pkgdoctor.checks.context import Context
from pkgdoctor.checks.extensions import _TOOLCHAIN_VERSION
from pkgdoctor.findings import Finding
from pkgdoctor.snapshot.model import Extension, Link, SymbolDefinition, SymbolSearch

EXT_UNDEFINED_SYMBOL = codes.EXT_UNDEFINED_SYMBOL

# The interpreter's own C API ("PyUnicode_AsUTF8", "_Py_Dealloc"): missing means a module
# built for another Python or build of it, which the ABI checks judge, not a library.
_PYTHON_API = re.compile(r"^_?Py")
# libNAME.so[.N...] -> -lNAME (the linker's -l rule, ld(1) "-l namespec").
_LIBRARY = re.compile(r"^lib(?P<name>.+?)\.so(?:\.|$)")


def findings(ctx: Context, modules: Sequence[Extension]) -> list[Finding]:
    """The findings for the undefined symbols looked up for these modules."""
    paths = {m.file.path: m for m in modules}
    found = []
    for search in ctx.snapshot.extensions.symbol_searches:
        module = paths.get(search.module)
        if module is not None:
            finding = _finding(ctx, search, module)
            if finding is not None:
                found.append(finding)
    return found


def _finding(ctx: Context, search: SymbolSearch, module: Extension) -> Finding | None:
    if search.symbol is None:
        # A toolchain version (GLIBC_2.38 from libc.so.6) is ext-glibc-too-new's.
        if search.version is None or _TOOLCHAIN_VERSION.match(search.version):
            return None
        wanted = f"symbol version {search.version}"
    elif _PYTHON_API.match(search.symbol):
        return None
    else:
        wanted = search.symbol + (f" (version {search.version})" if search.version else "")
    if any(d.via == "loaded" for d in search.defined_in):
        return None
    owner = ctx.owner(search.module)
    subject = str(owner) if owner is not None else module.file.module
    who = posixpath.basename(search.requester)
    evidence: dict[str, Any] = {}
    if search.symbol is not None:
        evidence["symbol"] = search.symbol
    if search.library:
        evidence["library"] = search.library
    if search.version:
        evidence["version"] = search.version
    evidence["requester"] = search.requester
    if len(search.defined_in) > 1:
        evidence["defined_in"] = [{"path": d.path, "via": d.via} for d in search.defined_in]
    evidence["libraries_read"] = search.libraries_read
    if not search.complete:
        evidence["search_complete"] = False
    dist = owner.name if owner is not None else None
    older = _older_first(search, module)
    if older is not None:
        link, newer = older
        res = link.resolution
        stem = _stem(res.name)
        evidence.update(loaded=res.path, loaded_via=res.via, defined_by=newer.path)
        command, explanation = _older_fix(ctx, link, newer, wanted)
        return EXT_UNDEFINED_SYMBOL.finding(
            f"{subject}: {who} needs {wanted} from {res.name}, but the {res.name} loaded "
            f"first, {res.path} ({_via(res.via)}), does not define it; {newer.path} "
            f"({_via(newer.via)}) does: an older {stem} is loaded first.",
            evidence=evidence,
            command=command,
            explanation=explanation,
            distribution=dist,
            path=search.requester,
        )
    if search.symbol is None:
        library = search.library or "the library it loads"
        name = posixpath.basename(library)
        return EXT_UNDEFINED_SYMBOL.finding(
            f"{subject}: {who} needs {wanted} from {name}, which {library} lacks, and no "
            f"other {name} on the library search path defines it.",
            distribution=dist,
            path=search.requester,
            evidence=evidence,
            explanation=(
                f"{who} was built against a newer {_stem(name)} than {library}: install a "
                f"release that defines {search.version} where the loader finds it, or "
                f"rebuild {owner.name if owner is not None else who} against this one."
            ),
        )
    if search.defined_in:
        first = search.defined_in[0]
        flag = _flag(first.path)
        evidence["defined_by"] = first.path
        rebuild = (
            f"{owner.name}'s build must add it (report it to its maintainers)"
            if owner is not None
            else "rebuild it"
        )
        return EXT_UNDEFINED_SYMBOL.finding(
            f"{subject}: {who} needs {wanted}, which no library it loads defines; "
            f"{first.path} ({_via(first.via)}) defines it, but {who} does not link it "
            f"(it is not in its DT_NEEDED closure): it was linked without {flag}.",
            evidence=evidence,
            explanation=(
                f"{who} must be linked with {flag} (-L{posixpath.dirname(first.path)} at "
                f"link time, and a RUNPATH or LD_LIBRARY_PATH that finds it at run time): "
                f"{rebuild}. Until then, starting Python with "
                f"LD_PRELOAD={shlex.quote(first.path)} loads the library first, so the "
                "symbol resolves."
            ),
            distribution=dist,
            path=search.requester,
        )
    limit = "" if search.complete else " (the search stopped at its limit)"
    return EXT_UNDEFINED_SYMBOL.finding(
        f"{subject}: {who} needs {wanted}, which no library defines: not those it loads, nor "
        f"any of the {search.libraries_read} libraries read from LD_LIBRARY_PATH, its RPATH "
        f"and RUNPATH, the environment and the system{limit}.",
        evidence=evidence,
        explanation=(
            f"{who} was built against a library (or a newer release of one) that is not "
            f"here: install the library that provides {search.symbol}, or rebuild "
            f"{owner.name if owner is not None else who} against the libraries of this system."
        ),
        distribution=dist,
        path=search.requester,
    )


def _older_first(search: SymbolSearch, module: Extension) -> tuple[Link, SymbolDefinition] | None:
    """A library the module loads under a name that a definer has too (its file name or
    soname), when the loaded file is another one: an older copy found first."""
    for link in module.links:
        res = link.resolution
        if res.path is None:
            continue
        for definition in search.defined_in:
            same_name = res.name in (posixpath.basename(definition.path), definition.soname)
            if same_name and definition.path != res.path:
                return link, definition
    return None


def _older_fix(
    ctx: Context, link: Link, newer: SymbolDefinition, wanted: str
) -> tuple[str | None, str]:
    """Only an older copy first on LD_LIBRARY_PATH, with the newer one found later in the
    same search, has a one-line fix: the variable without that directory."""
    res = link.resolution
    old_dir = posixpath.dirname(res.path or "")
    if res.via == "LD_LIBRARY_PATH" and newer.via in ("LD_LIBRARY_PATH", "runpath"):
        raw = ctx.target.environ.get("LD_LIBRARY_PATH", "")
        rest = [d for d in raw.split(":") if d and posixpath.normpath(d) != old_dir]
        command = (
            f"export LD_LIBRARY_PATH={shlex.quote(':'.join(rest))}"
            if rest
            else "unset LD_LIBRARY_PATH"
        )
        return command, (
            f"{old_dir} comes first on LD_LIBRARY_PATH and holds an older {res.name}: take it "
            f"off LD_LIBRARY_PATH (the command, for this shell) so that {newer.path} is loaded, "
            f"or replace the copy there with a release that defines {wanted}."
        )
    return None, (
        f"Make {newer.path} the {res.name} that is found ({res.path} comes first through "
        f"{_via(res.via)}): upgrade or remove the older copy, or put "
        f"{posixpath.dirname(newer.path)} earlier on the library search path."
    )


def _stem(name: str) -> str:
    """``libfoo.so.1`` -> ``libfoo``."""
    return name.split(".so", 1)[0]


def _flag(path: str) -> str:
    match = _LIBRARY.match(posixpath.basename(path))
    return f"-l{match['name']}" if match else posixpath.basename(path)


def _via(via: str) -> str:
    return {
        "rpath": "RPATH",
        "runpath": "RUNPATH",
        "environment": "the environment's lib/",
        "system": "a system directory",
        "ld.so.cache": "ld.so.cache",
        "default": "a default directory",
    }.get(via, via)
