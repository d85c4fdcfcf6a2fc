"""Which manylinux/musllinux policy a wheel's ELF files satisfy, and whether its tags agree.

The verdict follows ``auditwheel show`` (auditwheel's ``wheel_abi.analyze_wheel_abi``): a
policy is satisfied when every symbol version the ELF files need from a toolchain library
(``GLIBC_``, ``GLIBCXX_``, ``CXXABI_``, ``GCC_``, ...) is one the policy allows, every
``DT_NEEDED`` library is either allowed (``lib_whitelist``) or shipped in the wheel where the
loader finds it (:mod:`pkgdoctor.loader`, over the members at their installed locations), no
file imports a symbol the policy forbids (``blacklist``), none needs an x86-64 ISA level above
the baseline, and no extension module uses ``PyFPE_jbuf`` or UCS-2 symbols. The wheel's
overall tag is the most compatible policy satisfied. Deliberate differences are listed in
``docs/design.md``.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pkgdoctor._fields import Fact, FieldRepr, fact
from pkgdoctor.elf import DynamicSymbol, ELFFile
from pkgdoctor.extmodules import ExtensionTag, parse_extension_filename
from pkgdoctor.findings import Finding
from pkgdoctor.loader import Loader, LoaderConfig
from pkgdoctor.platforms import (
    EM_ARM,
    LEGACY_MANYLINUX,
    PlatformTag,
    elf_libc,
    parse_platform_tag,
    triplet_architecture,
)
from pkgdoctor.platforms import triplet_libc as _triplet_libc
from pkgdoctor.snapshot.model import Resolution
from pkgdoctor.wheelaudit import codes
from pkgdoctor.wheelaudit.facts import ElfMember, InstalledMembers, WheelFacts
from pkgdoctor.wheelaudit.policy import Policy, known_architectures, policies
from pkgdoctor.words import plural

_STB_WEAK = 2
_STT_NOTYPE, _STT_FUNC = 0, 2
# ARM EABI version 5 and the hard-float flag (ARM ELF ABI, "e_flags"): armv7l wheels must
# be both (auditwheel lddtree, "armv7l shall use hard-float").
_EF_ARM_EABIMASK = 0xFF000000
_EF_ARM_EABI_VER5 = 0x05000000
_EF_ARM_ABI_FLOAT_HARD = 0x400
# PEP 513 "fpectl builds vs. no fpectl builds": these symbols exist only in fpectl builds.
_PYFPE = frozenset({"PyFPE_jbuf", "PyFPE_dummy", "PyFPE_counter"})
# GNU_PROPERTY_X86_ISA_1_NEEDED bits above the baseline, highest first (x86-64 psABI).
_ISA_LEVELS = ((8, "x86_64_v4"), (4, "x86_64_v3"), (2, "x86_64_v2"))
_MAX_SYMBOLS_SHOWN = 10
_LEGACY_NAMES = tuple(f"{name}_" for name in LEGACY_MANYLINUX)
_MAX_FILES_SHOWN = 20


def is_loader(library: str) -> bool:
    """The dynamic loader itself: never external, its versions never count (auditwheel)."""
    return "ld-linux" in library or library in ("ld64.so.2", "ld64.so.1")


def file_architecture(elf: ELFFile) -> str:
    """``uname -m`` name as platform tags use it; 32-bit ARM only as EABI5 hard-float."""
    if elf.machine == EM_ARM and (
        elf.flags & _EF_ARM_EABIMASK != _EF_ARM_EABI_VER5 or not elf.flags & _EF_ARM_ABI_FLOAT_HARD
    ):
        return "arm (not EABI5 hard-float)"
    return elf.architecture


def file_libc(member: ElfMember) -> tuple[str | None, str | None]:
    """("musl"/"glibc", the evidence) of one ELF file, or (None, None) if it does not say."""
    parsed = parse_extension_filename(member.name.rsplit("/", 1)[-1])
    tag = parsed[1] if parsed else None
    found = elf_libc(member.elf, tag.triplet if tag else None, tag.version if tag else None)
    return (found.family, found.describe()) if found else (None, None)


def is_extension_module(member: ElfMember) -> int | None:
    """3 (or 2) when the file defines the module init function of its name, else None."""
    stem = member.name.rsplit("/", 1)[-1].split(".", 1)[0]
    inits = {f"PyInit_{stem}": 3, f"init{stem}": 2, f"_cffi_pypyinit_{stem}": 2}
    for symbol in member.elf.symbols or ():
        if symbol.defined and symbol.type == _STT_FUNC and symbol.name in inits:
            return inits[symbol.name]
    return None


# --- the verdict ---------------------------------------------------------------------------


@dataclass(repr=False)
class Blockers(FieldRepr):
    """Why a policy is not satisfied: each field names the files and what in them."""

    symbol_versions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    external_libs: dict[str, list[str]] = field(default_factory=dict)
    blacklisted_symbols: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    isa: dict[str, str] = field(default_factory=dict)
    pyfpe: list[str] = field(default_factory=list)
    ucs2: list[str] = field(default_factory=list)
    # Members that are not loadable ELF files (ext-invalid-elf): no policy holds for a wheel
    # the loader cannot load, whatever its other files need.
    unloadable: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.symbol_versions
            or self.external_libs
            or self.blacklisted_symbols
            or self.isa
            or self.pyfpe
            or self.ucs2
            or self.unloadable
        )

    def to_json(self) -> dict[str, Any]:
        """Only the reasons that apply, as lists of records (newest symbol version first);
        symbol lists are cut to the first few."""
        result: dict[str, Any] = {}
        if self.symbol_versions:
            result["symbol_versions"] = [
                {"version": version, "file": file, "symbols": symbols[:_MAX_SYMBOLS_SHOWN]}
                for version, files in sorted(
                    self.symbol_versions.items(), key=_version_sort, reverse=True
                )
                for file, symbols in list(files.items())[:5]
            ]
        if self.external_libs:
            result["external_libs"] = [
                {"library": library, "needed_by": files[:_MAX_FILES_SHOWN]}
                for library, files in sorted(self.external_libs.items())
            ]
        if self.blacklisted_symbols:
            result["blacklisted_symbols"] = [
                {"library": library, "file": file, "symbols": symbols}
                for library, files in sorted(self.blacklisted_symbols.items())
                for file, symbols in files.items()
            ]
        if self.isa:
            result["isa"] = [{"file": f, "level": level} for f, level in self.isa.items()]
        if self.pyfpe:
            result["pyfpe"] = self.pyfpe
        if self.ucs2:
            result["ucs2"] = self.ucs2
        if self.unloadable:
            result["unloadable"] = self.unloadable[:_MAX_FILES_SHOWN]
        return result

    def summary(self, limit: int = 6) -> str:
        """One phrase: ``GLIBC_2.28 (statx in pkg/_x.so), libfoo.so.1 (external)``."""
        return describe_blockers(self.to_json(), limit)


def describe_blockers(blockers: Mapping[str, Any], limit: int = 6) -> str:
    """The reasons of :meth:`Blockers.to_json` (or a ``limited_by``) as one phrase."""
    parts: list[str] = []
    by_version: dict[str, list[Mapping[str, Any]]] = {}
    for record in blockers.get("symbol_versions") or []:
        by_version.setdefault(record["version"], []).append(record)
    for version, records in by_version.items():
        symbols = records[0]["symbols"]
        what = f"{', '.join(symbols[:3])} in " if symbols else ""
        more = f" and {plural(len(records) - 1, 'more file')}" if len(records) > 1 else ""
        parts.append(f"{version} ({what}{records[0]['file']}{more})")
    parts += [
        f"{r['library']} (external, needed by {r['needed_by'][0]})"
        for r in blockers.get("external_libs") or []
    ]
    parts += [
        f"{', '.join(r['symbols'][:3])} from {r['library']} (blacklisted, in {r['file']})"
        for r in blockers.get("blacklisted_symbols") or []
    ]
    parts += [f"{r['level']} instructions ({r['file']})" for r in blockers.get("isa") or []]
    parts += [f"PyFPE_jbuf ({f})" for f in blockers.get("pyfpe") or []]
    parts += [f"UCS-2 symbols ({f})" for f in blockers.get("ucs2") or []]
    parts += [f"{f} (not a loadable ELF file)" for f in blockers.get("unloadable") or []]
    if len(parts) > limit:
        parts = [*parts[:limit], f"{len(parts) - limit} more"]
    return ", ".join(parts)


@fact
class Verdict(Fact):
    """The policies of one (libc, architecture) checked against a wheel's ELF files."""

    libc: str
    arch: str
    policies: tuple[Policy, ...]  # most compatible first, "linux" last
    overall: Policy
    symbol_policy: Policy
    versioned_symbols: dict[str, list[str]]
    external_libs: dict[str, list[str]]  # libraries no policy allows -> files needing them
    blockers: dict[str, Blockers]  # policy name -> why it is not satisfied

    @property
    def satisfied(self) -> list[Policy]:
        return [p for p in self.policies if not p.is_linux and p.name not in self.blockers]

    @property
    def next_up(self) -> Policy | None:
        """The policy just more compatible than the overall one (what stands in its way)."""
        index = self.policies.index(self.overall)
        return self.policies[index - 1] if index > 0 else None

    def policy_for(self, version: tuple[int, int]) -> Policy | None:
        """The policy of this exact version, or the nearest newer one (its blockers then
        all exceed the version too)."""
        candidates = [p for p in self.policies if p.version is not None and p.version >= version]
        return min(candidates, key=lambda p: p.version or (0, 0), default=None)


