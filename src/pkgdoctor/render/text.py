"""The terminal checklist: one line per area with ✓/!/✗, each problem with evidence and fix.

The renderer returns lines of styled spans; :func:`to_plain` joins them for pipes, files and
tests, and the CLI hands them to rich only when it writes colour to a terminal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pkgdoctor import __version__
from pkgdoctor.codes import AREAS, area_of
from pkgdoctor.findings import Finding, Severity, sort_findings, summarize
from pkgdoctor.render import Report, terminal_lines, terminal_text
from pkgdoctor.words import plural

if TYPE_CHECKING:
    from pkgdoctor.look.gpu_probe import GpuProbe
    from pkgdoctor.look.imports import ImportOutcome

Span = tuple[str, str]  # (text, style); style "" is plain
Line = list[Span]

MARKS = {
    Severity.ERROR: ("✗", "bold red"),
    Severity.WARNING: ("!", "bold yellow"),
    Severity.INFO: ("i", "cyan"),
}
_MAX_EVIDENCE_LINES = 10


def render_text(report: Report, *, verbose: bool = False, width: int | None = None) -> list[Line]:
    """The checklist: a one-line verdict, then one line per area, each finding under its
    area, worst first. Notes (info) are folded into one line per area unless ``verbose``;
    ``--json`` has them all. With a ``width`` (a terminal's, or COLUMNS), messages and
    explanations wrap and evidence is cut to fit; a command is never broken."""
    by_area: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_area.setdefault(area_of(finding.code) or "Imports", []).append(finding)
    areas = [a for a in AREAS if a in report.areas or a in by_area]
    head, facts = _header(report)
    lines: list[Line] = [head, *_wrap(facts, width, "")]
    # why's import lines are its verdict.
    verdict = _verdict(report.findings) if report.command == "check" else None
    if verdict:
        lines.append(_cut(verdict, width))
    lines.append([])
    if report.command == "why" and (report.imports or report.gpu):
        for outcome in report.imports:
            lines += _import_lines(outcome)
        for probe in report.gpu or ():
            lines += _gpu_lines(probe, width)
        if areas:
            lines.append([])
    for area in areas:
        found = by_area.get(area, [])
        count = report.examined.get(area)
        examined = f"  ({count} checked)" if count is not None else ""
        if not found:
            lines.append([("[✓] ", "bold green"), (area, "bold"), (examined, "dim")])
            continue
        worst = max(f.severity for f in found)
        mark, style = MARKS[worst]
        lines.append(
            [(f"[{mark}] ", style), (area, "bold"), (examined, "dim"), (f"  {_counts(found)}", "")]
        )
        notes = [] if verbose else [f for f in found if f.severity is Severity.INFO]
        for finding in found:
            if finding not in notes:
                lines += finding_lines(finding, width)
        if notes:
            lines.append(_folded(notes))
    # A framework that gave no answer (hung, crashed, failed to import) with nothing found
    # to explain it is not "no problems".
    silent = sum(1 for p in report.gpu or () if p.crashed or not p.imported)
    lines += [[], _summary_line(report.findings, silent)]
    return terminal_lines(lines)


def _verdict(findings: Sequence[Finding]) -> Line | None:
    """The answer first, for a report with errors or warnings: how many, and the worst one.

    A report of notes only says nothing more than its last line ("No problems found").
    """
    problems = [f for f in findings if f.severity > Severity.INFO]
    if not problems:
        return None
    worst = sort_findings(problems)[0]
    mark, style = MARKS[worst.severity]
    counts = summarize(problems)
    what = ", ".join(plural(n, label) for label, n in counts.items() if n)
    return [
        (f"{mark} ", style),
        (f"{what}; worst: ", "bold"),
        (terminal_text(worst.message), ""),
        (f"  [{worst.code}]", "dim"),
    ]


def _folded(notes: Sequence[Finding]) -> Line:
    """One line for an area's notes: their codes, and how to see them."""
    codes = sorted({f.code for f in notes})
    return [
        ("    i ", MARKS[Severity.INFO][1]),
        (f"{plural(len(notes), 'note')} ({', '.join(codes)}); -v shows them", "dim"),
    ]


def to_plain(lines: Iterable[Line]) -> str:
    return "".join("".join(text for text, _ in line) + "\n" for line in lines)


def _header(report: Report) -> list[Line]:
    target = report.target
    interp = target.interpreter
    where = target.prefix
    mode = "live" if target.mode == "live" else f"static: {target.static_reason}"
    if report.recorded:
        mode += f"; recorded in {report.recorded}"
    facts = [f"{_impl(interp.implementation)} {'.'.join(map(str, interp.version))}"]
    if interp.gil_disabled:
        facts[0] += " (free-threaded)"
    facts.append(interp.architecture or "unknown architecture")
    facts.append(str(interp.libc) if interp.libc else "unknown libc")
    if interp.ext_suffix:
        facts.append(f"EXT_SUFFIX {interp.ext_suffix}")
    return [
        [
            ("pkgdoctor ", "bold"),
            (__version__, ""),
            (f" {report.command} ", "bold"),
            (terminal_text(where), ""),
            (f"  ({mode})", "dim"),
        ],
        [(" · ".join(facts), "dim")],
    ]


def _impl(name: str) -> str:
    return {"cpython": "CPython", "pypy": "PyPy"}.get(name, name)


def _counts(findings: Sequence[Finding]) -> str:
    counts = summarize(findings)
    names = {"info": "note"}  # as the summary line says it
    parts = [plural(n, names.get(label, label)) for label, n in counts.items() if n]
    return ", ".join(parts)


def _summary_line(findings: Sequence[Finding], silent: int = 0) -> Line:
    counts = summarize(findings)
    if not findings and silent:
        return [(f"No finding; {plural(silent, 'framework')} gave no answer (above).", "bold red")]
    if not findings:
        return [("No problems found.", "bold green")]
    text = (
        f"{plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')}, "
        f"{plural(counts['info'], 'note')}."
    )
    return [(text, "bold red" if counts["error"] else "bold")]


def _import_lines(outcome: ImportOutcome) -> list[Line]:
    if outcome.ok:
        where = ""
        if outcome.origin:
            where = f": {outcome.origin}" + (
                f" ({outcome.distribution})" if outcome.distribution else ""
            )
        elif outcome.portions:
            where = f", as a namespace package: {', '.join(outcome.portions)}"
        return [
            [
                ("✓ ", "bold green"),
                (f"import {outcome.module}", "bold"),
                (f" works in the target interpreter{where}.", ""),
            ]
        ]
    lines: list[Line] = [
        [("✗ ", "bold red"), (f"import {outcome.module}", "bold"), (" fails:", "")]
    ]
    if outcome.crashed:
        lines.append([(f"    {outcome.summary}", "")])
    for i, exc in enumerate(outcome.chain):
        lead = "    " if i == 0 else "    caused by "
        lines.append([(lead, "dim"), (f"{exc['type']}: ", "bold"), (_gist(exc["message"]), "")])
    return lines


def _gpu_lines(probe: GpuProbe, width: int | None) -> list[Line]:
    """A framework's answer: the line that explains it (wrapped), then what was asked and
    answered, and the framework's own words (cut to ``width``)."""
    if probe.available:
        mark = ("✓ ", "bold green")
    elif probe.crashed or not probe.imported:
        mark = ("✗ ", "bold red")
    elif (probe.cpu_only or probe.available is None) and not probe.explained_by:
        # A CPU build is as it should be where no finding says otherwise; onnxruntime only
        # says which providers it has.
        mark = ("i ", "cyan")
    else:
        mark = ("✗ ", "bold yellow")
    explanation = probe.explanation or probe.distribution
    lines = _wrap([mark, (terminal_text(explanation), "bold")], width, "  ")
    if probe.crashed or not probe.imported:
        return lines
    answer = _gpu_answer(probe)
    if answer:
        lines.append(_cut([("    ", ""), (terminal_text(answer), "dim")], width))
    said = probe.error or probe.cuda_warning
    if said and probe.explained_by:  # otherwise the explanation quotes it
        lines.append(_cut([("    ", ""), (_gist(said), "")], width))
    return lines


def _gpu_answer(probe: GpuProbe) -> str:
    """What the framework's API answered, in its own terms."""
    build = probe.build
    count = probe.device_count
    parts: list[str] = []
    if probe.framework == "torch":
        parts.append(f"torch.cuda.is_available() {probe.available}, device_count() {count}")
        if build.get("cuda"):
            parts.append(f"built for CUDA {build['cuda']}")
        elif build.get("hip"):
            parts.append(f"built for ROCm (HIP {build['hip']})")
        if probe.arch_list:
            parts.append(f"architectures {', '.join(probe.arch_list)}")
    elif probe.framework == "jax":
        parts.append(f"jax.devices(): {count} GPU, default backend {build.get('backend')}")
        plugins = build.get("plugins") or []
        parts.append(f"jaxlib {build.get('jaxlib')}, plugins: {', '.join(plugins) or 'none'}")
    elif probe.framework == "cupy":
        parts.append(f"cupy.cuda.runtime.getDeviceCount(): {count}")
        if probe.error_code:
            parts.append(probe.error_code)
    elif probe.framework == "tensorflow":
        parts.append(f"tf.config.list_physical_devices('GPU'): {count}")
        parts.append(f"tf.test.is_built_with_cuda() {build.get('built_with_cuda')}")
        if build.get("cuda"):
            parts.append(f"CUDA {build['cuda']}")
    elif probe.framework == "onnxruntime":
        parts.append(f"get_available_providers(): {', '.join(build.get('providers') or [])}")
    return "; ".join(parts)


def _gist(message: str, limit: int = 160) -> str:
    """The start of an exception message as one line: its first non-empty lines, joined.

    numpy's messages span paragraphs and start mid-sentence or with a blank line.
    """
    words = terminal_text(" ".join(line.strip() for line in message.splitlines() if line.strip()))
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def finding_lines(finding: Finding, width: int | None = None) -> list[Line]:
    """One finding as lines: message and code, evidence, fix (``audit-wheel`` uses it too).

    With a ``width``, the message and the explanation wrap under themselves and each
    evidence line is cut with "…"; the command stays whole on its own line, to paste.
    """
    mark, style = MARKS[finding.severity]
    lines = _wrap(
        [
            (f"    {mark} ", style),
            (terminal_text(finding.message), ""),
            (f"  [{finding.code}]", "dim"),
        ],
        width,
        "      ",
    )
    evidence = list(_evidence_lines(finding.evidence, finding.path))
    shown = evidence[:_MAX_EVIDENCE_LINES]
    for text in shown:
        lines.append(_cut([("        ", ""), (terminal_text(text), "dim")], width))
    if len(evidence) > len(shown):
        more = len(evidence) - len(shown)
        more_lines = plural(more, "more line")
        lines.append([(f"        … {more_lines} of evidence (--json shows all)", "dim")])
    if finding.explanation:
        explanation = [("      fix: ", "bold"), (terminal_text(finding.explanation), "")]
        lines += _wrap(explanation, width, "           ")
    elif finding.command:
        lines.append([("      fix:", "bold")])
    if finding.command:
        # Alone on its line (only the indent before it), so that it pastes as it is.
        lines.append([("        ", ""), (terminal_text(finding.command), "bold")])
    return lines


_PIECES = re.compile(r"\S+\s*|\s+")


def _wrap(line: Line, width: int | None, indent: str) -> list[Line]:
    """``line`` flowed into lines of at most ``width`` columns (a word longer than that, a
    path, stays whole), continuation lines starting with ``indent``; styles kept."""
    if width is None or sum(len(text) for text, _ in line) <= width:
        return [line]
    pieces = [(piece, style) for text, style in line for piece in _PIECES.findall(text)]
    lines: list[Line] = []
    current: Line = []
    used = 0
    for piece, style in pieces:
        if current and used + len(piece.rstrip()) > width and used > len(indent):
            lines.append(_merge(current))
            current, used = [(indent, "")], len(indent)
            piece = piece.lstrip()
            if not piece:
                continue
        current.append((piece, style))
        used += len(piece)
    if current:
        lines.append(_merge(current))
    return [_rstrip(line) for line in lines]


def _merge(line: Line) -> Line:
    merged: Line = []
    for text, style in line:
        if merged and merged[-1][1] == style:
            merged[-1] = (merged[-1][0] + text, style)
        else:
            merged.append((text, style))
    return merged


def _rstrip(line: Line) -> Line:
    if line and line[-1][0].endswith(" "):
        return [*line[:-1], (line[-1][0].rstrip(), line[-1][1])]
    return line


def _cut(line: Line, width: int | None) -> Line:
    """``line`` cut to ``width`` columns, ending in "…" where it was cut."""
    if width is None or sum(len(text) for text, _ in line) <= width:
        return line
    cut: Line = []
    room = width - 1
    for text, style in line:
        if len(text) >= room:
            cut.append((text[:room] + "…", style))
            break
        cut.append((text, style))
        room -= len(text)
    return cut


def _evidence_lines(evidence: Mapping[str, Any], base: str | None) -> Iterable[str]:
    """A compact, readable rendering of a finding's evidence object.

    Lists of per-file records print the fields all records share once, then one line per
    file with only what differs; nested objects are indented under their key.
    """
    base_dir = _base_dir(evidence, base)
    for key, value in evidence.items():
        if key in _HIDDEN_KEYS or (key in _SAID_IN_WORDS and _SAID_IN_WORDS[key] in evidence):
            continue
        label = key.replace("_", " ")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            yield from _records(value, base_dir)
            if key == "files" and "files_omitted" in evidence:
                yield f"… and {plural(evidence['files_omitted'], 'more file')}"
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            for sub, subvalue in value.items():
                yield f"{label}: {_scalar(sub, base_dir)}"
                for k, v in subvalue.items():
                    yield f"  {k.replace('_', ' ')}: {_scalar(v, base_dir)}"
        elif isinstance(value, list) and len(value) > 3 and all(isinstance(v, str) for v in value):
            yield f"{label}:"
            for item in value:
                yield f"  {_scalar(item, base_dir)}"
        else:
            yield f"{label}: {_scalar(value, base_dir)}"


_HIDDEN_KEYS = {"file_count", "files_omitted", "import"}
# Raw numbers the text leaves to --json when the evidence says the same in words.
_SAID_IN_WORDS = {"elf_machine": "architecture"}


def _base_dir(evidence: Mapping[str, Any], base: str | None) -> str | None:
    """The directory evidence paths are shown relative to: the finding's path when the
    evidence names files below it (a directory), else the directory the path is in (a file).
    Decided from the finding alone: a renderer looks at nothing else, so a finding renders
    the same from a snapshot of an environment that is gone."""
    if not base:
        return None
    prefix = base.rstrip("/") + "/"

    def below(value: Any) -> bool:
        if isinstance(value, str):
            return value.startswith(prefix)
        if isinstance(value, list):
            return any(below(v) for v in value)
        if isinstance(value, dict):
            return any(below(v) for v in value.values())
        return False

    return base if below(dict(evidence)) else os.path.dirname(base)


def _records(records: Sequence[Mapping[str, Any]], base_dir: str | None) -> Iterable[str]:
    records = [
        {k: v for k, v in r.items() if not (k in _SAID_IN_WORDS and _SAID_IN_WORDS[k] in r)}
        for r in records
    ]
    paths = [str(r.get("path") or r.get("file") or "") for r in records]
    if len(records) > 1 and all(p.startswith("/") for p in paths):
        common_dir = os.path.commonpath([os.path.dirname(p) for p in paths])
        if common_dir != base_dir and len(common_dir) > 1:
            yield f"in {common_dir}/"
            base_dir = common_dir
    common: dict[str, Any] = {}
    if len(records) > 1:
        first = records[0]
        common = {
            k: v
            for k, v in first.items()
            if k not in ("path", "file") and all(r.get(k) == v for r in records[1:])
        }
        if common:
            yield (
                " · ".join(
                    f"{k.replace('_', ' ')}: {_scalar(v, base_dir)}" for k, v in common.items()
                )
                + f" (all {len(records)})"
            )
    for record in records:
        yield _item_line({k: v for k, v in record.items() if k not in common}, base_dir)


def _item_line(item: Mapping[str, Any], base_dir: str | None) -> str:
    path = item.get("path") or item.get("file")
    rest = {k: v for k, v in item.items() if k not in ("path", "file")}
    head = _short(str(path), base_dir) if path else ""
    tail = ", ".join(f"{k.replace('_', ' ')} {_scalar(v, base_dir)}" for k, v in rest.items())
    return f"{head}: {tail}" if head and tail else head or tail


def _scalar(value: Any, base_dir: str | None) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(_scalar(v, base_dir) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_scalar(v, base_dir)}" for k, v in value.items())
    if isinstance(value, bool):  # before int: a bool is one
        return "yes" if value else "no"
    if isinstance(value, str) and value.startswith("/"):
        return _short(value, base_dir)
    if value == "":
        return "(empty)"  # a variable set to nothing says something: show it
    return str(value)


def _short(path: str, base_dir: str | None) -> str:
    if base_dir and path.startswith(base_dir.rstrip("/") + "/"):
        return path[len(base_dir.rstrip("/")) + 1 :]
    return path
