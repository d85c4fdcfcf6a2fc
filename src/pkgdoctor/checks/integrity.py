"""Integrity: are the files each distribution's RECORD lists still there, and unchanged?

The look layer (:mod:`pkgdoctor.look.records`) finds which RECORD rows have no file and,
with ``--deep``, which files differ from their row; this module judges them.

- ``record-missing-file`` (always). pip records the ``.pyc`` files it compiled, and deleting
  ``__pycache__`` is harmless, so those are not reported. For a distribution the OS package
  manager installed, only the rows whose file that manager owns are: the RECORD the OS
  ships describes the upstream build (Debian's pip lists ``../scripts/pip``, which Debian
  installs as ``/usr/bin/pip3`` or not at all), the manager's own file list is what was
  installed, so the other rows are the packaging's relocations, not missing files.
- ``record-hash-mismatch`` (``--deep``). Scripts whose ``#!`` line was rewritten after the
  install (a relocated venv, conda's prefix replacement) are reported as notes, a file that
  another distribution overwrote with its own copy as a warning, and a file that the local
  wheel it came from already had ("published this way") as a note: all explained, not
  corruption.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from pkgdoctor import codes
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.snapshot.model import (
    Distribution,
    HashedFile,
    RecordEntry,
    install_base,
    normal_hash,
    record_locations,
)

AREA = "Integrity"

# This family's finding codes, defined in pkgdoctor.codes.
MISSING_FILE = codes.RECORD_MISSING_FILE
HASH_MISMATCH = codes.RECORD_HASH_MISMATCH
PATH_OUTSIDE = codes.RECORD_PATH_OUTSIDE

MAX_LISTED = 20  # files named in one finding's evidence; the count says how many in all
SHEBANG_NOTE = "shebang rewritten?"
_MISSING_LIBRARY = "ext-missing-library"  # its finding explains missing bundled libraries
OVERWRITTEN_NOTE = "overwritten by another distribution"
PUBLISHED_NOTE = "published this way"
# Importable code: a module or an extension / bundled shared library (``x.so``, ``x.so.1``).
_CODE = re.compile(r"\.(py|so|so(\.\d+)+)$")
# Metadata files that pip, importlib.metadata or the import of plugins read (core metadata,
# PEP 376, PEP 427, entry points); licences and the like beside them are documentation.
_VITAL_METADATA = {
    "METADATA", "PKG-INFO", "RECORD", "WHEEL", "entry_points.txt", "top_level.txt",
    "requires.txt", "installed-files.txt", "direct_url.json", "SOURCES.txt",
}  # fmt: skip
# Where installers put scripts, relative to site-packages (``--prefix/bin``, Windows' Scripts).
_SCRIPT_DIRS = {"bin", "scripts"}


# --- the check ------------------------------------------------------------------------------


def check(ctx: Context) -> list[Finding]:
    findings: list[Finding] = []
    differing: list[tuple[Distribution, HashedFile]] = []
    examined = 0
    for dist in ctx.inventory.distributions:
        integrity = dist.integrity
        examined += integrity.checked
        if dist.outside:
            findings.append(_outside(dist))
        missing = list(integrity.missing)
        relocated = 0
        if missing and ctx.os_package(dist) is not None:
            kept = [rel for rel in missing if _os_owns(ctx, dist, rel)]
            relocated = len(missing) - len(kept)
            missing = kept
        if missing:
            findings.append(_missing(ctx, dist, dist.record_path, missing, relocated))
        differing += [(dist, h) for h in integrity.differing if not _os_intact(ctx, dist, h)]
    ctx.examined[AREA] = examined
    if differing:
        findings += _mismatches(ctx, differing)
    return findings


def reconcile(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Fold ``record-missing-file`` into ``ext-missing-library`` when one cause explains both.

    A deleted ``numpy.libs`` makes extension modules unloadable (``ext-missing-library``,
    which names the libraries and where RECORD put them) *and* leaves RECORD entries
    without files. When every missing file lies in a directory of those libraries, the list
    becomes evidence of the extension finding (``record_missing``) instead of a second one.
    """
    library_dirs: dict[str, set[str]] = {}
    for finding in findings:
        if finding.code != _MISSING_LIBRARY or not finding.distribution:
            continue
        libraries = finding.evidence.get("missing")
        for info in libraries.values() if isinstance(libraries, dict) else ():
            recorded = info.get("recorded_in_record_as") if isinstance(info, dict) else None
            if isinstance(recorded, str):
                directory = posixpath.dirname(recorded.replace("\\", "/"))
                library_dirs.setdefault(finding.distribution, set()).add(directory)
    folded: dict[str, Finding] = {}
    kept = []
    for finding in findings:
        dirs = library_dirs.get(finding.distribution or "")
        if (
            finding.code == MISSING_FILE.code
            and dirs
            and set(finding.evidence["missing_in"]) <= dirs
        ):
            folded[finding.distribution or ""] = finding
        else:
            kept.append(finding)
    result = []
    for finding in kept:
        mine = folded.get(finding.distribution or "") if finding.code == _MISSING_LIBRARY else None
        if mine is not None:
            evidence = {
                **finding.evidence,
                "record_missing": mine.evidence["missing"],
                "record_missing_count": mine.evidence["missing_count"],
            }
            finding = replace(finding, evidence=evidence)
        result.append(finding)
    return result


