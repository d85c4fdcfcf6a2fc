"""Known package indexes, as data: PyPI, its public mirrors, and the mirrors that are gone.

A mirror serves what PyPI has and nothing else, so it can never serve a version PyPI refuses:
PyPI rejects an upload whose version has a local label (``2.5.1+cu118``): PEP 440, "Local
version identifiers": "local version labels MUST NOT be allowed in the public index", and
PyPI's upload checks refuse them (warehouse ``forklift/legacy.py``: "Can't use PEP 440 local
versions."). Such versions come only from the index of their vendor (the PyTorch index) or
a local directory.

The tables are dated: what was known on :data:`AS_OF`.
"""

from __future__ import annotations

import urllib.parse

from pkgdoctor._fields import Fact, fact

AS_OF = "2026-12"

# Hosts (and path prefixes) of PyPI and the public mirrors of it that serve PyPI's files
# only: PyPI itself, and the widely used mirrors in mainland China (their help pages:
# mirrors.tuna.tsinghua.edu.cn/help/pypi, mirrors.aliyun.com/pypi, mirrors.ustc.edu.cn/help/pypi,
# mirrors.cloud.tencent.com/pypi, repo.huaweicloud.com/repository/pypi).
PYPI_MIRRORS = (
    "pypi.org/",
    "pypi.python.org/",
    "files.pythonhosted.org/",
    "pypi.tuna.tsinghua.edu.cn/",
    "mirrors.tuna.tsinghua.edu.cn/pypi/",
    "mirrors.aliyun.com/pypi/",
    "mirrors.ustc.edu.cn/pypi/",
    "pypi.mirrors.ustc.edu.cn/",
    "mirrors.cloud.tencent.com/pypi/",
    "repo.huaweicloud.com/repository/pypi/",
    "pypi.doubanio.com/",
    "pypi.douban.com/",
)


@fact
class Retired(Fact):
    """A mirror that is gone or moved: since when, and where that is written."""

    host: str
    since: str
    what: str
    source: str


RETIRED = (
    *(
        Retired(
            f"{letter}.pypi.python.org",
            "2014",
            "one of PyPI's PEP 381 mirrors, retired with the mirror network",
            "PEP 449 (Removal of the PyPI Mirror Auto Discovery and Naming Scheme)",
        )
        for letter in (*"abcdefg", "last")
    ),
    Retired(
        "pypi.douban.com",
        "2017-03",
        "moved: douban's mirror answers there only with a redirect to pypi.doubanio.com",
        "ibigbug/pypi-mirrors#5 (mirror list update, 2017-03-02)",
    ),
)


def host_path(url: str) -> str:
    """``host/path/`` of an index URL, lower-case host, credentials and port dropped."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}{parts.path.rstrip('/')}/"


def is_pypi_or_mirror(url: str) -> bool:
    """Whether ``url`` is PyPI or a known public mirror of it (serving PyPI's files only).

    >>> is_pypi_or_mirror("https://pypi.tuna.tsinghua.edu.cn/simple"), is_pypi_or_mirror(
    ...     "https://download.pytorch.org/whl/cu118")
    (True, False)
    """
    where = host_path(url)
    return any(where.startswith(prefix) for prefix in PYPI_MIRRORS)


def retired(url: str) -> Retired | None:
    """The :data:`RETIRED` entry of ``url``'s host, or None."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return next((r for r in RETIRED if r.host == host), None)


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine: pip treats localhost, 127.0.0.0/8 and ::1 as
    secure origins over plain HTTP (``pip/_internal/network/session.py`` SECURE_ORIGINS),
    since nothing of the traffic leaves the machine."""
    host = (urllib.parse.urlsplit(url if "://" in url else f"//{url}").hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")
