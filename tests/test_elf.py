"""Tests for pkgdoctor.elf against real artefacts, with pyelftools as the oracle.

Objects are compiled with the system toolchain in a session fixture; a small ELF writer
below crafts the cases a toolchain here cannot produce (big-endian, cycles, corruption).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import stat
import struct
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from elftools.common.exceptions import ELFError as OracleError
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile as OracleELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection, GNUVerSymSection
from elftools.elf.sections import SymbolTableSection
from elftools.elf.segments import InterpSegment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgdoctor.elf import ELFError, ELFFile, VersionNeed, read_elf
from pkgdoctor.platforms import architecture_name

# --- Building real objects -----------------------------------------------------------------

GCC = shutil.which("gcc")
GXX = shutil.which("g++")
LD = shutil.which("ld")

DEMO_C = """
#include <math.h>
#include <stdio.h>
double demo(double x) { puts("demo"); return cos(x); }
"""

USER_C = """
int v_one(void);
int v_two(void);
int user(void) { return v_one() + v_two(); }
"""

CXX_SRC = """
#include <stdexcept>
#include <string>
extern "C" int cxx_entry(int x) {
    std::string s(static_cast<unsigned>(x > 0 ? x : 1), 'a');
    if (x < 0) throw std::runtime_error(s);
    int *p = new int(x);
    int r = *p + static_cast<int>(s.size());
    delete p;
    return r;
}
"""


def versioned_source(prefix: str) -> tuple[str, str]:
    """C source defining {prefix}_one/{prefix}_two and a version script for them."""
    upper = prefix.upper()
    source = f"int {prefix}_one(void) {{ return 1; }}\nint {prefix}_two(void) {{ return 2; }}\n"
    script = (
        f"LIB{upper}_1.0 {{ global: {prefix}_one; local: *; }};\n"
        f"LIB{upper}_2.0 {{ global: {prefix}_two; }} LIB{upper}_1.0;\n"
    )
    return source, script


def run(*argv: str | Path, cwd: Path) -> None:
    subprocess.run([str(a) for a in argv], cwd=cwd, check=True, capture_output=True)


@dataclasses.dataclass(frozen=True)
class Built:
    demo: Path
    versioned: Path
    user: Path
    cxx: Path | None
    i386: Path | None  # ELF32 shared object that needs two versioned ELF32 libraries
    x32: Path | None


def _try_build_32(directory: Path) -> tuple[Path | None, Path | None]:
    """Build ELF32 objects with `gcc -c` + `ld`, which needs no 32-bit libc."""
    if GCC is None or LD is None:
        return None, None
    i386: Path | None = None
    x32: Path | None = None
    try:
        for prefix in ("v", "w"):
            source, script = versioned_source(prefix)
            (directory / f"{prefix}32.c").write_text(source)
            (directory / f"{prefix}32.map").write_text(script)
            run(GCC, "-m32", "-fPIC", "-c", f"{prefix}32.c", "-o", f"{prefix}32.o", cwd=directory)
            run(
                LD,
                "-m",
                "elf_i386",
                "-shared",
                "-soname",
                f"lib{prefix}32.so.1",
                f"--version-script={prefix}32.map",
                "-o",
                f"lib{prefix}32.so.1",
                f"{prefix}32.o",
                cwd=directory,
            )
        (directory / "u32.c").write_text(
            "int v_one(void); int v_two(void); int w_one(void);\n"
            "int u(void) { return v_one() + v_two() + w_one(); }\n"
        )
        run(GCC, "-m32", "-fPIC", "-c", "u32.c", "-o", "u32.o", cwd=directory)
        run(
            LD,
            "-m",
            "elf_i386",
            "-shared",
            "-soname",
            "libu32.so",
            "-o",
            "libu32.so",
            "u32.o",
            "libv32.so.1",
            "libw32.so.1",
            cwd=directory,
        )
        i386 = directory / "libu32.so"
    except subprocess.CalledProcessError:
        i386 = None
    try:
        (directory / "x32.c").write_text("int x32(void) { return 32; }\n")
        run(GCC, "-mx32", "-fPIC", "-c", "x32.c", "-o", "x32.o", cwd=directory)
        run(
            LD,
            "-m",
            "elf32_x86_64",
            "-shared",
            "-soname",
            "libx32.so.1",
            "-o",
            "libx32.so.1",
            "x32.o",
            cwd=directory,
        )
        x32 = directory / "libx32.so.1"
    except subprocess.CalledProcessError:
        x32 = None
    return i386, x32


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    if GCC is None:
        pytest.fail("gcc is required to build the test objects")
    directory = tmp_path_factory.mktemp("elf-built")
    (directory / "demo.c").write_text(DEMO_C)
    run(
        GCC,
        "-shared",
        "-fPIC",
        "-O0",
        "-o",
        "libdemo.so.1",
        "demo.c",
        "-Wl,-soname,libdemo.so.1",
        "-Wl,--disable-new-dtags",
        "-Wl,-rpath,$ORIGIN/../lib",
        "-Wl,--no-as-needed",
        "-lm",
        cwd=directory,
    )
    source, script = versioned_source("v")
    (directory / "versioned.c").write_text(source)
    (directory / "versioned.map").write_text(script)
    run(
        GCC,
        "-shared",
        "-fPIC",
        "-o",
        "libversioned.so.1",
        "versioned.c",
        "-Wl,-soname,libversioned.so.1",
        "-Wl,--version-script=versioned.map",
        cwd=directory,
    )
    (directory / "user.c").write_text(USER_C)
    run(
        GCC,
        "-shared",
        "-fPIC",
        "-o",
        "libuser.so",
        "user.c",
        "-Wl,-soname,libuser.so",
        "-Wl,--enable-new-dtags",
        "-Wl,-rpath,$ORIGIN",
        f"-L{directory}",
        "-l:libversioned.so.1",
        cwd=directory,
    )
    cxx = None
    if GXX is not None:
        (directory / "cxx.cpp").write_text(CXX_SRC)
        run(GXX, "-shared", "-fPIC", "-o", "libcxx.so", "cxx.cpp", cwd=directory)
        cxx = directory / "libcxx.so"
    i386, x32 = _try_build_32(directory)
    return Built(
        demo=directory / "libdemo.so.1",
        versioned=directory / "libversioned.so.1",
        user=directory / "libuser.so",
        cxx=cxx,
        i386=i386,
        x32=x32,
    )


# --- The oracle ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expected:
    interpreter: str | None
    soname: str | None
    needed: tuple[str, ...]
    rpath: str | None
    runpath: str | None
    version_needs: tuple[VersionNeed, ...] | None  # None: no section headers to ask
    version_definitions: tuple[str, ...] | None


def oracle(path: str | os.PathLike[str]) -> Expected | None:
    """What pyelftools says, or None if it does not consider the file an ELF file at all."""
    with open(path, "rb") as stream:
        try:
            elf = OracleELFFile(stream)
        except OracleError:
            return None
        interpreter: str | None = None
        needed: list[str] = []
        single: dict[str, str] = {}
        for segment in elf.iter_segments():
            if isinstance(segment, InterpSegment) and interpreter is None:
                interpreter = segment.get_interp_name()
            elif isinstance(segment, DynamicSegment):
                for tag in segment.iter_tags():
                    kind = tag.entry.d_tag
                    # pyelftools stores the string as an attribute named after the tag.
                    if kind == "DT_NEEDED":
                        needed.append(str(getattr(tag, kind[3:].lower())))
                    elif kind in ("DT_SONAME", "DT_RPATH", "DT_RUNPATH"):
                        single[kind] = str(getattr(tag, kind[3:].lower()))
        version_needs: list[VersionNeed] | None = None
        version_definitions: list[str] | None = None
        if elf.num_sections():
            version_needs, version_definitions = [], []
            for section in elf.iter_sections():
                if isinstance(section, GNUVerNeedSection):
                    for verneed, auxiliaries in section.iter_versions():
                        assert verneed.name is not None
                        version_needs.append(
                            VersionNeed(verneed.name, tuple(aux.name for aux in auxiliaries))
                        )
                elif isinstance(section, GNUVerDefSection):
                    for verdef, auxiliaries in section.iter_versions():
                        names = [aux.name for aux in auxiliaries]
                        if not verdef["vd_flags"] & 1 and names:  # VER_FLG_BASE
                            version_definitions.append(names[0])
        return Expected(
            interpreter=interpreter,
            soname=single.get("DT_SONAME"),
            needed=tuple(needed),
            rpath=single.get("DT_RPATH"),
            runpath=single.get("DT_RUNPATH"),
            version_needs=None if version_needs is None else tuple(version_needs),
            version_definitions=None if version_definitions is None else tuple(version_definitions),
        )


def assert_matches_oracle(path: str | os.PathLike[str]) -> ELFFile | None:
    expected = oracle(path)
    if expected is None:
        with pytest.raises(ELFError):
            read_elf(path)
        return None
    got = read_elf(path)
    assert got.interpreter == expected.interpreter
    assert got.soname == expected.soname
    assert got.needed == expected.needed
    assert got.rpath == expected.rpath
    assert got.runpath == expected.runpath
    if expected.version_needs is not None:
        assert got.version_needs == expected.version_needs
    if expected.version_definitions is not None:
        assert got.version_definitions == expected.version_definitions
    return got


# --- Compiled objects ----------------------------------------------------------------------


def test_demo_library(built: Built) -> None:
    elf = assert_matches_oracle(built.demo)
    assert elf is not None
    assert elf.path == str(built.demo)
    assert elf.soname == "libdemo.so.1"
    assert elf.needed == ("libm.so.6", "libc.so.6")
    assert elf.rpath == "$ORIGIN/../lib"
    assert elf.runpath is None
    assert elf.interpreter is None
    assert elf.file_type == 3  # ET_DYN
    assert elf.version_definitions == ()
    files = {need.file for need in elf.version_needs}
    assert files == {"libm.so.6", "libc.so.6"}
    for need in elf.version_needs:
        assert need.versions
        assert all(version.startswith("GLIBC_") for version in need.versions)


def test_demo_library_native_header(built: Built) -> None:
    elf = read_elf(built.demo)
    assert elf.elf_class == (64 if sys.maxsize > 2**32 else 32)
    assert elf.little_endian == (sys.byteorder == "little")
    if os.uname().machine == "x86_64":
        assert elf.machine == 62
        assert elf.architecture == "x86_64"


def test_version_definitions(built: Built) -> None:
    elf = assert_matches_oracle(built.versioned)
    assert elf is not None
    assert elf.soname == "libversioned.so.1"
    # The VER_FLG_BASE definition (named after the soname) is left out.
    assert elf.version_definitions == ("LIBV_1.0", "LIBV_2.0")


def test_runpath_and_version_needs(built: Built) -> None:
    elf = assert_matches_oracle(built.user)
    assert elf is not None
    assert elf.runpath == "$ORIGIN"
    assert elf.rpath is None
    assert "libversioned.so.1" in elf.needed
    needs = {need.file: need.versions for need in elf.version_needs}
    assert sorted(needs["libversioned.so.1"]) == ["LIBV_1.0", "LIBV_2.0"]


@pytest.mark.skipif(GXX is None, reason="g++ is not installed")
def test_cxx_library_needs_libstdcxx_versions(built: Built) -> None:
    assert built.cxx is not None
    elf = assert_matches_oracle(built.cxx)
    assert elf is not None
    assert "libstdc++.so.6" in elf.needed
    needs = {need.file: set(need.versions) for need in elf.version_needs}
    assert {"GLIBCXX_3.4", "CXXABI_1.3"} <= needs["libstdc++.so.6"]


def test_elf32_objects(built: Built) -> None:
    if built.i386 is None:
        pytest.skip("cannot build i386 objects here")
    elf = assert_matches_oracle(built.i386)
    assert elf is not None
    assert (elf.elf_class, elf.machine, elf.architecture) == (32, 3, "i686")
    assert elf.soname == "libu32.so"
    assert elf.needed == ("libv32.so.1", "libw32.so.1")
    needs = {need.file: sorted(need.versions) for need in elf.version_needs}
    assert needs == {"libv32.so.1": ["LIBV_1.0", "LIBV_2.0"], "libw32.so.1": ["LIBW_1.0"]}
    base = assert_matches_oracle(built.i386.with_name("libv32.so.1"))
    assert base is not None
    assert base.version_definitions == ("LIBV_1.0", "LIBV_2.0")


def test_x32_object(built: Built) -> None:
    if built.x32 is None:
        pytest.skip("cannot build x32 objects here")
    elf = assert_matches_oracle(built.x32)
    assert elf is not None
    assert (elf.elf_class, elf.machine, elf.architecture) == (32, 62, "x32")
    assert elf.soname == "libx32.so.1"


def test_relocatable_object_has_no_dynamic_data(tmp_path: Path) -> None:
    if GCC is None:
        pytest.fail("gcc is required")
    (tmp_path / "obj.c").write_text("int obj(void) { return 0; }\n")
    run(GCC, "-c", "-fPIC", "obj.c", "-o", "obj.o", cwd=tmp_path)
    elf = read_elf(tmp_path / "obj.o")
    assert elf.file_type == 1  # ET_REL: e_phnum == 0
    assert (elf.interpreter, elf.soname, elf.needed, elf.version_needs) == (None, None, (), ())


def test_static_executable_has_no_dynamic_data(tmp_path: Path) -> None:
    if GCC is None:
        pytest.fail("gcc is required")
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    try:
        run(GCC, "-static", "main.c", "-o", "main", cwd=tmp_path)
    except subprocess.CalledProcessError:
        pytest.skip("no static libc to link against")
    elf = read_elf(tmp_path / "main")
    assert elf.file_type == 2  # ET_EXEC
    assert (elf.interpreter, elf.needed, elf.version_needs, elf.version_definitions) == (
        None,
        (),
        (),
        (),
    )


def test_reads_are_bounded(built: Built, tmp_path: Path) -> None:
    # The same library followed by a 4 GiB hole: reading must not touch the tail.
    sparse = tmp_path / "sparse.so"
    shutil.copyfile(built.demo, sparse)
    os.truncate(sparse, 4 * 1024**3)
    started = time.perf_counter()
    elf = read_elf(sparse)
    assert time.perf_counter() - started < 1.0
    assert elf.needed == read_elf(built.demo).needed


def test_bytes_read_from_a_large_library() -> None:
    libc = Path("/lib/x86_64-linux-gnu/libc.so.6")
    io_stats = Path("/proc/self/io")
    if not libc.exists() or not io_stats.exists():
        pytest.skip("needs x86-64 Debian-style libc and /proc/self/io")

    def rchar() -> int:
        for line in io_stats.read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
        raise AssertionError("no rchar in /proc/self/io")

    before = rchar()
    elf = read_elf(libc)
    after = rchar()
    assert elf.soname == "libc.so.6"
    # Measured here: ~30 KiB of a ~2 MiB file (plus the read of /proc/self/io itself).
    assert after - before < 128 * 1024 < libc.stat().st_size


# --- Real system files ---------------------------------------------------------------------


def _system_files() -> list[str]:
    paths: list[str] = []
    multiarch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    libdir = Path("/lib") / multiarch
    if libdir.is_dir():
        seen: set[str] = set()
        for candidate in sorted(libdir.glob("lib*.so*")):
            real = os.path.realpath(candidate)
            if candidate.is_file() and real not in seen:
                seen.add(real)
                paths.append(str(candidate))
            if len(paths) >= 200:
                break
    for entry in sys.path:
        if entry.endswith("lib-dynload") and Path(entry).is_dir():
            paths.extend(str(p) for p in sorted(Path(entry).glob("*.so")))
    return paths


SYSTEM_FILES = _system_files()


def test_system_files_were_found() -> None:
    assert len(SYSTEM_FILES) > 20


@pytest.mark.parametrize("path", SYSTEM_FILES, ids=os.path.basename)
def test_system_file_matches_oracle(path: str) -> None:
    assert_matches_oracle(path)


def test_bin_ls() -> None:
    ls = shutil.which("ls") or "/bin/ls"
    elf = assert_matches_oracle(ls)
    assert elf is not None
    assert elf.interpreter is not None
    assert elf.interpreter.startswith("/")
    assert "libc.so.6" in elf.needed
    assert any(need.file == "libc.so.6" for need in elf.version_needs)


# --- Machine names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "elf_class", "little", "name"),
    [
        (62, 64, True, "x86_64"),
        (62, 32, True, "x32"),
        (3, 32, True, "i686"),
        (183, 64, True, "aarch64"),
        (40, 32, True, "armv7l"),
        (21, 64, True, "ppc64le"),
        (21, 64, False, "ppc64"),
        (20, 32, False, "ppc"),
        (22, 64, False, "s390x"),
        (22, 32, False, "s390"),
        (243, 64, True, "riscv64"),
        (243, 32, True, "riscv32"),
        (258, 64, True, "loongarch64"),
        (258, 32, True, "loongarch32"),
        (8, 64, True, "mips64el"),
        (8, 64, False, "mips64"),
        (8, 32, True, "mipsel"),
        (8, 32, False, "mips"),
        (43, 64, False, "sparc64"),
        (50, 64, True, "ia64"),
        (9999, 64, True, "elf-machine-9999"),
    ],
)
def test_architecture_name(machine: int, elf_class: int, little: bool, name: str) -> None:
    assert architecture_name(machine, elf_class, little) == name
    assert architecture_name(machine, elf_class, little, flags=0x5000400) == name


def patched(source: Path, target: Path, patches: dict[int, bytes]) -> Path:
    data = bytearray(source.read_bytes())
    for offset, value in patches.items():
        data[offset : offset + len(value)] = value
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize(("machine", "name"), [(183, "aarch64"), (258, "loongarch64")])
def test_patched_machine(built: Built, tmp_path: Path, machine: int, name: str) -> None:
    order = "<" if read_elf(built.demo).little_endian else ">"
    # e_machine is the Half at offset 18 in both classes.
    path = patched(built.demo, tmp_path / "m.so", {18: struct.pack(order + "H", machine)})
    elf = read_elf(path)
    assert (elf.machine, elf.architecture) == (machine, name)
    assert elf.needed == read_elf(built.demo).needed


# --- A small ELF writer --------------------------------------------------------------------

BASE_ADDRESS = 0x10000
VER_FLG_BASE = 1


@dataclasses.dataclass
class Crafted:
    data: bytearray
    is64: bool
    little: bool
    dynamic: int  # file offset of the dynamic array
    dyn_tags: list[int]  # d_tag of each dynamic entry, in order
    verneed: list[int]  # file offsets of the Elf_Verneed records
    vernaux: list[list[int]]  # file offsets of each record's Elf_Vernaux entries
    verdef: list[int]  # file offsets of the Elf_Verdef records (base first)

    @property
    def order(self) -> str:
        return "<" if self.little else ">"

    def dyn_value_offset(self, tag: int) -> int:
        entry = 16 if self.is64 else 8
        return self.dynamic + self.dyn_tags.index(tag) * entry + entry // 2

    def set_dyn(self, tag: int, value: int) -> None:
        struct.pack_into(
            self.order + ("Q" if self.is64 else "I"), self.data, self.dyn_value_offset(tag), value
        )

    def put(self, offset: int, fmt: str, value: int) -> None:
        struct.pack_into(self.order + fmt, self.data, offset, value)

    def write(self, path: Path) -> Path:
        path.write_bytes(bytes(self.data))
        return path


DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 5, 10, 14, 15, 29
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = (
    0x6FFFFFFC,
    0x6FFFFFFD,
    0x6FFFFFFE,
    0x6FFFFFFF,
)


def craft_elf(
    *,
    is64: bool,
    little: bool,
    machine: int = 62,
    interp: str | None = "/lib/ld-crafted.so.1",
    needed: Sequence[str] = ("liba.so.1", "libb.so.2"),
    soname: str | None = "libcrafted.so.1",
    rpath: str | None = None,
    runpath: str | None = "$ORIGIN/../lib",
    verneed: Sequence[tuple[str, Sequence[str]]] = (
        ("liba.so.1", ("A_1.0", "A_2.0")),
        ("libb.so.2", ("B_1.0",)),
    ),
    verdef: Sequence[str] = ("CRAFTED_1", "CRAFTED_2"),
) -> Crafted:
    """A minimal shared object: one PT_LOAD mapping the whole file, no section headers."""
    order = "<" if little else ">"
    word = "Q" if is64 else "I"
    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    phdrs = [1, 2] + ([3] if interp is not None else [])  # PT_LOAD, PT_DYNAMIC, PT_INTERP

    strtab = bytearray(b"\0")
    string_offsets: dict[str, int] = {}

    def string(text: str) -> int:
        if text not in string_offsets:
            string_offsets[text] = len(strtab)
            strtab.extend(text.encode() + b"\0")
        return string_offsets[text]

    def align(value: int, to: int) -> int:
        return -(-value // to) * to

    cursor = ehsize + phentsize * len(phdrs)
    interp_offset = cursor
    interp_bytes = b"" if interp is None else interp.encode() + b"\0"
    cursor += len(interp_bytes)

    # Version records (their strings go into strtab as a side effect).
    verneed_blob = bytearray()
    verneed_rel: list[int] = []
    vernaux_rel: list[list[int]] = []
    for index, (file, versions) in enumerate(verneed):
        last = index == len(verneed) - 1
        verneed_rel.append(len(verneed_blob))
        verneed_blob += struct.pack(
            order + "HHIII",
            1,
            len(versions),
            string(file),
            16,
            0 if last else 16 + 16 * len(versions),
        )
        vernaux_rel.append([])
        for aux_index, version in enumerate(versions):
            vernaux_rel[-1].append(len(verneed_blob))
            aux_last = aux_index == len(versions) - 1
            verneed_blob += struct.pack(
                order + "IHHII", 0, 0, 2 + aux_index, string(version), 0 if aux_last else 16
            )
    verdef_blob = bytearray()
    verdef_rel: list[int] = []
    definitions = [(soname or "base", VER_FLG_BASE), *((name, 0) for name in verdef)]
    for index, (name, flags) in enumerate(definitions if verdef else []):
        last = index == len(definitions) - 1
        verdef_rel.append(len(verdef_blob))
        verdef_blob += struct.pack(
            order + "HHHHIII", 1, flags, index + 1, 1, 0, 20, 0 if last else 28
        )
        verdef_blob += struct.pack(order + "II", string(name), 0)
    for text in (*needed, soname, rpath, runpath):
        if text is not None:
            string(text)

    strtab_offset = cursor
    cursor += len(strtab)
    verneed_offset = align(cursor, 4)
    cursor = verneed_offset + len(verneed_blob)
    verdef_offset = align(cursor, 4)
    cursor = verdef_offset + len(verdef_blob)
    dynamic_offset = align(cursor, 8)

    dynamic: list[tuple[int, int]] = [(DT_NEEDED, string_offsets[name]) for name in needed]
    for tag, text in ((DT_SONAME, soname), (DT_RPATH, rpath), (DT_RUNPATH, runpath)):
        if text is not None:
            dynamic.append((tag, string_offsets[text]))
    dynamic += [(DT_STRTAB, BASE_ADDRESS + strtab_offset), (DT_STRSZ, len(strtab))]
    if verneed:
        dynamic += [(DT_VERNEED, BASE_ADDRESS + verneed_offset), (DT_VERNEEDNUM, len(verneed))]
    if verdef:
        dynamic += [(DT_VERDEF, BASE_ADDRESS + verdef_offset), (DT_VERDEFNUM, len(definitions))]
    dynamic.append((0, 0))
    dyn_size = 16 if is64 else 8
    total = dynamic_offset + dyn_size * len(dynamic)

    data = bytearray(total)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if little else 2, 1]) + bytes(9)
    header_fmt = order + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    data[0:ehsize] = ident + struct.pack(
        header_fmt, 3, machine, 1, 0, ehsize, 0, 0, ehsize, phentsize, len(phdrs), 0, 0, 0
    )
    segments = {
        1: (0, BASE_ADDRESS, total, 0x1000),
        2: (dynamic_offset, BASE_ADDRESS + dynamic_offset, dyn_size * len(dynamic), 8),
        3: (interp_offset, BASE_ADDRESS + interp_offset, len(interp_bytes), 1),
    }
    for index, p_type in enumerate(phdrs):
        offset, vaddr, size, p_align = segments[p_type]
        if is64:
            entry = struct.pack(
                order + "IIQQQQQQ", p_type, 4, offset, vaddr, vaddr, size, size, p_align
            )
        else:
            entry = struct.pack(
                order + "IIIIIIII", p_type, offset, vaddr, vaddr, size, size, 4, p_align
            )
        start = ehsize + index * phentsize
        data[start : start + phentsize] = entry
    data[interp_offset : interp_offset + len(interp_bytes)] = interp_bytes
    data[strtab_offset : strtab_offset + len(strtab)] = strtab
    data[verneed_offset : verneed_offset + len(verneed_blob)] = verneed_blob
    data[verdef_offset : verdef_offset + len(verdef_blob)] = verdef_blob
    for index, (tag, value) in enumerate(dynamic):
        start = dynamic_offset + index * dyn_size
        data[start : start + dyn_size] = struct.pack(order + word + word, tag, value)
    return Crafted(
        data=data,
        is64=is64,
        little=little,
        dynamic=dynamic_offset,
        dyn_tags=[tag for tag, _ in dynamic],
        verneed=[verneed_offset + rel for rel in verneed_rel],
        vernaux=[[verneed_offset + rel for rel in group] for group in vernaux_rel],
        verdef=[verdef_offset + rel for rel in verdef_rel],
    )


CLASSES_AND_ORDERS = [(is64, little) for is64 in (False, True) for little in (True, False)]
CLASS_IDS = [
    f"{'64' if is64 else '32'}{'LE' if little else 'BE'}" for is64, little in CLASSES_AND_ORDERS
]


@pytest.mark.parametrize(("is64", "little"), CLASSES_AND_ORDERS, ids=CLASS_IDS)
def test_crafted_elf_all_classes_and_orders(tmp_path: Path, is64: bool, little: bool) -> None:
    path = craft_elf(is64=is64, little=little, machine=21).write(tmp_path / "c.so")
    elf = assert_matches_oracle(path)
    assert elf is not None
    assert (elf.elf_class, elf.little_endian) == (64 if is64 else 32, little)
    assert elf.architecture == ("ppc64le" if little else "ppc64")
    assert elf.interpreter == "/lib/ld-crafted.so.1"
    assert elf.soname == "libcrafted.so.1"
    assert elf.needed == ("liba.so.1", "libb.so.2")
    assert elf.runpath == "$ORIGIN/../lib"
    assert elf.rpath is None
    assert elf.version_needs == (
        VersionNeed("liba.so.1", ("A_1.0", "A_2.0")),
        VersionNeed("libb.so.2", ("B_1.0",)),
    )
    assert elf.version_definitions == ("CRAFTED_1", "CRAFTED_2")


def test_crafted_without_version_counts_follows_chains(tmp_path: Path) -> None:
    # Without DT_VERNEEDNUM the loader (glibc dl-version.c) follows vn_next until it is 0.
    crafted = craft_elf(is64=True, little=True)
    # Turn DT_VERNEEDNUM into DT_VERSYM, which we do not interpret.
    crafted.put(crafted.dyn_value_offset(DT_VERNEEDNUM) - 8, "Q", 0x6FFFFFF0)
    elf = read_elf(crafted.write(tmp_path / "c.so"))
    assert [need.file for need in elf.version_needs] == ["liba.so.1", "libb.so.2"]


def test_repeated_tag_last_one_wins(tmp_path: Path) -> None:
    # glibc's elf_get_dynamic_info stores each single-valued tag in an array indexed by tag,
    # so a later entry overrides an earlier one.
    crafted = craft_elf(is64=True, little=True, rpath="/first")
    crafted.put(crafted.dyn_value_offset(DT_RUNPATH) - 8, "Q", DT_RPATH)
    elf = read_elf(crafted.write(tmp_path / "c.so"))
    assert (elf.rpath, elf.runpath) == ("$ORIGIN/../lib", None)


# --- Corrupt input -------------------------------------------------------------------------


def assert_elf_error(path: Path, match: str | None = None) -> ELFError:
    with pytest.raises(ELFError, match=match) as excinfo:
        read_elf(path)
    assert str(excinfo.value).startswith("not a valid ELF file: ")
    return excinfo.value


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "too short"),
        (b"\x7fEL", "too short"),
        (b"abc", "bad magic"),
        (b"MZ\x90\x00" + bytes(100), "bad magic"),
        (b"#!/bin/sh\necho hi\n", "bad magic"),
        (b"\x7fELF\x03\x01\x01" + bytes(100), "EI_CLASS"),
        (b"\x7fELF\x02\x03\x01" + bytes(100), "EI_DATA"),
        (b"\x7fELF\x02\x01\x00" + bytes(100), "EI_VERSION"),
    ],
)
def test_garbage(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    assert_elf_error(path, match)


def test_header_truncated_at_every_length(built: Built, tmp_path: Path) -> None:
    data = built.demo.read_bytes()
    path = tmp_path / "truncated"
    for length in range(65):
        path.write_bytes(data[:length])
        assert_elf_error(path)


@pytest.mark.parametrize(("is64", "little"), CLASSES_AND_ORDERS, ids=CLASS_IDS)
def test_crafted_truncated_at_every_length(tmp_path: Path, is64: bool, little: bool) -> None:
    # The dynamic array is the last thing in a crafted file, so every proper prefix is bad.
    data = craft_elf(is64=is64, little=little).data
    path = tmp_path / "truncated"
    for length in range(len(data)):
        path.write_bytes(data[:length])
        assert_elf_error(path)


def test_program_header_table_past_eof(built: Built, tmp_path: Path) -> None:
    elf = read_elf(built.demo)
    order = "<" if elf.little_endian else ">"
    size = built.demo.stat().st_size
    if elf.elf_class == 64:
        patch = {32: struct.pack(order + "Q", size - 8)}  # e_phoff
    else:
        patch = {28: struct.pack(order + "I", size - 8)}
    assert_elf_error(patched(built.demo, tmp_path / "p.so", patch), "program header table")


def test_bad_phentsize(built: Built, tmp_path: Path) -> None:
    elf = read_elf(built.demo)
    order = "<" if elf.little_endian else ">"
    offset = 54 if elf.elf_class == 64 else 42  # e_phentsize
    assert_elf_error(
        patched(built.demo, tmp_path / "p.so", {offset: struct.pack(order + "H", 40)}),
        "e_phentsize",
    )


def _load_segment_ends(path: Path) -> list[int]:
    """p_offset + p_filesz of every PT_LOAD segment, as pyelftools reads them."""
    with path.open("rb") as stream:
        return [
            s["p_offset"] + s["p_filesz"]
            for s in OracleELFFile(stream).iter_segments()
            if s["p_type"] == "PT_LOAD" and s["p_filesz"]
        ]


def test_load_segment_past_eof(built: Built, tmp_path: Path) -> None:
    # A file cut inside its last PT_LOAD segment: its program headers and dynamic section are
    # intact, but ld.so would map pages the file does not have (SIGBUS on first touch).
    end = max(_load_segment_ends(built.demo))
    data = built.demo.read_bytes()
    path = tmp_path / "cut.so"
    path.write_bytes(data[: end - 1])
    error = assert_elf_error(path, "PT_LOAD segment")
    assert f"the end of the file ({end - 1} bytes): the file is truncated" in error.reason
    # Cut right at the end of the last segment (only section headers and non-loaded sections
    # lost, as some stripping tools leave files): what the loader maps is all there.
    path.write_bytes(data[:end])
    assert read_elf(path).needed == read_elf(built.demo).needed


def test_pn_xnum_is_refused_like_the_loader_does(built: Built, tmp_path: Path) -> None:
    # glibc reads e_phnum entries as they are (no extended numbering): dlopen says "cannot
    # read file data". The section header 0 of a linked object has sh_info 0, which read as
    # the gABI count would make a valid-looking file without any segment.
    elf = read_elf(built.demo)
    order = "<" if elf.little_endian else ">"
    offset = 56 if elf.elf_class == 64 else 44  # e_phnum
    path = patched(built.demo, tmp_path / "p.so", {offset: struct.pack(order + "H", 0xFFFF)})
    assert_elf_error(path, "PN_XNUM")


def _dynamic_entry_offset(path: Path, tag_name: str) -> tuple[int, int]:
    """(file offset of the d_val of the first *tag_name* entry, d_val size), via pyelftools."""
    with open(path, "rb") as stream:
        elf = OracleELFFile(stream)
        entry = 16 if elf.elfclass == 64 else 8
        for segment in elf.iter_segments():
            if isinstance(segment, DynamicSegment):
                for index, tag in enumerate(segment.iter_tags()):
                    if tag.entry.d_tag == tag_name:
                        return segment["p_offset"] + index * entry + entry // 2, entry // 2
    raise AssertionError(f"{tag_name} not found in {path}")


def test_string_offset_out_of_range(built: Built, tmp_path: Path) -> None:
    offset, size = _dynamic_entry_offset(built.demo, "DT_STRSZ")
    order = "<" if read_elf(built.demo).little_endian else ">"
    fmt = order + ("Q" if size == 8 else "I")
    path = patched(built.demo, tmp_path / "s.so", {offset: struct.pack(fmt, 1)})
    assert_elf_error(path, "outside the dynamic string table")


def test_needed_offset_out_of_range_crafted(tmp_path: Path) -> None:
    crafted = craft_elf(is64=False, little=False)
    # The first dynamic entry is DT_NEEDED.
    crafted.put(crafted.dynamic + 4, "I", 0xFFFF)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "DT_NEEDED string offset")


def test_unterminated_string(tmp_path: Path) -> None:
    crafted = craft_elf(is64=True, little=True, verneed=(), verdef=())
    # Shrink DT_STRSZ so the last string (the runpath) loses its NUL.
    strsz_offset = crafted.dyn_value_offset(DT_STRSZ)
    (strsz,) = struct.unpack_from("<Q", crafted.data, strsz_offset)
    crafted.set_dyn(DT_STRSZ, strsz - 1)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "not NUL-terminated")


def test_strtab_address_outside_load_segments(tmp_path: Path) -> None:
    crafted = craft_elf(is64=True, little=True)
    crafted.set_dyn(DT_STRTAB, 0x7FFF0000)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "PT_LOAD")


def test_absurd_string_table_size(tmp_path: Path) -> None:
    crafted = craft_elf(is64=True, little=True)
    crafted.set_dyn(DT_STRSZ, 1 << 40)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "implausibly large")


def test_absurd_version_count(tmp_path: Path) -> None:
    crafted = craft_elf(is64=True, little=True)
    crafted.set_dyn(DT_VERNEEDNUM, 1 << 40)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "DT_VERNEEDNUM")


def test_missing_strtab(tmp_path: Path) -> None:
    crafted = craft_elf(is64=True, little=True)
    # Turn DT_STRTAB into DT_DEBUG (21), which we do not interpret.
    struct.pack_into("<Q", crafted.data, crafted.dyn_value_offset(DT_STRTAB) - 8, 21)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "DT_STRTAB")


def test_two_dynamic_segments(tmp_path: Path) -> None:
    crafted = craft_elf(is64=True, little=True)
    # Turn PT_INTERP (the third program header) into a second PT_DYNAMIC.
    struct.pack_into("<I", crafted.data, 64 + 2 * 56, 2)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "PT_DYNAMIC")


def test_interp_without_nul(tmp_path: Path) -> None:
    crafted = craft_elf(is64=True, little=True)
    interp_offset = 64 + 3 * 56
    length = len("/lib/ld-crafted.so.1")
    crafted.data[interp_offset + length] = ord("x")
    assert_elf_error(crafted.write(tmp_path / "c.so"), "PT_INTERP")


def test_bad_vn_version(tmp_path: Path) -> None:
    crafted = craft_elf(is64=True, little=True)
    crafted.put(crafted.verneed[0], "H", 2)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "vn_version")


@pytest.mark.parametrize("little", [True, False], ids=["LE", "BE"])
def test_vn_next_cycle(tmp_path: Path, little: bool) -> None:
    # In ELF32 the loader's address arithmetic wraps at 2**32, so a large vn_next points
    # backwards: record 1 -> record 0 -> record 1 ...
    crafted = craft_elf(is64=False, little=little)
    first, second = crafted.verneed
    crafted.put(second + 12, "I", (first - second) & 0xFFFFFFFF)
    crafted.set_dyn(DT_VERNEEDNUM, 10)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "cycle in the vn_next chain")


def test_vn_next_cycle_without_count(tmp_path: Path) -> None:
    crafted = craft_elf(is64=False, little=True)
    first, second = crafted.verneed
    crafted.put(second + 12, "I", (first - second) & 0xFFFFFFFF)
    struct.pack_into("<I", crafted.data, crafted.dyn_value_offset(DT_VERNEEDNUM) - 4, 0x6FFFFFF0)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "cycle in the vn_next chain")


def test_vna_next_cycle(tmp_path: Path) -> None:
    crafted = craft_elf(is64=False, little=True)
    first, second = crafted.vernaux[0]
    crafted.put(second + 12, "I", (first - second) & 0xFFFFFFFF)
    crafted.put(crafted.verneed[0] + 2, "H", 50)  # vn_cnt
    assert_elf_error(crafted.write(tmp_path / "c.so"), "cycle in the vna_next chain")


def test_vd_next_cycle(tmp_path: Path) -> None:
    crafted = craft_elf(is64=False, little=False)
    crafted.put(crafted.verdef[-1] + 16, "I", (crafted.verdef[0] - crafted.verdef[-1]) & 0xFFFFFFFF)
    crafted.set_dyn(DT_VERDEFNUM, 10)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "cycle in the vd_next chain")


def test_vn_next_cannot_wrap_in_elf64(tmp_path: Path) -> None:
    crafted = craft_elf(is64=True, little=True)
    first, second = crafted.verneed
    crafted.put(second + 12, "I", (first - second) & 0xFFFFFFFF)
    crafted.set_dyn(DT_VERNEEDNUM, 10)
    assert_elf_error(crafted.write(tmp_path / "c.so"), "PT_LOAD")


def test_vna_next_cycle_in_compiled_elf32(built: Built, tmp_path: Path) -> None:
    if built.i386 is None:
        pytest.skip("cannot build i386 objects here")
    with open(built.i386, "rb") as stream:
        section = OracleELFFile(stream).get_section_by_name(".gnu.version_r")
        assert section is not None
        start = section["sh_offset"]
    data = bytearray(built.i386.read_bytes())
    # Find the Verneed with two Vernaux entries and make the second point back at the first.
    offset = start
    while True:
        _version, count, _file, aux, next_ = struct.unpack_from("<HHIII", data, offset)
        if count == 2:
            break
        offset += next_
    aux_first = offset + aux
    (aux_next,) = struct.unpack_from("<I", data, aux_first + 12)
    struct.pack_into("<I", data, aux_first + aux_next + 12, (-aux_next) & 0xFFFFFFFF)
    struct.pack_into("<H", data, offset + 2, 3)  # vn_cnt
    path = tmp_path / "cycle.so"
    path.write_bytes(bytes(data))
    assert_elf_error(path, "cycle in the vna_next chain")


def test_not_a_regular_file(tmp_path: Path) -> None:
    assert_elf_error(tmp_path, "not a regular file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert_elf_error(fifo, "not a regular file")  # and does not block


def test_missing_file_is_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_elf(tmp_path / "nope.so")


# --- Property tests ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elf-fuzz") / "candidate"


def read_or_error(path: Path, data: bytes) -> ELFFile | None:
    path.write_bytes(data)
    try:
        return read_elf(path)
    except ELFError:
        return None


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=4096))
def test_fuzz_arbitrary_bytes(scratch: Path, data: bytes) -> None:
    read_or_error(scratch, data)


@FUZZ
@given(
    ident=st.sampled_from(
        [
            b"\x7fELF\x01\x01\x01",
            b"\x7fELF\x02\x01\x01",
            b"\x7fELF\x01\x02\x01",
            b"\x7fELF\x02\x02\x01",
        ]
    ),
    rest=st.binary(max_size=2048),
)
def test_fuzz_elf_shaped_bytes(scratch: Path, ident: bytes, rest: bytes) -> None:
    read_or_error(scratch, ident + rest)


@FUZZ
@given(
    variant=st.sampled_from(CLASSES_AND_ORDERS),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
)
def test_fuzz_crafted_with_overwrites(
    scratch: Path, variant: tuple[bool, bool], edits: list[tuple[int, int]]
) -> None:
    data = craft_elf(is64=variant[0], little=variant[1]).data
    for position, value in edits:
        data[position % len(data)] = value
    read_or_error(scratch, bytes(data))


def _interesting_ranges(path: Path) -> list[tuple[int, int]]:
    """Byte ranges of a compiled object that read_elf looks at."""
    ranges = [(0, 1024)]
    with open(path, "rb") as stream:
        elf = OracleELFFile(stream)
        for name in (".dynamic", ".dynstr", ".gnu.version_r", ".gnu.version_d", ".interp"):
            section = elf.get_section_by_name(name)
            if section is not None:
                ranges.append((section["sh_offset"], section["sh_offset"] + section["sh_size"]))
    return ranges


# (range number, offset in it, new byte): overwrites aimed at what read_elf reads.
RANGE_EDITS = st.lists(
    st.tuples(st.integers(0, 100), st.integers(0, 1 << 20), st.integers(0, 255)),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="session")
def demo_fuzz_base(built: Built) -> tuple[bytes, list[tuple[int, int]]]:
    return built.user.read_bytes(), _interesting_ranges(built.user)


@FUZZ
@given(edits=RANGE_EDITS)
def test_fuzz_compiled_with_overwrites(
    scratch: Path,
    demo_fuzz_base: tuple[bytes, list[tuple[int, int]]],
    edits: list[tuple[int, int, int]],
) -> None:
    read_or_error(scratch, overwrite(*demo_fuzz_base, edits))


def overwrite(
    original: bytes, ranges: list[tuple[int, int]], edits: list[tuple[int, int, int]]
) -> bytes:
    """``original`` with each edit (range number, offset, byte) written inside its range."""
    data = bytearray(original)
    for which, position, value in edits:
        start, end = ranges[which % len(ranges)]
        data[start + position % max(1, end - start)] = value
    return bytes(data)


# --- Dynamic symbols and GNU properties (read_elf(symbols=True, properties=True)) -----------


def oracle_symbols(path: str | os.PathLike[str]) -> list[tuple[str, bool, int, int, str | None]]:
    """(name, defined, binding, type, version) of every .dynsym entry, as pyelftools reads it."""
    bindings = {
        "STB_LOCAL": 0,
        "STB_GLOBAL": 1,
        "STB_WEAK": 2,
        "STB_LOOS": 10,
        "STB_GNU_UNIQUE": 10,
    }
    types = {"STT_NOTYPE": 0, "STT_OBJECT": 1, "STT_FUNC": 2, "STT_SECTION": 3, "STT_FILE": 4,
             "STT_COMMON": 5, "STT_TLS": 6, "STT_LOOS": 10, "STT_GNU_IFUNC": 10}  # fmt: skip
    with open(path, "rb") as stream:
        elf = OracleELFFile(stream)
        table = elf.get_section_by_name(".dynsym")
        versions = elf.get_section_by_name(".gnu.version")
        names: dict[int, str] = {}
        for section in elf.iter_sections():
            if isinstance(section, GNUVerNeedSection):
                for _, auxiliaries in section.iter_versions():
                    for aux in auxiliaries:
                        names[aux["vna_other"] & 0x7FFF] = aux.name
            elif isinstance(section, GNUVerDefSection):
                for record, auxiliaries in section.iter_versions():
                    first = next(iter(auxiliaries), None)
                    if first is not None:
                        names.setdefault(record["vd_ndx"] & 0x7FFF, first.name)
        result = []
        assert table is None or isinstance(table, SymbolTableSection)
        assert versions is None or isinstance(versions, GNUVerSymSection)
        for number, symbol in enumerate(table.iter_symbols() if table else ()):
            version = None
            if versions is not None:
                index = versions.get_symbol(number)["ndx"]
                if isinstance(index, int) and index & 0x7FFF > 1:
                    version = names[index & 0x7FFF]
            result.append(
                (
                    symbol.name,
                    symbol["st_shndx"] != "SHN_UNDEF",
                    bindings[symbol["st_info"]["bind"]],
                    types[symbol["st_info"]["type"]],
                    version,
                )
            )
        return result


def _symbol_tuples(elf: ELFFile) -> list[tuple[str, bool, int, int, str | None]]:
    return [(s.name, s.defined, s.binding, s.type, s.version) for s in elf.symbols or ()]


def test_symbols_of_compiled_libraries_match_oracle(built: Built) -> None:
    for path in (built.demo, built.versioned, built.user, built.cxx):
        if path is None:
            continue
        elf = read_elf(path, symbols=True)
        assert _symbol_tuples(elf) == oracle_symbols(path)
    user = read_elf(built.user, symbols=True)
    imported = {s.name: s for s in user.symbols or () if not s.defined and s.version}
    assert imported["v_one"].library == "libversioned.so.1"
    assert read_elf(built.user).symbols is None  # only read when asked for


@pytest.mark.parametrize("path", SYSTEM_FILES[:80], ids=os.path.basename)
def test_symbols_of_system_files_match_oracle(path: str) -> None:
    try:
        elf = read_elf(path, symbols=True)
    except ELFError:
        return  # test_system_file_matches_oracle covers what is not ELF
    assert _symbol_tuples(elf) == oracle_symbols(path)


def test_read_elf_bytes_equals_read_elf(built: Built) -> None:
    from pkgdoctor.elf import read_elf_bytes

    data = built.cxx.read_bytes() if built.cxx else built.user.read_bytes()
    path = built.cxx or built.user
    assert read_elf_bytes(data, str(path), symbols=True) == read_elf(path, symbols=True)


@pytest.mark.skipif(GCC is None or os.uname().machine != "x86_64", reason="needs x86-64 gcc")
def test_x86_isa_needed_property(tmp_path: Path) -> None:
    assert GCC is not None
    (tmp_path / "isa.c").write_text("int triple(int x) { return 3 * x; }\n")
    run(GCC, "-shared", "-fPIC", "-O2", "-march=x86-64-v3", "-mneeded", "-o", "v3.so", "isa.c",
        cwd=tmp_path)  # fmt: skip
    run(GCC, "-shared", "-fPIC", "-O2", "-o", "plain.so", "isa.c", cwd=tmp_path)
    assert read_elf(tmp_path / "v3.so", properties=True).x86_isa_needed == 0b111
    assert read_elf(tmp_path / "v3.so").x86_isa_needed is None  # only read when asked for
    assert read_elf(tmp_path / "plain.so", properties=True).x86_isa_needed in (None, 1)


@pytest.fixture(scope="session")
def symbol_fuzz_base(built: Built) -> tuple[bytes, list[tuple[int, int]]]:
    ranges = _interesting_ranges(built.user)
    with open(built.user, "rb") as stream:
        elf = OracleELFFile(stream)
        for name in (".dynsym", ".gnu.version", ".gnu.hash", ".hash", ".note.gnu.property"):
            section = elf.get_section_by_name(name)
            if section is not None:
                ranges.append((section["sh_offset"], section["sh_offset"] + section["sh_size"]))
    return built.user.read_bytes(), ranges


@FUZZ
@given(edits=RANGE_EDITS)
def test_fuzz_symbols_with_overwrites(
    symbol_fuzz_base: tuple[bytes, list[tuple[int, int]]], edits: list[tuple[int, int, int]]
) -> None:
    from pkgdoctor.elf import read_elf_bytes

    data = overwrite(*symbol_fuzz_base, edits)
    with contextlib.suppress(ELFError):
        read_elf_bytes(data, "fuzzed.so", symbols=True, properties=True)


def test_section_extents_agree_with_pyelftools(tmp_path: Path) -> None:
    """``.rodata`` where pyelftools says it is, for real objects of this machine; None for
    what has no readable section table (then the caller reads the whole file)."""
    from pkgdoctor.elf import section_extents

    paths = [os.path.realpath(sys.executable)]
    paths += sorted(
        str(p) for p in Path(sysconfig.get_path("platstdlib")).glob("lib-dynload/*.so")
    )[:20]
    for path in paths:
        with open(path, "rb") as handle:
            oracle = OracleELFFile(handle).get_section_by_name(".rodata")
            expected = [] if oracle is None else [(oracle["sh_offset"], oracle["sh_size"])]
            size = os.fstat(handle.fileno()).st_size
            found = section_extents(
                functools.partial(_pread, handle.fileno()), size, frozenset({".rodata"})
            )
        assert found == expected, path
    assert section_extents(lambda n, o: b"not an ELF file"[o : o + n], 15, frozenset()) is None
    # A section table cut short: no guess.
    data = Path(paths[0]).read_bytes()
    cut = data[: len(data) // 2]
    result = section_extents(lambda n, o: cut[o : o + n], len(cut), frozenset({".rodata"}))
    assert result is None or all(o + n <= len(cut) for o, n in result)


def _pread(fd: int, length: int, offset: int) -> bytes:
    return os.pread(fd, length, offset)
