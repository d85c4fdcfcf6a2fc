"""Looking at a venv's own files: ``pyvenv.cfg``, what ``bin/python`` resolves to, the
``#!`` lines of the scripts in ``bin/``, and which interpreters could recreate it.

Only for a target with a ``pyvenv.cfg`` (PEP 405); every file is read with
:func:`pkgdoctor.files.read_regular` (bounded, never a FIFO).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from pkgdoctor.files import read_regular
from pkgdoctor.snapshot.model import Shebang, VenvFacts
from pkgdoctor.target.facts import Target

#: Linux's BINPRM_BUF_SIZE is 256 bytes (a longer ``#!`` line is cut); two lines of a
#: distlib "/bin/sh" launcher for long paths fit in 4 KiB.
SHEBANG_LIMIT = 4 << 10
# The file names an interpreter of CPython or PyPy has: python, python3, python3.12, pypy3.
_PYTHON_NAME = re.compile(r"^(?:python|pypy)(?:\d+(?:\.\d+)?t?)?$")
_VERSION_IN_NAME = re.compile(r"^(?:python|pypy)(\d+)\.(\d+)t?$")
_DIST_DIR = re.compile(r"\.(?:dist|egg)-info$")
_LIBDIR = re.compile(r"^(?:python|pypy)\d+\.\d+t?$")


def collect(target: Target) -> VenvFacts | None:
    """The facts of ``target``'s venv; None when its prefix has no ``pyvenv.cfg``."""
    prefix = Path(target.prefix)
    if not os.path.lexists(prefix / "pyvenv.cfg"):
        return None
    # Imported here: target.static imports look.paths, whose package imports this module.
    from pkgdoctor.target.static import read_pyvenv_cfg

    cfg = read_pyvenv_cfg(prefix)
    wanted = VenvFacts(cfg=cfg).version
    home = cfg.get("home")
    bindir = prefix / "bin"
    try:
        names = sorted(entry.name for entry in os.scandir(bindir))
    except OSError:
        names = []
    links = tuple(n for n in names if _PYTHON_NAME.match(n) and (bindir / n).is_symlink())
    resolved = None
    for name in ("python", "python3"):
        if os.path.lexists(bindir / name):
            resolved = os.path.realpath(bindir / name)
            break
    if target.mode == "live":
        resolved_version: str | None = target.interpreter.short_version
    else:
        match = _VERSION_IN_NAME.match(os.path.basename(resolved or ""))
        resolved_version = f"{match[1]}.{match[2]}" if match else None
    return VenvFacts(
        cfg=cfg,
        home_exists=bool(home) and os.path.isdir(home or ""),
        python_links=links,
        resolved=resolved,
        resolved_version=resolved_version,
        site_dirs=_site_dirs(prefix),
        shebangs=tuple(_shebangs(bindir, names)),
        candidates=_candidates(wanted, home, str(bindir)) if wanted else (),
    )


def _site_dirs(prefix: Path) -> tuple[tuple[str, int], ...]:
    found = []
    seen = set()
    for lib in ("lib", "lib64"):
        try:
            children = sorted(os.scandir(prefix / lib), key=lambda e: e.name)
        except OSError:
            continue
        for child in children:
            site = Path(child.path) / "site-packages"
            real = os.path.realpath(site)
            if not _LIBDIR.match(child.name) or real in seen or not site.is_dir():
                continue  # venv's lib64 -> lib: the same directory, counted once
            seen.add(real)
            try:
                count = sum(1 for e in os.scandir(site) if _DIST_DIR.search(e.name))
            except OSError:
                count = 0
            found.append((str(site), count))
    return tuple(found)


def _shebangs(bindir: Path, names: list[str]) -> list[Shebang]:
    found = []
    for name in names:
        path = bindir / name
        if path.is_symlink():
            continue  # python -> python3.12: not a script
        try:
            head = read_regular(str(path), SHEBANG_LIMIT)
        except OSError:
            continue
        interpreter = shebang_interpreter(head)
        if interpreter is None:
            continue
        directory = os.path.dirname(os.path.normpath(interpreter))
        found.append(
            Shebang(
                script=str(path),
                interpreter=interpreter,
                exists=os.path.exists(interpreter),
                real_dir=os.path.realpath(directory),
            )
        )
    return found


def shebang_interpreter(head: bytes) -> str | None:
    """The Python interpreter a script's first bytes run it with; None when it is no
    Python script or its interpreter is found at run time (``/usr/bin/env python``, uv's
    relocatable launcher).

    >>> shebang_interpreter(b"#!/venv/bin/python3\\nimport sys\\n")
    '/venv/bin/python3'
    >>> shebang_interpreter(b"#!/bin/sh\\n'''exec' '/a b/bin/python' \\"$0\\" \\"$@\\"\\n' '''\\n")
    '/a b/bin/python'
    """
    if not head.startswith(b"#!"):
        return None
    lines = head.decode("utf-8", "replace").splitlines()
    first = lines[0][2:].strip()
    # pip (distlib's ScriptMaker) writes a "/bin/sh" launcher when the interpreter's path is
    # too long for a #! line or has spaces: the second line is
    # '''exec' /path/to/python "$0" "$@"  (distlib/scripts.py, _build_shebang).
    if first in ("/bin/sh", "/usr/bin/env sh") and len(lines) > 1:
        second = lines[1]
        if not second.startswith("'''exec' "):
            return None
        try:
            words = shlex.split(second[len("'''exec' ") :])
        except ValueError:
            return None
        interpreter = words[0] if words else ""
    else:
        interpreter = first.split()[0] if first.split() else ""
    if not interpreter.startswith("/") or not _PYTHON_NAME.match(os.path.basename(interpreter)):
        return None
    return interpreter


def _candidates(version: str, home: str | None, own_bin: str) -> tuple[str, ...]:
    """Interpreters named ``python{version}`` on this machine, outside the venv: in
    ``home``, in pyenv's versions (``$PYENV_ROOT``, default ``~/.pyenv``), then on PATH
    (pyenv's shims left out: they are scripts that pick a version at run time)."""
    name = f"python{version}"
    dirs = [home] if home else []
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    try:
        versions = sorted(
            (v for v in os.listdir(os.path.join(root, "versions")) if v.startswith(version + ".")),
            key=_version_key,
            reverse=True,
        )
    except OSError:
        versions = []
    dirs += [os.path.join(root, "versions", v, "bin") for v in versions]
    dirs += [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    own = os.path.realpath(own_bin)
    found: list[str] = []
    for directory in dirs:
        if not os.path.isabs(directory) or os.path.basename(directory) == "shims":
            continue
        if os.path.realpath(directory) == own:
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK) and path not in found:
            found.append(path)
    return tuple(found)


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name))
