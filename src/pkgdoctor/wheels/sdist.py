"""What building an sdist needs: its build backend, read from the ``pyproject.toml`` inside
the sdist (fetched, never guessed from the project's name), and what that backend and the
sources imply for the machine that builds it.

The sdist is downloaded (at most :data:`MAX_SDIST_BYTES`) into a temporary file and read
as an archive, in memory: nothing is extracted to disk, links and special members are
ignored, only small members (:data:`MAX_MEMBER_BYTES`) are read, and a member count limit
stops archive bombs. What was learned is cached by the file's URL (a file on an index never
changes under the same URL and hash), so the second run downloads nothing.

``needs`` uses a small vocabulary (see :data:`NEEDS`): what a build machine must provide
beyond what pip installs from ``build-system.requires`` — compilers, a Rust toolchain,
meson and ninja, cmake, BLAS/LAPACK. The ``ninja`` and ``cmake`` packages on PyPI are
themselves binary wheels, which a new platform may not have either.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from pkgdoctor._fields import Fact, FieldRepr, fact
from pkgdoctor.archive import DAMAGE
from pkgdoctor.wheels.http import FetchError

if TYPE_CHECKING:
    from pkgdoctor.wheels.http import Session
    from pkgdoctor.wheels.simple import File

MAX_SDIST_BYTES = 256 * 1024 * 1024
MAX_MEMBER_BYTES = 1024 * 1024
MAX_MEMBERS = 200_000
CACHE_FORMAT = 2  # 2: system libraries and PKG-INFO headers
# Build scripts next to setup.py (lxml's setupinfo.py, buildlibxml.py) are read for the
# system libraries the build looks for; a project has a handful.
MAX_SCRIPTS = 30

# What a build needs, with the words the report uses.
NEEDS = {
    "meson": "meson",
    "ninja": "ninja",
    "cmake": "cmake",
    "c-compiler": "a C compiler",
    "c++-compiler": "a C++ compiler",
    "fortran-compiler": "a Fortran compiler",
    "rust-toolchain": "a Rust toolchain (cargo, rustc)",
    "cuda-toolkit": "the CUDA toolkit (nvcc)",
    "blas-lapack": "BLAS/LAPACK (e.g. OpenBLAS) development files",
}

# PEP 517 backends by module, with the name users know them by.
BACKENDS = {
    "mesonpy": "meson-python",
    "setuptools.build_meta": "setuptools",
    "setuptools.build_meta:__legacy__": "setuptools (legacy setup.py)",
    "scikit_build_core.build": "scikit-build-core",
    "skbuild": "scikit-build",
    "py_build_cmake.build": "py-build-cmake",
    "cmeel.build": "cmeel (cmake)",
    "maturin": "maturin",
    "hatchling.build": "hatchling",
    "flit_core.buildapi": "flit-core",
    "poetry.core.masonry.api": "poetry-core",
    "pdm.backend": "pdm-backend",
    "pdm.pep517.api": "pdm-pep517",
    "sipbuild.api": "sip",
    "enscons.api": "enscons",
    "whey": "whey",
}
_CMAKE_BACKENDS = {"scikit_build_core.build", "py_build_cmake.build", "cmeel.build"}
_PURE_BACKENDS = {"flit_core.buildapi", "whey"}  # cannot build extension modules at all
# pip's default for a project without [build-system] (PEP 518).
_LEGACY_REQUIRES = ("setuptools>=40.8.0",)

_LANGUAGES = {
    ".c": "c",
    ".h": None,
    ".cpp": "c++",
    ".cc": "c++",
    ".cxx": "c++",
    ".c++": "c++",
    ".hpp": None,
    ".f": "fortran",
    ".for": "fortran",
    ".f77": "fortran",
    ".f90": "fortran",
    ".f95": "fortran",
    ".f03": "fortran",
    ".f08": "fortran",
    ".rs": "rust",
    ".pyx": "cython",
    ".cu": "cuda",
}
# Sources under these directories are tests, examples or documentation: not built.
_NOT_BUILT = {"doc", "docs", "example", "examples", "benchmarks"}
_TOP_FILES = {
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "CMakeLists.txt",
    "Cargo.toml",
    "PKG-INFO",
}
_EXTENSION_HINTS = re.compile(
    r"\b(Extension|ext_modules|cythonize|Pybind11Extension|CUDAExtension|CppExtension|"
    r"RustExtension|build_ext|f2py)\b"
)
_QUOTED = re.compile(r"""['"]([A-Za-z+]+)['"]""")
_MESON_LANGUAGES = re.compile(r"\b(?:project|add_languages)\s*\(([^)]*)\)", re.S)
_MESON_BLAS = re.compile(
    r"dependency\(\s*['\"](?:scipy-)?(?:openblas|blas|lapack|flexiblas|"
    r"mkl[^'\"]*|accelerate)",
    re.I,
)
_CMAKE_LANGUAGES = re.compile(
    r"\b(?:project\s*\([^)]*?\bLANGUAGES\b([^)]*)\)|enable_language\s*\(([^)]*)\))", re.I | re.S
)


