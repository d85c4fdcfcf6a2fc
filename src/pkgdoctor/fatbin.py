"""Which GPU architectures a CUDA library carries, and which of them a device can run.

A shared library with CUDA kernels (``libtorch_cuda.so``, ``libcublasLt.so.13``) carries
them as *fat binaries* in its ELF section ``.nv_fatbin``: each one a container of code for
several architectures — cubins (machine code, ``sm_80``) and PTX (a virtual ISA the driver
can JIT-compile, ``compute_90``). :func:`read_architectures` lists them from the containers'
headers alone; :func:`runs_on` applies CUDA's compatibility rules to say whether a device of
a given compute capability has code it can run ("no kernel image is available for execution
on the device" when it has not).

The layout
----------
NVIDIA's ``fatbinary_section.h`` (shipped with the toolkit, ``include/``) names the sections:
``.nv_fatbin`` holds the fat binary data the CUDA runtime registers at load time (through the
``__fatBinC_Wrapper_t`` records of ``.nvFatBinSegment``); ``__nv_relfatbin`` holds
*relocatable* fat binaries (``nvcc -rdc``), inputs to a later device link, which the runtime
never loads as kernels. The section is a sequence of containers, one per translation unit or
device link, each 8-byte aligned::

    fatBinaryHeader (16 bytes, NVIDIA's fatbinary.h, 2010-2018):
      u32 magic       0xBA55ED50 (FATBIN_MAGIC)
      u16 version     1 (FATBIN_VERSION)
      u16 headerSize  16: where the first entry starts
      u64 fatSize     bytes of entries after the header
    then entries, back to back, each:
      u16 kind        1 = PTX, 2 = ELF cubin, 8 = NVVM IR (fatBinaryCodeKind, fatbinary.h)
      u16 (0x0101)
      u32 header size (64 to 120 bytes observed: extended headers for sm_100 and later)
      u64 payload size, padded to 8: the next entry starts at entry + header size + payload
      u32 compressed size, u32 (options offset)
      u16 code minor, u16 code major   (PTX: the PTX ISA version, e.g. 9.0)
      u32 arch        the SM number: 80 for sm_80, 100 for sm_100
      u32 name offset, u32 name length (debug builds)
      u64 flags       see _FLAG_* below

The container header is NVIDIA's (``fatbinary.h``, quoted in LLVM's OpenMP CUDA wrapper and
in many decoders); the entry header is not published and is as decoded by
n-eiling/cuda-fatbin-decompression (``fatbin-decompress.h``, 2023) and GrigoryEvko/nvopen-tools
(``fatbin/FORMAT_SPECIFICATION.md``, 2025, "validated against CUDA 11.x-13.x"), and as
observed here on what nvcc 13.0 writes and in torch 2.14.1's and the CUDA 13 wheels'
libraries (``tests/test_fatbin.py`` compiles every case it asserts).

Bounds
------
Only headers are read (16 bytes a container, 48 an entry, with ``os.pread``): never a payload,
never the whole section (it is 330 MB in ``libtorch_cuda.so``). Every size is checked against
the section before it is followed, every step moves forward, and at most
:data:`MAX_ENTRIES` containers, entries and 8-byte runs of padding are visited, so a
truncated or garbage section ends in :attr:`FatbinArchitectures.problem`, never an exception
or a long loop.
"""

from __future__ import annotations

import os
import re
import stat
import struct
from collections.abc import Callable, Iterable

from pkgdoctor._fields import Fact, fact
from pkgdoctor.elf import section_extents

__all__ = [
    "MAX_ENTRIES",
    "ArchVerdict",
    "FatbinArchitectures",
    "parse_architecture",
    "parse_compute_capability",
    "read_architectures",
    "runs_on",
]

#: The section whose fat binaries the CUDA runtime registers (fatbinary_section.h,
#: FATBIN_DATA_SECTION_NAME); the relocatable ones (FATBIN_PRELINK_DATA_SECTION_NAME).
SECTION = ".nv_fatbin"
RELOCATABLE_SECTION = "__nv_relfatbin"

