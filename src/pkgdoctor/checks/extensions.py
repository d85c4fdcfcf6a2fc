"""Extension modules: will the interpreter load them, and will the dynamic loader link them?

Each file gets at most one *loadability* verdict, the first that applies, because each
later one is a consequence of the earlier: not ELF → another architecture → another libc →
a file name this interpreter does not look for. A file that the interpreter would load is
then linked like ld.so would: every ``DT_NEEDED`` resolved, every needed symbol version
(``GLIBC_2.34``, ``GLIBCXX_3.4.30``) looked up in the library that would be loaded.

Problems are grouped so that one root cause gives one finding per distribution, with the
files it affects in the evidence.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import field, replace
from typing import Any

from pkgdoctor import codes, numpy_abi
from pkgdoctor._fields import Fact, fact
from pkgdoctor.checks import gpu_libs
from pkgdoctor.checks.context import Context
from pkgdoctor.checks.import_loads import with_import_loads
from pkgdoctor.codes import Code
from pkgdoctor.elf import ELFFile
from pkgdoctor.extmodules import MAX_DEPTH, TOO_DEEP, UNREADABLE, ExtensionFile
from pkgdoctor.findings import Finding, Fix, Severity
from pkgdoctor.library_wheels import WHEEL_LIBRARY_DIR, distribution_for
from pkgdoctor.optional_imports import ModuleImports
from pkgdoctor.platforms import elf_libc, triplet_architecture
from pkgdoctor.snapshot.model import Distribution, Extension, Resolution, link_gaps

AREA = "Extension modules"

# This family's finding codes, defined in pkgdoctor.codes.
EXT_INVALID_ELF = codes.EXT_INVALID_ELF
EXT_WRONG_ARCH = codes.EXT_WRONG_ARCH
EXT_LIBC_MISMATCH = codes.EXT_LIBC_MISMATCH
EXT_ABI_MISMATCH = codes.EXT_ABI_MISMATCH
EXT_SUFFIX_MISMATCH = codes.EXT_SUFFIX_MISMATCH
NO_TRIPLET = codes.INTERPRETER_NO_TRIPLET
EXT_GLIBC_TOO_NEW = codes.EXT_GLIBC_TOO_NEW
EXT_MISSING_LIBRARY = codes.EXT_MISSING_LIBRARY
EXT_NUMPY_ABI = codes.EXT_NUMPY_ABI
PATH_UNREADABLE = codes.PATH_UNREADABLE
PATH_TOO_DEEP = codes.PATH_TOO_DEEP

# Symbol versions of the C/C++ toolchain runtime: glibc, libstdc++ and libgcc_s.
_TOOLCHAIN_VERSION = re.compile(r"^(GLIBC|GLIBCXX|CXXABI|GCC)_(\d+(?:\.\d+)*)$")
_MAX_FILES_IN_EVIDENCE = 20


@fact
class Problem(Fact):
    """One file's problem, before problems are grouped into findings."""

    code: str
    file: ExtensionFile
    key: tuple[str, ...] = ()  # what must be equal for two files to share a finding
    detail: dict[str, Any] = field(default_factory=dict)
    # Set when the distribution imports the module only where ImportError is caught.
    optional: ModuleImports | None = None


def check(ctx: Context) -> list[Finding]:
    """Every extension module on the target's ``sys.path`` (stdlib only if asked)."""
    facts = ctx.snapshot.extensions
    ctx.examined[AREA] = len(facts.modules)
    findings = analyse(ctx, facts.modules)
    findings += [
        PATH_UNREADABLE.finding(
            f"{p.path} cannot be read ({p.reason}); modules in it cannot be imported or checked.",
            path=p.path,
            evidence={"reason": p.reason},
            command=f"chmod a+rx {_quote(p.path)}",
            explanation="Make it readable for the user who runs Python.",
        )
        for p in facts.scan_problems
        if p.kind == UNREADABLE
    ]
    too_deep = [p.path for p in facts.scan_problems if p.kind == TOO_DEEP]
    if too_deep:
        findings.append(_too_deep(too_deep))
    return findings


def _too_deep(paths: list[str]) -> Finding:
    """One finding for every directory the walk did not enter because of its depth."""
    count = len(paths)
    if count == 1:
        message = (
            f"{paths[0]} lies {MAX_DEPTH} levels below its sys.path entry, deeper than "
            "pkgdoctor looks: nothing in it was searched for extension modules."
        )
    else:
        message = (
            f"{count} directories lie {MAX_DEPTH} levels below their sys.path entry, deeper "
            f"than pkgdoctor looks: nothing in them was searched for extension modules "
            f"({paths[0]} …)."
        )
    return PATH_TOO_DEEP.finding(
        message,
        path=paths[0],
        # The first is the finding's path; the others, when there are, as evidence.
        evidence={
            "max_depth": MAX_DEPTH,
            "directory_count": count,
            **({"directories": paths[:_MAX_FILES_IN_EVIDENCE]} if count > 1 else {}),
        },
        explanation="No real package nests this deep: find what created the tree, and remove it "
        "if nothing needs it.",
    )


def analyse(ctx: Context, modules: Iterable[Extension]) -> list[Finding]:
    """Findings for exactly these extension modules."""
    problems: list[Problem] = []
    for module in modules:
        problems += file_problems(ctx, module)
    return _group(ctx, problems)


# --- one file --------------------------------------------------------------------------------


