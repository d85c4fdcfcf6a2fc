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


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISSOCK, "a socket"),
)


def irregular_kind(path: str) -> str | None:
    """What ``path`` is, as a phrase ("a FIFO", "a directory", ...), when it exists and is
    not a regular file; None for a regular file or nothing. Symbolic links are followed, as
    ``open()`` follows them. Nothing is opened."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return next((phrase for test, phrase in _KINDS if test(mode)), None)


def blocking_kind(path: str) -> str | None:
    """:func:`irregular_kind` when opening and reading ``path`` would block or never end (a
    FIFO waits for a writer, a device streams forever); None for anything else."""
    kind = irregular_kind(path)
    return kind if kind in ("a FIFO", "a character device", "a block device") else None


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
