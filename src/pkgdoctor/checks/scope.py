"""``pkgdoctor why MODULE``: what every check family found that concerns one import.

``why`` looks at the target as ``check`` does (the same Snapshot, ``--cwd`` included) and runs
every family on it; :func:`judge` keeps the findings that concern MODULE and puts the
explanation of the import itself (:func:`pkgdoctor.checks.imports.explain`) first:

- the distributions that provide MODULE's top-level name (the one whose RECORD lists
  MODULE's own path when several share a namespace package) and those they require, with
  pip-check's verdicts on those requirements;
- the files and directories the import involved (MODULE's origin, its package directories,
  the extension modules it touched);
- sys.path: MODULE's name shadowed, or provided from a foreign or user site-packages;
- what breaks every import (the interpreter or the venv's base is gone), and a venv run by
  another Python when the import fails.

``import-failed`` stays only when none of those errors explains a failed import.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pkgdoctor import codes
from pkgdoctor.checks import imports
from pkgdoctor.checks.context import Context
from pkgdoctor.checks.distributions import required
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.snapshot.model import Distribution, Extension, normalize

if TYPE_CHECKING:
    from pkgdoctor.look.imports import ImportOutcome

# No import can work at all.
_EVERY_IMPORT = frozenset({codes.INTERPRETER_CANNOT_START.code, codes.VENV_BASE_MISSING.code})
# Every installed package is unreadable: about MODULE when its import fails.
_WHEN_FAILING = frozenset({codes.VENV_PYTHON_MISMATCH.code})
_SITES = frozenset({codes.PATH_FOREIGN_SITE.code, codes.PATH_USER_SITE_LEAK.code})


def judge(
    ctx: Context,
    outcome: ImportOutcome | None,
    modules: Sequence[Extension],
    findings: Sequence[Finding],
) -> list[Finding]:
    """The explanation of ``outcome`` (``modules``: the extension modules it touched), then
    the ``findings`` of every family that concern it. ``outcome`` None: the interpreter
    could not start, and nothing was imported."""
    if outcome is None:
        return [f for f in findings if f.code in _EVERY_IMPORT]
    kept = about(ctx, outcome, modules, findings)
    explained = []
    for finding in imports.explain(ctx, outcome, modules):
        # check's finding about the same distribution is the whole story (every file of it,
        # the wheel's tags): it takes the place of the explanation's, with the import error.
        twin = _twin(finding, kept)
        if twin is not None:
            kept.remove(twin)
            error = finding.evidence.get("import_error")
            if error is not None:
                twin = replace(twin, evidence={**twin.evidence, "import_error": error})
            finding = twin
        explained.append(finding)
    # A deleted __init__.py is the missing file that matters: one finding, not two.
    fallback = {f.distribution for f in explained if f.code == codes.IMPORT_NAMESPACE_FALLBACK.code}
    kept = [
        f
        for f in kept
        if not (f.code == codes.RECORD_MISSING_FILE.code and f.distribution in fallback)
    ]
    # A venv run by another Python: venv-python-mismatch is the cause, and its fix the better.
    if any(f.code in _WHEN_FAILING for f in kept):
        explained = [f for f in explained if f.code != codes.IMPORT_OTHER_PYTHON.code]
    if not outcome.ok and _explains(outcome, kept):
        explained = [f for f in explained if f.code != codes.IMPORT_FAILED.code]
    return [*explained, *kept]


def _twin(finding: Finding, kept: Sequence[Finding]) -> Finding | None:
    """check's finding of ``finding``'s code about the same file or distribution."""
    for other in kept:
        if other.code == finding.code and (
            other.path == finding.path
            or (finding.distribution is not None and other.distribution == finding.distribution)
        ):
            return other
    return None


def about(
    ctx: Context,
    outcome: ImportOutcome,
    modules: Sequence[Extension],
    findings: Sequence[Finding],
) -> list[Finding]:
    """The ``findings`` that concern the import of ``outcome.module``."""
    names = _top_names(outcome)
    providers = _providers(ctx, outcome, names)
    keys = {d.key for d in providers}
    for dist in providers:
        keys.update(required(ctx, dist))
    metadata = {d.metadata_dir for d in ctx.inventory.distributions if d.key in keys}
    files = {posixpath.normpath(m.file.path) for m in modules}
    directories: set[str] = set()
    for spec in outcome.found:
        name = str(spec.get("name"))
        if name == outcome.module or outcome.module.startswith(name + "."):
            if spec.get("origin"):
                files.add(posixpath.normpath(str(spec["origin"])))
            directories.update(posixpath.normpath(str(p)) for p in spec.get("locations") or ())
    sites = {posixpath.normpath(d.site_dir) for d in providers}

    def concerns(finding: Finding) -> bool:
        if finding.code in _EVERY_IMPORT:
            return True
        if finding.code in _WHEN_FAILING:
            return not outcome.ok
        if finding.distribution is not None and normalize(finding.distribution) in keys:
            return True
        evidence = finding.evidence
        if finding.code == codes.DIST_CLOBBER.code:
            return bool(metadata.intersection(evidence.get("metadata") or ()))
        if finding.code == codes.MODULE_SHADOWED.code:
            return evidence.get("module") in names
        if finding.code == codes.DIST_PARTIAL_UNINSTALL.code:
            stems = {normalize(n)[1:] for n in {*names, *keys}}
            return bool(_leftover_stems(evidence.get("leftovers") or ()) & stems)
        path = posixpath.normpath(finding.path) if finding.path else None
        if path is None:
            return False
        if finding.code in _SITES:
            return path in sites or any(_under(f, path) for f in files)
        return path in files or any(_under(path, d) for d in directories)

    return [f for f in findings if concerns(f)]


def _top_names(outcome: ImportOutcome) -> set[str]:
    """MODULE's top-level name, and that of the module a ModuleNotFoundError names."""
    names = {outcome.module.split(".")[0]}
    for exc in outcome.chain:
        if exc.get("type") == "ModuleNotFoundError" and exc.get("name"):
            names.add(str(exc["name"]).split(".")[0])
    return names


