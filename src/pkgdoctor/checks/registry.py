"""The check families ``pkgdoctor check`` runs.

The finding codes themselves (area, default severity, summary) are plain data in
:mod:`pkgdoctor.codes`, at the bottom of the layers, so that renderers, ``--list-checks`` and
``audit-wheel`` know them without importing a check family.
"""

from __future__ import annotations

# In order; each module has ``check(ctx)`` (and may have ``reconcile``).
FAMILIES = (
    "interpreter",
    "venv",
    "distributions",
    "integrity",
    "conda",
    "ownership",
    "paths",
    "extensions",
    "gpu",
    "config",
)
