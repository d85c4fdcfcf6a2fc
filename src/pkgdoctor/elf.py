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
from collections.abc import Callable
from typing import NamedTuple

# e_machine values and their architecture names are platform knowledge: pkgdoctor.platforms.
from pkgdoctor._fields import Fact, fact
from pkgdoctor.platforms import EM_S390 as _EM_S390
from pkgdoctor.platforms import EM_X86_64 as _EM_X86_64
from pkgdoctor.platforms import architecture_name

__all__ = [
    "DynamicSymbol",
    "ELFError",
    "ELFFile",
    "VersionNeed",
    "read_elf",
    "read_elf_bytes",
]


class ELFError(ValueError):
    """The file is not a valid ELF file, or is too damaged to be trusted.

    The message is ``"not a valid ELF file: <reason>"``; the bare reason is
    available as :attr:`reason`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a valid ELF file: {reason}")
        self.reason = reason


@fact
class VersionNeed(Fact):
    """One ``Elf_Verneed`` record: the symbol versions required from one library."""

    #: ``vn_file``: the needed library, as named in ``DT_NEEDED`` (e.g. ``"libc.so.6"``).
    file: str
    #: ``vna_name`` of each ``Elf_Vernaux`` entry, in file order
    #: (e.g. ``("GLIBC_2.2.5", "GLIBC_2.34")``).
    versions: tuple[str, ...]


class DynamicSymbol(NamedTuple):
    """One entry of the dynamic symbol table (``DT_SYMTAB``), with its symbol version.

    A NamedTuple: a large C++ library has hundreds of thousands of dynamic symbols.
    """

    #: ``st_name``, e.g. ``"memcpy"``.
    name: str
    #: ``st_shndx != SHN_UNDEF``: the object defines the symbol (else it imports it).
    defined: bool
    #: ``ELF_ST_BIND(st_info)``: 0 = STB_LOCAL, 1 = STB_GLOBAL, 2 = STB_WEAK.
    binding: int
    #: ``ELF_ST_TYPE(st_info)``: 0 = STT_NOTYPE, 1 = STT_OBJECT, 2 = STT_FUNC, ...
    type: int
    #: The symbol version from ``DT_VERSYM`` (``"GLIBC_2.34"``), or None if unversioned.
    version: str | None
    #: For an imported symbol with a version: the library that must define that version
    #: (``vn_file`` of its ``Elf_Verneed``, e.g. ``"libc.so.6"``); otherwise None.
    library: str | None


@fact
class ELFFile(Fact):
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
    #: The dynamic symbol table, when read with ``symbols=True`` (None otherwise).
    symbols: tuple[DynamicSymbol, ...] | None = None
    #: ``GNU_PROPERTY_X86_ISA_1_NEEDED`` of the ``NT_GNU_PROPERTY_TYPE_0`` note (a bit set:
    #: 1 = x86-64 baseline, 2 = v2, 4 = v3, 8 = v4), when read with ``properties=True`` and
    #: present; glibc 2.33+ refuses to load an object whose level the CPU lacks.
    x86_isa_needed: int | None = None

    @property
    def architecture(self) -> str:
        """The machine name as ``uname -m`` (and auditwheel) spell it, e.g. ``"x86_64"``."""
        return architecture_name(self.machine, self.elf_class, self.little_endian, self.flags)


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
_PT_NOTE = 4
# GNU extension (binutils include/elf/common.h): the segment holding .note.gnu.property.
_PT_GNU_PROPERTY = 0x6474E553

# gABI "Sections", extended numbering: e_phnum == PN_XNUM means the real count is in sh_info
# of section header 0.  glibc's loader does not implement it: open_verify (elf/dl-load.c)
# takes e_phnum as the count, reads e_phnum * sizeof (ElfW(Phdr)) bytes at e_phoff and fails
# with "cannot read file data" when the file is shorter; linkers never emit it for a loadable
# object (core dumps use it).  So an object with PN_XNUM is one the loader cannot load.
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
# The dynamic symbol table and what sizes it: gABI DT_HASH (nchain = number of symbols),
# GNU DT_GNU_HASH (https://sourceware.org/legacy-ml/binutils/2006-10/msg00377.html) and
# DT_VERSYM, the Elf_Half version index of each symbol (LSB "Symbol Versioning").
_DT_HASH = 4
_DT_SYMTAB = 6
_DT_SYMENT = 11
_DT_GNU_HASH = 0x6FFFFEF5
_DT_VERSYM = 0x6FFFFFF0
_SHN_UNDEF = 0
# DT_VERSYM: index 0 is local, 1 is the unversioned global; bit 15 marks a hidden version.
_VERSYM_HIDDEN = 0x8000
# Notes (gABI "Note Section") and GNU properties (the x86-64 psABI, "Program Property").
_NT_GNU_PROPERTY_TYPE_0 = 5
_GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002

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
# The most dynamic symbols we read: libtorch_cpu.so, among the largest, has ~200,000.
_MAX_SYMBOLS = 2_000_000
_MAX_NOTES = 64 * 1024
# Reads go through a cache of aligned blocks so that neighbouring small reads (version
# records, strings) cost one pread between them.
_BLOCK = 4096


class _Formats:
    """Precompiled struct layouts for one (class, byte order) combination."""

    __slots__ = (
        "addr_mask",
        "dyn",
        "ehdr",
        "nhdr",
        "phdr",
        "phdr_fields",
        "prop",
        "sym",
        "sym_fields",
        "u32",
        "u64",
        "verdaux",
        "verdef",
        "vernaux",
        "verneed",
        "versym",
    )

    def __init__(self, is64: bool, little: bool) -> None:
        order = "<" if little else ">"
        if is64:
            # Elf64_Ehdr after e_ident: e_type, e_machine, e_version, e_entry, e_phoff, e_shoff,
            # e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx.
            self.ehdr = struct.Struct(order + "HHIQQQIHHHHHH")
            # Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align.
            self.phdr = struct.Struct(order + "IIQQQQQQ")
            self.phdr_fields = (0, 2, 3, 5, 7)  # p_type, p_offset, p_vaddr, p_filesz, p_align
            # Elf64_Dyn: d_tag (Sxword, read unsigned: every tag we use is positive), d_val.
            self.dyn = struct.Struct(order + "QQ")
            self.addr_mask = (1 << 64) - 1
            # Elf64_Sym: st_name, st_info, st_other, st_shndx, st_value, st_size.
            self.sym = struct.Struct(order + "IBBHQQ")
            self.sym_fields = (0, 1, 3)  # st_name, st_info, st_shndx
        else:
            self.ehdr = struct.Struct(order + "HHIIIIIHHHHHH")
            # Elf32_Phdr: p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align.
            self.phdr = struct.Struct(order + "IIIIIIII")
            self.phdr_fields = (0, 1, 2, 4, 7)
            self.dyn = struct.Struct(order + "II")
            self.addr_mask = (1 << 32) - 1
            # Elf32_Sym: st_name, st_value, st_size, st_info, st_other, st_shndx.
            self.sym = struct.Struct(order + "IIIBBH")
            self.sym_fields = (0, 3, 5)
        self.u32 = struct.Struct(order + "I")
        self.u64 = struct.Struct(order + "Q")
        # Elf_Nhdr: n_namesz, n_descsz, n_type; a GNU property: pr_type, pr_datasz.
        self.nhdr = struct.Struct(order + "III")
        self.prop = struct.Struct(order + "II")
        self.versym = struct.Struct(order + "H")
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
    align: int


class _Reader:
    """Bounded random access to a file's bytes, through a cache of aligned blocks.

    ``pread(length, offset)`` returns the bytes there (``os.pread`` on an open file, a slice
    of bytes in memory, a seek in a zip member).
    """

    __slots__ = ("_blocks", "_pread", "size")

    def __init__(self, pread: Callable[[int, int], bytes], size: int) -> None:
        self._pread = pread
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
            data = self._pread(stop - start, start)
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

    __slots__ = ("_blob", "_offset", "_reader", "_size")

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
        self._blob: bytes | None = None

    def blob(self) -> bytes:
        """The whole table, read once: the symbol table names thousands of strings."""
        if self._blob is None:
            self._blob = self._reader.read(self._offset, self._size, "dynamic string table")
        return self._blob

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


def read_elf(
    path: str | os.PathLike[str], *, symbols: bool = False, properties: bool = False
) -> ELFFile:
    """Read the dynamic-linking metadata of the ELF file at *path*.

    A file without ``PT_DYNAMIC`` (a static executable) or without program
    headers at all (a relocatable object) is valid; its dynamic fields are
    empty.  *symbols* also reads the dynamic symbol table with each symbol's
    version (:attr:`ELFFile.symbols`); *properties* the GNU property note
    (:attr:`ELFFile.x86_isa_needed`).  Both cost extra reads, so they are off
    by default.

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

        def pread(length: int, offset: int) -> bytes:
            return os.pread(fd, length, offset)

        return _parse(_Reader(pread, info.st_size), name, symbols, properties)
    finally:
        os.close(fd)


