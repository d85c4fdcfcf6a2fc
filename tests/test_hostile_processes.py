"""Hostile code in the target: a ``.pth`` line (run by the probe's interpreter at start-up) or
the module ``why`` imports forks a daemon that keeps our pipes open, hangs, or prints
forever. pkgdoctor must end in bounded time and memory, with one error line and no
traceback, and leave no process behind.

pkgdoctor runs as a user runs it, in a process of its own, under a hard outer timeout and
an address-space limit (the unbounded reading grew to gigabytes, then a MemoryError).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from artefacts import Venv, make_venv, without_user_config
from pkgdoctor.target.limits import OUTPUT_LIMIT
from pkgdoctor.target.process import Kept

HARD_TIMEOUT = 60.0  # seconds: a run that is not bounded fails here instead of hanging
MEMORY = 1 << 30  # RLIMIT_AS for pkgdoctor (and the target it starts)
TIMEOUT = "2"  # pkgdoctor's --timeout in the cases that must time out

# A daemon, as daemons are made: double fork, setsid() (it leaves our process group), and it
# keeps stdout and stderr, our pipes. The middle process writes its pid down before it exits,
# so the file exists by the time the code that forked it goes on.
DAEMON = """\
import os, time

def _daemon():
    if os.fork():
        os.wait()
        return
    os.setsid()
    pid = os.fork()
    if pid:
        with open({pidfile!r}, "w") as f:
            f.write(str(pid))
        os._exit(0)
    time.sleep(120)  # a safety net: gone in two minutes even if nothing kills it
    os._exit(0)

_daemon()
"""
HANG = "time.sleep(120)\n"
PRINT_STDOUT = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
PRINT_STDERR = "import sys\nwhile True:\n    sys.stderr.write('y' * 65535 + '\\n')\n"


def run_bounded(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m pkgdoctor ARGS`` with a hard timeout and at most MEMORY of address space;
    the run and how long it took."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pkgdoctor", *args],
        env=without_user_config(),
        capture_output=True,
        text=True,
        timeout=HARD_TIMEOUT,
        preexec_fn=limit_memory,
        check=False,
    )
    return proc, time.monotonic() - started


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting for init to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Path]:
    """Where the daemons write their pid; any still alive after the test is killed."""
    directory = tmp_path / "pids"
    directory.mkdir()
    yield directory
    for pidfile in directory.iterdir():
        pid = int(pidfile.read_text())
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def daemon_pid(pidfile: Path) -> int:
    assert pidfile.exists(), "the daemon was never started"
    return int(pidfile.read_text())


def hostile_venv(tmp_path: Path, code: str, *, pth: bool) -> Venv:
    """A venv whose site-packages has the module ``hostile`` running ``code``, imported at
    every start-up of the interpreter by a ``.pth`` line when ``pth``."""
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "hostile.py").write_text(code)
    if pth:
        (venv.site_packages / "hostile.pth").write_text("import hostile\n")
    return venv


def interpreter(venv: Venv) -> Path:
    """The interpreter pkgdoctor runs for ``--prefix`` (names it in its errors)."""
    return venv.prefix / "bin" / "python3"


def assert_error(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stdout == ""
    assert proc.stderr == f"pkgdoctor: error: {message}\n"


def test_check_goes_on_when_a_pth_daemon_holds_the_pipes(tmp_path: Path, daemons: Path) -> None:
    """The probe answers and exits; the daemon it left keeps the pipes open. pkgdoctor reads
    the answer, kills the daemon shortly after, and checks as usual."""
    pidfile = daemons / "daemon"
    venv = hostile_venv(tmp_path, DAEMON.format(pidfile=str(pidfile)), pth=True)
    proc, took = run_bounded("check", "--prefix", str(venv.prefix), "--timeout", "30")
    assert proc.returncode in (0, 1), proc.stderr
    assert "pth-executes-code" in proc.stdout or "hostile.pth" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert took < 15, took
    assert not alive(daemon_pid(pidfile))


@pytest.mark.parametrize(
    "command", [["check"], ["snapshot", "-o", "-"], ["export"], ["why", "json"], ["diff"]]
)
def test_a_pth_that_hangs_with_a_daemon_is_stopped_at_the_timeout(
    tmp_path: Path, daemons: Path, command: list[str]
) -> None:
    """Every command that runs the probe; ``why``'s --timeout bounds its probe too."""
    pidfile = daemons / "daemon"
    venv = hostile_venv(tmp_path, DAEMON.format(pidfile=str(pidfile)) + HANG, pth=True)
    if command == ["diff"]:
        healthy = make_venv(tmp_path / "healthy")
        args = ["diff", str(healthy.prefix), str(venv.prefix)]
    else:
        args = [*command, "--prefix", str(venv.prefix)]
    proc, took = run_bounded(*args, "--timeout", TIMEOUT)
    assert_error(
        proc,
        f"{interpreter(venv)} did not finish within {TIMEOUT} s (a .pth file or the imported "
        "code hangs?); see --timeout",
    )
    assert took < float(TIMEOUT) + 10, took
    assert not alive(daemon_pid(pidfile))


