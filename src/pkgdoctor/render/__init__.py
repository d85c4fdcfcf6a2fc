"""Renderers: a report in, a string out. One module per format."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING

from pkgdoctor._fields import Fact, fact
from pkgdoctor.findings import Finding
from pkgdoctor.target.facts import Target

if TYPE_CHECKING:
    from pkgdoctor.look.gpu_probe import GpuProbe
    from pkgdoctor.look.imports import ImportOutcome


@fact
class Report(Fact):
    """Everything one command found, ready to be rendered."""

    command: str  # "check" or "why"
    target: Target
    findings: Sequence[Finding]
    imports: Sequence[ImportOutcome] = field(default_factory=tuple)
    # ``why --gpu``: each framework's answer, explained; None when the frameworks were not asked.
    gpu: Sequence[GpuProbe] | None = None
    areas: Sequence[str] = field(default_factory=tuple)  # the areas that were examined
    examined: Mapping[str, int] = field(default_factory=dict)  # area -> files looked at
    # For a report judged from a snapshot: "FILE, taken 2026-11-30T19:56:16Z" (text only:
    # the JSON document is the same as the live check's).
    recorded: str | None = None


def printable(text: str) -> str:
    """``text`` with undecodable file-name bytes (lone surrogates) shown as ``\\xNN``, so
    that it encodes as UTF-8 (the JSON documents; the terminal needs :func:`terminal_text`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


# C0 controls, DEL and C1 controls (Unicode general category Cc). ESC starts the terminal's
# escape sequences (ECMA-48 5.3: ``ESC ] 0 ; title BEL`` sets the window title, CSI moves the
# cursor or rewrites the screen); U+009B is CSI on its own in terminals that honour C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_text(text: str) -> str:
    """One line of terminal text: what came from outside (a distribution's name, a file name
    from a hostile RECORD, a build backend from an sdist, a server's reply) with undecodable
    bytes and every control character shown as ``\\xNN``; printable non-ASCII stays.

    The one escaping function of every text output: the renderers and the CLI's messages
    use it, and the CLI passes every span through it again before writing (it is idempotent).

    >>> terminal_text("ok\\x1b]0;pwned\\x07 café ✓\\nnext")
    'ok\\\\x1b]0;pwned\\\\x07 café ✓\\\\x0anext'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", printable(text))


def terminal_lines(
    lines: Iterable[Sequence[tuple[str, str]]],
) -> list[list[tuple[str, str]]]:
    """Lines of styled spans with every span's text through :func:`terminal_text`."""
    return [[(terminal_text(text), style) for text, style in line] for line in lines]


# What json.dumps(ensure_ascii=False) writes raw among the controls of _CONTROL.
_UNESCAPED_IN_JSON = re.compile(r"[\x7f-\x9f]")


def terminal_json(document: str) -> str:
    """A JSON text with the control characters ``json.dumps(..., ensure_ascii=False)`` leaves
    raw (DEL and C1; it escapes C0 itself, and the layout's newlines are no string's) written
    as ``\\u00XX``: the same document (they can only stand inside strings, RFC 8259 section
    7), safe on a terminal.

    >>> terminal_json('{"a": "x\\x9b[2J é"}')
    '{"a": "x\\\\u009b[2J é"}'
    """
    return _UNESCAPED_IN_JSON.sub(lambda m: f"\\u{ord(m[0]):04x}", document)
