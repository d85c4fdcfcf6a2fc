"""Findings: what a check reports about the environment.

A finding is data, never an exception. Its fields are the JSON output contract
(``docs/checks.md`` and ``schema/check-v1.json``): a stable ``code``, a ``severity``, a
one-sentence ``message``, the ``distribution`` and ``path`` it concerns, the ``evidence`` that
proves it, and its fix in two parts: a ``command`` (one shell line a user can paste as it is,
or None) and an ``explanation`` (prose, or None). ``fix`` joins the two into the one line the
JSON contract had before the split.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

from pkgdoctor._fields import Fact, fact


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that ``max()`` gives the worst."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@fact
class Fix(Fact):
    """A fix in its two parts, for the functions that work one out for a finding.

    ``command`` is one shell line a user can paste as it is (no placeholders, no prose); what
    it does not say goes in ``explanation``.
    """

    command: str | None = None
    explanation: str | None = None


@fact
class Finding(Fact):
    """One problem (or notable fact) found in the target.

    >>> Finding("ext-wrong-arch", Severity.ERROR, "numpy is built for aarch64.")
    ... # doctest: +ELLIPSIS
    Finding(code='ext-wrong-arch', ...)
    """

    code: str
    severity: Severity
    message: str
    distribution: str | None = None
    path: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    command: str | None = None
    explanation: str | None = None

    @property
    def fix(self) -> str | None:
        """The fix as one line: the command, with the explanation after it as a shell comment
        (so that the whole line still pastes), or whichever of the two there is.

        >>> Finding("x", Severity.ERROR, "m", command="rm f", explanation="f blocks.").fix
        'rm f  # f blocks.'
        """
        if self.command and self.explanation:
            return f"{self.command}  # {self.explanation}"
        return self.command or self.explanation

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.label,
            "message": self.message,
            "distribution": self.distribution,
            "path": self.path,
            "evidence": dict(self.evidence),
            "fix": self.fix,
            "command": self.command,
            "explanation": self.explanation,
        }


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first; then by code and distribution so that output is stable."""
    return sorted(
        findings,
        key=lambda f: (-f.severity, f.code, f.distribution or "", f.path or "", f.message),
    )


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {s.label: 0 for s in sorted(Severity, reverse=True)}
    for finding in findings:
        counts[finding.severity.label] += 1
    return counts