# fatbinary.h: FATBIN_MAGIC and FATBIN_VERSION ("it should be the goal to never bump this").
_MAGIC = 0xBA55ED50
_VERSION = 1
# fatbinary.h, fatBinaryCodeKind.
_KIND_PTX = 1
_KIND_ELF = 2
# Entry flags. 0x2000: compressed (fatbin-decompress.c, FATBIN_FLAG_COMPRESS, CUDA 11-12's
# LZ4-like scheme); 0x8000: compressed (nvopen-tools: "bit 15 = compression"; what nvcc 13.0
# writes for -Xfatbin -compress-all and for PTX by default, observed). The arch suffixes are
# observed only (nvcc 13.0): 0x100000 on sm_90a / sm_100a / compute_90a entries (an
# "architecture-specific" target), 0x200000 on sm_100f / compute_100f (a "family" target);
# the arch number itself is the same as for sm_90 / sm_100. cuobjdump agrees: --list-elf
# names the sm_90a cubins, its -elf dump says "arch = sm_100f" (tests/test_fatbin.py).
_FLAG_COMPRESSED = 0x2000 | 0x8000
_FLAG_ARCH_SPECIFIC = 0x100000
_FLAG_FAMILY = 0x200000

_CONTAINER = struct.Struct("<IHHQ")  # magic, version, headerSize, fatSize
_ENTRY = struct.Struct("<HHIQIIHHIIIQ")  # an entry's first 48 bytes
_ENTRY_MIN = 64  # the smallest entry header written (nvcc 11-13, every library above)
_ENTRY_MAX = 4096  # the largest seen is 120 bytes
#: The most containers plus entries one section may have: libcublasLt.so.13 (CUDA 13.1),
#: the largest seen, has 2,782 containers with 5,737 entries (8,519 steps).
MAX_ENTRIES = 100_000


@fact
class FatbinArchitectures(Fact):
    """The GPU code of one library's ``.nv_fatbin`` section (see the module's docstring).

    Architectures are named as nvcc names them: cubins ``"sm_80"``, ``"sm_90a"``
    (architecture-specific), ``"sm_100f"`` (family-specific); PTX ``"compute_90"``. Lists of
    architectures are sorted cubins first, then by compute capability, then suffix.
    """

    path: str
    section: str  # ".nv_fatbin" (or "__nv_relfatbin")
    containers: int  # fat binaries read: one per translation unit or device link
    entries: int  # their entries (cubins, PTX, NVVM IR, other kinds)
    cubins: tuple[str, ...]  # every cubin architecture of any container
    ptx: tuple[str, ...]  # every PTX architecture of any container
    # The architectures (cubins and PTX) of every non-empty container: the build's own list
    # (torch's TORCH_CUDA_ARCH_LIST), without the kernels some translation units add for one
    # architecture only (FlashAttention's sm_90a). A device served by none of these lacks
    # some kernels even when the union serves it.
    everywhere: tuple[str, ...]
    # How many containers carry each architecture, in the order of cubins, then ptx.
    counts: tuple[tuple[str, int], ...]
    # Each distinct set of architectures a non-empty container has, with how many have it,
    # most first: the kernels a device lacks are those of the groups that do not serve it.
    # (libtorch_cuda.so 2.14.1: 414 containers with its six cubins, 57 with sm_100a and
    # sm_103f more, ...; nvcc puts a runtime stub without PTX beside a TU's PTX.)
    groups: tuple[tuple[tuple[str, ...], int], ...]
    compressed: int  # entries whose payload is compressed
    ptx_isa: tuple[str, ...]  # the PTX ISA versions of the PTX entries ("9.0"), sorted
    # Why the section could not be read to its end ("entry 3 of the container at 0x1c0 ...");
    # None when it was. The fields hold what was read before.
    problem: str | None = None

    @property
    def readable(self) -> bool:
        """The whole section was read."""
        return self.problem is None