def _version_sort(item: tuple[str, Any]) -> tuple[str, tuple[int, ...]]:
    prefix, _, number = item[0].partition("_")
    return prefix, tuple(int(x) for x in re.findall(r"\d+", number))


def _version_key(version: str) -> tuple[str, tuple[int, ...]]:
    return _version_sort((version, None))


def evaluate(
    files: Sequence[ElfMember],
    libc: str,
    arch: str,
    only: tuple[int, int] | None = None,
    unloadable: Sequence[str] = (),
) -> Verdict:
    """Check ``files`` (one libc and architecture) against every policy of that platform,
    or only against the policy of version ``only`` (and "linux"). ``unloadable`` names the
    wheel's members that are not loadable ELF files: they rule out every policy."""
    table = policies(libc, arch)
    if only is not None:
        table = tuple(p for p in table if p.version in (only, None))
    not_bundled = _not_bundled(files, libc)
    versioned: dict[str, set[str]] = {}
    users: dict[str, dict[str, list[str]]] = {}  # version -> file -> symbols
    for member in files:
        for need in member.elf.version_needs:
            if is_loader(need.file):
                continue
            versioned.setdefault(need.file, set()).update(need.versions)
            for version in need.versions:
                users.setdefault(version, {}).setdefault(member.name, [])
        for symbol in _versioned_imports(member.elf.symbols):
            files_of = users.setdefault(symbol.version or "", {})
            files_of.setdefault(member.name, []).append(symbol.name)
    required: dict[str, set[str]] = {}
    for versions in versioned.values():
        for version in versions:
            required.setdefault(version.partition("_")[0], set()).add(version)

    common = Blockers(unloadable=list(unloadable))  # what rules out every policy but "linux"
    for member in files:
        isa = member.elf.x86_isa_needed
        if arch == "x86_64" and isa:
            level = next((name for bit, name in _ISA_LEVELS if isa & bit), None)
            if level:
                common.isa[member.name] = level
        python = is_extension_module(member)
        if python:
            imported = {s.name for s in member.elf.symbols or () if not s.defined}
            if any(
                s.name in _PYFPE and s.type in (_STT_FUNC, _STT_NOTYPE) and not s.defined
                for s in member.elf.symbols or ()
            ):
                common.pyfpe.append(member.name)
            if python == 2 and any("PyUnicodeUCS2_" in name for name in imported):
                common.ucs2.append(member.name)

    blockers: dict[str, Blockers] = {}
    for policy in table:
        if policy.is_linux:
            continue
        found = Blockers(
            isa=common.isa, pyfpe=common.pyfpe, ucs2=common.ucs2, unloadable=common.unloadable
        )
        for prefix, versions in required.items():
            allowed = policy.symbol_versions.get(prefix)
            if allowed is None:
                continue  # not a toolchain library the policy speaks of (auditwheel too)
            for version in sorted(versions - allowed, key=_version_key):
                found.symbol_versions[version] = users.get(version, {})
        for member in files:
            for library in member.elf.needed:
                if is_loader(library) or library in policy.whitelist:
                    continue
                if library in not_bundled.get(member.name, ()):
                    found.external_libs.setdefault(library, []).append(member.name)
            undefined = None
            for library in sorted(set(policy.blacklist) & set(member.elf.needed)):
                if undefined is None:
                    undefined = {"*"} | {
                        s.name
                        for s in member.elf.symbols or ()
                        if not s.defined and s.binding != _STB_WEAK
                    }
                hits = sorted(policy.blacklist[library] & undefined)
                if hits:
                    found.blacklisted_symbols.setdefault(library, {})[member.name] = hits
        if found:
            blockers[policy.name] = found

    linux = table[-1]
    overall = next((p for p in table if not p.is_linux and p.name not in blockers), linux)
    symbol_policy = next(
        (p for p in table if not p.is_linux and not _symbols_block(blockers.get(p.name))),
        linux,
    )
    newest = [p for p in table if not p.is_linux][-1:] or [linux]
    external = blockers.get(newest[0].name, Blockers()).external_libs
    return Verdict(
        libc=libc,
        arch=arch,
        policies=table,
        overall=overall,
        symbol_policy=symbol_policy,
        versioned_symbols={
            lib: sorted(v, key=_version_key) for lib, v in sorted(versioned.items())
        },
        external_libs=dict(sorted(external.items())),
        blockers=blockers,
    )


