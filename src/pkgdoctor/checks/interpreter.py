"""Interpreter: can the target's interpreter start at all?

- ``interpreter-cannot-start``: the live probe found an interpreter that exits before any
  code runs (``Target.start_failure``; the rest of the report then comes from the tree, read
  statically). The usual cause is a start-up variable of the user's environment:
  ``PYTHONHOME`` at another Python's home (CPython then finds no ``encodings`` and stops
  with "init_fs_encoding: failed to get the Python codec of the filesystem encoding"), or a
  ``PYTHONPATH`` holding another Python's standard library. The look layer proved which
  variables are to blame by starting the interpreter without each (and whether ``-S``, no
  ``site``, starts it: a ``.pth`` line that exits); this check only words it.
"""

from __future__ import annotations

import shlex

from pkgdoctor import codes
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding, Fix
from pkgdoctor.target.facts import StartFailure

AREA = "Interpreter"
CANNOT_START = codes.INTERPRETER_CANNOT_START

#: Lines of the interpreter's stderr shown as evidence (the Snapshot keeps more).
SHOWN_LINES = 6


def check(ctx: Context) -> list[Finding]:
    failure = ctx.target.start_failure
    if failure is None:
        return []
    return [_cannot_start(failure)]


def _cause(failure: StartFailure) -> str:
    """The line of stderr that names the cause ("ModuleNotFoundError: No module named
    'encodings'"), else its last line."""
    lines = [line.strip() for line in failure.stderr_tail if line.strip()]
    for line in reversed(lines):
        if line.startswith("Fatal Python error:") or "Error:" in line.split(" ", 1)[0]:
            # The exception line under "Fatal Python error" says more than the header.
            after = lines[lines.index(line) + 1 :]
            errors = [x for x in after if x.split(":", 1)[0].endswith("Error")]
            return errors[0] if errors else line
    return lines[-1] if lines else f"exit status {failure.returncode}"


def _cannot_start(failure: StartFailure) -> Finding:
    exe = failure.executable
    python = shlex.quote(exe)
    cause = _cause(failure)
    # What decides first (the variables, the command to try), then what it printed.
    evidence: dict[str, object] = {}
    later: dict[str, object] = {
        "exit_status": failure.returncode,
        "stderr": [line for line in failure.stderr_tail if line.strip()][-SHOWN_LINES:],
    }
    if failure.variables:
        later["start_up_variables"] = dict(failure.variables)
    culprits = failure.culprits
    if culprits:
        evidence["starts_without"] = list(culprits)
        named = " and ".join(f"{n}={failure.variables.get(n, '')}" for n in culprits)
        unset = " ".join(culprits)
        try_it = "env " + " ".join(f"-u {n}" for n in culprits) + f" {python} -c 'import sys'"
        evidence["try"] = try_it
        evidence.update(later)
        verb = "makes" if len(culprits) == 1 else "make"
        message = (
            f"{exe} cannot start: {named} in your environment {verb} every start fail "
            f"({cause}); without it, it starts."
        )
        fix = Fix(
            f"unset {unset}",
            "Remove it from your environment (and from the shell start-up file that sets "
            f"it); to see it start first: {try_it}",
        )
        return CANNOT_START.finding(message, path=exe, evidence=evidence, fix=fix)
    if failure.starts_isolated:
        names = list(failure.variables)
        evidence["starts_with"] = "-E (every PYTHON* variable ignored)"
        try_it = "env " + " ".join(f"-u {n}" for n in names) + f" {python} -c 'import sys'"
        evidence["try"] = try_it
        evidence.update(later)
        message = (
            f"{exe} cannot start ({cause}); it starts when the PYTHON* variables of your "
            f"environment are ignored: together, {', '.join(names)} stop it."
        )
        fix = Fix(
            f"unset {' '.join(names)}",
            "Remove them from your environment (and from the shell start-up file that sets "
            f"them); to see it start first: {try_it}",
        )
        return CANNOT_START.finding(message, path=exe, evidence=evidence, fix=fix)
    evidence.update(later)
    if failure.starts_without_site:
        evidence["starts_with"] = "-S (site not imported: no .pth file, no sitecustomize)"
        message = (
            f"{exe} cannot start ({cause}): code that site.py runs at start-up stops it "
            "(an import line of a .pth file, or sitecustomize); with -S it starts."
        )
        explanation = (
            "Find the .pth import line or sitecustomize that exits (the sys.path findings "
            f"list the .pth files that run code) and remove it; {python} -S works meanwhile."
        )
        return CANNOT_START.finding(message, path=exe, evidence=evidence, explanation=explanation)
    message = (
        f"{exe} cannot start ({cause}), and not because of a PYTHON* variable: "
        "its installation is damaged."
    )
    explanation = (
        "Reinstall that Python (its standard library is missing or broken), or recreate the "
        "environment from a Python that starts: python3 -m venv --clear ENV_DIR"
    )
    return CANNOT_START.finding(message, path=exe, evidence=evidence, explanation=explanation)
