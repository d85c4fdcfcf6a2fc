"""conda's own records: what ``conda doctor`` checks (missing and altered files, consistency
of ``depends``/``constrains``, ``pinned``, ``environments.txt``), with evidence.

The upstream checks are conda's ``conda/plugins/subcommands/doctor/health_checks/``
(``missing_files.py``, ``altered_files.py``, ``consistency.py``, ``pinned.py``,
``environment_txt.py``). Where pkgdoctor differs, it is on purpose (docs/design.md, "What
``conda doctor`` checks"):

- files that pip or another conda package replaced are :mod:`pkgdoctor.checks.ownership`'s
  business (:func:`pkgdoctor.checks.ownership.explained`), not "missing" or "altered" here
  (conda doctor reports them as altered: conda/conda#13574);
- a virtual package pkgdoctor cannot know (``__cuda`` without ``CONDA_OVERRIDE_CUDA``,
  ``__archspec``) is not judged, never reported missing;
- match specs are judged by py-rattler (:mod:`pkgdoctor.conda_specs`); without it, what needs
  them is said once (``conda-specs-not-judged``), not guessed.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pkgdoctor import codes
from pkgdoctor.checks.context import Context
from pkgdoctor.checks.ownership import explained
from pkgdoctor.conda_specs import available, install_command, matches, parse_error, spec_name
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.snapshot.model import CondaFacts, CondaRecord
from pkgdoctor.target.facts import Target

AREA = "conda"
MAX_LISTED = 10  # paths named in one finding's evidence; the counts say how many in all

# A file whose loss breaks an import or a program, not only documentation: the error case of
# conda-files-missing (as record-missing-file tells code from data).
_CODE_SUFFIXES = (".py", ".so", ".pyd", ".dylib", ".a")
_SHARED_LIBRARY = re.compile(r"\.so(\.\d+)*$")
# conda's __linux version: the kernel release up to its third or fourth number
# (conda/plugins/virtual_packages/linux.py, LINUX_VERSION_PATTERN).
_LINUX_VERSION = re.compile(r"\d+\.\d+(\.\d+)?(\.\d+)?")


def check(ctx: Context) -> list[Finding]:
    facts = ctx.conda_facts
    if facts is None:
        return []
    ctx.examined[AREA] = len(facts.records)
    findings = _invalid(ctx, facts)
    for record in facts.records:
        findings += _files(ctx, facts, record)
    findings += _consistency(ctx, facts)
    findings += _pinned(ctx, facts)
    findings += _registry(facts)
    if not available() and (facts.pinned or any(r.depends or r.constrains for r in facts.records)):
        findings.append(_not_judged(facts))
    return findings


# What the Integrity family says about a distribution's RECORD, and the conda finding that
# says it about the conda package that installed it.
_SAME_CAUSE = {
    codes.RECORD_MISSING_FILE.code: codes.CONDA_FILES_MISSING.code,
    codes.RECORD_HASH_MISMATCH.code: codes.CONDA_FILES_ALTERED.code,
}


def reconcile(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Fold ``record-missing-file``/``record-hash-mismatch`` of a distribution that conda
    installed into its package's ``conda-files-missing``/``conda-files-altered`` when every
    file they name is in that finding: one deletion, reported once, by the record that
    knows every file of the package (RECORD knows only the Python ones)."""
    facts = ctx.conda_facts
    if facts is None:
        return findings
    conda_findings = {(f.code, f.path): f for f in findings if f.code in _SAME_CAUSE.values()}
    if not conda_findings:
        return findings
    dists = {d.metadata_dir: d for d in ctx.inventory.distributions}
    folded: dict[int, list[Finding]] = {}
    kept = []
    for finding in findings:
        code = _SAME_CAUSE.get(finding.code)
        dist = dists.get(finding.path or "") if code else None
        record = ctx.conda_record(dist)
        mine = conda_findings.get((code, record.record_file)) if code and record else None
        if dist is not None and record is not None and mine is not None:
            if code == codes.CONDA_FILES_MISSING.code:
                named = set(dist.missing_paths)
                files = record.missing
            else:
                named = {h.located for h in dist.integrity.differing}
                files = record.altered
            left = set(files) - explained(ctx, record)
            if {posixpath.relpath(p, facts.prefix) for p in named} <= left:
                folded.setdefault(id(mine), []).append(finding)
                continue
        kept.append(finding)
    out = []
    for finding in kept:
        for other in folded.get(id(finding), ()):
            key = (
                "record_missing"
                if other.code == codes.RECORD_MISSING_FILE.code
                else "record_differing"
            )
            count = other.evidence.get("missing_count", other.evidence.get("file_count"))
            evidence = {**finding.evidence, f"{key}_count": count, f"{key}_in": other.path}
            finding = dataclasses.replace(finding, evidence=evidence)
        out.append(finding)
    return out