def _symbols_block(blockers: Blockers | None) -> bool:
    return blockers is not None and bool(blockers.symbol_versions)


def _versioned_imports(symbols: Iterable[DynamicSymbol] | None) -> Iterable[DynamicSymbol]:
    for symbol in symbols or ():
        versioned = symbol.version and symbol.library and symbol.name
        if versioned and not symbol.defined and not is_loader(symbol.library or ""):
            yield symbol


def _not_bundled(files: Sequence[ElfMember], libc: str) -> dict[str, set[str]]:
    """For each member, the ``DT_NEEDED`` names the loader model does not find in the wheel.

    The wheel is walked the way auditwheel's lddtree walks it, from every extension module
    and every ELF file nothing else in the wheel needs (and, in a cycle, from the rest): a
    bundled library is judged along the chain that loads it, so it finds its siblings
    through the RPATH of the module that loaded it and under names already loaded
    (:mod:`pkgdoctor.loader`). A name missing along any chain counts.
    """
    source = InstalledMembers(files)
    first = files[0].elf
    config = LoaderConfig(libc, first.machine, first.elf_class, first.little_endian,
                          ld_cache_path=None)  # fmt: skip
    loader = Loader(config, source)
    needed = {name for member in files for name in member.elf.needed}
    roots = [
        m
        for m in files
        if is_extension_module(m)
        or (m.installed.rsplit("/", 1)[-1] not in needed and m.elf.soname not in needed)
    ]
    root_paths = {source.path(m) for m in roots}
    rest = [m for m in files if source.path(m) not in root_paths]
    missing: dict[str, set[str]] = {}
    reached: set[str] = set()
    for member in [*roots, *rest]:
        path = source.path(member)
        if path in reached and path not in root_paths:
            continue
        for chain, resolutions in loader.walk([(path, member.elf)], _anywhere):
            reached.add(chain[-1][0])
            requester = source.member(chain[-1][0])
            for res in resolutions:
                if res.path is None and requester is not None:
                    missing.setdefault(requester.name, set()).add(res.name)
    return missing


