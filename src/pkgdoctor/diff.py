"""What differs that matters between two environments: ``pkgdoctor diff A B``.

A pure function of two :class:`~pkgdoctor.snapshot.model.Snapshot` values (taken live, read
statically or loaded from files): :func:`compare` returns a frozen :class:`Diff`, a list of
:class:`Change` items ranked most important first. The tiers, in order:

1. **interpreter**: architecture, implementation, Python version, ABI (SOABI, free-threaded,
   debug), C library family and version, EXT_SUFFIX; and any distribution whose extension
   modules are built for another architecture on one side (an aarch64 numpy in an x86_64
   environment is as fatal as another interpreter);
2. **distributions** added, removed or changed: wheel platform (architecture, C library,
   glibc baseline, read from the tags with :mod:`pkgdoctor.platforms`), version (a local
   version such as ``+cu118`` called out), build tag, other wheel tags, where it came from
   (PEP 610 ``direct_url.json``, editable), installer, the kind of ``sys.path`` entry it is in;
3. **files** inside the same version of a distribution: missing on one side, RECORD rows or
   hashes that differ, and (when both sides were taken with ``--deep``) contents that differ;
4. **sys.path and environment**: relevant variables (whatever ``Target.environ`` holds),
   ``sys.path`` entries, their origin and order, ``.pth`` files;
5. **findings** one side has and the other has not (the checks run on both snapshots).

Paths are compared relative to their environment: the prefix and base prefix of each side
are replaced by ``{prefix}`` and ``{base}`` first, and RECORD rows are relative to their
``site-packages`` already, so a moved or copied environment is not "everything differs".
What says nothing about the environment (when a snapshot was taken, by which pkgdoctor,
live or static) is never a change.

Example::

    >>> diff = compare(works, broken)  # doctest: +SKIP
    >>> diff.changes[0].summary  # doctest: +SKIP
    'numpy 2.1.3: extension modules built for aarch64 in B, x86_64 in A'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pkgdoctor._fields import Fact, fact
from pkgdoctor.codes import RECORD_HASH_MISMATCH
from pkgdoctor.elf import ELFFile
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.platforms import PlatformTag, parse_platform_tag
from pkgdoctor.snapshot.model import CondaRecord, Distribution, Snapshot, normal_hash
from pkgdoctor.words import plural

if TYPE_CHECKING:
    from pkgdoctor.checks.context import Memo

#: The tiers, most important first (``Change.tier``).
INTERPRETER, DISTRIBUTIONS, FILES, PATHS, FINDINGS = 1, 2, 3, 4, 5
TIER_NAMES = {
    INTERPRETER: "Interpreter",
    DISTRIBUTIONS: "Distributions",
    FILES: "Files",
    PATHS: "sys.path and environment",
    FINDINGS: "Findings",
}

#: ``Change.kind``: the value differs, or the thing exists only on one side.
CHANGED, ONLY_A, ONLY_B = "changed", "only-a", "only-b"

# Files of a dist-info directory that say how it was installed, not what: compared as
# INSTALLER / direct_url / REQUESTED facts, never as "files that differ" (PEP 376, PEP 610).
_INSTALL_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


@fact
class Change(Fact):
    """One difference between side A and side B that matters.

    ``a`` and ``b`` are the values on each side as text (None: absent there); ``items`` lists
    what a change is made of (the files, the entries), all of them: renderers fold it.
    """

    tier: int  # INTERPRETER ... FINDINGS
    weight: int  # order within the tier: lower first
    kind: str  # CHANGED, ONLY_A, ONLY_B
    subject: str  # what differs: "Python version", "numpy", "PYTHONPATH", a finding code
    aspect: str  # which fact of it: "version", "wheel architecture", "files missing"...
    summary: str  # one line for a person
    a: str | None = None
    b: str | None = None
    distribution: str | None = None
    severity: str | None = None  # for findings: "error", "warning", "info"
    items: tuple[str, ...] = ()

    @property
    def area(self) -> str:
        return TIER_NAMES[self.tier]

    def to_json(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "area": self.area,
            "kind": self.kind,
            "subject": self.subject,
            "aspect": self.aspect,
            "summary": self.summary,
            "a": self.a,
            "b": self.b,
            "distribution": self.distribution,
            "severity": self.severity,
            "items": list(self.items),
        }


@fact
class Diff(Fact):
    """The changes from A to B, most important first, and what could not be compared."""

    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()  # "B was taken without --deep: file contents not compared"

    def __bool__(self) -> bool:
        return bool(self.changes)

    def by_tier(self) -> dict[int, list[Change]]:
        tiers: dict[int, list[Change]] = {}
        for change in self.changes:
            tiers.setdefault(change.tier, []).append(change)
        return tiers


def compare(
    a: Snapshot,
    b: Snapshot,
    findings_a: Sequence[Finding] | None = None,
    findings_b: Sequence[Finding] | None = None,
    *,
    memo: Memo | None = None,
) -> Diff:
    """The ranked differences between ``a`` and ``b``.

    The findings of each side are those given, else the checks run on the snapshot (they
    are pure functions of it, so this reads nothing). Both sides share ``memo`` (the checks'
    memoized verdicts are functions of their inputs alone): what the two sides have in
    common is judged once.
    """
    if findings_a is None or findings_b is None:
        from pkgdoctor.checks import run_checks
        from pkgdoctor.checks.context import Context

        if memo is None:
            memo = Context(a).memo
        findings_a = run_checks(Context(a, memo)) if findings_a is None else findings_a
        findings_b = run_checks(Context(b, memo)) if findings_b is None else findings_b
    rel_a, rel_b = _Relative(a), _Relative(b)
    changes: list[Change] = []
    notes: list[str] = []
    changes += _interpreter(a, b, notes)
    changes += _distributions(a, b, rel_a, rel_b)
    changes += _conda(a, b, notes)
    changes += _files(a, b, notes)
    changes += _environment(a, b, rel_a, rel_b, notes)
    changes += _sys_path(a, b, rel_a, rel_b)
    changes += _gpu(a, b, notes)
    if a.scope.deep != b.scope.deep:
        # Only a --deep look can find these: on the other side their absence means nothing.
        deep_only = {RECORD_HASH_MISMATCH.code}
        findings_a = [f for f in findings_a if f.code not in deep_only]
        findings_b = [f for f in findings_b if f.code not in deep_only]
    changes += _findings(findings_a, findings_b, rel_a, rel_b)
    changes.sort(key=lambda c: (c.tier, c.weight, c.subject.lower(), c.aspect))
    return Diff(tuple(changes), tuple(notes))


# --- paths relative to the environment ------------------------------------------------------


class _Relative:
    """Write one side's absolute paths relative to its environment: ``{prefix}/lib/...``."""

    def __init__(self, snapshot: Snapshot) -> None:
        target = snapshot.target
        pairs = [(target.prefix, "{prefix}"), (target.base_prefix, "{base}")]
        reals = snapshot.paths.prefix_real
        if reals:
            pairs.append((reals[0], "{prefix}"))
        if len(reals) > 1:
            pairs.append((reals[1], "{base}"))
        # One name per path, the first: a prefix that is its own base prefix (a conda
        # environment, a system Python) is {prefix} on both sides, never by the luck of a
        # set's order. Longest first: a prefix inside the base prefix (a venv in a conda
        # base) wins. A path ends where a name cannot go on: /srv/env is not the start of
        # /srv/env2.
        names: dict[str, str] = {}
        for path, name in pairs:
            if len(path.rstrip("/")) > 1:
                names.setdefault(path.rstrip("/"), name)
        self._pairs = [
            (path, re.compile(re.escape(path) + r"(?=[/\s'\":,;)\]]|$)"), name)
            for path, name in sorted(names.items(), key=lambda pair: -len(pair[0]))
        ]

    def __call__(self, text: str) -> str:
        for path, pattern, name in self._pairs:
            if path in text:
                text = pattern.sub(name, text)
        return text


