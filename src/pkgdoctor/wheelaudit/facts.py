"""What a wheel is made of, read once from its archive: the facts every wheel check uses."""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import field

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from pkgdoctor._fields import Fact, fact
from pkgdoctor.archive import ArchiveError, Member, WheelArchive
from pkgdoctor.elf import ELFError, ELFFile, read_elf_bytes, read_elf_from
from pkgdoctor.inventory import RecordEntry, parse_record, record_hash

_ELF_MAGIC = b"\x7fELF"
# ELF members up to this size are read into memory once, hashed and parsed from there; a
# larger one (CUDA libraries) is hashed as a stream and its ELF tables read by seeking.
IN_MEMORY = 256 * 1024**2
# PEP 427: a RECORD hash is "sha256 or better"; installers refuse md5 and sha1.
WEAK_HASHES = frozenset({"md5", "sha1"})
_DATA_DIR = re.compile(r"^[^/]+\.data/(purelib|platlib)/(.+)$")


@fact
class ElfMember(Fact):
    """An ELF file in the wheel."""

    name: str  # the member's name in the archive
    installed: str  # where it lands, relative to site-packages (.data/platlib/x -> x)
    elf: ELFFile


class InstalledMembers:
    """A wheel's ELF members where an installer puts them, for the loader model
    (:class:`pkgdoctor.loader.ObjectSource`): nothing is extracted.

    Paths are absolute under :attr:`ROOT`, a stand-in for site-packages, so that ``$ORIGIN``
    expands as it would after installation and a search path that leaves the wheel (an
    absolute RPATH of the build machine, too many ``..``) finds nothing.

    >>> members = InstalledMembers(facts.elf_files)  # doctest: +SKIP
    >>> members.exists("/site-packages/pkg.libs/libfoo-1a2b3c4d.so.1")  # doctest: +SKIP
    True
    """

    ROOT = "/site-packages"

    def __init__(self, members: Iterable[ElfMember]) -> None:
        self._by_path = {self.path(m): m for m in members}

    @classmethod
    def path(cls, member: ElfMember) -> str:
        return f"{cls.ROOT}/{member.installed}"

    def member(self, path: str) -> ElfMember | None:
        return self._by_path.get(path)

    def exists(self, path: str) -> bool:
        return path in self._by_path

    def read(self, path: str) -> ELFFile | ELFError | OSError:
        member = self._by_path.get(path)
        if member is None:
            return FileNotFoundError(errno.ENOENT, "not in the wheel", path)
        return member.elf


@fact
class WheelFacts(Fact):
    """Everything the wheel checks need, read in one pass over the archive."""

    path: str
    filename: str
    project: str  # the distribution name as the file name spells it
    version: str
    tags: frozenset[Tag]
    members: tuple[Member, ...]
    dist_info: str | None  # the .dist-info directory the file name points to
    dist_info_dirs: tuple[str, ...]  # every top-level *.dist-info directory
    record: tuple[RecordEntry, ...] | None  # None: no RECORD
    digests: dict[str, str] = field(default_factory=dict)  # member -> "algo=digest"
    elf_files: tuple[ElfMember, ...] = ()
    bad_elf: tuple[tuple[str, str], ...] = ()  # (member, reason): ELF magic, broken tables
    texts: dict[str, bytes] = field(default_factory=dict)  # METADATA and WHEEL, raw

    @property
    def platforms(self) -> frozenset[str]:
        return frozenset(t.platform for t in self.tags)

    @property
    def pure(self) -> bool:
        return self.platforms == {"any"}

    def text(self, name: str) -> bytes | None:
        """``METADATA`` or ``WHEEL`` of the .dist-info directory, raw."""
        return self.texts.get(name)


def parse_filename(filename: str) -> tuple[str, str, frozenset[Tag]]:
    """Project name, version and tags of a wheel file name.

    :raises ArchiveError: if the name does not follow PEP 427.
    """
    try:
        name, version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise ArchiveError(f"not a wheel file name: {exc}") from None
    project = filename.split("-", 1)[0]
    del name  # the normalized form; messages use the spelling of the file name
    return project, str(version), tags


