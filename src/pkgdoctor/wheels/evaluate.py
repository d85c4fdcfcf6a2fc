"""Which file pip would pick for a project on a target, and why the others do not fit.

Pure functions: the files every source listed go in, a :class:`Selection` comes out. The
rules are pip's (read in ``pip/_internal/index/package_finder.py`` and
``resolution/resolvelib/factory.py``), not copied code:

1. *Each file* (``LinkEvaluator.evaluate_link``): archives pip knows only; a wheel's name
   must be the project's and one of its tags must be supported; an sdist's version is what
   follows the project name in its file name; the file's ``Requires-Python`` must contain
   the target's full Python version (an invalid one counts as no restriction). Yanked files
   stay candidates at this stage.
2. *The specifier* filters the candidates' versions (pre-releases only with ``--pre``, or when
   nothing else matches: ``SpecifierSet.filter``).
3. *Preference* (``CandidateEvaluator._sort_key``): not yanked, then (with
   ``--prefer-binary``) wheels before sdists, then the higher version, then for wheels the
   earlier position of its best tag in the target's tag list (an sdist ranks below every
   wheel of its version), then the higher build tag. Among equal keys the one listed last
   wins, because the resolver walks the sorted list from the end.
4. *Yanked* files (PEP 592) are passed over unless every candidate is yanked and the
   specifier pins a version with ``==``/``===`` (the resolver's ``is_pinned``).

Example::

    >>> from packaging.specifiers import SpecifierSet
    >>> from pkgdoctor.wheels.platforms import describe_target
    >>> from pkgdoctor.wheels.simple import File
    >>> target = describe_target(["manylinux_2_17_x86_64"], "3.12")
    >>> files = [File("demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "https://x/1"),
    ...          File("demo-1.0.tar.gz", "https://x/2")]
    >>> Evaluator(target).select("demo", files, SpecifierSet()).chosen.file.filename
    'demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl'
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from pkgdoctor._fields import Fact, FieldRepr, fact
from pkgdoctor.wheels.platforms import Platform, WheelTarget, parse_platform

if TYPE_CHECKING:
    from pkgdoctor.wheels.simple import File

BuildTag = Union[tuple[()], tuple[int, str]]

# pip's SUPPORTED_EXTENSIONS (bz2/xz are built into every CPython pkgdoctor supports).
ARCHIVE_EXTENSIONS = (
    ".zip",
    ".whl",
    ".tar.gz",
    ".tgz",
    ".tar",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
)
# An sdist named ...-py3.9.tar.gz is for that Python only (pip's _py_version_re).
_PY_VERSION = re.compile(r"-py([123]\.?[0-9]?)$")

_STABLE = {"abi3", "abi3t", "none"}
UNCLASSIFIED = "tags"  # a wheel whose tags miss the target, not yet told why
# Why a file does not fit, in the order they are tested: the first that applies is reported.
KINDS = ("os", "architecture", "libc", "glibc", "musl", "platform", "python", "abi")


@fact
class Candidate(Fact):
    """A file pip could install: it fits the target and its Requires-Python."""

    file: File
    version: Version
    is_wheel: bool
    priority: int  # pip's "pri": minus the index of the wheel's best tag; sdists rank last
    build_tag: BuildTag = ()
    order: int = 0  # position in pip's candidate list (direct files first, then pages)

    @property
    def yanked(self) -> bool:
        return self.file.yanked is not None

    def sort_key(self, prefer_binary: bool = False) -> tuple[object, ...]:
        return (
            0 if self.yanked else 1,
            1 if prefer_binary and self.is_wheel else 0,
            self.version,
            self.priority,
            self.build_tag,
            self.order,
        )


@fact
class Rejected(Fact):
    """A file of the project that does not fit, with the first reason in :data:`KINDS`
    order (or ``requires-python``, ``format``, ``yanked``) and what it was built for."""

    file: File
    version: Version | None
    kind: str
    # What the file is for, along the dimension that failed: architectures, "musl", the
    # glibc it needs ("2.34"), interpreters ("cp313"), ABIs ("cp313t"), a Requires-Python.
    values: tuple[str, ...] = ()


@dataclass(repr=False)
class Selection(FieldRepr):
    """The verdict for one project."""

    project: str
    specifier: SpecifierSet
    chosen: Candidate | None  # what ``pip install`` picks (wheel or sdist)
    binary: Candidate | None  # what ``pip install --only-binary=:all:`` picks
    applicable: list[Candidate]  # candidates the specifier allows, least preferred first
    rejected: list[Rejected]
    candidates: list[Candidate] = field(default_factory=list)  # before the specifier
    classify: Callable[[Rejected], tuple[str, tuple[str, ...]]] | None = None

    def reason(self, rejected: Rejected) -> tuple[str, tuple[str, ...]]:
        """Why ``rejected`` does not fit: its kind (:data:`KINDS` and others) and values."""
        if rejected.kind == UNCLASSIFIED and self.classify is not None:
            return self.classify(rejected)
        return rejected.kind, rejected.values

    def versions(self) -> list[Version]:
        """Every version any file of the project has, newest first."""
        found = {c.version for c in self.candidates}
        found |= {r.version for r in self.rejected if r.version is not None}
        return sorted(found, reverse=True)

    def focus_version(self) -> Version | None:
        """The version the answer is about: the chosen one, else the newest version the
        specifier allows among all files (also those that do not fit)."""
        if self.chosen is not None:
            return self.chosen.version
        allowed = allowed_versions(self.specifier, self.versions(), None)
        return max(allowed) if allowed else None


class Evaluator:
    """pip's view of files for one target; build once, use for every project."""

    def __init__(
        self,
        target: WheelTarget,
        *,
        prereleases: bool | None = None,
        prefer_binary: bool = False,
    ) -> None:
        self.target = target
        self.prereleases = prereleases
        self.prefer_binary = prefer_binary
        tags = target.tags()
        self.supported = set(tags)
        self.tag_count = len(tags)
        # As pip: a dict from enumerate, so a tag listed twice has its last position.
        self.priority = {tag: index for index, tag in enumerate(tags)}
        self.interpreters = {t.interpreter for t in tags}
        own = f"{target.implementation}{target.nodot}"
        self.own_interpreters = {own} | {i for i in self.interpreters if i.startswith("py")}
        self.platforms = set(target.platforms) | {"any"}
        infos = [parse_platform(p) for p in target.platforms]
        self.oses = {i.os for i in infos}
        self.archs = {(i.os, i.arch) for i in infos}
        self.libcs = {(i.arch, i.libc) for i in infos if i.libc}
        self.libc_max: dict[tuple[str | None, str], tuple[int, int]] = {}
        for info in infos:
            if info.libc and info.libc_version:
                key = (info.arch, info.libc)
                self.libc_max[key] = max(self.libc_max.get(key, (0, 0)), info.libc_version)
        self.python = Version(target.full_version)
        # Memos: a big project repeats the same names, versions and Requires-Python.
        self._names: dict[str, str] = {}
        self._versions: dict[str, Version | None] = {}
        self._requires: dict[str, tuple[bool, str]] = {}

    # --- one file -------------------------------------------------------------------------

    def evaluate(
        self, project: str, file: File, formats: frozenset[str]
    ) -> Candidate | Rejected | None:
        """A candidate, a rejection, or None for files that are not this project's archives
        (pip drops those without a word)."""
        if file.filename.endswith(".whl"):
            return self._wheel(project, file, formats)
        base, ext = _splitext(file.filename)
        if ext not in ARCHIVE_EXTENSIONS:
            return None
        if "macosx10" in file.url and ext == ".zip":
            return None
        version_text = _version_from_fragment(base, project)
        if version_text is None:
            return None
        match = _PY_VERSION.search(version_text)
        if match:
            version_text = version_text[: match.start()]
            if match[1] != self.target.short_version:
                try:
                    version = Version(version_text)
                except InvalidVersion:
                    return None
                return Rejected(file, version, "python", (f"py{match[1]}",))
        try:
            version = Version(version_text)
        except InvalidVersion:
            return None
        if "source" not in formats:
            return Rejected(file, version, "format", ("--only-binary",))
        return self._check_python(file, Candidate(file, version, False, -self.tag_count))

    def _wheel(
        self, project: str, file: File, formats: frozenset[str]
    ) -> Candidate | Rejected | None:
        # Most files of a big project are wheels for other platforms: those are told apart
        # from the file name's last part without parsing every tag (and classified only if
        # a reason is asked for: ``Selection.reason``).
        parts = file.filename[:-4].split("-")
        if len(parts) in (5, 6) and "binary" in formats:
            if self._name(parts[0]) != project:
                return None
            platforms = parts[-1].lower().split(".")
            if not any(p in self.platforms for p in platforms):
                version = self._version(parts[1])
                return Rejected(file, version, UNCLASSIFIED) if version is not None else None
        try:
            name, version, build_tag, tags = parse_wheel_filename(file.filename)
        except (InvalidWheelFilename, InvalidVersion):
            return None
        if name != project:
            return None
        if "binary" not in formats:
            return Rejected(file, version, "format", ("--no-binary",))
        fitting = tags & self.supported
        if not fitting:
            return Rejected(file, version, UNCLASSIFIED)
        priority = -min(self.priority[t] for t in fitting)
        return self._check_python(file, Candidate(file, version, True, priority, build_tag))

    def classify(self, rejected: Rejected) -> tuple[str, tuple[str, ...]]:
        """The kind and values of a wheel rejected for its tags (see :meth:`why_not`)."""
        return self.why_not(parse_wheel_filename(rejected.file.filename)[3])

    def _name(self, text: str) -> str:
        name = self._names.get(text)
        if name is None:
            name = self._names[text] = canonicalize_name(text)
        return name

    def _version(self, text: str) -> Version | None:
        if text not in self._versions:
            try:
                self._versions[text] = Version(text)
            except InvalidVersion:
                self._versions[text] = None
        return self._versions[text]

    def _check_python(self, file: File, candidate: Candidate) -> Candidate | Rejected:
        if file.requires_python:
            if file.requires_python not in self._requires:
                try:
                    spec: SpecifierSet | None = SpecifierSet(file.requires_python)
                except InvalidSpecifier:
                    spec = None  # pip ignores an invalid Requires-Python
                fits = spec is None or spec.contains(self.python, prereleases=True)
                self._requires[file.requires_python] = (fits, str(spec))
            fits, text = self._requires[file.requires_python]
            if not fits:
                return Rejected(file, candidate.version, "requires-python", (text,))
        return candidate

    def why_not(self, tags: frozenset[Tag]) -> tuple[str, tuple[str, ...]]:
        """The first way a wheel's tags miss the target: another OS, architecture, C
        library, a glibc/musl baseline newer than the target's, another Python, another ABI."""
        infos = {t: parse_platform(t.platform) for t in tags}
        left = [t for t in tags if infos[t].os in self.oses or infos[t].os == "any"]
        if not left:
            return "os", _values(infos[t].os_label for t in tags)
        same_arch = [
            t for t in left if infos[t].os == "any" or (infos[t].os, infos[t].arch) in self.archs
        ]
        if not same_arch:
            return "architecture", _values(str(infos[t].arch) for t in left)
        left = same_arch
        same_libc = [t for t in left if self._libc_fits(infos[t])]
        if not same_libc:
            return "libc", _values(_libc_label(infos[t]) for t in left)
        left = same_libc
        on_platform = [t for t in left if t.platform in self.platforms]
        if not on_platform:
            versioned = [infos[t] for t in left if infos[t].libc and infos[t].libc_version]
            if versioned:
                oldest = min(versioned, key=lambda i: i.libc_version or (0, 0))
                version = ".".join(map(str, oldest.libc_version or ()))
                return str(oldest.libc), (version,)
            return "platform", _values(t.platform for t in left)
        left = on_platform
        # For the target's own Python (its interpreter tag or a py tag) or an older CPython
        # with a stable ABI, what is left to differ is the ABI; otherwise the Python.
        same_python = [
            t
            for t in left
            if t.interpreter in self.own_interpreters
            or (t.interpreter in self.interpreters and t.abi in _STABLE)
        ]
        if not same_python:
            return "python", _values(t.interpreter for t in left)
        return "abi", _values(t.abi for t in same_python)

    def _libc_fits(self, info: Platform) -> bool:
        if info.os != "linux" or info.libc is None:
            return True
        return (info.arch, info.libc) in self.libcs

    # --- a project ------------------------------------------------------------------------

    def select(
        self,
        project: str,
        files: Iterable[File],
        specifier: SpecifierSet,
        formats: frozenset[str] = frozenset({"binary", "source"}),
    ) -> Selection:
        """Evaluate every file and pick as pip would (see the module docstring)."""
        project = canonicalize_name(project)
        ordered = _pip_order(files)
        candidates: list[Candidate] = []
        rejected: list[Rejected] = []
        for order, file in enumerate(ordered):
            verdict = self.evaluate(project, file, formats)
            if isinstance(verdict, Candidate):
                candidates.append(
                    Candidate(
                        verdict.file,
                        verdict.version,
                        verdict.is_wheel,
                        verdict.priority,
                        verdict.build_tag,
                        order,
                    )
                )
            elif verdict is not None:
                rejected.append(verdict)
        allowed = set(
            allowed_versions(specifier, [c.version for c in candidates], self.prereleases)
        )
        applicable = [c for c in candidates if c.version in allowed]
        chosen = self._pick(applicable, specifier, self.prefer_binary)
        binary = self._pick([c for c in applicable if c.is_wheel], specifier, False)
        applicable.sort(key=lambda c: c.sort_key(self.prefer_binary))
        return Selection(
            project, specifier, chosen, binary, applicable, rejected, candidates, self.classify
        )

    @staticmethod
    def _pick(
        applicable: Sequence[Candidate], specifier: SpecifierSet, prefer_binary: bool
    ) -> Candidate | None:
        ranked = sorted(applicable, key=lambda c: c.sort_key(prefer_binary), reverse=True)
        keep_yanked = all(c.yanked for c in ranked) and _pinned(specifier)
        for candidate in ranked:
            if not candidate.yanked or keep_yanked:
                return candidate
        return None


