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

    def __init__(self, pid: int, read_fd: int, cache: Cache) -> None:
        self._pid = pid
        self._read_fd = read_fd
        self._cache = cache

    def cancel(self) -> None:
        """The parent failed meanwhile: stop the child and reap it (no process left behind)."""
        with contextlib.suppress(OSError):  # it may have finished already
            os.kill(self._pid, signal.SIGKILL)
        os.close(self._read_fd)
        os.waitpid(self._pid, 0)

    def result(self) -> T | None:
        with os.fdopen(self._read_fd, "rb") as source:
            data = source.read()
        _, status = os.waitpid(self._pid, 0)
        if status != 0 or not data:
            return None
        import pickle

        try:
            value, used = pickle.loads(data)  # our own child's bytes, through a private pipe
        except Exception:
            return None
        self._cache.absorb(used)
        return value  # type: ignore[no-any-return]


def fork_look(work: Callable[[], T], cache: Cache) -> Forked[T] | None:
    """Start ``work()`` in a child process; None when no child could be started."""
    if not hasattr(os, "fork"):
        return None
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the child: do the work, send it back, leave at once
        status = 1
        try:
            import pickle

            os.close(read_fd)
            before = cache.used()
            value = work()
            data = pickle.dumps((value, cache.used_since(before)), pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return Forked(pid, read_fd, cache)