@fact
class SystemLibrary(Fact):
    """A library the sdist's build scripts look for on the build machine, and where they
    say so: ``how`` is ``pkg-config`` (a module name), ``program`` (a ``*-config`` script
    such as ``pg_config``), ``library`` (``-l`` name: ``libraries=[...]``,
    ``find_library``), ``meson`` (``dependency()``) or ``cmake`` (``find_package``,
    ``pkg_check_modules``); ``evidence`` is ``file:line: text``."""

    name: str
    how: str
    evidence: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "how": self.how, "evidence": self.evidence}


@fact
class BuildInfo(Fact):
    """What building one sdist needs; ``error`` says why it could not be read."""

    filename: str
    url: str
    backend: str | None = None
    requires: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    error: str | None = None
    libraries: tuple[SystemLibrary, ...] = ()
    pkg_info: str | None = None  # the sdist's PKG-INFO headers (core metadata, no body)
    # Why the backend is PEP 517's fallback (setuptools' legacy backend), when it is.
    fallback: str | None = None
    backend_path: tuple[str, ...] = ()  # PEP 517 in-tree backend: where it lives

    @property
    def backend_name(self) -> str:
        """The backend in words, always: ``meson-python``; ``unknown (no pyproject.toml) →
        setuptools legacy (PEP 517 fallback)``; ``in-tree 'backend' (_custom_build)``;
        ``unknown (cannot download the sdist: …)``."""
        if self.backend is None:
            return f"unknown ({self.error or 'the sdist was not read'})"
        if self.fallback:
            return f"unknown ({self.fallback}) → setuptools legacy (PEP 517 fallback)"
        if self.backend_path and self.backend not in BACKENDS:
            return f"in-tree {self.backend!r} ({', '.join(self.backend_path)})"
        return BACKENDS.get(self.backend, self.backend)

    def to_json(self, *, cache: bool = False) -> dict[str, Any]:
        """The ``build`` object of ``--json``; with ``cache``, also what only the cache keeps."""
        data = {
            "filename": self.filename,
            "url": self.url,
            "backend": self.backend,
            "backend_name": self.backend_name,
            "requires": list(self.requires),
            "needs": list(self.needs),
            "evidence": list(self.evidence),
            "error": self.error,
            "libraries": [library.to_json() for library in self.libraries],
            "fallback": self.fallback,
            "backend_path": list(self.backend_path),
        }
        if cache:
            data["pkg_info"] = self.pkg_info
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildInfo:
        return cls(
            data["filename"],
            data["url"],
            data.get("backend"),
            tuple(data.get("requires") or ()),
            tuple(data.get("needs") or ()),
            tuple(data.get("evidence") or ()),
            data.get("error"),
            tuple(SystemLibrary(**item) for item in data.get("libraries") or ()),
            data.get("pkg_info"),
            data.get("fallback"),
            tuple(data.get("backend_path") or ()),
        )


