"""The answer for one requirement: the action (``wheel``, ``build``, ``unavailable``, or
``skipped``/``unknown``), the file, and the reasons, in words a porter can act on.

``reasons`` explain the files that were passed over *for the version that matters*: when a
wheel is chosen, the newer versions that did not fit (Requires-Python, yanked, wheels for
other platforms and no sdist); when the sdist must be built, the wheels of that version (and
of any newer one), grouped by why they do not fit — another OS, architecture or C library, a
glibc/musl baseline newer than the target's, another Python or ABI; when nothing is
available, every file of the newest version the specifier allows.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import parse_wheel_filename
from packaging.version import Version

from pkgdoctor._fields import Fact, FieldRepr, fact
from pkgdoctor.wheels.evaluate import KINDS, Candidate, Rejected, Selection, allowed_versions
from pkgdoctor.wheels.platforms import WheelTarget, parse_platform
from pkgdoctor.wheels.requirements import RequirementLine
from pkgdoctor.wheels.sdist import NEEDS, BuildInfo, libraries_text
from pkgdoctor.wheels.simple import File, redact

ACTIONS = ("wheel", "build", "unavailable", "unknown", "skipped")
# When the newest wheel for the target was uploaded this long before the release pip would
# otherwise install, ``--only-binary`` means running code that old: CPython ships a feature
# release a year (PEP 602), so two years is two Pythons and, for an active project, many of
# its own releases of fixes. Measured between upload times (PEP 700), not against today's
# date, so an answer does not age while it is cached or recorded.
ANCIENT_DAYS = 2 * 365
_ORDER = (*KINDS, "requires-python", "yanked", "format")


@fact
class Reason(Fact):
    kind: str
    message: str
    files: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "files": list(self.files),
            "versions": list(self.versions),
        }


@dataclass(repr=False)
class Result(FieldRepr):
    line: RequirementLine
    action: str
    name: str | None = None
    version: str | None = None
    file: File | None = None
    build: BuildInfo | None = None
    reasons: list[Reason] = field(default_factory=list)
    platforms_with_wheels: list[str] = field(default_factory=list)
    newest_wheel: Candidate | None = None  # with --only-binary=:all: (for build actions)
    selection: Selection | None = None
    # How many days the newest wheel's upload precedes the release this answer is about (PEP
    # 700 upload times), when both are known; see ANCIENT_DAYS.
    newest_wheel_behind: int | None = None
    # --deps: the results this one is a dependency of ("pydantic 2.11.7"); empty for a
    # requirement given; how many levels down; the projects its chosen file requires on the
    # target, and the file their list was read from.
    dependency_of: list[str] = field(default_factory=list)
    depth: int = 0
    dependencies: list[str] = field(default_factory=list)
    requires_source: str | None = None

    @property
    def ancient(self) -> bool:
        """The newest wheel for the target is :data:`ANCIENT_DAYS` older than the release."""
        return self.newest_wheel_behind is not None and self.newest_wheel_behind >= ANCIENT_DAYS

    @property
    def label(self) -> str:
        """``pydantic 2.11.7``: how a dependency names what pulled it in."""
        name = self.name or self.line.text
        return f"{name} {self.version}" if self.version else name

    def to_json(self) -> dict[str, Any]:
        def file_json(f: File | None) -> dict[str, str] | None:
            # Without the #sha256= fragment, like the URL in pip's --report.
            return {"filename": f.filename, "url": redact(f.url.split("#")[0])} if f else None

        newest = self.newest_wheel
        return {
            "requirement": self.line.text,
            "origin": self.line.origin,
            "name": self.name,
            "version": self.version,
            "action": self.action,
            "file": file_json(self.file),
            "reasons": [r.to_json() for r in self.reasons],
            "build": self.build.to_json() if self.build else None,
            "platforms_with_wheels": list(self.platforms_with_wheels),
            "newest_wheel": (
                {
                    "version": str(newest.version),
                    **(file_json(newest.file) or {}),
                    "upload_time": newest.file.upload_time,
                    "days_behind": self.newest_wheel_behind,
                    "ancient": self.ancient,
                }
                if newest
                else None
            ),
            "dependency_of": list(self.dependency_of),
            "depth": self.depth,
            "dependencies": list(self.dependencies),
            "dependencies_from": self.requires_source,
        }


def result_for(
    line: RequirementLine,
    selection: Selection,
    target: WheelTarget,
    source_errors: Sequence[str] = (),
) -> Result:
    """The action and reasons for ``line`` from pip's ``selection`` on ``target``."""
    name = selection.project
    chosen = selection.chosen
    reasons = explain(selection, target)
    if source_errors:
        if chosen is None:
            text = "a source that may have it could not be read: "
        else:
            text = "not every source could be read, the answer may be incomplete: "
        reasons.append(Reason("source", text + "; ".join(source_errors)))
    focus = selection.focus_version()
    platforms = platforms_with_wheels(selection, focus)
    if chosen is not None:
        action = "wheel" if chosen.is_wheel else "build"
        newest = selection.binary if action == "build" else None
        result = Result(
            line,
            action,
            name,
            str(chosen.version),
            chosen.file,
            None,
            reasons,
            platforms,
            newest,
            selection,
        )
        _age(result, selection, chosen.version)
        return result
    action = "unknown" if source_errors else "unavailable"
    if not selection.candidates and not selection.rejected and not source_errors:
        reasons.insert(0, Reason("not-found", f"no source has a project named {name}"))
    elif focus is None and not source_errors:
        available = ", ".join(str(v) for v in selection.versions()[:5])
        reasons.insert(
            0,
            Reason("no-match", f"no version matches {selection.specifier} (newest: {available})"),
        )
    result = Result(
        line,
        action,
        name,
        str(focus) if focus else None,
        None,
        None,
        reasons,
        platforms,
        selection.binary,
        selection,
    )
    if focus is not None:
        _age(result, selection, focus)
    return result


