"""Distributions: what ``pip check`` verifies, for any target, plus what it does not say.

Dependency verdicts follow ``pip check`` (pip/_internal/operations/check.py): for every
installed distribution, each ``Requires-Dist`` whose marker holds with ``extra == ""`` must
name an installed distribution whose version satisfies the specifier, pre-releases
included. Markers are evaluated with the *target's* marker environment (from the probe, or
from the files in static mode), never pkgdoctor's own. Like pip 24.2+, installed wheels
whose ``WHEEL`` tags the target does not support are reported — once: when extension
modules of the same distribution already show the cause (another architecture, libc or
Python), the tag becomes evidence of that finding instead. Files that the RECORDs of two
distributions both list (``opencv-python`` and ``opencv-python-headless``) are reported too:
pip never notices, it overwrites one's files with the other's and uninstalls them for both.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, NamedTuple

from pkgdoctor import codes
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding, Fix, Severity
from pkgdoctor.platforms import accepted_tags, cpython_abis, linux_platforms
from pkgdoctor.snapshot.model import (
    Distribution,
    Inventory,
    RecordEntry,
    SourceDir,
    normal_hash,
    normalize,
    not_regular_files,
)

AREA = "Distributions"

# This family's finding codes, defined in pkgdoctor.codes.
REQUIREMENT_MISSING = codes.DIST_REQUIREMENT_MISSING
REQUIREMENT_CONFLICT = codes.DIST_REQUIREMENT_CONFLICT
DUPLICATE = codes.DIST_DUPLICATE
CLOBBER = codes.DIST_CLOBBER
METADATA_INVALID = codes.DIST_METADATA_INVALID
PARTIAL_UNINSTALL = codes.DIST_PARTIAL_UNINSTALL
EDITABLE_SOURCE_MISSING = codes.DIST_EDITABLE_SOURCE_MISSING
WHEEL_TAG_MISMATCH = codes.DIST_WHEEL_TAG_MISMATCH

# Extension findings that explain a wheel built for another platform or Python.
_EXPLAINS_TAGS = {"ext-wrong-arch", "ext-abi-mismatch", "ext-libc-mismatch", "ext-suffix-mismatch"}


def check(ctx: Context) -> list[Finding]:
    inventory = ctx.inventory
    ctx.examined[AREA] = len(inventory.distributions)
    findings = _leftovers(ctx, inventory)
    findings += _duplicates(ctx, inventory)
    findings += _clobbers(ctx, inventory)
    findings += _dependencies(ctx, inventory)
    findings += _wheel_tags(ctx, inventory)
    findings += missing_sources(ctx)
    return findings


def reconcile(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Fold a wheel-tag finding into the extension finding that shows the same cause."""
    explained = {f.distribution for f in findings if f.code in _EXPLAINS_TAGS and f.distribution}
    tags = {
        f.distribution: f.evidence["wheel_tags"]
        for f in findings
        if f.code == WHEEL_TAG_MISMATCH.code and f.distribution in explained
    }
    result = []
    for finding in findings:
        if finding.code == WHEEL_TAG_MISMATCH.code and finding.distribution in explained:
            continue
        if finding.code in _EXPLAINS_TAGS and finding.distribution in tags:
            evidence = {**finding.evidence, "wheel_tags": tags[finding.distribution]}
            finding = replace(finding, evidence=evidence)
        result.append(finding)
    return result


# --- dependencies ---------------------------------------------------------------------------


class Requirement(NamedTuple):
    """What a ``Requires-Dist`` says, as far as the dependency verdicts need it."""

    name: str  # normalized
    text: str  # the whole requirement, marker included (str(packaging Requirement))
    spec: str  # name[extras]specifier, without the marker: how pip check prints it
    specifier: str
    applies: bool  # its marker holds for the target with extra == ""


