"""Read the dynamic-linking metadata of an ELF file, defensively.

This module answers the questions a dynamic loader asks of a shared object or
executable -- which interpreter, which ``DT_NEEDED`` libraries, which
``DT_RPATH``/``DT_RUNPATH``, which symbol versions are required from or
provided by it -- without trusting the file.

It reads the file the way the loader does: through the *program headers*
(``PT_INTERP``, ``PT_DYNAMIC`` and the ``PT_LOAD`` segments that map virtual
addresses back to file offsets).  Section headers are never consulted, so
stripped or section-less objects work and a lying section table cannot mislead
us.

Reads are lazy and bounded: only the ELF header, the program header table,
the interpreter string, the dynamic segment, the strings actually referenced
and the version records are read, in a handful of ``pread`` calls, and every
count and size taken from the file is capped.  Any malformation -- truncation,
bad magic, offsets out of range, absurd sizes, cyclic version chains -- is
reported as :class:`ELFError`; no :class:`IndexError` or :class:`struct.error`
escapes.  Operating-system errors (file missing, permission denied) are not
parse problems and propagate as :class:`OSError`.

References:

* System V gABI, chapters 4 and 5 ("Object Files", "Program Loading and
  Dynamic Linking"): https://www.sco.com/developers/gabi/latest/contents.html
* Symbol versioning (``DT_VERNEED``/``DT_VERDEF``), LSB Core specification:
  https://refspecs.linuxfoundation.org/LSB_5.0.0/LSB-Core-generic/LSB-Core-generic/symversion.html
* glibc ``elf/dl-load.c`` (``open_verify``), ``elf/get-dynamic-info.h`` and
  ``elf/dl-version.c``, which define what the loader actually accepts.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "ELFError",
    "ELFFile",
    "VersionNeed",
    "architecture_name",
    "read_elf",
]


class ELFError(ValueError):
    """The file is not a valid ELF file, or is too damaged to be trusted.

    The message is ``"not a valid ELF file: <reason>"``; the bare reason is
    available as :attr:`reason`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a valid ELF file: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class VersionNeed:
    """One ``Elf_Verneed`` record: the symbol versions required from one library."""

    #: ``vn_file``: the needed library, as named in ``DT_NEEDED`` (e.g. ``"libc.so.6"``).
    file: str
    #: ``vna_name`` of each ``Elf_Vernaux`` entry, in file order
    #: (e.g. ``("GLIBC_2.2.5", "GLIBC_2.34")``).
    versions: tuple[str, ...]


@dataclass(frozen=True)
class ELFFile:
    """What the dynamic loader would see in an ELF file."""

    #: The path the file was read from.
    path: str
    #: 32 or 64 (``e_ident[EI_CLASS]``).
    elf_class: int
    #: ``e_ident[EI_DATA]`` is ``ELFDATA2LSB``.
    little_endian: bool
    #: ``e_ident[EI_OSABI]`` (0 = System V, 3 = GNU/Linux, ...).
    osabi: int
    #: ``e_type`` (1 = ET_REL, 2 = ET_EXEC, 3 = ET_DYN, 4 = ET_CORE).
    file_type: int
    #: ``e_machine`` (62 = EM_X86_64, 183 = EM_AARCH64, ...).
    machine: int
    #: ``e_flags`` (processor specific, e.g. the ARM or RISC-V float ABI).
    flags: int
    #: ``PT_INTERP`` contents without the trailing NUL, or ``None``.
    interpreter: str | None
    #: ``DT_SONAME``, or ``None``.
    soname: str | None
    #: ``DT_NEEDED`` entries, in order.
    needed: tuple[str, ...]
    #: ``DT_RPATH``, raw: colon-separated and with ``$ORIGIN`` etc. unexpanded.
    rpath: str | None
    #: ``DT_RUNPATH``, raw.
    runpath: str | None
    #: Symbol versions required from other objects (``DT_VERNEED``).
    version_needs: tuple[VersionNeed, ...]
    #: Symbol versions this object defines (``DT_VERDEF``): the first name of
    #: each ``Elf_Verdef`` except the ``VER_FLG_BASE`` one (which names the
    #: object itself, i.e. repeats the soname).
    version_definitions: tuple[str, ...]

    @property
    def architecture(self) -> str:
        """The machine name as ``uname -m`` (and auditwheel) spell it, e.g. ``"x86_64"``."""
        return architecture_name(self.machine, self.elf_class, self.little_endian, self.flags)