def _files_of(count: int) -> str:
    return "1 file of" if count == 1 else f"{count} files of"


def _are(count: int) -> str:
    return "is" if count == 1 else "are"


def _differ(count: int) -> str:
    return "differs" if count == 1 else "differ"


def _verb(need: _Need, singular: str) -> str:
    """``needs``/``need`` for the dependents of ``need``."""
    return singular if len(need.asked) == 1 else singular.removesuffix("s")


def _first(paths: list[str]) -> str:
    return paths[0] + (" …" if len(paths) > 1 else "")


def _listed(paths: Iterable[str]) -> list[str]:
    return sorted(paths)[:MAX_LISTED]


# --- missing and altered files (conda doctor's missing_files.py, altered_files.py) ------------


def _matters(path: str) -> bool:
    name = posixpath.basename(path)
    return (
        path.startswith("bin/")
        or name.endswith(_CODE_SUFFIXES)
        or bool(_SHARED_LIBRARY.search(name))
    )


def _files(ctx: Context, facts: CondaFacts, record: CondaRecord) -> list[Finding]:
    if not (record.missing or record.altered):
        return []
    elsewhere = explained(ctx, record)
    missing = [p for p in record.missing if p not in elsewhere]
    altered = [p for p in record.altered if p not in elsewhere and p not in set(missing)]
    findings = []
    if missing:
        code = [p for p in missing if _matters(p)]
        findings.append(
            codes.CONDA_FILES_MISSING.finding(
                f"{_files_of(len(missing))} conda's {record.describe} "
                f"{_are(len(missing))} gone from the prefix ({_first(missing)}).",
                severity=None if code else Severity.WARNING,
                distribution=record.name,
                path=record.record_file,
                evidence={
                    "conda_package": record.dist_name,
                    "record": record.record_file,
                    "missing": _listed(missing),
                    "missing_count": len(missing),
                    "code_or_library": _listed(code),
                },
                command=ctx.conda_reinstall(record),
                explanation=(
                    f"conda links every file of {record.name} again from its package cache "
                    "(downloading the package if the cache no longer has it)."
                ),
            )
        )
    if altered:
        # The look compares contents only with --deep (size, then sha256).
        compared = "sha256" if facts.deep else "size"
        rewritten = sum(
            1
            for f in record.files
            if f.sha256 is None and f.size is None and f.path_type not in ("softlink", "directory")
        )
        findings.append(
            codes.CONDA_FILES_ALTERED.finding(
                f"{_files_of(len(altered))} conda's {record.describe} "
                f"{_differ(len(altered))} from its record ({compared}) and no other package "
                f"installed them: altered by hand ({_first(altered)}).",
                distribution=record.name,
                path=record.record_file,
                evidence={
                    "conda_package": record.dist_name,
                    "record": record.record_file,
                    "altered": _listed(altered),
                    "altered_count": len(altered),
                    "compared": compared,
                    # Rewritten by conda at link time (a prefix placeholder) and recorded
                    # without sha256_in_prefix: their content is not known, so not compared.
                    "not_compared": rewritten,
                },
                command=ctx.conda_reinstall(record),
                explanation=(
                    f"conda links {record.name}'s own files again; save your changes first "
                    "if you made them on purpose."
                ),
            )
        )
    return findings