class SdistError(ValueError):
    """The sdist is not an archive pkgdoctor can read."""


# A damaged archive raises anything of these (tarfile's and zipfile's own, and the
# decompressors' errors that both let through).
_UNREADABLE: tuple[type[BaseException], ...] = (SdistError, tarfile.TarError, *DAMAGE)


def inspect_file(session: Session, file: File, cache_dir: str | None) -> BuildInfo:
    """The :class:`BuildInfo` of the sdist ``file``: from the cache, or downloaded and read."""
    path = None
    if cache_dir is not None and not file.url.startswith("file:"):
        key = hashlib.sha256(f"{CACHE_FORMAT}\0{file.url}".encode()).hexdigest()
        path = os.path.join(cache_dir, f"{key}.json")
        try:
            with open(path, encoding="utf-8") as f:
                return BuildInfo.from_json(json.load(f))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    try:
        with session.download(file.url, MAX_SDIST_BYTES) as data:
            info = inspect_archive(data, file.filename, file.url)
    except FetchError as exc:
        # Not cached: the next run may reach it.
        return BuildInfo(file.filename, file.url, error=f"cannot download the sdist: {exc}")
    if path is not None:
        _store(path, info)
    return info


def _store(path: str, info: BuildInfo) -> None:
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info.to_json(cache=True), f)
        os.replace(tmp, path)
    except OSError:
        pass


@dataclass(repr=False)
class _Contents(FieldRepr):
    """What was read from an sdist: a few small files, and how many sources of each kind."""

    texts: dict[str, str] = field(default_factory=dict)  # path below the root -> text
    meson: dict[str, str] = field(default_factory=dict)  # every meson.build that is built
    scripts: dict[str, str] = field(default_factory=dict)  # other top-level *.py files
    languages: Counter[str] = field(default_factory=Counter)


def inspect_archive(data: IO[bytes], filename: str, url: str = "") -> BuildInfo:
    """Read an sdist (tar or zip, by its name) and work out what building it needs."""
    try:
        contents = _read(data, filename)
    except _UNREADABLE as exc:
        return BuildInfo(filename, url, error=f"cannot read the sdist: {exc}")
    return analyse(contents, filename, url)


def _read(data: IO[bytes], filename: str) -> _Contents:
    contents = _Contents()
    for name, size, read in _members(data, filename):
        parts = name.split("/")[1:]  # drop the sdist's root directory
        if not parts or not parts[-1]:
            continue
        path = "/".join(parts)
        base = parts[-1]
        built = not any(_not_built(p) for p in parts[:-1])
        if (path in _TOP_FILES or (base == "meson.build" and built)) and size <= MAX_MEMBER_BYTES:
            text = read().decode("utf-8", errors="replace")
            if base == "meson.build":
                contents.meson[path] = text
            if path in _TOP_FILES or path == "meson.build":
                contents.texts[path] = text
        elif (
            len(parts) == 1
            and base.endswith(".py")
            and size <= MAX_MEMBER_BYTES
            and len(contents.scripts) < MAX_SCRIPTS
        ):
            contents.scripts[path] = read().decode("utf-8", errors="replace")
        if built:
            language = _LANGUAGES.get(os.path.splitext(base)[1].lower())
            if language:
                contents.languages[language] += 1
    return contents


