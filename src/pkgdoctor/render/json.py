"""The ``--json`` document: ``schema_version`` 1, described by ``schema/report-v1.json``."""

from __future__ import annotations

import json
from typing import Any

from pkgdoctor import __version__
from pkgdoctor.findings import summarize
from pkgdoctor.render import Report, printable

SCHEMA_VERSION = 1


def report_to_json(report: Report) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pkgdoctor", "version": __version__},
        "command": report.command,
        "target": report.target.to_json(),
        "findings": [f.to_json() for f in report.findings],
        "summary": summarize(report.findings),
        "examined": dict(report.examined),
    }
    if report.command == "why":
        document["imports"] = [outcome.to_json() for outcome in report.imports]
        if report.gpu is not None:
            document["gpu"] = [probe.to_json() for probe in report.gpu]
    return document


def render_json(report: Report) -> str:
    return json.dumps(_printable(report_to_json(report)), indent=2) + "\n"


def _printable(value: Any) -> Any:
    """Replace undecodable bytes of file names (surrogate escapes) with ``\\xNN`` text.

    Paths read with the file system encoding keep non-UTF-8 bytes as lone surrogates, which
    no JSON consumer can take.
    """
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): _printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(v) for v in value]
    return value
