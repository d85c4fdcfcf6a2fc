"""Choosing the target: ``--python``, ``--prefix`` or the environment the user would get.

Choosing is split in two so that the probe can start as early as possible (start-up time
is part of ``check``'s speed): ``plan_target`` decides from paths and the first bytes of the
interpreter alone, importing almost nothing, and ``Plan.start`` launches the probe; the
caller imports what it needs while the probe runs, then ``Plan.look`` reads its answer.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from pkgdoctor.errors import TargetError
from pkgdoctor.target.prefix import interpreter_in

if TYPE_CHECKING:
    from pkgdoctor.target.facts import Target
    from pkgdoctor.target.live import ProbeFailed, Running


class Plan:
    """How to look at the target: run the probe in ``executable`` (live), or read the tree
    at ``prefix`` (static: for ``static_reason``, because ``foreign`` is an interpreter for
    another machine, or when the probe cannot run). ``look`` waits for the probe at
    most ``timeout`` seconds (None: ``limits.PROBE_TIMEOUT``).

    A live plan with a ``prefix`` is checked after the probe: when the interpreter in its
    ``bin/`` turns out to run another environment, the tree is read instead (static), with
    that reason. ``launcher`` names the kind of launcher ``executable`` is ("pyenv"), if any.
    """

    def __init__(
        self,
        executable: str | None,
        prefix: str | None,
        static_reason: str | None = None,
        foreign: str | None = None,
        launcher: str | None = None,
    ) -> None:
        self.executable = executable
        self.prefix = prefix
        self.static_reason = static_reason
        self.foreign = foreign
        self.launcher = launcher
        self.timeout: float | None = None
        self._running: Running | None = None

    def start(self) -> None:
        """Launch the probe (live plans only); ``look`` collects it."""
        if self.executable is not None and self._running is None:
            from pkgdoctor.target.limits import PROBE_TIMEOUT
            from pkgdoctor.target.live import PROBE_SOURCE, start_in_target

            try:
                self._running = start_in_target(
                    self.executable,
                    PROBE_SOURCE,
                    timeout=self.timeout or PROBE_TIMEOUT,
                    env=self._launcher_environment(),
                )
            except TargetError:
                self._running = None  # ``look`` runs it again and reports the error

    def cancel(self) -> None:
        """Stop a probe that will not be looked at (the command failed meanwhile)."""
        if self._running is not None:
            self._running.cancel()
            self._running = None

    def look(self) -> Target:
        """The target's facts: the probe's answer, or the static reading of the tree."""
        from pkgdoctor.target.limits import PROBE_TIMEOUT
        from pkgdoctor.target.live import ExecFormatError, ProbeFailed, probe

        if self.executable is None:
            from pkgdoctor.target.static import read_static

            assert self.prefix is not None
            reason = self.static_reason or _foreign_reason(self.foreign or "")
            return read_static(self.prefix, reason)
        running, self._running = self._running, None
        try:
            target = probe(
                self.executable,
                running,
                timeout=self.timeout or PROBE_TIMEOUT,
                env=self._launcher_environment(),
            )
        except ExecFormatError:
            from pkgdoctor.target.static import read_static

            prefix = self.prefix or os.path.dirname(os.path.dirname(self.executable))
            return read_static(prefix, f"{self.executable} cannot run on this machine")
        except ProbeFailed as failed:
            return self._cannot_start(failed)
        elsewhere = _runs_elsewhere(target, self.executable, self.prefix)
        if elsewhere is not None:
            from pkgdoctor.target.static import read_static

            assert self.prefix is not None
            return read_static(self.prefix, elsewhere)
        return target

    def _cannot_start(self, failed: ProbeFailed) -> Target:
        """A target whose interpreter exits before the probe runs is a finding
        (``interpreter-cannot-start``), not an error: read the tree statically, with the
        facts of the failed start. Anything else that makes the probe fail stays an error."""
        import dataclasses

        from pkgdoctor.target.live import diagnose_start
        from pkgdoctor.target.static import read_static

        assert self.executable is not None
        if self.launcher == "pyenv" and failed.stderr.lstrip().startswith("pyenv: "):
            raise TargetError(_pyenv_failed(self.executable, failed.stderr)) from failed
        failure = diagnose_start(self.executable, failed, self._launcher_environment())
        if failure is None:
            raise failed
        prefix = self.prefix or os.path.dirname(os.path.dirname(self.executable))
        why = f"the interpreter cannot start (exit status {failure.returncode})"
        try:
            target = read_static(prefix, why)
        except TargetError:
            lines = "\n".join(failure.stderr_tail[-10:])
            raise TargetError(
                f"{self.executable} cannot start (exit status {failure.returncode}), and "
                f"{prefix} cannot be read as an environment:\n{lines}"
            ) from failed
        return dataclasses.replace(target, start_failure=failure)

    def _launcher_environment(self) -> dict[str, str]:
        """What the launcher needs on top of the user's environment: the probe runs in an
        empty private directory, and pyenv picks the version from the ``.python-version``
        file above its working directory, or above ``$PYENV_DIR`` when set (pyenv's README,
        "Environment variables"): point it at the user's directory, as their shell would."""
        if self.launcher == "pyenv" and "PYENV_DIR" not in os.environ:
            return {"PYENV_DIR": os.getcwd()}
        return {}