def _members(data: IO[bytes], filename: str) -> Iterator[tuple[str, int, Any]]:
    """(name, size, reader) of each regular member; readers return at most the cap."""
    lower = filename.lower()
    if lower.endswith(".zip"):
        with zipfile.ZipFile(data) as archive:
            for count, info in enumerate(archive.infolist()):
                if count > MAX_MEMBERS:
                    raise SdistError(f"more than {MAX_MEMBERS} members")
                if info.is_dir():
                    continue

                def read(info: zipfile.ZipInfo = info) -> bytes:
                    with archive.open(info) as member:
                        return member.read(MAX_MEMBER_BYTES)

                yield info.filename, info.file_size, read
        return
    if not lower.endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz", ".tar.xz", ".txz")):
        raise SdistError(f"unsupported archive format: {filename}")
    with tarfile.open(fileobj=data, mode="r:*") as tar:
        for count, member in enumerate(tar):
            if count > MAX_MEMBERS:
                raise SdistError(f"more than {MAX_MEMBERS} members")
            if not member.isreg():
                continue  # links, devices, directories: never followed

            def read_tar(member: tarfile.TarInfo = member) -> bytes:
                handle = tar.extractfile(member)
                return handle.read(MAX_MEMBER_BYTES) if handle is not None else b""

            yield member.name, member.size, read_tar


def _not_built(directory: str) -> bool:
    """Tests ("tests", "testing", "test cases"), examples and documentation."""
    lower = directory.lower()
    return lower.startswith("test") or lower in _NOT_BUILT


def _load_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10
        import tomli as tomllib
    return tomllib.loads(text)


def analyse(contents: _Contents, filename: str, url: str = "") -> BuildInfo:
    """Backend, requirements and needs from what :func:`_read` found."""
    evidence: list[str] = []
    needs: list[str] = []
    error = None
    backend: str | None = None
    fallback: str | None = None
    backend_path: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    pyproject_text = contents.texts.get("pyproject.toml")
    build_system: Any = None
    if pyproject_text is not None:
        try:
            pyproject = _load_toml(pyproject_text)
        except ValueError as exc:
            error = f"pyproject.toml is not valid TOML: {exc}"
            pyproject = {}
        build_system = pyproject.get("build-system")
    if isinstance(build_system, dict):
        raw_requires = build_system.get("requires")
        if isinstance(raw_requires, list):
            requires = tuple(str(r) for r in raw_requires)
        raw_backend = build_system.get("build-backend")
        backend = raw_backend if isinstance(raw_backend, str) else None
        if backend is None:
            backend = "setuptools.build_meta:__legacy__"
            fallback = "[build-system] without build-backend"
            evidence.append("pyproject.toml has no build-backend: pip uses setuptools")
        else:
            evidence.append(f"pyproject.toml: build-backend = {backend!r}")
        raw_path = build_system.get("backend-path")
        if isinstance(raw_path, list) and raw_path:
            # PEP 517 in-tree backend: usually a thin wrapper around a known one.
            backend_path = tuple(str(p) for p in raw_path)
            evidence.append(f"an in-tree backend (backend-path {list(backend_path)})")
    elif error is None:
        backend = "setuptools.build_meta:__legacy__"
        requires = _LEGACY_REQUIRES
        where = "no [build-system] in pyproject.toml" if pyproject_text else "no pyproject.toml"
        fallback = where
        evidence.append(f"{where}: pip builds it with setuptools (setup.py)")

    requires_text = " ".join(requires).lower()
    languages = contents.languages

    def need(what: str, why: str) -> None:
        if what not in needs:
            needs.append(what)
            evidence.append(f"{NEEDS[what]}: {why}")

    if backend == "mesonpy" or "meson-python" in requires_text:
        need("meson", "meson-python drives meson")
        need("ninja", "meson builds with ninja")
        meson_languages = _meson_languages(contents)
        for language in sorted(meson_languages):
            _need_language(need, language, "meson.build declares it")
        if not meson_languages and not languages:
            need("c-compiler", "meson needs a compiler for its project")
        blas = [path for path, text in sorted(contents.meson.items()) if _MESON_BLAS.search(text)]
        if blas:
            need("blas-lapack", f"{blas[0]} asks for a BLAS/LAPACK dependency")
    if backend in _CMAKE_BACKENDS or backend == "skbuild" or re.search(r"\bcmake\b", requires_text):
        need("cmake", f"{BACKENDS.get(backend or '', 'the build')} runs cmake")
        cmake = contents.texts.get("CMakeLists.txt")
        cmake_languages = _cmake_languages(cmake) if cmake is not None else set()
        for language in sorted(cmake_languages):
            _need_language(need, language, "CMakeLists.txt enables it")
    rust = (
        backend == "maturin"
        or "maturin" in requires_text
        or "setuptools-rust" in requires_text
        or "setuptools_rust" in requires_text
        or "Cargo.toml" in contents.texts
    )
    if rust:
        why = "maturin builds Rust" if backend == "maturin" else "Rust sources (Cargo.toml)"
        need("rust-toolchain", why)
        need("c-compiler", "rustc links with the system C compiler")
    setup_py = contents.texts.get("setup.py", "")
    extensions = bool(_EXTENSION_HINTS.search(setup_py))
    if backend in _PURE_BACKENDS:
        scan = False  # flit-core cannot build extension modules: sources are data
    elif "meson" in needs or "cmake" in needs:
        scan = False  # meson.build / CMakeLists.txt declare the languages; optional parts
        # (a vendored library's CUDA kernels) would otherwise count as needs
    elif backend in ("setuptools.build_meta", "setuptools.build_meta:__legacy__") and setup_py:
        scan = extensions  # setup.py decides; C files it does not build are not needed
    else:
        scan = True
    if scan:
        for language in ("c", "c++", "fortran", "cython", "cuda"):
            count = languages.get(language, 0)
            if count:
                _need_language(need, language, f"{count} {_LANGUAGE_FILES[language]} in the sdist")
    if extensions and not any(n.endswith("-compiler") for n in needs):
        need("c-compiler", "setup.py builds extension modules")
    libraries = system_libraries(contents)
    pkg_info = contents.texts.get("PKG-INFO")
    return BuildInfo(
        filename,
        url,
        backend=backend,
        requires=requires,
        needs=tuple(sorted(needs, key=list(NEEDS).index)),
        evidence=tuple(evidence),
        error=error,
        libraries=libraries,
        # The headers only: the body is the long description, kilobytes the cache need not keep.
        pkg_info=pkg_info.split("\n\n", 1)[0] + "\n" if pkg_info is not None else None,
        fallback=fallback,
        backend_path=backend_path,
    )