# --- 1. the interpreter ---------------------------------------------------------------------


def _interpreter(a: Snapshot, b: Snapshot, notes: list[str]) -> list[Change]:
    ia, ib = a.target.interpreter, b.target.interpreter
    changes: list[Change] = []
    unknown: list[str] = []

    def fact(weight: int, aspect: str, va: str | None, vb: str | None) -> None:
        # Unknown on one side (a static reading of a foreign tree) is not a difference.
        if (va is None) != (vb is None):
            unknown.append(aspect)
        elif va != vb:
            shown_a, shown_b = va, vb
            changes.append(
                Change(
                    INTERPRETER,
                    weight,
                    CHANGED,
                    "interpreter",
                    aspect,
                    f"{aspect}: {shown_a} in A, {shown_b} in B",
                    va,
                    vb,
                )
            )

    fact(0, "architecture", ia.architecture, ib.architecture)
    fact(1, "implementation", ia.implementation, ib.implementation)
    fact(2, "Python version", ia.short_version, ib.short_version)
    fact(3, "SOABI", ia.soabi, ib.soabi)
    fact(3, "free-threaded", _yes(ia.gil_disabled), _yes(ib.gil_disabled))
    fact(3, "debug build", _yes(ia.debug), _yes(ib.debug))
    fact(4, "C library", ia.libc.family if ia.libc else None, ib.libc.family if ib.libc else None)
    if ia.libc and ib.libc and ia.libc.family == ib.libc.family:
        fact(6, f"{ia.libc.family} version", ia.libc.version, ib.libc.version)
    fact(7, "EXT_SUFFIX", ia.ext_suffix, ib.ext_suffix)
    if ia.short_version == ib.short_version:
        fact(8, "Python micro version", _dotted(ia.version), _dotted(ib.version))
    if unknown:
        notes.append(f"not known on one side, so not compared: {', '.join(unknown)}")
    changes += _extension_architectures(a, b)
    return changes


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _dotted(version: Sequence[int]) -> str:
    return ".".join(map(str, version))


