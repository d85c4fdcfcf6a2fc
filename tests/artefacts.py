"""Builders for the real artefacts the tests break: venvs, wheels, C extensions, ELF patches.

Nothing here mocks the import system: environments are made with ``python -m venv``, wheels
come from the package registry through pip, extensions are compiled with gcc.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from pkgdoctor.configuration import CONDA_VARIABLES

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
PY_NODOT = f"{sys.version_info[0]}{sys.version_info[1]}"
# "Another CPython" for ABI-mismatch cases: the previous minor version (3.10 under 3.11).
OTHER_PY = f"3.{sys.version_info[1] - 1}"
EXT_SUFFIX: str = sysconfig.get_config_var("EXT_SUFFIX")
MULTIARCH: str = sysconfig.get_config_var("MULTIARCH") or ""

# The variables that point pip, conda and the HTTP clients at the user's configuration
# (pkgdoctor's look/config.py reads them).
_CONFIG_VARIABLES = frozenset(
    ("CONDARC", *CONDA_VARIABLES, "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
)


# This machine's variables as the test run found them (before any test changed one).
_MACHINE_ENVIRON = dict(os.environ)


def without_user_config(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with this machine's pip and conda configuration
    out of sight of a pkgdoctor run: ``PIP_CONFIG_FILE=/dev/null`` makes pip (and pkgdoctor)
    skip every pip.conf, the global ones too; the machine's ``PIP_*``, conda setting and CA
    bundle variables go (a value a test set stays: it is the test's); conda's
    ``$XDG_CONFIG_HOME`` and ``$CONDA_ROOT`` levels name nothing. HOME stays (the user site
    and pyenv's directory depend on it), and so do ``~/.condarc`` and ``~/.conda``. The
    environments the suite builds are judged without the machine's configuration; the pip
    that builds them keeps it (its runs do not use this)."""
    env = dict(os.environ if environ is None else environ)

    def machines(name: str) -> bool:
        return name in env and env[name] == _MACHINE_ENVIRON.get(name)

    for name in list(env):
        if (name.startswith("PIP_") or name in _CONFIG_VARIABLES) and machines(name):
            del env[name]
    nowhere = os.path.join(os.devnull, "no-config")
    for name, value in (
        ("PIP_CONFIG_FILE", os.devnull),
        ("XDG_CONFIG_HOME", nowhere),
        ("CONDA_ROOT", nowhere),
    ):
        if name not in env or machines(name):
            env[name] = value
    return env