class _Evaluator:
    """``packaging`` verdicts, memoized as pure functions of their inputs (the memo is kept
    in the persistent cache by the caller): a warm ``check`` needs neither packaging's import
    nor its parsers."""

    def __init__(self, ctx: Context) -> None:
        self.cache = ctx.memo
        self.environment = {**ctx.target.markers, "extra": ""}
        self.env_key = repr(sorted(self.environment.items()))

    def version_problem(self, version: str) -> str | None:
        """Why ``version`` is not PEP 440, or None."""
        hit = self.cache.decoded("version", version, None, _one_optional_str)
        if hit is not None:
            return hit[0]
        from packaging.version import InvalidVersion, Version

        try:
            Version(version)
            problem = None
        except InvalidVersion:
            problem = f"Version {version!r} is not a valid version (PEP 440)"
        self.cache.put("version", version, (problem,))
        return problem

    def requirement(self, text: str) -> Requirement | str:
        """The parsed requirement, or why it cannot be parsed or evaluated."""
        key = (text, self.env_key)
        hit = self.cache.decoded("requirement", key, None, _requirement)
        if hit is None:
            parsed = self._parse(text)
            self.cache.put("requirement", key, parsed)
            hit = _requirement(parsed)
        return hit

    def _parse(self, text: str) -> tuple[str, str, str, str, bool] | str:
        from packaging.requirements import InvalidRequirement
        from packaging.requirements import Requirement as Parsed

        try:
            req = Parsed(text)
        except InvalidRequirement as exc:
            return f"Requires-Dist {text!r}: {exc}"
        applies = True
        if req.marker is not None:
            try:
                applies = bool(req.marker.evaluate(self.environment))
            except Exception as exc:  # packaging raises several types for undefined comparisons
                return f"Requires-Dist {str(req)!r}: marker cannot be evaluated ({exc})"
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        spec = f"{req.name}{extras}{req.specifier}"
        return (normalize(req.name), str(req), spec, str(req.specifier), applies)

    def satisfies(self, specifier: str, version: str) -> bool:
        """Whether ``version`` is in ``specifier``, pre-releases included (as pip check)."""
        key = (specifier, version)
        hit = self.cache.decoded("satisfies", key, None, _bool)
        if hit is None:
            from packaging.specifiers import SpecifierSet

            hit = SpecifierSet(specifier).contains(version, prereleases=True)
            self.cache.put("satisfies", key, hit)
        return hit


# Decoders of memoized verdicts: a value of another shape raises, and is a miss.


def _one_optional_str(value: Any) -> tuple[str | None]:
    (problem,) = value
    if problem is not None and not isinstance(problem, str):
        raise TypeError("problem")
    return (problem,)


def _requirement(value: Any) -> Requirement | str:
    if isinstance(value, str):
        return value
    name, text, spec, specifier, applies = value
    if not all(isinstance(v, str) for v in (name, text, spec, specifier)):
        raise TypeError("requirement")
    if not isinstance(applies, bool):
        raise TypeError("applies")
    return Requirement(name, text, spec, specifier, applies)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("verdict")
    return value


def _dependencies(ctx: Context, inventory: Inventory) -> list[Finding]:
    evaluator = _Evaluator(ctx)
    findings: list[Finding] = []
    valid: dict[str, bool] = {}
    problems: dict[str, list[str]] = {
        d.metadata_dir: list(d.problems) for d in inventory.distributions
    }
    for dist in inventory.distributions:
        problem = evaluator.version_problem(dist.version) if dist.version else "no version"
        valid[dist.key] = problem is None
        if problem is not None and dist.version:
            problems[dist.metadata_dir].append(problem)
    for dist in inventory.distributions:
        for text in dist.requires:
            req = evaluator.requirement(text)
            if isinstance(req, str):
                problems[dist.metadata_dir].append(req)
                continue
            if not req.applies:
                continue
            dep = inventory.by_key.get(req.name)
            if dep is None:
                findings.append(_missing(ctx, dist, req))
            elif (
                valid.get(dep.key)
                and dep.version is not None
                and not evaluator.satisfies(req.specifier, dep.version)
            ):
                findings.append(_conflict(ctx, dist, req, dep))
    findings += [
        _invalid(ctx, dist, problems[dist.metadata_dir])
        for dist in inventory.distributions
        if problems[dist.metadata_dir]
    ]
    return findings


def required(ctx: Context, dist: Distribution) -> list[str]:
    """The normalized names of the requirements of ``dist`` whose markers hold for the
    target (unparsable ones left out): what ``pip check`` judges it by."""
    evaluator = _Evaluator(ctx)
    names = []
    for text in dist.requires:
        req = evaluator.requirement(text)
        if not isinstance(req, str) and req.applies:
            names.append(req.name)
    return names