def _architectures(snapshot: Snapshot) -> dict[str, dict[str, int]]:
    """Distribution key → how many of its extension modules are built for each machine."""
    elf = snapshot.extensions.elf
    owners: dict[str, str] = {}
    # Only the RECORD rows that can be extension modules: indexing every row (the inventory's
    # ``owners``) costs more than the whole comparison.
    for dist in snapshot.inventory.distributions:
        base = os.path.normpath(dist.site_dir)
        for entry in dist.record or ():
            if entry.path.endswith(".so"):
                owners[os.path.normpath(os.path.join(base, entry.path))] = dist.key
    found: dict[str, dict[str, int]] = {}
    for module in snapshot.extensions.modules:
        facts = elf.get(module.file.path)
        key = owners.get(os.path.normpath(module.file.path))
        if isinstance(facts, ELFFile) and key is not None:
            counts = found.setdefault(key, {})
            counts[facts.architecture] = counts.get(facts.architecture, 0) + 1
    return found


def _machines(counts: Mapping[str, int]) -> str:
    """``aarch64`` when every module agrees, ``aarch64 (1), x86_64 (2)`` when they do not."""
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{arch} ({n})" for arch, n in sorted(counts.items()))


def _extension_architectures(a: Snapshot, b: Snapshot) -> list[Change]:
    arch_a, arch_b = _architectures(a), _architectures(b)
    changes = []
    for key in sorted(arch_a.keys() & arch_b.keys()):
        ca, cb = arch_a[key], arch_b[key]
        if set(ca) == set(cb):
            continue
        dist_b = b.inventory.by_key[key]
        va, vb = _machines(ca), _machines(cb)
        summary = f"{dist_b}: extension modules built for {vb} in B, {va} in A"
        changes.append(
            Change(
                INTERPRETER,
                5,
                CHANGED,
                dist_b.name,
                "extension architecture",
                summary,
                va,
                vb,
                distribution=dist_b.name,
            )
        )
    return changes


# --- 2. distributions -----------------------------------------------------------------------


def _distributions(a: Snapshot, b: Snapshot, rel_a: _Relative, rel_b: _Relative) -> list[Change]:
    by_a, by_b = a.inventory.by_key, b.inventory.by_key
    origins_a, origins_b = _entry_origins(a), _entry_origins(b)
    changes: list[Change] = []
    for key in sorted(by_a.keys() - by_b.keys()):
        dist = by_a[key]
        changes.append(
            Change(
                DISTRIBUTIONS,
                2,
                ONLY_A,
                dist.name,
                "installed",
                f"{dist} is only in A",
                dist.version or "",
                None,
                distribution=dist.name,
            )
        )
    for key in sorted(by_b.keys() - by_a.keys()):
        dist = by_b[key]
        changes.append(
            Change(
                DISTRIBUTIONS,
                3,
                ONLY_B,
                dist.name,
                "installed",
                f"{dist} is only in B",
                None,
                dist.version or "",
                distribution=dist.name,
            )
        )
    for key in sorted(by_a.keys() & by_b.keys()):
        da, db = by_a[key], by_b[key]
        changes += _distribution(da, db, rel_a, rel_b)
        where_a, where_b = origins_a.get(da.site_dir), origins_b.get(db.site_dir)
        if where_a and where_b and where_a != where_b:
            changes.append(
                Change(
                    DISTRIBUTIONS,
                    8,
                    CHANGED,
                    db.name,
                    "sys.path entry",
                    f"{db}: found in a {where_b} entry in B, a {where_a} entry in A",
                    where_a,
                    where_b,
                    distribution=db.name,
                )
            )
    return changes


# --- 2b. conda packages ---------------------------------------------------------------------


def _conda_spec(record: CondaRecord) -> str:
    """conda's full spec of one record: ``conda-forge/linux-64::numpy=1.26.4=py311_0``."""
    where = record.channel_name or "(unknown channel)"
    if record.subdir:
        where += f"/{record.subdir}"
    return f"{where}::{record.name}={record.version}={record.build}"