def read_elf_bytes(
    data: bytes, name: str, *, symbols: bool = False, properties: bool = False
) -> ELFFile:
    """Like :func:`read_elf`, for an ELF file already in memory (e.g. a member of a wheel).

    >>> read_elf_bytes(b"MZ", "x.dll")
    Traceback (most recent call last):
    ...
    pkgdoctor.elf.ELFError: not a valid ELF file: bad magic b'MZ'

    :raises ELFError: if *data* is not a valid ELF file.
    """
    view = memoryview(data)

    def pread(length: int, offset: int) -> bytes:
        return bytes(view[offset : offset + length])

    return _parse(_Reader(pread, len(data)), name, symbols, properties)


_SHT_NOBITS = 8  # .bss: occupies no bytes in the file
_SHN_UNDEF = 0
#: Section header tables read at most this many entries (e_shnum is 16 bits; 0 means the
#: extended count of the first entry's sh_size, which is left unread: no known ELF needs it).
_MAX_SECTIONS = 0xFFFF
_MAX_SHSTRTAB = 1 << 20


def section_extents(
    pread: Callable[[int, int], bytes], size: int, names: frozenset[str]
) -> list[tuple[int, int]] | None:
    """``(offset, size)`` in the file of each section named in ``names`` (``.rodata``),
    from the section header table; None when it cannot be read (none, stripped, malformed,
    not ELF): the caller then reads the whole file. Sections are a linker's view, not the
    loader's (ld.so never reads them), so only an optimisation may rely on them."""
    reader = _Reader(pread, size)
    try:
        ident = reader.read(0, _EI_NIDENT, "e_ident")
        if ident[:4] != _ELFMAG or ident[_EI_CLASS] not in (_ELFCLASS32, _ELFCLASS64):
            return None
        if ident[_EI_DATA] not in (_ELFDATA2LSB, _ELFDATA2MSB):
            return None
        is64 = ident[_EI_CLASS] == _ELFCLASS64
        order = "<" if ident[_EI_DATA] == _ELFDATA2LSB else ">"
        fmt = _FORMATS[is64, order == "<"]
        header = fmt.ehdr.unpack(reader.read(_EI_NIDENT, fmt.ehdr.size, "ELF header"))
        shoff, shentsize, shnum, shstrndx = header[5], header[10], header[11], header[12]
        # Elf64_Shdr / Elf32_Shdr: sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, ...
        shdr = struct.Struct(order + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII"))
        if not shoff or not shnum or shnum > _MAX_SECTIONS or shentsize < shdr.size:
            return None
        if shstrndx == _SHN_UNDEF or shstrndx >= shnum:
            return None
        table = reader.read(shoff, shnum * shentsize, "section headers")
        entries = [shdr.unpack_from(table, i * shentsize) for i in range(shnum)]
        strtab = entries[shstrndx]
        if strtab[5] > _MAX_SHSTRTAB:
            return None
        strings = reader.read(strtab[4], strtab[5], "section names")
        found = []
        for entry in entries:
            name_end = strings.find(b"\0", entry[0])
            if entry[0] >= len(strings) or name_end < 0:
                continue
            name = strings[entry[0] : name_end].decode("ascii", "replace")
            if name in names and entry[1] != _SHT_NOBITS:
                offset, length = entry[4], entry[5]
                if offset + length > size:
                    return None
                found.append((offset, length))
        return found
    except (ELFError, struct.error):
        return None


def read_elf_from(
    pread: Callable[[int, int], bytes],
    size: int,
    name: str,
    *,
    symbols: bool = False,
    properties: bool = False,
) -> ELFFile:
    """Like :func:`read_elf`, reading through ``pread(length, offset)`` from *size* bytes."""
    return _parse(_Reader(pread, size), name, symbols, properties)


def _parse(reader: _Reader, path: str, symbols: bool = False, properties: bool = False) -> ELFFile:
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
        _e_shoff,
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

    segments = _read_program_headers(reader, fmt, e_phoff, e_phentsize, e_phnum)
    _check_load_segments(reader, segments)
    interpreter = _read_interpreter(reader, segments)

    dynamic = [s for s in segments if s.p_type == _PT_DYNAMIC]
    if len(dynamic) > 1:
        # The loader would silently use the last one; a linker never emits two.  Refusing to
        # guess is the honest answer for a diagnostic tool.
        raise ELFError(f"{len(dynamic)} PT_DYNAMIC segments")
    fields = _DynamicFields()
    if dynamic:
        # The DT_HASH words of 64-bit s390 objects are 8 bytes (binutils elf64-s390.c).
        hash_word = 8 if is64 and e_machine == _EM_S390 else 4
        fields = _read_dynamic(
            reader, fmt, segments, dynamic[0], symbols=symbols, hash_word=hash_word
        )
    x86_isa_needed = None
    if properties and e_machine == _EM_X86_64:
        x86_isa_needed = _read_x86_isa_needed(reader, fmt, segments, is64)

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
        symbols=(fields.symbols or ()) if symbols else None,
        x86_isa_needed=x86_isa_needed,
    )


