"""Where an environment keeps its interpreter.

Its own module, at the bottom of ``target``: ``select`` (which must stay cheap to import) and
``static`` both need it, and ``static`` is imported by ``select`` when it reads a prefix.
"""

from __future__ import annotations

import os
import re


def find_interpreter(prefix: str) -> str | None:
    """The environment's interpreter: ``bin/python3``, ``bin/python`` or ``bin/python3.X``."""
    return interpreter_in(os.path.abspath(prefix))


def interpreter_in(prefix: str) -> str | None:
    """:func:`find_interpreter` for a ``prefix`` that is already absolute."""
    bindir = os.path.join(prefix, "bin")
    for name in ("python3", "python"):
        if os.path.lexists(os.path.join(bindir, name)):
            return os.path.join(bindir, name)
    try:
        names = os.listdir(bindir)
    except OSError:
        return None
    versioned = sorted(name for name in names if re.fullmatch(r"python3\.\d+t?", name))
    return os.path.join(bindir, versioned[0]) if versioned else None
