"""Read glibc's ``/etc/ld.so.cache``, defensively.

``ldconfig`` writes the cache; the dynamic loader consults it to turn a
``DT_NEEDED`` soname into a path when ``DT_RUNPATH``/``LD_LIBRARY_PATH`` did
not find the library.  Three layouts exist, all written by today's ldconfig
(``ldconfig -c old|compat|new``) and all understood here:

``new`` (the default since glibc 2.32)
    A ``struct cache_file_new`` header (magic ``"glibc-ld.so.cache1.1"``), then
    ``nlibs`` ``struct file_entry_new`` records, then the string table, then an
    optional extension directory.
``compat``
    The ``old`` table first, then the ``new`` cache, aligned, hidden in what an
    old loader considers the string table.
``old`` (libc5 era)
    A ``struct cache_file`` header (magic ``"ld.so-1.7.0"``) and ``nlibs``
    ``struct file_entry`` records; strings follow the records.

The layouts are defined by glibc's ``sysdeps/generic/dl-cache.h`` and written
by ``elf/cache.c``: https://sourceware.org/git/?p=glibc.git;a=blob;f=sysdeps/generic/dl-cache.h

Every malformation is reported as :class:`LdCacheError`.
"""

from __future__ import annotations

import functools
import os
import struct
import sys

from pkgdoctor._fields import Fact, fact

__all__ = [
    "FLAG_AARCH64_LIB64",
    "FLAG_ARM_LIBHF",
    "FLAG_ARM_LIBSF",
    "FLAG_ELF",
    "FLAG_ELF_LIBC5",
    "FLAG_ELF_LIBC6",
    "FLAG_IA64_LIB64",
    "FLAG_LARCH_FLOAT_ABI_DOUBLE",
    "FLAG_LARCH_FLOAT_ABI_SOFT",
    "FLAG_LIBC4",
    "FLAG_MIPS64_LIBN32",
    "FLAG_MIPS64_LIBN32_NAN2008",
    "FLAG_MIPS64_LIBN64",
    "FLAG_MIPS64_LIBN64_NAN2008",
    "FLAG_MIPS_LIB32_NAN2008",
    "FLAG_POWERPC_LIB64",
    "FLAG_REQUIRED_MASK",
    "FLAG_RISCV_FLOAT_ABI_DOUBLE",
    "FLAG_RISCV_FLOAT_ABI_SOFT",
    "FLAG_S390_LIB64",
    "FLAG_SPARC_LIB64",
    "FLAG_TYPE_MASK",
    "FLAG_X8664_LIB64",
    "FLAG_X8664_LIBX32",
    "CacheEntry",
    "LdCache",
    "LdCacheError",
    "parse_ld_cache",
    "read_ld_cache",
]


