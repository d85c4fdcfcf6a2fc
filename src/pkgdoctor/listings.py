"""Directory listings, each read once per run and shared by every check.

The extension-module walk lists every package directory of the target; RECORD checks need
to know whether tens of thousands of files exist. Answering the second from the listings of
the first replaces a ``stat`` per file by a set lookup (a file is "there" when its directory
lists its name, as ``os.path.lexists`` would say).
"""

from __future__ import annotations

import errno
import os


class Listings:
    """``os.scandir`` results by directory: ``{name: is_dir}``, or the error listing it gave."""

    def __init__(self) -> None:
        self._dirs: dict[str, dict[str, bool] | OSError] = {}

    def entries(self, directory: str) -> dict[str, bool] | OSError:
        """The names in ``directory`` (``True`` for subdirectories), or why it cannot be read."""
        found = self._dirs.get(directory)
        if found is None:
            try:
                with os.scandir(directory) as it:
                    found = {}
                    for entry in it:
                        try:
                            found[entry.name] = entry.is_dir()
                        except OSError:
                            found[entry.name] = False
            except OSError as exc:
                found = exc
            except ValueError:  # a NUL in the name (a garbage RECORD row): no such directory
                found = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), directory)
            self._dirs[directory] = found
        return found

    def exists(self, path: str) -> bool | None:
        """Whether ``path`` is listed by its directory; None when that cannot be told
        (the directory is unreadable), so that the caller can ask the file system itself."""
        directory, _, name = path.rpartition("/")
        found = self.entries(directory)
        if isinstance(found, OSError):
            if isinstance(found, (FileNotFoundError, NotADirectoryError)):
                return False
            return None
        return name in found