# --- Machine names -------------------------------------------------------------------------

# e_machine values from the gABI "ELF Header" table (and binutils include/elf/common.h for
# EM_LOONGARCH, which postdates the last published gABI revision).
_EM_386 = 3
_EM_MIPS = 8
_EM_PPC = 20
_EM_PPC64 = 21
_EM_S390 = 22
_EM_ARM = 40
_EM_SPARCV9 = 43
_EM_IA_64 = 50
_EM_X86_64 = 62
_EM_AARCH64 = 183
_EM_RISCV = 243
_EM_LOONGARCH = 258

# Machines whose name depends on neither class nor byte order.
_FIXED_NAMES = {
    # i686 rather than i386: that is what manylinux/auditwheel and most distributions
    # target, and what `uname -m` reports on any machine that can run such wheels.
    _EM_386: "i686",
    _EM_AARCH64: "aarch64",
    # A 32-bit ARM object does not say which architecture revision it needs in a way that
    # maps onto uname; armv7l is the only 32-bit ARM platform tag wheels use.
    _EM_ARM: "armv7l",
    _EM_PPC: "ppc",
    _EM_SPARCV9: "sparc64",
    _EM_IA_64: "ia64",
}


def architecture_name(machine: int, elf_class: int, little_endian: bool, flags: int = 0) -> str:
    """Return the ``uname -m``-style name for an ELF machine.

    *machine* is ``e_machine``, *elf_class* is 32 or 64.  *flags* (``e_flags``) is
    accepted so that callers pass everything the ELF header says; no mapping
    needs it yet.  Unknown machines are named ``f"elf-machine-{machine}"``.
    """
    del flags  # Reserved: e.g. the ARM float ABI could refine "armv7l" one day.
    fixed = _FIXED_NAMES.get(machine)
    if fixed is not None:
        return fixed
    is64 = elf_class == 64
    if machine == _EM_X86_64:
        # The x32 ABI is x86-64 code in ELFCLASS32 objects.
        return "x86_64" if is64 else "x32"
    if machine == _EM_PPC64:
        return "ppc64le" if little_endian else "ppc64"
    if machine == _EM_S390:
        return "s390x" if is64 else "s390"
    if machine == _EM_RISCV:
        return "riscv64" if is64 else "riscv32"
    if machine == _EM_LOONGARCH:
        return "loongarch64" if is64 else "loongarch32"
    if machine == _EM_MIPS:
        return ("mips64" if is64 else "mips") + ("el" if little_endian else "")
    return f"elf-machine-{machine}"


# --- On-disk constants ---------------------------------------------------------------------

# e_ident (gABI "ELF Identification").
_ELFMAG = b"\x7fELF"
_EI_CLASS = 4
_EI_DATA = 5
_EI_VERSION = 6
_EI_OSABI = 7
_EI_NIDENT = 16
_ELFCLASS32 = 1
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_ELFDATA2MSB = 2
_EV_CURRENT = 1

# gABI "Program Header": segment types.
_PT_LOAD = 1
_PT_DYNAMIC = 2
_PT_INTERP = 3

# gABI "Sections", extended numbering: if e_phnum is PN_XNUM the real count is in sh_info
# of section header 0.  sh_info sits at byte 28 of an Elf32_Shdr and 44 of an Elf64_Shdr.
_PN_XNUM = 0xFFFF

# gABI "Dynamic Section": d_tag values.  The DT_VER* tags are the GNU/Sun symbol
# versioning extensions (LSB Core, "Symbol Versioning").
_DT_NULL = 0
_DT_NEEDED = 1
_DT_STRTAB = 5
_DT_STRSZ = 10
_DT_SONAME = 14
_DT_RPATH = 15
_DT_RUNPATH = 29
_DT_VERDEF = 0x6FFFFFFC
_DT_VERDEFNUM = 0x6FFFFFFD
_DT_VERNEED = 0x6FFFFFFE
_DT_VERNEEDNUM = 0x6FFFFFFF