def _read_program_headers(
    reader: _Reader, fmt: _Formats, phoff: int, phentsize: int, phnum: int
) -> list[_Segment]:
    if phnum == _PN_XNUM:
        raise ELFError(
            "e_phnum is PN_XNUM (0xffff, extended program header numbering), which the "
            "dynamic loader does not support"
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
    i_type, i_offset, i_vaddr, i_filesz, i_align = fmt.phdr_fields
    return [
        _Segment(entry[i_type], entry[i_offset], entry[i_vaddr], entry[i_filesz], entry[i_align])
        for entry in fmt.phdr.iter_unpack(table)
    ]


def _check_load_segments(reader: _Reader, segments: list[_Segment]) -> None:
    """Every PT_LOAD segment's file image must lie inside the file.

    glibc's loader does not check this (_dl_map_object_from_fd in elf/dl-load.c only checks
    that p_vaddr and p_offset are congruent modulo the page size): it mmaps the segment, and
    the first touch of a page that lies wholly past the end of the file kills the process with
    SIGBUS (mmap(2)); bytes past the end in the last partial page read as zeros.  Either way
    the file is truncated.  A segment with p_filesz 0 (all .bss) maps no file bytes at all.
    """
    for number, segment in enumerate(segments):
        if segment.p_type == _PT_LOAD and segment.filesz:
            end = segment.offset + segment.filesz
            if end > reader.size:
                raise ELFError(
                    f"PT_LOAD segment {number} (offset {segment.offset:#x}, {segment.filesz} "
                    f"bytes) extends past the end of the file ({reader.size} bytes): "
                    "the file is truncated"
                )


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


@fact
class _DynamicFields(Fact):
    soname: str | None = None
    needed: tuple[str, ...] = ()
    rpath: str | None = None
    runpath: str | None = None
    version_needs: tuple[VersionNeed, ...] = ()
    version_definitions: tuple[str, ...] = ()
    symbols: tuple[DynamicSymbol, ...] | None = None


def _read_dynamic(
    reader: _Reader,
    fmt: _Formats,
    segments: list[_Segment],
    dynamic: _Segment,
    *,
    symbols: bool = False,
    hash_word: int = 4,
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
    if symbols:
        wanted |= {_DT_HASH, _DT_SYMTAB, _DT_SYMENT, _DT_GNU_HASH, _DT_VERSYM}
    for tag, value in fmt.dyn.iter_unpack(raw):
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED:
            needed.append(value)
        elif tag in wanted:
            single[tag] = value

    uses_strings = needed or any(
        tag in single
        for tag in (_DT_SONAME, _DT_RPATH, _DT_RUNPATH, _DT_VERDEF, _DT_VERNEED, _DT_SYMTAB)
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
    # Version index (vna_other, vd_ndx) -> (version, library): DT_VERSYM refers to these.
    index: dict[int, tuple[str, str | None]] | None = {} if symbols else None
    version_needs: tuple[VersionNeed, ...] = ()
    if _DT_VERNEED in single:
        version_needs = _read_verneed(
            reader,
            fmt,
            space,
            strings,
            budget,
            single[_DT_VERNEED],
            single.get(_DT_VERNEEDNUM),
            index,
        )
    version_definitions: tuple[str, ...] = ()
    if _DT_VERDEF in single:
        version_definitions = _read_verdef(
            reader,
            fmt,
            space,
            strings,
            budget,
            single[_DT_VERDEF],
            single.get(_DT_VERDEFNUM),
            index,
        )
    symbol_table = None
    if index is not None and _DT_SYMTAB in single:
        symbol_table = _read_symbols(reader, fmt, space, strings, single, index, hash_word)
    return _DynamicFields(
        soname=optional(_DT_SONAME, "DT_SONAME"),
        needed=tuple(strings.get(offset, "DT_NEEDED") for offset in needed),
        rpath=optional(_DT_RPATH, "DT_RPATH"),
        runpath=optional(_DT_RUNPATH, "DT_RUNPATH"),
        version_needs=version_needs,
        version_definitions=version_definitions,
        symbols=symbol_table,
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
    index: dict[int, tuple[str, str | None]] | None = None,
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
        others: list[int] = []  # vna_other of each version: its DT_VERSYM index
        aux_address = (address + vn_aux) & fmt.addr_mask
        aux_seen: set[int] = set()
        for _ in range(vn_cnt):
            if aux_address in aux_seen:
                raise ELFError("cycle in the vna_next chain of DT_VERNEED")
            aux_seen.add(aux_address)
            budget.spend("version")
            _hash, _flags, vna_other, vna_name, vna_next = _record(
                reader, space, fmt.vernaux, aux_address, "Elf_Vernaux"
            )
            versions.append(strings.get(vna_name, "vna_name"))
            others.append(vna_other & ~_VERSYM_HIDDEN)
            if vna_next == 0:
                break
            # Address arithmetic wraps at the class's word size, as in a loader of that class.
            aux_address = (aux_address + vna_next) & fmt.addr_mask
        file = strings.get(vn_file, "vn_file")
        result.append(VersionNeed(file, tuple(versions)))
        if index is not None:
            for other, version in zip(others, versions):
                index[other] = (version, file)
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
    index: dict[int, tuple[str, str | None]] | None = None,
) -> tuple[str, ...]:
    result: list[str] = []
    seen: set[int] = set()
    for _ in range(_chain_length(count, "DT_VERDEFNUM")):
        if address in seen:
            raise ELFError("cycle in the vd_next chain of DT_VERDEF")
        seen.add(address)
        budget.spend("version")
        vd_version, vd_flags, vd_ndx, vd_cnt, _hash, vd_aux, vd_next = _record(
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
            if index is not None:
                index.setdefault(vd_ndx & ~_VERSYM_HIDDEN, (result[-1], None))
        if vd_next == 0:
            break
        address = (address + vd_next) & fmt.addr_mask
    else:
        if count is None:
            raise ELFError(f"DT_VERDEF chain longer than {_MAX_ENTRIES} records")
    return tuple(result)


# --- Dynamic symbols -----------------------------------------------------------------------


def _read_symbols(
    reader: _Reader,
    fmt: _Formats,
    space: _AddressSpace,
    strings: _StringTable,
    single: dict[int, int],
    index: dict[int, tuple[str, str | None]],
    hash_word: int,
) -> tuple[DynamicSymbol, ...]:
    entry_size = single.get(_DT_SYMENT, fmt.sym.size)
    if entry_size != fmt.sym.size:
        raise ELFError(f"DT_SYMENT is {entry_size}, expected {fmt.sym.size}")
    count = _symbol_count(reader, fmt, space, single, hash_word)
    if count > _MAX_SYMBOLS:
        raise ELFError(f"implausible number of dynamic symbols ({count})")
    if count == 0:
        return ()
    offset, _ = space.translate(single[_DT_SYMTAB], count * entry_size, "DT_SYMTAB")
    raw = reader.read(offset, count * entry_size, "dynamic symbol table")
    versions: list[int] | None = None
    if _DT_VERSYM in single:
        versym_offset, _ = space.translate(single[_DT_VERSYM], count * 2, "DT_VERSYM")
        versym = reader.read(versym_offset, count * 2, "DT_VERSYM")
        versions = [value & ~_VERSYM_HIDDEN for (value,) in fmt.versym.iter_unpack(versym)]
    blob = strings.blob()
    i_name, i_info, i_shndx = fmt.sym_fields
    result: list[DynamicSymbol] = []
    for number, entry in enumerate(fmt.sym.iter_unpack(raw)):
        start = entry[i_name]
        end = blob.find(0, start)
        if start >= len(blob) or end == -1:
            raise ELFError(f"name of dynamic symbol {number} is outside the string table")
        name = _decode(blob[start:end])
        defined = entry[i_shndx] != _SHN_UNDEF
        info = entry[i_info]
        version = library = None
        if versions is not None and versions[number] > 1:
            found = index.get(versions[number])
            if found is None:
                raise ELFError(
                    f"dynamic symbol {name!r} has version index {versions[number]}, "
                    "which no version record defines"
                )
            version = found[0]
            library = None if defined else found[1]
        result.append(DynamicSymbol(name, defined, info >> 4, info & 0xF, version, library))
    return tuple(result)


def _symbol_count(
    reader: _Reader, fmt: _Formats, space: _AddressSpace, single: dict[int, int], hash_word: int
) -> int:
    """How many entries DT_SYMTAB has: the dynamic section does not say, its hash tables do."""
    if _DT_GNU_HASH in single:
        return _gnu_hash_count(reader, fmt, space, single[_DT_GNU_HASH])
    if _DT_HASH in single:
        # gABI hash table: nbucket, nchain, ...; nchain equals the number of symbols.
        layout = fmt.u64 if hash_word == 8 else fmt.u32
        offset, _ = space.translate(single[_DT_HASH] + hash_word, hash_word, "DT_HASH")
        (nchain,) = layout.unpack(reader.read(offset, hash_word, "DT_HASH"))
        return int(nchain)
    # Neither table: linkers place .dynsym right before .dynstr.
    gap = single.get(_DT_STRTAB, 0) - single[_DT_SYMTAB]
    return gap // fmt.sym.size if gap > 0 else 0


def _gnu_hash_count(reader: _Reader, fmt: _Formats, space: _AddressSpace, address: int) -> int:
    """The number of symbols of a DT_GNU_HASH table: one past the last symbol of the
    highest bucket's chain (the last entry of a chain has its low bit set)."""
    header = struct.Struct(fmt.u32.format[0] + "IIII")
    offset, _ = space.translate(address, header.size, "DT_GNU_HASH")
    nbuckets, symoffset, bloom_size, _shift = header.unpack(
        reader.read(offset, header.size, "DT_GNU_HASH")
    )
    if nbuckets > _MAX_SYMBOLS or bloom_size > _MAX_SYMBOLS:
        raise ELFError(f"implausible DT_GNU_HASH table ({nbuckets} buckets)")
    word = 8 if fmt.addr_mask > 0xFFFFFFFF else 4  # bloom filter words are ElfW(Addr)
    buckets_address = address + header.size + bloom_size * word
    offset, _ = space.translate(buckets_address, nbuckets * 4, "DT_GNU_HASH buckets")
    raw = reader.read(offset, nbuckets * 4, "DT_GNU_HASH buckets")
    highest = max((value for (value,) in fmt.u32.iter_unpack(raw)), default=0)
    if highest < symoffset:
        return int(symoffset)
    chain_address = buckets_address + nbuckets * 4
    for symbol in range(highest, _MAX_SYMBOLS + 1):
        (value,) = _record(
            reader, space, fmt.u32, chain_address + (symbol - symoffset) * 4, "DT_GNU_HASH chain"
        )
        if value & 1:
            return symbol + 1
    raise ELFError(f"DT_GNU_HASH chain longer than {_MAX_SYMBOLS} symbols")


# --- GNU properties ------------------------------------------------------------------------


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) & ~(alignment - 1)


def _read_x86_isa_needed(
    reader: _Reader, fmt: _Formats, segments: list[_Segment], is64: bool
) -> int | None:
    """``GNU_PROPERTY_X86_ISA_1_NEEDED`` from the first GNU property note, as glibc's
    ``_dl_process_pt_gnu_property`` reads it (PT_GNU_PROPERTY, else the PT_NOTE segments)."""
    properties = [s for s in segments if s.p_type == _PT_GNU_PROPERTY]
    for segment in properties or [s for s in segments if s.p_type == _PT_NOTE]:
        size = min(segment.filesz, _MAX_NOTES)  # real note segments are a few hundred bytes
        data = reader.read(segment.offset, size, "PT_NOTE")
        alignment = 8 if segment.align == 8 else 4
        position = 0
        while position + fmt.nhdr.size <= len(data):
            namesz, descsz, note_type = fmt.nhdr.unpack_from(data, position)
            name_start = position + fmt.nhdr.size
            desc_start = name_start + _align(namesz, 4)
            desc_end = desc_start + descsz
            if desc_end > len(data):
                break
            name = data[name_start : name_start + namesz]
            if note_type == _NT_GNU_PROPERTY_TYPE_0 and name == b"GNU\0":
                return _x86_isa_property(data[desc_start:desc_end], fmt, is64)
            position = _align(desc_end, alignment)
    return None


def _x86_isa_property(desc: bytes, fmt: _Formats, is64: bool) -> int | None:
    position = 0
    while position + fmt.prop.size <= len(desc):
        pr_type, pr_datasz = fmt.prop.unpack_from(desc, position)
        start = position + fmt.prop.size
        if pr_type == _GNU_PROPERTY_X86_ISA_1_NEEDED and pr_datasz == 4 and start + 4 <= len(desc):
            (value,) = fmt.u32.unpack_from(desc, start)
            return int(value)
        position = _align(start + pr_datasz, 8 if is64 else 4)
    return None