def _anywhere(res: Resolution) -> bool:
    return True


# --- findings ------------------------------------------------------------------------------


@fact
class PlatformResult(Fact):
    """The platform part of one wheel's audit."""

    claims: tuple[PlatformTag, ...]
    verdict: Verdict | None  # None: no ELF file to judge
    findings: tuple[Finding, ...]


def audit_platform(facts: WheelFacts) -> PlatformResult:
    """The policy verdict and the findings about tags, architecture, libc and Python ABI."""
    claims = tuple(
        sorted(
            (c for c in (parse_platform_tag(p) for p in facts.platforms) if c is not None),
            key=lambda c: c.tag,
        )
    )
    findings: list[Finding] = []
    wheel = facts.path
    dist = facts.project
    unloadable = _unloadable(facts)
    findings += _invalid_elf(facts, unloadable)
    files = list(facts.elf_files)
    if not files:
        return PlatformResult(claims, None, tuple(findings + _abi_findings(facts, claims)))

    claimed_arches = {c.arch for c in claims}
    claimed_libcs = {c.libc for c in claims if c.libc}
    arch_of = {f.name: file_architecture(f.elf) for f in files}
    libc_of = {f.name: file_libc(f) for f in files}

    wrong_arch = [f for f in files if claimed_arches and arch_of[f.name] not in claimed_arches]
    if wrong_arch:
        findings.append(_wrong_arch(facts, wrong_arch, arch_of, sorted(claimed_arches)))
    wrong_libc = [
        f
        for f in files
        if len(claimed_libcs) == 1
        and libc_of[f.name][0] is not None
        and libc_of[f.name][0] not in claimed_libcs
    ]
    if wrong_libc:
        findings.append(_wrong_libc(facts, wrong_libc, libc_of, sorted(claimed_libcs)))

    arch = _majority([arch_of[f.name] for f in files], prefer=claimed_arches)
    detected = [libc for libc, _ in libc_of.values() if libc]
    libc = _majority(detected, prefer=claimed_libcs) if detected else None
    libc = libc or (next(iter(claimed_libcs)) if len(claimed_libcs) == 1 else "glibc")
    judged = [f for f in files if arch_of[f.name] == arch and libc_of[f.name][0] in (None, libc)]
    verdict = None
    if arch in known_architectures(libc) and judged:
        names = [name for name, _ in unloadable]
        verdict = evaluate(judged, libc, arch, _musl_version(libc, arch, claims), names)
        # With a file that cannot be loaded the wheel satisfies no policy, and its tags cannot
        # be judged until it is rebuilt: ext-invalid-elf is the one finding about that.
        if not unloadable:
            covered = bool(wrong_arch or wrong_libc)
            findings += _tag_findings(facts, claims, verdict, covered=covered)
    if facts.pure:
        findings.append(_pure_with_extensions(facts, files, verdict))
    elif any(f.name.split("/", 1)[0].endswith(".data") and "/purelib/" in f.name for f in files):
        in_purelib = [f for f in files if "/purelib/" in f.name]
        findings.append(
            codes.PURE_WITH_EXTENSIONS.finding(
                f"{codes.plural(len(in_purelib), 'ELF file')} of {dist} "
                f"{'is' if len(in_purelib) == 1 else 'are'} in the wheel's purelib directory.",
                distribution=dist,
                path=wheel,
                evidence={"files": [f.name for f in in_purelib[:_MAX_FILES_SHOWN]]},
                explanation="Install compiled files to platlib: a platform wheel's files belong "
                "at the "
                "top of the archive (Root-Is-Purelib: false), not in .data/purelib/; "
                "auditwheel repair refuses such wheels.",
            )
        )
    if not facts.pure:  # in a pure wheel every module contradicts the tags: one finding
        findings += _abi_findings(facts, claims)
    return PlatformResult(claims, verdict, tuple(findings))