_LANGUAGE_FILES = {
    "c": ".c files",
    "c++": "C++ files",
    "fortran": "Fortran files",
    "cython": ".pyx files",
    "cuda": ".cu files",
}


def _need_language(need: Any, language: str, why: str) -> None:
    if language == "c":
        need("c-compiler", why)
    elif language in ("c++", "cpp", "cxx"):
        need("c++-compiler", why)
    elif language == "fortran":
        need("fortran-compiler", why)
    elif language == "cython":
        need("c-compiler", f"Cython output is C ({why})")
    elif language == "cuda":
        need("cuda-toolkit", why)
    elif language == "rust":
        need("rust-toolchain", why)


def _meson_languages(contents: _Contents) -> set[str]:
    found: set[str] = set()
    known = {"c", "cpp", "fortran", "cython", "cuda", "rust"}
    for text in contents.meson.values():
        for match in _MESON_LANGUAGES.finditer(text):
            words = {w.lower() for w in _QUOTED.findall(match[1])}
            found |= words & known
    return {"c++" if w == "cpp" else w for w in found}


def _cmake_languages(text: str) -> set[str]:
    found: set[str] = set()
    mentions_project = re.search(r"\bproject\s*\(", text, re.I) is not None
    matches = list(_CMAKE_LANGUAGES.finditer(text))
    for match in matches:
        for word in re.findall(r"[A-Za-z+]+", match[1] or match[2] or ""):
            word = word.upper()
            language = {"C": "c", "CXX": "c++", "FORTRAN": "fortran", "CUDA": "cuda"}.get(word)
            if language:
                found.add(language)
    if mentions_project and not any(m[1] for m in matches):
        found |= {"c", "c++"}  # project() without LANGUAGES enables C and CXX
    return found


# --- system libraries -----------------------------------------------------------------------
# What the build scripts themselves say they look for: no table of projects. Each pattern is
# one way build scripts name a library (see docs/wheels.md "What a build needs").