def _absolute(dist: Distribution, rel: str) -> str:
    return posixpath.normpath(posixpath.join(dist.site_dir, rel))


def _inside(path: str, directory: str) -> bool:
    return path.startswith(posixpath.normpath(directory).rstrip("/") + "/")


def _vital(dist: Distribution, rel: str) -> bool:
    """Importable code inside the site directory, or metadata that tools read."""
    path = _absolute(dist, rel)
    if _inside(path, dist.metadata_dir):
        return posixpath.basename(path) in _VITAL_METADATA
    return _inside(path, dist.site_dir) and _CODE.search(rel) is not None


def _os_intact(ctx: Context, dist: Distribution, hashed: HashedFile) -> bool:
    """Whether a file of an OS-owned distribution that differs from its RECORD row is what
    the OS installed (its packaging changed it after the build: Debian strips extension
    modules), so not damage."""
    facts = ctx.os_packages
    return facts is not None and ctx.os_package(dist) is not None and hashed.located in facts.intact


def _os_owns(ctx: Context, dist: Distribution, rel: str) -> bool:
    """Whether the OS package manager installed the file of RECORD row ``rel``."""
    facts = ctx.os_packages
    found = record_locations(dist.site_dir, rel)
    return facts is not None and bool(found) and facts.owner(found[0]) is not None


def _missing(
    ctx: Context, dist: Distribution, record: str, missing: list[str], relocated: int = 0
) -> Finding:
    """One finding per distribution; an error when code or metadata is gone."""
    vital = [rel for rel in missing if _vital(dist, rel)]
    count = len(missing)
    if count == 1:
        if vital:
            metadata = _inside(_absolute(dist, vital[0]), dist.metadata_dir)
            kind = "metadata" if metadata else "code"
        else:
            kind = "not code: a script, data or documentation"
        message = f"{dist} is missing {missing[0]}, a file its RECORD lists ({kind})."
    else:
        if vital:
            kind = (
                "all code or metadata" if len(vital) == count else f"{len(vital)} code or metadata"
            )
        else:
            kind = "none of them code: scripts, data or documentation"
        message = f"{dist} is missing {count} files its RECORD lists ({kind}): {missing[0]} …"
    evidence: dict[str, Any] = {
        "missing": missing[:MAX_LISTED],
        "missing_count": count,
        "code_or_metadata": vital[:MAX_LISTED],
        "missing_in": sorted({posixpath.dirname(rel.replace("\\", "/")) for rel in missing}),
        "record": record,
    }
    package = ctx.os_package(dist)
    if package is not None:
        # The OS's manager restores its own files; the rows its packaging moved are not
        # listed (``relocated``: how many).
        evidence["owned_by"] = ctx.os_describe(package)
        evidence["relocated_by_os"] = relocated
    return MISSING_FILE.finding(
        message,
        severity=Severity.ERROR if vital else Severity.WARNING,
        distribution=dist.name,
        path=dist.metadata_dir,
        evidence=evidence,
        command=ctx.pip_reinstall(dist),
    )


def _outside(dist: Distribution) -> Finding:
    """RECORD rows that :func:`pkgdoctor.snapshot.model.record_locations` puts outside: the
    look layer never touched their files, so nothing is said about them but their names."""
    rows = [entry.path for entry in dist.outside]
    count = len(rows)
    base = install_base(dist.site_dir)
    what = f"{rows[0]}, a file" if count == 1 else f"{count} files ({rows[0]} …)"
    message = (
        f"The RECORD of {dist} lists {what} outside {base or dist.site_dir}, where its "
        "installer writes; pip refuses to install such a row, and pkgdoctor did not look at "
        f"{'it' if count == 1 else 'them'}."
    )
    return PATH_OUTSIDE.finding(
        message,
        distribution=dist.name,
        path=dist.metadata_dir,
        evidence={
            "outside": rows[:MAX_LISTED],
            "outside_count": count,
            "install_base": base,
            "record": dist.record_path,
        },
        # Outside a virtual environment pip removes every file a RECORD lists when it
        # uninstalls or upgrades (``is_local`` in pip/_internal/utils/misc.py).
        explanation=(
            f"Find out what wrote these rows, and delete them from {dist.record_path} before "
            f"pip uninstalls or upgrades {dist.name}: outside a virtual environment pip "
            "removes every file a RECORD lists"
        ),
    )