# LSB "Symbol Versioning": vd_flags bit marking the version definition of the file itself,
# and the only structure revision that exists (glibc dl-version.c rejects any other).
_VER_FLG_BASE = 0x1
_VER_NEED_CURRENT = 1
_VER_DEF_CURRENT = 1

# --- Limits --------------------------------------------------------------------------------

# Linux refuses a PT_INTERP larger than PATH_MAX (fs/binfmt_elf.c, load_elf_binary).
_MAX_INTERP = 4096
# Upper bound for any table taken from the file (program headers, dynamic entries, version
# records).  Real objects have a few dozen of each; libraries with the most versions
# (libc, libstdc++) have a few hundred version records.
_MAX_ENTRIES = 100_000
# The largest .dynstr in the wild (LLVM, Chromium) is a few MiB.
_MAX_STRTAB = 64 * 1024 * 1024
# Reads go through a cache of aligned blocks so that neighbouring small reads (version
# records, strings) cost one pread between them.
_BLOCK = 4096


class _Formats:
    """Precompiled struct layouts for one (class, byte order) combination."""

    __slots__ = (
        "addr_mask",
        "dyn",
        "ehdr",
        "phdr",
        "phdr_fields",
        "shdr_info_offset",
        "u32",
        "verdaux",
        "verdef",
        "vernaux",
        "verneed",
    )

    def __init__(self, is64: bool, little: bool) -> None:
        order = "<" if little else ">"
        if is64:
            # Elf64_Ehdr after e_ident: e_type, e_machine, e_version, e_entry, e_phoff, e_shoff,
            # e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx.
            self.ehdr = struct.Struct(order + "HHIQQQIHHHHHH")
            # Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align.
            self.phdr = struct.Struct(order + "IIQQQQQQ")
            self.phdr_fields = (0, 2, 3, 5)  # p_type, p_offset, p_vaddr, p_filesz
            # Elf64_Dyn: d_tag (Sxword, read unsigned: every tag we use is positive), d_val.
            self.dyn = struct.Struct(order + "QQ")
            self.shdr_info_offset = 44
            self.addr_mask = (1 << 64) - 1
        else:
            self.ehdr = struct.Struct(order + "HHIIIIIHHHHHH")
            # Elf32_Phdr: p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align.
            self.phdr = struct.Struct(order + "IIIIIIII")
            self.phdr_fields = (0, 1, 2, 4)
            self.dyn = struct.Struct(order + "II")
            self.shdr_info_offset = 28
            self.addr_mask = (1 << 32) - 1
        self.u32 = struct.Struct(order + "I")
        # The versioning records are made of Half and Word fields only, so they have the same
        # layout in both classes.
        # Elf_Verneed: vn_version, vn_cnt, vn_file, vn_aux, vn_next.
        self.verneed = struct.Struct(order + "HHIII")
        # Elf_Vernaux: vna_hash, vna_flags, vna_other, vna_name, vna_next.
        self.vernaux = struct.Struct(order + "IHHII")
        # Elf_Verdef: vd_version, vd_flags, vd_ndx, vd_cnt, vd_hash, vd_aux, vd_next.
        self.verdef = struct.Struct(order + "HHHHIII")
        # Elf_Verdaux: vda_name, vda_next.
        self.verdaux = struct.Struct(order + "II")


_FORMATS = {
    (is64, little): _Formats(is64, little) for is64 in (False, True) for little in (False, True)
}


class _Segment(NamedTuple):
    p_type: int
    offset: int
    vaddr: int
    filesz: int