def installed_path(member: str) -> str:
    """Where a member is installed relative to site-packages (PEP 427 "spread" step)."""
    match = _DATA_DIR.match(member)
    return match[2] if match else member


def read_facts(path: str, *, in_memory: int = IN_MEMORY) -> WheelFacts:
    """Read a wheel: its file name, its members, RECORD, METADATA, WHEEL and ELF files.

    ELF members larger than ``in_memory`` bytes are read by seeking in the zip stream.

    :raises ArchiveError: if the wheel cannot be read safely.
    """
    filename = os.path.basename(path)
    if not os.path.lexists(path):
        raise ArchiveError("no such file")
    project, version, tags = parse_filename(filename)
    with WheelArchive(path) as archive:
        dirs = sorted(
            {
                m.name.split("/", 1)[0]
                for m in archive.members
                if m.name.split("/", 1)[0].endswith(".dist-info") and "/" in m.name
            }
        )
        key = canonicalize_name(project)
        dist_info = next(
            (d for d in dirs if canonicalize_name(d[: -len(".dist-info")].split("-")[0]) == key),
            dirs[0] if dirs else None,
        )
        record = None
        if dist_info is not None and archive.member(f"{dist_info}/RECORD") is not None:
            raw = archive.read(f"{dist_info}/RECORD")
            record = tuple(parse_record(raw.decode("utf-8", "surrogateescape")))
        algorithms = {
            e.path: e.hash.partition("=")[0] for e in record or () if e.hash and "=" in e.hash
        }
        texts: dict[str, bytes] = {}
        digests: dict[str, str] = {}
        elf_files: list[ElfMember] = []
        bad_elf: list[tuple[str, str]] = []
        wanted = {f"{dist_info}/METADATA": "METADATA", f"{dist_info}/WHEEL": "WHEEL"}
        for member in archive.members:
            algorithm = algorithms.get(member.name, "sha256")
            if algorithm not in hashlib.algorithms_guaranteed or algorithm in WEAK_HASHES:
                algorithm = "sha256"
            keep = member.name in wanted
            digest, elf, data = _read_member(archive, member, algorithm, keep, in_memory)
            digests[member.name] = digest
            if member.name in wanted and data is not None:
                texts[wanted[member.name]] = data
            if isinstance(elf, ELFFile):
                elf_files.append(ElfMember(member.name, installed_path(member.name), elf))
            elif isinstance(elf, str):
                bad_elf.append((member.name, elf))
    return WheelFacts(
        path=path,
        filename=filename,
        project=project,
        version=version,
        tags=tags,
        members=tuple(archive.members),
        dist_info=dist_info,
        dist_info_dirs=tuple(dirs),
        record=record,
        digests=digests,
        elf_files=tuple(elf_files),
        bad_elf=tuple(bad_elf),
        texts=texts,
    )


def _read_member(
    archive: WheelArchive, member: Member, algorithm: str, keep: bool, in_memory: int
) -> tuple[str, ELFFile | str | None, bytes | None]:
    """(RECORD-style digest, the parsed ELF file or why it is not one, the bytes if ``keep``
    or an ELF file that fits in memory)."""
    hasher = hashlib.new(algorithm)
    elf: ELFFile | str | None = None
    data: bytes | None = None
    with archive.open(member.name) as stream:
        first = stream.read(64 * 1024)
        is_elf = first.startswith(_ELF_MAGIC)
        if keep or (is_elf and member.size <= in_memory):
            data = first + b"".join(stream.chunks())
            hasher.update(data)
            if is_elf:
                content = data
                elf = _parse(
                    lambda: read_elf_bytes(content, member.name, symbols=True, properties=True)
                )
        else:
            hasher.update(first)
            for chunk in stream.chunks():
                hasher.update(chunk)
    if is_elf and data is None:
        with archive.open(member.name) as stream:
            pread = stream.pread_function()
            elf = _parse(
                lambda: read_elf_from(
                    pread, member.size, member.name, symbols=True, properties=True
                )
            )
    return record_hash(hasher), elf, data


def _parse(read: Callable[[], ELFFile]) -> ELFFile | str:
    """The ELF file, or why it is not a valid one (its member is then ``ext-invalid-elf``)."""
    try:
        return read()
    except ELFError as exc:
        return exc.reason