EM_AARCH64 = 183  # System V gABI e_machine values
EM_LOONGARCH = 258


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure fails the test loudly, with its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        pytest.fail(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Venv:
    prefix: Path

    @property
    def python(self) -> Path:
        return self.prefix / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        return self.prefix / "lib" / f"python{PY}" / "site-packages"


def make_venv(path: Path) -> Venv:
    """A real venv of the interpreter running the tests (no pip inside: pip runs from outside)."""
    run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    return Venv(path)


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return run([sys.executable, "-m", "pip", *args], env=env)


class Wheelhouse:
    """Wheels downloaded from the registry once per test run, shared by every test.

    A failed download fails the test that asked for it: these tests must not silently skip.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._done: dict[tuple[str, ...], Path] = {}

    def fetch(self, *specs: str, platform: str | None = None, python: str | None = None) -> Path:
        key = (*specs, platform or "", python or "")
        if key in self._done:
            return self._done[key]
        directory = self.root / hashlib.sha1("\0".join(key).encode()).hexdigest()[:12]
        args = ["download", "--no-deps", "--only-binary=:all:", "-d", str(directory)]
        if platform:
            args += ["--platform", platform]
        if python:
            abi = "cp" + python.replace(".", "")
            args += ["--python-version", python, "--implementation", "cp", "--abi", abi]
        pip(*args, *specs)
        self._done[key] = directory
        return directory

    def install(
        self, venv: Venv, *specs: str, platform: str | None = None, python: str | None = None
    ) -> None:
        """Install like a user would: normally, or with --platform/--python-version --target."""
        directory = self.fetch(*specs, platform=platform, python=python)
        common = ["install", "--no-deps", "--no-index", "--find-links", str(directory)]
        if platform or python:
            target = ["--target", str(venv.site_packages), "--only-binary=:all:"]
            if platform:
                target += ["--platform", platform]
            if python:
                target += [
                    "--python-version",
                    python,
                    "--implementation",
                    "cp",
                    "--abi",
                    "cp" + python.replace(".", ""),
                ]
            pip(*common, *target, *specs)
        else:
            pip("--python", str(venv.python), *common, *specs)


# --- C extensions -----------------------------------------------------------------------------

EXTENSION_SOURCE = """
#include <Python.h>
#include <stdio.h>
{extra}
static struct PyModuleDef def = {{PyModuleDef_HEAD_INIT, "{name}", NULL, -1, NULL}};
PyMODINIT_FUNC PyInit_{name}(void) {{
    {body}
    return PyModule_Create(&def);
}}
"""


def compile_extension(
    directory: Path,
    name: str,
    *,
    suffix: str = EXT_SUFFIX,
    body: str = 'if (getenv("PKGDOCTOR_NEVER")) puts("x");',
    extra: str = "#include <stdlib.h>",
    link: list[str] | None = None,
) -> Path:
    """Compile a real extension module ``directory/name<suffix>`` with gcc."""
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / f"{name}.c"
    source.write_text(EXTENSION_SOURCE.format(name=name, body=body, extra=extra))
    out = directory / f"{name}{suffix}"
    include = sysconfig.get_paths()["include"]
    # Debian's gcc links --as-needed: keep the libraries the test names even if unused.
    run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O1",
            f"-I{include}",
            "-o",
            str(out),
            str(source),
            "-Wl,--no-as-needed",
            *(link or []),
        ]
    )
    source.unlink()
    return out


CXX_EXTENSION_SOURCE = """
#include <Python.h>
#include <string>
static struct PyModuleDef def = {{PyModuleDef_HEAD_INIT, "{name}", NULL, -1, NULL}};
extern "C" PyObject *PyInit_{name}(void) {{
    std::string s("pkg"); s += "doctor";  // needs GLIBCXX_ versions from libstdc++.so.6
    if (s.size() > 100) return NULL;
    return PyModule_Create(&def);
}}
"""


def compile_cxx_extension(directory: Path, name: str, suffix: str = EXT_SUFFIX) -> Path:
    """A C++ extension module compiled with g++: it needs libstdc++'s GLIBCXX_ versions."""
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / f"{name}.cpp"
    source.write_text(CXX_EXTENSION_SOURCE.format(name=name))
    out = directory / f"{name}{suffix}"
    include = sysconfig.get_paths()["include"]
    run(["g++", "-shared", "-fPIC", "-O1", f"-I{include}", "-o", str(out), str(source)])
    source.unlink()
    return out


def compile_library(
    directory: Path,
    soname: str,
    body: str = "int pkgd_answer(void) { return 42; }",
    link: list[str] | None = None,
) -> Path:
    """A plain shared library with a DT_SONAME (and ``link``'s DT_NEEDED), for loader tests."""
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "lib.c"
    source.write_text(body + "\n")
    out = directory / soname
    run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(out), str(source),
         "-Wl,--no-as-needed", *(link or [])])  # fmt: skip
    source.unlink()
    return out


# pkg/_ext.so (RPATH or RUNPATH $ORIGIN/../libs) -> libs/liba.so.1 (no RPATH/RUNPATH of its
# own) -> libb.so.1, beside liba in libs/: the layout auditwheel repair writes.
LIB_A = "int b(void); int a(void) { return b() + 1; }"
LIB_B = "int b(void) { return 1; }"
RPATH = "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../libs"
RUNPATH = "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../libs"