def _requirement_evidence(dist: Distribution, req: Requirement) -> dict[str, Any]:
    return {
        "required_by": dist.name,
        "required_by_version": dist.version,
        "requirement": req.text,
        "metadata": dist.metadata_dir,
    }


def _missing(ctx: Context, dist: Distribution, req: Requirement) -> Finding:
    evidence = {**_requirement_evidence(dist, req), "installed": None}
    package = ctx.os_package(dist)
    facts = ctx.os_packages
    if package is None or facts is None:
        return REQUIREMENT_MISSING.finding(
            f"{dist} requires {req.spec}, which is not installed.",
            distribution=dist.name,
            path=dist.metadata_dir,
            evidence=evidence,
            command=ctx.pip(f"install {shlex.quote(req.spec)}"),
        )
    # The OS installed it, and its manager keeps the OS's own dependencies (dpkg refuses a
    # package whose Depends are not met): a requirement it left out is the packager's choice
    # (Debian moved pycairo to python3-gi-cairo), so a note, fixed through that manager —
    # pip would write into the OS's directories (PEP 668).
    candidate = facts.candidates.get(req.name)
    name = candidate.package if candidate else f"{facts.tool.python_prefix}{req.name}"
    how = (
        candidate.how
        if candidate
        else f"named by the {facts.manager} naming policy for Python packages, unverified"
    )
    owned = ctx.os_owned_by(package)
    return REQUIREMENT_MISSING.finding(
        f"{dist} requires {req.spec}, which is not installed; {dist.name} is {owned}, "
        "which does not depend on it.",
        severity=Severity.INFO,
        distribution=dist.name,
        path=dist.metadata_dir,
        evidence={**evidence, "owned_by": facts.describe(package), "os_package": name},
        command=facts.install(name),
        explanation=(
            f"If you use the part of {dist.name} that needs {req.name}, install it with "
            f"{facts.tool.front} as {name} ({how}), not with pip."
        ),
    )


def _conflict(ctx: Context, dist: Distribution, req: Requirement, dep: Distribution) -> Finding:
    command, explanation = _conflict_fix(ctx, dist, req, dep)
    return REQUIREMENT_CONFLICT.finding(
        f"{dist} requires {req.spec}, but {dep} is installed.",
        distribution=dist.name,
        path=dist.metadata_dir,
        evidence={
            **_requirement_evidence(dist, req),
            "installed": dep.version,
            "installed_metadata": dep.metadata_dir,
        },
        command=command,
        explanation=explanation,
    )


def _conflict_fix(
    ctx: Context, dist: Distribution, req: Requirement, dep: Distribution
) -> tuple[str, str]:
    """The command and explanation of ``dist-requirement-conflict``: pip, or the OS's
    manager when the OS installed the requirement (pip must not replace its files)."""
    facts = ctx.os_packages
    package = ctx.os_package(dep)
    if facts is None or package is None:
        return (
            ctx.pip(f"install {shlex.quote(req.spec)}"),
            f"Or upgrade {dist.name} to a release that accepts {dep}.",
        )
    return (
        facts.install(package.name),
        f"{dep.name} is {ctx.os_owned_by(package)}: upgrade it with {facts.tool.front} "
        f"(the command installs the newest release the OS offers), or upgrade {dist.name} "
        f"to a release that accepts {dep}.",
    )


def _invalid(ctx: Context, dist: Distribution, problems: list[str]) -> Finding:
    if dist.version or ctx.os_package(dist) is not None:
        fix = Fix(ctx.pip_reinstall(dist), f"Reinstall {dist.name} to write its metadata anew.")
    else:  # nothing to reinstall: pip cannot even name it
        fix = Fix(None, f"Remove {shlex.quote(dist.metadata_dir)}, which names no version.")
    irregular = not_regular_files(problems)
    if irregular and fix.command:
        # pip reads them to uninstall and would block on a FIFO: out of the way first.
        paths = " ".join(shlex.quote(f"{dist.metadata_dir}/{name}") for name in irregular)
        fix = Fix(f"rm -- {paths} && {fix.command}", fix.explanation)
    return METADATA_INVALID.finding(
        f"The metadata of {dist} is invalid: {problems[0]}.",
        distribution=dist.name,
        path=dist.metadata_dir,
        evidence={"problems": problems},
        fix=fix,
    )