def _conda(a: Snapshot, b: Snapshot, notes: list[str]) -> list[Change]:
    """conda packages by name: version, build string, channel (by name: the same build from
    a mirror is the same package) and subdir; Python or not (``libblas`` too); the files
    their records list; and a distribution of pip's that replaced or joined one."""
    ca, cb = a.conda, b.conda
    if ca is None and cb is None:
        return []
    if ca is None or cb is None:
        side, other, facts = ("A", b, ca) if cb is None else ("B", a, cb)
        assert facts is not None
        if other.paths.conda:  # a conda prefix, in a snapshot older than the conda facts
            notes.append(
                f"{'B' if side == 'A' else 'A'} has no conda records (a snapshot older than "
                "pkgdoctor's conda facts): conda packages not compared"
            )
            return []
        return [
            Change(
                DISTRIBUTIONS,
                2,
                ONLY_A if side == "A" else ONLY_B,
                "conda",
                "conda environment",
                f"only {side} is a conda environment "
                f"({plural(len(facts.records), 'conda package')})",
                str(len(facts.records)) if side == "A" else None,
                str(len(facts.records)) if side == "B" else None,
                items=tuple(_conda_spec(r) for r in facts.records),
            )
        ]
    by_a = {r.name: r for r in ca.records}
    by_b = {r.name: r for r in cb.records}
    changes: list[Change] = []
    for name in sorted(by_a.keys() - by_b.keys()):
        spec = _conda_spec(by_a[name])
        summary = f"conda package {spec} is only in A"
        changes.append(Change(DISTRIBUTIONS, 2, ONLY_A, name, "conda package", summary, spec))
    for name in sorted(by_b.keys() - by_a.keys()):
        spec = _conda_spec(by_b[name])
        summary = f"conda package {spec} is only in B"
        changes.append(Change(DISTRIBUTIONS, 3, ONLY_B, name, "conda package", summary, None, spec))
    for name in sorted(by_a.keys() & by_b.keys()):
        ra, rb = by_a[name], by_b[name]
        compared = [
            ("version", ra.version, rb.version),
            ("build", ra.build, rb.build),
            ("channel", ra.channel_name, rb.channel_name),
            ("subdir", ra.subdir, rb.subdir),
        ]
        differ = [(aspect, va, vb) for aspect, va, vb in compared if va != vb]
        if differ:
            subdirs = ra.subdir != rb.subdir
            changes.append(
                Change(
                    DISTRIBUTIONS,
                    1 if ra.version != rb.version else 4,
                    CHANGED,
                    name,
                    "conda " + ", ".join(aspect for aspect, _, _ in differ),
                    f"conda {name}: {_conda_side(ra, subdirs)} in A, "
                    f"{_conda_side(rb, subdirs)} in B",
                    _conda_spec(ra),
                    _conda_spec(rb),
                )
            )
        else:
            changes += _conda_files(ra, rb, deep=ca.deep == cb.deep)
    changes += _conda_pip(a, b)
    return changes


def _conda_side(record: CondaRecord, subdir: bool) -> str:
    """``1.26.4=py311_0 from conda-forge`` (``conda-forge/noarch`` when subdirs differ)."""
    where = record.channel_name or "(unknown channel)"
    if subdir:
        where += f"/{record.subdir or '(none)'}"
    return f"{record.version}={record.build} from {where}"


def _conda_files(ra: CondaRecord, rb: CondaRecord, *, deep: bool) -> list[Change]:
    """The files the record of one build lists, missing (or, compared alike, altered) on
    one side only."""
    changes = []
    pairs = [("missing", ra.missing, rb.missing)]
    if deep:  # sha256 on one side, size on the other: not the same question
        pairs.append(("altered", ra.altered, rb.altered))
    for word, fa, fb in pairs:
        for kind, side, listed in (
            (ONLY_B, "A", sorted(set(fa) - set(fb))),
            (ONLY_A, "B", sorted(set(fb) - set(fa))),
        ):
            if not listed:
                continue
            aspect = f"conda files {word} in {side}"
            summary = f"conda package {ra.name}: {plural(len(listed), 'file')} {word} in {side}"
            changes.append(
                Change(
                    FILES,
                    0,
                    kind,
                    ra.name,
                    aspect,
                    summary,
                    str(len(listed)),
                    None,
                    items=tuple(listed),
                )
            )
    return changes


def _conda_pip(a: Snapshot, b: Snapshot) -> list[Change]:
    """A distribution that pip (or uv) installed over a conda package's, or beside it, on
    one side only (:mod:`pkgdoctor.conda_owners`)."""
    from pkgdoctor.conda_owners import conda_owners

    def states(snapshot: Snapshot) -> dict[str, tuple[str, str]]:
        owners = conda_owners(snapshot)
        found: dict[str, tuple[str, str]] = {}
        if owners is None:
            return found
        for pairs, verb in ((owners.replaced, "replaced"), (owners.both, "sits beside")):
            for record, dist in pairs:
                by = dist.installer or "an unknown installer"
                state = f"{dist} (installed by {by}) {verb}"
                found[record.name] = (state, f"{state} conda's {record.name} {record.version}")
        return found

    sa, sb = states(a), states(b)
    changes = []
    for name in sorted(sa.keys() | sb.keys()):
        va, vb = sa.get(name), sb.get(name)
        if va == vb:
            continue
        said = (f"{vb[1]} in B" if vb else "") + ("; " if va and vb else "")
        said += f"{va[1]} in A" if va else ""
        changes.append(
            Change(
                DISTRIBUTIONS,
                1,
                CHANGED,
                name,
                "installed over conda",
                f"{name}: {said}",
                va[0] if va else None,
                vb[0] if vb else None,
                distribution=name,
            )
        )
    return changes