def _script(result: HashedFile) -> bool:
    """A script: under a scripts directory outside site-packages, or starting with ``#!``."""
    parts = result.path.replace("\\", "/").split("/")
    under_scripts = parts[0] == ".." and any(p.lower() in _SCRIPT_DIRS for p in parts[:-1])
    return under_scripts or result.shebang


def _mismatches(ctx: Context, differing: list[tuple[Distribution, HashedFile]]) -> list[Finding]:
    by_dist: dict[str, list[HashedFile]] = {}
    dists: dict[str, Distribution] = {}
    for dist, result in differing:
        by_dist.setdefault(dist.metadata_dir, []).append(result)
        dists[dist.metadata_dir] = dist
    others = _other_owners(ctx, differing)
    return [_mismatch(ctx, dists[key], group, others) for key, group in by_dist.items()]


def _other_owners(
    ctx: Context, results: Iterable[tuple[Distribution, HashedFile]]
) -> dict[str, list[tuple[Distribution, RecordEntry]]]:
    """For each mismatched file, the other distributions whose RECORD lists it too (from the
    file → owners index, :attr:`pkgdoctor.snapshot.model.Inventory.shared`)."""
    shared = ctx.inventory.shared
    others: dict[str, list[tuple[Distribution, RecordEntry]]] = {}
    for dist, result in results:
        rows = [(d, e) for d, e in shared.get(result.located, ()) if d is not dist]
        if rows:
            others[result.located] = rows
    return others


def _mismatch(
    ctx: Context,
    dist: Distribution,
    group: list[HashedFile],
    others: dict[str, list[tuple[Distribution, RecordEntry]]],
) -> Finding:
    rows = {entry.path: entry for entry in dist.record or ()}
    published = (dist.integrity.installed_from, set(dist.integrity.published))
    files: list[dict[str, Any]] = []
    severities = []
    for result in group:
        entry = rows.get(result.path) or RecordEntry(result.path, None, None)
        item: dict[str, Any] = {
            "path": entry.path,
            "recorded_hash": entry.hash,
            "actual_hash": result.digest,
            "recorded_size": entry.size,
            "actual_size": result.size,
        }
        owners = [
            d
            for d, e in others.get(result.located, ())
            if e.hash and normal_hash(e.hash) == result.digest
        ]
        if entry.path in published[1]:
            item["note"] = PUBLISHED_NOTE
            severities.append(Severity.INFO)
        elif owners:
            item["note"] = f"{OVERWRITTEN_NOTE}: {owners[0]}"
            severities.append(Severity.WARNING)
        elif _script(result):
            item["note"] = SHEBANG_NOTE
            severities.append(Severity.INFO)
        else:
            severities.append(Severity.ERROR)
        files.append(item)
    severity = max(severities)
    count = len(group)
    files_text = "A file" if count == 1 else f"{count} files"
    if severity is Severity.ERROR:
        why = "edited in place or corrupted"
    elif severity is Severity.WARNING:
        why = "another distribution installed its own copy over it"
    elif all(entry.get("note") == PUBLISHED_NOTE for entry in files):
        why = (
            "published this way: the wheel it was installed from has the same content under "
            "the same wrong RECORD"
        )
    else:
        why = "only scripts: their #! line was probably rewritten when the environment moved"
    message = (
        f"{files_text} of {dist} {'differs' if count == 1 else 'differ'} from the hash in its "
        f"RECORD ({why}): {group[0].path}" + (" …" if count > 1 else "") + "."
    )
    evidence: dict[str, Any] = {
        "files": files[:MAX_LISTED],
        "file_count": count,
        "record": dist.record_path,
    }
    if published[0] is not None:
        evidence["installed_from"] = published[0]
    if count > MAX_LISTED:
        evidence["files_omitted"] = count - MAX_LISTED
    package = ctx.os_package(dist)
    if package is not None:  # these files differ from the OS's own checksums too
        evidence["owned_by"] = ctx.os_describe(package)
    command: str | None = ctx.pip_reinstall(dist)
    explanation = None
    if published[0] is not None and all(e.get("note") == PUBLISHED_NOTE for e in files):
        command = None
        explanation = (
            f"Nothing to repair here: {posixpath.basename(published[0])} ships a RECORD that does "
            f"not match its own files; report it to the maintainers of {dist.name}"
        )
    return HASH_MISMATCH.finding(
        message,
        severity=severity,
        distribution=dist.name,
        path=dist.metadata_dir,
        evidence=evidence,
        command=command,
        explanation=explanation,
    )
