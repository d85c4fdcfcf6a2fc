"""Running a child we do not trust: bounded in time and in memory, nothing left behind.

The target interpreter runs the user's code before ours (``.pth`` lines, ``sitecustomize``)
and ``why`` imports the user's module: that code may hang, fork a daemon that keeps our
pipes open, or print forever. So the child leads a session (and process group) of its own;
its output is read here, through a selector, keeping the first and last bytes of each pipe
within fixed limits; every wait has a deadline; and stopping it kills its whole process
group, then any process that left the group (``setsid()``) but still holds the write end of
our pipes, found through ``/proc`` (Linux; elsewhere the group alone).

The happy path costs nothing more than ``communicate()``: when the child exits, both pipes
close and the loop ends; nothing is killed and ``/proc`` is not read.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from typing import NamedTuple

#: After the child exited, how long its descendants may keep our pipes open before they are
#: killed: what is still in the pipes is read at once, so this only waits for a process that
#: the child left behind (a daemon forked from a ``.pth`` line).
EXIT_GRACE = 0.5
#: After SIGKILL, how long the pipes may take to close and the child to be reaped.
KILL_GRACE = 1.0
#: How often the loop looks whether the child has exited while its pipes stay open.
POLL = 0.05
_CHUNK = 1 << 16


class Kept:
    """What one pipe carried, within limits: the first ``head`` and last ``tail`` bytes.

    >>> kept = Kept(head=4, tail=4)
    >>> kept.add(b"0123456789")
    >>> kept.total, kept.overflowed, kept.text()
    (10, True, '0123\\n[... 2 bytes left out ...]\\n6789')
    """

    def __init__(self, head: int, tail: int = 0) -> None:
        self.head_limit = head
        self.tail_limit = tail
        self.total = 0
        self._head = bytearray()
        self._tail = bytearray()

    @property
    def limit(self) -> int:
        return self.head_limit + self.tail_limit

    @property
    def overflowed(self) -> bool:
        """More came than is kept: the middle is missing."""
        return self.total > self.limit

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data and self.tail_limit:
            self._tail += data[-self.tail_limit :]
            del self._tail[: max(0, len(self._tail) - self.tail_limit)]

    def tail_bytes(self) -> bytes:
        """The last bytes kept (all of them while nothing was left out)."""
        if not self.overflowed:
            return bytes(self._head + self._tail)
        return bytes(self._tail)

    def text(self) -> str:
        """Everything kept, decoded; where bytes were left out, a line says how many."""
        if not self.overflowed:
            return (self._head + self._tail).decode("utf-8", "replace")
        left_out = self.total - self.limit
        return (
            self._head.decode("utf-8", "replace")
            + f"\n[... {left_out} bytes left out ...]\n"
            + self._tail.decode("utf-8", "replace")
        )


class Ended(NamedTuple):
    """How a child's run ended: ``done`` (its pipes closed and it exited: ``returncode``),
    ``timeout``, or ``overflow`` (stdout passed its limit, with ``stop_on_overflow``)."""

    how: str
    returncode: int | None


def start(args: list[str], *, cwd: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``args`` leading a new session, stdin from /dev/null, stdout and stderr piped."""
    process = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Its own session and process group: stopping it can kill every process it started
        # (os.killpg); a Ctrl-C at the terminal reaches pkgdoctor alone, which then stops it.
        start_new_session=True,
    )
    _started.add(process)
    return process


#: Children started and not yet stopped and reaped: ``stop_all`` ends them when the run is
#: interrupted between ``start`` and the ``finally`` of ``collect`` (or of a caller's cancel).
#: Their session is not the terminal's, so nothing else would: a Ctrl-C never reaches them.
_started: set[subprocess.Popen[bytes]] = set()


def stop_all() -> None:
    """Stop every child ``start`` started that is still running (see ``stop``)."""
    for process in list(_started):
        streams = (process.stdout, process.stderr)
        _stop(process, [s.fileno() for s in streams if s is not None and not s.closed])


