"""``pkgdoctor why MODULE``: explain a failed import from what the look layer recorded.

The files involved (the module named in a ``ModuleNotFoundError``, an ``ImportError.path``,
every extension module found during the import; see :mod:`pkgdoctor.look.imports`) go
through the extension checks, and their findings come first.
"""

from __future__ import annotations

import posixpath
import shlex
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
IMPORT_NAMESPACE_FALLBACK = codes.IMPORT_NAMESPACE_FALLBACK
IMPORT_OTHER_PYTHON = codes.IMPORT_OTHER_PYTHON


def explain(ctx: Context, outcome: ImportOutcome, modules: Sequence[Extension]) -> list[Finding]:
    """Why the import failed: root causes first, then what is left. ``modules`` are the
    extension modules it touched, whose facts are in ``ctx.snapshot``."""
    fallbacks = _namespace_fallbacks(ctx, outcome)
    if outcome.ok or fallbacks:
        return fallbacks
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
    if outcome.elsewhere:
        return [*causes, _other_python(ctx, outcome)]
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
    command = None
    if owner is not None:
        command = ctx.pip(f"install --upgrade {shlex.quote(owner.name)}")
        fix = (
            f"Upgrade {owner.name} to a release that no longer imports {name.split('.')[0]}; "
            f"else use {gone.instead}, or a Python older than {release}."
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
        command=command,
        explanation=fix,
    )


def _namespace_fallbacks(ctx: Context, outcome: ImportOutcome) -> list[Finding]:
    """import-namespace-fallback: the module (or a package above it) was found as a namespace
    package (PEP 420: a directory without ``__init__``), and a distribution's RECORD lists
    the ``__init__.py`` that would have made it a regular package: it was deleted, and the
    import now gives an empty module instead of failing."""
    findings = []
    for spec in outcome.found:
        name = str(spec.get("name"))
        if name != outcome.module and not outcome.module.startswith(name + "."):
            continue
        # A namespace spec has no origin (importlib, since 3.7) and its portions' locations.
        if spec.get("origin") not in (None, "namespace"):
            continue
        for location in spec.get("locations") or ():
            init = posixpath.normpath(posixpath.join(str(location), "__init__.py"))
            owner = ctx.owner(init)
            if owner is None or init not in owner.missing_paths:
                continue
            missing = sorted(owner.missing_paths)
            findings.append(
                IMPORT_NAMESPACE_FALLBACK.finding(
                    f"import {name} gives an empty namespace package: {init}, which the RECORD "
                    f"of {owner} lists, is missing, so {name} has none of its contents.",
                    distribution=owner.name,
                    path=init,
                    evidence={
                        "module": name,
                        "missing": init,
                        "record": owner.record_path,
                        "missing_files": missing[:20],
                        "missing_count": len(missing),
                    },
                    command=ctx.pip_reinstall(owner),
                    explanation=f"Reinstall {owner.name} to put its files back.",
                )
            )
    return findings


def _other_python(ctx: Context, outcome: ImportOutcome) -> Finding:
    """import-other-python: the missing module is installed, but for another Python (a
    ``lib/pythonX.Y/site-packages`` of the prefix this interpreter never reads)."""
    first = outcome.elsewhere[0]
    name, site = str(first["distribution"]), str(first["site_dir"])
    python = str(first["python"]).replace("python", "Python ", 1)
    this = f"Python {ctx.target.interpreter.short_version}"
    error = _innermost(outcome)
    return IMPORT_OTHER_PYTHON.finding(
        f"import {outcome.module} fails ({error}): {name} {first['version']} is installed in "
        f"{site}, for {python}, which {this} never reads.",
        distribution=name,
        path=site,
        evidence={
            "import_error": error,
            "installed_in": [
                f"{e['distribution']} {e['version']}: {e['site_dir']}" for e in outcome.elsewhere
            ],
            "this_python": ctx.target.interpreter.short_version,
        },
        # Not pinned: the version installed for the other Python may have no wheel for this one.
        command=ctx.pip(f"install {shlex.quote(name)}"),
        explanation=f"Install {name} for {this} (or run the program with {python}).",
    )


def _bootstrap(file: str) -> bool:
    """importlib's own frames (``<frozen importlib._bootstrap>``), not the importing code."""
    return file.startswith("<")


def _innermost(outcome: ImportOutcome) -> str:
    if outcome.crashed:
        return outcome.summary
    last = outcome.chain[-1]
    return f"{last['type']}: {last['message']}"


def _raised_in(outcome: ImportOutcome) -> str | None:
    """``FILE:LINE`` of the innermost frame outside importlib that raised, if any."""
    if outcome.crashed or not outcome.chain:
        return None
    frames = [f for f in outcome.chain[-1].get("frames") or () if not _bootstrap(str(f["file"]))]
    return f"{frames[-1]['file']}:{frames[-1]['line']}" if frames else None


def _unexplained(ctx: Context, outcome: ImportOutcome, files: list[str]) -> Finding:
    """import-failed: what happened, and the next step: the command that shows every module
    the import loads (``-v``) and how long each took (``-X importtime``), in the user's own
    shell and directory."""
    evidence: dict[str, Any] = {
        "import": outcome.to_json(),
        "checked_files": files,
    }
    statement = shlex.quote(f"import {outcome.module}")
    reproduce = f"{ctx.python} -X importtime -v -c {statement}"
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
            command=f"{ctx.python} -X faulthandler -X importtime -v -c {statement}",
            explanation=(
                "This shows the last module loaded before the crash and faulthandler's "
                f"traceback. Reinstall the distribution that provides {outcome.module}; if it "
                "persists, report it upstream with that output."
            ),
        )
    innermost = outcome.chain[-1]
    raised = _raised_in(outcome)
    if raised:
        evidence["raised_in"] = raised
    fix = "To see each module the import loads, the last one before the error, run:"
    command: str | None = reproduce
    top = _missing_top(outcome)
    if top is not None and "." not in str(innermost["name"]) and not files:
        gone = [f.distribution or f.path for f in distributions.missing_sources(ctx)]
        installed = [d for d in ctx.inventory.distributions if top in d.top_level_names]
        if gone:
            # It may have come from one of them under another name: say so, not "install it".
            command = None
            fix = (
                f"Nothing on sys.path provides {top!r}, and the source of "
                f"{', '.join(str(g) for g in gone)} is gone: if {top!r} came from there, "
                "see dist-editable-source-missing (pkgdoctor check)."
            )
        elif installed:
            # Installing it again cannot help: pip would say "already satisfied".
            fix = (
                f"{installed[0]} is installed and its RECORD lists {top!r}, yet the import "
                f"does not find it: {fix}"
            )
        else:
            command = None
            fix = (
                f"Nothing provides {top!r} on this interpreter's sys.path: install the "
                f"distribution that provides it ({ctx.pip('install ...')})."
            )
    return IMPORT_FAILED.finding(
        f"import {outcome.module} fails: {innermost['type']}: {innermost['message']}",
        path=innermost.get("path"),
        evidence=evidence,
        command=command,
        explanation=fix,
    )
