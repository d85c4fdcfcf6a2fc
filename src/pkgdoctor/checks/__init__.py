"""Checks: functions from a target's facts to findings, one module per family.

Each family module (see ``registry.FAMILIES``) registers its codes and has
``check(ctx) -> list[Finding]``; ``reconcile`` lets a family merge what another found
about the same root cause (a wheel tag that does not fit *and* extension modules of the
wrong architecture are one problem, reported once).
"""

from __future__ import annotations

import importlib

from pkgdoctor.checks.context import Context
from pkgdoctor.checks.registry import FAMILIES
from pkgdoctor.findings import Finding


def run_checks(ctx: Context) -> list[Finding]:
    """Every family's findings for the target, reconciled."""
    findings: list[Finding] = []
    modules = [importlib.import_module(f"pkgdoctor.checks.{family}") for family in FAMILIES]
    for module in modules:
        findings += module.check(ctx)
    for module in modules:
        reconcile = getattr(module, "reconcile", None)
        if reconcile is not None:
            findings = reconcile(ctx, findings)
    return findings
