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
    from pkgdoctor.target.live import Running


class Plan:
    """How to look at the target: run the probe in ``executable`` (live), or read the tree
    at ``prefix`` (static: for ``static_reason``, because ``foreign`` is an interpreter for
    another machine, or when the probe cannot run). ``look`` waits for the probe at
    most ``timeout`` seconds (None: ``limits.PROBE_TIMEOUT``)."""

    def __init__(
        self,
        executable: str | None,
        prefix: str | None,
        static_reason: str | None = None,
        foreign: str | None = None,
    ) -> None:
        self.executable = executable
        self.prefix = prefix
        self.static_reason = static_reason
        self.foreign = foreign
        self.timeout: float | None = None
        self._running: Running | None = None

    def start(self) -> None:
        """Launch the probe (live plans only); ``look`` collects it."""
        if self.executable is not None and self._running is None:
            from pkgdoctor.target.limits import PROBE_TIMEOUT
            from pkgdoctor.target.live import PROBE_SOURCE, start_in_target

            try:
                self._running = start_in_target(
                    self.executable, PROBE_SOURCE, timeout=self.timeout or PROBE_TIMEOUT
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
        from pkgdoctor.target.live import ExecFormatError, probe

        if self.executable is None:
            from pkgdoctor.target.static import read_static

            assert self.prefix is not None
            reason = self.static_reason or _foreign_reason(self.foreign or "")
            return read_static(self.prefix, reason)
        running, self._running = self._running, None
        try:
            return probe(self.executable, running, timeout=self.timeout or PROBE_TIMEOUT)
        except ExecFormatError:
            from pkgdoctor.target.static import read_static

            prefix = self.prefix or os.path.dirname(os.path.dirname(self.executable))
            return read_static(prefix, f"{self.executable} cannot run on this machine")


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
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        if os.environ.get(var):
            return _from_prefix(os.environ[var], static=False)
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
    if _foreign(executable):
        return Plan(None, os.path.dirname(os.path.dirname(executable)), foreign=executable)
    return Plan(executable, None)


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
    if _foreign(exe):
        return Plan(None, prefix, foreign=exe)
    return Plan(exe, prefix)


def _which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


def _elf_identity(path: str) -> tuple[int, int, bytes] | None:
    """(ELF class, data encoding, e_machine bytes) from the first 20 bytes of ``path``:
    enough to tell whether it can run here, without parsing the file."""
    from pkgdoctor.files import read_regular

    try:
        head = read_regular(path, 20)  # a FIFO named python is no interpreter: never blocks
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return head[4], head[5], head[18:20]


def _foreign(executable: str) -> bool:
    """Whether ``executable`` is built for another architecture than pkgdoctor's own
    interpreter (running it would fail, or run under emulation: read it instead)."""
    theirs = _elf_identity(os.path.realpath(executable))
    ours = _elf_identity(os.path.realpath(sys.executable))
    return theirs is not None and ours is not None and theirs != ours


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