# --- consistency (conda doctor's consistency.py, find_inconsistent_packages) ------------------


@dataclass(frozen=True)
class _Virtual:
    """A virtual package of the target as conda would detect it: ``version`` None when the
    target has it but pkgdoctor does not know its version (not judged)."""

    version: str | None
    build: str = "0"


# The virtual packages conda exports on another platform only (conda/plugins/virtual_packages/
# osx.py, windows.py, freebsd.py): on Linux they are known to be absent.
_PLATFORM_NAMES = {"__osx": "macOS", "__win": "Windows", "__freebsd": "FreeBSD"}
_OTHER_PLATFORMS = frozenset(_PLATFORM_NAMES)


def virtual_packages(target: Target) -> dict[str, _Virtual | None]:
    """What pkgdoctor knows of the target's virtual packages, as conda's plugins detect them
    (``conda/plugins/virtual_packages/``) and with conda's ``CONDA_OVERRIDE_*`` variables: a
    :class:`_Virtual` for one it has, None for one it is known not to have (``__osx`` on
    Linux). A name not here is not known either way (``__cuda`` without an override,
    ``__conda``): see :func:`_unknown`."""
    environ = target.environ
    out: dict[str, _Virtual | None] = {}
    if target.markers.get("sys_platform", "linux") != "linux":
        return out
    out.update(dict.fromkeys(_OTHER_PLATFORMS))
    out["__unix"] = _Virtual("0")
    release = environ.get("CONDA_OVERRIDE_LINUX") or target.markers.get("platform_release", "")
    version = _LINUX_VERSION.match(release)
    out["__linux"] = _Virtual(version.group() if version else None)
    libc = target.interpreter.libc
    glibc = environ.get("CONDA_OVERRIDE_GLIBC")
    if glibc or (libc is not None and libc.family == "glibc"):
        out["__glibc"] = _Virtual(glibc or (libc.version if libc else None))
    cuda = environ.get("CONDA_OVERRIDE_CUDA")
    if cuda:  # conda: an empty override means "no __cuda"; unset, it asks the driver
        out["__cuda"] = _Virtual(cuda)
    archspec = environ.get("CONDA_OVERRIDE_ARCHSPEC")
    if archspec:  # __archspec==1=BUILD (conda/plugins/virtual_packages/archspec.py)
        out["__archspec"] = _Virtual("1", archspec)
    return out


def _unknown(name: str, known: Mapping[str, _Virtual | None]) -> bool:
    """Whether pkgdoctor cannot tell if the target has the virtual package ``name`` (in
    the version a spec asks for)."""
    if name not in known:
        return True
    virtual = known[name]
    return virtual is not None and virtual.version is None


@dataclass
class _Need:
    """What the installed packages ask of one package name."""

    name: str
    asked: list[tuple[CondaRecord, str, str]]  # (who, spec, "depends" or "constrains")


def _consistency(ctx: Context, facts: CondaFacts) -> list[Finding]:
    installed = {r.name.lower(): r for r in facts.records}
    known = virtual_packages(ctx.target)
    missing: dict[str, _Need] = {}
    conflicts: dict[str, _Need] = {}
    for record in facts.records:
        for kind, specs in (("depends", record.depends), ("constrains", record.constrains)):
            for spec in specs:
                name = spec_name(spec)
                if name is None:
                    continue
                dep = installed.get(name)
                if dep is not None:
                    ok = matches(
                        spec, dep.name, dep.version, dep.build, dep.build_number or 0,
                        dep.subdir or "noarch",
                    )  # fmt: skip
                elif name.startswith("__"):
                    if _unknown(name, known):
                        continue
                    virtual = known.get(name)
                    if virtual is None or virtual.version is None:
                        if kind == "depends":
                            missing.setdefault(name, _Need(name, [])).asked.append(
                                (record, spec, kind)
                            )
                        continue
                    ok = matches(spec, name, virtual.version, virtual.build)
                else:
                    if kind == "depends":
                        missing.setdefault(name, _Need(name, [])).asked.append((record, spec, kind))
                    continue  # a constrains on a package that is not there holds
                if ok is False:
                    conflicts.setdefault(name, _Need(name, [])).asked.append((record, spec, kind))
    findings = [_missing(ctx, need) for _, need in sorted(missing.items())]
    findings += [
        _conflict(ctx, need, installed.get(name), known.get(name))
        for name, need in sorted(conflicts.items())
    ]
    return findings