def _musl_version(libc: str, arch: str, claims: Sequence[PlatformTag]) -> tuple[int, int] | None:
    """The one musllinux policy to judge by (like auditwheel, which uses the build host's).

    musl does not version its symbols, so no file can show that it avoids functions added in
    musl 1.2: the version a musllinux wheel claims cannot be checked, only taken as given.
    Without a musllinux claim, the newest policy is used.
    """
    if libc != "musl":
        return None
    known = {p.version for p in policies(libc, arch) if p.version is not None}
    claimed = sorted(c.version for c in claims if c.libc == "musl" and c.version in known)
    if claimed:
        return claimed[0]
    return max(known) if known else None


def _majority(values: Sequence[str], prefer: Iterable[str | None]) -> str:
    counts = Counter(values)
    preferred = set(prefer)
    return max(counts, key=lambda v: (counts[v], v in preferred, v))


def _unloadable(facts: WheelFacts) -> list[tuple[str, str]]:
    """(member, reason) for every ELF member the loader cannot load (truncated, corrupt) and
    every file named like an extension module that is not ELF at all."""
    bad = list(facts.bad_elf)
    seen = {f.name for f in facts.elf_files} | {name for name, _ in bad}
    for member in facts.members:
        parsed = parse_extension_filename(member.name.rsplit("/", 1)[-1])
        if parsed is not None and parsed[1].tag and member.name not in seen:
            bad.append((member.name, "not an ELF file"))
    return bad


