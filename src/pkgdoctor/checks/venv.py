"""The venv's own integrity: its base interpreter, the Python ``bin/python`` runs, and the
interpreter its scripts' ``#!`` lines name (PEP 405 environments only).

- ``venv-base-missing``: ``pyvenv.cfg``'s ``home`` is gone (a pyenv version uninstalled, a
  Homebrew upgrade): nothing in the venv can start.
- ``venv-python-mismatch``: ``bin/python`` runs another ``major.minor`` than ``pyvenv.cfg``
  says; that Python reads only its own ``lib/pythonX.Y/site-packages``.
- ``venv-script-interpreter-missing`` / ``-foreign``: console scripts installed into the venv
  name an interpreter that is gone (the venv was moved: "bad interpreter") or one of another
  environment (the venv was copied: ``bin/pip install`` installs there).
"""

from __future__ import annotations

import posixpath
import shlex

from pkgdoctor.checks.context import Context
from pkgdoctor.codes import (
    VENV_BASE_MISSING,
    VENV_PYTHON_MISMATCH,
    VENV_SCRIPT_INTERPRETER_FOREIGN,
    VENV_SCRIPT_INTERPRETER_MISSING,
)
from pkgdoctor.findings import Finding, Fix
from pkgdoctor.snapshot.model import Distribution, Shebang, VenvFacts


def check(ctx: Context) -> list[Finding]:
    facts = ctx.snapshot.venv
    if facts is None:
        return []
    findings = _base(ctx, facts)
    findings += _mismatch(ctx, facts)
    findings += _scripts(ctx, facts)
    return findings


def _prefix(ctx: Context) -> str:
    return ctx.target.prefix.rstrip("/") or "/"


def _recreate(ctx: Context, facts: VenvFacts) -> Fix:
    """Recreate the venv in place with a Python of pyvenv.cfg's version, keeping its
    packages. ``venv`` run again on an existing environment writes pyvenv.cfg and the
    activate scripts anew and keeps site-packages, but leaves an existing ``bin/python``
    link alone (``venv.EnvBuilder.setup_python`` copies only where no link is), so the
    links go first."""
    prefix = _prefix(ctx)
    version = facts.version
    names = {"python", "python3", *facts.python_links}
    if version:
        names.add(f"python{version}")
    links = " ".join(shlex.quote(f"{prefix}/bin/{n}") for n in sorted(names))
    python = shlex.quote(facts.candidates[0]) if facts.candidates else f"python{version or '3'}"
    command = f"rm -f {links} && {python} -m venv --without-pip {shlex.quote(prefix)}"
    if facts.candidates:
        return Fix(
            command,
            f"Recreate the venv with a Python {version} (found: {facts.candidates[0]}); its "
            f"installed packages are for {version} and stay.",
        )
    if version:
        how = (
            f"Recreate the venv with a Python {version}: none was found on this machine "
            f"(pyvenv.cfg's home, pyenv's versions, PATH), so install one first (pyenv "
            f"install {version}, or your package manager's python{version}); its installed "
            f"packages are for {version} and stay: {command}"
        )
    else:
        how = (
            "Recreate the venv with the Python it was made with (pyvenv.cfg names no "
            f"version): {command}"
        )
    return Fix(None, how)


def _base(ctx: Context, facts: VenvFacts) -> list[Finding]:
    home = facts.cfg.get("home")
    if not home or facts.home_exists:
        return []
    interpreter = ctx.target.interpreter
    if interpreter.binary is not None and not ctx.target.system_is_host:
        # A tree copied from another machine (a loongarch64 venv looked at here): its home
        # is that machine's, whether it exists here says nothing.
        return []
    cfg = f"{_prefix(ctx)}/pyvenv.cfg"
    made_with = f"Python {facts.cfg.get('version') or facts.cfg.get('version_info') or '?'}"
    return [
        VENV_BASE_MISSING.finding(
            f"The venv's base interpreter is gone: pyvenv.cfg's home {home} does not exist "
            f"(the {made_with} it was made with was uninstalled or moved), so bin/python "
            "and every script of this venv fail to start.",
            path=cfg,
            evidence={
                "pyvenv.cfg": cfg,
                "home": home,
                "made with": made_with,
                "bin/python resolves to": facts.resolved or "nothing",
            },
            fix=_recreate(ctx, facts),
        )
    ]


