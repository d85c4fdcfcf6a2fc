"""``pkgdoctor wheels``: wire the pieces together and run the network part concurrently.

1. the sources pip would use (:mod:`~pkgdoctor.wheels.config` + the command line + the
   requirements files' option lines), and the target (:mod:`~pkgdoctor.wheels.platforms`);
2. every (project, source) listing, fetched by at most :data:`INDEX_WORKERS` threads;
3. pip's choice per requirement (:mod:`~pkgdoctor.wheels.evaluate`), turned into an action
   and reasons (:mod:`~pkgdoctor.wheels.verdict`);
4. for each sdist that would be built, its build backend (:mod:`~pkgdoctor.wheels.sdist`),
   by at most :data:`SDIST_WORKERS` threads (they download whole archives);
5. with ``--deps``, level by level, what each chosen file requires on the target
   (:mod:`~pkgdoctor.wheels.dependencies`), answered the same way: each project once, at the
   first level that reaches it, within :data:`~pkgdoctor.wheels.dependencies.MAX_DEPTH`
   levels and :data:`~pkgdoctor.wheels.dependencies.MAX_DEPENDENCIES` projects.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from pkgdoctor._fields import FieldRepr
from pkgdoctor.wheels.config import (
    PipSettings,
    apply_command_line,
    read_pip_config,
)
from pkgdoctor.wheels.dependencies import (
    MAX_DEPENDENCIES,
    MAX_DEPTH,
    MetadataError,
    Requires,
    read_requires,
    wanted,
)
from pkgdoctor.wheels.evaluate import Evaluator, belongs_to
from pkgdoctor.wheels.http import Session, request_pool
from pkgdoctor.wheels.platforms import WheelTarget, describe_target, environment_target
from pkgdoctor.wheels.requirements import (
    RequirementLine,
    parse_requirement,
    read_requirements_file,
)
from pkgdoctor.wheels.sdist import inspect_file
from pkgdoctor.wheels.simple import FindLinksSource, IndexSource, Listing, Source
from pkgdoctor.wheels.verdict import Reason, Result, result_for

# Concurrent index requests: enough to hide latency for a 100-line file, few enough to be
# polite to an index (browsers use 6 connections per host; pip uses 1 at a time).
INDEX_WORKERS = 8
SDIST_WORKERS = 4

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(repr=False)
class Options(FieldRepr):
    requirements: Sequence[str] = ()
    requirement_files: Sequence[str] = ()
    platforms: Sequence[str] = ()
    python_version: str | None = None
    implementation: str | None = None
    abis: Sequence[str] = ()
    index_url: str | None = None
    extra_index_urls: Sequence[str] = ()
    find_links: Sequence[str] = ()
    no_index: bool = False
    isolated: bool = False
    use_cache: bool = True
    inspect_sdists: bool = True
    dependencies: bool = False


@dataclass(repr=False)
class SourceStatus(FieldRepr):
    source: Source
    asked: int = 0
    found: int = 0
    not_found: int = 0
    errors: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        notes = list(dict.fromkeys(self.errors))
        location = self.source.location
        if location.startswith("file:") and self.asked:
            path = urllib.request.url2pathname(urllib.parse.urlsplit(location).path)
            if not os.path.isdir(path):
                return [*notes, f"no such directory: {path}"]
        # One missing project is normal; every one missing (or a local index without
        # the project directories) says the URL is not a simple index.
        everywhere_missing = self.asked and self.not_found == self.asked
        plural = self.asked > 1 or self.source.location.startswith("file:")
        if self.source.kind == "index" and everywhere_missing and plural:
            notes.append(
                f"none of the {self.asked} projects asked for is on it: is it a simple "
                "index (PEP 503), like https://pypi.org/simple/?"
            )
        return notes

    def to_json(self) -> dict[str, Any]:
        return {
            **self.source.to_json(),
            "asked": self.asked,
            "found": self.found,
            "not_found": self.not_found,
            "errors": self.notes(),
        }


@dataclass(repr=False)
class WheelsReport(FieldRepr):
    target: WheelTarget
    settings: PipSettings
    sources: list[SourceStatus]
    results: list[Result]  # the requirements, then (--deps) their dependencies
    notes: list[str] = field(default_factory=list)  # e.g. where --deps stopped

    def answered(self) -> bool:
        return any(r.action != "unknown" for r in self.results)


def http_cache_directory(excluded: Sequence[str] = ()) -> str | None:
    """Where pages are cached: pkgdoctor's cache directory, unless that lies inside one of
    ``excluded`` (an environment: pkgdoctor never writes there)."""
    from pkgdoctor.cache import default_directory

    directory = os.path.abspath(default_directory())
    for root in excluded:
        root = os.path.abspath(root)
        if directory == root or directory.startswith(root.rstrip("/") + "/"):
            return None
    return directory


def run(options: Options, progress: Progress | None = None) -> WheelsReport:
    """Answer for every requirement of ``options``."""
    environment_prefix: list[str] = []

    def environment() -> WheelTarget:
        from pkgdoctor.target import find_target

        found = find_target()
        environment_prefix.append(found.prefix)
        return environment_target(found)

    target = describe_target(
        options.platforms,
        options.python_version,
        options.implementation,
        options.abis,
        environment=environment,
    )
    site = environment_prefix[0] if environment_prefix else _active_environment()
    settings = read_pip_config(isolated=options.isolated, site_prefix=site)
    apply_command_line(
        settings,
        index_url=options.index_url,
        extra_index_urls=options.extra_index_urls,
        find_links=options.find_links,
        no_index=options.no_index,
    )
    lines = [parse_requirement(text, "command line") for text in options.requirements]
    constraints: dict[str, SpecifierSet] = {}
    for path in options.requirement_files:
        parsed = read_requirements_file(path, settings)
        lines += parsed.lines
        for name, spec in parsed.constraints.items():
            constraints[name] = constraints.get(name, SpecifierSet()) & spec
    sources = _sources(settings)
    excluded = [*environment_prefix, *filter(None, [_active_environment()])]
    cache_root = http_cache_directory(excluded) if options.use_cache else None
    session = Session(
        cache_dir=os.path.join(cache_root, "http-v1") if cache_root else None,
        timeout=settings.timeout,
        retries=min(settings.retries, 2),
        cert=settings.cert,
        client_cert=settings.client_cert,
        trusted_hosts=settings.trusted_hosts,
        proxy=settings.proxy,
    )
    notes: list[str] = []
    try:
        results = _answer(
            lines,
            constraints,
            target,
            settings,
            sources,
            session,
            progress,
            os.path.join(cache_root, "sdists-v1") if cache_root else None,
            inspect_sdists=options.inspect_sdists,
            dependencies=options.dependencies,
            notes=notes,
        )
    finally:
        session.close()
    return WheelsReport(target, settings, sources, results, notes)


def _active_environment() -> str | None:
    return os.environ.get("VIRTUAL_ENV") or os.environ.get("CONDA_PREFIX") or None


def _sources(settings: PipSettings) -> list[SourceStatus]:
    """find-links locations first, then indexes, as pip collects them (duplicates once)."""
    sources: list[Source] = []
    seen: set[tuple[str, str]] = set()
    for located in settings.find_links:
        if ("find-links", located.value) not in seen:
            seen.add(("find-links", located.value))
            sources.append(FindLinksSource(located.value, located.origin))
    for located in settings.index_urls():
        if ("index", located.value) not in seen:
            seen.add(("index", located.value))
            sources.append(IndexSource(located.value, located.origin))
    for source in sources:
        source.ignored = _ignored(source.location, settings.trusted_hosts)
    return [SourceStatus(s) for s in sources]


def _ignored(location: str, trusted: Sequence[str]) -> str | None:
    """Why pip would not use ``location`` (it warns and goes on without it), or None."""
    if "://" not in location and not location.startswith("file:"):
        if os.path.exists(location):
            return None
        return "not an existing path and not a URL: pip ignores it"
    parts = urllib.parse.urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme in ("https", "file"):
        return None
    if scheme != "http":
        return f"pip cannot read {scheme}: URLs"
    host = (parts.hostname or "").lower()
    if host == "localhost" or _loopback(host):
        return None
    netloc = f"{host}:{parts.port}" if parts.port else host
    if host in trusted or netloc in trusted:
        return None
    return f"plain http to a host that is not --trusted-host {host}: pip ignores it"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _answer(
    lines: list[RequirementLine],
    constraints: dict[str, SpecifierSet],
    target: WheelTarget,
    settings: PipSettings,
    sources: list[SourceStatus],
    session: Session,
    progress: Progress | None,
    sdist_cache: str | None,
    *,
    inspect_sdists: bool,
    dependencies: bool = False,
    notes: list[str] | None = None,
) -> list[Result]:
    evaluator = Evaluator(
        target, prereleases=True if settings.pre else None, prefer_binary=settings.prefer_binary
    )
    active = [s for s in sources if s.source.ignored is None]

    def answer(level: list[RequirementLine]) -> list[Result]:
        results: dict[int, Result] = {}
        looked_up: dict[int, str] = {}
        for index, line in enumerate(level):
            early = _early_result(line, target)
            if early is not None:
                results[index] = early
            else:
                assert line.name is not None
                looked_up[index] = line.name
        projects = sorted(set(looked_up.values()))
        listings = _fetch(projects, active, session, progress)
        for index, project in looked_up.items():
            line = level[index]
            assert line.requirement is not None
            files = []
            errors = []
            for status in active:
                listing = listings[project, id(status)]
                files += listing.files
                if listing.error:
                    errors.append(listing.error)
            specifier = line.requirement.specifier & constraints.get(project, SpecifierSet())
            formats = settings.format_control.formats(project)
            selection = evaluator.select(project, files, specifier, formats)
            results[index] = result_for(line, selection, target, errors)
        answered = [results[i] for i in range(len(level))]
        if inspect_sdists:
            _inspect(answered, session, sdist_cache, progress)
        return answered

    top = answer(lines)
    if not dependencies:
        return top
    metadata_cache = (
        os.path.join(os.path.dirname(sdist_cache), "metadata-v1") if sdist_cache else None
    )
    return top + _dependencies(top, answer, target, session, progress, notes, metadata_cache)


@dataclass(repr=False)
class _Pending(FieldRepr):
    """A dependency met at this level: the requirements on it, merged."""

    name: str  # as the first requirement spells it
    specifier: SpecifierSet
    extras: set[str]
    parents: list[str]
    url: str | None = None  # ``name @ url`` in the metadata: a direct reference


def _dependencies(
    top: list[Result],
    answer: Callable[[list[RequirementLine]], list[Result]],
    target: WheelTarget,
    session: Session,
    progress: Progress | None,
    notes: list[str] | None,
    cache: str | None = None,
) -> list[Result]:
    """The dependencies of ``top``'s chosen files, breadth first: each project once (a cycle
    ends where it meets a project already answered), within the bounds."""
    seen: dict[str, Result] = {r.name: r for r in top if r.name and r.action != "skipped"}
    found: list[Result] = []
    frontier = [r for r in top if r.action in ("wheel", "build") and r.file is not None]
    depth = 1
    while frontier:
        if depth > MAX_DEPTH:
            if notes is not None:
                notes.append(
                    f"--deps stopped after {MAX_DEPTH} level{'s' if MAX_DEPTH != 1 else ''} "
                    "of dependencies: those of "
                    f"{', '.join(sorted(r.label for r in frontier))} were not followed"
                )
            break
        pending: dict[str, _Pending] = {}
        for parent, got in zip(frontier, _read_all(frontier, session, progress, cache)):
            if isinstance(got, MetadataError):
                parent.reasons.append(
                    Reason("dependencies", f"its dependencies could not be read: {got}")
                )
                continue
            parent.requires_source = got.source
            if got.note:
                parent.reasons.append(Reason("dependencies", got.note))
            requirement = parent.line.requirement
            extras = frozenset(requirement.extras) if requirement is not None else frozenset()
            for needed in wanted(got.requires, target, extras):
                name = canonicalize_name(needed.name)
                if name not in parent.dependencies:
                    parent.dependencies.append(name)
                if name in seen:
                    if seen[name].dependency_of and parent.label not in seen[name].dependency_of:
                        seen[name].dependency_of.append(parent.label)
                    continue
                item = pending.setdefault(name, _Pending(needed.name, SpecifierSet(), set(), []))
                item.specifier &= needed.specifier
                item.extras |= needed.extras
                item.url = item.url or needed.url
                if parent.label not in item.parents:
                    item.parents.append(parent.label)
        room = MAX_DEPENDENCIES - len(found)
        if len(pending) > room:
            left_out = sorted(pending)[room:]
            if notes is not None:
                more = ", …" if len(left_out) > 5 else ""
                notes.append(
                    f"--deps answers at most {MAX_DEPENDENCIES} dependencies: "
                    f"{len(left_out)} more left out ({', '.join(left_out[:5])}{more})"
                )
            pending = {n: pending[n] for n in sorted(pending)[:room]}
        if not pending:
            break
        level = [_dependency_line(item) for item in pending.values()]
        answered = answer(level)
        for item, result in zip(pending.values(), answered):
            result.dependency_of = list(item.parents)
            result.depth = depth
            if result.name:
                seen[result.name] = result
        found += answered
        frontier = [r for r in answered if r.action in ("wheel", "build") and r.file is not None]
        depth += 1
    return found


def _dependency_line(item: _Pending) -> RequirementLine:
    extras = f"[{','.join(sorted(item.extras))}]" if item.extras else ""
    text = (
        f"{item.name}{extras} @ {item.url}" if item.url else f"{item.name}{extras}{item.specifier}"
    )
    origin = f"dependency of {item.parents[0]}"
    return RequirementLine(text, origin, Requirement(text), url=item.url)


def _read_all(
    results: list[Result], session: Session, progress: Progress | None, cache: str | None
) -> list[Requires | MetadataError]:
    """Each result's Requires-Dist (or why not), read by at most :data:`SDIST_WORKERS`
    threads (a wheel without PEP 658 metadata is downloaded whole)."""
    if progress:
        progress("metadata", 0, len(results))

    def one(result: Result) -> Requires | MetadataError:
        assert result.file is not None and result.selection is not None
        try:
            return read_requires(session, result.selection, result.file, result.build, cache)
        except MetadataError as exc:
            return exc

    out = []
    with request_pool(min(SDIST_WORKERS, len(results))) as pool:
        for done, got in enumerate(pool.map(one, results), 1):
            out.append(got)
            if progress:
                progress("metadata", done, len(results))
    return out


def _early_result(line: RequirementLine, target: WheelTarget) -> Result | None:
    """Requirements answered without asking an index: invalid, direct references, markers."""
    if line.error is not None:
        return Result(line, "unknown", reasons=[Reason("invalid", line.error)])
    if line.url is not None or line.requirement is None:
        what = "an editable install" if line.editable else "a direct reference (URL or path)"
        return Result(
            line,
            "unknown",
            line.name,
            reasons=[
                Reason(
                    "direct-reference",
                    f"{what}: pip builds or downloads exactly that; "
                    "pkgdoctor answers only for requirements looked up on indexes",
                )
            ],
        )
    marker = line.requirement.marker
    if marker is not None:
        environment = {**target.markers, "extra": ""}
        if not marker.evaluate(environment):
            return Result(
                line,
                "skipped",
                line.name,
                reasons=[Reason("marker", f"the marker {marker} is false on this target")],
            )
    return None


def _fetch(
    projects: list[str],
    sources: list[SourceStatus],
    session: Session,
    progress: Progress | None,
) -> dict[tuple[str, int], Listing]:
    listings: dict[tuple[str, int], Listing] = {}
    tasks = [(p, s) for p in projects for s in sources]
    remaining = {p: len(sources) for p in projects}
    done = 0
    if progress:
        progress("index", 0, len(projects))

    def one(task: tuple[str, SourceStatus]) -> tuple[str, SourceStatus, Listing]:
        project, status = task
        return project, status, status.source.list(session, project)

    workers = max(1, min(INDEX_WORKERS, len(tasks)))
    with request_pool(workers) as pool:
        for project, status, listing in pool.map(one, tasks):
            if status.source.kind == "find-links":  # index pages are per project already
                listing.files = [f for f in listing.files if belongs_to(f.filename, project)]
            listings[project, id(status)] = listing
            status.asked += 1
            if listing.error:
                status.errors.append(listing.error)
            elif listing.not_found or not listing.files:
                status.not_found += 1
            else:
                status.found += 1
            remaining[project] -= 1
            if remaining[project] == 0:
                done += 1
                if progress:
                    progress("index", done, len(projects))
    return listings


def _inspect(
    results: list[Result], session: Session, cache: str | None, progress: Progress | None
) -> None:
    todo = [r for r in results if r.action == "build" and r.file is not None]
    if not todo:
        return
    if progress:
        progress("sdist", 0, len(todo))

    def one(result: Result) -> None:
        assert result.file is not None
        result.build = inspect_file(session, result.file, cache)

    with request_pool(min(SDIST_WORKERS, len(todo))) as pool:
        for done, _ in enumerate(pool.map(one, todo), 1):
            if progress:
                progress("sdist", done, len(todo))
