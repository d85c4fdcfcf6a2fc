"""Looking at the operating system the target runs on: its ``os-release`` file.

Read only where the target's system is this machine's (a live target; a static tree of this
machine's architecture): a tree copied from another machine says nothing of its system here.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from pkgdoctor.files import read_regular
from pkgdoctor.target.facts import Target

# os-release(5): /etc/os-release, else /usr/lib/os-release (the vendor's copy, which the
# first may link to); a few KiB at most.
OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")
OS_RELEASE_LIMIT = 64 << 10
# What identifies the distribution and its release; the rest (URLs, logos) says nothing
# a bug report needs.
OS_RELEASE_KEYS = frozenset(
    ("NAME", "ID", "ID_LIKE", "VERSION", "VERSION_ID", "VERSION_CODENAME", "PRETTY_NAME")
)


def collect(target: Target) -> Mapping[str, str] | None:
    """The identifying lines of the target's os-release; None when it is not this machine's
    system, or when there is no readable file (not Linux, a minimal container)."""
    if not target.system_is_host:
        return None
    for path in OS_RELEASE_FILES:
        try:
            data = read_regular(path, OS_RELEASE_LIMIT)
        except OSError:
            continue
        return parse_os_release(data.decode("utf-8", "replace"))
    return None


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines of os-release(5), values in shell quoting, comments and blank
    lines ignored, only :data:`OS_RELEASE_KEYS`; a line shlex cannot read is skipped.

    >>> parse_os_release('# x\\nNAME="Debian GNU/Linux"\\nID=debian\\nHOME_URL="https://x"\\n')
    {'NAME': 'Debian GNU/Linux', 'ID': 'debian'}
    """
    result: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key not in OS_RELEASE_KEYS:
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        result[key] = " ".join(words)
    return result
