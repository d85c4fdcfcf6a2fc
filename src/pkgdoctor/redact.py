"""Redaction: what a user pastes into a public bug report must not say who they are.

Paths under the user's home directory become ``~``, other users' home directories
``/home/<user>`` (``/Users/<user>`` on macOS), the user's login name ``<user>`` wherever it is
a whole path component (``/scratch/alice/env``), and the credentials of URLs
(``https://user:token@host``, as pip's index URLs carry them) ``***``. One :class:`Redactor`
serves ``pkgdoctor report`` and ``snapshot --redact`` (which uses its home rule alone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A path starts where no path character precedes it, and the home directory ends where no
# name character follows (``/home/me`` must not match ``/home/me2``).
_BEFORE = r"(?<![\w.~/-])"
_AFTER = r"(?![\w.-])"

# Home directories of any user: Linux (``/home``; Fedora Silverblue's ``/var/home``) and
# macOS (``/Users``). The parent stays (it tells Linux from macOS); the name goes. A name is
# POSIX's portable filename characters (POSIX.1-2017 3.437) plus ``@`` and ``$`` (domain and
# Samba accounts); ``<user>`` is none, so redacting twice changes nothing.
_HOMES = re.compile(_BEFORE + r"(/(?:var/)?home|/Users)/[\w.@$-]+" + _AFTER)

# RFC 3986 section 3.2: ``scheme://userinfo@host``; userinfo has no ``/``, ``@`` or
# whitespace. ``git+https://`` (PEP 610 VCS URLs) matches too. The live probe strips the
# same from the variables it reports (target/_probe.py, which may import no pkgdoctor code);
# a snapshot of an older pkgdoctor, or a URL inside a finding, still passes through here.
_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")

# Login names that are nobody's secret, and which replacing would garble paths that are no
# home: containers' ``root``, GitHub Actions' ``runner``, Jupyter's images' ``jovyan``, the
# cloud images' ``ubuntu``.
_NOT_PRIVATE = frozenset(("root", "user", "nobody", "runner", "jovyan", "ubuntu"))


def home_pattern(home: str) -> re.Pattern[str] | None:
    """The pattern of ``home`` at the start of a path in any text; None when there is no
    home to hide (unset, or ``/``).

    >>> home_pattern("/home/me").sub("~", "/home/me/env /home/me2 x=/home/me")
    '~/env /home/me2 x=~'
    """
    home = home.rstrip("/")
    if not home:
        return None
    return re.compile(_BEFORE + re.escape(home) + _AFTER)


class Redactor:
    """Redacts text for a public report.

    ``homes``: the user's home directory as written and as resolved (they differ where
    ``/home`` is a link); ``user``: the login name.

    >>> r = Redactor(["/home/alice"], "alice")
    >>> r.text("/home/alice/env /home/bob/x /scratch/alice/y https://alice:s3cret@pypi.example/simple")
    '~/env /home/<user>/x /scratch/<user>/y https://***@pypi.example/simple'
    """

    def __init__(self, homes: Iterable[str], user: str | None) -> None:
        patterns = [home_pattern(h) for h in sorted(set(homes), key=len, reverse=True)]
        self._homes = [p for p in patterns if p is not None]
        self._user = None
        if user and user not in _NOT_PRIVATE:
            self._user = re.compile(r"(?<=/)" + re.escape(user) + r"(?=/|$|[\s:'\"])")

    def text(self, value: str) -> str:
        for pattern in self._homes:
            value = pattern.sub("~", value)
        value = _HOMES.sub(r"\1/<user>", value)
        if self._user is not None:
            value = self._user.sub("<user>", value)
        return _CREDENTIALS.sub(r"\1***@", value)


# Variable names whose value is a secret as a whole (the live probe's rule, target/_probe.py).
_SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "AUTH", "KEYRING", "CREDENTIAL")


def without_credentials(value: str) -> str:
    """``value`` with the credentials of every URL in it replaced by ``***``.

    >>> without_credentials("https://me:tok@host/simple file:///x")
    'https://***@host/simple file:///x'
    """
    return _CREDENTIALS.sub(r"\1***@", value)


def variable_value(name: str, value: str) -> str:
    """A variable's value as a snapshot may keep it: ``***`` for a secret's, else without the
    credentials of its URLs.

    >>> variable_value("PIP_INDEX_URL", "https://u:p@h/simple"), variable_value("X_TOKEN", "t")
    ('https://***@h/simple', '***')
    """
    if any(word in name.upper() for word in _SECRET_WORDS):
        return "***"
    return without_credentials(value)
