"""The exceptions pkgdoctor raises when it *cannot do its job*.

A problem found in the environment under inspection is never an exception: it is a
:class:`~pkgdoctor.findings.Finding`. These errors are for "pkgdoctor cannot run": bad
arguments, a target that does not exist, an interpreter that cannot be probed. The CLI turns
each into a one-line message and exit status 2.
"""

from __future__ import annotations


class PkgdoctorError(Exception):
    """Base class: pkgdoctor could not do what it was asked."""


class UsageError(PkgdoctorError):
    """The command line asks for something that does not make sense."""


class TargetError(PkgdoctorError):
    """The target environment or interpreter cannot be found or examined."""


class ProbeError(TargetError):
    """The probe could not run in the target interpreter, or returned nonsense."""