def compile_bundle(
    base: Path, ext_path: str, *, b_file: str = "libb.so.1", ext_needs_b: str | None = None
) -> tuple[Path, Path, Path]:
    """(``base/pkg/_ext<suffix>``, ``base/libs/liba.so.1``, libb in ``base/libs``).

    ``ext_path`` is the DT_RPATH/DT_RUNPATH linker option (:data:`RPATH`, :data:`RUNPATH`);
    ``b_file`` the name libb's file has in libs/ (its DT_SONAME stays libb.so.1);
    ``ext_needs_b``: the extension needs libb directly too, under that name.
    """
    libs = base / "libs"
    stubs = base / "stubs"  # link-time only: never on a search path at run time
    b = compile_library(stubs, "libb.so.1", LIB_B)
    a = compile_library(libs, "liba.so.1", LIB_A, link=[str(b)])
    libs.joinpath(b_file).write_bytes(b.read_bytes())
    link = [ext_path, str(a)]
    if ext_needs_b is not None:
        link.append(str(compile_library(stubs / "alias", ext_needs_b, LIB_B)))
    ext = compile_extension(base / "pkg", "_ext", link=link)
    return ext, libs / "liba.so.1", libs / b_file


def patch_machine(path: Path, machine: int) -> None:
    """Rewrite e_machine (offset 18 in the ELF header, gABI) of a little-endian ELF file."""
    with path.open("r+b") as f:
        f.seek(18)
        f.write(struct.pack("<H", machine))


# 64 KiB of initialized data, placed after the dynamic section in the data segment (and a use
# of its last byte): an object with it can be cut inside its last PT_LOAD segment and still
# have every table the loader reads before mapping.
BIG_DATA = "char pkgd_blob[1 << 16] = {1};"
USE_BIG_DATA = "if (pkgd_blob[sizeof pkgd_blob - 1] == 7) return NULL;"
_PT_LOAD, _PT_DYNAMIC = 1, 2


def _program_headers(data: bytes) -> list[tuple[int, int, int]]:
    """(p_type, p_offset, p_filesz) of each program header of a 64-bit little-endian ELF file."""
    (phoff,) = struct.unpack_from("<Q", data, 32)  # e_phoff (gABI Elf64_Ehdr)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)  # e_phentsize, e_phnum
    result = []
    for index in range(phnum):
        # Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        p_type, _, offset, _, _, filesz, _, _ = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + index * phentsize
        )
        result.append((p_type, offset, filesz))
    return result


def truncate_last_segment(path: Path) -> int:
    """Cut a 64-bit little-endian ELF file at the last page boundary inside its last PT_LOAD
    segment, as an interrupted copy leaves it: the program headers and the dynamic section
    stay whole, but a page the loader maps is gone (touching it raises SIGBUS). The new size."""
    data = path.read_bytes()
    headers = _program_headers(data)
    end = max(offset + filesz for p_type, offset, filesz in headers if p_type == _PT_LOAD)
    cut = (end - 1) // 4096 * 4096
    dynamic = [offset + filesz for p_type, offset, filesz in headers if p_type == _PT_DYNAMIC]
    assert max(dynamic) <= cut < end, "link the object with BIG_DATA"
    path.write_bytes(data[:cut])
    return cut


def set_phnum(path: Path, value: int = 0xFFFF) -> None:
    """Rewrite e_phnum (offset 56 of an Elf64_Ehdr, gABI) of a little-endian ELF file; 0xFFFF
    is PN_XNUM (extended numbering: the count would be in section header 0's sh_info)."""
    with path.open("r+b") as f:
        f.seek(56)
        f.write(struct.pack("<H", value))


def raise_glibc_need(path: Path, prefix: bytes = b"GLIBC_2.") -> None:
    """Make every ``GLIBC_2.x`` version the file needs read ``GLIBC_9.x``: same length, so the
    string table stays valid, and no glibc defines it (ld.so refuses to load the file)."""
    data = path.read_bytes()
    assert prefix in data, f"{path} needs no {prefix!r} version"
    path.write_bytes(data.replace(prefix, prefix[:-2] + b"9."))


