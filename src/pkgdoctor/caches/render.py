"""``pkgdoctor cache`` as text (a table like ``du -sh``, then each cache's parts, the
environment's sharing with its caches and the findings) and as JSON
(``schema/cache-v1.json``). Renderers decide from the facts alone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pkgdoctor import __version__
from pkgdoctor.caches.facts import Cache, CacheFacts, Linkage, Usage
from pkgdoctor.findings import Finding, summarize
from pkgdoctor.render import printable, terminal_text
from pkgdoctor.render.text import Line, finding_lines
from pkgdoctor.words import plural

SCHEMA_VERSION = 1


def human(size: int) -> str:
    """A size as ``du -h`` writes it: 1024-based, one decimal below 10.

    >>> human(0), human(3_100_000), human(52 << 30)
    ('0', '3.0M', '52G')
    """
    value = float(size)
    for unit in ("", "K", "M", "G", "T", "P"):
        if value < 1024 or unit == "P":
            if not unit:
                return str(size)
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _size(usage: Usage) -> str:
    return ("≥" if not usage.complete else "") + human(usage.bytes)


def reclaim_command(cache: Cache) -> str | None:
    """The tool's own command that frees the reclaimable part."""
    tool = cache.location.tool
    if tool == "pip":
        return "pip cache purge"
    if tool == "uv":
        return "uv cache prune"
    if tool == "rattler" or cache.layout == "rattler":
        return None  # pixi clean cache removes all of it; conda clean only its pkgs_dirs
    return "conda clean --packages --tarballs"


def _cut(text: str, width: int | None) -> str:
    text = terminal_text(text)
    if width is not None and len(text) > width:
        return text[: max(width - 1, 1)] + "…"
    return text


def _where(cache: Cache) -> str:
    loc = cache.location
    if loc.path is None:
        return f"(off: {loc.disabled})"
    note = ""
    if cache.problem:
        note = f"  ({cache.problem})"
    elif not cache.exists:
        note = "  (not there)"
    elif cache.layout and cache.layout != "conda":
        note = f"  ({cache.layout} layout)"
    return loc.path + note


def render_text(
    facts: CacheFacts, found: Sequence[Finding], width: int | None = None
) -> list[Line]:
    lines: list[Line] = []
    kind = " (conda environment)" if facts.linkage is not None else ""
    lines.append([("pkgdoctor cache", "bold"), (f"  target: {facts.prefix}{kind}", "")])
    lines.append([])
    lines.append([(f"{'SIZE':>7}  {'RECLAIMABLE':>11}  {'TOOL':7}  WHERE", "bold")])
    total = Usage()
    reclaim = Usage()
    for cache in facts.caches:
        left = (
            f"{_size(cache.total):>7}  {_size(cache.reclaimable):>11}  "
            if cache.exists
            else f"{'-':>7}  {'-':>11}  "
        )
        if cache.exists:
            total = total + cache.total
            reclaim = reclaim + cache.reclaimable
        text = f"{left}{cache.location.tool:7}  "
        rest = None if width is None else max(width - len(text), 10)
        lines.append([(text, ""), (_cut(_where(cache), rest), "")])
    lines.append([(f"{_size(total):>7}  {_size(reclaim):>11}  total", "bold")])
    for cache in facts.caches:
        if cache.exists:
            lines += _details(cache, width)
    if facts.linkage is not None:
        lines += _linkage(facts.linkage, width)
    if found:
        lines.append([])
        lines.append([("Findings", "bold")])
        for finding in found:
            lines += finding_lines(finding, width)
    for note in facts.notes:
        lines.append([])
        lines.append([(_cut(f"note: {note}", width), "dim")])
    return lines


def _details(cache: Cache, width: int | None) -> list[Line]:
    lines: list[Line] = [[]]
    head = f"{cache.location.tool}  {cache.location.path}"
    lines.append([(_cut(head, width), "bold")])
    lines.append([(_cut(f"  where: {cache.location.source}", width), "dim")])
    if cache.location.tool in ("conda", "rattler"):
        packages = plural(cache.packages, "extracted package")
        counts = f"  {packages}, {plural(cache.tarballs, 'package file')}"
        lines.append([(counts, "")])
    for part in cache.parts:
        mark = "reclaimable" if part.reclaimable else ""
        text = f"  {_size(part.usage):>7}  {part.name:16} {part.what:40} {mark}".rstrip()
        lines.append([(_cut(text, width), "")])
    command = reclaim_command(cache)
    if cache.reclaimable.bytes and command:
        lines.append([("  free it: ", "bold"), (command, "bold")])
    if cache.location.tool == "uv":
        lines.append([(_cut("  uv cache clean removes all of it", width), "dim")])
    if cache.broken:
        lines.append(
            [(f"  {plural(len(cache.broken), 'broken entry', 'broken entries')}: see Findings", "")]
        )
    return lines


def _linkage(link: Linkage, width: int | None) -> list[Line]:
    lines: list[Line] = [[]]
    head = f"Environment {link.prefix}: {plural(link.records, 'conda package')}"
    lines.append([(_cut(head, width), "bold")])
    shared = ", ".join(link.sources) or "no cache"
    rows = [
        ("hard-linked from pkgs/", link.hardlinked, f"shared on disk with {shared}"),
        ("copied", link.copied, "files of its own"),
    ]
    for name, usage, what in rows:
        count = plural(usage.files, "file")
        text = f"  {name:22} {count:>13}  {_size(usage):>7}  {what}"
        lines.append([(_cut(text, width), "")])
    if link.softlinks:
        lines.append([(f"  {'symbolic links':22} {link.softlinks:>13,}", "")])
    if link.missing:
        lines.append([(f"  {'missing':22} {plural(link.missing, 'file'):>13}", "")])
    if link.no_source:
        text = f"  {plural(link.no_source, 'package')} no longer extracted in any cache"
        lines.append([(_cut(text, width), "dim")])
    return lines


def _usage(usage: Usage) -> dict[str, Any]:
    return usage.to_json()


def to_json(facts: CacheFacts, found: Sequence[Finding]) -> dict[str, Any]:
    link = facts.linkage
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pkgdoctor", "version": __version__},
        "command": "cache",
        "target": {"prefix": facts.prefix, "conda": link is not None},
        "caches": [
            {
                "tool": c.location.tool,
                "path": c.location.path,
                "source": c.location.source,
                "disabled": c.location.disabled,
                "exists": c.exists,
                "problem": c.problem,
                "layout": c.layout,
                "total": _usage(c.total),
                "reclaimable": _usage(c.reclaimable),
                "reclaim_command": reclaim_command(c) if c.exists else None,
                "parts": [
                    {
                        "name": p.name,
                        "what": p.what,
                        "reclaimable": p.reclaimable,
                        **_usage(p.usage),
                    }
                    for p in c.parts
                ],
                "packages": c.packages,
                "tarballs": c.tarballs,
            }
            for c in facts.caches
        ],
        "environment": None
        if link is None
        else {
            "prefix": link.prefix,
            "records": link.records,
            "sources": list(link.sources),
            "hardlinked": _usage(link.hardlinked),
            "copied": _usage(link.copied),
            "softlinks": link.softlinks,
            "missing": link.missing,
            "no_source": link.no_source,
        },
        "findings": [f.to_json() for f in found],
        "summary": summarize(found),
        "notes": list(facts.notes),
        "seconds": facts.seconds,
    }


def render_json(facts: CacheFacts, found: Sequence[Finding]) -> str:
    return json.dumps(_printable(to_json(facts, found)), indent=2) + "\n"


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value
