"""``pkgdoctor diff`` as text (the terminal) and as JSON (``schema/diff-v1.json``).

The text is grouped by tier, most important first; long lists are folded with counts (the
JSON document always holds everything). Lines are styled spans, as in :mod:`.text`: plain
for pipes and tests, coloured by the CLI on a terminal, and cut to ``width`` when given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pkgdoctor import __version__
from pkgdoctor.diff import CHANGED, ONLY_A, TIER_NAMES, Change, Diff, Side
from pkgdoctor.render import terminal_lines, terminal_text
from pkgdoctor.render.json import _printable
from pkgdoctor.render.text import Line
from pkgdoctor.words import plural

SCHEMA_VERSION = 1

#: At most this many changes per tier, and items per change, in the text (``--json``: all).
MAX_CHANGES = 15
MAX_ITEMS = 3

_MARKS = {
    CHANGED: ("≠ ", "bold yellow"),
    ONLY_A: ("- ", "bold red"),
    "only-b": ("+ ", "bold green"),
}
_SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "cyan"}


def diff_to_json(diff: Diff, a: Side, b: Side) -> dict[str, Any]:
    by_area = {TIER_NAMES[tier]: len(changes) for tier, changes in diff.by_tier().items()}
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pkgdoctor", "version": __version__},
        "command": "diff",
        "a": _side_json(a),
        "b": _side_json(b),
        "changes": [change.to_json() for change in diff.changes],
        "notes": list(diff.notes),
        "summary": {"changes": len(diff.changes), "by_area": by_area},
    }


def render_json(diff: Diff, a: Side, b: Side) -> str:
    return json.dumps(_printable(diff_to_json(diff, a, b)), indent=2) + "\n"


def _side_json(side: Side) -> dict[str, Any]:
    snapshot = side.snapshot
    target = snapshot.target
    interp = target.interpreter
    return {
        "source": side.source,
        "kind": side.kind,
        "prefix": target.prefix,
        "mode": target.mode,
        "implementation": interp.implementation,
        "python": ".".join(map(str, interp.version)),
        "architecture": interp.architecture,
        "libc": str(interp.libc) if interp.libc else None,
        "deep": snapshot.scope.deep,
        "created": snapshot.created,
        "distributions": len(snapshot.inventory.distributions),
        "conda_packages": len(snapshot.conda.records) if snapshot.conda else None,
    }


def render_text(diff: Diff, a: Side, b: Side, width: int | None = None) -> list[Line]:
    """The diff as lines of styled spans; ``width`` cuts every line to that many columns."""
    lines: list[Line] = [
        [("pkgdoctor ", "bold"), (__version__, ""), (" diff", "bold")],
        _side_line("A", a),
        _side_line("B", b),
        [],
    ]
    tiers = diff.by_tier()
    for tier, changes in tiers.items():
        lines.append([(TIER_NAMES[tier], "bold"), (f"  ({len(changes)})", "dim")])
        for change in changes[:MAX_CHANGES]:
            lines += _change_lines(change)
        if len(changes) > MAX_CHANGES:
            more = len(changes) - MAX_CHANGES
            lines.append([(f"  … and {more} more in {TIER_NAMES[tier]} (--json shows all)", "dim")])
    if tiers:
        lines.append([])
    for note in diff.notes:
        lines.append([("note: ", "bold"), (terminal_text(note), "dim")])
    lines.append(_summary(diff))
    # Escaped before they are cut: a control character shown as \\xNN takes four columns.
    lines = terminal_lines(lines)
    return [_fit(line, width) for line in lines] if width else lines


def to_plain(lines: Sequence[Line]) -> str:
    return "".join("".join(text for text, _ in line) + "\n" for line in lines)


def _side_line(name: str, side: Side) -> Line:
    target = side.snapshot.target
    interp = target.interpreter
    impl = {"cpython": "CPython", "pypy": "PyPy"}.get(interp.implementation, interp.implementation)
    facts = [f"{impl} {'.'.join(map(str, interp.version))}"]
    if interp.gil_disabled:
        facts[0] += " (free-threaded)"
    facts.append(interp.architecture or "unknown architecture")
    facts.append(str(interp.libc) if interp.libc else "unknown libc")
    facts.append(plural(len(side.snapshot.inventory.distributions), "distribution"))
    if side.snapshot.conda is not None:
        facts.append(plural(len(side.snapshot.conda.records), "conda package"))
    if side.kind == "snapshot":
        how = f"snapshot of {target.prefix}" + (
            f", {side.snapshot.created}" if side.snapshot.created else ""
        )
    else:
        how = target.mode
    return [
        (f"  {name}  ", "bold"),
        (terminal_text(side.source), ""),
        (f"  ({terminal_text(how)})", "dim"),
        (f"  {' · '.join(facts)}", "dim"),
    ]


def _change_lines(change: Change) -> list[Line]:
    mark, style = _MARKS[change.kind]
    line: Line = [(f"  {mark}", style)]
    if change.severity:
        line.append((f"{change.severity}: ", _SEVERITY_STYLE.get(change.severity, "")))
    line.append((terminal_text(change.summary), ""))
    if change.tier == 5:
        line.append((f"  [{change.subject}]", "dim"))
    lines = [line]
    shown = change.items[:MAX_ITEMS]
    for item in shown:
        lines.append([("      ", ""), (terminal_text(item), "dim")])
    if len(change.items) > len(shown):
        more = len(change.items) - len(shown)
        lines.append([(f"      … and {more} more (--json shows all)", "dim")])
    return lines


def _summary(diff: Diff) -> Line:
    if not diff.changes:
        return [("No differences that matter.", "bold green")]
    counts = ", ".join(
        f"{TIER_NAMES[tier].lower()} {len(changes)}" for tier, changes in diff.by_tier().items()
    )
    n = len(diff.changes)
    lead = "1 difference that matters" if n == 1 else f"{n} differences that matter"
    return [(f"{lead} ", "bold"), (f"({counts}).", "")]


def _fit(line: Line, width: int) -> Line:
    """``line`` cut to ``width`` columns, ending in … when something was cut."""
    out: Line = []
    room = width
    for text, style in line:
        if len(text) <= room:
            out.append((text, style))
            room -= len(text)
            continue
        if room > 1:
            out.append((text[: room - 1] + "…", style))
        elif room == 1:
            out.append(("…", style))
        break
    return out
