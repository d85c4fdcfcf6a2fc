"""One ledger of who installed each file of a conda environment: conda's records
(``conda-meta/*.json``) joined with pip's and uv's RECORD files.

Per file of a conda package, the ledger tells apart:

- **replaced by pip** (or uv): a RECORD whose ``INSTALLER`` is not conda lists it now, or
  pip uninstalled the conda package's distribution (its ``.dist-info`` is gone and pip's
  distribution of the same project is there) and the file went with it —
  ``conda-pip-clobber``. pip never looks at ``conda-meta``: it uninstalls conda's
  distribution through its RECORD like any other, and conda still records it (``conda list``
  shows the project twice, once as ``pypi``);
- **overwritten by another conda package**: two records list it (``conda-clobber``; conda
  warns "ClobberWarning" and links the later one over the first);
- **altered by hand** or **missing**: neither of the above (``conda doctor``'s altered and
  missing files, :mod:`pkgdoctor.checks.conda`).

The same project installed by conda and by pip in two places is ``conda-pip-duplicate``;
Anaconda's ``defaults`` and conda-forge mixed in one environment is ``conda-channels-mixed``.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pkgdoctor import codes
from pkgdoctor.checks.context import Context
from pkgdoctor.conda_owners import metadata_dirs, project_of
from pkgdoctor.conda_specs import matches_version, spec_name
from pkgdoctor.configuration import conda_settings
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.snapshot.model import (
    CondaFacts,
    CondaRecord,
    Distribution,
    is_conda_forge,
    is_defaults,
    normalize,
)

AREA = "conda"
PIP_CLOBBER = codes.CONDA_PIP_CLOBBER
PIP_DUPLICATE = codes.CONDA_PIP_DUPLICATE
CLOBBER = codes.CONDA_CLOBBER
CHANNELS_MIXED = codes.CONDA_CHANNELS_MIXED
UNOWNED = codes.CONDA_FILE_UNOWNED

MAX_LISTED = 10  # files named in one finding's evidence; counts say how many in all
#: Packages that carry the C/C++/Fortran runtime and OpenMP: what the other packages of an
#: environment are linked against, and what differs first between defaults and conda-forge
#: (conda-forge's docs, "Mixing channels": both build with their own compilers and runtimes).
RUNTIMES = frozenset({
    "libgcc", "libgcc-ng", "libstdcxx", "libstdcxx-ng", "libgfortran", "libgfortran-ng",
    "libgfortran5", "libgomp", "_openmp_mutex", "llvm-openmp", "intel-openmp", "openssl",
    "python", "libffi", "zlib",
})  # fmt: skip


@dataclass
class Taken:
    """What pip (or uv) did to one conda package's files."""

    record: CondaRecord
    project: str | None  # the Python project of its .dist-info, when it has one
    replaced_by: Distribution | None = None  # pip's distribution of the same project
    overwritten: dict[str, Distribution] = field(default_factory=dict)  # path -> pip's dist
    removed: list[str] = field(default_factory=list)  # gone with pip's uninstall


@dataclass
class Ledger:
    """Who owns each file of the conda environment, as far as it concerns the checks."""

    facts: CondaFacts
    taken: list[Taken]  # conda packages pip replaced or overwrote files of
    shared: dict[str, list[CondaRecord]]  # path -> the records that list it (two or more)

    def explained(self, record: CondaRecord) -> frozenset[str]:
        """The files of ``record`` whose state pip or another conda package explains: not
        "missing" or "altered by hand"."""
        out: set[str] = set()
        for taken in self.taken:
            if taken.record is record:
                out.update(taken.overwritten)
                out.update(taken.removed)
        # A file two records list is the clobber's story while it is there; gone, it is
        # missing for both (conda-files-missing says so).
        gone = set(record.missing)
        out.update(
            path for path, records in self.shared.items() if record in records and path not in gone
        )
        return frozenset(out)


def ledger(ctx: Context) -> Ledger | None:
    """The ledger of ``ctx``'s conda environment (built once per run); None for a target
    that is not one."""
    facts = ctx.conda_facts
    if facts is None:
        return None
    cached = ctx.derived.get("conda-ledger")
    if isinstance(cached, Ledger):
        return cached
    built = _build(ctx, facts)
    ctx.derived["conda-ledger"] = built
    return built