def _asked(need: _Need) -> list[dict[str, str]]:
    return [
        {"package": r.dist_name, "record": r.record_file, kind: spec}
        for r, spec, kind in need.asked[:MAX_LISTED]
    ]


def _who(need: _Need) -> str:
    names = [f"{r.name} {r.version} ({spec})" for r, spec, _ in need.asked[:3]]
    more = len(need.asked) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _install(ctx: Context, need: _Need) -> str:
    """``conda install -p P -y SPEC``: the one spec asked for, else the name alone (conda's
    solver keeps every installed package's depends satisfied as it picks a version)."""
    specs = sorted({spec for _, spec, _ in need.asked})
    return ctx.conda("install -y " + shlex.quote(specs[0] if len(specs) == 1 else need.name))


def _missing(ctx: Context, need: _Need) -> Finding:
    first = need.asked[0][0]
    evidence = {"dependency": need.name, "needed_by": _asked(need), "count": len(need.asked)}
    if need.name.startswith("__"):
        platform = _PLATFORM_NAMES.get(need.name, need.name[2:])
        return codes.CONDA_DEPENDENCY_MISSING.finding(
            f"{_who(need)} {_verb(need, 'needs')} the virtual package {need.name}, which "
            f"this system does not have: built for {platform}, not for this platform.",
            distribution=first.name,
            path=first.record_file,
            evidence=evidence,
            explanation=(
                f"A virtual package stands for the system ({need.name}: {platform}) and "
                "cannot be installed; install these packages built for this platform (conda "
                "install --force-reinstall with this platform's subdir), or remove them."
            ),
        )
    return codes.CONDA_DEPENDENCY_MISSING.finding(
        f"{_who(need)} {_verb(need, 'needs')} {need.name}, which is not installed in this "
        "environment.",
        distribution=first.name,
        path=first.record_file,
        evidence=evidence,
        command=_install(ctx, need),
        explanation=(
            f"conda installs {need.name} as the dependents ask (something removed it with "
            "--force or without conda)."
        ),
    )


def _conflict(
    ctx: Context, need: _Need, dep: CondaRecord | None, virtual: _Virtual | None
) -> Finding:
    first = need.asked[0][0]
    if dep is not None:
        have = dep.describe
        path = dep.record_file
    else:
        have = f"{need.name} {virtual.version if virtual else '?'} (this system)"
        path = first.record_file
    evidence = {
        "dependency": need.name,
        "installed": dep.dist_name if dep else have,
        "asked_by": _asked(need),
        "count": len(need.asked),
    }
    if dep is None:
        return codes.CONDA_DEPENDENCY_CONFLICT.finding(
            f"{_who(need)} cannot run with {have}.",
            distribution=first.name,
            path=path,
            evidence=evidence,
            explanation=(
                f"{need.name} is a virtual package (the system itself); install builds of "
                f"{', '.join(sorted({r.name for r, _, _ in need.asked}))} made for it."
            ),
        )
    return codes.CONDA_DEPENDENCY_CONFLICT.finding(
        f"{_who(need)} {_verb(need, 'asks')} for {need.name}, but {have} is installed.",
        distribution=dep.name,
        path=path,
        evidence=evidence,
        command=_install(ctx, need),
        explanation=(
            f"conda replaces {need.name} with a version that every installed package accepts "
            "(it was installed with --no-deps, --force, or by hand)."
        ),
    )


