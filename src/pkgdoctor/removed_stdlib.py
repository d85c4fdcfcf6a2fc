"""Standard-library modules that CPython removed, with the release and the document that
removed them: `why` names them when an import fails for want of one. One table, here.

Sources: PEP 632 (distutils), PEP 594 ("Removing dead batteries"), and the "Removed"
sections of What's New in Python 3.10, 3.11, 3.12 and 3.13.
"""

from __future__ import annotations

from typing import NamedTuple


class Removal(NamedTuple):
    release: tuple[int, int]  # the first CPython without it
    reference: str  # the PEP or What's New entry
    instead: str  # what to use, in a few words


REMOVED: dict[str, Removal] = {
    "distutils": Removal(
        (3, 12), "PEP 632", "setuptools (which provides distutils), or sysconfig/packaging"
    ),
    "imp": Removal((3, 12), "What's New in Python 3.12", "importlib"),
    "asynchat": Removal((3, 12), "PEP 594", "asyncio"),
    "asyncore": Removal((3, 12), "PEP 594", "asyncio"),
    "smtpd": Removal((3, 12), "PEP 594", "aiosmtpd (PyPI)"),
    "binhex": Removal((3, 11), "What's New in Python 3.11", "base64 / binascii"),
    "formatter": Removal((3, 10), "What's New in Python 3.10", "no replacement"),
    "parser": Removal((3, 10), "What's New in Python 3.10", "ast"),
    "symbol": Removal((3, 10), "What's New in Python 3.10", "ast"),
    "lib2to3": Removal((3, 13), "What's New in Python 3.13", "no replacement (parso, LibCST)"),
    **{
        name: Removal((3, 13), "PEP 594", instead)
        for name, instead in (
            ("aifc", "no replacement"),
            ("audioop", "audioop-lts (PyPI)"),
            ("cgi", "email.message / multipart"),
            ("cgitb", "no replacement"),
            ("chunk", "no replacement"),
            ("crypt", "hashlib, or legacycrypt (PyPI)"),
            ("imghdr", "filetype or puremagic (PyPI)"),
            ("mailcap", "mimetypes"),
            ("msilib", "no replacement"),
            ("nis", "no replacement"),
            ("nntplib", "no replacement"),
            ("ossaudiodev", "no replacement"),
            ("pipes", "subprocess and shlex.quote"),
            ("sndhdr", "filetype (PyPI)"),
            ("spwd", "python-pam (PyPI)"),
            ("sunau", "no replacement"),
            ("telnetlib", "telnetlib3 (PyPI)"),
            ("uu", "base64"),
            ("xdrlib", "no replacement"),
        )
    },
}


def removal(module: str, version: tuple[int, int]) -> Removal | None:
    """The removal that explains why ``module`` cannot be imported on CPython ``version``.

    >>> removal("distutils.core", (3, 12)).reference
    'PEP 632'
    >>> removal("distutils", (3, 11)) is None
    True
    """
    found = REMOVED.get(module.split(".")[0])
    return found if found is not None and version >= found.release else None