@fact
class ArchVerdict(Fact):
    """What a device of one compute capability can run of a build's architectures."""

    #: "native": a cubin runs on it as is; "ptx-jit": no cubin does, but the driver can
    #: JIT-compile PTX for it (slow on first use, cached; needs a driver that knows the PTX
    #: ISA version); "none": "no kernel image is available for execution on the device".
    verdict: str
    #: The cubins (native) or the PTX architectures (ptx-jit) that serve the device.
    matched: tuple[str, ...] = ()


# --- Reading -------------------------------------------------------------------------------


def read_architectures(
    path: str | os.PathLike[str], *, relocatable: bool = False
) -> FatbinArchitectures | None:
    """The GPU architectures the fat binaries of the ELF file at *path* carry.

    None when the file has no ``.nv_fatbin`` section (not a CUDA library, not ELF, or no
    section header table to find it by). A section that cannot be read to its end gives a
    result with :attr:`~FatbinArchitectures.problem` set. *relocatable* reads
    ``__nv_relfatbin`` instead (code for a later device link, not loaded as kernels).

    >>> read_architectures("/dev/null") is None
    True

    :raises OSError: if the file cannot be opened or read.
    """
    name = os.fspath(path)
    section = RELOCATABLE_SECTION if relocatable else SECTION
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block us
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None

        def pread(length: int, offset: int) -> bytes:
            return os.pread(fd, length, offset)

        extents = section_extents(pread, info.st_size, frozenset({section}))
        if not extents:
            return None
        return _walk(pread, name, section, extents)
    finally:
        os.close(fd)


class _Walk:
    """What has been read so far of one section."""

    def __init__(self) -> None:
        self.containers = 0
        self.entries = 0
        self.steps = 0  # containers, entries and padding visited: bounded by MAX_ENTRIES
        self.compressed = 0
        self.cubins: dict[str, int] = {}  # architecture -> containers carrying it
        self.ptx: dict[str, int] = {}
        self.groups: dict[frozenset[str], int] = {}
        self.ptx_isa: set[str] = set()


_Pread = Callable[[int, int], bytes]


def _walk(
    pread: _Pread, path: str, section: str, extents: list[tuple[int, int]]
) -> FatbinArchitectures:
    walk = _Walk()
    problem = None
    for start, size in extents:
        problem = _walk_section(pread, start, size, walk)
        if problem is not None:
            break
    return FatbinArchitectures(
        path=path,
        section=section,
        containers=walk.containers,
        entries=walk.entries,
        cubins=_sorted(walk.cubins),
        ptx=_sorted(walk.ptx),
        everywhere=_sorted(frozenset.intersection(*walk.groups) if walk.groups else ()),
        counts=tuple(
            (arch, table[arch]) for table in (walk.cubins, walk.ptx) for arch in _sorted(table)
        ),
        groups=tuple(
            (_sorted(archs), count)
            for archs, count in sorted(
                walk.groups.items(), key=lambda item: (-item[1], _sorted(item[0]))
            )
        ),
        compressed=walk.compressed,
        ptx_isa=tuple(sorted(walk.ptx_isa, key=lambda v: tuple(int(p) for p in v.split(".")))),
        problem=problem,
    )


def _walk_section(pread: _Pread, start: int, size: int, walk: _Walk) -> str | None:
    """Read the containers of one section into *walk*; the problem that stopped it, if any."""
    position = 0
    while position < size:
        where = f"the fat binary at section offset {position:#x}"
        walk.steps += 1
        if walk.steps > MAX_ENTRIES:
            return f"more than {MAX_ENTRIES} fat binaries and entries"
        raw = pread(min(_CONTAINER.size, size - position), start + position)
        # Zeros: padding a linker may put between containers (8-byte aligned, as they are).
        if raw[:8] == bytes(8) and len(raw) >= 8:
            position += 8
            continue
        if len(raw) < _CONTAINER.size:
            return f"{where} is cut short by the end of the section or file"
        magic, version, header_size, fat_size = _CONTAINER.unpack(raw)
        if magic != _MAGIC:
            return f"{where} has magic {magic:#x}, not {_MAGIC:#x}"
        if version != _VERSION:
            return f"{where} has version {version}, not {_VERSION}"
        # fatbinary.h: "headerSize ... must be multiple of 8"; fatSize likewise.
        if header_size < _CONTAINER.size or header_size % 8 or header_size > _ENTRY_MAX:
            return f"{where} has an implausible header size {header_size}"
        end = position + header_size + fat_size
        if end > size:
            return f"{where} ({fat_size} bytes) runs past the end of the section"
        walk.containers += 1
        problem = _walk_entries(pread, start, position + header_size, end, walk, where)
        if problem is not None:
            return problem
        position = end
    return None