_QUOTED_NAME = re.compile(r"""['"]([A-Za-z0-9][A-Za-z0-9_.+-]*)['"]""")
_MENTIONS_PKG_CONFIG = re.compile(r"pkg[-_]?config", re.I)
# A pkg-config command line inside one string: "pkg-config --libs libffi".
_PKG_CONFIG_COMMAND = re.compile(r"""pkg-config((?:\s+[A-Za-z0-9_.+=-]+)+)""")
# autoconf-era "*-config" scripts a build runs for flags (xml2-config, pg_config, mysql_config).
_CONFIG_PROGRAM = re.compile(r"""['"]([a-z][a-z0-9.+]*(?:-[a-z0-9.+]+)*[-_]config)['"]""")
_LIBRARIES_LIST = re.compile(
    r"""\blibraries\s*(?:=|:|\+=)\s*\[([^\]]*)\]|\blibraries\.(?:append|extend|insert)\s*\(([^)]*)\)"""
)
_FIND_LIBRARY = re.compile(r"""find_library\w*\s*\(([^)]*)\)""")
_MESON_DEPENDENCY = re.compile(r"""\bdependency\s*\(\s*['"]([^'"]+)['"]""")
_CMAKE_FIND_PACKAGE = re.compile(r"""\bfind_package\s*\(\s*([A-Za-z0-9_]+)""", re.I)
_CMAKE_PKG_CHECK = re.compile(r"""\bpkg_(?:check|search)_modules?\s*\(\s*\w+([^)]*)\)""", re.I)
_CMAKE_KEYWORDS = {"REQUIRED", "QUIET", "IMPORTED_TARGET", "GLOBAL", "NO_CMAKE_PATH"}
# Lines about other systems: pillow's `sys.platform == "win32" and _find_library_file(self,
# "zlib")` is not a need on Linux.
_OTHER_SYSTEM = re.compile(r"win32|darwin|windows|sys\.platform\s*==\s*['\"]cygwin", re.I)
# Names that are no system library to install: parts of every C library (libm, libdl, ...;
# glibc and musl ship them), Windows SDK import libraries, and what the build itself brings
# (Python, NumPy and binding generators from build-system.requires, the compiler's OpenMP).
_NOT_A_NEED = {
    "c",
    "m",
    "dl",
    "rt",
    "pthread",
    "util",
    "threads",
    "ws2_32",
    "advapi32",
    "secur32",
    "shfolder",
    "crypt32",
    "user32",
    "gdi32",
    "kernel32",
    "ole32",
    "oleaut32",
    "shell32",
    "winmm",
    "rpcrt4",
    "bcrypt",
    "iphlpapi",
    "psapi",
    "userenv",
    "openmp",
    "python",
    "python3",
    "numpy",
    "pybind11",
    "nanobind",
    "cython",
}
_MAX_EVIDENCE_TEXT = 100
# Option names that look like programs: lxml's option_value('with-xml2-config').
_OPTIONS = ("with-", "without-", "enable-", "disable-")