def collect(
    process: subprocess.Popen[bytes],
    deadline: float,
    stdout: Kept,
    stderr: Kept,
    *,
    stop_on_overflow: bool = False,
) -> Ended:
    """Read the child's stdout and stderr into ``stdout`` and ``stderr`` until both close and
    it exits, or until ``deadline`` (a ``time.monotonic()`` value). Whatever the outcome,
    even an exception, the child is reaped and nothing it started is left holding our pipes.
    """
    assert process.stdout is not None and process.stderr is not None
    streams = {process.stdout.fileno(): stdout, process.stderr.fileno(): stderr}
    how = "done"
    selector = selectors.DefaultSelector()
    try:
        for fd in streams:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        exited_at: float | None = None
        while selector.get_map() and how == "done":
            now = time.monotonic()
            if now >= deadline:
                how = "timeout"
                break
            if exited_at is None and _exited(process):
                exited_at = now
            end = deadline if exited_at is None else min(deadline, exited_at + EXIT_GRACE)
            if now >= end:
                break  # the child is gone; what it left behind holds the pipes: stop it below
            for key, _ in selector.select(min(end - now, POLL)):
                data = _read(key.fd)
                if data is None:
                    continue
                if not data:
                    selector.unregister(key.fd)
                    continue
                kept = streams[key.fd]
                kept.add(data)
                if stop_on_overflow and kept is stdout and kept.overflowed:
                    how = "overflow"
                    break
        if how == "done" and not selector.get_map():
            # Both pipes closed: the child has exited, or closed them and lives on.
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
                return Ended("done", process.returncode)
            except subprocess.TimeoutExpired:
                how = "timeout"
    finally:
        selector.close()
        _stop(process, list(streams))
    return Ended(how, process.returncode)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the child now, without reading what it printed (see ``collect``)."""
    assert process.stdout is not None and process.stderr is not None
    _stop(process, [process.stdout.fileno(), process.stderr.fileno()])


def _stop(process: subprocess.Popen[bytes], fds: list[int]) -> None:
    """Kill the child's process group, then whatever else holds our pipes; reap the child;
    close our ends. Every wait is bounded; a no-op on a child that was reaped and whose
    pipes are closed."""
    if process.returncode is None:  # not reaped yet: its pid is still its group's id
        with contextlib.suppress(OSError):  # ESRCH: the group is gone already
            os.killpg(process.pid, signal.SIGKILL)
    if not _drained(fds, KILL_GRACE / 2):
        # Someone outside the group (a daemon that called setsid()) holds a write end.
        inodes = {f"pipe:[{os.fstat(fd).st_ino}]" for fd in fds}
        for _ in range(3):  # a holder may have forked before it died
            if not kill_pipe_writers(inodes) or _drained(fds, KILL_GRACE / 2):
                break
    # Still there after SIGKILL: uninterruptible sleep (a hung NFS read); not waited for.
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(KILL_GRACE)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    _started.discard(process)


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it (so that its pid, which is its
    process group's id, cannot be reused before ``_stop`` kills the group)."""
    if process.returncode is not None:
        return True
    waitid = getattr(os, "waitid", None)
    if waitid is None:  # not Linux: reaping is the only way to know
        return process.poll() is not None
    try:
        return waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _read(fd: int) -> bytes | None:
    """What ``fd`` has now; b"" at end of file, None when nothing is there yet."""
    try:
        return os.read(fd, _CHUNK)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _drained(fds: list[int], limit: float) -> bool:
    """Read and drop what is left in ``fds`` until every one reaches end of file (True) or
    ``limit`` seconds pass (False: some process still holds a write end)."""
    deadline = time.monotonic() + limit
    open_fds = set()
    with selectors.DefaultSelector() as selector:
        for fd in fds:
            try:
                os.set_blocking(fd, False)
                selector.register(fd, selectors.EVENT_READ)
                open_fds.add(fd)
            except (OSError, ValueError):  # closed already
                continue
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in selector.select(left):
                if _read(key.fd) == b"":
                    selector.unregister(key.fd)
                    open_fds.discard(key.fd)
    return True


def kill_pipe_writers(pipes: set[str]) -> bool:
    """SIGKILL every process of ours that has one of ``pipes`` (``"pipe:[INODE]"``, as
    ``/proc/PID/fd`` links read) open for writing; whether one was found.

    Only the child's descendants can hold the write end: pkgdoctor closed its own copy when
    the child started, and ``subprocess`` closes every other descriptor in the children it
    starts. A process that holds only a read end (one pkgdoctor forked) is not touched.
    Another user's processes cannot be read (nor killed), so they are skipped.
    """
    me = os.getpid()
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:  # no /proc: the group kill is all there is
        return False
    found = False
    for pid in pids:
        if pid == me:
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # another user's process, or gone
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") not in pipes or not _writes(pid, fd):
                    continue
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
            found = True
            break
    return found


def _writes(pid: int, fd: str) -> bool:
    """Whether ``fd`` of ``pid`` is open for writing (the ``flags`` line of fdinfo, octal;
    proc(5))."""
    with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as info:
        for line in info:
            if line.startswith("flags:"):
                return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    return False
