"""Interrupting pkgdoctor (Ctrl-C, SIGTERM, SIGHUP, SIGKILL) leaves nothing running.

pkgdoctor runs as a user runs it: the console script, in a session of its own (as a shell
puts a job in a process group of its own), under a hard outer timeout; the group is killed
in ``finally`` whatever happens. Every process it started is found through ``/proc``: its
descendants (the probe leads a session of its own, so its session id says nothing), and
whatever has pkgdoctor's session id, reparented or not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from artefacts import EXT_SUFFIX, Venv, make_venv
from pkgdoctor.cache import Cache
from pkgdoctor.look.fork import fork_look

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads processes through /proc"
)

PKGDOCTOR = Path(sys.executable).parent / "pkgdoctor"
BIG = 4 << 30  # per file; sparse: hashing reads zeros the kernel makes, no disk involved
BIG_FILES = 4  # 16 GiB: many seconds of hashing on any machine, at ~2 GB/s per core
LIMIT = 5.0  # seconds from the signal to the exit
OUTER = 60.0  # hard limit on waiting for anything


def _stat(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` fields after the command name (state first: fields 3...; proc(5)),
    None when the process is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] in "ZX" else fields


def _processes() -> dict[int, list[str]]:
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := _stat(int(name))) is not None:
            found[int(name)] = fields
    return found


def descendants(pid: int) -> dict[int, str]:
    """Every living descendant of ``pid``: pid -> start time (to tell a reused pid)."""
    table = _processes()
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, fields in table.items():
            if int(fields[1]) == parent and child not in found:  # field 4: ppid
                found[child] = fields[19]  # field 22: starttime
                frontier.append(child)
    return found


def in_session(sid: int) -> list[int]:
    """Living processes of session ``sid`` (field 6), wherever they were reparented."""
    return [pid for pid, fields in _processes().items() if int(fields[3]) == sid]


def left_running(sid: int, started: dict[int, str]) -> list[int]:
    """What is still alive of the session and of the descendants seen before the signal,
    after giving the dying a moment (a SIGKILLed process is reaped by its parent or init)."""
    deadline = time.monotonic() + 1.0
    while True:
        alive = in_session(sid) + [
            pid for pid, start in started.items() if (f := _stat(pid)) and f[19] == start
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def read_bytes(pid: int) -> int:
    """Bytes ``pid`` has read so far (``rchar`` of ``/proc/PID/io``: every thread)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + OUTER
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def started(*args: str, cache: Path) -> Iterator[subprocess.Popen[str]]:
    """The console script in a new session; its group is SIGKILLed when the test ends."""
    env = dict(os.environ, PKGDOCTOR_CACHE_DIR=str(cache))  # a cold cache: the look forks
    proc = subprocess.Popen(
        [str(PKGDOCTOR), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=OUTER)


def interrupt(
    proc: subprocess.Popen[str], signum: int, *, group: bool
) -> tuple[int, str, str, float, dict[int, str]]:
    """Send ``signum`` (to the whole group, as a terminal does, or to pkgdoctor alone, as
    ``kill`` does); (status, stdout, stderr, seconds to exit, descendants seen before)."""
    before = descendants(proc.pid)
    sent = time.monotonic()
    if group:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    try:
        out, err = proc.communicate(timeout=OUTER)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pkgdoctor still running {OUTER:g} s after {signal.Signals(signum).name}")
    return proc.returncode, out, err, time.monotonic() - sent, before


@pytest.fixture(scope="module")
def big_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A venv whose one distribution lists 16 GiB of (sparse) files in its RECORD."""
    venv = make_venv(tmp_path_factory.mktemp("interrupt") / "venv")
    site = venv.site_packages
    (site / "big").mkdir()
    rows = ["big/__init__.py,,"]
    (site / "big" / "__init__.py").write_text("")
    for i in range(BIG_FILES):
        path = site / "big" / f"blob{i}.bin"
        with open(path, "wb") as out:
            out.truncate(BIG)
        # Any well-formed hash: a mismatch is a finding, and the run is interrupted anyway.
        rows.append(f"big/{path.name},sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,{BIG}")
    dist_info = site / "big-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: big\nVersion: 1.0\n\n")
    rows += [f"{dist_info.name}/METADATA,,", f"{dist_info.name}/RECORD,,"]
    (dist_info / "RECORD").write_text("".join(f"{row}\n" for row in rows))
    return venv


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, True)],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_deep_check_interrupted_while_hashing_stops_at_once(
    big_venv: Venv, tmp_path: Path, signum: int, group: bool
) -> None:
    with started("check", "--deep", "--prefix", str(big_venv.prefix), cache=tmp_path) as proc:
        wait_for(lambda: read_bytes(proc.pid) > 300 << 20, "pkgdoctor hashing")
        status, out, err, took, before = interrupt(proc, signum, group=group)
        assert (status, out, err) == (128 + signum, "", "pkgdoctor: interrupted\n")
        assert took < LIMIT, f"{took:.1f} s after the signal"
        assert left_running(proc.pid, before) == []


@pytest.fixture(scope="module")
def many_extensions(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A venv with 30,000 extension modules (hard links to one of the stdlib's): on a cold
    cache the forked child takes a second or more to look at them all."""
    dynload = Path(os.__file__).parent / "lib-dynload"  # the base interpreter's stdlib
    sources = sorted(dynload.glob(f"*{EXT_SUFFIX}"))
    if not sources:
        pytest.fail(f"no extension module in {dynload} to link to")
    venv = make_venv(tmp_path_factory.mktemp("interrupt") / "venv")
    source = shutil.copy(sources[0], venv.prefix)  # links cannot cross file systems
    for d in range(150):
        directory = venv.site_packages / "many" / f"d{d}"
        directory.mkdir(parents=True)
        for i in range(200):
            os.link(source, directory / f"m{i}{EXT_SUFFIX}")
    return venv


def forked_look(pid: int) -> int | None:
    """The child pkgdoctor forked to look at the extension modules (it runs pkgdoctor's own
    command line; the probe runs the target's interpreter), if it is running."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/cmdline").read_bytes() == command:
                return child
    return None


@pytest.mark.parametrize(
    ("signum", "group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c", "sigterm"]
)
def test_cold_check_interrupted_while_the_look_forks_stops_the_child(
    many_extensions: Venv, tmp_path: Path, signum: int, group: bool
) -> None:
    prefix = str(many_extensions.prefix)
    with started("check", "--prefix", prefix, cache=tmp_path) as proc:
        wait_for(lambda: forked_look(proc.pid), "the forked look")
        child = forked_look(proc.pid)
        status, out, err, took, before = interrupt(proc, signum, group=group)
        assert child in before
        assert (status, out, err) == (128 + signum, "", "pkgdoctor: interrupted\n")
        assert took < LIMIT
        assert left_running(proc.pid, before) == []


@pytest.mark.parametrize("command", ["check", "why"])
@pytest.mark.parametrize(
    ("signum", "group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c", "sigterm"]
)
def test_a_hanging_target_child_is_stopped(
    tmp_path: Path, command: str, signum: int, group: bool
) -> None:
    """The probe (``check``: a ``.pth`` line hangs in it) and ``why``'s import (the module
    hangs) lead sessions of their own: the terminal's Ctrl-C never reaches them, so
    pkgdoctor must stop them, with the grandchild each forked."""
    venv = make_venv(tmp_path / "venv")
    marker = tmp_path / "hanging.pid"
    (venv.site_packages / "hang.py").write_text(
        textwrap.dedent(f"""\
            import os, time
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
            with open({str(marker)!r}, "w") as out:
                out.write(str(os.getpid()))
            time.sleep(600)
        """)
    )
    if command == "check":
        (venv.site_packages / "hang.pth").write_text("import hang\n")
        args = ["check", "--prefix", str(venv.prefix)]
    else:
        args = ["why", "hang", "--prefix", str(venv.prefix)]
    with started(*args, cache=tmp_path / "cache") as proc:
        wait_for(lambda: marker.exists() and marker.read_text(), "the child hanging")
        hanging = int(marker.read_text())
        status, out, err, took, before = interrupt(proc, signum, group=group)
        assert hanging in before
        assert len(before) >= 2  # and its grandchild
        assert (status, out, err) == (128 + signum, "", "pkgdoctor: interrupted\n")
        assert took < LIMIT
        assert left_running(proc.pid, before) == []


def test_a_forked_look_never_outlives_its_parent(tmp_path: Path) -> None:
    """pkgdoctor SIGKILLed (no cleanup can run): its forked child leaves by itself."""
    script = textwrap.dedent("""\
        import sys, time
        from pkgdoctor.cache import Cache
        from pkgdoctor.look.fork import fork_look

        child = fork_look(lambda: time.sleep(600), Cache(None))
        print(child._pid, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        assert _stat(child) is not None
        before = descendants(proc.pid)
        assert child in before
        proc.kill()
        proc.wait(OUTER)
        assert left_running(proc.pid, before) == []
    finally:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(OUTER)


def test_a_forked_look_interrupted_in_the_parent_is_reaped() -> None:
    """``main`` embedded: Ctrl-C while waiting for the child's answer kills and reaps it."""
    child = fork_look(lambda: time.sleep(600), Cache(None))
    assert child is not None
    pid = child._pid

    def ctrl_c(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, ctrl_c)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            child.result()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _stat(pid) is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already