#: Lines of a launcher's message quoted in the error (pyenv's "command not found" is ~7).
_LAUNCHER_LINES = 20


def _pyenv_failed(shim: str, stderr: str) -> str:
    """What to say when a pyenv shim found no interpreter for the versions the user's shell
    selects ("pyenv: python3.12: command not found", then the versions that have it): pyenv's
    whole message, and the interpreters that provide the command, from the shim's pyenv root
    (``$PYENV_ROOT/shims/NAME`` runs ``$PYENV_ROOT/versions/VERSION/bin/NAME``: pyenv's
    README, "Understanding Shims"), so that the user can name one with --python."""
    import shlex

    name = os.path.basename(shim)
    root = os.path.dirname(os.path.dirname(shim))
    versions_dir = os.path.join(root, "versions")
    try:
        versions = sorted(os.listdir(versions_dir))
    except OSError:
        versions = []
    found = [
        path
        for path in (os.path.join(versions_dir, v, "bin", name) for v in versions)
        if os.path.isfile(path) and os.access(path, os.X_OK)
    ]
    lines = stderr.rstrip().splitlines()
    quoted = "\n".join("  " + line for line in lines[:_LAUNCHER_LINES])
    if len(lines) > _LAUNCHER_LINES:
        quoted += f"\n  [... {len(lines) - _LAUNCHER_LINES} more lines]"
    message = f"{shim} is a pyenv shim, and pyenv runs no {name} here; it said:\n{quoted}\n"
    if len(found) == 1:
        message += f"check that Python with: --python {shlex.quote(found[0])}"
    elif found:
        message += "check one of them with --python: " + ", ".join(map(shlex.quote, found))
    else:
        message += f"no version under {versions_dir} has {name}: pyenv install it, or name "
        message += "another interpreter with --python"
    return message


def find_target(
    python: str | None = None,
    prefix: str | None = None,
    *,
    static: bool = False,
    timeout: float | None = None,
) -> Target:
    """Look at the target the options name (``plan_target``, then ``Plan.look``)."""
    return plan_target(python, prefix, static=static, timeout=timeout).look()


def plan_target(
    python: str | None = None,
    prefix: str | None = None,
    *,
    static: bool = False,
    timeout: float | None = None,
) -> Plan:
    """Decide how to look at the target the options name; the probe, when there is one, is
    bounded by ``timeout`` seconds (None: ``limits.PROBE_TIMEOUT``).

    Without options the target is the environment the user would get: ``$VIRTUAL_ENV``,
    else ``$CONDA_PREFIX``, else the first ``python3`` on ``PATH``.
    """
    plan = _plan(python, prefix, static=static)
    plan.timeout = timeout
    return plan


def _plan(python: str | None, prefix: str | None, *, static: bool) -> Plan:
    if python is not None and prefix is not None:
        raise TargetError("choose either --python or --prefix, not both")
    if static and prefix is None:
        raise TargetError("--static reads an environment tree: name it with --prefix DIR")
    if prefix is not None:
        return _from_prefix(prefix, static=static)
    if python is not None:
        return _from_python(python)
    for var, leave in (("VIRTUAL_ENV", "deactivate"), ("CONDA_PREFIX", "conda deactivate")):
        value = os.environ.get(var)
        if not value:
            continue
        if not os.path.isdir(value):
            # The shell still has an environment activated that was deleted (or moved)
            # since: say where the target came from, and how to leave it.
            gone = "does not exist" if not os.path.lexists(value) else "is not a directory"
            raise TargetError(
                f"${var} points to {value}, which {gone} (an environment deleted or moved "
                f"while still activated in this shell): run `{leave}`, or name the target "
                "with --python or --prefix"
            )
        return _from_prefix(value, static=False)
    found = _which("python3")
    if found is None:
        raise TargetError("no target: no $VIRTUAL_ENV, no $CONDA_PREFIX and no python3 on PATH")
    return _from_python(found)


