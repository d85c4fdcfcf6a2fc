"""Choosing the target: ``--python``, ``--prefix`` or the environment the user would get."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pkgdoctor.errors import TargetError
from pkgdoctor.target.binary import host_binary, read_binary
from pkgdoctor.target.facts import Target
from pkgdoctor.target.live import ExecFormatError, probe
from pkgdoctor.target.static import find_interpreter, read_static


def find_target(
    python: str | None = None, prefix: str | None = None, *, static: bool = False
) -> Target:
    """Look at the target the options name.

    Without options the target is the environment the user would get: ``$VIRTUAL_ENV``,
    else ``$CONDA_PREFIX``, else the first ``python3`` on ``PATH``.
    """
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
    found = shutil.which("python3")
    if found is None:
        raise TargetError("no target: no $VIRTUAL_ENV, no $CONDA_PREFIX and no python3 on PATH")
    return _from_python(found)


def _from_python(python: str) -> Target:
    executable = python if os.sep in python else shutil.which(python)
    if executable is None:
        raise TargetError(f"no interpreter named {python!r} on PATH")
    # The probe runs from a private working directory: relative paths must not leak into it.
    executable = os.path.abspath(executable)
    path = Path(executable)
    if not os.path.lexists(path):
        raise TargetError(f"no interpreter at {executable}")
    if path.is_dir():
        raise TargetError(f"{executable} is a directory; to read an environment use --prefix")
    if not path.exists():
        raise TargetError(f"{executable} is a broken symbolic link")
    try:
        return probe(executable)
    except ExecFormatError:
        prefix = path.absolute().parent.parent
        return read_static(prefix, _foreign_reason(str(path)))


def _from_prefix(prefix_arg: str, *, static: bool) -> Target:
    prefix = Path(os.path.abspath(prefix_arg))
    if not prefix.exists():
        raise TargetError(f"no such directory: {prefix_arg}")
    if not prefix.is_dir():
        raise TargetError(f"{prefix_arg} is not a directory")
    if static:
        return read_static(prefix, "asked for with --static")
    exe = find_interpreter(prefix)
    if exe is None:
        return read_static(prefix, "no interpreter in bin/")
    if not exe.exists():
        return read_static(prefix, f"{exe} is a broken link to {os.readlink(exe)}")
    reason = _foreign_reason(str(exe))
    if reason:
        return read_static(prefix, reason)
    try:
        return probe(str(exe))
    except ExecFormatError:
        return read_static(prefix, f"{exe} cannot run on this machine")


def _foreign_reason(executable: str) -> str:
    """Why ``executable`` cannot run here, or "" if it can (same architecture as pkgdoctor)."""
    binary = read_binary(os.path.realpath(executable))
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