def _invalid_elf(facts: WheelFacts, bad: Sequence[tuple[str, str]]) -> list[Finding]:
    if not bad:
        return []
    return [
        codes.EXT_INVALID_ELF.finding(
            f"{codes.files_of(len(bad), 'file', facts.filename)} not a loadable ELF file.",
            distribution=facts.project,
            path=facts.path,
            evidence={"files": [{"path": n, "reason": r} for n, r in bad[:_MAX_FILES_SHOWN]]},
            explanation="Rebuild the wheel: a compiled module or library in it is truncated or "
            "corrupt "
            "(or a file merely named like one).",
        )
    ]


def _wrong_arch(
    facts: WheelFacts, files: list[ElfMember], arch_of: dict[str, str], claimed: list[str]
) -> Finding:
    arches = sorted({arch_of[f.name] for f in files})
    return codes.EXT_WRONG_ARCH.finding(
        f"{codes.files_of(len(files), 'ELF file', facts.filename)} built for "
        f"{', '.join(arches)}, but the wheel's tags claim {', '.join(claimed)}.",
        distribution=facts.project,
        path=facts.path,
        evidence={
            "files": [
                {
                    "path": f.name,
                    "architecture": arch_of[f.name],
                    "elf_machine": f.elf.machine,
                    "elf_class": f.elf.elf_class,
                }
                for f in files[:_MAX_FILES_SHOWN]
            ],
            "file_architecture": arches,
            "claimed_architecture": claimed,
        },
        explanation=f"Build the wheel on (or cross-compile for) {', '.join(claimed)}, or name "
        f"it for "
        f"{', '.join(arches)}; a wheel that mixes architectures cannot load on either.",
    )


def _wrong_libc(
    facts: WheelFacts,
    files: list[ElfMember],
    libc_of: dict[str, tuple[str | None, str | None]],
    claimed: list[str],
) -> Finding:
    found = sorted({libc_of[f.name][0] or "" for f in files})
    family = "manylinux" if claimed == ["glibc"] else "musllinux"
    return codes.EXT_LIBC_MISMATCH.finding(
        f"{codes.files_of(len(files), 'ELF file', facts.filename)} built for "
        f"{', '.join(found)}, but the wheel is tagged {family} ({', '.join(claimed)}).",
        distribution=facts.project,
        path=facts.path,
        evidence={
            "files": [
                {"path": f.name, "libc": libc_of[f.name][0], "because": libc_of[f.name][1]}
                for f in files[:_MAX_FILES_SHOWN]
            ],
            "file_libc": found,
            "claimed_libc": claimed,
        },
        explanation=f"Build {family} wheels in a {family} image (quay.io/pypa/{family}_*), or "
        f"tag the "
        "wheel for the libc its files link against.",
    )


def _tag_findings(
    facts: WheelFacts, claims: Sequence[PlatformTag], verdict: Verdict, *, covered: bool
) -> list[Finding]:
    """``wheel-tag-overclaims`` / ``-underclaims`` for the claims of the judged platform."""
    overall = verdict.overall
    mine = [c for c in claims if c.arch == verdict.arch and c.libc in (None, verdict.libc)]
    findings: list[Finding] = []
    over = [
        c
        for c in mine
        if c.version is not None and (overall.version is None or c.version < overall.version)
    ]
    if over:
        findings.append(_overclaims(facts, over, verdict))
    if not covered:
        other = sorted({c.arch for c in claims} - {verdict.arch})
        if other:
            findings.append(
                codes.TAG_OVERCLAIMS.finding(
                    f"{facts.filename} is tagged for {', '.join(other)} too, but all its ELF "
                    f"files are {verdict.arch}.",
                    distribution=facts.project,
                    path=facts.path,
                    evidence={
                        "claimed": [c.tag for c in claims if c.arch in other],
                        "elf_architecture": verdict.arch,
                    },
                    explanation=f"Remove the {', '.join(other)} tags, or build one wheel per "
                    f"architecture.",
                )
            )
    if mine and not over and not overall.is_linux:
        best = [c for c in mine if c.version is not None]
        if not best or all(c.version is not None and c.version > overall.version for c in best):  # type: ignore[operator]
            findings.append(_underclaims(facts, mine, verdict))
    return findings


