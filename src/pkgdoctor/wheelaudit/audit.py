"""Audit wheels: read each one once, run every wheel check, collect one result per wheel."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import field, replace
from typing import Any

from pkgdoctor._fields import Fact, fact
from pkgdoctor.archive import ArchiveError
from pkgdoctor.errors import UsageError
from pkgdoctor.findings import Finding, sort_findings
from pkgdoctor.wheelaudit.facts import parse_filename, read_facts
from pkgdoctor.wheelaudit.metadata import metadata_findings, record_findings
from pkgdoctor.wheelaudit.platform import audit_platform


@fact
class WheelAudit(Fact):
    """What ``audit-wheel`` found about one wheel (the ``wheels[]`` items of its JSON)."""

    wheel: str  # the file name
    path: str
    error: str | None = None  # why it could not be audited at all
    pure: bool | None = None  # tagged for any platform
    claimed_tags: tuple[str, ...] = ()  # the platform tags of the file name
    architecture: str | None = None
    libc: str | None = None
    overall_tag: str | None = None  # the most compatible policy the ELF files satisfy
    symbol_tag: str | None = None  # the same, judged by symbol versions alone
    satisfied_tags: tuple[str, ...] = ()
    limited_by: Mapping[str, Any] | None = None  # what keeps the next tag out of reach
    versioned_symbols: Mapping[str, list[str]] = field(default_factory=dict)
    external_libs: Mapping[str, list[str]] = field(default_factory=dict)
    elf_files: int = 0
    findings: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "wheel": self.wheel,
            "path": self.path,
            "error": self.error,
            "pure": self.pure,
            "claimed_tags": list(self.claimed_tags),
            "architecture": self.architecture,
            "libc": self.libc,
            "overall_tag": self.overall_tag,
            "symbol_tag": self.symbol_tag,
            "satisfied_tags": list(self.satisfied_tags),
            "limited_by": dict(self.limited_by) if self.limited_by is not None else None,
            "versioned_symbols": {k: list(v) for k, v in self.versioned_symbols.items()},
            "external_libs": {k: list(v) for k, v in self.external_libs.items()},
            "elf_files": self.elf_files,
            "findings": [f.to_json() for f in self.findings],
        }

    def with_findings(self, findings: Iterable[Finding]) -> WheelAudit:
        return replace(self, findings=tuple(findings))


def audit_wheel(path: str) -> WheelAudit:
    """Audit one wheel file. Never raises for a bad wheel: ``error`` says why it could not
    be read (the CLI exits 2 then).

    :raises PolicyDataError: if auditwheel's policy data is not installed.
    """
    name = os.path.basename(path)
    try:
        facts = read_facts(path)
    except ArchiveError as exc:
        return WheelAudit(name, path, error=str(exc))
    platform = audit_platform(facts)
    findings = list(platform.findings)
    findings += record_findings(facts)
    found, _ = metadata_findings(facts)
    findings += found
    verdict = platform.verdict
    result = WheelAudit(
        wheel=name,
        path=path,
        pure=facts.pure,
        claimed_tags=tuple(c.tag for c in platform.claims),
        elf_files=len(facts.elf_files) + len(facts.bad_elf),
        findings=tuple(sort_findings(findings)),
    )
    if verdict is None:
        return result
    next_up = verdict.next_up
    limited_by = None
    if next_up is not None and next_up.name in verdict.blockers:
        limited_by = {"tag": next_up.name, **verdict.blockers[next_up.name].to_json()}
    return replace(
        result,
        architecture=verdict.arch,
        libc=verdict.libc,
        overall_tag=verdict.overall.name,
        symbol_tag=verdict.symbol_policy.name,
        satisfied_tags=tuple(t for p in verdict.satisfied for t in p.tags),
        limited_by=limited_by,
        versioned_symbols=verdict.versioned_symbols,
        external_libs=verdict.external_libs,
    )


def wheel_paths(arguments: Iterable[str]) -> list[str]:
    """The wheels named on the command line: files as given, directories' ``*.whl`` sorted.

    :raises UsageError: for a directory without wheels.
    """
    paths: list[str] = []
    for argument in arguments:
        if os.path.isdir(argument):
            found = sorted(
                os.path.join(argument, n) for n in os.listdir(argument) if n.endswith(".whl")
            )
            if not found:
                raise UsageError(f"{argument}: no *.whl files in this directory")
            paths += found
        else:
            paths.append(argument)
    return paths


def audit_paths(arguments: Iterable[str]) -> list[WheelAudit]:
    """Audit every wheel named by ``arguments`` (files or directories), in order."""
    return [audit_wheel(path) for path in wheel_paths(arguments)]


__all__ = ["WheelAudit", "audit_paths", "audit_wheel", "parse_filename", "wheel_paths"]