def explained(ctx: Context, record: CondaRecord) -> frozenset[str]:
    """:meth:`Ledger.explained` for ``record`` of ``ctx``'s environment."""
    built = ledger(ctx)
    return built.explained(record) if built is not None else frozenset()


def _build(ctx: Context, facts: CondaFacts) -> Ledger:
    prefix = facts.prefix
    owners = ctx.inventory.owners  # absolute path -> the first distribution whose RECORD lists it
    shared_rows = ctx.inventory.shared  # absolute path -> every distribution, when two or more
    listed: dict[str, list[CondaRecord]] = {}
    taken: list[Taken] = []
    split = ctx.conda_owners  # which distributions conda's records own (conda's own rule)
    replaced = {id(r): d for r, d in split.replaced} if split is not None else {}
    for record in facts.records:
        dirs = metadata_dirs(record)
        entry = Taken(record, project_of(dirs[0]) if dirs else None)
        entry.replaced_by = replaced.get(id(record))
        missing = set(record.missing)
        for item in record.files:
            path = item.path
            listed.setdefault(_clobbered(path) or path, []).append(record)
            owner = _pip_owner(ctx, posixpath.join(prefix, path), owners, shared_rows)
            if owner is not None:
                entry.overwritten[path] = owner
            elif entry.replaced_by is not None and path in missing:
                entry.removed.append(path)
        if entry.replaced_by is not None or entry.overwritten:
            taken.append(entry)
    shared = {path: records for path, records in listed.items() if len(records) > 1}
    return Ledger(facts, taken, shared)


def _pip_owner(
    ctx: Context,
    path: str,
    owners: dict[str, Distribution],
    shared: dict[str, tuple[tuple[Distribution, Any], ...]],
) -> Distribution | None:
    """The distribution of another installer than conda whose RECORD lists ``path``."""
    first = owners.get(path)
    if first is None:
        return None
    candidates = [d for d, _ in shared.get(path, ())] or [first]
    for dist in candidates:
        if ctx.conda_record(dist) is None and (dist.installer or "").strip().lower() != "conda":
            return dist
    return None


#: rattler (pixi, py-rattler) links the first package's file and moves a later package's copy
#: of the same path to ``__clobbers__/<package>/<path>``, recording it there
#: (rattler's ``install/clobber_registry.rs``); conda links the later one over the first and
#: both records list the path.
CLOBBERS_DIR = "__clobbers__/"


def _clobbered(path: str) -> str | None:
    """The path a ``__clobbers__/<package>/<path>`` copy stands in for; None for any other."""
    if not path.startswith(CLOBBERS_DIR):
        return None
    parts = path.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[2] else None