class _Reader:
    """Bounded random access to an open file, through a cache of aligned blocks."""

    __slots__ = ("_blocks", "_fd", "size")

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self.size = size
        self._blocks: dict[int, bytes] = {}

    def read(self, offset: int, length: int, what: str) -> bytes:
        """Return exactly *length* bytes at *offset*, or raise ELFError."""
        end = offset + length
        if offset < 0 or length < 0 or end > self.size:
            raise ELFError(
                f"{what} (offset {offset:#x}, {length} bytes) extends past the end of the "
                f"file ({self.size} bytes)"
            )
        if length == 0:
            return b""
        first = offset // _BLOCK
        last = (end - 1) // _BLOCK
        blocks = self._blocks
        if first == last and first in blocks:  # The common case: a small record, cached.
            base = first * _BLOCK
            return blocks[first][offset - base : end - base]
        missing = [index for index in range(first, last + 1) if index not in blocks]
        if missing:
            # One pread for the whole missing span; re-reading a cached block in the middle
            # is cheaper than a second system call.
            start = missing[0] * _BLOCK
            stop = min((missing[-1] + 1) * _BLOCK, self.size)
            data = os.pread(self._fd, stop - start, start)
            if len(data) != stop - start:
                raise ELFError(f"file shrank while reading {what}")
            for position in range(start, stop, _BLOCK):
                blocks[position // _BLOCK] = data[position - start : position - start + _BLOCK]
        base = first * _BLOCK
        if first == last:
            return blocks[first][offset - base : end - base]
        joined = b"".join(blocks[index] for index in range(first, last + 1))
        return joined[offset - base : end - base]


def _decode(raw: bytes) -> str:
    # ELF strings are bytes.  surrogateescape keeps undecodable bytes round-trippable with
    # os.fsencode(), which matters because DT_NEEDED and DT_RUNPATH name files.
    return raw.decode("utf-8", "surrogateescape")


class _StringTable:
    """The dynamic string table (DT_STRTAB/DT_STRSZ), read one string at a time."""

    __slots__ = ("_offset", "_reader", "_size")

    def __init__(self, reader: _Reader, offset: int, size: int) -> None:
        if size > _MAX_STRTAB:
            raise ELFError(f"dynamic string table is implausibly large ({size} bytes)")
        if offset + size > reader.size:
            raise ELFError(
                f"dynamic string table (offset {offset:#x}, {size} bytes) extends past the end "
                f"of the file ({reader.size} bytes)"
            )
        self._reader = reader
        self._offset = offset
        self._size = size

    def get(self, index: int, what: str) -> str:
        if index >= self._size:
            raise ELFError(
                f"{what} string offset {index:#x} is outside the dynamic string table "
                f"({self._size} bytes)"
            )
        position = self._offset + index
        limit = self._offset + self._size
        parts: list[bytes] = []
        while position < limit:
            chunk_end = min(limit, (position // _BLOCK + 1) * _BLOCK)
            chunk = self._reader.read(position, chunk_end - position, f"{what} string")
            nul = chunk.find(0)
            if nul != -1:
                parts.append(chunk[:nul])
                return _decode(b"".join(parts))
            parts.append(chunk)
            position = chunk_end
        raise ELFError(f"{what} string at offset {index:#x} is not NUL-terminated")


class _AddressSpace:
    """Maps virtual addresses to file offsets through the PT_LOAD segments."""

    __slots__ = ("_loads",)

    def __init__(self, segments: list[_Segment]) -> None:
        self._loads = [s for s in segments if s.p_type == _PT_LOAD]

    def translate(self, address: int, length: int, what: str) -> tuple[int, int]:
        """Return (file offset, bytes of file image left in that segment) for *address*.

        The whole range ``[address, address + length)`` must lie in the file-backed part
        of one PT_LOAD segment: the part beyond p_filesz is zero-filled memory, which no
        data the loader reads can legitimately live in.
        """
        for segment in self._loads:
            delta = address - segment.vaddr
            if delta >= 0 and delta + length <= segment.filesz:
                return segment.offset + delta, segment.filesz - delta
        raise ELFError(
            f"{what} at address {address:#x} is not inside the file image of any PT_LOAD segment"
        )


class _Budget:
    """Caps the total number of version records visited, whatever the chains claim."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = _MAX_ENTRIES

    def spend(self, what: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise ELFError(f"too many {what} records (more than {_MAX_ENTRIES})")


def read_elf(path: str | os.PathLike[str]) -> ELFFile:
    """Read the dynamic-linking metadata of the ELF file at *path*.

    A file without ``PT_DYNAMIC`` (a static executable) or without program
    headers at all (a relocatable object) is valid; its dynamic fields are
    empty.

    :raises ELFError: if the file is not a regular file or not a valid ELF file.
    :raises OSError: if the file cannot be opened or read.
    """
    name = os.fspath(path)
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.  It
    # has no effect on regular files.
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ELFError("not a regular file")
        return _parse(_Reader(fd, info.st_size), name)
    finally:
        os.close(fd)


def _parse(reader: _Reader, path: str) -> ELFFile:
    ident = reader.read(0, min(_EI_NIDENT, reader.size), "e_ident")
    if ident[:4] != _ELFMAG:
        if len(ident) < 4 and _ELFMAG.startswith(ident):
            raise ELFError(f"file too short ({reader.size} bytes)")
        raise ELFError(f"bad magic {ident[:4]!r}")
    if len(ident) < _EI_NIDENT:
        raise ELFError(f"file too short ({reader.size} bytes)")
    if ident[_EI_CLASS] not in (_ELFCLASS32, _ELFCLASS64):
        raise ELFError(f"unknown EI_CLASS {ident[_EI_CLASS]}")
    if ident[_EI_DATA] not in (_ELFDATA2LSB, _ELFDATA2MSB):
        raise ELFError(f"unknown EI_DATA {ident[_EI_DATA]}")
    # glibc's open_verify rejects any other version: the layout is only defined for 1.
    if ident[_EI_VERSION] != _EV_CURRENT:
        raise ELFError(f"unsupported EI_VERSION {ident[_EI_VERSION]}")
    is64 = ident[_EI_CLASS] == _ELFCLASS64
    little = ident[_EI_DATA] == _ELFDATA2LSB
    fmt = _FORMATS[is64, little]

    (
        e_type,
        e_machine,
        e_version,
        _e_entry,
        e_phoff,
        e_shoff,
        e_flags,
        _e_ehsize,
        e_phentsize,
        e_phnum,
        _e_shentsize,
        _e_shnum,
        _e_shstrndx,
    ) = fmt.ehdr.unpack(reader.read(_EI_NIDENT, fmt.ehdr.size, "ELF header"))
    if e_version != _EV_CURRENT:
        raise ELFError(f"unsupported e_version {e_version}")

    segments = _read_program_headers(reader, fmt, e_phoff, e_phentsize, e_phnum, e_shoff)
    interpreter = _read_interpreter(reader, segments)

    dynamic = [s for s in segments if s.p_type == _PT_DYNAMIC]
    if len(dynamic) > 1:
        # The loader would silently use the last one; a linker never emits two.  Refusing to
        # guess is the honest answer for a diagnostic tool.
        raise ELFError(f"{len(dynamic)} PT_DYNAMIC segments")
    fields = _DynamicFields()
    if dynamic:
        fields = _read_dynamic(reader, fmt, segments, dynamic[0])

    return ELFFile(
        path=path,
        elf_class=64 if is64 else 32,
        little_endian=little,
        osabi=ident[_EI_OSABI],
        file_type=e_type,
        machine=e_machine,
        flags=e_flags,
        interpreter=interpreter,
        soname=fields.soname,
        needed=fields.needed,
        rpath=fields.rpath,
        runpath=fields.runpath,
        version_needs=fields.version_needs,
        version_definitions=fields.version_definitions,
    )


def _read_program_headers(
    reader: _Reader, fmt: _Formats, phoff: int, phentsize: int, phnum: int, shoff: int
) -> list[_Segment]:
    if phnum == _PN_XNUM:
        if shoff == 0:
            raise ELFError("e_phnum is PN_XNUM but there is no section header table")
        (phnum,) = fmt.u32.unpack(
            reader.read(shoff + fmt.shdr_info_offset, 4, "section header 0 (extended e_phnum)")
        )
    if phnum == 0:
        return []
    if phnum > _MAX_ENTRIES:
        raise ELFError(f"implausible number of program headers ({phnum})")
    # glibc's open_verify insists on the exact size for the class ("ELF file's phentsize
    # not the expected size"); anything else means we would misread every entry.
    if phentsize != fmt.phdr.size:
        raise ELFError(f"e_phentsize is {phentsize}, expected {fmt.phdr.size}")
    table = reader.read(phoff, phnum * phentsize, "program header table")
    i_type, i_offset, i_vaddr, i_filesz = fmt.phdr_fields
    return [
        _Segment(entry[i_type], entry[i_offset], entry[i_vaddr], entry[i_filesz])
        for entry in fmt.phdr.iter_unpack(table)
    ]


def _read_interpreter(reader: _Reader, segments: list[_Segment]) -> str | None:
    # Linux uses the first PT_INTERP (fs/binfmt_elf.c), so do we.
    interp = next((s for s in segments if s.p_type == _PT_INTERP), None)
    if interp is None:
        return None
    if not 0 < interp.filesz <= _MAX_INTERP:
        raise ELFError(f"PT_INTERP has implausible size {interp.filesz}")
    raw = reader.read(interp.offset, interp.filesz, "PT_INTERP")
    nul = raw.find(0)
    if nul == -1:
        raise ELFError("PT_INTERP is not NUL-terminated")
    return _decode(raw[:nul])


@dataclass(frozen=True)
class _DynamicFields:
    soname: str | None = None
    needed: tuple[str, ...] = ()
    rpath: str | None = None
    runpath: str | None = None
    version_needs: tuple[VersionNeed, ...] = ()
    version_definitions: tuple[str, ...] = ()


def _read_dynamic(
    reader: _Reader, fmt: _Formats, segments: list[_Segment], dynamic: _Segment
) -> _DynamicFields:
    count = dynamic.filesz // fmt.dyn.size
    if count > _MAX_ENTRIES:
        raise ELFError(f"implausibly large PT_DYNAMIC ({dynamic.filesz} bytes)")
    raw = reader.read(dynamic.offset, count * fmt.dyn.size, "PT_DYNAMIC")

    needed: list[int] = []
    # Like glibc's elf_get_dynamic_info, a repeated single-valued tag overrides earlier ones.
    single: dict[int, int] = {}
    wanted = {
        _DT_STRTAB,
        _DT_STRSZ,
        _DT_SONAME,
        _DT_RPATH,
        _DT_RUNPATH,
        _DT_VERDEF,
        _DT_VERDEFNUM,
        _DT_VERNEED,
        _DT_VERNEEDNUM,
    }
    for tag, value in fmt.dyn.iter_unpack(raw):
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED:
            needed.append(value)
        elif tag in wanted:
            single[tag] = value

    uses_strings = needed or any(
        tag in single for tag in (_DT_SONAME, _DT_RPATH, _DT_RUNPATH, _DT_VERDEF, _DT_VERNEED)
    )
    if not uses_strings:
        return _DynamicFields()
    if _DT_STRTAB not in single:
        raise ELFError("dynamic section references strings but has no DT_STRTAB")
    space = _AddressSpace(segments)
    strtab_offset, available = space.translate(single[_DT_STRTAB], 1, "DT_STRTAB")
    # Without DT_STRSZ (which every linker emits) the table can extend at most to the end of
    # the segment's file image.
    strings = _StringTable(reader, strtab_offset, single.get(_DT_STRSZ, available))

    def optional(tag: int, what: str) -> str | None:
        return strings.get(single[tag], what) if tag in single else None

    budget = _Budget()
    version_needs: tuple[VersionNeed, ...] = ()
    if _DT_VERNEED in single:
        version_needs = _read_verneed(
            reader, fmt, space, strings, budget, single[_DT_VERNEED], single.get(_DT_VERNEEDNUM)
        )
    version_definitions: tuple[str, ...] = ()
    if _DT_VERDEF in single:
        version_definitions = _read_verdef(
            reader, fmt, space, strings, budget, single[_DT_VERDEF], single.get(_DT_VERDEFNUM)
        )
    return _DynamicFields(
        soname=optional(_DT_SONAME, "DT_SONAME"),
        needed=tuple(strings.get(offset, "DT_NEEDED") for offset in needed),
        rpath=optional(_DT_RPATH, "DT_RPATH"),
        runpath=optional(_DT_RUNPATH, "DT_RUNPATH"),
        version_needs=version_needs,
        version_definitions=version_definitions,
    )


def _chain_length(count: int | None, what: str) -> int:
    # DT_VERNEEDNUM/DT_VERDEFNUM bound the chain; glibc itself only follows the *_next links
    # until a zero, so without the count the chain is bounded by _MAX_ENTRIES alone.
    if count is None:
        return _MAX_ENTRIES
    if count > _MAX_ENTRIES:
        raise ELFError(f"implausible {what} ({count})")
    return count


def _record(
    reader: _Reader, space: _AddressSpace, layout: struct.Struct, address: int, what: str
) -> tuple[int, ...]:
    offset, _ = space.translate(address, layout.size, what)
    values: tuple[int, ...] = layout.unpack(reader.read(offset, layout.size, what))
    return values


def _read_verneed(
    reader: _Reader,
    fmt: _Formats,
    space: _AddressSpace,
    strings: _StringTable,
    budget: _Budget,
    address: int,
    count: int | None,
) -> tuple[VersionNeed, ...]:
    result: list[VersionNeed] = []
    seen: set[int] = set()
    for _ in range(_chain_length(count, "DT_VERNEEDNUM")):
        if address in seen:
            raise ELFError("cycle in the vn_next chain of DT_VERNEED")
        seen.add(address)
        budget.spend("version")
        vn_version, vn_cnt, vn_file, vn_aux, vn_next = _record(
            reader, space, fmt.verneed, address, "Elf_Verneed"
        )
        if vn_version != _VER_NEED_CURRENT:
            raise ELFError(f"unsupported vn_version {vn_version}")
        versions: list[str] = []
        aux_address = (address + vn_aux) & fmt.addr_mask
        aux_seen: set[int] = set()
        for _ in range(vn_cnt):
            if aux_address in aux_seen:
                raise ELFError("cycle in the vna_next chain of DT_VERNEED")
            aux_seen.add(aux_address)
            budget.spend("version")
            _hash, _flags, _other, vna_name, vna_next = _record(
                reader, space, fmt.vernaux, aux_address, "Elf_Vernaux"
            )
            versions.append(strings.get(vna_name, "vna_name"))
            if vna_next == 0:
                break
            # Address arithmetic wraps at the class's word size, as in a loader of that class.
            aux_address = (aux_address + vna_next) & fmt.addr_mask
        result.append(VersionNeed(strings.get(vn_file, "vn_file"), tuple(versions)))
        if vn_next == 0:
            break
        address = (address + vn_next) & fmt.addr_mask
    else:
        if count is None:
            raise ELFError(f"DT_VERNEED chain longer than {_MAX_ENTRIES} records")
    return tuple(result)


def _read_verdef(
    reader: _Reader,
    fmt: _Formats,
    space: _AddressSpace,
    strings: _StringTable,
    budget: _Budget,
    address: int,
    count: int | None,
) -> tuple[str, ...]:
    result: list[str] = []
    seen: set[int] = set()
    for _ in range(_chain_length(count, "DT_VERDEFNUM")):
        if address in seen:
            raise ELFError("cycle in the vd_next chain of DT_VERDEF")
        seen.add(address)
        budget.spend("version")
        vd_version, vd_flags, _ndx, vd_cnt, _hash, vd_aux, vd_next = _record(
            reader, space, fmt.verdef, address, "Elf_Verdef"
        )
        if vd_version != _VER_DEF_CURRENT:
            raise ELFError(f"unsupported vd_version {vd_version}")
        # The first Elf_Verdaux names the version; any further ones name its parents, which
        # the loader's version check does not use either (glibc dl-version.c).
        if vd_cnt and not vd_flags & _VER_FLG_BASE:
            aux_address = (address + vd_aux) & fmt.addr_mask
            vda_name, _vda_next = _record(reader, space, fmt.verdaux, aux_address, "Elf_Verdaux")
            result.append(strings.get(vda_name, "vda_name"))
        if vd_next == 0:
            break
        address = (address + vd_next) & fmt.addr_mask
    else:
        if count is None:
            raise ELFError(f"DT_VERDEF chain longer than {_MAX_ENTRIES} records")
    return tuple(result)
