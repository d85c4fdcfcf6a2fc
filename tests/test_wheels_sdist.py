"""What building an sdist needs, read from real archives written here: backends, languages,
the safety limits, and the cache of what was learned."""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from pkgdoctor.wheels.http import Session
from pkgdoctor.wheels.sdist import MAX_MEMBER_BYTES, BuildInfo, inspect_archive, inspect_file
from pkgdoctor.wheels.simple import File
from pkgdoctor.wheels.verdict import needs_text
from wheel_artefacts import make_sdist, serve

MESON = """[build-system]
requires = ["meson-python>=0.15", "Cython>=3"]
build-backend = "mesonpy"
"""


def build_info(path: Path) -> BuildInfo:
    with path.open("rb") as f:
        return inspect_archive(f, path.name, path.as_uri())


CASES: dict[str, tuple[dict[str, str], str | None, list[str]]] = {
    "meson with Fortran and BLAS": (
        {
            "pyproject.toml": MESON,
            "meson.build": "project('demo', 'c', 'cpp',\n  version: run_command('v').stdout())\n",
            "demo/linalg/meson.build": "add_languages('fortran', native: false)\n"
            "blas = dependency('openblas')\n",
            "demo/linalg/solve.f90": "end\n",
            "demo/tests/kernel.cu": "// tests are not built\n",
        },
        "mesonpy",
        ["meson", "ninja", "c-compiler", "c++-compiler", "fortran-compiler", "blas-lapack"],
    ),
    "scikit-build-core, C++ only": (
        {
            "pyproject.toml": '[build-system]\nrequires = ["scikit-build-core", "pybind11"]\n'
            'build-backend = "scikit_build_core.build"\n',
            "CMakeLists.txt": "cmake_minimum_required(VERSION 3.15)\nproject(demo LANGUAGES CXX)\n",
        },
        "scikit_build_core.build",
        ["cmake", "c++-compiler"],
    ),
    "cmake project() without LANGUAGES": (
        {
            "pyproject.toml": '[build-system]\nbuild-backend = "scikit_build_core.build"\n',
            "CMakeLists.txt": "project(demo VERSION 1.0)\nenable_language(Fortran)\n",
        },
        "scikit_build_core.build",
        ["cmake", "c-compiler", "c++-compiler", "fortran-compiler"],
    ),
    "maturin": (
        {
            "pyproject.toml": '[build-system]\nrequires = ["maturin>=1,<2"]\n'
            'build-backend = "maturin"\n',
            "Cargo.toml": "[package]\n",
            "src/lib.rs": "",
        },
        "maturin",
        ["c-compiler", "rust-toolchain"],
    ),
    "setuptools with C and C++ extensions": (
        {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\n'
            'build-backend = "setuptools.build_meta"\n',
            "setup.py": "from setuptools import Extension, setup\nsetup(ext_modules=[])\n",
            "src/fast.c": "",
            "src/faster.cpp": "",
        },
        "setuptools.build_meta",
        ["c-compiler", "c++-compiler"],
    ),
    "setuptools, pure": (
        {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
            'build-backend = "setuptools.build_meta"\n',
            "setup.py": "from setuptools import setup\nsetup()\n",
            "tools/helper.c": "",  # not built: setup.py builds no extension
        },
        "setuptools.build_meta",
        [],
    ),
    "no pyproject.toml: setup.py with setuptools": (
        {"setup.py": "from distutils.core import setup, Extension\n", "a.pyx": ""},
        "setuptools.build_meta:__legacy__",
        ["c-compiler"],
    ),
    "setuptools-rust": (
        {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools", "setuptools-rust"]\n',
            "setup.py": "from setuptools_rust import RustExtension\n",
            "Cargo.toml": "",
        },
        "setuptools.build_meta:__legacy__",
        ["c-compiler", "rust-toolchain"],
    ),
    "hatchling, pure": (
        {
            "pyproject.toml": '[build-system]\nrequires = ["hatchling"]\n'
            'build-backend = "hatchling.build"\n',
            "demo/__init__.py": "",
        },
        "hatchling.build",
        [],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_what_a_build_needs(name: str, fmt: str, tmp_path: Path) -> None:
    files, backend, needs = CASES[name]
    info = build_info(make_sdist(tmp_path, "demo", "1.0", files, fmt=fmt))
    assert (info.backend, list(info.needs), info.error) == (backend, needs, None), info.evidence


def test_requires_and_evidence(tmp_path: Path) -> None:
    info = build_info(make_sdist(tmp_path, "demo", "1.0", CASES["meson with Fortran and BLAS"][0]))
    assert info.requires == ("meson-python>=0.15", "Cython>=3")
    assert info.backend_name == "meson-python"
    assert "a Fortran compiler: meson.build declares it" in info.evidence
    assert (
        "BLAS/LAPACK (e.g. OpenBLAS) development files: demo/linalg/meson.build asks for a "
        "BLAS/LAPACK dependency" in info.evidence
    )
    legacy = build_info(make_sdist(tmp_path, "old", "1.0", {"setup.py": ""}))
    assert legacy.requires == ("setuptools>=40.8.0",)


def test_broken_and_hostile_archives(tmp_path: Path) -> None:
    bad_toml = build_info(make_sdist(tmp_path, "a", "1.0", {"pyproject.toml": "[build-system"}))
    assert bad_toml.backend is None and bad_toml.error is not None
    assert bad_toml.error.startswith("pyproject.toml is not valid TOML")
    corrupt = tmp_path / "b-1.0.tar.gz"
    corrupt.write_bytes(b"\x1f\x8b not really gzip")
    assert (build_info(corrupt).error or "").startswith("cannot read the sdist")
    odd = tmp_path / "c-1.0.tar.lz"
    odd.write_bytes(b"")
    assert (
        build_info(odd).error == "cannot read the sdist: unsupported archive format: c-1.0.tar.lz"
    )
    # A link named pyproject.toml is never followed; a huge one is never read.
    hostile = tmp_path / "d-1.0.tar.gz"
    with tarfile.open(hostile, "w:gz") as archive:
        link = tarfile.TarInfo("d-1.0/pyproject.toml")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
        huge = b"[build-system]\nbuild-backend = 'maturin'\n" + b"#" * MAX_MEMBER_BYTES
        big = tarfile.TarInfo("d-1.0/setup.py")
        big.size = len(huge)
        archive.addfile(big, io.BytesIO(huge))
    info = build_info(hostile)
    assert info.backend == "setuptools.build_meta:__legacy__" and info.needs == ()


def test_sdists_are_downloaded_once(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path / "files", "demo", "1.0", CASES["maturin"][0])
    cache = str(tmp_path / "cache")
    with serve(tmp_path) as server:
        file = File(sdist.name, f"{server.url}/files/{sdist.name}#sha256=00")
        with Session() as client:
            first = inspect_file(client, file, cache)
            assert first.backend == "maturin"
            second = inspect_file(client, file, cache)
            assert second == first and len(server.requests) == 1
            missing = File("gone-1.0.tar.gz", f"{server.url}/files/gone-1.0.tar.gz")
            failed = inspect_file(client, missing, cache)
            assert failed.error == "cannot download the sdist: HTTP 404 Not Found"
            inspect_file(client, missing, cache)
            assert len(server.requests) == 3  # a failure is not cached


def test_a_damaged_zip_sdist_is_an_error_not_a_crash(tmp_path: Path) -> None:
    # A flipped run of bytes inside a deflated member: zlib's error (not BadZipFile) is
    # what zipfile raises, and it is damage like any other.
    path = tmp_path / "e-1.0.zip"
    toml = "[build-system]\nbuild-backend = 'maturin'\n" + "# padding\n" * 300
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("e-1.0/pyproject.toml", toml)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("e-1.0/pyproject.toml")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start, start + 8):  # the block header: an invalid code lengths set
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive, pytest.raises(zlib.error):
        archive.read("e-1.0/pyproject.toml")
    assert (build_info(path).error or "").startswith("cannot read the sdist")


LIBRARY_FILES = {
    "setup.py": (
        "import sys\n"
        "from setuptools import Extension, setup\n"
        "flags = run('pkg-config --cflags --libs libffi')\n"
        "if sys.platform == 'win32':\n"
        "    LIBS = find_library('zdll')  # another system: not a need on Linux\n"
        "ext = Extension('x', ['x.c'], libraries=['pq', 'm', 'ws2_32'])\n"
        "ext.libraries.append('libpq')  # MSVC's name for -lpq: one library\n"
        "config = find_on_path('pg_config')\n"
        "option_value('with-xml2-config')\n"
    ),
    "setupinfo.py": "version = query(PKG_CONFIG, 'libxml-2.0')\n",
    "meson.build": "project('x', 'c')\nz = dependency('zlib')\npy = dependency('python3')\n",
    "CMakeLists.txt": (
        "project(x LANGUAGES C)\nfind_package(PkgConfig)\nfind_package(JPEG REQUIRED)\n"
        "pkg_check_modules(XSLT REQUIRED IMPORTED_TARGET libxslt>=1.1)\n"
    ),
}


def test_system_libraries_come_from_the_build_files_with_their_line(tmp_path: Path) -> None:
    info = build_info(make_sdist(tmp_path, "demo", "1.0", LIBRARY_FILES))
    found = [(lib.name, lib.how, lib.evidence.split(": ", 1)[0]) for lib in info.libraries]
    assert found == [
        ("libffi", "pkg-config", "setup.py:3"),
        ("pq", "library", "setup.py:6"),
        ("pg_config", "program", "setup.py:8"),
        ("libxml-2.0", "pkg-config", "setupinfo.py:1"),
        ("zlib", "meson", "meson.build:2"),
        ("JPEG", "cmake", "CMakeLists.txt:3"),
        ("libxslt", "pkg-config", "CMakeLists.txt:4"),
    ]
    assert info.libraries[1].evidence == (
        "setup.py:6: ext = Extension('x', ['x.c'], libraries=['pq', 'm', 'ws2_32'])"
    )
    assert needs_text(info) == (
        "a C compiler; libraries: libffi, libxml-2.0, libxslt (pkg-config); pg_config "
        "(program); -lpq; zlib (meson); JPEG (cmake)"
    )


def test_the_backend_is_always_named(tmp_path: Path) -> None:
    names = {
        "no pyproject": {"setup.py": ""},
        "no build-system": {"pyproject.toml": "[project]\nname = 'x'\n", "setup.py": ""},
        "no build-backend": {"pyproject.toml": "[build-system]\nrequires = ['setuptools']\n"},
        "in-tree": {
            "pyproject.toml": "[build-system]\nbuild-backend = 'backend'\n"
            "backend-path = ['_custom_build']\n"
        },
        "invalid": {"pyproject.toml": "[build-system"},
    }
    got = {
        key: build_info(make_sdist(tmp_path / key, "demo", "1.0", files)).backend_name
        for key, files in names.items()
    }
    assert got == {
        "no pyproject": "unknown (no pyproject.toml) → setuptools legacy (PEP 517 fallback)",
        "no build-system": "unknown (no [build-system] in pyproject.toml) → setuptools legacy "
        "(PEP 517 fallback)",
        "no build-backend": "unknown ([build-system] without build-backend) → setuptools "
        "legacy (PEP 517 fallback)",
        "in-tree": "in-tree 'backend' (_custom_build)",
        "invalid": "unknown (pyproject.toml is not valid TOML: Expected ']' at the end of a "
        "table declaration (at end of document))",
    }
    unread = BuildInfo("x-1.0.tar.gz", "https://x", error="cannot download the sdist: timed out")
    assert unread.backend_name == "unknown (cannot download the sdist: timed out)"
