"""Live mode: run a stdlib-only probe in the target interpreter and read its facts."""

from __future__ import annotations

import errno
import os
import subprocess
from typing import TYPE_CHECKING, Any

from pkgdoctor.errors import ProbeError, TargetError

if TYPE_CHECKING:
    from pkgdoctor.target.facts import Target

with open(os.path.join(os.path.dirname(__file__), "_probe.py"), encoding="utf-8") as _source:
    PROBE_SOURCE = _source.read()
PROBE_TIMEOUT = 60.0


class ExecFormatError(TargetError):
    """The interpreter exists but cannot run on this machine (another architecture)."""


def child_environment() -> dict[str, str]:
    """The user's environment, plus the promise not to write bytecode into the target."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Running:
    """A child started by ``start_in_target``; ``wait`` for its output or ``cancel`` it."""

    def __init__(self, executable: str, process: subprocess.Popen[str], cwd: str) -> None:
        self.executable = executable
        self._process = process
        self._cwd = cwd

    def wait(self, timeout: float = PROBE_TIMEOUT) -> subprocess.CompletedProcess[str]:
        try:
            stdout, stderr = self._process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.cancel()
            raise ProbeError(f"{self.executable} did not answer within {timeout:.0f} s") from exc
        finally:
            _remove_private_directory(self._cwd)
        return subprocess.CompletedProcess(
            self._process.args, self._process.returncode, stdout, stderr
        )

    def cancel(self) -> None:
        self._process.kill()
        self._process.communicate()
        _remove_private_directory(self._cwd)


def _private_directory() -> str:
    """A new, empty directory only this user can enter (``tempfile.mkdtemp``'s guarantees),
    made with ``os`` alone: ``tempfile`` and what it imports cost ~5 ms before the probe can
    start, on every ``check``."""
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(8):
        path = os.path.join(base, f"pkgdoctor-{os.urandom(6).hex()}")
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
        except OSError:
            break
    import tempfile  # TMPDIR unusable: let tempfile find a place (and say why not)

    return tempfile.mkdtemp(prefix="pkgdoctor-")


def _remove_private_directory(path: str) -> None:
    """Remove the probe's directory; it is empty unless the target wrote into it."""
    try:
        os.rmdir(path)
    except OSError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def start_in_target(
    executable: str, source: str, *, args: tuple[str, ...] = (), flags: tuple[str, ...] = ()
) -> Running:
    """Start ``source`` with ``executable -B -c`` from an empty private working directory.

    The empty directory keeps the user's working directory (which may hold a ``json.py``)
    out of the child's ``sys.path``; ``-B`` keeps ``__pycache__`` out of the target.
    """
    cwd = _private_directory()
    try:
        process = subprocess.Popen(
            [executable, "-B", *flags, "-c", source, *args],
            cwd=cwd,
            env=child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
    except BaseException as exc:
        _remove_private_directory(cwd)
        if isinstance(exc, FileNotFoundError):
            raise TargetError(f"no interpreter at {executable}") from exc
        if isinstance(exc, PermissionError):
            raise TargetError(f"{executable} is not executable") from exc
        if isinstance(exc, OSError) and exc.errno == errno.ENOEXEC:
            raise ExecFormatError(f"{executable} cannot run on this machine") from exc
        if isinstance(exc, OSError):
            raise TargetError(f"cannot run {executable}: {exc.strerror}") from exc
        raise
    return Running(executable, process, cwd)


def run_in_target(
    executable: str,
    source: str,
    *,
    timeout: float = PROBE_TIMEOUT,
    args: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in the target (see ``start_in_target``) and wait for it."""
    return start_in_target(executable, source, args=args, flags=flags).wait(timeout)


def probe(executable: str, running: Running | None = None) -> Target:
    """The target's facts from the probe in ``executable`` (``running``: already started)."""
    import json

    proc = (running or start_in_target(executable, PROBE_SOURCE)).wait()
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise ProbeError(f"the probe failed in {executable}: {lines[-1]}")
    try:
        data = json.loads(proc.stdout)
        return _target_from_probe(data)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ProbeError(f"{executable} is not a Python this pkgdoctor understands") from exc


def _target_from_probe(data: dict[str, Any]) -> Target:
    from pkgdoctor.target.binary import libc_from_binary, read_binary
    from pkgdoctor.target.facts import Interpreter, Libc, Target

    real = data["real_executable"]
    binary = read_binary(real) if real else None
    libc: Libc | None = None
    if data["libc"]:
        libc = Libc(data["libc"]["family"], data["libc"]["version"])
    elif binary is not None:
        libc = libc_from_binary(binary)
    multiarch = data["multiarch"] or data["sysconfig_multiarch"] or None
    interpreter = Interpreter(
        implementation=data["implementation"],
        version=(data["version"][0], data["version"][1], data["version"][2]),
        executable=data["executable"],
        real_executable=real,
        extension_suffixes=tuple(data["extension_suffixes"]),
        ext_suffix=data["ext_suffix"],
        soabi=data["soabi"],
        multiarch=multiarch,
        gil_disabled=data["gil_disabled"],
        debug=data["debug"],
        binary=binary,
        libc=libc,
    )
    stdlib = tuple(dict.fromkeys(p for p in data["stdlib"] if p))
    return Target(
        mode="live",
        prefix=data["prefix"],
        base_prefix=data["base_prefix"],
        interpreter=interpreter,
        sys_path=tuple(data["sys_path"]),
        site_packages=tuple(data["site_packages"]),
        stdlib=stdlib,
        user_site=data["user_site"],
        user_site_enabled=data["user_site_enabled"],
        environ=dict(data["environ"]),
        markers=dict(data["markers"]),
        stdlib_module_names=frozenset(data["stdlib_module_names"]),
        builtin_module_names=frozenset(data["builtin_module_names"]),
        frozen_module_names=frozenset(data["frozen_module_names"]),
        startup_modules=frozenset(data["startup_modules"]),
        no_user_site=data["no_user_site"],
        probe_cwd=data["probe_cwd"],
    )
