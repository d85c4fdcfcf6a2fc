"""Render a :class:`~pkgdoctor.wheels.command.WheelsReport`: the ``--json`` document
(``schema/wheels-v1.json``) or text — a detailed answer for one requirement, a readiness
table for several. Renderers return data; the CLI prints."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from pkgdoctor import __version__
from pkgdoctor.render import terminal_json, terminal_lines, terminal_text
from pkgdoctor.wheels.verdict import ACTIONS, Result, needs_text

if TYPE_CHECKING:
    from pkgdoctor.wheels.command import WheelsReport

SCHEMA_VERSION = 1
Span = tuple[str, str]  # (text, style)
Line = list[Span]

_MARK = {
    "wheel": ("✓", "bold green"),
    "build": ("!", "bold yellow"),
    "unavailable": ("✗", "bold red"),
    "unknown": ("?", "bold magenta"),
    "skipped": ("-", "dim"),
}
_MAX_PLATFORMS = 12
_MAX_LIBRARIES = 8  # evidence lines under "system libraries" (--json has every one)


def to_json(report: WheelsReport) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pkgdoctor", "version": __version__},
        "target": report.target.to_json(),
        "pip_config": report.settings.to_json(),
        "sources": [s.to_json() for s in report.sources],
        "results": [r.to_json() for r in report.results],
        "summary": summary(report),
        "notes": list(report.notes),
    }


def render_json(report: WheelsReport) -> str:
    return terminal_json(json.dumps(to_json(report), indent=2, ensure_ascii=False)) + "\n"


def summary(report: WheelsReport) -> dict[str, int]:
    counts = Counter(r.action for r in report.results)
    return {action: counts.get(action, 0) for action in ACTIONS}


def to_plain(lines: list[Line]) -> str:
    return "".join("".join(text for text, _ in line) + "\n" for line in lines)


def render_text(report: WheelsReport, *, table: bool) -> list[Line]:
    lines = _header(report)
    lines.append([])
    if table:
        lines += _table(report.results)
    else:
        for result in report.results:
            lines += _detail(result)
            lines.append([])
        if lines and not lines[-1]:
            lines.pop()
    lines.append([])
    for note in report.notes:
        lines.append([("! ", "bold yellow"), (note, "yellow")])
    counts = summary(report)
    parts = [f"{counts[a]} {a}" for a in ACTIONS if counts[a]]
    dependencies = sum(1 for r in report.results if r.dependency_of)
    total = len(report.results) - dependencies
    noun = "requirement" if total == 1 else "requirements"
    if dependencies:
        noun += f" and {dependencies} {'dependency' if dependencies == 1 else 'dependencies'}"
    lines.append([(f"{total} {noun}: ", "bold"), (" · ".join(parts), "")])
    # Requirement lines, sdists' build backends and servers' replies come from outside.
    return terminal_lines(lines)


def _header(report: WheelsReport) -> list[Line]:
    target = report.target
    kind = "described" if target.described else f"environment {target.environment}"
    lines: list[Line] = [
        [("Target: ", "bold"), (target.summary(), ""), (f"  ({kind})", "dim")],
    ]
    used = [s for s in report.sources if s.source.ignored is None]
    if not used:
        lines.append([("Sources: ", "bold"), ("none (--no-index and no --find-links)", "yellow")])
    for position, status in enumerate(report.sources):
        source = status.source
        head = "Sources: " if position == 0 else "         "
        line: Line = [
            (head, "bold"),
            (source.label, ""),
            (f"  ({source.kind}; ", "dim"),
            (f"{source.origin})", "dim"),
        ]
        if source.ignored:
            line.append((f"  ignored: {source.ignored}", "yellow"))
        lines.append(line)
        for note in status.notes():
            lines.append([("           ! ", "bold yellow"), (note, "yellow")])
    return lines


def _detail(result: Result) -> list[Line]:
    mark, style = _MARK[result.action]
    name = result.name or result.line.text
    lines: list[Line] = []
    head: Line = [(f"{mark} ", style), (name, "bold")]
    if result.action == "wheel" and result.file:
        head += [(f" {result.version}: ", ""), (result.file.filename, "green")]
    elif result.action == "build" and result.file:
        head += [
            (f": no wheel fits; pip would build {result.version} from ", ""),
            (result.file.filename, "yellow"),
        ]
    elif result.action == "unavailable":
        version = f" {result.version}" if result.version else ""
        head += [(f": no wheel fits and no sdist to build{version}", "red")]
    elif result.action == "skipped":
        head += [(": not needed on this target", "dim")]
    else:
        head += [(": cannot tell", "magenta")]
    if result.line.text != name:
        head.append((f"  ({result.line.text})", "dim"))
    lines.append(head)
    for reason in result.reasons:
        # packaging's InvalidRequirement points at the fault on lines of its own: each line is
        # a line here (one span is never more than one line of the terminal).
        first, *rest = reason.message.split("\n")
        lines.append([("    · ", "dim"), (first, "")])
        lines += [[(line, "")] for line in rest]
    build = result.build
    if build is not None:
        backend = build.backend_name
        lines.append(
            [
                ("  build: ", "bold"),
                (backend, ""),
                (
                    f"  (build-backend {build.backend!r})"
                    if build.backend and not build.fallback
                    else "",
                    "dim",
                ),
            ]
        )
        if build.requires:
            lines.append([("    requires: ", "dim"), (", ".join(build.requires), "")])
        lines.append([("    needs: ", "dim"), (needs_text(build), "bold")])
        if build.libraries:
            lines.append([("    system libraries it looks for:", "dim")])
            for library in build.libraries[:_MAX_LIBRARIES]:
                lines.append(
                    [(f"      {library.name} ({library.how}): ", "dim"), (library.evidence, "")]
                )
        if build.error:
            lines.append([("    ! ", "bold yellow"), (build.error, "yellow")])
    if result.action in ("build", "unavailable") and result.version:
        platforms = result.platforms_with_wheels
        if platforms:
            shown = ", ".join(platforms[:_MAX_PLATFORMS])
            more = (
                f" and {len(platforms) - _MAX_PLATFORMS} more"
                if len(platforms) > _MAX_PLATFORMS
                else ""
            )
            lines.append([(f"  wheels of {result.version} exist for: ", "dim"), (shown + more, "")])
        newest = result.newest_wheel
        if newest is not None:
            lines.append(
                [
                    ("  with --only-binary=:all: pip would take ", "dim"),
                    (f"{newest.version} ({newest.file.filename})", ""),
                ]
            )
        elif result.action == "build":
            lines.append([("  no version has a wheel for this target", "dim")])
    if result.dependency_of:
        lines.append([("  dependency of: ", "dim"), (", ".join(result.dependency_of), "")])
    return lines


def _table(results: list[Result]) -> list[Line]:
    # Escaped before the columns are measured: a control character shown as \\xNN is 4 wide.
    # A dependency (--deps) is marked ↳ and names what requires it at the start of its detail.
    texts = [("↳ " if r.dependency_of else "") + terminal_text(r.line.text) for r in results]
    versions = [terminal_text(r.version or "") for r in results]
    newest = [_newest_column(r) for r in results]
    width = max([len("requirement"), *(len(text) for text in texts)])
    width = min(width, 40)
    version_width = max([len("version"), *(len(version) for version in versions)])
    newest_width = max([len("newest wheel"), *(len(n) for n in newest)])
    lines: list[Line] = [
        [
            (
                f"{'requirement':{width}}  {'action':15}{'version':{version_width}}  "
                f"{'newest wheel':{newest_width}}  detail",
                "bold",
            )
        ]
    ]
    for result, text, version, wheel in zip(results, texts, versions, newest):
        mark, style = _MARK[result.action]
        text = text if len(text) <= width else text[: width - 1] + "…"
        detail = _table_detail(result)
        if result.dependency_of:
            detail = f"← {', '.join(result.dependency_of)}: {detail}"
        lines.append(
            [
                (f"{text:{width}}  ", ""),
                (f"{mark} {result.action:11}  ", style),
                (f"{version:{version_width}}  ", ""),
                (f"{wheel:{newest_width}}  ", "bold yellow" if result.ancient else ""),
                (detail, "dim" if result.action == "skipped" else ""),
            ]
        )
    return lines


def _newest_column(result: Result) -> str:
    """The newest version with a wheel for the target: the chosen one for a wheel, what
    ``--only-binary=:all:`` would take for a build, ``none`` when no version has one; with
    its upload year when it is ancient (:data:`~pkgdoctor.wheels.verdict.ANCIENT_DAYS`)."""
    if result.action == "wheel":
        return terminal_text(result.version or "")
    if result.action not in ("build", "unavailable") or result.selection is None:
        return ""
    if not result.selection.versions():  # no such project, or nothing the target can read
        return ""
    newest = result.newest_wheel
    if newest is None:
        return "none"
    text = terminal_text(str(newest.version))
    if result.ancient and newest.file.upload_time:
        text += f" (old: {newest.file.upload_time[:4]})"
    return text


def _table_detail(result: Result) -> str:
    if result.action == "wheel" and result.file:
        return result.file.filename
    if result.action == "build":
        build = result.build
        if build is None:
            return result.file.filename if result.file else ""
        if not build.backend:
            return f"backend {build.backend_name}"
        return f"{build.backend_name}: needs {needs_text(build)}"
    if result.reasons:
        return result.reasons[0].message.split("\n")[0]  # a row is one line
    return ""