def _providers(ctx: Context, outcome: ImportOutcome, names: set[str]) -> list[Distribution]:
    """The distributions that install MODULE (or the missing module): who installed its
    origin, and those whose RECORD provides its top-level name; of several that share a
    namespace package, those whose RECORD lists MODULE's own path."""
    found = [d for d in ctx.inventory.distributions if d.top_level_names & names]
    own = outcome.module.replace(".", "/")
    if "." in outcome.module and len(found) > 1:
        exact = [d for d in found if any(_provides(e.path, own) for e in d.record or ())]
        found = exact or found
    origin = outcome.origin
    owner = ctx.owner(origin) if origin else None
    if owner is not None and owner not in found:
        found.append(owner)
    return found


def _provides(row: str, module_path: str) -> bool:
    """Whether a RECORD row is the module at ``module_path`` (``a/b``) or inside it."""
    return row.startswith((module_path + "/", module_path + "."))


def _leftover_stems(paths: Iterable[str]) -> set[str]:
    """What pip's ``~name`` leftovers stood for, less the first letter pip replaced with
    ``~``: ``~umpy`` gives ``umpy``, compared with ``numpy`` less its first letter."""
    stems = {normalize(posixpath.basename(p)[1:].split("-", 1)[0]) for p in paths}
    return {n for n in stems if n}


def _explains(outcome: ImportOutcome, kept: Sequence[Finding]) -> bool:
    """Whether a kept error explains the failed import: an import that could not find or
    load something (or crashed) and an error about what it needed. An exception of the
    module's own code (a KeyError) is another story: import-failed points at it."""
    if not any(f.severity is Severity.ERROR for f in kept):
        return False
    if outcome.crashed:
        return True
    kinds = {str(exc.get("type")) for exc in outcome.chain}
    return bool(kinds & {"ImportError", "ModuleNotFoundError"})


def _under(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")