def _overclaims(facts: WheelFacts, over: Sequence[PlatformTag], verdict: Verdict) -> Finding:
    # The most compatible claim; of equal ones, the PEP 600 spelling over a legacy alias.
    worst = min(over, key=lambda c: (c.version or (0, 0), c.tag.startswith(_LEGACY_NAMES)))
    assert worst.version is not None
    policy = verdict.policy_for(worst.version)
    blockers = verdict.blockers.get(policy.name) if policy else None
    blockers = blockers or verdict.blockers.get(verdict.next_up.name if verdict.next_up else "")
    reasons = blockers.summary(limit=3) if blockers else "its ELF files"
    satisfied = verdict.overall.name if not verdict.overall.is_linux else "no manylinux/musllinux"
    evidence: dict[str, Any] = {
        "claimed": [c.tag for c in over],
        "satisfied": verdict.overall.name,
        "checked_against": policy.name if policy else None,
    }
    if blockers:
        evidence.update(blockers.to_json())
    family = "manylinux" if verdict.libc == "glibc" else "musllinux"
    glibc = ".".join(map(str, worst.version))
    if verdict.overall.is_linux:
        retag = "there is no manylinux/musllinux tag it satisfies: fix the build"
    else:
        retag = (
            f"or claim only what it satisfies: python -m wheel tags --remove "
            f"--platform-tag {verdict.overall.name} {facts.filename}"
        )
    libc_name = "glibc" if verdict.libc == "glibc" else "musl"
    return codes.TAG_OVERCLAIMS.finding(
        f"{facts.filename} claims {worst.tag}, but its ELF files satisfy {satisfied}: {reasons}.",
        distribution=facts.project,
        path=facts.path,
        evidence=evidence,
        explanation=(
            f"Build in a {family} image whose {libc_name} is {glibc} or older and bundle the "
            f"external libraries (auditwheel repair checks and does both), {retag}. pip "
            f"installs this wheel on systems with {libc_name} {glibc}, where it fails to load."
        ),
    )


def _underclaims(facts: WheelFacts, mine: Sequence[PlatformTag], verdict: Verdict) -> Finding:
    best = verdict.overall
    tags = ".".join(best.tags)
    return codes.TAG_UNDERCLAIMS.finding(
        f"{facts.filename} claims {', '.join(c.tag for c in mine)}, but its ELF files satisfy "
        f"{best.name}, which more systems can install.",
        distribution=facts.project,
        path=facts.path,
        evidence={
            "claimed": [c.tag for c in mine],
            "satisfied": best.name,
            "satisfied_tags": list(best.tags),
        },
        command=f"python -m wheel tags --platform-tag +{tags} {shlex.quote(facts.filename)}",
        explanation="Add the tags it satisfies (auditwheel repair tags a wheel with the most "
        "compatible policy it satisfies).",
    )


def _pure_with_extensions(
    facts: WheelFacts, files: Sequence[ElfMember], verdict: Verdict | None
) -> Finding:
    evidence: dict[str, Any] = {
        "files": [
            {"path": f.name, "architecture": file_architecture(f.elf)}
            for f in files[:_MAX_FILES_SHOWN]
        ],
        "tags": sorted(str(t) for t in facts.tags),
    }
    if verdict is not None:
        evidence["satisfied"] = verdict.overall.name
    platform = verdict.overall.name if verdict else "a platform tag"
    arches = sorted({file_architecture(f.elf) for f in files})
    return codes.PURE_WITH_EXTENSIONS.finding(
        f"{facts.filename} is tagged for any platform but contains "
        f"{codes.plural(len(files), 'ELF file')}, which only "
        f"{'loads' if len(files) == 1 else 'load'} on {', '.join(arches)}.",
        distribution=facts.project,
        path=facts.path,
        evidence=evidence,
        explanation=f"Build a platform wheel (its build backend must know the package has "
        f"extension "
        f"modules, e.g. setuptools' ext_modules or a has_ext_modules() override), tagged "
        f"{platform}, then run auditwheel repair on it.",
    )