def _mismatch(ctx: Context, facts: VenvFacts) -> list[Finding]:
    made_for, runs = facts.version, facts.resolved_version
    if made_for is None or runs is None or made_for == runs:
        return []
    unread = [
        (path, count)
        for path, count in facts.site_dirs
        if f"/python{runs}/" not in path and f"/pypy{runs}/" not in path
    ]
    where = "; ".join(
        f"{path} ({count} distribution{'s' if count != 1 else ''})" for path, count in unread
    )
    consequence = (
        f"Python {runs} never reads {where}" if unread else f"packages for {made_for} go unread"
    )
    full = facts.cfg.get("version") or facts.cfg.get("version_info") or made_for
    return [
        VENV_PYTHON_MISMATCH.finding(
            f"This venv was made for Python {full} (pyvenv.cfg), but bin/python now runs "
            f"Python {runs} ({facts.resolved or 'unknown'}): {consequence}.",
            path=f"{_prefix(ctx)}/bin/python",
            evidence={
                "made for": full,
                "bin/python runs": runs,
                "bin/python resolves to": facts.resolved or "unknown",
                "unread site-packages": [path for path, _ in unread],
            },
            fix=_recreate(ctx, facts),
        )
    ]


def _scripts(ctx: Context, facts: VenvFacts) -> list[Finding]:
    prefix = _prefix(ctx)
    own = {posixpath.normpath(f"{prefix}/bin")}
    if ctx.snapshot.paths.prefix_real:
        own.add(posixpath.normpath(f"{ctx.snapshot.paths.prefix_real[0]}/bin"))
    groups: dict[str, list[tuple[Shebang, Distribution]]] = {}
    for shebang in facts.shebangs:
        directory = posixpath.dirname(posixpath.normpath(shebang.interpreter))
        if directory in own or shebang.real_dir in own:
            continue
        # Only what an installer put there (RECORD lists it): a script of the user's own in
        # bin/ may run any Python it likes.
        owner = ctx.owner(shebang.script)
        if owner is None:
            continue
        groups.setdefault(shebang.interpreter, []).append((shebang, owner))
    findings = []
    for interpreter, items in groups.items():
        scripts = [posixpath.basename(s.script) for s, _ in items]
        owners = list(dict.fromkeys(owner for _, owner in items))
        names = ", ".join(scripts)
        plural = "s" if len(scripts) > 1 else ""
        evidence = {
            "scripts": scripts,
            "interpreter": interpreter,
            "distributions": [str(d) for d in owners],
        }
        if not items[0][0].exists:
            code = VENV_SCRIPT_INTERPRETER_MISSING
            message = (
                f"Script{plural} {names} in {prefix}/bin name{'' if plural else 's'} the "
                f"interpreter {interpreter}, which does not exist (the venv was moved from "
                f'there): running {"them" if plural else "it"} fails with "bad interpreter".'
            )
        else:
            code = VENV_SCRIPT_INTERPRETER_FOREIGN
            message = (
                f"Script{plural} {names} in {prefix}/bin run{'' if plural else 's'} "
                f"{interpreter}, another environment's interpreter (the venv was copied from "
                f"there): {names} work{'' if plural else 's'} on that environment, not this "
                "one (pip install lands there)."
            )
        findings.append(
            code.finding(
                message,
                distribution=owners[0].name if len(owners) == 1 else None,
                path=items[0][0].script,
                evidence=evidence,
                fix=_reinstall_scripts(ctx, prefix, owners),
            )
        )
    return findings


def _reinstall_scripts(ctx: Context, prefix: str, owners: list[Distribution]) -> Fix:
    """pip writes a script's ``#!`` line for the interpreter that installs it
    (``sys.executable``), so reinstalling the distributions with this venv's Python rewrites
    them; ``venv`` run again would not touch them."""
    python = shlex.quote(f"{prefix}/bin/python")
    wanted = " ".join(shlex.quote(d.requirement) for d in owners)
    if ctx.inventory.get("pip") is not None:
        command = f"{python} -m pip install --force-reinstall --no-deps {wanted}"
    else:  # no pip inside: a pip outside installs for it (pip 22.3+)
        command = f"python3 -m pip --python {python} install --force-reinstall --no-deps {wanted}"
    return Fix(
        command,
        "Reinstall the distributions that own them with this venv's Python, which writes "
        "their #! lines anew (bin/activate, if you use it, needs the venv run again).",
    )
