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
from pkgdoctor.checks import extensions
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding, Severity, sort_findings
from pkgdoctor.snapshot.model import Extension

if TYPE_CHECKING:
    from pkgdoctor.look.imports import ImportOutcome

AREA = "Imports"

# This family's finding codes, defined in pkgdoctor.codes.
IMPORT_FAILED = codes.IMPORT_FAILED


def explain(ctx: Context, outcome: ImportOutcome, modules: Sequence[Extension]) -> list[Finding]:
    """Why the import failed: root causes first, then what is left. ``modules`` are the
    extension modules it touched, whose facts are in ``ctx.snapshot``."""
    if outcome.ok:
        return []
    causes = sort_findings(extensions.analyse(ctx, modules))
    error = _innermost(outcome)
    causes = [replace(f, evidence={**f.evidence, "import_error": error}) for f in causes]
    if any(f.severity is Severity.ERROR for f in causes):
        return causes
    # Warnings alone do not explain a failed import: report the failure itself too.
    return [*causes, _unexplained(ctx, outcome, [m.file.path for m in modules])]


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
            fix=(
                f"Reinstall the distribution that provides {outcome.module}; if it persists, "
                "report it upstream with the faulthandler output shown in the evidence."
            ),
        )
    innermost = outcome.chain[-1]
    fix = None
    if innermost["type"] == "ModuleNotFoundError" and innermost.get("name"):
        top = str(innermost["name"]).split(".")[0]
        if top == outcome.module.split(".")[0] and not files:
            fix = (
                f"Nothing provides {top!r} on this interpreter's sys.path: install the "
                f"distribution that provides it ({ctx.python} -m pip install ...)."
            )
    return IMPORT_FAILED.finding(
        f"import {outcome.module} fails: {innermost['type']}: {innermost['message']}",
        path=innermost.get("path"),
        evidence=evidence,
        fix=fix,
    )