def file_problems(ctx: Context, module: Extension) -> list[Problem]:
    """The problems of one extension module file (empty when it would load fine)."""
    interp = ctx.target.interpreter
    ext = module.file
    elf = ctx.snapshot.extensions.elf.get(ext.path, "not looked at")
    if isinstance(elf, str):
        return [Problem(EXT_INVALID_ELF.code, ext, (), {"reason": elf})]

    binary = interp.binary
    if binary is not None and (elf.machine, elf.elf_class, elf.little_endian) != (
        binary.machine,
        binary.elf_class,
        binary.little_endian,
    ):
        detail = {
            "architecture": elf.architecture,
            "elf_machine": elf.machine,
            "elf_class": elf.elf_class,
        }
        return [Problem(EXT_WRONG_ARCH.code, ext, (elf.architecture,), detail)]

    file_libc, libc_evidence = _file_libc(ext, elf)
    if interp.libc is not None and file_libc is not None and file_libc != interp.libc.family:
        return [Problem(EXT_LIBC_MISMATCH.code, ext, (file_libc,), libc_evidence)]

    suffixes = interp.extension_suffixes
    if suffixes:
        suffix = _suffix_of(ext)
        if suffix not in suffixes:
            if _has_working_alternative(module, suffixes):
                return []
            return [_suffix_problem(ctx, ext, elf)]
        if not _is_chosen(module, suffix, suffixes):
            return []
    return _link_problems(ctx, module) + _numpy_problems(ctx, module)


def _numpy_problems(ctx: Context, module: Extension) -> list[Problem]:
    """ext-numpy-abi: compiled against NumPy 1.x headers (read from the file, see
    :mod:`pkgdoctor.numpy_abi`) while the numpy installed is 2.x."""
    if module.numpy_headers != 1:
        return []
    numpy = ctx.inventory.get("numpy")
    if numpy is None or (numpy_abi.major(numpy.version) or 0) < 2:
        return []
    return [Problem(EXT_NUMPY_ABI.code, module.file, (), {"numpy_headers": "1.x"})]


def _suffix_of(ext: ExtensionFile) -> str:
    return "." + ext.tag.tag + ".so" if ext.tag.tag else ".so"


def _file_libc(ext: ExtensionFile, elf: ELFFile) -> tuple[str | None, dict[str, Any]]:
    """Which libc a file is built for, and the evidence: DT_NEEDED, PT_INTERP or triplet."""
    found = elf_libc(elf, ext.tag.triplet, ext.tag.version)
    if found is None:
        return None, {}
    return found.family, {"libc": found.family, found.source: found.value}


def _has_working_alternative(module: Extension, suffixes: Sequence[str]) -> bool:
    """Whether the module this file would provide is provided anyway by a sibling.

    Debian ships ``mod.cpython-311-*.so`` beside ``mod.cpython-312-*.so``; a pure-Python
    fallback ``mod.py`` or a package directory ``mod/`` also makes a stray file harmless.
    """
    ext = module.file
    stem = ext.filename.partition(".")[0]
    for sibling in ext.siblings:
        if sibling == stem + ".py":
            return True
        if sibling == stem and stem in module.package_siblings:
            return True
        if any(sibling == stem + s for s in suffixes):
            return True
    return False


def _is_chosen(module: Extension, suffix: str, suffixes: Sequence[str]) -> bool:
    """Whether importlib's FileFinder would pick this file for its module.

    FileFinder prefers a package directory, then tries the extension suffixes in order.
    """
    ext = module.file
    stem = ext.filename.partition(".")[0]
    if stem in module.package_siblings:
        return False
    rank = suffixes.index(suffix)
    return not any(stem + s in ext.siblings for s in suffixes[:rank])


def _interpreter_abi(ctx: Context) -> tuple[str, tuple[int, int], str]:
    interp = ctx.target.interpreter
    flags = ""
    soabi = interp.soabi or ""
    match = re.match(r"^cpython-\d\d+([a-z]*)", soabi)
    if match:
        flags = match[1]
    return interp.implementation, (interp.version[0], interp.version[1]), flags


def _suffix_problem(ctx: Context, ext: ExtensionFile, elf: ELFFile) -> Problem:
    interp = ctx.target.interpreter
    tag = ext.tag
    detail: dict[str, Any] = {"suffix": _suffix_of(ext)}
    if tag.stable_abi and interp.gil_disabled:
        detail["reason"] = "the stable ABI (abi3) cannot be loaded by a free-threaded interpreter"
        return Problem(EXT_ABI_MISMATCH.code, ext, ("abi3",), detail)
    if tag.implementation is not None and tag.version is not None:
        if (tag.implementation, tag.version, tag.flags) == _interpreter_abi(ctx):
            triplet = tag.triplet
            if (
                triplet
                and interp.multiarch is None
                and triplet_architecture(triplet) == elf.architecture
            ):
                detail["triplet"] = triplet
                return Problem(NO_TRIPLET.code, ext, (triplet,), detail)
            detail["triplet"] = triplet
            return Problem(EXT_SUFFIX_MISMATCH.code, ext, (tag.tag,), detail)
        detail["built_for"] = tag.python
        return Problem(EXT_ABI_MISMATCH.code, ext, (tag.python or tag.tag,), detail)
    return Problem(EXT_SUFFIX_MISMATCH.code, ext, (tag.tag,), detail)