def _walk_entries(
    pread: _Pread, start: int, position: int, end: int, walk: _Walk, where: str
) -> str | None:
    archs: set[str] = set()
    number = 0
    while position < end:
        number += 1
        walk.steps += 1
        if walk.steps > MAX_ENTRIES:
            return f"more than {MAX_ENTRIES} fat binaries and entries"
        if end - position < _ENTRY_MIN:
            return f"entry {number} of {where} is cut short by the container's end"
        raw = pread(_ENTRY.size, start + position)
        if len(raw) < _ENTRY.size:
            return f"entry {number} of {where} is cut short by the end of the file"
        (kind, _, header_size, payload, _, _, minor, major, arch, _, _, flags) = _ENTRY.unpack(raw)
        if not _ENTRY_MIN <= header_size <= _ENTRY_MAX:
            return f"entry {number} of {where} has an implausible header size {header_size}"
        following = position + header_size + payload
        if following > end:
            return f"entry {number} of {where} ({payload} bytes) runs past the container's end"
        walk.entries += 1
        if flags & _FLAG_COMPRESSED:
            walk.compressed += 1
        if kind in (_KIND_ELF, _KIND_PTX):
            if not 10 <= arch <= 9999:  # sm_10 was the first
                return f"entry {number} of {where} has an implausible architecture {arch}"
            suffix = "a" if flags & _FLAG_ARCH_SPECIFIC else "f" if flags & _FLAG_FAMILY else ""
            name = f"{'sm' if kind == _KIND_ELF else 'compute'}_{arch}{suffix}"
            if name not in archs:
                archs.add(name)
                table = walk.cubins if kind == _KIND_ELF else walk.ptx
                table[name] = table.get(name, 0) + 1
            if kind == _KIND_PTX:
                walk.ptx_isa.add(f"{major}.{minor}")
        # NVVM IR (kind 8, nvcc -dlto) and unknown kinds: not code the device runs as is.
        position = following
    if archs:  # an empty container (PTX-only builds write one) says nothing
        key = frozenset(archs)
        walk.groups[key] = walk.groups.get(key, 0) + 1
    return None


# --- Names ---------------------------------------------------------------------------------

_ARCH = re.compile(r"(sm|compute)_([1-9][0-9]{1,3})([af]?)")
_CC = re.compile(r"([1-9][0-9]?)\.([0-9])")


def parse_architecture(name: str) -> tuple[str, int, int, str] | None:
    """``(kind, major, minor, suffix)`` of an nvcc architecture name, or None.

    The SM number is the compute capability without its dot: its last digit is the minor
    (``sm_86`` is 8.6, ``sm_121`` is 12.1).

    >>> parse_architecture("sm_90a")
    ('sm', 9, 0, 'a')
    >>> parse_architecture("compute_121f")
    ('compute', 12, 1, 'f')
    >>> parse_architecture("sm_9") is None
    True
    """
    match = _ARCH.fullmatch(name)
    if match is None:
        return None
    kind, number, suffix = match.groups()
    return kind, int(number) // 10, int(number) % 10, suffix