def _from_python(python: str) -> Plan:
    executable = python if os.sep in python else _which(python)
    if executable is None:
        raise TargetError(f"no interpreter named {python!r} on PATH")
    # The probe runs from a private working directory: relative paths must not leak into it.
    executable = os.path.abspath(executable)
    if not os.path.lexists(executable):
        raise TargetError(f"no interpreter at {executable}")
    if os.path.isdir(executable):
        raise TargetError(f"{executable} is a directory; to read an environment use --prefix")
    if not os.path.exists(executable):
        raise TargetError(f"{executable} is a broken symbolic link")
    if not os.access(executable, os.X_OK):
        raise TargetError(f"{executable} is not executable")
    kind, why = _inspect(executable, launchers=True)
    if kind == "foreign":
        return Plan(None, os.path.dirname(os.path.dirname(executable)), foreign=executable)
    if kind == "refused":
        # Named by the user, but not run: a wrapper script would make the report describe
        # whatever it runs, in an environment it changed, and nothing would say so.
        raise TargetError(
            f"{executable} {why}; pkgdoctor runs only interpreters (ELF executables for this "
            "machine) and pyenv shims: name the interpreter it runs with --python, or read "
            "an environment without running anything with --prefix DIR --static"
        )
    home = os.path.dirname(os.path.dirname(executable))
    blocking = _blocking_startup_file(home) if kind != "pyenv" else None
    if blocking is not None:
        path, what = blocking
        raise TargetError(
            f"{executable} would block at start-up: {path} is {what} (the interpreter reads it "
            f"at every start); read the environment without running it: --prefix {home} --static"
        )
    return Plan(executable, None, launcher=kind if kind == "pyenv" else None)


def _from_prefix(prefix_arg: str, *, static: bool) -> Plan:
    prefix = os.path.abspath(prefix_arg)
    if not os.path.exists(prefix):
        raise TargetError(f"no such directory: {prefix_arg}")
    if not os.path.isdir(prefix):
        raise TargetError(f"{prefix_arg} is not a directory")
    if static:
        return Plan(None, prefix, "asked for with --static")
    exe = interpreter_in(prefix)
    if exe is None:
        return Plan(None, prefix, "no interpreter in bin/")
    if not os.path.exists(exe):
        return Plan(None, prefix, f"{exe} is a broken link to {os.readlink(exe)}")
    # An environment's interpreter is an ELF executable (venv, virtualenv, uv and conda link
    # or copy one; so do distributions). Anything else found in a tree is never run: a
    # script there would run with the user's environment and could run anything.
    kind, why = _inspect(exe, launchers=False)
    if kind == "foreign":
        return Plan(None, prefix, foreign=exe)
    if kind == "refused":
        return Plan(None, prefix, f"{os.path.relpath(exe, prefix)} {why}: not run")
    blocking = _blocking_startup_file(prefix)
    if blocking is not None:
        # Running it would only wait out the probe's time limit: read the tree instead,
        # where startup-file-blocks says which file and what to do.
        path, what = blocking
        return Plan(
            None, prefix, f"{os.path.relpath(path, prefix)} is {what}: the interpreter would block"
        )
    return Plan(exe, prefix)


def _blocking_startup_file(prefix: str) -> tuple[str, str] | None:
    """A file the interpreter of the environment at ``prefix`` reads at every start that
    would block it (a FIFO, a device: ``files.blocking_kind``), and what it is; None if none:
    its ``pyvenv.cfg`` (read by getpath), or a ``.pth`` file in the site directories of the
    install schemes under ``prefix`` (read by site.py): ``lib*/python3*/{site,dist}-packages``.
    """
    from pkgdoctor.files import blocking_kind

    cfg = os.path.join(prefix, "pyvenv.cfg")
    what = blocking_kind(cfg)
    if what is not None:
        return cfg, what

    for lib in ("lib", "lib64"):
        try:
            versions = [e.name for e in os.scandir(os.path.join(prefix, lib))]
        except OSError:
            continue
        for version in sorted(versions):
            if not version.startswith("python3"):
                continue
            for site in ("site-packages", "dist-packages"):
                directory = os.path.join(prefix, lib, version, site)
                try:
                    names = sorted(e.name for e in os.scandir(directory))
                except OSError:
                    continue
                for name in names:
                    if name.endswith(".pth"):
                        path = os.path.join(directory, name)
                        what = blocking_kind(path)
                        if what is not None:
                            return path, what
    return None