def _entry_origins(snapshot: Snapshot) -> dict[str, str]:
    return {entry.path: entry.origin for entry in snapshot.paths.entries}


def _distribution(
    da: Distribution, db: Distribution, rel_a: _Relative, rel_b: _Relative
) -> list[Change]:
    changes: list[Change] = []

    def change(weight: int, aspect: str, va: str | None, vb: str | None, summary: str) -> None:
        changes.append(
            Change(
                DISTRIBUTIONS,
                weight,
                CHANGED,
                db.name,
                aspect,
                summary,
                va,
                vb,
                distribution=db.name,
            )
        )

    changes += _wheel_platforms(da, db)
    if da.version != db.version:
        local = _local_versions(da.version, db.version)
        summary = f"{db.name}: version {da.version} in A, {db.version} in B"
        if local:
            summary += f" (local version {local})"
        change(1, "version", da.version, db.version, summary)
    if da.wheel_build != db.wheel_build:
        change(
            4,
            "build tag",
            da.wheel_build,
            db.wheel_build,
            f"{db}: wheel build tag {da.wheel_build or '(none)'} in A, "
            f"{db.wheel_build or '(none)'} in B",
        )
    if (
        da.version == db.version
        and da.wheel_tags != db.wheel_tags
        and _interpreter_tags(da) != _interpreter_tags(db)
    ):
        ta, tb = ", ".join(da.wheel_tags) or None, ", ".join(db.wheel_tags) or None
        change(
            5,
            "wheel tags",
            ta,
            tb,
            f"{db}: wheel tags {ta or '(none)'} in A, {tb or '(none)'} in B",
        )
    oa, ob = _source(da, rel_a), _source(db, rel_b)
    if oa != ob:
        change(6, "source", oa, ob, f"{db}: installed from {oa} in A, {ob} in B")
    if (da.installer or None) != (db.installer or None):
        ia, ib = da.installer or "(unknown)", db.installer or "(unknown)"
        change(
            7, "installer", da.installer, db.installer, f"{db}: installed by {ia} in A, {ib} in B"
        )
    return changes


def _local_versions(va: str | None, vb: str | None) -> str | None:
    """``+cu118 in A, +cu121 in B`` when the local versions (PEP 440) differ; None else."""
    from packaging.version import InvalidVersion, Version

    locals_: list[str | None] = []
    for text in (va, vb):
        try:
            locals_.append(Version(text).local if text else None)
        except InvalidVersion:
            locals_.append(None)
    la, lb = locals_
    if la == lb:
        return None
    if la is None:
        return f"+{lb} in B only"
    if lb is None:
        return f"+{la} in A only"
    return f"+{la} in A, +{lb} in B"


def _tags(dist: Distribution) -> list[Any]:
    from packaging.tags import parse_tag

    tags: list[Any] = []
    for text in dist.wheel_tags:
        try:
            tags += sorted(parse_tag(text), key=str)
        except ValueError:  # a malformed Tag line: dist-metadata-invalid says so
            continue
    return tags


def _interpreter_tags(dist: Distribution) -> set[str]:
    return {f"{t.interpreter}-{t.abi}" for t in _tags(dist)}


def _wheel_platforms(da: Distribution, db: Distribution) -> list[Change]:
    """What the platform tags of the two wheels promise, where that differs."""
    if not da.wheel_tags or not db.wheel_tags or da.wheel_tags == db.wheel_tags:
        return []
    pa = [(t.platform, parse_platform_tag(t.platform)) for t in _tags(da)]
    pb = [(t.platform, parse_platform_tag(t.platform)) for t in _tags(db)]
    changes = []
    for aspect, index in (("wheel architecture", 0), ("wheel C library", 1)):
        va = ", ".join(sorted({_platform_facts(*p)[index] for p in pa}))
        vb = ", ".join(sorted({_platform_facts(*p)[index] for p in pb}))
        if va != vb:
            changes.append(
                Change(
                    DISTRIBUTIONS,
                    0,
                    CHANGED,
                    db.name,
                    aspect,
                    f"{db}: {aspect} {vb} in B, {va} in A",
                    va,
                    vb,
                    distribution=db.name,
                )
            )
    if not changes:
        for libc in ("glibc", "musl"):
            ba, bb = _baseline([p for _, p in pa], libc), _baseline([p for _, p in pb], libc)
            if ba and bb and ba != bb:
                changes.append(
                    Change(
                        DISTRIBUTIONS,
                        0,
                        CHANGED,
                        db.name,
                        f"wheel {libc} baseline",
                        f"{db}: wheel needs {libc} {bb} in B, {ba} in A",
                        ba,
                        bb,
                        distribution=db.name,
                    )
                )
    return changes