def system_libraries(contents: _Contents) -> tuple[SystemLibrary, ...]:
    """Libraries the sdist's build files look for, each once (first mention), in file order:
    setup.py, setup.cfg, pyproject.toml, the other top-level scripts, meson.build files,
    CMakeLists.txt."""
    found: dict[str, SystemLibrary] = {}
    files: list[tuple[str, str]] = [
        (p, contents.texts[p]) for p in ("setup.py", "setup.cfg") if p in contents.texts
    ]
    # Scripts setup.py imports first (lxml's setupinfo.py runs the build; buildlibxml.py is
    # its optional static build): their lines are the evidence that matters.
    setup_py = contents.texts.get("setup.py", "")

    def imported(path: str) -> bool:
        module = re.escape(path[:-3])
        return re.search(rf"^\s*(?:import|from)\s+{module}\b", setup_py, re.M) is not None

    files += sorted(contents.scripts.items(), key=lambda item: (not imported(item[0]), item[0]))
    files += sorted(contents.meson.items())
    if "CMakeLists.txt" in contents.texts:
        files.append(("CMakeLists.txt", contents.texts["CMakeLists.txt"]))
    for path, text in files:
        block: int | None = None  # indentation of an `if sys.platform == "win32":` being skipped
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            indent = len(line) - len(line.lstrip())
            if block is not None and indent > block:
                continue
            block = None
            if _OTHER_SYSTEM.search(line):
                if stripped.endswith(":"):  # a Python block for another system
                    block = indent
                continue
            for name, how in _names_in_line(path, line):
                key = _library_key(name, how)
                if key in _NOT_A_NEED or key.startswith("python") or name.startswith(_OPTIONS):
                    continue
                # MSVC spells -lpq "libpq": the -l spelling, where there is one, is the
                # mention that matters on Linux (psycopg2's setup.py has both).
                if key in found and not (how == "library" and found[key].name != key == name):
                    continue
                shown = stripped if len(stripped) <= _MAX_EVIDENCE_TEXT else stripped[:99] + "…"
                found[key] = SystemLibrary(name, how, f"{path}:{number}: {shown}")
    return tuple(found.values())


def _names_in_line(path: str, line: str) -> Iterator[tuple[str, str]]:
    if path.endswith("meson.build"):
        for match in _MESON_DEPENDENCY.finditer(line):
            yield match[1], "meson"
        return
    if path == "CMakeLists.txt":
        for match in _CMAKE_PKG_CHECK.finditer(line):
            for word in match[1].split():
                if word.upper() not in _CMAKE_KEYWORDS and not word.startswith("$"):
                    yield word.split(">")[0].split("=")[0], "pkg-config"
        for match in _CMAKE_FIND_PACKAGE.finditer(line):
            if match[1] != "PkgConfig":
                yield match[1], "cmake"
        return
    for match in _PKG_CONFIG_COMMAND.finditer(line):
        for word in match[1].split():
            if not word.startswith("-") and not _MENTIONS_PKG_CONFIG.search(word):
                yield word, "pkg-config"
    if _MENTIONS_PKG_CONFIG.search(line) and not _PKG_CONFIG_COMMAND.search(line):
        for name in _QUOTED_NAME.findall(line):
            if not name.startswith("-") and not _MENTIONS_PKG_CONFIG.search(name):
                yield name, "pkg-config"
    for name in _CONFIG_PROGRAM.findall(line):
        if not _MENTIONS_PKG_CONFIG.search(name):
            yield name, "program"
    for match in _LIBRARIES_LIST.finditer(line):
        for name in _QUOTED_NAME.findall(match[1] or match[2] or ""):
            yield name, "library"
    for match in _FIND_LIBRARY.finditer(line):
        for name in _QUOTED_NAME.findall(match[1])[:1]:
            yield name, "library"


def _library_key(name: str, how: str) -> str:
    """One key per library however it is named: ``-lpq`` and MSVC's ``libpq`` are one."""
    key = name.lower()
    if how == "library" and key.startswith("lib") and len(key) > 3:
        key = key[3:]
    return key


def libraries_text(libraries: tuple[SystemLibrary, ...], limit: int = 8) -> str:
    """``libxml-2.0, libxslt (pkg-config); xml2-config (program); -lpq`` — grouped by how."""
    parts = []
    shown = libraries[:limit]
    for how in ("pkg-config", "program", "library", "meson", "cmake"):
        names = [lib.name for lib in shown if lib.how == how]
        if not names:
            continue
        if how == "library":
            parts.append(", ".join(f"-l{_library_key(n, how)}" for n in names))
        else:
            label = {"program": "programs" if len(names) > 1 else "program"}.get(how, how)
            parts.append(f"{', '.join(names)} ({label})")
    more = f" and {len(libraries) - limit} more" if len(libraries) > limit else ""
    return "; ".join(parts) + more