def _which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


def _elf_identity(head: bytes) -> tuple[int, int, bytes] | None:
    """(ELF class, data encoding, e_machine bytes) from the first 20 bytes of a file:
    enough to tell whether it can run here, without parsing the file."""
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return head[4], head[5], head[18:20]


def _head(path: str, size: int) -> bytes:
    """The first ``size`` bytes of ``path``, symbolic links followed; raises OSError."""
    from pkgdoctor.files import read_regular

    return read_regular(os.path.realpath(path), size)  # a FIFO never blocks: not regular


# How a pyenv shim starts: ``pyenv rehash`` writes every shim from one template, a bash
# script that ends ``exec "<pyenv>" exec "$program" "$@"`` (pyenv, libexec/pyenv-rehash,
# create_prototype_shim). ``pyenv exec`` picks the version as the user's shell would
# ($PYENV_VERSION, .python-version, the global file) and execs that version's python.
_PYENV_SHIM_START = b'#!/usr/bin/env bash\nset -e\n[ -n "$PYENV_DEBUG" ] && set -x\n'
_PYENV_SHIM_EXEC = b'" exec "$program" "$@"'
_HEAD_SIZE = 1024  # a shim is ~300 bytes


def _inspect(executable: str, *, launchers: bool) -> tuple[str, str]:
    """What ``executable`` is, from its first bytes: ("native", "") an ELF file for this
    machine, ("foreign", "") one for another, ("pyenv", "") a pyenv shim (recognised only
    with ``launchers``), ("unknown", "") when pkgdoctor's own interpreter is no ELF file
    (nothing to compare with), or ("refused", why not run)."""
    try:
        ours = _elf_identity(_head(sys.executable, 20))
    except OSError:
        ours = None
    if ours is None:
        return "unknown", ""
    from pkgdoctor.files import NotRegularFile

    try:
        head = _head(executable, _HEAD_SIZE)
    except NotRegularFile:
        return "refused", "is not a regular file"
    except OSError as exc:
        return "refused", f"cannot be read ({exc.strerror or exc})"
    theirs = _elf_identity(head)
    if theirs is not None:
        return ("native", "") if theirs == ours else ("foreign", "")
    if (
        launchers
        and os.path.basename(os.path.dirname(executable)) == "shims"
        and head.startswith(_PYENV_SHIM_START)
        and _PYENV_SHIM_EXEC in head
    ):
        return "pyenv", ""
    if head.startswith(b"#!"):
        line = head[2:].split(b"\n", 1)[0].strip()[:60]
        return "refused", f"is a script (#!{line.decode('utf-8', 'backslashreplace')})"
    return "refused", "is not an ELF executable"


def _runs_elsewhere(target: Target, executable: str, prefix: str | None) -> str | None:
    """Why the probe's answer is not the environment at ``prefix`` (None: it is, or no
    prefix was asked for). The interpreter in an environment's ``bin/`` may still run
    another one (a copied tree without its ``pyvenv.cfg``, a link into another
    environment): the report must not describe that one under this name. ``prefix/bin``
    being the same directory as the probe's counts as the same environment (``/`` and
    ``/usr`` where ``/bin`` links to ``usr/bin``)."""
    if prefix is None:
        return None
    theirs = target.prefix
    if os.path.realpath(theirs) == os.path.realpath(prefix) or os.path.realpath(
        os.path.join(theirs, "bin")
    ) == os.path.realpath(os.path.join(prefix, "bin")):
        return None
    ran = target.interpreter.real_executable or target.interpreter.executable
    return (
        f"{os.path.relpath(executable, prefix)} runs another environment: {ran} "
        f"with sys.prefix {theirs}"
    )


def _foreign_reason(executable: str) -> str:
    """Why ``executable`` cannot run here, or "" if it can (same architecture as pkgdoctor)."""
    from pkgdoctor.target.binary import host_binary, read_binary

    binary = read_binary(os.path.realpath(executable)) if executable else None
    host = host_binary()
    if binary is None or host is None:
        return ""
    if (binary.machine, binary.elf_class, binary.little_endian) != (
        host.machine,
        host.elf_class,
        host.little_endian,
    ):
        return f"the interpreter is {binary.architecture}, this machine is {host.architecture}"
    return ""
