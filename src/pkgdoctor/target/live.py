"""Live mode: run a stdlib-only probe in the target interpreter and read its facts."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from pkgdoctor.errors import ProbeError, TargetError
from pkgdoctor.target.limits import OUTPUT_LIMIT, PROBE_TIMEOUT, STDERR_KEPT, MiB
from pkgdoctor.target.process import Kept, collect, start, stop

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pkgdoctor.target.facts import StartFailure, Target

with open(os.path.join(os.path.dirname(__file__), "_probe.py"), encoding="utf-8") as _source:
    PROBE_SOURCE = _source.read()


class ExecFormatError(TargetError):
    """The interpreter exists but cannot run on this machine (another architecture)."""


def child_environment(
    extra: Mapping[str, str] | None = None, unset: tuple[str, ...] = ()
) -> dict[str, str]:
    """The user's environment without ``unset`` and with ``extra``, plus the promise not to
    write bytecode into the target."""
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(extra or {})
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class ProbeFailed(ProbeError):
    """The probe exited with ``returncode`` and printed ``stderr`` (as kept)."""

    def __init__(self, message: str, returncode: int, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


class Finished(NamedTuple):
    """A child's run: its exit status and what it printed, decoded, as far as it was kept
    (``stdout_overflowed``: the child printed more; see ``process.Kept``)."""

    returncode: int
    stdout: str
    stderr: str
    stdout_overflowed: bool


class Running:
    """A child started by ``start_in_target``; ``wait`` for its output or ``cancel`` it.

    ``wait`` gives it ``timeout`` seconds more (counted from the wait, not the start: ``diff``
    starts both probes, then looks at one environment, however long that takes, before it
    reads the other's answer); stopping it kills every process it started (see
    ``pkgdoctor.target.process``).
    """

    def __init__(
        self, executable: str, process: subprocess.Popen[bytes], cwd: str, timeout: float
    ) -> None:
        self.executable = executable
        self.timeout = timeout
        self._process = process
        self._cwd = cwd
        self._done = False

    def wait(self, stdout: Kept | None = None) -> Finished:
        """Read the child's output into ``stdout`` (default: the first ``OUTPUT_LIMIT``
        bytes, and the run stops when it prints more) until it exits. Raises ``ProbeError``
        when it runs past its time or prints past the limit."""
        stop_on_overflow = stdout is None
        kept = stdout if stdout is not None else Kept(OUTPUT_LIMIT)
        stderr = Kept(STDERR_KEPT, STDERR_KEPT)
        self._done = True
        try:
            ended = collect(
                self._process,
                time.monotonic() + self.timeout,
                kept,
                stderr,
                stop_on_overflow=stop_on_overflow,
            )
        finally:
            _remove_private_directory(self._cwd)
        if ended.how == "timeout":
            raise ProbeError(
                f"{self.executable} did not finish within {self.timeout:g} s "
                "(a .pth file or the imported code hangs?); see --timeout"
            )
        if ended.how == "overflow":
            raise ProbeError(
                f"{self.executable} printed more than {kept.limit // MiB} MiB on standard "
                "output (a .pth file or sitecustomize writing to it?)"
            )
        assert ended.returncode is not None
        return Finished(ended.returncode, kept.text(), stderr.text(), kept.overflowed)

    def cancel(self) -> None:
        """Stop the child and everything it started; its output is dropped."""
        if self._done:
            return
        self._done = True
        try:
            stop(self._process)
        finally:
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
    executable: str,
    source: str,
    *,
    args: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
    timeout: float = PROBE_TIMEOUT,
    env: Mapping[str, str] | None = None,
    unset: tuple[str, ...] = (),
) -> Running:
    """Start ``source`` with ``executable -B -c`` from an empty private working directory,
    with the user's environment and ``env``; ``Running.wait`` waits for it at most
    ``timeout`` seconds.

    The empty directory keeps the user's working directory (which may hold a ``json.py``)
    out of the child's ``sys.path``; ``-B`` keeps ``__pycache__`` out of the target.
    """
    cwd = _private_directory()
    try:
        process = start(
            [executable, "-B", *flags, "-c", source, *args],
            cwd=cwd,
            env=child_environment(env, unset),
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
    return Running(executable, process, cwd, timeout)


def run_in_target(
    executable: str,
    source: str,
    *,
    timeout: float = PROBE_TIMEOUT,
    args: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
    stdout: Kept | None = None,
) -> Finished:
    """Run ``source`` in the target (see ``start_in_target``) and wait for it (see
    ``Running.wait``)."""
    running = start_in_target(executable, source, args=args, flags=flags, timeout=timeout)
    return running.wait(stdout)


def probe(
    executable: str,
    running: Running | None = None,
    *,
    timeout: float = PROBE_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> Target:
    """The target's facts from the probe in ``executable`` (``running``: already started,
    with its own time limit; else it starts now, limited to ``timeout`` seconds, with
    ``env`` added to the user's environment)."""

    started = running or start_in_target(executable, PROBE_SOURCE, timeout=timeout, env=env)
    proc = started.wait()
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise ProbeFailed(
            f"the probe failed in {executable}: {lines[-1]}", proc.returncode, proc.stderr
        )
    from pkgdoctor._typed import loads

    try:
        data = loads(proc.stdout)
        return _target_from_probe(data)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ProbeError(f"{executable} is not a Python this pkgdoctor understands") from exc