def _platform_facts(platform: str, parsed: PlatformTag | None) -> tuple[str, str]:
    """(architecture, C library) a platform tag promises; a tag that is not Linux's (``any``,
    ``macosx_11_0_arm64``) stands for itself."""
    if parsed is None:
        return platform, platform
    return parsed.arch, parsed.libc or "unspecified"


def _baseline(platforms: Iterable[PlatformTag | None], libc: str) -> str | None:
    """The oldest C library version a wheel's tags claim to run on (its manylinux floor)."""
    versions = [p.version for p in platforms if p and p.libc == libc and p.version]
    return ".".join(map(str, min(versions))) if versions else None


def _source(dist: Distribution, rel: _Relative) -> str:
    """Where a distribution came from, in words (PEP 610 ``direct_url.json``).

    Without ``direct_url.json`` it came from an index (or a conda channel): pip records no
    index URL, so which index is not known.
    """
    info = dist.direct_url
    if not isinstance(info, Mapping):
        return "an index"
    url = rel(str(info.get("url", "?")))
    vcs = info.get("vcs_info")
    if isinstance(vcs, Mapping):
        commit = vcs.get("commit_id")
        return f"{vcs.get('vcs', 'vcs')}+{url}" + (f"@{commit}" if commit else "")
    if dist.editable:
        return f"editable {url}"
    return url


# --- 3. files inside the same version -------------------------------------------------------


def _files(a: Snapshot, b: Snapshot, notes: list[str]) -> list[Change]:
    deep = a.scope.deep and b.scope.deep
    if a.scope.deep != b.scope.deep:
        shallow = "A" if not a.scope.deep else "B"
        notes.append(
            f"{shallow} was taken without --deep: file contents are compared only by the "
            "hashes RECORD lists"
        )
    # A script's RECORD hash covers its #! line, which names the environment's interpreter:
    # in another prefix it differs by construction, so such files are compared by name only.
    moved = a.target.prefix != b.target.prefix
    by_b = b.inventory.by_key
    changes: list[Change] = []
    for da in a.inventory.distributions:
        db = by_b.get(da.key)
        if db is None or da.version != db.version:
            continue
        changes += _dist_files(da, db, deep=deep, moved=moved)
    return changes


def _rows(dist: Distribution) -> dict[str, str | None]:
    rows: dict[str, str | None] = {}
    for entry in dist.record or ():
        path = entry.path
        # Bytecode is derived (and not every installer writes it); install records are
        # compared as facts in the distributions tier.
        if path.endswith(".pyc") or (
            os.path.basename(path) in _INSTALL_RECORDS and ".dist-info/" in path
        ):
            continue
        rows[path] = normal_hash(entry.hash) if entry.hash else None
    return rows


def _dist_files(da: Distribution, db: Distribution, *, deep: bool, moved: bool) -> list[Change]:
    if da.record == db.record and da.integrity == db.integrity:
        return []  # the common case, at C speed: the same rows, nothing found missing
    changes: list[Change] = []

    def change(weight: int, kind: str, aspect: str, items: Iterable[str], summary: str) -> None:
        listed = tuple(sorted(items))
        if listed:
            changes.append(
                Change(
                    FILES,
                    weight,
                    kind,
                    db.name,
                    aspect,
                    summary.format(files=plural(len(listed), "file"), dist=db),
                    str(len(listed)),
                    None,
                    distribution=db.name,
                    items=listed,
                )
            )

    missing_a, missing_b = set(da.integrity.missing), set(db.integrity.missing)
    change(0, ONLY_A, "files missing in B", missing_b - missing_a, "{dist}: {files} missing in B")
    change(0, ONLY_B, "files missing in A", missing_a - missing_b, "{dist}: {files} missing in A")
    if deep:
        diff_a = {h.path: h for h in da.integrity.differing}
        diff_b = {h.path: h for h in db.integrity.differing}
        changed = [
            path
            for path in diff_a.keys() | diff_b.keys()
            if not (moved and _is_script(path, diff_a, diff_b))
            and ((path in diff_a) != (path in diff_b) or diff_a[path].digest != diff_b[path].digest)
        ]
        change(
            1,
            CHANGED,
            "file contents",
            changed,
            "{dist}: {files} with other contents (hashed with --deep)",
        )
    if da.record is None or db.record is None:
        return changes
    rows_a, rows_b = _rows(da), _rows(db)
    only_a = sorted(rows_a.keys() - rows_b.keys())
    only_b = sorted(rows_b.keys() - rows_a.keys())
    hashed = sorted(
        path
        for path, digest in rows_a.items()
        if digest
        and rows_b.get(path)
        and rows_b[path] != digest
        and not (moved and path.startswith(".."))
    )
    if da.wheel_tags != db.wheel_tags or da.wheel_build != db.wheel_build:
        # Another wheel: its files differ by construction, and the distributions tier already
        # says why; one line, with every file for --json.
        items = [f"≠ {p}" for p in hashed] + [f"- {p}" for p in only_a]
        items += [f"+ {p}" for p in only_b]
        if items:
            changes.append(
                Change(
                    FILES,
                    4,
                    CHANGED,
                    db.name,
                    "files of another wheel",
                    f"{db}: another wheel, {plural(len(hashed), 'file')} with other hashes, "
                    f"{len(only_a)} only in A, {len(only_b)} only in B",
                    str(len(rows_a)),
                    str(len(rows_b)),
                    distribution=db.name,
                    items=tuple(items),
                )
            )
        return changes
    change(3, ONLY_A, "files only in A", only_a, "{dist}: {files} only in A's RECORD")
    change(3, ONLY_B, "files only in B", only_b, "{dist}: {files} only in B's RECORD")
    change(
        2,
        CHANGED,
        "RECORD hashes",
        hashed,
        "{dist}: {files} with other hashes in RECORD (another build of the same version)",
    )
    return changes


