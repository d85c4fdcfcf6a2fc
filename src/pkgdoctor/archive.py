"""A wheel's zip archive (PEP 427), read in place and refused when it is unsafe.

Nothing is extracted: members are read into memory or streamed. Before any member is read,
the central directory is checked against what a hostile or broken archive does — names that
escape the install directory, duplicate names, overlapping members (the "overlapped zip bomb",
https://www.bamsoftware.com/hacks/zipbomb/), declared sizes and compression ratios beyond any
real wheel. Every failure becomes one :class:`ArchiveError` with a one-line reason.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO

from pkgdoctor._fields import Fact, fact
from pkgdoctor.errors import PkgdoctorError

# Limits. The largest real wheels (CUDA builds of torch) have members of ~2 GiB and ~5 GiB in
# total; deflate cannot compress better than ~1032:1, and real binaries and data compress
# 2:1 to 20:1, so a large member claiming more than 200:1 is a bomb, not a wheel.
MAX_MEMBERS = 200_000
MAX_MEMBER_SIZE = 4 * 1024**3
MAX_TOTAL_SIZE = 16 * 1024**3
MAX_RATIO = 200
RATIO_FLOOR = 16 * 1024**2  # smaller members cannot do harm whatever their ratio
# The same ratio for the archive as a whole, above this many declared bytes: many members
# just under RATIO_FLOOR (200 of 16 MiB of zeros, 3.2 GB from 3 MB) pass every member's check.
TOTAL_RATIO_FLOOR = 256 * 1024**2
MAX_TEXT_SIZE = 16 * 1024**2  # METADATA, WHEEL, RECORD
_CHUNK = 1024 * 1024
# The fixed part of a local file header (APPNOTE.TXT 4.3.7): 30 bytes, then name and extra.
_LOCAL_HEADER = 30
_UTF8_FLAG = 0x800  # general purpose bit 11: the name is UTF-8 (APPNOTE.TXT 4.4.4)
_DRIVE = re.compile(r"^[A-Za-z]:")

# What zipfile and the decompressors raise on damaged input (zipfile documents none of it);
# wheels/sdist.py catches the same for a .zip or compressed tar sdist.
DAMAGE: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,  # an unsupported compression method
    RuntimeError,  # an encrypted member
    ValueError,
    struct.error,
    UnicodeDecodeError,
    IndexError,
)
try:  # lzma is optional in CPython builds
    import lzma

    DAMAGE = (*DAMAGE, lzma.LZMAError)
except ImportError:  # pragma: no cover
    pass


class ArchiveError(PkgdoctorError):
    """The file cannot be audited as a wheel: not a zip, damaged, or unsafe to read."""


@fact
class Member(Fact):
    """A file in the archive (directories are not members)."""

    name: str
    size: int  # uncompressed, as the central directory declares it
    compressed_size: int


def unsafe_name(name: str) -> str | None:
    """Why a member name would escape the directory a wheel is installed into, or None.

    >>> unsafe_name("../evil.py")
    "it contains a '..' component"
    >>> unsafe_name("pkg/__init__.py") is None
    True
    """
    if "\0" in name:
        return "it contains a NUL byte"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "it is an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "it contains a '..' component"
    return None


class WheelArchive:
    """A wheel opened for reading; use as a context manager.

    :raises ArchiveError: if the file is not a readable zip or its directory is unsafe.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            # Never open a FIFO or a device: zipfile would block or read forever.
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise ArchiveError("not a regular file")
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise ArchiveError("no such file") from None
        except IsADirectoryError:
            raise ArchiveError("is a directory") from None
        except PermissionError:
            raise ArchiveError("permission denied") from None
        except DAMAGE as exc:
            raise ArchiveError(f"not a readable zip archive ({_reason(exc)})") from exc
        try:
            self.members = self._check_directory()
        except BaseException:
            self._zip.close()
            raise
        self._by_name = {m.name: m for m in self.members}

    def __enter__(self) -> WheelArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def _check_directory(self) -> list[Member]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ArchiveError(f"{len(infos)} members, more than the limit of {MAX_MEMBERS}")
        members: list[Member] = []
        seen: set[str] = set()
        total = 0
        for info in infos:
            # zipfile cuts a name at its first NUL; orig_filename keeps what the archive says.
            name = info.orig_filename
            problem = unsafe_name(name)
            if problem:
                raise ArchiveError(f"unsafe member name {name!r}: {problem}")
            if name in seen:
                raise ArchiveError(f"member {name!r} appears twice")
            seen.add(name)
            if info.is_dir():
                continue
            if info.file_size > MAX_MEMBER_SIZE:
                raise ArchiveError(
                    f"member {name!r} declares {info.file_size} bytes, more than the limit "
                    f"of {MAX_MEMBER_SIZE}"
                )
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(
                info.compress_size, 1
            ):
                raise ArchiveError(
                    f"member {name!r} would expand {info.compress_size} bytes to "
                    f"{info.file_size} (more than {MAX_RATIO}:1): a zip bomb"
                )
            total += info.file_size
            members.append(Member(name, info.file_size, info.compress_size))
        if total > MAX_TOTAL_SIZE:
            raise ArchiveError(
                f"members declare {total} bytes in all, more than the limit of {MAX_TOTAL_SIZE}"
            )
        compressed = sum(m.compressed_size for m in members)
        if total > TOTAL_RATIO_FLOOR and total > MAX_RATIO * max(compressed, 1):
            raise ArchiveError(
                f"members would expand {compressed} bytes to {total} in all (more than "
                f"{MAX_RATIO}:1): a zip bomb"
            )
        self._check_overlap(infos)
        return members

    def _check_overlap(self, infos: list[zipfile.ZipInfo]) -> None:
        """Each member's local header and data must end before the next one starts."""
        end_of_data = getattr(self._zip, "start_dir", None)
        ordered = sorted(infos, key=lambda i: i.header_offset)
        for info, following in zip(ordered, [*ordered[1:], None]):
            encoding = "utf-8" if info.flag_bits & _UTF8_FLAG else "cp437"
            try:
                name_length = len(info.orig_filename.encode(encoding))
            except UnicodeEncodeError:
                name_length = len(info.orig_filename)
            end = info.header_offset + _LOCAL_HEADER + name_length + info.compress_size
            limit = following.header_offset if following is not None else end_of_data
            if limit is not None and end > limit:
                raise ArchiveError(
                    f"member {info.orig_filename!r} overlaps the next member or the central "
                    "directory (an overlapping-entry zip bomb or a damaged archive)"
                )

    def member(self, name: str) -> Member | None:
        return self._by_name.get(name)

    def read(self, name: str, limit: int = MAX_TEXT_SIZE) -> bytes:
        """The whole member (a small metadata file), at most ``limit`` bytes.

        :raises ArchiveError: if it is larger than ``limit`` or cannot be read.
        """
        member = self._by_name[name]
        if member.size > limit:
            raise ArchiveError(f"member {name!r} is {member.size} bytes, more than {limit}")
        with self.open(name) as stream:
            return b"".join(stream.chunks())

    def open(self, name: str) -> _Stream:
        try:
            return _Stream(self._zip.open(name), name)
        except DAMAGE as exc:
            raise ArchiveError(f"member {name!r} cannot be read ({_reason(exc)})") from exc


class _Stream:
    """A member opened for reading: ``read``/``chunks``/``pread`` turn damage into
    :class:`ArchiveError`."""

    def __init__(self, raw: IO[bytes], name: str) -> None:
        self._raw = raw
        self.name = name

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()

    def read(self, size: int = -1) -> bytes:
        try:
            return self._raw.read(size)
        except DAMAGE as exc:
            raise ArchiveError(f"member {self.name!r} is damaged ({_reason(exc)})") from exc

    def chunks(self) -> Iterator[bytes]:
        while True:
            chunk = self.read(_CHUNK)
            if not chunk:
                return
            yield chunk

    def pread_function(self) -> Callable[[int, int], bytes]:
        """Random access for a large member: seeking back re-decompresses from the start."""

        def pread(length: int, offset: int) -> bytes:
            try:
                self._raw.seek(offset)
            except DAMAGE as exc:
                raise ArchiveError(f"member {self.name!r} is damaged ({_reason(exc)})") from exc
            return self.read(length)

        return pread


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0] if text.strip() else type(exc).__name__