def test_a_pth_printing_forever_on_stdout_is_stopped_at_the_limit(tmp_path: Path) -> None:
    venv = hostile_venv(tmp_path, PRINT_STDOUT, pth=True)
    proc, took = run_bounded("check", "--prefix", str(venv.prefix), "--timeout", "30")
    assert_error(
        proc,
        f"{interpreter(venv)} printed more than {OUTPUT_LIMIT >> 20} MiB on standard output "
        "(a .pth file or sitecustomize writing to it?)",
    )
    assert took < 20, took  # the limit ends it, long before the timeout


def test_a_pth_printing_forever_on_stderr_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    venv = hostile_venv(tmp_path, PRINT_STDERR, pth=True)
    proc, took = run_bounded("check", "--prefix", str(venv.prefix), "--timeout", TIMEOUT)
    assert_error(
        proc,
        f"{interpreter(venv)} did not finish within {TIMEOUT} s (a .pth file or the imported code "
        "hangs?); see --timeout",
    )
    assert took < float(TIMEOUT) + 10, took


def test_why_goes_on_when_the_module_leaves_a_daemon(tmp_path: Path, daemons: Path) -> None:
    pidfile = daemons / "daemon"
    venv = hostile_venv(tmp_path, DAEMON.format(pidfile=str(pidfile)), pth=False)
    proc, took = run_bounded("why", "hostile", "--prefix", str(venv.prefix), "--timeout", "30")
    assert proc.returncode == 0, proc.stderr
    assert "import hostile works" in proc.stdout
    assert took < 15, took
    assert not alive(daemon_pid(pidfile))


@pytest.mark.parametrize("code", [HANG, PRINT_STDOUT, PRINT_STDERR], ids=["hang", "out", "err"])
def test_why_stops_a_module_that_never_ends(tmp_path: Path, daemons: Path, code: str) -> None:
    """The import forks a daemon, then hangs or prints forever: stopped at --timeout, with
    the daemon; memory stays bounded while it prints."""
    pidfile = daemons / "daemon"
    venv = hostile_venv(tmp_path, DAEMON.format(pidfile=str(pidfile)) + code, pth=False)
    proc, took = run_bounded("why", "hostile", "--prefix", str(venv.prefix), "--timeout", TIMEOUT)
    assert_error(
        proc,
        f"{interpreter(venv)} did not finish within {TIMEOUT} s (a .pth file or the imported code "
        "hangs?); see --timeout",
    )
    assert took < float(TIMEOUT) + 10, took
    assert not alive(daemon_pid(pidfile))


def test_why_reads_the_result_after_more_than_the_limit_of_output(tmp_path: Path) -> None:
    """A module that prints more than the limit, then imports fine: only the tail of stdout
    is kept, and the result is at its end."""
    code = textwrap.dedent(f"""\
        import sys
        for _ in range({OUTPUT_LIMIT // 65536 + 16}):
            sys.stdout.write("z" * 65536)
        """)
    venv = hostile_venv(tmp_path, code, pth=False)
    proc, _ = run_bounded("why", "hostile", "--prefix", str(venv.prefix))
    assert proc.returncode == 0, proc.stderr
    assert "import hostile works" in proc.stdout


def test_kept_keeps_the_head_and_the_tail() -> None:
    kept = Kept(head=3, tail=4)
    for chunk in (b"ab", b"cdef", b"", b"ghijk"):
        kept.add(chunk)
    assert (kept.total, kept.overflowed) == (11, True)
    assert kept.text() == "abc\n[... 4 bytes left out ...]\nhijk"
    assert kept.tail_bytes() == b"hijk"
    small = Kept(head=8, tail=8)
    small.add(b"0123456789")
    assert (small.overflowed, small.text()) == (False, "0123456789")
