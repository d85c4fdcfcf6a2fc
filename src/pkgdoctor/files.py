"""Reading a file of the target (or a file the user names) without trusting it.

A FIFO where a file should be would block ``open()`` until a writer comes, and a device
could be read forever. :func:`read_regular` opens without blocking, refuses whatever is not a
regular file, and reads at most ``limit`` bytes.
"""

from __future__ import annotations

import errno
import os
import stat


class NotRegularFile(OSError):
    """The path names a FIFO, a device, a socket or a directory."""


def blocking_kind(path: str) -> str | None:
    """What ``path`` is, as a phrase, when opening and reading it would block or never end
    (a FIFO waits for a writer, a device streams forever); None for anything else.
    Symbolic links are followed, as ``open()`` follows them. Nothing is opened."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return None


def read_regular(path: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``.

    :raises NotRegularFile: when ``path`` is not a regular file (nothing is read from it);
    :raises OSError: when it cannot be opened or read.

    >>> try:
    ...     read_regular("/dev/null", 10)
    ... except NotRegularFile as exc:
    ...     print(exc.strerror)
    not a regular file
    """
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; it
    # changes nothing for a regular file.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", path)
        chunks = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