def _target_from_probe(data: dict[str, Any]) -> Target:
    """The Target the probe describes. Its answer comes from the target's interpreter, after
    the target's ``.pth`` code ran: every value is checked for its type (``TypeError``)."""
    from pkgdoctor._typed import as_bool, as_int, as_opt_str, as_str, as_str_map, as_strs
    from pkgdoctor.target.binary import libc_from_binary, read_binary
    from pkgdoctor.target.facts import Interpreter, Libc, Target

    real = as_opt_str(data["real_executable"])
    binary = read_binary(real) if real else None
    libc: Libc | None = None
    if data["libc"]:
        libc = Libc(as_str(data["libc"]["family"]), as_opt_str(data["libc"]["version"]))
    elif binary is not None:
        libc = libc_from_binary(binary)
    multiarch = as_opt_str(data["multiarch"]) or as_opt_str(data["sysconfig_multiarch"])
    version = data["version"]
    interpreter = Interpreter(
        implementation=as_str(data["implementation"]),
        version=(as_int(version[0]), as_int(version[1]), as_int(version[2])),
        executable=as_opt_str(data["executable"]),
        real_executable=real,
        extension_suffixes=as_strs(data["extension_suffixes"]),
        ext_suffix=as_opt_str(data["ext_suffix"]),
        soabi=as_opt_str(data["soabi"]),
        multiarch=multiarch or None,
        gil_disabled=as_bool(data["gil_disabled"]),
        debug=as_bool(data["debug"]),
        binary=binary,
        libc=libc,
    )
    stdlib = tuple(dict.fromkeys(as_str(p) for p in data["stdlib"] if p))
    return Target(
        mode="live",
        prefix=as_str(data["prefix"]),
        base_prefix=as_str(data["base_prefix"]),
        interpreter=interpreter,
        sys_path=as_strs(data["sys_path"]),
        site_packages=as_strs(data["site_packages"]),
        stdlib=stdlib,
        user_site=as_opt_str(data["user_site"]),
        user_site_enabled=as_bool(data["user_site_enabled"]),
        environ=as_str_map(data["environ"]),
        markers=as_str_map(data["markers"]),
        stdlib_module_names=frozenset(as_strs(data["stdlib_module_names"])),
        builtin_module_names=frozenset(as_strs(data["builtin_module_names"])),
        frozen_module_names=frozenset(as_strs(data["frozen_module_names"])),
        startup_modules=frozenset(as_strs(data["startup_modules"])),
        no_user_site=as_bool(data["no_user_site"]),
        probe_cwd=as_opt_str(data["probe_cwd"]),
    )


#: How many of the last lines of a failed start's stderr the Snapshot keeps: CPython's
#: "Python path configuration" dump, the fatal error and its cause fit (~30 lines).
STDERR_LINES = 40
#: Longest line kept of that stderr (a line is cut, with "…", past it).
STDERR_LINE_CHARS = 500
#: How long one trial start (``python -c pass``) may take while looking for the cause.
START_TRIAL_TIMEOUT = 10.0
#: At most this many variables are tried one by one (each try is one start).
MAX_TRIED_VARIABLES = 12
# Set by pkgdoctor itself for every child (child_environment): never the user's culprit.
_OURS = frozenset({"PYTHONDONTWRITEBYTECODE"})


def startup_variables() -> dict[str, str]:
    """The ``PYTHON*`` variables of pkgdoctor's environment, which every child inherits
    and which the interpreter reads before running anything (Python's docs, "Command line
    and environment", "Environment variables": PYTHONHOME, PYTHONPATH, PYTHONPLATLIBDIR,
    PYTHONIOENCODING, PYTHONUTF8, PYTHONHASHSEED, PYTHONMALLOC, … each can stop it)."""
    return {
        k: v for k, v in sorted(os.environ.items()) if k.startswith("PYTHON") and k not in _OURS
    }


def _starts(
    executable: str, env: Mapping[str, str] | None, unset: tuple[str, ...], flags: tuple[str, ...]
) -> bool:
    """Whether ``executable -c pass`` exits 0 in the user's environment without ``unset``."""
    try:
        running = start_in_target(
            executable, "pass", flags=flags, timeout=START_TRIAL_TIMEOUT, env=env, unset=unset
        )
        return running.wait().returncode == 0
    except TargetError:
        return False


def diagnose_start(
    executable: str, failed: ProbeFailed, env: Mapping[str, str] | None = None
) -> StartFailure | None:
    """Why the probe failed, when it is because the interpreter cannot start at all (None:
    ``python -c pass`` starts, so the probe itself failed there). Tries each start-up
    variable removed, then ``-E``, then ``-S``: a cause is reported only once a start proved it."""
    from pkgdoctor.target.facts import StartFailure

    if _starts(executable, env, (), ()):
        return None
    variables = startup_variables()
    culprits = tuple(
        name
        for name in list(variables)[:MAX_TRIED_VARIABLES]
        if _starts(executable, env, (name,), ())
    )
    isolated = bool(variables) and (bool(culprits) or _starts(executable, env, (), ("-E",)))
    without_site = not isolated and _starts(executable, env, (), ("-S",))
    lines = failed.stderr.rstrip().splitlines()[-STDERR_LINES:]
    tail = tuple(
        line if len(line) <= STDERR_LINE_CHARS else line[:STDERR_LINE_CHARS] + "…" for line in lines
    )
    return StartFailure(
        executable=executable,
        returncode=failed.returncode,
        stderr_tail=tail,
        variables=variables,
        culprits=culprits,
        starts_isolated=isolated,
        starts_without_site=without_site,
    )