# --- duplicates and leftovers ---------------------------------------------------------------


def _editable_by_product(winner: Distribution, loser: Distribution) -> bool:
    """Whether ``loser`` is the ``NAME.egg-info`` that setuptools leaves in the project
    directory of the editable install ``winner`` (a src-layout project puts that directory
    on sys.path): the same install seen twice, not a second one."""
    dir_info = (winner.direct_url or {}).get("dir_info")
    project = winner.direct_url_path
    return (
        isinstance(dir_info, dict)
        and dir_info.get("editable") is True
        and project is not None
        and loser.metadata_dir.endswith(".egg-info")
        and loser.metadata_dir.startswith(project.rstrip("/") + "/")
        and loser.version == winner.version
    )


def _duplicates(ctx: Context, inventory: Inventory) -> list[Finding]:
    findings = []
    for loser in inventory.shadowed:
        winner = inventory.by_key[loser.key]
        if _editable_by_product(winner, loser):
            continue
        command: str | None = None
        shipped = ctx.os_package(loser)
        if winner.site_dir == loser.site_dir:
            why = (
                "both are in the same directory; the file system lists "
                f"{posixpath.basename(winner.metadata_dir)} first, and importlib.metadata "
                "and pip take the first"
            )
            if shipped is not None:
                # The OS's own file: rm would break its package (dpkg --verify, upgrades).
                also = ctx.os_package(winner)
                fix = (
                    f"Both are {ctx.os_owned_by(shipped)}: the OS ships them so; nothing to do."
                    if also is not None and also.name == shipped.name
                    else f"{posixpath.basename(loser.metadata_dir)} is "
                    f"{ctx.os_owned_by(shipped)}; remove the copy that was installed over "
                    f"it without the OS's manager, not this one."
                )
            else:
                command = f"rm -r {shlex.quote(loser.metadata_dir)} && {ctx.pip_reinstall(winner)}"
                fix = "Remove the stale copy, then install the used one again to restore its files."
        else:
            why = f"{winner.site_dir} comes before {loser.site_dir} on sys.path"
            fix = (
                f"Remove one copy; {loser.site_dir} is never used for {loser.name}. If it is on "
                "PYTHONPATH, take it off."
            )
        # The same version twice (Debian ships python3-cryptography with a dist-info *and* an
        # egg-info) changes nothing about what is imported or checked: a note, not a warning.
        same = winner.version == loser.version
        findings.append(
            DUPLICATE.finding(
                f"{winner.name} is installed twice: {winner} is used, {loser} is not ({why}).",
                severity=Severity.INFO if same else Severity.WARNING,
                distribution=winner.name,
                path=loser.metadata_dir,
                evidence={
                    "used": winner.metadata_dir,
                    "used_version": winner.version,
                    "shadowed": loser.metadata_dir,
                    "shadowed_version": loser.version,
                    "why": why,
                    **({"owned_by": ctx.os_describe(shipped)} if shipped else {}),
                },
                command=command,
                explanation=fix,
            )
        )
    return findings


MAX_LISTED = 20  # shared files named in one finding's evidence; the count says how many
# Metadata directories (PEP 376 / PEP 627 ``.dist-info``, setuptools' ``.egg-info``): each
# distribution has its own; rows of another's are dist-duplicate's business.
_METADATA_DIR = re.compile(r"\.(dist|egg)-info(/|$)")