def _age(result: Result, selection: Selection, version: Version) -> None:
    """Set how far the newest wheel lags behind ``version`` (its first upload), and say so
    in a reason when that is :data:`ANCIENT_DAYS` or more."""
    newest = result.newest_wheel
    if newest is None or newest.version >= version:
        return
    wheel_time = _upload_time(newest.file.upload_time)
    times = [_upload_time(f.upload_time) for f in _file_objects(selection, version)]
    known = [t for t in times if t is not None]
    if wheel_time is None or not known:
        return
    release = min(known)
    result.newest_wheel_behind = max(0, (release - wheel_time).days)
    if result.ancient:
        years = result.newest_wheel_behind / 365
        result.reasons.append(
            Reason(
                "ancient-wheel",
                f"the newest version with a wheel for this target, {newest.version}, was "
                f"uploaded {wheel_time:%Y-%m-%d}, {years:.1f} years before {version} "
                f"({release:%Y-%m-%d}): --only-binary would install code that old",
                (newest.file.filename,),
                (str(newest.version),),
            )
        )


def _upload_time(text: str | None) -> datetime.datetime | None:
    """PEP 700's ISO 8601 ``upload-time`` (with a ``Z``, which Python 3.9's fromisoformat
    does not read)."""
    if not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def _file_objects(selection: Selection, version: Version) -> list[File]:
    files = [c.file for c in selection.candidates if c.version == version]
    files += [r.file for r in selection.rejected if r.version == version]
    return files


def explain(selection: Selection, target: WheelTarget) -> list[Reason]:
    """Why the files of the versions that matter were passed over, one reason per family."""
    chosen = selection.chosen
    every = selection.versions()
    allowed = set(allowed_versions(selection.specifier, every, True))
    releases = {v for v in allowed if not v.is_prerelease} or allowed
    if chosen is not None and chosen.is_wheel:
        versions = {v for v in releases if v > chosen.version}
    elif chosen is not None:
        versions = {v for v in releases if v >= chosen.version}
    else:
        newest = selection.focus_version()
        versions = {newest} if newest is not None else set()
    groups: dict[str, list[tuple[Rejected, tuple[str, ...]]]] = defaultdict(list)
    for item in selection.rejected:
        if item.version in versions:
            kind, values = selection.reason(item)
            groups[kind].append((item, values))
    # "none for x86_64" is only true when no wheel of these versions is for the target's
    # architecture at all: on musl x86_64, torch's manylinux x86_64 wheels miss for their C
    # library, not their architecture (issue 10 section 5).
    covered = _architectures_with_wheels(
        [item.file.filename for item in selection.rejected if item.version in versions], target
    )
    reasons = [_reason(kind, groups[kind], target, covered) for kind in _ORDER if kind in groups]
    yanked = [
        c for c in selection.applicable if c.yanked and c.version in versions and c is not chosen
    ]
    if yanked:
        by_reason: dict[str, set[str]] = defaultdict(set)
        for candidate in yanked:
            by_reason[candidate.file.yanked or "no reason given"].add(str(candidate.version))
        text = "; ".join(f"{', '.join(sorted(v))} ({why})" for why, v in by_reason.items())
        reasons.append(
            Reason(
                "yanked",
                f"yanked (PEP 592), so pip passes over it unless pinned with ==: {text}",
                tuple(c.file.filename for c in yanked),
                tuple(sorted({str(c.version) for c in yanked})),
            )
        )
    if chosen is not None and not chosen.is_wheel:
        wheels = [f for f in _files_of(selection, chosen.version) if f.endswith(".whl")]
        if not wheels:
            reasons.insert(0, Reason("no-wheels", f"{chosen.version} has no wheels, only an sdist"))
    if chosen is None and versions:
        (version,) = versions
        files = _files_of(selection, version)
        if files and not any(not f.endswith(".whl") for f in files):
            reasons.append(Reason("no-sdist", f"{version} has no sdist to build from"))
    return reasons