# --- Python ABI ----------------------------------------------------------------------------


def _abi_accepts(ext: ExtensionTag, interpreter: str, abi: str) -> bool:
    """Whether an interpreter selected by the tag ``interpreter-abi`` loads this suffix."""
    if ext.stable_abi:
        # Free-threaded builds cannot load the stable ABI; PyPy does not look for .abi3.so.
        return abi in ("abi3", "none") or re.fullmatch(r"cp3\d+[dm]*", abi) is not None
    if ext.version is None:
        return True  # a bare .so, or a tag pkgdoctor does not know
    major, minor = ext.version
    if ext.implementation == "cpython":
        return interpreter == f"cp{major}{minor}" and abi == f"cp{major}{minor}{ext.flags}"
    if ext.implementation == "pypy":
        return interpreter == f"pp{major}{minor}" and abi.startswith(f"pypy{major}{minor}_")
    return True


def _abi_findings(facts: WheelFacts, claims: Sequence[PlatformTag]) -> list[Finding]:
    abi_problems: list[dict[str, Any]] = []
    suffix_problems: list[dict[str, Any]] = []
    arches = {c.arch for c in claims}
    libcs = {c.libc for c in claims if c.libc}
    for member in facts.members:
        parsed = parse_extension_filename(member.name.rsplit("/", 1)[-1])
        if parsed is None or not parsed[1].tag:
            continue
        ext = parsed[1]
        refused = sorted(str(t) for t in facts.tags if not _abi_accepts(ext, t.interpreter, t.abi))
        if refused:
            abi_problems.append(
                {
                    "path": member.name,
                    "suffix": f".{ext.tag}.so",
                    "built_for": "abi3" if ext.stable_abi else ext.python,
                    "tags_that_cannot_load_it": refused[:5],
                }
            )
        if ext.triplet and (arches or libcs):
            arch = triplet_architecture(ext.triplet)
            libc = _triplet_libc(ext.triplet)
            wrong = arch is not None and arches and arch not in arches
            musl_name = libc == "musl" and libcs == {"glibc"}
            gnu_name = libc == "glibc" and libcs == {"musl"} and (ext.version or (0, 0)) >= (3, 11)
            if wrong or musl_name or gnu_name:
                suffix_problems.append(
                    {"path": member.name, "triplet": ext.triplet, "suffix": f".{ext.tag}.so"}
                )
    findings = []
    tags = sorted(str(t) for t in facts.tags)
    if abi_problems:
        findings.append(
            codes.EXT_ABI_MISMATCH.finding(
                f"{codes.files_of(len(abi_problems), 'extension module', facts.filename)} "
                f"built for {abi_problems[0]['built_for']}, which not every Python its tags "
                "select loads.",
                distribution=facts.project,
                path=facts.path,
                evidence={"files": abi_problems[:_MAX_FILES_SHOWN], "tags": tags},
                explanation="Tag the wheel for the Python the modules are built for "
                "(cpXY-cpXY), or "
                "build them for what the tags claim (for abi3: define Py_LIMITED_API and name "
                "them .abi3.so).",
            )
        )
    if suffix_problems:
        findings.append(
            codes.EXT_SUFFIX_MISMATCH.finding(
                f"{codes.plural(len(suffix_problems), 'extension module')} of {facts.filename} "
                f"{'carries' if len(suffix_problems) == 1 else 'carry'} a platform triplet "
                "(in the file suffix) that interpreters of the wheel's platform do not look for.",
                distribution=facts.project,
                path=facts.path,
                evidence={
                    "files": suffix_problems[:_MAX_FILES_SHOWN],
                    "claimed": sorted(c.tag for c in claims),
                },
                explanation="Build the modules with the interpreter of the target platform (its "
                "EXT_SUFFIX names the right triplet), or rename them to the plain .so suffix.",
            )
        )
    return findings