class LdCacheError(ValueError):
    """The data is not a valid ld.so.cache.

    The message is ``"not a valid ld.so.cache: <reason>"``; the bare reason is
    available as :attr:`reason`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a valid ld.so.cache: {reason}")
        self.reason = reason


# --- Entry flags ---------------------------------------------------------------------------
#
# The flags word of an entry says what kind of library it is (low byte) and which ABI
# variant it needs (second byte).  ldconfig derives them from the ELF header
# (sysdeps/unix/sysv/linux/*/readelflib.c); the loader only accepts entries whose flags equal
# its own _DL_CACHE_DEFAULT_ID (sysdeps/unix/sysv/linux/*/dl-cache.h).  Values from glibc's
# sysdeps/generic/ldconfig.h:
# https://sourceware.org/git/?p=glibc.git;a=blob;f=sysdeps/generic/ldconfig.h

#: Mask of the library-type bits.
FLAG_TYPE_MASK = 0x00FF
#: a.out library (libc4).
FLAG_LIBC4 = 0x0000
#: ELF library that links no libc, or whose libc could not be told.
FLAG_ELF = 0x0001
#: ELF library for libc5.
FLAG_ELF_LIBC5 = 0x0002
#: ELF library for glibc (libc.so.6).
FLAG_ELF_LIBC6 = 0x0003
#: Mask of the ABI-variant bits.  0 there means "the default ABI of the machine".
FLAG_REQUIRED_MASK = 0xFF00
FLAG_SPARC_LIB64 = 0x0100
FLAG_IA64_LIB64 = 0x0200
FLAG_X8664_LIB64 = 0x0300
FLAG_S390_LIB64 = 0x0400
FLAG_POWERPC_LIB64 = 0x0500
FLAG_MIPS64_LIBN32 = 0x0600
FLAG_MIPS64_LIBN64 = 0x0700
FLAG_X8664_LIBX32 = 0x0800
FLAG_ARM_LIBHF = 0x0900
FLAG_AARCH64_LIB64 = 0x0A00
FLAG_ARM_LIBSF = 0x0B00
FLAG_MIPS_LIB32_NAN2008 = 0x0C00
FLAG_MIPS64_LIBN32_NAN2008 = 0x0D00
FLAG_MIPS64_LIBN64_NAN2008 = 0x0E00
FLAG_RISCV_FLOAT_ABI_SOFT = 0x0F00
FLAG_RISCV_FLOAT_ABI_DOUBLE = 0x1000
FLAG_LARCH_FLOAT_ABI_SOFT = 0x1100
FLAG_LARCH_FLOAT_ABI_DOUBLE = 0x1200

# ELF class implied by the ABI-variant bits.  Deliberately absent:
# * 0 (the machine's default ABI): i386, 32-bit PowerPC, s390, ... but also 64-bit-only
#   machines such as alpha, so the class cannot be told;
# * the RISC-V float-ABI flags: glibc's riscv readelflib.c sets them for RV32 and RV64 alike.
# LoongArch's are kept: glibc's loongarch readelflib.c only processes ELFCLASS64 objects.
_CLASS_OF_VARIANT = {
    FLAG_SPARC_LIB64: 64,
    FLAG_IA64_LIB64: 64,
    FLAG_X8664_LIB64: 64,
    FLAG_S390_LIB64: 64,
    FLAG_POWERPC_LIB64: 64,
    FLAG_MIPS64_LIBN32: 32,  # The n32 ABI uses ELFCLASS32 objects.
    FLAG_MIPS64_LIBN64: 64,
    FLAG_X8664_LIBX32: 32,  # x32: x86-64 code in ELFCLASS32 objects.
    FLAG_ARM_LIBHF: 32,
    FLAG_AARCH64_LIB64: 64,
    FLAG_ARM_LIBSF: 32,
    FLAG_MIPS_LIB32_NAN2008: 32,
    FLAG_MIPS64_LIBN32_NAN2008: 32,
    FLAG_MIPS64_LIBN64_NAN2008: 64,
    FLAG_LARCH_FLOAT_ABI_SOFT: 64,
    FLAG_LARCH_FLOAT_ABI_DOUBLE: 64,
}

# dl-cache.h: in the hwcap field, this bit (with no other bit of the upper half set except
# the x86 ISA-level bits) marks a glibc-hwcaps entry whose lower 32 bits index the
# glibc-hwcaps extension section.
_DL_CACHE_HWCAP_EXTENSION = 1 << 62
_DL_CACHE_HWCAP_ISA_LEVEL_MASK = (1 << 10) - 1


@fact
class CacheEntry(Fact):
    """One library in the cache."""

    #: The key: the soname the loader looks up, e.g. ``"libc.so.6"``.
    soname: str
    #: The value: the path the loader opens, e.g. ``"/lib/x86_64-linux-gnu/libc.so.6"``.
    path: str
    #: The raw flags word; see the ``FLAG_*`` constants.
    flags: int
    #: The raw hwcap word (``0`` in the old format).
    hwcap: int = 0
    #: For a library found in a ``glibc-hwcaps/<name>/`` directory, that ``<name>``
    #: (e.g. ``"x86-64-v3"``); the loader only uses such entries on CPUs that support it.
    hwcaps_subdirectory: str | None = None

    @property
    def elf_class(self) -> int | None:
        """32 or 64 if the flags imply an ELF class, else ``None``.

        This is a hint: the flags encode an ABI variant, which pins the class on
        multilib machines (x86-64 vs. x32, mips n32 vs. n64, ...) but says nothing
        for a machine's default ABI.  Whoever resolves a library should still check
        the ELF header of the file it finds.
        """
        if self.flags & FLAG_TYPE_MASK not in (FLAG_ELF, FLAG_ELF_LIBC5, FLAG_ELF_LIBC6):
            return None
        return _CLASS_OF_VARIANT.get(self.flags & FLAG_REQUIRED_MASK)


@fact
class LdCache(Fact):
    """The parsed contents of an ld.so.cache, entries in file order.

    ldconfig sorts the entries so that the loader can stop at the first match
    whose flags (and glibc-hwcaps subdirectory) it accepts; file order is
    therefore preference order.
    """

    entries: tuple[CacheEntry, ...]

    def lookup(self, soname: str) -> tuple[CacheEntry, ...]:
        """Return all entries whose key is *soname*, in cache order."""
        return self._index.get(soname, ())

    @functools.cached_property
    def _index(self) -> dict[str, tuple[CacheEntry, ...]]:
        # A run looks up hundreds of names in a cache of hundreds of entries: index once.
        index: dict[str, list[CacheEntry]] = {}
        for entry in self.entries:
            index.setdefault(entry.soname, []).append(entry)
        return {name: tuple(entries) for name, entries in index.items()}


# --- Layout --------------------------------------------------------------------------------

# CACHEMAGIC: struct cache_file is magic[11], then (after one byte of padding for alignment)
# uint32 nlibs; struct file_entry is {int32 flags; uint32 key, value}.
_OLD_MAGIC = b"ld.so-1.7.0"
_OLD_HEADER_SIZE = 16
_OLD_NLIBS_OFFSET = 12
_OLD_ENTRY_SIZE = 12
# CACHEMAGIC_VERSION_NEW: struct cache_file_new is magic[17] + version[3], uint32 nlibs,
# uint32 len_strings, uint8 flags, uint8 padding[3], uint32 extension_offset,
# uint32 unused[3]: 48 bytes.  struct file_entry_new is {int32 flags; uint32 key, value;
# uint32 osversion; uint64 hwcap}: 24 bytes.
_NEW_MAGIC = b"glibc-ld.so.cache1.1"
_NEW_HEADER_SIZE = 48
_NEW_ENTRY_SIZE = 24
_NEW_NLIBS_OFFSET = 20  # followed by len_strings
_NEW_FLAGS_OFFSET = 28
_NEW_EXTENSION_OFFSET = 32
_NEW_ENTRY_LAYOUT = "iIIIQ"  # flags, key, value, osversion, hwcap
# dl-cache.h, cache_file_new_flags_endian_*: the two low bits of the header flags.
_ENDIAN_MASK = 3
_ENDIAN_UNSET = 0  # written by ldconfig before glibc 2.33: assume the host's byte order
_ENDIAN_INVALID = 1  # the loader ignores such a cache
_ENDIAN_LITTLE = 2
_ENDIAN_BIG = 3
# dl-cache.h, struct cache_extension {uint32 magic; uint32 count; sections[count]} with
# struct cache_extension_section {uint32 tag, flags, offset, size}.
_EXTENSION_MAGIC = 0xEAA42174
_EXTENSION_TAG_GLIBC_HWCAPS = 1

# Limits.  Real caches hold hundreds to a few thousand entries in well under a MiB.
_MAX_ENTRIES = 100_000
_MAX_FILE_SIZE = 64 * 1024 * 1024

_NATIVE = "<" if sys.byteorder == "little" else ">"


def parse_ld_cache(data: bytes) -> LdCache:
    """Parse the contents of an ld.so.cache file (any of the three layouts).

    :raises LdCacheError: if *data* is not a valid cache.
    """
    if data.startswith(_NEW_MAGIC):
        return _parse_new(data, 0)
    if data.startswith(_OLD_MAGIC):
        return _parse_old_or_compat(data)
    if _NEW_MAGIC.startswith(data) or _OLD_MAGIC.startswith(data):
        raise LdCacheError(f"truncated header ({len(data)} bytes)")
    raise LdCacheError(f"bad magic {data[:20]!r}")


def read_ld_cache(path: str | os.PathLike[str] = "/etc/ld.so.cache") -> LdCache | None:
    """Read and parse the cache at *path*; ``None`` if there is no such file.

    :raises LdCacheError: if the file is not a valid cache.
    :raises OSError: if the file exists but cannot be read.
    """
    try:
        with open(path, "rb") as file:
            # Bounded read: one byte more than we accept tells us the file is too large.
            data = file.read(_MAX_FILE_SIZE + 1)
    except FileNotFoundError:
        return None
    if len(data) > _MAX_FILE_SIZE:
        raise LdCacheError(f"implausibly large (more than {_MAX_FILE_SIZE} bytes)")
    return parse_ld_cache(data)


def _cstring(data: bytes, base: int, offset: int, what: str) -> str:
    start = base + offset
    if start >= len(data):
        raise LdCacheError(f"{what} string offset {offset:#x} is past the end of the data")
    end = data.find(b"\0", start)
    if end == -1:
        raise LdCacheError(f"{what} string at offset {offset:#x} is not NUL-terminated")
    # Keys and values are file names: keep undecodable bytes round-trippable (os.fsencode).
    return data[start:end].decode("utf-8", "surrogateescape")


def _check_count(nlibs: int) -> None:
    if nlibs > _MAX_ENTRIES:
        raise LdCacheError(f"implausible number of entries ({nlibs})")


def _parse_old_or_compat(data: bytes) -> LdCache:
    if len(data) < _OLD_HEADER_SIZE:
        raise LdCacheError(f"truncated header ({len(data)} bytes)")
    # The old header has no byte-order marker, but an embedded new header has one, so try the
    # host's order first and the other one second, looking for the new magic where ldconfig
    # puts it: after the old entries, aligned to __alignof__(struct cache_file_new), which is
    # 8 on most ABIs and 4 on i386 and friends (elf/cache.c, ALIGN_CACHE).
    orders = (_NATIVE, ">" if _NATIVE == "<" else "<")
    for order in orders:
        (nlibs,) = struct.unpack_from(order + "I", data, _OLD_NLIBS_OFFSET)
        old_end = _OLD_HEADER_SIZE + nlibs * _OLD_ENTRY_SIZE
        if nlibs > _MAX_ENTRIES or old_end > len(data):
            continue
        for alignment in (8, 4):
            new_start = -(-old_end // alignment) * alignment
            if data.startswith(_NEW_MAGIC, new_start):
                return _parse_new(data, new_start)

    # Old format only.  Like the loader, assume the host's byte order.
    (nlibs,) = struct.unpack_from(_NATIVE + "I", data, _OLD_NLIBS_OFFSET)
    _check_count(nlibs)
    old_end = _OLD_HEADER_SIZE + nlibs * _OLD_ENTRY_SIZE
    if old_end > len(data):
        raise LdCacheError(f"{nlibs} entries do not fit in {len(data)} bytes")
    # Strings are relative to the end of the entry table (dl-cache.c: cache_data).
    entries = tuple(
        CacheEntry(
            soname=_cstring(data, old_end, key, "key"),
            path=_cstring(data, old_end, value, "value"),
            flags=flags,
        )
        for flags, key, value in struct.iter_unpack(_NATIVE + "iII", data[_OLD_HEADER_SIZE:old_end])
    )
    return LdCache(entries)


def _parse_new(data: bytes, base: int) -> LdCache:
    if len(data) - base < _NEW_HEADER_SIZE:
        raise LdCacheError(f"truncated header ({len(data) - base} bytes)")
    endian = data[base + _NEW_FLAGS_OFFSET] & _ENDIAN_MASK
    if endian == _ENDIAN_INVALID:
        raise LdCacheError("header flags mark the cache as invalid")
    order = {_ENDIAN_UNSET: _NATIVE, _ENDIAN_LITTLE: "<", _ENDIAN_BIG: ">"}[endian]
    nlibs, len_strings = struct.unpack_from(order + "II", data, base + _NEW_NLIBS_OFFSET)
    (extension_offset,) = struct.unpack_from(order + "I", data, base + _NEW_EXTENSION_OFFSET)
    _check_count(nlibs)
    entries_start = base + _NEW_HEADER_SIZE
    entries_end = entries_start + nlibs * _NEW_ENTRY_SIZE
    if entries_end > len(data):
        raise LdCacheError(f"{nlibs} entries do not fit in {len(data)} bytes")
    if entries_end + len_strings > len(data):
        raise LdCacheError(f"string table ({len_strings} bytes) extends past the end of the data")
    hwcaps = _read_hwcaps(data, base, order, extension_offset)

    entries: list[CacheEntry] = []
    for flags, key, value, _osversion, hwcap in struct.iter_unpack(
        order + _NEW_ENTRY_LAYOUT, data[entries_start:entries_end]
    ):
        subdirectory = None
        if (hwcap >> 32) & ~_DL_CACHE_HWCAP_ISA_LEVEL_MASK == _DL_CACHE_HWCAP_EXTENSION >> 32:
            index = hwcap & 0xFFFFFFFF
            if index >= len(hwcaps):
                raise LdCacheError(f"glibc-hwcaps index {index} out of range ({len(hwcaps)})")
            subdirectory = hwcaps[index]
        # String offsets are relative to the new header ("the string table always begins at
        # the beginning of the new cache struct", elf/cache.c), in compat files too.
        entries.append(
            CacheEntry(
                soname=_cstring(data, base, key, "key"),
                path=_cstring(data, base, value, "value"),
                flags=flags,
                hwcap=hwcap,
                hwcaps_subdirectory=subdirectory,
            )
        )
    return LdCache(tuple(entries))


def _read_hwcaps(data: bytes, base: int, order: str, extension_offset: int) -> tuple[str, ...]:
    """Return the glibc-hwcaps subdirectory names from the extension directory.

    Follows dl-cache.h's cache_extension_load: extension and section offsets are relative
    to the start of the *file*; the hwcaps strings themselves, like all strings, to the new
    header.
    """
    if extension_offset == 0:
        return ()
    if extension_offset % 4:
        raise LdCacheError(f"misaligned extension offset {extension_offset:#x}")
    if extension_offset + 8 > len(data):
        raise LdCacheError("extension directory extends past the end of the data")
    magic, count = struct.unpack_from(order + "II", data, extension_offset)
    if magic != _EXTENSION_MAGIC:
        raise LdCacheError(f"bad extension magic {magic:#x}")
    sections_end = extension_offset + 8 + count * 16
    if count > _MAX_ENTRIES or sections_end > len(data):
        raise LdCacheError(f"extension directory with {count} sections does not fit")
    hwcaps: tuple[str, ...] = ()
    for tag, _flags, offset, size in struct.iter_unpack(
        order + "IIII", data[extension_offset + 8 : sections_end]
    ):
        if offset + size > len(data):
            raise LdCacheError(f"extension section {tag} extends past the end of the data")
        if tag == _EXTENSION_TAG_GLIBC_HWCAPS:
            if size // 4 > _MAX_ENTRIES:
                raise LdCacheError(f"implausible glibc-hwcaps section ({size} bytes)")
            hwcaps = tuple(
                _cstring(data, base, string_offset, "glibc-hwcaps")
                for (string_offset,) in struct.iter_unpack(
                    order + "I", data[offset : offset + size - size % 4]
                )
            )
    return hwcaps