def _files_of(selection: Selection, version: Version) -> list[str]:
    names = [c.file.filename for c in selection.candidates if c.version == version]
    names += [r.file.filename for r in selection.rejected if r.version == version]
    return names


def _architectures_with_wheels(filenames: Sequence[str], target: WheelTarget) -> set[str]:
    """The target's architectures that some wheel in ``filenames`` is built for (on the
    target's OS), whatever else keeps it out."""
    wanted = {(i.os, i.arch) for i in target.platform_infos() if i.arch}
    covered: set[str] = set()
    for filename in filenames:
        if not filename.endswith(".whl"):
            continue
        try:
            tags = parse_wheel_filename(filename)[3]
        except ValueError:
            continue
        for tag in tags:
            info = parse_platform(tag.platform)
            if info.arch and (info.os, info.arch) in wanted:
                covered.add(info.arch)
    return covered


def _reason(
    kind: str,
    classified: list[tuple[Rejected, tuple[str, ...]]],
    target: WheelTarget,
    covered: Collection[str] = (),
) -> Reason:
    items = [item for item, _ in classified]
    values = sorted({v for _, item_values in classified for v in item_values})
    files = tuple(item.file.filename for item in items)
    versions = tuple(sorted({str(item.version) for item in items if item.version is not None}))
    count = len(items)
    wheels = f"{count} wheel{'s' if count != 1 else ''}"
    infos = [parse_platform(p) for p in target.platforms]
    archs = sorted({i.arch for i in infos if i.arch})
    joined = ", ".join(values)
    if kind == "os":
        message = f"{wheels} for other systems ({joined})"
    elif kind == "architecture":
        missing = [a for a in archs if a not in covered]
        message = f"{wheels} for other architectures ({joined})"
        if missing:
            message += f"; none for {', '.join(missing)}"
        else:  # the target's own ones are there, and miss for a reason listed after this one
            message += f"; those for {', '.join(archs)} do not fit for another reason"
    elif kind == "libc":
        libcs = sorted({i.libc for i in infos if i.libc}) or ["no particular C library"]
        message = f"{wheels} for another C library ({joined}); the target uses {libcs[0]}"
    elif kind in ("glibc", "musl"):
        have = [i.libc_version for i in infos if i.libc == kind and i.libc_version]
        has = ".".join(map(str, max(have))) if have else "none"
        needed = min(values, key=lambda v: tuple(int(p) for p in v.split(".")))
        message = (
            f"{wheels} need{'s' if count == 1 else ''} {kind} {needed} or newer "
            f"(built for {kind} {joined}); "
            f"the target has {kind} {has}"
        )
    elif kind == "platform":
        message = f"{wheels} for platforms the target does not accept ({joined})"
    elif kind == "python":
        message = f"{wheels} for other Pythons ({joined}); the target is {_python(target)}"
    elif kind == "abi":
        message = (
            f"{wheels} for another ABI ({joined}); the target's ABIs are "
            f"{', '.join([*target.abis, 'abi3' if not target.free_threaded else 'abi3t', 'none'])}"
        )
    elif kind == "requires-python":
        message = (
            f"{count} file{'s' if count != 1 else ''} of {', '.join(versions)} require Python "
            f"{' or '.join(values)}; the target is Python {target.full_version}"
        )
    else:  # format
        message = f"{count} file{'s' if count != 1 else ''} excluded by {joined}"
    return Reason(kind, message, files, versions)


def _python(target: WheelTarget) -> str:
    return f"{target.implementation}{target.nodot}" + (
        " free-threaded" if target.free_threaded else ""
    )


def platforms_with_wheels(selection: Selection, version: Version | None) -> list[str]:
    """Every platform tag some wheel of ``version`` is built for (``any`` for pure ones)."""
    if version is None:
        return []
    platforms: set[str] = set()
    files = [c.file for c in selection.candidates if c.version == version]
    files += [r.file for r in selection.rejected if r.version == version]
    for file in files:
        if not file.filename.endswith(".whl"):
            continue
        try:
            tags = parse_wheel_filename(file.filename)[3]
        except ValueError:
            continue
        platforms |= {t.platform for t in tags}
    return sorted(platforms)


def needs_text(build: BuildInfo) -> str:
    """``meson, ninja, a C compiler`` — the needs in words, then the system libraries the
    build scripts look for (``; libraries: libxml-2.0, libxslt (pkg-config); -lxml2``)."""
    text = ", ".join(NEEDS.get(n, n) for n in build.needs) or "nothing beyond the backend"
    if build.libraries:
        text += f"; libraries: {libraries_text(build.libraries)}"
    return text
