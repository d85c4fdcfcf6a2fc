"""The finding codes of ``pkgdoctor audit-wheel`` (area "Wheels"), under short names.

They are defined in :mod:`pkgdoctor.codes` with every other code. Problems of the extension
modules inside a wheel reuse the codes of installed extension modules (``ext-wrong-arch``,
``ext-abi-mismatch``, ...): the cause and the fix are the same.
"""

from __future__ import annotations

from pkgdoctor import codes
from pkgdoctor.codes import (
    EXT_ABI_MISMATCH,
    EXT_INVALID_ELF,
    EXT_LIBC_MISMATCH,
    EXT_SUFFIX_MISMATCH,
    EXT_WRONG_ARCH,
)

AREA = "Wheels"

TAG_OVERCLAIMS = codes.WHEEL_TAG_OVERCLAIMS
TAG_UNDERCLAIMS = codes.WHEEL_TAG_UNDERCLAIMS
PURE_WITH_EXTENSIONS = codes.WHEEL_PURE_WITH_EXTENSIONS
RECORD_MISMATCH = codes.WHEEL_RECORD_MISMATCH
METADATA_INVALID = codes.WHEEL_METADATA_INVALID
CLASSIFIER_UNKNOWN = codes.WHEEL_CLASSIFIER_UNKNOWN
CLASSIFIER_CONTRADICTS = codes.WHEEL_CLASSIFIER_CONTRADICTS


def plural(n: int, noun: str) -> str:
    """``1 file``, ``2 files``: counts in messages."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def files_of(n: int, noun: str, wheel: str) -> str:
    """The subject of a message about some files of a wheel: ``2 ELF files of x.whl are``."""
    return f"{plural(n, noun)} of {wheel} {'is' if n == 1 else 'are'}"


__all__ = [
    "AREA",
    "CLASSIFIER_CONTRADICTS",
    "CLASSIFIER_UNKNOWN",
    "EXT_ABI_MISMATCH",
    "EXT_INVALID_ELF",
    "EXT_LIBC_MISMATCH",
    "EXT_SUFFIX_MISMATCH",
    "EXT_WRONG_ARCH",
    "METADATA_INVALID",
    "PURE_WITH_EXTENSIONS",
    "RECORD_MISMATCH",
    "TAG_OVERCLAIMS",
    "TAG_UNDERCLAIMS",
    "files_of",
    "plural",
]