# --- pinned (conda doctor's pinned.py) --------------------------------------------------------


def _pinned(ctx: Context, facts: CondaFacts) -> list[Finding]:
    path = posixpath.join(facts.prefix, "conda-meta", "pinned")
    if facts.pinned_problem is not None:
        return [
            codes.CONDA_PINNED_MALFORMED.finding(
                f"conda cannot read {path}: {facts.pinned_problem}.",
                path=path,
                evidence={"pinned": path, "problem": facts.pinned_problem},
                explanation=(
                    "conda reads this file before every install or update in this "
                    "environment; make it a UTF-8 text file of match specs, one a line, or "
                    "remove it."
                ),
            )
        ]
    if not facts.pinned:
        return []
    names = {r.name.lower() for r in facts.records}
    unparsable: list[tuple[int, str, str]] = []
    absent: list[tuple[int, str]] = []
    for number, spec in facts.pinned:
        error = parse_error(spec)
        if error is not None:
            unparsable.append((number, spec, error))
            continue
        name = spec_name(spec)
        if name is None:
            unparsable.append((number, spec, "no package name"))
        elif name not in names:
            absent.append((number, spec))
    if not (unparsable or absent):
        return []
    lines = [{"line": n, "spec": s, "problem": e} for n, s, e in unparsable]
    lines += [{"line": n, "spec": s, "problem": "no such package installed"} for n, s in absent]
    lines.sort(key=lambda line: int(str(line["line"])))
    if unparsable:
        number, spec, error = unparsable[0]
        message = (
            f"conda cannot parse line {number} of {path} ({spec!r}: {error}); every conda "
            "install or update in this environment fails."
        )
        command: str | None = (
            "sed -i "
            + shlex.quote(";".join(f"{n}d" for n, _, _ in unparsable))
            + " "
            + shlex.quote(path)
        )
        explanation = (
            f"Delete what conda cannot parse (line {', '.join(str(n) for n, _, _ in unparsable)}"
            "), or write them as match specs (numpy 1.26.*, python >=3.11,<3.12)."
        )
    else:
        number, spec = absent[0]
        message = (
            f"Line {number} of {path} pins {spec!r}, a package this environment does not "
            'have (conda doctor: "maybe malformed").'
        )
        command = None
        explanation = (
            "A typo in a pin is silently ignored; if you do not mean to install it later, "
            f"delete the line (sed -i '{number}d' {shlex.quote(path)})."
        )
    return [
        codes.CONDA_PINNED_MALFORMED.finding(
            message,
            severity=None if unparsable else Severity.INFO,
            path=path,
            evidence={"pinned": path, "lines": lines[:MAX_LISTED], "count": len(lines)},
            command=command,
            explanation=explanation,
        )
    ]


# --- environments.txt (conda doctor's environment_txt.py) -------------------------------------


def _registry(facts: CondaFacts) -> list[Finding]:
    """The prefix is not in the user's ``environments.txt``. Said only where conda would have
    written it there (``conda/core/envs_manager.py``, ``register_env``) and does not find the
    environment otherwise (``list_all_known_prefixes``): not for a prefix conda did not make
    (no revision in its history: rattler, pixi), for conda's own root (it holds the ``conda``
    package; conda always lists its root), for one in an ``envs/`` directory (conda's
    ``envs_dirs``, which ``conda env list`` scans), nor for a user whose conda never
    registered anything (no environments.txt: the environment is another account's)."""
    registry = facts.registry
    if registry is None or registry.lists_prefix or not registry.exists:
        return []
    if facts.history is None or facts.history.revisions == 0:
        return []
    if facts.record("conda") is not None:
        return []
    if posixpath.basename(posixpath.dirname(facts.prefix.rstrip("/"))) == "envs":
        return []
    line = shlex.quote(facts.prefix)
    return [
        codes.CONDA_ENV_UNREGISTERED.finding(
            f"{facts.prefix} is not listed in {registry.path}: conda works in it, but `conda "
            "env list` does not show it.",
            path=facts.prefix,
            evidence={"environments_txt": registry.path},
            command=f"echo {line} >> {shlex.quote(registry.path)}",
            explanation="The line conda itself appends when it creates an environment.",
        )
    ]


