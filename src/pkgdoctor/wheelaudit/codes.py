"""The finding codes of ``pkgdoctor audit-wheel`` (area "Wheels").

Problems of the extension modules inside a wheel reuse the codes of installed extension
modules (``ext-wrong-arch``, ``ext-abi-mismatch``, ...), imported here from
:mod:`pkgdoctor.checks.extensions`: the cause and the fix are the same.
"""

from __future__ import annotations

from pkgdoctor.checks.extensions import (
    EXT_ABI_MISMATCH,
    EXT_INVALID_ELF,
    EXT_LIBC_MISMATCH,
    EXT_SUFFIX_MISMATCH,
    EXT_WRONG_ARCH,
)
from pkgdoctor.checks.registry import register
from pkgdoctor.findings import Severity

AREA = "Wheels"

TAG_OVERCLAIMS = register(
    "wheel-tag-overclaims",
    AREA,
    Severity.ERROR,
    "A platform tag in the wheel's name promises more than its ELF files satisfy.",
)
TAG_UNDERCLAIMS = register(
    "wheel-tag-underclaims",
    AREA,
    Severity.INFO,
    "The wheel's ELF files satisfy a more compatible platform tag than its name claims.",
)
PURE_WITH_EXTENSIONS = register(
    "wheel-pure-with-extensions",
    AREA,
    Severity.ERROR,
    "A wheel tagged for any platform (or its purelib) contains compiled ELF files.",
)
RECORD_MISMATCH = register(
    "wheel-record-mismatch",
    AREA,
    Severity.ERROR,
    "The wheel's RECORD does not describe its files (missing, unlisted, wrong hash or size).",
)
METADATA_INVALID = register(
    "wheel-metadata-invalid",
    AREA,
    Severity.ERROR,
    "The wheel's METADATA, WHEEL or .dist-info layout is invalid or contradicts its file name.",
)
CLASSIFIER_UNKNOWN = register(
    "wheel-classifier-unknown",
    AREA,
    Severity.WARNING,
    "A trove classifier is unknown or deprecated; PyPI rejects the upload.",
)
CLASSIFIER_CONTRADICTS = register(
    "wheel-classifier-contradicts-requires-python",
    AREA,
    Severity.WARNING,
    "A Python version classifier names versions that Requires-Python excludes.",
)


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
