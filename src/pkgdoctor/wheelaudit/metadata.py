"""A wheel's own description of itself: RECORD, METADATA, WHEEL and trove classifiers.

References: the binary distribution format (PEP 427, packaging.python.org "Binary
distribution format"), core metadata (packaging.python.org "Core metadata specifications"),
and the trove classifiers list that PyPI enforces (the ``trove-classifiers`` package).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pkgdoctor.findings import Finding, Severity
from pkgdoctor.inventory import parse_headers
from pkgdoctor.wheelaudit import codes
from pkgdoctor.wheelaudit.facts import WEAK_HASHES, WheelFacts
from pkgdoctor.words import plural

_MAX_LISTED = 20
# Problems that packaging's validation reports but installers and PyPI accept, so that they
# are not reported: a field newer than the declared Metadata-Version (setuptools wrote
# License-File under 2.1 for years, so nearly every wheel of that time has one).
_LENIENT = re.compile(r"introduced in metadata version|unrecognized field")
_PYTHON_CLASSIFIER = re.compile(r"^Programming Language :: Python :: (\d+)(?:\.(\d+))?( :: Only)?$")
# PEP 427: the .data directory's subdirectories are install schemes.
_SCHEMES = frozenset({"purelib", "platlib", "headers", "scripts", "data"})


def _signature(name: str) -> bool:
    return name.endswith(("/RECORD.jws", "/RECORD.p7s"))


def record_findings(facts: WheelFacts) -> list[Finding]:
    """``wheel-record-mismatch``: RECORD must list every file with its right hash and size."""
    record_name = f"{facts.dist_info}/RECORD" if facts.dist_info else "*.dist-info/RECORD"
    if facts.record is None:
        return [
            codes.RECORD_MISMATCH.finding(
                f"{facts.filename} has no {record_name}; installers refuse it.",
                distribution=facts.project,
                path=facts.path,
                evidence={"record": record_name},
                explanation="Rebuild the wheel with a standard build backend (python -m build); "
                "never zip a wheel by hand.",
            )
        ]
    sizes = {m.name: m.size for m in facts.members}
    listed: dict[str, tuple[str | None, int | None]] = {}
    for entry in facts.record:
        listed[entry.path] = (entry.hash, entry.size)
    wrong_hash: list[dict[str, Any]] = []
    wrong_size: list[dict[str, Any]] = []
    weak: list[dict[str, Any]] = []
    unlisted: list[str] = []
    no_hash: list[str] = []
    for name, size in sizes.items():
        if name == record_name or _signature(name):
            continue
        if name not in listed:
            unlisted.append(name)
            continue
        digest, recorded_size = listed[name]
        if not digest:
            no_hash.append(name)
            continue
        algorithm = digest.partition("=")[0]
        if algorithm in WEAK_HASHES or "=" not in digest:
            weak.append({"path": name, "hash": digest})
        elif facts.digests.get(name) != digest:
            wrong_hash.append({"path": name, "recorded": digest, "actual": facts.digests.get(name)})
        if recorded_size is not None and recorded_size != size:
            wrong_size.append({"path": name, "recorded": recorded_size, "actual": size})
    missing = [p for p in listed if p not in sizes and not p.endswith("/")]
    problems: dict[str, Any] = {}
    for key, items in (
        ("wrong_hash", wrong_hash),
        ("wrong_size", wrong_size),
        ("weak_or_malformed_hash", weak),
        ("not_listed", unlisted),
        ("listed_without_hash", no_hash),
        ("listed_but_missing", missing),
    ):
        if items:
            problems[key] = items[:_MAX_LISTED]
            if len(items) > _MAX_LISTED:
                problems[f"{key}_count"] = len(items)
    if not problems:
        return []
    count = sum(len(x) for x in (wrong_hash, wrong_size, weak, unlisted, no_hash, missing))
    first = next(iter(problems))
    return [
        codes.RECORD_MISMATCH.finding(
            f"{facts.filename}'s RECORD does not match {codes.plural(count, 'file')} "
            f"({first.replace('_', ' ')}: {_first_path(problems[first])}); installers that "
            "verify RECORD refuse it.",
            distribution=facts.project,
            path=facts.path,
            evidence={"record": record_name, **problems},
            explanation="Rebuild the wheel, or regenerate RECORD after changing files in it "
            "(python -m wheel unpack, edit, python -m wheel pack rewrites RECORD); "
            "each entry is path,sha256=<urlsafe base64 digest>,size.",
        )
    ]


def _first_path(items: Sequence[Any]) -> str:
    item = items[0]
    return str(item["path"] if isinstance(item, dict) else item)


def metadata_findings(facts: WheelFacts) -> tuple[list[Finding], dict[str, Any] | None]:
    """``wheel-metadata-invalid`` and the classifier findings; also the parsed METADATA."""
    problems: list[dict[str, str]] = []  # {"file", "problem", "severity"}
    raw: dict[str, Any] | None = None

    def problem(file: str, text: str, severity: str = "error") -> None:
        problems.append({"file": file, "problem": text, "severity": severity})

    dist_info = facts.dist_info
    expected = f"{facts.project}-{facts.version}.dist-info"
    if not facts.dist_info_dirs:
        problem(expected, "the wheel has no .dist-info directory")
    elif len(facts.dist_info_dirs) > 1:
        problem(", ".join(facts.dist_info_dirs), "the wheel has more than one .dist-info directory")
    if dist_info is not None:
        name, _, version = dist_info[: -len(".dist-info")].partition("-")
        if canonicalize_name(name) != canonicalize_name(facts.project) or not _same_version(
            version, facts.version
        ):
            problem(dist_info, f"does not match the file name (expected {expected})")
    for directory in sorted({m.name.split("/", 2)[0] for m in facts.members if "/" in m.name}):
        if directory.endswith(".data"):
            for member in facts.members:
                if member.name.startswith(directory + "/"):
                    scheme = member.name.split("/", 2)[1]
                    if scheme not in _SCHEMES:
                        problem(member.name, f"{scheme!r} is not an install scheme")
                        break
    if dist_info is not None:
        raw = _check_metadata(facts, dist_info, problem)
        _check_wheel_file(facts, dist_info, problem)
    findings: list[Finding] = []
    if problems:
        severity = (
            Severity.ERROR if any(p["severity"] == "error" for p in problems) else Severity.INFO
        )
        first = next(p for p in problems if p["severity"] == severity.label)
        tolerated = " (installers tolerate it)" if severity is Severity.INFO else ""
        findings.append(
            codes.METADATA_INVALID.finding(
                f"{facts.filename}: {first['file'].rsplit('/', 1)[-1]} {first['problem']}"
                + (
                    f" (and {plural(len(problems) - 1, 'more problem')})"
                    if len(problems) > 1
                    else ""
                )
                + f"{tolerated}.",
                distribution=facts.project,
                path=facts.path,
                evidence={"problems": problems[:_MAX_LISTED]},
                explanation="Rebuild with an up-to-date build backend (python -m build), which "
                "writes "
                "valid METADATA and WHEEL files; fix the fields named in the project's "
                "pyproject.toml.",
                severity=severity,
            )
        )
    if raw is not None:
        findings += classifier_findings(facts, raw)
    return findings, raw


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _check_metadata(facts: WheelFacts, dist_info: str, problem: Any) -> dict[str, Any] | None:
    from packaging.metadata import ExceptionGroup, InvalidMetadata, Metadata, parse_email

    name = f"{dist_info}/METADATA"
    data = facts.text("METADATA")
    if data is None:
        problem(name, "is missing")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem(name, f"is not UTF-8 ({exc.reason} at byte {exc.start})")
        return None
    raw, _unparsed = parse_email(text)
    try:
        metadata = Metadata.from_email(text, validate=True)
    except ExceptionGroup as group:
        for error in group.exceptions:
            message = str(error)
            if isinstance(error, InvalidMetadata) and _LENIENT.search(message):
                continue  # accepted by installers and PyPI alike: not worth a line
            problem(name, message)
        return dict(raw)
    if canonicalize_name(metadata.name) != canonicalize_name(facts.project):
        problem(name, f"names the project {metadata.name!r}, the file name {facts.project!r}")
    if not _same_version(str(metadata.version), facts.version):
        problem(name, f"says version {metadata.version}, the file name {facts.version}")
    return dict(raw)


def _check_wheel_file(facts: WheelFacts, dist_info: str, problem: Any) -> None:
    name = f"{dist_info}/WHEEL"
    data = facts.text("WHEEL")
    if data is None:
        problem(name, "is missing")
        return
    headers = parse_headers(data.decode("utf-8", "replace"))
    wheel_version = (headers.get("wheel-version") or [""])[0]
    if not re.fullmatch(r"1\.\d+", wheel_version):
        problem(name, f"has Wheel-Version {wheel_version or '(none)'}, expected 1.x")
    purelib = (headers.get("root-is-purelib") or [""])[0].lower()
    if purelib not in ("true", "false"):
        problem(name, "has no Root-Is-Purelib: true|false")
    tags: set[str] = set()
    for line in headers.get("tag") or []:
        try:  # a compressed tag set ("cp311-cp311-a.b") is the same tags, written shorter
            tags.update(str(t) for t in parse_tag(line))
        except ValueError:
            tags.add(line)
    expected = {str(t) for t in facts.tags}
    if tags and tags != expected:
        problem(
            name,
            f"lists tags {', '.join(sorted(tags))}, the file name {', '.join(sorted(expected))}",
        )


def classifier_findings(facts: WheelFacts, raw: dict[str, Any]) -> list[Finding]:
    """``wheel-classifier-unknown`` and ``wheel-classifier-contradicts-requires-python``."""
    from trove_classifiers import classifiers as known
    from trove_classifiers import deprecated_classifiers

    values = [str(c) for c in raw.get("classifiers") or []]
    findings: list[Finding] = []
    # "Private ::" classifiers are deliberately unknown, to keep a project off PyPI (PEP 301).
    unknown = [c for c in values if c not in known and not c.startswith("Private ::")]
    deprecated = {
        c: list(deprecated_classifiers[c]) for c in unknown if c in deprecated_classifiers
    }
    if unknown:
        evidence: dict[str, Any] = {"classifiers": unknown}
        fix = "Use only classifiers from https://pypi.org/classifiers/ (the trove-classifiers "
        fix += "package); fix typos, and remove or replace deprecated ones"
        if deprecated:
            evidence["deprecated"] = deprecated
            replaced = [
                f"{old!r} → {', '.join(new) or 'nothing'}" for old, new in deprecated.items()
            ]
            fix += f": {'; '.join(replaced)}."
        else:
            fix += "."
        findings.append(
            codes.CLASSIFIER_UNKNOWN.finding(
                f"{facts.filename} declares {codes.plural(len(unknown), 'classifier')} PyPI "
                f"does not accept: {unknown[0]!r}"
                + (f" and {len(unknown) - 1} more" if len(unknown) > 1 else "")
                + ".",
                distribution=facts.project,
                path=facts.path,
                evidence=evidence,
                explanation=fix,
            )
        )
    requires = raw.get("requires_python")
    if isinstance(requires, str):
        try:
            specifier = SpecifierSet(requires)
        except InvalidSpecifier:
            return findings  # reported by wheel-metadata-invalid
        contradicting = [c for c in values if _contradicts(c, specifier)]
        if contradicting:
            only = " :: Only" in contradicting[0]
            findings.append(
                codes.CLASSIFIER_CONTRADICTS.finding(
                    f"{facts.filename} is classified {contradicting[0]!r}, but its "
                    f"Requires-Python {requires} "
                    + ("admits other major versions." if only else "excludes every such version."),
                    distribution=facts.project,
                    path=facts.path,
                    evidence={"classifiers": contradicting, "requires_python": requires},
                    explanation="Make the classifiers and Requires-Python "
                    "(project.requires-python in "
                    "pyproject.toml) say the same: drop the classifiers of versions you no "
                    "longer support, or widen Requires-Python.",
                )
            )
    return findings


def _contradicts(classifier: str, specifier: SpecifierSet) -> bool:
    """Whether a Python version classifier names only versions the specifier excludes (or,
    for ``X :: Only``, whether it admits other major versions)."""
    match = _PYTHON_CLASSIFIER.match(classifier)
    if not match:
        return False
    major = int(match[1])
    if match[2] is not None:
        minor = int(match[2])
        series = [f"{major}.{minor}.{patch}" for patch in range(30)]
        return not any(specifier.contains(v, prereleases=True) for v in series)
    versions = [f"{major}.{minor}.{patch}" for minor in range(40) for patch in (0, 99)]
    if not any(specifier.contains(v, prereleases=True) for v in versions):
        return True
    if match[3]:
        # Only Python 2 and 3 coexist in practice; a bound like >=3.8 admits "4.0" too.
        others = [f"{m}.{minor}.0" for m in (2, 3) if m != major for minor in range(20)]
        return any(specifier.contains(v, prereleases=True) for v in others)
    return False
