"""``audit-wheel`` output: a checklist line per wheel (✓/!/✗) with its platform verdict and
findings, or one JSON document (``schema/audit-wheel-v1.json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pkgdoctor import __version__
from pkgdoctor.findings import summarize
from pkgdoctor.render import terminal_lines, terminal_text
from pkgdoctor.render.json import _printable
from pkgdoctor.render.text import MARKS, Line, finding_lines
from pkgdoctor.wheelaudit.audit import WheelAudit
from pkgdoctor.wheelaudit.platform import describe_blockers
from pkgdoctor.words import plural

SCHEMA_VERSION = 1


def render_json(audits: Sequence[WheelAudit]) -> str:
    findings = [f for a in audits for f in a.findings]
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pkgdoctor", "version": __version__},
        "command": "audit-wheel",
        "wheels": [a.to_json() for a in audits],
        "summary": summarize(findings),
    }
    return json.dumps(_printable(document), indent=2) + "\n"


def render_text(audits: Sequence[WheelAudit]) -> list[Line]:
    lines: list[Line] = [
        [("pkgdoctor ", "bold"), (__version__, ""), (" audit-wheel", "bold"),
         (f"  ({len(audits)} wheel{'s' if len(audits) != 1 else ''})", "dim")],
        [],
    ]  # fmt: skip
    for audit in audits:
        lines += _wheel_lines(audit)
    findings = [f for a in audits for f in a.findings]
    counts = summarize(findings)
    failed = sum(1 for a in audits if a.error)
    if not findings and not failed:
        lines += [[], [("No problems found.", "bold green")]]
    else:
        text = (
            f"{plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')}, "
            f"{plural(counts['info'], 'note')}"
        )
        if failed:
            text += f"; {plural(failed, 'wheel')} could not be audited"
        lines += [[], [(text + ".", "bold red" if counts["error"] or failed else "bold")]]
    return terminal_lines(lines)


def _wheel_lines(audit: WheelAudit) -> list[Line]:
    name = terminal_text(audit.wheel)
    if audit.error is not None:
        return [
            [
                ("[✗] ", "bold red"),
                (name, "bold"),
                (f"  cannot be audited: {terminal_text(audit.error)}", ""),
            ]
        ]
    if audit.findings:
        worst = max(f.severity for f in audit.findings)
        mark, style = MARKS[worst]
        counts = summarize(audit.findings)
        parts = [f"{n} {label}{'s' if n != 1 else ''}" for label, n in counts.items() if n]
        head: Line = [(f"[{mark}] ", style), (name, "bold"), (f"  {', '.join(parts)}", "")]
    else:
        head = [("[✓] ", "bold green"), (name, "bold")]
    lines = [head]
    for text in _facts(audit):
        lines.append([("      ", ""), (terminal_text(text), "dim")])
    for finding in audit.findings:
        lines += finding_lines(finding)
    return lines


def _facts(audit: WheelAudit) -> list[str]:
    if audit.overall_tag is None:
        if audit.pure:
            return ["pure Python (any platform)"]
        return ["no ELF file that can be loaded" if audit.elf_files else "no ELF files"]
    facts = [f"satisfies {audit.overall_tag} ({audit.libc}, {audit.architecture}; "
             f"{audit.elf_files} ELF file{'s' if audit.elf_files != 1 else ''})"]  # fmt: skip
    if audit.claimed_tags:
        facts.append(f"claimed: {', '.join(audit.claimed_tags)}")
    if audit.symbol_tag != audit.overall_tag:
        facts.append(f"by symbol versions alone: {audit.symbol_tag}")
    if audit.versioned_symbols:
        facts.append(
            "symbol versions: "
            + "; ".join(f"{lib} {_newest(v)}" for lib, v in audit.versioned_symbols.items())
        )
    if audit.limited_by:
        reasons = describe_blockers(audit.limited_by, limit=4)
        facts.append(f"{audit.limited_by['tag']} is out of reach: {reasons}")
    if audit.external_libs:
        facts.append(f"external libraries: {', '.join(audit.external_libs)}")
    return facts


def _newest(versions: list[str]) -> str:
    """The highest version of each family: what decides the policy."""
    best: dict[str, str] = {}
    for version in versions:
        best[version.partition("_")[0]] = version  # sorted oldest first
    return ", ".join(f"up to {v}" for v in best.values())