def _clobbers(ctx: Context, inventory: Inventory) -> list[Finding]:
    """Files that the RECORDs of distributions of different projects both list.

    From the file → owners index (:attr:`Inventory.shared`, built with ``Inventory.owners`` in
    one pass). Not counted: bytecode (``__pycache__``, ``.pyc``: each compiles its own copy of
    whatever is shared), metadata directories, directory rows (a namespace package's directory
    is shared by design; only files count), two metadata directories of one project
    (``dist-duplicate``), and an ``__init__.py`` that every owner lists with the same hash
    (the pkgutil-style namespace declaration ``backports.*`` and ``zope.*`` all ship: once one
    uninstall removes it, the others' portions still import as a PEP 420 namespace).
    """
    groups: dict[tuple[str, ...], tuple[tuple[Distribution, ...], list[str]]] = {}
    directories: set[str] | None = None
    for path, rows in inventory.shared.items():
        owners = tuple(dist for dist, _ in rows)
        if len({d.key for d in owners}) < 2:
            continue
        if path.endswith(".pyc") or "/__pycache__/" in path or _METADATA_DIR.search(path):
            continue
        if path.endswith("/__init__.py") and _same_content(rows):
            continue
        if directories is None:  # only when an overlap is left: a pass over every path
            directories = {posixpath.dirname(p) for p in inventory.owners}
        if path in directories:
            continue
        owners = tuple(sorted(owners, key=lambda d: (d.key, d.metadata_dir)))
        group = groups.setdefault(tuple(d.metadata_dir for d in owners), (owners, []))
        group[1].append(path)
    return [_clobber(ctx, owners, sorted(paths)) for owners, paths in groups.values()]


def _same_content(rows: Iterable[tuple[Distribution, RecordEntry]]) -> bool:
    """Every row has a hash, and it is the same (an egg-info's rows have none: unknown)."""
    hashes = {normal_hash(e.hash) if e.hash else None for _, e in rows}
    return len(hashes) == 1 and None not in hashes


def _clobber(ctx: Context, owners: tuple[Distribution, ...], paths: list[str]) -> Finding:
    site = posixpath.normpath(owners[0].site_dir)
    shown = [posixpath.relpath(p, site) if p.startswith(site + "/") else p for p in paths]
    # The fix keeps the one the user asked for by name (PEP 376 REQUESTED), else the first.
    keep = next((d for d in owners if d.requested), owners[0])
    names = [d.name for d in owners]
    count = len(paths)
    what = f"the same file {shown[0]}" if count == 1 else f"the same {count} files ({shown[0]} …)"
    others = ", ".join(str(d) for d in owners[:-1])
    message = (
        f"{others} and {owners[-1]} install {what}: each install overwrote the other's copy, "
        "and uninstalling either one removes them for both."
    )
    python = ctx.python
    # ``pip uninstall`` of one removes the shared files, so the kept one must be installed
    # again after both are gone (tested: tests/test_distributions.py, PyJWT and jwt).
    fix = Fix(
        f"{python} -m pip uninstall -y {' '.join(shlex.quote(n) for n in names)} && "
        f"{python} -m pip install {shlex.quote(keep.requirement)}",
        f"Keep one of them: uninstall all and install again the one you want (here {keep.name}).",
    )
    # Only scripts or data outside the site directory (two projects' ``bin/NAME``): a command
    # breaks, no import; PRODUCT.md keeps ``error`` for what breaks an import or an install.
    inside = any(p.startswith(site + "/") for p in paths)
    return CLOBBER.finding(
        message,
        severity=Severity.ERROR if inside else Severity.WARNING,
        distribution=keep.name,
        path=paths[0],
        evidence={
            "distributions": [str(d) for d in owners],
            "metadata": [d.metadata_dir for d in owners],
            "files": shown[:MAX_LISTED],
            "file_count": count,
        },
        fix=fix,
    )


def _leftovers(ctx: Context, inventory: Inventory) -> list[Finding]:
    """pip renames what it removes to ``~<name minus first letter>`` until it commits."""
    groups: dict[tuple[str, str], list[str]] = {}
    for path in inventory.leftovers:
        stem = posixpath.basename(path)[1:].split("-", 1)[0]
        for suffix in (".dist-info", ".egg-info"):
            stem = stem.removesuffix(suffix)
        groups.setdefault((posixpath.dirname(path), stem.lower()), []).append(path)
    findings = []
    for (site, stem), paths in groups.items():
        suspects = [
            d
            for d in inventory.distributions
            if d.site_dir == site and normalize(d.name)[1:] == normalize(stem)
        ]
        dist = suspects[0] if len(suspects) == 1 else None
        command = "rm -rf " + " ".join(shlex.quote(p) for p in sorted(paths))
        explanation = "Remove what pip left"
        if dist is not None:
            command += f" && {ctx.pip_reinstall(dist)}"
            explanation += f", then reinstall {dist.name}, whose files it may have taken."
        elif stem == "ip" and ctx.pip_broken:  # an interrupted pip self-upgrade
            command += f" && {ctx.ensurepip}"
            explanation += ", then install pip again from the copy the standard library keeps."
        else:
            explanation += "."
        findings.append(
            PARTIAL_UNINSTALL.finding(
                f"pip left {', '.join(posixpath.basename(p) for p in sorted(paths))} in {site}: "
                "an install or uninstall was interrupted"
                + (f" (probably of {dist.name})." if dist else "."),
                distribution=dist.name if dist else None,
                path=sorted(paths)[0],
                evidence={"leftovers": sorted(paths), "probably": dist.name if dist else None},
                command=command,
                explanation=explanation,
            )
        )
    return findings


