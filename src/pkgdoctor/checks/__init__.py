"""Checks: pure functions from a Snapshot to findings, one module per family.

Each family module (see ``registry.FAMILIES``) registers its codes and has
``check(ctx) -> list[Finding]``; ``reconcile`` lets a family merge what another found
about the same root cause (a wheel tag that does not fit *and* extension modules of the
wrong architecture are one problem, reported once). A check reads nothing but
``ctx.snapshot``: the same facts give the same findings, live, static or recorded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pkgdoctor.checks.context import Context
from pkgdoctor.checks.registry import FAMILIES
from pkgdoctor.findings import Finding


def run_checks(ctx: Context, *, wanted: Callable[[str], bool] | None = None) -> list[Finding]:
    """Every family's findings for the snapshot whose code is ``wanted``, reconciled.

    Unwanted codes are dropped *before* reconciling: a finding is folded into another only
    when that other one is reported (``--select record-missing-file`` shows the missing
    files even where ``ext-missing-library`` would have absorbed them).
    """
    modules = [importlib.import_module(f"pkgdoctor.checks.{family}") for family in FAMILIES]
    findings: list[Finding] = []
    for module in modules:
        findings += module.check(ctx)
    if wanted is not None:
        findings = [f for f in findings if wanted(f.code)]
    for module in modules:
        reconcile = getattr(module, "reconcile", None)
        if reconcile is not None:
            findings = reconcile(ctx, findings)
    return findings