def _link_problems(ctx: Context, module: Extension) -> list[Problem]:
    """What the loader model resolved for ``module``'s libraries, transitively through the
    libraries the environment brings (see :mod:`pkgdoctor.look.extensions`), judged: a
    library not found, a toolchain symbol version the resolved library does not define.
    A name that the package's own import has already loaded (torch's libc10.so for
    torchvision) is found there (:mod:`pkgdoctor.checks.import_loads`)."""
    before = module
    module = with_import_loads(ctx, module)
    loaded_by = _loaded_by(ctx, before, module)
    missing, gaps = link_gaps(module, ctx.snapshot.extensions.elf)
    # An NVIDIA driver's own library on a machine without a driver: gpu-no-driver says it.
    missing = [link for link in missing if not gpu_libs.excused(ctx, link.resolution.name)]
    versions: list[dict[str, Any]] = []
    for gap in gaps:
        lacking = [v for v in gap.lacking if _TOOLCHAIN_VERSION.match(v)]
        if lacking:
            versions.append(
                {
                    "file": gap.requester,
                    "library": gap.resolution.name,
                    "library_path": gap.resolution.path,
                    "via": gap.resolution.via,
                    "lacking": lacking,
                    "provides_up_to": _highest_versions(gap.defined, lacking),
                }
            )
    ext = module.file
    problems = [
        Problem(EXT_INVALID_ELF.code, ext, (path,), {"library": library})
        for path, library in _damaged_libraries(ctx, module).items()
    ]
    if missing:
        details = [_missing_detail(link.requester, link.resolution) for link in missing]
        detail: dict[str, Any] = {"missing": details}
        if loaded_by:
            detail["loaded_by"] = loaded_by
        problems.append(Problem(EXT_MISSING_LIBRARY.code, ext, (), detail))
    if versions:
        problems.append(Problem(EXT_GLIBC_TOO_NEW.code, ext, (), {"needs": versions}))
    return problems


def _loaded_by(ctx: Context, before: Extension, after: Extension) -> dict[str, list[str]]:
    """The distributions whose import loads libraries ``after`` links to that the loader
    model did not find for ``before`` (:func:`with_import_loads`) → those names."""
    found: dict[str, list[str]] = {}
    for old, new in zip(before.links, after.links, strict=True):
        if old is not new and new.resolution.path is not None:
            owner = ctx.owner(new.resolution.path)
            names = found.setdefault(owner.name if owner else new.resolution.path, [])
            if new.resolution.name not in names:
                names.append(new.resolution.name)
    return found


def _damaged_libraries(ctx: Context, module: Extension) -> dict[str, dict[str, Any]]:
    """The libraries the loader would take for ``module`` that are not loadable ELF files
    (truncated, corrupt): the lookup ends at such a file and dlopen fails or crashes."""
    elf = ctx.snapshot.extensions.elf
    found: dict[str, dict[str, Any]] = {}
    for requester, res in module.links:
        reason = elf.get(res.path) if res.path is not None else None
        if res.path is not None and isinstance(reason, str) and res.path not in found:
            found[res.path] = {
                "name": res.name,
                "path": res.path,
                "needed_by": requester,
                "reason": reason,
            }
    return found


def _missing_detail(requester: str, res: Resolution) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "library": res.name,
        "needed_by": requester,
        "searched": list(res.searched),
        "absent": list(res.absent),
    }
    if res.skipped:
        detail["skipped"] = [{"path": c.path, "reason": c.reason} for c in res.skipped]
    return detail


def _version_key(text: str) -> tuple[int, ...]:
    match = _TOOLCHAIN_VERSION.match(text)
    return tuple(int(x) for x in match[2].split(".")) if match else ()


def _highest_versions(defined: Iterable[str], lacking: Iterable[str]) -> list[str]:
    """For each version family in ``lacking``, the highest one the library does define."""
    families = {_TOOLCHAIN_VERSION.match(v)[1] for v in lacking if _TOOLCHAIN_VERSION.match(v)}  # type: ignore[index]
    best: dict[str, str] = {}
    for version in defined:
        match = _TOOLCHAIN_VERSION.match(version)
        if match and match[1] in families:
            current = best.get(match[1])
            if current is None or _version_key(version) > _version_key(current):
                best[match[1]] = version
    return sorted(best.values())


# --- grouping into findings -----------------------------------------------------------------


# Problems that cost only the module itself: when its distribution imports it only under
# ``except ImportError``, the package works without it (numba without TBB).
_OPTIONAL_CODES = (EXT_MISSING_LIBRARY.code, EXT_GLIBC_TOO_NEW.code)


def _group(ctx: Context, problems: list[Problem]) -> list[Finding]:
    groups: dict[tuple[Any, ...], list[Problem]] = {}
    owners: dict[str, Distribution | None] = {}
    importers = {m.file.path: m.importers for m in ctx.snapshot.extensions.modules}
    for problem in problems:
        path = problem.file.path
        if path not in owners:
            owners[path] = ctx.owner(path)
        dist = owners[path]
        guarded = importers.get(path)
        if (
            problem.code in _OPTIONAL_CODES
            and dist is not None
            and guarded is not None
            and guarded.optional
            and not _damaged(ctx, problem, dist)
        ):
            # One finding per optional module: each is its own feature.
            problem = replace(problem, key=(*problem.key, guarded.module), optional=guarded)
        if problem.code == NO_TRIPLET.code:
            owner_key: str = "*"  # one root cause for the whole interpreter
        elif dist is not None:
            owner_key = dist.key
        else:
            owner_key = posixpath.join(problem.file.root, problem.file.module.split(".")[0])
        groups.setdefault((problem.code, owner_key, *problem.key), []).append(problem)
    findings = []
    for members in groups.values():
        dist = owners[members[0].file.path]
        findings.append(_BUILDERS[members[0].code](ctx, members, dist, owners))
    return findings