# --- editable installs whose source is gone -------------------------------------------------


def missing_sources(ctx: Context) -> list[Finding]:
    """dist-editable-source-missing: the directories that ``.pth`` lines, editable finders
    and ``.egg-link`` files point at and that no longer exist, one finding per install (the
    distribution whose RECORD lists the file, else the ``.egg-link``, else the ``.pth``
    file). site.py skips such a directory silently, so the import just fails."""
    groups: dict[str, list[SourceDir]] = {}
    owners: dict[str, Distribution | None] = {}
    sources = [s for s in ctx.snapshot.paths.sources if not s.exists]
    links = {s.path: s.recorded_in for s in sources if s.kind == "egg-link"}
    for source in sources:
        owner = ctx.owner(source.recorded_in)
        if owner is not None:
            key = owner.key
        elif source.kind == "pth" and source.path in links:  # easy-install.pth's line
            key = links[source.path]
        else:
            key = source.recorded_in
        groups.setdefault(key, []).append(source)
        owners.setdefault(key, owner)
    return [_missing_source(ctx, owners[key], group) for key, group in groups.items()]


def _missing_source(ctx: Context, dist: Distribution | None, group: list[SourceDir]) -> Finding:
    dirs = sorted({s.path for s in group})
    names = sorted({s.name for s in group if s.kind == "finder" and s.name})
    files = sorted({s.recorded_in for s in group})
    gone = f"{', '.join(dirs)} {'is' if len(dirs) == 1 else 'are'} gone"
    evidence: dict[str, Any] = {"missing": dirs, "recorded_in": files}
    if names:
        evidence["modules"] = names
    if dist is not None:
        project = dist.direct_url_path or dirs[0]
        evidence["project"] = project
        what = f" (import {', '.join(names)})" if names else ""
        return EDITABLE_SOURCE_MISSING.finding(
            f"{dist} is installed in editable mode, but its source {gone}{what}: "
            f"recorded in {', '.join(files)}.",
            distribution=dist.name,
            path=dirs[0],
            evidence=evidence,
            command=ctx.pip(f"uninstall -y {shlex.quote(dist.name)}"),
            explanation=(
                f"Uninstall it, or restore {project} and install it again: "
                f"{ctx.pip(f'install -e {shlex.quote(project)}')}"
            ),
        )
    link = next((s for s in group if s.kind == "egg-link"), None)
    if link is not None:
        # A legacy develop install keeps its metadata (NAME.egg-info) in the source
        # directory: with the source gone, pip no longer knows it, so pip cannot uninstall it.
        pth = sorted(s.recorded_in for s in group if s.kind == "pth")
        also = f", and remove the line {dirs[0]} from {', '.join(pth)}" if pth else ""
        return EDITABLE_SOURCE_MISSING.finding(
            f"{link.name} was installed in development mode (setup.py develop, pip install -e),"
            f" but its source {gone}: recorded in {', '.join(files)}.",
            distribution=link.name,
            path=dirs[0],
            evidence=evidence,
            command=None if pth else f"rm {shlex.quote(link.recorded_in)}",
            explanation=f"Remove {link.recorded_in}{also} (or restore {dirs[0]} and "
            f"install it again: {ctx.pip(f'install -e {shlex.quote(dirs[0])}')})",
        )
    pth_file = files[0]
    return EDITABLE_SOURCE_MISSING.finding(
        f"{posixpath.basename(pth_file)} adds {gone}; no installed distribution records the "
        "file, so whatever was imported from there is not found.",
        path=dirs[0],
        evidence=evidence,
        severity=Severity.WARNING,
        explanation=f"Remove the line {dirs[0]} from {pth_file} (delete the file if that is its "
        f"only line: rm {shlex.quote(pth_file)}), or restore the directory",
    )


