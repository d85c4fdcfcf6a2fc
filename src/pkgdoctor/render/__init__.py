"""Renderers: a report in, a string out. One module per format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING

from pkgdoctor._fields import Fact, fact
from pkgdoctor.findings import Finding
from pkgdoctor.target.facts import Target

if TYPE_CHECKING:
    from pkgdoctor.look.imports import ImportOutcome


@fact
class Report(Fact):
    """Everything one command found, ready to be rendered."""

    command: str  # "check" or "why"
    target: Target
    findings: Sequence[Finding]
    imports: Sequence[ImportOutcome] = field(default_factory=tuple)
    areas: Sequence[str] = field(default_factory=tuple)  # the areas that were examined
    examined: Mapping[str, int] = field(default_factory=dict)  # area -> files looked at
    # For a report judged from a snapshot: "FILE, taken 2026-11-30T19:56:16Z" (text only:
    # the JSON document is the same as the live check's).
    recorded: str | None = None


def printable(text: str) -> str:
    """``text`` with undecodable file-name bytes (lone surrogates) shown as ``\\xNN``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text