def parse_compute_capability(text: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a compute capability as ``nvidia-smi`` writes it, or None.

    >>> parse_compute_capability("12.0")
    (12, 0)
    >>> parse_compute_capability("sm_90") is None
    True
    """
    match = _CC.fullmatch(text.strip())
    return (int(match[1]), int(match[2])) if match else None


def _sort_key(name: str) -> tuple[bool, int, int, str, str]:
    """Cubins before PTX, then by compute capability, then suffix: sm_90 < sm_90a < sm_100."""
    parsed = parse_architecture(name)
    if parsed is None:
        return (True, 1 << 30, 0, "", name)
    kind, major, minor, suffix = parsed
    return (kind == "compute", major, minor, suffix, name)


def _sorted(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(names, key=_sort_key))


# --- Compatibility -------------------------------------------------------------------------


def _serves(major: int, minor: int, suffix: str, device: tuple[int, int]) -> bool:
    """Whether code built for ``major.minor`` (+ suffix) runs on a *device* (major, minor).

    The same rule holds for a cubin run as is and for PTX compiled for the device, except
    that plain PTX also serves every later major; :func:`runs_on` handles that one.

    - Plain ``sm_XY``: "a cubin object generated for compute capability X.y will only execute
      on devices of compute capability X.z where z>=y" (CUDA C++ Programming Guide, "Binary
      Compatibility", unchanged from CUDA 3 to 13.0; the guide adds that this holds for
      desktop GPUs, not between Tegra parts, which is not modelled here).
    - ``a``, architecture-specific (CUDA 12.0+, sm_90a): runs on exactly that compute
      capability, no other (CUDA C++ Programming Guide, "Feature Availability",
      "Architecture-Specific Features"; the 5.1.2 section of the new CUDA Programming Guide,
      published 2025-12-15).
    - ``f``, family-specific (CUDA 12.9+, Blackwell): runs on devices of the same major with
      the same or a higher minor: sm_100f on 10.0 and 10.3, sm_103f on 10.3 only (NVIDIA
      technical blog "NVIDIA Blackwell and NVIDIA CUDA 12.9 Introduce Family-Specific
      Architecture Features", 2025-05; the same Programming Guide section,
      "Family-Specific Features").
    """
    if suffix == "a":
        return device == (major, minor)
    return device[0] == major and device[1] >= minor


def runs_on(cubins: Iterable[str], ptx: Iterable[str], compute_capability: str) -> ArchVerdict:
    """Whether a device of *compute_capability* (``"9.0"``) can run code from a build with
    these *cubins* (``"sm_80"``, ...) and *ptx* (``"compute_90"``, ...).

    A cubin that serves the device makes the verdict ``"native"``; else PTX that the driver
    can JIT-compile for it (``compute_XY`` for any device of compute capability >= X.Y;
    ``compute_XYa`` and ``compute_XYf`` only as their cubins would) makes it ``"ptx-jit"``;
    else ``"none"``. Names that are not nvcc architecture names are ignored.

    >>> runs_on(("sm_80", "sm_90"), (), "8.6")
    ArchVerdict(verdict='native', matched=('sm_80',))
    >>> runs_on(("sm_80", "sm_90a"), ("compute_90",), "12.0")
    ArchVerdict(verdict='ptx-jit', matched=('compute_90',))
    >>> runs_on(("sm_90a",), (), "9.0").verdict, runs_on(("sm_100f",), (), "10.3").verdict
    ('native', 'native')
    >>> runs_on(("sm_80", "sm_90a", "sm_100"), (), "12.0")
    ArchVerdict(verdict='none', matched=())

    :raises ValueError: if *compute_capability* is not ``MAJOR.MINOR``.
    """
    device = parse_compute_capability(compute_capability)
    if device is None:
        raise ValueError(f"not a compute capability: {compute_capability!r}")
    native = []
    for name in cubins:
        parsed = parse_architecture(name)
        if parsed is not None and parsed[0] == "sm" and _serves(*parsed[1:], device):
            native.append(name)
    if native:
        return ArchVerdict("native", _sorted(native))
    jit = []
    for name in ptx:
        parsed = parse_architecture(name)
        if parsed is None or parsed[0] != "compute":
            continue
        _, major, minor, suffix = parsed
        # "PTX code produced for some specific compute capability can always be compiled to
        # binary code of greater or equal compute capability" (Programming Guide,
        # "Application Compatibility"); not so for the a/f variants (see _serves).
        if suffix or (major, minor) > device:
            if suffix and _serves(major, minor, suffix, device):
                jit.append(name)
            continue
        jit.append(name)
    if jit:
        return ArchVerdict("ptx-jit", _sorted(jit))
    return ArchVerdict("none")