def _quote(path: str) -> str:
    return shlex.quote(path)


def _subject(members: Sequence[Problem], dist: Distribution | None) -> str:
    """ "numpy" or "the package at /path/to/pkg" for a message."""
    if dist is not None:
        return dist.name
    first = members[0].file
    return f"{first.module.split('.')[0]} (not installed by any distribution)"


def _files(members: Sequence[Problem], shared: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Per-file evidence records, without the fields the finding states once (``shared``)."""
    omit = set(shared)
    return [
        {"path": m.file.path, **{k: v for k, v in m.detail.items() if k not in omit}}
        for m in members[:_MAX_FILES_IN_EVIDENCE]
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _base_evidence(members: Sequence[Problem], shared: Iterable[str] = ()) -> dict[str, Any]:
    evidence: dict[str, Any] = {"file_count": len(members), "files": _files(members, shared)}
    if len(members) > _MAX_FILES_IN_EVIDENCE:
        evidence["files_omitted"] = len(members) - _MAX_FILES_IN_EVIDENCE
    return evidence


def _common_path(members: Sequence[Problem], dist: Distribution | None) -> str:
    if len(members) == 1:
        return members[0].file.path
    return posixpath.commonpath([m.file.directory for m in members])


def _fix_reinstall(
    ctx: Context, dist: Distribution | None, members: Sequence[Problem], why: str = ""
) -> Fix:
    """Reinstall the owner (``why`` says what that achieves), or, with no owner, say so."""
    if dist is not None:
        return Fix(ctx.pip_reinstall(dist), f"Reinstall {dist.name}{why}." if why else None)
    where = _quote(_common_path(members, dist))
    return Fix(None, f"Remove or rebuild {where}; no distribution owns it.")


def _wrong_arch(ctx: Context, members: list[Problem], dist: Distribution | None, _: Any) -> Finding:
    interp = ctx.target.interpreter
    arch = members[0].detail["architecture"]
    # Each record keeps its architecture: the text says it in words, not as e_machine.
    evidence = _base_evidence(members)
    evidence.update(
        file_architecture=arch,
        interpreter_architecture=interp.architecture,
        interpreter=interp.real_executable,
    )
    return EXT_WRONG_ARCH.finding(
        f"{_count(len(members), 'extension module')} of {_subject(members, dist)} "
        f"{'is' if len(members) == 1 else 'are'} built for {arch}, "
        f"but the interpreter is {interp.architecture}.",
        distribution=dist.name if dist else None,
        path=_common_path(members, dist),
        evidence=evidence,
        fix=_fix_reinstall(
            ctx,
            dist,
            members,
            ": this picks the wheel for this machine (an environment copied from another "
            "machine must be recreated here)",
        ),
    )


def _libc_mismatch(
    ctx: Context, members: list[Problem], dist: Distribution | None, _: Any
) -> Finding:
    interp = ctx.target.interpreter
    file_libc = members[0].key[0]
    evidence = _base_evidence(members, shared=("libc",))
    evidence.update(file_libc=file_libc, interpreter_libc=str(interp.libc))
    return EXT_LIBC_MISMATCH.finding(
        f"{_count(len(members), 'extension module')} of {_subject(members, dist)} "
        f"{'is' if len(members) == 1 else 'are'} built for {file_libc}, "
        f"but the interpreter uses {interp.libc}.",
        distribution=dist.name if dist else None,
        path=_common_path(members, dist),
        evidence=evidence,
        fix=_fix_reinstall(
            ctx,
            dist,
            members,
            ": pip then picks a manylinux wheel for glibc or a musllinux wheel for musl",
        ),
    )


def _abi_mismatch(
    ctx: Context, members: list[Problem], dist: Distribution | None, _: Any
) -> Finding:
    interp = ctx.target.interpreter
    built_for = members[0].key[0]
    evidence = _base_evidence(members, shared=("built_for",))
    evidence.update(
        built_for=built_for,
        interpreter_soabi=interp.soabi,
        extension_suffixes=list(interp.extension_suffixes),
    )
    what = "the stable ABI (abi3)" if built_for == "abi3" else built_for
    return EXT_ABI_MISMATCH.finding(
        f"{_count(len(members), 'extension module')} of {_subject(members, dist)} "
        f"{'is' if len(members) == 1 else 'are'} built for {what}, but the interpreter is "
        f"{_python_name(ctx)} and only loads {', '.join(interp.extension_suffixes)}.",
        distribution=dist.name if dist else None,
        path=_common_path(members, dist),
        evidence=evidence,
        fix=_fix_reinstall(
            ctx,
            dist,
            members,
            " for this interpreter, and keep one environment per interpreter (a site-packages "
            "shared between Python versions, or a venv copied from another Python, causes "
            "this)",
        ),
    )


def _python_name(ctx: Context) -> str:
    interp = ctx.target.interpreter
    name = {"cpython": "CPython", "pypy": "PyPy"}.get(interp.implementation, interp.implementation)
    flags = "t" if interp.gil_disabled else ""
    return f"{name} {interp.short_version}{flags}"


def _suffix_mismatch(
    ctx: Context, members: list[Problem], dist: Distribution | None, _: Any
) -> Finding:
    interp = ctx.target.interpreter
    evidence = _base_evidence(members)
    evidence.update(
        suffix=members[0].detail["suffix"],
        ext_suffix=interp.ext_suffix,
        extension_suffixes=list(interp.extension_suffixes),
    )
    return EXT_SUFFIX_MISMATCH.finding(
        f"{_count(len(members), 'extension module')} of {_subject(members, dist)} end"
        f"{'s' if len(members) == 1 else ''} in {members[0].detail['suffix']}, which this "
        f"interpreter does not look for (it loads {', '.join(interp.extension_suffixes)}).",
        distribution=dist.name if dist else None,
        path=_common_path(members, dist),
        evidence=evidence,
        fix=_fix_reinstall(ctx, dist, members),
    )


def _no_triplet(
    ctx: Context,
    members: list[Problem],
    _: Distribution | None,
    owners: dict[str, Distribution | None],
) -> Finding:
    interp = ctx.target.interpreter
    triplet = members[0].key[0]
    per_dist: dict[str, int] = {}
    for m in members:
        owner = owners.get(m.file.path)
        name = owner.name if owner else m.file.module.split(".")[0]
        per_dist[name] = per_dist.get(name, 0) + 1
    evidence = _base_evidence(members, shared=("suffix", "triplet"))
    evidence.update(
        ext_suffix=interp.ext_suffix,
        soabi=interp.soabi,
        multiarch=interp.multiarch,
        expected_triplet=triplet,
        interpreter_architecture=interp.architecture,
        distributions=per_dist,
    )
    example = members[0].file
    wanted = example.filename.partition(".")[0] + (interp.ext_suffix or ".so")
    rebuild = ctx.pip("install --no-binary :all: --force-reinstall " + " ".join(sorted(per_dist)))
    return NO_TRIPLET.finding(
        f"This {_python_name(ctx)} was built without a platform triplet (EXT_SUFFIX "
        f"{interp.ext_suffix}), so it ignores {_count(len(members), 'extension module')} "
        f"named for {triplet} in {_count(len(per_dist), 'distribution')}.",
        path=interp.executable,
        evidence=evidence,
        command=rebuild,
        explanation=(
            f"Build the packages with this interpreter (the command), or use an interpreter "
            f"that knows the {triplet} triplet (CPython 3.12+ for loongarch64, or your "
            f"distribution's patched build). Workaround, per file: ln -s "
            f"{_quote(example.filename)} {_quote(posixpath.join(example.directory, wanted))}"
        ),
    )


def _glibc_too_new(
    ctx: Context, members: list[Problem], dist: Distribution | None, _: Any
) -> Finding:
    needs = [need for m in members for need in m.detail["needs"]]
    lacking: dict[str, set[str]] = {}
    libraries: dict[str, dict[str, Any]] = {}
    for need in needs:
        lacking.setdefault(need["library"], set()).update(need["lacking"])
        libraries[need["library"]] = {
            "path": need["library_path"],
            "via": need["via"],
            "provides_up_to": need["provides_up_to"],
        }
    evidence = _base_evidence(members)
    evidence["files"] = [
        {"path": n["file"], "library": n["library"], "lacking": n["lacking"]}
        for n in needs[:_MAX_FILES_IN_EVIDENCE]
    ]
    evidence["lacking"] = {lib: sorted(v, key=_version_key) for lib, v in lacking.items()}
    evidence["libraries"] = libraries
    libc = ctx.target.interpreter.libc
    if libc and libc.version:
        evidence["system_glibc"] = libc.version
    parts = []
    for lib, versions in sorted(lacking.items()):
        top = max(versions, key=_version_key)
        have = ", ".join(libraries[lib]["provides_up_to"]) or "no such version"
        parts.append(f"{top} from {lib} ({libraries[lib]['path']} has up to {have})")
    ld_path = [lib for lib, info in libraries.items() if info["via"] == "LD_LIBRARY_PATH"]
    if ld_path:
        fix = Fix(
            None,
            f"{', '.join(ld_path)} comes from LD_LIBRARY_PATH and is older than what "
            f"{_subject(members, dist)} needs: remove that directory from LD_LIBRARY_PATH.",
        )
    elif any(lib.startswith(("libstdc++", "libgcc")) for lib in lacking) and not any(
        lib.startswith(("libc.", "libm.")) for lib in lacking
    ):
        fix = _fix_reinstall(ctx, dist, members, " to get a build for this system")
        fix = Fix(
            fix.command,
            "Make a newer libstdc++ the one that is loaded (conda: conda install -c "
            "conda-forge libstdcxx-ng; system: upgrade the gcc runtime), or "
            + (fix.explanation or "")[0].lower()
            + (fix.explanation or "")[1:],
        )
    else:
        fix = _fix_reinstall(
            ctx,
            dist,
            members,
            " so that pip picks a wheel for this system's glibc; if pip keeps choosing the "
            "same file, its manylinux tag is wrong: use an older release or a conda-forge "
            "build. Never replace the system glibc",
        )
    optional = members[0].optional
    if optional is not None and dist is not None:
        return _optional_finding(
            ctx,
            EXT_GLIBC_TOO_NEW,
            members,
            dist,
            optional,
            reason=f"it needs {'; '.join(parts)}",
            evidence=evidence,
            fix=Fix(fix.command, f"To use it: {_lower_first(fix.explanation or '')}"),
        )
    return EXT_GLIBC_TOO_NEW.finding(
        f"{_subject(members, dist)} needs {'; '.join(parts)}.",
        distribution=dist.name if dist else None,
        path=_common_path(members, dist),
        evidence=evidence,
        fix=fix,
    )


def _missing_library(
    ctx: Context, members: list[Problem], dist: Distribution | None, _: Any
) -> Finding:
    missing = [m for p in members for m in p.detail["missing"]]
    names = sorted({m["library"] for m in missing})
    evidence: dict[str, Any] = {"file_count": len(members)}  # "needed_by" names the files
    per_lib: dict[str, dict[str, Any]] = {}
    for m in missing:
        entry = per_lib.setdefault(m["library"], {"needed_by": [], "searched": m["searched"]})
        if m["needed_by"] not in entry["needed_by"]:
            entry["needed_by"].append(m["needed_by"])
        if "skipped" in m:
            entry["skipped"] = m["skipped"]
    recorded = _recorded_but_missing(ctx, dist, names)
    for name, where in recorded.items():
        per_lib[name]["recorded_in_record_as"] = where
    evidence["missing"] = per_lib
    # A library looked for in a directory of the environment that is gone (RUNPATH
    # "$ORIGIN/../numpy.libs") was bundled with the distribution, not expected from the system.
    bundled = bool(recorded) or _bundled_dir_gone(members[0].file.root, missing)
    skipped = [c for info in per_lib.values() for c in info.get("skipped", [])]
    message = f"{_subject(members, dist)} needs {', '.join(names)}, which the loader will not find"
    if skipped:
        message += f" ({skipped[0]['path']} is there but {skipped[0]['reason']})"
    # Some packages load a dependency themselves, by full path, before importing the module
    # that needs it (torch preloads the nvidia-* wheels' libraries when RUNPATH fails). With a
    # copy in the environment the import may work: a warning, settled by `pkgdoctor why`.
    elsewhere = _installed_elsewhere(ctx, members[0].file.root, names)
    for name, where in elsewhere.items():
        per_lib[name]["installed_at"] = where
    optional = members[0].optional
    if optional is not None and dist is not None:
        reason = f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} missing"
        if set(elsewhere) == set(names):
            reason = (
                f"the loader does not look where {', '.join(names)} "
                f"{'is' if len(names) == 1 else 'are'} installed"
            )
        return _optional_finding(
            ctx,
            EXT_MISSING_LIBRARY,
            members,
            dist,
            optional,
            reason=reason,
            evidence=evidence,
            fix=_optional_library_fix(ctx, members, per_lib, elsewhere),
        )
    severity = Severity.WARNING if set(elsewhere) == set(names) else Severity.ERROR
    loaded_by: dict[str, list[str]] = {}
    for problem in members:
        for owner, loaded in problem.detail.get("loaded_by", {}).items():
            loaded_by.setdefault(owner, [])
            loaded_by[owner] += [n for n in loaded if n not in loaded_by[owner]]
    if loaded_by:
        evidence["loaded_by_import_of"] = loaded_by
    if severity is Severity.ERROR and loaded_by and dist is not None:
        # torchvision (a CUDA build) beside a CPU torch: torch's import loads libc10.so ...
        # but no libc10_cuda.so. The library belongs to the build of the distribution it
        # was compiled against, not to the system.
        providers = ", ".join(
            f"{p} {v.version}" if (v := ctx.inventory.get(p)) is not None and v.version else p
            for p in sorted(loaded_by)
        )
        plain = ", ".join(sorted(loaded_by))
        others = ", ".join(sorted({n for v in loaded_by.values() for n in v}))
        fix = Fix(
            None,
            f"{dist.name} was compiled against a build of {plain} that has {', '.join(names)}; "
            f"the installed {providers} has not (its import loads the others {dist.name} "
            f"needs: {others}). Install the {plain} build {dist.name} {dist.version} was "
            f"built for (its Requires-Dist and local version say which), or a {dist.name} "
            f"built for {providers}.",
        )
        message += f"; {providers} does not provide {'it' if len(names) == 1 else 'them'}"
    elif severity is Severity.WARNING:
        module = members[0].file.module.split(".")[0]
        fix = Fix(
            None,
            f"If `pkgdoctor why {module}` shows the import works, the package loads "
            f"{', '.join(names)} itself; "
            f"otherwise add {posixpath.dirname(elsewhere[names[0]])} to LD_LIBRARY_PATH or "
            "reinstall the package that provides it.",
        )
        message += " on its search path; a copy is installed in this environment"
    elif bundled and dist is not None:
        fix = _fix_reinstall(
            ctx,
            dist,
            members,
            ": the library it bundles is missing (a deleted *.libs directory or an "
            "interrupted install)",
        )
    else:
        first = names[0]
        fix = Fix(
            None,
            f"Install the system package that provides {first} (Debian/Ubuntu: apt-file "
            f"search {first}; Fedora/RHEL: dnf provides '*/{first}'; Alpine: apk search "
            f"so:{first}), or add its directory to LD_LIBRARY_PATH.",
        )
    return EXT_MISSING_LIBRARY.finding(
        message + ".",
        distribution=dist.name if dist else None,
        path=_common_path(members, dist),
        evidence=evidence,
        fix=fix,
        severity=severity,
    )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _optional_finding(
    ctx: Context,
    check: Code,
    members: list[Problem],
    dist: Distribution,
    optional: ModuleImports,
    *,
    reason: str,
    evidence: dict[str, Any],
    fix: Fix,
) -> Finding:
    """An info: the module cannot load, but its distribution imports it only where an
    ImportError is caught, so only the feature it provides is unavailable."""
    module = optional.module
    # Cite the importer nearest the module (numba/np/ufunc/parallel.py for
    # numba/np/ufunc/tbbpool), the package's own code before its test suite.
    here = members[0].file.directory
    sites = sorted(
        optional.sites,
        key=lambda s: (
            "/tests/" in s.path or "/test_" in s.path,
            -len(posixpath.commonpath([s.path, here])),
        ),
    )
    first = sites[0]
    where = f"{posixpath.relpath(first.path, dist.site_dir)}:{first.line}"
    handler = f"try/except {first.guard}" if first.guard else "try/except"
    evidence = {
        **evidence,
        "optional_module": module,
        "guarded_imports": [
            {**s.as_dict(), "file": posixpath.relpath(s.path, dist.site_dir)}
            for s in sites[:_MAX_FILES_IN_EVIDENCE]
        ],
    }
    return check.finding(
        f"{module} is optional ({dist.name} imports it inside {handler} in {where}); it "
        f"cannot load because {reason}, so that feature is unavailable.",
        distribution=dist.name,
        path=_common_path(members, dist),
        evidence=evidence,
        command=fix.command,
        explanation=f"{fix.explanation} Nothing needs fixing if you do not use it: {dist.name} "
        "works without it.",
        severity=Severity.INFO,
    )


def _optional_library_fix(
    ctx: Context,
    members: Sequence[Problem],
    per_lib: dict[str, dict[str, Any]],
    elsewhere: dict[str, str],
) -> Fix:
    """How to get the libraries an optional module lacks: the PyPI wheel that ships them
    when one is known and pip may install here, else the system's package."""
    names = sorted(per_lib)
    module = members[0].file.module
    if set(elsewhere) == set(names):
        directories = sorted({posixpath.dirname(elsewhere[n]) for n in names})
        return Fix(
            None,
            f"To use it, start Python with LD_LIBRARY_PATH={':'.join(directories)} "
            f"({', '.join(names)} {'is' if len(names) == 1 else 'are'} installed there, "
            f"but nothing tells the loader to look there for {module}).",
        )
    wheels = {n: distribution_for(n) for n in names}
    if all(wheels.values()) and ctx.snapshot.paths.externally_managed is None:
        packages = sorted({d for d in wheels.values() if d})
        command = ctx.pip("install " + " ".join(packages))
        explanation = f"To use it, install {', '.join(packages)}"
        lib_dir = posixpath.join(ctx.target.prefix, WHEEL_LIBRARY_DIR)
        searched = {posixpath.normpath(d) for info in per_lib.values() for d in info["searched"]}
        if posixpath.normpath(lib_dir) not in searched:
            # The wheels install into <prefix>/lib, which this module's search path lacks.
            explanation += (
                f", then start Python with LD_LIBRARY_PATH={lib_dir} (the wheel puts "
                f"{', '.join(names)} there, where the loader does not look for {module})"
            )
        return Fix(command, explanation + ".")
    first = names[0]
    return Fix(
        None,
        f"To use it, install the system package that provides {first} (Debian/Ubuntu: "
        f"apt-file search {first}; Fedora/RHEL: dnf provides '*/{first}'; Alpine: apk search "
        f"so:{first}), or add its directory to LD_LIBRARY_PATH.",
    )


def _bundled_dir_gone(root: str, missing: Iterable[dict[str, Any]]) -> bool:
    """Whether a library was looked for in a directory of the environment that is gone
    (RUNPATH "$ORIGIN/../numpy.libs"): it was bundled with the distribution, not expected
    from the system."""
    top = posixpath.normpath(root)
    return any(posixpath.normpath(d).startswith(top + "/") for m in missing for d in m["absent"])


def _damaged(ctx: Context, problem: Problem, dist: Distribution) -> bool:
    """Whether the distribution lost a library it bundled: an incomplete install is an error
    even for an optional module (numpy's test-only lapack_lite without numpy.libs)."""
    if problem.code != EXT_MISSING_LIBRARY.code:
        return False
    missing = problem.detail["missing"]
    names = sorted({m["library"] for m in missing})
    return bool(_recorded_but_missing(ctx, dist, names)) or _bundled_dir_gone(
        problem.file.root, missing
    )


def _installed_elsewhere(ctx: Context, root: str, names: Sequence[str]) -> dict[str, str]:
    """Libraries with these names that some installed distribution did install."""
    found: dict[str, str] = {}
    for path, owner in ctx.inventory.owners.items():
        name = posixpath.basename(path)
        if name in names and name not in found and path not in owner.missing_paths:
            found[name] = path
    return found


def _recorded_but_missing(
    ctx: Context, dist: Distribution | None, names: Sequence[str]
) -> dict[str, str]:
    """Libraries listed in the distribution's RECORD that are no longer on disk."""
    if dist is None:
        return {}
    found = {}
    for entry, path in dist.files():
        name = posixpath.basename(path)
        if name in names and path in dist.missing_paths:
            found[name] = entry.path
    return found


def _invalid_elf(
    ctx: Context, members: list[Problem], dist: Distribution | None, _: Any
) -> Finding:
    first = members[0]
    if "library" in first.detail:
        return _invalid_library(ctx, members, dist)
    evidence = _base_evidence(members)
    return EXT_INVALID_ELF.finding(
        f"{_count(len(members), 'extension module')} of {_subject(members, dist)} cannot be "
        f"loaded: {first.file.filename}: {first.detail['reason']}.",
        distribution=dist.name if dist else None,
        path=_common_path(members, dist),
        evidence=evidence,
        fix=_fix_reinstall(ctx, dist, members),
    )


def _invalid_library(ctx: Context, members: list[Problem], dist: Distribution | None) -> Finding:
    """Modules that load a damaged library: one finding per library (the root cause)."""
    library = members[0].detail["library"]
    evidence = _base_evidence(members, shared=("library",))
    evidence["library"] = library
    owner = ctx.owner(library["path"])
    if owner is not None:
        fix = Fix(ctx.pip_reinstall(owner), f"Reinstall {owner.name}, which installed it.")
    else:
        fix = Fix(
            None,
            f"Restore {_quote(library['path'])} (reinstall whatever installed it); no "
            "distribution owns it.",
        )
    return EXT_INVALID_ELF.finding(
        f"{_count(len(members), 'extension module')} of {_subject(members, dist)} cannot be "
        f"loaded: the library {library['path']} it loads: {library['reason']}.",
        distribution=dist.name if dist else None,
        path=library["path"],
        evidence=evidence,
        fix=fix,
    )


def _numpy_abi(ctx: Context, members: list[Problem], dist: Distribution | None, _: Any) -> Finding:
    """One finding per distribution compiled against NumPy 1.x: both ways out, the one
    command only where it can work."""
    numpy = ctx.inventory.get("numpy")
    installed = numpy.version if numpy is not None else "2"
    subject = f"{dist.name} {dist.version}" if dist is not None and dist.version else None
    subject = subject or _subject(members, dist)
    evidence = _base_evidence(members, shared=("numpy_headers",))
    evidence.update(compiled_against="NumPy 1.x", numpy_installed=installed)
    blockers = _numpy2_required_by(ctx)
    if blockers:
        evidence["numpy_2_required_by"] = blockers
    interp = ctx.target.interpreter
    version = (interp.version[0], interp.version[1])
    command = None
    if (
        not blockers
        and version <= numpy_abi.LAST_NUMPY1_PYTHON
        and ctx.snapshot.paths.externally_managed is None
    ):
        command = ctx.pip(f"install {_quote('numpy<2')}")
    name = dist.name if dist is not None else "the package"
    upgrade = (
        f"upgrade {name} to a release compiled against NumPy 2 "
        f"({ctx.pip(f'install --upgrade {name}')} if pip finds one for this Python), then "
        "run pkgdoctor check again: it reads which NumPy each module was compiled against"
    )
    if command is not None:
        explanation = (
            f"NumPy 2 changed its C ABI; {name} must be compiled against NumPy 2 to run with "
            f"it. Either go back to NumPy 1.x (the command below), or keep numpy {installed} and "
            f"{upgrade}."
        )
    else:
        if blockers:
            why_not = f"numpy<2 would break {', '.join(blockers)}, which require NumPy 2"
        elif version > numpy_abi.LAST_NUMPY1_PYTHON:
            why_not = (
                f"NumPy 1.x has no release for Python {version[0]}.{version[1]} "
                f"(the last, {numpy_abi.LAST_NUMPY1}, supports up to "
                f"{'.'.join(map(str, numpy_abi.LAST_NUMPY1_PYTHON))})"
            )
        else:
            why_not = "pip may not install into this externally managed environment"
        explanation = (
            f"NumPy 2 changed its C ABI; {name} must be compiled against NumPy 2 to run with "
            f"it: {upgrade}. Going back to numpy<2 is no way out here: {why_not}."
        )
    count = len(members)
    return EXT_NUMPY_ABI.finding(
        f"{subject} was compiled against NumPy 1.x ({_count(count, 'extension module')}), "
        f"but numpy {installed} is installed: NumPy 2 cannot load "
        f"{'it' if count == 1 else 'them'}.",
        distribution=dist.name if dist else None,
        path=_common_path(members, dist),
        evidence=evidence,
        command=command,
        explanation=explanation,
    )


def _numpy2_required_by(ctx: Context) -> list[str]:
    """The installed distributions whose requirements on numpy exclude every 1.x release
    (``numpy>=2``): going back to ``numpy<2`` would break them."""
    from pkgdoctor.checks.distributions import _Evaluator

    evaluate = _Evaluator(ctx)
    found = []
    for dist in ctx.inventory.distributions:
        for text in dist.requires:
            req = evaluate.requirement(text)
            if isinstance(req, str) or req.name != "numpy" or not req.applies:
                continue
            if not evaluate.satisfies(req.specifier, numpy_abi.LAST_NUMPY1):
                found.append(f"{dist.name} {dist.version} ({req.spec})")
    return found


_BUILDERS = {
    EXT_INVALID_ELF.code: _invalid_elf,
    EXT_WRONG_ARCH.code: _wrong_arch,
    EXT_LIBC_MISMATCH.code: _libc_mismatch,
    EXT_ABI_MISMATCH.code: _abi_mismatch,
    EXT_SUFFIX_MISMATCH.code: _suffix_mismatch,
    NO_TRIPLET.code: _no_triplet,
    EXT_GLIBC_TOO_NEW.code: _glibc_too_new,
    EXT_MISSING_LIBRARY.code: _missing_library,
    EXT_NUMPY_ABI.code: _numpy_abi,
}