def write_dist_info(site: Path, name: str, version: str, files: list[str]) -> Path:
    """A minimal but valid dist-info whose RECORD lists ``files`` (relative to ``site``)."""
    dist_info = site / f"{name}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n"
    )
    (dist_info / "INSTALLER").write_text("pip\n")
    records = [
        *files,
        f"{dist_info.name}/METADATA",
        f"{dist_info.name}/INSTALLER",
        f"{dist_info.name}/RECORD",
    ]
    (dist_info / "RECORD").write_text("".join(f"{r},,\n" for r in records))
    return dist_info


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with its type, size and mtime (ns): proof of no writes."""
    result: dict[str, tuple[int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, "."]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            result[path] = (
                st.st_mode,
                st.st_size if not os.path.isdir(path) else 0,
                st.st_mtime_ns,
            )
    return result


def loongarch_interpreter(path: Path) -> Path:
    """A stand-in loongarch64 interpreter: a real executable with e_machine = EM_LOONGARCH."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(os.path.realpath(sys.executable), path)
    patch_machine(path, EM_LOONGARCH)
    return path


SYSCONFIGDATA_NO_TRIPLET = textwrap.dedent("""\
    # system configuration generated and used by the sysconfig module
    build_time_vars = {'ABIFLAGS': '',
     'EXT_SUFFIX': '.cpython-310.so',
     'HOST_GNU_TYPE': 'loongarch64-unknown-linux-gnu',
     'MACHDEP': 'linux',
     'MULTIARCH': '',
     'Py_DEBUG': 0,
     'SHLIB_SUFFIX': '.so',
     'SOABI': 'cpython-310',
     'VERSION': '3.10'}
""")


# --- Wheels written by the tests ---------------------------------------------------------------


def record_line(name: str, data: bytes) -> str:
    """A correct RECORD row (PEP 376/427): path, urlsafe-base64 sha256 without padding, size."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def write_wheel(
    path: Path,
    files: dict[str, bytes],
    *,
    metadata: str | None = None,
    tags: list[str] | None = None,
    record: bool = True,
) -> Path:
    """A real wheel zip at ``path`` (its name says project, version and tags) holding
    ``files``; METADATA and WHEEL are written unless ``files`` has them, RECORD is correct."""
    project, version = path.name.split("-")[:2]
    info = f"{project}-{version}.dist-info"
    contents = dict(files)
    contents.setdefault(
        f"{info}/METADATA",
        (metadata or f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n\n").encode(),
    )
    if f"{info}/WHEEL" not in contents:
        if tags is None:
            python, abi, platforms = path.name[: -len(".whl")].split("-")[-3:]
            tags = [f"{python}-{abi}-{p}" for p in platforms.split(".")]
        purelib = "true" if all(t.endswith("-any") for t in tags) else "false"
        wheel = f"Wheel-Version: 1.0\nGenerator: pkgdoctor-tests\nRoot-Is-Purelib: {purelib}\n"
        contents[f"{info}/WHEEL"] = (wheel + "".join(f"Tag: {t}\n" for t in tags)).encode()
    if record:
        rows = "".join(record_line(n, d) for n, d in contents.items() if n != f"{info}/RECORD")
        contents.setdefault(f"{info}/RECORD", (rows + f"{info}/RECORD,,\n").encode())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return path


def retag_wheel(source: Path, directory: Path, platform: str) -> Path:
    """A copy of a real wheel whose file name and WHEEL claim ``platform`` instead (RECORD
    rewritten to match): a wheel that lies about its platform, as a broken build makes it."""
    python, abi = source.name[: -len(".whl")].split("-")[-3:-1]
    stem = "-".join(source.name.split("-")[:2])
    with zipfile.ZipFile(source) as archive:
        files = {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}
    files = {n: d for n, d in files.items() if not n.endswith(("/RECORD", "/WHEEL"))}
    directory.mkdir(parents=True, exist_ok=True)
    return write_wheel(directory / f"{stem}-{python}-{abi}-{platform}.whl", files)