# --- wheel tags -----------------------------------------------------------------------------


def _wheel_tags(ctx: Context, inventory: Inventory) -> list[Finding]:
    fits = _TagVerdicts(ctx)
    findings = []
    for dist in inventory.distributions:
        if fits(dist):
            continue
        interp = ctx.target.interpreter
        findings.append(
            WHEEL_TAG_MISMATCH.finding(
                f"{dist} was installed from a wheel for {', '.join(dist.wheel_tags)}, which this "
                f"interpreter does not support.",
                distribution=dist.name,
                path=dist.metadata_dir,
                evidence={
                    "wheel_tags": list(dist.wheel_tags),
                    "interpreter": f"cp{interp.version[0]}{interp.version[1]}",
                    "platform": _platforms(ctx)[:3],
                },
                command=ctx.pip_reinstall(dist),
                explanation="Reinstall it: pip then picks a wheel for this target.",
            )
        )
    return findings


class _TagVerdicts:
    """Whether an installed wheel's tags fit the target (True when that cannot be known),
    memoized on the tags and the target's tag inputs: the set of supported tags is computed
    (with ``packaging.tags``) only for tags not seen before."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        interp = ctx.target.interpreter
        self.inputs = repr(
            (interp.implementation, interp.version[:2], interp.gil_disabled, interp.debug,
             interp.architecture, _platforms(ctx))
        )  # fmt: skip
        self._supported: set[str] | None = None

    def __call__(self, dist: Distribution) -> bool:
        if not dist.wheel_tags:
            return True  # not installed from a wheel (or nothing to read)
        key = (self.inputs, dist.wheel_tags)
        hit = self.ctx.memo.decoded("wheel-fits", key, None, _bool)
        if hit is None:
            hit = self._fits(dist.wheel_tags)
            self.ctx.memo.put("wheel-fits", key, hit)
        return hit

    def _fits(self, wheel_tags: tuple[str, ...]) -> bool:
        if not wheel_tags:
            return True
        if self._supported is None:
            self._supported = supported_tags(self.ctx) or set()
        tags = _expand(wheel_tags)
        return not self._supported or not tags or not tags.isdisjoint(self._supported)


def _expand(tags: Iterable[str]) -> set[str]:
    """``cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`` → one tag per platform."""
    result = set()
    for tag in tags:
        parts = tag.split("-")
        if len(parts) != 3:
            continue
        for interp in parts[0].split("."):
            for abi in parts[1].split("."):
                for plat in parts[2].split("."):
                    result.add(f"{interp}-{abi}-{plat}")
    return result


def supported_tags(ctx: Context) -> set[str] | None:
    """The wheel tags the target accepts, computed for *its* Python and platform.

    ``packaging.tags.sys_tags()`` would describe pkgdoctor's interpreter and this machine's
    glibc; the target's are passed explicitly instead. None when they cannot be known.
    """
    interp = ctx.target.interpreter
    if interp.implementation != "cpython" or interp.architecture is None:
        return None
    abis = cpython_abis(interp.version, free_threaded=interp.gil_disabled, debug=interp.debug)
    return {str(t) for t in accepted_tags("cp", interp.version, abis, _platforms(ctx))}


def _platforms(ctx: Context) -> list[str]:
    """Platform tags of the target, most specific manylinux/musllinux first (``linux_*``
    last, as the evidence shows them)."""
    interp = ctx.target.interpreter
    libc = interp.libc
    family = libc.family if libc else None
    # An unknown libc version (another machine's tree) accepts every baseline: the check
    # must not guess a version and then blame wheels for it.
    unknown = {"glibc": (2, 99), "musl": (1, 99)}.get(family or "")
    version = (libc.version_tuple() if libc else None) or unknown
    return linux_platforms(
        interp.architecture or "",
        family,
        (version[0], version[1]) if version else None,
        linux_first=False,
    )
