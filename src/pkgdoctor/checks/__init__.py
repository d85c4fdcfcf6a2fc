"""Checks: functions from a target's facts to findings, one module per family.

Each family module (see ``registry.FAMILIES``) registers its codes and has
``check(ctx) -> list[Finding]``; ``reconcile`` lets a family merge what another found
about the same root cause (a wheel tag that does not fit *and* extension modules of the
wrong architecture are one problem, reported once).
"""

from __future__ import annotations

import importlib
import os
import pickle
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pkgdoctor.checks.context import Context
from pkgdoctor.checks.registry import FAMILIES
from pkgdoctor.findings import Finding

# Families that can run in a second process: they read files only, and share nothing with
# the others but the inventory, which is read before the split.
_FORKABLE = ("distributions", "integrity", "paths")


def run_checks(
    ctx: Context, *, parallel: bool = False, wanted: Callable[[str], bool] | None = None
) -> list[Finding]:
    """Every family's findings for the target whose code is ``wanted``, reconciled.

    With ``parallel``, the file-heavy families run in a forked child on the second core
    while this process runs the others. Anything that goes wrong in the child (it cannot be
    forked, it fails, it returns nothing) makes this process run them itself: the result
    is the same either way, only the time differs.

    Unwanted codes are dropped *before* reconciling: a finding is folded into another only
    when that other one is reported (``--select record-missing-file`` shows the missing
    files even where ``ext-missing-library`` would have absorbed them).
    """
    modules = [importlib.import_module(f"pkgdoctor.checks.{family}") for family in FAMILIES]
    findings: list[Finding] = []
    if parallel and hasattr(os, "fork"):
        findings = _run_split(ctx, modules)
    else:
        for module in modules:
            findings += module.check(ctx)
    if wanted is not None:
        findings = [f for f in findings if wanted(f.code)]
    for module in modules:
        reconcile = getattr(module, "reconcile", None)
        if reconcile is not None:
            findings = reconcile(ctx, findings)
    return findings


def _run_split(ctx: Context, modules: list[ModuleType]) -> list[Finding]:
    forked = [m for m in modules if m.__name__.rpartition(".")[2] in _FORKABLE]
    local = [m for m in modules if m not in forked]
    _ = ctx.inventory  # read once, before the split, so that both sides have it
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
    except OSError:
        pid, read_fd, write_fd = -1, -1, -1
    if pid == 0:  # the child: run its families, send the findings back, leave at once
        status = 1
        try:
            os.close(read_fd)
            found: list[Finding] = []
            before = ctx.cache.sections()
            for module in forked:
                found += module.check(ctx)
            result = (found, ctx.examined, ctx.cache.changes(before))
            data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    findings: list[Finding] = []
    for module in local:
        findings += module.check(ctx)
    child = _collect(pid, read_fd, write_fd)
    if child is None:
        for module in forked:
            findings += module.check(ctx)
    else:
        child_findings, examined, cached = child
        findings += child_findings
        ctx.examined.update(examined)
        ctx.cache.absorb(cached)
    return findings


def _collect(
    pid: int, read_fd: int, write_fd: int
) -> tuple[list[Finding], dict[str, int], Any] | None:
    if pid < 0:
        return None
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as source:
        data = source.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return None
    try:
        result = pickle.loads(data)  # our own child's bytes, through a private pipe
    except Exception:
        return None
    findings, examined, cached = result
    return list(findings), dict(examined), cached