def allowed_versions(
    specifier: SpecifierSet, versions: Iterable[Version], prereleases: bool | None
) -> list[Version]:
    """The versions ``specifier`` allows, with packaging's pre-release rule (pre-releases
    only when asked for or when no final release matches)."""
    unique = sorted(set(versions))
    return list(specifier.filter(unique, prereleases=prereleases))


def belongs_to(filename: str, project: str) -> bool:
    """Whether ``filename`` names an archive of ``project`` (a normalized name): pip drops
    the files of other projects that a find-links directory or page lists."""
    base, ext = _splitext(filename)
    if ext == ".whl":
        try:
            return parse_wheel_filename(filename)[0] == project
        except (InvalidWheelFilename, InvalidVersion):
            return False
    return ext in ARCHIVE_EXTENSIONS and _version_from_fragment(base, project) is not None


def _pinned(specifier: SpecifierSet) -> bool:
    """``==1.2`` or ``===1.2`` (not ``==1.*``): only then may a yanked file be installed."""
    for spec in specifier:
        if spec.operator == "===":
            return True
        if spec.operator == "==" and not spec.version.endswith(".*"):
            return True
    return False


def _pip_order(files: Iterable[File]) -> list[File]:
    """pip's candidate order: files listed directly (find-links directories), sorted by URL
    from the last, then the links of pages in the order the sources were asked."""
    files = list(files)
    direct = sorted((f for f in files if f.direct), key=lambda f: f.url, reverse=True)
    return direct + [f for f in files if not f.direct]


def _splitext(filename: str) -> tuple[str, str]:
    base, ext = posixpath.splitext(filename)
    if base.lower().endswith(".tar"):
        ext = base[-4:] + ext
        base = base[:-4]
    return base, ext


def _version_from_fragment(fragment: str, project: str) -> str | None:
    """What follows the project name in an sdist's name: the dash after which the text
    before it normalizes to the project's name (names and versions may both hold dashes)."""
    for index, char in enumerate(fragment):
        if char == "-" and canonicalize_name(fragment[:index]) == project:
            return fragment[index + 1 :] or None
    return None


def _values(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(items)))


def _libc_label(info: Platform) -> str:
    return {"glibc": "glibc (manylinux)", "musl": "musl (musllinux)"}.get(info.libc or "", info.tag)
