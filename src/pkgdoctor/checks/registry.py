"""The one place every finding code is declared.

``--list-checks`` and the documentation test read this registry, so a code cannot exist
without its area, default severity, summary and fix being stated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pkgdoctor.findings import Finding, Severity

AREAS = (
    "Interpreter",
    "sys.path",
    "Distributions",
    "Integrity",
    "Extension modules",
    "Imports",
    "Wheels",
)

# The check families `pkgdoctor check` runs, in order; each module has ``check(ctx)``.
FAMILIES = ("distributions", "integrity", "paths", "extensions")


@dataclass(frozen=True)
class Check:
    """A finding code and what it means."""

    code: str
    area: str
    severity: Severity
    summary: str

    def finding(
        self,
        message: str,
        *,
        distribution: str | None = None,
        path: str | None = None,
        evidence: Mapping[str, Any] | None = None,
        fix: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            code=self.code,
            severity=severity or self.severity,
            message=message,
            distribution=distribution,
            path=path,
            evidence=dict(evidence or {}),
            fix=fix,
        )


REGISTRY: dict[str, Check] = {}


def register(code: str, area: str, severity: Severity, summary: str) -> Check:
    if code in REGISTRY:
        raise ValueError(f"finding code {code!r} registered twice")
    if area not in AREAS:
        raise ValueError(f"unknown area {area!r}")
    check = Check(code, area, severity, summary)
    REGISTRY[code] = check
    return check


def all_checks() -> list[Check]:
    """Every registered check, in area order then code order."""
    import importlib

    for family in (*FAMILIES, "imports"):
        importlib.import_module(f"pkgdoctor.checks.{family}")  # registers its codes
    importlib.import_module("pkgdoctor.wheelaudit.codes")  # audit-wheel's codes
    return sorted(REGISTRY.values(), key=lambda c: (AREAS.index(c.area), c.code))
