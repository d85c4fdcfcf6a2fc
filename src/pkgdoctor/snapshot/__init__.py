"""The Snapshot: one frozen, versioned, serialisable model of an environment.

``model`` defines it, ``codec`` reads and writes it as JSON; the look layer
(:mod:`pkgdoctor.look`) builds it and the checks judge it.
"""

from pkgdoctor.snapshot.model import SCHEMA_VERSION, Snapshot

__all__ = ["SCHEMA_VERSION", "Snapshot"]