# --- records conda cannot read ----------------------------------------------------------------


def _invalid(ctx: Context, facts: CondaFacts) -> list[Finding]:
    findings = []
    for path, why in facts.unreadable:
        corrupt = why.startswith(("not valid JSON", "not a JSON object"))
        stem = posixpath.basename(path).removesuffix(".json")
        # conda's own reading of a record's file name: NAME-VERSION-BUILD.json
        name = stem.rsplit("-", 2)[0] if stem.count("-") >= 2 else None
        findings.append(
            codes.CONDA_RECORD_INVALID.finding(
                f"conda cannot read the record {path}: {why}."
                + (" Every conda command in this environment fails." if corrupt else ""),
                severity=Severity.ERROR if corrupt else None,
                distribution=name or None,
                path=path,
                evidence={"record": path, "problem": why},
                explanation=(
                    f"conda stops with CorruptedEnvironmentError. Move the record out of "
                    f"conda-meta (mv {shlex.quote(path)} {shlex.quote(path + '.corrupt')}), "
                    f"then install {stem} again with conda."
                    if corrupt
                    else "Find what wrote it; a conda record is the JSON conda wrote when it "
                    "linked the package."
                ),
            )
        )
    for record in facts.records:
        # conda ignores a record whose file name is not its name-version-build
        # (PrefixData._load_single_record: "Ignoring malformed prefix record").
        stem = posixpath.basename(record.record_file).removesuffix(".json")
        problems = list(record.problems)
        if stem != record.dist_name:
            problems.append(
                f"its file name says {stem} but it records {record.dist_name}: conda ignores it"
            )
        if problems:
            findings.append(
                codes.CONDA_RECORD_INVALID.finding(
                    f"The record of conda's {record.describe} is not what conda writes: "
                    f"{problems[0]}.",
                    distribution=record.name,
                    path=record.record_file,
                    evidence={"record": record.record_file, "problems": problems},
                    command=ctx.conda_reinstall(record),
                    explanation=(
                        "conda writes the record again when it links the package"
                        + (
                            f"; move the misnamed {stem}.json out of conda-meta first."
                            if stem != record.dist_name
                            else "."
                        )
                    ),
                )
            )
    history = facts.history
    if history is not None and history.problems:
        path = posixpath.join(facts.prefix, "conda-meta", "history")
        findings.append(
            codes.CONDA_RECORD_INVALID.finding(
                f"conda cannot read all of {path}: {history.problems[0]}.",
                path=path,
                evidence={"history": path, "problems": list(history.problems[:MAX_LISTED])},
                explanation=(
                    "conda reads the history for the specs you asked for (conda update "
                    "--all, conda env export --from-history); lines it cannot read are lost "
                    "to it. Do not edit the history by hand."
                ),
            )
        )
    return findings


# --- without py-rattler -----------------------------------------------------------------------


def _not_judged(facts: CondaFacts) -> Finding:
    command = install_command()
    return codes.CONDA_SPECS_NOT_JUDGED.finding(
        "conda's match specs were not judged (depends and constrains versions, pinned specs): "
        "pkgdoctor runs without py-rattler.",
        path=facts.prefix,
        evidence={
            "records": len(facts.records),
            "pinned": len(facts.pinned or ()),
            "judged": ["missing dependencies by name", "files", "registration"],
        },
        command=command,
        explanation=(
            "Add the conda extra to pkgdoctor's own environment (not the one checked)."
            if command
            else "py-rattler needs Python 3.10 or newer: run pkgdoctor with one."
        ),
    )
