"""``pkgdoctor why MODULE``: explain a failed import from what the look layer recorded.

The files involved (the module named in a ``ModuleNotFoundError``, an ``ImportError.path``,
every extension module found during the import; see :mod:`pkgdoctor.look.imports`) go
through the extension checks, and their findings come first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pkgdoctor import codes
from pkgdoctor.checks import distributions, extensions, numpy_abi, symbols
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding, Severity, sort_findings
from pkgdoctor.removed_stdlib import removal
from pkgdoctor.snapshot.model import Extension, normalize

if TYPE_CHECKING:
    from pkgdoctor.look.imports import ImportOutcome

AREA = "Imports"

# This family's finding codes, defined in pkgdoctor.codes.
IMPORT_FAILED = codes.IMPORT_FAILED
IMPORT_REMOVED_STDLIB = codes.IMPORT_REMOVED_STDLIB


def explain(ctx: Context, outcome: ImportOutcome, modules: Sequence[Extension]) -> list[Finding]:
    """Why the import failed: root causes first, then what is left. ``modules`` are the
    extension modules it touched, whose facts are in ``ctx.snapshot``."""
    if outcome.ok:
        return []
    causes = extensions.analyse(ctx, modules) + symbols.findings(ctx, modules)
    if not any(f.severity is Severity.ERROR for f in causes):
        causes += numpy_abi.from_import(ctx, outcome, modules)
    causes = sort_findings(causes)
    error = _innermost(outcome)
    causes = [replace(f, evidence={**f.evidence, "import_error": error}) for f in causes]
    if any(f.severity is Severity.ERROR for f in causes):
        return causes
    gone = _source_gone(ctx, outcome) if not modules else []
    if gone:
        return [replace(f, evidence={**f.evidence, "import_error": error}) for f in gone]
    removed = _removed_stdlib(ctx, outcome)
    if removed is not None:
        return [*causes, removed]
    # Warnings alone do not explain a failed import: report the failure itself too.
    return [*causes, _unexplained(ctx, outcome, [m.file.path for m in modules])]


def _missing_top(outcome: ImportOutcome) -> str | None:
    """The top-level name of ``outcome``'s module when the import failed because nothing
    provides that top-level name."""
    if outcome.crashed or not outcome.chain:
        return None
    innermost = outcome.chain[-1]
    if innermost["type"] != "ModuleNotFoundError" or not innermost.get("name"):
        return None
    top = str(innermost["name"]).split(".")[0]
    return top if top == outcome.module.split(".")[0] else None


def _source_gone(ctx: Context, outcome: ImportOutcome) -> list[Finding]:
    """The editable installs whose deleted source provided the missing top-level name: by
    the finder's mapping, or by the distribution's name (a path-style editable records only
    the directory)."""
    top = _missing_top(outcome)
    if top is None:
        return []
    found = distributions.missing_sources(ctx)
    return [
        f
        for f in found
        if top in f.evidence.get("modules", ())
        or (f.distribution is not None and normalize(f.distribution) == normalize(top))
    ]


def _removed_stdlib(ctx: Context, outcome: ImportOutcome) -> Finding | None:
    """import-removed-stdlib: the import failed for want of a standard-library module that
    this CPython removed (``removed_stdlib``); who imports it, from the traceback."""
    interp = ctx.snapshot.target.interpreter
    if outcome.crashed or not outcome.chain or interp.implementation != "cpython":
        return None
    innermost = outcome.chain[-1]
    name = str(innermost.get("name") or "")
    if innermost["type"] != "ModuleNotFoundError" or not name:
        return None
    gone = removal(name, (interp.version[0], interp.version[1]))
    if gone is None:
        return None
    frames = [f for f in innermost.get("frames") or () if not _bootstrap(str(f.get("file")))]
    importer = str(frames[-1]["file"]) if frames else None
    owner = ctx.owner(importer) if importer else None
    release = ".".join(map(str, gone.release))
    by = f"{importer} ({owner})" if owner else importer
    message = (
        f"import {outcome.module} fails: it needs {name.split('.')[0]}, which Python {release} "
        f"removed ({gone.reference})" + (f"; imported by {by}" if by else "") + "."
    )
    if owner is not None:
        fix = (
            f"Upgrade {owner.name} to a release that no longer imports it: "
            f"{ctx.pip(f'install --upgrade {owner.name}')} (else use {gone.instead}, or a "
            f"Python older than {release})"
        )
    else:
        fix = f"Use {gone.instead} instead, or a Python older than {release}."
    return IMPORT_REMOVED_STDLIB.finding(
        message,
        distribution=owner.name if owner else None,
        path=importer,
        evidence={
            "module": name,
            "removed_in": release,
            "reference": gone.reference,
            "instead": gone.instead,
            "imported_by": importer,
            "owner": str(owner) if owner else None,
        },
        explanation=fix,
    )


def _bootstrap(file: str) -> bool:
    """importlib's own frames (``<frozen importlib._bootstrap>``), not the importing code."""
    return file.startswith("<")


def _innermost(outcome: ImportOutcome) -> str:
    if outcome.crashed:
        return outcome.summary
    last = outcome.chain[-1]
    return f"{last['type']}: {last['message']}"


def _unexplained(ctx: Context, outcome: ImportOutcome, files: list[str]) -> Finding:
    evidence: dict[str, Any] = {
        "import": outcome.to_json(),
        "checked_files": files,
    }
    if outcome.crashed:
        last = [s for s in outcome.found if (s.get("origin") or "").endswith(".so")]
        if last:
            evidence["last_extension_loaded"] = last[-1]["origin"]
        evidence["stderr_tail"] = outcome.stderr_tail
        where = f" in {last[-1]['origin']}" if last else ""
        return IMPORT_FAILED.finding(
            f"Importing {outcome.module} crashed the interpreter ({outcome.crashed}){where}.",
            path=last[-1]["origin"] if last else None,
            evidence=evidence,
            explanation=(
                f"Reinstall the distribution that provides {outcome.module}; if it persists, "
                "report it upstream with the faulthandler output shown in the evidence."
            ),
        )
    innermost = outcome.chain[-1]
    fix = None
    top = _missing_top(outcome)
    if top is not None and not files:
        gone = [f.distribution or f.path for f in distributions.missing_sources(ctx)]
        if gone:
            # It may have come from one of them under another name: say so, not "install it".
            fix = (
                f"Nothing on sys.path provides {top!r}, and the source of "
                f"{', '.join(str(g) for g in gone)} is gone: if {top!r} came from there, "
                "see dist-editable-source-missing (pkgdoctor check)."
            )
        else:
            fix = (
                f"Nothing provides {top!r} on this interpreter's sys.path: install the "
                f"distribution that provides it ({ctx.pip('install ...')})."
            )
    return IMPORT_FAILED.finding(
        f"import {outcome.module} fails: {innermost['type']}: {innermost['message']}",
        path=innermost.get("path"),
        evidence=evidence,
        explanation=fix,
    )