def _is_script(path: str, *sides: Mapping[str, Any]) -> bool:
    return path.startswith("..") or any(path in side and side[path].shebang for side in sides)


# --- 4. environment and sys.path ------------------------------------------------------------


def _gpu(a: Snapshot, b: Snapshot, notes: list[str]) -> list[Change]:
    """The machines' NVIDIA drivers and devices, and what each GPU framework was built for:
    "works on the GPU node, not on mine" is often only this."""
    changes: list[Change] = []
    ga, gb = a.gpu, b.gpu
    if (ga is None) != (gb is None):
        notes.append("only one side has the machine's GPU facts: drivers and devices not compared")
    elif ga is not None and gb is not None:

        def devices(facts: Any) -> str:
            names = [
                f"{d.name or 'GPU'}"
                + (f" ({d.compute_capability})" if d.compute_capability else "")
                for d in facts.devices
            ]
            return ", ".join(sorted(names)) or "none"

        rows = (
            (1, "NVIDIA driver", ga.driver_version or "none", gb.driver_version or "none"),
            (2, "CUDA the driver runs", ga.cuda_driver_version, gb.cuda_driver_version),
            (3, "GPUs", devices(ga), devices(gb)),
            (4, "libcuda.so.1", ga.libcuda or "not found", gb.libcuda or "not found"),
        )
        for weight, aspect, va, vb in rows:
            if va is None or vb is None or va == vb:
                continue
            summary = f"{aspect}: {va} in A, {vb} in B"
            changes.append(Change(PATHS, weight, CHANGED, "GPU", aspect, summary, va, vb))
    builds_a = {b.distribution: b for b in a.frameworks or ()}
    builds_b = {b.distribution: b for b in b.frameworks or ()}
    for name in sorted(builds_a.keys() & builds_b.keys()):
        ba, bb = builds_a[name], builds_b[name]
        va, vb = _built_for(ba), _built_for(bb)
        if va != vb:
            summary = f"{name}: built for {va} in A, {vb} in B"
            changes.append(Change(DISTRIBUTIONS, 1, CHANGED, name, "GPU build", summary, va, vb))
    return changes


def _built_for(build: Any) -> str:
    """``CUDA 13.0 (sm_75 … sm_120)``, ``ROCm 6.2``, ``the CPU only``, ``unknown``."""
    if build.cuda:
        archs = " ".join((*build.architectures, *build.ptx))
        return f"CUDA {build.cuda}" + (f" ({archs})" if archs else "")
    if build.hip:
        return f"ROCm {build.hip}"
    return "the CPU only" if build.gpu_build is False else "unknown"


def _environment(
    a: Snapshot, b: Snapshot, rel_a: _Relative, rel_b: _Relative, notes: list[str]
) -> list[Change]:
    env_a, env_b = a.target.environ, b.target.environ
    # A static reading records only the variables it can know from here: a variable it
    # lacks is unknown there, not unset.
    static = [side for side, s in (("A", a), ("B", b)) if s.target.mode == "static"]
    keys = env_a.keys() | env_b.keys()
    if static:
        notes.append(
            f"{' and '.join(static)} looked at statically: environment variables it does not "
            "record are not compared"
        )
        keys = env_a.keys() & env_b.keys()
    changes = []
    for key in sorted(keys):
        va = rel_a(env_a[key]) if key in env_a else None
        vb = rel_b(env_b[key]) if key in env_b else None
        if va == vb:
            continue
        kind = CHANGED if va is not None and vb is not None else ONLY_A if vb is None else ONLY_B
        summary = (
            f"{key} is set only in A: {va}"
            if vb is None
            else f"{key} is set only in B: {vb}"
            if va is None
            else f"{key}: {va} in A, {vb} in B"
        )
        changes.append(Change(PATHS, 0, kind, key, "environment variable", summary, va, vb))
    return changes


