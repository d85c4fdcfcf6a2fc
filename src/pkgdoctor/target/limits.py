"""The limits on a child that runs the target's code (the probe, ``why``'s import).

Kept apart from the code that enforces them (``target/process.py``) so that the command
line can show them in ``--help`` without importing ``subprocess``.
"""

from __future__ import annotations

MiB = 1 << 20

#: The probe's default time limit (``--timeout`` of check, snapshot, export, diff), from its
#: start: it answers in ~25 ms; a minute allows for a cold network file system and slow
#: ``.pth`` imports, yet ends a hang.
PROBE_TIMEOUT = 60.0

#: ``why``'s default time limit for one import (``--timeout``): importing a large package
#: (torch, tensorflow) from a cold network file system takes minutes, not more.
IMPORT_TIMEOUT = 300.0

#: The most of a child's stdout pkgdoctor holds. The probe's JSON is ~7 KB on a plain venv;
#: what grows with the environment is sys.path (one entry per .pth line), startup_modules
#: (what .pth imports import) and environ, whose values the kernel bounds to 128 KiB each
#: (MAX_ARG_STRLEN) and to ~2 MiB in all (a quarter of the 8 MiB stack limit; execve(2)).
#: Even that, escaped to ASCII (up to 6 bytes a character), stays under 16 MiB. ``why``'s
#: result holds every module spec the import found, ~140 bytes each (measured: importing
#: hypothesis finds 204, 29 KB): 100,000 modules would still fit. A child that prints more
#: is stopped (the probe), or only its last 16 MiB are read (``why``: the result comes last).
OUTPUT_LIMIT = 16 * MiB

#: stderr is only shown (its last lines) and searched for ``why``'s spec marks: its first
#: and its last MiB are kept, the middle dropped.
STDERR_KEPT = MiB
