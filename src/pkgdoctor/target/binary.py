"""The ELF identity of interpreters: the target's and pkgdoctor's own (the host's)."""

from __future__ import annotations

import functools
import os
import sys

from pkgdoctor.elf import ELFError, read_elf
from pkgdoctor.platforms import interpreter_libc
from pkgdoctor.target.facts import Binary, Libc


def read_binary(path: str) -> Binary | None:
    """The ELF identity of ``path``, or None when it is missing or not ELF."""
    try:
        elf = read_elf(path)
    except (OSError, ELFError):
        return None
    return Binary(
        architecture=elf.architecture,
        elf_class=elf.elf_class,
        machine=elf.machine,
        little_endian=elf.little_endian,
        interpreter=elf.interpreter,
    )


@functools.lru_cache(maxsize=1)
def host_binary() -> Binary | None:
    """The identity of the machine pkgdoctor runs on, read from its own interpreter."""
    return read_binary(os.path.realpath(sys.executable))


@functools.lru_cache(maxsize=1)
def host_libc() -> Libc | None:
    """The C library pkgdoctor itself runs on (glibc version via confstr)."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        text = None
    if text:
        family, _, version = text.partition(" ")
        return Libc(family, version or None)
    binary = host_binary()
    return libc_from_binary(binary) if binary else None


def libc_from_binary(binary: Binary) -> Libc | None:
    """The libc family of an executable, from its program interpreter (PT_INTERP)."""
    family = interpreter_libc(binary.interpreter)
    return Libc(family) if family else None