def _sys_path(a: Snapshot, b: Snapshot, rel_a: _Relative, rel_b: _Relative) -> list[Change]:
    entries_a = {rel_a(e.path): e.origin for e in a.paths.entries}
    entries_b = {rel_b(e.path): e.origin for e in b.paths.entries}
    changes: list[Change] = []
    only_a = [p for p in entries_a if p not in entries_b]
    only_b = [p for p in entries_b if p not in entries_a]
    if only_a:
        changes.append(
            Change(
                PATHS,
                1,
                ONLY_A,
                "sys.path",
                "entries only in A",
                f"sys.path: {len(only_a)} entry(ies) only in A",
                str(len(only_a)),
                None,
                items=tuple(f"{p}  ({entries_a[p]})" for p in only_a),
            )
        )
    if only_b:
        changes.append(
            Change(
                PATHS,
                1,
                ONLY_B,
                "sys.path",
                "entries only in B",
                f"sys.path: {len(only_b)} entry(ies) only in B",
                None,
                str(len(only_b)),
                items=tuple(f"{p}  ({entries_b[p]})" for p in only_b),
            )
        )
    for path, origin in entries_a.items():
        other = entries_b.get(path)
        if other is not None and other != origin:
            changes.append(
                Change(
                    PATHS,
                    2,
                    CHANGED,
                    path,
                    "sys.path origin",
                    f"sys.path entry {path}: from {origin} in A, {other} in B",
                    origin,
                    other,
                )
            )
    common_a = [p for p in entries_a if p in entries_b]
    common_b = [p for p in entries_b if p in entries_a]
    if common_a != common_b:
        changes.append(
            Change(
                PATHS,
                3,
                CHANGED,
                "sys.path",
                "order",
                "sys.path: the entries both have come in another order",
                "\n".join(common_a),
                "\n".join(common_b),
            )
        )
    pth_a = {rel_a(p.path): tuple(rel_a(line.text) for line in p.lines) for p in a.paths.pth_files}
    pth_b = {rel_b(p.path): tuple(rel_b(line.text) for line in p.lines) for p in b.paths.pth_files}
    for path in sorted(pth_a.keys() | pth_b.keys()):
        la, lb = pth_a.get(path), pth_b.get(path)
        if la == lb:
            continue
        kind = CHANGED if la is not None and lb is not None else ONLY_A if lb is None else ONLY_B
        where = {CHANGED: "differs", ONLY_A: "is only in A", ONLY_B: "is only in B"}[kind]
        changes.append(
            Change(
                PATHS,
                4,
                kind,
                os.path.basename(path),
                ".pth file",
                f".pth file {path} {where}",
                "\n".join(la) if la is not None else None,
                "\n".join(lb) if lb is not None else None,
            )
        )
    return changes


# --- 5. findings ----------------------------------------------------------------------------


def _findings(
    findings_a: Sequence[Finding],
    findings_b: Sequence[Finding],
    rel_a: _Relative,
    rel_b: _Relative,
) -> list[Change]:
    def keyed(findings: Sequence[Finding], rel: _Relative) -> dict[tuple[str, ...], Finding]:
        return {
            (f.code, f.distribution or "", rel(f.message), rel(f.path or "")): f for f in findings
        }

    ka, kb = keyed(findings_a, rel_a), keyed(findings_b, rel_b)
    changes = []
    for keys, side, kind, rel in ((ka, kb, ONLY_A, rel_a), (kb, ka, ONLY_B, rel_b)):
        for key, finding in keys.items():
            if key in side:
                continue
            where = "A" if kind == ONLY_A else "B"
            changes.append(
                Change(
                    FINDINGS,
                    # Worst first; then what B (the broken side, usually) has.
                    2 * (int(Severity.ERROR) - int(finding.severity)) + (kind == ONLY_A),
                    kind,
                    finding.code,
                    "finding",
                    f"only in {where}: {rel(finding.message)}",
                    rel(finding.message) if kind == ONLY_A else None,
                    rel(finding.message) if kind == ONLY_B else None,
                    distribution=finding.distribution,
                    severity=finding.severity.label,
                )
            )
    return changes


@fact
class Side(Fact):
    """One side of a diff as the user named it: ``source`` (the argument), its ``kind``
    (``snapshot``, ``prefix`` or ``python``) and what was seen there."""

    source: str
    kind: str
    snapshot: Snapshot


__all__ = [
    "CHANGED",
    "DISTRIBUTIONS",
    "FILES",
    "FINDINGS",
    "INTERPRETER",
    "ONLY_A",
    "ONLY_B",
    "PATHS",
    "TIER_NAMES",
    "Change",
    "Diff",
    "Side",
    "compare",
]