def reconcile(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """A ``dist-duplicate`` of a conda distribution and a pip one is this family's business:
    dropped where a ``conda-pip-*`` finding tells the same story with a fix that goes
    through conda (its own fix, ``rm -r`` of one metadata directory, could take conda's)."""
    if ctx.conda_facts is None:
        return findings
    covered = {f.distribution for f in findings if f.code.startswith("conda-pip-")}
    inventory = ctx.inventory

    def conda_pair(finding: Finding) -> bool:
        dirs = (finding.evidence.get("used"), finding.evidence.get("shadowed"))
        dists = [d for d in inventory.all if d.metadata_dir in dirs]
        return any(ctx.conda_record(d) is not None for d in dists)

    return [
        f
        for f in findings
        if not (f.code == "dist-duplicate" and f.distribution in covered and conda_pair(f))
    ]


def check(ctx: Context) -> list[Finding]:
    built = ledger(ctx)
    if built is None:
        return []
    findings = [_pip_clobber(ctx, built, taken) for taken in built.taken]
    findings += _duplicates(ctx, built)
    findings += _conda_clobbers(ctx, built)
    findings += _unowned(ctx, built)
    findings += _channels(ctx, built.facts)
    return findings


# --- pip over conda ---------------------------------------------------------------------------


def _dependents(facts: CondaFacts, name: str) -> list[tuple[CondaRecord, str]]:
    """The conda packages whose ``depends`` name ``name``, with the spec."""
    out = []
    for record in facts.records:
        for spec in record.depends:
            if spec_name(spec) == name:
                out.append((record, spec))
    return out


def _pip_clobber(ctx: Context, built: Ledger, taken: Taken) -> Finding:
    record = taken.record
    facts = built.facts
    pip = taken.replaced_by
    installer = (pip.installer if pip else None) or next(
        ((d.installer or "pip") for d in taken.overwritten.values()), "pip"
    )
    installer = installer.strip() or "pip"
    dependents = _dependents(facts, record.name)
    verdicts = _satisfied(dependents, pip.version if pip else None)
    broken = [(r, spec) for (r, spec), ok in zip(dependents, verdicts) if ok is False]
    evidence: dict[str, Any] = {
        "conda_package": record.dist_name,
        "conda_channel": record.channel,
        "conda_record": record.record_file,
    }
    if pip is not None:
        evidence.update(
            pip_distribution=pip.name,
            pip_version=pip.version,
            pip_metadata=pip.metadata_dir,
            installer=installer,
        )
        message = (
            f"{installer} replaced conda's {record.describe} with {pip.name} {pip.version}: "
            f"conda still records {record.version}"
        )
        parts = []
        if taken.overwritten:
            parts.append(f"{len(taken.overwritten)} of its files are now {installer}'s")
        if taken.removed:
            parts.append(f"{len(taken.removed)} are gone")
        message += f" ({', '.join(parts)})" if parts else ""
        message += f", and `conda list` shows {record.name} twice."
    else:
        others = sorted({f"{d.name} {d.version}" for d in taken.overwritten.values()})
        evidence["pip_distribution"] = others
        message = (
            f"{installer} overwrote {len(taken.overwritten)} file(s) of conda's "
            f"{record.describe} when it installed {', '.join(others)}."
        )
    evidence.update(
        overwritten=len(taken.overwritten),
        removed=len(taken.removed),
        overwritten_files=sorted(taken.overwritten)[:MAX_LISTED],
        removed_files=sorted(taken.removed)[:MAX_LISTED],
    )
    if dependents:
        evidence["conda_dependents"] = [
            {"package": r.dist_name, "depends": spec, "satisfied": ok}
            for (r, spec), ok in zip(dependents, verdicts)
        ]
    if broken:
        names = ", ".join(f"{r.name} {r.version} ({spec})" for r, spec in broken[:3])
        what = f"{pip.name} {pip.version}" if pip else "it"
        message += f" conda's {names} cannot use {what}."
    command, explanation = _restore(ctx, taken, pip)
    return PIP_CLOBBER.finding(
        message,
        severity=Severity.ERROR if broken else None,
        # The Python project (conda's name may differ: pytorch installs torch).
        distribution=pip.name if pip else (taken.project or record.name),
        path=record.record_file,
        evidence=evidence,
        command=command,
        explanation=explanation,
    )


def _satisfied(
    dependents: Sequence[tuple[CondaRecord, str]], version: str | None
) -> list[bool | None]:
    """Whether ``version`` (pip's) satisfies each dependent's spec; None when it cannot be
    judged (no version, or no conda match-spec library: py-rattler)."""
    if version is None or not dependents:
        return [None] * len(dependents)
    return [matches_version(spec, version) for _, spec in dependents]


def _restore(ctx: Context, taken: Taken, pip: Distribution | None) -> tuple[str | None, str]:
    record = taken.record
    if pip is not None:
        command = (
            f"{ctx.pip(f'uninstall -y {shlex.quote(pip.name)}')} && {ctx.conda_reinstall(record)}"
        )
        explanation = (
            f"Put conda's {record.name} {record.version} back: uninstall {pip.name} "
            f"{pip.version} with pip, then have conda link its own files again. To keep "
            f"{pip.version} instead, uninstall it with pip and install it with conda "
            f"({record.name}={pip.version}), so that conda knows what its dependents get."
        )
        return command, explanation
    others = sorted({d.name for d in taken.overwritten.values()})
    # pip uninstalls the first distribution of a name it finds: with conda's and pip's
    # metadata side by side (`pip install --ignore-installed`), once for each copy.
    same = taken.project is not None and any(
        d.key == normalize(taken.project) for d in taken.overwritten.values()
    )
    uninstall = ctx.pip("uninstall -y " + " ".join(map(shlex.quote, others)))
    steps = [uninstall, uninstall] if same else [uninstall]
    command = " && ".join([*steps, ctx.conda_reinstall(record)])
    explanation = (
        f"{', '.join(others)} and conda's {record.name} install the same files; uninstall "
        f"{' and '.join(others)} with pip"
        + (" (twice: once for pip's copy, once for conda's metadata beside it)" if same else "")
        + f" and let conda link {record.name}'s files again, then install what you need "
        "with conda."
    )
    return command, explanation


def _duplicates(ctx: Context, built: Ledger) -> list[Finding]:
    """A project whose conda distribution is still in place and whose pip distribution sits
    in another directory of ``sys.path`` (``--user``, ``--target``, ``PYTHONPATH``)."""
    findings = []
    inventory = ctx.inventory
    for dist in inventory.shadowed:
        winner = inventory.by_key.get(dist.key)
        if winner is None:
            continue
        conda_side = [d for d in (winner, dist) if ctx.conda_record(d) is not None]
        if len(conda_side) != 1:
            continue
        conda_dist = conda_side[0]
        pip_dist = dist if conda_dist is winner else winner
        record = ctx.conda_record(conda_dist)
        assert record is not None
        if any(t.record is record for t in built.taken):
            continue  # pip wrote over conda's files: conda-pip-clobber tells it
        used_is_pip = pip_dist is winner
        message = (
            f"{dist.name} is installed by conda ({record.describe}) and by pip "
            f"({pip_dist.version} in {pip_dist.site_dir}); Python imports "
            f"{'pip' if used_is_pip else 'conda'}'s."
        )
        command = ctx.pip(f"uninstall -y {shlex.quote(pip_dist.name)}") if used_is_pip else None
        explanation = (
            f"pip's copy shadows conda's; uninstall it with pip (pip takes the first on "
            f"sys.path: {pip_dist.site_dir}) and conda's {record.version} is used again."
            if used_is_pip
            else f"conda's copy comes first on sys.path, so pip's in {pip_dist.site_dir} is "
            "never imported; remove it from that directory with the pip that installed it."
        )
        findings.append(
            PIP_DUPLICATE.finding(
                message,
                severity=None if used_is_pip else Severity.INFO,
                distribution=dist.name,
                path=pip_dist.metadata_dir,
                evidence={
                    "conda_package": record.dist_name,
                    "conda_metadata": conda_dist.metadata_dir,
                    "pip_version": pip_dist.version,
                    "pip_metadata": pip_dist.metadata_dir,
                    "used": winner.metadata_dir,
                    "shadowed": dist.metadata_dir,
                },
                command=command,
                explanation=explanation,
            )
        )
    return findings


# --- conda over conda -------------------------------------------------------------------------


def _conda_clobbers(ctx: Context, built: Ledger) -> list[Finding]:
    pairs: dict[tuple[str, ...], list[str]] = {}
    by_file = {r.record_file: r for r in built.facts.records}
    for path, records in built.shared.items():
        if path.endswith((".pyc", ".pyo")):
            continue
        pairs.setdefault(tuple(r.record_file for r in records), []).append(path)
    findings = []
    for key, paths in sorted(pairs.items()):
        records = [by_file[k] for k in key]
        paths.sort()
        names = " and ".join(r.describe for r in records)
        aside = [r for r in records if any(_clobbered(f.path) in paths for f in r.files)]
        if aside:
            kept = [r.name for r in records if r not in aside]
            how = (
                f"{', '.join(kept)}'s copy is in place; {', '.join(r.name for r in aside)}'s "
                f"was set aside in {CLOBBERS_DIR} (rattler, pixi)"
            )
        else:
            how = "the one linked last overwrote the other's"
        findings.append(
            CLOBBER.finding(
                f"{names} install the same {len(paths)} file(s) ({paths[0]}"
                f"{' …' if len(paths) > 1 else ''}); {how}.",
                distribution=records[0].name,
                path=posixpath.join(built.facts.prefix, paths[0]),
                evidence={
                    "packages": [r.dist_name for r in records],
                    "channels": [r.channel for r in records],
                    "files": len(paths),
                    "listed": paths[:MAX_LISTED],
                },
                explanation=(
                    "Removing either package with conda deletes the file for both. Keep the "
                    "one you need: remove the other with conda (conda remove), then link the "
                    "kept one again with conda install --force-reinstall."
                ),
            )
        )
    return findings


# --- owned by nobody -------------------------------------------------------------------------


def _unowned(ctx: Context, built: Ledger) -> list[Finding]:
    """Top-level modules of the prefix's site directories that no conda record and no RECORD
    lists (a file or anything below it): copied in by hand, or left by an interrupted
    install. Nobody updates or removes them."""
    prefix = built.facts.prefix
    listed: set[str] = set()  # prefix-relative paths of conda's files and their parents
    for record in built.facts.records:
        for item in record.files:
            path = _clobbered(item.path) or item.path
            while path and path not in listed:
                listed.add(path)
                path = posixpath.dirname(path)
    found = []
    for entry in ctx.snapshot.paths.entries:
        site = posixpath.normpath(entry.path)
        if entry.origin != "site-packages" or not site.startswith(prefix.rstrip("/") + "/"):
            continue
        roots: set[str] = set()
        for dist in ctx.inventory.all:
            if posixpath.normpath(dist.site_dir) == site:
                roots |= dist.roots
        for name, provision in sorted(entry.provides.items()):
            path = posixpath.normpath(provision.path)
            rel_site = posixpath.relpath(path, site)
            if rel_site in roots or posixpath.relpath(path, prefix) in listed:
                continue
            found.append((name, path))
    if not found:
        return []
    names = ", ".join(name for name, _ in found[:MAX_LISTED])
    more = f" and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
    return [
        UNOWNED.finding(
            f"{len(found)} module(s) in site-packages belong to no conda package and no pip "
            f"distribution: {names}{more}.",
            path=found[0][1],
            evidence={"modules": len(found), "paths": [path for _, path in found[:MAX_LISTED]]},
            explanation=(
                "Nothing will update or remove them: they were copied in by hand or left by "
                "an interrupted install. If you use them, install them with conda or pip; "
                "otherwise remove them."
            ),
        )
    ]


# --- channels -------------------------------------------------------------------------------


def _channels(ctx: Context, facts: CondaFacts) -> list[Finding]:
    by_channel: dict[str, list[CondaRecord]] = {}
    for record in facts.records:
        by_channel.setdefault(record.channel_name or "?", []).append(record)
    defaults = sorted(c for c in by_channel if is_defaults(c))
    forge = any(is_conda_forge(c) for c in by_channel)
    if not (defaults and forge):
        return []
    counts = {c: len(rs) for c, rs in sorted(by_channel.items())}
    runtimes = {
        r.name: r.channel_name for r in facts.records if r.name in RUNTIMES and r.channel_name
    }
    summary = ", ".join(f"{n} from {c}" for c, n in counts.items())
    channel = max(("conda-forge", *defaults), key=lambda c: counts.get(c, 0))
    specs = _requested(facts)
    # Without the channel a spec may name (conda-forge::numpy): the new environment takes
    # everything from the one channel.
    plain = tuple(dict.fromkeys(s.rpartition("::")[2] for s in specs))
    command = None
    if plain:
        prefix = facts.prefix.rstrip("/") + f"-{channel.replace('/', '-')}"
        command = (
            f"conda create -y -p {shlex.quote(prefix)} --override-channels -c {channel} "
            + " ".join(shlex.quote(s) for s in plain)
        )
    evidence: dict[str, Any] = {"channels": counts, "runtimes": runtimes, "requested": list(specs)}
    config = ctx.snapshot.config
    if config is not None:
        # What conda is told now (checks/config.py judges the configuration itself).
        settings = conda_settings(config)
        priority = settings.channel_priority
        evidence["channel_priority"] = (
            f"{priority.value} ({priority.origin})" if priority else "flexible (conda's default)"
        )
        if settings.channels:
            evidence["configured_channels"] = [f"{c.value} ({c.origin})" for c in settings.channels]
    return [
        CHANNELS_MIXED.finding(
            f"This environment mixes Anaconda's defaults and conda-forge ({summary}): their "
            "packages are built with different compilers and runtimes and are not meant to "
            "be combined.",
            path=facts.prefix,
            evidence=evidence,
            command=command,
            explanation=(
                f"Make a new environment from one channel ({channel}, where most packages "
                "come from) with the packages you asked for, and use it instead; set "
                "channel_priority: strict in .condarc so that conda keeps to it."
                if command
                else "Recreate the environment from one channel (conda create "
                "--override-channels -c conda-forge ...), and set channel_priority: strict."
            ),
        )
    ]


def _requested(facts: CondaFacts) -> tuple[str, ...]:
    """The specs the user asked for: the history's, else the records' ``requested``."""
    if facts.history is not None and facts.history.requested:
        return facts.history.requested
    out: list[str] = []
    for record in facts.records:
        out.extend(record.requested)
    return tuple(dict.fromkeys(out))
