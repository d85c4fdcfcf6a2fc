"""What a Linux platform is, in one place: architecture names, C libraries and wheel tags.

Three questions every part of pkgdoctor asks, answered only here:

* **Which architecture?** ``uname -m`` names (the spelling of platform tags) for an ELF
  header's ``e_machine``/class/byte order, for a platform triplet (``powerpc64le-linux-gnu``)
  and for the ``libc.musl-<arch>.so.1`` soname.
* **Which C library?** The libc family (and the glibc a file needs) of an ELF file, from
  ``PT_INTERP``, ``DT_NEEDED`` and ``GLIBC_`` version needs; of an interpreter, from its
  ``PT_INTERP``.
* **Which tags does a target accept?** The platform tags of a glibc or musl system (PEP 600
  ``manylinux_X_Y`` down to the oldest, with the legacy PEP 513/571/599 aliases; PEP 656
  ``musllinux_X_Y``; ``linux_<arch>``) and the wheel tags of a Python on it, computed with
  :mod:`packaging.tags` for *that* target: the platforms are passed in, never read from the
  machine pkgdoctor runs on (``sys_tags()`` would describe our own interpreter and glibc).

``check``, ``wheels`` and ``audit-wheel`` all ask here, so a wheel that one of them accepts is
one the others accept too. This module imports nothing of pkgdoctor's (only :mod:`packaging`,
lazily), so it sits at the bottom of the import graph next to :mod:`pkgdoctor.elf`.

Example::

    >>> linux_platforms("aarch64", "glibc", (2, 18))
    ['linux_aarch64', 'manylinux_2_18_aarch64', 'manylinux_2_17_aarch64', \
'manylinux2014_aarch64']
    >>> [str(t) for t in accepted_tags("cp", (3, 13), ["cp313t"], ["linux_x86_64"])][:2]
    ['cp313-cp313t-linux_x86_64', 'cp313-abi3t-linux_x86_64']
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pkgdoctor._fields import Fact, fact

if TYPE_CHECKING:
    from packaging.tags import Tag

    from pkgdoctor.elf import ELFFile

__all__ = [
    "LEGACY_MANYLINUX",
    "LINUX_ARCHITECTURES",
    "LibcEvidence",
    "PlatformTag",
    "accepted_tags",
    "architecture_name",
    "cpython_abis",
    "elf_libc",
    "interpreter_libc",
    "linux_platforms",
    "manylinux_platforms",
    "musl_libc_soname",
    "musllinux_platforms",
    "parse_platform_tag",
    "triplet_architecture",
    "triplet_libc",
]

# --- Architecture names --------------------------------------------------------------------

# e_machine values from the gABI "ELF Header" table (and binutils include/elf/common.h for
# EM_LOONGARCH, which postdates the last published gABI revision).
EM_386 = 3
EM_MIPS = 8
EM_PPC = 20
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_SPARCV9 = 43
EM_IA_64 = 50
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258

# Machines whose name depends on neither class nor byte order.
_FIXED_NAMES = {
    # i686 rather than i386: that is what manylinux/auditwheel and most distributions
    # target, and what `uname -m` reports on any machine that can run such wheels.
    EM_386: "i686",
    EM_AARCH64: "aarch64",
    # A 32-bit ARM object does not say which architecture revision it needs in a way that
    # maps onto uname; armv7l is the only 32-bit ARM platform tag wheels use.
    EM_ARM: "armv7l",
    EM_PPC: "ppc",
    EM_SPARCV9: "sparc64",
    EM_IA_64: "ia64",
}

#: The architectures of Linux platform tags that wheels are built for (``uname -m``
#: spellings, as manylinux/musllinux images and auditwheel's policies name them).
LINUX_ARCHITECTURES = frozenset(
    {
        "x86_64",
        "i686",
        "aarch64",
        "armv7l",
        "ppc64",
        "ppc64le",
        "s390x",
        "riscv64",
        "loongarch64",
    }
)


def architecture_name(machine: int, elf_class: int, little_endian: bool, flags: int = 0) -> str:
    """Return the ``uname -m``-style name for an ELF machine.

    *machine* is ``e_machine``, *elf_class* is 32 or 64.  *flags* (``e_flags``) is
    accepted so that callers pass everything the ELF header says; no mapping
    needs it yet.  Unknown machines are named ``f"elf-machine-{machine}"``.

    >>> architecture_name(EM_PPC64, 64, little_endian=True)
    'ppc64le'
    """
    del flags  # Reserved: e.g. the ARM float ABI could refine "armv7l" one day.
    fixed = _FIXED_NAMES.get(machine)
    if fixed is not None:
        return fixed
    is64 = elf_class == 64
    if machine == EM_X86_64:
        # The x32 ABI is x86-64 code in ELFCLASS32 objects.
        return "x86_64" if is64 else "x32"
    if machine == EM_PPC64:
        return "ppc64le" if little_endian else "ppc64"
    if machine == EM_S390:
        return "s390x" if is64 else "s390"
    if machine == EM_RISCV:
        return "riscv64" if is64 else "riscv32"
    if machine == EM_LOONGARCH:
        return "loongarch64" if is64 else "loongarch32"
    if machine == EM_MIPS:
        return ("mips64" if is64 else "mips") + ("el" if little_endian else "")
    return f"elf-machine-{machine}"


# Debian's multiarch triplets (https://wiki.debian.org/Multiarch/Tuples) and CPython's
# configure.ac PLATFORM_TRIPLET table, mapped to the names architecture_name uses.
_TRIPLET_CPU = {
    "i386": "i686",
    "i486": "i686",
    "i586": "i686",
    "arm": "armv7l",
    "armeb": "armv7l",
    "powerpc64le": "ppc64le",
    "powerpc64": "ppc64",
    "powerpc": "ppc",
    "mips64el": "mips64el",
    "mipsel": "mipsel",
}
# Triplet CPU fields that are already uname names (CPython's table has no "armv7l": 32-bit
# ARM is "arm-linux-gnueabihf" there).
_KNOWN_CPUS = (LINUX_ARCHITECTURES - {"armv7l"}) | {
    "mips64",
    "mips",
    "sparc64",
    "ia64",
    "alpha",
    "hppa",
    "m68k",
    "sh4",
}


def triplet_architecture(triplet: str) -> str | None:
    """The ``uname -m``-style architecture named by a platform triplet.

    >>> triplet_architecture("powerpc64le-linux-gnu")
    'ppc64le'
    """
    cpu = triplet.split("-", 1)[0]
    return _TRIPLET_CPU.get(cpu, cpu if cpu in _KNOWN_CPUS else None)


def triplet_libc(triplet: str) -> str | None:
    """ "musl" or "glibc" from a triplet's environment part, or None if it does not say.

    >>> triplet_libc("arm-linux-gnueabihf"), triplet_libc("x86_64-linux-musl")
    ('glibc', 'musl')
    """
    env = triplet.rsplit("-", 1)[-1]
    if env.startswith("musl"):
        return "musl"
    if env.startswith("gnu"):
        return "glibc"
    return None


# musl names its libc after the architecture (musl's Makefile: libc.musl-$(ARCH).so.1, with
# musl's ARCH names), not as auditwheel's policies do ("libc.so"); auditwheel maps it too.
_MUSL_ARCH = {
    "x86_64": "x86_64",
    "i686": "x86",
    "aarch64": "aarch64",
    "s390x": "s390x",
    "ppc64le": "ppc64le",
    "armv7l": "armv7",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}


def musl_libc_soname(arch: str) -> str | None:
    """The soname of musl's libc on ``arch`` (``libc.musl-x86.so.1`` on i686), if known.

    >>> musl_libc_soname("armv7l")
    'libc.musl-armv7.so.1'
    """
    name = _MUSL_ARCH.get(arch)
    return f"libc.musl-{name}.so.1" if name else None


# --- Platform tags -------------------------------------------------------------------------

#: PEP 600's legacy aliases (PEP 513, 571, 599) and the glibc they stand for.
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_LEGACY_NAME = {version: name for name, version in LEGACY_MANYLINUX.items()}
_TAG = re.compile(r"(?P<family>manylinux|musllinux)_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>.+)")
_LEGACY_TAG = re.compile(r"(?P<legacy>manylinux1|manylinux2010|manylinux2014)_(?P<arch>.+)")
# The oldest glibc a manylinux tag may name: 2.5 on x86 (PEP 513), 2.17 elsewhere (PEP 599),
# as packaging._manylinux.platform_tags counts down.
_X86 = frozenset({"x86_64", "i686"})
# Older glibc majors are assumed to go up to minor 50 (packaging._manylinux._LAST_GLIBC_MINOR's
# default): glibc keeps compatibility across majors (sourceware.org/bugzilla/show_bug.cgi?id=24636).
_LAST_GLIBC_MINOR = 50


@fact
class PlatformTag(Fact):
    """What a Linux platform tag promises: the C library, its version and the architecture."""

    tag: str
    libc: str | None  # "glibc", "musl"; None for linux_<arch>
    version: tuple[int, int] | None  # None for linux_<arch>
    arch: str


def parse_platform_tag(tag: str) -> PlatformTag | None:
    """``manylinux_2_17_x86_64`` → glibc 2.17 on x86_64; None for non-Linux tags and "any".

    >>> parse_platform_tag("manylinux2014_aarch64")
    PlatformTag(tag='manylinux2014_aarch64', libc='glibc', version=(2, 17), arch='aarch64')
    """
    match = _TAG.fullmatch(tag)
    if match:
        libc = "glibc" if match["family"] == "manylinux" else "musl"
        return PlatformTag(tag, libc, (int(match["major"]), int(match["minor"])), match["arch"])
    match = _LEGACY_TAG.fullmatch(tag)
    if match:
        return PlatformTag(tag, "glibc", LEGACY_MANYLINUX[match["legacy"]], match["arch"])
    if tag.startswith("linux_") and len(tag) > len("linux_"):
        return PlatformTag(tag, None, None, tag[len("linux_") :])
    return None


def manylinux_platforms(glibc: tuple[int, int], arch: str) -> list[str]:
    """The manylinux tags a glibc ``glibc`` system of ``arch`` accepts, newest first.

    Every glibc from the system's down to 2.5 (x86) or 2.17 (other architectures), each
    legacy alias right after the version it stands for: ``packaging._manylinux.platform_tags``
    for that glibc (which reads the running glibc, so it cannot be called for a target).

    >>> manylinux_platforms((2, 18), "riscv64")
    ['manylinux_2_18_riscv64', 'manylinux_2_17_riscv64', 'manylinux2014_riscv64']
    """
    major, minor = glibc
    oldest = (2, 5) if arch in _X86 else (2, 17)
    result: list[str] = []
    for glibc_major in range(major, 1, -1):
        top = minor if glibc_major == major else _LAST_GLIBC_MINOR
        bottom = oldest[1] if glibc_major == oldest[0] else 0
        for glibc_minor in range(top, bottom - 1, -1):
            result.append(f"manylinux_{glibc_major}_{glibc_minor}_{arch}")
            legacy = _LEGACY_NAME.get((glibc_major, glibc_minor))
            if legacy:
                result.append(f"{legacy}_{arch}")
    return result


def musllinux_platforms(musl: tuple[int, int], arch: str) -> list[str]:
    """The musllinux tags a musl ``musl`` system accepts: its minor versions down to 0
    (``packaging._musllinux.platform_tags``; PEP 656).

    >>> musllinux_platforms((1, 1), "x86_64")
    ['musllinux_1_1_x86_64', 'musllinux_1_0_x86_64']
    """
    major, minor = musl
    return [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)]


def linux_platforms(
    arch: str,
    libc: str | None,
    version: tuple[int, int] | None,
    *,
    linux_first: bool = True,
) -> list[str]:
    """The platform tags a Linux system accepts, most preferred first.

    ``libc`` is "glibc" or "musl" with its ``version``; with another (or no) libc only
    ``linux_<arch>`` fits. ``linux_<arch>`` comes first, as in ``packaging.tags``
    ``_linux_platforms`` since packaging 26.3 (vendored by pip 26.3; pypa/packaging#160: a
    wheel built on the machine itself is the most specific); ``linux_first=False`` puts it
    last, as older pips did.
    """
    tags: list[str] = []
    if libc == "glibc" and version is not None:
        tags = manylinux_platforms(version, arch)
    elif libc == "musl" and version is not None:
        tags = musllinux_platforms(version, arch)
    linux = f"linux_{arch}"
    return [linux, *tags] if linux_first else [*tags, linux]


# --- Python ABIs and wheel tags ------------------------------------------------------------


def cpython_abis(
    version: Sequence[int], *, free_threaded: bool = False, debug: bool = False
) -> tuple[str, ...]:
    """The ABI tags a CPython build loads, most preferred first, as
    ``packaging.tags._cpython_abis`` derives them from the running interpreter's build
    flags: ``t`` free-threaded (3.13+, PEP 703), ``d`` debug — a debug build also loads
    release extensions (pypa/pip#3383).

    >>> cpython_abis((3, 13), free_threaded=True, debug=True)
    ('cp313td', 'cp313t')
    """
    nodot = f"{version[0]}{version[1]}"
    threading = "t" if free_threaded else ""
    abis = [f"cp{nodot}{threading}{'d' if debug else ''}"]
    if debug:
        abis.append(f"cp{nodot}{threading}")
    return tuple(abis)


def accepted_tags(
    implementation: str,
    python_version: Sequence[int],
    abis: Iterable[str],
    platforms: Iterable[str],
) -> list[Tag]:
    """The wheel tags a Python accepts on ``platforms``, most preferred first.

    pip's ``get_supported`` for an explicit target: ``cpython_tags`` (which adds ``abi3``,
    or for a free-threaded ABI what packaging allows it — ``abi3t`` (PEP 803) in packaging
    26 — and ``none``) or ``generic_tags`` for other
    implementations (``implementation`` is the short name: "cp", "pp"), followed by
    ``compatible_tags`` (``py3x-none-<platform>``, ``<interp>-none-any``, ``py3x-none-any``).
    """
    from packaging.tags import compatible_tags, cpython_tags, generic_tags

    version = (python_version[0], python_version[1])
    interpreter = f"{implementation}{version[0]}{version[1]}"
    platform_list = list(platforms)
    abi_list = list(abis)
    if implementation == "cp":
        tags = list(cpython_tags(version, abi_list, platform_list))
    else:
        tags = list(generic_tags(interpreter, abi_list, platform_list))
    return tags + list(compatible_tags(version, interpreter, platform_list))


# --- C libraries ---------------------------------------------------------------------------

# musl's loader takes a bare "libc.so" as itself (musl ldso/dynlink.c, its "reserved" names).
_MUSL_NEEDED = ("libc.musl-", "ld-musl-")
# glibc's program interpreters: ld-linux*.so.* (x86, arm, aarch64, riscv, loongarch, ...),
# ld64.so.* (ppc64, s390x), ld.so.1 (ppc32, mips, s390); musl's are ld-musl-<arch>.so.1.
_GLIBC_LOADERS = ("ld-linux", "ld64.so")
# GLIBC_2.2.5 (x86_64's baseline) has three parts: the first two say the release.
_GLIBC_VERSION = re.compile(r"GLIBC_(\d+)\.(\d+)")


@fact
class LibcEvidence(Fact):
    """The C library an ELF file is built for, and what says so.

    ``source`` is "dt_needed", "pt_interp", "version_needs" or "suffix_triplet" and
    ``value`` what was found there; ``glibc`` is the newest ``GLIBC_X.Y`` version the file
    needs (the oldest glibc it loads on), None when it needs none or is not for glibc.
    """

    family: str  # "glibc" or "musl"
    source: str
    value: str
    glibc: tuple[int, int] | None = None

    def describe(self) -> str:
        """``DT_NEEDED libc.so.6``, ``PT_INTERP /lib/ld-musl-x86_64.so.1``, ..."""
        if self.source == "version_needs":
            return "needs GLIBC_ symbol versions"
        label = {"dt_needed": "DT_NEEDED", "pt_interp": "PT_INTERP"}.get(self.source)
        return f"{label or 'suffix triplet'} {self.value}"


def interpreter_libc(pt_interp: str | None) -> str | None:
    """The libc family of a program from its ``PT_INTERP``: "glibc", "musl" or None.

    >>> interpreter_libc("/lib/ld-musl-aarch64.so.1"), interpreter_libc("/lib64/ld64.so.2")
    ('musl', 'glibc')
    """
    name = os.path.basename(pt_interp or "")
    if name.startswith("ld-musl-"):
        return "musl"
    if name.startswith(_GLIBC_LOADERS) or name == "ld.so.1":
        return "glibc"
    return None


def glibc_needed(elf: ELFFile) -> tuple[int, int] | None:
    """The newest ``GLIBC_X.Y`` symbol version ``elf`` needs: the oldest glibc it loads on."""
    found = [
        (int(m[1]), int(m[2]))
        for need in elf.version_needs
        for v in need.versions
        if (m := _GLIBC_VERSION.match(v))
    ]
    return max(found, default=None)


def elf_libc(
    elf: ELFFile,
    triplet: str | None = None,
    python: tuple[int, int] | None = None,
) -> LibcEvidence | None:
    """Which C library ``elf`` is built for, or None if it does not say.

    What the file itself says comes first: a musl ``DT_NEEDED`` (``libc.musl-<arch>.so.1``,
    ``ld-musl-*``, or musl's bare ``libc.so``) or ``PT_INTERP``, then glibc's (``libc.so.6``,
    ``ld-linux-*``/``ld64.so.*``), then ``GLIBC_`` version needs. Only then the platform
    ``triplet`` of an extension module's file name (built by CPython ``python``): a musl one,
    or a gnu one from CPython 3.11 on — before 3.11 CPython on musl used the ``-linux-gnu``
    triplet too (python/cpython#87278; auditwheel's lddtree makes the same exception).
    """
    glibc = glibc_needed(elf)
    for name in elf.needed:
        if name.startswith(_MUSL_NEEDED) or name == "libc.so":
            return LibcEvidence("musl", "dt_needed", name)
    if interpreter_libc(elf.interpreter) == "musl":
        return LibcEvidence("musl", "pt_interp", elf.interpreter or "")
    for name in elf.needed:
        if name == "libc.so.6" or name.startswith(("ld-linux-", "ld64.so.")):
            return LibcEvidence("glibc", "dt_needed", name, glibc)
    if interpreter_libc(elf.interpreter) == "glibc":
        return LibcEvidence("glibc", "pt_interp", elf.interpreter or "", glibc)
    if any(v.startswith("GLIBC_") for need in elf.version_needs for v in need.versions):
        return LibcEvidence("glibc", "version_needs", "GLIBC_*", glibc)
    libc = triplet_libc(triplet) if triplet else None
    if triplet and (libc == "musl" or (libc == "glibc" and python and python >= (3, 11))):
        return LibcEvidence(libc, "suffix_triplet", triplet)
    return None
