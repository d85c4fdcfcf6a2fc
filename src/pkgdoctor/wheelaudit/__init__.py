"""``pkgdoctor audit-wheel``: is a wheel what its name claims?

The pipeline is the same as ``check``'s: look (:mod:`pkgdoctor.archive` reads the zip in
place, the ELF files through :mod:`pkgdoctor.elf`) → facts (:class:`~.audit.WheelFacts`) → checks
(:mod:`.platform` for the manylinux/musllinux policy and the extension modules,
:mod:`.metadata` for RECORD, METADATA, WHEEL and classifiers) → render (:mod:`.render`).

>>> from pkgdoctor.wheelaudit import audit_wheel
>>> audit_wheel("no-such-1.0-py3-none-any.whl").error
'no such file'
"""

from __future__ import annotations

from pkgdoctor.wheelaudit.audit import WheelAudit, audit_paths, audit_wheel

__all__ = ["WheelAudit", "audit_paths", "audit_wheel"]
