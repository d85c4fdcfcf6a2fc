"""One piece of the look, run in a forked child on the second core.

The child computes ``work()`` and sends back, through a private pipe, the result and the
cache entries it used (only when one of its lookups missed: otherwise the stored entries are
still right, and sending them costs time). The parent takes those into its own cache, which
it saves. If the child cannot be forked, fails or sends nothing usable, ``result()`` is None
and the caller does the work itself: the answer is the same either way, only the time differs.
A caller that embeds pkgdoctor (``main()`` without ``parallel``) never forks.

Unlike the target's processes (``target/process.py``), this child runs only pkgdoctor's own
code: it reads files and starts nothing, so no other process can hold its pipe, and it has
no time limit of its own (the parent doing the same work would take as long).

Interruption (docs/design.md, "Interrupts"): the child never outlives the parent. It takes
the default action for SIGINT, SIGTERM and SIGHUP (it has nothing to clean up: the parent
reaps it), so a Ctrl-C at the terminal, which reaches the whole process group, ends it at
once; a parent that is interrupted itself kills and reaps it (``cancel``). A parent that dies
without cleaning up (SIGKILL, ``os._exit``) closes the *lifeline*, a pipe whose write end
only the parent holds: a thread in the child waits for its end of file and leaves. That is
portable and has no race, unlike Linux's ``prctl(PR_SET_PDEATHSIG)`` (which also fires when
the forking *thread* ends, and would need ctypes): a parent already gone before the thread
starts is an end of file at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from typing import Generic, TypeVar

from pkgdoctor.cache import Cache

T = TypeVar("T")


class Forked(Generic[T]):
    """The child's answer, collected once."""

    def __init__(self, pid: int, read_fd: int, lifeline: int, cache: Cache) -> None:
        self._pid = pid
        self._read_fd = read_fd
        self._lifeline = lifeline
        self._cache = cache
        self._reaped = False

    def cancel(self) -> None:
        """The parent failed or was interrupted: stop the child and reap it (no process
        left behind). Safe to call twice, or after ``result``."""
        if not self._reaped:
            with contextlib.suppress(OSError):  # it may have finished already
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):  # a SIGKILLed child dies at once
                os.waitpid(self._pid, 0)
            self._reaped = True
        self._close()

    def _close(self) -> None:
        for fd in (self._read_fd, self._lifeline):
            with contextlib.suppress(OSError):  # closed already
                os.close(fd)
        self._read_fd = self._lifeline = -1

    def result(self) -> T | None:
        try:
            with os.fdopen(self._read_fd, "rb", closefd=False) as source:
                data = source.read()
            _, status = os.waitpid(self._pid, 0)
            self._reaped = True
        except BaseException:  # interrupted while waiting: the child must not run on
            self.cancel()
            raise
        self._close()
        if status != 0 or not data:
            return None
        import pickle

        try:
            value, used = pickle.loads(data)  # our own child's bytes, through a private pipe
        except Exception:
            return None
        self._cache.absorb(used)
        return value  # type: ignore[no-any-return]


# The signals that end a run (cli.run turns them into KeyboardInterrupt in the parent).
_ENDING = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def fork_look(work: Callable[[], T], cache: Cache) -> Forked[T] | None:
    """Start ``work()`` in a child process; None when no child could be started."""
    if not hasattr(os, "fork"):
        return None
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        lifeline_read, lifeline = os.pipe()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    # Blocked across the fork: a signal in the child before it has taken the default
    # actions would raise KeyboardInterrupt there and run the parent's code on. The parent
    # gets its signal when they are unblocked, below, with the child already in hand.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _ENDING)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for fd in (read_fd, write_fd, lifeline_read, lifeline):
            os.close(fd)
        return None
    if pid == 0:  # the child: do the work, send it back, leave at once
        status = 1
        try:
            for signum in _ENDING:
                if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup stays nohup
                    signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            os.close(read_fd)
            os.close(lifeline)
            _watch_lifeline(lifeline_read)
            import pickle

            before = cache.used()
            value = work()
            data = pickle.dumps((value, cache.used_since(before)), pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    os.close(lifeline_read)
    forked: Forked[T] = Forked(pid, read_fd, lifeline, cache)
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a pending signal raises here
    except BaseException:
        forked.cancel()
        raise
    return forked


def _watch_lifeline(fd: int) -> None:
    """In the child: leave as soon as the parent is gone (``fd`` reaches end of file)."""
    import threading

    def watch() -> None:
        with contextlib.suppress(OSError):
            os.read(fd, 1)  # nothing is ever written: this returns when the parent is gone
        os._exit(1)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()
